//! What happens after an attempt: done, call again at a given time, or give up. One
//! attempt budget per job (patient × slot); the rules are per outcome and never place a
//! call past the slot window or outside the centre's calling hours.
//!
//! The policy itself (offsets, attempts, window) is the centre's
//! [`crate::store::RetryPolicy`] and the outcomes are the store's
//! [`crate::store::AttemptOutcome`]: one definition each, shared with the staff pages.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::plan::PlanConfig;
use crate::store::{AttemptOutcome, RetryPolicy};

/// Why a job ended without reaching the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiveUpReason {
    AttemptsExhausted,
    PastWindow,
    OutsideAllowedHours,
    /// The attempt was not dialled at all (a stop rule at claim time).
    NotDialled,
}

/// The decision after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// The patient was reached; the job is done.
    Reached,
    /// Wrong number: the job is done and the patient must be marked so.
    WrongNumber,
    /// Call again at this instant (the next attempt number is `attempt`).
    RetryAt {
        at: DateTime<Utc>,
        attempt: u32,
    },
    GiveUp(GiveUpReason),
}

/// A `std` duration from the store as a chrono one (saturating; stored values are small).
pub(crate) fn delta(d: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// The offset before calling again after `outcome`, or `None` when it is final.
/// Answered with no input at all counts as not reached (the no-answer offset); an
/// interrupted attempt (engine stopped mid-call) is stored as `Failed`.
pub fn retry_offset(policy: &RetryPolicy, outcome: AttemptOutcome) -> Option<TimeDelta> {
    match outcome {
        AttemptOutcome::Completed | AttemptOutcome::WrongNumber | AttemptOutcome::Stopped => None,
        // A hang-up midway is usually a slip (the seeds list it among common complaints):
        // what was answered is kept, and the patient is called again like a no-answer.
        AttemptOutcome::NoAnswer | AttemptOutcome::NoInput | AttemptOutcome::Partial => {
            Some(delta(policy.no_answer_delay))
        }
        AttemptOutcome::Busy => Some(delta(policy.busy_delay)),
        AttemptOutcome::Failed => Some(delta(policy.failed_delay)),
    }
}

/// After attempt number `attempt` (1-based) of the job for the slot at `slot_at`
/// ended at `ended_at` with `outcome`, under the centre's rules in `cfg`.
pub fn after_attempt(
    cfg: &PlanConfig,
    slot_at: DateTime<Utc>,
    attempt: u32,
    outcome: AttemptOutcome,
    ended_at: DateTime<Utc>,
) -> RetryDecision {
    let Some(offset) = retry_offset(&cfg.retry, outcome) else {
        return match outcome {
            AttemptOutcome::WrongNumber => RetryDecision::WrongNumber,
            AttemptOutcome::Stopped => RetryDecision::GiveUp(GiveUpReason::NotDialled),
            _ => RetryDecision::Reached,
        };
    };
    if attempt >= cfg.retry.max_attempts {
        return RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted);
    }
    let at = ended_at + offset;
    if at >= slot_at + cfg.window() {
        return RetryDecision::GiveUp(GiveUpReason::PastWindow);
    }
    if !cfg.calling_allowed(at) {
        return RetryDecision::GiveUp(GiveUpReason::OutsideAllowedHours);
    }
    RetryDecision::RetryAt {
        at,
        attempt: attempt + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    const NINE: &str = "2026-11-22T00:00:00Z"; // 09:00 JST

    fn retry(outcome: AttemptOutcome, attempt: u32, ended: &str) -> RetryDecision {
        after_attempt(
            &PlanConfig::default(),
            utc(NINE),
            attempt,
            outcome,
            utc(ended),
        )
    }

    #[test]
    fn default_offsets_per_outcome() {
        use AttemptOutcome::*;
        let ended = "2026-11-22T00:02:00Z";
        let at = |m| RetryDecision::RetryAt {
            at: utc(ended) + TimeDelta::minutes(m),
            attempt: 2,
        };
        assert_eq!(retry(NoAnswer, 1, ended), at(15));
        assert_eq!(retry(Busy, 1, ended), at(5));
        assert_eq!(retry(Failed, 1, ended), at(10));
    }

    #[test]
    fn answered_without_any_input_counts_as_not_reached() {
        assert_eq!(
            retry(AttemptOutcome::NoInput, 1, "2026-11-22T00:02:00Z"),
            retry(AttemptOutcome::NoAnswer, 1, "2026-11-22T00:02:00Z")
        );
    }

    #[test]
    fn hang_up_midway_is_called_again_like_a_no_answer() {
        assert_eq!(
            retry(AttemptOutcome::Partial, 1, "2026-11-22T00:02:00Z"),
            retry(AttemptOutcome::NoAnswer, 1, "2026-11-22T00:02:00Z")
        );
    }

    #[test]
    fn reached_and_wrong_number_are_final() {
        assert_eq!(
            retry(AttemptOutcome::Completed, 1, "2026-11-22T00:02:00Z"),
            RetryDecision::Reached
        );
        assert_eq!(
            retry(AttemptOutcome::WrongNumber, 1, "2026-11-22T00:02:00Z"),
            RetryDecision::WrongNumber
        );
    }

    #[test]
    fn third_attempt_is_the_last() {
        assert!(matches!(
            retry(AttemptOutcome::Busy, 2, "2026-11-22T00:10:00Z"),
            RetryDecision::RetryAt { attempt: 3, .. }
        ));
        assert_eq!(
            retry(AttemptOutcome::Busy, 3, "2026-11-22T00:20:00Z"),
            RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted)
        );
    }

    #[test]
    fn retry_never_lands_at_or_past_the_slot_window() {
        // 09:45 + 15 min = 10:00: exactly the window end is already too late.
        assert_eq!(
            retry(AttemptOutcome::NoAnswer, 1, "2026-11-22T00:45:00Z"),
            RetryDecision::GiveUp(GiveUpReason::PastWindow)
        );
        assert!(matches!(
            retry(AttemptOutcome::NoAnswer, 1, "2026-11-22T00:44:59Z"),
            RetryDecision::RetryAt { .. }
        ));
    }

    #[test]
    fn retry_never_lands_outside_allowed_hours() {
        // A 19:00 slot with a 2 h window; busy at 19:57 would retry at 20:02: inside the
        // window, but after the centre's calling hours.
        let mut cfg = PlanConfig::default();
        cfg.retry.slot_window = Duration::from_secs(120 * 60);
        let d = after_attempt(
            &cfg,
            utc("2026-11-22T10:00:00Z"),
            1,
            AttemptOutcome::Busy,
            utc("2026-11-22T10:57:00Z"),
        );
        assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::OutsideAllowedHours));
    }

    #[test]
    fn the_centre_policy_in_the_store_drives_the_offsets() {
        let mut cfg = PlanConfig::default();
        cfg.retry.busy_delay = Duration::from_secs(60);
        assert_eq!(
            after_attempt(
                &cfg,
                utc(NINE),
                1,
                AttemptOutcome::Busy,
                utc("2026-11-22T00:02:00Z")
            ),
            RetryDecision::RetryAt {
                at: utc("2026-11-22T00:03:00Z"),
                attempt: 2
            }
        );
    }
}
