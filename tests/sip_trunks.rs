//! Trunk profiles and what real carriers send, against sipp: the proxy/domain split and
//! E.164 numbers on the wire, the called number read from To (a Hikari Denwa home
//! gateway), and a congested trunk (503 with Retry-After). Loopback ports 55500-56199.

mod common;
#[path = "sip/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use harness::*;
use kenkocall::config::{SipConfig, TrunkConfig};
use kenkocall::sip::numbers::{CalledNumberSource, NumberFormat};
use kenkocall::sip::{DialOutcome, DialRequest, DialResult, EndReason, SipEndpoint, SipEvent};

/// This file's ports: engine 555x0+, sipp +1, sipp control +2, sipp media 560x0+.
fn trunk_ports(slot: u16) -> Ports {
    assert!(slot < 20);
    Ports {
        engine: 55500 + slot * 10,
        sipp: 55501 + slot * 10,
        control: 55502 + slot * 10,
        media: 56000 + slot * 10,
    }
}

fn rtp(p: Ports) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], p.engine + 5))
}

async fn start(
    _p: Ports,
    sip: SipConfig,
    trunk: TrunkConfig,
) -> (SipEndpoint, tokio::sync::mpsc::Receiver<SipEvent>) {
    SipEndpoint::start(&sip, &trunk)
        .await
        .expect("endpoint starts")
}

async fn dial(ep: &SipEndpoint, p: Ports, to: &str) -> DialOutcome {
    let req = DialRequest {
        to: to.into(),
        caller_line: "05031980215".into(),
        local_rtp: rtp(p),
        ring_timeout: None,
        call_id: None,
    };
    tokio::time::timeout(Duration::from_secs(40), ep.dial(req))
        .await
        .expect("dial finishes")
        .expect("endpoint running")
}

/// `trunk.uri` names a domain that does not resolve; requests still reach the proxy,
/// with the domain in Request-URI and To, `from_domain` in From, and both numbers in
/// E.164 (sipp fails the call otherwise).
#[tokio::test]
async fn profile_sends_to_the_proxy_with_domain_and_e164_numbers() {
    let p = trunk_ports(0);
    let sipp = sipp_uas("uas_trunk_profile.xml", p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let trunk = TrunkConfig {
        uri: "sip:trunk.example.jp".into(),
        proxy: format!("127.0.0.1:{}", p.sipp),
        from_domain: "caller.example.jp".into(),
        number_format: NumberFormat::E164,
        keepalive_secs: 0,
        ..TrunkConfig::default()
    };
    let (ep, _rx) = start(p, sip_config(p, 10), trunk).await;
    // Stored E.164 and a national caller line both go out as +81….
    let outcome = dial(&ep, p, "+819033334444").await;
    assert_eq!(outcome.result, DialResult::Busy);
    sipp.expect_success().await;
    ep.shutdown().await;
}

/// A home gateway calls extension 3 (`sip:3@…`) with the dialled number in To: answered
/// with `called_number_from = ["To", "Request-URI"]`.
#[tokio::test]
async fn home_gateway_call_is_routed_by_the_to_header() {
    let p = trunk_ports(1);
    let sip = SipConfig {
        called_number_from: vec![CalledNumberSource::To, CalledNumberSource::RequestUri],
        ..sip_config(p, 10)
    };
    let no_trunk = TrunkConfig {
        uri: String::new(),
        ..TrunkConfig::default()
    };
    let (ep, mut rx) = start(p, sip, no_trunk).await;
    let sipp = sipp_uac("uac_hgw.xml", p, OUR_NUMBER, &[]);
    let call = match next_event(&mut rx, "IncomingCall").await {
        SipEvent::IncomingCall { call, callee, .. } => {
            assert_eq!(callee, OUR_NUMBER);
            call
        }
        other => panic!("expected IncomingCall, got {other:?}"),
    };
    ep.answer(call, rtp(p)).await.unwrap();
    loop {
        if let SipEvent::CallEnded { reason, .. } = next_event(&mut rx, "CallEnded").await {
            assert_eq!(reason, EndReason::RemoteHangup);
            break;
        }
    }
    sipp.expect_success().await;
    ep.shutdown().await;
}

/// A trunk answering 503 with Retry-After and no provisional is congestion, not the
/// patient's failure, with the back-off it asked for.
#[tokio::test]
async fn trunk_503_with_retry_after_is_reported_as_congestion() {
    let p = trunk_ports(2);
    let sipp = sipp_uas("uas_503_retry_after.xml", p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let trunk = TrunkConfig {
        keepalive_secs: 0,
        ..trunk_to_sipp(p)
    };
    let (ep, _rx) = start(p, sip_config(p, 10), trunk).await;
    let outcome = dial(&ep, p, "09033334444").await;
    assert_eq!(
        outcome.result,
        DialResult::TrunkCongested {
            status: 503,
            retry_after: Some(Duration::from_secs(2)),
        }
    );
    assert_eq!(outcome.result.label(), "trunk_congested");
    sipp.expect_success().await;
    ep.shutdown().await;
}

/// sipp calls the engine with `scenario` (extra sipp arguments in `extra`); the engine
/// answers; returns the events after IncomingCall up to CallEnded.
async fn answered_inbound(slot: u16, scenario: &str, extra: &[&str]) -> Vec<SipEvent> {
    let p = trunk_ports(slot);
    let no_trunk = TrunkConfig {
        uri: String::new(),
        ..TrunkConfig::default()
    };
    let (ep, mut rx) = start(p, sip_config(p, 10), no_trunk).await;
    let sipp = sipp_uac(scenario, p, OUR_NUMBER, extra);
    let call = match next_event(&mut rx, "IncomingCall").await {
        SipEvent::IncomingCall { call, .. } => call,
        other => panic!("expected IncomingCall, got {other:?}"),
    };
    ep.answer(call, rtp(p)).await.unwrap();
    let mut seen = Vec::new();
    loop {
        // A session-timer call stays quiet for 45 s between its events.
        let ev = tokio::time::timeout(Duration::from_secs(70), rx.recv())
            .await
            .expect("the call ends")
            .expect("endpoint running");
        let over = matches!(ev, SipEvent::CallEnded { .. });
        seen.push(ev);
        if over {
            break;
        }
    }
    sipp.expect_success().await;
    ep.shutdown().await;
    seen
}

#[tokio::test]
async fn late_offer_is_answered_with_our_offer_and_the_ack_answers_it() {
    let p = trunk_ports(3);
    let events = answered_inbound(3, "uac_late_offer.xml", &[]).await;
    match &events[..] {
        [
            SipEvent::MediaChanged {
                media,
                on_hold: false,
                ..
            },
            SipEvent::CallConfirmed { .. },
            SipEvent::CallEnded {
                reason: EndReason::RemoteHangup,
                ..
            },
        ] => {
            assert_eq!(media.codec, kenkocall::call::Codec::Pcmu);
            assert_eq!(media.remote_rtp.port(), p.media, "sipp's answer");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_caller_requiring_100rel_is_answered_without_18x() {
    let events = answered_inbound(4, "uac_100rel.xml", &[]).await;
    assert!(matches!(events.last(), Some(SipEvent::CallEnded { .. })));
}

#[tokio::test]
async fn update_without_a_body_gets_200_without_a_body() {
    answered_inbound(5, "uac_update_nobody.xml", &[]).await;
}

#[tokio::test]
async fn our_200_is_resent_over_tcp_until_the_ack() {
    answered_inbound(6, "uac_tcp_2xx_resend.xml", &["-t", "t1"]).await;
}

/// RFC 4028 on the real clock: the caller asks us to refresh a 90 s session; our UPDATE
/// reaches sipp by 45 s (sipp fails the call otherwise). Takes about 45 s.
#[tokio::test]
async fn we_refresh_the_session_within_half_the_interval() {
    let started = std::time::Instant::now();
    answered_inbound(7, "uac_session_timer.xml", &[]).await;
    let took = started.elapsed();
    assert!(
        (Duration::from_secs(44)..Duration::from_secs(60)).contains(&took),
        "refresh at half of 90 s, took {took:?}"
    );
}

/// The dialer meets a congested trunk: 503 with Retry-After: 2 to the first INVITE. The
/// attempt is given back and no INVITE leaves for 2 s; the second INVITE (a busy phone,
/// from a second sipp) is the patient's attempt 1. Real clock (scale 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn congested_trunk_pauses_the_dialer_and_spends_no_attempt() {
    use chrono::{TimeDelta, TimeZone, Utc};
    use kenkocall::config::Config;
    use kenkocall::dialer::node::{Clock, DialerNode};
    use kenkocall::engine::Engine;
    use kenkocall::store::{
        AttemptOutcome, AttemptState, CallSlots, ContactMethod, Language, NewPatient,
    };

    let p = trunk_ports(8);
    let db = common::sqlite().await;
    let store = db.store.clone();
    let tz = chrono_tz::Asia::Tokyo;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let patient = NewPatient {
        hersys_id: "3000001".into(),
        name: "Test Patient".into(),
        birth_date: "1950-01-01".parse().unwrap(),
        phone: "09022220002".into(),
        language: Language::Ja,
        health_centre: "Minato".into(),
        observation_start: today - TimeDelta::days(2),
        observation_end: today + TimeDelta::days(5),
        contact_method: ContactMethod::AutoCall,
        call_slots: Some(CallSlots::from_hours(&[9]).unwrap()),
    };
    store
        .insert_patient(&patient, "test", Utc::now())
        .await
        .unwrap();

    let mut cfg = Config::defaults();
    cfg.database.url = db.url.clone();
    cfg.sip.listen = SocketAddr::from(([127, 0, 0, 1], p.engine));
    cfg.sip.rtp_ports = "55900-55949".into();
    cfg.sip.ring_timeout_secs = 3;
    cfg.trunk.uri = format!("sip:127.0.0.1:{}", p.sipp);
    cfg.trunk.keepalive_secs = 0;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    cfg.ivr.prompts_dir = root.join("prompts");
    cfg.ivr.dialplans_dir = root.join("dialplans");
    cfg.dialer.time_scale = 1.0;
    cfg.dialer.poll_ms = 100;
    cfg.dialer.workers = 1;
    cfg.dialer.lease_seconds = 120;

    let congested = sipp_uas("uas_503_retry_after.xml", p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let nine = tz
        .from_local_datetime(&today.and_hms_opt(9, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let engine = Engine::start(&cfg, store.clone()).await.unwrap();
    let clock = Clock::scaled(nine, 1.0);
    let dialer =
        DialerNode::start("congestion", engine.clone(), store.clone(), &cfg, clock).unwrap();
    congested.expect_success().await;
    // The pause outlasts this: the busy phone is listening before the next INVITE.
    let busy = sipp_uas("uas_busy.xml", p);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let attempts = loop {
        let all = store.list_attempts(None).await.unwrap();
        if all.iter().any(|a| a.state == AttemptState::Finished) {
            break all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no attempt finished: {all:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    busy.expect_success().await;
    dialer.shutdown().await;
    engine.shutdown().await;
    let finished: Vec<_> = attempts
        .iter()
        .filter(|a| a.state == AttemptState::Finished)
        .collect();
    assert_eq!(finished.len(), 1, "{attempts:#?}");
    let a = finished[0];
    assert_eq!(a.attempt_no, 1, "the congested INVITE spent no attempt");
    assert_eq!(a.outcome, Some(AttemptOutcome::Busy));
    let waited = a.started_at.unwrap() - nine;
    assert!(
        waited >= TimeDelta::milliseconds(1900),
        "the dialer paused for Retry-After: second INVITE after {waited:?}"
    );
    db.finish().await;
}

/// The real binary: a caller on hold sends no RTP for longer than `media.timeout_secs`
/// (2 s here) and the call survives; sipp fails the call if the engine hangs up.
#[test]
fn silence_on_hold_is_no_media_timeout() {
    use std::process::{Command, Stdio};
    let p = trunk_ports(9);
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = dir.path().join("kenkocall.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{db}\"\n\
             [sip]\nlisten = \"127.0.0.1:{sip}\"\nrtp_ports = \"55950-55999\"\n\
             inbound_numbers = [\"{OUR_NUMBER}\"]\n\
             [trunk]\nuri = \"\"\n\
             [media]\ntimeout_secs = 2\n\
             [http]\nlisten = \"127.0.0.1:{http}\"\n\
             [ivr]\nprompts_dir = \"{prompts}\"\ndialplans_dir = \"{plans}\"\n",
            db = dir.path().join("k.db").display(),
            sip = p.engine,
            http = p.engine + 3,
            prompts = root.join("prompts").display(),
            plans = root.join("dialplans").display(),
        ),
    )
    .unwrap();
    let mut serve = ServeGuard(
        Command::new(env!("CARGO_BIN_EXE_kenkocall"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Start-up checks every prompt (slow in a debug build): wait for the staff pages.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", p.engine + 3)).is_err() {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        assert!(serve.0.try_wait().unwrap().is_none(), "serve exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(sipp_uac("uac_silent_hold.xml", p, OUR_NUMBER, &[]).expect_success());
}

/// Stops the `serve` child however the test ends.
struct ServeGuard(std::process::Child);

impl Drop for ServeGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A trunk's reliable 183 (RFC 3262) gets our PRACK before its 200 (sipp checks RAck).
#[tokio::test]
async fn a_reliable_183_from_the_trunk_gets_prack() {
    let p = trunk_ports(10);
    let sipp = sipp_uas("uas_reliable_183.xml", p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let trunk = TrunkConfig {
        keepalive_secs: 0,
        ..trunk_to_sipp(p)
    };
    let (ep, mut rx) = start(p, sip_config(p, 10), trunk).await;
    let outcome = dial(&ep, p, "09033334444").await;
    assert!(
        matches!(outcome.result, DialResult::Answered(_)),
        "{outcome:?}"
    );
    ep.hangup(outcome.call).await.unwrap();
    assert!(matches!(
        next_event(&mut rx, "CallEnded").await,
        SipEvent::CallEnded { .. }
    ));
    sipp.expect_success().await;
    ep.shutdown().await;
}
