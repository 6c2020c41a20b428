//! Requests inside established calls: BYE, hangup, INFO, re-INVITE, shutdown.

use super::*;

#[test]
fn bye_from_peer_ends_call_once_even_if_retransmitted() {
    let mut h = harness(10);
    let (call, tag) = h.established("c9");
    h.drain();
    let bye = request("BYE", "c9", 2, Some(&tag), "", "");
    h.feed(&bye);
    h.feed(&bye);
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![200, 200]);
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::RemoteHangup
        }]
    );
    // The call is forgotten 64·T1 later; then a BYE gets 481.
    h.advance(Duration::from_secs(33));
    h.feed(&request("BYE", "c9", 3, Some(&tag), "", ""));
    assert_eq!(h.codes(), vec![481]);
}

#[test]
fn hangup_sends_bye_in_the_dialog() {
    let mut h = harness(10);
    let (call, tag) = h.established("c10");
    h.drain();
    h.core.handle_command(h.now, Command::Hangup { call });
    let (sent, events, _) = h.drain();
    let bye = &sent[0];
    assert_eq!(bye.method(), Some("BYE"));
    assert_eq!(bye.tag("From"), Some(tag.as_str()));
    assert_eq!(bye.tag("To"), Some("caller"));
    assert_eq!(bye.call_id(), Some("c10"));
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
}

#[test]
fn hangup_before_the_ack_sends_bye_once_the_ack_arrives() {
    let mut h = harness(10);
    let call = h.ring("c10b");
    let rtp = "127.0.0.1:20000".parse().unwrap();
    h.core.handle_command(
        h.now,
        Command::Answer {
            call,
            local_rtp: rtp,
        },
    );
    let tag = h.drain().0[0].tag("To").unwrap().to_string();
    h.core.handle_command(h.now, Command::Hangup { call });
    let (sent, events, _) = h.drain();
    assert!(sent.is_empty(), "no BYE before the ACK");
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call,
            reason: EndReason::LocalHangup
        }]
    );
    h.feed(&request("ACK", "c10b", 1, Some(&tag), "", ""));
    let (sent, _, _) = h.drain();
    assert_eq!(
        sent.iter().filter_map(Message::method).collect::<Vec<_>>(),
        vec!["BYE"]
    );
}

#[test]
fn required_session_timer_is_accepted_and_echoed() {
    let mut h = harness(10);
    let extra = "Content-Type: application/sdp\r\nRequire: timer\r\nSession-Expires: 900\r\n";
    h.feed(&request("INVITE", "c17", 1, None, extra, OFFER));
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![100, 180]);
    let SipEvent::IncomingCall { call, .. } = events[0] else {
        panic!("{events:?}");
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
    assert_eq!(ok.header("Session-Expires"), Some("900;refresher=uac"));
    assert_eq!(ok.header("Require"), Some("timer"));
    // Anything else required is still refused.
    let extra = "Content-Type: application/sdp\r\nRequire: precondition\r\n";
    h.feed(&request("INVITE", "c18", 1, None, extra, OFFER));
    let refused = h.drain().0.remove(0);
    assert_eq!(
        (status(&refused), refused.header("Unsupported")),
        (420, Some("precondition"))
    );
}

#[test]
fn shutdown_ends_every_call_with_bye_or_480() {
    let mut h = harness(10);
    let (up, _) = h.established("c19");
    let ringing = h.ring("c20");
    h.drain();
    h.core.shutdown(h.now);
    let (sent, events, _) = h.drain();
    let mut what: Vec<String> = sent
        .iter()
        .map(|m| {
            m.method()
                .map_or_else(|| status(m).to_string(), str::to_string)
        })
        .collect();
    what.sort();
    assert_eq!(what, vec!["480", "BYE"]);
    assert_eq!(events.len(), 2);
    for call in [up, ringing] {
        assert!(events.contains(&SipEvent::CallEnded {
            call,
            reason: EndReason::Shutdown
        }));
    }
    assert_eq!(h.core.active_calls(), 0);
}

#[test]
fn draining_refuses_new_calls_and_probes_but_keeps_calls_up() {
    let mut h = harness(10);
    let (up, tag) = h.established("c31");
    h.drain();
    h.core.handle_command(h.now, Command::Drain);
    h.feed(&invite("c32"));
    h.feed(&request("OPTIONS", "c33", 1, None, "", ""));
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![503, 503]);
    assert!(sent.iter().all(|m| m.header("Retry-After").is_some()));
    assert!(events.is_empty(), "{events:?}");
    // The call in progress still answers in-dialog requests and ends normally.
    h.feed(&request("BYE", "c31", 2, Some(&tag), "", ""));
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![200]);
    assert_eq!(
        events,
        vec![SipEvent::CallEnded {
            call: up,
            reason: EndReason::RemoteHangup
        }]
    );
}

#[test]
fn info_dtmf_relay_delivers_one_digit_per_request() {
    let mut h = harness(10);
    let (call, tag) = h.established("c11");
    h.drain();
    let info = request(
        "INFO",
        "c11",
        2,
        Some(&tag),
        "Content-Type: application/dtmf-relay\r\n",
        "Signal=5\r\nDuration=160\r\n",
    );
    h.feed(&info);
    h.feed(&info); // retransmission
    let (sent, events, _) = h.drain();
    assert_eq!(sent.iter().map(status).collect::<Vec<_>>(), vec![200, 200]);
    let digit = crate::call::Digit {
        key: '5',
        source: DigitSource::SipInfo,
    };
    assert_eq!(events, vec![SipEvent::Digit { call, digit }]);
}

#[test]
fn reinvite_hold_is_answered_recvonly_and_reported() {
    let mut h = harness(10);
    let (call, tag) = h.established("c12");
    h.drain();
    let held = OFFER.replace("101\r\n", "101\r\na=sendonly\r\n");
    h.feed(&request(
        "INVITE",
        "c12",
        2,
        Some(&tag),
        "Content-Type: application/sdp\r\n",
        &held,
    ));
    let (sent, events, _) = h.drain();
    assert_eq!(status(&sent[0]), 200);
    let body = String::from_utf8(sent[0].body.clone()).unwrap();
    assert!(body.contains("a=recvonly"), "{body}");
    assert!(
        body.contains(" 2 IN IP4"),
        "session version must rise: {body}"
    );
    assert!(
        matches!(&events[..], [SipEvent::MediaChanged { call: c, on_hold: true, .. }] if *c == call)
    );
    h.feed(&request("ACK", "c12", 2, Some(&tag), "", ""));
    h.advance(Duration::from_secs(1));
    assert!(
        h.drain().0.is_empty(),
        "ACKed re-INVITE answer is not resent"
    );
}

#[test]
fn refresh_reinvite_without_change_keeps_the_sdp_version() {
    let mut h = harness(10);
    let (_, tag) = h.established("c21");
    h.drain();
    h.feed(&request("INVITE", "c21", 2, Some(&tag), "", ""));
    let (sent, events, _) = h.drain();
    assert_eq!(status(&sent[0]), 200);
    let body = String::from_utf8(sent[0].body.clone()).unwrap();
    assert!(
        body.contains(" 1 IN IP4"),
        "unchanged session keeps version 1: {body}"
    );
    assert!(events.is_empty(), "no media change on a refresh");
    // The same offer again (a refresh with SDP) is no change either.
    h.feed(&h_ack(&tag, "c21", 2));
    let extra = "Content-Type: application/sdp\r\n";
    h.feed(&request("INVITE", "c21", 3, Some(&tag), extra, OFFER));
    let (sent, events, _) = h.drain();
    assert_eq!(status(&sent[0]), 200);
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn answer_in_the_ack_of_an_offerless_reinvite_moves_media() {
    let mut h = harness(10);
    let (call, tag) = h.established("c22");
    h.drain();
    h.feed(&request("INVITE", "c22", 2, Some(&tag), "", ""));
    h.drain();
    let moved = OFFER.replace("m=audio 6000", "m=audio 6100");
    let extra = "Content-Type: application/sdp\r\n";
    h.feed(&request("ACK", "c22", 2, Some(&tag), extra, &moved));
    let (_, events, _) = h.drain();
    match &events[..] {
        [
            SipEvent::MediaChanged {
                call: c,
                media,
                on_hold: false,
            },
        ] => {
            assert_eq!((*c, media.remote_rtp.port()), (call, 6100));
        }
        other => panic!("{other:?}"),
    }
}

fn h_ack(tag: &str, call_id: &str, cseq: u32) -> String {
    request("ACK", call_id, cseq, Some(tag), "", "")
}
