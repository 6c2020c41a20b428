//! The follow-up list: who staff should look at first. Order: urgent, then follow-up, then
//! active patients with no report today, then the rest (re-check before normal, inactive
//! last). Only patients under observation today get an alert group; a stopped or ended
//! patient's old report raises nothing.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

use crate::store::{
    AlertLevel, AlertThresholds, AttemptOutcome, CallAttempt, CentreId, HealthCentre, HealthReport,
    Patient, PatientStatus, Store, StoreError,
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
    /// Finished auto-call attempts for today's slots, and how the last one ended.
    pub attempts_today: u32,
    pub last_outcome_today: Option<AttemptOutcome>,
}

/// Sorts the centre's patients into follow-up order. `today` and `day_start` are the
/// centre-local date and its midnight in UTC.
pub fn followup_rows(
    patients: Vec<Patient>,
    mut latest: Vec<HealthReport>,
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
            let alert_level = report.as_ref().map(|r| r.alert_level(thresholds));
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
                attempts_today: u32::try_from(finished.len()).unwrap_or(u32::MAX),
                last_outcome_today: finished.last().copied(),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        let inactive = |r: &FollowupRow| r.status != PatientStatus::Active;
        a.group
            .cmp(&b.group)
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
    let attempts = store.attempts_on(centre.id, today).await?;
    let rows = followup_rows(
        patients,
        latest,
        &attempts,
        &centre.settings.alerts,
        today,
        day_start,
    );
    Ok((centre, rows))
}

#[cfg(test)]
#[path = "followup_tests.rs"]
mod tests;
