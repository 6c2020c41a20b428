//! Enrolment form and CSV upload (per-row errors shown; nothing applied on any error).

use std::fmt::Write;

use axum::extract::{Form, Multipart, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::NaiveDate;

use super::AdminError;
use super::AdminState;
use super::api_csv::import_for_centre;
use super::api_patients::{NewPatientJson, enrol};
use super::auth::{PageStaff, Staff};
use super::html::{PageError, csrf_field, esc, field, frame, slot_checkboxes, slots_from_form};
use super::i18n::UiLang;
use crate::store::{ContactMethod, Language, StoreError};

type Fields = Vec<(String, String)>;

async fn enrol_form(
    state: &AdminState,
    staff: &Staff,
    lang: UiLang,
    f: &Fields,
    error: Option<&str>,
) -> Result<Html<String>, PageError> {
    let t = lang.texts();
    let c = state.store.get_centre_by_id(staff.centre_id).await?;
    let mut body = String::new();
    if let Some(e) = error {
        let _ = write!(body, r#"<p class="err" id="enrol-error">{}</p>"#, esc(e));
    }
    let _ = write!(
        body,
        r#"<form method="post" action="/enrol">{}"#,
        csrf_field(staff)
    );
    for (name, label, kind) in [
        ("hersys_id", t.hersys_id, "text"),
        ("name", t.name, "text"),
        ("birth_date", t.birth_date, "date"),
        ("phone", t.phone, "tel"),
        ("observation_start", t.observation_start, "date"),
        ("observation_end", t.observation_end, "date"),
    ] {
        let _ = write!(
            body,
            r#"<p><label>{label} <input name="{name}" type="{kind}" value="{}" required></label></p>"#,
            esc(field(f, name))
        );
    }
    let _ = write!(body, r#"<p><label>{} <select name="language">"#, t.language);
    for l in Language::ALL {
        let sel = if field(f, "language") == l.as_str() {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, r#"<option value="{l}"{sel}>{l}</option>"#);
    }
    let _ = write!(
        body,
        r#"</select></label> <label>{} <select name="contact_method">"#,
        t.contact_method
    );
    for m in ContactMethod::ALL {
        let sel = if field(f, "contact_method") == m.as_str() {
            " selected"
        } else {
            ""
        };
        let _ = write!(
            body,
            r#"<option value="{m}"{sel}>{}</option>"#,
            t.contact_method(*m)
        );
    }
    let _ = write!(
        body,
        r#"</select></label></p><p>{}: {}</p><p><button type="submit">{}</button></p></form>"#,
        t.call_slots,
        slot_checkboxes(c.settings.default_slots, c.settings.calling_hours),
        t.enrol
    );
    Ok(frame(lang, t.enrol, Some(staff), &body))
}

pub(super) async fn page(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    lang: UiLang,
) -> Result<Html<String>, PageError> {
    enrol_form(&state, &staff, lang, &Vec::new(), None).await
}

fn date(f: &Fields, name: &str) -> Result<NaiveDate, AdminError> {
    NaiveDate::parse_from_str(field(f, name).trim(), "%Y-%m-%d")
        .map_err(|_| AdminError::BadRequest(format!("{name} is not a date YYYY-MM-DD")))
}

fn parse_enrolment(f: &Fields) -> Result<NewPatientJson, AdminError> {
    let bad = |e: crate::store::UnknownValue| AdminError::BadRequest(e.to_string());
    Ok(NewPatientJson {
        hersys_id: field(f, "hersys_id").to_string(),
        name: field(f, "name").to_string(),
        birth_date: date(f, "birth_date")?,
        phone: field(f, "phone").to_string(),
        language: Language::parse(field(f, "language")).map_err(bad)?,
        observation_start: date(f, "observation_start")?,
        observation_end: date(f, "observation_end")?,
        contact_method: Some(ContactMethod::parse(field(f, "contact_method")).map_err(bad)?),
        call_slots: Some(slots_from_form(f)?.hours()),
    })
}

pub(super) async fn submit(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    lang: UiLang,
    Form(f): Form<Fields>,
) -> Result<Response, PageError> {
    staff.check_csrf(field(&f, "csrf"))?;
    let outcome = match parse_enrolment(&f) {
        Ok(p) => enrol(&state, &staff, p).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(p) => Ok(Redirect::to(&format!("/patients/{}", p.id.0)).into_response()),
        Err(e) if e.status().is_client_error() => {
            let form = enrol_form(&state, &staff, lang, &f, Some(&e.to_string())).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, form).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

fn import_form(lang: UiLang, staff: &Staff) -> String {
    let t = lang.texts();
    format!(
        r#"<form method="post" action="/import" enctype="multipart/form-data">{}<p><input type="file" name="file" accept=".csv,text/csv" required></p><p><button type="submit">{}</button></p></form><p><code>hersys_id,name,birth_date,phone,language,health_centre,slots,observation_start,observation_end</code></p><p>{}</p><p><a href="/import/template.csv" id="template">{}</a></p>"#,
        csrf_field(staff),
        t.upload,
        t.import_hint,
        t.import_template
    )
}

pub(super) async fn import_page(PageStaff(staff): PageStaff, lang: UiLang) -> Html<String> {
    frame(
        lang,
        lang.texts().import_csv,
        Some(&staff),
        &import_form(lang, &staff),
    )
}

pub(super) async fn import_submit(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    lang: UiLang,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let t = lang.texts();
    let (mut csrf, mut file) = (String::new(), Vec::new());
    let bad = |e: axum::extract::multipart::MultipartError| AdminError::BadRequest(e.to_string());
    while let Some(part) = form.next_field().await.map_err(bad)? {
        match part.name() {
            Some("csrf") => csrf = part.text().await.map_err(bad)?,
            Some("file") => file = part.bytes().await.map_err(bad)?.to_vec(),
            _ => {}
        }
    }
    staff.check_csrf(&csrf)?;
    let mut body = String::new();
    let status = match import_for_centre(&state, &staff, &file).await {
        Ok(summary) => {
            let _ = write!(
                body,
                r#"<p class="msg" id="import-ok">{} {}</p>"#,
                summary.inserted, t.imported
            );
            StatusCode::OK
        }
        Err(AdminError::Store(StoreError::Import(errors))) => {
            let _ = write!(
                body,
                r#"<p class="err">{}</p><table id="import-errors"><tr><th>{}</th><th>{}</th></tr>"#,
                t.import_refused, t.line, t.reason
            );
            for e in &errors.0 {
                let reasons: Vec<String> = e
                    .problems
                    .iter()
                    .map(|p| esc(&super::i18n::import_problem(lang, p)))
                    .collect();
                let _ = write!(
                    body,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    e.line,
                    reasons.join("<br>")
                );
            }
            body.push_str("</table>");
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(e) => return Err(e.into()),
    };
    body.push_str(&import_form(lang, &staff));
    Ok((status, frame(lang, t.import_csv, Some(&staff), &body)).into_response())
}
