//! `kenkocall serve` as operators run it, for the tests that need the real binary: a
//! node's files (config file, SQLite case store, sipp working directory), starting it,
//! signalling it, and sipp peers and RTP key captures against it.
//! Needs sipp (Debian `sip-tester`), python3, and root for sipp's pcap replay.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use kenkocall::store::{ContactMethod, Language, NewPatient, Store};

/// The health-call number the test nodes answer.
pub const LINE: &str = "05031980214";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Fixed ports for a test that keeps to its own slice: SIP, HTTP and sipp's SIP port.
#[derive(Debug, Clone, Copy)]
pub struct NodePorts {
    pub sip: u16,
    pub http: u16,
    pub sipp: u16,
}

/// One node's files: config, SQLite case store, sipp working directory.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub db_url: String,
    pub sip: u16,
    pub http: u16,
    /// sipp's own SIP port.
    pub sipp_port: u16,
}

impl Node {
    /// A node on the 50 ports from `base`, all in the ranges `.ci/run` reserves from
    /// ephemeral use (a port the OS picked could be handed to another process before
    /// `serve` binds it): RTP `base..base+39`, SIP `base+40`, HTTP `base+41`, sipp
    /// `base+42`; `base+43..base+49` are the test's own (a phone, a probe...).
    pub fn in_slice(base: u16, extra: &str) -> Node {
        let ports = NodePorts {
            sip: base + 40,
            http: base + 41,
            sipp: base + 42,
        };
        let rtp = format!("{base}-{}", base + 39);
        Self::on_ports(ports, &rtp, &root().join("dialplans"), extra)
    }

    /// Every port fixed (a test's own slice), the dialplans from `dialplans`.
    pub fn on_ports(ports: NodePorts, rtp: &str, dialplans: &Path, extra: &str) -> Node {
        Self::build(ports.sip, ports.http, ports.sipp, rtp, dialplans, extra)
    }

    fn build(
        sip: u16,
        http: u16,
        sipp_port: u16,
        rtp: &str,
        dialplans: &Path,
        extra: &str,
    ) -> Node {
        let dir = tempfile::tempdir().unwrap();
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
                plans = dialplans.display(),
            ),
        )
        .unwrap();
        Node {
            dir,
            config,
            db_url,
            sip,
            http,
            sipp_port,
        }
    }

    pub fn store(&self, rt: &tokio::runtime::Runtime) -> Store {
        rt.block_on(async {
            let s = Store::connect(&self.db_url).await.unwrap();
            s.migrate().await.unwrap();
            s
        })
    }

    /// Enrols a patient under observation today (not auto-called: the planner must not
    /// dial them by itself); returns the birthday as MMDD.
    pub fn enrol(&self, rt: &tokio::runtime::Runtime, hersys_id: &str, phone: &str) -> String {
        self.enrol_as(rt, hersys_id, phone, ContactMethod::HealthCall, None);
        "0407".into()
    }

    /// Enrols a patient under observation today with this contact method and call slots.
    pub fn enrol_as(
        &self,
        rt: &tokio::runtime::Runtime,
        hersys_id: &str,
        phone: &str,
        contact_method: ContactMethod,
        call_slots: Option<kenkocall::store::CallSlots>,
    ) {
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
            contact_method,
            call_slots,
        };
        rt.block_on(async {
            store.insert_patient(&p, "test", Utc::now()).await.unwrap();
            store.close().await;
        });
    }

    pub fn kenkocall(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kenkocall"));
        c.arg("--config")
            .arg(&self.config)
            .current_dir(self.dir.path());
        c
    }

    /// `kenkocall serve`, once its staff pages answer (start-up checks every prompt).
    pub fn serve(&self) -> Reaped {
        self.serve_with(|_| {})
    }

    /// `serve` with the command adjusted first (an environment variable, say).
    pub fn serve_with(&self, adjust: impl FnOnce(&mut Command)) -> Reaped {
        let mut cmd = self.kenkocall();
        cmd.arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        adjust(&mut cmd);
        let mut child = Reaped::spawn(&mut cmd);
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

    pub fn run(&self, args: &[&str]) -> Output {
        self.kenkocall().args(args).output().unwrap()
    }

    /// A sipp UAC against this node's SIP port, run to its end.
    pub fn sipp(&self, scenario: &Path, extra: &[&str]) -> Command {
        self.sipp_from(self.sipp_port, scenario, extra)
    }

    /// A sipp UAC from another local port of the test's slice (beside a running one).
    pub fn sipp_from(&self, port: u16, scenario: &Path, extra: &[&str]) -> Command {
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
pub fn keys_pcap(dir: &Path, keys: &str) -> (PathBuf, Duration) {
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
pub struct Reaped(pub Child);

impl Reaped {
    pub fn spawn(cmd: &mut Command) -> Reaped {
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

/// Waits for `child` to exit; returns its status and when it was seen to exit.
pub fn wait_exit(child: &mut Child, limit: Duration) -> (std::process::ExitStatus, Instant) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return (s, Instant::now());
        }
        assert!(Instant::now() < deadline, "process did not exit in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn stderr_of(child: &mut Child) -> String {
    let mut log = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut log);
    }
    log
}

pub fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}
