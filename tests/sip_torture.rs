//! RFC 4475 torture messages fed, byte for byte, through the same path the UDP transport
//! uses (`SipCore::handle_datagram`): none may panic, each valid one must parse, and each
//! gets the answer the manifest (tests/data/sip-torture/MANIFEST.md) allows.
//!
//! Then hostile transport input against a live endpoint over TCP and UDP (issue 11):
//! huge and overflowing Content-Lengths, a 4 GB body streamed, slowloris, idle
//! connections past the caps, thousands of connections, and real scanners (sipvicious)
//! and sipp over TCP, while OPTIONS must keep being answered. Ports 45000-45999.

#[path = "sip/hostile.rs"]
mod hostile;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kenkocall::sip::SipCounters;
use kenkocall::sip::core::{CoreConfig, Output, Peer, SipCore, TransportKind};
use kenkocall::sip::framing::{SizeLimits, StreamFramer};
use kenkocall::sip::wire;

/// What the manifest lets a UA answer; `Silent` = no message at all (responses, drops).
enum Expect {
    /// Must parse; any of these answers (empty = anything, even silence).
    Parses(&'static [u16]),
    /// May be refused by the reader; must get one of these answers.
    Answer(&'static [u16]),
    Silent,
    /// Not an RFC case (`test.dat`): only "does not panic".
    NoPanicOnly,
}

use Expect::*;

const CASES: &[(&str, Expect)] = &[
    // 3.1.1 valid
    // Its To carries a tag: a re-INVITE for a dialog we do not have.
    ("wsinv", Parses(&[481])),
    ("intmeth", Parses(&[501])),
    ("esc01", Parses(&[100])),
    ("escnull", Parses(&[405])),
    ("esc02", Parses(&[501])),
    ("lwsdisp", Parses(&[200])),
    ("longreq", Parses(&[100])),
    ("dblreq", Parses(&[405])),
    ("semiuri", Parses(&[200])),
    ("transports", Parses(&[200])),
    ("mpart01", Parses(&[405])),
    ("unreason", Parses(&[])),
    ("noreason", Parses(&[])),
    // 3.1.2 invalid
    ("badinv01", Answer(&[400])),
    ("clerr", Answer(&[400])),
    ("ncl", Answer(&[400])),
    ("scalar02", Answer(&[400])),
    ("scalarlg", Silent),
    ("quotbal", Answer(&[400])),
    ("ltgtruri", Answer(&[400])),
    ("lwsruri", Answer(&[400])),
    ("lwsstart", Answer(&[400])),
    ("trws", Answer(&[400])),
    ("escruri", Answer(&[400, 100])),
    ("baddate", Answer(&[400, 100])),
    ("regbadct", Answer(&[400, 405])),
    ("badaspec", Answer(&[400, 200])),
    ("baddn", Answer(&[400, 200])),
    ("badvers", Answer(&[505])),
    ("mismatch01", Answer(&[400])),
    ("mismatch02", Answer(&[400, 501])),
    ("bigcode", Silent),
    // 3.2 / 3.3 / 3.4
    ("badbranch", Parses(&[200, 400])),
    ("insuf", Answer(&[400])),
    ("unkscm", Parses(&[416])),
    ("novelsc", Parses(&[416])),
    ("unksm2", Parses(&[405])),
    ("bext01", Parses(&[420])),
    ("invut", Parses(&[415])),
    ("regaut01", Parses(&[405])),
    ("multi01", Answer(&[400])),
    ("mcl01", Answer(&[400])),
    ("bcast", Parses(&[])),
    ("zeromf", Parses(&[200])),
    ("cparam01", Parses(&[405])),
    ("cparam02", Parses(&[405])),
    ("regescrt", Parses(&[405])),
    ("sdp01", Parses(&[406])),
    ("inv2543", Parses(&[100])),
    ("test", NoPanicOnly),
];

fn data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/data/sip-torture/{name}.dat"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn core() -> SipCore {
    SipCore::new(
        CoreConfig {
            local: "127.0.0.1:5060".parse().unwrap(),
            // The users the torture INVITEs call, so their content is judged too.
            inbound_numbers: vec![
                "user".into(),
                "vivekg".into(),
                "UserB".into(),
                "sips:user@example.com".into(),
            ],
            max_calls: 100,
            max_unconfirmed_per_source: 100,
            ring_timeout: Duration::from_secs(45),
            trunk: None,
        },
        SipCounters::new(),
    )
}

/// Status codes of everything the core sent in reply.
fn answers(core: &mut SipCore) -> Vec<u16> {
    let mut codes = vec![];
    while let Some(out) = core.poll_output() {
        if let Output::Send { bytes, .. } = out {
            // Read only the status line: a 400 copies the request's (possibly broken) CSeq.
            let text = String::from_utf8_lossy(&bytes);
            let line = text.lines().next().unwrap_or_default().to_string();
            let code = line
                .strip_prefix("SIP/2.0 ")
                .and_then(|r| r.get(..3))
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("torture input made us send a request: {line}"));
            codes.push(code);
        }
    }
    codes
}

#[test]
fn every_rfc4475_message_is_handled_as_the_manifest_says() {
    let peer = Peer {
        transport: TransportKind::Udp,
        addr: "192.0.2.1:5060".parse().unwrap(),
    };
    let mut failures = vec![];
    for (name, expect) in CASES {
        let bytes = data(name);
        let mut ua = core();
        ua.handle_datagram(Instant::now(), peer, &bytes);
        let got = answers(&mut ua);
        let first = got.first().copied();
        let parsed = wire::parse(&bytes);
        let ok = match expect {
            Parses(allowed) => {
                parsed.is_ok()
                    && (allowed.is_empty() || first.is_some_and(|c| allowed.contains(&c)))
            }
            Answer(allowed) => first.is_some_and(|c| allowed.contains(&c)),
            Silent => got.is_empty(),
            NoPanicOnly => true,
        };
        // One datagram, one transaction: never two final answers (dblreq's trailing INVITE).
        let finals = got.iter().filter(|c| **c >= 200).count();
        if !ok || finals > 1 {
            failures.push(format!(
                "{name}: parsed={:?} answers={got:?}",
                parsed.map(|_| ()).map_err(|e| e.reason)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_torture_message_is_also_survived_over_tcp_framing() {
    // The stream framer must not panic on them either, whatever it decides.
    let limits = SizeLimits {
        max_header_bytes: 16 * 1024,
        max_body_bytes: 64 * 1024,
    };
    for (name, _) in CASES {
        let bytes = data(name);
        for cut in [1, bytes.len() / 2, bytes.len().saturating_sub(1)] {
            let _ = wire::parse(&bytes[..cut]);
            let mut framer = StreamFramer::new(limits);
            for piece in [&bytes[..cut], &bytes[cut..]] {
                framer.push(piece);
                while framer.next_event().is_some() {}
            }
        }
    }
}

#[test]
fn manifest_lists_every_copied_file() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/sip-torture");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .into_string()
                .ok()?
                .strip_suffix(".dat")
                .map(str::to_string)
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed);
}

// ---- Hostile transport input against a live endpoint (issue 11) ----

use std::net::IpAddr;

use hostile::*;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_overflowing_content_length_get_413_or_400_then_close_over_tcp() {
    let e = engine(45000, |_| {}).await;
    for (length, want) in [
        ("4000000000", 413),
        ("18446744073709551615", 413), // usize::MAX: once `end + 4 + length` wrapped
        ("18446744073709551616", 400), // does not fit: not a number
        ("65537", 413),
    ] {
        let mut s = tokio::net::TcpStream::connect(e.addr).await.unwrap();
        s.write_all(&options("TCP", 1, length, "")).await.unwrap();
        let (got, closed) = read_to_close(&mut s, Duration::from_secs(5)).await;
        assert_eq!(status(&got), Some(want), "{length}: {got:?}");
        assert!(
            closed,
            "{length}: the connection must be closed after the refusal"
        );
    }
    // A body exactly at the cap is fine, and the connection stays usable.
    let body = "x".repeat(64 * 1024);
    let mut s = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    s.write_all(&options("TCP", 2, &body.len().to_string(), &body))
        .await
        .unwrap();
    let (got, closed) = read_to_close(&mut s, Duration::from_millis(500)).await;
    assert_eq!(status(&got), Some(200));
    assert!(!closed);
    let c = e.sip.counters();
    assert_eq!(c.too_large, 3, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_content_length_and_oversized_datagrams_get_413_or_513_over_udp() {
    let e = engine(45010, |c| {
        c.max_body_bytes = 1024;
        c.max_header_bytes = 2048;
    })
    .await;
    let code = |(c, _): (u16, Duration)| c;
    for length in ["4000000000", "18446744073709551615"] {
        let got = udp_request(e.addr, &options("UDP", 1, length, "")).await;
        assert_eq!(got.map(code), Some(413), "{length}");
    }
    let body = "x".repeat(2000);
    let got = udp_request(e.addr, &options("UDP", 2, "2000", &body)).await;
    assert_eq!(got.map(code), Some(413));
    let mut head = options("UDP", 3, "0", "");
    let pad = format!("X-Pad: {}\r\n", "p".repeat(3000));
    head.splice(0..0, []);
    let at = head.windows(6).position(|w| w == b"CSeq: ").unwrap();
    head.splice(at..at, pad.bytes());
    assert_eq!(udp_request(e.addr, &head).await.map(code), Some(513));
    // A normal request is still answered.
    assert_eq!(udp_options(e.addr, 4).await.map(code), Some(200));
    assert_eq!(e.sip.counters().too_large, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_gb_body_streamed_is_cut_off_unread_and_memory_stays_bounded() {
    let e = engine(45020, |_| {}).await;
    let before = rss_kib();
    let mut s = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    s.write_all(&options("TCP", 1, "4294967296", ""))
        .await
        .unwrap();
    // Stream the claimed body as fast as the engine lets us, up to 4 GiB.
    let chunk = vec![b'x'; 256 * 1024];
    let t0 = Instant::now();
    let mut sent: u64 = 0;
    let refused = loop {
        let write = tokio::time::timeout(Duration::from_secs(5), s.write_all(&chunk)).await;
        match write {
            Ok(Ok(())) => sent += chunk.len() as u64,
            Ok(Err(_)) => break true, // reset by the engine
            Err(_) => break false,    // engine not reading but not closing either
        }
        if sent >= 4 << 30 || t0.elapsed() > Duration::from_secs(60) {
            break false;
        }
    };
    let grown = rss_kib().saturating_sub(before);
    eprintln!("4 GB claim: {sent} bytes written before the reset; RSS +{grown} KiB");
    assert!(
        refused,
        "the engine must close the connection ({sent} bytes taken)"
    );
    assert!(
        sent < 64 << 20,
        "only socket buffers' worth may be taken: {sent}"
    );
    assert!(grown < 32 * 1024, "RSS grew {grown} KiB");
    assert_eq!(e.sip.counters().too_large, 1);
    assert_eq!(udp_options(e.addr, 2).await.map(|r| r.0), Some(200));
    assert_eq!(tcp_options(e.addr, 3).await.map(|r| r.0), Some(200));
}

/// Real clock: a trickled header section and a silent connection are closed at the
/// message timeout; a peer that sent a message and keeps alive with CRLF stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_silent_connections_are_closed_at_the_message_timeout() {
    let e = engine(45030, |c| c.tcp_message_timeout_secs = 2).await;
    let t0 = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    let mut slow = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    let mut keepalive = tokio::net::TcpStream::connect(e.addr).await.unwrap();
    keepalive
        .write_all(&options("TCP", 1, "0", ""))
        .await
        .unwrap();
    let slow_task = tokio::spawn(async move {
        // One header byte every 100 ms: a message that never completes in time.
        let msg = options("TCP", 2, "0", "");
        for b in msg.iter().take(200) {
            if slow.write_all(&[*b]).await.is_err() {
                return (slow, true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (slow, false)
    });
    let ka_task = tokio::spawn(async move {
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if keepalive.write_all(b"\r\n\r\n").await.is_err() {
                break;
            }
        }
        keepalive
    });
    assert!(closed_within(&mut silent, Duration::from_secs(6)).await);
    let silent_at = t0.elapsed();
    let (mut slow, write_failed) = slow_task.await.unwrap();
    assert!(write_failed || closed_within(&mut slow, Duration::from_secs(1)).await);
    let slow_at = t0.elapsed();
    let mut keepalive = ka_task.await.unwrap();
    let (got, closed) = read_to_close(&mut keepalive, Duration::from_millis(200)).await;
    assert_eq!(status(&got), Some(200));
    assert!(
        !closed,
        "a connection in use with keep-alives must stay open"
    );
    eprintln!("silent closed after {silent_at:?}, slowloris after {slow_at:?}");
    assert!(silent_at >= Duration::from_millis(1900), "{silent_at:?}");
    assert!(slow_at < Duration::from_secs(8), "{slow_at:?}");
    assert!(e.sip.counters().tcp_timed_out >= 2);
}

/// sipp over TCP (`-t t1`) asks OPTIONS from `source`; true when answered 200.
fn sipp_tcp_options(engine: std::net::SocketAddr, source: &str, port: u16) -> bool {
    let sf = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sip/uac_options.xml");
    let dir = tempfile::tempdir().unwrap();
    std::process::Command::new("sipp")
        .current_dir(dir.path())
        .arg("-sf")
        .arg(&sf)
        .args(["-t", "t1", "-i", source, "-p", &port.to_string()])
        .args(["-s", "05031980214", "-m", "1", "-nostdin"])
        .args(["-timeout", "10s", "-timeout_error", "-max_socket", "4"])
        .arg(engine.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("sipp must be installed (apt-get install sip-tester)")
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_caps_are_refused_or_displaced_and_sip_keeps_answering() {
    let e = engine(45040, |c| {
        c.tcp_max_connections = 300;
        c.tcp_max_connections_per_source = 50;
        c.tcp_message_timeout_secs = 8;
    })
    .await;
    // Five attacking sources, 80 idle connections each: 50 each are held, 30 refused.
    let mut attempts = vec![];
    for host in 2..7u8 {
        for _ in 0..80 {
            attempts.push(connect_from(IpAddr::from([127, 0, 0, host]), e.addr).await);
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut held = vec![];
    let mut refused = 0;
    for attempt in attempts {
        // A reset can already reach connect(): refused either way.
        match attempt {
            Ok(mut s) => {
                if closed_within(&mut s, Duration::from_millis(2)).await {
                    refused += 1;
                } else {
                    held.push(s);
                }
            }
            Err(_) => refused += 1,
        }
    }
    assert_eq!((held.len(), refused), (250, 150));
    assert_eq!(e.sip.counters().tcp_refused_at_cap, 150);
    // Another source still gets through, over TCP (sipp) and UDP.
    assert!(sipp_tcp_options(e.addr, "127.0.0.1", 45041));
    assert_eq!(udp_options(e.addr, 1).await.map(|r| r.0), Some(200));
    // Fill the total cap with silent connections. A fresh source is still let in: it
    // displaces the oldest silent connection (a flood cannot lock real peers out until
    // the message timeout), and gets its answer; UDP answers throughout.
    for host in 7..9u8 {
        for _ in 0..25 {
            held.push(
                connect_from(IpAddr::from([127, 0, 0, host]), e.addr)
                    .await
                    .unwrap(),
            );
        }
    }
    let mut fresh = connect_from(IpAddr::from([127, 0, 0, 9]), e.addr)
        .await
        .unwrap();
    fresh.write_all(&options("TCP", 90, "0", "")).await.unwrap();
    assert_eq!(read_response(&mut fresh).await, Some(200));
    assert!(closed_within(&mut held[0], Duration::from_secs(1)).await);
    assert!(!closed_within(&mut held[1], Duration::from_millis(50)).await);
    assert_eq!(e.sip.counters().tcp_evicted, 1);
    assert_eq!(udp_options(e.addr, 2).await.map(|r| r.0), Some(200));
    // A connection that has spoken is never displaced: it is answered again.
    fresh.write_all(&options("TCP", 91, "0", "")).await.unwrap();
    assert_eq!(read_response(&mut fresh).await, Some(200));
    // The idle ones are closed at the message timeout, and TCP serves again.
    for s in held.iter_mut().skip(1) {
        assert!(closed_within(s, Duration::from_secs(10)).await);
    }
    assert!(sipp_tcp_options(e.addr, "127.0.0.1", 45042));
}

/// 2,000 connections at once, each with a message answered: all held, memory per
/// connection small, OPTIONS over UDP answered throughout (figures printed; the 20,000
/// run is scripts/sip-connections-bench.sh, figures in BENCHMARKS.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_tcp_connections_are_held_cheaply_while_udp_answers() {
    const N: usize = 2000;
    let limit = raise_nofile(3 * N as u64 + 512);
    assert!(limit > 2 * N as u64 + 100, "RLIMIT_NOFILE {limit} too low");
    let e = engine(45050, |c| {
        c.tcp_max_connections = N + 100;
        c.tcp_max_connections_per_source = 250;
    })
    .await;
    let before = rss_kib();
    let mut conns = Vec::with_capacity(N);
    let mut latencies = vec![];
    for i in 0..N {
        // Eight sources, 250 each: the per-source cap is reached, not passed.
        let src = IpAddr::from([127, 0, 1, 1 + (i % 8) as u8]);
        let mut s = connect_from(src, e.addr).await.unwrap();
        s.write_all(&options("TCP", i as u64, "0", ""))
            .await
            .unwrap();
        conns.push(s);
        if i % 100 == 99 {
            let (code, rtt) = udp_options(e.addr, i as u64).await.expect("UDP answered");
            assert_eq!(code, 200);
            latencies.push(rtt);
        }
    }
    let mut answered = 0;
    for s in conns.iter_mut() {
        answered += usize::from(read_response(s).await == Some(200));
    }
    let during = rss_kib();
    latencies.sort();
    eprintln!(
        "{N} TCP connections: RSS {before} -> {during} KiB ({:.1} KiB/conn, both ends in this \
         process); UDP OPTIONS p50 {:.2} ms, max {:.2} ms",
        (during.saturating_sub(before)) as f64 / N as f64,
        percentile_ms(&latencies, 0.5),
        percentile_ms(&latencies, 1.0),
    );
    assert_eq!(answered, N);
    assert_eq!(e.sip.counters().tcp_refused_at_cap, 0);
    // Each connection once cost a 16 KiB read buffer; now reads use the stack.
    assert!(
        during.saturating_sub(before) < (N as u64) * 12,
        "RSS grew too much"
    );
    assert_eq!(
        tcp_options(e.addr, 1).await.map(|r| r.0),
        None.or(Some(200))
    );
}

/// The engine half of the EMFILE test, run in a child process (its own descriptor limit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by accept_errors_back_off_instead_of_spinning in a child process"]
async fn emfile_engine_child() {
    let Ok(port) = std::env::var("KENKOCALL_EMFILE_CHILD_PORT") else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
    let e = engine(port.parse().unwrap(), |c| {
        c.tcp_max_connections = 10_000;
        c.tcp_max_connections_per_source = 10_000;
        c.tcp_message_timeout_secs = 60;
    })
    .await;
    let lim = libc::rlimit {
        rlim_cur: 96,
        rlim_max: 96,
    };
    // SAFETY: setrlimit with a valid pointer; this process exists only for this test.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    eprintln!("CHILD READY");
    tokio::time::sleep(Duration::from_secs(40)).await;
    drop(e);
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are 12 and 13 after the comm field.
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_errors_back_off_instead_of_spinning() {
    use std::io::BufRead;
    let port = 45060u16;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "emfile_engine_child", "--ignored", "--nocapture"])
        .env("KENKOCALL_EMFILE_CHILD_PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let ready = rx.iter().take(200).any(|l| l.contains("CHILD READY"));
    assert!(ready, "child engine did not start");
    let engine: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    // Far more connections than the child's 96 descriptors: accept hits EMFILE.
    let mut conns = vec![];
    let t0 = Instant::now();
    for _ in 0..160 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(engine),
        )
        .await
        {
            conns.push(s);
        }
    }
    let ticks0 = cpu_ticks(child.id());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let spent = cpu_ticks(child.id()) - ticks0;
    // UDP needs no descriptor: it keeps answering while TCP accept is starved.
    let udp = udp_options(engine, 1).await.map(|r| r.0);
    drop(conns);
    // Once descriptors are free again, TCP is served (back-off is at most 1 s).
    let mut tcp = None;
    for _ in 0..20 {
        tcp = tcp_options(engine, 2).await.map(|r| r.0);
        if tcp.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let accept_logs: Vec<String> = rx
        .try_iter()
        .filter(|l| l.contains("TCP accept failed"))
        .collect();
    eprintln!("{accept_logs:#?}");
    let accept_logs = accept_logs.len();
    let intervals = t0.elapsed().as_secs() / 10 + 1;
    eprintln!("child CPU over 3 s at EMFILE: {spent} ticks; accept-error log lines: {accept_logs}");
    // A spinning acceptor burns ~300 ticks (100 Hz) in 3 s and logs thousands of lines.
    assert!(spent < 60, "acceptor spun: {spent} ticks in 3 s");
    assert!(
        accept_logs as u64 <= intervals,
        "{accept_logs} accept-error lines"
    );
    assert_eq!(udp, Some(200));
    assert_eq!(tcp, Some(200));
}

/// Runs a sipvicious tool (Debian package `sipvicious`) to completion; its stdout.
fn sipvicious(tool: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(tool)
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{tool} must be installed (apt-get install sipvicious): {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Real scanners over UDP while idle TCP connections are held: the engine is found, the
/// scans end, and OPTIONS keeps being answered over UDP and TCP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipvicious_scans_while_tcp_is_held_leave_sip_answering() {
    let e = engine(45070, |c| c.tcp_max_connections_per_source = 20).await;
    let mut held = vec![];
    for _ in 0..60 {
        if let Ok(s) = connect_from(IpAddr::from([127, 0, 0, 20]), e.addr).await {
            held.push(s);
        }
    }
    let scans = tokio::task::spawn_blocking(|| {
        let map = sipvicious("svmap", &["-p", "45070", "127.0.0.1"]);
        let war = sipvicious(
            "svwar",
            &[
                "-m",
                "OPTIONS",
                "-e",
                "05031980200-05031980230",
                "udp://127.0.0.1:45070",
            ],
        );
        (map, war)
    });
    let mut answered = 0;
    while !scans.is_finished() {
        answered += usize::from(udp_options(e.addr, 1).await.map(|r| r.0) == Some(200));
        answered += usize::from(tcp_options(e.addr, 2).await.map(|r| r.0) == Some(200));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (map, war) = scans.await.unwrap();
    eprintln!("svmap:\n{map}\nsvwar:\n{war}");
    assert!(
        map.contains("127.0.0.1:45070"),
        "svmap did not find the engine:\n{map}"
    );
    assert!(answered >= 2, "OPTIONS went unanswered during the scans");
    assert!(sipp_tcp_options(e.addr, "127.0.0.1", 45071));
    assert_eq!(udp_options(e.addr, 3).await.map(|r| r.0), Some(200));
    assert_eq!(e.sip.counters().tcp_refused_at_cap, 40);
}

/// The 20,000-connection run behind BENCHMARKS.md (scripts/sip-connections-bench.sh):
/// `KENKOCALL_CONN_BENCH=N` connections, spread over 100 loopback sources, against the
/// default caps, each sending half a request and then idling; prints RSS before, with
/// the connections open and after they closed, and OPTIONS latency over UDP and TCP
/// meanwhile. Figures only: timing belongs to benchmarks, not to assertions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: scripts/sip-connections-bench.sh"]
async fn tcp_connection_flood_bench() {
    let n: usize = std::env::var("KENKOCALL_CONN_BENCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let limit = raise_nofile(n as u64 + 4096);
    let e = engine(45080, |_| {}).await;
    let before = rss_kib();
    let (mut held, mut refused, mut failed) = (vec![], 0usize, 0usize);
    let (mut udp, mut tcp) = (vec![], vec![]);
    let t0 = Instant::now();
    for i in 0..n {
        let src = IpAddr::from([127, 2, 0, (i % 100 + 1) as u8]);
        match connect_from(src, e.addr).await {
            Ok(mut s) => {
                let _ = s
                    .write_all(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: ")
                    .await;
                held.push(s);
            }
            Err(_) => failed += 1,
        }
        if i % 500 == 499 {
            udp.extend(udp_options(e.addr, i as u64).await.map(|r| r.1));
            tcp.extend(tcp_options(e.addr, i as u64).await.map(|r| r.1));
            // Drop what the engine refused (reset) so only held connections stay.
            let mut kept = vec![];
            for mut s in held.drain(..) {
                if closed_within(&mut s, Duration::from_micros(100)).await {
                    refused += 1;
                } else {
                    kept.push(s);
                }
            }
            held = kept;
        }
    }
    let elapsed = t0.elapsed();
    let during = rss_kib();
    let open = held.len();
    drop(held);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib();
    udp.sort();
    tcp.sort();
    let c = e.sip.counters();
    println!(
        "BENCH connections={n} nofile={limit} in {:.1}s held={open} refused={refused} \
         connect_failed={failed} refused_at_cap={} | RSS KiB before={before} during={during} \
         after={after} | UDP OPTIONS n={} p50={:.2}ms p99={:.2}ms max={:.2}ms | TCP OPTIONS \
         n={} p50={:.2}ms p99={:.2}ms max={:.2}ms",
        elapsed.as_secs_f64(),
        c.tcp_refused_at_cap,
        udp.len(),
        percentile_ms(&udp, 0.5),
        percentile_ms(&udp, 0.99),
        percentile_ms(&udp, 1.0),
        tcp.len(),
        percentile_ms(&tcp, 0.5),
        percentile_ms(&tcp, 0.99),
        percentile_ms(&tcp, 1.0),
    );
}
