//! CSV import (all-or-nothing, every bad row reported by line) and export, limited to the
//! staff member's centre: a row naming another centre is refused.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::auth::Staff;
use super::{AdminError, AdminState};
use crate::store::{ImportErrors, ImportSummary, RowError, StoreError, parse_patients_csv};

/// Imports `csv` for the staff member's centre. Refusals come back as
/// `AdminError::Store(StoreError::Import(rows))`.
pub(super) async fn import_for_centre(
    state: &AdminState,
    staff: &Staff,
    csv: &[u8],
) -> Result<ImportSummary, AdminError> {
    let centre = state.store.get_centre_by_id(staff.centre_id).await?;
    // Centre check first: the store would otherwise create the other centre.
    if let Ok(rows) = parse_patients_csv(csv) {
        let foreign: Vec<RowError> = rows
            .iter()
            .filter(|(_, p)| p.health_centre.trim() != centre.name)
            .map(|(line, _)| RowError {
                line: *line,
                reason: "health centre is not your centre".to_string(),
            })
            .collect();
        if !foreign.is_empty() {
            return Err(StoreError::Import(ImportErrors(foreign)).into());
        }
    }
    let summary = state
        .store
        .import_patients_csv(csv, &staff.username, state.now())
        .await?;
    tracing::info!(staff = %staff.username, inserted = summary.inserted, "CSV import");
    Ok(summary)
}

/// POST /api/import with the CSV as the body.
pub(super) async fn import(
    State(state): State<AdminState>,
    staff: Staff,
    body: Bytes,
) -> Result<Json<ImportSummary>, AdminError> {
    Ok(Json(import_for_centre(&state, &staff, &body).await?))
}

/// GET /api/export.csv: the centre's patients in the import format.
pub(super) async fn export(
    State(state): State<AdminState>,
    staff: Staff,
) -> Result<impl IntoResponse, AdminError> {
    let csv = state.store.export_patients_csv(staff.centre_id).await?;
    state
        .store
        .append_audit(state.now(), &staff.username, "export", None, "patients CSV")
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"patients.csv\"",
            ),
        ],
        csv,
    ))
}
