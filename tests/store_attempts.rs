//! Call attempts on both backends: idempotent planning, updates, leases and claiming.

mod common;

use common::{at, date, on_every_backend, patient};
use kenkocall::store::{
    AttemptOutcome, AttemptState, AttemptUpdate, NewAttempt, PatientId, Store, StoreError,
};

async fn enrol(s: &Store, hersys_id: &str) -> PatientId {
    s.insert_patient(&patient(hersys_id, "09012345678"), "staff", at(0))
        .await
        .unwrap()
        .id
}

fn attempt(p: PatientId, no: u32, due_minute: i64) -> NewAttempt {
    NewAttempt {
        patient_id: p,
        slot_date: date("2026-11-20"),
        slot_hour: 9,
        attempt_no: no,
        due_at: at(due_minute),
    }
}

#[tokio::test]
async fn planning_twice_creates_one_attempt() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "1234567").await;
        let id = s
            .plan_attempt(&attempt(p, 1, 0))
            .await
            .unwrap()
            .expect("first plan creates");
        assert_eq!(s.plan_attempt(&attempt(p, 1, 5)).await.unwrap(), None);
        let other_slot = NewAttempt {
            slot_hour: 14,
            ..attempt(p, 1, 300)
        };
        assert!(s.plan_attempt(&other_slot).await.unwrap().is_some());
        let a = s.get_attempt(id).await.unwrap();
        assert_eq!(
            (
                a.patient_id,
                a.hersys_id.as_str(),
                a.slot_date,
                a.slot_hour,
                a.attempt_no
            ),
            (p, "1234567", date("2026-11-20"), 9, 1)
        );
        assert_eq!(
            (a.state, a.outcome, a.due_at),
            (AttemptState::Pending, None, at(0))
        );
        assert_eq!(s.list_attempts(None).await.unwrap().len(), 2);
        let bad = NewAttempt {
            patient_id: PatientId(999_999),
            ..attempt(p, 1, 0)
        };
        assert!(matches!(
            s.plan_attempt(&bad).await,
            Err(StoreError::Rejected(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn attempt_life_is_recorded_field_by_field() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "1234567").await;
        let id = s.plan_attempt(&attempt(p, 1, 0)).await.unwrap().unwrap();
        let dialing = AttemptUpdate {
            state: Some(AttemptState::Dialing),
            caller_line: Some("05031980215".into()),
            sip_call_id: Some("3848276298220188511@127.0.0.1".into()),
            started_at: Some(at(1)),
            ..Default::default()
        };
        s.update_attempt(id, &dialing).await.unwrap();
        let answered = AttemptUpdate {
            state: Some(AttemptState::Answered),
            answered_at: Some(at(2)),
            ..Default::default()
        };
        s.update_attempt(id, &answered).await.unwrap();
        let done = AttemptUpdate {
            state: Some(AttemptState::Finished),
            outcome: Some(AttemptOutcome::Completed),
            ended_at: Some(at(5)),
            ..Default::default()
        };
        let a = s.update_attempt(id, &done).await.unwrap();
        assert_eq!(a.state, AttemptState::Finished);
        assert_eq!(a.outcome, Some(AttemptOutcome::Completed));
        assert_eq!(a.caller_line.as_deref(), Some("05031980215"));
        assert_eq!(
            a.sip_call_id.as_deref(),
            Some("3848276298220188511@127.0.0.1")
        );
        assert_eq!(
            (a.started_at, a.answered_at, a.ended_at),
            (Some(at(1)), Some(at(2)), Some(at(5)))
        );
        assert_eq!(s.get_attempt(id).await.unwrap(), a);
        assert!(matches!(
            s.update_attempt(kenkocall::store::AttemptId(id.0 + 99), &done)
                .await,
            Err(StoreError::NotFound(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn attempts_list_per_patient_in_slot_order() {
    on_every_backend(|s| async move {
        let a = enrol(&s, "1111111").await;
        let b = enrol(&s, "2222222").await;
        s.plan_attempt(&attempt(a, 2, 15)).await.unwrap();
        s.plan_attempt(&attempt(b, 1, 0)).await.unwrap();
        s.plan_attempt(&attempt(a, 1, 0)).await.unwrap();
        let mine: Vec<u32> = s
            .list_attempts(Some("1111111"))
            .await
            .unwrap()
            .iter()
            .map(|x| x.attempt_no)
            .collect();
        assert_eq!(mine, [1, 2]);
        assert_eq!(s.list_attempts(Some("2222222")).await.unwrap().len(), 1);
        assert!(s.list_attempts(Some("3333333")).await.unwrap().is_empty());
    })
    .await;
}
