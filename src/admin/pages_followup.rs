//! The follow-up list page: totals per group at the top, filters and search, then one row
//! per patient with the reasons it is flagged (only the abnormal values coloured), phone,
//! age, language, last report, today's auto-calls and a "handled" action with a note.

use std::fmt::Write;

use axum::extract::{Form, Path, Query, State};
use axum::response::{Html, Redirect};

use super::AdminState;
use super::auth::{PageStaff, Staff};
use super::followup::{self, FollowupGroup, FollowupPage, FollowupQuery, FollowupRow};
use super::html::{PageError, csrf_field, esc, field, frame};
use super::i18n::{Texts, UiLang};
use super::{AdminError, redirect};
use crate::store::{AlertLevel, Finding, PatientStatus, hyphenated_national};

fn group_class(g: FollowupGroup) -> &'static str {
    match g {
        FollowupGroup::Urgent => "urgent",
        FollowupGroup::FollowUp => "follow_up",
        FollowupGroup::NoReportToday => "no_report_today",
        FollowupGroup::Rest => "rest",
    }
}

/// The cell class of a flagged value: only abnormal values are coloured.
fn level_class(l: AlertLevel) -> &'static str {
    match l {
        AlertLevel::Urgent => "v-urgent",
        AlertLevel::FollowUp => "v-follow",
        AlertLevel::Recheck => "v-recheck",
        AlertLevel::Normal => "",
    }
}

/// `?status=..&q=..&slot=..&per_page=..` for links that keep the current filter.
fn query_string(q: &FollowupQuery, page: usize) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    if !q.status.is_empty() {
        s.append_pair("status", &q.status);
    }
    if !q.q.is_empty() {
        s.append_pair("q", &q.q);
    }
    if let Some(h) = q.slot {
        s.append_pair("slot", &h.to_string());
    }
    if let Some(n) = q.per_page {
        s.append_pair("per_page", &n.to_string());
    }
    if page > 1 {
        s.append_pair("page", &page.to_string());
    }
    let s = s.finish();
    if s.is_empty() {
        "/".to_string()
    } else {
        format!("/?{s}")
    }
}

fn totals_bar(t: &Texts, p: &FollowupPage, q: &FollowupQuery) -> String {
    let link = |status: &str, label: &str, n: usize, class: &str| {
        let target = FollowupQuery {
            status: status.to_string(),
            ..q.clone()
        };
        format!(
            "<a class=\"total {class}\" href=\"{}\">{label} <b>{n}</b></a>",
            esc(&query_string(&target, 1))
        )
    };
    let x = &p.totals;
    format!(
        "<p id=\"totals\">{}{}{}{}{}{}{}</p>",
        link(
            "urgent",
            t.alert_level(AlertLevel::Urgent),
            x.urgent,
            "v-urgent"
        ),
        link(
            "follow_up",
            t.alert_level(AlertLevel::FollowUp),
            x.follow_up,
            "v-follow"
        ),
        link(
            "no_report_today",
            t.not_reported_today,
            x.no_report_today,
            ""
        ),
        link("rest", t.rest_group, x.rest, ""),
        link("handled", t.handled, x.handled, ""),
        link("ended", t.status(PatientStatus::Ended), x.ended, ""),
        link("all", t.patients_total, x.patients, ""),
    )
}

fn filter_form(t: &Texts, q: &FollowupQuery) -> String {
    let statuses: [(&str, &str); 12] = [
        ("", t.filter_default),
        ("all", t.filter_all),
        ("urgent", t.alert_level(AlertLevel::Urgent)),
        ("follow_up", t.alert_level(AlertLevel::FollowUp)),
        ("no_report_today", t.not_reported_today),
        ("not_reported_today", t.not_reported_today),
        ("handled", t.handled),
        ("active", t.status(PatientStatus::Active)),
        ("not_started", t.status(PatientStatus::NotStarted)),
        ("ended", t.status(PatientStatus::Ended)),
        ("stopped", t.status(PatientStatus::Stopped)),
        ("wrong_number", t.status(PatientStatus::WrongNumber)),
    ];
    let mut s = format!(
        "<form method=\"get\" action=\"/\" id=\"filters\"><label>{} <select name=\"status\">",
        t.filter_status
    );
    for (i, (value, label)) in statuses.iter().enumerate() {
        let sel = if q.status == *value { " selected" } else { "" };
        // The group "no report today" and the filter "not reported today" share a label;
        // the filter also counts flagged patients without a report today.
        let label = if i == 5 {
            format!("{label} ({})", t.filter_all)
        } else {
            (*label).to_string()
        };
        let _ = write!(s, "<option value=\"{value}\"{sel}>{}</option>", esc(&label));
    }
    let _ = write!(
        s,
        "</select></label><label>{} <select name=\"slot\"><option value=\"\">{}</option>",
        t.slot, t.any_slot
    );
    for h in 0..24u8 {
        let sel = if q.slot == Some(h) { " selected" } else { "" };
        let _ = write!(s, "<option value=\"{h}\"{sel}>{h}:00</option>");
    }
    let _ = write!(
        s,
        "</select></label><label>{} <input type=\"search\" name=\"q\" id=\"q\" value=\"{}\" \
         placeholder=\"{}\"></label><button id=\"filter\">{}</button></form>",
        t.search,
        esc(&q.q),
        t.search_hint,
        t.search
    );
    s
}

fn value_cell(text: String, finding: Option<Finding>, kind: &str) -> String {
    match finding {
        Some(f) => format!(
            "<td class=\"{} {kind}\">{text}</td>",
            level_class(f.level())
        ),
        None => format!("<td class=\"{kind}\">{text}</td>"),
    }
}

struct RowContext<'a> {
    t: &'a Texts,
    staff: &'a Staff,
    tz: chrono_tz::Tz,
    today: chrono::NaiveDate,
    /// The list as it is, to come back to after "handled".
    back: &'a str,
}

fn row_html(c: &RowContext<'_>, r: &FollowupRow) -> String {
    let (t, tz, today) = (c.t, c.tz, c.today);
    let spo2_finding = r
        .findings
        .iter()
        .copied()
        .find(|f| matches!(f, Finding::Spo2Urgent { .. } | Finding::Spo2Recheck { .. }));
    let fever = r
        .findings
        .iter()
        .copied()
        .find(|f| matches!(f, Finding::Fever { .. }));
    let temp = r
        .latest
        .as_ref()
        .and_then(|l| l.temperature_c)
        .map_or("—".to_string(), |c| format!("{c:.1} °C"));
    let spo2 = r
        .latest
        .as_ref()
        .and_then(|l| l.spo2)
        .map_or("—".to_string(), |s| format!("{s} %"));
    let last = r.latest.as_ref().map_or("—".to_string(), |l| {
        l.reported_at
            .with_timezone(&tz)
            .format("%m/%d %H:%M")
            .to_string()
    });
    // Only patients under observation today are expected to report.
    let today_cell = match (r.status, r.reported_today, r.last_outcome_today) {
        (_, true, _) => t.reported_today.to_string(),
        (PatientStatus::Active, false, Some(o)) => format!(
            "{} · {} ×{}",
            t.not_reported_today,
            t.outcome(o),
            r.attempts_today
        ),
        (PatientStatus::Active, false, None) => t.not_reported_today.to_string(),
        (_, false, _) => "—".to_string(),
    };
    let mut reasons = String::new();
    for f in &r.findings {
        let _ = write!(
            reasons,
            "<span class=\"reason {}\">{}</span> ",
            level_class(f.level()),
            esc(&t.reason(*f))
        );
    }
    let level = match (r.alert_level, r.status) {
        (Some(l), PatientStatus::Active) => {
            format!("<td class=\"{}\">{}</td>", level_class(l), t.alert_level(l))
        }
        _ => "<td>—</td>".to_string(),
    };
    let id = r.patient.id.0;
    let handled = match &r.handled {
        Some(h) => format!(
            "<td class=\"handled\">{} {} {}<br>{}</td>",
            t.handled,
            esc(&h.by),
            h.at.with_timezone(&tz).format("%m/%d %H:%M"),
            esc(&h.note)
        ),
        None if !r.findings.is_empty() || r.group == FollowupGroup::NoReportToday => format!(
            "<td><form method=\"post\" action=\"/patients/{id}/handled\" class=\"handle\">{}\
             <input type=\"hidden\" name=\"back\" value=\"{}\">\
             <input name=\"note\" maxlength=\"{}\" placeholder=\"{}\" aria-label=\"{}\">\
             <button>{}</button></form></td>",
            csrf_field(c.staff),
            esc(c.back),
            crate::store::HANDLED_NOTE_MAX_CHARS,
            t.handled_note,
            t.handled_note,
            t.mark_handled
        ),
        None => "<td></td>".to_string(),
    };
    let phone = hyphenated_national(&r.patient.phone).unwrap_or_else(|| r.patient.phone.clone());
    let handled_class = if r.handled.is_some() { " handled" } else { "" };
    format!(
        "<tr class=\"{}{handled_class}\" data-patient=\"{id}\">{level}<td class=\"reasons\">{reasons}</td>\
         <td>{}</td><td><a href=\"/patients/{id}\">{}</a></td><td>{}</td>\
         <td class=\"phone\"><a href=\"tel:{}\">{}</a></td><td>{}</td>{}{}\
         <td>{last}</td><td>{today_cell}</td><td>{}</td>{handled}</tr>",
        group_class(r.group),
        esc(&r.patient.hersys_id),
        esc(&r.patient.name),
        r.patient.age_on(today),
        esc(&phone),
        esc(&phone),
        t.language_name(r.patient.language),
        value_cell(temp, fever, "temp"),
        value_cell(spo2, spo2_finding, "spo2"),
        t.status(r.status)
    )
}

fn pager(t: &Texts, p: &FollowupPage, q: &FollowupQuery) -> String {
    let mut s = format!(
        "<p class=\"pager\">{} {} · {}/{}",
        t.matching, p.matching, p.page, p.pages
    );
    if p.page > 1 {
        let _ = write!(
            s,
            " <a rel=\"prev\" href=\"{}\">{}</a>",
            esc(&query_string(q, p.page - 1)),
            t.prev_page
        );
    }
    if p.page < p.pages {
        let _ = write!(
            s,
            " <a rel=\"next\" href=\"{}\">{}</a>",
            esc(&query_string(q, p.page + 1)),
            t.next_page
        );
    }
    s.push_str("</p>");
    s
}

fn export_form(t: &Texts, today: chrono::NaiveDate) -> String {
    format!(
        "<form method=\"get\" action=\"/api/reports/export.csv\" id=\"export-reports\">\
         <label>{} <input type=\"date\" name=\"from\" value=\"{today}\"></label>\
         <label>{} <input type=\"date\" name=\"to\" value=\"{today}\"></label>\
         <button>{}</button></form>",
        t.date_from, t.date_to, t.export_reports
    )
}

pub(super) async fn page_handler(
    state: &AdminState,
    staff: &Staff,
    lang: UiLang,
    query: &FollowupQuery,
) -> Result<Html<String>, PageError> {
    let t = lang.texts();
    let now = state.now();
    let (centre, rows) = followup::load(&state.store, staff.centre_id, now).await?;
    let tz = centre.settings.tz()?;
    let page = followup::select(rows, query).map_err(AdminError::BadRequest)?;
    let back = query_string(query, page.page);
    let mut body = format!("<p>{}</p>", esc(&centre.name));
    body.push_str(&totals_bar(t, &page, query));
    body.push_str(&filter_form(t, query));
    body.push_str(&export_form(t, now.with_timezone(&tz).date_naive()));
    if page.rows.is_empty() {
        let _ = write!(body, "<p>{}</p>", t.no_patients);
    } else {
        let _ = write!(
            body,
            "<table id=\"followup\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>\
             <th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th>\
             <th>{}</th><th>{}</th></tr></thead><tbody>",
            t.alert,
            t.reasons,
            t.hersys_id,
            t.name,
            t.age,
            t.phone,
            t.language,
            t.latest_temp,
            t.latest_spo2,
            t.last_report,
            t.today,
            t.status,
            t.handled
        );
        let ctx = RowContext {
            t,
            staff,
            tz,
            today: now.with_timezone(&tz).date_naive(),
            back: &back,
        };
        for r in &page.rows {
            body.push_str(&row_html(&ctx, r));
        }
        body.push_str("</tbody></table>");
    }
    body.push_str(&pager(t, &page, query));
    Ok(frame(lang, t.followup_title, Some(staff), &body))
}

pub(super) async fn page(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    lang: UiLang,
    Query(query): Query<FollowupQuery>,
) -> Result<Html<String>, PageError> {
    page_handler(&state, &staff, lang, &query).await
}

/// POST /patients/{id}/handled: records the mark and returns to the list as it was.
pub(super) async fn mark_handled(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    Path(id): Path<i64>,
    Form(f): Form<Vec<(String, String)>>,
) -> Result<Redirect, PageError> {
    staff.check_csrf(field(&f, "csrf"))?;
    let p = staff.patient(&state, id).await?;
    state
        .store
        .mark_handled(p.id, field(&f, "note"), &staff.username, state.now())
        .await?;
    let back = redirect::local_path(field(&f, "back")).unwrap_or("/");
    Ok(Redirect::to(back))
}
