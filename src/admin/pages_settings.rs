//! Slot configuration pages: the centre's default slots (with its other settings shown),
//! and a patient's slots (the form sits on the patient page).

use std::fmt::Write;

use axum::extract::{Form, Path, State};
use axum::response::{Html, Redirect};
use serde::Deserialize;

use super::AdminState;
use super::auth::PageStaff;
use super::html::{PageError, csrf_field, field, frame, slot_checkboxes, slots_from_form};
use super::i18n::UiLang;

#[derive(Deserialize)]
pub(super) struct Saved {
    #[serde(default)]
    pub(super) saved: Option<u8>,
}

pub(super) async fn centre_page(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    lang: UiLang,
    axum::extract::Query(q): axum::extract::Query<Saved>,
) -> Result<Html<String>, PageError> {
    let t = lang.texts();
    let c = state.store.get_centre_by_id(staff.centre_id).await?;
    let s = &c.settings;
    let mut body = String::new();
    if q.saved.is_some() {
        let _ = write!(body, r#"<p class="msg">{}</p>"#, t.saved);
    }
    let _ = write!(
        body,
        r#"<h2>{}</h2><form method="post" action="/centre/slots">{}<p>{}</p><p><button type="submit">{}</button></p></form>"#,
        t.default_slots,
        csrf_field(&staff),
        slot_checkboxes(s.default_slots, s.calling_hours),
        t.save
    );
    let _ = write!(
        body,
        "<table><tr><th>{}</th><td>{:02}:{:02}–{:02}:{:02} ({})</td></tr>\
         <tr><th>{}</th><td>max {} · {} / {} / {} s · window {} s</td></tr>\
         <tr><th>{}</th><td>SpO2 ≤ {} / ≤ {} · {:.1} °C</td></tr></table>",
        t.calling_hours,
        s.calling_hours.from_minute / 60,
        s.calling_hours.from_minute % 60,
        s.calling_hours.until_minute / 60,
        s.calling_hours.until_minute % 60,
        super::html::esc(&s.timezone),
        t.retry_policy,
        s.retry.max_attempts,
        s.retry.no_answer_delay.as_secs(),
        s.retry.busy_delay.as_secs(),
        s.retry.failed_delay.as_secs(),
        s.retry.slot_window.as_secs(),
        t.alert_thresholds,
        s.alerts.spo2_urgent,
        s.alerts.spo2_recheck,
        s.alerts.temperature_followup_dc as f64 / 10.0
    );
    Ok(frame(
        lang,
        &format!("{} — {}", t.centre_settings, c.name),
        Some(&staff),
        &body,
    ))
}

pub(super) async fn centre_slots(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Redirect, PageError> {
    staff.check_csrf(field(&fields, "csrf"))?;
    let slots = slots_from_form(&fields)?;
    let c = state.store.get_centre_by_id(staff.centre_id).await?;
    state
        .store
        .set_centre_slots(&c.name, slots, &staff.username)
        .await?;
    Ok(Redirect::to("/centre?saved=1"))
}

pub(super) async fn patient_slots(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Redirect, PageError> {
    staff.check_csrf(field(&fields, "csrf"))?;
    let p = staff.patient(&state, id).await?;
    let slots = slots_from_form(&fields)?;
    state
        .store
        .set_patient_slots(&p.hersys_id, slots, &staff.username, state.now())
        .await?;
    Ok(Redirect::to(&format!("/patients/{id}?saved=1")))
}
