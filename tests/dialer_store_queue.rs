//! The `JobQueue` contract on the case store (SQLite and PostgreSQL): the same scenarios
//! as `dialer_queue.rs` pins on the in-memory double, checked through the stored rows.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{on_every_backend, patient};
use kenkocall::dialer::{
    AttemptResult, CallSlot, ClaimDecision, JobEnd, JobKey, JobQueue, PatientSnapshot, PlanConfig,
    PlannedJob, QueueError, RetryDecision, StopReason, WorkerId, claim_decision,
};
use kenkocall::store::{AttemptOutcome, AttemptState, CallAttempt, PatientId, Store};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const NINE: &str = "2026-11-20T00:00:00Z"; // 09:00 JST
const LINE: &str = "05031980215";
const LEASE: TimeDelta = TimeDelta::minutes(5);

fn w(name: &str) -> WorkerId {
    WorkerId(name.into())
}

fn key(p: PatientId) -> JobKey {
    JobKey {
        patient: p,
        date: "2026-11-20".parse().unwrap(),
        slot: CallSlot::new(9).unwrap(),
    }
}

/// Enrols `n` patients and plans their 09:00 job; returns the ids.
async fn planned(s: &Store, n: usize) -> Vec<PatientId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let p = patient(&format!("{}", 1_000_000 + i), "09012345678");
        ids.push(s.insert_patient(&p, "staff", utc(NINE)).await.unwrap().id);
    }
    let jobs: Vec<_> = ids
        .iter()
        .map(|p| PlannedJob {
            key: key(*p),
            slot_at: utc(NINE),
        })
        .collect();
    assert_eq!(s.enqueue(&jobs).await.unwrap(), n);
    assert_eq!(
        s.enqueue(&jobs).await.unwrap(),
        0,
        "planning twice adds nothing"
    );
    ids
}

async fn rows(s: &Store) -> Vec<CallAttempt> {
    s.list_attempts(None).await.unwrap()
}

fn snapshot(p: PatientId) -> PatientSnapshot {
    PatientSnapshot {
        id: p,
        slots: kenkocall::store::CallSlots::parse("9").unwrap(),
        observation_start: "2026-11-15".parse().unwrap(),
        observation_end: "2026-11-25".parse().unwrap(),
        stopped: false,
        wrong_number: false,
        contact: kenkocall::store::ContactMethod::AutoCall,
        last_report: None,
    }
}

#[tokio::test]
async fn two_claimers_never_get_the_same_job_and_nothing_before_it_is_due() {
    on_every_backend(|s| async move {
        planned(&s, 10).await;
        let early = utc(NINE) - TimeDelta::seconds(1);
        assert!(s.claim(&w("a"), early, LEASE, 10).await.unwrap().is_empty());
        let a = s.claim(&w("a"), utc(NINE), LEASE, 6).await.unwrap();
        let b = s.claim(&w("b"), utc(NINE), LEASE, 6).await.unwrap();
        assert_eq!((a.len(), b.len()), (6, 4));
        let mut all: Vec<_> = a.iter().chain(&b).map(|j| j.key).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 10);
        assert!(
            s.claim(&w("c"), utc(NINE), LEASE, 10)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_on_separate_connections_split_the_jobs() {
    on_every_backend(|s| async move {
        planned(&s, 60).await;
        let mut handles = Vec::new();
        for i in 0..4 {
            let s = s.clone();
            handles.push(tokio::spawn(async move {
                let mut got = Vec::new();
                loop {
                    let c = s
                        .claim(&w(&format!("n{i}")), utc(NINE), LEASE, 3)
                        .await
                        .unwrap();
                    if c.is_empty() {
                        break got;
                    }
                    got.extend(c.into_iter().map(|j| j.key));
                }
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!((n, all.len()), (60, 60));
    })
    .await;
}

#[tokio::test]
async fn an_expired_lease_is_taken_back_and_the_old_holder_is_refused() {
    on_every_backend(|s| async move {
        planned(&s, 1).await;
        let t0 = utc(NINE);
        let old = s.claim(&w("a"), t0, LEASE, 1).await.unwrap().remove(0);
        let almost = t0 + LEASE - TimeDelta::seconds(1);
        assert!(s.claim(&w("b"), almost, LEASE, 1).await.unwrap().is_empty());
        let new = s
            .claim(&w("b"), t0 + LEASE, LEASE, 1)
            .await
            .unwrap()
            .remove(0);
        assert_eq!((new.key, new.attempt), (old.key, 1));
        assert_ne!(new.lease, old.lease);
        assert_eq!(
            s.begin_attempt(&old, LINE, "c1@127.0.0.1", t0 + LEASE)
                .await,
            Err(QueueError::LeaseLost(old.key))
        );
        assert_eq!(
            s.renew(&old, t0 + LEASE, LEASE).await,
            Err(QueueError::LeaseLost(old.key))
        );
        let until = s.renew(&new, t0 + LEASE, LEASE).await.unwrap();
        assert_eq!(until, t0 + LEASE + LEASE);
        s.begin_attempt(&new, LINE, "c1@127.0.0.1", t0 + LEASE)
            .await
            .unwrap();
        let r = &rows(&s).await[0];
        assert_eq!(r.state, AttemptState::Dialing);
        assert_eq!(r.caller_line.as_deref(), Some(LINE));
        // The Call-ID is written with `dialing`, before any INVITE: a crash from here on
        // leaves the attempt linked to the reports of its call.
        assert_eq!(r.sip_call_id.as_deref(), Some("c1@127.0.0.1"));
        assert_eq!(r.lease_owner.as_deref(), Some("b"));
    })
    .await;
}

#[tokio::test]
async fn crash_mid_call_never_dials_the_same_attempt_number_twice() {
    on_every_backend(|s| async move {
        let p = planned(&s, 1).await[0];
        let t0 = utc(NINE);
        let a = s.claim(&w("a"), t0, LEASE, 1).await.unwrap().remove(0);
        s.begin_attempt(&a, LINE, "c1@127.0.0.1", t0).await.unwrap();
        // Node a dies mid-call; node b takes the job back when the lease runs out.
        let t1 = t0 + LEASE;
        let b = s.claim(&w("b"), t1, LEASE, 1).await.unwrap().remove(0);
        assert_eq!((b.attempt, b.interrupted), (2, Some(1)));
        let all = rows(&s).await;
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].outcome, Some(AttemptOutcome::Failed));
        assert_eq!(all[0].detail.as_deref(), Some("interrupted"));
        // Attempt 1 can never begin again, whoever asks.
        let mut replay = b.clone();
        replay.attempt = 1;
        assert!(
            s.begin_attempt(&replay, LINE, "c1@127.0.0.1", t1)
                .await
                .is_err()
        );
        let cfg = PlanConfig::default();
        let ClaimDecision::Wait { until } = claim_decision(&b, Some(&snapshot(p)), t1, &cfg) else {
            panic!("an interrupted attempt waits the failed-call offset");
        };
        assert_eq!(until, t1 + TimeDelta::minutes(10));
        s.release(&b, t1, until).await.unwrap();
        let before = until - TimeDelta::seconds(1);
        assert!(s.claim(&w("b"), before, LEASE, 1).await.unwrap().is_empty());
        let c = s.claim(&w("b"), until, LEASE, 1).await.unwrap().remove(0);
        assert_eq!((c.attempt, c.interrupted), (2, None));
        s.begin_attempt(&c, LINE, "c1@127.0.0.1", until)
            .await
            .unwrap();
        assert_eq!(rows(&s).await.len(), 2);
    })
    .await;
}

#[tokio::test]
async fn finished_attempt_schedules_the_retry_and_records_line_times_outcome_call_id() {
    on_every_backend(|s| async move {
        planned(&s, 1).await;
        let t0 = utc(NINE);
        let j = s.claim(&w("a"), t0, LEASE, 1).await.unwrap().remove(0);
        s.begin_attempt(&j, LINE, "c1@127.0.0.1", t0).await.unwrap();
        let ended = t0 + TimeDelta::seconds(40);
        let retry_at = ended + TimeDelta::minutes(5);
        let result = AttemptResult::decide(
            &j,
            AttemptOutcome::Busy,
            ended,
            Some("abc@127.0.0.1".into()),
            &PlanConfig::default(),
        );
        assert_eq!(
            result.next,
            RetryDecision::RetryAt {
                at: retry_at,
                attempt: 2
            }
        );
        s.finish_attempt(&j, result.clone()).await.unwrap();
        assert!(
            s.finish_attempt(&j, result).await.is_err(),
            "finishing twice"
        );
        let all = rows(&s).await;
        let a = &all[0];
        assert_eq!(
            (
                a.caller_line.as_deref(),
                a.outcome,
                a.started_at,
                a.ended_at,
                a.sip_call_id.as_deref(),
                a.state
            ),
            (
                Some(LINE),
                Some(AttemptOutcome::Busy),
                Some(t0),
                Some(ended),
                Some("abc@127.0.0.1"),
                AttemptState::Finished
            )
        );
        assert_eq!((all[1].attempt_no, all[1].due_at), (2, retry_at));
        let before = retry_at - TimeDelta::seconds(1);
        assert!(s.claim(&w("a"), before, LEASE, 1).await.unwrap().is_empty());
        let j2 = s
            .claim(&w("a"), retry_at, LEASE, 1)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(j2.attempt, 2);
        s.end(&j2, JobEnd::Stopped(StopReason::StaffStopped), retry_at)
            .await
            .unwrap();
        let all = rows(&s).await;
        assert_eq!(all[1].state, AttemptState::Cancelled);
        assert_eq!(all[1].detail.as_deref(), Some("staff_stopped"));
        let later = retry_at + TimeDelta::hours(1);
        assert!(s.claim(&w("a"), later, LEASE, 1).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_given_back_attempt_is_dialled_again_under_its_number() {
    on_every_backend(|s| async move {
        planned(&s, 1).await;
        let t0 = utc(NINE);
        let a = s.claim(&w("a"), t0, LEASE, 1).await.unwrap().remove(0);
        assert!(s.give_back_attempt(&a, t0, t0).await.is_err(), "not begun");
        s.begin_attempt(&a, LINE, "c1@127.0.0.1", t0).await.unwrap();
        let until = t0 + TimeDelta::seconds(30);
        s.give_back_attempt(&a, t0, until).await.unwrap();
        let all = rows(&s).await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].state, AttemptState::Pending);
        assert_eq!(all[0].outcome, None);
        assert_eq!(
            all[0].sip_call_id, None,
            "the refused INVITE is not the attempt"
        );
        assert!(
            s.give_back_attempt(&a, t0, until).await.is_err(),
            "lease released"
        );
        let before = until - TimeDelta::seconds(1);
        assert!(s.claim(&w("a"), before, LEASE, 1).await.unwrap().is_empty());
        let b = s.claim(&w("b"), until, LEASE, 1).await.unwrap().remove(0);
        assert_eq!((b.attempt, b.interrupted), (1, None));
        s.begin_attempt(&b, LINE, "c2@127.0.0.1", until)
            .await
            .unwrap();
        let all = rows(&s).await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].sip_call_id.as_deref(), Some("c2@127.0.0.1"));
    })
    .await;
}
