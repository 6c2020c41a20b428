//! JSON API for a health centre's settings: default slots, retry policy, alert thresholds,
//! calling hours. Staff read and change only their own centre.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::auth::Staff;
use super::{AdminError, AdminState};
use crate::store::{CallSlots, CallingHours, CentreSettings, HealthCentre, RetryPolicy};

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct RetryJson {
    max_attempts: u32,
    no_answer_delay_secs: u64,
    busy_delay_secs: u64,
    failed_delay_secs: u64,
    slot_window_secs: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CentreJson {
    #[serde(default, skip_deserializing)]
    id: i64,
    #[serde(default, skip_deserializing)]
    name: String,
    timezone: String,
    default_slots: Vec<u8>,
    retry: RetryJson,
    alerts: AlertThresholdsJson,
    calling_hours: CallingHoursJson,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct AlertThresholdsJson {
    spo2_urgent: u8,
    spo2_recheck: u8,
    /// 0.1 °C, as stored (`375` = 37.5 °C).
    temperature_followup_dc: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CallingHoursJson {
    from_minute: u16,
    until_minute: u16,
}

impl From<&HealthCentre> for CentreJson {
    fn from(c: &HealthCentre) -> CentreJson {
        let s = &c.settings;
        CentreJson {
            id: c.id.0,
            name: c.name.clone(),
            timezone: s.timezone.clone(),
            default_slots: s.default_slots.hours(),
            retry: RetryJson {
                max_attempts: s.retry.max_attempts,
                no_answer_delay_secs: s.retry.no_answer_delay.as_secs(),
                busy_delay_secs: s.retry.busy_delay.as_secs(),
                failed_delay_secs: s.retry.failed_delay.as_secs(),
                slot_window_secs: s.retry.slot_window.as_secs(),
            },
            alerts: AlertThresholdsJson {
                spo2_urgent: s.alerts.spo2_urgent,
                spo2_recheck: s.alerts.spo2_recheck,
                temperature_followup_dc: s.alerts.temperature_followup_dc,
            },
            calling_hours: CallingHoursJson {
                from_minute: s.calling_hours.from_minute,
                until_minute: s.calling_hours.until_minute,
            },
        }
    }
}

impl CentreJson {
    /// The settings this body sets, on top of `current` (so settings the JSON does not carry,
    /// such as the follow-up symptom list, keep their value).
    fn settings(&self, current: &CentreSettings) -> Result<CentreSettings, AdminError> {
        let mut alerts = current.alerts.clone();
        alerts.spo2_urgent = self.alerts.spo2_urgent;
        alerts.spo2_recheck = self.alerts.spo2_recheck;
        alerts.temperature_followup_dc = self.alerts.temperature_followup_dc;
        Ok(CentreSettings {
            timezone: self.timezone.clone(),
            default_slots: CallSlots::from_hours(&self.default_slots)
                .map_err(|e| AdminError::BadRequest(e.to_string()))?,
            retry: RetryPolicy {
                max_attempts: self.retry.max_attempts,
                no_answer_delay: Duration::from_secs(self.retry.no_answer_delay_secs),
                busy_delay: Duration::from_secs(self.retry.busy_delay_secs),
                failed_delay: Duration::from_secs(self.retry.failed_delay_secs),
                slot_window: Duration::from_secs(self.retry.slot_window_secs),
            },
            alerts,
            calling_hours: CallingHours {
                from_minute: self.calling_hours.from_minute,
                until_minute: self.calling_hours.until_minute,
            },
        })
    }
}

pub(super) async fn own(
    State(state): State<AdminState>,
    staff: Staff,
) -> Result<Json<CentreJson>, AdminError> {
    let c = state.store.get_centre_by_id(staff.centre_id).await?;
    Ok(Json(CentreJson::from(&c)))
}

pub(super) async fn get(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Json<CentreJson>, AdminError> {
    let c = state.store.get_centre_by_id(staff.own_centre(id)?).await?;
    Ok(Json(CentreJson::from(&c)))
}

/// PUT replaces every setting (validated by the store; audited).
pub(super) async fn put(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
    Json(body): Json<CentreJson>,
) -> Result<Json<CentreJson>, AdminError> {
    let c = state.store.get_centre_by_id(staff.own_centre(id)?).await?;
    let settings = body.settings(&c.settings)?;
    let c = state
        .store
        .upsert_centre(&c.name, &settings, &staff.username)
        .await?;
    Ok(Json(CentreJson::from(&c)))
}
