//! `kenkocall serve` as an operator runs it: the real binary with a config file. It must
//! answer SIP (a real sipp call to the health-call number), serve the staff pages and
//! `/healthz`, and stop cleanly on Ctrl-C (SIGINT).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Ports of this test, all in the ranges `.ci/run` reserves from ephemeral use (a port
/// the OS picked could be taken by another process before `serve` binds it): RTP
/// 44700-44789, SIP 44790, HTTP 44791, sipp 44792.
const RTP_PORTS: &str = "44700-44789";
const SIP_PORT: u16 = 44790;
const HTTP_PORT: u16 = 44791;
const SIPP_PORT: u16 = 44792;

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn serve_answers_the_health_call_line_serves_pages_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (sip, http) = (SIP_PORT, HTTP_PORT);
    let config = dir.path().join("kenkocall.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{db}\"\n\
             [sip]\nlisten = \"127.0.0.1:{sip}\"\nrtp_ports = \"{RTP_PORTS}\"\n\
             [http]\nlisten = \"127.0.0.1:{http}\"\n\
             [ivr]\nprompts_dir = \"{prompts}\"\ndialplans_dir = \"{plans}\"\n",
            db = dir.path().join("k.db").display(),
            prompts = root.join("prompts").display(),
            plans = root.join("dialplans").display(),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kenkocall"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Start-up loads and checks every prompt of every language: allow for a debug build.
    let deadline = Instant::now() + Duration::from_secs(120);
    let health = loop {
        if let Some(r) = http_get(http, "/healthz") {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not open its staff pages"
        );
        if child.try_wait().unwrap().is_some() {
            let mut log = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut log);
            }
            panic!("serve exited early: {log}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let home = http_get(http, "/").unwrap();
    assert!(
        home.starts_with("HTTP/1.1 303") || home.starts_with("HTTP/1.1 302"),
        "the follow-up list needs a login: {home}"
    );

    // A real SIP peer calls the health-call number; the engine answers (sipp exits 0 only
    // when the call was answered and ended cleanly).
    let sipp = Command::new("sipp")
        .args(["-sn", "uac", &format!("127.0.0.1:{sip}")])
        .args([
            "-s",
            "05031980214",
            "-m",
            "1",
            "-d",
            "1000",
            "-timeout",
            "20",
        ])
        .args(["-p", &SIPP_PORT.to_string(), "-nostdin", "-timeout_error"])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("sipp must be installed: apt-get install -y sip-tester");
    assert!(sipp.success(), "sipp's call was not answered: {sipp:?}");

    // Ctrl-C: a clean stop with status 0.
    // SAFETY: sending a signal to our own child process.
    let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(sent, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "serve exited with {status:?}: {log}");
    assert!(log.contains("staff pages on"), "{log}");
}
