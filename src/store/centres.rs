//! Health centres: zone, default call slots, retry policy, alert thresholds, calling hours.
//!
//! Patients name their centre; an import or enrolment naming a new centre creates it with the
//! defaults below (the seeds have many centres, and staff adjust settings afterwards).

use std::time::Duration;

use chrono::Utc;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::alerts::AlertThresholds;
use super::audit::append_audit;
use super::{CallSlots, Store, StoreError, to_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct CentreId(pub i64);

/// When and how often an unanswered slot is called again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub no_answer_delay: Duration,
    pub busy_delay: Duration,
    pub failed_delay: Duration,
    /// Calls for a slot happen within this window after the slot time.
    pub slot_window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            no_answer_delay: Duration::from_secs(15 * 60),
            busy_delay: Duration::from_secs(5 * 60),
            failed_delay: Duration::from_secs(10 * 60),
            slot_window: Duration::from_secs(60 * 60),
        }
    }
}

/// Local time of day when calls are allowed: `[from_minute, until_minute)` after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CallingHours {
    pub from_minute: u16,
    pub until_minute: u16,
}

impl Default for CallingHours {
    fn default() -> Self {
        CallingHours {
            from_minute: 8 * 60,
            until_minute: 20 * 60,
        }
    }
}

impl CallingHours {
    pub fn allows_minute(self, minute_of_day: u16) -> bool {
        (self.from_minute..self.until_minute).contains(&minute_of_day)
    }

    /// Every slot hour starts inside the allowed hours.
    pub fn allows_slots(self, slots: CallSlots) -> bool {
        slots
            .hours()
            .into_iter()
            .all(|h| self.allows_minute(u16::from(h) * 60))
    }
}

/// Everything staff configure per centre.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CentreSettings {
    /// IANA zone name; slots and calling hours are local to it.
    pub timezone: String,
    pub default_slots: CallSlots,
    pub retry: RetryPolicy,
    pub alerts: AlertThresholds,
    pub calling_hours: CallingHours,
}

impl Default for CentreSettings {
    fn default() -> Self {
        CentreSettings {
            timezone: "Asia/Tokyo".to_string(),
            default_slots: CallSlots::DEFAULT,
            retry: RetryPolicy::default(),
            alerts: AlertThresholds::default(),
            calling_hours: CallingHours::default(),
        }
    }
}

impl CentreSettings {
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |m: &str| Err(StoreError::Rejected(m.to_string()));
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return bad("timezone is not an IANA zone name");
        }
        let h = self.calling_hours;
        if h.from_minute >= h.until_minute || h.until_minute > 24 * 60 {
            return bad("calling hours must start before they end, within one day");
        }
        if !h.allows_slots(self.default_slots) {
            return bad("default call slots fall outside the calling hours");
        }
        if !(1..=20).contains(&self.retry.max_attempts) || self.retry.slot_window.is_zero() {
            return bad("retry policy needs 1-20 attempts and a non-empty slot window");
        }
        let a = &self.alerts;
        if a.spo2_urgent > a.spo2_recheck || a.spo2_recheck > 100 {
            return bad("SpO2 thresholds must satisfy urgent <= recheck <= 100");
        }
        Ok(())
    }

    pub fn tz(&self) -> Result<chrono_tz::Tz, StoreError> {
        self.timezone
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("timezone {:?}", self.timezone)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HealthCentre {
    pub id: CentreId,
    pub name: String,
    #[serde(flatten)]
    pub settings: CentreSettings,
}

/// `SELECT <every column> FROM health_centres` followed by the given clause.
macro_rules! select {
    ($rest:literal) => {
        concat!("SELECT ", "id, name, timezone, default_slots, retry_max_attempts, retry_no_answer_secs, \
             retry_busy_secs, retry_failed_secs, slot_window_secs, alert_spo2_urgent, alert_spo2_recheck, \
             alert_temp_followup_dc, calling_from_minute, calling_until_minute", " FROM health_centres ", $rest)
    };
}

fn from_row(row: &AnyRow) -> Result<HealthCentre, StoreError> {
    let secs = |c: &str| -> Result<Duration, StoreError> {
        let v: i64 = row.try_get(c)?;
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| StoreError::Corrupt(format!("{c} = {v}")))
    };
    let small = |c: &str| -> Result<i64, StoreError> { Ok(row.try_get::<i64, _>(c)?) };
    let narrow = |c: &str, v: i64| StoreError::Corrupt(format!("{c} = {v}"));
    let slots: i64 = row.try_get("default_slots")?;
    let u8_of = |c: &str| small(c).and_then(|v| u8::try_from(v).map_err(|_| narrow(c, v)));
    let u16_of = |c: &str| small(c).and_then(|v| u16::try_from(v).map_err(|_| narrow(c, v)));
    let attempts = small("retry_max_attempts")?;
    Ok(HealthCentre {
        id: CentreId(row.try_get("id")?),
        name: row.try_get("name")?,
        settings: CentreSettings {
            timezone: row.try_get("timezone")?,
            default_slots: CallSlots::from_mask(slots)
                .map_err(|_| narrow("default_slots", slots))?,
            retry: RetryPolicy {
                max_attempts: u32::try_from(attempts)
                    .map_err(|_| narrow("retry_max_attempts", attempts))?,
                no_answer_delay: secs("retry_no_answer_secs")?,
                busy_delay: secs("retry_busy_secs")?,
                failed_delay: secs("retry_failed_secs")?,
                slot_window: secs("slot_window_secs")?,
            },
            alerts: AlertThresholds {
                spo2_urgent: u8_of("alert_spo2_urgent")?,
                spo2_recheck: u8_of("alert_spo2_recheck")?,
                temperature_followup_dc: small("alert_temp_followup_dc")?,
                // Not a column yet: every centre uses the default follow-up symptoms.
                ..AlertThresholds::default()
            },
            calling_hours: CallingHours {
                from_minute: u16_of("calling_from_minute")?,
                until_minute: u16_of("calling_until_minute")?,
            },
        },
    })
}

async fn by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<HealthCentre>, StoreError> {
    let sql = select!("WHERE name = $1");
    let row = sqlx::query(sql)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The centre called `name`, created with default settings if new. Returns it and whether
/// it was created.
pub(crate) async fn ensure_centre_in(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<(HealthCentre, bool), StoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::Rejected("health centre name is empty".into()));
    }
    let inserted = sqlx::query(
        "INSERT INTO health_centres (name, created_at_ms) VALUES ($1, $2) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(to_ms(Utc::now()))
    .execute(&mut *conn)
    .await
    .map_err(|e| StoreError::from_write(e, "health centre"))?;
    let centre = by_name(conn, name)
        .await?
        .ok_or(StoreError::NotFound("health centre"))?;
    Ok((centre, inserted.rows_affected() == 1))
}

pub(crate) async fn centre_by_id(
    conn: &mut AnyConnection,
    id: CentreId,
) -> Result<HealthCentre, StoreError> {
    let sql = select!("WHERE id = $1");
    let row = sqlx::query(sql)
        .bind(id.0)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref()
        .map(from_row)
        .transpose()?
        .ok_or(StoreError::NotFound("health centre"))
}

impl Store {
    /// The centre called `name`, created with the defaults when new.
    pub async fn ensure_centre(&self, name: &str) -> Result<HealthCentre, StoreError> {
        let mut tx = self.begin_write().await?;
        let (centre, _) = ensure_centre_in(&mut tx, name).await?;
        tx.commit().await?;
        Ok(centre)
    }

    pub async fn get_centre(&self, name: &str) -> Result<Option<HealthCentre>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        by_name(&mut conn, name).await
    }

    pub async fn get_centre_by_id(&self, id: CentreId) -> Result<HealthCentre, StoreError> {
        let mut conn = self.pool.acquire().await?;
        centre_by_id(&mut conn, id).await
    }

    pub async fn list_centres(&self) -> Result<Vec<HealthCentre>, StoreError> {
        let sql = select!("ORDER BY name");
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(from_row).collect()
    }

    /// Creates the centre or replaces all its settings; audited.
    pub async fn upsert_centre(
        &self,
        name: &str,
        settings: &CentreSettings,
        actor: &str,
    ) -> Result<HealthCentre, StoreError> {
        settings.validate()?;
        let mut tx = self.begin_write().await?;
        let (centre, _) = ensure_centre_in(&mut tx, name).await?;
        let r = &settings.retry;
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        sqlx::query(
            "UPDATE health_centres SET timezone = $1, default_slots = $2, retry_max_attempts = $3, \
             retry_no_answer_secs = $4, retry_busy_secs = $5, retry_failed_secs = $6, \
             slot_window_secs = $7, alert_spo2_urgent = $8, alert_spo2_recheck = $9, \
             alert_temp_followup_dc = $10, calling_from_minute = $11, calling_until_minute = $12 \
             WHERE id = $13",
        )
        .bind(settings.timezone.as_str())
        .bind(settings.default_slots.mask())
        .bind(i64::from(r.max_attempts))
        .bind(secs(r.no_answer_delay))
        .bind(secs(r.busy_delay))
        .bind(secs(r.failed_delay))
        .bind(secs(r.slot_window))
        .bind(i64::from(settings.alerts.spo2_urgent))
        .bind(i64::from(settings.alerts.spo2_recheck))
        .bind(settings.alerts.temperature_followup_dc)
        .bind(i64::from(settings.calling_hours.from_minute))
        .bind(i64::from(settings.calling_hours.until_minute))
        .bind(centre.id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_write(e, "health centre settings"))?;
        let detail = format!("centre {:?} settings set", centre.name);
        append_audit(&mut tx, Utc::now(), actor, "centre_settings", None, &detail).await?;
        let updated = centre_by_id(&mut tx, centre.id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Sets a centre's default call slots (`kenkocall slots set --centre NAME 9,11,14,16`).
    pub async fn set_centre_slots(
        &self,
        name: &str,
        slots: CallSlots,
        actor: &str,
    ) -> Result<HealthCentre, StoreError> {
        let centre = self
            .get_centre(name)
            .await?
            .ok_or(StoreError::NotFound("health centre"))?;
        let settings = CentreSettings {
            default_slots: slots,
            ..centre.settings
        };
        self.upsert_centre(name, &settings, actor).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_mission() {
        let s = CentreSettings::default();
        assert!(s.validate().is_ok());
        assert_eq!(s.tz().unwrap(), chrono_tz::Asia::Tokyo);
        assert!(s.calling_hours.allows_minute(8 * 60));
        assert!(!s.calling_hours.allows_minute(20 * 60));
    }

    #[test]
    fn invalid_settings_are_refused() {
        let tz = CentreSettings {
            timezone: "Mars/Base".into(),
            ..Default::default()
        };
        assert!(tz.validate().is_err());
        let early = CentreSettings {
            default_slots: CallSlots::parse("7;9").unwrap(),
            ..Default::default()
        };
        assert!(early.validate().is_err());
        let mut alerts = CentreSettings::default();
        alerts.alerts.spo2_urgent = 97;
        assert!(alerts.validate().is_err());
    }
}
