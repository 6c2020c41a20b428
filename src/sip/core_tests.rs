//! The user agent fed messages and injected time; outputs asserted as parsed messages.

use super::*;
use crate::call::{Codec, DigitSource};
use crate::sip::api::{DialResult, EndReason};
use crate::sip::sdp;

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

struct Harness {
    core: SipCore,
    now: Instant,
    peer: Peer,
}

fn peer() -> Peer {
    Peer {
        transport: TransportKind::Udp,
        addr: "127.0.0.1:5061".parse().unwrap(),
    }
}

fn harness(max_calls: usize) -> Harness {
    let trunk = TrunkTarget {
        peer: Peer {
            transport: TransportKind::Udp,
            addr: "127.0.0.1:5070".parse().unwrap(),
        },
        domain: "127.0.0.1:5070".into(),
        from_domain: "127.0.0.1:5070".into(),
        number_format: crate::sip::numbers::NumberFormat::National,
        params: String::new(),
        username: "kenko".into(),
        password: "secret".into(),
    };
    let cfg = CoreConfig {
        local: "127.0.0.1:5060".parse().unwrap(),
        inbound_numbers: vec!["05031980214".into()],
        max_calls,
        max_unconfirmed_per_source: max_calls,
        ring_timeout: Duration::from_secs(45),
        called_number_from: crate::sip::numbers::CalledNumberSource::default_order(),
        trunk: Some(trunk),
    };
    Harness {
        core: SipCore::new(cfg, SipCounters::new()),
        now: Instant::now(),
        peer: peer(),
    }
}

fn request(
    method: &str,
    call_id: &str,
    cseq: u32,
    to_tag: Option<&str>,
    extra: &str,
    body: &str,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:05031980214@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-{call_id}-{cseq}-{method}\r\n\
From: <sip:09011112222@127.0.0.1:5061>;tag=caller\r\nTo: <sip:05031980214@127.0.0.1>{to_tag}\r\n\
Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContact: <sip:caller@127.0.0.1:5061>\r\nMax-Forwards: 70\r\n\
{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn invite(call_id: &str) -> String {
    request(
        "INVITE",
        call_id,
        1,
        None,
        "Content-Type: application/sdp\r\n",
        OFFER,
    )
}

impl Harness {
    fn feed(&mut self, text: &str) {
        let p = self.peer;
        self.core.handle_datagram(self.now, p, text.as_bytes());
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.core.handle_timeout(self.now);
    }

    /// Everything queued, as (sent messages, events, dial outcomes).
    fn drain(&mut self) -> (Vec<Message>, Vec<SipEvent>, Vec<DialOutcome>) {
        let (mut sent, mut events, mut dials) = (vec![], vec![], vec![]);
        while let Some(o) = self.core.poll_output() {
            match o {
                Output::Send { bytes, .. } => {
                    sent.push(wire::parse(&bytes).expect("we send parseable messages"))
                }
                Output::Event(e) => events.push(e),
                Output::Dialled(d) => dials.push(d),
            }
        }
        (sent, events, dials)
    }

    fn codes(&mut self) -> Vec<u16> {
        self.drain().0.iter().map(status).collect()
    }

    fn ring(&mut self, call_id: &str) -> CallRef {
        self.feed(&invite(call_id));
        let (sent, events, _) = self.drain();
        assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![100, 180]);
        match &events[..] {
            [
                SipEvent::IncomingCall {
                    call,
                    media,
                    callee,
                    caller,
                    ..
                },
            ] => {
                assert_eq!(media.codec, Codec::Pcma);
                assert_eq!(callee, "05031980214");
                assert_eq!(caller, "09011112222");
                *call
            }
            other => panic!("expected IncomingCall, got {other:?}"),
        }
    }

    /// Rings, answers, ACKs; returns the call and our To tag.
    fn established(&mut self, call_id: &str) -> (CallRef, String) {
        let call = self.ring(call_id);
        let rtp = "127.0.0.1:20000".parse().unwrap();
        self.core.handle_command(
            self.now,
            Command::Answer {
                call,
                local_rtp: rtp,
            },
        );
        let (sent, _, _) = self.drain();
        let tag = sent[0].tag("To").unwrap().to_string();
        self.feed(&request("ACK", call_id, 1, Some(&tag), "", ""));
        let (sent, events, _) = self.drain();
        assert!(sent.is_empty(), "{sent:?}");
        assert_eq!(events, vec![SipEvent::CallConfirmed { call }]);
        (call, tag)
    }
}

fn status(m: &Message) -> u16 {
    match m.start {
        StartLine::Response { code, .. } => code,
        StartLine::Request { .. } => 0,
    }
}

#[test]
fn answered_call_gets_200_with_sdp_answer_and_stops_resending_after_ack() {
    let mut h = harness(10);
    let call = h.ring("c1");
    h.core.handle_command(
        h.now,
        Command::Answer {
            call,
            local_rtp: "127.0.0.1:20000".parse().unwrap(),
        },
    );
    let (sent, _, _) = h.drain();
    assert_eq!(status(&sent[0]), 200);
    let answer = sdp::read_answer(&sent[0].body).unwrap();
    assert_eq!(answer.codec, Codec::Pcma);
    assert_eq!(answer.telephone_event_pt, Some(101));
    assert_eq!(answer.remote_rtp.port(), 20000);
    // Unacknowledged, the 200 is resent at T1.
    h.advance(Duration::from_millis(500));
    assert_eq!(h.codes(), vec![200]);
    let tag = sent[0].tag("To").unwrap().to_string();
    h.feed(&request("ACK", "c1", 1, Some(&tag), "", ""));
    h.advance(Duration::from_secs(5));
    assert!(h.drain().0.is_empty());
    assert_eq!(h.core.active_calls(), 1);
}

#[test]
fn unacknowledged_200_hangs_up_after_64_t1() {
    let mut h = harness(10);
    let call = h.ring("c2");
    h.core.handle_command(
        h.now,
        Command::Answer {
            call,
            local_rtp: "127.0.0.1:20000".parse().unwrap(),
        },
    );
    h.drain();
    for _ in 0..40 {
        h.advance(Duration::from_secs(1));
    }
    let (sent, events, _) = h.drain();
    assert!(sent.iter().any(|m| m.method() == Some("BYE")));
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::NoAck
        }]
    );
}

#[test]
fn invite_retransmission_gets_ringing_again_and_no_second_call() {
    let mut h = harness(10);
    h.ring("c3");
    h.feed(&invite("c3"));
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![180]);
    assert!(events.is_empty());
}

#[test]
fn cancel_before_answer_gets_487() {
    let mut h = harness(10);
    let call = h.ring("c4");
    // CANCEL carries the INVITE's branch and CSeq number.
    let cancel = request("CANCEL", "c4", 1, None, "", "").replace("-c4-1-CANCEL", "-c4-1-INVITE");
    h.feed(&cancel);
    let (sent, events, _) = h.drain();
    let got: Vec<(u16, String)> = sent
        .iter()
        .map(|m| (status(m), m.cseq().unwrap().1.to_string()))
        .collect();
    assert_eq!(got, vec![(200, "CANCEL".into()), (487, "INVITE".into())]);
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::CallerCancelled
        }]
    );
    assert_eq!(h.core.active_calls(), 0);
    // A retransmitted CANCEL gets its 200 again, and nothing else happens.
    h.feed(&cancel);
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![200]);
    assert!(events.is_empty());
    // Answering afterwards does nothing.
    h.core.handle_command(
        h.now,
        Command::Answer {
            call,
            local_rtp: "127.0.0.1:20000".parse().unwrap(),
        },
    );
    assert!(h.drain().0.is_empty());
}

#[test]
fn call_the_glue_never_answers_gets_480_after_a_minute() {
    let mut h = harness(1);
    let call = h.ring("c4b");
    h.advance(Duration::from_secs(59));
    assert!(h.drain().0.is_empty());
    h.advance(Duration::from_secs(1));
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![480]);
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
    assert_eq!(h.core.active_calls(), 0, "the slot is free again");
}

#[test]
fn unknown_number_gets_404() {
    let mut h = harness(10);
    h.feed(&invite("c5").replace("INVITE sip:05031980214@", "INVITE sip:0120999999@"));
    assert_eq!(h.codes(), vec![404]);
    assert_eq!(h.core.counters.snapshot().unknown_number, 1);
}

#[test]
fn e164_request_uri_reaches_our_national_number() {
    let mut h = harness(10);
    h.feed(&invite("c5b").replace("INVITE sip:05031980214@", "INVITE sip:+815031980214@"));
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![100, 180]);
    assert!(
        matches!(&events[..], [SipEvent::IncomingCall { callee, .. }] if callee == "05031980214")
    );
}

#[test]
fn bye_while_ringing_answers_the_invite_with_487() {
    let mut h = harness(10);
    let call = h.ring("c5d");
    // Our To-tag, as the retransmitted 180 carries it.
    h.feed(&invite("c5d"));
    let tag = h.drain().0[0].tag("To").unwrap().to_string();
    h.feed(&request("BYE", "c5d", 2, Some(&tag), "", ""));
    let (sent, events, _) = h.drain();
    let got: Vec<(u16, String)> = sent
        .iter()
        .map(|m| (status(m), m.cseq().unwrap().1.to_string()))
        .collect();
    assert_eq!(got, vec![(487, "INVITE".into()), (200, "BYE".into())]);
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::RemoteHangup
        }]
    );
}

#[test]
fn past_max_calls_invite_gets_503_with_retry_after() {
    let mut h = harness(1);
    h.ring("c6");
    h.feed(&invite("c7"));
    let (sent, events, _) = h.drain();
    assert_eq!(status(&sent[0]), 503);
    assert_eq!(sent[0].header("Retry-After"), Some("10"));
    assert!(events.is_empty());
    assert_eq!(h.core.counters.snapshot().rejected_at_capacity, 1);
}

#[test]
fn one_source_holds_at_most_its_share_of_unacked_calls_and_acked_ones_do_not_count() {
    let mut h = harness(100);
    h.core.cfg.max_unconfirmed_per_source = 2;
    let u1 = h.ring("u1");
    h.established("u2"); // confirmed: not counted
    let u3 = h.ring("u3");
    h.feed(&invite("u4"));
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![503]);
    assert_eq!(sent[0].header("Retry-After"), Some("10"));
    assert!(events.is_empty());
    assert_eq!(h.core.counters.snapshot().rejected_per_source, 1);
    // Another address is not affected.
    h.peer.addr = "127.0.0.2:5061".parse().unwrap();
    h.ring("u5");
    // Timer H: answered calls never ACKed end at 64·T1 and free the source's share.
    h.peer = peer();
    let rtp = "127.0.0.1:20000".parse().unwrap();
    for call in [u1, u3] {
        h.core.handle_command(
            h.now,
            Command::Answer {
                call,
                local_rtp: rtp,
            },
        );
    }
    h.drain();
    h.advance(Duration::from_secs(31));
    h.drain(); // 200 OK retransmissions
    h.feed(&invite("u7"));
    assert_eq!(h.codes(), vec![503], "still unACKed at 31 s");
    for _ in 0..20 {
        h.advance(Duration::from_millis(100));
    }
    let (_, events, _) = h.drain();
    for call in [u1, u3] {
        assert!(
            events.contains(&SipEvent::CallEnded {
                call,
                reason: EndReason::NoAck
            }),
            "{events:?}"
        );
    }
    h.ring("u8");
}

#[test]
fn offer_without_g711_gets_488() {
    let mut h = harness(10);
    let g729 = OFFER.replace("RTP/AVP 8 0 101", "RTP/AVP 18");
    h.feed(&request(
        "INVITE",
        "c8",
        1,
        None,
        "Content-Type: application/sdp\r\n",
        &g729,
    ));
    assert_eq!(h.codes(), vec![488]);
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn methods_we_lack_get_405_or_501_with_allow() {
    let mut h = harness(10);
    h.feed(&request("REGISTER", "c13", 1, None, "", ""));
    h.feed(&request("FROBNICATE", "c14", 1, None, "", ""));
    let (sent, _, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![405, 501]);
    assert!(sent.iter().all(|m| m.header("Allow").is_some()));
}

#[test]
fn options_outside_a_call_gets_200() {
    let mut h = harness(10);
    h.feed(&request("OPTIONS", "c15", 1, None, "", ""));
    assert_eq!(h.codes(), vec![200]);
}

#[test]
fn malformed_request_gets_400_and_garbage_is_counted() {
    let mut h = harness(10);
    h.feed(&invite("c16").replace("Call-ID: c16\r\n", ""));
    h.feed("\x16\x03\x01 not sip at all");
    assert_eq!(h.codes(), vec![400]);
    let c = h.core.counters.snapshot();
    assert_eq!((c.bad_request_sent, c.malformed_dropped), (1, 1));
}

#[path = "in_dialog_tests.rs"]
mod in_dialog;
#[path = "uac_tests.rs"]
mod outbound;
#[path = "core_props.rs"]
mod props;

#[test]
fn update_without_a_body_gets_200_without_a_body() {
    let mut h = harness(10);
    let (_, tag) = h.established("u1");
    h.feed(&request(
        "UPDATE",
        "u1",
        2,
        Some(&tag),
        "Session-Expires: 90\r\n",
        "",
    ));
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![200]);
    assert!(
        sent[0].body.is_empty(),
        "RFC 3311: no answer without an offer"
    );
    assert!(sent[0].header("Content-Type").is_none());
    assert!(events.is_empty());
    // A retransmission gets the same answer.
    h.feed(&request(
        "UPDATE",
        "u1",
        2,
        Some(&tag),
        "Session-Expires: 90\r\n",
        "",
    ));
    let (sent, _, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![200]);
    assert!(sent[0].body.is_empty());
}

#[test]
fn a_caller_requiring_100rel_is_answered_without_any_18x() {
    let mut h = harness(10);
    let inv = invite("r1").replace(
        "Max-Forwards",
        "Require: 100rel\r\nSupported: 100rel\r\nMax-Forwards",
    );
    h.feed(&inv);
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![100]);
    let call = match &events[..] {
        [SipEvent::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    // A retransmitted INVITE is not answered with a 180 either.
    h.feed(&inv);
    assert_eq!(h.codes(), vec![100]);
    let rtp = "127.0.0.1:20000".parse().unwrap();
    h.core.handle_command(
        h.now,
        Command::Answer {
            call,
            local_rtp: rtp,
        },
    );
    let (sent, _, _) = h.drain();
    assert_eq!(status(&sent[0]), 200);
    assert!(sent[0].header("Supported").unwrap().contains("100rel"));
    let tag = sent[0].tag("To").unwrap().to_string();
    // A PRACK acknowledges nothing of ours: 481 (RFC 3262 §3), the call goes on.
    h.feed(&request(
        "PRACK",
        "r1",
        2,
        Some(&tag),
        "RAck: 1 1 INVITE\r\n",
        "",
    ));
    assert_eq!(h.codes(), vec![481]);
    h.feed(&request("ACK", "r1", 1, Some(&tag), "", ""));
    let (_, events, _) = h.drain();
    assert_eq!(events, vec![SipEvent::CallConfirmed { call }]);
}

#[test]
fn late_offer_gets_our_offer_in_the_200_and_the_answer_from_the_ack() {
    let mut h = harness(10);
    h.feed(&request("INVITE", "l1", 1, None, "", ""));
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![100, 180]);
    let call = match &events[..] {
        [SipEvent::IncomingCall { call, media, .. }] => {
            assert!(
                media.remote_rtp.ip().is_unspecified(),
                "no address before the answer"
            );
            *call
        }
        other => panic!("{other:?}"),
    };
    let rtp = "127.0.0.1:20000".parse().unwrap();
    h.core.handle_command(
        h.now,
        Command::Answer {
            call,
            local_rtp: rtp,
        },
    );
    let (sent, _, _) = h.drain();
    assert_eq!(status(&sent[0]), 200);
    let ours = sdp::parse(&sent[0].body).unwrap();
    assert!(ours.negotiate().is_ok(), "our 200 carries a full offer");
    assert!(String::from_utf8_lossy(&sent[0].body).contains("PCMU/8000"));
    let tag = sent[0].tag("To").unwrap().to_string();
    h.feed(&request(
        "ACK",
        "l1",
        1,
        Some(&tag),
        "Content-Type: application/sdp\r\n",
        OFFER,
    ));
    let (sent, events, _) = h.drain();
    assert!(sent.is_empty());
    match &events[..] {
        [
            SipEvent::MediaChanged {
                media,
                on_hold: false,
                ..
            },
            SipEvent::CallConfirmed { .. },
        ] => {
            assert_eq!(media.codec, Codec::Pcma);
            assert_eq!(media.remote_rtp.port(), 6000);
        }
        other => panic!("answer before confirmation, got {other:?}"),
    }
}

#[test]
fn late_offer_ack_without_an_answer_ends_the_call_with_bye() {
    let mut h = harness(10);
    h.feed(&request("INVITE", "l2", 1, None, "", ""));
    let call = match &h.drain().1[..] {
        [SipEvent::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    let rtp = "127.0.0.1:20000".parse().unwrap();
    h.core.handle_command(
        h.now,
        Command::Answer {
            call,
            local_rtp: rtp,
        },
    );
    let tag = h.drain().0[0].tag("To").unwrap().to_string();
    h.feed(&request("ACK", "l2", 1, Some(&tag), "", ""));
    let (sent, events, _) = h.drain();
    assert_eq!(sent[0].method(), Some("BYE"));
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
}

#[test]
fn our_200_is_resent_over_tcp_until_the_ack() {
    let mut h = harness(10);
    h.peer.transport = TransportKind::Tcp;
    let call = h.ring("t1");
    let rtp = "127.0.0.1:20000".parse().unwrap();
    h.core.handle_command(
        h.now,
        Command::Answer {
            call,
            local_rtp: rtp,
        },
    );
    let tag = h.drain().0[0].tag("To").unwrap().to_string();
    h.advance(Duration::from_millis(500));
    assert_eq!(
        h.codes(),
        vec![200],
        "RFC 3261 §13.3.1.4: on every transport"
    );
    h.feed(&request("ACK", "t1", 1, Some(&tag), "", ""));
    h.drain();
    h.advance(Duration::from_secs(5));
    assert!(h.drain().0.is_empty());
}

/// Rings and answers an INVITE with `extra` headers; returns the call, our 200 and tag.
fn answered_with(h: &mut Harness, call_id: &str, extra: &str) -> (CallRef, Message, String) {
    let inv = request(
        "INVITE",
        call_id,
        1,
        None,
        &format!("{extra}Content-Type: application/sdp\r\n"),
        OFFER,
    );
    h.feed(&inv);
    let (_, events, _) = h.drain();
    let call = match &events[..] {
        [SipEvent::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    let rtp = "127.0.0.1:20000".parse().unwrap();
    h.core.handle_command(
        h.now,
        Command::Answer {
            call,
            local_rtp: rtp,
        },
    );
    let ok = h.drain().0.remove(0);
    let tag = ok.tag("To").unwrap().to_string();
    h.feed(&request("ACK", call_id, 1, Some(&tag), "", ""));
    h.drain();
    (call, ok, tag)
}

#[test]
fn session_timer_too_small_gets_422_with_min_se() {
    let mut h = harness(10);
    h.feed(&request(
        "INVITE",
        "s0",
        1,
        None,
        "Supported: timer\r\nSession-Expires: 60\r\nContent-Type: application/sdp\r\n",
        OFFER,
    ));
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![422]);
    assert_eq!(sent[0].header("Min-SE"), Some("90"));
    assert!(events.is_empty());
}

#[test]
fn a_caller_that_refreshes_keeps_the_call_and_one_that_stops_gets_bye() {
    let mut h = harness(10);
    let (call, ok, tag) = answered_with(
        &mut h,
        "s1",
        "Supported: timer\r\nSession-Expires: 90;refresher=uac\r\n",
    );
    assert_eq!(ok.header("Session-Expires"), Some("90;refresher=uac"));
    assert_eq!(ok.header("Require"), Some("timer"));
    // The caller refreshes at 45 s (UPDATE without a body): the session goes on.
    h.advance(Duration::from_secs(45));
    h.feed(&request(
        "UPDATE",
        "s1",
        2,
        Some(&tag),
        "Supported: timer\r\nSession-Expires: 90;refresher=uac\r\n",
        "",
    ));
    let (sent, _, _) = h.drain();
    assert_eq!(sent[0].header("Session-Expires"), Some("90;refresher=uac"));
    // Expiry is 90 s minus a third (30 s) after the refresh: 59 s later nothing,
    h.advance(Duration::from_secs(59));
    assert!(h.drain().0.is_empty());
    // then BYE.
    h.advance(Duration::from_secs(1));
    let (sent, events, _) = h.drain();
    assert_eq!(sent[0].method(), Some("BYE"));
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
}

#[test]
fn we_refresh_a_caller_without_timer_support_at_half_the_interval() {
    let mut h = harness(10);
    let (call, ok, _) = answered_with(
        &mut h,
        "s2",
        "Allow: INVITE, ACK, BYE, CANCEL, UPDATE\r\nSession-Expires: 120\r\n",
    );
    assert_eq!(ok.header("Session-Expires"), Some("120;refresher=uas"));
    assert!(
        ok.header("Require").is_none(),
        "the caller does not support timer"
    );
    h.advance(Duration::from_secs(59));
    assert!(h.drain().0.is_empty());
    h.advance(Duration::from_secs(1));
    let (sent, _, _) = h.drain();
    let update = &sent[0];
    assert_eq!(update.method(), Some("UPDATE"));
    assert!(update.body.is_empty());
    assert_eq!(update.header("Session-Expires"), Some("120;refresher=uac"));
    // Unanswered over UDP, it is resent (Timer E).
    h.advance(Duration::from_millis(500));
    assert_eq!(h.drain().0[0].method(), Some("UPDATE"));
    h.feed(&outbound::reply(
        update,
        200,
        "caller",
        "Session-Expires: 120;refresher=uac\r\n",
        "",
    ));
    // The next refresh is 60 s after this one, not an expiry.
    h.advance(Duration::from_secs(59));
    assert!(h.drain().0.is_empty());
    h.advance(Duration::from_secs(1));
    let (sent, events, _) = h.drain();
    assert_eq!(sent[0].method(), Some("UPDATE"));
    assert!(events.is_empty());
    assert_eq!(h.core.active_calls(), 1);
    let _ = call;
}

#[test]
fn our_refresh_is_a_reinvite_to_a_peer_without_update_and_an_unrefreshed_session_ends() {
    let mut h = harness(10);
    let (call, _, _) = answered_with(&mut h, "s3", "Session-Expires: 100\r\n");
    h.advance(Duration::from_secs(50));
    let (sent, _, _) = h.drain();
    let reinvite = &sent[0];
    assert_eq!(reinvite.method(), Some("INVITE"));
    assert!(!reinvite.body.is_empty(), "our unchanged SDP");
    h.feed(&outbound::reply(reinvite, 200, "caller", "", ""));
    let (sent, _, _) = h.drain();
    assert_eq!(sent[0].method(), Some("ACK"));
    assert_eq!(sent[0].cseq(), reinvite.cseq().map(|c| (c.0, "ACK")));
    // The next refresh goes unanswered: at the interval's end, BYE.
    h.advance(Duration::from_secs(50));
    h.drain();
    for _ in 0..50 {
        h.advance(Duration::from_secs(1));
    }
    let (sent, events, _) = h.drain();
    assert!(sent.iter().any(|m| m.method() == Some("BYE")), "{sent:?}");
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
}
