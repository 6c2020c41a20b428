//! Property tests of the worker's lease renewals (issue 10), against the reference
//! queue on a virtual clock: a call of random length (up to ten leases), renewals that
//! wake late, store outages, and a second worker trying to claim the job all along.
//! Asserted: no renewal is ever scheduled at or before now; while the lease holds, the
//! next renewal comes before it runs out; a call outliving its lease many times keeps
//! its job when the store stays up, and when each outage is shorter than half a lease;
//! after a lost lease nothing is renewed; once the call ends its job ends with an
//! outcome (or, if the lease was lost, the other worker has it).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use super::*;
use crate::dialer::{
    AttemptResult, CallSlot, InMemoryJobQueue, JobEnd, JobKey, JobQueue, JobState, PlanConfig,
    PlannedJob, RetryDecision, WorkerId,
};
use crate::store::{AttemptOutcome, PatientId};

/// The reference queue never waits: run its futures to completion at once.
fn now_or_never<T>(f: impl Future<Output = T>) -> T {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the in-memory queue does not wait"),
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_132_800, 0).expect("valid time")
}

fn ms(n: i64) -> TimeDelta {
    TimeDelta::milliseconds(n)
}

#[derive(Debug, Clone)]
struct Case {
    lease_ms: i64,
    call_ms: i64,
    /// Store outages, relative to the claim: (start, length).
    outages: Vec<(i64, i64)>,
    /// How late each renewal wakes (scheduler, load).
    lateness_ms: Vec<i64>,
    /// When the other worker tries to claim, relative to the claim.
    rival_polls: Vec<i64>,
}

fn case(short_outages: bool) -> impl Strategy<Value = Case> {
    (3_000i64..180_000).prop_flat_map(move |lease| {
        let outage_len = if short_outages {
            1..lease / 2
        } else {
            1..lease * 3
        };
        (
            Just(lease),
            0..lease * 10,
            proptest::collection::vec((0..lease * 10, outage_len), 0..4),
            proptest::collection::vec(0i64..100, 1..20),
            proptest::collection::vec(0..lease * 11, 0..30),
        )
            .prop_map(
                |(lease_ms, call_ms, outages, lateness_ms, rival_polls)| Case {
                    lease_ms,
                    call_ms,
                    outages,
                    lateness_ms,
                    rival_polls,
                },
            )
    })
}

struct Run {
    rival_took_it_during_the_call: bool,
    lost: bool,
}

fn run(c: &Case) -> Run {
    let q = InMemoryJobQueue::new();
    let key = JobKey {
        patient: PatientId(1),
        date: t0().date_naive(),
        slot: CallSlot::new(9).expect("hour"),
    };
    let slot_at = t0();
    let planned = PlannedJob { key, slot_at };
    now_or_never(q.enqueue(&[planned])).expect("enqueue");
    let lease = ms(c.lease_ms);
    let (me, rival) = (WorkerId("a/dialer".into()), WorkerId("b/dialer".into()));
    let claimed = now_or_never(q.claim(&me, t0(), lease, 1)).expect("claim");
    let job = claimed.into_iter().next().expect("the job is due");
    now_or_never(q.begin_attempt(&job, "0312345678", "call-1", t0())).expect("begin");
    let call_ends = t0() + ms(c.call_ms);
    let store_down = |at: DateTime<Utc>| {
        c.outages
            .iter()
            .any(|&(s, len)| at >= t0() + ms(s) && at < t0() + ms(s + len))
    };
    let mut rival_polls: Vec<DateTime<Utc>> = c.rival_polls.iter().map(|&p| t0() + ms(p)).collect();
    rival_polls.sort();
    let mut rival_polls = rival_polls.into_iter().peekable();
    let mut rival_took = false;

    let mut renewal = LeaseRenewal::new(&job, lease, t0());
    let mut lost = false;
    let mut wakeups = 0usize;
    while let Some(next) = renewal.next_renewal() {
        let now = next + ms(c.lateness_ms[wakeups % c.lateness_ms.len()]);
        wakeups += 1;
        // The other worker polls meanwhile (its claims go through, outage or not:
        // another node may reach the database when this one cannot).
        while let Some(p) = rival_polls.next_if(|p| *p < now.min(call_ends)) {
            let got = now_or_never(q.claim(&rival, p, lease, 1)).expect("rival claim");
            rival_took |= !got.is_empty();
        }
        if now >= call_ends {
            break;
        }
        let result = if store_down(now) {
            Err(QueueError::Storage("connection refused".into()))
        } else {
            now_or_never(q.renew(&job, now, lease))
        };
        let held_before = renewal.held_until();
        match renewal.renewed(now, result) {
            Renewal::Held { next } | Renewal::Retry { next } => {
                assert!(next > now, "renewal due at {next}, now {now}");
                if held_before - now >= ms(200) {
                    assert!(
                        next < renewal.held_until(),
                        "next renewal {next} after the lease runs out {}",
                        renewal.held_until()
                    );
                }
            }
            Renewal::Lost => {
                assert_eq!(renewal.next_renewal(), None);
                lost = true;
            }
        }
        assert!(wakeups < 100_000, "renewals never stop");
    }

    // The call is over: record it; the job ends with an outcome, or is someone else's.
    let end = call_ends.max(t0());
    let result = AttemptResult::decide(
        &job,
        AttemptOutcome::Completed,
        end,
        Some("call-1".into()),
        &PlanConfig::default(),
    );
    assert_eq!(result.next, RetryDecision::Reached);
    match now_or_never(q.finish_attempt(&job, result)) {
        Ok(()) => assert_eq!(q.state(&key), Some(JobState::Ended(JobEnd::Reached))),
        Err(QueueError::LeaseLost(_)) => assert!(
            lost || rival_took || renewal.held_until() <= end,
            "finish refused though the lease still held"
        ),
        Err(e) => panic!("finish: {e}"),
    }
    Run {
        rival_took_it_during_the_call: rival_took,
        lost,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn renewals_are_never_due_and_come_before_the_lease_runs_out(c in case(false)) {
        run(&c);
    }

    #[test]
    fn a_call_longer_than_its_lease_keeps_its_job_through_short_outages(c in case(true)) {
        // Outages may overlap; merged ones can be long. Keep cases where the store is up
        // at least half a lease between any two.
        let mut spans: Vec<(i64, i64)> = c.outages.iter().map(|&(s, l)| (s, s + l)).collect();
        spans.sort();
        let apart = spans.windows(2).all(|w| w[1].0 - w[0].1 >= c.lease_ms);
        prop_assume!(apart);
        let r = run(&c);
        prop_assert!(!r.rival_took_it_during_the_call, "the job was taken mid-call");
        prop_assert!(!r.lost);
    }
}

#[test]
fn a_store_that_stays_up_keeps_a_ten_lease_call_and_renews_at_a_third() {
    let c = Case {
        lease_ms: 6_000,
        call_ms: 60_000,
        outages: vec![],
        lateness_ms: vec![0],
        rival_polls: (0..60).map(|s| s * 1000).collect(),
    };
    let r = run(&c);
    assert!(!r.rival_took_it_during_the_call && !r.lost);
    let job = ClaimedJob {
        key: JobKey {
            patient: PatientId(1),
            date: t0().date_naive(),
            slot: CallSlot::new(9).expect("hour"),
        },
        slot_at: t0(),
        attempt: 1,
        interrupted: None,
        lease: crate::dialer::LeaseToken(1),
        lease_until: t0() + ms(6_000),
    };
    let mut renewal = LeaseRenewal::new(&job, ms(6_000), t0());
    assert_eq!(renewal.next_renewal(), Some(t0() + ms(2_000)));
    let at = t0() + ms(2_000);
    assert_eq!(
        renewal.renewed(at, Err(QueueError::Storage("down".into()))),
        Renewal::Retry {
            next: at + ms(2_000)
        }
    );
    assert_eq!(
        renewal.renewed(at, Err(QueueError::LeaseLost(job.key))),
        Renewal::Lost
    );
}
