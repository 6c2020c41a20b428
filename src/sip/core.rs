//! The sans-IO SIP user agent: fed datagrams, glue commands and the current time; it
//! queues messages to send and events for the glue (`poll_output`) and says when it next
//! needs the clock (`poll_timeout`). The async shell in `endpoint.rs` only moves bytes.
//!
//! Why not rsipstack's Endpoint/DialogLayer: its transports drop unparseable messages
//! without a hook (no 400, no counter), and its transactions run as tasks on real timers,
//! which the project's sans-IO, injected-time rule cannot test.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, warn};

use super::addresses::Advertiser;
use super::api::{
    CallRef, DialOutcome, DialRequest, DialResult, EndReason, RejectReason, SipEvent,
};
use super::dialog::{Dialog, Phase, TIMEOUT_64T1};
use super::limits::{Counter, LogLimiter, LogVerdict, SipCounters};
use super::message::{self, Body};
use super::numbers::{CalledNumberSource, NumberFormat};
use super::registration::Registration;
use super::wire::{self, Message, StartLine};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    Udp,
    Tcp,
}

impl TransportKind {
    pub(crate) fn via_name(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
        }
    }
}

/// The other end of one message: transport and address (a TCP peer is its connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Peer {
    pub transport: TransportKind,
    pub addr: SocketAddr,
}

/// Where outbound INVITEs go, resolved by the shell from `trunk.proxy` (or `trunk.uri`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkTarget {
    /// Where requests are sent (the proxy when one is configured).
    pub peer: Peer,
    /// `host[:port]` of Request-URI and To, and REGISTER's Request-URI and AOR.
    pub domain: String,
    /// `host[:port]` of From on outbound calls.
    pub from_domain: String,
    /// How callee and caller numbers are written.
    pub number_format: NumberFormat,
    /// URI parameters as written (`;transport=tcp`), kept on the Request-URI.
    pub params: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Where we listen. What Via and Contact name is decided per peer by
    /// [`Advertiser`] (the same address unless it is 0.0.0.0/:: or NAT settings apply).
    pub local: SocketAddr,
    pub inbound_numbers: Vec<String>,
    pub max_calls: usize,
    /// Inbound calls one source IP may hold before their ACK (see `limits`).
    pub max_unconfirmed_per_source: usize,
    pub ring_timeout: Duration,
    pub trunk: Option<TrunkTarget>,
    /// Where an inbound INVITE names the dialled number (first present decides).
    pub called_number_from: Vec<CalledNumberSource>,
}

/// Whose timer fired: one call, or the trunk registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerOwner {
    Registration,
    Call(CallRef),
}

/// Glue commands, fed to [`SipCore::handle_command`].
#[derive(Debug, Clone)]
pub enum Command {
    Answer {
        call: CallRef,
        local_rtp: SocketAddr,
    },
    Reject {
        call: CallRef,
        reason: RejectReason,
    },
    Hangup {
        call: CallRef,
    },
    Dial {
        call: CallRef,
        request: DialRequest,
    },
    /// Stop taking new calls (the node is draining): new INVITEs and out-of-dialog
    /// OPTIONS get 503, so a dispatcher takes the node out; calls in progress go on.
    Drain,
}

#[derive(Debug)]
pub enum Output {
    Send { to: Peer, bytes: Vec<u8> },
    Event(SipEvent),
    Dialled(DialOutcome),
}

/// How long 503 tells callers to wait before retrying.
pub(crate) const RETRY_AFTER_SECS: u32 = 10;

pub struct SipCore {
    pub(crate) cfg: CoreConfig,
    pub(crate) counters: Arc<SipCounters>,
    log_limit: LogLimiter,
    pub(crate) calls: HashMap<CallRef, Dialog>,
    pub(crate) by_call_id: HashMap<String, CallRef>,
    /// Our client transactions' branches (INVITE, CANCEL, BYE) → their call.
    pub(crate) client_tx: HashMap<String, CallRef>,
    timers: BinaryHeap<Reverse<(Instant, TimerOwner)>>,
    /// The live deadline of each owner in `timers`; other heap entries are stale.
    scheduled: HashMap<TimerOwner, Instant>,
    /// Tags, branches, Call-IDs and SDP origins; seedable so property tests reproduce.
    rng: StdRng,
    pub(crate) registration: Option<Registration>,
    /// Which of our addresses each message names.
    pub(crate) addresses: Advertiser,
    out: VecDeque<Output>,
    next_ref: u64,
    pub(crate) active: usize,
    /// Set by [`Command::Drain`]; never cleared (a drained node exits).
    pub(crate) draining: bool,
}

impl SipCore {
    pub fn new(cfg: CoreConfig, counters: Arc<SipCounters>) -> Self {
        let addresses = Advertiser::plain(cfg.local);
        Self {
            cfg,
            counters,
            log_limit: LogLimiter::new(Duration::from_secs(10), 20),
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            client_tx: HashMap::new(),
            timers: BinaryHeap::new(),
            scheduled: HashMap::new(),
            rng: StdRng::from_rng(&mut rand::rng()),
            registration: None,
            addresses,
            out: VecDeque::new(),
            next_ref: 1,
            active: 0,
            draining: false,
        }
    }

    /// Makes tags, branches and Call-IDs reproducible (tests); production seeds from the OS.
    pub fn with_rng_seed(mut self, seed: u64) -> Self {
        self.rng = StdRng::seed_from_u64(seed);
        self
    }

    /// A random token for tags, branches and Call-IDs.
    pub(crate) fn token(&mut self) -> String {
        format!("{:016x}", self.rng.random::<u64>())
    }

    pub(crate) fn branch(&mut self) -> String {
        format!("z9hG4bK{}", self.token())
    }

    pub(crate) fn random_u32(&mut self) -> u32 {
        self.rng.random()
    }

    /// A fresh handle, for `Command::Dial` (inbound calls get theirs from the core).
    pub fn allocate_ref(&mut self) -> CallRef {
        let r = CallRef(self.next_ref);
        self.next_ref += 1;
        r
    }

    /// Calls not yet ended (inbound and outbound).
    pub fn active_calls(&self) -> usize {
        self.active
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// One datagram or one framed stream message, exactly as received.
    pub fn handle_datagram(&mut self, now: Instant, from: Peer, data: &[u8]) {
        if data.iter().all(u8::is_ascii_whitespace) {
            return; // CRLF keep-alive (RFC 5626)
        }
        match wire::parse(data) {
            Ok(msg) => match msg.start {
                StartLine::Request { .. } => self.on_request(now, from, msg),
                StartLine::Response { .. } => self.on_response(now, from, msg),
            },
            Err(bad) => self.handle_malformed(now, from, bad),
        }
    }

    /// A message refused by the reader or by the transport's size limits: answered
    /// statelessly where a response can be formed (never an ACK), else counted and dropped.
    pub fn handle_malformed(&mut self, now: Instant, from: Peer, bad: wire::Malformed) {
        match bad.reply {
            Some((code, req)) if req.method() != Some("ACK") => {
                let tag = stateless_tag(&req);
                self.respond(from, &req, code, Some(&tag), &[], None);
                if code == 400 {
                    self.counters.bump(Counter::BadRequestSent);
                }
            }
            _ => self.counters.bump(Counter::MalformedDropped),
        }
        self.log_bad_input(now, from, &bad.reason);
    }

    pub fn handle_command(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::Answer { call, local_rtp } => self.answer(now, call, local_rtp),
            Command::Reject { call, reason } => self.reject(now, call, reason.status()),
            Command::Hangup { call } => self.hangup(now, call),
            Command::Dial { call, request } => self.dial(now, call, request),
            Command::Drain => self.draining = true,
        }
    }

    /// Runs every timer due at `now`. Afterwards no deadline of the core is `<= now`
    /// (`poll_timeout` is later than `now`), so a shell driving the core cannot spin.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((t, owner))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.scheduled.get(&owner) != Some(&t) {
                continue; // superseded by a later schedule
            }
            self.scheduled.remove(&owner);
            match owner {
                TimerOwner::Call(call) => self.on_call_timer(now, call),
                TimerOwner::Registration => self.on_registration_timer(now),
            }
        }
        debug_assert!(
            self.poll_timeout().is_none_or(|t| t > now),
            "a deadline is still due after handle_timeout"
        );
    }

    /// Arms the call's next deadline (one live heap entry per owner; older ones are skipped).
    pub(crate) fn schedule(&mut self, call: CallRef) {
        self.schedule_owner(TimerOwner::Call(call));
    }

    pub(crate) fn schedule_owner(&mut self, owner: TimerOwner) {
        let next = match owner {
            TimerOwner::Call(call) => self.calls.get(&call).and_then(Dialog::next_deadline),
            TimerOwner::Registration => self
                .registration
                .as_ref()
                .and_then(Registration::next_deadline),
        };
        match next {
            Some(t) if self.scheduled.get(&owner) != Some(&t) => {
                self.scheduled.insert(owner, t);
                self.timers.push(Reverse((t, owner)));
            }
            Some(_) => {}
            None => {
                self.scheduled.remove(&owner);
            }
        }
    }

    /// Starts registering with the trunk (when configured to); refreshes follow by timer.
    pub fn start_registration(&mut self, now: Instant) {
        let Some(trunk) = &self.cfg.trunk else {
            return;
        };
        if trunk.username.is_empty() {
            warn!("SIP: trunk.register is set but trunk.username is empty; not registering");
            return;
        }
        let (call_id, local_tag) = (self.token(), self.token());
        self.registration = Some(Registration::new(now, call_id, local_tag));
        self.on_registration_timer(now);
    }

    /// Until when the trunk holds our registration, if it does.
    pub fn registered_until(&self) -> Option<Instant> {
        self.registration.as_ref()?.registered_until
    }

    pub(crate) fn send(&mut self, to: Peer, bytes: Vec<u8>) {
        self.out.push_back(Output::Send { to, bytes });
    }

    pub(crate) fn emit(&mut self, ev: SipEvent) {
        self.out.push_back(Output::Event(ev));
    }

    pub(crate) fn report_dial(&mut self, outcome: DialOutcome) {
        self.out.push_back(Output::Dialled(outcome));
    }

    /// Sends a response built from `req` and counts it; returns the bytes for caching.
    pub(crate) fn respond(
        &mut self,
        to: Peer,
        req: &Message,
        code: u16,
        to_tag: Option<&str>,
        extra: &[(&str, String)],
        body: Option<Body<'_>>,
    ) -> Vec<u8> {
        let bytes = message::response(req, code, to_tag, extra, body);
        self.counters.response_sent(code);
        self.send(to, bytes.clone());
        bytes
    }

    /// Ends a call once: the glue hears of it if it knew the call; state is kept for
    /// 64·T1 to absorb retransmissions.
    pub(crate) fn end_call(&mut self, now: Instant, call: CallRef, reason: EndReason) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.phase == Phase::Ended {
            return;
        }
        // Every dial reports exactly one outcome, however its call ends.
        let unreported = d.dialling.as_ref().is_some_and(|dl| !dl.reported);
        if unreported {
            self.finish_dial(
                call,
                DialResult::Failed {
                    status: None,
                    reason: format!("call ended before an outcome ({reason:?})"),
                },
            );
        }
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        d.phase = Phase::Ended;
        d.reap_at = Some(now + TIMEOUT_64T1);
        // Only what answers retransmissions is kept for the 64·T1 that follow.
        d.invite = None;
        d.offer = None;
        d.local_sdp = None;
        d.session = None;
        let announced = d.announced;
        self.active = self.active.saturating_sub(1);
        if announced {
            self.emit(SipEvent::CallEnded { call, reason });
        }
        self.schedule(call);
    }

    pub(crate) fn reap(&mut self, call: CallRef) {
        if let Some(d) = self.calls.remove(&call) {
            if d.phase != Phase::Ended {
                self.active = self.active.saturating_sub(1);
            }
            if self.by_call_id.get(&d.call_id) == Some(&call) {
                self.by_call_id.remove(&d.call_id);
            }
            self.client_tx.retain(|_, c| *c != call);
        }
    }

    pub(crate) fn log_bad_input(&mut self, now: Instant, from: Peer, reason: &str) {
        match self.log_limit.check(now) {
            LogVerdict::Log { suppressed_before } => {
                warn!(peer = %from.addr, reason, suppressed_before, "SIP: bad message")
            }
            LogVerdict::Suppress => debug!(peer = %from.addr, reason, "SIP: bad message"),
        }
    }

    /// Replaces how we name ourselves (NAT settings, route lookup).
    pub fn set_addresses(&mut self, addresses: Advertiser) {
        self.addresses = addresses;
    }
}

/// A To-tag for stateless final responses, stable across retransmissions of the request.
pub(crate) fn stateless_tag(req: &Message) -> String {
    let mut h = DefaultHasher::new();
    req.call_id().hash(&mut h);
    req.branch().hash(&mut h);
    format!("s{:x}", h.finish())
}

/// Where in-dialog requests go: the Contact when it names an address and no proxy
/// sits in the route set, otherwise back where the dialog came from.
pub(crate) fn next_hop(transport_peer: Peer, remote_target: &str, route_set: &[String]) -> Peer {
    if !route_set.is_empty() || transport_peer.transport == TransportKind::Tcp {
        return transport_peer;
    }
    contact_addr(remote_target).map_or(transport_peer, |addr| Peer {
        transport: transport_peer.transport,
        addr,
    })
}

fn contact_addr(uri: &str) -> Option<SocketAddr> {
    let parsed = rsipstack::sip::parse_uri(uri).ok()?;
    let rsipstack::sip::Host::IpAddr(ip) = parsed.host_with_port.host else {
        return None;
    };
    let port = parsed.host_with_port.port.map_or(5060, |p| p.value());
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
