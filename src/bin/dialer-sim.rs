//! Simulation bench for the dialer: one slot on a virtual clock against simulated phones.
//! `cargo run --release --bin dialer-sim -- --patients 100000 --channels 2600`

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use kenkocall::config::Config;
use kenkocall::dialer::sim::{PhoneBehaviour, SimConfig, simulate};
use kenkocall::dialer::{CallSlot, PacingConfig, PlanConfig};

#[derive(Debug, Parser)]
#[command(about = "Simulate one auto-call slot on a virtual clock")]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    patients: usize,
    /// Trunk channels.
    #[arg(long, default_value_t = 2600)]
    channels: usize,
    /// Node-wide concurrent-call cap.
    #[arg(long, default_value_t = 3000)]
    global_cap: usize,
    /// New calls per second at most.
    #[arg(long, default_value_t = 100.0)]
    cps: f64,
    /// Slot window in minutes.
    #[arg(long, default_value_t = 60)]
    window_min: i64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Local slot hour (Asia/Tokyo).
    #[arg(long, default_value_t = 9)]
    slot: u32,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let slot = match CallSlot::new(args.slot) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("dialer-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let mut plan = PlanConfig {
        pacing: PacingConfig {
            global_cap: args.global_cap,
            trunk_channels: args.channels,
            calls_per_second: args.cps,
            ..PacingConfig::default()
        },
        ..PlanConfig::default()
    };
    let window = chrono::TimeDelta::minutes(args.window_min);
    plan.retry.slot_window = window.to_std().unwrap_or_default();
    plan.first_attempt_limit = plan.first_attempt_limit.max(window);
    let cfg = SimConfig {
        patients: args.patients,
        plan,
        lines: Config::defaults().caller_lines,
        phones: PhoneBehaviour::default(),
        seed: args.seed,
        date: chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap_or_default(),
        slot,
    };
    let started = Instant::now();
    let r = match simulate(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dialer-sim: {e}");
            return ExitCode::from(2);
        }
    };
    let wall = started.elapsed();
    let pct = |n: usize| 100.0 * r.share(n);
    let mins = |d: chrono::TimeDelta| d.num_milliseconds() as f64 / 60_000.0;
    println!(
        "patients {}  channels {}  global cap {}  cps {}  window {} min  seed {}",
        args.patients, args.channels, args.global_cap, args.cps, args.window_min, args.seed
    );
    for w in &r.warnings {
        println!("plan warning: {w}");
    }
    println!(
        "makespan (slot to last call end)   {:.1} min",
        mins(r.makespan)
    );
    println!(
        "last first attempt started at      {:.1} min",
        mins(r.last_first_attempt)
    );
    println!(
        "reached within the window          {:.1} %",
        pct(r.reached_in_window)
    );
    println!("reached in all                     {:.1} %", pct(r.reached));
    println!(
        "wrong number                       {:.2} %",
        pct(r.wrong_number)
    );
    println!(
        "gave up: attempts used {:.1} %, past window {:.1} %, outside hours {:.1} %",
        pct(r.gave_up_exhausted),
        pct(r.gave_up_past_window),
        pct(r.gave_up_outside_hours)
    );
    println!(
        "attempts per patient (mean)        {:.3}",
        r.mean_attempts()
    );
    let hist: Vec<String> = r
        .attempts_per_job
        .iter()
        .enumerate()
        .map(|(n, c)| format!("{n}: {:.1} %", pct(*c)))
        .collect();
    println!("attempts used per patient          {}", hist.join(", "));
    println!(
        "mean channel time per attempt      {:.1} s",
        r.mean_hold.num_milliseconds() as f64 / 1000.0
    );
    println!("peak concurrent calls              {}", r.max_in_flight);
    let lines: Vec<String> = r.line_use.iter().map(|(n, c)| format!("{n} {c}")).collect();
    println!("calls per caller line              {}", lines.join(", "));
    println!(
        "invariants (must be 0): retries past window {}, outside hours {}, unknown lines {}",
        r.retries_past_window, r.calls_outside_allowed_hours, r.calls_on_unknown_lines
    );
    println!("events {}  wall time {:.2} s", r.events, wall.as_secs_f64());
    if r.retries_past_window + r.calls_outside_allowed_hours + r.calls_on_unknown_lines > 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
