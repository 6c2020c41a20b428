//! Optional REGISTER to the trunk (`trunk.register = true`): sent at start, answered
//! digest challenges, refreshed before the granted expiry, retried after failures.

use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::auth::Challenge;
use super::core::{SipCore, TimerOwner, TransportKind};
use super::dialog::{Retransmit, T2};
use super::limits::Counter;
use super::message::{RequestParts, request};
use super::wire::{Message, StartLine};

/// The binding lifetime we ask for.
pub(crate) const REQUESTED_EXPIRES: u32 = 3600;
/// Wait before trying again after a refusal or a silent registrar.
pub(crate) const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub(crate) struct Registration {
    call_id: String,
    local_tag: String,
    cseq: u32,
    expires: u32,
    /// The REGISTER in flight: its branch, the message resent until answered.
    pending: Option<(String, Retransmit)>,
    auth_tried: bool,
    /// When the next REGISTER goes out (refresh or retry).
    next_at: Option<Instant>,
    /// Until when the registrar holds our binding, if it does.
    pub(crate) registered_until: Option<Instant>,
}

impl Registration {
    pub(crate) fn new(now: Instant, call_id: String, local_tag: String) -> Self {
        Self {
            call_id,
            local_tag,
            cseq: 0,
            expires: REQUESTED_EXPIRES,
            pending: None,
            auth_tried: false,
            next_at: Some(now),
            registered_until: None,
        }
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let pending = self.pending.as_ref().map(|(_, r)| r.deadline());
        match (pending, self.next_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn owns(&self, branch: &str) -> bool {
        self.pending.as_ref().is_some_and(|(b, _)| b == branch)
    }
}

/// Refresh a little before the granted expiry, never sooner than 1 s.
fn refresh_delay(granted: u32) -> Duration {
    let granted = Duration::from_secs(granted.into());
    (granted * 4 / 5).max(Duration::from_secs(1))
}

impl SipCore {
    /// Runs the registration's due timers; a deadline left in the past (a bug) becomes
    /// a retry later instead of a spin.
    pub(crate) fn on_registration_timer(&mut self, now: Instant) {
        self.registration_timers(now);
        let stuck = self
            .registration
            .as_ref()
            .and_then(Registration::next_deadline)
            .is_some_and(|t| t <= now);
        if stuck {
            debug_assert!(false, "registration timer still due after firing");
            self.registration_failed(now, "registration timer stuck");
            self.schedule_owner(TimerOwner::Registration);
        }
    }

    fn registration_timers(&mut self, now: Instant) {
        let Some(reg) = self.registration.as_mut() else {
            return;
        };
        let mut resend = None;
        let mut timed_out = false;
        if let Some((_, tx)) = reg.pending.as_mut() {
            if now >= tx.give_up {
                timed_out = true;
            } else if tx.due(now) {
                resend = Some(tx.bytes.clone());
            }
        }
        let due = reg.next_at.is_some_and(|t| now >= t);
        if let (Some(bytes), Some(trunk)) = (resend, self.cfg.trunk.as_ref()) {
            let peer = trunk.peer;
            self.send(peer, bytes);
        }
        if timed_out {
            self.registration_failed(now, "no answer from the registrar");
        } else if due {
            self.send_register(now, None);
        }
        self.schedule_owner(TimerOwner::Registration);
    }

    /// Sends a REGISTER (with credentials when answering a challenge).
    fn send_register(&mut self, now: Instant, credentials: Option<(&str, String)>) {
        let b = self.branch();
        let (Some(trunk), Some(reg)) = (self.cfg.trunk.clone(), self.registration.as_mut()) else {
            return;
        };
        if credentials.is_none() {
            reg.auth_tried = false;
        }
        reg.cseq += 1;
        reg.next_at = None;
        let via = self.addresses.via(trunk.peer, &b);
        let aor = format!("<sip:{}@{}>", trunk.username, trunk.domain);
        let from = format!("{aor};tag={}", reg.local_tag);
        let contact = self.addresses.contact(&trunk.username, trunk.peer);
        let mut extra = vec![("Contact", contact), ("Expires", reg.expires.to_string())];
        if let Some((name, value)) = credentials {
            extra.push((name, value));
        }
        let uri = format!("sip:{}{}", trunk.domain, trunk.params);
        let bytes = request(
            &RequestParts {
                method: "REGISTER",
                uri: &uri,
                via: &via,
                from: &from,
                to: &aor,
                call_id: &reg.call_id,
                cseq: reg.cseq,
                routes: &[],
                extra: &extra,
            },
            None,
        );
        let reliable = trunk.peer.transport == TransportKind::Tcp;
        reg.pending = Some((b, Retransmit::new(bytes.clone(), now, reliable, Some(T2))));
        self.send(trunk.peer, bytes);
        self.schedule_owner(TimerOwner::Registration);
    }

    pub(crate) fn on_register_response(&mut self, now: Instant, resp: &Message) {
        let StartLine::Response { code, .. } = resp.start else {
            return;
        };
        if code < 200 {
            if let Some((_, tx)) = self.registration.as_mut().and_then(|r| r.pending.as_mut()) {
                tx.next = None; // provisional: stop resending, keep waiting (Timer F)
            }
            return;
        }
        let Some(reg) = self.registration.as_mut() else {
            return;
        };
        reg.pending = None;
        match code {
            200..=299 => {
                let granted = granted_expires(resp).unwrap_or(reg.expires);
                reg.registered_until = Some(now + Duration::from_secs(granted.into()));
                reg.next_at = Some(now + refresh_delay(granted));
                info!(expires = granted, "SIP: registered with the trunk");
            }
            401 | 407 if !reg.auth_tried => {
                reg.auth_tried = true;
                let (challenge, answer) = if code == 401 {
                    ("WWW-Authenticate", "Authorization")
                } else {
                    ("Proxy-Authenticate", "Proxy-Authorization")
                };
                let cnonce = self.token();
                let credentials = self.cfg.trunk.as_ref().and_then(|t| {
                    let c = Challenge::parse(resp.header(challenge)?).ok()?;
                    let uri = format!("sip:{}{}", t.domain, t.params);
                    c.authorization(&t.username, &t.password, "REGISTER", &uri, &cnonce)
                        .ok()
                });
                match credentials {
                    Some(value) => self.send_register(now, Some((answer, value))),
                    None => self.registration_failed(now, "unusable digest challenge"),
                }
            }
            423 => {
                // Interval Too Brief: ask again with the registrar's minimum.
                let min = resp
                    .header("Min-Expires")
                    .and_then(|v| v.trim().parse().ok());
                reg.expires = min.unwrap_or(REQUESTED_EXPIRES).max(reg.expires);
                self.send_register(now, None);
            }
            _ => self.registration_failed(now, "registrar refused"),
        }
        self.schedule_owner(TimerOwner::Registration);
    }

    fn registration_failed(&mut self, now: Instant, why: &str) {
        self.counters.bump(Counter::RegisterFailures);
        if let Some(reg) = self.registration.as_mut() {
            warn!(why, "SIP: REGISTER failed; retrying in 60 s");
            reg.pending = None;
            reg.next_at = Some(now + RETRY_AFTER_FAILURE);
        }
    }
}

/// The expiry the registrar granted: Contact `expires` param, else the Expires header.
fn granted_expires(resp: &Message) -> Option<u32> {
    let from_contact = resp
        .header_values("Contact")
        .iter()
        .find_map(|c| super::fields::param(c, "expires")?.parse().ok());
    from_contact.or_else(|| resp.header("Expires")?.trim().parse().ok())
}
