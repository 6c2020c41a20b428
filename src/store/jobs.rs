//! The dialer's [`JobQueue`] on the case store. A job (patient × local slot date × hour) is
//! the set of its `call_attempts` rows; the row with the highest attempt number is the job's
//! current state:
//!
//! - `pending` with no live lease: claimable from `due_at_ms`;
//! - `pending` leased (`lease_owner`, `lease_until_ms`, `lease_token`): a worker is deciding;
//! - `dialing`/`answered`: the attempt began (the INVITE may be out);
//! - `finished`: the attempt ended; `detail` names the job's end, or the next attempt row
//!   exists (a retry, pending at its offset);
//! - `cancelled`: the job ended without dialling this row (`detail` says why).
//!
//! The unique key (patient, slot date, hour, attempt number) makes planning idempotent and
//! means an attempt number can be dialled at most once: a row leaves `pending` exactly once.
//! A claim that finds a row still `dialing`/`answered` with an expired lease (its node died
//! mid-call) records it as failed (`detail = 'interrupted'`) and offers the next attempt.
//! Every statement names the lease token, so a worker whose lease was taken back changes
//! nothing.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe, Row};

use super::patients::PatientId;
use super::{AttemptId, AttemptOutcome, Backend, Channel, Store, StoreError, date_text, to_ms};
use crate::dialer::{
    AttemptResult, CallSlot, ClaimedJob, JobEnd, JobKey, JobQueue, LastReport, LeaseToken,
    PlannedJob, QueueError, RetryDecision, WorkerId,
};
use crate::store::parse_date_text;

/// Patients per "latest report" query (keeps the IN list well inside both backends' limits).
const LAST_REPORTS_CHUNK: usize = 500;

fn storage(e: impl std::fmt::Display) -> QueueError {
    QueueError::Storage(e.to_string())
}

impl From<StoreError> for QueueError {
    fn from(e: StoreError) -> Self {
        storage(e)
    }
}

/// The WHERE clause naming one job's attempt row under a lease: $1 patient, $2 date,
/// $3 hour, $4 attempt number, $5 lease token.
macro_rules! held {
    ($head:literal, $tail:literal) => {
        concat!(
            $head,
            " WHERE patient_id = $1 AND slot_date = $2 AND slot_hour = $3 AND attempt_no = $4 \
             AND lease_token = $5 ",
            $tail
        )
    };
}

fn bind_held<'q>(
    q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    job: &ClaimedJob,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    q.bind(job.key.patient.0)
        .bind(date_text(job.key.date))
        .bind(i64::from(job.key.slot.as_u8()))
        .bind(i64::from(job.attempt))
        .bind(token_value(job.lease))
}

fn token_value(t: LeaseToken) -> i64 {
    // Tokens are drawn below 2^62, so this never wraps.
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

fn fresh_token() -> LeaseToken {
    LeaseToken(rand::random::<u64>() >> 2)
}

fn key_of(r: &AnyRow) -> Result<JobKey, QueueError> {
    let hour: i64 = r.try_get("slot_hour").map_err(storage)?;
    let slot = u32::try_from(hour)
        .ok()
        .and_then(|h| CallSlot::new(h).ok())
        .ok_or_else(|| storage(format!("slot_hour {hour}")))?;
    Ok(JobKey {
        patient: PatientId(r.try_get("patient_id").map_err(storage)?),
        date: parse_date_text(&r.try_get::<String, _>("slot_date").map_err(storage)?)?,
        slot,
    })
}

fn ms(t: i64) -> Result<DateTime<Utc>, QueueError> {
    Ok(super::from_ms(t)?)
}

/// Claims inside `tx`: leases the claimable rows, then turns interrupted ones into the
/// next attempt.
async fn claim_in(
    tx: &mut AnyConnection,
    backend: Backend,
    worker: &WorkerId,
    now: DateTime<Utc>,
    lease: TimeDelta,
    limit: usize,
) -> Result<Vec<ClaimedJob>, QueueError> {
    macro_rules! claim {
        ($lock:literal) => {
            concat!(
                "UPDATE call_attempts SET lease_owner = $1, lease_until_ms = $2, lease_token = $3 ",
                "WHERE id IN (SELECT id FROM call_attempts WHERE ",
                "(state = 'pending' AND due_at_ms <= $4 AND (lease_until_ms IS NULL OR lease_until_ms <= $4)) ",
                "OR (state IN ('dialing', 'answered') AND lease_until_ms <= $4) ",
                "ORDER BY due_at_ms, id LIMIT $5 ",
                $lock,
                ") RETURNING id, patient_id, slot_date, slot_hour, attempt_no, state, ",
                "COALESCE(slot_at_ms, due_at_ms) AS slot_at_ms"
            )
        };
    }
    let sql = match backend {
        Backend::Postgres => claim!("FOR UPDATE SKIP LOCKED"),
        Backend::Sqlite => claim!(""),
    };
    let token = fresh_token();
    let until = now + lease;
    let rows = sqlx::query(sql)
        .bind(worker.0.as_str())
        .bind(to_ms(until))
        .bind(token_value(token))
        .bind(to_ms(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(storage)?;
    let mut jobs = Vec::with_capacity(rows.len());
    for r in &rows {
        let key = key_of(r)?;
        let no: i64 = r.try_get("attempt_no").map_err(storage)?;
        let attempt = u32::try_from(no).map_err(|_| storage(format!("attempt_no {no}")))?;
        let state: String = r.try_get("state").map_err(storage)?;
        let slot_at_ms: i64 = r.try_get("slot_at_ms").map_err(storage)?;
        let mut job = ClaimedJob {
            key,
            slot_at: ms(slot_at_ms)?,
            attempt,
            interrupted: None,
            lease: token,
            lease_until: until,
        };
        if state != "pending" {
            // Its node died mid-call: the attempt is over (as failed); offer the next one.
            let id: i64 = r.try_get("id").map_err(storage)?;
            sqlx::query(
                "UPDATE call_attempts SET state = 'finished', outcome = 'failed', \
                 detail = 'interrupted', ended_at_ms = COALESCE(ended_at_ms, $1), \
                 lease_owner = NULL, lease_until_ms = NULL, lease_token = NULL WHERE id = $2",
            )
            .bind(to_ms(now))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
            insert_attempt(tx, &key, attempt + 1, now, job.slot_at, now).await?;
            sqlx::query(
                "UPDATE call_attempts SET lease_owner = $5, lease_until_ms = $6, lease_token = $7                  WHERE patient_id = $1 AND slot_date = $2 AND slot_hour = $3 AND attempt_no = $4                  AND state = 'pending'",
            )
            .bind(key.patient.0)
            .bind(date_text(key.date))
            .bind(i64::from(key.slot.as_u8()))
            .bind(i64::from(attempt + 1))
            .bind(worker.0.as_str())
            .bind(to_ms(until))
            .bind(token_value(token))
            .execute(&mut *tx)
            .await
            .map_err(storage)?;
            job.interrupted = Some(attempt);
            job.attempt = attempt + 1;
        }
        jobs.push(job);
    }
    Ok(jobs)
}

/// Inserts attempt `no` of `key`, pending from `due`; a row already there is kept.
async fn insert_attempt(
    conn: &mut AnyConnection,
    key: &JobKey,
    no: u32,
    due: DateTime<Utc>,
    slot_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, QueueError> {
    let done = sqlx::query(
        "INSERT INTO call_attempts (patient_id, slot_date, slot_hour, attempt_no, due_at_ms, \
         slot_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (patient_id, slot_date, slot_hour, attempt_no) DO NOTHING",
    )
    .bind(key.patient.0)
    .bind(date_text(key.date))
    .bind(i64::from(key.slot.as_u8()))
    .bind(i64::from(no))
    .bind(to_ms(due))
    .bind(to_ms(slot_at))
    .bind(to_ms(now))
    .execute(&mut *conn)
    .await
    .map_err(|e| storage(StoreError::from_write(e, "call attempt")))?;
    Ok(done.rows_affected())
}

impl Store {
    /// The row id of the job's current attempt (to link reports to it).
    pub async fn attempt_id_of(&self, job: &ClaimedJob) -> Result<AttemptId, QueueError> {
        let row = bind_held(sqlx::query(held!("SELECT id FROM call_attempts", "")), job)
            .fetch_optional(&self.pool)
            .await
            .map_err(storage)?
            .ok_or(QueueError::LeaseLost(job.key))?;
        Ok(AttemptId(row.try_get("id").map_err(storage)?))
    }

    /// The patient's latest complete report, for the "already reported" stop rule.
    pub async fn last_report(&self, patient: PatientId) -> Result<Option<LastReport>, StoreError> {
        Ok(self.last_reports(&[patient]).await?.remove(&patient))
    }

    /// The latest complete report of each patient (absent: none yet). A call dropped midway
    /// leaves a partial report, which must not cancel the next call. One query per
    /// [`LAST_REPORTS_CHUNK`] patients, not one per patient: a slot can plan 100,000.
    pub async fn last_reports(
        &self,
        patients: &[PatientId],
    ) -> Result<HashMap<PatientId, LastReport>, StoreError> {
        let mut out = HashMap::with_capacity(patients.len());
        for chunk in patients.chunks(LAST_REPORTS_CHUNK) {
            // Integers only: safe to inline.
            let ids: Vec<String> = chunk.iter().map(|p| p.0.to_string()).collect();
            let sql = format!(
                "SELECT r.patient_id, r.reported_at_ms, r.channel FROM health_reports r \
                 JOIN (SELECT patient_id, MAX(reported_at_ms) AS latest FROM health_reports \
                       WHERE complete = 1 AND patient_id IN ({}) GROUP BY patient_id) l \
                 ON r.patient_id = l.patient_id AND r.reported_at_ms = l.latest \
                 WHERE r.complete = 1",
                ids.join(",")
            );
            for row in sqlx::query(AssertSqlSafe(sql))
                .fetch_all(&self.pool)
                .await?
            {
                let channel: String = row.try_get("channel")?;
                out.insert(
                    PatientId(row.try_get("patient_id")?),
                    LastReport {
                        at: super::from_ms(row.try_get("reported_at_ms")?)?,
                        channel: Channel::parse(&channel)
                            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Why an update naming `job` changed nothing.
    /// Ok when a held-job update changed its row; otherwise why the job is not ours.
    async fn held_or_lost(
        &self,
        rows: u64,
        job: &ClaimedJob,
        begun: bool,
    ) -> Result<(), QueueError> {
        if rows == 0 {
            return Err(self.lost_or(job, begun).await);
        }
        Ok(())
    }

    async fn lost_or(&self, job: &ClaimedJob, begun: bool) -> QueueError {
        let row = sqlx::query(
            "SELECT state, lease_token FROM call_attempts WHERE patient_id = $1 AND slot_date = $2 \
             AND slot_hour = $3 AND attempt_no = $4",
        )
        .bind(job.key.patient.0)
        .bind(date_text(job.key.date))
        .bind(i64::from(job.key.slot.as_u8()))
        .bind(i64::from(job.attempt))
        .fetch_optional(&self.pool)
        .await;
        match row {
            Ok(None) if begun => QueueError::NoSuchAttempt {
                key: job.key,
                attempt: job.attempt,
            },
            Ok(None) => QueueError::UnknownJob(job.key),
            Ok(Some(r)) => {
                let state: String = r.try_get("state").unwrap_or_default();
                let token: Option<i64> = r.try_get("lease_token").unwrap_or(None);
                if token != Some(token_value(job.lease)) {
                    QueueError::LeaseLost(job.key)
                } else if !begun && state != "pending" {
                    QueueError::AttemptAlreadyBegun {
                        key: job.key,
                        attempt: job.attempt,
                    }
                } else if begun {
                    QueueError::NoSuchAttempt {
                        key: job.key,
                        attempt: job.attempt,
                    }
                } else {
                    QueueError::LeaseLost(job.key)
                }
            }
            Err(e) => storage(e),
        }
    }
}

impl JobQueue for Store {
    async fn enqueue(&self, jobs: &[PlannedJob]) -> Result<usize, QueueError> {
        let mut tx = self.begin_write().await?;
        let now = Utc::now();
        let mut new = 0;
        for j in jobs {
            new += insert_attempt(&mut tx, &j.key, 1, j.slot_at, j.slot_at, now).await?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(usize::try_from(new).unwrap_or(usize::MAX))
    }

    async fn claim(
        &self,
        worker: &WorkerId,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, QueueError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let jobs = claim_in(&mut tx, self.backend, worker, now, lease, limit).await?;
        tx.commit().await.map_err(storage)?;
        Ok(jobs)
    }

    async fn renew(
        &self,
        job: &ClaimedJob,
        now: DateTime<Utc>,
        lease: TimeDelta,
    ) -> Result<DateTime<Utc>, QueueError> {
        let until = now + lease;
        let done = bind_held(
            sqlx::query(held!(
                "UPDATE call_attempts SET lease_until_ms = $6",
                "AND state NOT IN ('finished', 'cancelled')"
            )),
            job,
        )
        .bind(to_ms(until))
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        if done.rows_affected() == 0 {
            return Err(QueueError::LeaseLost(job.key));
        }
        Ok(until)
    }

    async fn release(
        &self,
        job: &ClaimedJob,
        _now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let done = bind_held(
            sqlx::query(held!(
                "UPDATE call_attempts SET due_at_ms = $6, lease_owner = NULL, \
                 lease_until_ms = NULL, lease_token = NULL",
                "AND state = 'pending'"
            )),
            job,
        )
        .bind(to_ms(until))
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        self.held_or_lost(done.rows_affected(), job, false).await
    }

    async fn begin_attempt(
        &self,
        job: &ClaimedJob,
        line: &str,
        sip_call_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let done = bind_held(
            sqlx::query(held!(
                "UPDATE call_attempts SET state = 'dialing', caller_line = $6, started_at_ms = $7, \
                 sip_call_id = $8",
                "AND state = 'pending' AND lease_until_ms > $7"
            )),
            job,
        )
        .bind(line)
        .bind(to_ms(now))
        .bind(sip_call_id)
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        self.held_or_lost(done.rows_affected(), job, false).await
    }

    async fn give_back_attempt(
        &self,
        job: &ClaimedJob,
        _now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        // `detail` keeps a trace until the attempt's real outcome replaces it.
        let done = bind_held(
            sqlx::query(held!(
                "UPDATE call_attempts SET state = 'pending', due_at_ms = $6, caller_line = NULL, \
                 started_at_ms = NULL, sip_call_id = NULL, detail = 'trunk_congested', \
                 lease_owner = NULL, lease_until_ms = NULL, lease_token = NULL",
                "AND state = 'dialing'"
            )),
            job,
        )
        .bind(to_ms(until))
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        self.held_or_lost(done.rows_affected(), job, true).await
    }

    async fn finish_attempt(
        &self,
        job: &ClaimedJob,
        result: AttemptResult,
    ) -> Result<(), QueueError> {
        if result.attempt != job.attempt {
            return Err(QueueError::NoSuchAttempt {
                key: job.key,
                attempt: result.attempt,
            });
        }
        let end = JobEnd::from_decision(result.next).map(|e| e.as_str());
        let mut tx = self.begin_write().await?;
        let done = bind_held(
            sqlx::query(held!(
                "UPDATE call_attempts SET state = 'finished', outcome = $6, ended_at_ms = $7, \
                 sip_call_id = COALESCE($8, sip_call_id), detail = $9, \
                 lease_owner = NULL, lease_until_ms = NULL, lease_token = NULL",
                "AND state IN ('dialing', 'answered')"
            )),
            job,
        )
        .bind(result.outcome.as_str())
        .bind(to_ms(result.ended_at))
        .bind(result.sip_call_id.as_deref())
        .bind(end)
        .execute(&mut *tx)
        .await
        .map_err(storage)?;
        if done.rows_affected() == 0 {
            drop(tx);
            return Err(self.lost_or(job, true).await);
        }
        if let RetryDecision::RetryAt { at, attempt } = result.next {
            insert_attempt(&mut tx, &job.key, attempt, at, job.slot_at, result.ended_at).await?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(())
    }

    async fn end(
        &self,
        job: &ClaimedJob,
        end: JobEnd,
        now: DateTime<Utc>,
    ) -> Result<(), QueueError> {
        let outcome = matches!(end, JobEnd::Stopped(_)).then_some(AttemptOutcome::Stopped.as_str());
        let done = bind_held(
            sqlx::query(held!(
                "UPDATE call_attempts SET state = 'cancelled', outcome = $6, detail = $7, \
                 ended_at_ms = $8, lease_owner = NULL, lease_until_ms = NULL, lease_token = NULL",
                "AND state = 'pending'"
            )),
            job,
        )
        .bind(outcome)
        .bind(end.as_str())
        .bind(to_ms(now))
        .execute(&self.pool)
        .await
        .map_err(storage)?;
        self.held_or_lost(done.rows_affected(), job, false).await
    }
}
