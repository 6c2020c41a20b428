//! The contract between the dialer and the case store for dial jobs: insert planned jobs
//! idempotently, claim due jobs under a lease, and record each attempt. The store
//! implements [`JobQueue`] on PostgreSQL (and SQLite for the embedded demo);
//! [`super::memory_queue::InMemoryJobQueue`] is the reference double used by the tests.
//!
//! # Semantics every implementation must keep
//!
//! - **Unique jobs.** One row per [`JobKey`] (patient, local slot date, slot hour), a
//!   unique index; [`JobQueue::enqueue`] is `INSERT … ON CONFLICT DO NOTHING` and returns
//!   how many rows were new. Planning twice, or on two nodes, creates nothing twice.
//! - **Claims never overlap.** A job is claimable when it is pending and due
//!   (`next_at <= now`) or leased with an expired lease (`lease_until <= now`). PostgreSQL:
//!
//!   ```sql
//!   WITH picked AS (
//!     SELECT id FROM dial_jobs
//!      WHERE (state = 'pending' AND next_at <= $now)
//!         OR (state = 'leased'  AND lease_until <= $now)
//!      ORDER BY next_at, id LIMIT $limit
//!      FOR UPDATE SKIP LOCKED)
//!   UPDATE dial_jobs j
//!      SET state = 'leased', lease_owner = $worker, lease_token = $fresh_token,
//!          lease_until = $now + $lease
//!     FROM picked WHERE j.id = picked.id
//!   RETURNING j.*;
//!   ```
//!
//!   SQLite (one process) gets the same effect from one `UPDATE … RETURNING` in a
//!   `BEGIN IMMEDIATE` transaction. Each claim gets a fresh [`LeaseToken`]; every later
//!   call names it, and a call with a stale token (the lease expired and someone else
//!   claimed the job) fails with [`QueueError::LeaseLost`] and changes nothing.
//! - **An attempt number is dialled at most once.** Before sending the INVITE the worker
//!   calls [`JobQueue::begin_attempt`], which moves `attempts_begun` from `n - 1` to `n`
//!   (`UPDATE … WHERE attempts_begun = $n - 1 AND lease_token = $t AND lease_until > $now`)
//!   and inserts the attempt row (unique on job and attempt number), in one transaction.
//!   Zero rows updated means do not dial. If the engine dies mid-call, the next claim
//!   of that job sees `attempts_begun > attempts_finished`, records that attempt as
//!   [`AttemptOutcome::Failed`] (interrupted), reports it in [`ClaimedJob::interrupted`] and
//!   offers attempt `n + 1`; attempt `n` can never begin again.
//!   The one exception is [`JobQueue::give_back_attempt`]: the trunk itself refused the
//!   INVITE (congestion), so the patient's phone never rang; the attempt row goes back to
//!   pending under the same number, in one statement that names the lease.
//! - **Leases outlive calls.** The worker renews ([`JobQueue::renew`]) while a call is
//!   up; answers are saved by the IVR as they are keyed, independently of the job row, so
//!   a lost lease loses no answer.

use std::fmt;
use std::future::Future;

use chrono::{DateTime, TimeDelta, Utc};

use super::plan::{JobKey, PlanConfig, PlannedJob};
use super::retry::{GiveUpReason, RetryDecision, after_attempt};
use super::stop::StopReason;
use crate::store::AttemptOutcome;

/// The node and worker holding a lease, e.g. `node-a/3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerId(pub String);

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identifies one claim of one job; fresh on every claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub u64);

/// A job handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    pub key: JobKey,
    pub slot_at: DateTime<Utc>,
    /// The attempt number to dial next (1-based).
    pub attempt: u32,
    /// An attempt the previous lease holder began but never finished (now recorded as
    /// interrupted); the retry offset applies before `attempt` is dialled.
    pub interrupted: Option<u32>,
    pub lease: LeaseToken,
    pub lease_until: DateTime<Utc>,
}

/// How a job ended for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    Reached,
    WrongNumber,
    Stopped(StopReason),
    GaveUp(GiveUpReason),
}

impl JobEnd {
    /// A stable name for the store's `state` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobEnd::Reached => "reached",
            JobEnd::WrongNumber => "wrong_number",
            JobEnd::Stopped(r) => r.as_str(),
            JobEnd::GaveUp(GiveUpReason::AttemptsExhausted) => "attempts_exhausted",
            JobEnd::GaveUp(GiveUpReason::PastWindow) => "past_window",
            JobEnd::GaveUp(GiveUpReason::OutsideAllowedHours) => "outside_allowed_hours",
            JobEnd::GaveUp(GiveUpReason::NotDialled) => "not_dialled",
        }
    }

    /// The job's end after an attempt decision, or `None` for a retry.
    pub fn from_decision(d: RetryDecision) -> Option<JobEnd> {
        match d {
            RetryDecision::Reached => Some(JobEnd::Reached),
            RetryDecision::WrongNumber => Some(JobEnd::WrongNumber),
            RetryDecision::GiveUp(r) => Some(JobEnd::GaveUp(r)),
            RetryDecision::RetryAt { .. } => None,
        }
    }
}

/// A job row's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    Pending {
        next_at: DateTime<Utc>,
    },
    Leased {
        owner: WorkerId,
        until: DateTime<Utc>,
    },
    Ended(JobEnd),
}

/// One call attempt as stored (shown by `kenkocall calls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub key: JobKey,
    pub attempt: u32,
    /// The caller line used; always a configured one.
    pub line: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `None` while the call is up.
    pub outcome: Option<AttemptOutcome>,
    pub sip_call_id: Option<String>,
}

/// How an attempt ended, as reported by the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub attempt: u32,
    pub outcome: AttemptOutcome,
    pub ended_at: DateTime<Utc>,
    pub sip_call_id: Option<String>,
    /// What the retry rules decided; the job becomes pending again or ends.
    pub next: RetryDecision,
}

impl AttemptResult {
    /// The result of `job`'s current attempt with the centre's retry rules applied.
    pub fn decide(
        job: &ClaimedJob,
        outcome: AttemptOutcome,
        ended_at: DateTime<Utc>,
        sip_call_id: Option<String>,
        cfg: &PlanConfig,
    ) -> Self {
        AttemptResult {
            attempt: job.attempt,
            outcome,
            ended_at,
            sip_call_id,
            next: after_attempt(cfg, job.slot_at, job.attempt, outcome, ended_at),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    #[error("job {0}: the lease was lost (expired and claimed again); do not dial")]
    LeaseLost(JobKey),
    #[error("job {key}: attempt {attempt} was already begun or is out of order; do not dial")]
    AttemptAlreadyBegun { key: JobKey, attempt: u32 },
    #[error("job {key}: attempt {attempt} is not the one in progress")]
    NoSuchAttempt { key: JobKey, attempt: u32 },
    #[error("job {0} does not exist")]
    UnknownJob(JobKey),
    #[error("job store: {0}")]
    Storage(String),
}

/// What the dialer needs from the case store for its jobs. Every method is one short
/// transaction; `now` is passed in (the store never reads a clock itself, so tests and
/// the simulation run on virtual time).
pub trait JobQueue: Send + Sync {
    /// Inserts the jobs whose key is new; returns how many were new.
    fn enqueue(
        &self,
        jobs: &[PlannedJob],
    ) -> impl Future<Output = Result<usize, QueueError>> + Send;

    /// Leases up to `limit` claimable jobs to `worker` until `now + lease`, oldest due first.
    fn claim(
        &self,
        worker: &WorkerId,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ClaimedJob>, QueueError>> + Send;

    /// Extends a lease still held; returns the new expiry.
    fn renew(
        &self,
        job: &ClaimedJob,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> impl Future<Output = Result<DateTime<Utc>, QueueError>> + Send;

    /// Gives the job back without using an attempt; claimable again from `until`.
    fn release(
        &self,
        job: &ClaimedJob,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Records that attempt `job.attempt` starts now on `line` with the SIP Call-ID its
    /// INVITE will carry, in one write: so a node that dies mid-call leaves the attempt
    /// `dialing` with its Call-ID, linked to any report the call wrote. Call before
    /// dialling; on any error, do not dial.
    fn begin_attempt(
        &self,
        job: &ClaimedJob,
        line: &str,
        sip_call_id: &str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Undoes `begin_attempt` for an attempt the trunk refused before the patient's phone
    /// was reached (congestion): the job is pending again from `until` with the same
    /// attempt number, and the lease is released. Attempts not begun are refused.
    fn give_back_attempt(
        &self,
        job: &ClaimedJob,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Records how the attempt ended and applies the retry decision (pending again at
    /// the retry time, or ended); the lease is released.
    fn finish_attempt(
        &self,
        job: &ClaimedJob,
        result: AttemptResult,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// Ends the job without (another) attempt: a stop rule or a give-up found at claim.
    fn end(
        &self,
        job: &ClaimedJob,
        end: JobEnd,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}
