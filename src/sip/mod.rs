//! SIP signalling: the inbound health-call line (UAS) and outbound calls through the
//! trunk (UAC). The rest of the engine sees only the types exported here.
//!
//! How the glue drives it (media allocates RTP ports; SIP never does):
//!
//! ```no_run
//! # async fn glue(cfg: kenkocall::config::Config) -> Result<(), kenkocall::sip::SipError> {
//! use kenkocall::sip::{SipEndpoint, SipEvent};
//! let (sip, mut events) = SipEndpoint::start(&cfg.sip, &cfg.trunk).await?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         SipEvent::IncomingCall { call, media, .. } => {
//!             let local_rtp = "127.0.0.1:20000".parse().unwrap(); // from the media side
//!             sip.answer(call, local_rtp).await?; // or sip.reject(call, RejectReason::Busy)
//!         }
//!         SipEvent::CallConfirmed { call } => { /* the ACK came: start the prompts */ }
//!         SipEvent::Digit { call, digit } => { /* to the call's DigitCollector */ }
//!         SipEvent::MediaChanged { call, media, on_hold } => { /* send RTP to media.remote_rtp */ }
//!         SipEvent::CallEnded { call, reason } => { /* release the call's RTP port */ }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Outbound: `sip.dial(DialRequest { to, caller_line, local_rtp, ring_timeout: None, call_id: None })`
//! resolves to a [`DialOutcome`] (answered with its media, no answer, busy, rejected or
//! failed) and the SIP Call-ID; `sip.hangup(call)` ends any call.
//!
//! Layout: `wire` reads messages (`fields` their header values), `framing` caps their
//! size and cuts TCP streams into them, `connections` polices TCP connections, `message` writes them,
//! `sdp` does offer/answer, `core` is the sans-IO user agent: `uas` (inbound INVITE,
//! CANCEL, ACK), `in_dialog` (BYE, re-INVITE, INFO), `uac` (outbound INVITE, digest),
//! `teardown` (BYE/CANCEL from us), `registration` (optional REGISTER), `dialog` (per-call
//! state and the timers it arms), `timers` (what each timer does when it fires).
//! `endpoint` and `transport` are the thin async shell over UDP/TCP.
//!
//! rsipstack supplies URI parsing and the digest hash. Its message parser, transports,
//! transactions and dialogs are not used, for reasons given in `wire.rs` and `core.rs`.

pub mod addresses;
mod api;
pub mod auth;
pub mod connections;
pub mod core;
mod dialog;
mod endpoint;
pub mod fields;
pub mod framing;
mod in_dialog;
pub mod info;
pub mod limits;
mod message;
pub mod numbers;
mod registration;
pub mod sdp;
mod session_timer;
mod teardown;
mod timers;
mod transport;
mod uac;
mod uas;
pub mod wire;

pub use api::{CallRef, DialOutcome, DialRequest, DialResult, EndReason, RejectReason, SipEvent};
pub use endpoint::{SipEndpoint, SipError};
pub use limits::{SipCounters, SipCountersSnapshot};
