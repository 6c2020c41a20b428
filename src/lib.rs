//! kenkocall: a telephony IVR engine for daily home-care health observation.
//!
//! Modules follow the concerns in DEVELOPERS.md: `sip` (signalling), `media` (RTP, G.711,
//! DTMF), `ivr` (dialplans and the questionnaire), `store` (the case store), `dialer`
//! (auto-call slots and retries), `admin` (staff pages). `config` is the one TOML file.

// Input from the network, files and users must never panic the engine.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod call;
pub mod cidr;
pub mod config;
pub mod demo;
pub mod dialer;
pub mod engine;
pub mod ivr;
pub mod media;
pub mod privacy;
pub mod sip;
pub mod store;
