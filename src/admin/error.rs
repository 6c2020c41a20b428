//! Errors of the web layer and their HTTP form: JSON `{"error": ...}` (plus `rows` for a
//! refused import). Messages never contain personal data (the store's do not either).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("not logged in")]
    Unauthorized,
    #[error("this belongs to another health centre")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("CSRF token missing or wrong")]
    Csrf,
    #[error("password must be at least {0} characters")]
    WeakPassword(usize),
    #[error("too many failed logins; try again later")]
    TooManyAttempts,
    #[error("password hashing failed")]
    Hash,
    /// Too many logins being checked at once; try again in a moment.
    #[error("busy, try again in a moment")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdminError {
    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::Forbidden | AdminError::Csrf => StatusCode::FORBIDDEN,
            AdminError::NotFound(_) | AdminError::Store(StoreError::NotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            AdminError::BadRequest(_) | AdminError::WeakPassword(_) => StatusCode::BAD_REQUEST,
            AdminError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            AdminError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Store(StoreError::Duplicate(_)) => StatusCode::CONFLICT,
            AdminError::Store(StoreError::Rejected(_) | StoreError::Import(_)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AdminError::Hash | AdminError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A fault of ours, worth an error log line and hidden from the client (a deliberate
    /// refusal such as `Busy` is neither: a flood must not flood the log).
    pub fn is_fault(&self) -> bool {
        self.status().is_server_error() && !matches!(self, AdminError::Busy)
    }

    /// Seconds for a `Retry-After` header, where the refusal is temporary.
    pub fn retry_after(&self) -> Option<&'static str> {
        match self {
            AdminError::Busy => Some("2"),
            AdminError::TooManyAttempts => Some("900"),
            _ => None,
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        if self.is_fault() {
            tracing::error!(error = %self, "staff request failed");
        }
        let body = match &self {
            AdminError::Store(StoreError::Import(errors)) => json!({
                "error": "import rejected, nothing was applied",
                "rows": errors.0.iter().map(|e| json!({"line": e.line, "reason": e.reason}))
                    .collect::<Vec<_>>(),
            }),
            _ if self.is_fault() => json!({"error": "internal error"}),
            other => json!({"error": other.to_string()}),
        };
        let mut res = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(secs),
            );
        }
        res
    }
}
