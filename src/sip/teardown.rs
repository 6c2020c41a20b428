//! Ending calls from our side: BYE on an established call, CANCEL of our unanswered
//! INVITE (at the ring timeout or on hangup), and the timers that resend them.

use std::time::Instant;

use super::api::{CallRef, DialResult, EndReason};
use super::core::{SipCore, TransportKind, next_hop};
use super::dialog::{Dialog, Phase, Retransmit, Role, T2, TIMEOUT_64T1};
use super::fields::name_addr_tag;
use super::message::{ALLOW, RequestParts, request};

impl SipCore {
    pub(super) fn send_cancel(&mut self, now: Instant, call: CallRef) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dl) = d.dialling.as_mut() else {
            return;
        };
        // CANCEL mirrors the INVITE's Request-URI, Via, From, To, Call-ID and CSeq number.
        let bytes = request(
            &RequestParts {
                method: "CANCEL",
                uri: &dl.invite_uri,
                via: &dl.invite_via,
                from: &d.local_header,
                to: &d.remote_header,
                call_id: &d.call_id,
                cseq: dl.invite_cseq,
                routes: &[],
                extra: &[],
            },
            None,
        );
        let reliable = d.peer.transport == TransportKind::Tcp;
        dl.cancel = Some(Retransmit::new(bytes.clone(), now, reliable, Some(T2)));
        // The 487 (or a 200 crossing the CANCEL) gets 64·T1; then the call is dropped.
        dl.cancelled_until = Some(now + TIMEOUT_64T1);
        let peer = d.peer;
        self.send(peer, bytes);
        self.schedule(call);
    }

    /// Hangs up: BYE on an established call, CANCEL or refusal before that.
    pub(crate) fn hangup(&mut self, now: Instant, call: CallRef) {
        self.hang_up(now, call, EndReason::LocalHangup);
    }

    /// Ends every call (BYE, CANCEL or 480 as each needs) before the endpoint stops.
    pub fn shutdown(&mut self, now: Instant) {
        let calls: Vec<CallRef> = self
            .calls
            .iter()
            .filter(|(_, d)| d.phase != Phase::Ended)
            .map(|(c, _)| *c)
            .collect();
        for call in calls {
            self.hang_up(now, call, EndReason::Shutdown);
        }
    }

    fn hang_up(&mut self, now: Instant, call: CallRef, reason: EndReason) {
        let Some(d) = self.calls.get(&call) else {
            return;
        };
        match (d.role, d.phase) {
            (_, Phase::Ended) => {}
            (Role::Inbound, Phase::Ringing) => {
                if self.fail_invite(now, call, 480) {
                    self.end_call(now, call, reason);
                }
            }
            (Role::Outbound, Phase::Calling | Phase::Proceeding) => {
                self.finish_dial(
                    call,
                    DialResult::Failed {
                        status: None,
                        reason: "hung up before answer".into(),
                    },
                );
                self.give_up_ringing(now, call);
            }
            (Role::Inbound, Phase::Answered) => {
                // No BYE before the ACK of our 200 (RFC 3261 §15): it goes when the ACK
                // arrives or the 200 times out; the glue is done with the call now.
                if let Some(d) = self.calls.get_mut(&call) {
                    d.bye_after_ack = true;
                }
                self.end_call(now, call, reason);
            }
            _ => {
                self.send_bye(now, call);
                self.end_call(now, call, reason);
            }
        }
    }

    /// Stops an unanswered outbound INVITE: CANCEL now, or with the first provisional.
    pub(super) fn give_up_ringing(&mut self, now: Instant, call: CallRef) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(dl) = d.dialling.as_mut() else {
            return;
        };
        if d.phase == Phase::Proceeding {
            self.send_cancel(now, call);
        } else {
            dl.cancel_pending = true;
        }
    }

    pub(crate) fn send_bye(&mut self, now: Instant, call: CallRef) {
        let b = self.branch();
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        d.local_cseq += 1;
        let via = self.addresses.via(d.peer, &b);
        let (from, to) = (d.local_header.clone(), remote_with_tag(d));
        let bytes = request(
            &RequestParts {
                method: "BYE",
                uri: &d.remote_target,
                via: &via,
                from: &from,
                to: &to,
                call_id: &d.call_id,
                cseq: d.local_cseq,
                routes: &d.route_set,
                extra: &[("Allow", ALLOW.to_string())],
            },
            None,
        );
        let reliable = d.peer.transport == TransportKind::Tcp;
        d.bye = Some((
            b.clone(),
            Retransmit::new(bytes.clone(), now, reliable, Some(T2)),
        ));
        let peer = next_hop(d.peer, &d.remote_target, &d.route_set);
        self.client_tx.insert(b, call);
        self.send(peer, bytes);
        self.schedule(call);
    }
}

/// The peer's header with its tag, for requests inside the dialog.
pub(super) fn remote_with_tag(d: &Dialog) -> String {
    match (&d.remote_tag, name_addr_tag(&d.remote_header)) {
        (Some(tag), None) => format!("{};tag={tag}", d.remote_header),
        _ => d.remote_header.clone(),
    }
}
