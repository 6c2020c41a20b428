//! Case store on both backends: connection, migrations, schema parity, centres, patients,
//! identity checks, audit log and the guessing counters.

mod common;

use common::{at, date, on_every_backend, patient};
use kenkocall::store::{
    AuthFailureKey, Backend, CallSlots, CentreSettings, ContactMethod, IdentityCheck,
    PatientStatus, Store, StoreError,
};
use sqlx::Connection;

#[tokio::test]
async fn sqlite_file_is_created_on_first_connect_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    assert!(!path.exists());
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().await.unwrap();
    store.close().await;
    assert!(path.exists());
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode.0, "wal");
}

#[tokio::test]
async fn unknown_url_scheme_is_refused() {
    let e = Store::connect("mysql://root@localhost/x")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::UnsupportedUrl(_)), "{e}");
}

#[tokio::test]
async fn migrations_run_twice_and_from_a_second_connection_keep_data() {
    for db in common::backends().await {
        let s = &db.store;
        s.insert_patient(&patient("1234567", "090-1234-5678"), "staff", at(0))
            .await
            .unwrap();
        s.migrate().await.unwrap();
        let again = Store::connect(&db.url).await.unwrap();
        again.migrate().await.unwrap();
        assert!(again.get_patient("1234567").await.unwrap().is_some());
        again.close().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn both_backends_end_with_the_same_logical_schema() {
    let lite = common::sqlite().await;
    let Some(pg) = common::postgres().await else {
        lite.finish().await;
        return;
    };
    let a = lite.store.schema_catalog().await.unwrap();
    let b = pg.store.schema_catalog().await.unwrap();
    assert!(a.columns.len() > 50, "catalog looks empty: {a:?}");
    assert!(
        a.columns
            .iter()
            .all(|c| c.type_class == "integer" || c.type_class == "text")
    );
    assert_eq!(a.columns, b.columns);
    assert_eq!(a.indexes, b.indexes);
    assert_eq!(
        a.unique_keys,
        [
            "call_attempts(patient_id, slot_date, slot_hour, attempt_no)",
            "health_centres(name)",
            "health_reports(patient_id, call_id)",
            "patients(hersys_id)",
        ]
    );
    assert_eq!(a.unique_keys, b.unique_keys);
    lite.finish().await;
    pg.finish().await;
}

#[tokio::test]
async fn centre_is_created_with_defaults_and_its_settings_round_trip() {
    on_every_backend(|s| async move {
        let c = s.ensure_centre("Minato").await.unwrap();
        assert_eq!(c.settings, CentreSettings::default());
        assert_eq!(s.ensure_centre("Minato").await.unwrap().id, c.id);

        let mut settings = CentreSettings {
            timezone: "Asia/Seoul".into(),
            default_slots: CallSlots::parse("10;15").unwrap(),
            ..Default::default()
        };
        settings.retry.max_attempts = 5;
        settings.retry.busy_delay = std::time::Duration::from_secs(120);
        settings.alerts.spo2_urgent = 92;
        settings.calling_hours.until_minute = 21 * 60 + 30;
        let updated = s.upsert_centre("Minato", &settings, "admin").await.unwrap();
        assert_eq!(updated.settings, settings);
        assert_eq!(s.get_centre("Minato").await.unwrap().unwrap(), updated);
        assert_eq!(s.get_centre_by_id(c.id).await.unwrap(), updated);

        let slotted = s
            .set_centre_slots("Minato", CallSlots::DEFAULT, "admin")
            .await
            .unwrap();
        assert_eq!(slotted.settings.default_slots, CallSlots::DEFAULT);
        assert_eq!(slotted.settings.retry.max_attempts, 5);

        let bad = CentreSettings {
            timezone: "Nowhere/City".into(),
            ..settings
        };
        assert!(matches!(
            s.upsert_centre("Minato", &bad, "admin").await,
            Err(StoreError::Rejected(_))
        ));
        assert!(s.get_centre("Shibuya").await.unwrap().is_none());
        s.ensure_centre("Chuo").await.unwrap();
        let names: Vec<String> = s
            .list_centres()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["Chuo", "Minato"]);
        let audit = s.list_audit(None).await.unwrap();
        assert_eq!(
            audit
                .iter()
                .filter(|e| e.action == "centre_settings")
                .count(),
            2
        );
    })
    .await;
}

#[tokio::test]
async fn patient_round_trips_with_normalised_phone_and_centre_defaults() {
    on_every_backend(|s| async move {
        let new = patient("1234567", "090-1234-5678");
        let p = s.insert_patient(&new, "staff", at(5)).await.unwrap();
        assert_eq!(p.phone, "+819012345678");
        assert_eq!(p.call_slots, CallSlots::DEFAULT);
        assert_eq!(p.health_centre, "Minato");
        assert_eq!(
            (p.birth_date, p.observation_end),
            (new.birth_date, new.observation_end)
        );
        assert_eq!(p.created_at, at(5));
        assert!(!p.wrong_number && p.stopped_at.is_none());
        assert_eq!(s.get_patient("1234567").await.unwrap().unwrap(), p);
        assert_eq!(s.get_patient_by_id(p.id).await.unwrap(), p);
        assert_eq!(
            s.patients_by_phone("+81 90 1234 5678").await.unwrap(),
            vec![p.clone()]
        );
        assert!(s.get_patient("7654321").await.unwrap().is_none());

        let mut other = patient("123456", "05031980215");
        other.call_slots = Some(CallSlots::parse("9;14").unwrap());
        other.language = kenkocall::store::Language::Ne;
        let q = s.insert_patient(&other, "staff", at(6)).await.unwrap();
        assert_eq!(q.call_slots.hours(), vec![9, 14]);
        assert_eq!(q.language, kenkocall::store::Language::Ne);
        let ids: Vec<String> = s
            .list_patients()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.hersys_id)
            .collect();
        assert_eq!(ids, ["123456", "1234567"]);
    })
    .await;
}

#[tokio::test]
async fn invalid_or_duplicate_patient_is_refused_and_nothing_is_written() {
    on_every_backend(|s| async move {
        s.insert_patient(&patient("1234567", "09012345678"), "staff", at(0))
            .await
            .unwrap();
        let dup = s
            .insert_patient(&patient("1234567", "09012345679"), "staff", at(1))
            .await;
        assert!(matches!(dup, Err(StoreError::Duplicate(_))), "{dup:?}");
        let bad = s
            .insert_patient(&patient("12-456", "call me"), "staff", at(1))
            .await
            .unwrap_err();
        let text = bad.to_string();
        assert!(
            text.contains("HER-SYS ID") && text.contains("phone"),
            "{text}"
        );
        let mut early = patient("2345678", "09012345678");
        early.call_slots = Some(CallSlots::parse("6").unwrap());
        assert!(matches!(
            s.insert_patient(&early, "staff", at(1)).await,
            Err(StoreError::Rejected(_))
        ));
        assert_eq!(s.list_patients().await.unwrap().len(), 1);
        let enrolments = s.list_audit(None).await.unwrap();
        assert_eq!(enrolments.iter().filter(|e| e.action == "enrol").count(), 1);
    })
    .await;
}

#[tokio::test]
async fn staff_changes_apply_and_are_audited() {
    on_every_backend(|s| async move {
        let p = s
            .insert_patient(&patient("1234567", "09012345678"), "staff", at(0))
            .await
            .unwrap();
        let day = date("2026-11-20");
        assert_eq!(p.status_on(day), PatientStatus::Active);

        let p2 = s
            .set_patient_slots("1234567", CallSlots::parse("11").unwrap(), "sato", at(1))
            .await
            .unwrap();
        assert_eq!(p2.call_slots.hours(), vec![11]);
        let stopped = s
            .stop_patient("1234567", "moved to hospital", "sato", at(2))
            .await
            .unwrap();
        assert_eq!(stopped.stopped_at, Some(at(2)));
        assert_eq!(stopped.stopped_reason.as_deref(), Some("moved to hospital"));
        assert_eq!(stopped.status_on(day), PatientStatus::Stopped);
        let resumed = s.resume_patient("1234567", "sato", at(3)).await.unwrap();
        assert!(resumed.stopped_at.is_none() && resumed.is_active_on(day));
        let wrong = s.mark_wrong_number("1234567", "ivr", at(4)).await.unwrap();
        assert!(wrong.wrong_number);
        assert_eq!(wrong.status_on(day), PatientStatus::WrongNumber);
        let fixed = s
            .set_phone("1234567", "080-1111-2222", "sato", at(5))
            .await
            .unwrap();
        assert!(!fixed.wrong_number);
        assert_eq!(fixed.phone, "+818011112222");
        let hc = s
            .set_contact_method("1234567", ContactMethod::HealthCall, "sato", at(6))
            .await
            .unwrap();
        assert_eq!(hc.contact_method, ContactMethod::HealthCall);
        assert!(matches!(
            s.stop_patient("9999999", "x", "sato", at(7)).await,
            Err(StoreError::NotFound(_))
        ));

        let log = s.list_audit(Some(p.id)).await.unwrap();
        let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "enrol",
                "set_slots",
                "stop",
                "resume",
                "wrong_number",
                "set_phone",
                "set_contact_method"
            ]
        );
        assert_eq!(log[2].actor, "sato");
        assert_eq!(log[2].detail, "moved to hospital");
        assert_eq!(log[2].at, at(2));
        s.append_audit(at(8), "admin", "note", None, "free text")
            .await
            .unwrap();
        assert_eq!(s.list_audit(None).await.unwrap().len(), log.len() + 1);
    })
    .await;
}

#[tokio::test]
async fn observation_period_bounds_the_active_days() {
    on_every_backend(|s| async move {
        let p = s
            .insert_patient(&patient("1234567", "09012345678"), "staff", at(0))
            .await
            .unwrap();
        assert_eq!(p.status_on(date("2026-11-14")), PatientStatus::NotStarted);
        assert!(p.is_active_on(date("2026-11-15")) && p.is_active_on(date("2026-11-25")));
        assert_eq!(p.status_on(date("2026-11-26")), PatientStatus::Ended);
    })
    .await;
}

#[tokio::test]
async fn only_active_auto_call_patients_with_that_slot_are_due() {
    on_every_backend(|s| async move {
        let mut ids = Vec::new();
        for (id, phone) in [
            ("1000001", "09010000001"),
            ("1000002", "09010000002"),
            ("1000003", "09010000003"),
            ("1000004", "09010000004"),
            ("1000005", "09010000005"),
            ("1000006", "09010000006"),
        ] {
            ids.push(
                s.insert_patient(&patient(id, phone), "staff", at(0))
                    .await
                    .unwrap(),
            );
        }
        s.stop_patient("1000002", "recovered", "staff", at(1))
            .await
            .unwrap();
        s.mark_wrong_number("1000003", "ivr", at(1)).await.unwrap();
        s.set_contact_method("1000004", ContactMethod::HealthCall, "staff", at(1))
            .await
            .unwrap();
        s.set_patient_slots("1000005", CallSlots::parse("9").unwrap(), "staff", at(1))
            .await
            .unwrap();
        let mut late = patient("1000007", "09010000007");
        late.observation_end = date("2026-11-19");
        late.observation_start = date("2026-11-10");
        s.insert_patient(&late, "staff", at(0)).await.unwrap();

        let centre = ids[0].centre_id;
        let due: Vec<String> = s
            .patients_due(centre, date("2026-11-20"), 14)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.hersys_id)
            .collect();
        assert_eq!(due, ["1000001", "1000006"]);
        let due9: Vec<String> = s
            .patients_due(centre, date("2026-11-20"), 9)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.hersys_id)
            .collect();
        assert_eq!(due9, ["1000001", "1000005", "1000006"]);
        assert!(
            s.patients_due(centre, date("2026-11-20"), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            s.patients_due(centre, date("2026-12-01"), 14)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn identity_needs_id_and_birthday_and_failure_reveals_nothing() {
    on_every_backend(|s| async move {
        s.insert_patient(&patient("1234567", "09012345678"), "staff", at(0))
            .await
            .unwrap();
        match s.verify_identity("1234567", "0407").await.unwrap() {
            IdentityCheck::Verified(p) => assert_eq!(p.hersys_id, "1234567"),
            other => panic!("expected verified, got {other:?}"),
        }
        for (id, mmdd) in [
            ("1234567", "0704"),
            ("7654321", "0407"),
            ("1234567", "407"),
            ("12", "0407"),
        ] {
            assert_eq!(
                s.verify_identity(id, mmdd).await.unwrap(),
                IdentityCheck::Mismatch
            );
        }
    })
    .await;
}

#[tokio::test]
async fn auth_failures_are_counted_per_caller_and_per_id_within_the_window() {
    on_every_backend(|s| async move {
        s.record_auth_failure(at(0), Some("+819012345678"), Some("1234567"))
            .await
            .unwrap();
        s.record_auth_failure(at(10), Some("+819012345678"), Some("7654321"))
            .await
            .unwrap();
        s.record_auth_failure(at(20), None, Some("1234567"))
            .await
            .unwrap();
        s.record_auth_failure(at(70), Some("+819099999999"), None)
            .await
            .unwrap();
        let caller = AuthFailureKey::CallingNumber("+819012345678");
        assert_eq!(s.count_auth_failures(caller, at(0)).await.unwrap(), 2);
        assert_eq!(s.count_auth_failures(caller, at(5)).await.unwrap(), 1);
        assert_eq!(
            s.count_auth_failures(AuthFailureKey::HersysId("1234567"), at(0))
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            s.count_auth_failures(AuthFailureKey::HersysId("0000000"), at(0))
                .await
                .unwrap(),
            0
        );
        assert_eq!(s.prune_auth_failures(at(15)).await.unwrap(), 2);
        assert_eq!(
            s.count_auth_failures(AuthFailureKey::HersysId("1234567"), at(0))
                .await
                .unwrap(),
            1
        );
    })
    .await;
}
