//! Planning a slot: which patients get a job, keyed so that planning twice (or on two
//! nodes) creates nothing twice. The planner only computes; the store inserts with a
//! unique key on [`JobKey`] (`ON CONFLICT DO NOTHING`), see [`super::queue::JobQueue`].

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::pacing::{PacingConfig, SlotPace};
use super::retry::RetryPolicy;
use super::slots::{CallSlot, SlotHours, SlotInstant};
use super::stop::{StopConfig, StopReason, stop_reason};

/// The case store's patient id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PatientId(pub i64);

impl fmt::Display for PatientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How the patient reports: only `AutoCall` patients are dialled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactMethod {
    AutoCall,
    HealthCall,
    Web,
}

/// Where a health report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportChannel {
    AutoCall,
    HealthCall,
    Web,
    Staff,
}

/// The latest health report of a patient, as far as the dialer needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastReport {
    pub at: DateTime<Utc>,
    pub channel: ReportChannel,
}

/// What the dialer reads about a patient, at planning and again at claim time.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientSnapshot {
    pub id: PatientId,
    /// The patient's chosen slots (a subset of the centre's).
    pub slots: SlotHours,
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
        write!(f, "{}/{}/{:02}", self.patient, self.date, self.slot.hour())
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

/// The centre's settings the planner needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanConfig {
    pub tz: Tz,
    pub retry: RetryPolicy,
    pub stop: StopConfig,
    pub pacing: PacingConfig,
}

impl Default for PlanConfig {
    fn default() -> Self {
        Self {
            tz: chrono_tz::Asia::Tokyo,
            retry: RetryPolicy::default(),
            stop: StopConfig::default(),
            pacing: PacingConfig::default(),
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
    if !cfg.retry.allowed.contains(cfg.tz, slot.at) {
        tracing::warn!(slot = %slot.slot, date = %slot.date, "slot outside allowed calling hours");
        plan.warnings
            .push(PlanWarning::SlotOutsideAllowedHours(*slot));
        return plan;
    }
    for p in patients {
        if !p.slots.contains(slot.slot) {
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
    let pace = SlotPace::estimate(plan.jobs.len(), &cfg.pacing, cfg.retry.window);
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
