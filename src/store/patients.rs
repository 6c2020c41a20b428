//! Patients under observation: enrolment, lookup, slots, stop/resume, wrong numbers, and the
//! health-call line's identity check.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::audit::append_audit;
use super::centres::{CentreId, ensure_centre_in};
use super::import::ImportProblem;
use super::{
    CallSlots, ContactMethod, Language, Store, StoreError, date_text, from_ms, normalise_phone,
    opt_from_ms, parse_date_text, to_ms,
};
use crate::privacy::mask_hersys_id;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PatientId(pub i64);

/// A HER-SYS ID is 6 to 8 ASCII digits (the seeds say 6 or 7; 8 leaves room).
pub fn valid_hersys_id(id: &str) -> bool {
    (6..=8).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// A patient to enrol. `phone` may be in any accepted form; it is normalised on insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPatient {
    pub hersys_id: String,
    pub name: String,
    pub birth_date: NaiveDate,
    pub phone: String,
    pub language: Language,
    pub health_centre: String,
    pub observation_start: NaiveDate,
    pub observation_end: NaiveDate,
    pub contact_method: ContactMethod,
    /// `None`: the centre's default slots.
    pub call_slots: Option<CallSlots>,
}

impl NewPatient {
    /// Checks the fields and normalises the phone; every problem found, in field order.
    pub fn normalised(mut self) -> Result<NewPatient, Vec<ImportProblem>> {
        let mut problems = Vec::new();
        if !valid_hersys_id(&self.hersys_id) {
            problems.push(ImportProblem::BadHersysId);
        }
        self.name = self.name.trim().to_string();
        if self.name.is_empty() {
            problems.push(ImportProblem::EmptyName);
        }
        match normalise_phone(&self.phone) {
            Ok(p) => self.phone = p,
            Err(e) => problems.push(ImportProblem::Phone(e)),
        }
        if self.health_centre.trim().is_empty() {
            problems.push(ImportProblem::EmptyCentre);
        }
        if self.observation_end < self.observation_start {
            problems.push(ImportProblem::EndBeforeStart);
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems)
        }
    }
}

/// Whether a patient is to be called / may report on a given local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatientStatus {
    Active,
    NotStarted,
    Ended,
    Stopped,
    WrongNumber,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Patient {
    pub id: PatientId,
    pub hersys_id: String,
    pub name: String,
    pub birth_date: NaiveDate,
    /// E.164.
    pub phone: String,
    pub language: Language,
    pub centre_id: CentreId,
    pub health_centre: String,
    pub observation_start: NaiveDate,
    pub observation_end: NaiveDate,
    pub contact_method: ContactMethod,
    pub call_slots: CallSlots,
    pub stopped_at: Option<DateTime<Utc>>,
    pub stopped_reason: Option<String>,
    pub wrong_number: bool,
    pub created_at: DateTime<Utc>,
}

impl Patient {
    /// Stop rules first (wrong number, staff stop), then the observation period.
    pub fn status_on(&self, date: NaiveDate) -> PatientStatus {
        if self.wrong_number {
            PatientStatus::WrongNumber
        } else if self.stopped_at.is_some() {
            PatientStatus::Stopped
        } else if date < self.observation_start {
            PatientStatus::NotStarted
        } else if date > self.observation_end {
            PatientStatus::Ended
        } else {
            PatientStatus::Active
        }
    }

    /// Age in whole years on `date` (0 before the birth date).
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        date.years_since(self.birth_date).unwrap_or(0)
    }

    pub fn is_active_on(&self, date: NaiveDate) -> bool {
        self.status_on(date) == PatientStatus::Active
    }

    /// Whether `mmdd` (four digits, as keyed) is this patient's birthday.
    pub fn birthday_matches(&self, mmdd: &str) -> bool {
        mmdd.len() == 4 && self.birth_date.format("%m%d").to_string() == mmdd
    }
}

/// The answer to "HER-SYS ID + birthday": deliberately no hint of which part was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityCheck {
    Verified(Box<Patient>),
    Mismatch,
}

/// The shared SELECT with its joins, followed by the given clause.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT p.id, p.hersys_id, p.name, p.birth_date, p.phone, p.language, \
             p.health_centre_id, c.name AS centre_name, p.observation_start, p.observation_end, \
             p.contact_method, p.call_slots, p.stopped_at_ms, p.stopped_reason, p.wrong_number, \
             p.created_at_ms FROM patients p JOIN health_centres c ON c.id = p.health_centre_id",
            " ",
            $rest
        )
    };
}
// Shared with the staff pages' per-centre lists (`followup.rs`): one SELECT for patients.
pub(super) use select as select_patients;

pub(super) fn from_row(r: &AnyRow) -> Result<Patient, StoreError> {
    let text = |c: &str| -> Result<String, StoreError> { Ok(r.try_get::<String, _>(c)?) };
    let corrupt = |e: super::UnknownValue| StoreError::Corrupt(e.to_string());
    let slots: i64 = r.try_get("call_slots")?;
    Ok(Patient {
        id: PatientId(r.try_get("id")?),
        hersys_id: text("hersys_id")?,
        name: text("name")?,
        birth_date: parse_date_text(&text("birth_date")?)?,
        phone: text("phone")?,
        language: Language::parse(&text("language")?).map_err(corrupt)?,
        centre_id: CentreId(r.try_get("health_centre_id")?),
        health_centre: text("centre_name")?,
        observation_start: parse_date_text(&text("observation_start")?)?,
        observation_end: parse_date_text(&text("observation_end")?)?,
        contact_method: ContactMethod::parse(&text("contact_method")?).map_err(corrupt)?,
        call_slots: CallSlots::from_mask(slots)
            .map_err(|_| StoreError::Corrupt(format!("call_slots = {slots}")))?,
        stopped_at: opt_from_ms(r.try_get("stopped_at_ms")?)?,
        stopped_reason: r.try_get("stopped_reason")?,
        wrong_number: r.try_get::<i64, _>("wrong_number")? != 0,
        created_at: from_ms(r.try_get("created_at_ms")?)?,
    })
}

pub(crate) async fn patient_by_hersys(
    conn: &mut AnyConnection,
    hersys_id: &str,
) -> Result<Option<Patient>, StoreError> {
    let sql = select!("WHERE p.hersys_id = $1");
    let row = sqlx::query(sql)
        .bind(hersys_id)
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

pub(crate) async fn patient_by_id(
    conn: &mut AnyConnection,
    id: PatientId,
) -> Result<Patient, StoreError> {
    let sql = select!("WHERE p.id = $1");
    let row = sqlx::query(sql).bind(id.0).fetch_optional(conn).await?;
    row.as_ref()
        .map(from_row)
        .transpose()?
        .ok_or(StoreError::NotFound("patient"))
}

/// Inserts an already normalised patient (see [`NewPatient::normalised`]) in the caller's
/// transaction, creating the centre if new.
pub(crate) async fn insert_patient_in(
    conn: &mut AnyConnection,
    p: &NewPatient,
    at: DateTime<Utc>,
) -> Result<PatientId, StoreError> {
    let (centre, _) = ensure_centre_in(conn, &p.health_centre).await?;
    let slots = p.call_slots.unwrap_or(centre.settings.default_slots);
    if !centre.settings.calling_hours.allows_slots(slots) {
        return Err(StoreError::Rejected(format!(
            "call slots {slots} fall outside the centre's calling hours"
        )));
    }
    let id: i64 = sqlx::query(
        "INSERT INTO patients (hersys_id, name, birth_date, phone, language, health_centre_id, \
         observation_start, observation_end, contact_method, call_slots, created_at_ms, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
    )
    .bind(p.hersys_id.as_str())
    .bind(p.name.as_str())
    .bind(date_text(p.birth_date))
    .bind(p.phone.as_str())
    .bind(p.language.as_str())
    .bind(centre.id.0)
    .bind(date_text(p.observation_start))
    .bind(date_text(p.observation_end))
    .bind(p.contact_method.as_str())
    .bind(slots.mask())
    .bind(to_ms(at))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| StoreError::from_write(e, "patient with this HER-SYS ID"))?
    .try_get("id")?;
    Ok(PatientId(id))
}

impl Store {
    /// Enrols one patient (audited). Errors name every invalid field.
    pub async fn insert_patient(
        &self,
        patient: &NewPatient,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<Patient, StoreError> {
        let p = patient.clone().normalised().map_err(|v| {
            let v: Vec<String> = v.iter().map(ToString::to_string).collect();
            StoreError::Rejected(v.join("; "))
        })?;
        let mut tx = self.begin_write().await?;
        let id = insert_patient_in(&mut tx, &p, at).await?;
        append_audit(&mut tx, at, actor, "enrol", Some(id), "").await?;
        let stored = patient_by_id(&mut tx, id).await?;
        tx.commit().await?;
        tracing::info!(hersys_id = %mask_hersys_id(&p.hersys_id), "patient enrolled");
        Ok(stored)
    }

    pub async fn get_patient(&self, hersys_id: &str) -> Result<Option<Patient>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        patient_by_hersys(&mut conn, hersys_id).await
    }

    pub async fn get_patient_by_id(&self, id: PatientId) -> Result<Patient, StoreError> {
        let mut conn = self.pool.acquire().await?;
        patient_by_id(&mut conn, id).await
    }

    /// Everyone on this number (households may share one phone). `phone` in any accepted form.
    pub async fn patients_by_phone(&self, phone: &str) -> Result<Vec<Patient>, StoreError> {
        let Ok(e164) = normalise_phone(phone) else {
            return Ok(Vec::new());
        };
        let sql = select!("WHERE p.phone = $1 ORDER BY p.hersys_id");
        let rows = sqlx::query(sql).bind(e164).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// All patients, by HER-SYS ID.
    pub async fn list_patients(&self) -> Result<Vec<Patient>, StoreError> {
        let sql = select!("ORDER BY p.hersys_id");
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Patients of `centre` to auto-call at `hour` o'clock on the centre-local `date`: in their
    /// observation period, not stopped, not a wrong number, contact method auto-call.
    pub async fn patients_due(
        &self,
        centre: CentreId,
        date: NaiveDate,
        hour: u8,
    ) -> Result<Vec<Patient>, StoreError> {
        if hour > 23 {
            return Ok(Vec::new());
        }
        let sql = select!(
            "WHERE p.health_centre_id = $1 AND p.observation_start <= $2 \
             AND p.observation_end >= $2 AND p.stopped_at_ms IS NULL AND p.wrong_number = 0 \
             AND p.contact_method = 'auto_call' AND (p.call_slots & $3) <> 0 ORDER BY p.id"
        );
        let rows = sqlx::query(sql)
            .bind(centre.0)
            .bind(date_text(date))
            .bind(1i64 << hour)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// HER-SYS ID + MMDD birthday → the patient, or a `Mismatch` that does not say whether the
    /// ID exists. Counting failures is the caller's part ([`Store::record_auth_failure`]).
    pub async fn verify_identity(
        &self,
        hersys_id: &str,
        mmdd: &str,
    ) -> Result<IdentityCheck, StoreError> {
        if !valid_hersys_id(hersys_id) {
            return Ok(IdentityCheck::Mismatch);
        }
        Ok(match self.get_patient(hersys_id).await? {
            Some(p) if p.birthday_matches(mmdd) => IdentityCheck::Verified(Box::new(p)),
            _ => IdentityCheck::Mismatch,
        })
    }
}
