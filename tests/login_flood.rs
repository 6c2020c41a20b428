//! A staff-login flood must not slow SIP: the real `kenkocall serve` binary (SIP, media and
//! staff pages in one process, as deployed) takes a few hundred concurrent logins with
//! unknown usernames from 60 loopback source addresses, while this test measures SIP
//! OPTIONS round trips over real UDP. Password checks run on the blocking pool under a cap
//! (the rest get 503 at once), so the async runtime stays free.
//!
//! The assertions are generous bounds (p50 < 50 ms, p99 < 1 s) that the old code (argon2
//! on the runtime: 523 ms median) fails; the measured figures are printed and recorded in
//! BENCHMARKS.md (the 50 ms p99 target is a benchmark figure, not asserted here).
//! `LOGIN_FLOOD_CONTROL=1` runs the same clients against `GET /healthz` instead (no
//! password checks), to tell the cost of the checks from that of the HTTP traffic and the
//! machine's load. Ports 49200-49399.

use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SIP_PORT: u16 = 49200;
const HTTP_PORT: u16 = 49201;
const PROBE_PORT: u16 = 49202;
const RTP_PORTS: &str = "49300-49399";
/// Concurrent login clients, each trying again 1 s after every answer for the whole flood.
const CLIENTS: usize = 300;
const SOURCES: u8 = 60;
const FLOOD: Duration = Duration::from_secs(15);

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_serve(dir: &Path) -> Serve {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = dir.join("kenkocall.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{db}\"\n\
             [sip]\nlisten = \"127.0.0.1:{SIP_PORT}\"\nrtp_ports = \"{RTP_PORTS}\"\n\
             [http]\nlisten = \"127.0.0.1:{HTTP_PORT}\"\nsecure_cookies = false\n\
             [ivr]\nprompts_dir = \"{prompts}\"\ndialplans_dir = \"{plans}\"\n\
             [dialer]\nenabled = false\n",
            db = dir.join("k.db").display(),
            prompts = root.join("prompts").display(),
            plans = root.join("dialplans").display(),
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_kenkocall"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut serve = Serve(child);
    let deadline = Instant::now() + Duration::from_secs(120);
    while TcpStream::connect(("127.0.0.1", HTTP_PORT)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        assert!(serve.0.try_wait().unwrap().is_none(), "serve exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    serve
}

/// One OPTIONS round trip in ms (`None`: no answer within 2 s).
fn options_rtt(sock: &UdpSocket, n: u32) -> Option<f64> {
    let msg = format!(
        "OPTIONS sip:05031980214@127.0.0.1:{SIP_PORT} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{PROBE_PORT};branch=z9hG4bK-probe-{n};rport\r\n\
         From: <sip:probe@127.0.0.1:{PROBE_PORT}>;tag=probe{n}\r\n\
         To: <sip:05031980214@127.0.0.1:{SIP_PORT}>\r\n\
         Call-ID: probe-{n}@127.0.0.1\r\nCSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let call_id = format!("probe-{n}@127.0.0.1");
    let start = Instant::now();
    sock.send_to(msg.as_bytes(), ("127.0.0.1", SIP_PORT)).ok()?;
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(2) {
        let Ok(len) = sock.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..len]);
        if text.starts_with("SIP/2.0 200") && text.contains(&call_id) {
            return Some(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    None
}

/// OPTIONS every 20 ms until `stop`; round trips in ms (a lost probe counts 2000 ms).
fn probe_until(stop: Arc<AtomicBool>, first: u32) -> Vec<f64> {
    let sock = UdpSocket::bind(("127.0.0.1", PROBE_PORT)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut rtts = Vec::new();
    let mut n = first;
    while !stop.load(Ordering::Relaxed) {
        rtts.push(options_rtt(&sock, n).unwrap_or(2000.0));
        n += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    rtts
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One login attempt from `source`; the HTTP status (0 if the exchange failed).
async fn login(source: Ipv4Addr, n: usize) -> u16 {
    let Ok(sock) = tokio::net::TcpSocket::new_v4() else {
        return 0;
    };
    if sock.bind(SocketAddr::from((source, 0))).is_err() {
        return 0;
    }
    let Ok(mut stream) = sock
        .connect(SocketAddr::from(([127, 0, 0, 1], HTTP_PORT)))
        .await
    else {
        return 0;
    };
    let body = format!(r#"{{"username":"nobody-{n}","password":"wrong-password-{n}"}}"#);
    let req = if std::env::var_os("LOGIN_FLOOD_CONTROL").is_some() {
        // The control run: the same clients and request rate on a path that does no work.
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".to_string()
    } else {
        format!(
            "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    if stream.write_all(req.as_bytes()).await.is_err() {
        return 0;
    }
    let mut resp = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut resp)).await;
    String::from_utf8_lossy(&resp)
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_login_flood_leaves_sip_options_fast() {
    let dir = tempfile::tempdir().unwrap();
    let _serve = start_serve(dir.path());

    let stop = Arc::new(AtomicBool::new(false));
    let baseline = {
        let s = stop.clone();
        let probe = std::thread::spawn(move || probe_until(s, 1));
        std::thread::sleep(Duration::from_secs(3));
        stop.store(true, Ordering::Relaxed);
        probe.join().unwrap()
    };

    stop.store(false, Ordering::Relaxed);
    let s = stop.clone();
    let probe = std::thread::spawn(move || probe_until(s, 100_000));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let statuses: Vec<u16> = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + FLOOD;
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let source = Ipv4Addr::new(127, 0, 1, 1 + (c % usize::from(SOURCES)) as u8);
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                let mut n = c * 100_000;
                // Spread the clients over the second, as independent attackers would be;
                // all at once every second would test a burst of connections instead.
                tokio::time::sleep(Duration::from_millis((c * 1000 / CLIENTS) as u64)).await;
                while tokio::time::Instant::now() < deadline {
                    got.push(login(source, n).await);
                    n += 1;
                    // Each client retries at once on 401/503 but not in a tight loop: the
                    // flood is on the server, not on this test's own CPU share.
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                }
                got
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    stop.store(true, Ordering::Relaxed);
    let mut rtts = probe.join().unwrap();

    let count = |code: u16| statuses.iter().filter(|&&s| s == code).count();
    let (checked, busy, throttled, failed) = (count(401), count(503), count(429), count(0));
    let mut base = baseline;
    base.sort_by(f64::total_cmp);
    rtts.sort_by(f64::total_cmp);
    let (p50, p99, max) = (
        percentile(&rtts, 0.5),
        percentile(&rtts, 0.99),
        percentile(&rtts, 1.0),
    );
    eprintln!(
        "login flood: {} logins in {:?} ({checked} checked → 401, {busy} → 503, \
         {throttled} → 429, {failed} failed); OPTIONS idle p50 {:.2} ms p99 {:.2} ms; \
         under flood n={} p50 {p50:.2} ms p99 {p99:.2} ms max {max:.2} ms",
        statuses.len(),
        FLOOD,
        percentile(&base, 0.5),
        percentile(&base, 0.99),
        rtts.len(),
    );
    if std::env::var_os("LOGIN_FLOOD_CONTROL").is_some() {
        eprintln!("control run (GET /healthz): {} answered 200", count(200));
        return;
    }
    assert!(checked > 0, "some logins were really checked (argon2 ran)");
    assert!(
        busy + throttled > 0,
        "the cap refused what it could not check"
    );
    assert!(
        statuses.len() >= CLIENTS,
        "every client got answers: {}",
        statuses.len()
    );
    assert!(rtts.len() > 100, "OPTIONS were probed throughout the flood");
    // The old code (argon2 on the runtime) gave a 523 ms median. The tail here is bounded
    // generously: on a loaded shared 2-core machine even the control run's p99 is ~0.1-0.5 s.
    assert!(p50 < 50.0, "OPTIONS p50 {p50:.1} ms under a login flood");
    assert!(p99 < 1000.0, "OPTIONS p99 {p99:.1} ms under a login flood");
}
