//! Health reports, saved as the call goes: the row is created with the first answer, each
//! further answer is its own transaction, and the report is marked complete at the end. A call
//! dropped midway keeps what was answered (`complete = false`). One report per person per call.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{AnyConnection, Row};

use super::attempts::AttemptId;
use super::audit::append_audit;
use super::journal::ReportWrite;
use super::patients::PatientId;
use super::{Channel, Store, StoreError, Symptom, flag, from_ms, to_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ReportId(pub i64);

/// The call a report comes from. `call_id` is the SIP Call-ID (any unique text for reports
/// not made by phone); with the patient it identifies the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportCall {
    pub call_id: String,
    /// The outbound attempt, for auto-calls.
    pub attempt_id: Option<AttemptId>,
}

/// One answer as the IVR collected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    /// Body temperature in 0.1 °C (`365` = 36.5 °C).
    TemperatureDc(i64),
    /// SpO2 in %; `None` = not measured (no oximeter).
    Spo2(Option<u8>),
    Symptom(Symptom, bool),
}

/// Filter for [`Store::list_reports`]; the default lists every report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFilter {
    pub hersys_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
}

/// A stored report as shown to staff and printed by `kenkocall reports --json`. The JSON has
/// exactly: `hersys_id`, `reported_at` (RFC 3339, UTC), `channel`, `temperature_c` (number or
/// null), `spo2` (number or null), `symptoms` (answered ones only), `complete`, `question_set`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HealthReport {
    #[serde(skip)]
    pub id: ReportId,
    #[serde(skip)]
    pub patient_id: PatientId,
    pub hersys_id: String,
    #[serde(serialize_with = "rfc3339")]
    pub reported_at: DateTime<Utc>,
    pub channel: Channel,
    pub temperature_c: Option<f64>,
    pub spo2: Option<u8>,
    pub symptoms: BTreeMap<Symptom, bool>,
    pub complete: bool,
    pub question_set: String,
    #[serde(skip)]
    pub call_id: String,
    #[serde(skip)]
    pub attempt_id: Option<AttemptId>,
    #[serde(skip)]
    pub updated_at: DateTime<Utc>,
}

/// The name the CLI knows it by.
pub type ReportView = HealthReport;

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

impl HealthReport {
    /// One line of `kenkocall reports --json`.
    pub fn to_json_line(&self) -> String {
        // Serializing plain maps, strings and numbers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Temperature in 0.1 °C, as stored.
    pub fn temperature_dc(&self) -> Option<i64> {
        self.temperature_c.map(|c| (c * 10.0).round() as i64)
    }
}

async fn apply_answer(
    conn: &mut AnyConnection,
    id: ReportId,
    answer: Answer,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let touched = match answer {
        Answer::TemperatureDc(dc) => {
            sqlx::query("UPDATE health_reports SET temperature_dc = $1, updated_at_ms = $2 WHERE id = $3")
                .bind(dc)
                .bind(to_ms(at))
                .bind(id.0)
                .execute(&mut *conn)
                .await
        }
        Answer::Spo2(v) => {
            sqlx::query("UPDATE health_reports SET spo2 = $1, updated_at_ms = $2 WHERE id = $3")
                .bind(v.map(i64::from))
                .bind(to_ms(at))
                .bind(id.0)
                .execute(&mut *conn)
                .await
        }
        Answer::Symptom(symptom, present) => {
            sqlx::query(
                "INSERT INTO report_symptoms (report_id, symptom, present, answered_at_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (report_id, symptom) \
                 DO UPDATE SET present = excluded.present, answered_at_ms = excluded.answered_at_ms",
            )
            .bind(id.0)
            .bind(symptom.as_str())
            .bind(flag(present))
            .bind(to_ms(at))
            .execute(&mut *conn)
            .await
            .map_err(|e| StoreError::from_write(e, "symptom answer"))?;
            sqlx::query("UPDATE health_reports SET updated_at_ms = $1 WHERE id = $2")
                .bind(to_ms(at))
                .bind(id.0)
                .execute(&mut *conn)
                .await
        }
    }
    .map_err(|e| StoreError::from_write(e, "report answer"))?;
    if touched.rows_affected() == 0 {
        return Err(StoreError::NotFound("health report"));
    }
    Ok(())
}

/// The report of `patient` on this call, created (with the call's details) if missing.
async fn ensure_report(
    conn: &mut AnyConnection,
    patient: PatientId,
    channel: Channel,
    question_set: &str,
    call: &ReportCall,
    at: DateTime<Utc>,
) -> Result<ReportId, StoreError> {
    sqlx::query(
        "INSERT INTO health_reports (patient_id, reported_at_ms, updated_at_ms, channel, call_id, \
         call_attempt_id, question_set) VALUES ($1, $2, $2, $3, $4, $5, $6) \
         ON CONFLICT (patient_id, call_id) DO NOTHING",
    )
    .bind(patient.0)
    .bind(to_ms(at))
    .bind(channel.as_str())
    .bind(call.call_id.as_str())
    .bind(call.attempt_id.map(|a| a.0))
    .bind(question_set)
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::from_write(e, "health report"))?;
    let id: i64 =
        sqlx::query("SELECT id FROM health_reports WHERE patient_id = $1 AND call_id = $2")
            .bind(patient.0)
            .bind(call.call_id.as_str())
            .fetch_one(&mut *conn)
            .await?
            .try_get("id")?;
    Ok(ReportId(id))
}

/// The shared SELECT with its joins, followed by the given clause.
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT r.id, r.patient_id, p.hersys_id, r.reported_at_ms, r.updated_at_ms, \
             r.channel, r.call_id, r.call_attempt_id, r.question_set, r.temperature_dc, r.spo2, r.complete, \
             s.symptom, s.present FROM health_reports r JOIN patients p ON p.id = r.patient_id \
             LEFT JOIN report_symptoms s ON s.report_id = r.id",
            " ",
            $rest
        )
    };
}
// Shared with the staff pages' latest-report query (`followup.rs`): one SELECT for reports.
pub(super) use select as select_reports;

/// Folds the joined rows (one per answered symptom) into reports, keeping the row order.
pub(super) fn fold_rows(rows: &[sqlx::any::AnyRow]) -> Result<Vec<HealthReport>, StoreError> {
    let mut out: Vec<HealthReport> = Vec::new();
    for r in rows {
        let id = ReportId(r.try_get("id")?);
        if out.last().map(|l| l.id) != Some(id) {
            let channel: String = r.try_get("channel")?;
            let spo2: Option<i64> = r.try_get("spo2")?;
            out.push(HealthReport {
                id,
                patient_id: PatientId(r.try_get("patient_id")?),
                hersys_id: r.try_get("hersys_id")?,
                reported_at: from_ms(r.try_get("reported_at_ms")?)?,
                channel: Channel::parse(&channel)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                temperature_c: r
                    .try_get::<Option<i64>, _>("temperature_dc")?
                    .map(|d| d as f64 / 10.0),
                spo2: spo2
                    .map(|v| u8::try_from(v).map_err(|_| StoreError::Corrupt(format!("spo2 {v}"))))
                    .transpose()?,
                symptoms: BTreeMap::new(),
                complete: r.try_get::<i64, _>("complete")? != 0,
                question_set: r.try_get("question_set")?,
                call_id: r.try_get("call_id")?,
                attempt_id: r
                    .try_get::<Option<i64>, _>("call_attempt_id")?
                    .map(AttemptId),
                updated_at: from_ms(r.try_get("updated_at_ms")?)?,
            });
        }
        if let (Some(name), Some(present)) = (
            r.try_get::<Option<String>, _>("symptom")?,
            r.try_get::<Option<i64>, _>("present")?,
        ) {
            let symptom = Symptom::parse(&name).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if let Some(last) = out.last_mut() {
                last.symptoms.insert(symptom, present != 0);
            }
        }
    }
    Ok(out)
}

impl Store {
    /// Creates the report for `patient` on this call together with its first answer (one
    /// transaction), or adds the answer to the report this call already has.
    pub async fn start_report(
        &self,
        patient: PatientId,
        channel: Channel,
        question_set: &str,
        call: &ReportCall,
        first: Answer,
        at: DateTime<Utc>,
    ) -> Result<ReportId, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = ensure_report(&mut tx, patient, channel, question_set, call, at).await?;
        apply_answer(&mut tx, id, first, at).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Lands journaled report writes in order, in one transaction (see `journal.rs`).
    /// Each is idempotent: applying the same writes again leaves the same reports.
    pub async fn apply_report_writes(&self, writes: &[&ReportWrite]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for write in writes {
            match write {
                ReportWrite::Answer {
                    report,
                    channel,
                    question_set,
                    attempt,
                    answer,
                    at_ms,
                } => {
                    let at = from_ms(*at_ms)?;
                    let call = ReportCall {
                        call_id: report.call_id.clone(),
                        attempt_id: *attempt,
                    };
                    let id =
                        ensure_report(&mut tx, report.patient, *channel, question_set, &call, at)
                            .await?;
                    apply_answer(&mut tx, id, *answer, at).await?;
                }
                ReportWrite::Complete { report, at_ms } => {
                    let done = sqlx::query(
                        "UPDATE health_reports SET complete = 1, updated_at_ms = $1 \
                         WHERE patient_id = $2 AND call_id = $3",
                    )
                    .bind(*at_ms)
                    .bind(report.patient.0)
                    .bind(report.call_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound("health report"));
                    }
                }
                ReportWrite::WrongNumber { report, at_ms } => {
                    // Only a change is audited: a replayed write lands once.
                    let changed = sqlx::query(
                        "UPDATE patients SET wrong_number = 1, updated_at_ms = $1 \
                         WHERE id = $2 AND wrong_number = 0",
                    )
                    .bind(*at_ms)
                    .bind(report.patient.0)
                    .execute(&mut *tx)
                    .await?;
                    if changed.rows_affected() > 0 {
                        let at = from_ms(*at_ms)?;
                        append_audit(&mut tx, at, "ivr", "wrong_number", Some(report.patient), "")
                            .await?;
                    }
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Saves one more answer (or replaces a re-entered one).
    pub async fn record_answer(
        &self,
        report: ReportId,
        answer: Answer,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        apply_answer(&mut tx, report, answer, at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks the report complete: every question was answered.
    pub async fn complete_report(
        &self,
        report: ReportId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE health_reports SET complete = 1, updated_at_ms = $1 WHERE id = $2")
                .bind(to_ms(at))
                .bind(report.0)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("health report"));
        }
        Ok(())
    }

    pub async fn get_report(&self, report: ReportId) -> Result<HealthReport, StoreError> {
        let sql = select!("WHERE r.id = $1 ORDER BY r.id");
        let rows = sqlx::query(sql)
            .bind(report.0)
            .fetch_all(&self.pool)
            .await?;
        fold_rows(&rows)?
            .pop()
            .ok_or(StoreError::NotFound("health report"))
    }

    /// Reports, oldest first, optionally one patient's and/or since a time.
    pub async fn list_reports(
        &self,
        filter: &ReportFilter,
    ) -> Result<Vec<HealthReport>, StoreError> {
        let sql = select!(
            "WHERE ($1 IS NULL OR p.hersys_id = $1) AND ($2 IS NULL OR r.reported_at_ms >= $2) \
             ORDER BY r.reported_at_ms, r.id, s.symptom"
        );
        let rows = sqlx::query(sql)
            .bind(filter.hersys_id.as_deref())
            .bind(filter.since.map(to_ms))
            .fetch_all(&self.pool)
            .await?;
        fold_rows(&rows)
    }

    /// Whether the patient reported (on any channel) at or after `since` — the dialer's
    /// "already reported for this slot" rule.
    pub async fn has_report_since(
        &self,
        patient: PatientId,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM health_reports WHERE patient_id = $1 AND reported_at_ms >= $2",
        )
        .bind(patient.0)
        .bind(to_ms(since))
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_exactly_the_documented_fields() {
        let mut symptoms = BTreeMap::new();
        symptoms.insert(Symptom::Cough, true);
        symptoms.insert(Symptom::ChestPain, false);
        let r = HealthReport {
            id: ReportId(7),
            patient_id: PatientId(3),
            hersys_id: "1234567".into(),
            reported_at: DateTime::from_timestamp_millis(1_795_000_000_000).unwrap(),
            channel: Channel::HealthCall,
            temperature_c: Some(36.5),
            spo2: None,
            symptoms,
            complete: false,
            question_set: "v1".into(),
            call_id: "abc@host".into(),
            attempt_id: None,
            updated_at: DateTime::from_timestamp_millis(1_795_000_000_000).unwrap(),
        };
        let line = r.to_json_line();
        assert!(!line.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let mut keys: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "channel",
                "complete",
                "hersys_id",
                "question_set",
                "reported_at",
                "spo2",
                "symptoms",
                "temperature_c"
            ]
        );
        assert_eq!(v["reported_at"], "2026-11-18T11:06:40.000Z");
        assert_eq!(v["temperature_c"], 36.5);
        assert!(v["spo2"].is_null());
        assert_eq!(
            v["symptoms"],
            serde_json::json!({"cough": true, "chest_pain": false})
        );
        assert_eq!(r.temperature_dc(), Some(365));
    }
}
