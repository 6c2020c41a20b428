//! The dialer's settings as they would appear in the configuration file (`[dialer]`),
//! with every default from the seeds, turned into the typed [`PlanConfig`] and
//! [`SlotSchedule`]. Kept here until `config.rs` grows a `dialer` section that embeds it.

use chrono::{NaiveTime, TimeDelta};
use serde::{Deserialize, Serialize};

use super::DialerError;
use super::pacing::PacingConfig;
use super::plan::PlanConfig;
use super::retry::RetryPolicy;
use super::slots::{AllowedHours, SlotHours, SlotSchedule};
use super::stop::{ReportCutoff, StopConfig};
use crate::config::Config;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialerSettings {
    /// The health centre's IANA time zone.
    pub timezone: String,
    /// The centre's call slots, local hours: `"9,11,14,16"`.
    pub slots: SlotHours,
    pub window_minutes: i64,
    /// A first attempt not started this long after its slot is dropped.
    pub first_attempt_limit_minutes: i64,
    /// Local calling hours, `"HH:MM-HH:MM"`, end excluded.
    pub allowed_hours: String,
    pub retry_no_answer_minutes: i64,
    pub retry_busy_minutes: i64,
    pub retry_failed_minutes: i64,
    pub max_attempts: u32,
    /// `off`, `since_slot` or `same_day`: which earlier report cancels a slot's call.
    pub skip_if_reported: ReportCutoff,
    pub calls_per_second: f64,
    pub typical_call_seconds: i64,
    pub expected_attempts: f64,
    /// Job lease; the worker renews it while a call is up.
    pub lease_seconds: i64,
}

impl Default for DialerSettings {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        let pacing = PacingConfig::default();
        Self {
            timezone: "Asia/Tokyo".into(),
            slots: SlotHours::CENTRE_DEFAULT,
            window_minutes: retry.window.num_minutes(),
            first_attempt_limit_minutes: retry.first_attempt_limit.num_minutes(),
            allowed_hours: "08:00-20:00".into(),
            retry_no_answer_minutes: retry.no_answer.num_minutes(),
            retry_busy_minutes: retry.busy.num_minutes(),
            retry_failed_minutes: retry.failed.num_minutes(),
            max_attempts: retry.max_attempts,
            skip_if_reported: ReportCutoff::SinceSlot,
            calls_per_second: pacing.calls_per_second,
            typical_call_seconds: pacing.typical_call.num_seconds(),
            expected_attempts: pacing.expected_attempts,
            lease_seconds: 120,
        }
    }
}

fn parse_allowed(s: &str) -> Result<AllowedHours, DialerError> {
    let bad = || DialerError::InvalidAllowedHours {
        start: s.to_string(),
        end: "(expected HH:MM-HH:MM)".into(),
    };
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
    AllowedHours::new(t(a)?, t(b)?)
}

impl DialerSettings {
    /// The typed settings; capacity caps come from `cfg` (`sip.max_calls`, `trunk.channels`).
    pub fn plan_config(&self, cfg: &Config) -> Result<PlanConfig, DialerError> {
        let tz = SlotSchedule::parse_tz(&self.timezone)?;
        let retry = RetryPolicy {
            no_answer: TimeDelta::minutes(self.retry_no_answer_minutes),
            busy: TimeDelta::minutes(self.retry_busy_minutes),
            failed: TimeDelta::minutes(self.retry_failed_minutes),
            max_attempts: self.max_attempts,
            window: TimeDelta::minutes(self.window_minutes),
            first_attempt_limit: TimeDelta::minutes(self.first_attempt_limit_minutes),
            allowed: parse_allowed(&self.allowed_hours)?,
        };
        retry.validate()?;
        // NaN must fail too, hence no plain `<= 0.0`.
        let rate_ok = self.calls_per_second.is_finite() && self.calls_per_second > 0.0;
        if !rate_ok || self.typical_call_seconds <= 0 {
            return Err(DialerError::InvalidPolicy(
                "calls_per_second and typical_call_seconds must be positive".into(),
            ));
        }
        if self.lease_seconds <= 0 {
            return Err(DialerError::InvalidPolicy(
                "lease_seconds must be positive".into(),
            ));
        }
        Ok(PlanConfig {
            tz,
            retry,
            stop: StopConfig {
                already_reported: self.skip_if_reported,
            },
            pacing: PacingConfig {
                calls_per_second: self.calls_per_second,
                typical_call: TimeDelta::seconds(self.typical_call_seconds),
                expected_attempts: self.expected_attempts,
                ..PacingConfig::from_config(cfg)
            },
        })
    }

    /// The centre's slot schedule as configured (staff changes are added at run time).
    pub fn schedule(&self) -> Result<SlotSchedule, DialerError> {
        Ok(SlotSchedule::new(
            SlotSchedule::parse_tz(&self.timezone)?,
            self.slots,
        ))
    }

    pub fn lease(&self) -> TimeDelta {
        TimeDelta::seconds(self.lease_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed_defaults() {
        let s = DialerSettings::default();
        assert_eq!(
            s.plan_config(&Config::defaults()).unwrap(),
            PlanConfig::default()
        );
        assert_eq!(s.schedule().unwrap(), SlotSchedule::tokyo_default());
    }

    #[test]
    fn toml_section_parses_and_unknown_keys_are_refused() {
        let s: DialerSettings = toml::from_str(
            "timezone = \"Europe/London\"\nslots = \"9,14\"\nallowed_hours = \"09:00-18:30\"\n\
             skip_if_reported = \"same_day\"\nmax_attempts = 2\n",
        )
        .unwrap();
        let p = s.plan_config(&Config::defaults()).unwrap();
        assert_eq!(p.tz, chrono_tz::Europe::London);
        assert_eq!(p.retry.max_attempts, 2);
        assert_eq!(p.stop.already_reported, ReportCutoff::SameDay);
        assert_eq!(s.slots.to_string(), "9,14");
        let err = toml::from_str::<DialerSettings>("max_atempts = 2\n").unwrap_err();
        assert!(err.to_string().contains("max_atempts"), "{err}");
        assert!(toml::from_str::<DialerSettings>("slots = \"9,25\"\n").is_err());
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let cfg = Config::defaults();
        let with = |f: fn(&mut DialerSettings)| {
            let mut s = DialerSettings::default();
            f(&mut s);
            s.plan_config(&cfg)
        };
        assert!(matches!(
            with(|s| s.timezone = "Mars/Base".into()),
            Err(DialerError::UnknownTimeZone(_))
        ));
        assert!(matches!(
            with(|s| s.allowed_hours = "20:00-08:00".into()),
            Err(DialerError::InvalidAllowedHours { .. })
        ));
        assert!(matches!(
            with(|s| s.allowed_hours = "8-20".into()),
            Err(DialerError::InvalidAllowedHours { .. })
        ));
        assert!(matches!(
            with(|s| s.max_attempts = 0),
            Err(DialerError::InvalidPolicy(_))
        ));
        assert!(matches!(
            with(|s| s.lease_seconds = 0),
            Err(DialerError::InvalidPolicy(_))
        ));
    }
}
