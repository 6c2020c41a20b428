//! Media for every call: G.711 prompts paced at 20 ms over RTP, and DTMF in from RFC 4733
//! telephone-events, in-band tones and SIP INFO, each digit reported once with its source.
//!
//! The protocol logic is sans-IO (`session::MediaSession`, fed datagrams and time); the
//! `engine` runs many sessions on a few pacing threads with one UDP socket per call.

pub mod dedup;
pub mod engine;
pub mod g711;
pub mod inband;
pub mod latch;
pub mod ports;
pub mod prompt;
pub mod rfc4733;
pub mod rtp;
pub mod session;
mod shard;
pub mod udp;

pub use engine::{EngineConfig, EngineStats, MediaEngine, MediaError, MediaHandle, RtpReservation};
pub use prompt::{Prompt, PromptError, PromptLibrary};
pub use session::{MediaEvent, MediaSession, SessionConfig};
