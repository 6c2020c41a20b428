//! Health-call identity lockouts of the staff member's centre: list and lift (JSON), and the
//! two operations the Lockouts page shares. A lockout belongs to the centre of the patient
//! whose HER-SYS ID was keyed; one on an ID nobody has belongs to no centre.

use axum::Json;
use axum::extract::{Path, State};
use chrono::Duration;
use serde_json::{Value, json};

use super::auth::Staff;
use super::{AdminError, AdminState};
use crate::privacy::mask_phone;
use crate::store::{IdentityLockout, LockoutId};

/// How far back the list goes, and how long it may be.
const LIST_DAYS: i64 = 30;
const LIST_MAX: u32 = 200;

/// The centre's lockouts of the last [`LIST_DAYS`] days, newest first.
pub(super) async fn centre_lockouts(
    state: &AdminState,
    staff: &Staff,
) -> Result<Vec<IdentityLockout>, AdminError> {
    let since = state.now() - Duration::days(LIST_DAYS);
    Ok(state
        .store
        .list_lockouts(staff.centre_id, since, LIST_MAX)
        .await?)
}

/// Lifts one of the centre's lockouts (audited by the store): 404 unknown, 403 another
/// centre's (or no centre's), 422 already lifted.
pub(super) async fn lift_for(
    state: &AdminState,
    staff: &Staff,
    id: i64,
) -> Result<IdentityLockout, AdminError> {
    let lockout = state
        .store
        .get_lockout(LockoutId(id))
        .await?
        .ok_or(AdminError::NotFound("lockout"))?;
    if lockout.centre_id != Some(staff.centre_id) {
        tracing::warn!(staff = %staff.username, lockout = id, "cross-centre access refused");
        return Err(AdminError::Forbidden);
    }
    Ok(state
        .store
        .lift_lockout(lockout.id, &staff.username, state.now())
        .await?)
}

/// The JSON form: the caller's number masked (staff need only recognise it).
fn to_json(l: &IdentityLockout, now: chrono::DateTime<chrono::Utc>) -> Value {
    json!({
        "id": l.id.0,
        "scope": l.scope,
        "locked_at": l.locked_at,
        "until": l.until,
        "active": l.is_active(now),
        "patient_id": l.patient_id.map(|p| p.0),
        "hersys_id": l.hersys_id,
        "calling_number": l.calling_number.as_deref().map(mask_phone),
        "failures": l.failures,
        "lifted_at": l.lifted_at,
        "lifted_by": l.lifted_by,
    })
}

/// GET /api/lockouts
pub(super) async fn list(
    State(state): State<AdminState>,
    staff: Staff,
) -> Result<Json<Value>, AdminError> {
    let now = state.now();
    let rows = centre_lockouts(&state, &staff).await?;
    Ok(Json(rows.iter().map(|l| to_json(l, now)).collect()))
}

/// POST /api/lockouts/{id}/lift
pub(super) async fn lift(
    State(state): State<AdminState>,
    staff: Staff,
    Path(id): Path<i64>,
) -> Result<Json<Value>, AdminError> {
    let l = lift_for(&state, &staff, id).await?;
    Ok(Json(to_json(&l, state.now())))
}
