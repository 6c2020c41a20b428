//! SIP signalling: the inbound health-call line (UAS) and outbound calls through the
//! trunk (UAC). The rest of the engine sees only the types exported here.
//!
//! Layout: `wire` reads messages, `message` writes them, `sdp` does offer/answer,
//! `core` is the sans-IO user agent (with `uas`/`uac` for the two roles and `dialog` for
//! per-call state), `endpoint` is the thin async shell over UDP/TCP.

mod api;
pub mod auth;
pub mod core;
mod dialog;
mod endpoint;
pub mod fields;
mod in_dialog;
pub mod info;
pub mod limits;
mod message;
mod registration;
pub mod sdp;
mod teardown;
mod transport;
mod uac;
mod uas;
pub mod wire;

pub use api::{CallRef, DialOutcome, DialRequest, DialResult, EndReason, RejectReason, SipEvent};
pub use endpoint::{SipEndpoint, SipError};
pub use limits::{SipCounters, SipCountersSnapshot};
