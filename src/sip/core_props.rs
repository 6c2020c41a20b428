//! Property tests of the core's timers (issue 10): random sequences of datagrams from a
//! phone and a trunk (every response order, retransmissions, CANCEL races, garbage),
//! glue commands and time advances (long silences included). Asserted throughout:
//! after `handle_timeout(now)` no deadline is due; every call not yet confirmed has a
//! timer armed that ends it; a dial reports its outcome by max(ring timeout, 2·Timer B);
//! no event or outcome twice; the active count matches the calls. At the end, after
//! the glue hangs up what is left and time passes, every dial reported exactly one
//! outcome, every announced call ended exactly once, and no state is left. No panics.

use std::collections::HashMap;

use proptest::prelude::*;

use super::outbound::reply;
use super::*;
use crate::sip::dialog::{CallTimer, Phase, TIMEOUT_64T1};

#[derive(Debug, Clone)]
enum Op {
    Dial {
        ring_secs: u64,
    },
    /// The trunk answers the latest INVITE of outbound call `call` (a repeat is a
    /// retransmission).
    Trunk {
        call: usize,
        code: u16,
    },
    TrunkCancelReply {
        call: usize,
        code: u16,
    },
    TrunkByeReply {
        call: usize,
    },
    /// The callee hangs up (in the dialog, or in the early dialog).
    TrunkBye {
        call: usize,
    },
    Hangup {
        call: usize,
    },
    Answer {
        call: usize,
    },
    Reject {
        call: usize,
    },
    /// The phone calls us; `k` picks the Call-ID, so repeats are retransmissions.
    PhoneInvite {
        k: u8,
    },
    PhoneCancel {
        k: u8,
    },
    PhoneAck {
        k: u8,
    },
    PhoneBye {
        k: u8,
    },
    Options,
    RegistrarReply {
        code: u16,
    },
    Garbage(Vec<u8>),
    Advance(Duration),
}

fn op() -> impl Strategy<Value = Op> {
    let call = any::<usize>();
    let k = 0u8..3;
    prop_oneof![
        2 => prop_oneof![Just(2u64), Just(5), Just(45), Just(90)]
            .prop_map(|ring_secs| Op::Dial { ring_secs }),
        6 => (call, prop::sample::select(vec![
            100u16, 180, 183, 180, 200, 401, 407, 408, 480, 486, 487, 500, 503, 603,
        ]))
            .prop_map(|(call, code)| Op::Trunk { call, code }),
        1 => (call, prop::sample::select(vec![200u16, 481]))
            .prop_map(|(call, code)| Op::TrunkCancelReply { call, code }),
        1 => call.prop_map(|call| Op::TrunkByeReply { call }),
        1 => call.prop_map(|call| Op::TrunkBye { call }),
        2 => call.prop_map(|call| Op::Hangup { call }),
        2 => call.prop_map(|call| Op::Answer { call }),
        1 => call.prop_map(|call| Op::Reject { call }),
        2 => k.clone().prop_map(|k| Op::PhoneInvite { k }),
        1 => k.clone().prop_map(|k| Op::PhoneCancel { k }),
        2 => k.clone().prop_map(|k| Op::PhoneAck { k }),
        1 => k.prop_map(|k| Op::PhoneBye { k }),
        1 => Just(Op::Options),
        1 => prop::sample::select(vec![200u16, 401, 403, 423, 503])
            .prop_map(|code| Op::RegistrarReply { code }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Op::Garbage),
        8 => prop_oneof![
            (0u64..600).prop_map(Duration::from_millis),
            (500u64..5_000).prop_map(Duration::from_millis),
            (5u64..40).prop_map(Duration::from_secs),
            (30u64..130).prop_map(Duration::from_secs),
        ]
        .prop_map(Op::Advance),
    ]
}

/// What the glue has seen, checked as it happens.
#[derive(Default)]
struct Glue {
    /// Dials placed: when, with which ring timeout.
    dials: HashMap<CallRef, (Instant, Duration)>,
    outcomes: HashMap<CallRef, DialResult>,
    /// Calls the glue knows (IncomingCall or Answered) and whether they ended.
    announced: HashMap<CallRef, bool>,
    /// Outbound calls by order of dialling, and their latest requests to the trunk.
    outbound: Vec<CallRef>,
    sip_call_ids: HashMap<String, CallRef>,
    latest: HashMap<(CallRef, &'static str), Message>,
    inbound: Vec<CallRef>,
    /// Our To tag per phone Call-ID, and the phone's next CSeq there.
    phone_tags: HashMap<String, String>,
    last_register: Option<Message>,
}

struct Run {
    h: Harness,
    glue: Glue,
    trunk: Peer,
}

impl Run {
    fn new(seed: u64, register: bool) -> Self {
        let mut h = harness(4);
        h.core = SipCore::new(h.core.cfg.clone(), SipCounters::new()).with_rng_seed(seed);
        let trunk = h.core.cfg.trunk.as_ref().map(|t| t.peer).unwrap_or(h.peer);
        let mut run = Run {
            h,
            glue: Glue::default(),
            trunk,
        };
        if register {
            run.h.core.start_registration(run.h.now);
        }
        run.collect();
        run
    }

    fn trunk_sends(&mut self, text: &str) {
        let (now, peer) = (self.h.now, self.trunk);
        self.h.core.handle_datagram(now, peer, text.as_bytes());
    }

    fn outbound(&self, i: usize) -> Option<CallRef> {
        (!self.glue.outbound.is_empty()).then(|| self.glue.outbound[i % self.glue.outbound.len()])
    }

    fn any_call(&self, i: usize) -> Option<CallRef> {
        let all: Vec<CallRef> = self
            .glue
            .outbound
            .iter()
            .chain(&self.glue.inbound)
            .copied()
            .collect();
        (!all.is_empty()).then(|| all[i % all.len()])
    }

    fn apply(&mut self, op: &Op) {
        let now = self.h.now;
        match op {
            Op::Dial { ring_secs } => {
                let call = self.h.core.allocate_ref();
                let ring = Duration::from_secs(*ring_secs);
                let request = DialRequest {
                    to: "09033334444".into(),
                    caller_line: "05031980215".into(),
                    local_rtp: "127.0.0.1:21000".parse().unwrap(),
                    ring_timeout: Some(ring),
                    call_id: None,
                };
                self.glue.dials.insert(call, (now, ring));
                self.glue.outbound.push(call);
                self.h
                    .core
                    .handle_command(now, Command::Dial { call, request });
            }
            Op::Trunk { call, code } => {
                let Some(inv) = self
                    .outbound(*call)
                    .and_then(|c| self.glue.latest.get(&(c, "INVITE")).cloned())
                else {
                    return;
                };
                let (extra, body) = match code {
                    200 => (
                        "Contact: <sip:callee@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\n",
                        OFFER,
                    ),
                    401 => (
                        "WWW-Authenticate: Digest realm=\"trunk\", nonce=\"abc\"\r\n",
                        "",
                    ),
                    _ => ("", ""),
                };
                self.trunk_sends(&reply(&inv, *code, "callee", extra, body));
            }
            Op::TrunkCancelReply { call, code } => {
                if let Some(c) = self
                    .outbound(*call)
                    .and_then(|c| self.glue.latest.get(&(c, "CANCEL")).cloned())
                {
                    self.trunk_sends(&reply(&c, *code, "callee", "", ""));
                }
            }
            Op::TrunkByeReply { call } => {
                if let Some(b) = self
                    .outbound(*call)
                    .and_then(|c| self.glue.latest.get(&(c, "BYE")).cloned())
                {
                    self.trunk_sends(&reply(&b, 200, "callee", "", ""));
                }
            }
            Op::TrunkBye { call } => {
                if let Some(inv) = self
                    .outbound(*call)
                    .and_then(|c| self.glue.latest.get(&(c, "INVITE")).cloned())
                {
                    self.trunk_sends(&callee_bye(&inv));
                }
            }
            Op::Hangup { call } => {
                if let Some(call) = self.any_call(*call) {
                    self.h.core.handle_command(now, Command::Hangup { call });
                }
            }
            Op::Answer { call } => {
                if let Some(call) = self.any_call(*call) {
                    let local_rtp = "127.0.0.1:20000".parse().unwrap();
                    self.h
                        .core
                        .handle_command(now, Command::Answer { call, local_rtp });
                }
            }
            Op::Reject { call } => {
                if let Some(call) = self.any_call(*call) {
                    let reason = RejectReason::Busy;
                    self.h
                        .core
                        .handle_command(now, Command::Reject { call, reason });
                }
            }
            Op::PhoneInvite { k } => self.h.feed(&invite(&phone_call_id(*k))),
            Op::PhoneCancel { k } => {
                let id = phone_call_id(*k);
                let cancel = request("CANCEL", &id, 1, None, "", "")
                    .replace(&format!("-{id}-1-CANCEL"), &format!("-{id}-1-INVITE"));
                self.h.feed(&cancel);
            }
            Op::PhoneAck { k } => {
                let id = phone_call_id(*k);
                let tag = self.glue.phone_tags.get(&id).cloned();
                self.h.feed(&request("ACK", &id, 1, tag.as_deref(), "", ""));
            }
            Op::PhoneBye { k } => {
                let id = phone_call_id(*k);
                if let Some(tag) = self.glue.phone_tags.get(&id).cloned() {
                    self.h.feed(&request("BYE", &id, 2, Some(&tag), "", ""));
                }
            }
            Op::Options => self.h.feed(&request("OPTIONS", "probe", 1, None, "", "")),
            Op::RegistrarReply { code } => {
                if let Some(reg) = self.glue.last_register.clone() {
                    let extra = match code {
                        200 => "Expires: 5\r\n",
                        401 => "WWW-Authenticate: Digest realm=\"trunk\", nonce=\"r\"\r\n",
                        423 => "Min-Expires: 7200\r\n",
                        _ => "",
                    };
                    self.trunk_sends(&reply(&reg, *code, "reg", extra, ""));
                }
            }
            Op::Garbage(bytes) => {
                let (now, peer) = (self.h.now, self.h.peer);
                self.h.core.handle_datagram(now, peer, bytes);
            }
            Op::Advance(by) => {
                self.h.now += *by;
                self.h.core.handle_timeout(self.h.now);
                let now = self.h.now;
                assert!(
                    self.h.core.poll_timeout().is_none_or(|t| t > now),
                    "a deadline is due right after handle_timeout"
                );
            }
        }
        self.collect();
        self.check();
    }

    /// Reads what the core put out, as the glue and the peers would.
    fn collect(&mut self) {
        let (sent, events, dials) = self.h.drain();
        let g = &mut self.glue;
        for m in sent {
            match m.method() {
                Some(method @ ("INVITE" | "CANCEL" | "BYE")) => {
                    let Some(id) = m.call_id().map(str::to_string) else {
                        continue;
                    };
                    if method == "INVITE" && !g.sip_call_ids.contains_key(&id) {
                        // A new outbound Call-ID belongs to the newest dial without one.
                        let placed = g
                            .outbound
                            .iter()
                            .rev()
                            .find(|c| !g.sip_call_ids.values().any(|known| known == *c));
                        if let Some(c) = placed {
                            g.sip_call_ids.insert(id.clone(), *c);
                        }
                    }
                    let method = match method {
                        "INVITE" => "INVITE",
                        "CANCEL" => "CANCEL",
                        _ => "BYE",
                    };
                    if let Some(c) = g.sip_call_ids.get(&id) {
                        g.latest.insert((*c, method), m);
                    }
                }
                Some("REGISTER") => g.last_register = Some(m),
                Some(_) => {}
                None => {
                    if let (Some(id), Some(tag)) = (m.call_id(), m.tag("To"))
                        && id.starts_with("phone-")
                    {
                        g.phone_tags.insert(id.to_string(), tag.to_string());
                    }
                }
            }
        }
        for d in dials {
            assert!(
                g.outcomes.insert(d.call, d.result.clone()).is_none(),
                "second outcome for {:?}: {:?}",
                d.call,
                d.result
            );
            assert!(g.dials.contains_key(&d.call), "outcome for no dial");
            if matches!(d.result, DialResult::Answered(_)) {
                g.announced.insert(d.call, false);
            }
        }
        for ev in events {
            match ev {
                SipEvent::IncomingCall { call, .. } => {
                    assert!(g.announced.insert(call, false).is_none(), "announced twice");
                    g.inbound.push(call);
                }
                SipEvent::CallEnded { call, .. } => {
                    let ended = g.announced.get_mut(&call).expect("ended an unknown call");
                    assert!(!*ended, "CallEnded twice for {call:?}");
                    *ended = true;
                }
                SipEvent::MediaChanged { .. } | SipEvent::Digit { .. } => {}
            }
        }
    }

    fn check(&self) {
        let core = &self.h.core;
        let live = core
            .calls
            .values()
            .filter(|d| d.phase != Phase::Ended)
            .count();
        assert_eq!(core.active, live, "active count drifted");
        for (call, d) in &core.calls {
            // Only an established dialog may last without a timer that ends it.
            let ending = d.armed().iter().any(|(kind, _)| {
                matches!(
                    kind,
                    CallTimer::Reap
                        | CallTimer::AnswerBy
                        | CallTimer::FinalTimeout
                        | CallTimer::InviteTimeout
                        | CallTimer::RingTimeout
                        | CallTimer::CancelledInvite
                )
            });
            assert!(
                d.phase == Phase::Confirmed || ending,
                "{call:?} in {:?} has nothing that ends it: {:?}",
                d.phase,
                d.armed()
            );
        }
        for (call, (at, ring)) in &self.glue.dials {
            let bound = *at + (*ring).max(2 * TIMEOUT_64T1);
            assert!(
                self.h.now < bound || self.glue.outcomes.contains_key(call),
                "{call:?} has no outcome {:?} after it was placed",
                self.h.now - *at
            );
        }
    }

    /// The glue hangs up what it still has; then time passes.
    fn finish(&mut self) {
        let open: Vec<CallRef> = self
            .glue
            .announced
            .iter()
            .filter(|(_, ended)| !**ended)
            .map(|(c, _)| *c)
            .collect();
        for call in open {
            let now = self.h.now;
            self.h.core.handle_command(now, Command::Hangup { call });
            self.collect();
        }
        for _ in 0..40 {
            self.apply(&Op::Advance(Duration::from_secs(5)));
        }
        assert!(
            self.h.core.calls.is_empty(),
            "calls left: {}",
            self.h.core.calls.len()
        );
        assert!(self.h.core.client_tx.is_empty() && self.h.core.by_call_id.is_empty());
        for call in self.glue.dials.keys() {
            assert!(
                self.glue.outcomes.contains_key(call),
                "{call:?} never reported"
            );
        }
        for (call, ended) in &self.glue.announced {
            assert!(*ended, "{call:?} never got CallEnded");
        }
    }
}

fn phone_call_id(k: u8) -> String {
    format!("phone-{k}")
}

/// The callee's BYE for the dialog our INVITE started.
fn callee_bye(inv: &Message) -> String {
    let call_id = inv.call_id().unwrap_or_default();
    let from = inv.header("From").unwrap_or_default();
    format!(
        "BYE sip:05031980215@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-bye-{call_id}\r\n\
From: <sip:09033334444@127.0.0.1:5070>;tag=callee\r\nTo: {from}\r\n\
Call-ID: {call_id}\r\nCSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn timers_never_due_and_every_call_ends(
        seed in any::<u64>(),
        register in any::<bool>(),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut run = Run::new(seed, register);
        for op in &ops {
            run.apply(op);
        }
        run.finish();
    }
}
