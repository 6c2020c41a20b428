//! When the worker renews a job's lease while its call is up, sans-IO: the renewal's
//! result and the time go in, the next renewal time comes out.
//!
//! Renewals run at a third of the lease, so two can fail and the lease still holds. A
//! store error is retried soon (a database blip must not let the lease run out while the
//! patient is on the phone: another node would take the job back and ring them again);
//! only a lost lease (someone else holds the job) ends the renewals.

use chrono::{DateTime, TimeDelta, Utc};

use super::queue::{ClaimedJob, QueueError};

/// Longest wait before retrying a renewal the store failed.
const RETRY_AFTER_ERROR: TimeDelta = TimeDelta::seconds(5);
/// Shortest wait between two renewals, whatever the lease: a deadline never at now.
const MIN_GAP: TimeDelta = TimeDelta::milliseconds(100);

/// The lease renewals of one call.
#[derive(Debug, Clone)]
pub struct LeaseRenewal {
    lease: TimeDelta,
    /// The lease holds until then, as far as we know.
    until: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
}

/// What the last renewal changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    /// Renewed; the next renewal is at `next`.
    Held { next: DateTime<Utc> },
    /// The store failed; tried again at `next` (the lease may still hold).
    Retry { next: DateTime<Utc> },
    /// Someone else holds the job now: renew no more.
    Lost,
}

impl LeaseRenewal {
    /// Renewals for `job`, claimed (or last renewed) for `lease`, from `now`.
    pub fn new(job: &ClaimedJob, lease: TimeDelta, now: DateTime<Utc>) -> Self {
        Self {
            lease,
            until: job.lease_until,
            next: Some(now + gap(lease / 3)),
        }
    }

    /// When to renew next; `None` once the lease is lost.
    pub fn next_renewal(&self) -> Option<DateTime<Utc>> {
        self.next
    }

    /// Until when the lease holds, as far as this call knows.
    pub fn held_until(&self) -> DateTime<Utc> {
        self.until
    }

    pub fn lease(&self) -> TimeDelta {
        self.lease
    }

    /// The store's answer to a renewal made at `now`.
    pub fn renewed(
        &mut self,
        now: DateTime<Utc>,
        result: Result<DateTime<Utc>, QueueError>,
    ) -> Renewal {
        match result {
            Ok(until) => {
                self.until = self.until.max(until);
                let next = now + gap(self.lease / 3);
                self.next = Some(next);
                Renewal::Held { next }
            }
            Err(QueueError::LeaseLost(_)) | Err(QueueError::UnknownJob(_)) => {
                self.next = None;
                Renewal::Lost
            }
            Err(_) => {
                // Soon, and before the lease runs out if it still can be saved.
                let left = self.until - now;
                let wait = RETRY_AFTER_ERROR.min(self.lease / 3).min(left / 2);
                let next = now + gap(wait);
                self.next = Some(next);
                Renewal::Retry { next }
            }
        }
    }
}

fn gap(d: TimeDelta) -> TimeDelta {
    d.max(MIN_GAP)
}

#[cfg(test)]
#[path = "lease_props.rs"]
mod props;
