//! The Lockouts page: the centre's health-call identity lockouts of the last 30 days, with a
//! Lift button on those in force (the same operations as `/api/lockouts`).

use std::fmt::Write;

use axum::extract::{Form, Path, State};
use axum::response::{Html, Redirect};

use super::AdminState;
use super::api_lockouts::{centre_lockouts, lift_for};
use super::auth::PageStaff;
use super::html::{PageError, csrf_field, esc, field, frame};
use super::i18n::UiLang;
use crate::privacy::mask_phone;

pub(super) async fn page(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    lang: UiLang,
) -> Result<Html<String>, PageError> {
    let t = lang.texts();
    let now = state.now();
    let tz = state
        .store
        .get_centre_by_id(staff.centre_id)
        .await?
        .settings
        .tz()?;
    let rows = centre_lockouts(&state, &staff).await?;
    let mut body = format!("<p>{}</p>", esc(t.lockouts_intro));
    if rows.is_empty() {
        let _ = write!(body, "<p id=\"no-lockouts\">{}</p>", t.no_lockouts);
        return Ok(frame(lang, t.lockouts, Some(&staff), &body));
    }
    let _ = write!(
        body,
        "<table id=\"lockouts\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th><th></th></tr></thead><tbody>",
        t.locked_at,
        t.hersys_id,
        t.calling_number,
        t.lockout_scopes.join(" / "),
        t.failures,
        t.locked_until,
        t.status
    );
    let when =
        |at: chrono::DateTime<chrono::Utc>| at.with_timezone(&tz).format("%m/%d %H:%M").to_string();
    for l in &rows {
        let patient = match (l.patient_id, &l.hersys_id) {
            (Some(p), Some(id)) => format!("<a href=\"/patients/{}\">{}</a>", p.0, esc(id)),
            (Some(p), None) => format!("<a href=\"/patients/{0}\">#{0}</a>", p.0),
            (None, _) => "—".into(),
        };
        let number = l
            .calling_number
            .as_deref()
            .map_or("—".into(), |n| esc(&mask_phone(n)));
        let (status, action) = if let Some(by) = &l.lifted_by {
            (
                format!("{} {}", t.lockout_lifted_by, esc(by)),
                String::new(),
            )
        } else if l.is_active(now) {
            (
                t.lockout_active.to_string(),
                format!(
                    "<form method=\"post\" action=\"/lockouts/{}/lift\">{}\
                     <button type=\"submit\" class=\"lift\">{}</button></form>",
                    l.id.0,
                    csrf_field(&staff),
                    t.lift
                ),
            )
        } else {
            (t.lockout_expired.to_string(), String::new())
        };
        let _ = write!(
            body,
            "<tr data-lockout=\"{}\"><td>{}</td><td>{patient}</td><td>{number}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{status}</td><td>{action}</td></tr>",
            l.id.0,
            when(l.locked_at),
            t.lockout_scope(l.scope),
            l.failures,
            when(l.until),
        );
    }
    body.push_str("</tbody></table>");
    Ok(frame(lang, t.lockouts, Some(&staff), &body))
}

/// POST /lockouts/{id}/lift (form with the session's CSRF token).
pub(super) async fn lift(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<i64>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Redirect, PageError> {
    staff.check_csrf(field(&fields, "csrf"))?;
    lift_for(&state, &staff, id).await?;
    Ok(Redirect::to("/lockouts"))
}
