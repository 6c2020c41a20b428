//! The patient page: details and actions (slots, stop/resume, wrong number, phone), the
//! temperature and SpO2 trend over the observation period, symptom answers per report with
//! channel, and every call attempt with its outcome.

use std::fmt::Write;

use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, Redirect};

use super::auth::{PageStaff, Staff};
use super::html::{PageError, csrf_field, esc, field, frame, slot_checkboxes};
use super::i18n::{Texts, UiLang};
use super::pages_settings::Saved;
use super::svg::{self, Chart};
use super::{AdminError, AdminState};
use crate::store::{
    AlertLevel, CallAttempt, HealthCentre, HealthReport, Language, Patient, ReportFilter, Symptom,
    hyphenated_national,
};

fn details(t: &Texts, p: &Patient, today: chrono::NaiveDate) -> String {
    let phone = hyphenated_national(&p.phone).unwrap_or_else(|| p.phone.clone());
    let rows: [(&str, String, &str); 8] = [
        (t.hersys_id, esc(&p.hersys_id), "hersys"),
        (t.birth_date, p.birth_date.to_string(), "birth"),
        (t.phone, esc(&phone), "phone"),
        (
            t.language,
            t.language_name(p.language).to_string(),
            "language",
        ),
        (
            t.observation_period,
            format!("{} – {}", p.observation_start, p.observation_end),
            "period",
        ),
        (
            t.contact_method,
            t.contact_method(p.contact_method).to_string(),
            "contact",
        ),
        (t.call_slots, p.call_slots.to_string(), "slots"),
        (t.status, t.status(p.status_on(today)).to_string(), "status"),
    ];
    let mut s = String::from("<table>");
    for (label, value, id) in rows {
        let _ = write!(s, "<tr><th>{label}</th><td id=\"{id}\">{value}</td></tr>");
    }
    s.push_str("</table>");
    s
}

fn actions(t: &Texts, staff: &Staff, p: &Patient, c: &HealthCentre) -> String {
    let id = p.id.0;
    let csrf = csrf_field(staff);
    let mut s = format!(
        r#"<h2>{}</h2><form method="post" action="/patients/{id}/slots" id="slot-form">{csrf}<p>{}</p><p><button type="submit" id="save-slots">{}</button></p></form>"#,
        t.call_slots,
        slot_checkboxes(p.call_slots, c.settings.calling_hours),
        t.save
    );
    if p.stopped_at.is_some() {
        let _ = write!(
            s,
            r#"<form method="post" action="/patients/{id}/resume">{csrf}<button type="submit">{}</button></form>"#,
            t.resume_calls
        );
    } else {
        let _ = write!(
            s,
            r#"<form method="post" action="/patients/{id}/stop">{csrf}<label>{} <input name="reason"></label><button type="submit">{}</button></form>"#,
            t.stop_reason, t.stop_calls
        );
    }
    if !p.wrong_number {
        let _ = write!(
            s,
            r#"<form method="post" action="/patients/{id}/wrong-number">{csrf}<button type="submit">{}</button></form>"#,
            t.mark_wrong_number
        );
    } else {
        let _ = write!(
            s,
            r#"<form method="post" action="/patients/{id}/wrong-number/undo" id="undo-wrong-number">{csrf}<button type="submit">{}</button></form>"#,
            t.undo_wrong_number
        );
    }
    let _ = write!(
        s,
        r#"<h2>{}</h2><form method="post" action="/patients/{id}/details">{csrf}<label>{} <input name="observation_start" type="date" value="{}" required></label><label>{} <input name="observation_end" type="date" value="{}" required></label><label>{} <select name="language">"#,
        t.observation_period,
        t.observation_start,
        p.observation_start,
        t.observation_end,
        p.observation_end,
        t.language
    );
    for l in Language::ALL {
        let sel = if *l == p.language { " selected" } else { "" };
        let _ = write!(
            s,
            r#"<option value="{l}"{sel}>{}</option>"#,
            t.language_name(*l)
        );
    }
    let _ = write!(
        s,
        r#"</select></label><button type="submit">{}</button></form>"#,
        t.save
    );
    let _ = write!(
        s,
        r#"<form method="post" action="/patients/{id}/phone">{csrf}<label>{} <input name="phone" type="tel"></label><button type="submit">{}</button></form>"#,
        t.correct_phone, t.save
    );
    s
}

fn charts(t: &Texts, p: &Patient, c: &HealthCentre, reports: &[HealthReport]) -> String {
    let Ok(tz) = c.settings.tz() else {
        return String::new();
    };
    let point = |r: &HealthReport, v: f64| {
        let (d, f) = svg::day_point(r.reported_at, tz);
        (d, f, v)
    };
    let a = &c.settings.alerts;
    let temp = Chart {
        title: t.temperature,
        unit: "°C",
        min: 35.0,
        max: 40.0,
        marks: vec![(a.temperature_followup_dc as f64 / 10.0, "#d08000")],
        points: reports
            .iter()
            .filter_map(|r| r.temperature_c.map(|v| point(r, v)))
            .collect(),
    };
    let spo2 = Chart {
        title: t.spo2,
        unit: "%",
        min: 85.0,
        max: 100.0,
        marks: vec![
            (f64::from(a.spo2_urgent), "#c00000"),
            (f64::from(a.spo2_recheck), "#d08000"),
        ],
        points: reports
            .iter()
            .filter_map(|r| r.spo2.map(|v| point(r, f64::from(v))))
            .collect(),
    };
    format!(
        "<h2>{}</h2><div>{}</div><div>{}</div>",
        t.trend,
        svg::trend(&temp, p.observation_start, p.observation_end),
        svg::trend(&spo2, p.observation_start, p.observation_end)
    )
}

fn reports_table(t: &Texts, c: &HealthCentre, reports: &[HealthReport]) -> String {
    let tz = c.settings.tz().unwrap_or(chrono_tz::Asia::Tokyo);
    let mut s = format!(
        "<h2>{}</h2><table id=\"reports\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>",
        t.reports, t.reported_at, t.channel, t.temperature, t.spo2, t.alert
    );
    for sym in Symptom::ALL {
        let _ = write!(s, "<th>{}</th>", t.symptom(*sym));
    }
    let _ = write!(s, "<th>{}</th><th>{}</th></tr>", t.complete, t.question_set);
    for r in reports.iter().rev() {
        let level = r.alert_level(&c.settings.alerts);
        // Same classes (and red) as the follow-up list.
        let class = match level {
            AlertLevel::Urgent => "urgent",
            AlertLevel::FollowUp => "follow_up",
            AlertLevel::Recheck | AlertLevel::Normal => "",
        };
        let _ = write!(
            s,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            r.reported_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            t.channel(r.channel),
            r.temperature_c.map_or("—".into(), |v| format!("{v:.1}")),
            r.spo2.map_or("—".into(), |v| v.to_string()),
            t.alert_level(level)
        );
        for sym in Symptom::ALL {
            let cell = match r.symptoms.get(sym) {
                Some(true) => t.yes,
                Some(false) => t.no,
                None => "—",
            };
            let _ = write!(s, "<td>{cell}</td>");
        }
        let done = if r.complete { t.yes } else { t.no };
        let _ = write!(s, "<td>{done}</td><td>{}</td></tr>", esc(&r.question_set));
    }
    s.push_str("</table>");
    s
}

fn attempts_table(t: &Texts, c: &HealthCentre, attempts: &[CallAttempt]) -> String {
    let tz = c.settings.tz().unwrap_or(chrono_tz::Asia::Tokyo);
    let time = |v: Option<chrono::DateTime<chrono::Utc>>| {
        v.map_or("—".to_string(), |v| {
            v.with_timezone(&tz).format("%H:%M:%S").to_string()
        })
    };
    let mut s = format!(
        "<h2>{}</h2><table id=\"attempts\"><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>\
         <th>{}</th><th>{}</th><th>{}</th></tr>",
        t.attempts, t.slot, t.attempt_no, t.caller_line, t.started, t.answered, t.ended, t.outcome
    );
    for a in attempts.iter().rev() {
        let _ = write!(
            s,
            "<tr><td>{} {}:00</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            a.slot_date,
            a.slot_hour,
            a.attempt_no,
            esc(a.caller_line.as_deref().unwrap_or("—")),
            time(a.started_at),
            time(a.answered_at),
            time(a.ended_at),
            a.outcome.map_or_else(
                || a.state.as_str().to_string(),
                |o| t.outcome(o).to_string()
            )
        );
    }
    s.push_str("</table>");
    s
}

pub(super) async fn page(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    lang: UiLang,
    Path(id): Path<i64>,
    Query(q): Query<Saved>,
) -> Result<Html<String>, PageError> {
    let t = lang.texts();
    let p = staff.patient(&state, id).await?;
    let c = state.store.get_centre_by_id(p.centre_id).await?;
    let today = state.now().with_timezone(&c.settings.tz()?).date_naive();
    let filter = ReportFilter {
        hersys_id: Some(p.hersys_id.clone()),
        since: None,
    };
    let reports = state.store.list_reports(&filter).await?;
    let attempts = state.store.list_attempts(Some(&p.hersys_id)).await?;
    let mut body = String::new();
    if q.saved.is_some() {
        let _ = write!(body, r#"<p class="msg">{}</p>"#, t.saved);
    }
    body.push_str(&details(t, &p, today));
    body.push_str(&actions(t, &staff, &p, &c));
    body.push_str(&charts(t, &p, &c, &reports));
    body.push_str(&reports_table(t, &c, &reports));
    body.push_str(&attempts_table(t, &c, &attempts));
    Ok(frame(lang, &p.name, Some(&staff), &body))
}

type Fields = Form<Vec<(String, String)>>;

/// Checks the form's CSRF token and the patient's centre; returns the patient.
async fn form_patient(
    state: &AdminState,
    staff: &Staff,
    id: i64,
    fields: &[(String, String)],
) -> Result<Patient, PageError> {
    staff.check_csrf(field(fields, "csrf"))?;
    Ok(staff.patient(state, id).await?)
}

fn back(id: i64) -> Redirect {
    Redirect::to(&format!("/patients/{id}?saved=1"))
}

pub(super) async fn stop(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<i64>,
    Form(f): Fields,
) -> Result<Redirect, PageError> {
    let p = form_patient(&state, &staff, id, &f).await?;
    state
        .store
        .stop_patient(
            &p.hersys_id,
            field(&f, "reason"),
            &staff.username,
            state.now(),
        )
        .await?;
    Ok(back(id))
}

pub(super) async fn resume(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<i64>,
    Form(f): Fields,
) -> Result<Redirect, PageError> {
    let p = form_patient(&state, &staff, id, &f).await?;
    state
        .store
        .resume_patient(&p.hersys_id, &staff.username, state.now())
        .await?;
    Ok(back(id))
}

pub(super) async fn wrong_number(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<i64>,
    Form(f): Fields,
) -> Result<Redirect, PageError> {
    let p = form_patient(&state, &staff, id, &f).await?;
    state
        .store
        .mark_wrong_number(&p.hersys_id, &staff.username, state.now())
        .await?;
    Ok(back(id))
}

pub(super) async fn undo_wrong_number(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<i64>,
    Form(f): Fields,
) -> Result<Redirect, PageError> {
    let p = form_patient(&state, &staff, id, &f).await?;
    state
        .store
        .clear_wrong_number(&p.hersys_id, &staff.username, state.now())
        .await?;
    Ok(back(id))
}

pub(super) async fn phone(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<i64>,
    Form(f): Fields,
) -> Result<Redirect, PageError> {
    let p = form_patient(&state, &staff, id, &f).await?;
    state
        .store
        .set_phone(
            &p.hersys_id,
            field(&f, "phone"),
            &staff.username,
            state.now(),
        )
        .await?;
    Ok(back(id))
}

/// Observation period and language; each changed value is its own audited change.
pub(super) async fn edit_details(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<i64>,
    Form(f): Fields,
) -> Result<Redirect, PageError> {
    let p = form_patient(&state, &staff, id, &f).await?;
    let date = |name: &str| {
        chrono::NaiveDate::parse_from_str(field(&f, name).trim(), "%Y-%m-%d")
            .map_err(|_| AdminError::BadRequest(format!("{name} is not a date YYYY-MM-DD")))
    };
    let (start, end) = (date("observation_start")?, date("observation_end")?);
    let language = Language::parse(field(&f, "language"))
        .map_err(|e| AdminError::BadRequest(e.to_string()))?;
    let (who, now) = (staff.username.as_str(), state.now());
    if (start, end) != (p.observation_start, p.observation_end) {
        state
            .store
            .set_observation_period(&p.hersys_id, start, end, who, now)
            .await?;
    }
    if language != p.language {
        state
            .store
            .set_language(&p.hersys_id, language, who, now)
            .await?;
    }
    Ok(back(id))
}
