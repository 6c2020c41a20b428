//! Staff authentication: argon2 password hashes, session cookies, and the [`Staff`]
//! extractor that every protected handler takes (it also enforces the API's CSRF header).

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;

use super::csrf::{self, tokens_match};
use super::{AdminError, AdminState};
use crate::store::{CentreId, Patient, PatientId, StaffId};

pub const SESSION_COOKIE: &str = "kc_session";
pub const MIN_PASSWORD_LEN: usize = 10;
/// A working day plus margin; staff log in again the next day.
pub const SESSION_HOURS: i64 = 12;

pub fn hash_password(password: &str) -> Result<String, AdminError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AdminError::WeakPassword(MIN_PASSWORD_LEN));
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| AdminError::Hash)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| AdminError::Hash)
}

/// Whether `password` matches the PHC string; a malformed hash never matches.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends the same argon2 work for an unknown username as for a known one, so response
/// time does not tell which usernames exist.
pub fn burn_password_check(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("dummy-password-never-used").unwrap_or_default());
    let _ = verify_password(hash, password);
}

/// Makes the calling thread (a blocking-pool thread about to hash) yield the CPU to SIP,
/// media and the runtime's workers when the machine is busy: Linux nice 10 for this thread
/// only, set once per thread (a pool thread keeps it; such threads only run short blocking
/// work). Measured in BENCHMARKS.md (login flood): without it, a hash competing with the
/// runtime's workers on a loaded 2-core machine pushed SIP OPTIONS p99 from ~0.1 s to ~0.6 s.
pub fn lower_thread_priority() {
    thread_local!(static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    LOWERED.with(|done| {
        if !done.replace(true) {
            // SAFETY: gettid and setpriority take no pointers; 0 args are plain integers.
            let tid = unsafe { libc::gettid() };
            let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10) };
            if rc != 0 {
                tracing::debug!("cannot lower the password-check thread's priority");
            }
        }
    });
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, Secure unless turned off for tests.
pub fn set_cookie(state: &AdminState, name: &str, value: &str, max_age_secs: i64) -> String {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    format!("{name}={value}; Max-Age={max_age_secs}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// A logged-in staff member, from the session cookie.
#[derive(Debug, Clone)]
pub struct Staff {
    pub id: StaffId,
    pub username: String,
    pub centre_id: CentreId,
    pub csrf: String,
    pub(crate) token_hash: String,
}

impl Staff {
    /// The patient if it belongs to this staff member's centre: 404 if absent, 403 if another
    /// centre's.
    pub async fn patient(&self, state: &AdminState, id: i64) -> Result<Patient, AdminError> {
        let p = state.store.get_patient_by_id(PatientId(id)).await?;
        if p.centre_id != self.centre_id {
            tracing::warn!(staff = %self.username, patient = id, "cross-centre access refused");
            return Err(AdminError::Forbidden);
        }
        Ok(p)
    }

    /// A centre id from a URL must be this staff member's own.
    pub fn own_centre(&self, id: i64) -> Result<CentreId, AdminError> {
        if id != self.centre_id.0 {
            tracing::warn!(staff = %self.username, centre = id, "cross-centre access refused");
            return Err(AdminError::Forbidden);
        }
        Ok(self.centre_id)
    }

    /// A form's `csrf` field must be this session's token.
    pub fn check_csrf(&self, given: &str) -> Result<(), AdminError> {
        if tokens_match(&self.csrf, given) {
            Ok(())
        } else {
            Err(AdminError::Csrf)
        }
    }
}

fn is_write(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AdminState> for Staff {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Staff, AdminError> {
        let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(AdminError::Unauthorized)?;
        let hash = csrf::token_hash(&token);
        let session = state
            .store
            .live_session(&hash, state.now())
            .await?
            .ok_or(AdminError::Unauthorized)?;
        let staff = Staff {
            id: session.staff.id,
            username: session.staff.username,
            centre_id: session.staff.centre_id,
            csrf: session.csrf_token,
            token_hash: hash,
        };
        // API writes carry the token in a header; page forms are checked by their handler.
        // Inside the nested `/api` router `parts.uri` has lost its prefix: use the original.
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.path().to_string(), |o| o.0.path().to_string());
        if path.starts_with("/api/") && is_write(&parts.method) {
            let given = parts
                .headers
                .get(csrf::HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            staff.check_csrf(given)?;
        }
        Ok(staff)
    }
}

/// [`Staff`] for HTML pages: not logged in redirects to the login page.
pub struct PageStaff(pub Staff);

impl FromRequestParts<AdminState> for PageStaff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<PageStaff, Response> {
        match Staff::from_request_parts(parts, state).await {
            Ok(s) => Ok(PageStaff(s)),
            Err(AdminError::Unauthorized) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(super::html::error_page(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_hash_verifies_only_the_same_password() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse batterx"));
        assert!(!verify_password("not a hash", "correct horse battery"));
    }

    #[test]
    fn short_password_is_refused() {
        assert!(matches!(
            hash_password("short"),
            Err(AdminError::WeakPassword(MIN_PASSWORD_LEN))
        ));
    }

    #[test]
    fn cookie_is_found_among_several() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; kc_session=abc; lang=en".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "lang").as_deref(), Some("en"));
        assert_eq!(cookie(&h, "missing"), None);
    }
}
