//! Staff accounts (one health centre each) and their login sessions. Password hashing and
//! token generation belong to the web layer (`admin::auth`); the store keeps the argon2 PHC
//! string and a hash of each session token, never a token itself.

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::audit::append_audit;
use super::centres::{CentreId, centre_by_id};
use super::{Store, StoreError, from_ms, to_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct StaffId(pub i64);

/// A staff login. `password_hash` is an argon2 PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffAccount {
    pub id: StaffId,
    pub username: String,
    pub centre_id: CentreId,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// A live session: whose it is and the CSRF token its forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffSession {
    pub staff: StaffAccount,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

/// Usernames: 3-64 characters of ASCII letters, digits, `.`, `_`, `-`, `@` (they appear in
/// the audit log and must not be confusable).
pub fn valid_username(name: &str) -> bool {
    (3..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

fn staff_from_row(r: &AnyRow) -> Result<StaffAccount, StoreError> {
    Ok(StaffAccount {
        id: StaffId(r.try_get("id")?),
        username: r.try_get("username")?,
        centre_id: CentreId(r.try_get("health_centre_id")?),
        password_hash: r.try_get("password_hash")?,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
    })
}

impl Store {
    /// Creates a staff account of an existing centre (audited as `staff_add`).
    pub async fn insert_staff(
        &self,
        username: &str,
        centre: CentreId,
        password_hash: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<StaffAccount, StoreError> {
        if !valid_username(username) {
            return Err(StoreError::Rejected(
                "username must be 3-64 letters, digits or . _ - @".into(),
            ));
        }
        let mut tx = self.begin_write().await?;
        let centre = centre_by_id(&mut tx, centre).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO staff_accounts (username, health_centre_id, password_hash, created_at_ms) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(username)
        .bind(centre.id.0)
        .bind(password_hash)
        .bind(to_ms(at))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, "staff account"))?
        .try_get("id")?;
        let detail = format!("staff {username:?} of centre {:?}", centre.name);
        append_audit(&mut tx, at, actor, "staff_add", None, &detail).await?;
        tx.commit().await?;
        Ok(StaffAccount {
            id: StaffId(id),
            username: username.to_string(),
            centre_id: centre.id,
            password_hash: password_hash.to_string(),
            created_at: at,
        })
    }

    pub async fn get_staff(&self, username: &str) -> Result<Option<StaffAccount>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.username, s.health_centre_id, s.password_hash, s.created_at_ms \
             FROM staff_accounts s WHERE s.username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    /// Stores a new session (by the hash of its token) valid until `expires_at`.
    pub async fn create_session(
        &self,
        token_hash: &str,
        staff: StaffId,
        csrf_token: &str,
        at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO staff_sessions (token_hash, staff_id, csrf_token, created_at_ms, \
             expires_at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(staff.0)
        .bind(csrf_token)
        .bind(to_ms(at))
        .bind(to_ms(expires_at))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_write(e, "staff session"))?;
        Ok(())
    }

    /// The session with this token hash if it has not expired at `now`.
    pub async fn live_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<StaffSession>, StoreError> {
        let row = sqlx::query(
            "SELECT s.id, s.username, s.health_centre_id, s.password_hash, s.created_at_ms, \
             x.csrf_token, x.expires_at_ms FROM staff_accounts s \
             JOIN staff_sessions x ON x.staff_id = s.id \
             WHERE x.token_hash = $1 AND x.expires_at_ms > $2",
        )
        .bind(token_hash)
        .bind(to_ms(now))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|r| {
                Ok(StaffSession {
                    staff: staff_from_row(r)?,
                    csrf_token: r.try_get("csrf_token")?,
                    expires_at: from_ms(r.try_get("expires_at_ms")?)?,
                })
            })
            .transpose()
    }

    /// Ends one session (logout). Unknown tokens are not an error.
    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM staff_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes sessions expired before `now` (housekeeping).
    pub async fn prune_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM staff_sessions WHERE expires_at_ms <= $1")
            .bind(to_ms(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_short_plain_ascii() {
        assert!(valid_username("sato.k@minato"));
        assert!(!valid_username("ab"));
        assert!(!valid_username("has space"));
        assert!(!valid_username("名前です"));
        assert!(!valid_username(&"x".repeat(65)));
    }
}
