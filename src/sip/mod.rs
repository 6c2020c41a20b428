//! SIP signalling: the inbound health-call line (UAS) and outbound calls through the
//! trunk (UAC). The rest of the engine sees only the types exported here.

pub mod sdp;
pub mod wire;
