//! Health-call identity lockouts: every lockout the line imposes is recorded here, so the
//! patient's centre can see it and lift it. When a lockout applies, and at what counts, is
//! decided in one place, `engine::identity`; the store only keeps the records and counts.
//!
//! Lifting a lockout forgives the failures it covered (`auth_failures.forgiven_at_ms`), so
//! counting starts afresh and the next wrong birthday does not lock the line again at once.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::append_audit;
use super::centres::CentreId;
use super::patients::PatientId;
use super::{Store, StoreError, from_ms, opt_from_ms, to_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LockoutId(pub i64);

/// What a lockout blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockoutScope {
    /// This HER-SYS ID from this calling number.
    NumberAndId,
    /// Every ID from this calling number.
    Number,
    /// This HER-SYS ID from every number.
    Id,
}

impl LockoutScope {
    pub fn as_str(self) -> &'static str {
        match self {
            LockoutScope::NumberAndId => "number_and_id",
            LockoutScope::Number => "number",
            LockoutScope::Id => "id",
        }
    }

    fn parse(s: &str) -> Result<LockoutScope, StoreError> {
        match s {
            "number_and_id" => Ok(LockoutScope::NumberAndId),
            "number" => Ok(LockoutScope::Number),
            "id" => Ok(LockoutScope::Id),
            other => Err(StoreError::Corrupt(format!("lockout scope {other:?}"))),
        }
    }
}

/// One lockout imposed on the health-call line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityLockout {
    pub id: LockoutId,
    pub locked_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub scope: LockoutScope,
    /// The caller's number as received (absent for a lockout on the ID alone).
    pub calling_number: Option<String>,
    /// The HER-SYS ID as keyed (absent for a lockout on the number alone).
    pub hersys_id: Option<String>,
    /// The patient with that ID, if one exists, and their centre: only it sees the lockout.
    pub patient_id: Option<PatientId>,
    pub centre_id: Option<CentreId>,
    /// Failures counted when it was imposed.
    pub failures: u64,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<String>,
}

impl IdentityLockout {
    /// Whether it still blocks calls at `now` (not lifted, not expired).
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.lifted_at.is_none() && now < self.until
    }
}

/// A lockout to record: the scope's key is taken from the failed claim.
#[derive(Debug, Clone, Copy)]
pub struct NewLockout<'a> {
    pub scope: LockoutScope,
    pub calling_number: Option<&'a str>,
    pub hersys_id: &'a str,
    pub failures: u64,
    pub until: DateTime<Utc>,
}

const SELECT: &str = "SELECT l.id, l.locked_at_ms, l.until_ms, l.scope, l.calling_number, \
     l.hersys_id, l.patient_id, p.health_centre_id, l.failures, l.lifted_at_ms, l.lifted_by \
     FROM identity_lockouts l LEFT JOIN patients p ON p.id = l.patient_id";

fn lockout_from_row(r: &AnyRow) -> Result<IdentityLockout, StoreError> {
    Ok(IdentityLockout {
        id: LockoutId(r.try_get("id")?),
        locked_at: from_ms(r.try_get("locked_at_ms")?)?,
        until: from_ms(r.try_get("until_ms")?)?,
        scope: LockoutScope::parse(&r.try_get::<String, _>("scope")?)?,
        calling_number: r.try_get("calling_number")?,
        hersys_id: r.try_get("hersys_id")?,
        patient_id: r.try_get::<Option<i64>, _>("patient_id")?.map(PatientId),
        centre_id: r
            .try_get::<Option<i64>, _>("health_centre_id")?
            .map(CentreId),
        failures: u64::try_from(r.try_get::<i64, _>("failures")?).unwrap_or(0),
        lifted_at: opt_from_ms(r.try_get("lifted_at_ms")?)?,
        lifted_by: r.try_get("lifted_by")?,
    })
}

impl Store {
    /// The lockout blocking a claim of `hersys_id` from `calling_number` at `now`, if any
    /// (the one ending last).
    pub async fn active_lockout(
        &self,
        calling_number: Option<&str>,
        hersys_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<IdentityLockout>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE l.lifted_at_ms IS NULL AND l.until_ms > $3 AND ( \
               (l.scope = 'number_and_id' AND l.calling_number = $1 AND l.hersys_id = $2) \
               OR (l.scope = 'number' AND l.calling_number = $1) \
               OR (l.scope = 'id' AND l.hersys_id = $2)) \
             ORDER BY l.until_ms DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(calling_number)
            .bind(hersys_id)
            .bind(to_ms(now))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(lockout_from_row).transpose()
    }

    /// Records a lockout (and an audit entry by `ivr`), linked to the patient with that
    /// HER-SYS ID if there is one.
    pub async fn record_lockout(
        &self,
        new: NewLockout<'_>,
        at: DateTime<Utc>,
    ) -> Result<IdentityLockout, StoreError> {
        let (number, id) = match new.scope {
            LockoutScope::NumberAndId => (new.calling_number, Some(new.hersys_id)),
            LockoutScope::Number => (new.calling_number, None),
            LockoutScope::Id => (None, Some(new.hersys_id)),
        };
        let mut tx = self.begin_write().await?;
        let patient: Option<i64> = sqlx::query("SELECT id FROM patients WHERE hersys_id = $1")
            .bind(new.hersys_id)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
        let lockout: i64 = sqlx::query(
            "INSERT INTO identity_lockouts (locked_at_ms, until_ms, scope, calling_number, \
             hersys_id, patient_id, failures) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(to_ms(at))
        .bind(to_ms(new.until))
        .bind(new.scope.as_str())
        .bind(number)
        .bind(id)
        .bind(patient)
        .bind(i64::try_from(new.failures).unwrap_or(i64::MAX))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, "identity lockout"))?
        .try_get("id")?;
        append_audit(
            &mut tx,
            at,
            "ivr",
            "identity_lockout",
            patient.map(PatientId),
            &format!("lockout={lockout} scope={}", new.scope.as_str()),
        )
        .await?;
        tx.commit().await?;
        self.get_lockout(LockoutId(lockout))
            .await?
            .ok_or(StoreError::NotFound("identity lockout"))
    }

    pub async fn get_lockout(&self, id: LockoutId) -> Result<Option<IdentityLockout>, StoreError> {
        let sql = format!("{SELECT} WHERE l.id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(lockout_from_row).transpose()
    }

    /// The centre's lockouts imposed at or after `since`, newest first (at most `limit`).
    pub async fn list_lockouts(
        &self,
        centre: CentreId,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<IdentityLockout>, StoreError> {
        let sql = format!(
            "{SELECT} WHERE p.health_centre_id = $1 AND l.locked_at_ms >= $2 \
             ORDER BY l.locked_at_ms DESC, l.id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(centre.0)
            .bind(to_ms(since))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(lockout_from_row).collect()
    }

    /// Lifts a lockout for `actor` (audited as `lockout_lift`) and forgives the failures it
    /// covered. `Rejected` if it was already lifted. Whether `actor` may is the caller's check.
    pub async fn lift_lockout(
        &self,
        id: LockoutId,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<IdentityLockout, StoreError> {
        let lockout = self
            .get_lockout(id)
            .await?
            .ok_or(StoreError::NotFound("identity lockout"))?;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE identity_lockouts SET lifted_at_ms = $1, lifted_by = $2 \
             WHERE id = $3 AND lifted_at_ms IS NULL",
        )
        .bind(to_ms(at))
        .bind(actor)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, "identity lockout"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Rejected("lockout already lifted".into()));
        }
        let forgive = match lockout.scope {
            LockoutScope::NumberAndId => "calling_number = $2 AND hersys_id = $3",
            LockoutScope::Number => "calling_number = $2 AND $3 IS NULL",
            LockoutScope::Id => "$2 IS NULL AND hersys_id = $3",
        };
        let sql = format!(
            "UPDATE auth_failures SET forgiven_at_ms = $1 \
             WHERE forgiven_at_ms IS NULL AND at_ms <= $1 AND {forgive}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(to_ms(at))
            .bind(lockout.calling_number.as_deref())
            .bind(lockout.hersys_id.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_write(e, "auth failure"))?;
        append_audit(
            &mut tx,
            at,
            actor,
            "lockout_lift",
            lockout.patient_id,
            &format!("lockout={} scope={}", id.0, lockout.scope.as_str()),
        )
        .await?;
        tx.commit().await?;
        self.get_lockout(id)
            .await?
            .ok_or(StoreError::NotFound("identity lockout"))
    }
}
