//! The auto-call dialer's sans-IO core: call slots, planning, retry and stop rules,
//! pacing, caller lines, the job-queue contract the store implements, and a
//! discrete-event simulation of a whole slot.
//!
//! Nothing here but [`node`] reads a clock, sleeps or touches the network or a database:
//! time is a parameter (`DateTime<Utc>`), randomness is an injected `Rng`, and storage is
//! the [`queue::JobQueue`] trait (implemented by the case store). Per-centre values (zone,
//! slots, retry policy, calling hours) are the store's [`crate::store::CentreSettings`];
//! `[dialer]` ([`DialerSettings`]) holds only engine-wide knobs; the two meet in
//! [`PlanConfig::for_centre`]. The async shell, [`node::DialerNode`] (planner task and
//! call dispatcher, on a compressible [`node::Clock`]), carries out what they decide:
//!
//! 1. At each [`SlotSchedule::next_slots`] firing: [`plan_slot`] over the centre's
//!    patients, then [`JobQueue::enqueue`] (idempotent); log and show the plan warnings.
//! 2. Worker loop: [`JobQueue::claim`] → re-read the patient → [`claim_decision`]:
//!    `Stop`/`GiveUp` → [`JobQueue::end`]; `Wait` → [`JobQueue::release`]; `Dial` →
//!    [`Pacer::try_start`] and [`CallerLinePool::acquire`] (else release and try later) →
//!    [`JobQueue::begin_attempt`] (on error do not dial) → INVITE, renewing the lease
//!    while the call is up ([`LeaseRenewal`]) → [`AttemptResult::decide`] → [`JobQueue::finish_attempt`].

pub mod lease;
pub mod lines;
pub mod memory_queue;
pub mod node;
pub mod pacing;
pub mod plan;
pub mod queue;
pub mod retry;
pub mod settings;
pub mod sim;
mod sim_phones;
pub mod slots;
pub mod stop;

pub use lease::{LeaseRenewal, Renewal};
pub use lines::{CallerLinePool, LineLease};
pub use memory_queue::InMemoryJobQueue;
pub use pacing::{PaceDenied, Pacer, PacingConfig, SlotPace, TrunkId};
pub use plan::{
    JobKey, LastReport, PatientSnapshot, Plan, PlanConfig, PlanWarning, PlannedJob, plan_slot,
};
pub use queue::{
    AttemptRecord, AttemptResult, ClaimedJob, JobEnd, JobQueue, JobState, LeaseToken, QueueError,
    WorkerId,
};
pub use retry::{GiveUpReason, RetryDecision, after_attempt, retry_offset};
pub use settings::DialerSettings;
pub use slots::{CallSlot, SlotInstant, SlotSchedule, calling_starts_on, within_calling_hours};
pub use stop::{ClaimDecision, ReportCutoff, StopConfig, StopReason, claim_decision, stop_reason};

/// Why a dialer input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialerError {
    #[error("call slot hour {0} is not 0-23")]
    InvalidHour(u32),
    #[error("call slots {0:?}: expected hours 0-23 separated by commas, e.g. 9,11,14,16")]
    InvalidSlotList(String),
    #[error("unknown time zone {0:?} (expected an IANA name such as Asia/Tokyo)")]
    UnknownTimeZone(String),
    #[error("slot schedule expression {expr:?} refused by cron: {message}")]
    Cron { expr: String, message: String },
    #[error("allowed hours {start}-{end}: the start must be before the end")]
    InvalidAllowedHours { start: String, end: String },
    #[error("no caller lines configured; patients are told which numbers call them")]
    NoCallerLines,
    #[error("caller line {0} is configured twice")]
    DuplicateCallerLine(String),
    #[error("caller line {0} is not one of the configured lines")]
    UnknownCallerLine(String),
    #[error("retry policy: {0}")]
    InvalidPolicy(String),
}
