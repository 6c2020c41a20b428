//! The staff HTML pages in-process: form login (both cookies), enrolment, CSV upload with
//! per-row errors, the patient page (trend SVG, channel, attempts), languages, centre slots.

#[path = "admin/client.rs"]
mod client;
mod common;

use axum::http::{Method, StatusCode, header};
use client::{Client, app, enrol, patient_of, report, two_centres};
use kenkocall::store::{AttemptOutcome, AttemptState, AttemptUpdate, NewAttempt};

fn cookie_value(set_cookie: &str) -> (String, String) {
    let pair = set_cookie.split(';').next().unwrap();
    let (k, v) = pair.split_once('=').unwrap();
    (k.to_string(), v.to_string())
}

#[tokio::test]
async fn form_login_sets_the_session_cookie_and_needs_the_login_token() {
    let db = common::sqlite().await;
    two_centres(&db.store).await;
    let (router, _) = app(&db.store);
    let anon = Client::anonymous(router.clone());
    let page = anon.get("/login").await;
    let set = page.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    let (name, token) = cookie_value(&set);
    assert_eq!(name, "kc_login_csrf");
    assert!(page.text().contains(&format!("value=\"{token}\"")));

    let without_cookie = anon
        .form(
            "/login",
            &format!("csrf={token}&username=sato&password=minato-password"),
        )
        .await;
    assert_eq!(without_cookie.status, StatusCode::FORBIDDEN);

    let with_cookie = Client {
        cookie: Some(format!("kc_login_csrf={token}")),
        ..anon.clone()
    };
    let wrong = with_cookie
        .form(
            "/login",
            &format!("csrf={token}&username=sato&password=wrong-password"),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.text().contains("login-error"));

    let ok = with_cookie
        .form(
            "/login",
            &format!("csrf={token}&username=sato&password=minato-password"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    let cookies: Vec<String> = ok
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let session = cookies
        .iter()
        .find(|c| c.starts_with("kc_session="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    let logged_in = Client {
        cookie: Some(session.split(';').next().unwrap().to_string()),
        ..anon
    };
    assert_eq!(logged_in.get("/").await.status, StatusCode::OK);
    db.finish().await;
}

/// A logged-in page client and its CSRF token (from the API login, same session).
async fn staff(store: &kenkocall::store::Store) -> (Client, String) {
    let (router, _) = app(store);
    let c = Client::login(router, "sato", "minato-password").await;
    let csrf = c.csrf.clone();
    (c.without_csrf(), csrf)
}

#[tokio::test]
async fn enrol_form_creates_a_patient_of_the_own_centre_and_shows_bad_input() {
    let db = common::sqlite().await;
    two_centres(&db.store).await;
    let (c, csrf) = staff(&db.store).await;
    let form = c.get("/enrol").await.text();
    assert!(form.contains("name=\"hersys_id\"") && form.contains(&csrf));
    let body = format!(
        "csrf={csrf}&hersys_id=1000051&name=Ito+Kana&birth_date=1960-02-29&phone=03-1111-0051\
         &observation_start=2026-11-20&observation_end=2026-11-30&language=ko\
         &contact_method=health_call&slot=9&slot=16"
    );
    let r = c.form("/enrol", &body).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let p = db
        .store
        .get_patient("1000051")
        .await
        .unwrap()
        .expect("enrolled");
    assert_eq!(
        r.headers["location"],
        format!("/patients/{}", p.id.0).as_str()
    );
    assert_eq!(p.health_centre, "Minato");
    assert_eq!(p.call_slots.hours(), vec![9, 16]);
    assert_eq!(p.language.as_str(), "ko");

    let bad = body
        .replace("1000051", "1000052")
        .replace("2026-11-30", "2026-11-01");
    let r = c.form("/enrol", &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("enrol-error") && r.text().contains("value=\"1000052\""));
    assert!(db.store.get_patient("1000052").await.unwrap().is_none());
    db.finish().await;
}

fn multipart(csrf: &str, csv: &str) -> (String, Vec<u8>) {
    let b = "XkenkocallBoundary";
    let body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n{csv}\r\n--{b}--\r\n"
    );
    (
        format!("multipart/form-data; boundary={b}"),
        body.into_bytes(),
    )
}

#[tokio::test]
async fn csv_upload_page_lists_every_bad_row_and_applies_nothing() {
    let db = common::sqlite().await;
    two_centres(&db.store).await;
    let (c, csrf) = staff(&db.store).await;
    let head = "hersys_id,name,birth_date,phone,language,health_centre,slots,observation_start,observation_end\n";
    let csv = format!(
        "{head}1000061,A,1950-01-01,03-1111-0061,ja,Minato,9,2026-11-15,2026-11-25\n\
         12,B,1950-01-01,03-1111-0062,ja,Minato,9,2026-11-15,2026-11-25\n\
         1000063,C,1950-01-01,03-1111-0063,ja,Minato,25,2026-11-15,2026-11-25\n"
    );
    let (ctype, body) = multipart(&csrf, &csv);
    let r = c.send(Method::POST, "/import", &ctype, body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text();
    assert!(html.contains("id=\"import-errors\""));
    assert!(
        html.contains("<td>3</td>") && html.contains("<td>4</td>"),
        "{html}"
    );
    assert!(!html.contains("<td>2</td>"));
    assert!(db.store.list_patients().await.unwrap().is_empty());

    let good: String = csv.lines().take(2).map(|l| format!("{l}\n")).collect();
    let (ctype, body) = multipart(&csrf, &good);
    let r = c.send(Method::POST, "/import", &ctype, body).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("id=\"import-ok\""));
    assert_eq!(db.store.list_patients().await.unwrap().len(), 1);

    let (ctype, body) = multipart("forged", &good);
    assert_eq!(
        c.send(Method::POST, "/import", &ctype, body).await.status,
        StatusCode::FORBIDDEN
    );
    db.finish().await;
}

#[tokio::test]
async fn patient_page_shows_trend_channel_symptoms_and_every_attempt() {
    let db = common::sqlite().await;
    let store = db.store.clone();
    two_centres(&store).await;
    let p = enrol(&store, patient_of("Minato", "1000071", "03-1111-0071")).await;
    let now = chrono::Utc::now();
    let attempt = store
        .plan_attempt(&NewAttempt {
            patient_id: p.id,
            slot_date: now.date_naive(),
            slot_hour: 9,
            attempt_no: 1,
            due_at: now,
        })
        .await
        .unwrap()
        .unwrap();
    store
        .update_attempt(
            attempt,
            &AttemptUpdate {
                state: Some(AttemptState::Finished),
                outcome: Some(AttemptOutcome::NoAnswer),
                caller_line: Some("+815031980215".into()),
                started_at: Some(now),
                ended_at: Some(now),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    report(&store, &p, "p1", 381, 94).await;
    let (c, _) = staff(&store).await;
    let en = Client {
        cookie: c.cookie.clone().map(|k| format!("{k}; lang=en")),
        ..c.clone()
    };
    let html = en.get(&format!("/patients/{}", p.id.0)).await.text();
    assert_eq!(html.matches("<svg class=\"trend\"").count(), 2);
    assert!(html.contains("<circle"), "report drawn");
    assert!(html.contains("auto-call"), "channel shown");
    assert!(
        html.contains("no answer") && html.contains("+815031980215"),
        "attempt shown"
    );
    assert!(html.contains("38.1") && html.contains("follow-up"));
    assert!(
        !html.contains("/patients/1000071"),
        "no HER-SYS ID in links"
    );

    let ja = c.get(&format!("/patients/{}", p.id.0)).await.text();
    assert!(ja.contains("不応答") && ja.contains("自動架電"));
    db.finish().await;
}

#[tokio::test]
async fn interface_is_japanese_by_default_and_english_by_cookie_or_header() {
    let db = common::sqlite().await;
    two_centres(&db.store).await;
    let (c, _) = staff(&db.store).await;
    let list = c.get("/").await;
    assert!(list.text().contains("要フォローアップ一覧"));
    assert_eq!(list.headers[header::CACHE_CONTROL], "no-store");
    assert!(
        list.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let en = Client {
        cookie: c.cookie.clone().map(|k| format!("{k}; lang=en")),
        ..c.clone()
    };
    assert!(en.get("/").await.text().contains("Follow-up list"));
    let r = Client::anonymous(c.app.clone()).get("/lang/en").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("lang=en")
    );
    db.finish().await;
}

#[tokio::test]
async fn centre_slot_form_changes_default_slots_and_is_audited() {
    let db = common::sqlite().await;
    two_centres(&db.store).await;
    let (c, csrf) = staff(&db.store).await;
    let page = c.get("/centre").await.text();
    assert!(page.contains("value=\"9\" checked"));
    let r = c
        .form("/centre/slots", &format!("csrf={csrf}&slot=10&slot=15"))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let centre = db.store.get_centre("Minato").await.unwrap().unwrap();
    assert_eq!(centre.settings.default_slots.hours(), vec![10, 15]);
    let r = c.form("/centre/slots", &format!("csrf={csrf}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "no slot ticked");
    let audit = db.store.list_audit(None).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.actor == "sato" && a.action == "centre_settings")
    );
    db.finish().await;
}

#[tokio::test]
async fn patient_details_form_ends_observation_early_and_changes_language() {
    let db = common::sqlite().await;
    two_centres(&db.store).await;
    let p = enrol(&db.store, patient_of("Minato", "1000091", "03-1111-0091")).await;
    let (c, csrf) = staff(&db.store).await;
    let today = chrono::Utc::now().date_naive();
    let body = format!(
        "csrf={csrf}&observation_start={}&observation_end={today}&language=es",
        p.observation_start
    );
    let r = c
        .form(&format!("/patients/{}/details", p.id.0), &body)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let after = db.store.get_patient_by_id(p.id).await.unwrap();
    assert_eq!(after.observation_end, today);
    assert_eq!(after.language.as_str(), "es");
    let actions: Vec<String> = db
        .store
        .list_audit(Some(p.id))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, ["enrol", "set_period", "set_language"]);
    let bad = body.replace(
        &format!("observation_end={today}"),
        "observation_end=1999-01-01",
    );
    let r = c.form(&format!("/patients/{}/details", p.id.0), &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    db.finish().await;
}

#[tokio::test]
async fn the_language_switch_returns_only_to_our_own_pages() {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    let db = common::sqlite().await;
    let (router, _) = app(&db.store);
    let cases: [(&[u8], &str); 10] = [
        (b"http://127.0.0.1:8080/patients/3?x=1", "/patients/3?x=1"),
        (b"https://kc.example/centre", "/centre"),
        (b"/\\evil.example/", "/"),
        (b"http://127.0.0.1:8080/\\evil.example/", "/"),
        (b"http://127.0.0.1:8080//evil.example/", "/"),
        (b"http://127.0.0.1:8080/\t/evil.example/", "/"),
        (b"http://127.0.0.1:8080/\\/evil.example/", "/"),
        (b"http://127.0.0.1:8080/a//evil.example", "/"),
        (b"javascript:alert(1)", "/"),
        (b"http://127.0.0.1:8080/\xe3\x80\x80/evil.example/", "/"),
    ];
    for (referer, want) in cases {
        let req = Request::builder()
            .uri("/lang/en")
            .header(header::REFERER, referer)
            .body(Body::empty())
            .unwrap();
        let r = router.clone().oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers()[header::LOCATION],
            want,
            "{}",
            String::from_utf8_lossy(referer)
        );
    }
    db.finish().await;
}
