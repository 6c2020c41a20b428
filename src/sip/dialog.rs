//! The state of one call: its dialog identifiers, where in-dialog requests go, the
//! message being retransmitted, and the timers that drive it. Plain data; the rules that
//! change it live in `uas.rs` and `uac.rs`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::api::DialRequest;
use super::core::Peer;
use super::sdp::{AudioDescription, SdpOrigin};
use super::session_timer::SessionTimer;
use super::wire::Message;
use crate::call::NegotiatedMedia;

/// RFC 3261 timer T1 (RTT estimate).
pub(crate) const T1: Duration = Duration::from_millis(500);
/// RFC 3261 timer T2 (cap for non-INVITE and 2xx retransmissions).
pub(crate) const T2: Duration = Duration::from_secs(4);
/// How long an inbound call may ring before we give up on the glue answering it.
pub(crate) const ANSWER_DEADLINE: Duration = Duration::from_secs(60);
/// 64·T1: how long a transaction may go unanswered.
pub(crate) const TIMEOUT_64T1: Duration = Duration::from_secs(32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Inbound: 180 sent, waiting for the glue to answer or reject.
    Ringing,
    /// Outbound: INVITE sent, nothing heard yet.
    Calling,
    /// Outbound: a provisional response arrived.
    Proceeding,
    /// Inbound: 200 sent, waiting for the ACK.
    Answered,
    /// The dialog is up.
    Confirmed,
    /// Over; kept only to absorb retransmissions until `reap_at`.
    Ended,
}

/// A message we resend until acknowledged (UDP only) or given up on.
#[derive(Debug, Clone)]
pub(crate) struct Retransmit {
    pub bytes: Vec<u8>,
    /// None on reliable transports: only the give-up deadline applies.
    pub next: Option<Instant>,
    pub interval: Duration,
    /// Longest interval (T2 for responses and non-INVITE; none for INVITE).
    pub cap: Option<Duration>,
    pub give_up: Instant,
}

impl Retransmit {
    pub(crate) fn new(bytes: Vec<u8>, now: Instant, reliable: bool, cap: Option<Duration>) -> Self {
        Self {
            bytes,
            next: (!reliable).then(|| now + T1),
            interval: T1,
            cap,
            give_up: now + TIMEOUT_64T1,
        }
    }

    /// Whether to resend now; advances the schedule when it does.
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        match self.next {
            Some(next) if now >= next => {
                let doubled = self.interval * 2;
                self.interval = self.cap.map_or(doubled, |c| doubled.min(c));
                self.next = Some(now + self.interval);
                true
            }
            _ => false,
        }
    }

    /// The next resend or the give-up, whichever comes first.
    pub(crate) fn deadline(&self) -> Instant {
        self.next.map_or(self.give_up, |n| n.min(self.give_up))
    }
}

/// Every timer a call can arm. [`Dialog::armed`] is the only source of a call's
/// deadlines and `SipCore::fire` handles each kind in an exhaustive match, so a deadline
/// without a handler cannot compile (issue 10: a 64·T1 deadline nobody handled after a
/// 180 froze all SIP). Every handler disarms its timer or moves it past `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallTimer {
    /// Inbound: the glue neither answered nor rejected in time (480).
    AnswerBy,
    /// Resend our final response to an INVITE (Timer G).
    FinalResend,
    /// Our final response to an INVITE was never ACKed (Timer H).
    FinalTimeout,
    /// Resend our BYE (Timer E).
    ByeResend,
    /// No final response to our BYE (Timer F).
    ByeTimeout,
    /// Outbound: resend the INVITE until anything answers (Timer A).
    InviteResend,
    /// Outbound: no response at all to the INVITE (Timer B).
    InviteTimeout,
    /// Outbound: `ring_timeout` passed unanswered: report no answer, CANCEL.
    RingTimeout,
    /// Resend our CANCEL (Timer E).
    CancelResend,
    /// No final response to our CANCEL (Timer F).
    CancelTimeout,
    /// Outbound: CANCEL sent, yet no final response to the INVITE within 64·T1
    /// (RFC 3261 §9.1): the call is dropped.
    CancelledInvite,
    /// We are the refresher: half the session interval passed (RFC 4028 §10).
    SessionRefresh,
    /// Resend our refresh (Timer A/E).
    RefreshResend,
    /// No final response to our refresh: it failed; the expiry decides.
    RefreshTimeout,
    /// The session was not refreshed in time: BYE.
    SessionExpiry,
    /// Resend our PRACK (Timer E).
    PrackResend,
    /// No final response to our PRACK (Timer F).
    PrackTimeout,
    /// Over: the state that absorbed retransmissions is dropped.
    Reap,
}

/// Outbound-only state: the INVITE client transaction and its outcome.
#[derive(Debug)]
pub(crate) struct Dialling {
    pub request: DialRequest,
    pub invite_uri: String,
    pub invite_via: String,
    pub invite_branch: String,
    pub invite_cseq: u32,
    pub invite: Retransmit,
    pub ring_deadline: Instant,
    /// Set when our CANCEL goes out: until when we wait for the INVITE's final response.
    pub cancelled_until: Option<Instant>,
    /// The outcome has been handed to the glue.
    pub reported: bool,
    pub auth_tried: bool,
    /// Ring timeout passed before any provisional: CANCEL goes with the first 1xx.
    pub cancel_pending: bool,
    pub cancel: Option<Retransmit>,
    /// The ACK for a final response, resent when the response is retransmitted.
    pub ack: Option<Vec<u8>>,
    /// The ACK of the challenged INVITE (its branch), for retransmitted 401/407s.
    pub challenged_ack: Option<(String, Vec<u8>)>,
    /// RFC 3262: the RSeq of the last reliable provisional we PRACKed.
    pub prack_rseq: Option<u32>,
    /// Our PRACK in flight (branch), resent until answered.
    pub prack: Option<(String, Retransmit)>,
}

#[derive(Debug)]
pub(crate) struct Dialog {
    pub role: Role,
    pub phase: Phase,
    pub peer: Peer,
    pub call_id: String,
    pub local_tag: String,
    /// Our From (outbound) or To (inbound) header value, tag included.
    pub local_header: String,
    /// The peer's header value; its tag is added once known.
    pub remote_header: String,
    pub remote_tag: Option<String>,
    /// Request-URI for our in-dialog requests (the peer's Contact).
    pub remote_target: String,
    pub route_set: Vec<String>,
    pub local_cseq: u32,
    pub remote_cseq: u32,
    pub contact: String,
    /// Inbound: the INVITE (or re-INVITE) whose final response is in `final_response`.
    pub invite: Option<Message>,
    /// Inbound: a call the glue neither answers nor rejects by then gets 480, so a
    /// stuck glue cannot hold a call slot for ever.
    pub answer_by: Option<Instant>,
    /// Inbound: the branch of the initial INVITE, which a CANCEL must carry.
    pub invite_branch: Option<String>,
    /// Our final response to the current INVITE, resent until ACKed.
    pub final_response: Option<Retransmit>,
    /// Our last response to an in-dialog non-INVITE request: (CSeq, bytes), for retransmissions.
    pub last_response: Option<(u32, Vec<u8>)>,
    pub media: Option<NegotiatedMedia>,
    /// The peer's last offer (its stream layout shapes our answer).
    pub offer: Option<AudioDescription>,
    pub local_rtp: Option<SocketAddr>,
    pub origin: SdpOrigin,
    /// The last SDP we sent in this session, to tell a change (new o= version) from a refresh.
    pub local_sdp: Option<String>,
    /// The peer has put the call on hold (its last offer was sendonly/inactive).
    pub on_hold: bool,
    /// Inbound: the caller requires 100rel; we send no 18x at all (RFC 3262 §3 lets a
    /// UAS skip provisional responses), so there is nothing to PRACK.
    pub no_ringing: bool,
    /// Inbound: the INVITE had no offer; our 200 offers and the ACK answers (RFC 3261
    /// §13.2.1).
    pub late_offer: bool,
    /// The glue knows this call (IncomingCall or Answered sent) and gets CallEnded.
    pub announced: bool,
    /// We hung up while our 200 awaited its ACK: the BYE waits for the ACK.
    pub bye_after_ack: bool,
    pub bye: Option<(String, Retransmit)>,
    pub dialling: Option<Dialling>,
    /// RFC 4028 session timer, once the session is up with one.
    pub session: Option<SessionTimer>,
    pub reap_at: Option<Instant>,
}

/// What identifies a new call's dialog; everything else starts empty.
pub(crate) struct DialogStart {
    pub role: Role,
    pub phase: Phase,
    pub peer: Peer,
    pub call_id: String,
    pub local_tag: String,
    pub local_header: String,
    pub remote_header: String,
    pub remote_target: String,
    pub contact: String,
    pub local_cseq: u32,
    pub origin: SdpOrigin,
}

impl Dialog {
    pub(crate) fn new(s: DialogStart) -> Self {
        Self {
            role: s.role,
            phase: s.phase,
            peer: s.peer,
            call_id: s.call_id,
            local_tag: s.local_tag,
            local_header: s.local_header,
            remote_header: s.remote_header,
            remote_tag: None,
            remote_target: s.remote_target,
            route_set: Vec::new(),
            local_cseq: s.local_cseq,
            remote_cseq: 0,
            contact: s.contact,
            invite: None,
            invite_branch: None,
            answer_by: None,
            final_response: None,
            last_response: None,
            media: None,
            offer: None,
            local_rtp: None,
            origin: s.origin,
            local_sdp: None,
            on_hold: false,
            no_ringing: false,
            late_offer: false,
            announced: false,
            bye_after_ack: false,
            bye: None,
            dialling: None,
            session: None,
            reap_at: None,
        }
    }

    /// Every timer this call has armed, with its deadline.
    pub(crate) fn armed(&self) -> Vec<(CallTimer, Instant)> {
        use CallTimer::*;
        let mut armed = Vec::with_capacity(8);
        let mut retransmit = |r: &Retransmit, resend, timeout| {
            armed.extend(r.next.map(|t| (resend, t)));
            armed.push((timeout, r.give_up));
        };
        if let Some(r) = &self.final_response {
            retransmit(r, FinalResend, FinalTimeout);
        }
        if let Some((_, r)) = &self.bye {
            retransmit(r, ByeResend, ByeTimeout);
        }
        if let Some(dl) = &self.dialling {
            if let Some(r) = &dl.cancel {
                retransmit(r, CancelResend, CancelTimeout);
            }
            if let Some((_, r)) = &dl.prack {
                retransmit(r, PrackResend, PrackTimeout);
            }
            match self.phase {
                // Timer B runs only until the first response (RFC 3261 §17.1.1.2).
                Phase::Calling => {
                    armed.extend(dl.invite.next.map(|t| (InviteResend, t)));
                    armed.push((InviteTimeout, dl.invite.give_up));
                }
                // A ringing phone is bounded by the ring timeout, then by the CANCEL.
                Phase::Proceeding => armed.extend(dl.cancelled_until.map(|t| (CancelledInvite, t))),
                _ => {}
            }
            if matches!(self.phase, Phase::Calling | Phase::Proceeding) && !dl.reported {
                armed.push((RingTimeout, dl.ring_deadline));
            }
        }
        if self.phase == Phase::Ringing {
            armed.extend(self.answer_by.map(|t| (AnswerBy, t)));
        }
        if let Some(st) = &self.session {
            match &st.pending {
                Some(p) => {
                    armed.extend(p.tx.next.map(|t| (RefreshResend, t)));
                    armed.push((RefreshTimeout, p.tx.give_up));
                }
                None => armed.extend(st.refresh_at.map(|t| (SessionRefresh, t))),
            }
            armed.push((SessionExpiry, st.expires_at));
        }
        armed.extend(self.reap_at.map(|t| (Reap, t)));
        armed
    }

    /// The earliest instant at which this call has something to do.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.armed().into_iter().map(|(_, t)| t).min()
    }
}
