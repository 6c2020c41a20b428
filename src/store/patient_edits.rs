//! Staff edits of a patient's observation period and voice language (the staff pages' patient
//! form), each an audited change through the same path as the other patient changes.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Language, Patient, Store, StoreError, date_text, to_ms};

impl Store {
    /// Sets the observation period (audited as `set_period`). Ending it early stops the calls
    /// from the next day on; extending it continues them.
    pub async fn set_observation_period(
        &self,
        hersys_id: &str,
        start: NaiveDate,
        end: NaiveDate,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Patient, StoreError> {
        if end < start {
            return Err(StoreError::Rejected(
                "observation end is before its start".into(),
            ));
        }
        let sql = "UPDATE patients SET observation_start = $1, observation_end = $2, \
                   updated_at_ms = $3 WHERE id = $4";
        let detail = format!("{} - {}", date_text(start), date_text(end));
        self.change_patient(hersys_id, actor, at, "set_period", &detail, |id| {
            sqlx::query(sql)
                .bind(date_text(start))
                .bind(date_text(end))
                .bind(to_ms(at))
                .bind(id)
        })
        .await
    }

    /// Sets the voice-guidance language (audited as `set_language`).
    pub async fn set_language(
        &self,
        hersys_id: &str,
        language: Language,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Patient, StoreError> {
        let sql = "UPDATE patients SET language = $1, updated_at_ms = $2 WHERE id = $3";
        self.change_patient(
            hersys_id,
            actor,
            at,
            "set_language",
            language.as_str(),
            |id| {
                sqlx::query(sql)
                    .bind(language.as_str())
                    .bind(to_ms(at))
                    .bind(id)
            },
        )
        .await
    }
}
