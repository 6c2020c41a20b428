//! Per-centre reads for the staff pages: a centre's patients, each patient's latest report,
//! the day's call attempts, reports by period, and the roster CSV export (the import's
//! columns, so an export imports back unchanged).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::attempts::{from_row as attempt_from_row, select_attempts};
use super::centres::CentreId;
use super::import::HEADER;
use super::office_csv::{OfficeCsv, office_date};
use super::patients::{from_row, select_patients};
use super::reports::{fold_rows, select_reports};
use super::{
    CallAttempt, HealthReport, Patient, Store, StoreError, date_text, hyphenated_national, to_ms,
};

impl Store {
    /// One centre's patients, by HER-SYS ID.
    pub async fn list_centre_patients(&self, centre: CentreId) -> Result<Vec<Patient>, StoreError> {
        let sql = select_patients!("WHERE p.health_centre_id = $1 ORDER BY p.hersys_id");
        let rows = sqlx::query(sql)
            .bind(centre.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// The most recent report (highest id: reports are created in time order) of every patient
    /// of the centre who has one.
    pub async fn latest_reports(&self, centre: CentreId) -> Result<Vec<HealthReport>, StoreError> {
        let sql = select_reports!(
            "WHERE r.id IN (SELECT MAX(r2.id) FROM health_reports r2 \
             JOIN patients p2 ON p2.id = r2.patient_id WHERE p2.health_centre_id = $1 \
             GROUP BY r2.patient_id) ORDER BY r.id, s.symptom"
        );
        let rows = sqlx::query(sql)
            .bind(centre.0)
            .fetch_all(&self.pool)
            .await?;
        fold_rows(&rows)
    }

    /// The centre's call attempts for the slots of one local date, by patient, hour, attempt.
    pub async fn attempts_on(
        &self,
        centre: CentreId,
        date: NaiveDate,
    ) -> Result<Vec<CallAttempt>, StoreError> {
        let sql = select_attempts!(
            "WHERE p.health_centre_id = $1 AND a.slot_date = $2 \
             ORDER BY a.patient_id, a.slot_hour, a.attempt_no"
        );
        let rows = sqlx::query(sql)
            .bind(centre.0)
            .bind(date_text(date))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(attempt_from_row).collect()
    }

    /// The centre's patients as import CSV in office form ([`super::office_csv`]: BOM,
    /// `YYYY/MM/DD`, hyphenated national phones, formulas neutralised); header first, slots
    /// written out, never empty. The importer reads it back unchanged.
    pub async fn export_patients_csv(&self, centre: CentreId) -> Result<Vec<u8>, StoreError> {
        let patients = self.list_centre_patients(centre).await?;
        let mut out = OfficeCsv::new();
        out.row(HEADER)?;
        for p in &patients {
            out.row([
                p.hersys_id.clone(),
                p.name.clone(),
                office_date(p.birth_date),
                hyphenated_national(&p.phone).unwrap_or_else(|| p.phone.clone()),
                p.language.as_str().to_string(),
                p.health_centre.clone(),
                p.call_slots.to_string(),
                office_date(p.observation_start),
                office_date(p.observation_end),
            ])?;
        }
        out.finish()
    }

    /// Reports made in `[since, until)`, of one centre's patients or of all, oldest first.
    pub async fn list_reports_between(
        &self,
        centre: Option<CentreId>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<HealthReport>, StoreError> {
        let sql = select_reports!(
            "WHERE ($1 IS NULL OR p.health_centre_id = $1) AND r.reported_at_ms >= $2 \
             AND r.reported_at_ms < $3 ORDER BY r.reported_at_ms, r.id, s.symptom"
        );
        let rows = sqlx::query(sql)
            .bind(centre.map(|c| c.0))
            .bind(to_ms(since))
            .bind(to_ms(until))
            .fetch_all(&self.pool)
            .await?;
        fold_rows(&rows)
    }

    /// Reports per channel, for `/metrics`.
    pub async fn count_reports_by_channel(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT channel, COUNT(*) AS n FROM health_reports GROUP BY channel ORDER BY channel",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("channel")?, r.try_get("n")?)))
            .collect()
    }

    /// Finished attempts per (outcome, caller line), for `/metrics`. An attempt never dialled
    /// has no line: `""`.
    pub async fn count_attempts_by_outcome_and_line(
        &self,
    ) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT outcome, COALESCE(caller_line, '') AS line, COUNT(*) AS n FROM call_attempts \
             WHERE outcome IS NOT NULL GROUP BY outcome, COALESCE(caller_line, '') \
             ORDER BY outcome, line",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("outcome")?, r.try_get("line")?, r.try_get("n")?)))
            .collect()
    }
}
