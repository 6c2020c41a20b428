//! sipp (UAC) calls the engine's inbound line over loopback. Each test has its own ports.

#[path = "sip/harness.rs"]
mod harness;

use std::time::Duration;

use harness::*;
use kenkocall::call::{Codec, Digit, DigitSource};
use kenkocall::config::TrunkConfig;
use kenkocall::sip::{CallRef, EndReason, SipEndpoint, SipEvent};
use tokio::sync::mpsc;

fn no_trunk() -> TrunkConfig {
    TrunkConfig {
        uri: String::new(),
        ..TrunkConfig::default()
    }
}

/// Waits for the IncomingCall and checks what SIP negotiated with sipp's offer.
async fn incoming(rx: &mut mpsc::Receiver<SipEvent>, p: Ports) -> CallRef {
    match next_event(rx, "IncomingCall").await {
        SipEvent::IncomingCall {
            call,
            caller,
            callee,
            media,
            sip_call_id,
        } => {
            assert_eq!(caller, "09011112222");
            assert_eq!(callee, OUR_NUMBER);
            assert!(!sip_call_id.is_empty());
            assert_eq!(media.codec, Codec::Pcmu, "sipp lists PCMU first");
            assert_eq!(media.telephone_event_pt, Some(101));
            assert_eq!(media.remote_rtp.port(), p.media);
            call
        }
        other => panic!("expected IncomingCall, got {other:?}"),
    }
}

async fn ended(rx: &mut mpsc::Receiver<SipEvent>) -> (CallRef, EndReason) {
    loop {
        if let SipEvent::CallEnded { call, reason } = next_event(rx, "CallEnded").await {
            return (call, reason);
        }
    }
}

async fn answered_then_sipp_hangs_up(p: Ports, scenario: &str, extra: &[&str]) -> SipEndpoint {
    let (ep, mut rx) = engine(p, 10, no_trunk()).await;
    let sipp = sipp_uac(scenario, p, OUR_NUMBER, extra);
    let call = incoming(&mut rx, p).await;
    ep.answer(call, local_rtp(p)).await.unwrap();
    assert_eq!(ended(&mut rx).await, (call, EndReason::RemoteHangup));
    sipp.expect_success().await;
    ep
}

#[tokio::test]
async fn sipp_call_is_answered_and_sipp_hangs_up() {
    let ep = answered_then_sipp_hangs_up(ports(0), "uac_answer_bye.xml", &[]).await;
    assert_eq!(ep.counters().responses_4xx_sent, 0);
}

#[tokio::test]
async fn sipp_call_over_tcp_is_answered_and_hung_up() {
    answered_then_sipp_hangs_up(ports(1), "uac_answer_bye.xml", &["-t", "t1"]).await;
}

#[tokio::test]
async fn compact_header_invite_is_answered() {
    answered_then_sipp_hangs_up(ports(2), "uac_compact.xml", &[]).await;
}

#[tokio::test]
async fn engine_hangs_up_with_bye() {
    let p = ports(3);
    let (ep, mut rx) = engine(p, 10, no_trunk()).await;
    let sipp = sipp_uac("uac_wait_bye.xml", p, OUR_NUMBER, &[]);
    let call = incoming(&mut rx, p).await;
    ep.answer(call, local_rtp(p)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    ep.hangup(call).await.unwrap();
    assert_eq!(ended(&mut rx).await, (call, EndReason::LocalHangup));
    sipp.expect_success().await;
}

#[tokio::test]
async fn cancel_before_answer_gets_487() {
    let p = ports(4);
    let (_ep, mut rx) = engine(p, 10, no_trunk()).await;
    let sipp = sipp_uac("uac_cancel.xml", p, OUR_NUMBER, &[]);
    let call = incoming(&mut rx, p).await;
    // The glue never answers; sipp cancels after the 180.
    assert_eq!(ended(&mut rx).await, (call, EndReason::CallerCancelled));
    sipp.expect_success().await;
}

#[tokio::test]
async fn options_gets_200_with_allow() {
    let p = ports(5);
    let (_ep, _rx) = engine(p, 10, no_trunk()).await;
    sipp_uac("uac_options.xml", p, OUR_NUMBER, &[])
        .expect_success()
        .await;
}

#[tokio::test]
async fn unknown_number_gets_404() {
    let p = ports(6);
    let (ep, mut rx) = engine(p, 10, no_trunk()).await;
    sipp_uac("uac_404.xml", p, "0120999999", &[])
        .expect_success()
        .await;
    assert!(rx.try_recv().is_err(), "no call reaches the glue");
    assert_eq!(ep.counters().unknown_number, 1);
}

#[tokio::test]
async fn past_max_calls_invite_gets_503_with_retry_after() {
    let p = ports(7);
    let (ep, mut rx) = engine(p, 1, no_trunk()).await;
    let first = sipp_uac("uac_wait_bye.xml", p, OUR_NUMBER, &[]);
    let call = incoming(&mut rx, p).await;
    ep.answer(call, local_rtp(p)).await.unwrap();
    // A second caller while the only slot is taken (its own sipp ports).
    let p2 = Ports {
        sipp: p.sipp + 5,
        media: p.media + 5,
        control: p.control + 5,
        ..p
    };
    sipp_uac("uac_503.xml", p2, OUR_NUMBER, &[])
        .expect_success()
        .await;
    assert_eq!(ep.counters().rejected_at_capacity, 1);
    ep.hangup(call).await.unwrap();
    first.expect_success().await;
}

#[tokio::test]
async fn info_dtmf_relay_digit_is_delivered() {
    let p = ports(8);
    let (ep, mut rx) = engine(p, 10, no_trunk()).await;
    let sipp = sipp_uac("uac_info.xml", p, OUR_NUMBER, &[]);
    let call = incoming(&mut rx, p).await;
    ep.answer(call, local_rtp(p)).await.unwrap();
    let digit = Digit {
        key: '5',
        source: DigitSource::SipInfo,
    };
    assert_eq!(
        next_event(&mut rx, "Digit").await,
        SipEvent::Digit { call, digit }
    );
    assert_eq!(ended(&mut rx).await, (call, EndReason::RemoteHangup));
    sipp.expect_success().await;
}

#[tokio::test]
async fn shutdown_hangs_up_calls_in_progress() {
    let p = ports(9);
    let (ep, mut rx) = engine(p, 10, no_trunk()).await;
    let sipp = sipp_uac("uac_wait_bye.xml", p, OUR_NUMBER, &[]);
    let call = incoming(&mut rx, p).await;
    ep.answer(call, local_rtp(p)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    ep.shutdown().await;
    assert_eq!(ended(&mut rx).await, (call, EndReason::Shutdown));
    sipp.expect_success().await;
}

#[tokio::test]
async fn reinvite_hold_and_resume_are_answered_and_reported() {
    let p = ports(10);
    let (ep, mut rx) = engine(p, 10, no_trunk()).await;
    let sipp = sipp_uac("uac_hold.xml", p, OUR_NUMBER, &[]);
    let call = incoming(&mut rx, p).await;
    ep.answer(call, local_rtp(p)).await.unwrap();
    for expect_hold in [true, false] {
        match next_event(&mut rx, "MediaChanged").await {
            SipEvent::MediaChanged {
                call: c,
                media,
                on_hold,
            } => {
                assert_eq!((c, on_hold), (call, expect_hold));
                assert_eq!(media.remote_rtp.port(), p.media);
            }
            other => panic!("expected MediaChanged, got {other:?}"),
        }
    }
    assert_eq!(ended(&mut rx).await, (call, EndReason::RemoteHangup));
    sipp.expect_success().await;
}

#[tokio::test]
async fn torture_and_garbage_do_not_stop_the_transports() {
    let p = ports(11);
    let (ep, _rx) = engine(p, 10, no_trunk()).await;
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], p.engine));
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip-torture");
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut sent = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "dat") {
            udp.send_to(&std::fs::read(&path).unwrap(), target)
                .await
                .unwrap();
            sent += 1;
        }
    }
    udp.send_to(b"\x00\x01\x02 garbage", target).await.unwrap();
    // Over TCP: a negative Content-Length makes the stream unframeable.
    let mut tcp = tokio::net::TcpStream::connect(target).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp.write_all(&std::fs::read(dir.join("ncl.dat")).unwrap())
        .await
        .unwrap();
    // It gets its 400, then the connection is closed.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "connection with broken framing closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("SIP/2.0 400 "), "{answer}");
    // Both transports still answer.
    sipp_uac("uac_options.xml", p, OUR_NUMBER, &[])
        .expect_success()
        .await;
    let p_tcp = Ports {
        sipp: p.sipp + 5,
        media: p.media + 5,
        control: p.control + 5,
        ..p
    };
    sipp_uac("uac_options.xml", p_tcp, OUR_NUMBER, &["-t", "t1"])
        .expect_success()
        .await;
    let c = ep.counters();
    assert!(sent >= 49, "all torture files sent ({sent})");
    assert!(c.bad_request_sent >= 10, "{c:?}");
    assert!(c.malformed_dropped >= 3, "{c:?}");
}
