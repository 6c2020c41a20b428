//! Staff pages and HTTP API (axum): health-centre staff enrol patients, choose call slots,
//! watch the follow-up list (urgent rows first, in red) and stop calls.
//!
//! # Shape
//! - `api_*`: JSON under `/api/...`; `pages_*`: server-rendered HTML (no scripts, no build
//!   step); both call the same store operations and the same [`followup`] ordering.
//! - Access: every route except `/login`, `/healthz`, `/metrics` and `/lang/...` needs a staff
//!   session ([`auth::Staff`]); a staff account sees and changes only its own centre's
//!   patients, anything else is 403. Writes need the session's CSRF token: the `csrf` form
//!   field on pages, the `x-csrf-token` header on the API.
//! - Patients are addressed by their store id, never by HER-SYS ID or phone, so URLs and
//!   access logs carry no personal data. Store operations write the audit log themselves;
//!   the actor is the staff username.
//!
//! # Deployment notes
//! - Session cookies are `Secure` (plus HttpOnly, SameSite=Strict): browsers keep them over
//!   HTTPS and on `localhost`/`127.0.0.1` only, so staff on other PCs reach the pages through
//!   a TLS reverse proxy. [`AdminState::secure_cookies`] = false is for plain-HTTP tests.
//! - `/metrics` and `/healthz` need no login: they carry counts only, no personal data.
//! - Login throttling ([`throttle`]) is per node and in memory, per username and per client
//!   address ([`client_addr`]: the peer, or behind `http.trusted_proxies` their
//!   `X-Forwarded-For`). Password checks run on the blocking pool, a few at a time.
//!
//! # Wiring (for `kenkocall serve` / `kenkocall staff add`)
//! `AdminState::new(store, metrics).with_http_config(..)` → [`serve_on`] (or [`router`] in
//! tests); [`add_staff`] creates accounts.
//! The engine feeds [`metrics::Metrics`] (calls in progress, DTMF digits, SIP errors, planner lag).

mod api_centres;
mod api_csv;
mod api_lockouts;
mod api_patients;
pub mod auth;
pub mod client_addr;
pub mod csrf;
mod error;
pub mod followup;
mod html;
pub mod i18n;
mod login;
pub mod metrics;
mod pages_enrol;
mod pages_followup;
mod pages_lockouts;
mod pages_patient;
mod pages_settings;
pub mod redirect;
pub mod reports_export;
pub mod svg;
pub mod throttle;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};
use chrono::{DateTime, Utc};

pub use error::AdminError;
pub use metrics::Metrics;

use crate::store::{StaffAccount, Store};

/// The clock the handlers read; tests inject a fixed one.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AdminState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
    /// `Secure` attribute on cookies. On by default; turn off only for plain-HTTP tests.
    pub secure_cookies: bool,
    clock: Clock,
    pub(crate) throttle: Arc<std::sync::Mutex<throttle::LoginThrottle>>,
    pub(crate) login_gate: Arc<throttle::LoginGate>,
    /// Reverse proxies whose `X-Forwarded-For` is believed ([`client_addr`]).
    pub(crate) trusted_proxies: Arc<[IpAddr]>,
}

impl AdminState {
    pub fn new(store: Store, metrics: Arc<Metrics>) -> AdminState {
        AdminState {
            store,
            metrics,
            secure_cookies: true,
            clock: Arc::new(Utc::now),
            throttle: Arc::default(),
            login_gate: Arc::new(throttle::LoginGate::new(
                crate::config::HttpConfig::default().login_checks(),
            )),
            trusted_proxies: Arc::from([]),
        }
    }

    /// The `[http]` settings that shape logins: trusted proxies and the password-check cap.
    pub fn with_http_config(mut self, http: &crate::config::HttpConfig) -> AdminState {
        self.secure_cookies = http.secure_cookies;
        self.trusted_proxies = Arc::from(http.trusted_proxies.as_slice());
        self.login_gate = Arc::new(throttle::LoginGate::new(http.login_checks()));
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> AdminState {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    fn login_throttle(&self) -> std::sync::MutexGuard<'_, throttle::LoginThrottle> {
        // A poisoned lock only means another request panicked mid-update: keep going.
        self.throttle.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The whole web application: pages, JSON API, `/metrics`, `/healthz`.
pub fn router(state: AdminState) -> Router {
    let api = Router::new()
        .route("/login", post(login::api_login))
        .route("/logout", post(login::api_logout))
        .route("/centres/{id}", get(api_centres::get).put(api_centres::put))
        .route("/centre", get(api_centres::own))
        .route(
            "/patients",
            get(api_patients::list).post(api_patients::create),
        )
        .route(
            "/patients/{id}",
            get(api_patients::read).patch(api_patients::update),
        )
        .route("/patients/{id}/slots", put(api_patients::set_slots))
        .route("/patients/{id}/stop", post(api_patients::stop))
        .route("/patients/{id}/resume", post(api_patients::resume))
        .route(
            "/patients/{id}/wrong-number",
            post(api_patients::wrong_number),
        )
        .route("/patients/{id}/reports", get(api_patients::reports))
        .route("/patients/{id}/handled", post(api_patients::handled))
        .route("/patients/{id}/attempts", get(api_patients::attempts))
        .route(
            "/patients/{id}/wrong-number/undo",
            post(api_patients::undo_wrong_number),
        )
        .route("/wrong-numbers", get(api_patients::wrong_numbers))
        .route("/followup", get(api_patients::followup))
        .route("/lockouts", get(api_lockouts::list))
        .route("/lockouts/{id}/lift", post(api_lockouts::lift))
        .route("/import", post(api_csv::import))
        .route("/export.csv", get(api_csv::export))
        .route("/reports/export.csv", get(api_csv::export_reports));
    Router::new()
        .nest("/api", api)
        .route("/", get(pages_followup::page))
        .route("/login", get(login::page).post(login::form_login))
        .route("/logout", post(login::form_logout))
        .route("/lang/{code}", get(login::set_lang))
        .route("/patients/{id}", get(pages_patient::page))
        .route("/patients/{id}/slots", post(pages_settings::patient_slots))
        .route("/patients/{id}/stop", post(pages_patient::stop))
        .route("/patients/{id}/resume", post(pages_patient::resume))
        .route(
            "/patients/{id}/wrong-number",
            post(pages_patient::wrong_number),
        )
        .route(
            "/patients/{id}/wrong-number/undo",
            post(pages_patient::undo_wrong_number),
        )
        .route("/patients/{id}/phone", post(pages_patient::phone))
        .route("/patients/{id}/handled", post(pages_followup::mark_handled))
        .route("/patients/{id}/details", post(pages_patient::edit_details))
        .route("/lockouts", get(pages_lockouts::page))
        .route("/lockouts/{id}/lift", post(pages_lockouts::lift))
        .route("/centre", get(pages_settings::centre_page))
        .route("/centre/slots", post(pages_settings::centre_slots))
        .route("/enrol", get(pages_enrol::page).post(pages_enrol::submit))
        .route(
            "/import",
            get(pages_enrol::import_page).post(pages_enrol::import_submit),
        )
        .route("/import/template.csv", get(api_csv::template))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::handler))
        .layer(axum::middleware::from_fn(html::localise_error_pages))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// Pages carry personal data: never cached, never framed, no scripts, no referrer elsewhere.
async fn security_headers(mut res: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    res
}

/// Serves [`router`] on `listen` (default `127.0.0.1:8080`) until the task is dropped.
pub async fn serve(listen: SocketAddr, state: AdminState) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "staff pages listening");
    serve_on(listener, state).await
}

/// Serves [`router`] on a bound listener, with each connection's peer address (login
/// throttling per source needs it).
pub async fn serve_on(listener: tokio::net::TcpListener, state: AdminState) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// `kenkocall staff add`: creates a staff account of the centre called `centre` (which must
/// exist) with an argon2 hash of `password` (at least 10 characters). Audited as `staff_add`
/// with actor `cli`.
pub async fn add_staff(
    store: &Store,
    centre: &str,
    username: &str,
    password: &str,
) -> Result<StaffAccount, AdminError> {
    let centre = store
        .get_centre(centre)
        .await?
        .ok_or(AdminError::NotFound("health centre"))?;
    let hash = auth::hash_password(password)?;
    let account = store
        .insert_staff(username, centre.id, &hash, "cli", Utc::now())
        .await?;
    Ok(account)
}
