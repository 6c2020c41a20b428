//! Hostile media and signalling against the real engine, with a real `sipp` caller
//! (its pcap playback needs root or cap_net_raw):
//! - RTP with RFC 4733 keys sprayed from 127.0.0.2 at every port of the engine's RTP range
//!   during a whole health call: the caller's answers are stored, the sprayer hears nothing;
//! - a flood of INVITEs never ACKed from one source (SDP aimed at a "victim" socket): the
//!   source gets 503 past its share, the victim gets a handful of packets, a caller from
//!   another address completes the IVR, and at Timer H the source's slots come back.
//!
//! Ports: SIP 46000-46299, RTP 47000-47299 (nothing else uses them).

#[path = "ivr/harness.rs"]
mod harness;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use harness::{Line, Ports, TIMING, clear_log, plays, reports_when, sipp_call};
use kenkocall::admin::{self, AdminState};
use kenkocall::store::Symptom;
use serde_json::json;
use tokio::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

fn my_ports(n: u16) -> Ports {
    Ports {
        engine_sip: 46000 + n * 100,
        peer_sip: 46001 + n * 100,
        peer_media: 47000 + n * 100 + 10,
        peer_control: 46020 + n * 100,
        rtp_low: 47000 + n * 100 + 40,
    }
}

/// The key sequence, then 15 s of the caller's silence: a phone keeps sending RTP
/// until the engine's BYE.
fn caller_keys(id: &str, mmdd: &str) -> String {
    format!("1,{id}#{mmdd},,*365,1,97#,1,222222222,2,,,,,,,,,,")
}

fn assert_complete_report(reports: &[serde_json::Value], id: &str) {
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r["hersys_id"], json!(id));
    assert_eq!(r["temperature_c"], json!(36.5));
    assert_eq!(r["spo2"], json!(97));
    let all_no: serde_json::Value = Symptom::ALL
        .iter()
        .map(|s| (s.to_string(), json!(false)))
        .collect();
    assert_eq!(r["symptoms"], all_no);
    assert_eq!(r["complete"], json!(true));
}

/// Serves the staff app (for `/metrics`) on `port`.
fn serve_admin(line: &Line, port: u16) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let state = AdminState::new(line.store.clone(), line.engine.metrics().clone());
    tokio::spawn(admin::serve(
        SocketAddr::from(([127, 0, 0, 1], port)),
        state,
    ))
}

/// `/metrics` over plain HTTP.
fn scrape(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("admin listening");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Scrapes until `name` satisfies `ok` (the engine copies its counters every 5 s).
async fn metric_when(port: u16, name: &str, ok: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(12);
    loop {
        let text = tokio::task::spawn_blocking(move || scrape(port))
            .await
            .unwrap();
        let v = metric(&text, name);
        if v.is_some_and(&ok) || Instant::now() > deadline {
            return v.unwrap_or_else(|| panic!("{name} missing:\n{text}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// An RFC 4733 packet (PT 101): `key` pressed, one event per 5 packets.
fn telephone_event(ssrc: u32, seq: u16, key: u8) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[0] = 0x80;
    p[1] = 101 | if seq.is_multiple_of(5) { 0x80 } else { 0 };
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    let ts = u32::from(seq / 5) * 1600;
    p[4..8].copy_from_slice(&ts.to_be_bytes());
    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
    let end = if seq % 5 == 4 { 0x80 } else { 0 };
    p[12] = key;
    p[13] = end | 10;
    p[14..16].copy_from_slice(&(160 * (seq % 5 + 1)).to_be_bytes());
    p
}

/// Sprays every even port of `low..=high` from 127.0.0.2 every 20 ms (one SSRC and
/// consecutive sequence numbers per port: it would pass any probation) until `stop`;
/// returns (packets sent, packets received back).
fn spray(low: u16, high: u16, stop: Arc<AtomicBool>) -> (u64, u64) {
    let socket = UdpSocket::bind("127.0.0.2:0").expect("127.0.0.2 is loopback on Linux");
    socket.set_nonblocking(true).unwrap();
    let ports: Vec<u16> = (low..=high).filter(|p| p % 2 == 0).collect();
    let mut seq = vec![0u16; ports.len()];
    let (mut sent, mut received) = (0u64, 0u64);
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        for (i, port) in ports.iter().enumerate() {
            // Keys the IVR would act on: 0 (event 0) and # (event 11) in turn.
            let key = if (seq[i] / 5).is_multiple_of(2) {
                0
            } else {
                11
            };
            let packet = telephone_event(0xBAD0_0000 + u32::from(*port), seq[i], key);
            if socket.send_to(&packet, ("127.0.0.1", *port)).is_ok() {
                sent += 1;
            }
            seq[i] = seq[i].wrapping_add(1);
        }
        while let Ok((_, _)) = socket.recv_from(&mut buf) {
            received += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (sent, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_sprayed_at_the_calls_port_changes_nothing_for_the_caller() {
    let _serial = ONE_AT_A_TIME.lock().await;
    clear_log();
    let p = my_ports(0);
    let line = Line::start(p).await;
    let _admin = serve_admin(&line, 46090);
    let id = "1234567";
    let mmdd = line.enrol(id).await;
    let dir = tempfile::tempdir().unwrap();
    let pcap = harness::rfc4733_pcap(dir.path(), &caller_keys(id, &mmdd), TIMING);

    let stop = Arc::new(AtomicBool::new(false));
    let sprayer = {
        let stop = stop.clone();
        std::thread::spawn(move || spray(p.rtp_low, p.rtp_low + 49, stop))
    };
    sipp_call(p, "uac_keys_wait_bye.xml", &pcap, &[]).await;
    stop.store(true, Ordering::Relaxed);
    let (sprayed, heard) = sprayer.join().unwrap();

    let reports = reports_when(&line, id, Duration::from_secs(5), |r| {
        r.first().is_some_and(|r| r["complete"] == json!(true))
    })
    .await;
    assert_complete_report(&reports, id);
    let played = plays();
    assert_eq!(
        played.last().map(String::as_str),
        Some("goodbye"),
        "{played:?}"
    );
    eprintln!("spray: {sprayed} packets sent, {heard} received back");
    assert!(sprayed > 10_000, "the spray ran: {sprayed}");
    assert_eq!(heard, 0, "the sprayer received our RTP");
    let engine_refused = line
        .engine
        .shared()
        .media
        .stats()
        .rtp_refused
        .load(Ordering::Relaxed);
    assert!(engine_refused > 500, "{engine_refused}");
    let exported = metric_when(46090, "kenkocall_rtp_refused_packets_total", |v| v > 500).await;
    assert!(exported > 500, "{exported}");
    line.engine.shutdown().await;
}

fn invite(n: u32, from: SocketAddr, to: SocketAddr, victim: SocketAddr) -> String {
    let sdp = format!(
        "v=0\r\no=- {n} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n",
        ip = victim.ip(),
        port = victim.port()
    );
    format!(
        "INVITE sip:{line}@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-flood-{n}\r\n\
         From: <sip:09099990000@{from}>;tag=flood{n}\r\n\
         To: <sip:{line}@{to}>\r\n\
         Call-ID: flood-{n}@kenkocall-test\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:flood@{from}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{sdp}",
        line = harness::LINE,
        len = sdp.len()
    )
}

/// Final status codes (one per Call-ID) read from `socket` for `within`.
fn final_codes(socket: &UdpSocket, within: Duration) -> Vec<(String, u16, bool)> {
    let deadline = Instant::now() + within;
    let mut seen = std::collections::HashMap::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let Ok(len) = socket.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..len]);
        let code: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let call_id = text
            .lines()
            .find_map(|l| l.strip_prefix("Call-ID: "))
            .unwrap_or("")
            .to_string();
        let retry_after = text.lines().any(|l| l.starts_with("Retry-After: "));
        if code >= 200 {
            seen.insert(call_id, (code, retry_after));
        }
    }
    seen.into_iter().map(|(c, (k, r))| (c, k, r)).collect()
}

fn count_datagrams(socket: &UdpSocket, within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while Instant::now() < deadline {
        if socket.recv(&mut buf).is_ok() {
            n += 1;
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_invites_from_one_source_neither_block_callers_nor_reflect_rtp() {
    let _serial = ONE_AT_A_TIME.lock().await;
    clear_log();
    let p = my_ports(1);
    let line = Line::start(p).await;
    let _admin = serve_admin(&line, 46190);
    let id = "2345678";
    let mmdd = line.enrol(id).await;

    // 50 INVITEs from one socket, never ACKed, their SDP aimed at a victim.
    let flooder = UdpSocket::bind("127.0.0.3:46150").unwrap();
    flooder
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let victim = UdpSocket::bind("127.0.0.4:47120").unwrap();
    victim
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let flood_start = Instant::now();
    for n in 0..50 {
        let text = invite(
            n,
            flooder.local_addr().unwrap(),
            line.sip,
            victim.local_addr().unwrap(),
        );
        flooder.send_to(text.as_bytes(), line.sip).unwrap();
    }
    let codes = tokio::task::block_in_place(|| final_codes(&flooder, Duration::from_secs(2)));
    let answered = codes.iter().filter(|c| c.1 == 200).count();
    let refused: Vec<_> = codes.iter().filter(|c| c.1 == 503).collect();
    assert_eq!(answered, 4, "the source's share (default 4): {codes:?}");
    assert_eq!(refused.len(), 46, "{codes:?}");
    assert!(refused.iter().all(|c| c.2), "503 carries Retry-After");
    // Unconfirmed calls send a few packets of silence, not prompts at 50 a second.
    let reflected =
        tokio::task::block_in_place(|| count_datagrams(&victim, Duration::from_secs(3)));

    // Meanwhile a caller from another address completes the IVR.
    let dir = tempfile::tempdir().unwrap();
    let pcap = harness::rfc4733_pcap(dir.path(), &caller_keys(id, &mmdd), TIMING);
    sipp_call(p, "uac_keys_wait_bye.xml", &pcap, &[]).await;
    let reports = reports_when(&line, id, Duration::from_secs(5), |r| {
        r.first().is_some_and(|r| r["complete"] == json!(true))
    })
    .await;
    assert_complete_report(&reports, id);

    // Timer H (64·T1 = 32 s) ended the unACKed calls: the source may call again.
    let timer_h = Duration::from_secs(33);
    if let Some(rest) = timer_h.checked_sub(flood_start.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let reflected = reflected
        + tokio::task::block_in_place(|| count_datagrams(&victim, Duration::from_millis(200)));
    eprintln!(
        "flood: {answered} answered, {} refused, {reflected} packets to the victim",
        refused.len()
    );
    assert!(
        reflected <= 4 * 5,
        "at most 5 packets per unACKed call reached the victim: {reflected}"
    );
    let again = invite(
        99,
        flooder.local_addr().unwrap(),
        line.sip,
        victim.local_addr().unwrap(),
    );
    flooder.send_to(again.as_bytes(), line.sip).unwrap();
    let codes = tokio::task::block_in_place(|| final_codes(&flooder, Duration::from_secs(2)));
    assert!(
        codes
            .iter()
            .any(|c| c.0.starts_with("flood-99") && c.1 == 200),
        "after Timer H the source's slots are free: {codes:?}"
    );
    let rejected = metric_when(
        46190,
        "kenkocall_sip_invites_rejected_total{reason=\"per_source\"}",
        |v| v >= 46,
    )
    .await;
    assert_eq!(rejected, 46);
    line.engine.shutdown().await;
}
