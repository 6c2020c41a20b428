//! Health reports on both backends: saved answer by answer, one per person per call, never
//! half-written, and listed in the `reports --json` shape.

mod common;

use common::{at, on_every_backend, patient};
use kenkocall::store::{
    Answer, Channel, PatientId, ReportCall, ReportFilter, Store, StoreError, Symptom,
};

fn call(id: &str) -> ReportCall {
    ReportCall {
        call_id: id.to_string(),
        attempt_id: None,
    }
}

async fn enrol(s: &Store, hersys_id: &str, phone: &str) -> PatientId {
    s.insert_patient(&patient(hersys_id, phone), "staff", at(0))
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn report_is_saved_answer_by_answer_and_completed() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "1234567", "09012345678").await;
        let r = s
            .start_report(
                p,
                Channel::HealthCall,
                "v1",
                &call("a84b4c76e66710@pc33"),
                Answer::TemperatureDc(365),
                at(10),
            )
            .await
            .unwrap();
        s.record_answer(r, Answer::Spo2(Some(97)), at(11))
            .await
            .unwrap();
        for sym in Symptom::ALL {
            s.record_answer(r, Answer::Symptom(*sym, false), at(12))
                .await
                .unwrap();
        }
        let partial = s.get_report(r).await.unwrap();
        assert!(!partial.complete);
        s.complete_report(r, at(13)).await.unwrap();

        let got = s.get_report(r).await.unwrap();
        assert_eq!(got.hersys_id, "1234567");
        assert_eq!(got.patient_id, p);
        assert_eq!(got.reported_at, at(10));
        assert_eq!(got.updated_at, at(13));
        assert_eq!(got.channel, Channel::HealthCall);
        assert_eq!(got.temperature_c, Some(36.5));
        assert_eq!(got.temperature_dc(), Some(365));
        assert_eq!(got.spo2, Some(97));
        assert_eq!(got.symptoms.len(), Symptom::ALL.len());
        assert!(got.symptoms.values().all(|v| !v));
        assert!(got.complete);
        assert_eq!(got.question_set, "v1");
        assert_eq!(got.call_id, "a84b4c76e66710@pc33");
    })
    .await;
}

#[tokio::test]
async fn hang_up_midway_keeps_answers_given_as_incomplete() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "1234567", "09012345678").await;
        let r = s
            .start_report(
                p,
                Channel::AutoCall,
                "v1",
                &call("c1"),
                Answer::TemperatureDc(381),
                at(0),
            )
            .await
            .unwrap();
        s.record_answer(r, Answer::Spo2(None), at(1)).await.unwrap();
        s.record_answer(r, Answer::Symptom(Symptom::Cough, true), at(2))
            .await
            .unwrap();
        let all = s.list_reports(&ReportFilter::default()).await.unwrap();
        assert_eq!(all.len(), 1);
        let got = &all[0];
        assert!(!got.complete);
        assert_eq!(got.temperature_c, Some(38.1));
        assert_eq!(got.spo2, None);
        assert_eq!(got.symptoms.len(), 1);
        assert_eq!(got.symptoms.get(&Symptom::Cough), Some(&true));
    })
    .await;
}

#[tokio::test]
async fn one_report_per_person_per_call() {
    on_every_backend(|s| async move {
        let a = enrol(&s, "1234567", "09012345678").await;
        let b = enrol(&s, "7654321", "09012345678").await;
        let first = s
            .start_report(
                a,
                Channel::HealthCall,
                "v1",
                &call("c1"),
                Answer::TemperatureDc(365),
                at(0),
            )
            .await
            .unwrap();
        // The same person again on the same call (e.g. the IVR re-saving the first answer).
        let again = s
            .start_report(
                a,
                Channel::HealthCall,
                "v1",
                &call("c1"),
                Answer::TemperatureDc(366),
                at(1),
            )
            .await
            .unwrap();
        assert_eq!(first, again);
        // A second person in the same call, and the first person on a later call.
        let other = s
            .start_report(
                b,
                Channel::HealthCall,
                "v1",
                &call("c1"),
                Answer::TemperatureDc(370),
                at(2),
            )
            .await
            .unwrap();
        let later = s
            .start_report(
                a,
                Channel::AutoCall,
                "v1",
                &call("c2"),
                Answer::TemperatureDc(364),
                at(60),
            )
            .await
            .unwrap();
        assert!(other != first && later != first && later != other);
        let reports = s.list_reports(&ReportFilter::default()).await.unwrap();
        assert_eq!(reports.len(), 3);
        assert_eq!(
            reports[0].temperature_c,
            Some(36.6),
            "re-entered answer replaces the first"
        );
        let mine = s
            .list_reports(&ReportFilter {
                hersys_id: Some("1234567".into()),
                since: None,
            })
            .await
            .unwrap();
        assert_eq!(
            mine.iter().map(|r| r.reported_at).collect::<Vec<_>>(),
            vec![at(0), at(60)]
        );
        let recent = s
            .list_reports(&ReportFilter {
                hersys_id: None,
                since: Some(at(2)),
            })
            .await
            .unwrap();
        assert_eq!(recent.len(), 2);
        assert!(s.has_report_since(a, at(60)).await.unwrap());
        assert!(!s.has_report_since(a, at(61)).await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn failed_first_answer_leaves_no_report_row() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "1234567", "09012345678").await;
        // The report row is inserted, then the impossible temperature is refused: both roll back.
        let e = s
            .start_report(
                p,
                Channel::AutoCall,
                "v1",
                &call("c1"),
                Answer::TemperatureDc(999),
                at(0),
            )
            .await;
        assert!(matches!(e, Err(StoreError::Rejected(_))), "{e:?}");
        assert!(
            s.list_reports(&ReportFilter::default())
                .await
                .unwrap()
                .is_empty()
        );
        // The same call can still report properly afterwards.
        let r = s
            .start_report(
                p,
                Channel::AutoCall,
                "v1",
                &call("c1"),
                Answer::TemperatureDc(365),
                at(1),
            )
            .await
            .unwrap();
        assert_eq!(s.get_report(r).await.unwrap().reported_at, at(1));
    })
    .await;
}

#[tokio::test]
async fn failed_later_answer_keeps_earlier_answers_untouched() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "1234567", "09012345678").await;
        let r = s
            .start_report(
                p,
                Channel::AutoCall,
                "v1",
                &call("c1"),
                Answer::TemperatureDc(365),
                at(0),
            )
            .await
            .unwrap();
        s.record_answer(r, Answer::Spo2(Some(96)), at(1))
            .await
            .unwrap();
        let e = s.record_answer(r, Answer::Spo2(Some(150)), at(2)).await;
        assert!(matches!(e, Err(StoreError::Rejected(_))), "{e:?}");
        let got = s.get_report(r).await.unwrap();
        assert_eq!(
            (got.temperature_c, got.spo2, got.updated_at),
            (Some(36.5), Some(96), at(1))
        );
    })
    .await;
}

#[tokio::test]
async fn reports_for_unknown_patient_or_report_are_refused() {
    on_every_backend(|s| async move {
        let e = s
            .start_report(
                PatientId(424242),
                Channel::AutoCall,
                "v1",
                &call("c1"),
                Answer::TemperatureDc(365),
                at(0),
            )
            .await;
        assert!(
            matches!(e, Err(StoreError::Rejected(_))),
            "foreign key must hold: {e:?}"
        );
        let p = enrol(&s, "1234567", "09012345678").await;
        let r = s
            .start_report(
                p,
                Channel::AutoCall,
                "v1",
                &call("c1"),
                Answer::TemperatureDc(365),
                at(0),
            )
            .await
            .unwrap();
        let missing = kenkocall::store::ReportId(r.0 + 1000);
        assert!(matches!(
            s.record_answer(missing, Answer::Spo2(Some(97)), at(1))
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            s.record_answer(missing, Answer::Symptom(Symptom::Cough, true), at(1))
                .await,
            Err(StoreError::Rejected(_))
        ));
        assert!(matches!(
            s.complete_report(missing, at(1)).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            s.list_reports(&ReportFilter::default())
                .await
                .unwrap()
                .len()
                == 1
        );
    })
    .await;
}

#[tokio::test]
async fn reports_json_lines_have_the_documented_shape() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "1234567", "09012345678").await;
        let r = s
            .start_report(
                p,
                Channel::HealthCall,
                "2026-11-v1",
                &call("c1"),
                Answer::TemperatureDc(365),
                at(30),
            )
            .await
            .unwrap();
        s.record_answer(r, Answer::Spo2(Some(97)), at(31))
            .await
            .unwrap();
        s.record_answer(
            r,
            Answer::Symptom(Symptom::ShortnessOfBreath, false),
            at(32),
        )
        .await
        .unwrap();
        s.record_answer(r, Answer::Symptom(Symptom::TasteSmellLoss, true), at(32))
            .await
            .unwrap();
        s.complete_report(r, at(33)).await.unwrap();
        let q = s
            .start_report(
                p,
                Channel::AutoCall,
                "2026-11-v1",
                &call("c2"),
                Answer::Symptom(Symptom::Cough, false),
                at(90),
            )
            .await
            .unwrap();
        let _ = q;

        let lines: Vec<String> = s
            .list_reports(&ReportFilter::default())
            .await
            .unwrap()
            .iter()
            .map(|r| r.to_json_line())
            .collect();
        assert_eq!(lines.len(), 2);
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        let expected = serde_json::json!({
            "hersys_id": "1234567",
            "reported_at": "2026-11-20T00:30:00.000Z",
            "channel": "health_call",
            "temperature_c": 36.5,
            "spo2": 97,
            "symptoms": {"shortness_of_breath": false, "taste_smell_loss": true},
            "complete": true,
            "question_set": "2026-11-v1"
        });
        assert_eq!(v, expected);
        chrono::DateTime::parse_from_rfc3339(v["reported_at"].as_str().unwrap()).unwrap();
        let w: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(w["channel"], "auto_call");
        assert!(w["temperature_c"].is_null() && w["spo2"].is_null());
        assert_eq!(w["symptoms"], serde_json::json!({"cough": false}));
        assert_eq!(w["complete"], false);
    })
    .await;
}

#[tokio::test]
async fn a_call_dropped_midway_does_not_count_as_reported_for_the_dialer() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "7654321", "09012345679").await;
        let partial = s
            .start_report(
                p,
                Channel::HealthCall,
                "v1",
                &call("dropped@pc33"),
                Answer::TemperatureDc(372),
                at(10),
            )
            .await
            .unwrap();
        assert!(!s.get_report(partial).await.unwrap().complete);
        assert_eq!(s.last_report(p).await.unwrap(), None);

        let done = s
            .start_report(
                p,
                Channel::AutoCall,
                "v1",
                &call("finished@pc33"),
                Answer::TemperatureDc(365),
                at(20),
            )
            .await
            .unwrap();
        s.complete_report(done, at(21)).await.unwrap();
        let last = s.last_report(p).await.unwrap().unwrap();
        assert_eq!((last.at, last.channel), (at(20), Channel::AutoCall));
    })
    .await;
}

#[tokio::test]
async fn latest_complete_reports_of_many_patients_come_in_one_call() {
    on_every_backend(|s| async move {
        let a = enrol(&s, "1111111", "09011111111").await;
        let b = enrol(&s, "2222222", "09022222222").await;
        let silent = enrol(&s, "3333333", "09033333333").await;
        for (p, id, minute, channel) in [
            (a, "a1@x", 10, Channel::AutoCall),
            (a, "a2@x", 30, Channel::HealthCall),
            (b, "b1@x", 20, Channel::AutoCall),
        ] {
            let r = s
                .start_report(
                    p,
                    channel,
                    "v1",
                    &call(id),
                    Answer::Spo2(Some(97)),
                    at(minute),
                )
                .await
                .unwrap();
            s.complete_report(r, at(minute + 1)).await.unwrap();
        }
        let last = s.last_reports(&[a, b, silent]).await.unwrap();
        assert_eq!(last.len(), 2, "{last:?}");
        assert_eq!(
            (last[&a].at, last[&a].channel),
            (at(30), Channel::HealthCall)
        );
        assert_eq!((last[&b].at, last[&b].channel), (at(20), Channel::AutoCall));
        assert_eq!(s.last_report(a).await.unwrap(), Some(last[&a]));
    })
    .await;
}
