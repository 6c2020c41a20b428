//! Staff changes to one patient (slots, contact method, stop/resume, wrong number, phone):
//! each update commits together with its audit entry.

use chrono::{DateTime, Utc};

use super::audit::append_audit;
use super::centres::centre_by_id;
use super::patients::{Patient, patient_by_hersys, patient_by_id};
use super::{CallSlots, ContactMethod, Store, StoreError, flag, normalise_phone, to_ms};
use crate::privacy::mask_hersys_id;

impl Store {
    /// Changes a patient's call slots from the next slot on (audited).
    pub async fn set_patient_slots(
        &self,
        hersys_id: &str,
        slots: CallSlots,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Patient, StoreError> {
        let mut tx = self.begin_write().await?;
        let p = patient_by_hersys(&mut tx, hersys_id)
            .await?
            .ok_or(StoreError::NotFound("patient"))?;
        let centre = centre_by_id(&mut tx, p.centre_id).await?;
        if !centre.settings.calling_hours.allows_slots(slots) {
            return Err(StoreError::Rejected(format!(
                "call slots {slots} fall outside the centre's calling hours"
            )));
        }
        sqlx::query("UPDATE patients SET call_slots = $1, updated_at_ms = $2 WHERE id = $3")
            .bind(slots.mask())
            .bind(to_ms(at))
            .bind(p.id.0)
            .execute(&mut *tx)
            .await?;
        let detail = format!("slots {} -> {slots}", p.call_slots);
        append_audit(&mut tx, at, actor, "set_slots", Some(p.id), &detail).await?;
        let stored = patient_by_id(&mut tx, p.id).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Switches between auto-call and health-call (audited).
    pub async fn set_contact_method(
        &self,
        hersys_id: &str,
        method: ContactMethod,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Patient, StoreError> {
        let sql = "UPDATE patients SET contact_method = $1, updated_at_ms = $2 WHERE id = $3";
        self.change_patient(
            hersys_id,
            actor,
            at,
            "set_contact_method",
            method.as_str(),
            |id| {
                sqlx::query(sql)
                    .bind(method.as_str())
                    .bind(to_ms(at))
                    .bind(id)
            },
        )
        .await
    }

    /// Stops calls to a patient (audited with the reason).
    pub async fn stop_patient(
        &self,
        hersys_id: &str,
        reason: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Patient, StoreError> {
        // Staff may stop without saying why; the record still says who (the audit actor).
        let reason = match reason.trim() {
            "" => "staff",
            r => r,
        };
        let sql = "UPDATE patients SET stopped_at_ms = $1, stopped_reason = $2, updated_at_ms = $1 \
                   WHERE id = $3";
        self.change_patient(hersys_id, actor, at, "stop", reason, |id| {
            sqlx::query(sql)
                .bind(to_ms(at))
                .bind(reason.to_string())
                .bind(id)
        })
        .await
    }

    /// Resumes calls after a stop (audited).
    pub async fn resume_patient(
        &self,
        hersys_id: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Patient, StoreError> {
        let sql = "UPDATE patients SET stopped_at_ms = NULL, stopped_reason = NULL, \
                   updated_at_ms = $1 WHERE id = $2";
        self.change_patient(hersys_id, actor, at, "resume", "", |id| {
            sqlx::query(sql).bind(to_ms(at)).bind(id)
        })
        .await
    }

    /// Flags the number as not the patient's (key 9 on an auto-call, or staff); no more calls.
    pub async fn mark_wrong_number(
        &self,
        hersys_id: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Patient, StoreError> {
        let sql = "UPDATE patients SET wrong_number = 1, updated_at_ms = $1 WHERE id = $2";
        self.change_patient(hersys_id, actor, at, "wrong_number", "", |id| {
            sqlx::query(sql).bind(to_ms(at)).bind(id)
        })
        .await
    }

    /// Undoes a wrong-number flag set by mistake (key 9 pressed by the patient, or by staff):
    /// the number is kept and calls resume at the next slot. Audited as `wrong_number_undo`.
    pub async fn clear_wrong_number(
        &self,
        hersys_id: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Patient, StoreError> {
        let sql = "UPDATE patients SET wrong_number = 0, updated_at_ms = $1 WHERE id = $2";
        self.change_patient(hersys_id, actor, at, "wrong_number_undo", "", |id| {
            sqlx::query(sql).bind(to_ms(at)).bind(id)
        })
        .await
    }

    /// Sets a corrected phone number and clears the wrong-number flag (audited).
    pub async fn set_phone(
        &self,
        hersys_id: &str,
        phone: &str,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Patient, StoreError> {
        let e164 = normalise_phone(phone).map_err(|e| StoreError::Rejected(e.to_string()))?;
        let sql =
            "UPDATE patients SET phone = $1, wrong_number = $2, updated_at_ms = $3 WHERE id = $4";
        self.change_patient(hersys_id, actor, at, "set_phone", "", |id| {
            sqlx::query(sql)
                .bind(e164.clone())
                .bind(flag(false))
                .bind(to_ms(at))
                .bind(id)
        })
        .await
    }

    /// One audited staff change to one patient: the update and its audit entry commit together.
    pub(super) async fn change_patient<'q>(
        &self,
        hersys_id: &str,
        actor: &str,
        at: DateTime<Utc>,
        action: &str,
        detail: &str,
        update: impl FnOnce(i64) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<Patient, StoreError> {
        let mut tx = self.begin_write().await?;
        let p = patient_by_hersys(&mut tx, hersys_id)
            .await?
            .ok_or(StoreError::NotFound("patient"))?;
        update(p.id.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_write(e, "patient change"))?;
        append_audit(&mut tx, at, actor, action, Some(p.id), detail).await?;
        let stored = patient_by_id(&mut tx, p.id).await?;
        tx.commit().await?;
        tracing::info!(hersys_id = %mask_hersys_id(hersys_id), action, "patient changed");
        Ok(stored)
    }
}
