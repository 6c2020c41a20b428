//! AFL target: see fuzz/targets.rs.
#[path = "../../targets.rs"]
#[allow(dead_code)] // each binary runs one target of the shared file
mod targets;

fn main() {
    afl::fuzz!(|data: &[u8]| targets::csv_import(data));
}
