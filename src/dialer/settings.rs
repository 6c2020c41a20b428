//! The `[dialer]` section of the configuration file: engine-wide knobs only. Everything
//! a health centre decides (zone, slots, retry policy, calling hours) lives in the case
//! store's centre settings ([`crate::store::CentreSettings`]) and is combined with these
//! in [`super::PlanConfig::for_centre`].

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use super::DialerError;
use super::pacing::PacingConfig;
use super::stop::ReportCutoff;
use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialerSettings {
    /// Run the planner and workers in `kenkocall serve`.
    pub enabled: bool,
    /// A first attempt not started this long after its slot is dropped (never shorter
    /// than the centre's slot window).
    pub first_attempt_limit_minutes: i64,
    /// `off`, `since_slot` or `same_day`: which earlier report cancels a slot's call.
    pub skip_if_reported: ReportCutoff,
    /// Call starts per second on the trunk, counted across every node that dials it
    /// (`src/store/trunk.rs`), and by this node's own pacer.
    pub calls_per_second: f64,
    pub typical_call_seconds: i64,
    pub expected_attempts: f64,
    /// Job lease; the worker renews it while a call is up.
    pub lease_seconds: i64,
    /// Outbound calls this node's dialer places at once (also capped by `sip.max_calls`
    /// and `trunk.channels`).
    pub workers: usize,
    /// How often an idle worker looks for due jobs, in (real) milliseconds.
    pub poll_ms: u64,
    /// Virtual seconds per real second for tests and the demo: `60` runs a 15-minute
    /// retry offset in 15 s. `1` in production.
    pub time_scale: f64,
}

impl Default for DialerSettings {
    fn default() -> Self {
        let pacing = PacingConfig::default();
        Self {
            enabled: true,
            first_attempt_limit_minutes: 120,
            skip_if_reported: ReportCutoff::SinceSlot,
            calls_per_second: pacing.calls_per_second,
            typical_call_seconds: pacing.typical_call.num_seconds(),
            expected_attempts: pacing.expected_attempts,
            lease_seconds: 120,
            workers: 3000,
            poll_ms: 500,
            time_scale: 1.0,
        }
    }
}

impl DialerSettings {
    /// Refuses values the dialer cannot run with, naming the key.
    pub fn validate(&self) -> Result<(), DialerError> {
        let bad = |m: &str| Err(DialerError::InvalidPolicy(m.to_string()));
        // NaN must fail too, hence no plain `<= 0.0`.
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.calls_per_second) || self.typical_call_seconds <= 0 {
            return bad("calls_per_second and typical_call_seconds must be positive");
        }
        if !positive(self.expected_attempts) {
            return bad("expected_attempts must be positive");
        }
        if self.lease_seconds <= 0 {
            return bad("lease_seconds must be positive");
        }
        if self.first_attempt_limit_minutes <= 0 {
            return bad("first_attempt_limit_minutes must be positive");
        }
        if self.workers == 0 || self.poll_ms == 0 {
            return bad("workers and poll_ms must be at least 1");
        }
        if !positive(self.time_scale) {
            return bad("time_scale must be positive");
        }
        Ok(())
    }

    pub fn first_attempt_limit(&self) -> TimeDelta {
        TimeDelta::minutes(self.first_attempt_limit_minutes)
    }

    /// Pacing with the capacity caps of `cfg` (`sip.max_calls`, `trunk.channels`).
    pub fn pacing(&self, cfg: &Config) -> PacingConfig {
        PacingConfig {
            calls_per_second: self.calls_per_second,
            typical_call: TimeDelta::seconds(self.typical_call_seconds),
            expected_attempts: self.expected_attempts,
            ..PacingConfig::from_config(cfg)
        }
    }

    pub fn lease(&self) -> TimeDelta {
        TimeDelta::seconds(self.lease_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialer::PlanConfig;
    use crate::store::CentreSettings;

    #[test]
    fn defaults_with_the_default_centre_are_the_seed_defaults() {
        let p = PlanConfig::for_centre(
            &CentreSettings::default(),
            &DialerSettings::default(),
            &Config::defaults(),
        )
        .unwrap();
        let d = PlanConfig::default();
        assert_eq!(
            (p.tz, &p.retry, p.calling_hours),
            (d.tz, &d.retry, d.calling_hours)
        );
        assert_eq!(p.first_attempt_limit, TimeDelta::minutes(120));
        assert_eq!(p.window(), TimeDelta::minutes(60));
    }

    #[test]
    fn centre_values_come_from_the_store_settings() {
        let mut centre = CentreSettings {
            timezone: "Europe/London".into(),
            ..CentreSettings::default()
        };
        centre.retry.max_attempts = 2;
        let p = PlanConfig::for_centre(&centre, &DialerSettings::default(), &Config::defaults())
            .unwrap();
        assert_eq!(p.tz, chrono_tz::Europe::London);
        assert_eq!(p.retry.max_attempts, 2);
    }

    #[test]
    fn toml_section_parses_and_centre_keys_are_refused_here() {
        let s: DialerSettings =
            toml::from_str("skip_if_reported = \"same_day\"\ntime_scale = 60.0\n").unwrap();
        assert_eq!(s.skip_if_reported, ReportCutoff::SameDay);
        assert_eq!(s.time_scale, 60.0);
        // Per-centre values belong to the case store, not to the config file.
        let err = toml::from_str::<DialerSettings>("max_attempts = 2\n").unwrap_err();
        assert!(err.to_string().contains("max_attempts"), "{err}");
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let with = |f: fn(&mut DialerSettings)| {
            let mut s = DialerSettings::default();
            f(&mut s);
            s.validate()
        };
        assert!(with(|_| {}).is_ok());
        for f in [
            (|s: &mut DialerSettings| s.lease_seconds = 0) as fn(&mut DialerSettings),
            |s| s.calls_per_second = f64::NAN,
            |s| s.time_scale = 0.0,
            |s| s.workers = 0,
        ] {
            assert!(matches!(with(f), Err(DialerError::InvalidPolicy(_))));
        }
    }
}
