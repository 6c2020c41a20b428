//! Outbound call attempts: one row per patient, slot and attempt number, planned ahead and
//! claimed by dialer workers under a lease, then updated as the call progresses.
//!
//! Planning is idempotent (unique patient + slot date + hour + attempt number), so running the
//! planner twice or on two nodes creates nothing twice. Claiming under a lease is the dialer's
//! job queue, in `jobs.rs`.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::patients::PatientId;
use super::{
    AttemptOutcome, AttemptState, Store, StoreError, date_text, from_ms, opt_from_ms,
    parse_date_text, to_ms,
};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct AttemptId(pub i64);

/// An attempt to plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttempt {
    pub patient_id: PatientId,
    /// The slot's local date and hour in the centre's zone.
    pub slot_date: NaiveDate,
    pub slot_hour: u8,
    pub attempt_no: u32,
    /// When to dial, at the earliest.
    pub due_at: DateTime<Utc>,
}

/// Fields to change on an attempt; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptUpdate {
    pub state: Option<AttemptState>,
    pub outcome: Option<AttemptOutcome>,
    pub caller_line: Option<String>,
    pub sip_call_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// How the job or attempt ended beyond its outcome (`interrupted`, `attempts_exhausted`,
    /// `staff_stopped`...), set by the dialer's job queue.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallAttempt {
    pub id: AttemptId,
    pub patient_id: PatientId,
    pub hersys_id: String,
    pub slot_date: NaiveDate,
    pub slot_hour: u8,
    pub attempt_no: u32,
    pub due_at: DateTime<Utc>,
    pub state: AttemptState,
    pub outcome: Option<AttemptOutcome>,
    pub caller_line: Option<String>,
    pub sip_call_id: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// How the job or attempt ended beyond its outcome (`interrupted`, `attempts_exhausted`,
    /// `staff_stopped`...), set by the dialer's job queue.
    pub detail: Option<String>,
}

/// The shared SELECT with its joins, followed by the given clause.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT a.id, a.patient_id, p.hersys_id, a.slot_date, a.slot_hour, a.attempt_no, \
             a.due_at_ms, a.state, a.outcome, a.caller_line, a.sip_call_id, a.lease_owner, a.lease_until_ms, \
             a.created_at_ms, a.started_at_ms, a.answered_at_ms, a.ended_at_ms, a.detail \
             FROM call_attempts a JOIN patients p ON p.id = a.patient_id",
            " ",
            $rest
        )
    };
}
// Shared with the staff pages' per-centre attempts of a day (`followup.rs`): one SELECT.
pub(super) use select as select_attempts;

pub(super) fn from_row(r: &AnyRow) -> Result<CallAttempt, StoreError> {
    let corrupt = |m: String| StoreError::Corrupt(m);
    let hour: i64 = r.try_get("slot_hour")?;
    let no: i64 = r.try_get("attempt_no")?;
    let state: String = r.try_get("state")?;
    let outcome: Option<String> = r.try_get("outcome")?;
    Ok(CallAttempt {
        id: AttemptId(r.try_get("id")?),
        patient_id: PatientId(r.try_get("patient_id")?),
        hersys_id: r.try_get("hersys_id")?,
        slot_date: parse_date_text(&r.try_get::<String, _>("slot_date")?)?,
        slot_hour: u8::try_from(hour).map_err(|_| corrupt(format!("slot_hour {hour}")))?,
        attempt_no: u32::try_from(no).map_err(|_| corrupt(format!("attempt_no {no}")))?,
        due_at: from_ms(r.try_get("due_at_ms")?)?,
        state: AttemptState::parse(&state).map_err(|e| corrupt(e.to_string()))?,
        outcome: outcome
            .map(|o| AttemptOutcome::parse(&o).map_err(|e| corrupt(e.to_string())))
            .transpose()?,
        caller_line: r.try_get("caller_line")?,
        sip_call_id: r.try_get("sip_call_id")?,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: opt_from_ms(r.try_get("lease_until_ms")?)?,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
        started_at: opt_from_ms(r.try_get("started_at_ms")?)?,
        answered_at: opt_from_ms(r.try_get("answered_at_ms")?)?,
        ended_at: opt_from_ms(r.try_get("ended_at_ms")?)?,
        detail: r.try_get("detail")?,
    })
}

impl Store {
    /// Plans an attempt; `None` when this patient/slot/attempt number already exists.
    pub async fn plan_attempt(&self, a: &NewAttempt) -> Result<Option<AttemptId>, StoreError> {
        let row = sqlx::query(
            "INSERT INTO call_attempts (patient_id, slot_date, slot_hour, attempt_no, due_at_ms, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (patient_id, slot_date, slot_hour, attempt_no) DO NOTHING RETURNING id",
        )
        .bind(a.patient_id.0)
        .bind(date_text(a.slot_date))
        .bind(i64::from(a.slot_hour))
        .bind(i64::from(a.attempt_no))
        .bind(to_ms(a.due_at))
        .bind(to_ms(Utc::now()))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| StoreError::from_write(e, "call attempt"))?;
        row.map(|r| Ok(AttemptId(r.try_get("id")?))).transpose()
    }

    /// Changes the given fields. Finishing or cancelling an attempt releases its lease.
    pub async fn update_attempt(
        &self,
        id: AttemptId,
        u: &AttemptUpdate,
    ) -> Result<CallAttempt, StoreError> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE call_attempts SET state = COALESCE($1, state), outcome = COALESCE($2, outcome), \
             caller_line = COALESCE($3, caller_line), sip_call_id = COALESCE($4, sip_call_id), \
             started_at_ms = COALESCE($5, started_at_ms), answered_at_ms = COALESCE($6, answered_at_ms), \
             ended_at_ms = COALESCE($7, ended_at_ms), \
             lease_owner = CASE WHEN $1 IN ('finished', 'cancelled') THEN NULL ELSE lease_owner END, \
             lease_until_ms = CASE WHEN $1 IN ('finished', 'cancelled') THEN NULL ELSE lease_until_ms END \
             WHERE id = $8",
        )
        .bind(u.state.map(|s| s.as_str()))
        .bind(u.outcome.map(|o| o.as_str()))
        .bind(u.caller_line.as_deref())
        .bind(u.sip_call_id.as_deref())
        .bind(u.started_at.map(to_ms))
        .bind(u.answered_at.map(to_ms))
        .bind(u.ended_at.map(to_ms))
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, "call attempt update"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("call attempt"));
        }
        let sql = select!("WHERE a.id = $1");
        let row = sqlx::query(sql).bind(id.0).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        from_row(&row)
    }

    pub async fn get_attempt(&self, id: AttemptId) -> Result<CallAttempt, StoreError> {
        let sql = select!("WHERE a.id = $1");
        let row = sqlx::query(sql)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(from_row)
            .transpose()?
            .ok_or(StoreError::NotFound("call attempt"))
    }

    /// Attempts in planning order, optionally one patient's.
    pub async fn list_attempts(
        &self,
        hersys_id: Option<&str>,
    ) -> Result<Vec<CallAttempt>, StoreError> {
        let sql = select!(
            "WHERE ($1 IS NULL OR p.hersys_id = $1) \
             ORDER BY a.slot_date, a.slot_hour, a.patient_id, a.attempt_no"
        );
        let rows = sqlx::query(sql)
            .bind(hersys_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }
}
