//! Every SIP timer on the real clock (issue 10). The unit and property tests drive the
//! core on an injected clock and prove the logic; these prove the time, through the
//! real UDP shell: `sipp` plays the phone where it can, a raw UDP socket plays a trunk
//! that stays silent. An OPTIONS probe checks SIP keeps answering throughout.
//! Each test waits up to ~45 real seconds; they run in parallel. Ports: 41000-41999
//! (SIP), 42000-42999 (sipp media).

#[path = "sip/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use harness::*;
use kenkocall::config::TrunkConfig;
use kenkocall::sip::{DialRequest, DialResult, EndReason, SipEndpoint, SipEvent};
use tokio::net::UdpSocket;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

/// What the OPTIONS probe saw: probes sent, answered with 200 within 1 s, worst latency.
#[derive(Debug)]
struct ProbeReport {
    sent: usize,
    answered: usize,
    worst: Duration,
}

/// Sends OPTIONS to the engine every second from its own socket until stopped.
struct Prober {
    stop: Arc<AtomicBool>,
    task: JoinHandle<ProbeReport>,
}

impl Prober {
    async fn start(engine: u16) -> Prober {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("probe socket");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let target = SocketAddr::from(([127, 0, 0, 1], engine));
            let port = socket.local_addr().map(|a| a.port()).unwrap_or(0);
            let mut report = ProbeReport {
                sent: 0,
                answered: 0,
                worst: Duration::ZERO,
            };
            let mut buf = vec![0u8; 65_535];
            while !stopped.load(Ordering::Relaxed) {
                let n = report.sent;
                let options = format!(
                    "OPTIONS sip:{OUR_NUMBER}@127.0.0.1:{engine} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-probe-{n}\r\n\
From: <sip:probe@127.0.0.1:{port}>;tag=probe\r\nTo: <sip:{OUR_NUMBER}@127.0.0.1:{engine}>\r\n\
Call-ID: probe-{n}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                );
                let sent_at = Instant::now();
                report.sent += 1;
                let _ = socket.send_to(options.as_bytes(), target).await;
                let want = format!("probe-{n}");
                let answer = tokio::time::timeout(Duration::from_secs(1), async {
                    loop {
                        let Ok((len, _)) = socket.recv_from(&mut buf).await else {
                            continue;
                        };
                        let text = String::from_utf8_lossy(&buf[..len]);
                        if text.starts_with("SIP/2.0 200") && text.contains(&want) {
                            return;
                        }
                    }
                })
                .await;
                if answer.is_ok() {
                    report.answered += 1;
                    report.worst = report.worst.max(sent_at.elapsed());
                }
                tokio::time::sleep_until((sent_at + Duration::from_secs(1)).into()).await;
            }
            report
        });
        Prober { stop, task }
    }

    async fn finish(self) -> ProbeReport {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("probe task")
    }
}

fn assert_sip_stayed_up(report: &ProbeReport, at_least: usize) {
    assert!(report.sent >= at_least, "{report:?}");
    assert_eq!(
        report.answered, report.sent,
        "an OPTIONS went unanswered: {report:?}"
    );
    assert!(report.worst < Duration::from_millis(200), "{report:?}");
}

fn dial_request(p: Ports) -> DialRequest {
    DialRequest {
        to: "09033334444".into(),
        caller_line: "05031980215".into(),
        local_rtp: local_rtp(p),
        ring_timeout: None,
        call_id: None,
    }
}

/// A trunk on a raw UDP socket that records what it receives (when, what), answering
/// an INVITE with 180 only when told to, and nothing else ever.
struct RawTrunk {
    seen: Arc<Mutex<Vec<(Duration, String)>>>,
    task: JoinHandle<()>,
}

impl RawTrunk {
    async fn start(port: u16, ring: bool) -> RawTrunk {
        let socket = UdpSocket::bind(("127.0.0.1", port))
            .await
            .expect("raw trunk socket");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let text = String::from_utf8_lossy(&buf[..len]).to_string();
                let method = text.split(' ').next().unwrap_or_default().to_string();
                if ring && method == "INVITE" {
                    let _ = socket.send_to(ringing(&text).as_bytes(), from).await;
                }
                log.lock().await.push((started.elapsed(), method));
            }
        });
        RawTrunk { seen, task }
    }

    /// When each request of `method` arrived.
    async fn times(&self, method: &str) -> Vec<Duration> {
        let seen = self.seen.lock().await;
        seen.iter()
            .filter(|(_, m)| m == method)
            .map(|(t, _)| *t)
            .collect()
    }
}

impl Drop for RawTrunk {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A 180 to `invite`, built from its own headers.
fn ringing(invite: &str) -> String {
    let mut out = String::from("SIP/2.0 180 Ringing\r\n");
    for line in invite.lines() {
        let name = line.split(':').next().unwrap_or_default();
        match name {
            "Via" | "From" | "Call-ID" | "CSeq" => out.push_str(&format!("{line}\r\n")),
            "To" => out.push_str(&format!("{line};tag=rawtrunk\r\n")),
            _ => {}
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// Issue 10: a phone that rings past 64·T1 (32 s) froze every SIP task. Here it rings
/// for the configured 40 s and gets CANCEL then; OPTIONS is answered every second
/// throughout, before and after 64·T1, and the outcome is no answer.
#[tokio::test]
async fn ring_out_past_64_t1_is_cancelled_at_the_ring_timeout_and_sip_stays_up() {
    let p = timer_ports(0);
    let sipp = sipp_uas("uas_noanswer.xml", p);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut sip = sip_config(p, 10);
    sip.ring_timeout_secs = 40;
    let (ep, _rx) = SipEndpoint::start(&sip, &trunk_to_sipp(p))
        .await
        .expect("endpoint starts");
    let probe = Prober::start(p.engine).await;
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(50), ep.dial(dial_request(p)))
        .await
        .expect("the dial ends")
        .expect("endpoint running");
    let rang = started.elapsed();
    assert_eq!(outcome.result, DialResult::NoAnswer);
    assert_eq!(outcome.result.label(), "no_answer");
    assert!(
        rang >= Duration::from_secs(40) && rang < Duration::from_secs(42),
        "{rang:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_sip_stayed_up(&probe.finish().await, 40);
    // sipp saw the CANCEL, answered 200 and 487, and got our ACK.
    sipp.expect_success().await;
}

/// A 3 s ring timeout against a trunk that rings and then ignores the CANCEL: the
/// CANCEL is resent (T1 doubling up to T2) until 64·T1, the call is dropped 64·T1
/// after the CANCEL, and SIP answers OPTIONS all along.
#[tokio::test]
async fn cancel_ignored_by_the_trunk_is_resent_then_the_call_dropped() {
    let p = timer_ports(1);
    let trunk = RawTrunk::start(p.sipp, true).await;
    let mut sip = sip_config(p, 10);
    sip.ring_timeout_secs = 3;
    let (ep, _rx) = SipEndpoint::start(&sip, &trunk_to_sipp(p))
        .await
        .expect("endpoint starts");
    let probe = Prober::start(p.engine).await;
    let started = Instant::now();
    let outcome = ep.dial(dial_request(p)).await.expect("endpoint running");
    let rang = started.elapsed();
    assert_eq!(outcome.result, DialResult::NoAnswer);
    assert!(
        rang >= Duration::from_secs(3) && rang < Duration::from_millis(3500),
        "{rang:?}"
    );
    tokio::time::sleep(Duration::from_secs(34)).await;
    assert_sip_stayed_up(&probe.finish().await, 35);
    let cancels = trunk.times("CANCEL").await;
    // Sent at 3 s, resent at +0.5, +1.5, +3.5, +7.5, then every 4 s until +32 s.
    assert!((10..=13).contains(&cancels.len()), "{cancels:?}");
    let last = *cancels.last().expect("a CANCEL");
    assert!(last < Duration::from_secs(36), "{cancels:?}");
    // One INVITE only: the 180 stopped its retransmission (Timer A).
    assert_eq!(trunk.times("INVITE").await.len(), 1);
    assert_eq!(trunk.times("ACK").await.len(), 0);
}

/// A trunk that never answers anything: the INVITE is resent (Timer A) and given up
/// at 64·T1 (Timer B, outcome failed); the REGISTER likewise (Timer E/F, counted as a
/// registration failure and retried later).
#[tokio::test]
async fn silent_trunk_ends_the_invite_at_timer_b_and_the_register_at_timer_f() {
    let p = timer_ports(2);
    let trunk = RawTrunk::start(p.sipp, false).await;
    let trunk_cfg = TrunkConfig {
        register: true,
        ..trunk_to_sipp(p)
    };
    let (ep, _rx) = SipEndpoint::start(&sip_config(p, 10), &trunk_cfg)
        .await
        .expect("endpoint starts");
    let probe = Prober::start(p.engine).await;
    let started = Instant::now();
    let outcome = ep.dial(dial_request(p)).await.expect("endpoint running");
    let waited = started.elapsed();
    match &outcome.result {
        DialResult::Failed { status: None, .. } => {}
        other => panic!("expected a failure without status, got {other:?}"),
    }
    assert!(
        waited >= Duration::from_secs(32) && waited < Duration::from_secs(33),
        "{waited:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_sip_stayed_up(&probe.finish().await, 32);
    // INVITE at 0, then 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s.
    let invites = trunk.times("INVITE").await;
    assert_eq!(invites.len(), 7, "{invites:?}");
    // REGISTER at 0, then 0.5, 1.5, 3.5, 7.5 and every 4 s until 32 s.
    let registers = trunk.times("REGISTER").await;
    assert!((10..=12).contains(&registers.len()), "{registers:?}");
    assert_eq!(ep.counters().register_failures, 1);
}

async fn incoming_call(rx: &mut mpsc::Receiver<SipEvent>) -> kenkocall::sip::CallRef {
    loop {
        if let SipEvent::IncomingCall { call, .. } = next_event(rx, "IncomingCall").await {
            return call;
        }
    }
}

fn no_trunk() -> TrunkConfig {
    TrunkConfig {
        uri: String::new(),
        ..TrunkConfig::default()
    }
}

/// Our 200 OK is resent until the ACK comes (Timer G): sipp withholds its ACK for 4 s;
/// its message log shows the 200 at T1, 2·T1, 4·T1 (0.5, 1.5, 3.5 s) and none after
/// the ACK.
#[tokio::test]
async fn answer_is_resent_until_the_caller_acks() {
    let p = timer_ports(3);
    let (ep, mut rx) = SipEndpoint::start(&sip_config(p, 10), &no_trunk())
        .await
        .expect("endpoint starts");
    let sipp = sipp_uac("uac_late_ack.xml", p, OUR_NUMBER, &[]);
    let call = incoming_call(&mut rx).await;
    ep.answer(call, local_rtp(p)).await.expect("answer");
    match next_event(&mut rx, "CallEnded").await {
        SipEvent::CallEnded { reason, .. } => assert_eq!(reason, EndReason::RemoteHangup),
        other => panic!("{other:?}"),
    }
    let log = sipp.expect_success_log().await;
    let entries: Vec<&str> = log
        .split("-----------------------------------------------")
        .collect();
    let ack = entries
        .iter()
        .position(|e| e.contains("message sent") && e.contains("\nACK "))
        .expect("sipp sent the ACK");
    let is_200 = |e: &&&str| {
        e.contains("received") && e.contains("SIP/2.0 200") && e.contains("CSeq: 1 INVITE")
    };
    let before = entries[..ack].iter().filter(is_200).count();
    let after = entries[ack..].iter().filter(is_200).count();
    assert_eq!(
        (before, after),
        (4, 0),
        "the 200 and its 3 retransmissions, none after the ACK"
    );
}

/// A caller that never ACKs our 200: after 64·T1 (Timer H) the call ends as NoAck and
/// the caller gets BYE; OPTIONS is answered all along.
#[tokio::test]
async fn answer_never_acked_ends_the_call_after_64_t1_with_bye() {
    let p = timer_ports(4);
    let (ep, mut rx) = SipEndpoint::start(&sip_config(p, 10), &no_trunk())
        .await
        .expect("endpoint starts");
    let probe = Prober::start(p.engine).await;
    let sipp = sipp_uac("uac_no_ack.xml", p, OUR_NUMBER, &[]);
    let call = incoming_call(&mut rx).await;
    let answered = Instant::now();
    ep.answer(call, local_rtp(p)).await.expect("answer");
    let ended = tokio::time::timeout(Duration::from_secs(40), rx.recv())
        .await
        .expect("CallEnded within 40 s");
    let waited = answered.elapsed();
    assert_eq!(
        ended,
        Some(SipEvent::CallEnded {
            call,
            reason: EndReason::NoAck
        })
    );
    assert!(
        waited >= Duration::from_secs(32) && waited < Duration::from_secs(33),
        "{waited:?}"
    );
    sipp.expect_success().await;
    assert_sip_stayed_up(&probe.finish().await, 32);
}
