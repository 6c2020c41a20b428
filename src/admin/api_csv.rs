//! CSV import (all-or-nothing, every bad row reported by line) and the roster and reports
//! exports, limited to the staff member's centre: a row naming another centre is refused.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use chrono::NaiveDate;

use super::auth::Staff;
use super::{AdminError, AdminState, reports_export};
use crate::store::ImportSummary;

/// Imports `csv` for the staff member's centre: rows naming another centre are refused in
/// the same pass as every other problem. Refusals come back as
/// `AdminError::Store(StoreError::Import(rows))`.
pub(super) async fn import_for_centre(
    state: &AdminState,
    staff: &Staff,
    csv: &[u8],
) -> Result<ImportSummary, AdminError> {
    let centre = state.store.get_centre_by_id(staff.centre_id).await?;
    let summary = state
        .store
        .import_patients_csv_for(csv, Some(&centre.name), &staff.username, state.now())
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

#[derive(serde::Deserialize)]
pub(super) struct Period {
    from: NaiveDate,
    to: NaiveDate,
}

/// GET /api/reports/export.csv?from=YYYY-MM-DD&to=YYYY-MM-DD: the centre's reports of those
/// local dates ([`reports_export`]).
pub(super) async fn export_reports(
    State(state): State<AdminState>,
    staff: Staff,
    Query(period): Query<Period>,
) -> Result<impl IntoResponse, AdminError> {
    let csv =
        reports_export::reports_csv(&state.store, Some(staff.centre_id), period.from, period.to)
            .await
            .map_err(|e| match e {
                reports_export::ExportError::Store(e) => AdminError::Store(e),
                other => AdminError::BadRequest(other.to_string()),
            })?;
    let detail = format!("reports CSV {} – {}", period.from, period.to);
    state
        .store
        .append_audit(state.now(), &staff.username, "export", None, &detail)
        .await?;
    let disposition = format!(
        "attachment; filename=\"reports_{}_{}.csv\"",
        period.from.format("%Y%m%d"),
        period.to.format("%Y%m%d")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    ))
}

/// GET /import/template.csv: the import header and one example row, in office form.
pub(super) async fn template(_staff: Staff) -> Result<impl IntoResponse, AdminError> {
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"patients_template.csv\"",
            ),
        ],
        crate::store::template_csv()?,
    ))
}
