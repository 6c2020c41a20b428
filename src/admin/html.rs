//! HTML building blocks shared by the pages: escaping, the page frame, CSRF field, slot
//! checkboxes. Plain strings, no template engine, no scripts.

use std::fmt::Write;

use axum::response::{Html, IntoResponse, Response};

use super::AdminError;
use super::auth::Staff;
use super::i18n::UiLang;
use crate::store::{CallSlots, CallingHours};

/// Escapes text for element content and double-quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:0 1em;color:#222}\
nav{background:#1f5fa8;padding:.4em;margin:0 -1em 1em}nav a,nav button{color:#fff;margin-right:1em}\
nav form{display:inline}nav button{background:none;border:1px solid #fff;cursor:pointer}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.2em .5em;text-align:left}\
.v-urgent{background:#fde0e0;color:#c00000;font-weight:bold}\
.v-follow{background:#fff3cd;color:#7a4b00;font-weight:bold}.v-recheck{background:#fff8e1;color:#7a4b00}\
.v-recheck::after{content:\" \\21bb\"}tr.no_report_today td:first-child{border-left:4px solid #99c}\
tr.handled{color:#555}tr.handled .v-urgent,tr.handled .v-follow{background:#eee;color:#555}\
td.handled{background:#e6f4ea}.reason{white-space:nowrap;padding:0 .2em}\
#totals a{display:inline-block;margin:0 .6em .3em 0;padding:.2em .5em;border:1px solid #bbb;text-decoration:none;color:#222}\
form.handle input{width:8em}.phone{white-space:nowrap}\
.msg{background:#e6f4ea;padding:.4em}.err{background:#fde0e0;padding:.4em}\
label{display:inline-block;margin-right:.8em}\
@media (max-width:600px){body{margin:0 .4em}nav{margin:0 -.4em 1em}table{display:block;overflow-x:auto}\
label{display:block;margin:.3em 0}input,select,button{font-size:1rem;max-width:100%}}\
@media print{nav,form,.pager a{display:none}body{margin:0;font-size:10pt}\
td,th{padding:.1em .3em}.v-urgent,.v-follow,.v-recheck{-webkit-print-color-adjust:exact;print-color-adjust:exact}}";

/// The page frame: title, navigation (when logged in), body.
pub fn frame(lang: UiLang, title: &str, staff: Option<&Staff>, body: &str) -> Html<String> {
    let t = lang.texts();
    let mut nav = String::new();
    if let Some(s) = staff {
        let _ = write!(
            nav,
            r#"<a href="/">{}</a><a href="/centre">{}</a><a href="/enrol">{}</a><a href="/import">{}</a><a href="/api/export.csv">{}</a><a href="/lockouts">{}</a>"#,
            t.followup_title, t.centre_settings, t.enrol, t.import_csv, t.export_csv, t.lockouts
        );
        let _ = write!(
            nav,
            r#"<form method="post" action="/logout">{}<button>{} ({})</button></form>"#,
            csrf_field(s),
            t.logout,
            esc(&s.username)
        );
    }
    let _ = write!(
        nav,
        r#"<a href="/lang/ja">日本語</a><a href="/lang/en">English</a>"#
    );
    Html(format!(
        "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} - {}</title>\
         <style>{STYLE}</style></head><body><nav>{nav}</nav><h1>{}</h1>{body}</body></html>",
        lang.code(),
        esc(title),
        t.app_title,
        esc(title)
    ))
}

pub fn csrf_field(staff: &Staff) -> String {
    format!(
        r#"<input type="hidden" name="csrf" value="{}">"#,
        esc(&staff.csrf)
    )
}

/// One checkbox per hour the centre may call at; checked where `slots` has it.
pub fn slot_checkboxes(slots: CallSlots, hours: CallingHours) -> String {
    let mut s = String::new();
    let first = hours.from_minute.div_ceil(60);
    let last = hours.until_minute.saturating_sub(1) / 60;
    for h in first..=last.min(23) {
        let checked = if slots.contains(h as u8) {
            " checked"
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<label><input type="checkbox" name="slot" value="{h}"{checked}> {h}:00</label>"#
        );
    }
    s
}

/// The hours ticked in a form (`slot=9&slot=14`).
pub fn slots_from_form(fields: &[(String, String)]) -> Result<CallSlots, AdminError> {
    let hours: Vec<&str> = fields
        .iter()
        .filter(|(k, _)| k == "slot")
        .map(|(_, v)| v.as_str())
        .collect();
    CallSlots::parse(&hours.join(";")).map_err(|e| AdminError::BadRequest(e.to_string()))
}

/// A form field's value, or "".
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// An error's message in both interface languages; [`localise_error_pages`] picks one.
#[derive(Clone)]
struct ErrorPageText {
    en: String,
    ja: String,
}

fn error_text(lang: UiLang, e: &AdminError) -> String {
    use crate::store::StoreError;
    if e.is_fault() {
        return match lang {
            UiLang::En => "internal error".to_string(),
            UiLang::Ja => "内部エラーが発生しました。時間をおいて再度お試しください。".to_string(),
        };
    }
    if lang == UiLang::En {
        return e.to_string();
    }
    match e {
        AdminError::Unauthorized => "ログインしていません。".to_string(),
        AdminError::Forbidden => "他の保健所の情報は表示・変更できません。".to_string(),
        AdminError::NotFound(_) | AdminError::Store(StoreError::NotFound(_)) => {
            "見つかりません。".to_string()
        }
        AdminError::BadRequest(m) => format!("入力に誤りがあります（{m}）。"),
        AdminError::Csrf => {
            "フォームの有効期限が切れました。ページを開き直して、もう一度お試しください。"
                .to_string()
        }
        AdminError::WeakPassword(n) => format!("パスワードは{n}文字以上にしてください。"),
        AdminError::TooManyAttempts => {
            "ログインの失敗が続いたため、しばらくログインできません。".to_string()
        }
        AdminError::Busy => "混み合っています。少し待ってから再度お試しください。".to_string(),
        AdminError::Store(StoreError::Duplicate(_)) => "既に登録されています。".to_string(),
        AdminError::Store(StoreError::Rejected(m)) => format!("受け付けられません（{m}）。"),
        other => other.to_string(),
    }
}

/// An error as a small HTML page with its status code (English until
/// [`localise_error_pages`] renders it in the request's language with navigation).
pub fn error_page(e: AdminError) -> Response {
    let status = e.status();
    if e.is_fault() {
        tracing::error!(error = %e, "staff page failed");
    }
    let text = ErrorPageText {
        en: error_text(UiLang::En, &e),
        ja: error_text(UiLang::Ja, &e),
    };
    let body = error_html(UiLang::En, status, &text.en);
    let mut res = (status, Html(body)).into_response();
    if let Some(secs) = e.retry_after() {
        res.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static(secs),
        );
    }
    res.extensions_mut().insert(text);
    res
}

fn error_html(lang: UiLang, status: axum::http::StatusCode, message: &str) -> String {
    let t = lang.texts();
    let body = format!(
        "<p class=\"err\" id=\"error\">{}</p><p><a href=\"/\">{}</a> · <a href=\"/login\">{}</a></p>",
        esc(message),
        t.followup_title,
        t.login
    );
    frame(lang, &status.to_string(), None, &body).0
}

/// Middleware: error pages in the request's interface language (cookie / Accept-Language),
/// with navigation back into the application.
pub async fn localise_error_pages(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let lang = UiLang::from_headers(req.headers());
    let mut res = next.run(req).await;
    if let Some(text) = res.extensions_mut().remove::<ErrorPageText>() {
        let message = match lang {
            UiLang::Ja => &text.ja,
            UiLang::En => &text.en,
        };
        let body = error_html(lang, res.status(), message);
        res.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
        *res.body_mut() = axum::body::Body::from(body);
    }
    res
}

/// Page handlers return this: errors become [`error_page`].
pub struct PageError(pub AdminError);

impl<E: Into<AdminError>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn checkboxes_cover_the_calling_hours_only() {
        let html = slot_checkboxes(CallSlots::parse("9;14").unwrap(), CallingHours::default());
        assert!(html.contains(r#"value="8""#) && html.contains(r#"value="19""#));
        assert!(!html.contains(r#"value="20""#) && !html.contains(r#"value="7""#));
        assert!(html.contains(r#"value="9" checked"#) && html.contains(r#"value="14" checked"#));
        assert!(!html.contains(r#"value="11" checked"#));
    }

    #[test]
    fn ticked_hours_become_slots_and_none_is_refused() {
        let f = vec![
            ("csrf".to_string(), "x".to_string()),
            ("slot".to_string(), "16".to_string()),
            ("slot".to_string(), "9".to_string()),
        ];
        assert_eq!(slots_from_form(&f).unwrap().hours(), vec![9, 16]);
        assert!(slots_from_form(&f[..1]).is_err());
    }
}
