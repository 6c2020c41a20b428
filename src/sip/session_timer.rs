//! RFC 4028 session timers, both ways: what we ask for in our INVITE, what we grant a
//! caller (or refuse with 422), the refresh we send at half the interval when we are the
//! refresher (UPDATE without a body, or a re-INVITE repeating our SDP to a peer that
//! does not allow UPDATE), and the BYE when the session expires unrefreshed.

use std::time::{Duration, Instant};

use tracing::info;

use super::api::{CallRef, EndReason};
use super::core::{SipCore, TransportKind, next_hop};
use super::dialog::{Retransmit, T2};
use super::fields::param;
use super::message::{ALLOW, Body, RequestParts, SUPPORTED, request};
use super::teardown::remote_with_tag;
use super::wire::Message;

/// The smallest interval we accept (RFC 4028 §4: Min-SE is at least 90 s).
pub(crate) const MIN_SE: u32 = 90;
/// The interval we ask for, and grant a caller that names none (RFC 4028 §4: 1800 s).
pub(crate) const DEFAULT_SE: u32 = 1800;
/// Longest interval honoured (a day), so no peer can make a deadline overflow.
const MAX_SE: u32 = 86_400;

/// Who refreshes, as the `refresher` parameter names it (roles of the transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresher {
    Uac,
    Uas,
}

impl Refresher {
    fn name(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A `Session-Expires` value: the interval and, if named, the refresher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionExpires {
    pub secs: u32,
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// `1800;refresher=uac` (compact form `x` is expanded by the reader).
    pub(crate) fn read(m: &Message) -> Option<SessionExpires> {
        let value = m.header("Session-Expires")?;
        let secs: u32 = value.split(';').next()?.trim().parse().ok()?;
        let refresher = match param(value, "refresher").map(str::to_ascii_lowercase) {
            Some(r) if r == "uac" => Some(Refresher::Uac),
            Some(r) if r == "uas" => Some(Refresher::Uas),
            _ => None,
        };
        Some(SessionExpires {
            secs: secs.min(MAX_SE),
            refresher,
        })
    }

    fn header(self, refresher: Refresher) -> (&'static str, String) {
        (
            "Session-Expires",
            format!("{};refresher={}", self.secs, refresher.name()),
        )
    }
}

/// Whether a message lists the option tag in Supported or Require.
pub(crate) fn knows(m: &Message, tag: &str) -> bool {
    ["Supported", "Require"].iter().any(|h| {
        m.header_values(h)
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tag))
    })
}

/// What we grant an INVITE, re-INVITE or UPDATE we answer with 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    pub secs: u32,
    /// We refresh (the peer cannot, or asked us to).
    pub we_refresh: bool,
    /// The peer supports timers: our 2xx carries `Require: timer`.
    pub peer_supports: bool,
}

impl Grant {
    /// The headers of our 2xx (RFC 4028 §9).
    pub(crate) fn headers(self) -> Vec<(&'static str, String)> {
        let refresher = if self.we_refresh {
            Refresher::Uas
        } else {
            Refresher::Uac
        };
        let mut h = vec![
            SessionExpires {
                secs: self.secs,
                refresher: None,
            }
            .header(refresher),
        ];
        if self.peer_supports {
            h.push(("Require", "timer".into()));
        }
        h
    }
}

/// RFC 4028 §9 for a request we answer: `Err(min)` is a 422 naming our Min-SE; `Ok(None)`
/// means no session timer (the peer neither asks nor supports one).
pub(crate) fn grant(req: &Message) -> Result<Option<Grant>, u32> {
    let supports = knows(req, "timer");
    let asked = SessionExpires::read(req);
    if let Some(se) = asked
        && se.secs < MIN_SE
    {
        return Err(MIN_SE);
    }
    let min_se = req
        .header("Min-SE")
        .and_then(|v| v.split(';').next()?.trim().parse::<u32>().ok())
        .unwrap_or(MIN_SE);
    let secs = match asked {
        Some(se) => se.secs,
        None if supports => DEFAULT_SE.max(min_se).min(MAX_SE),
        None => return Ok(None),
    };
    // A peer that supports timers refreshes unless it asked us to; one that does not
    // cannot, so we do.
    let we_refresh = !supports || asked.and_then(|s| s.refresher) == Some(Refresher::Uas);
    Ok(Some(Grant {
        secs,
        we_refresh,
        peer_supports: supports,
    }))
}

/// Headers of our initial INVITE: we support timers (and 100rel: `uac` PRACKs reliable
/// provisionals), ask for the default interval and
/// let the callee choose the refresher.
pub(crate) fn invite_headers() -> [(&'static str, String); 3] {
    [
        ("Supported", "timer, 100rel".into()),
        ("Session-Expires", DEFAULT_SE.to_string()),
        ("Min-SE", MIN_SE.to_string()),
    ]
}

/// A refresh of ours in flight.
#[derive(Debug)]
pub(crate) struct PendingRefresh {
    pub branch: String,
    pub method: &'static str,
    pub cseq: u32,
    pub tx: Retransmit,
}

/// A running session timer of one call.
#[derive(Debug)]
pub(crate) struct SessionTimer {
    pub secs: u32,
    pub we_refresh: bool,
    /// When our next refresh goes out (we refresh and none is in flight).
    pub refresh_at: Option<Instant>,
    /// BYE if the session is not refreshed by then.
    pub expires_at: Instant,
    pub pending: Option<PendingRefresh>,
    /// The ACK of our last refreshing re-INVITE (its 2xx branch), for retransmitted 2xx.
    pub last_ack: Option<(String, Vec<u8>)>,
    /// The peer allows UPDATE (else we refresh by re-INVITE).
    pub peer_allows_update: bool,
}

impl SessionTimer {
    pub(crate) fn start(
        now: Instant,
        secs: u32,
        we_refresh: bool,
        peer_allows_update: bool,
    ) -> Self {
        let mut t = SessionTimer {
            secs,
            we_refresh,
            refresh_at: None,
            expires_at: now,
            pending: None,
            last_ack: None,
            peer_allows_update,
        };
        t.refreshed(now, secs, we_refresh);
        t
    }

    /// The session was refreshed at `now`: the next refresh at half the interval (RFC
    /// 4028 §10), and expiry at the interval (ours) or a little before it (the peer's:
    /// minus a third of the interval, at most 32 s).
    pub(crate) fn refreshed(&mut self, now: Instant, secs: u32, we_refresh: bool) {
        let interval = Duration::from_secs(secs.into());
        self.secs = secs;
        self.we_refresh = we_refresh;
        self.refresh_at = we_refresh.then(|| now + interval / 2);
        let margin = (interval / 3).min(Duration::from_secs(32));
        self.expires_at = if we_refresh {
            now + interval
        } else {
            now + interval - margin
        };
    }
}

/// Whether the peer's Allow lists UPDATE (no Allow: assume not).
pub(crate) fn allows_update(m: &Message) -> bool {
    m.header_values("Allow")
        .iter()
        .any(|a| a.eq_ignore_ascii_case("UPDATE"))
}

impl SipCore {
    /// Sends our refresh: UPDATE without a body, or a re-INVITE with our unchanged SDP.
    pub(crate) fn send_refresh(&mut self, now: Instant, call: CallRef) {
        let b = self.branch();
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(st) = d.session.as_mut() else {
            return;
        };
        st.refresh_at = None;
        let (secs, allows_update) = (st.secs, st.peer_allows_update);
        let (method, body) = match (&d.local_sdp, allows_update) {
            (Some(sdp), false) => ("INVITE", Some(sdp.clone())),
            _ => ("UPDATE", None),
        };
        d.local_cseq += 1;
        let via = self.addresses.via(d.peer, &b);
        let to = remote_with_tag(d);
        let extra = [
            ("Contact", d.contact.clone()),
            ("Allow", ALLOW.to_string()),
            ("Supported", SUPPORTED.to_string()),
            SessionExpires {
                secs,
                refresher: None,
            }
            .header(Refresher::Uac),
        ];
        let bytes = request(
            &RequestParts {
                method,
                uri: &d.remote_target,
                via: &via,
                from: &d.local_header,
                to: &to,
                call_id: &d.call_id,
                cseq: d.local_cseq,
                routes: &d.route_set,
                extra: &extra,
            },
            body.as_ref().map(|s| Body {
                content_type: "application/sdp",
                bytes: s.as_bytes(),
            }),
        );
        let reliable = d.peer.transport == TransportKind::Tcp;
        let cap = (method == "UPDATE").then_some(T2);
        let Some(st) = d.session.as_mut() else {
            return;
        };
        st.pending = Some(PendingRefresh {
            branch: b.clone(),
            method,
            cseq: d.local_cseq,
            tx: Retransmit::new(bytes.clone(), now, reliable, cap),
        });
        let peer = next_hop(d.peer, &d.remote_target, &d.route_set);
        self.client_tx.insert(b, call);
        info!(call = call.0, method, "SIP: refreshing the session");
        self.send(peer, bytes);
        self.schedule(call);
    }

    /// True when `resp` answers our refresh (or retransmits the 2xx of our last one).
    pub(crate) fn owns_refresh_response(&self, call: CallRef, resp: &Message) -> bool {
        let Some(st) = self.calls.get(&call).and_then(|d| d.session.as_ref()) else {
            return false;
        };
        let b = resp.branch();
        st.pending
            .as_ref()
            .is_some_and(|p| Some(p.branch.as_str()) == b)
            || st
                .last_ack
                .as_ref()
                .is_some_and(|(ab, _)| Some(ab.as_str()) == b)
    }

    pub(crate) fn on_refresh_response(
        &mut self,
        now: Instant,
        call: CallRef,
        code: u16,
        resp: &Message,
    ) {
        let ack_branch = self.branch();
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let hop = next_hop(d.peer, &d.remote_target, &d.route_set);
        let Some(st) = d.session.as_mut() else {
            return;
        };
        let Some(p) = st.pending.as_ref() else {
            // A retransmitted 2xx of our re-INVITE: its ACK was lost.
            if let Some((_, ack)) = &st.last_ack {
                let ack = ack.clone();
                self.send(hop, ack);
            }
            return;
        };
        if code < 200 {
            if let Some(p) = st.pending.as_mut() {
                p.tx.next = None;
            }
            return;
        }
        let (method, cseq, branch) = (p.method, p.cseq, p.branch.clone());
        st.pending = None;
        if method == "INVITE" {
            // Every final to our re-INVITE is ACKed: a 2xx in a transaction of its own,
            // an error in the INVITE's (same branch).
            let b = if code < 300 { ack_branch } else { branch };
            let via = self.addresses.via(d.peer, &b);
            let to = resp
                .header("To")
                .map_or_else(|| remote_with_tag(d), str::to_string);
            let ack = request(
                &RequestParts {
                    method: "ACK",
                    uri: &d.remote_target,
                    via: &via,
                    from: &d.local_header,
                    to: &to,
                    call_id: &d.call_id,
                    cseq,
                    routes: &d.route_set,
                    extra: &[],
                },
                None,
            );
            if code < 300
                && let Some(st) = d.session.as_mut()
                && let Some(b) = resp.branch()
            {
                st.last_ack = Some((b.to_string(), ack.clone()));
            }
            self.send(hop, ack);
        }
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(st) = d.session.as_mut() else {
            return;
        };
        match code {
            200..=299 => {
                // The 2xx names the refresher in our roles as UAC of this transaction.
                let se = SessionExpires::read(resp);
                let secs = se.map_or(st.secs, |s| s.secs.max(MIN_SE));
                let we = se.and_then(|s| s.refresher) != Some(Refresher::Uas);
                st.refreshed(now, secs, we);
            }
            // The dialog is gone at the peer (RFC 4028 §10): end it here too.
            408 | 481 => {
                self.end_with_bye(now, call, "refresh refused: dialog gone");
                return;
            }
            // Anything else: the session lapses at its expiry unless the peer refreshes.
            _ => {}
        }
        self.schedule(call);
    }

    /// A re-INVITE or UPDATE from the peer we are about to accept: it refreshes the
    /// session. Returns the headers for our 2xx, or `Err(min_se)` for a 422.
    pub(crate) fn peer_refresh(
        &mut self,
        now: Instant,
        call: CallRef,
        req: &Message,
    ) -> Result<Vec<(&'static str, String)>, u32> {
        let granted = grant(req)?;
        let Some(d) = self.calls.get_mut(&call) else {
            return Ok(Vec::new());
        };
        match (granted, d.session.as_mut()) {
            (Some(g), Some(st)) => {
                st.refreshed(now, g.secs, g.we_refresh);
                Ok(g.headers())
            }
            (Some(g), None) => {
                d.session = Some(SessionTimer::start(
                    now,
                    g.secs,
                    g.we_refresh,
                    allows_update(req),
                ));
                Ok(g.headers())
            }
            (None, Some(st)) => {
                let (secs, we) = (st.secs, st.we_refresh);
                st.refreshed(now, secs, we);
                Ok(Vec::new())
            }
            (None, None) => Ok(Vec::new()),
        }
    }

    /// The session expired unrefreshed: BYE (RFC 4028 §10).
    pub(crate) fn session_expired(&mut self, now: Instant, call: CallRef) {
        if let Some(d) = self.calls.get_mut(&call) {
            d.session = None;
        }
        self.end_with_bye(now, call, "session expired unrefreshed");
    }

    fn end_with_bye(&mut self, now: Instant, call: CallRef, why: &'static str) {
        info!(call = call.0, why, "SIP: ending the call");
        self.send_bye(now, call);
        self.end_call(now, call, EndReason::LocalHangup);
    }
}
