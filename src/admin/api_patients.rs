//! JSON API for one centre's patients: enrol, read, update, stop/resume, slots, wrong-number
//! review, reports, call attempts, and the follow-up list. Every handler goes through
//! [`Staff::patient`], which refuses other centres' patients with 403.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::auth::Staff;
use super::i18n::UiLang;
use super::{AdminError, AdminState, followup};
use crate::store::{
    AlertLevel, CallSlots, ContactMethod, FollowupHandled, HealthReport, Language, NewPatient,
    Patient, ReportFilter, hyphenated_national,
};

#[derive(Deserialize)]
pub(super) struct NewPatientJson {
    pub hersys_id: String,
    pub name: String,
    pub birth_date: NaiveDate,
    pub phone: String,
    pub language: Language,
    pub observation_start: NaiveDate,
    pub observation_end: NaiveDate,
    #[serde(default)]
    pub contact_method: Option<ContactMethod>,
    /// Hours; absent = the centre's default slots.
    #[serde(default)]
    pub call_slots: Option<Vec<u8>>,
}

fn slots(hours: &[u8]) -> Result<CallSlots, AdminError> {
    CallSlots::from_hours(hours).map_err(|e| AdminError::BadRequest(e.to_string()))
}

/// Enrols a patient in the staff member's own centre (the centre is never taken from input).
pub(super) async fn enrol(
    state: &AdminState,
    staff: &Staff,
    p: NewPatientJson,
) -> Result<Patient, AdminError> {
    let centre = state.store.get_centre_by_id(staff.centre_id).await?;
    let new = NewPatient {
        hersys_id: p.hersys_id.trim().to_string(),
        name: p.name,
        birth_date: p.birth_date,
        phone: p.phone,
        language: p.language,
        health_centre: centre.name,
        observation_start: p.observation_start,
        observation_end: p.observation_end,
        contact_method: p.contact_method.unwrap_or(ContactMethod::AutoCall),
        call_slots: p.call_slots.as_deref().map(slots).transpose()?,
    };
    let patient = state
        .store
        .insert_patient(&new, &staff.username, state.now())
        .await?;
    tracing::info!(staff = %staff.username, patient = patient.id.0, "patient enrolled via staff pages");
    Ok(patient)
}

pub(super) async fn list(
    State(state): State<AdminState>,
    staff: Staff,
) -> Result<Json<Vec<Patient>>, AdminError> {
    Ok(Json(
        state.store.list_centre_patients(staff.centre_id).await?,
    ))
}

pub(super) async fn create(
    State(state): State<AdminState>,
    staff: Staff,
    Json(p): Json<NewPatientJson>,
) -> Result<Response, AdminError> {
    let patient = enrol(&state, &staff, p).await?;
    Ok((StatusCode::CREATED, Json(patient)).into_response())
}

pub(super) async fn read(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Json<Patient>, AdminError> {
    Ok(Json(staff.patient(&state, id).await?))
}

#[derive(Deserialize)]
pub(super) struct PatientUpdate {
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    contact_method: Option<ContactMethod>,
    #[serde(default)]
    call_slots: Option<Vec<u8>>,
    #[serde(default)]
    language: Option<Language>,
    #[serde(default)]
    observation_start: Option<NaiveDate>,
    #[serde(default)]
    observation_end: Option<NaiveDate>,
}

/// PATCH: each given field is its own audited change, applied in field order.
pub(super) async fn update(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    Json(u): Json<PatientUpdate>,
) -> Result<Json<Patient>, AdminError> {
    let mut p = staff.patient(&state, id).await?;
    let (who, now) = (staff.username.as_str(), state.now());
    let new_slots = u.call_slots.as_deref().map(slots).transpose()?;
    if let Some(phone) = u.phone {
        p = state
            .store
            .set_phone(&p.hersys_id, &phone, who, now)
            .await?;
    }
    if let Some(m) = u.contact_method {
        p = state
            .store
            .set_contact_method(&p.hersys_id, m, who, now)
            .await?;
    }
    if let Some(s) = new_slots {
        p = state
            .store
            .set_patient_slots(&p.hersys_id, s, who, now)
            .await?;
    }
    if let Some(l) = u.language {
        p = state.store.set_language(&p.hersys_id, l, who, now).await?;
    }
    if u.observation_start.is_some() || u.observation_end.is_some() {
        let start = u.observation_start.unwrap_or(p.observation_start);
        let end = u.observation_end.unwrap_or(p.observation_end);
        p = state
            .store
            .set_observation_period(&p.hersys_id, start, end, who, now)
            .await?;
    }
    Ok(Json(p))
}

#[derive(Deserialize)]
pub(super) struct SlotsJson {
    slots: Vec<u8>,
}

pub(super) async fn set_slots(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    Json(s): Json<SlotsJson>,
) -> Result<Json<Patient>, AdminError> {
    let p = staff.patient(&state, id).await?;
    let slots = slots(&s.slots)?;
    let p = state
        .store
        .set_patient_slots(&p.hersys_id, slots, &staff.username, state.now())
        .await?;
    Ok(Json(p))
}

#[derive(Deserialize)]
pub(super) struct StopJson {
    #[serde(default)]
    reason: String,
}

pub(super) async fn stop(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    Json(s): Json<StopJson>,
) -> Result<Json<Patient>, AdminError> {
    let p = staff.patient(&state, id).await?;
    let p = state
        .store
        .stop_patient(&p.hersys_id, &s.reason, &staff.username, state.now())
        .await?;
    Ok(Json(p))
}

pub(super) async fn resume(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Json<Patient>, AdminError> {
    let p = staff.patient(&state, id).await?;
    let p = state
        .store
        .resume_patient(&p.hersys_id, &staff.username, state.now())
        .await?;
    Ok(Json(p))
}

pub(super) async fn wrong_number(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Json<Patient>, AdminError> {
    let p = staff.patient(&state, id).await?;
    let p = state
        .store
        .mark_wrong_number(&p.hersys_id, &staff.username, state.now())
        .await?;
    Ok(Json(p))
}

/// POST /api/patients/{id}/wrong-number/undo: the flag was a mistake; calls resume.
pub(super) async fn undo_wrong_number(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Json<Patient>, AdminError> {
    let p = staff.patient(&state, id).await?;
    let p = state
        .store
        .clear_wrong_number(&p.hersys_id, &staff.username, state.now())
        .await?;
    Ok(Json(p))
}

/// Patients whose number was flagged wrong (by key 9 on an auto-call or by staff), for
/// review: correct the phone with PATCH `{"phone"}` (clears the flag) or stop the patient.
pub(super) async fn wrong_numbers(
    State(state): State<AdminState>,
    staff: Staff,
) -> Result<Json<Vec<Patient>>, AdminError> {
    let mut all = state.store.list_centre_patients(staff.centre_id).await?;
    all.retain(|p| p.wrong_number);
    Ok(Json(all))
}

#[derive(Serialize)]
pub(super) struct ReportOut {
    #[serde(flatten)]
    report: HealthReport,
    alert_level: AlertLevel,
}

pub(super) async fn reports(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Json<Vec<ReportOut>>, AdminError> {
    let p = staff.patient(&state, id).await?;
    let centre = state.store.get_centre_by_id(p.centre_id).await?;
    let filter = ReportFilter {
        hersys_id: Some(p.hersys_id),
        since: None,
    };
    let out = state
        .store
        .list_reports(&filter)
        .await?
        .into_iter()
        .map(|report| ReportOut {
            alert_level: report.alert_level(&centre.settings.alerts),
            report,
        })
        .collect();
    Ok(Json(out))
}

pub(super) async fn attempts(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Response, AdminError> {
    let p = staff.patient(&state, id).await?;
    let list = state.store.list_attempts(Some(&p.hersys_id)).await?;
    Ok(Json(list).into_response())
}

/// One follow-up row as JSON: the row (with `findings` and `handled`), plus `reasons` (the
/// findings named in the request's interface language), age, hyphenated national phone and
/// the language's name.
#[derive(Serialize)]
pub(super) struct FollowupRowOut {
    #[serde(flatten)]
    row: followup::FollowupRow,
    reasons: Vec<String>,
    age: u32,
    phone_national: Option<String>,
    language_name: &'static str,
}

#[derive(Serialize)]
pub(super) struct FollowupOut {
    totals: followup::FollowupTotals,
    matching: usize,
    page: usize,
    per_page: usize,
    pages: usize,
    patients: Vec<FollowupRowOut>,
}

/// GET /api/followup?status&q&slot&page&per_page (see [`followup::StatusFilter`]).
pub(super) async fn followup(
    State(state): State<AdminState>,
    staff: Staff,
    lang: UiLang,
    Query(query): Query<followup::FollowupQuery>,
) -> Result<Json<FollowupOut>, AdminError> {
    let now = state.now();
    let (centre, rows) = followup::load(&state.store, staff.centre_id, now).await?;
    let today = now.with_timezone(&centre.settings.tz()?).date_naive();
    let page = followup::select(rows, &query).map_err(AdminError::BadRequest)?;
    let t = lang.texts();
    let patients = page
        .rows
        .into_iter()
        .map(|row| FollowupRowOut {
            reasons: row.findings.iter().map(|f| t.reason(*f)).collect(),
            age: row.patient.age_on(today),
            phone_national: hyphenated_national(&row.patient.phone),
            language_name: t.language_name(row.patient.language),
            row,
        })
        .collect();
    Ok(Json(FollowupOut {
        totals: page.totals,
        matching: page.matching,
        page: page.page,
        per_page: page.per_page,
        pages: page.pages,
        patients,
    }))
}

#[derive(Deserialize)]
pub(super) struct HandledJson {
    #[serde(default)]
    note: String,
}

/// POST /api/patients/{id}/handled `{"note"}`: marks the patient's flag handled.
pub(super) async fn handled(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    Json(h): Json<HandledJson>,
) -> Result<Json<FollowupHandled>, AdminError> {
    let p = staff.patient(&state, id).await?;
    let mark = state
        .store
        .mark_handled(p.id, &h.note, &staff.username, state.now())
        .await?;
    Ok(Json(mark))
}
