//! Per-centre reads for the staff pages: a centre's patients, each patient's latest report,
//! the day's call attempts, and the CSV export (the import's columns, so an export imports back unchanged).

use chrono::NaiveDate;
use sqlx::Row;

use super::attempts::{from_row as attempt_from_row, select_attempts};
use super::centres::CentreId;
use super::import::HEADER;
use super::patients::{from_row, select_patients};
use super::reports::{fold_rows, select_reports};
use super::{CallAttempt, HealthReport, Patient, Store, StoreError, date_text};

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

    /// The centre's patients as import CSV (header first; slots written out, never empty).
    pub async fn export_patients_csv(&self, centre: CentreId) -> Result<String, StoreError> {
        let patients = self.list_centre_patients(centre).await?;
        let mut out = csv::Writer::from_writer(Vec::new());
        let csv_err = |e: csv::Error| StoreError::Rejected(format!("csv export: {e}"));
        out.write_record(HEADER).map_err(csv_err)?;
        for p in &patients {
            out.write_record([
                p.hersys_id.clone(),
                p.name.clone(),
                date_text(p.birth_date),
                p.phone.clone(),
                p.language.as_str().to_string(),
                p.health_centre.clone(),
                p.call_slots.to_string(),
                date_text(p.observation_start),
                date_text(p.observation_end),
            ])
            .map_err(csv_err)?;
        }
        let bytes = out
            .into_inner()
            .map_err(|e| StoreError::Rejected(format!("csv export: {e}")))?;
        String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
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
