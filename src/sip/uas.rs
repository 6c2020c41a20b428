//! Requests we receive: the inbound call (INVITE → 100 → 180 → 200 → ACK, CANCEL → 487),
//! and every in-dialog request (BYE, re-INVITE/UPDATE, INFO, OPTIONS), with the RFC 3261
//! §8.2 checks in their order: method, URI scheme, extensions, then the method's own.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::info;

use super::api::{CallRef, EndReason, SipEvent};
use super::core::{Peer, RETRY_AFTER_SECS, SipCore, TransportKind, stateless_tag};
use super::dialog::{ANSWER_DEADLINE, Dialog, DialogStart, Phase, Retransmit, Role, T2};
use super::fields::{name_addr_uri, uri_scheme, uri_user};
use super::limits::Counter;
use super::message::{ALLOW, Body, SUPPORTED};
use super::numbers::{called_number, national_number};
use super::sdp::{self, Direction, SdpOrigin};
use super::session_timer::{self, SessionTimer};
use super::wire::{Message, StartLine};
use crate::call::{Codec, NegotiatedMedia};
use crate::privacy::mask_phone;

/// Methods RFC 3261 and its common extensions define that we do not handle: 405.
const KNOWN_NOT_ALLOWED: [&str; 7] = [
    "REGISTER",
    "SUBSCRIBE",
    "NOTIFY",
    "PUBLISH",
    "MESSAGE",
    "REFER",
    "PING",
];
/// Option tags a caller may require of us: RFC 4028 session timers, and RFC 3262 100rel
/// (met by sending no 18x at all).
const SUPPORTED_EXTENSIONS: [&str; 2] = ["timer", "100rel"];
const ALLOWED: [&str; 8] = [
    "INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "UPDATE", "PRACK",
];

impl SipCore {
    pub(crate) fn on_request(&mut self, now: Instant, from: Peer, req: Message) {
        let method = req.method().unwrap_or_default().to_string();
        if method == "ACK" {
            return self.on_ack(now, &req);
        }
        let allow = [("Allow", ALLOW.to_string())];
        if !ALLOWED.contains(&method.as_str()) {
            let code = if KNOWN_NOT_ALLOWED.contains(&method.as_str()) {
                405
            } else {
                501
            };
            self.respond(from, &req, code, Some(&stateless_tag(&req)), &allow, None);
            return;
        }
        if let StartLine::Request { uri, .. } = &req.start
            && !matches!(uri_scheme(uri).as_deref(), Some("sip" | "sips" | "tel"))
        {
            self.respond(from, &req, 416, Some(&stateless_tag(&req)), &[], None);
            return;
        }
        if method != "CANCEL" {
            let unsupported: Vec<&str> = req
                .header_values("Require")
                .into_iter()
                .filter(|tag| {
                    !SUPPORTED_EXTENSIONS
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(tag))
                })
                .collect();
            if !unsupported.is_empty() {
                let unsupported = [("Unsupported", unsupported.join(", "))];
                self.respond(
                    from,
                    &req,
                    420,
                    Some(&stateless_tag(&req)),
                    &unsupported,
                    None,
                );
                return;
            }
        }
        if method == "CANCEL" {
            return self.on_cancel(now, from, &req);
        }
        if req.tag("To").is_some() {
            return self.on_in_dialog(now, from, req);
        }
        match method.as_str() {
            "INVITE" => self.on_invite(now, from, req),
            "OPTIONS" => {
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    ("Accept", "application/sdp".into()),
                    ("Retry-After", RETRY_AFTER_SECS.to_string()),
                ];
                // Draining: a dispatcher probing with OPTIONS takes the node out.
                let (code, extra) = if self.draining {
                    (503, &extra[..])
                } else {
                    (200, &extra[..2])
                };
                self.respond(from, &req, code, Some(&stateless_tag(&req)), extra, None);
            }
            // BYE, INFO, UPDATE outside any dialog.
            _ => {
                self.respond(from, &req, 481, Some(&stateless_tag(&req)), &[], None);
            }
        }
    }

    fn on_invite(&mut self, now: Instant, from: Peer, req: Message) {
        let call_id = req.call_id().unwrap_or_default().to_string();
        if let Some(call) = self.by_call_id.get(&call_id).copied() {
            return self.resend_invite_response(from, call, &req);
        }
        let reject_tag = stateless_tag(&req);
        if self.draining {
            let retry = [("Retry-After", RETRY_AFTER_SECS.to_string())];
            self.respond(from, &req, 503, Some(&reject_tag), &retry, None);
            return;
        }
        if self.active >= self.cfg.max_calls {
            self.counters.bump(Counter::RejectedAtCapacity);
            let retry = [("Retry-After", RETRY_AFTER_SECS.to_string())];
            self.respond(from, &req, 503, Some(&reject_tag), &retry, None);
            return;
        }
        if super::limits::unconfirmed_from(&self.calls, from.addr.ip())
            >= self.cfg.max_unconfirmed_per_source
        {
            self.counters.bump(Counter::RejectedPerSource);
            let retry = [("Retry-After", RETRY_AFTER_SECS.to_string())];
            self.respond(from, &req, 503, Some(&reject_tag), &retry, None);
            return;
        }
        if let Err(min_se) = session_timer::grant(&req) {
            // Session Interval Too Small (RFC 4028 §8.1).
            let min = [("Min-SE", min_se.to_string())];
            self.respond(from, &req, 422, Some(&reject_tag), &min, None);
            return;
        }
        let dialled = called_number(&req, &self.cfg.called_number_from);
        let served = self
            .cfg
            .inbound_numbers
            .iter()
            .find(|n| national_number(n) == dialled);
        let Some(callee) = served.cloned() else {
            self.counters.bump(Counter::UnknownNumber);
            info!(callee = %mask_phone(&dialled), "SIP: INVITE for a number we do not serve: 404");
            self.respond(from, &req, 404, Some(&reject_tag), &[], None);
            return;
        };
        let offer = match self.offer_in(&req) {
            Ok(d) => d,
            Err(code) => {
                let accept = [("Accept", "application/sdp".to_string())];
                self.respond(from, &req, code, Some(&reject_tag), &accept, None);
                return;
            }
        };
        let media = match offer.as_ref().map(sdp::AudioDescription::negotiate) {
            Some(Ok(m)) => m,
            // Late offer: we offer in the 200; until the ACK answers, the media is our
            // first choice with no address to send to.
            None => NegotiatedMedia {
                codec: Codec::Pcmu,
                telephone_event_pt: Some(sdp::OFFER_TELEPHONE_EVENT_PT),
                remote_rtp: SocketAddr::from(([0, 0, 0, 0], 0)),
                ptime_ms: sdp::PTIME_MS,
            },
            Some(Err(_)) => {
                self.respond(from, &req, 488, Some(&reject_tag), &[], None);
                return;
            }
        };
        let call = self.allocate_ref();
        let local_tag = self.token();
        let origin = SdpOrigin::new(u64::from(self.random_u32()));
        let local_cseq = (self.random_u32() & 0xffff) + 1;
        let caller = req
            .header("From")
            .and_then(name_addr_uri)
            .and_then(uri_user)
            .map(|u| national_number(&u))
            .unwrap_or_default();
        let remote_target = req
            .header("Contact")
            .and_then(name_addr_uri)
            .or_else(|| req.header("From").and_then(name_addr_uri))
            .unwrap_or_default()
            .to_string();
        let contact = self.addresses.contact(&callee, from);
        let mut d = Dialog::new(DialogStart {
            role: Role::Inbound,
            phase: Phase::Ringing,
            peer: from,
            call_id: call_id.clone(),
            local_tag: local_tag.clone(),
            local_header: format!("{};tag={local_tag}", req.header("To").unwrap_or_default()),
            remote_header: req.header("From").unwrap_or_default().to_string(),
            remote_target,
            contact: contact.clone(),
            local_cseq,
            origin,
        });
        d.remote_tag = req.tag("From").map(str::to_string);
        d.route_set = req
            .header_values("Record-Route")
            .iter()
            .map(|s| s.to_string())
            .collect();
        d.remote_cseq = req.cseq().map_or(0, |c| c.0);
        d.invite_branch = req.branch().map(str::to_string);
        d.answer_by = Some(now + ANSWER_DEADLINE);
        d.invite = Some(req.clone());
        d.media = Some(media.clone());
        d.late_offer = offer.is_none();
        d.offer = offer;
        d.no_ringing = requires(&req, "100rel");
        let no_ringing = d.no_ringing;
        d.announced = true;
        self.calls.insert(call, d);
        self.by_call_id.insert(call_id.clone(), call);
        self.active += 1;
        self.schedule(call);
        self.respond(from, &req, 100, None, &[], None);
        if !no_ringing {
            self.respond(
                from,
                &req,
                180,
                Some(&local_tag),
                &[("Contact", contact)],
                None,
            );
        }
        info!(call = call.0, caller = %mask_phone(&caller), callee = %mask_phone(&callee), "SIP: incoming call");
        self.emit(SipEvent::IncomingCall {
            call,
            sip_call_id: call_id,
            caller,
            callee,
            media,
        });
    }

    /// The offer of an INVITE (`None`: a late offer), or the status refusing it.
    fn offer_in(&self, req: &Message) -> Result<Option<sdp::AudioDescription>, u16> {
        let accept = req.header_values("Accept");
        let takes_sdp = |a: &&str| {
            let t = a
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            matches!(t.as_str(), "application/sdp" | "application/*" | "*/*")
        };
        if !accept.is_empty() && !accept.iter().any(takes_sdp) {
            return Err(406); // we can only answer in SDP (RFC 4475 §3.3.15)
        }
        if req.body.is_empty() {
            return Ok(None);
        }
        if req.content_type().as_deref() != Some("application/sdp") {
            return Err(415);
        }
        sdp::parse(&req.body).map(Some).map_err(|_| 488)
    }

    fn resend_invite_response(&mut self, from: Peer, call: CallRef, req: &Message) {
        let Some(d) = self.calls.get(&call) else {
            return;
        };
        if let Some(r) = &d.final_response {
            let bytes = r.bytes.clone();
            self.send(from, bytes);
        } else if d.phase == Phase::Ringing && d.no_ringing {
            self.respond(from, req, 100, None, &[], None);
        } else if d.phase == Phase::Ringing {
            let tag = d.local_tag.clone();
            let contact = [("Contact", d.contact.clone())];
            self.respond(from, req, 180, Some(&tag), &contact, None);
        }
    }

    pub(crate) fn answer(&mut self, now: Instant, call: CallRef, local_rtp: SocketAddr) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.phase != Phase::Ringing {
            return;
        }
        let (Some(req), Some(media)) = (d.invite.clone(), d.media.clone()) else {
            return;
        };
        // The SDP names the RTP address this caller can reach (the media socket may be
        // bound to every interface).
        let local_rtp = self.addresses.rtp_addr(local_rtp, d.peer.addr.ip());
        d.local_rtp = Some(local_rtp);
        let body = if d.late_offer {
            sdp::offer(local_rtp, d.origin)
        } else {
            sdp::answer(
                d.offer.as_ref(),
                &media,
                local_rtp,
                d.origin,
                Direction::SendRecv,
            )
        };
        d.local_sdp = Some(body.clone());
        d.phase = Phase::Answered;
        let (peer, tag, contact) = (d.peer, d.local_tag.clone(), d.contact.clone());
        let mut extra = vec![
            ("Contact", contact),
            ("Allow", ALLOW.to_string()),
            ("Supported", SUPPORTED.to_string()),
        ];
        // Checked at the INVITE (422 there); the timer runs from our 2xx.
        let grant = session_timer::grant(&req).ok().flatten();
        if let Some(g) = grant {
            extra.extend(g.headers());
            d.session = Some(SessionTimer::start(
                now,
                g.secs,
                g.we_refresh,
                session_timer::allows_update(&req),
            ));
        }
        let sdp_body = Body {
            content_type: "application/sdp",
            bytes: body.as_bytes(),
        };
        let bytes = self.respond(peer, &req, 200, Some(&tag), &extra, Some(sdp_body));
        self.arm_final(now, call, bytes, true);
        info!(call = call.0, "SIP: answered");
    }

    /// Keeps our final response to an INVITE for retransmission until the ACK. A 2xx is
    /// resent on every transport (RFC 3261 §13.3.1.4: the UAS core, not the transaction,
    /// owns it, and a proxy on the way may forward it over UDP); an error final only on
    /// unreliable ones (§17.2.1).
    pub(super) fn arm_final(&mut self, now: Instant, call: CallRef, bytes: Vec<u8>, is_2xx: bool) {
        if let Some(d) = self.calls.get_mut(&call) {
            let reliable = d.peer.transport == TransportKind::Tcp && !is_2xx;
            d.final_response = Some(Retransmit::new(bytes, now, reliable, Some(T2)));
        }
        self.schedule(call);
    }

    /// Refuses a ringing inbound call with a final error status.
    pub(crate) fn reject(&mut self, now: Instant, call: CallRef, code: u16) {
        if self.fail_invite(now, call, code) {
            self.end_call(now, call, EndReason::LocalHangup);
        }
    }

    /// Sends a final error for a still-ringing INVITE (resent until ACKed); false when
    /// the call is not ringing.
    pub(super) fn fail_invite(&mut self, now: Instant, call: CallRef, code: u16) -> bool {
        let Some(d) = self.calls.get(&call) else {
            return false;
        };
        let (Phase::Ringing, Some(req)) = (d.phase, d.invite.clone()) else {
            return false;
        };
        let (peer, tag) = (d.peer, d.local_tag.clone());
        let bytes = self.respond(peer, &req, code, Some(&tag), &[], None);
        self.arm_final(now, call, bytes, false);
        true
    }

    fn on_ack(&mut self, now: Instant, req: &Message) {
        let Some(call) = req.call_id().and_then(|c| self.by_call_id.get(c)).copied() else {
            return;
        };
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let acked_200 = d.final_response.take().is_some();
        if d.phase == Phase::Answered && d.late_offer {
            // The answer to the offer in our 200 (RFC 3261 §13.2.1); without a usable
            // one there is no session, so the call ends (§13.3.1.4).
            d.late_offer = false;
            match sdp::parse(&req.body) {
                Ok(answer) => match answer.negotiate() {
                    Ok(media) => {
                        let on_hold = answer.is_hold();
                        d.media = Some(media.clone());
                        d.on_hold = on_hold;
                        self.emit(SipEvent::MediaChanged {
                            call,
                            media,
                            on_hold,
                        });
                    }
                    Err(_) => return self.refuse_late_answer(now, call),
                },
                Err(_) => return self.refuse_late_answer(now, call),
            }
        }
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if d.phase == Phase::Answered {
            d.phase = Phase::Confirmed;
            self.emit(SipEvent::CallConfirmed { call });
        }
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if acked_200 && std::mem::take(&mut d.bye_after_ack) {
            self.send_bye(now, call);
        }
        // The answer to our offer in a 200 to an offer-less re-INVITE rides on the ACK.
        if acked_200 && !req.body.is_empty() {
            let Ok(answer) = sdp::parse(&req.body) else {
                return;
            };
            let (Ok(media), on_hold) = (answer.negotiate(), answer.is_hold()) else {
                return;
            };
            let Some(d) = self.calls.get_mut(&call) else {
                return;
            };
            if d.media.as_ref() != Some(&media) || d.on_hold != on_hold {
                d.media = Some(media.clone());
                d.on_hold = on_hold;
                self.emit(SipEvent::MediaChanged {
                    call,
                    media,
                    on_hold,
                });
            }
        }
    }

    /// A late-offer ACK without a usable answer: confirmed, then ended with BYE.
    fn refuse_late_answer(&mut self, now: Instant, call: CallRef) {
        if let Some(d) = self.calls.get_mut(&call) {
            d.phase = Phase::Confirmed;
        }
        info!(
            call = call.0,
            "SIP: the ACK did not answer our offer; hanging up"
        );
        self.send_bye(now, call);
        self.end_call(now, call, EndReason::LocalHangup);
    }

    fn on_cancel(&mut self, now: Instant, from: Peer, req: &Message) {
        let found = req.call_id().and_then(|c| self.by_call_id.get(c)).copied();
        let matching = found.filter(|call| {
            self.calls
                .get(call)
                .is_some_and(|d| d.invite_branch.as_deref() == req.branch())
        });
        let Some(call) = matching else {
            self.respond(from, req, 481, Some(&stateless_tag(req)), &[], None);
            return;
        };
        let tag = self.calls.get(&call).map(|d| d.local_tag.clone());
        self.respond(from, req, 200, tag.as_deref(), &[], None);
        // The INVITE gets 487; the call is over for the glue.
        if self.fail_invite(now, call, 487) {
            self.end_call(now, call, EndReason::CallerCancelled);
        }
    }
}

/// Whether `req` requires the option tag (`Require: 100rel`).
fn requires(req: &Message, tag: &str) -> bool {
    req.header_values("Require")
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tag))
}
