//! The outbound call: INVITE through the trunk, its responses (provisional, 2xx with
//! the ACK, failures with theirs), digest challenges, and the outcome for the glue.
//! Ending calls (CANCEL at the ring timeout, BYE) is in `teardown.rs`.

use std::time::{Duration, Instant};

use tracing::{debug, info};

use super::api::{CallRef, DialOutcome, DialRequest, DialResult, EndReason};
use super::auth::Challenge;
use super::core::{SipCore, TransportKind, next_hop};
use super::dialog::{Dialling, Dialog, DialogStart, Phase, Retransmit, Role};
use super::fields::{is_dialable, name_addr_uri};
use super::message::{ALLOW, Body, RequestParts, request};
use super::numbers::wire_number;
use super::sdp::{self, SdpOrigin};
use super::session_timer::{self, MIN_SE, Refresher, SessionExpires, SessionTimer};
use super::wire::{Message, StartLine};
use crate::privacy::mask_phone;

/// Longest ring timeout honoured (a day); longer values are treated as this.
const MAX_RING_TIMEOUT: Duration = Duration::from_secs(86_400);

impl SipCore {
    pub(crate) fn dial(&mut self, now: Instant, call: CallRef, mut req: DialRequest) {
        let fail = |reason: &str| DialResult::Failed {
            status: None,
            reason: reason.into(),
        };
        let Some(trunk) = self.cfg.trunk.clone() else {
            return self.report_dial(DialOutcome {
                call,
                sip_call_id: String::new(),
                result: fail("no trunk configured"),
            });
        };
        if self.active >= self.cfg.max_calls {
            return self.report_dial(DialOutcome {
                call,
                sip_call_id: String::new(),
                result: fail("at max_calls"),
            });
        }
        if !is_dialable(&req.to) || !is_dialable(&req.caller_line) {
            // Numbers go into Request-URI and headers: nothing that could break them.
            return self.report_dial(DialOutcome {
                call,
                sip_call_id: String::new(),
                result: fail("number is not dialable (digits, +, -, ., *, _ only)"),
            });
        }
        let call_id = match req.call_id.clone().filter(|c| is_call_id(c)) {
            Some(chosen) => chosen,
            None => format!(
                "{}@{}",
                self.token(),
                self.addresses.sip_addr(trunk.peer.addr.ip()).ip()
            ),
        };
        // The SDP names the RTP address the trunk can reach (the media socket may be bound
        // to every interface); kept in the request for re-sent offers.
        req.local_rtp = self.addresses.rtp_addr(req.local_rtp, trunk.peer.addr.ip());
        let local_tag = self.token();
        let transport = trunk.peer.transport;
        // One form for both numbers, the trunk's (checked dialable above, and formatting
        // only swaps a `0` for `+81`).
        let (to, from) = (
            wire_number(&req.to, trunk.number_format),
            wire_number(&req.caller_line, trunk.number_format),
        );
        let invite_uri = format!("sip:{to}@{}{}", trunk.domain, trunk.params);
        let local_header = format!("<sip:{from}@{}>;tag={local_tag}", trunk.from_domain);
        let remote_header = format!("<sip:{to}@{}>", trunk.domain);
        let contact = self.addresses.contact(&from, trunk.peer);
        let origin = SdpOrigin::new(u64::from(self.random_u32()));
        // Capped so that no configured value can overflow the clock.
        let ring_timeout = req
            .ring_timeout
            .unwrap_or(self.cfg.ring_timeout)
            .min(MAX_RING_TIMEOUT);
        let b = self.branch();
        let via = self.addresses.via(trunk.peer, &b);
        let cseq = 1;
        let offer = sdp::offer(req.local_rtp, origin);
        let bytes = invite_bytes(
            &invite_uri,
            &via,
            &local_header,
            &remote_header,
            &call_id,
            cseq,
            &contact,
            &offer,
            None,
        );
        info!(call = call.0, to = %mask_phone(&req.to), "SIP: dialling");
        let reliable = transport == TransportKind::Tcp;
        let mut d = Dialog::new(DialogStart {
            role: Role::Outbound,
            phase: Phase::Calling,
            peer: trunk.peer,
            call_id: call_id.clone(),
            local_tag,
            local_header,
            remote_header,
            remote_target: invite_uri.clone(),
            contact,
            local_cseq: cseq,
            origin,
        });
        d.local_rtp = Some(req.local_rtp);
        // Our last SDP: repeated by a refreshing re-INVITE.
        d.local_sdp = Some(offer);
        d.dialling = Some(Dialling {
            request: req,
            invite_uri,
            invite_via: via,
            invite_branch: b.clone(),
            invite_cseq: cseq,
            invite: Retransmit::new(bytes.clone(), now, reliable, None),
            ring_deadline: now + ring_timeout,
            cancelled_until: None,
            reported: false,
            auth_tried: false,
            cancel_pending: false,
            cancel: None,
            ack: None,
            challenged_ack: None,
            prack_rseq: None,
            prack: None,
        });
        self.calls.insert(call, d);
        self.by_call_id.insert(call_id, call);
        self.client_tx.insert(b, call);
        self.active += 1;
        self.send(trunk.peer, bytes);
        self.schedule(call);
    }

    pub(crate) fn on_response(&mut self, now: Instant, _from: super::core::Peer, resp: Message) {
        let StartLine::Response { code, .. } = resp.start else {
            return;
        };
        if let Some(reg) = &self.registration
            && resp.branch().is_some_and(|b| reg.owns(b))
        {
            return self.on_register_response(now, &resp);
        }
        let Some(call) = resp.branch().and_then(|b| self.client_tx.get(b)).copied() else {
            return; // not ours, or a stray retransmission after reaping
        };
        if self.owns_refresh_response(call, &resp) {
            return self.on_refresh_response(now, call, code, &resp);
        }
        match resp.cseq().map(|c| c.1) {
            Some("INVITE") => self.on_invite_response(now, call, code, &resp),
            Some("CANCEL") => {
                if let Some(d) = self.calls.get_mut(&call).and_then(|d| d.dialling.as_mut()) {
                    d.cancel = None;
                }
            }
            Some("PRACK") if code >= 200 => {
                if let Some(dl) = self.calls.get_mut(&call).and_then(|d| d.dialling.as_mut()) {
                    dl.prack = None;
                }
            }
            Some("BYE") if code >= 200 => {
                if let Some(d) = self.calls.get_mut(&call) {
                    d.bye = None;
                }
            }
            _ => {}
        }
    }

    fn on_invite_response(&mut self, now: Instant, call: CallRef, code: u16, resp: &Message) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dl) = d.dialling.as_mut() else {
            return;
        };
        if resp.branch() != Some(dl.invite_branch.as_str()) {
            // The challenge to the INVITE we replaced, retransmitted: its ACK was lost.
            if let Some((branch, ack)) = &dl.challenged_ack
                && resp.branch() == Some(branch.as_str())
            {
                let (peer, ack) = (d.peer, ack.clone());
                self.send(peer, ack);
            }
            return;
        }
        if code < 200 {
            if d.phase == Phase::Calling {
                d.phase = Phase::Proceeding;
            }

            dl.invite.next = None; // provisional stops retransmission (Timer A)
            let reliable = code > 100
                && resp
                    .header_values("Require")
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case("100rel"));
            if reliable {
                self.send_prack(now, call, resp);
            }
            let Some(dl) = self.calls.get_mut(&call).and_then(|d| d.dialling.as_mut()) else {
                return;
            };
            if dl.cancel_pending {
                dl.cancel_pending = false;
                self.send_cancel(now, call);
            }
            return;
        }
        if code < 300 {
            return self.on_invite_success(now, call, resp);
        }
        // Non-2xx final: ACK in the same transaction (RFC 3261 §17.1.1.3).
        let ack = ack_bytes(d, resp);
        if let Some(dl) = d.dialling.as_mut() {
            dl.ack = Some(ack.clone());
        }
        let peer = d.peer;
        self.send(peer, ack);
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dl) = d.dialling.as_mut() else {
            return;
        };
        if d.phase == Phase::Ended {
            return; // a retransmitted final: re-ACKed above
        }
        if (code == 401 || code == 407) && !dl.auth_tried && !dl.reported {
            dl.auth_tried = true;
            if self.retry_with_auth(now, call, code, resp) {
                return;
            }
        }
        let reported = self
            .calls
            .get(&call)
            .and_then(|d| d.dialling.as_ref())
            .is_some_and(|dl| dl.reported);
        if !reported {
            let result = match code {
                401 | 407 => DialResult::Failed {
                    status: Some(code),
                    reason: "trunk refused our credentials".into(),
                },
                _ => {
                    // Still `Calling`: no provisional came for this INVITE.
                    let provisional_seen = self
                        .calls
                        .get(&call)
                        .is_some_and(|d| d.phase != Phase::Calling);
                    DialResult::from_final(code, retry_after(resp), provisional_seen)
                }
            };
            self.finish_dial(call, result);
        }
        self.end_call(now, call, EndReason::RemoteHangup);
    }

    fn on_invite_success(&mut self, now: Instant, call: CallRef, resp: &Message) {
        // The ACK for 2xx is its own transaction, in the dialog (RFC 3261 §13.2.2.4).
        let ack_branch = self.branch();
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dl) = d.dialling.as_mut() else {
            return;
        };
        if let Some(ack) = dl.ack.clone() {
            // A retransmitted 2xx: the ACK was lost.
            let peer = next_hop(d.peer, &d.remote_target, &d.route_set);
            return self.send(peer, ack);
        }
        dl.invite.next = None;
        d.remote_tag = resp.tag("To").map(str::to_string);
        if let Some(to) = resp.header("To") {
            d.remote_header = to.to_string();
        }
        if let Some(target) = resp.header("Contact").and_then(name_addr_uri) {
            d.remote_target = target.to_string();
        }
        let mut routes: Vec<String> = resp
            .header_values("Record-Route")
            .iter()
            .map(|s| s.to_string())
            .collect();
        routes.reverse();
        d.route_set = routes;
        let via = self.addresses.via(d.peer, &ack_branch);
        let ack = request(
            &RequestParts {
                method: "ACK",
                uri: &d.remote_target,
                via: &via,
                from: &d.local_header,
                to: &d.remote_header,
                call_id: &d.call_id,
                cseq: dl.invite_cseq,
                routes: &d.route_set,
                extra: &[],
            },
            None,
        );
        dl.ack = Some(ack.clone());
        let already_reported = dl.reported;
        let peer = next_hop(d.peer, &d.remote_target, &d.route_set);
        self.send(peer, ack);
        let media = sdp::read_answer(&resp.body);
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        // A 200 after the call ended (dropped after our CANCEL, or Timer B) is ACKed and
        // BYEd; the call stays ended (`end_call` below is then a no-op).
        if d.phase != Phase::Ended {
            d.phase = Phase::Confirmed;
        }
        match (already_reported, media) {
            (false, Ok(media)) => {
                d.media = Some(media.clone());
                d.announced = true;
                // The callee's choice (RFC 4028 §7.2): `refresher=uac` (or none) is us.
                if let Some(se) = SessionExpires::read(resp) {
                    let we_refresh = se.refresher != Some(Refresher::Uas);
                    d.session = Some(SessionTimer::start(
                        now,
                        se.secs.max(MIN_SE),
                        we_refresh,
                        session_timer::allows_update(resp),
                    ));
                }
                self.finish_dial(call, DialResult::Answered(media));
            }
            (false, Err(e)) => {
                self.finish_dial(
                    call,
                    DialResult::Failed {
                        status: Some(200),
                        reason: format!("answer SDP: {e}"),
                    },
                );
                self.send_bye(now, call);
                self.end_call(now, call, EndReason::LocalHangup);
            }
            // Answered after we gave up (ring timeout, hang-up): hang up at once.
            (true, _) => {
                self.send_bye(now, call);
                self.end_call(now, call, EndReason::LocalHangup);
            }
        }
    }

    /// Resends the INVITE with credentials; false when the challenge is unusable.
    fn retry_with_auth(&mut self, now: Instant, call: CallRef, code: u16, resp: &Message) -> bool {
        let (challenge_header, auth_header) = if code == 401 {
            ("WWW-Authenticate", "Authorization")
        } else {
            ("Proxy-Authenticate", "Proxy-Authorization")
        };
        let Some(trunk) = self.cfg.trunk.clone() else {
            return false;
        };
        let challenge = match resp.header(challenge_header).map(Challenge::parse) {
            Some(Ok(c)) => c,
            other => {
                debug!(?other, "SIP: unusable digest challenge");
                return false;
            }
        };
        let b = self.branch();
        let cnonce = self.token();
        let Some(d) = self.calls.get_mut(&call) else {
            return false;
        };
        let Some(dl) = d.dialling.as_mut() else {
            return false;
        };
        let Ok(credentials) = challenge.authorization(
            &trunk.username,
            &trunk.password,
            "INVITE",
            &dl.invite_uri,
            &cnonce,
        ) else {
            return false;
        };
        d.local_cseq += 1;
        let via = self.addresses.via(d.peer, &b);
        let offer = sdp::offer(dl.request.local_rtp, d.origin);
        let bytes = invite_bytes(
            &dl.invite_uri,
            &via,
            &d.local_header,
            &d.remote_header,
            &d.call_id,
            d.local_cseq,
            &d.contact,
            &offer,
            Some((auth_header, credentials)),
        );
        let old_branch = std::mem::replace(&mut dl.invite_branch, b.clone());
        dl.challenged_ack = dl.ack.take().map(|ack| (old_branch, ack));
        dl.invite_via = via;
        dl.invite_cseq = d.local_cseq;
        dl.invite = Retransmit::new(
            bytes.clone(),
            now,
            d.peer.transport == TransportKind::Tcp,
            None,
        );
        d.phase = Phase::Calling;
        let peer = d.peer;
        self.client_tx.insert(b, call);
        self.send(peer, bytes);
        self.schedule(call);
        true
    }

    /// PRACK for a reliable provisional (RFC 3262 §4): once per RSeq, in the early
    /// dialog the provisional created (its To tag, Contact and Record-Route).
    fn send_prack(&mut self, now: Instant, call: CallRef, resp: &Message) {
        let Some(rseq) = resp
            .header("RSeq")
            .and_then(|v| v.trim().parse::<u32>().ok())
        else {
            return;
        };
        let b = self.branch();
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dl) = d.dialling.as_mut() else {
            return;
        };
        if dl.prack_rseq.is_some_and(|last| rseq <= last) {
            return; // a retransmission, already PRACKed
        }
        dl.prack_rseq = Some(rseq);
        let cseq = dl.invite_cseq;
        let target = resp
            .header("Contact")
            .and_then(name_addr_uri)
            .map_or_else(|| d.remote_target.clone(), str::to_string);
        let mut routes: Vec<String> = resp
            .header_values("Record-Route")
            .iter()
            .map(|s| s.to_string())
            .collect();
        routes.reverse();
        let to = resp.header("To").unwrap_or(&d.remote_header).to_string();
        d.local_cseq += 1;
        let via = self.addresses.via(d.peer, &b);
        let bytes = request(
            &RequestParts {
                method: "PRACK",
                uri: &target,
                via: &via,
                from: &d.local_header,
                to: &to,
                call_id: &d.call_id,
                cseq: d.local_cseq,
                routes: &routes,
                extra: &[("RAck", format!("{rseq} {cseq} INVITE"))],
            },
            None,
        );
        let reliable = d.peer.transport == TransportKind::Tcp;
        let peer = next_hop(d.peer, &target, &routes);
        if let Some(dl) = d.dialling.as_mut() {
            dl.prack = Some((
                b.clone(),
                Retransmit::new(bytes.clone(), now, reliable, Some(super::dialog::T2)),
            ));
        }
        self.client_tx.insert(b, call);
        self.send(peer, bytes);
        self.schedule(call);
    }

    pub(super) fn finish_dial(&mut self, call: CallRef, result: DialResult) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dl) = d.dialling.as_mut() else {
            return;
        };
        if dl.reported {
            return;
        }
        dl.reported = true;
        info!(
            call = call.0,
            outcome = result.label(),
            "SIP: dial finished"
        );
        let sip_call_id = d.call_id.clone();
        self.report_dial(DialOutcome {
            call,
            sip_call_id,
            result,
        });
    }
}

/// Longest trunk back-off honoured; a larger Retry-After is treated as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `Retry-After: 120 (comment);duration=…` → 120 s (RFC 3261 §20.33), capped.
pub(crate) fn retry_after(resp: &Message) -> Option<Duration> {
    let value = resp.header("Retry-After")?;
    let secs: u64 = value.split([';', '(', ' ']).next()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// The ACK for a non-2xx final response: same branch and Request-URI as the INVITE,
/// To as in the response (RFC 3261 §17.1.1.3).
fn ack_bytes(d: &Dialog, resp: &Message) -> Vec<u8> {
    let Some(dl) = d.dialling.as_ref() else {
        return Vec::new();
    };
    request(
        &RequestParts {
            method: "ACK",
            uri: &dl.invite_uri,
            via: &dl.invite_via,
            from: &d.local_header,
            to: resp.header("To").unwrap_or(&d.remote_header),
            call_id: &d.call_id,
            cseq: dl.invite_cseq,
            routes: &[],
            extra: &[],
        },
        None,
    )
}

#[allow(clippy::too_many_arguments)]
fn invite_bytes(
    uri: &str,
    via: &str,
    from: &str,
    to: &str,
    call_id: &str,
    cseq: u32,
    contact: &str,
    offer: &str,
    auth: Option<(&str, String)>,
) -> Vec<u8> {
    let mut extra = vec![
        ("Contact", contact.to_string()),
        ("Allow", ALLOW.to_string()),
    ];
    // `Supported: timer, 100rel`: reliable provisionals get our PRACK.
    extra.extend(session_timer::invite_headers());
    if let Some((name, value)) = auth {
        extra.push((name, value));
    }
    request(
        &RequestParts {
            method: "INVITE",
            uri,
            via,
            from,
            to,
            call_id,
            cseq,
            routes: &[],
            extra: &extra,
        },
        Some(Body {
            content_type: "application/sdp",
            bytes: offer.as_bytes(),
        }),
    )
}

/// A fresh Call-ID for a caller that records it before dialling (the shell's randomness;
/// the core draws its own from its seeded generator).
pub(crate) fn new_call_id(ip: std::net::IpAddr) -> String {
    format!("{:016x}@{}", rand::random::<u64>(), ip)
}

/// Whether a caller-chosen Call-ID can go into a header as is (RFC 3261 `word@word`).
fn is_call_id(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 128
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+~:@".contains(&b))
}
