//! [`InMemoryJobQueue`]: the [`JobQueue`] contract kept in a mutex-guarded map. It is the
//! reference double for the tests (and the simulation's view of the contract); the real
//! store implements the same semantics in SQL.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};

use super::plan::{JobKey, PlannedJob};
use super::queue::{
    AttemptRecord, AttemptResult, ClaimedJob, JobEnd, JobQueue, JobState, LeaseToken, QueueError,
    WorkerId,
};
use super::retry::RetryDecision;
use crate::store::AttemptOutcome;

#[derive(Debug, Clone)]
struct JobRow {
    slot_at: DateTime<Utc>,
    state: JobState,
    token: Option<LeaseToken>,
    attempts_begun: u32,
    attempts_finished: u32,
}

#[derive(Debug, Default)]
struct Inner {
    jobs: BTreeMap<JobKey, JobRow>,
    attempts: Vec<AttemptRecord>,
    next_token: u64,
}

/// An in-process [`JobQueue`]. Claims scan every job: fine for tests, not for 100,000.
#[derive(Debug, Default)]
pub struct InMemoryJobQueue {
    inner: Mutex<Inner>,
}

impl InMemoryJobQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not hide the state from the others.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn state(&self, key: &JobKey) -> Option<JobState> {
        self.lock().jobs.get(key).map(|r| r.state.clone())
    }

    /// Every attempt recorded for `key`, in order.
    pub fn attempts(&self, key: &JobKey) -> Vec<AttemptRecord> {
        self.lock()
            .attempts
            .iter()
            .filter(|a| a.key == *key)
            .cloned()
            .collect()
    }
}

impl Inner {
    /// The row for a job whose lease `job` still holds at `now`.
    fn held(&mut self, job: &ClaimedJob, now: DateTime<Utc>) -> Result<&mut JobRow, QueueError> {
        let row = self
            .jobs
            .get_mut(&job.key)
            .ok_or(QueueError::UnknownJob(job.key))?;
        match &row.state {
            JobState::Leased { until, .. } if row.token == Some(job.lease) && *until > now => {
                Ok(row)
            }
            _ => Err(QueueError::LeaseLost(job.key)),
        }
    }

    fn attempt_mut(&mut self, key: JobKey, attempt: u32) -> Option<&mut AttemptRecord> {
        self.attempts
            .iter_mut()
            .rev()
            .find(|a| a.key == key && a.attempt == attempt)
    }
}

impl JobQueue for InMemoryJobQueue {
    async fn enqueue(&self, jobs: &[PlannedJob]) -> Result<usize, QueueError> {
        let mut g = self.lock();
        let mut new = 0;
        for j in jobs {
            g.jobs.entry(j.key).or_insert_with(|| {
                new += 1;
                JobRow {
                    slot_at: j.slot_at,
                    state: JobState::Pending { next_at: j.slot_at },
                    token: None,
                    attempts_begun: 0,
                    attempts_finished: 0,
                }
            });
        }
        Ok(new)
    }

    async fn claim(
        &self,
        worker: &WorkerId,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, QueueError> {
        let mut g = self.lock();
        let mut due: Vec<(DateTime<Utc>, JobKey)> = g
            .jobs
            .iter()
            .filter_map(|(k, r)| match &r.state {
                JobState::Pending { next_at } if *next_at <= now => Some((*next_at, *k)),
                JobState::Leased { until, .. } if *until <= now => Some((*until, *k)),
                _ => None,
            })
            .collect();
        due.sort();
        due.truncate(limit);
        let mut out = Vec::with_capacity(due.len());
        for (_, key) in due {
            g.next_token += 1;
            let token = LeaseToken(g.next_token);
            let Some(row) = g.jobs.get_mut(&key) else {
                continue;
            };
            let interrupted =
                (row.attempts_begun > row.attempts_finished).then_some(row.attempts_begun);
            row.attempts_finished = row.attempts_begun;
            row.state = JobState::Leased {
                owner: worker.clone(),
                until: now + lease,
            };
            row.token = Some(token);
            let claimed = ClaimedJob {
                key,
                slot_at: row.slot_at,
                attempt: row.attempts_begun + 1,
                interrupted,
                lease: token,
                lease_until: now + lease,
            };
            if let Some(n) = interrupted
                && let Some(a) = g.attempt_mut(key, n)
            {
                // Interrupted: stored as failed (the failed-call offset applies).
                a.outcome = Some(AttemptOutcome::Failed);
            }
            out.push(claimed);
        }
        Ok(out)
    }

    async fn renew(
        &self,
        job: &ClaimedJob,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<DateTime<Utc>, QueueError> {
        let mut g = self.lock();
        let row = g.held(job, now)?;
        if let JobState::Leased { until, .. } = &mut row.state {
            *until = now + lease;
        }
        Ok(now + lease)
    }

    async fn release(
        &self,
        job: &ClaimedJob,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let mut g = self.lock();
        let row = g.held(job, now)?;
        row.state = JobState::Pending { next_at: until };
        row.token = None;
        Ok(())
    }

    async fn begin_attempt(
        &self,
        job: &ClaimedJob,
        line: &str,
        sip_call_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let mut g = self.lock();
        let row = g.held(job, now)?;
        if job.attempt == 0 || row.attempts_begun != job.attempt - 1 {
            return Err(QueueError::AttemptAlreadyBegun {
                key: job.key,
                attempt: job.attempt,
            });
        }
        row.attempts_begun = job.attempt;
        g.attempts.push(AttemptRecord {
            key: job.key,
            attempt: job.attempt,
            line: line.to_string(),
            started_at: now,
            ended_at: None,
            outcome: None,
            sip_call_id: Some(sip_call_id.to_string()),
        });
        Ok(())
    }

    async fn give_back_attempt(
        &self,
        job: &ClaimedJob,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let mut g = self.lock();
        let row = g.held(job, now)?;
        if row.attempts_begun != job.attempt || row.attempts_finished >= job.attempt {
            return Err(QueueError::NoSuchAttempt {
                key: job.key,
                attempt: job.attempt,
            });
        }
        row.attempts_begun = job.attempt - 1;
        row.state = JobState::Pending { next_at: until };
        row.token = None;
        g.attempts
            .retain(|a| !(a.key == job.key && a.attempt == job.attempt));
        Ok(())
    }

    async fn finish_attempt(&self, job: &ClaimedJob, r: AttemptResult) -> Result<(), QueueError> {
        let mut g = self.lock();
        let row = g.held(job, r.ended_at)?;
        if r.attempt != row.attempts_begun || row.attempts_finished >= r.attempt {
            return Err(QueueError::NoSuchAttempt {
                key: job.key,
                attempt: r.attempt,
            });
        }
        row.attempts_finished = r.attempt;
        row.token = None;
        row.state = match (r.next, JobEnd::from_decision(r.next)) {
            (RetryDecision::RetryAt { at, .. }, _) => JobState::Pending { next_at: at },
            (_, Some(end)) => JobState::Ended(end),
            (_, None) => JobState::Pending {
                next_at: r.ended_at,
            },
        };
        if let Some(a) = g.attempt_mut(job.key, r.attempt) {
            a.ended_at = Some(r.ended_at);
            a.outcome = Some(r.outcome);
            a.sip_call_id = r.sip_call_id;
        }
        Ok(())
    }

    async fn end(
        &self,
        job: &ClaimedJob,
        end: JobEnd,
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let mut g = self.lock();
        let row = g.held(job, now)?;
        row.state = JobState::Ended(end);
        row.token = None;
        Ok(())
    }
}
