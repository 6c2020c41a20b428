//! A call's timers: which are due, and what each does when it fires. The kinds and their
//! deadlines come from `Dialog::armed`; here every kind has its handler (exhaustive
//! match), and a handler that leaves its deadline in the past is caught rather than
//! spun on: after `handle_timeout(now)` no deadline of the core is `<= now`.

use std::time::Instant;

use tracing::{error, info};

use super::api::{CallRef, DialResult, EndReason};
use super::core::{SipCore, next_hop};
use super::dialog::{CallTimer, Dialog, Phase};

impl SipCore {
    /// Fires each of the call's timers due at `now` once, then re-arms the call.
    pub(crate) fn on_call_timer(&mut self, now: Instant, call: CallRef) {
        let due: Vec<CallTimer> = match self.calls.get(&call) {
            Some(d) => due_timers(d, now).collect(),
            None => return,
        };
        for kind in due {
            // An earlier handler may have ended the call or disarmed this timer.
            let still_due = self
                .calls
                .get(&call)
                .is_some_and(|d| due_timers(d, now).any(|k| k == kind));
            if still_due {
                self.fire(now, call, kind);
            }
        }
        let stuck: Vec<CallTimer> = match self.calls.get(&call) {
            Some(d) => due_timers(d, now).collect(),
            None => return,
        };
        if !stuck.is_empty() {
            // A handler did not move its deadline: a bug. Drop the call rather than
            // spin on the deadline (and freeze every other call with it).
            debug_assert!(false, "call timers still due after firing: {stuck:?}");
            error!(
                call = call.0,
                ?stuck,
                "SIP: call timers stuck; dropping the call"
            );
            self.end_call(now, call, EndReason::LocalHangup);
            self.reap(call);
            return;
        }
        self.schedule(call);
    }

    fn fire(&mut self, now: Instant, call: CallRef, kind: CallTimer) {
        let Some(d) = self.calls.get_mut(&call) else {
            return;
        };
        let hop = next_hop(d.peer, &d.remote_target, &d.route_set);
        let peer = d.peer;
        match kind {
            CallTimer::Reap => self.reap(call),
            CallTimer::AnswerBy => {
                d.answer_by = None;
                info!(call = call.0, "SIP: the glue never answered; 480");
                self.reject(now, call, 480);
            }
            CallTimer::FinalResend => {
                if let Some(r) = d.final_response.as_mut()
                    && r.due(now)
                {
                    let bytes = r.bytes.clone();
                    self.send(peer, bytes);
                }
            }
            CallTimer::FinalTimeout => {
                d.final_response = None;
                if d.phase == Phase::Answered {
                    info!(call = call.0, "SIP: no ACK for our 200 OK; hanging up");
                    self.send_bye(now, call);
                    self.end_call(now, call, EndReason::NoAck);
                } else if std::mem::take(&mut d.bye_after_ack) {
                    self.send_bye(now, call);
                }
            }
            CallTimer::ByeResend => {
                if let Some((_, r)) = d.bye.as_mut()
                    && r.due(now)
                {
                    let bytes = r.bytes.clone();
                    self.send(hop, bytes);
                }
            }
            CallTimer::ByeTimeout => d.bye = None,
            CallTimer::InviteResend => {
                if let Some(dl) = d.dialling.as_mut()
                    && dl.invite.due(now)
                {
                    let bytes = dl.invite.bytes.clone();
                    self.send(peer, bytes);
                }
            }
            CallTimer::InviteTimeout => {
                self.finish_dial(
                    call,
                    DialResult::Failed {
                        status: None,
                        reason: "no response from the trunk".into(),
                    },
                );
                self.end_call(now, call, EndReason::LocalHangup);
            }
            CallTimer::RingTimeout => {
                info!(call = call.0, "SIP: ring timeout; cancelling");
                self.finish_dial(call, DialResult::NoAnswer);
                self.give_up_ringing(now, call);
            }
            CallTimer::CancelResend => {
                if let Some(r) = d.dialling.as_mut().and_then(|dl| dl.cancel.as_mut())
                    && r.due(now)
                {
                    let bytes = r.bytes.clone();
                    self.send(peer, bytes);
                }
            }
            CallTimer::CancelTimeout => {
                if let Some(dl) = d.dialling.as_mut() {
                    dl.cancel = None;
                }
            }
            CallTimer::PrackResend => {
                if let Some((_, r)) = d.dialling.as_mut().and_then(|dl| dl.prack.as_mut())
                    && r.due(now)
                {
                    let bytes = r.bytes.clone();
                    self.send(hop, bytes);
                }
            }
            CallTimer::PrackTimeout => {
                if let Some(dl) = d.dialling.as_mut() {
                    dl.prack = None;
                }
            }
            CallTimer::SessionRefresh => self.send_refresh(now, call),
            CallTimer::RefreshResend => {
                if let Some(p) = d.session.as_mut().and_then(|s| s.pending.as_mut())
                    && p.tx.due(now)
                {
                    let bytes = p.tx.bytes.clone();
                    self.send(hop, bytes);
                }
            }
            CallTimer::RefreshTimeout => {
                if let Some(st) = d.session.as_mut() {
                    st.pending = None;
                }
            }
            CallTimer::SessionExpiry => self.session_expired(now, call),
            CallTimer::CancelledInvite => {
                info!(
                    call = call.0,
                    "SIP: no final response after our CANCEL; dropping"
                );
                self.end_call(now, call, EndReason::LocalHangup);
            }
        }
    }
}

fn due_timers(d: &Dialog, now: Instant) -> impl Iterator<Item = CallTimer> {
    d.armed()
        .into_iter()
        .filter(move |(_, at)| *at <= now)
        .map(|(kind, _)| kind)
}
