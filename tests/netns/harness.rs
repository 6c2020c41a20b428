//! Network namespaces for tests/netns.rs: the topology of tests/tools/nat_topology.sh
//! (LAN 192.168.77.2 — router 192.168.77.1 / 198.18.0.1 with MASQUERADE — carrier
//! 198.18.0.2), the real `kenkocall serve` in the LAN namespace, sipp elsewhere. Every
//! namespace, process and file is removed by a Drop guard, also when a test fails.
//! Root is needed (as in CI).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use kenkocall::store::{ContactMethod, Language, NewPatient, ReportFilter, Store};

pub const LAN_IP: &str = "192.168.77.2";
pub const ROUTER_LAN_IP: &str = "192.168.77.1";
pub const NAT_PUBLIC_IP: &str = "198.18.0.1";
pub const CARRIER_IP: &str = "198.18.0.2";
pub const LINE: &str = "05031980214";

/// Ports (inside the namespaces, from this test file's ranges 50000-50999 / 51000-51999).
pub const ENGINE_SIP: u16 = 50060;
pub const ENGINE_HTTP: u16 = 50080;
pub const ENGINE_RTP: &str = "51000-51049";
pub const SIPP_SIP: u16 = 50061;
pub const SIPP_MEDIA: u16 = 51500;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script() -> PathBuf {
    root().join("tests/tools/nat_topology.sh")
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The three namespaces `<prefix>lan`, `<prefix>nat`, `<prefix>car`; removed on drop.
pub struct Topology {
    pub prefix: String,
}

impl Topology {
    pub fn up(prefix: &str) -> Topology {
        assert!(
            is_root(),
            "tests/netns.rs builds network namespaces: run as root (CI does)"
        );
        // A previous run killed mid-way may have left them behind.
        let _ = Command::new(script()).args(["down", prefix]).output();
        let t = Topology {
            prefix: prefix.into(),
        };
        run(Command::new(script()).args(["up", prefix]));
        t
    }

    pub fn ns(&self, which: &str) -> String {
        format!("{}{which}", self.prefix)
    }

    /// Forwards `ports` arriving at the router's outside address to the LAN host.
    pub fn dnat(&self, ports: &str) {
        run(Command::new(script()).args(["dnat", ports, &self.prefix]));
    }

    /// A command run inside namespace `which` (lan, nat, car).
    pub fn exec(&self, which: &str, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(which), program]);
        c
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["down", &self.prefix]).output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `kenkocall serve` running in the LAN namespace; killed on drop.
pub struct Served {
    child: Child,
    pub dir: tempfile::TempDir,
    pub db_url: String,
    log: PathBuf,
    ns: String,
}

impl Served {
    /// Starts serve with `extra_sip` lines added to `[sip]` and `trunk` as `[trunk]`,
    /// listening on 0.0.0.0, and waits until its pages answer.
    pub fn start(t: &Topology, extra_sip: &str, trunk: &str) -> Served {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("k.db");
        let db_url = format!("sqlite://{}", db.display());
        let config = dir.path().join("kenkocall.toml");
        std::fs::write(
            &config,
            format!(
                "[database]\nurl = \"{db_url}\"\n\
                 [sip]\nlisten = \"0.0.0.0:{ENGINE_SIP}\"\nrtp_ports = \"{ENGINE_RTP}\"\n\
                 inbound_numbers = [\"{LINE}\"]\n{extra_sip}\n\
                 [trunk]\n{trunk}\n\
                 [http]\nlisten = \"127.0.0.1:{ENGINE_HTTP}\"\n\
                 [ivr]\nprompts_dir = \"{prompts}\"\ndialplans_dir = \"{plans}\"\n",
                prompts = root().join("prompts").display(),
                plans = root().join("dialplans").display(),
            ),
        )
        .expect("config");
        let log = dir.path().join("serve.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        // `ip netns exec` execs the program: the child's pid is kenkocall's own.
        let child = t
            .exec("lan", env!("CARGO_BIN_EXE_kenkocall"))
            .arg("--config")
            .arg(&config)
            .arg("serve")
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("kenkocall serve");
        let mut served = Served {
            child,
            dir,
            db_url,
            log,
            ns: t.ns("lan"),
        };
        // Start-up loads and checks every prompt of every language: allow for a debug build.
        let deadline = Instant::now() + Duration::from_secs(120);
        while served.http_get("/healthz").is_none() {
            assert!(
                Instant::now() < deadline,
                "serve did not start: {}",
                served.log()
            );
            assert!(
                served.child.try_wait().ok().flatten().is_none(),
                "serve exited early: {}",
                served.log()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        served
    }

    /// GET on serve's own loopback, from inside its namespace.
    pub fn http_get(&self, path: &str) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "curl", "-sf", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{ENGINE_HTTP}{path}"))
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.db_url).await.expect("store");
        store.migrate().await.expect("migrate");
        store
    }

    /// Enrols a patient under observation today; returns the birthday as MMDD.
    pub async fn enrol(&self, hersys_id: &str) -> String {
        let today = Utc::now().date_naive();
        let patient = NewPatient {
            hersys_id: hersys_id.into(),
            name: "Yamada Hanako".into(),
            birth_date: NaiveDate::from_ymd_opt(1952, 4, 7).expect("date"),
            phone: "09011112222".into(),
            language: Language::Ja,
            health_centre: "Minato".into(),
            observation_start: today - chrono::Days::new(3),
            observation_end: today + chrono::Days::new(7),
            contact_method: ContactMethod::HealthCall,
            call_slots: None,
        };
        self.store()
            .await
            .insert_patient(&patient, "test", Utc::now())
            .await
            .expect("enrol");
        "0407".into()
    }

    /// The patient's reports as JSON lines, waiting up to `within` for `check`.
    pub async fn reports_when(
        &self,
        hersys_id: &str,
        within: Duration,
        check: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let store = self.store().await;
        let deadline = Instant::now() + within;
        loop {
            let reports: Vec<serde_json::Value> = store
                .list_reports(&ReportFilter {
                    hersys_id: Some(hersys_id.into()),
                    since: None,
                })
                .await
                .expect("list reports")
                .iter()
                .map(|r| serde_json::from_str(&r.to_json_line()).expect("JSON line"))
                .collect();
            if check(&reports) || Instant::now() > deadline {
                return reports;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A counter's value in `/metrics`.
    pub fn metric(&self, name: &str) -> Option<u64> {
        let text = self.http_get("/metrics")?;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What one sipp run did: success, and every message it sent and received.
pub struct SippRun {
    pub ok: bool,
    pub messages: String,
    pub errors: String,
}

/// Runs sipp in namespace `ns` against `target`, with its own address `local_ip`.
pub fn sipp(ns: &str, local_ip: &str, target: &str, scenario: &Path, args: &[&str]) -> SippRun {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sipp"])
        .current_dir(dir.path())
        .arg(target)
        .arg("-sf")
        .arg(scenario)
        .args(["-s", LINE, "-i", local_ip, "-mi", local_ip])
        .args(["-p", &SIPP_SIP.to_string()])
        .args(["-mp", &SIPP_MEDIA.to_string()])
        .args(["-m", "1", "-l", "1", "-nostdin"])
        .args(["-trace_msg", "-trace_err", "-timeout_error"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("sipp must be installed: apt-get install -y sip-tester");
    let mut messages = String::new();
    let mut errors = String::from_utf8_lossy(&out.stderr).into_owned();
    for entry in std::fs::read_dir(dir.path())
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with("_messages.log") {
            messages.push_str(&text);
        } else {
            errors.push_str(&format!("\n--- {name}\n{text}"));
        }
    }
    SippRun {
        ok: out.status.success(),
        messages,
        errors,
    }
}

/// The first response with this status line start that sipp received, as text.
pub fn received(messages: &str, status: &str) -> Option<String> {
    messages
        .split("----------------------------------------------")
        .filter(|m| m.contains("message received"))
        .find(|m| m.contains(status))
        .map(str::to_string)
}
