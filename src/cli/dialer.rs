//! Staff commands of the auto-call dialer: `calls`, `slots set`, `call-now`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use kenkocall::config::Config;
use kenkocall::dialer::node::attempt_outcome;
use kenkocall::store::{CallAttempt, CallSlots, Store};

#[derive(Debug, Args)]
pub struct CallsArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only this patient's attempts.
    #[arg(long, value_name = "HERSYS_ID")]
    pub patient: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SlotsCommand {
    /// Set a health centre's default call slots (local hours), e.g. `9,11,14,16`. Applies
    /// from the next slot; patients who chose their own slots keep them.
    Set {
        /// The health centre's name.
        #[arg(long, value_name = "NAME")]
        centre: String,
        /// Hours 0-23 separated by commas.
        slots: String,
    },
}

#[derive(Debug, Args)]
pub struct CallNowArgs {
    /// The patient to call once now, outside the schedule (to test a number).
    pub hersys_id: String,
}

/// Parses a staff slot list such as `9,11,14,16`.
pub fn parse_slots(text: &str) -> anyhow::Result<CallSlots> {
    CallSlots::parse(text).with_context(|| format!("call slots {text:?}"))
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or("-".into(), |t| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}

fn row(a: &CallAttempt) -> String {
    format!(
        "{:<8} {} {:>2}:00 {:>2} {:<10} {:<12} {:<20} {:<20} {:<12} {:<20} {}",
        a.hersys_id,
        a.slot_date,
        a.slot_hour,
        a.attempt_no,
        a.state.as_str(),
        a.caller_line.as_deref().unwrap_or("-"),
        time(a.started_at),
        time(a.ended_at),
        a.outcome.map_or("-", |o| o.as_str()),
        a.detail.as_deref().unwrap_or("-"),
        a.sip_call_id.as_deref().unwrap_or("-"),
    )
}

pub async fn calls(args: &CallsArgs, store: &Store) -> anyhow::Result<ExitCode> {
    let attempts = store.list_attempts(args.patient.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for a in &attempts {
            writeln!(out, "{}", serde_json::to_string(a)?)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<8} {:<10} {:>5} {:>2} {:<10} {:<12} {:<20} {:<20} {:<12} {:<20} SIP Call-ID",
        "hersys",
        "date",
        "slot",
        "#",
        "state",
        "caller line",
        "started",
        "ended",
        "outcome",
        "detail"
    )?;
    for a in &attempts {
        writeln!(out, "{}", row(a))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn slots(cmd: &SlotsCommand, store: &Store) -> anyhow::Result<ExitCode> {
    match cmd {
        SlotsCommand::Set { centre, slots } => {
            let slots = parse_slots(slots)?;
            let c = store.set_centre_slots(centre, slots, "cli").await?;
            println!(
                "health centre {:?}: default call slots {}",
                c.name, c.settings.default_slots
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Starts the engine, dials the patient once on a random configured line and prints the
/// result. Nothing is recorded as a slot attempt; answers given are saved as usual.
pub async fn call_now(args: &CallNowArgs, cfg: &Config, store: Store) -> anyhow::Result<ExitCode> {
    let patient = store
        .get_patient(&args.hersys_id)
        .await?
        .with_context(|| format!("no patient with HER-SYS ID {}", args.hersys_id))?;
    let line = {
        use rand::seq::IndexedRandom;
        cfg.caller_lines
            .choose(&mut rand::rng())
            .map(|l| l.number.clone())
            .context("no caller lines configured")?
    };
    let engine = kenkocall::engine::Engine::start(cfg, store)
        .await
        .context("cannot start the engine")?;
    let ring = std::time::Duration::from_secs(cfg.sip.ring_timeout_secs);
    let placed = engine
        .place_call(&patient, &line, None, None, Default::default(), Some(ring))
        .await;
    let outcome = attempt_outcome(&placed);
    engine.shutdown().await;
    let call_id = placed
        .as_ref()
        .map_or("-".to_string(), |p| p.sip_call_id.clone());
    println!("line {line}: {outcome} (SIP Call-ID {call_id})");
    if let Err(e) = placed {
        eprintln!("call failed: {e}");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
