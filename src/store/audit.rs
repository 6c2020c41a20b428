//! The audit log of staff changes, and the health-call line's identification failures
//! (counted per calling number and per HER-SYS ID to stop guessing).

use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::patients::PatientId;
use super::{Store, StoreError, from_ms, to_ms};

/// One staff (or IVR) change: who did what, to whom, when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub patient_id: Option<PatientId>,
    pub detail: String,
}

/// What an identification failure is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailureKey<'a> {
    /// The caller's number as received (any form; compared verbatim).
    CallingNumber(&'a str),
    /// The HER-SYS ID as keyed, whether or not it exists.
    HersysId(&'a str),
    /// This HER-SYS ID keyed from this calling number.
    NumberAndId(&'a str, &'a str),
}

/// Appends an audit entry inside the caller's transaction, so the change and its record
/// commit together.
pub(crate) async fn append_audit(
    conn: &mut AnyConnection,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    patient: Option<PatientId>,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at_ms, actor, action, patient_id, detail) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(to_ms(at))
    .bind(actor)
    .bind(action)
    .bind(patient.map(|p| p.0))
    .bind(detail)
    .execute(conn)
    .await
    .map_err(|e| StoreError::from_write(e, "audit entry"))?;
    Ok(())
}

impl Store {
    /// Records a change made outside the store's own staff operations (those audit themselves).
    pub async fn append_audit(
        &self,
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        patient: Option<PatientId>,
        detail: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        append_audit(&mut tx, at, actor, action, patient, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The audit log, oldest first; only one patient's entries when `patient` is given.
    pub async fn list_audit(
        &self,
        patient: Option<PatientId>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, actor, action, patient_id, detail FROM audit_log \
             WHERE ($1 IS NULL OR patient_id = $1) ORDER BY at_ms, id",
        )
        .bind(patient.map(|p| p.0))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: from_ms(r.try_get("at_ms")?)?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    patient_id: r.try_get::<Option<i64>, _>("patient_id")?.map(PatientId),
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }

    /// Records one failed identification on the health-call line.
    pub async fn record_auth_failure(
        &self,
        at: DateTime<Utc>,
        calling_number: Option<&str>,
        hersys_id: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_failures (at_ms, calling_number, hersys_id) VALUES ($1, $2, $3)",
        )
        .bind(to_ms(at))
        .bind(calling_number)
        .bind(hersys_id)
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_write(e, "auth failure"))?;
        Ok(())
    }

    /// Failures counted against `key` at or after `since` (the lockout window's start),
    /// not forgiven by a lifted lockout.
    pub async fn count_auth_failures(
        &self,
        key: AuthFailureKey<'_>,
        since: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        // Failures forgiven by a lifted lockout no longer count.
        const COUNT: &str = "SELECT COUNT(*) AS n FROM auth_failures \
             WHERE at_ms >= $1 AND forgiven_at_ms IS NULL AND ";
        let (filter, number, id) = match key {
            AuthFailureKey::CallingNumber(n) => {
                ("calling_number = $2 AND $3 IS NULL", Some(n), None)
            }
            AuthFailureKey::HersysId(id) => ("$2 IS NULL AND hersys_id = $3", None, Some(id)),
            AuthFailureKey::NumberAndId(n, id) => {
                ("calling_number = $2 AND hersys_id = $3", Some(n), Some(id))
            }
        };
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("{COUNT}{filter}")))
            .bind(to_ms(since))
            .bind(number)
            .bind(id)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Deletes failures older than `before` (housekeeping; counts only look at a window).
    pub async fn prune_auth_failures(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM auth_failures WHERE at_ms < $1")
            .bind(to_ms(before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
