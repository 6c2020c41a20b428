//! How `kenkocall serve` stops, and `call-now` beside it, as operators run them: the real
//! binary with a config file, on the real clock, against real sipp callers and phones.
//!
//! - SIGTERM mid-call: new INVITEs and OPTIONS get 503 during the grace period; the caller
//!   gets BYE when it ends; what was keyed is stored; exit status 0.
//! - `kenkocall drain`: OPTIONS answer 503 and the node exits once its call has ended
//!   (well before the grace period).
//! - `call-now` beside a running `serve` with the same config file: the node places the
//!   call, the outcome is printed and `kenkocall calls` shows it; with no node running,
//!   `call-now` says so at once.
//!
//! Ports: each node its 50-port slice in 44100-44399 (see `Node::new`); sipp media 44400-44499.
//! Needs sipp (Debian `sip-tester`), python3, and root for sipp's pcap replay.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use kenkocall::store::{ContactMethod, Language, NewPatient, ReportFilter, Store};

const LINE: &str = "05031980214";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One node's files: config, SQLite case store, sipp working directory.
struct Node {
    dir: tempfile::TempDir,
    config: PathBuf,
    db_url: String,
    sip: u16,
    http: u16,
    /// The local SIP port of this test's sipp runs (one at a time).
    sipp_port: u16,
}

impl Node {
    /// A node on the 50 ports from `base` (reserved from ephemeral use by `.ci/run`; a
    /// port the OS picked could be handed to another process before `serve` binds it):
    /// RTP `base..base+39`, SIP `base+40`, HTTP `base+41`, the caller `base+42`, a phone
    /// as the trunk `base+43`, the OPTIONS probe `base+44`, a second caller `base+45`.
    fn new(base: u16, extra: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let (sip, http) = (base + 40, base + 41);
        let rtp = format!("{base}-{}", base + 39);
        let db_url = format!("sqlite://{}", dir.path().join("k.db").display());
        let config = dir.path().join("kenkocall.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nurl = \"{db_url}\"\n\
                 [sip]\nlisten = \"127.0.0.1:{sip}\"\nrtp_ports = \"{rtp}\"\n\
                 inbound_numbers = [\"{LINE}\"]\nring_timeout_secs = 10\n\
                 [http]\nlisten = \"127.0.0.1:{http}\"\n\
                 [ivr]\nprompts_dir = \"{prompts}\"\ndialplans_dir = \"{plans}\"\n{extra}",
                prompts = root().join("prompts").display(),
                plans = root().join("dialplans").display(),
            ),
        )
        .unwrap();
        Node {
            dir,
            config,
            db_url,
            sip,
            http,
            sipp_port: base + 42,
        }
    }

    fn store(&self, rt: &tokio::runtime::Runtime) -> Store {
        rt.block_on(async {
            let s = Store::connect(&self.db_url).await.unwrap();
            s.migrate().await.unwrap();
            s
        })
    }

    /// Enrols a patient under observation today; returns the birthday as MMDD.
    fn enrol(&self, rt: &tokio::runtime::Runtime, hersys_id: &str, phone: &str) -> String {
        let store = self.store(rt);
        let today = Utc::now().date_naive();
        let p = NewPatient {
            hersys_id: hersys_id.into(),
            name: "Yamada Hanako".into(),
            birth_date: NaiveDate::from_ymd_opt(1952, 4, 7).unwrap(),
            phone: phone.into(),
            language: Language::Ja,
            health_centre: "Minato".into(),
            observation_start: today - chrono::Days::new(3),
            observation_end: today + chrono::Days::new(7),
            // Not auto-call: the planner must not dial this patient by itself.
            contact_method: ContactMethod::HealthCall,
            call_slots: None,
        };
        rt.block_on(async {
            store.insert_patient(&p, "test", Utc::now()).await.unwrap();
            store.close().await;
        });
        "0407".into()
    }

    fn kenkocall(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kenkocall"));
        c.arg("--config")
            .arg(&self.config)
            .current_dir(self.dir.path());
        c
    }

    /// `kenkocall serve`, once its staff pages answer (start-up checks every prompt).
    fn serve(&self) -> Reaped {
        let mut child = Reaped(
            self.kenkocall()
                .arg("serve")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect(("127.0.0.1", self.http)).is_err() {
            assert!(Instant::now() < deadline, "serve did not start");
            if child.try_wait().unwrap().is_some() {
                panic!("serve exited early: {}", stderr_of(&mut child));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        child
    }

    fn run(&self, args: &[&str]) -> Output {
        self.kenkocall().args(args).output().unwrap()
    }

    /// A sipp UAC against this node's SIP port, run to its end.
    fn sipp(&self, scenario: &Path, extra: &[&str]) -> Command {
        self.sipp_from(self.sipp_port, scenario, extra)
    }

    fn sipp_from(&self, port: u16, scenario: &Path, extra: &[&str]) -> Command {
        let mut c = Command::new("sipp");
        c.current_dir(self.dir.path())
            .arg(format!("127.0.0.1:{}", self.sip))
            .arg("-sf")
            .arg(scenario)
            .args(["-s", LINE, "-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &port.to_string()])
            .args(["-m", "1", "-l", "1", "-nostdin"])
            .args(["-timeout", "60s", "-timeout_error", "-trace_err"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }
}

/// Keys as RFC 4733 events with PCMU silence, 1 s lead, 100 ms tones, 300 ms gaps and a
/// 1.5 s pause per ','; returns the pcap and how long it plays.
fn keys_pcap(dir: &Path, keys: &str) -> (PathBuf, Duration) {
    let out = dir.join("keys.pcap");
    let done = Command::new("python3")
        .arg(root().join("tests/tools/mkrtp.py"))
        .args(["rfc4733", keys])
        .arg(&out)
        .args([
            "--pt",
            "101",
            "--audio",
            "--lead-ms",
            "1000",
            "--tone-ms",
            "100",
        ])
        .args(["--gap-ms", "300", "--pause-ms", "1500"])
        .status()
        .expect("python3 needed");
    assert!(done.success());
    let pauses = keys.matches(',').count() as u64;
    let presses = keys.chars().count() as u64 - pauses;
    (
        out,
        Duration::from_millis(1000 + presses * 400 + pauses * 1500),
    )
}

/// A child process killed when the test ends, passed or failed: a phone or caller left
/// running by a failed test would hold its media port and fail the next run.
struct Reaped(Child);

impl Reaped {
    fn spawn(cmd: &mut Command) -> Reaped {
        Reaped(cmd.spawn().expect("the peer must be installed"))
    }
}

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> (std::process::ExitStatus, Instant) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return (s, Instant::now());
        }
        assert!(Instant::now() < deadline, "process did not exit in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stderr_of(child: &mut Child) -> String {
    let mut log = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut log);
    }
    log
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

/// The probe a dispatcher sends: true when OPTIONS got 503 with Retry-After.
fn options_refused(node: &Node) -> bool {
    // A node that already left never answers: give up after a few retransmissions.
    node.sipp_from(
        node.sipp_port + 2,
        &root().join("tests/sip/uac_options_503.xml"),
        &["-timeout", "4s"],
    )
    .status()
    .unwrap()
    .success()
}

#[test]
fn sigterm_mid_call_refuses_new_calls_byes_the_caller_after_the_grace_and_keeps_answers() {
    let rt = runtime();
    let grace = 6;
    let node = Node::new(44100, &format!("[node]\nshutdown_grace_secs = {grace}\n"));
    let id = "3456789";
    let mmdd = node.enrol(&rt, id, "09011112222");
    let mut serve = node.serve();
    // Temperature and SpO2 keyed, then silence on the first symptom question.
    let keys = format!("1,{id}#{mmdd},,*365,1,97#,1");
    let (pcap, plays) = keys_pcap(node.dir.path(), &keys);
    let mut caller = Reaped::spawn(&mut node.sipp(
        &root().join("tests/ivr/uac_keys_wait_bye.xml"),
        &["-mp", "44400", "-key", "pcap", pcap.to_str().unwrap()],
    ));
    std::thread::sleep(plays);
    let store = node.store(&rt);
    let filter = ReportFilter {
        hersys_id: Some(id.into()),
        since: None,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reports = rt.block_on(store.list_reports(&filter)).unwrap();
        if reports.first().is_some_and(|r| r.spo2.is_some()) {
            break;
        }
        assert!(Instant::now() < deadline, "SpO2 not saved: {reports:?}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let sigterm_at = Instant::now();
    signal(&serve, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    // Draining: a new caller gets 503 + Retry-After, and so does a dispatcher's probe.
    let refused = node
        .sipp_from(
            node.sipp_port + 3,
            &root().join("tests/sip/uac_503.xml"),
            &["-mp", "44410"],
        )
        .status()
        .unwrap();
    assert!(refused.success(), "a new INVITE was not refused with 503");
    assert!(options_refused(&node), "OPTIONS was not answered 503");
    assert!(
        caller.try_wait().unwrap().is_none(),
        "the caller's call must go on during the grace period"
    );

    let (caller_status, bye_at) = wait_exit(&mut caller, Duration::from_secs(30));
    assert!(
        caller_status.success(),
        "the caller got no BYE: {caller_status:?}"
    );
    let waited = bye_at - sigterm_at;
    assert!(
        waited >= Duration::from_millis(grace * 1000 - 500),
        "BYE came {waited:?} after SIGTERM, before the {grace} s grace"
    );
    let (status, _) = wait_exit(&mut serve, Duration::from_secs(30));
    let log = stderr_of(&mut serve);
    assert!(status.success(), "serve exited with {status:?}: {log}");
    assert!(log.contains("ending 1 call(s) with BYE"), "{log}");

    let reports = rt.block_on(store.list_reports(&filter)).unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].temperature_dc(), Some(365));
    assert_eq!(reports[0].spo2, Some(97));
    assert!(!reports[0].complete);
}

#[test]
fn drain_refuses_probes_and_the_node_exits_once_its_call_ends() {
    let rt = runtime();
    // A grace far longer than the call: the node must leave when the call ends, not then.
    let node = Node::new(44200, "[node]\nshutdown_grace_secs = 90\n");
    let mut serve = node.serve();
    let (pcap, _) = keys_pcap(node.dir.path(), "1");
    // Long enough for a slow CI machine to start `kenkocall drain` and the node to see it
    // while the call is still up (else the node leaves at once and no probe sees the 503).
    let hold_ms = 20_000;
    let started = Instant::now();
    let mut caller = Reaped::spawn(&mut node.sipp(
        &root().join("tests/ivr/uac_keys_then_bye.xml"),
        &[
            "-mp",
            "44420",
            "-d",
            &hold_ms.to_string(),
            "-key",
            "pcap",
            pcap.to_str().unwrap(),
        ],
    ));
    std::thread::sleep(Duration::from_secs(2));
    assert!(!options_refused(&node), "OPTIONS refused before the drain");
    let mut drain = Reaped::spawn(
        node.kenkocall()
            .arg("drain")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    // The node sees the request at its next heartbeat (1 s); a loaded CI machine may
    // take a while to start the CLI, so the bound is generous and a failed drain says why.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !options_refused(&node) {
        if let Some(status) = drain.try_wait().unwrap().filter(|s| !s.success()) {
            panic!("drain failed ({status}): {}", stderr_of(&mut drain));
        }
        assert!(Instant::now() < deadline, "OPTIONS never answered 503");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (drain_status, _) = wait_exit(&mut drain, Duration::from_secs(60));
    let mut said = String::new();
    drain
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    let err = stderr_of(&mut drain);
    assert!(drain_status.success(), "drain: {said} {err}");
    assert!(
        said.contains("asked to drain") && said.contains("stopped"),
        "{said}"
    );
    let (status, exited_at) = wait_exit(&mut serve, Duration::from_secs(10));
    let log = stderr_of(&mut serve);
    assert!(status.success(), "serve exited with {status:?}: {log}");
    assert!(log.contains("draining (kenkocall drain)"), "{log}");
    assert!(!log.contains("with BYE"), "the call was cut: {log}");
    let (caller_status, _) = wait_exit(&mut caller, Duration::from_secs(5));
    assert!(
        caller_status.success(),
        "the caller's call did not end cleanly"
    );
    let lived = exited_at - started;
    assert!(
        lived >= Duration::from_millis(hold_ms) && lived < Duration::from_secs(60),
        "node exited {lived:?} after the call began"
    );
    drop(rt);
}

#[test]
fn call_now_beside_a_running_node_is_placed_by_it_and_listed() {
    let rt = runtime();
    let trunk = 44300 + 43;
    let node = Node::new(
        44300,
        &format!(
            "[trunk]\nuri = \"sip:127.0.0.1:{trunk}\"\n[dialer]\npoll_ms = 200\nworkers = 4\n"
        ),
    );
    let id = "4567890";
    node.enrol(&rt, id, "09022220001");
    // The patient's phone: answers, keys the whole questionnaire, waits for our BYE.
    let mut phone = Reaped::spawn(
        Command::new("sipp")
            .current_dir(node.dir.path())
            .arg("-sf")
            .arg(root().join("tests/sip/uas_per_number.xml"))
            .args(["-i", "127.0.0.1", "-p", &trunk.to_string()])
            .args([
                "-mp",
                "44430",
                "-m",
                "1",
                "-nostdin",
                "-trace_err",
                "-key",
                "pcap",
            ])
            .arg(root().join("tests/data/dtmf4733_outbound_answers.pcap"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let mut serve = node.serve();
    // The same config file as `serve`: it would fail with "Address in use" if it bound SIP.
    let out = node.run(&["call-now", id]);
    let said = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "call-now: {said} {err}");
    assert!(said.contains(": completed (SIP Call-ID "), "{said} {err}");
    assert!(err.contains("is calling"), "{err}");
    let calls = node.run(&["calls"]);
    let listed = String::from_utf8_lossy(&calls.stdout);
    let row = listed
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("no attempt listed: {listed}"));
    assert!(
        row.contains("now") && row.contains("completed") && row.contains("finished"),
        "{row}"
    );

    signal(&serve, libc::SIGTERM);
    let (status, _) = wait_exit(&mut serve, Duration::from_secs(30));
    assert!(status.success(), "serve: {}", stderr_of(&mut serve));
    let (phone_status, _) = wait_exit(&mut phone, Duration::from_secs(10));
    assert!(
        phone_status.success(),
        "the phone's call did not end cleanly"
    );
    let store = node.store(&rt);
    let reports = rt
        .block_on(store.list_reports(&ReportFilter {
            hersys_id: Some(id.into()),
            since: None,
        }))
        .unwrap();
    assert!(reports.first().is_some_and(|r| r.complete), "{reports:?}");
}

#[test]
fn call_now_with_no_node_running_says_so_at_once() {
    let rt = runtime();
    let node = Node::new(44350, "");
    let id = "5678901";
    node.enrol(&rt, id, "09022220001");
    let started = Instant::now();
    let out = node.run(&["call-now", id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no kenkocall node is running"), "{err}");
    assert!(err.contains("--standalone"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "it waited");
    // Nothing was queued for a node that might start later.
    let store = node.store(&rt);
    assert!(
        rt.block_on(store.list_call_requests(None))
            .unwrap()
            .is_empty()
    );
}
