//! No keyed answer is lost when PostgreSQL goes away. Each test starts its own PostgreSQL
//! cluster (initdb + pg_ctl from /usr/lib/postgresql/*/bin, as the `postgres` user when run
//! as root) on its own port in 54400-54499 and temp directory, never the shared one on
//! 5432, and stops it in the middle of calls made by real `sipp` callers:
//! - the engine in-process, PostgreSQL down for 60 s while three callers answer: every
//!   answer lands after it returns, and each report is complete only with all answers;
//! - the real `kenkocall serve` killed with SIGKILL while answers wait in its spool: the
//!   restarted node replays them and they land exactly once.
//!
//! SIP/RTP ports: 48000-48299.

#[path = "ivr/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{Datelike, NaiveDate, Utc};
use harness::{Ports, TIMING, root};
use kenkocall::config::Config;
use kenkocall::engine::Engine;
use kenkocall::store::journal::read_spool;
use kenkocall::store::{
    ContactMethod, HealthReport, Language, NewPatient, ReportFilter, Store, Symptom,
};
use tokio::time::Instant;

/// A PostgreSQL cluster of this test only.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn pg_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries in /usr/lib/postgresql")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("initdb")
}

fn as_postgres(bin: &Path, tool: &str) -> Command {
    let is_root = unsafe { libc::geteuid() } == 0;
    if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn ok(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    fn start(port: u16) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        if unsafe { libc::geteuid() } == 0 {
            ok(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let bin = pg_bin();
        ok(as_postgres(&bin, "initdb")
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "-D"])
            .arg(dir.path().join("data")));
        let c = Cluster { dir, bin, port };
        c.up();
        ok(Command::new(c.bin.join("createdb")).args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "test",
        ]));
        c
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/test", self.port)
    }

    fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        ok(as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-o", &opts, "-l"])
            .arg(self.dir.path().join("log"))
            .args(["-w", "start"]));
    }

    fn down(&self) {
        ok(as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "stop"]));
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

fn ports(n: u16) -> Ports {
    let base = 48000 + n * 100;
    Ports {
        engine_sip: base,
        peer_sip: base + 1,
        peer_media: base + 10,
        peer_control: base + 20,
        rtp_low: base + 40,
    }
}

async fn enrol(store: &Store, hersys_id: &str) -> String {
    let today = Utc::now().date_naive();
    let birth = NaiveDate::from_ymd_opt(1952, 4, 7).unwrap();
    store
        .insert_patient(
            &NewPatient {
                hersys_id: hersys_id.into(),
                name: "Yamada Hanako".into(),
                birth_date: birth,
                phone: format!("0901111{}", &hersys_id[3..]),
                language: Language::Ja,
                health_centre: "Minato".into(),
                observation_start: today - chrono::Days::new(3),
                observation_end: today + chrono::Days::new(7),
                contact_method: ContactMethod::HealthCall,
                call_slots: None,
            },
            "test",
            Utc::now(),
        )
        .await
        .unwrap();
    format!("{:02}{:02}", birth.month(), birth.day())
}

/// Language 1, ID, birthday, 36.5 confirmed; a pause (the outage starts here); SpO2 97
/// confirmed, `2` to every symptom, `2` finish.
fn keys(id: &str, mmdd: &str) -> String {
    format!("1,{id}#{mmdd},,*365,1,,,,97#,1,222222222,2")
}

async fn reports(store: &Store, id: &str) -> Vec<HealthReport> {
    store
        .list_reports(&ReportFilter {
            hersys_id: Some(id.into()),
            since: None,
        })
        .await
        .unwrap_or_default()
}

fn all_answers_and_complete(r: &HealthReport) -> bool {
    r.complete
        && r.temperature_c == Some(36.5)
        && r.spo2 == Some(97)
        && r.symptoms.len() == Symptom::ALL.len()
        && r.symptoms.values().all(|v| !v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_down_60s_mid_calls_loses_no_answer() {
    let cluster = Cluster::start(54401);
    let store = Store::connect_with_timeout(&cluster.url(), Duration::from_secs(2))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let ids = ["1234561", "1234562", "1234563"];
    let mut birthdays = Vec::new();
    for id in ids {
        birthdays.push(enrol(&store, id).await);
    }
    harness::init_logs();
    harness::clear_log();
    let spool = tempfile::tempdir().unwrap();
    let p = ports(0);
    let mut cfg = Config::defaults();
    cfg.database.url = cluster.url();
    cfg.database.spool_dir = spool.path().display().to_string();
    cfg.sip.listen = SocketAddr::from(([127, 0, 0, 1], p.engine_sip));
    cfg.sip.inbound_numbers = vec![harness::LINE.into()];
    cfg.sip.rtp_ports = format!("{}-{}", p.rtp_low, p.rtp_low + 49);
    cfg.ivr.prompts_dir = root().join("prompts");
    cfg.ivr.dialplans_dir = root().join("dialplans");
    let engine = Engine::start(&cfg, store.clone()).await.unwrap();

    let pcaps = tempfile::tempdir().unwrap();
    let mut calls = Vec::new();
    for (n, (id, mmdd)) in ids.iter().zip(&birthdays).enumerate() {
        let dir = pcaps.path().join(n.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let pcap = harness::rfc4733_pcap(&dir, &keys(id, mmdd), TIMING);
        let mut caller = p;
        caller.peer_sip = p.engine_sip + 2 + n as u16;
        caller.peer_media = p.engine_sip + 200 + 10 * n as u16;
        caller.peer_control = p.peer_control + n as u16;
        calls.push(tokio::spawn(async move {
            harness::sipp_call(caller, "uac_keys_wait_bye.xml", &pcap, &[]).await;
            Instant::now()
        }));
    }
    // The outage starts once every caller's first answer is stored.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut started = 0;
        for id in ids {
            if reports(&store, id)
                .await
                .first()
                .is_some_and(|r| r.temperature_c.is_some())
            {
                started += 1;
            }
        }
        if started == ids.len() {
            break;
        }
        assert!(Instant::now() < deadline, "first answers never stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.down();
    let down_at = Instant::now();
    for id in ids {
        let r = reports(&store, id).await;
        assert!(
            r.is_empty() || !r[0].complete,
            "read while down should fail"
        );
    }
    // The callers finish the questionnaire during the outage (the IVR never waits for
    // the database): every sipp call ends with the engine's goodbye BYE.
    let mut ended = Vec::new();
    for c in calls {
        ended.push(c.await.unwrap());
    }
    tokio::time::sleep_until(down_at + Duration::from_secs(60)).await;
    assert!(
        ended.iter().all(|t| *t < down_at + Duration::from_secs(60)),
        "calls finished while PostgreSQL was down"
    );
    assert!(engine.report_writer().stats().retries > 0);
    assert!(engine.report_writer().stats().pending > 0);
    cluster.up();
    let up_at = Instant::now();
    let deadline = up_at + Duration::from_secs(60);
    loop {
        let mut done = 0;
        for id in ids {
            let r = reports(&store, id).await;
            if r.len() == 1 && all_answers_and_complete(&r[0]) {
                done += 1;
            }
            // Never complete with an answer missing.
            if let Some(r) = r.first()
                && r.complete
            {
                assert!(all_answers_and_complete(r), "{r:?}");
            }
        }
        if done == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "answers did not land after PostgreSQL came back: {:?}",
            engine.report_writer().stats()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "all answers landed {:?} after PostgreSQL came back; writer {:?}",
        up_at.elapsed(),
        engine.report_writer().stats()
    );
    let plays = harness::plays();
    assert_eq!(
        plays.iter().filter(|p| *p == "goodbye").count(),
        3,
        "{plays:?}"
    );
    engine.shutdown().await;
    assert_eq!(
        engine
            .close_reports(Instant::now() + Duration::from_secs(5))
            .await,
        0
    );
}

/// `kenkocall serve` on the cluster, answering the health-call line.
fn serve(dir: &Path, cluster: &Cluster, p: Ports, http: u16) -> std::process::Child {
    let config = dir.join("kenkocall.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{url}\"\nspool_dir = \"{spool}\"\nacquire_timeout_secs = 2\n\
             [sip]\nlisten = \"127.0.0.1:{sip}\"\ninbound_numbers = [\"{line}\"]\n\
             rtp_ports = \"{lo}-{hi}\"\n\
             [http]\nlisten = \"127.0.0.1:{http}\"\n\
             [dialer]\nenabled = false\n\
             [ivr]\nprompts_dir = \"{prompts}\"\ndialplans_dir = \"{plans}\"\n",
            url = cluster.url(),
            spool = dir.join("spool").display(),
            sip = p.engine_sip,
            line = harness::LINE,
            lo = p.rtp_low,
            hi = p.rtp_low + 49,
            prompts = root().join("prompts").display(),
            plans = root().join("dialplans").display(),
        ),
    )
    .unwrap();
    let log =
        std::fs::File::create(dir.join(format!("serve-{}.log", rand::random::<u32>()))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_kenkocall"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Spooled writes of every spool file in `dir`.
fn spooled(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "spool"))
        .map(|e| {
            read_spool(&std::fs::read(e.path()).unwrap_or_default())
                .pending
                .len()
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_node_replays_its_spool_and_answers_land_exactly_once() {
    let cluster = Cluster::start(54402);
    let store = Store::connect_with_timeout(&cluster.url(), Duration::from_secs(2))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let id = "2345671";
    let mmdd = enrol(&store, id).await;
    let dir = tempfile::tempdir().unwrap();
    let p = ports(1);
    let http = p.engine_sip + 30;
    let mut node = serve(dir.path(), &cluster, p, http);
    // Start-up checks every prompt: allow for a debug build.
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start");
        assert!(node.try_wait().unwrap().is_none(), "serve exited early");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let pcap = harness::rfc4733_pcap(dir.path(), &keys(id, &mmdd), TIMING);
    let call = tokio::spawn(async move {
        harness::sipp_call(p, "uac_keys_wait_bye.xml", &pcap, &[]).await;
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    while reports(&store, id)
        .await
        .first()
        .is_none_or(|r| r.temperature_c.is_none())
    {
        assert!(Instant::now() < deadline, "first answer never stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    cluster.down();
    // The call ends (goodbye, BYE) with its remaining answers in the spool only.
    call.await.unwrap();
    let spool_dir = dir.path().join("spool");
    // SpO2, nine symptoms and the completion.
    assert_eq!(spooled(&spool_dir), 1 + Symptom::ALL.len() + 1);
    node.kill().unwrap(); // SIGKILL: no chance to flush
    node.wait().unwrap();
    let copy: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&spool_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "spool"))
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect();
    cluster.up();
    let mut node = serve(dir.path(), &cluster, p, http);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = reports(&store, id).await;
        if r.len() == 1 && all_answers_and_complete(&r[0]) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "spooled answers never landed: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let landed = reports(&store, id).await;
    // Replay the same spool once more (as after a crash before the landed note): the
    // report stays exactly as it was, one row per answer.
    node.kill().unwrap();
    node.wait().unwrap();
    for (path, bytes) in &copy {
        std::fs::write(path, bytes).unwrap();
    }
    let mut node = serve(dir.path(), &cluster, p, http);
    let deadline = Instant::now() + Duration::from_secs(120);
    while spooled(&spool_dir) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(reports(&store, id).await, landed);
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_symptoms")
        .fetch_one(&sqlx::PgPool::connect(&cluster.url()).await.unwrap())
        .await
        .unwrap();
    assert_eq!(rows, Symptom::ALL.len() as i64);
    let _ = node.kill();
    let _ = node.wait();
}
