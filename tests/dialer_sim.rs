//! The bench scenario at full size, for its invariants (figures are in BENCHMARKS.md).

use kenkocall::config::Config;
use kenkocall::dialer::sim::{PhoneBehaviour, SimConfig, simulate};
use kenkocall::dialer::{CallSlot, PlanConfig, PlanWarning};

#[test]
fn hundred_thousand_patient_slot_on_2600_channels_keeps_every_rule() {
    let cfg = SimConfig {
        patients: 100_000,
        plan: PlanConfig::default(),
        lines: Config::defaults().caller_lines,
        phones: PhoneBehaviour::default(),
        seed: 1,
        date: "2026-11-22".parse().unwrap(),
        slot: CallSlot::new(9).unwrap(),
    };
    let r = simulate(&cfg).unwrap();
    assert_eq!(r.jobs, 100_000);
    assert!(matches!(
        r.warnings.as_slice(),
        [PlanWarning::WindowTooShort(_)]
    ));
    assert_eq!(r.max_in_flight, 2600, "the trunk is full but never over");
    assert_eq!(
        (
            r.retries_past_window,
            r.calls_outside_allowed_hours,
            r.calls_on_unknown_lines
        ),
        (0, 0, 0)
    );
    assert_eq!(r.attempts_per_job[0], 0, "everyone gets a first attempt");
    assert!(r.attempts_per_job.len() == 4, "never more than 3 attempts");
    assert!(r.share(r.reached_in_window) > 0.6, "{r:?}");
    for (number, calls) in &r.line_use {
        assert!(
            *calls > r.attempts * 45 / 100,
            "{number}: {calls} of {}",
            r.attempts
        );
    }
}
