//! The follow-up list: who staff should look at first. Order: urgent, then follow-up, then
//! active patients with no report today, then the rest (re-check before normal, inactive
//! last); within a group, rows staff marked handled come after the others. Only patients
//! under observation today get an alert group; a stopped or ended patient's old report raises
//! nothing. A "handled" mark counts until the patient's next report.
//!
//! [`FollowupQuery`] filters (status, slot, search) and pages the list; the totals are
//! always over the whole centre.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::store::{
    AlertLevel, AlertThresholds, AttemptOutcome, CallAttempt, CentreId, Finding, FollowupHandled,
    HealthCentre, HealthReport, Patient, PatientId, PatientStatus, Store, StoreError,
    national_form,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowupGroup {
    Urgent,
    FollowUp,
    NoReportToday,
    Rest,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FollowupRow {
    pub group: FollowupGroup,
    pub patient: Patient,
    pub status: PatientStatus,
    /// Level of the latest report (whatever its day); `None` without a report.
    pub alert_level: Option<AlertLevel>,
    pub reported_today: bool,
    pub latest: Option<HealthReport>,
    /// What in the latest report raised the level (the reasons shown per row).
    pub findings: Vec<Finding>,
    /// The latest "handled" mark, if made since the latest report.
    pub handled: Option<FollowupHandled>,
    /// Finished auto-call attempts for today's slots, and how the last one ended.
    pub attempts_today: u32,
    pub last_outcome_today: Option<AttemptOutcome>,
}

/// Sorts the centre's patients into follow-up order. `today` and `day_start` are the
/// centre-local date and its midnight in UTC.
pub fn followup_rows(
    patients: Vec<Patient>,
    mut latest: Vec<HealthReport>,
    handled: Vec<(PatientId, FollowupHandled)>,
    attempts_today: &[CallAttempt],
    thresholds: &AlertThresholds,
    today: NaiveDate,
    day_start: DateTime<Utc>,
) -> Vec<FollowupRow> {
    let mut rows: Vec<FollowupRow> = patients
        .into_iter()
        .map(|patient| {
            let report = latest
                .iter()
                .position(|r| r.patient_id == patient.id)
                .map(|i| latest.swap_remove(i));
            let status = patient.status_on(today);
            let findings = report
                .as_ref()
                .map_or_else(Vec::new, |r| r.findings(thresholds));
            let alert_level = report.as_ref().map(|r| r.alert_level(thresholds));
            // A mark made before the latest report is about an older state: not shown.
            let handled = handled
                .iter()
                .find(|(id, _)| *id == patient.id)
                .map(|(_, h)| h)
                .filter(|h| report.as_ref().is_none_or(|r| h.at >= r.reported_at))
                .cloned();
            let reported_today = report.as_ref().is_some_and(|r| r.reported_at >= day_start);
            let group = match (status, alert_level) {
                (PatientStatus::Active, Some(AlertLevel::Urgent)) => FollowupGroup::Urgent,
                (PatientStatus::Active, Some(AlertLevel::FollowUp)) => FollowupGroup::FollowUp,
                (PatientStatus::Active, _) if !reported_today => FollowupGroup::NoReportToday,
                _ => FollowupGroup::Rest,
            };
            // Attempts come ordered by slot hour and attempt number: the last is the latest.
            let finished: Vec<AttemptOutcome> = attempts_today
                .iter()
                .filter(|a| a.patient_id == patient.id)
                .filter_map(|a| a.outcome)
                .collect();
            FollowupRow {
                group,
                patient,
                status,
                alert_level,
                reported_today,
                latest: report,
                findings,
                handled,
                attempts_today: u32::try_from(finished.len()).unwrap_or(u32::MAX),
                last_outcome_today: finished.last().copied(),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        let inactive = |r: &FollowupRow| r.status != PatientStatus::Active;
        a.group
            .cmp(&b.group)
            .then(a.handled.is_some().cmp(&b.handled.is_some()))
            .then(inactive(a).cmp(&inactive(b)))
            .then(b.alert_level.cmp(&a.alert_level))
            .then(a.patient.hersys_id.cmp(&b.patient.hersys_id))
    });
    rows
}

/// The centre and its follow-up list at `now`.
pub async fn load(
    store: &Store,
    centre: CentreId,
    now: DateTime<Utc>,
) -> Result<(HealthCentre, Vec<FollowupRow>), StoreError> {
    let centre = store.get_centre_by_id(centre).await?;
    let tz = centre.settings.tz()?;
    let today = now.with_timezone(&tz).date_naive();
    let day_start = today
        .and_hms_opt(0, 0, 0)
        .and_then(|m| tz.from_local_datetime(&m).earliest())
        .map_or(now, |t| t.with_timezone(&Utc));
    let patients = store.list_centre_patients(centre.id).await?;
    let latest = store.latest_reports(centre.id).await?;
    let handled = store.latest_handled(centre.id).await?;
    let attempts = store.attempts_on(centre.id, today).await?;
    let rows = followup_rows(
        patients,
        latest,
        handled,
        &attempts,
        &centre.settings.alerts,
        today,
        day_start,
    );
    Ok((centre, rows))
}

/// Which rows a list shows, by `status`: a group (`urgent`, `follow_up`, `no_report_today`,
/// `rest`), `not_reported_today` (any active patient without a report today), `handled`, a
/// patient status (`active`, `not_started`, `ended`, `stopped`, `wrong_number`) or `all`.
/// Without one, every patient but the ended ones (they need no follow-up any more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    NotEnded,
    All,
    Group(FollowupGroup),
    NotReportedToday,
    Handled,
    Patient(PatientStatus),
}

impl StatusFilter {
    pub fn parse(s: &str) -> Option<StatusFilter> {
        Some(match s {
            "" => StatusFilter::NotEnded,
            "all" => StatusFilter::All,
            "urgent" => StatusFilter::Group(FollowupGroup::Urgent),
            "follow_up" => StatusFilter::Group(FollowupGroup::FollowUp),
            "no_report_today" => StatusFilter::Group(FollowupGroup::NoReportToday),
            "rest" => StatusFilter::Group(FollowupGroup::Rest),
            "not_reported_today" => StatusFilter::NotReportedToday,
            "handled" => StatusFilter::Handled,
            "active" => StatusFilter::Patient(PatientStatus::Active),
            "not_started" => StatusFilter::Patient(PatientStatus::NotStarted),
            "ended" => StatusFilter::Patient(PatientStatus::Ended),
            "stopped" => StatusFilter::Patient(PatientStatus::Stopped),
            "wrong_number" => StatusFilter::Patient(PatientStatus::WrongNumber),
            _ => return None,
        })
    }

    fn admits(self, r: &FollowupRow) -> bool {
        match self {
            StatusFilter::NotEnded => r.status != PatientStatus::Ended,
            StatusFilter::All => true,
            StatusFilter::Group(g) => r.group == g,
            StatusFilter::NotReportedToday => {
                r.status == PatientStatus::Active && !r.reported_today
            }
            StatusFilter::Handled => r.handled.is_some(),
            StatusFilter::Patient(s) => r.status == s,
        }
    }
}

/// The list's query string (pages and `GET /api/followup`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct FollowupQuery {
    #[serde(default)]
    pub status: String,
    /// Name (any part, any case), HER-SYS ID (any part) or phone (digits, any form).
    #[serde(default)]
    pub q: String,
    /// Only patients called at this hour.
    #[serde(default)]
    pub slot: Option<u8>,
    #[serde(default)]
    pub page: Option<usize>,
    #[serde(default)]
    pub per_page: Option<usize>,
}

pub const DEFAULT_PER_PAGE: usize = 50;
pub const MAX_PER_PAGE: usize = 500;

/// Counts over the whole centre, whatever the filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FollowupTotals {
    pub urgent: usize,
    pub follow_up: usize,
    pub no_report_today: usize,
    pub rest: usize,
    /// Rows with a current "handled" mark (also counted in their group).
    pub handled: usize,
    pub ended: usize,
    pub patients: usize,
}

/// One page of the filtered list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FollowupPage {
    pub totals: FollowupTotals,
    /// Rows matching the filter and search, on every page.
    pub matching: usize,
    pub page: usize,
    pub per_page: usize,
    pub pages: usize,
    pub rows: Vec<FollowupRow>,
}

/// Width-folded, lower-case text for matching what staff type (full-width digits and
/// letters as typed by Japanese input methods included).
fn fold(s: &str) -> String {
    crate::store::fold_width(s).to_lowercase()
}

fn matches_search(r: &FollowupRow, q: &str) -> bool {
    if q.is_empty() {
        return true;
    }
    if fold(&r.patient.name).contains(q) || r.patient.hersys_id.contains(q) {
        return true;
    }
    // A phone typed in any form: compare digits with the national form's digits.
    let q = crate::store::fold_numeric(q);
    let q = q.as_str();
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    let phone_like = q
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | '+' | '(' | ')'));
    if phone_like && digits.len() >= 3 {
        let national = national_form(&r.patient.phone).unwrap_or_default();
        let digits = match digits.strip_prefix("81") {
            Some(rest) if q.trim_start().starts_with('+') => format!("0{rest}"),
            _ => digits,
        };
        return national.contains(&digits);
    }
    false
}

/// Totals, then filter, search and page (1-based; a page past the end is empty).
pub fn select(rows: Vec<FollowupRow>, query: &FollowupQuery) -> Result<FollowupPage, String> {
    let status = StatusFilter::parse(query.status.trim())
        .ok_or_else(|| format!("unknown status {:?}", query.status))?;
    if let Some(h) = query.slot.filter(|h| *h > 23) {
        return Err(format!("slot {h} is not an hour 0-23"));
    }
    let mut totals = FollowupTotals {
        patients: rows.len(),
        ..FollowupTotals::default()
    };
    for r in &rows {
        match r.group {
            FollowupGroup::Urgent => totals.urgent += 1,
            FollowupGroup::FollowUp => totals.follow_up += 1,
            FollowupGroup::NoReportToday => totals.no_report_today += 1,
            FollowupGroup::Rest => totals.rest += 1,
        }
        totals.handled += usize::from(r.handled.is_some());
        totals.ended += usize::from(r.status == PatientStatus::Ended);
    }
    let q = fold(query.q.trim());
    let matching: Vec<FollowupRow> = rows
        .into_iter()
        .filter(|r| status.admits(r))
        .filter(|r| query.slot.is_none_or(|h| r.patient.call_slots.contains(h)))
        .filter(|r| matches_search(r, &q))
        .collect();
    let per_page = query
        .per_page
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    let page = query.page.unwrap_or(1).max(1);
    let count = matching.len();
    let rows = matching
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    Ok(FollowupPage {
        totals,
        matching: count,
        page,
        per_page,
        pages: count.div_ceil(per_page).max(1),
        rows,
    })
}

#[cfg(test)]
#[path = "followup_tests.rs"]
mod tests;
