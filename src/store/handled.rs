//! "Handled" marks on the follow-up list: who dealt with a flagged patient, when, and a short
//! note. Each mark is a new row (history kept); the list shows a patient's latest mark until
//! the patient's next report (that rule is in `admin::followup`).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::audit::append_audit;
use super::centres::CentreId;
use super::patients::PatientId;
use super::{Store, StoreError, from_ms, to_ms};

/// The longest note kept, in characters: a line on the list, not a case record.
pub const HANDLED_NOTE_MAX_CHARS: usize = 200;

/// One "handled" mark.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FollowupHandled {
    /// The staff username.
    pub by: String,
    pub at: DateTime<Utc>,
    pub note: String,
}

impl Store {
    /// Records that `actor` handled the patient's flag, with `note` (trimmed, at most
    /// [`HANDLED_NOTE_MAX_CHARS`]); audited as `followup_handled` with the note.
    pub async fn mark_handled(
        &self,
        patient: PatientId,
        note: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<FollowupHandled, StoreError> {
        let note = note.trim();
        if note.chars().count() > HANDLED_NOTE_MAX_CHARS {
            return Err(StoreError::Rejected(format!(
                "note is longer than {HANDLED_NOTE_MAX_CHARS} characters"
            )));
        }
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO followup_handled (patient_id, handled_at_ms, handled_by, note) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(patient.0)
        .bind(to_ms(at))
        .bind(actor)
        .bind(note)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, "handled mark"))?;
        append_audit(&mut tx, at, actor, "followup_handled", Some(patient), note).await?;
        tx.commit().await?;
        Ok(FollowupHandled {
            by: actor.to_string(),
            at,
            note: note.to_string(),
        })
    }

    /// The latest mark of every patient of the centre who has one.
    pub async fn latest_handled(
        &self,
        centre: CentreId,
    ) -> Result<Vec<(PatientId, FollowupHandled)>, StoreError> {
        let rows = sqlx::query(
            "SELECT h.patient_id, h.handled_at_ms, h.handled_by, h.note FROM followup_handled h \
             WHERE h.id IN (SELECT MAX(h2.id) FROM followup_handled h2 \
             JOIN patients p ON p.id = h2.patient_id WHERE p.health_centre_id = $1 \
             GROUP BY h2.patient_id) ORDER BY h.patient_id",
        )
        .bind(centre.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    PatientId(r.try_get("patient_id")?),
                    FollowupHandled {
                        by: r.try_get("handled_by")?,
                        at: from_ms(r.try_get("handled_at_ms")?)?,
                        note: r.try_get("note")?,
                    },
                ))
            })
            .collect()
    }
}
