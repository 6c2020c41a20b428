//! What the engine glue sees of SIP: call handles, events, commands and outcomes.
//! Only our own types here; rsipstack stays inside `sip`.

use std::net::SocketAddr;
use std::time::Duration;

use crate::call::{Digit, NegotiatedMedia};

/// One call (inbound or outbound) on this endpoint; cheap to copy, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallRef(pub u64);

/// What happens on the SIP side, for the glue to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum SipEvent {
    /// An INVITE to one of our numbers with an acceptable offer; already ringing (180).
    /// Answer with [`super::SipEndpoint::answer`] or refuse with `reject`.
    IncomingCall {
        call: CallRef,
        /// The SIP Call-ID, for correlating logs and CDRs.
        sip_call_id: String,
        /// The caller's number (From user part); mask it before logging.
        caller: String,
        /// Which of our inbound numbers was dialled.
        callee: String,
        /// The negotiated media (codec, telephone-event PT, where to send RTP).
        media: NegotiatedMedia,
    },
    /// The peer changed the session (re-INVITE or UPDATE): send RTP here from now on.
    MediaChanged {
        call: CallRef,
        media: NegotiatedMedia,
        /// The peer put us on hold (sendonly/inactive or `c=0.0.0.0`).
        on_hold: bool,
    },
    /// Our 200 OK to an inbound call was acknowledged: the caller really is at the
    /// other end, so media may flow in full.
    CallConfirmed { call: CallRef },
    /// A digit by SIP INFO (`application/dtmf-relay` or `application/dtmf`).
    Digit { call: CallRef, digit: Digit },
    /// The call is over; its media can be released.
    CallEnded { call: CallRef, reason: EndReason },
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The peer sent BYE.
    RemoteHangup,
    /// We hung up (BYE sent, or our refusal of a ringing call).
    LocalHangup,
    /// The caller cancelled before we answered.
    CallerCancelled,
    /// Our 200 OK was never acknowledged (64·T1 without ACK).
    NoAck,
    /// The endpoint is shutting down.
    Shutdown,
}

/// How the glue refuses a ringing inbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// 486 Busy Here.
    Busy,
    /// 480 Temporarily Unavailable (e.g. no RTP port free).
    Unavailable,
    /// 603 Decline.
    Decline,
    /// 500 Server Internal Error.
    ServerError,
}

impl RejectReason {
    pub(crate) fn status(self) -> u16 {
        match self {
            RejectReason::Busy => 486,
            RejectReason::Unavailable => 480,
            RejectReason::Decline => 603,
            RejectReason::ServerError => 500,
        }
    }
}

/// An outbound call to place through the trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialRequest {
    /// The patient's number: Request-URI and To user part, written in the trunk's
    /// `number_format` (given national or E.164).
    pub to: String,
    /// One of the configured caller lines: From user part (same form as `to`).
    pub caller_line: String,
    /// Where the media side receives RTP for this call (it allocated the port).
    pub local_rtp: SocketAddr,
    /// Overrides `sip.ring_timeout_secs` for this call.
    pub ring_timeout: Option<Duration>,
    /// The Call-ID to send, made by [`SipEndpoint::new_call_id`] and recorded before the
    /// INVITE leaves; `None` (or one unfit for a header) makes a fresh one.
    pub call_id: Option<String>,
}

/// The final result of a dial attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialOutcome {
    pub call: CallRef,
    /// The SIP Call-ID of the INVITE (reported in call records).
    pub sip_call_id: String,
    pub result: DialResult,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialResult {
    /// 2xx: the call is up; hang up with `hangup(call)`, watch for `CallEnded`.
    Answered(NegotiatedMedia),
    /// Ring timeout (we sent CANCEL), 408 or 480.
    NoAnswer,
    /// 486 or 600.
    Busy,
    /// 403 or 603.
    Rejected,
    /// Anything else: other 4xx/5xx/6xx (with the code), transport error, bad answer SDP.
    Failed { status: Option<u16>, reason: String },
    /// The trunk itself refused the call (480/486/503 with Retry-After, or before any
    /// provisional response): the patient's phone was never reached, so this is no
    /// attempt on the patient; the dialer should slow down for `retry_after`.
    TrunkCongested {
        status: u16,
        retry_after: Option<Duration>,
    },
}

impl DialResult {
    /// The outcome name used in call records and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            DialResult::Answered(_) => "answered",
            DialResult::NoAnswer => "no_answer",
            DialResult::Busy => "busy",
            DialResult::Rejected => "rejected",
            DialResult::Failed { .. } => "failed",
            DialResult::TrunkCongested { .. } => "trunk_congested",
        }
    }

    /// Maps a final non-2xx status of an outbound INVITE: the trunk's own refusal when
    /// it says when to retry (`Retry-After`) or answers before any provisional response
    /// (no 100 Trying: the request went no further), else RFC 3261 §21.
    pub fn from_final(
        status: u16,
        retry_after: Option<Duration>,
        provisional_seen: bool,
    ) -> DialResult {
        let trunk_refused = retry_after.is_some() || !provisional_seen;
        if matches!(status, 480 | 486 | 503) && trunk_refused {
            return DialResult::TrunkCongested {
                status,
                retry_after,
            };
        }
        DialResult::from_status(status)
    }

    /// Maps a final non-2xx status of an outbound INVITE (RFC 3261 §21).
    pub fn from_status(status: u16) -> DialResult {
        match status {
            408 | 480 | 487 => DialResult::NoAnswer,
            486 | 600 => DialResult::Busy,
            403 | 603 => DialResult::Rejected,
            _ => DialResult::Failed {
                status: Some(status),
                reason: format!("trunk answered {status}"),
            },
        }
    }
}
