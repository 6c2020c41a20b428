//! Types shared across concerns for one call: what SIP negotiated for media, and the
//! digits the caller keyed (with where they came from). Kept here so `sip`, `media` and
//! `ivr` agree without depending on each other's internals.

use std::net::SocketAddr;

/// Where a keyed digit arrived from; each digit is reported once, with its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DigitSource {
    /// RFC 4733 telephone-event in the RTP stream.
    Rfc4733,
    /// In-band DTMF tones in the G.711 audio.
    InBand,
    /// SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    SipInfo,
}

/// One keypad digit: `0`-`9`, `*`, `#` (and `A`-`D`, which the IVR ignores).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digit {
    pub key: char,
    pub source: DigitSource,
}

/// The G.711 codecs we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Codec {
    /// G.711 μ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }
}

/// The outcome of SDP offer/answer that the media side needs for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedMedia {
    pub codec: Codec,
    /// Payload type of telephone-event as the peer numbered it (101, 96, ...), if offered.
    pub telephone_event_pt: Option<u8>,
    /// Where the peer said to send RTP (symmetric RTP may later correct it).
    pub remote_rtp: SocketAddr,
    /// Packetisation time; we always send 20 ms.
    pub ptime_ms: u32,
}
