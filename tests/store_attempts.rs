//! Call attempts on both backends: idempotent planning, updates, leases and claiming.

mod common;

use std::time::Duration;

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

const LEASE: Duration = Duration::from_secs(120);

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

#[tokio::test]
async fn claims_take_due_attempts_once_until_the_lease_expires() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "1234567").await;
        let q = enrol(&s, "7654321").await;
        let first = s.plan_attempt(&attempt(p, 1, 0)).await.unwrap().unwrap();
        let later = s.plan_attempt(&attempt(q, 1, 30)).await.unwrap().unwrap();

        let got = s
            .claim_due_attempts("node-a", at(1), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(
            got.iter().map(|a| a.id).collect::<Vec<_>>(),
            [first],
            "not-yet-due is left"
        );
        assert_eq!(got[0].lease_owner.as_deref(), Some("node-a"));
        assert_eq!(got[0].lease_until, Some(at(3)));
        assert!(
            s.claim_due_attempts("node-b", at(2), LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(s.renew_lease(first, "node-a", at(10)).await.unwrap());
        assert!(!s.renew_lease(first, "node-b", at(10)).await.unwrap());
        assert!(
            s.claim_due_attempts("node-b", at(5), LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );

        // node-a died: its lease runs out and node-b takes the attempt back.
        let retaken = s
            .claim_due_attempts("node-b", at(10), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(retaken.iter().map(|a| a.id).collect::<Vec<_>>(), [first]);
        assert_eq!(retaken[0].lease_owner.as_deref(), Some("node-b"));

        let done = AttemptUpdate {
            state: Some(AttemptState::Finished),
            outcome: Some(AttemptOutcome::NoAnswer),
            ended_at: Some(at(11)),
            ..Default::default()
        };
        let finished = s.update_attempt(first, &done).await.unwrap();
        assert_eq!((finished.lease_owner, finished.lease_until), (None, None));
        assert!(!s.renew_lease(first, "node-b", at(20)).await.unwrap());
        let next = s
            .claim_due_attempts("node-b", at(40), LEASE, 10)
            .await
            .unwrap();
        assert_eq!(
            next.iter().map(|a| a.id).collect::<Vec<_>>(),
            [later],
            "finished is never reclaimed"
        );
    })
    .await;
}

#[tokio::test]
async fn claim_limit_takes_the_earliest_due_first() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "1234567").await;
        for (no, due) in [(1, 20), (2, 5), (3, 10)] {
            s.plan_attempt(&attempt(p, no, due)).await.unwrap();
        }
        let got = s.claim_due_attempts("w", at(30), LEASE, 2).await.unwrap();
        assert_eq!(got.iter().map(|a| a.attempt_no).collect::<Vec<_>>(), [2, 3]);
    })
    .await;
}

#[tokio::test]
async fn concurrent_claimers_never_get_the_same_attempt() {
    on_every_backend(|s| async move {
        let mut planned = Vec::new();
        for i in 0..40u32 {
            let p = enrol(&s, &format!("{:07}", 1_000_000 + i)).await;
            planned.push(s.plan_attempt(&attempt(p, 1, 0)).await.unwrap().unwrap());
        }
        let mut workers = Vec::new();
        for w in 0..4 {
            let s = s.clone();
            workers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = s
                        .claim_due_attempts(&format!("w{w}"), at(1), LEASE, 3)
                        .await
                        .unwrap();
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|a| a.id));
                    tokio::task::yield_now().await;
                }
            }));
        }
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.unwrap());
        }
        all.sort();
        planned.sort();
        assert_eq!(all, planned, "every attempt claimed exactly once");
    })
    .await;
}

#[tokio::test]
async fn in_flight_attempts_of_a_dead_worker_are_found_not_redialled() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "1234567").await;
        let id = s.plan_attempt(&attempt(p, 1, 0)).await.unwrap().unwrap();
        s.claim_due_attempts("node-a", at(0), LEASE, 1)
            .await
            .unwrap();
        let dialing = AttemptUpdate {
            state: Some(AttemptState::Dialing),
            started_at: Some(at(1)),
            ..Default::default()
        };
        s.update_attempt(id, &dialing).await.unwrap();
        assert!(s.stale_in_flight_attempts(at(1)).await.unwrap().is_empty());
        assert!(
            s.claim_due_attempts("node-b", at(10), LEASE, 1)
                .await
                .unwrap()
                .is_empty()
        );
        let stale = s.stale_in_flight_attempts(at(10)).await.unwrap();
        assert_eq!(stale.iter().map(|a| a.id).collect::<Vec<_>>(), [id]);
    })
    .await;
}
