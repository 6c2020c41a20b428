//! What goes into and comes out of the interpreter: the whole contract with the shell
//! that owns the SIP call, the media stream, the timers and the case store.

use std::fmt;
use std::time::Duration;

use super::prompts::PromptRef;
use super::questions::AnswerValue;
use crate::privacy::mask_hersys_id;
use crate::store::{AlertLevel, AlertThresholds};

/// Names one timer the interpreter asked for; a fired id it no longer waits for is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub u64);

/// Names one `Play`; `PromptFinished` for a stopped or older play is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PlayId(pub u64);

/// Index of a person within one call (0 for the auto-call's patient; inbound callers may
/// report for several people). One report per person per call.
pub type PersonIndex = usize;

/// Inputs, in the order they happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A key: `0`-`9`, `#`, `*` (others are ignored).
    Digit(char),
    /// Every prompt of that play has been sent to the caller.
    PromptFinished(PlayId),
    TimerFired(TimerId),
    /// The answer to [`Action::VerifyIdentity`].
    IdentityChecked(IdentityResult),
    /// The caller hung up (or the call dropped).
    HangUp,
}

impl From<crate::call::Digit> for Event {
    fn from(d: crate::call::Digit) -> Self {
        Event::Digit(d.key)
    }
}

/// What the case store said about a HER-SYS ID and birthday.
#[derive(Debug, Clone, PartialEq)]
pub enum IdentityResult {
    /// ID and birthday match a patient under observation. `thresholds` are the
    /// patient's health centre's, if they differ from the defaults.
    Verified { thresholds: Option<AlertThresholds> },
    /// No match (unknown ID and wrong birthday are not told apart).
    Mismatch,
    /// Too many failures from this number or for this ID; told so without learning
    /// whether the ID exists.
    LockedOut,
    /// The patient's observation period has ended: no report is needed.
    ObservationEnded,
    /// The store could not be asked.
    Unavailable,
}

/// A HER-SYS ID and birthday to check. `Debug` masks both (they are personal data).
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityClaim {
    pub hersys_id: String,
    /// `MMDD`.
    pub birth_mmdd: String,
}

impl fmt::Debug for IdentityClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityClaim")
            .field("hersys_id", &mask_hersys_id(&self.hersys_id))
            .field("birth_mmdd", &"****")
            .finish()
    }
}

/// How the call ended, for the dialer and the call record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// Answered, but not one key was pressed (the dialer retries).
    NotReached,
    /// The person said it is not their number (key 9).
    WrongNumber,
    /// Someone keyed something; reports finished and reports left partial.
    Answered {
        reports_complete: u32,
        reports_incomplete: u32,
    },
}

/// Outputs, to be carried out in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Play these prompts one after another, then report `PromptFinished(id)`.
    /// With `barge_in`, a key will stop it (`StopPlayback`).
    Play {
        id: PlayId,
        prompts: Vec<PromptRef>,
        barge_in: bool,
    },
    /// Stop that play at once; no `PromptFinished` is needed for it.
    StopPlayback(PlayId),
    StartTimer {
        id: TimerId,
        after: Duration,
    },
    CancelTimer(TimerId),
    /// Check against the case store; answer with `Event::IdentityChecked`. The shell
    /// remembers which patient `person` is for the saves that follow.
    VerifyIdentity {
        person: PersonIndex,
        claim: IdentityClaim,
    },
    /// Store one answer: the first save for a person creates their report (partial),
    /// later ones update it.
    SaveAnswer {
        person: PersonIndex,
        question: String,
        value: AnswerValue,
    },
    /// Every question was answered: mark the report complete.
    CompleteReport {
        person: PersonIndex,
        alert: AlertLevel,
    },
    /// Flag the dialled number as wrong and stop calling it.
    MarkWrongNumber,
    /// End the call from our side.
    HangUp,
    /// Always the last action, exactly once.
    Finished(CallOutcome),
}
