//! Planning a slot: which patients get a job, keyed so that planning twice (or on two
//! nodes) creates nothing twice. The planner only computes; the store inserts with a
//! unique key on [`JobKey`] (`ON CONFLICT DO NOTHING`), see [`super::queue::JobQueue`].

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use super::DialerError;
use super::pacing::{PacingConfig, SlotPace};
use super::retry::delta;
use super::settings::DialerSettings;
use super::slots::{CallSlot, SlotInstant, calling_starts_on, within_calling_hours};
use super::stop::{StopConfig, StopReason, stop_reason};
use crate::config::Config;
pub use crate::store::{CallSlots, CallingHours, Channel, ContactMethod, PatientId, RetryPolicy};
use crate::store::{CentreSettings, Patient};

/// The latest health report of a patient, as far as the dialer needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastReport {
    pub at: DateTime<Utc>,
    pub channel: Channel,
}

/// What the dialer reads about a patient, at planning and again at claim time.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientSnapshot {
    pub id: PatientId,
    /// The patient's chosen slots (a subset of the centre's).
    pub slots: CallSlots,
    /// Observation period, local dates, both inclusive.
    pub observation_start: NaiveDate,
    pub observation_end: NaiveDate,
    /// Staff stopped the calls.
    pub stopped: bool,
    /// Someone answering pressed 9 (not the patient), or staff marked the number wrong.
    pub wrong_number: bool,
    pub contact: ContactMethod,
    pub last_report: Option<LastReport>,
}

/// One job per patient per local slot date and hour: the unique key in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobKey {
    pub patient: PatientId,
    pub date: NaiveDate,
    pub slot: CallSlot,
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{:02}",
            self.patient.0,
            self.date,
            self.slot.hour()
        )
    }
}

/// A job to insert; the store ignores it if the key already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedJob {
    pub key: JobKey,
    /// When the slot fired: the first attempt may start from here.
    pub slot_at: DateTime<Utc>,
}

/// Something staff should know about a slot, found while planning it.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanWarning {
    /// First attempts alone need longer than the window at this capacity.
    WindowTooShort(SlotPace),
    /// The slot hour is outside the allowed calling hours: nobody is called.
    SlotOutsideAllowedHours(SlotInstant),
}

impl fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanWarning::WindowTooShort(p) => write!(
                f,
                "slot window of {} min cannot be met: {} calls on {} channels need about {} min",
                p.window.num_minutes(),
                p.calls,
                p.channels,
                p.needed.num_minutes()
            ),
            PlanWarning::SlotOutsideAllowedHours(s) => write!(
                f,
                "slot {} on {} is outside the allowed calling hours; no calls planned",
                s.slot, s.date
            ),
        }
    }
}

/// Everything the planner and the claim check need for one centre: the centre's own
/// settings from the case store (zone, retry policy, calling hours) and the engine-wide
/// knobs from `[dialer]`. Built in one place, [`PlanConfig::for_centre`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfig {
    pub tz: Tz,
    pub retry: RetryPolicy,
    pub calling_hours: CallingHours,
    /// From the slot instant: a first attempt still not started by then is dropped. The
    /// seeds allow "longer if many users", so this is wider than the window by default.
    pub first_attempt_limit: TimeDelta,
    pub stop: StopConfig,
    pub pacing: PacingConfig,
}

impl Default for PlanConfig {
    fn default() -> Self {
        let centre = CentreSettings::default();
        let dialer = DialerSettings::default();
        Self {
            tz: chrono_tz::Asia::Tokyo,
            retry: centre.retry,
            calling_hours: centre.calling_hours,
            first_attempt_limit: dialer.first_attempt_limit(),
            stop: StopConfig::default(),
            pacing: PacingConfig::default(),
        }
    }
}

impl PlanConfig {
    /// The one conversion from the store's centre settings and the `[dialer]` section;
    /// capacity caps come from `cfg` (`sip.max_calls`, `trunk.channels`).
    pub fn for_centre(
        centre: &CentreSettings,
        dialer: &DialerSettings,
        cfg: &Config,
    ) -> Result<PlanConfig, DialerError> {
        dialer.validate()?;
        let tz = super::SlotSchedule::parse_tz(&centre.timezone)?;
        // The store's own rules for centre settings; no second copy here.
        centre
            .validate()
            .map_err(|e| DialerError::InvalidPolicy(e.to_string()))?;
        Ok(PlanConfig {
            tz,
            retry: centre.retry.clone(),
            calling_hours: centre.calling_hours,
            first_attempt_limit: dialer
                .first_attempt_limit()
                .max(delta(centre.retry.slot_window)),
            stop: StopConfig {
                already_reported: dialer.skip_if_reported,
            },
            pacing: dialer.pacing(cfg),
        })
    }

    /// The slot window: no retry starts at or after `slot + window`.
    pub fn window(&self) -> TimeDelta {
        delta(self.retry.slot_window)
    }

    pub fn calling_allowed(&self, at: DateTime<Utc>) -> bool {
        within_calling_hours(self.calling_hours, self.tz, at)
    }

    /// The instant calling opens on the local date of `at`.
    pub fn calling_opens_on(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        calling_starts_on(self.calling_hours, self.tz, at)
    }
}

impl PatientSnapshot {
    /// What the dialer reads from the store's patient row (and its latest report).
    pub fn from_patient(p: &Patient, last_report: Option<LastReport>) -> Self {
        PatientSnapshot {
            id: p.id,
            slots: p.call_slots,
            observation_start: p.observation_start,
            observation_end: p.observation_end,
            stopped: p.stopped_at.is_some(),
            wrong_number: p.wrong_number,
            contact: p.contact_method,
            last_report,
        }
    }
}

/// The outcome of planning one slot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub jobs: Vec<PlannedJob>,
    /// Patients who chose this slot but must not be called, with the reason.
    pub skipped: Vec<(PatientId, StopReason)>,
    pub warnings: Vec<PlanWarning>,
}

/// The jobs due at `slot`: patients who chose it and pass the stop rules at the slot
/// instant. Deterministic (sorted by key), so running it twice returns the same keys.
pub fn plan_slot<'a>(
    slot: &SlotInstant,
    patients: impl IntoIterator<Item = &'a PatientSnapshot>,
    cfg: &PlanConfig,
) -> Plan {
    let mut plan = Plan::default();
    if !cfg.calling_allowed(slot.at) {
        tracing::warn!(slot = %slot.slot, date = %slot.date, "slot outside allowed calling hours");
        plan.warnings
            .push(PlanWarning::SlotOutsideAllowedHours(*slot));
        return plan;
    }
    for p in patients {
        if !p.slots.contains(slot.slot.as_u8()) {
            continue;
        }
        match stop_reason(p, slot, slot.at, cfg.tz, &cfg.stop) {
            Some(reason) => plan.skipped.push((p.id, reason)),
            None => plan.jobs.push(PlannedJob {
                key: JobKey {
                    patient: p.id,
                    date: slot.date,
                    slot: slot.slot,
                },
                slot_at: slot.at,
            }),
        }
    }
    plan.jobs.sort_by_key(|j| j.key);
    plan.jobs.dedup_by_key(|j| j.key);
    let pace = SlotPace::estimate(plan.jobs.len(), &cfg.pacing, cfg.window());
    if !pace.fits() {
        tracing::warn!(
            calls = pace.calls,
            channels = pace.channels,
            needed_min = pace.needed.num_minutes(),
            window_min = pace.window.num_minutes(),
            "slot window cannot be met at this capacity"
        );
        plan.warnings.push(PlanWarning::WindowTooShort(pace));
    }
    plan
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
