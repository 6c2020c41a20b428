use super::*;
use crate::dialer::pacing::PacingConfig;

fn config(patients: usize, channels: usize, seed: u64) -> SimConfig {
    SimConfig {
        patients,
        plan: PlanConfig {
            pacing: PacingConfig {
                trunk_channels: channels,
                ..PacingConfig::default()
            },
            ..PlanConfig::default()
        },
        lines: crate::config::Config::defaults().caller_lines,
        phones: PhoneBehaviour::default(),
        seed,
        date: "2026-11-22".parse().unwrap(),
        slot: CallSlot::new(9).unwrap(),
    }
}

fn assert_invariants(r: &SimReport, channels: usize) {
    assert_eq!(r.retries_past_window, 0, "{r:?}");
    assert_eq!(r.calls_outside_allowed_hours, 0, "{r:?}");
    assert_eq!(r.calls_on_unknown_lines, 0, "{r:?}");
    assert!(r.max_in_flight <= channels, "{r:?}");
    assert_eq!(
        r.attempts_per_job.iter().sum::<usize>(),
        r.jobs,
        "every job ends once"
    );
    assert_eq!(
        r.attempts_per_job
            .iter()
            .enumerate()
            .map(|(n, c)| n * c)
            .sum::<usize>(),
        r.attempts
    );
    assert_eq!(r.line_use.iter().map(|(_, c)| c).sum::<usize>(), r.attempts);
}

#[test]
fn slot_with_enough_channels_reaches_most_patients_inside_the_window() {
    let r = simulate(&config(2000, 200, 1)).unwrap();
    assert_invariants(&r, 200);
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.jobs, 2000);
    assert!(r.share(r.reached_in_window) > 0.85, "{r:?}");
    assert_eq!(r.reached, r.reached_in_window);
    assert!(r.mean_attempts() > 1.05 && r.mean_attempts() < 1.6, "{r:?}");
    assert!(
        r.attempts_per_job[3] > 0,
        "some patients need all three tries"
    );
    assert!(r.gave_up_exhausted > 0);
    assert!(r.makespan < TimeDelta::minutes(62), "{:?}", r.makespan);
    assert!(
        r.line_use.iter().all(|(_, c)| *c > r.attempts / 3),
        "{:?}",
        r.line_use
    );
}

#[test]
fn same_seed_same_run_other_seed_other_run() {
    let a = simulate(&config(500, 50, 9)).unwrap();
    let b = simulate(&config(500, 50, 9)).unwrap();
    let c = simulate(&config(500, 50, 10)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn overloaded_slot_warns_at_planning_and_still_never_retries_past_the_window() {
    let r = simulate(&config(3000, 20, 3)).unwrap();
    assert_invariants(&r, 20);
    assert!(matches!(
        r.warnings.as_slice(),
        [PlanWarning::WindowTooShort(_)]
    ));
    assert!(r.gave_up_past_window > 0, "{r:?}");
    // First attempts run on past the window (seed: "longer if many users"), retries do not.
    assert!(r.last_first_attempt > TimeDelta::minutes(60));
    assert!(r.last_first_attempt < TimeDelta::minutes(120));
    assert!(r.reached > r.reached_in_window);
}

#[test]
fn start_rate_caps_how_fast_channels_fill() {
    let mut cfg = config(400, 400, 4);
    cfg.plan.pacing.calls_per_second = 10.0;
    let r = simulate(&cfg).unwrap();
    assert_invariants(&r, 400);
    // 400 first attempts at 10 per second take about 40 s to start (burst of 10).
    assert!(
        r.last_first_attempt >= TimeDelta::seconds(38),
        "{:?}",
        r.last_first_attempt
    );
    assert!(
        r.last_first_attempt <= TimeDelta::seconds(41),
        "{:?}",
        r.last_first_attempt
    );
}
