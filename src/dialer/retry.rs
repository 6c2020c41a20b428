//! What happens after an attempt: done, call again at a given time, or give up. One
//! attempt budget per job (patient × slot); the rules are per outcome and never place a
//! call past the slot window or outside the centre's allowed hours.

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::DialerError;
use super::slots::AllowedHours;

/// How one call attempt ended, as the shell classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Answered and at least one answer was keyed (a call dropped midway keeps them).
    Reached,
    /// Answered but nothing was keyed at all: counts as not reached.
    AnsweredNoInput,
    /// Rang out (ring timeout, 408/480).
    NoAnswer,
    /// 486/600 busy.
    Busy,
    /// Any other failure: 4xx/5xx, trunk error, media never started.
    Failed,
    /// The person answering pressed 9: not the patient. Never call again.
    WrongNumber,
    /// Begun but never finished (the engine stopped mid-call); outcome unknown.
    Interrupted,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Reached => "reached",
            AttemptOutcome::AnsweredNoInput => "answered_no_input",
            AttemptOutcome::NoAnswer => "no_answer",
            AttemptOutcome::Busy => "busy",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::WrongNumber => "wrong_number",
            AttemptOutcome::Interrupted => "interrupted",
        }
    }
}

/// Why a job ended without reaching the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GiveUpReason {
    AttemptsExhausted,
    PastWindow,
    OutsideAllowedHours,
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

/// Retry offsets per outcome and the limits around them (centre-configurable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub no_answer: TimeDelta,
    pub busy: TimeDelta,
    pub failed: TimeDelta,
    /// Attempts per job, the first included.
    pub max_attempts: u32,
    /// From the slot instant: no retry starts at or after `slot + window`.
    pub window: TimeDelta,
    /// From the slot instant: a first attempt still not started by then is dropped. The
    /// seeds allow "longer if many users", so this is wider than `window` by default.
    pub first_attempt_limit: TimeDelta,
    pub allowed: AllowedHours,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            no_answer: TimeDelta::minutes(15),
            busy: TimeDelta::minutes(5),
            failed: TimeDelta::minutes(10),
            max_attempts: 3,
            window: TimeDelta::minutes(60),
            first_attempt_limit: TimeDelta::minutes(120),
            allowed: AllowedHours::default(),
        }
    }
}

impl RetryPolicy {
    pub fn validate(&self) -> Result<(), DialerError> {
        let bad = |m: &str| Err(DialerError::InvalidPolicy(m.to_string()));
        if self.max_attempts == 0 {
            return bad("max_attempts must be at least 1");
        }
        if [self.no_answer, self.busy, self.failed]
            .iter()
            .any(|d| *d < TimeDelta::zero())
        {
            return bad("retry offsets must not be negative");
        }
        if self.window <= TimeDelta::zero() || self.first_attempt_limit < self.window {
            return bad("window must be positive and first_attempt_limit at least the window");
        }
        Ok(())
    }

    /// The offset before calling again after `outcome`, or `None` when it is final.
    pub fn offset(&self, outcome: AttemptOutcome) -> Option<TimeDelta> {
        match outcome {
            AttemptOutcome::Reached | AttemptOutcome::WrongNumber => None,
            AttemptOutcome::NoAnswer | AttemptOutcome::AnsweredNoInput => Some(self.no_answer),
            AttemptOutcome::Busy => Some(self.busy),
            AttemptOutcome::Failed | AttemptOutcome::Interrupted => Some(self.failed),
        }
    }

    /// After attempt number `attempt` (1-based) of the job for the slot at `slot_at`
    /// ended at `ended_at` with `outcome`.
    pub fn after_attempt(
        &self,
        tz: Tz,
        slot_at: DateTime<Utc>,
        attempt: u32,
        outcome: AttemptOutcome,
        ended_at: DateTime<Utc>,
    ) -> RetryDecision {
        let Some(offset) = self.offset(outcome) else {
            return match outcome {
                AttemptOutcome::WrongNumber => RetryDecision::WrongNumber,
                _ => RetryDecision::Reached,
            };
        };
        if attempt >= self.max_attempts {
            return RetryDecision::GiveUp(GiveUpReason::AttemptsExhausted);
        }
        let at = ended_at + offset;
        if at >= slot_at + self.window {
            return RetryDecision::GiveUp(GiveUpReason::PastWindow);
        }
        if !self.allowed.contains(tz, at) {
            return RetryDecision::GiveUp(GiveUpReason::OutsideAllowedHours);
        }
        RetryDecision::RetryAt {
            at,
            attempt: attempt + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Tokyo;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    const NINE: &str = "2026-11-22T00:00:00Z"; // 09:00 JST

    fn retry(outcome: AttemptOutcome, attempt: u32, ended: &str) -> RetryDecision {
        RetryPolicy::default().after_attempt(Tokyo, utc(NINE), attempt, outcome, utc(ended))
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
        assert_eq!(retry(Interrupted, 1, ended), at(10));
    }

    #[test]
    fn answered_without_any_input_counts_as_not_reached() {
        assert_eq!(
            retry(AttemptOutcome::AnsweredNoInput, 1, "2026-11-22T00:02:00Z"),
            retry(AttemptOutcome::NoAnswer, 1, "2026-11-22T00:02:00Z")
        );
    }

    #[test]
    fn reached_and_wrong_number_are_final() {
        assert_eq!(
            retry(AttemptOutcome::Reached, 1, "2026-11-22T00:02:00Z"),
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
        let p = RetryPolicy {
            window: TimeDelta::minutes(120),
            ..RetryPolicy::default()
        };
        let d = p.after_attempt(
            Tokyo,
            utc("2026-11-22T10:00:00Z"),
            1,
            AttemptOutcome::Busy,
            utc("2026-11-22T10:57:00Z"),
        );
        assert_eq!(d, RetryDecision::GiveUp(GiveUpReason::OutsideAllowedHours));
    }

    #[test]
    fn policy_validation_names_the_problem() {
        let p = RetryPolicy {
            max_attempts: 0,
            ..RetryPolicy::default()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .to_string()
                .contains("max_attempts")
        );
        let p = RetryPolicy {
            first_attempt_limit: TimeDelta::minutes(30),
            ..RetryPolicy::default()
        };
        assert!(p.validate().is_err());
        assert!(RetryPolicy::default().validate().is_ok());
    }
}
