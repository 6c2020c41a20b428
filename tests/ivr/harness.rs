//! End-to-end harness for the health-call line: the real engine in-process
//! (`Engine::start` with a temporary SQLite store, SIP and RTP on loopback ports no other
//! test uses, the repo's prompts and dialplans), a patient in the store, and key presses
//! as RTP pcaps made by tests/tools (copied from ../shared/peers/dtmf) for a real peer.
//! Used by tests/ivr_e2e.rs and tests/baresip_health_call.rs.

#![allow(dead_code)] // each test binary uses a different part

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, Once};
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use kenkocall::config::Config;
use kenkocall::engine::Engine;
use kenkocall::store::{
    AuthFailureKey, ContactMethod, HealthReport, Language, NewPatient, ReportFilter, Store,
};

/// The health-call number the engine answers in these tests.
pub const LINE: &str = "05031980214";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Loopback ports of one test: 43000 + 100 * n and up. No other test uses 43000-43999.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub engine_sip: u16,
    pub peer_sip: u16,
    pub peer_media: u16,
    pub peer_control: u16,
    /// The engine's RTP range is `rtp_low ..= rtp_low + 49`.
    pub rtp_low: u16,
}

pub fn ports(n: u16) -> Ports {
    let base = 43000 + n * 100;
    Ports {
        engine_sip: base,
        peer_sip: base + 1,
        peer_media: base + 10,
        peer_control: base + 20,
        rtp_low: base + 40,
    }
}

/// The engine answering the health-call line, with its store.
pub struct Line {
    pub engine: Engine,
    pub store: Store,
    pub sip: SocketAddr,
    _db: tempfile::TempDir,
}

impl Line {
    pub async fn start(p: Ports) -> Line {
        init_logs();
        let db = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", db.path().join("kenkocall.db").display());
        let store = Store::connect(&url).await.expect("sqlite store");
        store.migrate().await.expect("migrate");
        let mut cfg = Config::defaults();
        cfg.sip.listen = SocketAddr::from(([127, 0, 0, 1], p.engine_sip));
        cfg.sip.inbound_numbers = vec![LINE.into()];
        cfg.sip.rtp_ports = format!("{}-{}", p.rtp_low, p.rtp_low + 49);
        cfg.ivr.prompts_dir = root().join("prompts");
        cfg.ivr.dialplans_dir = root().join("dialplans");
        let engine = Engine::start(&cfg, store.clone())
            .await
            .expect("engine starts with the repo's prompts and dialplans");
        let sip = engine.sip_addr();
        Line {
            engine,
            store,
            sip,
            _db: db,
        }
    }

    /// Enrols a patient under observation today (by the clock: the engine checks the
    /// observation period against now) and returns the birthday as MMDD.
    pub async fn enrol(&self, hersys_id: &str) -> String {
        let today = Utc::now().date_naive();
        let birth = NaiveDate::from_ymd_opt(1952, 4, 7).expect("date");
        let patient = NewPatient {
            hersys_id: hersys_id.into(),
            name: "Yamada Hanako".into(),
            birth_date: birth,
            phone: "09011112222".into(),
            language: Language::Ja,
            health_centre: "Minato".into(),
            observation_start: today - chrono::Days::new(3),
            observation_end: today + chrono::Days::new(7),
            contact_method: ContactMethod::HealthCall,
            call_slots: None,
        };
        self.store
            .insert_patient(&patient, "test", Utc::now())
            .await
            .expect("enrol");
        format!("{:02}{:02}", birth.month(), birth.day())
    }

    /// The patient's reports as `kenkocall reports --json` prints them.
    pub async fn reports_json(&self, hersys_id: &str) -> Vec<serde_json::Value> {
        self.reports(hersys_id)
            .await
            .iter()
            .map(|r| serde_json::from_str(&r.to_json_line()).expect("JSON line"))
            .collect()
    }

    pub async fn reports(&self, hersys_id: &str) -> Vec<HealthReport> {
        self.store
            .list_reports(&ReportFilter {
                hersys_id: Some(hersys_id.into()),
                since: None,
            })
            .await
            .expect("list reports")
    }

    pub async fn auth_failures(&self, hersys_id: &str) -> u64 {
        let since = Utc::now() - chrono::Duration::hours(1);
        self.store
            .count_auth_failures(AuthFailureKey::HersysId(hersys_id), since)
            .await
            .expect("count failures")
    }
}

/// How keys are spaced in a pcap: a ',' in the keys is a pause.
#[derive(Debug, Clone, Copy)]
pub struct KeyTiming {
    pub lead_ms: u64,
    pub tone_ms: u64,
    pub gap_ms: u64,
    pub pause_ms: u64,
}

pub const TIMING: KeyTiming = KeyTiming {
    lead_ms: 1000,
    tone_ms: 100,
    gap_ms: 300,
    pause_ms: 1500,
};

impl KeyTiming {
    /// How long the pcap for `keys` plays.
    pub fn duration(&self, keys: &str) -> Duration {
        let pauses = keys.chars().filter(|&c| c == ',').count() as u64;
        let presses = keys.chars().count() as u64 - pauses;
        Duration::from_millis(
            self.lead_ms + presses * (self.tone_ms + self.gap_ms) + pauses * self.pause_ms,
        )
    }
}

/// `keys` as RFC 4733 telephone-events (PT 101) with PCMU silence in the same stream.
pub fn rfc4733_pcap(dir: &Path, keys: &str, t: KeyTiming) -> PathBuf {
    let out = dir.join("keys_rfc4733.pcap");
    run(Command::new("python3")
        .arg(root().join("tests/tools/mkrtp.py"))
        .args(["rfc4733", keys])
        .arg(&out)
        .args(["--pt", "101", "--audio"])
        .args(["--lead-ms", &t.lead_ms.to_string()])
        .args(["--tone-ms", &t.tone_ms.to_string()])
        .args(["--gap-ms", &t.gap_ms.to_string()])
        .args(["--pause-ms", &t.pause_ms.to_string()]));
    out
}

/// `keys` as in-band DTMF tones in PCMU (sox synthesises the WAV).
pub fn inband_pcap(dir: &Path, keys: &str, t: KeyTiming) -> PathBuf {
    let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    run(Command::new(root().join("tests/tools/make_inband.sh"))
        .arg(keys)
        .arg(dir.join("keys_inband"))
        .env("LEAD", secs(t.lead_ms))
        .env("TONE", secs(t.tone_ms))
        .env("GAP", secs(t.gap_ms))
        .env("PAUSE", secs(t.pause_ms)));
    dir.join("keys_inband_pcmu.pcap")
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} (python3 and sox needed): {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs one sipp call into the line; panics with sipp's error traces unless it succeeded.
pub async fn sipp_call(p: Ports, scenario: &str, pcap: &Path, extra: &[&str]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenario = root().join("tests/ivr").join(scenario);
    let mut cmd = tokio::process::Command::new("sipp");
    cmd.current_dir(dir.path())
        .arg(format!("127.0.0.1:{}", p.engine_sip))
        .arg("-sf")
        .arg(&scenario)
        .args(["-s", LINE, "-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-p", &p.peer_sip.to_string()])
        .args(["-mp", &p.peer_media.to_string()])
        .args(["-cp", &p.peer_control.to_string()])
        .args(["-m", "1", "-l", "1", "-nostdin"])
        .args(["-timeout", "150s", "-timeout_error", "-trace_err"])
        .arg("-key")
        .arg("pcap")
        .arg(pcap)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .expect("sipp must be installed: apt-get install -y sip-tester");
    let out = tokio::time::timeout(Duration::from_secs(160), child.wait_with_output())
        .await
        .expect("sipp finished in time")
        .expect("sipp ran");
    if !out.status.success() {
        let mut traces = String::from_utf8_lossy(&out.stderr).into_owned();
        for entry in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            traces.push_str(&format!("\n--- {}\n{text}", entry.path().display()));
        }
        panic!(
            "sipp {} failed ({}):\n{traces}",
            scenario.display(),
            out.status
        );
    }
}

/// Waits until `check` holds for the patient's reports (saves are asynchronous to the
/// call's end), or returns what is there after `within`.
pub async fn reports_when(
    line: &Line,
    hersys_id: &str,
    within: Duration,
    check: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let reports = line.reports_json(hersys_id).await;
        if check(&reports) || tokio::time::Instant::now() > deadline {
            return reports;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- what the engine played, from its debug log ("play ... prompts=a,b") ----------------

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn init_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .with_env_filter("warn,kenkocall::engine=debug")
            .try_init();
    });
}

/// Forgets the log so far (tests using it run one at a time).
pub fn clear_log() {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

pub fn log_text() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
}

/// Every play since `clear_log`, as its prompt ids without read-back digits.
pub fn plays() -> Vec<String> {
    log_text()
        .lines()
        .filter(|l| l.contains(" play "))
        .filter_map(|l| l.split(" prompts=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}
