//! `kenkocall demo`: the whole system on one machine, no configuration needed. An
//! embedded SQLite case store in a temporary directory, the engine (SIP, media, IVR), the
//! dialer on a compressed clock, and built-in simulated phones behind a loopback trunk
//! ([`phones`]). One 09:00 slot runs against six scripted patients (healthy, urgent, pulse
//! line, busy then answered on retry, never answering, wrong number) while a household
//! dials the health-call line and reports for two people in one call.

pub mod phones;
mod table;
pub mod tones;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};

use crate::config::Config;
use crate::dialer::DialerError;
use crate::dialer::node::{Clock, DialerNode};
use crate::engine::{Engine, EngineError};
use crate::media::MediaError;
use crate::sip::SipError;
use crate::store::{
    AttemptState, CallAttempt, CallSlots, ContactMethod, HealthReport, Language, NewPatient,
    ReportFilter, Store, StoreError,
};
use phones::{PhoneBehaviour, SimulatedPhones};
use tones::KeyStep;

pub use table::print_tables;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("case store: {0}")]
    Store(#[from] StoreError),
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    #[error("SIP: {0}")]
    Sip(#[from] SipError),
    #[error("media: {0}")]
    Media(#[from] MediaError),
    #[error("dialer: {0}")]
    Dialer(#[from] DialerError),
    #[error("demo setup: {0}")]
    Setup(String),
    #[error("the demo slot did not finish within {0} s")]
    Timeout(u64),
}

/// Knobs for tests; the defaults are what `kenkocall demo` runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Virtual seconds per real second (120: a 15-minute retry offset takes 7.5 s).
    pub time_scale: f64,
    /// Give up after this long (real time).
    pub deadline: Duration,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            time_scale: 120.0,
            deadline: Duration::from_secs(100),
        }
    }
}

/// What the demo left in the case store.
#[derive(Debug, Clone)]
pub struct DemoOutcome {
    pub attempts: Vec<CallAttempt>,
    pub reports: Vec<HealthReport>,
    /// The SIP result of the household's health-call.
    pub inbound_result: String,
    pub elapsed: Duration,
    /// Each sample patient's role in the demo and language, by HER-SYS ID.
    pub scenarios: std::collections::BTreeMap<String, String>,
}

/// One sample patient and how their phone behaves.
struct Sample {
    scenario: &'static str,
    hersys_id: &'static str,
    name: &'static str,
    birth: &'static str,
    phone: &'static str,
    language: Language,
    contact: ContactMethod,
    phone_does: Option<PhoneBehaviour>,
}

/// `1` to start, temperature with read-back, SpO2 (`#` ends it) with read-back, nine
/// symptoms (`2` = no), with pauses as a person listening would leave.
fn questionnaire(spo2: &'static str) -> Vec<KeyStep> {
    vec![
        KeyStep::Keys("1"),
        KeyStep::Pause(700),
        KeyStep::Keys("365"),
        KeyStep::Pause(500),
        KeyStep::Keys("1"),
        KeyStep::Pause(500),
        KeyStep::Keys(spo2),
        KeyStep::Pause(500),
        KeyStep::Keys("1"),
        KeyStep::Pause(500),
        KeyStep::Keys("222222222"),
    ]
}

fn samples() -> Vec<Sample> {
    let auto = |scenario, hersys_id, name, birth, phone, language, does| Sample {
        scenario,
        hersys_id,
        name,
        birth,
        phone,
        language,
        contact: ContactMethod::AutoCall,
        phone_does: Some(does),
    };
    let mut pulse = vec![KeyStep::Keys("*"), KeyStep::Pause(400)];
    pulse.extend(questionnaire("97#"));
    vec![
        auto(
            "healthy",
            "1000001",
            "Sato Haruko",
            "1950-03-05",
            "09011110001",
            Language::Ja,
            PhoneBehaviour::Answer(questionnaire("97#")),
        ),
        auto(
            "urgent (SpO2 91)",
            "1000002",
            "Ana Souza",
            "1961-07-14",
            "09011110002",
            Language::Pt,
            PhoneBehaviour::Answer(questionnaire("91#")),
        ),
        auto(
            "pulse line (* first)",
            "1000003",
            "Wang Fang",
            "1948-12-01",
            "09011110003",
            Language::Zh,
            PhoneBehaviour::Answer(pulse),
        ),
        auto(
            "busy, then answers",
            "1000004",
            "Kim Minji",
            "1972-01-20",
            "09011110004",
            Language::Ko,
            PhoneBehaviour::BusyThenAnswer(questionnaire("98#")),
        ),
        auto(
            "never answers",
            "1000005",
            "Nguyen Van An",
            "1985-05-30",
            "09011110005",
            Language::Vi,
            PhoneBehaviour::NeverAnswer,
        ),
        auto(
            "wrong number (9)",
            "1000006",
            "John Smith",
            "1979-09-09",
            "09011110006",
            Language::En,
            PhoneBehaviour::Answer(vec![KeyStep::Keys("9")]),
        ),
        Sample {
            scenario: "health-call person 1",
            hersys_id: "1000007",
            name: "Tanaka Ichiro",
            birth: "1955-04-07",
            phone: "09011110007",
            language: Language::Ja,
            contact: ContactMethod::HealthCall,
            phone_does: None,
        },
        Sample {
            scenario: "health-call person 2",
            hersys_id: "1000008",
            name: "Tanaka Yoko",
            birth: "1957-11-23",
            phone: "09011110007",
            language: Language::Ja,
            contact: ContactMethod::HealthCall,
            phone_does: None,
        },
    ]
}

/// The household's health-call: Japanese, then two people each with ID, birthday and
/// the questions; `1` for another person, `2` to finish.
fn household_script() -> Vec<KeyStep> {
    let person = |id: &'static str, mmdd: &'static str, temp: &'static str| {
        vec![
            KeyStep::Keys(id),
            KeyStep::Keys("#"),
            KeyStep::Pause(300),
            KeyStep::Keys(mmdd),
            KeyStep::Pause(1500),
            KeyStep::Keys(temp),
            KeyStep::Pause(500),
            KeyStep::Keys("1"),
            KeyStep::Pause(500),
            KeyStep::Keys("96#"),
            KeyStep::Pause(500),
            KeyStep::Keys("1"),
            KeyStep::Pause(500),
            KeyStep::Keys("222222222"),
            KeyStep::Pause(1200),
        ]
    };
    let mut s = vec![KeyStep::Keys("1"), KeyStep::Pause(800)];
    s.extend(person("1000007", "0407", "368"));
    s.extend([KeyStep::Keys("1"), KeyStep::Pause(800)]);
    s.extend(person("1000008", "1123", "377"));
    s.push(KeyStep::Keys("2"));
    s
}

/// A free loopback port for both UDP and TCP (SIP listens on both).
fn free_port() -> Result<u16, DemoError> {
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0")
            .map_err(|e| DemoError::Setup(format!("no free UDP port: {e}")))?;
        let port = udp
            .local_addr()
            .map_err(|e| DemoError::Setup(e.to_string()))?
            .port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(DemoError::Setup("no port free for both UDP and TCP".into()))
}

/// Where the shipped `prompts`/`dialplans` are: `$KENKOCALL_<DIR>_DIR` (set by the Docker
/// image), else relative to the working directory, else the source tree this was built from.
fn shipped(dir: &str, env: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env)
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
    {
        return p;
    }
    let here = Path::new(dir);
    if here.is_dir() {
        here.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
    }
}

/// An RTP range unlikely to be in use, different for each run of the process.
fn rtp_range(offset: u16) -> String {
    let base = 32000 + (std::process::id() % 200) as u16 * 100 + offset;
    format!("{base}-{}", base + 49)
}

/// The demo's configuration: defaults, loopback, SQLite in `dir`, compressed time.
fn demo_config(dir: &Path, phones_port: u16, opts: &DemoOptions) -> Config {
    let mut cfg = Config::defaults();
    cfg.database.url = format!("sqlite://{}", dir.join("kenkocall-demo.db").display());
    cfg.sip.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    cfg.sip.rtp_ports = rtp_range(0);
    cfg.sip.ring_timeout_secs = 4;
    cfg.trunk.uri = format!("sip:127.0.0.1:{phones_port}");
    cfg.ivr.prompts_dir = shipped("prompts", "KENKOCALL_PROMPTS_DIR");
    cfg.ivr.dialplans_dir = shipped("dialplans", "KENKOCALL_DIALPLANS_DIR");
    cfg.dialer.time_scale = opts.time_scale;
    cfg.dialer.poll_ms = 100;
    cfg.dialer.workers = 8;
    cfg.dialer.lease_seconds = 600;
    cfg
}

async fn enrol(store: &Store, today: NaiveDate) -> Result<(), DemoError> {
    for s in samples() {
        let p = NewPatient {
            hersys_id: s.hersys_id.into(),
            name: s.name.into(),
            birth_date: s
                .birth
                .parse()
                .map_err(|_| DemoError::Setup("birth".into()))?,
            phone: s.phone.into(),
            language: s.language,
            health_centre: "Minato Health Centre".into(),
            observation_start: today - TimeDelta::days(3),
            observation_end: today + TimeDelta::days(7),
            contact_method: s.contact,
            call_slots: Some(
                CallSlots::from_hours(&[9]).map_err(|e| DemoError::Setup(e.to_string()))?,
            ),
        };
        store.insert_patient(&p, "demo", Utc::now()).await?;
    }
    Ok(())
}

/// Runs the demo in `dir` (a fresh directory) and returns what the store holds after.
pub async fn run_demo(dir: &Path, opts: &DemoOptions) -> Result<DemoOutcome, DemoError> {
    let started = Instant::now();
    let phones_port = free_port()?;
    let cfg = demo_config(dir, phones_port, opts);
    let store = Store::connect(&cfg.database.url).await?;
    store.migrate().await?;

    // The slot: today's 09:00 in Tokyo, starting two virtual seconds before it.
    let tz = chrono_tz::Asia::Tokyo;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let nine = today.and_time(NaiveTime::MIN) + TimeDelta::hours(9);
    let slot_at = tz
        .from_local_datetime(&nine)
        .earliest()
        .ok_or_else(|| DemoError::Setup("09:00 does not exist today".into()))?
        .with_timezone(&Utc);
    enrol(&store, today).await?;

    let engine = Engine::start(&cfg, store.clone()).await?;
    let behaviours: HashMap<String, PhoneBehaviour> = samples()
        .into_iter()
        .filter_map(|s| Some((s.phone.to_string(), s.phone_does?)))
        .collect();
    let phones = SimulatedPhones::start(
        SocketAddr::from(([127, 0, 0, 1], phones_port)),
        &rtp_range(50),
        format!("sip:{}", engine.sip_addr()),
        behaviours,
    )
    .await?;
    let clock = Clock::scaled(slot_at - TimeDelta::seconds(2), opts.time_scale);
    let dialer = DialerNode::start("demo", engine.clone(), store.clone(), &cfg, clock)?;

    let household = {
        let phones = phones.clone();
        let to = cfg.sip.inbound_numbers.first().cloned().unwrap_or_default();
        tokio::spawn(async move { phones.call(&to, "09011110007", household_script()).await })
    };

    let outcome = wait_for_slot(&store, &household, opts.deadline).await;
    dialer.shutdown().await;
    let inbound_result = match household.await {
        Ok(Ok(label)) => label.to_string(),
        Ok(Err(e)) => format!("error: {e}"),
        Err(e) => format!("error: {e}"),
    };
    phones.shutdown().await;
    engine.shutdown().await;
    outcome?;
    let out = DemoOutcome {
        attempts: store.list_attempts(None).await?,
        reports: store.list_reports(&ReportFilter::default()).await?,
        inbound_result,
        elapsed: started.elapsed(),
        scenarios: samples()
            .iter()
            .map(|s| {
                (
                    s.hersys_id.to_string(),
                    format!("{} {}", s.language, s.scenario),
                )
            })
            .collect(),
    };
    store.close().await;
    Ok(out)
}

/// Until every planned job has ended and the health-call is over.
async fn wait_for_slot<T>(
    store: &Store,
    household: &tokio::task::JoinHandle<T>,
    deadline: Duration,
) -> Result<(), DemoError> {
    let until = Instant::now() + deadline;
    let auto_patients = samples().iter().filter(|s| s.phone_does.is_some()).count();
    loop {
        let attempts = store.list_attempts(None).await?;
        let mut patients: Vec<_> = attempts.iter().map(|a| a.patient_id).collect();
        patients.sort();
        patients.dedup();
        let open = attempts
            .iter()
            .any(|a| !matches!(a.state, AttemptState::Finished | AttemptState::Cancelled));
        if patients.len() == auto_patients && !open && household.is_finished() {
            return Ok(());
        }
        if Instant::now() > until {
            return Err(DemoError::Timeout(deadline.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
