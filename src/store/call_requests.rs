//! On-demand calls (`kenkocall call-now`): a row asks "call this patient now"; any running
//! node's dialer takes it (`pending` → `dialing`, under the node's heartbeat lease, renewed
//! by [`Store::node_heartbeat`]), places the call and records the outcome (`finished`). They
//! are not slot jobs: no retries, no stop rules, and they never touch `call_attempts`.
//!
//! A request nobody took soon enough is not dialled later by surprise: `call-now` cancels it
//! when it stops waiting, and a claim cancels any left older than its `max_age` (the CLI was
//! killed). A `dialing` row whose node's lease passed (the node died mid-call) is recorded as
//! failed (`interrupted`).

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::patients::PatientId;
use super::{AttemptOutcome, Backend, Store, StoreError, from_ms, opt_from_ms, to_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct CallRequestId(pub i64);

/// One on-demand call, as `kenkocall calls` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallRequest {
    pub id: CallRequestId,
    pub patient_id: PatientId,
    pub hersys_id: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    /// `pending`, `dialing`, `finished` or `cancelled`.
    pub state: String,
    /// The node that took it.
    pub node: Option<String>,
    /// While dialing: until when the node's heartbeat holds it.
    pub lease_until: Option<DateTime<Utc>>,
    pub caller_line: Option<String>,
    pub sip_call_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub outcome: Option<AttemptOutcome>,
    /// Why it was cancelled or failed beyond its outcome (`not_taken`, `expired`,
    /// `interrupted`, an error).
    pub detail: Option<String>,
}

impl CallRequest {
    pub fn is_over(&self) -> bool {
        matches!(self.state.as_str(), "finished" | "cancelled")
    }
}

/// What the node records when the call is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRequestResult {
    pub outcome: AttemptOutcome,
    pub caller_line: Option<String>,
    pub sip_call_id: Option<String>,
    pub detail: Option<String>,
    pub ended_at: DateTime<Utc>,
}

const COLUMNS: &str = "r.id, r.patient_id, p.hersys_id, r.requested_by, r.requested_at_ms, \
     r.state, r.node, r.lease_until_ms, r.caller_line, r.sip_call_id, r.started_at_ms, r.ended_at_ms, r.outcome, \
     r.detail";

fn from_row(r: &AnyRow) -> Result<CallRequest, StoreError> {
    let outcome: Option<String> = r.try_get("outcome")?;
    Ok(CallRequest {
        id: CallRequestId(r.try_get("id")?),
        patient_id: PatientId(r.try_get("patient_id")?),
        hersys_id: r.try_get("hersys_id")?,
        requested_by: r.try_get("requested_by")?,
        requested_at: from_ms(r.try_get("requested_at_ms")?)?,
        state: r.try_get("state")?,
        node: r.try_get("node")?,
        lease_until: opt_from_ms(r.try_get("lease_until_ms")?)?,
        caller_line: r.try_get("caller_line")?,
        sip_call_id: r.try_get("sip_call_id")?,
        started_at: opt_from_ms(r.try_get("started_at_ms")?)?,
        ended_at: opt_from_ms(r.try_get("ended_at_ms")?)?,
        outcome: outcome
            .map(|o| AttemptOutcome::parse(&o).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()?,
        detail: r.try_get("detail")?,
    })
}

impl Store {
    /// Asks for a call to `patient` now; a node's dialer takes it.
    pub async fn request_call(
        &self,
        patient: PatientId,
        requested_by: &str,
        now: DateTime<Utc>,
    ) -> Result<CallRequestId, StoreError> {
        let row = sqlx::query(
            "INSERT INTO call_requests (patient_id, requested_by, requested_at_ms) \
             VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(patient.0)
        .bind(requested_by)
        .bind(to_ms(now))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| StoreError::from_write(e, "call request"))?;
        Ok(CallRequestId(row.try_get("id")?))
    }

    pub async fn get_call_request(&self, id: CallRequestId) -> Result<CallRequest, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM call_requests r JOIN patients p ON p.id = r.patient_id \
             WHERE r.id = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("call request"))?;
        from_row(&row)
    }

    /// Every on-demand call (one patient's, or all), oldest first.
    pub async fn list_call_requests(
        &self,
        hersys_id: Option<&str>,
    ) -> Result<Vec<CallRequest>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM call_requests r JOIN patients p ON p.id = r.patient_id \
             WHERE ($1 IS NULL OR p.hersys_id = $1) ORDER BY r.requested_at_ms, r.id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hersys_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Cancels a request nobody took yet; false when a node took it meanwhile.
    pub async fn cancel_call_request(
        &self,
        id: CallRequestId,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE call_requests SET state = 'cancelled', detail = $2, ended_at_ms = $3 \
             WHERE id = $1 AND state = 'pending'",
        )
        .bind(id.0)
        .bind(detail)
        .bind(to_ms(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes up to `limit` pending requests for `node` (leased until `now + lease`). First
    /// cancels requests older than `max_age` and fails those whose node's lease passed.
    pub async fn claim_call_requests(
        &self,
        node: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
        max_age: TimeDelta,
        limit: usize,
    ) -> Result<Vec<CallRequest>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE call_requests SET state = 'cancelled', detail = 'expired', ended_at_ms = $1 \
             WHERE state = 'pending' AND requested_at_ms < $2",
        )
        .bind(to_ms(now))
        .bind(to_ms(now - max_age))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE call_requests SET state = 'finished', outcome = 'failed', \
             detail = 'interrupted', ended_at_ms = $1 \
             WHERE state = 'dialing' AND lease_until_ms <= $1",
        )
        .bind(to_ms(now))
        .execute(&mut *tx)
        .await?;
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE call_requests SET state = 'dialing', node = $1, lease_until_ms = $2, \
             started_at_ms = $3 WHERE id IN (SELECT id FROM call_requests \
             WHERE state = 'pending' ORDER BY requested_at_ms, id LIMIT $4 {lock}) RETURNING id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(node)
            .bind(to_ms(now + lease))
            .bind(to_ms(now))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut taken = Vec::with_capacity(rows.len());
        for r in &rows {
            taken.push(
                self.get_call_request(CallRequestId(r.try_get("id")?))
                    .await?,
            );
        }
        Ok(taken)
    }

    /// Records how the call went; false when the request is no longer this node's (its
    /// lease passed and it was recorded as interrupted).
    pub async fn finish_call_request(
        &self,
        id: CallRequestId,
        node: &str,
        result: &CallRequestResult,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE call_requests SET state = 'finished', outcome = $3, caller_line = $4, \
             sip_call_id = $5, detail = $6, ended_at_ms = $7, lease_until_ms = NULL \
             WHERE id = $1 AND node = $2 AND state = 'dialing'",
        )
        .bind(id.0)
        .bind(node)
        .bind(result.outcome.as_str())
        .bind(result.caller_line.as_deref())
        .bind(result.sip_call_id.as_deref())
        .bind(result.detail.as_deref())
        .bind(to_ms(result.ended_at))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
