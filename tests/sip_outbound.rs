//! The engine dials through a "trunk" that is sipp playing the patient's phone (UAS).

#[path = "sip/harness.rs"]
mod harness;

use std::time::Duration;

use harness::*;
use kenkocall::call::Codec;
use kenkocall::sip::{DialOutcome, DialRequest, DialResult, EndReason, SipEndpoint, SipEvent};

fn request(p: Ports, ring_timeout: Option<Duration>) -> DialRequest {
    DialRequest {
        to: "09033334444".into(),
        caller_line: "05031980215".into(),
        local_rtp: local_rtp(p),
        ring_timeout,
        call_id: None,
    }
}

async fn dial(ep: &SipEndpoint, req: DialRequest) -> DialOutcome {
    tokio::time::timeout(Duration::from_secs(40), ep.dial(req))
        .await
        .expect("dial finishes")
        .expect("endpoint running")
}

/// Answered: media as sipp answered (PCMA, telephone-event 101, its media port); then
/// our BYE, which sipp waits for.
async fn answered_then_we_hang_up(slot: u16, scenario: &str) {
    let p = ports(slot);
    let sipp = sipp_uas(scenario, p);
    tokio::time::sleep(Duration::from_millis(200)).await; // sipp binds its port
    let (ep, mut rx) = engine(p, 10, trunk_to_sipp(p)).await;
    let outcome = dial(&ep, request(p, None)).await;
    assert!(!outcome.sip_call_id.is_empty());
    match &outcome.result {
        DialResult::Answered(media) => {
            assert_eq!(media.codec, Codec::Pcma);
            assert_eq!(media.telephone_event_pt, Some(101));
            assert_eq!(media.remote_rtp.port(), p.media);
        }
        other => panic!("expected Answered, got {other:?}"),
    }
    ep.hangup(outcome.call).await.unwrap();
    let ended = next_event(&mut rx, "CallEnded").await;
    assert_eq!(
        ended,
        SipEvent::CallEnded {
            call: outcome.call,
            reason: EndReason::LocalHangup
        }
    );
    sipp.expect_success().await;
}

#[tokio::test]
async fn outbound_call_answered_then_hung_up_by_engine() {
    answered_then_we_hang_up(20, "uas_answer.xml").await;
}

#[tokio::test]
async fn trunk_401_digest_challenge_is_answered() {
    // sipp verifies the credentials and answers 403 if they are wrong, so Answered
    // here means the digest was right.
    answered_then_we_hang_up(21, "uas_auth.xml").await;
}

#[tokio::test]
async fn outbound_call_busy_is_reported_busy() {
    let p = ports(22);
    let sipp = sipp_uas("uas_busy.xml", p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ep, _rx) = engine(p, 10, trunk_to_sipp(p)).await;
    let outcome = dial(&ep, request(p, None)).await;
    assert_eq!(outcome.result, DialResult::Busy);
    sipp.expect_success().await;
}

#[tokio::test]
async fn ring_timeout_cancels_and_reports_no_answer() {
    let p = ports(23);
    let sipp = sipp_uas("uas_noanswer.xml", p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (ep, _rx) = engine(p, 10, trunk_to_sipp(p)).await;
    let started = std::time::Instant::now();
    let outcome = dial(&ep, request(p, Some(Duration::from_secs(2)))).await;
    assert_eq!(outcome.result, DialResult::NoAnswer);
    assert!(started.elapsed() >= Duration::from_secs(2));
    // sipp saw our CANCEL, answered 487 and got the ACK.
    sipp.expect_success().await;
}

#[tokio::test]
async fn registration_with_digest_is_refreshed_before_expiry() {
    let p = ports(24);
    let sipp = sipp_uas("uas_register.xml", p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut trunk = trunk_to_sipp(p);
    trunk.register = true;
    let (ep, _rx) = engine(p, 10, trunk).await;
    // sipp answers 403 to bad credentials and fails on a missing refresh.
    sipp.expect_success().await;
    assert_eq!(ep.counters().register_failures, 0);
}

#[tokio::test]
async fn outbound_call_over_tcp_trunk() {
    let p = ports(25);
    let sipp = sipp_uas_tcp("uas_answer.xml", p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut trunk = trunk_to_sipp(p);
    trunk.uri.push_str(";transport=tcp");
    let (ep, mut rx) = engine(p, 10, trunk).await;
    let outcome = dial(&ep, request(p, None)).await;
    assert!(
        matches!(outcome.result, DialResult::Answered(_)),
        "{outcome:?}"
    );
    ep.hangup(outcome.call).await.unwrap();
    next_event(&mut rx, "CallEnded").await;
    sipp.expect_success().await;
}
