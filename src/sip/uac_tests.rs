//! Outbound calls: the INVITE client transaction against a scripted callee.

use super::*;

pub(super) fn dial(h: &mut Harness, ring: Duration) -> (CallRef, Message) {
    let call = h.core.allocate_ref();
    let request = DialRequest {
        to: "09033334444".into(),
        caller_line: "05031980215".into(),
        local_rtp: "127.0.0.1:21000".parse().unwrap(),
        ring_timeout: Some(ring),
        call_id: None,
    };
    h.core
        .handle_command(h.now, Command::Dial { call, request });
    let (mut sent, _, _) = h.drain();
    (call, sent.remove(0))
}

/// A response from the callee to one of our requests.
pub(super) fn reply(req: &Message, code: u16, to_tag: &str, extra: &str, body: &str) -> String {
    let bytes = message::response(req, code, Some(to_tag), &[], None);
    let text = String::from_utf8(bytes).unwrap();
    let head = text.trim_end_matches("Content-Length: 0\r\n\r\n");
    format!("{head}{extra}Content-Length: {}\r\n\r\n{body}", body.len())
}

#[test]
fn dial_answered_acks_and_reports_media_and_call_id() {
    let mut h = harness(10);
    let (call, inv) = dial(&mut h, Duration::from_secs(45));
    assert_eq!(inv.request_user().as_deref(), Some("09033334444"));
    assert!(inv.header("From").unwrap().contains("sip:05031980215@"));
    h.feed(&reply(&inv, 180, "callee", "", ""));
    h.feed(&reply(
        &inv,
        200,
        "callee",
        "Contact: <sip:callee@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\n",
        OFFER,
    ));
    let (sent, _, dials) = h.drain();
    assert_eq!(sent[0].method(), Some("ACK"));
    assert_eq!(sent[0].tag("To"), Some("callee"));
    assert_eq!(dials[0].call, call);
    assert_eq!(dials[0].sip_call_id, inv.call_id().unwrap());
    match &dials[0].result {
        DialResult::Answered(m) => assert_eq!(m.codec, Codec::Pcma),
        other => panic!("{other:?}"),
    }
    // Our hangup is a BYE to the callee's Contact with both tags.
    h.core.handle_command(h.now, Command::Hangup { call });
    let (sent, events, _) = h.drain();
    assert_eq!(sent[0].method(), Some("BYE"));
    assert_eq!(sent[0].tag("To"), Some("callee"));
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
}

#[test]
fn dial_busy_is_acked_in_the_invite_transaction() {
    let mut h = harness(10);
    let (_, inv) = dial(&mut h, Duration::from_secs(45));
    h.feed(&reply(&inv, 100, "callee", "", ""));
    h.feed(&reply(&inv, 486, "callee", "", ""));
    let (sent, _, dials) = h.drain();
    assert_eq!(sent[0].method(), Some("ACK"));
    assert_eq!(sent[0].branch(), inv.branch());
    assert_eq!(dials[0].result, DialResult::Busy);
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn ring_timeout_cancels_and_reports_no_answer() {
    let mut h = harness(10);
    let (_, inv) = dial(&mut h, Duration::from_secs(3));
    h.feed(&reply(&inv, 180, "callee", "", ""));
    h.advance(Duration::from_secs(3));
    let (sent, _, dials) = h.drain();
    assert_eq!(dials[0].result, DialResult::NoAnswer);
    let cancel = sent
        .iter()
        .find(|m| m.method() == Some("CANCEL"))
        .expect("CANCEL sent");
    assert_eq!(cancel.branch(), inv.branch());
    assert_eq!(cancel.cseq(), Some((1, "CANCEL")));
    h.feed(&reply(&inv, 487, "callee", "", ""));
    let (sent, _, dials) = h.drain();
    assert_eq!(sent[0].method(), Some("ACK"));
    assert!(dials.is_empty(), "reported once");
}

/// Issue 10: a phone that rings past 64·T1 froze the core (a Timer B deadline nobody
/// handled after the 180, re-armed in the past for ever).
#[test]
fn phone_ringing_past_64_t1_gets_cancel_at_the_ring_timeout() {
    let mut h = harness(10);
    let (call, inv) = dial(&mut h, Duration::from_secs(45));
    h.feed(&reply(&inv, 180, "callee", "", ""));
    for _ in 0..44 {
        h.advance(Duration::from_secs(1));
        assert!(h.core.poll_timeout().is_some_and(|t| t > h.now));
    }
    let (sent, _, dials) = h.drain();
    assert!(sent.is_empty() && dials.is_empty(), "{sent:?} {dials:?}");
    h.advance(Duration::from_secs(1));
    let (sent, _, dials) = h.drain();
    assert_eq!(dials[0].result, DialResult::NoAnswer);
    assert_eq!(sent[0].method(), Some("CANCEL"));
    // A callee that never answers the CANCEL nor sends 487: dropped 64·T1 later.
    h.advance(Duration::from_secs(32));
    assert_eq!(h.core.active_calls(), 0);
    h.advance(Duration::from_secs(32));
    assert!(!h.core.calls.contains_key(&call), "reaped");
}

/// The 200 crossing our CANCEL is ACKed, then the call is hung up with BYE.
#[test]
fn answer_crossing_the_cancel_gets_ack_and_bye() {
    let mut h = harness(10);
    let (_, inv) = dial(&mut h, Duration::from_secs(3));
    h.feed(&reply(&inv, 180, "callee", "", ""));
    h.advance(Duration::from_secs(3));
    let (sent, _, dials) = h.drain();
    assert_eq!(sent[0].method(), Some("CANCEL"));
    assert_eq!(dials[0].result, DialResult::NoAnswer);
    let answer = "Contact: <sip:callee@127.0.0.1:5070>\r\nContent-Type: application/sdp\r\n";
    h.feed(&reply(&inv, 200, "callee", answer, OFFER));
    let (sent, events, dials) = h.drain();
    let methods: Vec<_> = sent.iter().map(|m| m.method().unwrap()).collect();
    assert_eq!(methods, vec!["ACK", "BYE"]);
    assert!(
        events.is_empty() && dials.is_empty(),
        "reported once, never announced"
    );
    assert_eq!(h.core.active_calls(), 0);
}

/// Hung up before any response, then a 180 after Timer B would have fired: the CANCEL
/// goes with the 180 and the call still ends.
#[test]
fn hangup_before_any_response_cancels_with_the_first_provisional() {
    let mut h = harness(10);
    let (call, inv) = dial(&mut h, Duration::from_secs(45));
    h.core.handle_command(h.now, Command::Hangup { call });
    h.advance(Duration::from_secs(20));
    h.feed(&reply(&inv, 180, "callee", "", ""));
    let (sent, _, dials) = h.drain();
    assert!(sent.iter().any(|m| m.method() == Some("CANCEL")));
    assert!(matches!(dials[0].result, DialResult::Failed { .. }));
    h.advance(Duration::from_secs(20));
    assert!(h.core.poll_timeout().is_some_and(|t| t > h.now));
    h.advance(Duration::from_secs(40));
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn challenge_401_is_answered_once_with_digest_credentials() {
    let mut h = harness(10);
    let (_, inv) = dial(&mut h, Duration::from_secs(45));
    let challenge = "WWW-Authenticate: Digest realm=\"trunk\", nonce=\"abc\", qop=\"auth\", algorithm=SHA-256\r\n";
    h.feed(&reply(&inv, 401, "t1", challenge, ""));
    let (sent, _, dials) = h.drain();
    assert!(dials.is_empty());
    assert_eq!(sent[0].method(), Some("ACK"));
    let again = &sent[1];
    assert_eq!(again.method(), Some("INVITE"));
    assert_eq!(again.cseq(), Some((2, "INVITE")));
    assert_ne!(again.branch(), inv.branch());
    let auth = again.header("Authorization").unwrap();
    assert!(
        auth.contains("username=\"kenko\"") && auth.contains("algorithm=SHA-256"),
        "{auth}"
    );
    // The first challenge, retransmitted, is ACKed again on its own branch.
    h.feed(&reply(&inv, 401, "t1", challenge, ""));
    let (sent, _, _) = h.drain();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].method(), sent[0].branch()),
        (Some("ACK"), inv.branch())
    );
    // A second challenge is a failure, not a loop.
    h.feed(&reply(again, 401, "t2", challenge, ""));
    let (_, _, dials) = h.drain();
    assert!(matches!(
        dials[0].result,
        DialResult::Failed {
            status: Some(401),
            ..
        }
    ));
}

#[test]
fn silent_trunk_gets_invite_retransmissions_then_fails_at_timer_b() {
    let mut h = harness(10);
    let (_, _inv) = dial(&mut h, Duration::from_secs(45));
    let mut resent = 0;
    for _ in 0..33 {
        h.advance(Duration::from_secs(1));
        let (sent, _, dials) = h.drain();
        resent += sent.iter().filter(|m| m.method() == Some("INVITE")).count();
        if let Some(d) = dials.first() {
            assert!(matches!(d.result, DialResult::Failed { status: None, .. }));
            assert!(resent >= 5, "retransmitted {resent} times");
            return;
        }
    }
    panic!("no outcome after 33 s");
}

fn register_reply(req: &Message, code: u16, extra: &str) -> String {
    reply(req, code, "reg", extra, "")
}

#[test]
fn registration_answers_challenge_and_refreshes_before_expiry() {
    let mut h = harness(10);
    h.core.start_registration(h.now);
    let (sent, _, _) = h.drain();
    let first = &sent[0];
    assert_eq!(first.method(), Some("REGISTER"));
    assert_eq!(first.header("Expires"), Some("3600"));
    assert!(
        first
            .header("To")
            .unwrap()
            .contains("sip:kenko@127.0.0.1:5070")
    );
    let challenge = "WWW-Authenticate: Digest realm=\"trunk\", nonce=\"n1\", qop=\"auth\"\r\n";
    h.feed(&register_reply(first, 401, challenge));
    let (sent, _, _) = h.drain();
    let authed = &sent[0];
    assert_eq!(authed.cseq(), Some((2, "REGISTER")));
    assert_eq!(authed.call_id(), first.call_id());
    assert!(
        authed
            .header("Authorization")
            .unwrap()
            .contains("nonce=\"n1\"")
    );
    h.feed(&register_reply(authed, 200, "Expires: 100\r\n"));
    assert!(h.core.registered_until().is_some());
    h.advance(Duration::from_secs(79));
    assert!(
        h.drain().0.is_empty(),
        "no refresh before 80 % of the expiry"
    );
    h.advance(Duration::from_secs(1));
    let (sent, _, _) = h.drain();
    assert_eq!(sent[0].method(), Some("REGISTER"));
    assert_eq!(sent[0].cseq(), Some((3, "REGISTER")));
    assert!(sent[0].header("Authorization").is_none());
}

#[test]
fn refused_registration_is_retried_after_a_minute() {
    let mut h = harness(10);
    h.core.start_registration(h.now);
    let first = h.drain().0.remove(0);
    h.feed(&register_reply(&first, 403, ""));
    assert_eq!(h.core.counters.snapshot().register_failures, 1);
    h.advance(Duration::from_secs(59));
    assert!(h.drain().0.is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.drain().0[0].method(), Some("REGISTER"));
}

#[test]
fn undialable_number_fails_without_sending() {
    let mut h = harness(10);
    let call = h.core.allocate_ref();
    let request = DialRequest {
        to: "090\r\nX-Evil: 1".into(),
        caller_line: "05031980215".into(),
        local_rtp: "127.0.0.1:21000".parse().unwrap(),
        ring_timeout: None,
        call_id: None,
    };
    h.core
        .handle_command(h.now, Command::Dial { call, request });
    let (sent, _, dials) = h.drain();
    assert!(sent.is_empty());
    assert!(matches!(
        dials[0].result,
        DialResult::Failed { status: None, .. }
    ));
}

/// The trunk's own refusal (Retry-After, or a final before any provisional) is not the
/// patient's: reported as congestion with the back-off it asked for.
#[test]
fn trunk_refusals_are_congestion_and_phone_refusals_are_not() {
    let cases: [(&[u16], u16, &str, DialResult); 5] = [
        (
            &[100],
            503,
            "Retry-After: 30 (overload);duration=60\r\n",
            DialResult::TrunkCongested {
                status: 503,
                retry_after: Some(Duration::from_secs(30)),
            },
        ),
        (
            &[],
            480,
            "",
            DialResult::TrunkCongested {
                status: 480,
                retry_after: None,
            },
        ),
        (
            &[],
            503,
            "Retry-After: 999999\r\n",
            DialResult::TrunkCongested {
                status: 503,
                retry_after: Some(Duration::from_secs(3600)),
            },
        ),
        (&[100, 180], 486, "", DialResult::Busy),
        (&[100], 480, "", DialResult::NoAnswer),
    ];
    for (provisionals, code, extra, want) in cases {
        let mut h = harness(10);
        let (_, inv) = dial(&mut h, Duration::from_secs(45));
        for p in provisionals {
            h.feed(&reply(&inv, *p, "callee", "", ""));
        }
        h.feed(&reply(&inv, code, "callee", extra, ""));
        let (sent, _, dials) = h.drain();
        assert_eq!(sent.last().and_then(Message::method), Some("ACK"));
        assert_eq!(dials[0].result, want, "{provisionals:?} then {code}");
        assert_eq!(h.core.active_calls(), 0);
    }
}

#[test]
fn a_reliable_provisional_gets_one_prack_per_rseq() {
    let mut h = harness(10);
    let (_, inv) = dial(&mut h, Duration::from_secs(45));
    assert!(inv.header("Supported").unwrap().contains("100rel"));
    let reliable = "Require: 100rel\r\nRSeq: 7\r\nContact: <sip:callee@127.0.0.1:5070>\r\n";
    h.feed(&reply(&inv, 183, "callee", reliable, ""));
    let (sent, _, _) = h.drain();
    assert_eq!(sent[0].method(), Some("PRACK"));
    assert_eq!(sent[0].header("RAck"), Some("7 1 INVITE"));
    assert_eq!(sent[0].tag("To"), Some("callee"));
    // The 183 retransmitted (our PRACK crossed it): no second PRACK; ours is resent
    // until its 200 (Timer E).
    h.feed(&reply(&inv, 183, "callee", reliable, ""));
    assert!(h.drain().0.is_empty());
    h.advance(Duration::from_millis(500));
    let resent = h.drain().0;
    assert_eq!(resent[0].method(), Some("PRACK"));
    h.feed(&reply(&resent[0], 200, "callee", "", ""));
    h.advance(Duration::from_secs(5));
    assert!(h.drain().0.is_empty(), "answered: no more PRACKs");
}
