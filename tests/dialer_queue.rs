//! The lease contract of `JobQueue`, pinned on the in-memory double. The store's SQL
//! implementation must pass the same scenarios.

use chrono::{DateTime, TimeDelta, Utc};
use kenkocall::dialer::{
    AttemptResult, CallSlot, ClaimDecision, InMemoryJobQueue, JobEnd, JobKey, JobQueue, JobState,
    PlanConfig, PlannedJob, QueueError, RetryDecision, StopReason, WorkerId, claim_decision,
};
use kenkocall::store::{AttemptOutcome, PatientId};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const NINE: &str = "2026-11-22T00:00:00Z";
const LINE: &str = "05031980215";

fn key(p: i64) -> JobKey {
    JobKey {
        patient: PatientId(p),
        date: "2026-11-22".parse().unwrap(),
        slot: CallSlot::new(9).unwrap(),
    }
}

async fn queue_with(n: i64) -> InMemoryJobQueue {
    let q = InMemoryJobQueue::new();
    let jobs: Vec<_> = (1..=n)
        .map(|p| PlannedJob {
            key: key(p),
            slot_at: utc(NINE),
        })
        .collect();
    assert_eq!(q.enqueue(&jobs).await.unwrap(), n as usize);
    q
}

fn w(name: &str) -> WorkerId {
    WorkerId(name.into())
}

const LEASE: TimeDelta = TimeDelta::minutes(5);

#[tokio::test]
async fn two_claimers_never_get_the_same_job() {
    let q = queue_with(10).await;
    let now = utc(NINE);
    let a = q.claim(&w("a"), now, LEASE, 6).await.unwrap();
    let b = q.claim(&w("b"), now, LEASE, 6).await.unwrap();
    assert_eq!((a.len(), b.len()), (6, 4));
    let mut all: Vec<_> = a.iter().chain(&b).map(|j| j.key).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 10);
    assert!(q.claim(&w("c"), now, LEASE, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_on_threads_split_the_jobs() {
    let q = std::sync::Arc::new(queue_with(200).await);
    let mut handles = Vec::new();
    for i in 0..4 {
        let q = q.clone();
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let c = q
                    .claim(&w(&format!("n{i}")), utc(NINE), LEASE, 7)
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
    assert_eq!((n, all.len()), (200, 200));
}

#[tokio::test]
async fn jobs_are_not_claimable_before_they_are_due() {
    let q = queue_with(1).await;
    let before = utc(NINE) - TimeDelta::seconds(1);
    assert!(q.claim(&w("a"), before, LEASE, 1).await.unwrap().is_empty());
    assert_eq!(
        q.claim(&w("a"), utc(NINE), LEASE, 1).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_expired_lease_is_taken_back_and_the_old_holder_is_refused() {
    let q = queue_with(1).await;
    let t0 = utc(NINE);
    let old = q.claim(&w("a"), t0, LEASE, 1).await.unwrap().remove(0);
    // Still leased just before expiry.
    assert!(
        q.claim(&w("b"), t0 + LEASE - TimeDelta::seconds(1), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let new = q
        .claim(&w("b"), t0 + LEASE, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(new.key, old.key);
    assert_ne!(new.lease, old.lease);
    assert_eq!(
        new.attempt, 1,
        "nothing was dialled, so attempt 1 is still free"
    );
    assert_eq!(
        q.begin_attempt(&old, LINE, "c1@127.0.0.1", t0 + LEASE)
            .await,
        Err(QueueError::LeaseLost(old.key))
    );
    assert_eq!(
        q.renew(&old, t0 + LEASE, LEASE).await,
        Err(QueueError::LeaseLost(old.key))
    );
    assert!(
        q.begin_attempt(&new, LINE, "c1@127.0.0.1", t0 + LEASE)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn renewing_keeps_a_long_call_from_being_taken_back() {
    let q = queue_with(1).await;
    let t0 = utc(NINE);
    let j = q.claim(&w("a"), t0, LEASE, 1).await.unwrap().remove(0);
    let until = q
        .renew(&j, t0 + TimeDelta::minutes(4), LEASE)
        .await
        .unwrap();
    assert_eq!(until, t0 + TimeDelta::minutes(9));
    assert!(
        q.claim(&w("b"), t0 + TimeDelta::minutes(6), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn crash_mid_call_never_dials_the_same_attempt_number_twice() {
    let q = queue_with(1).await;
    let t0 = utc(NINE);
    let a = q.claim(&w("a"), t0, LEASE, 1).await.unwrap().remove(0);
    q.begin_attempt(&a, LINE, "c1@127.0.0.1", t0).await.unwrap();
    // Node a dies here. Node b takes the job back after the lease.
    let t1 = t0 + LEASE;
    let b = q.claim(&w("b"), t1, LEASE, 1).await.unwrap().remove(0);
    assert_eq!((b.attempt, b.interrupted), (2, Some(1)));
    let recorded = q.attempts(&key(1));
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].outcome, Some(AttemptOutcome::Failed));
    // Attempt 1 can never begin again, whoever asks.
    let mut replay = b.clone();
    replay.attempt = 1;
    assert!(matches!(
        q.begin_attempt(&replay, LINE, "c1@127.0.0.1", t1).await,
        Err(QueueError::AttemptAlreadyBegun { attempt: 1, .. })
    ));
    // The rules make b wait the failed-call offset, then attempt 2 goes ahead.
    let patient = patient();
    let cfg = PlanConfig::default();
    let ClaimDecision::Wait { until } = claim_decision(&b, Some(&patient), t1, &cfg) else {
        panic!("interrupted attempt must wait the retry offset");
    };
    assert_eq!(until, t1 + TimeDelta::minutes(10));
    q.release(&b, t1, until).await.unwrap();
    assert!(
        q.claim(&w("b"), until - TimeDelta::seconds(1), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let c = q.claim(&w("b"), until, LEASE, 1).await.unwrap().remove(0);
    assert_eq!((c.attempt, c.interrupted), (2, None));
    assert_eq!(
        claim_decision(&c, Some(&patient), until, &cfg),
        ClaimDecision::Dial { attempt: 2 }
    );
    q.begin_attempt(&c, LINE, "c1@127.0.0.1", until)
        .await
        .unwrap();
    assert_eq!(q.attempts(&key(1)).len(), 2);
}

#[tokio::test]
async fn finished_attempt_schedules_the_retry_and_records_the_outcome() {
    let q = queue_with(1).await;
    let t0 = utc(NINE);
    let j = q.claim(&w("a"), t0, LEASE, 1).await.unwrap().remove(0);
    q.begin_attempt(&j, LINE, "c1@127.0.0.1", t0).await.unwrap();
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
    q.finish_attempt(&j, result).await.unwrap();
    assert_eq!(
        q.state(&key(1)),
        Some(JobState::Pending { next_at: retry_at })
    );
    let a = &q.attempts(&key(1))[0];
    assert_eq!(
        (
            a.line.as_str(),
            a.outcome,
            a.ended_at,
            a.sip_call_id.as_deref()
        ),
        (
            LINE,
            Some(AttemptOutcome::Busy),
            Some(ended),
            Some("abc@127.0.0.1")
        )
    );
    // Finishing twice is refused (the lease was released with the first finish).
    assert!(
        q.finish_attempt(
            &j,
            AttemptResult {
                attempt: 1,
                outcome: AttemptOutcome::Completed,
                ended_at: ended,
                sip_call_id: None,
                next: RetryDecision::Reached,
            },
        )
        .await
        .is_err()
    );
    let j2 = q
        .claim(&w("a"), retry_at, LEASE, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(j2.attempt, 2);
    q.end(&j2, JobEnd::Stopped(StopReason::StaffStopped), retry_at)
        .await
        .unwrap();
    assert_eq!(
        q.state(&key(1)),
        Some(JobState::Ended(JobEnd::Stopped(StopReason::StaffStopped)))
    );
    assert!(
        q.claim(&w("a"), retry_at + TimeDelta::hours(1), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
}

fn patient() -> kenkocall::dialer::PatientSnapshot {
    kenkocall::dialer::PatientSnapshot {
        id: PatientId(1),
        slots: kenkocall::store::CallSlots::parse("9").unwrap(),
        observation_start: "2026-11-15".parse().unwrap(),
        observation_end: "2026-11-25".parse().unwrap(),
        stopped: false,
        wrong_number: false,
        contact: kenkocall::store::ContactMethod::AutoCall,
        last_report: None,
    }
}

/// A trunk refusal gives the attempt back: pending again from `until` under the same
/// number, nothing recorded; a stale lease or an attempt not begun is refused.
#[tokio::test]
async fn a_given_back_attempt_is_dialled_again_under_its_number() {
    let q = queue_with(1).await;
    let t0 = utc(NINE);
    let a = q.claim(&w("a"), t0, LEASE, 1).await.unwrap().remove(0);
    assert!(matches!(
        q.give_back_attempt(&a, t0, t0).await,
        Err(QueueError::NoSuchAttempt { attempt: 1, .. })
    ));
    q.begin_attempt(&a, LINE, "c1@127.0.0.1", t0).await.unwrap();
    let until = t0 + TimeDelta::seconds(30);
    q.give_back_attempt(&a, t0, until).await.unwrap();
    assert!(q.attempts(&key(1)).is_empty());
    assert!(
        q.give_back_attempt(&a, t0, until).await.is_err(),
        "lease released"
    );
    assert!(
        q.claim(&w("a"), until - TimeDelta::seconds(1), LEASE, 1)
            .await
            .unwrap()
            .is_empty()
    );
    let b = q.claim(&w("b"), until, LEASE, 1).await.unwrap().remove(0);
    assert_eq!((b.attempt, b.interrupted), (1, None));
    q.begin_attempt(&b, LINE, "c2@127.0.0.1", until)
        .await
        .unwrap();
    assert_eq!(q.attempts(&key(1)).len(), 1);
}
