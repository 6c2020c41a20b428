//! An in-process client for the staff router: keeps the session cookie and CSRF token.

#![allow(dead_code)] // each test binary uses a different part

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use kenkocall::admin::{self, AdminState, Metrics};
use kenkocall::store::{NewPatient, Patient, Store};
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Clone)]
pub struct Client {
    pub app: Router,
    pub cookie: Option<String>,
    pub csrf: String,
}

pub fn app(store: &Store) -> (Router, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let mut state = AdminState::new(store.clone(), metrics.clone());
    state.secure_cookies = false;
    (admin::router(state), metrics)
}

impl Client {
    pub fn anonymous(app: Router) -> Client {
        Client {
            app,
            cookie: None,
            csrf: String::new(),
        }
    }

    pub async fn send(&self, method: Method, uri: &str, ctype: &str, body: Vec<u8>) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(c) = &self.cookie {
            req = req.header(header::COOKIE, c);
        }
        if !self.csrf.is_empty() {
            req = req.header("x-csrf-token", &self.csrf);
        }
        if !ctype.is_empty() {
            req = req.header(header::CONTENT_TYPE, ctype);
        }
        let res = self
            .app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = axum::body::to_bytes(res.into_body(), 10 << 20)
            .await
            .unwrap()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, "", Vec::new()).await
    }

    pub async fn json(&self, method: Method, uri: &str, body: Value) -> Reply {
        self.send(
            method,
            uri,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn form(&self, uri: &str, body: &str) -> Reply {
        self.send(
            Method::POST,
            uri,
            "application/x-www-form-urlencoded",
            body.as_bytes().to_vec(),
        )
        .await
    }

    /// Logs in over the JSON API; panics unless it works.
    pub async fn login(app: Router, username: &str, password: &str) -> Client {
        let anon = Client::anonymous(app.clone());
        let r = anon
            .json(
                Method::POST,
                "/api/login",
                serde_json::json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {username}: {}", r.text());
        let set = r
            .headers
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
            .expect("session cookie")
            .to_string();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_string();
        Client {
            app,
            cookie: Some(cookie),
            csrf: r.json()["csrf_token"].as_str().unwrap().to_string(),
        }
    }

    /// The same session without the CSRF header.
    pub fn without_csrf(&self) -> Client {
        Client {
            csrf: String::new(),
            ..self.clone()
        }
    }
}

/// Centres Minato and Chuo, staff `sato` (Minato) and `kato` (Chuo).
pub async fn two_centres(store: &Store) {
    store.ensure_centre("Minato").await.unwrap();
    store.ensure_centre("Chuo").await.unwrap();
    admin::add_staff(store, "Minato", "sato", "minato-password")
        .await
        .unwrap();
    admin::add_staff(store, "Chuo", "kato", "chuo-password!")
        .await
        .unwrap();
}

/// A patient of `centre` observed from two days ago to five days ahead (so "today" is in).
pub fn patient_of(centre: &str, hersys_id: &str, phone: &str) -> NewPatient {
    let today = chrono::Utc::now().date_naive();
    NewPatient {
        hersys_id: hersys_id.to_string(),
        name: format!("Patient {hersys_id}"),
        birth_date: chrono::NaiveDate::from_ymd_opt(1955, 3, 9).unwrap(),
        phone: phone.to_string(),
        language: kenkocall::store::Language::Ja,
        health_centre: centre.to_string(),
        observation_start: today - chrono::Days::new(2),
        observation_end: today + chrono::Days::new(5),
        contact_method: kenkocall::store::ContactMethod::AutoCall,
        call_slots: None,
    }
}

pub async fn enrol(store: &Store, p: NewPatient) -> Patient {
    store
        .insert_patient(&p, "test", chrono::Utc::now())
        .await
        .unwrap()
}

/// A complete report now with the given temperature (0.1 °C) and SpO2.
pub async fn report(store: &Store, p: &Patient, call: &str, temp_dc: i64, spo2: u8) {
    use kenkocall::store::{Answer, Channel, ReportCall};
    let now = chrono::Utc::now();
    let call = ReportCall {
        call_id: call.to_string(),
        attempt_id: None,
    };
    let id = store
        .start_report(
            p.id,
            Channel::AutoCall,
            "v1",
            &call,
            Answer::TemperatureDc(temp_dc),
            now,
        )
        .await
        .unwrap();
    store
        .record_answer(id, Answer::Spo2(Some(spo2)), now)
        .await
        .unwrap();
    store.complete_report(id, now).await.unwrap();
}
