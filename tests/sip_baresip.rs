//! baresip, a real softphone, calls the engine, and the engine calls baresip.

#[path = "sip/baresip.rs"]
mod baresip;
#[path = "sip/harness.rs"]
mod harness;

use std::time::Duration;

use baresip::Baresip;
use harness::*;
use kenkocall::call::Codec;
use kenkocall::config::TrunkConfig;
use kenkocall::sip::{DialRequest, DialResult, EndReason, SipEvent};

#[tokio::test]
async fn baresip_calls_the_engine_and_hangs_up() {
    let p = ports(40);
    let (ep, mut rx) = engine(
        p,
        10,
        TrunkConfig {
            uri: String::new(),
            ..TrunkConfig::default()
        },
    )
    .await;
    let mut phone =
        Baresip::start("patient", p.sipp, p.control, (p.media, p.media + 8), false).await;
    phone
        .command(&format!("dial sip:{OUR_NUMBER}@127.0.0.1:{}", p.engine))
        .await;
    let call = match next_event(&mut rx, "IncomingCall").await {
        SipEvent::IncomingCall {
            call,
            callee,
            media,
            ..
        } => {
            assert_eq!(callee, OUR_NUMBER);
            assert_eq!(media.codec, Codec::Pcmu, "baresip prefers PCMU");
            assert!(
                media.telephone_event_pt.is_some(),
                "baresip offers telephone-event"
            );
            call
        }
        other => panic!("expected IncomingCall, got {other:?}"),
    };
    ep.answer(call, local_rtp(p)).await.unwrap();
    phone.wait_event("CALL_ESTABLISHED").await;
    phone.command("hangup").await;
    phone.wait_event("CALL_CLOSED").await;
    assert_eq!(
        next_event(&mut rx, "CallEnded").await,
        SipEvent::CallEnded {
            call,
            reason: EndReason::RemoteHangup
        }
    );
}

#[tokio::test]
async fn engine_calls_baresip_which_auto_answers() {
    let p = ports(41);
    let mut phone =
        Baresip::start("patient", p.sipp, p.control, (p.media, p.media + 8), true).await;
    let (ep, mut rx) = engine(p, 10, trunk_to_sipp(p)).await;
    let outcome = tokio::time::timeout(
        Duration::from_secs(20),
        ep.dial(DialRequest {
            to: "patient".into(),
            caller_line: "05031980215".into(),
            local_rtp: local_rtp(p),
            ring_timeout: Some(Duration::from_secs(10)),
            call_id: None,
        }),
    )
    .await
    .expect("dial finishes")
    .expect("endpoint running");
    match &outcome.result {
        DialResult::Answered(media) => {
            assert_eq!(media.codec, Codec::Pcmu);
            let port = media.remote_rtp.port();
            assert!(
                (p.media..=p.media + 8).contains(&port),
                "baresip's RTP port {port}"
            );
        }
        other => panic!("expected Answered, got {other:?}"),
    }
    phone.wait_event("CALL_ESTABLISHED").await;
    ep.hangup(outcome.call).await.unwrap();
    phone.wait_event("CALL_CLOSED").await;
    assert_eq!(
        next_event(&mut rx, "CallEnded").await,
        SipEvent::CallEnded {
            call: outcome.call,
            reason: EndReason::LocalHangup
        }
    );
}
