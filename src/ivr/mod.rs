//! See the issue for this concern; filled in by its work.
