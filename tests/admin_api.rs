//! Staff HTTP API on SQLite and PostgreSQL: centre isolation (403), CSRF, the patient
//! lifecycle with its audit trail, centre settings, CSV round trip, follow-up order, metrics.

#[path = "admin/client.rs"]
mod client;
mod common;

use axum::http::{Method, StatusCode};
use client::{Client, app, enrol, patient_of, report, two_centres};
use serde_json::json;

#[tokio::test]
async fn staff_of_one_centre_gets_403_for_another_centres_patient_and_centre() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let mine = enrol(&store, patient_of("Minato", "1000001", "03-1111-0001")).await;
        let theirs = enrol(&store, patient_of("Chuo", "2000001", "03-2222-0001")).await;
        let chuo = store.get_centre("Chuo").await.unwrap().unwrap();
        let (router, _) = app(&store);
        let sato = Client::login(router.clone(), "sato", "minato-password").await;

        let list = sato.get("/api/patients").await;
        assert_eq!(list.status, StatusCode::OK);
        let ids: Vec<i64> = list
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![mine.id.0]);

        let other = theirs.id.0;
        for uri in [
            format!("/api/patients/{other}"),
            format!("/api/patients/{other}/reports"),
            format!("/api/patients/{other}/attempts"),
            format!("/api/centres/{}", chuo.id.0),
            format!("/patients/{other}"),
        ] {
            assert_eq!(sato.get(&uri).await.status, StatusCode::FORBIDDEN, "{uri}");
        }
        let r = sato
            .json(
                Method::PUT,
                &format!("/api/patients/{other}/slots"),
                json!({"slots": [9]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = sato
            .json(
                Method::POST,
                &format!("/api/patients/{other}/stop"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // Nothing changed on the other centre's patient.
        let after = store.get_patient_by_id(theirs.id).await.unwrap();
        assert_eq!(after, theirs);

        let anon = Client::anonymous(router);
        assert_eq!(
            anon.get("/api/patients").await.status,
            StatusCode::UNAUTHORIZED
        );
        let page = anon.get("/").await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(page.headers["location"], "/login");
    })
    .await;
}

#[tokio::test]
async fn api_write_without_csrf_token_is_refused_and_changes_nothing() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let p = enrol(&store, patient_of("Minato", "1000002", "03-1111-0002")).await;
        let (router, _) = app(&store);
        let sato = Client::login(router, "sato", "minato-password").await;
        let uri = format!("/api/patients/{}/slots", p.id.0);
        let r = sato
            .without_csrf()
            .json(Method::PUT, &uri, json!({"slots": [14]}))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(
            store.get_patient_by_id(p.id).await.unwrap().call_slots,
            p.call_slots
        );
        // Page forms need the token too.
        let r = sato
            .form(&format!("/patients/{}/slots", p.id.0), "csrf=wrong&slot=14")
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = sato.json(Method::PUT, &uri, json!({"slots": [14]})).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["call_slots"], json!([14]));
    })
    .await;
}

#[tokio::test]
async fn wrong_password_is_401_and_logout_ends_the_session() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let (router, _) = app(&store);
        let anon = Client::anonymous(router.clone());
        let r = anon
            .json(
                Method::POST,
                "/api/login",
                json!({"username": "sato", "password": "nope-nope-nope"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = anon
            .json(
                Method::POST,
                "/api/login",
                json!({"username": "nobody", "password": "nope-nope-nope"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let sato = Client::login(router, "sato", "minato-password").await;
        assert_eq!(sato.get("/api/centre").await.status, StatusCode::OK);
        let r = sato.send(Method::POST, "/api/logout", "", Vec::new()).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT);
        assert_eq!(
            sato.get("/api/centre").await.status,
            StatusCode::UNAUTHORIZED
        );
        let actions: Vec<String> = store
            .list_audit(None)
            .await
            .unwrap()
            .into_iter()
            .filter(|a| a.actor == "sato")
            .map(|a| a.action)
            .collect();
        assert_eq!(actions, vec!["login", "logout"]);
    })
    .await;
}

#[tokio::test]
async fn patient_lifecycle_through_the_api_is_audited_with_the_staff_name() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let (router, _) = app(&store);
        let sato = Client::login(router, "sato", "minato-password").await;
        let today = chrono::Utc::now().date_naive();
        let new = json!({
            "hersys_id": "1000003", "name": "Suzuki Ichiro", "birth_date": "1948-12-01",
            "phone": "090-1234-5678", "language": "en",
            "observation_start": today.to_string(),
            "observation_end": (today + chrono::Days::new(7)).to_string(),
            // The body cannot pick another centre: there is no such field to honour.
            "health_centre": "Chuo",
        });
        let r = sato.json(Method::POST, "/api/patients", new.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let p = r.json();
        assert_eq!(p["health_centre"], "Minato");
        assert_eq!(p["phone"], "+819012345678");
        assert_eq!(p["call_slots"], json!([9, 11, 14, 16]));
        let id = p["id"].as_i64().unwrap();
        let dup = sato.json(Method::POST, "/api/patients", new).await;
        assert_eq!(dup.status, StatusCode::CONFLICT);
        let bad = sato
            .json(
                Method::POST,
                "/api/patients",
                json!({"hersys_id": "12", "name": "x",
                "birth_date": "1948-12-01", "phone": "1", "language": "ja",
                "observation_start": "2026-11-01", "observation_end": "2026-11-02"}),
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

        let uri = format!("/api/patients/{id}");
        let r = sato
            .json(
                Method::PATCH,
                &uri,
                json!({"contact_method": "health_call", "call_slots": [9, 16]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["contact_method"], "health_call");
        assert_eq!(r.json()["call_slots"], json!([9, 16]));
        let end = (today + chrono::Days::new(3)).to_string();
        let r = sato
            .json(
                Method::PATCH,
                &uri,
                json!({"language": "pt", "observation_end": end}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["language"], "pt");
        assert_eq!(r.json()["observation_end"], json!(end));
        let r = sato
            .json(
                Method::PATCH,
                &uri,
                json!({"observation_end": "2000-01-01"}),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "end before start"
        );
        let r = sato
            .json(Method::PATCH, &uri, json!({"call_slots": [3]}))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "03:00 is outside calling hours"
        );

        let r = sato
            .json(
                Method::POST,
                &format!("{uri}/stop"),
                json!({"reason": "hospitalised"}),
            )
            .await;
        assert_eq!(r.json()["stopped_reason"], "hospitalised");
        let r = sato
            .json(Method::POST, &format!("{uri}/resume"), json!({}))
            .await;
        assert!(r.json()["stopped_at"].is_null());
        let r = sato
            .json(Method::POST, &format!("{uri}/wrong-number"), json!({}))
            .await;
        assert_eq!(r.json()["wrong_number"], true);
        let review = sato.get("/api/wrong-numbers").await.json();
        assert_eq!(review.as_array().unwrap().len(), 1);
        let r = sato
            .json(Method::PATCH, &uri, json!({"phone": "090-8765-4321"}))
            .await;
        assert_eq!(r.json()["wrong_number"], false);
        assert!(
            sato.get("/api/wrong-numbers")
                .await
                .json()
                .as_array()
                .unwrap()
                .is_empty()
        );

        let audit: Vec<(String, String)> = store
            .list_audit(Some(kenkocall::store::PatientId(id)))
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.actor, a.action))
            .collect();
        let actions: Vec<&str> = audit.iter().map(|(_, a)| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "enrol",
                "set_contact_method",
                "set_slots",
                "set_language",
                "set_period",
                "stop",
                "resume",
                "wrong_number",
                "set_phone"
            ]
        );
        assert!(audit.iter().all(|(who, _)| who == "sato"));
    })
    .await;
}

#[tokio::test]
async fn centre_settings_round_trip_and_invalid_settings_are_refused() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let (router, _) = app(&store);
        let sato = Client::login(router, "sato", "minato-password").await;
        let mut c = sato.get("/api/centre").await.json();
        assert_eq!(c["name"], "Minato");
        assert_eq!(c["alerts"]["spo2_urgent"], 93);
        let id = c["id"].as_i64().unwrap();
        c["default_slots"] = json!([10, 15]);
        c["retry"]["max_attempts"] = json!(5);
        c["alerts"]["spo2_urgent"] = json!(92);
        c["calling_hours"]["from_minute"] = json!(540);
        let r = sato
            .json(Method::PUT, &format!("/api/centres/{id}"), c.clone())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let back = sato.get(&format!("/api/centres/{id}")).await.json();
        assert_eq!(back, c);
        c["alerts"]["spo2_urgent"] = json!(99);
        let r = sato
            .json(Method::PUT, &format!("/api/centres/{id}"), c)
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let audit = store.list_audit(None).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.actor == "sato" && a.action == "centre_settings")
        );
    })
    .await;
}

#[tokio::test]
async fn csv_export_then_import_into_an_empty_store_gives_the_same_patients() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let mut a = patient_of("Minato", "1000011", "03-1111-0011");
        a.call_slots = Some(kenkocall::store::CallSlots::parse("9;14").unwrap());
        a.name = "Tanaka, \"Taro\"".to_string(); // quoting survives
        let mut b = patient_of("Minato", "1000012", "090-1111-0012");
        b.language = kenkocall::store::Language::Vi;
        enrol(&store, a).await;
        enrol(&store, b).await;
        enrol(&store, patient_of("Chuo", "2000011", "03-2222-0011")).await;
        let (router, _) = app(&store);
        let sato = Client::login(router, "sato", "minato-password").await;
        let csv = sato.get("/api/export.csv").await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(
            csv.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert!(!csv.text().contains("2000011"), "other centre exported");

        let target = common::sqlite().await;
        two_centres(&target.store).await;
        let (router2, _) = app(&target.store);
        let sato2 = Client::login(router2, "sato", "minato-password").await;
        let r = sato2
            .send(Method::POST, "/api/import", "text/csv", csv.body.clone())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["inserted"], 2);
        let key = |p: &kenkocall::store::Patient| {
            (
                p.hersys_id.clone(),
                p.name.clone(),
                p.birth_date,
                p.phone.clone(),
                p.language,
                p.health_centre.clone(),
                p.call_slots,
                p.observation_start,
                p.observation_end,
                p.contact_method,
            )
        };
        let centre = |s: &kenkocall::store::Store| {
            let s = s.clone();
            async move {
                let c = s.get_centre("Minato").await.unwrap().unwrap();
                s.list_centre_patients(c.id).await.unwrap()
            }
        };
        let before: Vec<_> = centre(&store).await.iter().map(key).collect();
        let after: Vec<_> = centre(&target.store).await.iter().map(key).collect();
        assert_eq!(before.len(), 2);
        assert_eq!(before, after);
        // Importing the same file again: every row refused by line, nothing applied.
        let again = sato2
            .send(Method::POST, "/api/import", "text/csv", csv.body)
            .await;
        assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
        let lines: Vec<i64> = again.json()["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["line"].as_i64().unwrap())
            .collect();
        assert_eq!(lines, vec![2, 3]);
        target.finish().await;
    })
    .await;
}

#[tokio::test]
async fn csv_import_refuses_rows_of_another_centre_and_bad_rows_by_line() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let (router, _) = app(&store);
        let sato = Client::login(router, "sato", "minato-password").await;
        let head = "hersys_id,name,birth_date,phone,language,health_centre,slots,observation_start,observation_end\n";
        let csv = format!(
            "{head}1000021,A,1950-01-01,03-1111-0021,ja,Minato,9,2026-11-15,2026-11-25\n\
             1000022,B,1950-01-01,03-1111-0022,ja,Chuo,9,2026-11-15,2026-11-25\n"
        );
        let r = sato.send(Method::POST, "/api/import", "text/csv", csv.into_bytes()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json()["rows"], json!([{"line": 3, "reason": "health centre is not your centre"}]));
        let csv = format!("{head}1000023,C,1950-13-01,03-1111-0023,xx,Minato,,2026-11-15,2026-11-25\n");
        let r = sato.send(Method::POST, "/api/import", "text/csv", csv.into_bytes()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.json()["rows"][0]["line"], 2);
        assert!(store.list_patients().await.unwrap().is_empty(), "nothing applied");
    })
    .await;
}

#[tokio::test]
async fn followup_lists_urgent_then_follow_up_then_unreported_and_metrics_count_reports() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let fine = enrol(&store, patient_of("Minato", "1000031", "03-1111-0031")).await;
        let silent = enrol(&store, patient_of("Minato", "1000032", "03-1111-0032")).await;
        let fever = enrol(&store, patient_of("Minato", "1000033", "03-1111-0033")).await;
        let urgent = enrol(&store, patient_of("Minato", "1000034", "03-1111-0034")).await;
        report(&store, &fine, "c1", 365, 98).await;
        report(&store, &fever, "c2", 382, 97).await;
        report(&store, &urgent, "c3", 366, 91).await;
        let tokyo_today = chrono::Utc::now()
            .with_timezone(&chrono_tz::Asia::Tokyo)
            .date_naive();
        let unanswered = store
            .plan_attempt(&kenkocall::store::NewAttempt {
                patient_id: silent.id,
                slot_date: tokyo_today,
                slot_hour: 9,
                attempt_no: 1,
                due_at: chrono::Utc::now(),
            })
            .await
            .unwrap()
            .unwrap();
        let done = kenkocall::store::AttemptUpdate {
            state: Some(kenkocall::store::AttemptState::Finished),
            outcome: Some(kenkocall::store::AttemptOutcome::NoAnswer),
            ..Default::default()
        };
        store.update_attempt(unanswered, &done).await.unwrap();
        let (router, metrics) = app(&store);
        let sato = Client::login(router.clone(), "sato", "minato-password").await;
        let list = sato.get("/api/followup").await.json();
        let rows = &list["patients"];
        let order: Vec<(i64, String)> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["patient"]["id"].as_i64().unwrap(),
                    r["group"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            order,
            vec![
                (urgent.id.0, "urgent".into()),
                (fever.id.0, "follow_up".into()),
                (silent.id.0, "no_report_today".into()),
                (fine.id.0, "rest".into()),
            ]
        );
        assert_eq!(rows[0]["latest"]["spo2"], 91);
        assert_eq!(rows[2]["attempts_today"], 1);
        assert_eq!(rows[2]["last_outcome_today"], "no_answer");
        assert_eq!(rows[0]["attempts_today"], 0);

        let reports = sato
            .get(&format!("/api/patients/{}/reports", urgent.id.0))
            .await
            .json();
        assert_eq!(reports[0]["channel"], "auto_call");
        assert_eq!(reports[0]["question_set"], "v1");
        assert_eq!(reports[0]["alert_level"], "urgent");

        let page = sato.get("/").await;
        let html = page.text();
        let first = html.find("<tr class=\"urgent\"").expect("urgent row");
        let rest = html.find("<tr class=\"follow_up\"").expect("follow-up row");
        assert!(first < rest);

        metrics.call_started();
        let m = Client::anonymous(router.clone())
            .get("/metrics")
            .await
            .text();
        assert!(
            m.contains("kenkocall_reports{channel=\"auto_call\"} 3\n"),
            "{m}"
        );
        assert!(m.contains("kenkocall_calls_in_progress 1\n"));
        assert_eq!(
            Client::anonymous(router).get("/healthz").await.status,
            StatusCode::OK
        );
    })
    .await;
}

#[tokio::test]
async fn staff_accounts_are_unique_need_a_long_password_and_an_existing_centre() {
    use kenkocall::admin::{AdminError, add_staff};
    use kenkocall::store::StoreError;
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let again = add_staff(&store, "Chuo", "sato", "another-password").await;
        assert!(
            matches!(again, Err(AdminError::Store(StoreError::Duplicate(_)))),
            "{again:?}"
        );
        let weak = add_staff(&store, "Minato", "suzuki", "short").await;
        assert!(matches!(weak, Err(AdminError::WeakPassword(_))));
        let nowhere = add_staff(&store, "Atlantis", "suzuki", "long-enough-password").await;
        assert!(matches!(nowhere, Err(AdminError::NotFound(_))));
        let bad_name = add_staff(&store, "Minato", "a b", "long-enough-password").await;
        assert!(matches!(
            bad_name,
            Err(AdminError::Store(StoreError::Rejected(_)))
        ));
        let audit = store.list_audit(None).await.unwrap();
        assert_eq!(audit.iter().filter(|a| a.action == "staff_add").count(), 2);
    })
    .await;
}

#[tokio::test]
async fn page_forms_cannot_change_another_centres_patient() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let theirs = enrol(&store, patient_of("Chuo", "2000081", "03-2222-0081")).await;
        let (router, _) = app(&store);
        let sato = Client::login(router, "sato", "minato-password").await;
        let csrf = sato.csrf.clone();
        let forms = sato.without_csrf();
        for (action, body) in [
            ("slots", format!("csrf={csrf}&slot=9")),
            ("stop", format!("csrf={csrf}&reason=x")),
            ("wrong-number", format!("csrf={csrf}")),
            ("phone", format!("csrf={csrf}&phone=03-9999-9999")),
        ] {
            let r = forms
                .form(&format!("/patients/{}/{action}", theirs.id.0), &body)
                .await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{action}");
        }
        assert_eq!(store.get_patient_by_id(theirs.id).await.unwrap(), theirs);
    })
    .await;
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_username_even_for_the_right_one() {
    let db = common::sqlite().await;
    two_centres(&db.store).await;
    let (router, _) = app(&db.store);
    let anon = Client::anonymous(router.clone());
    let try_login = |password: &'static str| {
        let anon = anon.clone();
        async move {
            anon.json(
                Method::POST,
                "/api/login",
                json!({"username": "sato", "password": password}),
            )
            .await
            .status
        }
    };
    for _ in 0..5 {
        assert_eq!(try_login("wrong-password").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        try_login("minato-password").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another account is not affected.
    Client::login(router, "kato", "chuo-password!").await;
    db.finish().await;
}
