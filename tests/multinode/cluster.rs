//! Several real `kenkocall serve` processes on one PostgreSQL case store, as an operator
//! runs them: each with its own config file, SIP/HTTP ports and RTP range. Shared by
//! tests/trunk_shared.rs and tests/kamailio_front.rs.

#![allow(dead_code)] // each test binary uses a different part

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use kenkocall::store::{ContactMethod, Language, NewPatient, PatientId, Store};

pub const LINE: &str = "05031980214";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One node: its config file and, while it runs, its process.
pub struct ServeNode {
    pub name: &'static str,
    pub config: PathBuf,
    pub dir: PathBuf,
    pub sip: u16,
    pub http: u16,
    pub child: Option<Child>,
}

impl ServeNode {
    /// Writes `dir/<name>.toml`: the shared database, this node's ports, and `extra`.
    pub fn new(
        dir: &Path,
        name: &'static str,
        db_url: &str,
        sip: u16,
        http: u16,
        rtp: &str,
        extra: &str,
    ) -> ServeNode {
        let node_dir = dir.join(name);
        std::fs::create_dir_all(&node_dir).unwrap();
        let config = node_dir.join("kenkocall.toml");
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
        ServeNode {
            name,
            config,
            dir: node_dir,
            sip,
            http,
            child: None,
        }
    }

    pub fn kenkocall(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kenkocall"));
        c.arg("--config").arg(&self.config).current_dir(&self.dir);
        c
    }

    /// Starts `serve` (stderr to `<dir>/serve.log`, appended across restarts) and waits
    /// for its staff pages to answer.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_ready();
    }

    /// Starts `serve` without waiting (start several, then [`ServeNode::wait_ready`]).
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("serve.log"))
            .unwrap();
        let child = self
            .kenkocall()
            .arg("serve")
            // Info for kenkocall only: the tests read its per-call lines.
            .env("RUST_LOG", "kenkocall=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Waits until the staff pages answer (start-up checks every prompt first).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", self.http)).is_err() {
            assert!(Instant::now() < deadline, "{} did not start", self.name);
            let child = self.child.as_mut().expect("spawned");
            assert!(
                child.try_wait().unwrap().is_none(),
                "{} exited early: {}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The crash: SIGKILL, nothing cleaned up.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `kenkocall drain --node <this node>` (found in the store by its SIP address), then
    /// waits for the process to exit; returns its status.
    pub fn drain(&mut self, store: &Store, rt: &tokio::runtime::Runtime) -> bool {
        let listen = format!("127.0.0.1:{}", self.sip);
        let nodes = rt.block_on(store.list_nodes()).unwrap();
        let name = nodes
            .iter()
            .find(|n| n.sip_listen == listen && n.is_live(Utc::now()))
            .map(|n| n.name.clone())
            .unwrap_or_else(|| panic!("{} not in the nodes table: {nodes:?}", self.name));
        let out = self
            .kenkocall()
            .args(["drain", "--node", &name])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "drain {}: {} {}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.success();
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// This node's name in the `nodes` table (`host-pid`).
    pub fn node_name(&self, store: &Store, rt: &tokio::runtime::Runtime) -> String {
        let listen = format!("127.0.0.1:{}", self.sip);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let nodes = rt.block_on(store.list_nodes()).unwrap();
            if let Some(n) = nodes
                .iter()
                .find(|n| n.sip_listen == listen && n.is_live(Utc::now()))
            {
                return n.name.clone();
            }
            assert!(Instant::now() < deadline, "{} never announced", self.name);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ServeNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A third-party process (sipp, kamailio) stopped when the test ends, pass or fail:
/// SIGTERM first (Kamailio's main process then stops its children, which SIGKILL would
/// leave holding the port), SIGKILL if it lingers.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(pid) = libc::pid_t::try_from(self.0.id()) {
            // SAFETY: a signal to our own child process.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Enrols health-call patients `first..first+n` (IDs 7-digit, phones 090-4444-xxxx) under
/// observation today; returns their ids. Birthday 1952-04-07 (MMDD 0407).
pub fn enrol(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    first: u32,
    n: u32,
) -> Vec<(String, PatientId)> {
    let today = Utc::now().date_naive();
    rt.block_on(async {
        let mut out = Vec::new();
        for i in first..first + n {
            let id = format!("{}", 6_000_000 + i);
            let p = NewPatient {
                hersys_id: id.clone(),
                name: "Yamada Hanako".into(),
                birth_date: chrono::NaiveDate::from_ymd_opt(1952, 4, 7).unwrap(),
                phone: format!("0904444{i:04}"),
                language: Language::Ja,
                health_centre: "Minato".into(),
                observation_start: today - chrono::Days::new(3),
                observation_end: today + chrono::Days::new(7),
                // Not auto-call: only the test decides who is called, and when.
                contact_method: ContactMethod::HealthCall,
                call_slots: None,
            };
            let patient = store.insert_patient(&p, "test", Utc::now()).await.unwrap();
            out.push((id, patient.id));
        }
        out
    })
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn read_to_string(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}
