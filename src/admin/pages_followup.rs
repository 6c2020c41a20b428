//! The follow-up list page: urgent rows first and in red, then follow-up, then no report
//! today; latest temperature and SpO2 and today's status per patient.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Html;

use super::AdminState;
use super::auth::PageStaff;
use super::followup::{self, FollowupGroup};
use super::html::{PageError, esc, frame};
use super::i18n::UiLang;

fn group_class(g: FollowupGroup) -> &'static str {
    match g {
        FollowupGroup::Urgent => "urgent",
        FollowupGroup::FollowUp => "follow_up",
        FollowupGroup::NoReportToday => "no_report_today",
        FollowupGroup::Rest => "rest",
    }
}

pub(super) async fn page_handler(
    state: &AdminState,
    staff: &super::auth::Staff,
    lang: UiLang,
) -> Result<Html<String>, PageError> {
    let t = lang.texts();
    let (centre, rows) = followup::load(&state.store, staff.centre_id, state.now()).await?;
    let tz = centre.settings.tz()?;
    let mut body = format!("<p>{}</p>", esc(&centre.name));
    if rows.is_empty() {
        let _ = write!(body, "<p>{}</p>", t.no_patients);
    } else {
        let _ = write!(
            body,
            "<table id=\"followup\"><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th>\
             <th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
            t.alert,
            t.hersys_id,
            t.name,
            t.latest_temp,
            t.latest_spo2,
            t.last_report,
            t.today,
            t.status
        );
        for r in &rows {
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
            let today = match (r.reported_today, r.last_outcome_today) {
                (true, _) => t.reported_today.to_string(),
                (false, Some(o)) => format!(
                    "{} · {} ×{}",
                    t.not_reported_today,
                    t.outcome(o),
                    r.attempts_today
                ),
                (false, None) => t.not_reported_today.to_string(),
            };
            let level = r.alert_level.map_or("—", |l| t.alert_level(l));
            let _ = write!(
                body,
                "<tr class=\"{}\" data-patient=\"{}\"><td>{level}</td><td>{}</td>\
                 <td><a href=\"/patients/{}\">{}</a></td><td>{temp}</td><td>{spo2}</td>\
                 <td>{last}</td><td>{today}</td><td>{}</td></tr>",
                group_class(r.group),
                r.patient.id.0,
                esc(&r.patient.hersys_id),
                r.patient.id.0,
                esc(&r.patient.name),
                t.status(r.status)
            );
        }
        body.push_str("</tbody></table>");
    }
    Ok(frame(lang, t.followup_title, Some(staff), &body))
}

pub(super) async fn page(
    State(state): State<AdminState>,
    PageStaff(staff): PageStaff,
    lang: UiLang,
) -> Result<Html<String>, PageError> {
    page_handler(&state, &staff, lang).await
}
