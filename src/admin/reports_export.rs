//! The reports export: one row per health report with every answer, the flag and its reasons,
//! and the channel, in Japanese office form (see [`crate::store::office_csv`]), for staff to
//! copy into HER-SYS. The staff pages' button (`GET /api/reports/export.csv`) and
//! `kenkocall reports --csv` both build the file here, so they give the same bytes.

use std::collections::HashMap;

use chrono::{Days, NaiveDate, TimeZone, Utc};

use super::i18n::JA;
use crate::store::office_csv::{OfficeCsv, office_date, office_datetime};
use crate::store::{
    AlertLevel, CentreId, HealthCentre, PatientId, Store, StoreError, Symptom, hyphenated_national,
};

/// The longest period one export covers, in days: a year of a large centre is already
/// hundreds of thousands of rows.
pub const MAX_EXPORT_DAYS: u64 = 366;

/// Why an export was refused.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the period ends before it starts")]
    Reversed,
    #[error("the period is longer than {MAX_EXPORT_DAYS} days")]
    TooLong,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reports whose local date (in their centre's zone) is within `from..=to`, of `centre` or of
/// every centre, oldest first.
pub async fn reports_csv(
    store: &Store,
    centre: Option<CentreId>,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<u8>, ExportError> {
    if to < from {
        return Err(ExportError::Reversed);
    }
    if (to - from).num_days() >= MAX_EXPORT_DAYS as i64 {
        return Err(ExportError::TooLong);
    }
    let centres: HashMap<CentreId, HealthCentre> = store
        .list_centres()
        .await?
        .into_iter()
        .filter(|c| centre.is_none_or(|id| id == c.id))
        .map(|c| (c.id, c))
        .collect();
    let patients: HashMap<PatientId, crate::store::Patient> = match centre {
        Some(id) => store.list_centre_patients(id).await?,
        None => store.list_patients().await?,
    }
    .into_iter()
    .map(|p| (p.id, p))
    .collect();
    // A UTC window wide enough for any zone; each report is then kept by its local date.
    let since = Utc.from_utc_datetime(&(from - Days::new(1)).and_time(chrono::NaiveTime::MIN));
    let until = Utc.from_utc_datetime(&(to + Days::new(2)).and_time(chrono::NaiveTime::MIN));
    let reports = store.list_reports_between(centre, since, until).await?;

    let t = &JA;
    let mut out = OfficeCsv::new();
    let mut header: Vec<&str> = vec![
        t.reported_at,
        t.hersys_id,
        t.name,
        t.birth_date,
        t.phone,
        t.channel,
        t.temperature,
        t.spo2,
    ];
    header.extend(Symptom::ALL.iter().map(|s| t.symptom(*s)));
    header.extend([t.alert, t.reasons, t.complete, t.question_set]);
    out.row(&header)?;
    for r in &reports {
        let Some(p) = patients.get(&r.patient_id) else {
            continue;
        };
        let Some(c) = centres.get(&p.centre_id) else {
            continue;
        };
        let tz = c.settings.tz()?;
        let local = r.reported_at.with_timezone(&tz);
        if local.date_naive() < from || local.date_naive() > to {
            continue;
        }
        let level = r.alert_level(&c.settings.alerts);
        let reasons: Vec<String> = r
            .findings(&c.settings.alerts)
            .into_iter()
            .map(|f| t.reason(f))
            .collect();
        let mut row = vec![
            office_datetime(local),
            p.hersys_id.clone(),
            p.name.clone(),
            office_date(p.birth_date),
            hyphenated_national(&p.phone).unwrap_or_else(|| p.phone.clone()),
            t.channel(r.channel).to_string(),
            r.temperature_c.map_or(String::new(), |c| format!("{c:.1}")),
            r.spo2.map_or(String::new(), |s| s.to_string()),
        ];
        row.extend(Symptom::ALL.iter().map(|s| match r.symptoms.get(s) {
            Some(true) => t.yes.to_string(),
            Some(false) => t.no.to_string(),
            None => String::new(),
        }));
        row.extend([
            if level == AlertLevel::Normal {
                String::new()
            } else {
                t.alert_level(level).to_string()
            },
            reasons.join("・"),
            if r.complete { t.yes } else { t.no }.to_string(),
            r.question_set.clone(),
        ]);
        out.row(&row)?;
    }
    Ok(out.finish()?)
}
