//! End to end: the engine's dialer calls real `sipp` phones through a loopback trunk
//! (one sipp answering per dialled number: keys by RFC 4733, 486, never answers), on a
//! compressed clock, and the case store shows the reports and every attempt with its
//! retry offsets. Needs `sipp` (Debian `sip-tester`) and root (pcap replay).

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use kenkocall::config::Config;
use kenkocall::dialer::node::{Clock, DialerNode};
use kenkocall::engine::Engine;
use kenkocall::store::{
    AttemptOutcome, AttemptState, CallAttempt, CallSlots, Channel, ContactMethod, Language,
    NewPatient, ReportFilter, Store,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const SIPP_PORT: u16 = 25461;
const SIPP_MEDIA: u16 = 26461;

fn node_config(db_url: &str, sip_port: u16, rtp: &str, scale: f64) -> Config {
    let mut cfg = Config::defaults();
    cfg.database.url = db_url.to_string();
    cfg.sip.listen = SocketAddr::from(([127, 0, 0, 1], sip_port));
    cfg.sip.rtp_ports = rtp.into();
    cfg.sip.ring_timeout_secs = 3;
    cfg.trunk.uri = format!("sip:127.0.0.1:{SIPP_PORT}");
    cfg.ivr.prompts_dir = root().join("prompts");
    cfg.ivr.dialplans_dir = root().join("dialplans");
    cfg.dialer.time_scale = scale;
    cfg.dialer.poll_ms = 100;
    cfg.dialer.workers = 4;
    cfg.dialer.lease_seconds = 120;
    cfg
}

async fn enrol(store: &Store, id: &str, phone: &str, today: chrono::NaiveDate) {
    let p = NewPatient {
        hersys_id: id.into(),
        name: "Test Patient".into(),
        birth_date: "1950-01-01".parse().unwrap(),
        phone: phone.into(),
        language: Language::Ja,
        health_centre: "Minato".into(),
        observation_start: today - TimeDelta::days(2),
        observation_end: today + TimeDelta::days(5),
        contact_method: ContactMethod::AutoCall,
        call_slots: Some(CallSlots::from_hours(&[9]).unwrap()),
    };
    store.insert_patient(&p, "test", Utc::now()).await.unwrap();
}

fn of<'a>(all: &'a [CallAttempt], id: &str) -> Vec<&'a CallAttempt> {
    all.iter().filter(|a| a.hersys_id == id).collect()
}

fn gap_secs(a: &[&CallAttempt], n: usize) -> i64 {
    (a[n].started_at.unwrap() - a[n - 1].ended_at.unwrap()).num_seconds()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dialer_calls_sipp_phones_and_records_reports_and_retries() {
    let db = common::sqlite().await;
    let store = db.store.clone();
    let tz = chrono_tz::Asia::Tokyo;
    let today = Utc::now().with_timezone(&tz).date_naive();
    enrol(&store, "2000001", "09022220001", today).await;
    enrol(&store, "2000002", "09022220002", today).await;
    enrol(&store, "2000003", "09022220003", today).await;

    let dir = tempfile::tempdir().unwrap();
    let pcap = root().join("tests/data/dtmf4733_outbound_answers.pcap");
    let mut sipp = Command::new("sipp")
        .current_dir(dir.path())
        .arg("-sf")
        .arg(root().join("tests/sip/uas_per_number.xml"))
        .args(["-i", "127.0.0.1", "-p", &SIPP_PORT.to_string()])
        .args(["-mp", &SIPP_MEDIA.to_string(), "-m", "7"])
        .args(["-nostdin", "-trace_err", "-key", "pcap"])
        .arg(&pcap)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp must be installed: apt-get install -y sip-tester");

    // 120x: the 15-minute no-answer offset takes 7.5 s; the slot starts in 1 virtual s.
    let cfg = node_config(&db.url, 25470, "33000-33049", 120.0);
    let nine = tz
        .from_local_datetime(&(today.and_hms_opt(9, 0, 0).unwrap()))
        .unwrap()
        .with_timezone(&Utc);
    let engine = Engine::start(&cfg, store.clone()).await.unwrap();
    let clock = Clock::scaled(nine - TimeDelta::seconds(1), 120.0);
    let dialer = DialerNode::start("e2e", engine.clone(), store.clone(), &cfg, clock).unwrap();

    let deadline = Instant::now() + Duration::from_secs(90);
    let attempts = loop {
        let all = store.list_attempts(None).await.unwrap();
        let open = all
            .iter()
            .any(|a| !matches!(a.state, AttemptState::Finished | AttemptState::Cancelled));
        if all.len() >= 7 && !open {
            break all;
        }
        assert!(Instant::now() < deadline, "slot not finished: {all:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    dialer.shutdown().await;
    engine.shutdown().await;
    let sipp_done = tokio::task::spawn_blocking(move || {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(s)) = sipp.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = sipp.kill();
        let _ = sipp.wait();
        None
    })
    .await
    .unwrap();

    let answered = of(&attempts, "2000001");
    assert_eq!(answered.len(), 1, "{answered:#?}");
    assert_eq!(answered[0].outcome, Some(AttemptOutcome::Completed));
    let busy = of(&attempts, "2000002");
    let outcomes: Vec<_> = busy.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, vec![Some(AttemptOutcome::Busy); 3]);
    assert_eq!(busy[2].detail.as_deref(), Some("attempts_exhausted"));
    let silent = of(&attempts, "2000003");
    let outcomes: Vec<_> = silent.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, vec![Some(AttemptOutcome::NoAnswer); 3]);
    // Retries at the centre's offsets on the compressed clock (a little scheduling slack).
    for n in 1..3 {
        assert!(
            (300..330).contains(&gap_secs(&busy, n)),
            "{}",
            gap_secs(&busy, n)
        );
        assert!(
            (900..930).contains(&gap_secs(&silent, n)),
            "{}",
            gap_secs(&silent, n)
        );
    }
    for a in &attempts {
        let line = a.caller_line.as_deref().unwrap();
        assert!(["05031980215", "05033110008"].contains(&line), "{line}");
        assert!(a.sip_call_id.is_some(), "{a:?}");
    }
    let reports = store.list_reports(&ReportFilter::default()).await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(
        (
            r.hersys_id.as_str(),
            r.channel,
            r.temperature_c,
            r.spo2,
            r.complete
        ),
        ("2000001", Channel::AutoCall, Some(36.5), Some(97), true)
    );
    assert_eq!(r.symptoms.len(), 9);
    assert!(r.symptoms.values().all(|yes| !yes));
    assert_eq!(r.attempt_id, Some(answered[0].id));
    assert!(
        sipp_done.is_some_and(|s| s.success()),
        "sipp: {sipp_done:?}"
    );
    db.finish().await;
}
