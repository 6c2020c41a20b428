//! Staff commands of the auto-call dialer: `calls`, `slots set`, `call-now`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use kenkocall::config::Config;
use kenkocall::dialer::node::attempt_outcome;
use kenkocall::store::{CallAttempt, CallRequest, CallSlots, Store};

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
    /// Place the call from this process (its own SIP on sip.listen) instead of asking a
    /// running node; only when no node runs with this configuration.
    #[arg(long)]
    pub standalone: bool,
    /// How long to wait for a running node to take the call (seconds).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub take_within: u64,
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

fn request_row(r: &CallRequest) -> String {
    format!(
        "{:<8} {} {:>5} {:>2} {:<10} {:<12} {:<20} {:<20} {:<12} {:<20} {}",
        r.hersys_id,
        r.requested_at.date_naive(),
        "now",
        "-",
        r.state,
        r.caller_line.as_deref().unwrap_or("-"),
        time(r.started_at),
        time(r.ended_at),
        r.outcome.map_or("-", |o| o.as_str()),
        r.detail.as_deref().unwrap_or("-"),
        r.sip_call_id.as_deref().unwrap_or("-"),
    )
}

pub async fn calls(args: &CallsArgs, store: &Store) -> anyhow::Result<ExitCode> {
    let attempts = store.list_attempts(args.patient.as_deref()).await?;
    let on_demand = store.list_call_requests(args.patient.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for a in &attempts {
            writeln!(out, "{}", serde_json::to_string(a)?)?;
        }
        for r in &on_demand {
            let mut v = serde_json::to_value(r)?;
            if let Some(o) = v.as_object_mut() {
                o.insert("kind".into(), "call_now".into());
            }
            writeln!(out, "{v}")?;
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
    // On-demand calls (`call-now`): "now" in the slot column, no attempt number.
    for r in &on_demand {
        writeln!(out, "{}", request_row(r))?;
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

/// Asks a running node to call the patient now (any node sharing the case store may
/// take it), waits for the outcome and prints it; `--standalone` places the call itself.
pub async fn call_now(args: &CallNowArgs, cfg: &Config, store: Store) -> anyhow::Result<ExitCode> {
    let patient = store
        .get_patient(&args.hersys_id)
        .await?
        .with_context(|| format!("no patient with HER-SYS ID {}", args.hersys_id))?;
    if args.standalone {
        return call_now_standalone(&patient, cfg, store).await;
    }
    let now = chrono::Utc::now();
    let takers = store
        .list_nodes()
        .await?
        .into_iter()
        .filter(|n| n.dialer && n.takes_calls(now))
        .count();
    if takers == 0 {
        anyhow::bail!(
            "no kenkocall node is running on this case store to place the call (no node with \
             the dialer has renewed its heartbeat in the last {} s, or all are draining); \
             start `kenkocall serve`, or place the call from here with \
             `kenkocall call-now --standalone {}`",
            super::node::NODE_LEASE.num_seconds(),
            args.hersys_id
        );
    }
    let id = store.request_call(patient.id, "cli", now).await?;
    let poll = std::time::Duration::from_millis(200);
    let take_by = tokio::time::Instant::now() + std::time::Duration::from_secs(args.take_within);
    let mut announced = false;
    let request = loop {
        let r = store.get_call_request(id).await?;
        if r.is_over() {
            break r;
        }
        if r.state == "pending" && tokio::time::Instant::now() > take_by {
            if store
                .cancel_call_request(id, "not_taken", chrono::Utc::now())
                .await?
            {
                anyhow::bail!(
                    "no node took the call within {} s (call request {} cancelled); check \
                     `kenkocall nodes`, or use --standalone",
                    args.take_within,
                    id.0
                );
            }
            continue;
        }
        if r.state == "dialing" {
            if !announced {
                eprintln!(
                    "node {} is calling (call request {})",
                    r.node.as_deref().unwrap_or("-"),
                    id.0
                );
                announced = true;
            }
            // The node died mid-call: nobody will record an outcome.
            if r.lease_until.is_some_and(|t| t < chrono::Utc::now()) {
                anyhow::bail!(
                    "node {} stopped during the call (call request {}); outcome unknown",
                    r.node.as_deref().unwrap_or("-"),
                    id.0
                );
            }
        }
        tokio::time::sleep(poll).await;
    };
    if request.state == "cancelled" {
        anyhow::bail!(
            "call request {} was cancelled before any node placed it ({})",
            id.0,
            request.detail.as_deref().unwrap_or("-")
        );
    }
    let outcome = request.outcome.map_or("-", |o| o.as_str());
    println!(
        "line {}: {outcome} (SIP Call-ID {}; node {})",
        request.caller_line.as_deref().unwrap_or("-"),
        request.sip_call_id.as_deref().unwrap_or("-"),
        request.node.as_deref().unwrap_or("-"),
    );
    if request.outcome == Some(kenkocall::store::AttemptOutcome::Failed) {
        eprintln!(
            "call failed: {}",
            request.detail.as_deref().unwrap_or("see the node's log")
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts an engine in this process, dials the patient once on a random configured line
/// and prints the result. Nothing is recorded as an attempt; answers given are saved.
async fn call_now_standalone(
    patient: &kenkocall::store::Patient,
    cfg: &Config,
    store: Store,
) -> anyhow::Result<ExitCode> {
    let line = {
        use rand::seq::IndexedRandom;
        cfg.caller_lines
            .choose(&mut rand::rng())
            .map(|l| l.number.clone())
            .context("no caller lines configured")?
    };
    let engine = kenkocall::engine::Engine::start(cfg, store).await.context(
        "cannot start the engine (is `kenkocall serve` running? then drop --standalone)",
    )?;
    let ring = std::time::Duration::from_secs(cfg.sip.ring_timeout_secs);
    let placed = engine
        .place_call(patient, &line, None, None, Default::default(), Some(ring))
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
