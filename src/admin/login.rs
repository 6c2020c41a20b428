//! Logging in and out (form and JSON), and the interface-language switch.

use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use chrono::Duration;
use serde::Deserialize;
use serde_json::json;

use super::auth::{self, SESSION_COOKIE, SESSION_HOURS, Staff, cookie, set_cookie};
use super::client_addr::ClientAddr;
use super::csrf::{self, LOGIN_COOKIE, tokens_match};
use super::html::{esc, frame};
use super::i18n::UiLang;
use super::{AdminError, AdminState};

#[derive(Deserialize)]
pub(super) struct Credentials {
    username: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

/// Checks the password and stores a new session; returns the session token and CSRF token.
///
/// Throttled per username and per source before any work; the argon2 check runs on the
/// blocking pool under [`super::throttle::LoginGate`] (never on the async runtime, where it
/// would stall SIP and media), and an unknown username costs the same check.
async fn start_session(
    state: &AdminState,
    source: ClientAddr,
    username: &str,
    password: &str,
) -> Result<(String, String), AdminError> {
    let throttled = || {
        let now = state.now();
        !state.login_throttle().allows(username, source.0, now)
    };
    if throttled() {
        return Err(AdminError::TooManyAttempts);
    }
    let permit = state.login_gate.enter().await?;
    // Others may have failed while this one waited for its turn.
    if throttled() {
        return Err(AdminError::TooManyAttempts);
    }
    let account = state.store.get_staff(username).await?;
    let hash = account.as_ref().map(|a| a.password_hash.clone());
    let given = password.to_string();
    // The permit moves into the check: a client that hangs up does not free the slot
    // before the CPU work is done.
    let ok = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        auth::lower_thread_priority();
        match hash {
            Some(h) => auth::verify_password(&h, &given),
            None => {
                auth::burn_password_check(&given);
                false
            }
        }
    })
    .await
    .map_err(|_| AdminError::Hash)?;
    let now = state.now();
    let Some(account) = account.filter(|_| ok) else {
        if state
            .login_throttle()
            .record_failure(username, source.0, now)
        {
            tracing::warn!("logins throttled: too many failures for a username or a source");
        }
        tracing::debug!("login refused: unknown username or wrong password");
        return Err(AdminError::Unauthorized);
    };
    state.login_throttle().record_success(username);
    let token = csrf::new_token();
    let csrf_token = csrf::new_token();
    let expires = now + Duration::hours(SESSION_HOURS);
    let hash = csrf::token_hash(&token);
    state
        .store
        .create_session(&hash, account.id, &csrf_token, now, expires)
        .await?;
    state
        .store
        .append_audit(now, &account.username, "login", None, "")
        .await?;
    let _ = state.store.prune_sessions(now).await;
    Ok((token, csrf_token))
}

fn session_cookie(state: &AdminState, token: &str) -> String {
    set_cookie(state, SESSION_COOKIE, token, SESSION_HOURS * 3600)
}

fn login_form(lang: UiLang, token: &str, failed: bool) -> String {
    let t = lang.texts();
    let err = if failed {
        format!(r#"<p class="err" id="login-error">{}</p>"#, t.login_failed)
    } else {
        String::new()
    };
    format!(
        r#"{err}<form method="post" action="/login"><input type="hidden" name="csrf" value="{}">
<p><label>{} <input name="username" id="username" autocomplete="username" required></label></p>
<p><label>{} <input name="password" id="password" type="password" autocomplete="current-password" required></label></p>
<p><button id="login" type="submit">{}</button></p></form>"#,
        esc(token),
        t.username,
        t.password,
        t.login
    )
}

/// GET /login: the form, with a fresh double-submit CSRF cookie.
pub(super) async fn page_handler(state: &AdminState, lang: UiLang, failed: bool) -> Response {
    let token = csrf::new_token();
    let status = if failed {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    (
        status,
        [(
            header::SET_COOKIE,
            set_cookie(state, LOGIN_COOKIE, &token, 3600),
        )],
        frame(
            lang,
            lang.texts().login,
            None,
            &login_form(lang, &token, failed),
        ),
    )
        .into_response()
}

pub(super) async fn page(State(state): State<AdminState>, lang: UiLang) -> Response {
    page_handler(&state, lang, false).await
}

pub(super) async fn form_login(
    State(state): State<AdminState>,
    source: ClientAddr,
    lang: UiLang,
    headers: HeaderMap,
    Form(c): Form<Credentials>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !tokens_match(&expected, &c.csrf) {
        return super::html::error_page(AdminError::Csrf);
    }
    match start_session(&state, source, &c.username, &c.password).await {
        // AppendHeaders: a plain array would keep only the last Set-Cookie.
        Ok((token, _)) => (
            AppendHeaders([
                (header::SET_COOKIE, session_cookie(&state, &token)),
                (header::SET_COOKIE, set_cookie(&state, LOGIN_COOKIE, "", 0)),
            ]),
            Redirect::to("/"),
        )
            .into_response(),
        Err(AdminError::Unauthorized) => page_handler(&state, lang, true).await,
        Err(e) => super::html::error_page(e),
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn end_session(state: &AdminState, staff: &Staff) -> Result<(), AdminError> {
    state.store.delete_session(&staff.token_hash).await?;
    state
        .store
        .append_audit(state.now(), &staff.username, "logout", None, "")
        .await?;
    Ok(())
}

pub(super) async fn form_logout(
    State(state): State<AdminState>,
    staff: Staff,
    Form(f): Form<CsrfOnly>,
) -> Result<Response, super::html::PageError> {
    staff.check_csrf(&f.csrf)?;
    end_session(&state, &staff).await?;
    Ok((
        [(
            header::SET_COOKIE,
            set_cookie(&state, SESSION_COOKIE, "", 0),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}

/// POST /api/login `{"username","password"}` → session cookie and `{"csrf_token"}`.
pub(super) async fn api_login(
    State(state): State<AdminState>,
    source: ClientAddr,
    Json(c): Json<Credentials>,
) -> Result<Response, AdminError> {
    let (token, csrf_token) = start_session(&state, source, &c.username, &c.password).await?;
    Ok((
        [(header::SET_COOKIE, session_cookie(&state, &token))],
        Json(json!({ "csrf_token": csrf_token })),
    )
        .into_response())
}

pub(super) async fn api_logout(
    State(state): State<AdminState>,
    staff: Staff,
) -> Result<Response, AdminError> {
    end_session(&state, &staff).await?;
    Ok((
        [(
            header::SET_COOKIE,
            set_cookie(&state, SESSION_COOKIE, "", 0),
        )],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

/// GET /lang/{ja|en}: remembers the interface language (a preference, not a change of data).
pub(super) async fn set_lang(
    State(state): State<AdminState>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Response {
    let Some(lang) = UiLang::parse(&code) else {
        return super::html::error_page(AdminError::NotFound("language"));
    };
    // Only a page of this site may be returned to; anything else goes to the list.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(super::redirect::local_path_of_referer)
        .unwrap_or("/")
        .to_string();
    let cookie = format!(
        "lang={}; Max-Age=31536000; Path=/; SameSite=Strict{}",
        lang.code(),
        if state.secure_cookies { "; Secure" } else { "" }
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&back)).into_response()
}
