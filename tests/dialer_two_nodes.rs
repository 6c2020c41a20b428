//! Two engine nodes (each its own `Engine`, SIP port and connection pool, in one test
//! process) on one PostgreSQL and one trunk (simulated phones): every patient is dialled
//! exactly once per attempt, and when one node is killed mid-slot (all its dialer tasks
//! dropped, SIP stopped) the other takes its jobs back and finishes the slot.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use kenkocall::config::Config;
use kenkocall::demo::phones::{PhoneBehaviour, SimulatedPhones};
use kenkocall::demo::tones::KeyStep;
use kenkocall::dialer::node::{Clock, DialerNode};
use kenkocall::engine::Engine;
use kenkocall::store::{
    AttemptState, CallSlots, CentreSettings, ContactMethod, Language, NewPatient, ReportFilter,
    Store,
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

fn node_config(db_url: &str, sip_port: u16, rtp: &str) -> Config {
    let mut cfg = Config::defaults();
    cfg.database.url = db_url.to_string();
    cfg.sip.listen = SocketAddr::from(([127, 0, 0, 1], sip_port));
    cfg.sip.rtp_ports = rtp.into();
    cfg.sip.ring_timeout_secs = 10;
    cfg.trunk.uri = format!("sip:127.0.0.1:{PHONES_PORT}");
    cfg.ivr.prompts_dir = root().join("prompts");
    cfg.ivr.dialplans_dir = root().join("dialplans");
    cfg.dialer.lease_seconds = 3;
    cfg.dialer.poll_ms = 100;
    cfg.dialer.workers = 2;
    cfg
}

/// One engine node with its own connection pool on the shared database.
async fn node(name: &str, cfg: &Config, clock: Clock) -> (Engine, DialerNode) {
    let store = Store::connect(&cfg.database.url).await.unwrap();
    let engine = Engine::start(cfg, store.clone()).await.unwrap();
    let dialer = DialerNode::start(name, engine.clone(), store, cfg, clock).unwrap();
    (engine, dialer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_dial_each_attempt_once_and_a_survivor_finishes_the_slot() {
    let Some(db) = common::postgres().await else {
        return;
    };
    let store = db.store.clone();
    // A 09:00 slot on a real-speed clock that starts just before it, and a short
    // failed-call offset so a taken-back job is re-dialled within seconds.
    let tz = chrono_tz::Asia::Tokyo;
    let local = Utc::now().with_timezone(&tz);
    let mut centre = CentreSettings {
        default_slots: CallSlots::from_hours(&[9]).unwrap(),
        ..CentreSettings::default()
    };
    centre.retry.failed_delay = Duration::from_secs(2);
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

    let nine = tz
        .from_local_datetime(&today.and_hms_opt(9, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let clock = Clock::scaled(nine - TimeDelta::seconds(1), 1.0);
    let (engine_a, a) = node("node-a", &node_config(&db.url, 25480, "33100-33149"), clock).await;
    let (engine_b, b) = node("node-b", &node_config(&db.url, 25481, "33150-33199"), clock).await;
    let a_name = "node-a/";

    // Kill node a as soon as it has a call up.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let all = store.list_attempts(None).await.unwrap();
        let a_dialling = all.iter().any(|x| {
            x.state == AttemptState::Dialing
                && x.lease_owner
                    .as_deref()
                    .is_some_and(|o| o.starts_with(a_name))
        });
        if a_dialling {
            break;
        }
        assert!(Instant::now() < deadline, "node a never dialled: {all:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The crash: every task of node a's dialer (calls included) dropped at once, its SIP
    // gone; its leases are left to expire.
    a.kill();
    engine_a.shutdown().await;

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
        assert!(Instant::now() < deadline, "slot not finished: {all:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    b.shutdown().await;
    engine_b.shutdown().await;
    phones.shutdown().await;

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
