//! Stop rules: reasons a patient must not be called for a slot. Checked when the slot
//! is planned and again when a worker claims the job, because staff, the patient (key
//! 9, a report on another channel) or the calendar can change things in between.

use chrono::{DateTime, NaiveTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::plan::{Channel, ContactMethod, PatientSnapshot, PlanConfig};
use super::queue::ClaimedJob;
use super::retry::{GiveUpReason, RetryDecision, after_attempt};
use super::slots::{SlotInstant, resolve_local};
use crate::store::AttemptOutcome;

/// Which earlier report makes a slot's call unnecessary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportCutoff {
    /// Always call, whatever was reported.
    Off,
    /// A report at or after the slot instant (default: a morning report does not
    /// cancel the afternoon check).
    SinceSlot,
    /// Any report on the slot's local date.
    SameDay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopConfig {
    pub already_reported: ReportCutoff,
}

impl Default for StopConfig {
    fn default() -> Self {
        Self {
            already_reported: ReportCutoff::SinceSlot,
        }
    }
}

/// Why a patient is not called for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The patient is no longer in the case store.
    PatientRemoved,
    ContactMethodChanged(ContactMethod),
    StaffStopped,
    WrongNumber,
    ObservationNotStarted,
    ObservationEnded,
    AlreadyReported {
        at: DateTime<Utc>,
        channel: Channel,
    },
}

impl StopReason {
    /// A stable name for the store and the staff pages.
    pub fn as_str(&self) -> &'static str {
        match self {
            StopReason::PatientRemoved => "patient_removed",
            StopReason::ContactMethodChanged(_) => "contact_method_changed",
            StopReason::StaffStopped => "staff_stopped",
            StopReason::WrongNumber => "wrong_number",
            StopReason::ObservationNotStarted => "observation_not_started",
            StopReason::ObservationEnded => "observation_ended",
            StopReason::AlreadyReported { .. } => "already_reported",
        }
    }
}

/// The first stop rule that applies to `patient` for `slot`, judged at `now`.
pub fn stop_reason(
    patient: &PatientSnapshot,
    slot: &SlotInstant,
    now: DateTime<Utc>,
    tz: Tz,
    cfg: &StopConfig,
) -> Option<StopReason> {
    if patient.contact != ContactMethod::AutoCall {
        return Some(StopReason::ContactMethodChanged(patient.contact));
    }
    if patient.stopped {
        return Some(StopReason::StaffStopped);
    }
    if patient.wrong_number {
        return Some(StopReason::WrongNumber);
    }
    let today = now.with_timezone(&tz).date_naive();
    if today < patient.observation_start {
        return Some(StopReason::ObservationNotStarted);
    }
    if today > patient.observation_end {
        return Some(StopReason::ObservationEnded);
    }
    let cutoff = match cfg.already_reported {
        ReportCutoff::Off => None,
        ReportCutoff::SinceSlot => Some(slot.at),
        ReportCutoff::SameDay => Some(resolve_local(tz, slot.date.and_time(NaiveTime::MIN))),
    };
    match (cutoff, patient.last_report) {
        (Some(cutoff), Some(r)) if r.at >= cutoff => Some(StopReason::AlreadyReported {
            at: r.at,
            channel: r.channel,
        }),
        _ => None,
    }
}

/// What a worker does with a job it has just claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimDecision {
    /// Dial now, as attempt number `attempt`.
    Dial {
        attempt: u32,
    },
    /// End the job without calling.
    Stop(StopReason),
    GiveUp(GiveUpReason),
    /// Release the lease and claim again from `until` (no attempt is used).
    Wait {
        until: DateTime<Utc>,
    },
}

/// The claim-time check: stop rules, attempt budget, window and allowed hours, and the
/// retry offset after an attempt interrupted by a crash. `patient` is `None` when the
/// store no longer has the patient.
pub fn claim_decision(
    job: &ClaimedJob,
    patient: Option<&PatientSnapshot>,
    now: DateTime<Utc>,
    cfg: &PlanConfig,
) -> ClaimDecision {
    let Some(patient) = patient else {
        return ClaimDecision::Stop(StopReason::PatientRemoved);
    };
    let slot = SlotInstant {
        date: job.key.date,
        slot: job.key.slot,
        at: job.slot_at,
    };
    if let Some(reason) = stop_reason(patient, &slot, now, cfg.tz, &cfg.stop) {
        return ClaimDecision::Stop(reason);
    }
    if let Some(n) = job.interrupted {
        // The previous holder began attempt n and vanished: treat it as failed, so
        // the patient gets the failed-call offset, not an immediate second ring.
        match after_attempt(cfg, job.slot_at, n, AttemptOutcome::Failed, now) {
            RetryDecision::RetryAt { at, .. } if at > now => {
                return ClaimDecision::Wait { until: at };
            }
            RetryDecision::GiveUp(r) => return ClaimDecision::GiveUp(r),
            _ => {}
        }
    }
    if job.attempt > cfg.retry.max_attempts {
        return ClaimDecision::GiveUp(GiveUpReason::AttemptsExhausted);
    }
    let limit = if job.attempt <= 1 {
        cfg.first_attempt_limit
    } else {
        cfg.window()
    };
    if now >= job.slot_at + limit {
        return ClaimDecision::GiveUp(GiveUpReason::PastWindow);
    }
    if now < job.slot_at {
        return ClaimDecision::Wait { until: job.slot_at };
    }
    if !cfg.calling_allowed(now) {
        let opens = cfg.calling_opens_on(now);
        return if now < opens {
            ClaimDecision::Wait { until: opens }
        } else {
            ClaimDecision::GiveUp(GiveUpReason::OutsideAllowedHours)
        };
    }
    ClaimDecision::Dial {
        attempt: job.attempt,
    }
}

#[cfg(test)]
#[path = "stop_tests.rs"]
mod tests;
