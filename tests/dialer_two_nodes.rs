//! Two `kenkocall serve` processes on one PostgreSQL and one trunk (simulated phones):
//! every patient is dialled exactly once per attempt, and when one node is killed
//! (SIGKILL) mid-slot the other takes its jobs back and finishes the slot.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Timelike, Utc};
use kenkocall::demo::phones::{PhoneBehaviour, SimulatedPhones};
use kenkocall::demo::tones::KeyStep;
use kenkocall::store::{
    AttemptState, CallSlots, CentreSettings, ContactMethod, Language, NewPatient, ReportFilter,
};

const PATIENTS: usize = 6;
const PHONES_PORT: u16 = 25482;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn number(i: usize) -> String {
    format!("0903333{i:04}")
}

fn script() -> Vec<KeyStep> {
    vec![
        KeyStep::Keys("1"),
        KeyStep::Pause(700),
        KeyStep::Keys("365"),
        KeyStep::Pause(500),
        KeyStep::Keys("1"),
        KeyStep::Pause(500),
        KeyStep::Keys("97#"),
        KeyStep::Pause(500),
        KeyStep::Keys("1"),
        KeyStep::Pause(500),
        KeyStep::Keys("222222222"),
    ]
}

fn serve(dir: &Path, name: &str, db_url: &str, sip_port: u16, rtp: &str) -> Child {
    let cfg = format!(
        "[database]\nurl = \"{db_url}\"\n\
         [sip]\nlisten = \"127.0.0.1:{sip_port}\"\nrtp_ports = \"{rtp}\"\nring_timeout_secs = 10\n\
         [trunk]\nuri = \"sip:127.0.0.1:{PHONES_PORT}\"\n\
         [ivr]\nprompts_dir = \"{root}/prompts\"\ndialplans_dir = \"{root}/dialplans\"\n\
         [dialer]\nlease_seconds = 3\npoll_ms = 100\nworkers = 2\n",
        root = root().display()
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, cfg).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    Command::new(env!("CARGO_BIN_EXE_kenkocall"))
        .arg("--config")
        .arg(&path)
        .args(["-v", "serve"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("kenkocall serve starts")
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_dial_each_attempt_once_and_a_survivor_finishes_the_slot() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let store = db.store.clone();
    // The slot is the current local hour; calls allowed all day so the test runs any time,
    // and a short failed-call offset so a taken-back job is re-dialled within seconds.
    let tz = chrono_tz::Asia::Tokyo;
    let local = Utc::now().with_timezone(&tz);
    let hour = u8::try_from(local.hour()).unwrap();
    let mut centre = CentreSettings {
        default_slots: CallSlots::from_hours(&[hour]).unwrap(),
        ..CentreSettings::default()
    };
    centre.calling_hours.from_minute = 0;
    centre.calling_hours.until_minute = 24 * 60;
    centre.retry.failed_delay = Duration::from_secs(2);
    centre.retry.slot_window = Duration::from_secs(3 * 3600);
    store
        .upsert_centre("Minato", &centre, "test")
        .await
        .unwrap();
    let today = local.date_naive();
    for i in 0..PATIENTS {
        let p = NewPatient {
            hersys_id: format!("{}", 3_000_000 + i),
            name: "Test Patient".into(),
            birth_date: "1950-01-01".parse().unwrap(),
            phone: number(i),
            language: Language::Ja,
            health_centre: "Minato".into(),
            observation_start: today - TimeDelta::days(2),
            observation_end: today + TimeDelta::days(5),
            contact_method: ContactMethod::AutoCall,
            call_slots: None,
        };
        store.insert_patient(&p, "test", Utc::now()).await.unwrap();
    }

    let behaviours: HashMap<String, PhoneBehaviour> = (0..PATIENTS)
        .map(|i| (number(i), PhoneBehaviour::Answer(script())))
        .collect();
    let phones = SimulatedPhones::start(
        ([127, 0, 0, 1], PHONES_PORT).into(),
        "33200-33249",
        "sip:127.0.0.1:25480".into(),
        behaviours,
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let a = serve(dir.path(), "a", &db.url, 25480, "33100-33149");
    let b = serve(dir.path(), "b", &db.url, 25481, "33150-33199");
    let a_name = format!("node-{}/", a.id());

    // Kill node a as soon as it has a call up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = store.list_attempts(None).await.unwrap();
        let a_dialling = all.iter().any(|x| {
            x.state == AttemptState::Dialing
                && x.lease_owner
                    .as_deref()
                    .is_some_and(|o| o.starts_with(&a_name))
        });
        if a_dialling {
            break;
        }
        let logs = std::fs::read_to_string(dir.path().join("a.log")).unwrap_or_default()
            + &std::fs::read_to_string(dir.path().join("b.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "node a never dialled: {all:#?}\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(a);

    let deadline = Instant::now() + Duration::from_secs(120);
    let attempts = loop {
        let all = store.list_attempts(None).await.unwrap();
        let mut ended: Vec<_> = all
            .iter()
            .filter(|x| x.detail.as_deref().is_some_and(|d| d != "interrupted"))
            .map(|x| x.patient_id)
            .collect();
        ended.sort();
        ended.dedup();
        if ended.len() == PATIENTS {
            break all;
        }
        let logs = std::fs::read_to_string(dir.path().join("b.log")).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "slot not finished: {all:#?}\n{logs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop(b);
    phones.shutdown();

    // Exactly once per attempt: every INVITE the trunk saw is one begun attempt row.
    for i in 0..PATIENTS {
        let id = format!("{}", 3_000_000 + i);
        let begun = attempts
            .iter()
            .filter(|x| x.hersys_id == id && x.started_at.is_some())
            .count();
        assert_eq!(
            phones.calls_to(&number(i)) as usize,
            begun,
            "patient {id}: {attempts:#?}"
        );
    }
    // Node a's call was taken back: recorded as interrupted, and b ended that job.
    let interrupted: Vec<_> = attempts
        .iter()
        .filter(|x| x.detail.as_deref() == Some("interrupted"))
        .collect();
    assert!(!interrupted.is_empty(), "{attempts:#?}");
    // Every patient reported (a dropped call keeps what was answered).
    let reports = store.list_reports(&ReportFilter::default()).await.unwrap();
    let mut reported: Vec<_> = reports.iter().map(|r| r.hersys_id.clone()).collect();
    reported.sort();
    reported.dedup();
    assert_eq!(reported.len(), PATIENTS, "{reports:#?}");
    db.finish().await;
}
