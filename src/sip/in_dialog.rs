//! Requests inside an established (or ending) call: BYE, re-INVITE/UPDATE (hold,
//! resume, refresh), INFO digits, OPTIONS; retransmitted requests get the same answer.

use std::time::Instant;

use super::api::{CallRef, EndReason, SipEvent};
use super::core::{Peer, SipCore};
use super::dialog::Phase;
use super::info::{InfoError, digit_from_info};
use super::message::{ALLOW, Body};
use super::sdp::{self, Direction};
use super::wire::Message;

impl SipCore {
    pub(super) fn on_in_dialog(&mut self, now: Instant, from: Peer, req: Message) {
        let method = req.method().unwrap_or_default().to_string();
        let found = req.call_id().and_then(|c| self.by_call_id.get(c)).copied();
        let call = found.filter(|call| {
            self.calls
                .get(call)
                .is_some_and(|d| req.tag("To") == Some(d.local_tag.as_str()))
        });
        let Some(call) = call else {
            if method == "OPTIONS" {
                let extra = [("Allow", ALLOW.to_string())];
                self.respond(from, &req, 200, None, &extra, None);
            } else {
                self.respond(from, &req, 481, None, &[], None);
            }
            return;
        };
        let cseq = req.cseq().map_or(0, |c| c.0);
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        if method != "INVITE" {
            if let Some((last, bytes)) = &d.last_response
                && *last == cseq
            {
                let bytes = bytes.clone();
                return self.send(from, bytes);
            }
        } else if cseq == d.remote_cseq
            && let Some(r) = &d.final_response
        {
            // A retransmitted re-INVITE.
            let bytes = r.bytes.clone();
            return self.send(from, bytes);
        }
        if cseq <= d.remote_cseq && d.remote_cseq != 0 {
            self.respond(from, &req, 500, None, &[], None);
            return;
        }
        d.remote_cseq = cseq;
        let ended = d.phase == Phase::Ended;
        match method.as_str() {
            "BYE" => {
                // A BYE in the early dialog: the pending INVITE still needs its answer.
                self.fail_invite(now, call, 487);
                let bytes = self.respond(from, &req, 200, None, &[], None);
                self.cache_response(call, cseq, bytes);
                self.end_call(now, call, EndReason::RemoteHangup);
            }
            _ if ended => {
                let bytes = self.respond(from, &req, 481, None, &[], None);
                self.cache_response(call, cseq, bytes);
            }
            "INVITE" | "UPDATE" => self.on_reoffer(now, from, call, req),
            // We send no reliable provisional, so a PRACK acknowledges nothing of ours
            // (RFC 3262 §3).
            "PRACK" => {
                let bytes = self.respond(from, &req, 481, None, &[], None);
                self.cache_response(call, cseq, bytes);
            }
            "INFO" => self.on_info(from, call, cseq, &req),
            _ => {
                let extra = [
                    ("Allow", ALLOW.to_string()),
                    ("Accept", "application/sdp".into()),
                ];
                let bytes = self.respond(from, &req, 200, None, &extra, None);
                self.cache_response(call, cseq, bytes);
            }
        }
    }

    /// 422 Session Interval Too Small, naming our Min-SE (RFC 4028 §8.1).
    fn too_small(&mut self, from: Peer, call: CallRef, cseq: u32, req: &Message, min_se: u32) {
        let min = [("Min-SE", min_se.to_string())];
        let bytes = self.respond(from, req, 422, None, &min, None);
        if req.method() != Some("INVITE") {
            self.cache_response(call, cseq, bytes);
        }
    }

    fn cache_response(&mut self, call: CallRef, cseq: u32, bytes: Vec<u8>) {
        if let Some(d) = self.calls.get_mut(&call) {
            d.last_response = Some((cseq, bytes));
        }
    }

    fn on_info(&mut self, from: Peer, call: CallRef, cseq: u32, req: &Message) {
        let ct = req.content_type().unwrap_or_default();
        let (code, digit) = if req.body.is_empty() {
            (200, None) // an empty INFO is a keep-alive
        } else {
            match digit_from_info(&ct, &req.body) {
                Ok(d) => (200, Some(d)),
                Err(InfoError::UnsupportedType(_)) => (415, None),
                Err(InfoError::NoKey) => (400, None),
            }
        };
        let bytes = self.respond(from, req, code, None, &[], None);
        self.cache_response(call, cseq, bytes);
        if let Some(digit) = digit {
            self.emit(SipEvent::Digit { call, digit });
        }
    }

    /// re-INVITE or UPDATE: hold, resume, new address or a session refresh.
    fn on_reoffer(&mut self, now: Instant, from: Peer, call: CallRef, req: Message) {
        let is_invite = req.method() == Some("INVITE");
        let Some(d) = self.calls.get(&call) else {
            return;
        };
        let cseq = req.cseq().map_or(0, |c| c.0);
        if !is_invite && req.body.is_empty() {
            // An UPDATE without an offer (a session refresh): RFC 3311 §5.2 forbids an
            // answer without an offer, so the 200 has no body either.
            let mut extra = vec![("Contact", d.contact.clone()), ("Allow", ALLOW.to_string())];
            match self.peer_refresh(now, call, &req) {
                Ok(timer) => extra.extend(timer),
                Err(min_se) => return self.too_small(from, call, cseq, &req, min_se),
            }
            let bytes = self.respond(from, &req, 200, None, &extra, None);
            return self.cache_response(call, cseq, bytes);
        }
        if is_invite && d.final_response.is_some() {
            // Our previous INVITE answer is not ACKed yet (RFC 3261 §14.2).
            self.respond(from, &req, 500, None, &[("Retry-After", "1".into())], None);
            return;
        }
        let Some(local_rtp) = d.local_rtp else {
            // Not answered yet (UPDATE in the early dialog): we have no address to offer.
            self.respond(from, &req, 500, None, &[("Retry-After", "1".into())], None);
            return;
        };
        let mut contact = vec![("Contact", d.contact.clone()), ("Allow", ALLOW.to_string())];
        if let Err(min_se) = super::session_timer::grant(&req) {
            return self.too_small(from, call, cseq, &req, min_se);
        }
        let (media, direction, offer) = if req.body.is_empty() {
            // No offer (a refresh): we offer what we have; the ACK carries the answer.
            let Some(m) = d.media.clone() else {
                return;
            };
            (m, Direction::SendRecv, None)
        } else {
            match sdp::parse(&req.body).and_then(|o| Ok((o.negotiate()?, o))) {
                Ok((m, offer)) => {
                    let dir = offer.direction.answer();
                    let on_hold = offer.is_hold();
                    // A refresh repeating the same session changes nothing for media.
                    if d.media.as_ref() != Some(&m) || d.on_hold != on_hold {
                        self.emit(SipEvent::MediaChanged {
                            call,
                            media: m.clone(),
                            on_hold,
                        });
                    }
                    if let Some(d) = self.calls.get_mut(&call) {
                        d.on_hold = on_hold;
                    }
                    (m, dir, Some(offer))
                }
                Err(_) => {
                    self.respond(from, &req, 488, None, &[], None);
                    return;
                }
            }
        };
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        d.media = Some(media.clone());
        let mut body = sdp::answer(offer.as_ref(), &media, local_rtp, d.origin, direction);
        if d.local_sdp.as_ref() != Some(&body) {
            // Something changed: a new version of our description (RFC 3264 §8).
            d.origin = d.origin.next();
            body = sdp::answer(offer.as_ref(), &media, local_rtp, d.origin, direction);
        }
        if offer.is_some() {
            d.offer = offer;
        }
        d.local_sdp = Some(body.clone());
        let sdp_body = Body {
            content_type: "application/sdp",
            bytes: body.as_bytes(),
        };
        // Accepted: this refreshes the session (RFC 4028 §10).
        if let Ok(timer) = self.peer_refresh(now, call, &req) {
            contact.extend(timer);
        }
        let bytes = self.respond(from, &req, 200, None, &contact, Some(sdp_body));
        if is_invite {
            self.arm_final(now, call, bytes, true);
        } else {
            self.cache_response(call, cseq, bytes);
        }
    }
}
