//! A discrete-event simulation of one slot on a virtual clock: the real planner, claim
//! check, retry rules, pacer and caller-line pool, against simulated phones on a trunk
//! of limited channels. Used by the tests (small slots, invariants) and by the
//! `dialer-sim` bench binary (a 100,000-patient slot).
//!
//! The job queue is modelled by an event heap here rather than [`super::InMemoryJobQueue`]
//! (whose claim scans every job); the queue's semantics have their own tests.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::DialerError;
use super::lines::{CallerLinePool, LineLease};
use super::pacing::{PaceDenied, Pacer, TrunkId};
use super::plan::{
    ContactMethod, PatientId, PatientSnapshot, PlanConfig, PlanWarning, PlannedJob, plan_slot,
};
use super::queue::{ClaimedJob, LeaseToken};
use super::retry::{GiveUpReason, RetryDecision, after_attempt};
pub use super::sim_phones::PhoneBehaviour;
use super::sim_phones::ring;
use super::slots::{CallSlot, SlotSchedule};
use super::stop::{ClaimDecision, claim_decision};
use crate::config::CallerLine;
use crate::store::AttemptOutcome;
use crate::store::CallSlots;

/// One simulation run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub patients: usize,
    pub plan: PlanConfig,
    pub lines: Vec<CallerLine>,
    pub phones: PhoneBehaviour,
    pub seed: u64,
    /// The slot simulated (local date and hour in `plan.tz`).
    pub date: NaiveDate,
    pub slot: CallSlot,
}

/// What a run measured, and the invariants it checked on every call.
#[derive(Debug, Clone, PartialEq)]
pub struct SimReport {
    pub patients: usize,
    pub jobs: usize,
    pub warnings: Vec<PlanWarning>,
    pub attempts: usize,
    /// `attempts_per_job[n]`: jobs that used n attempts.
    pub attempts_per_job: Vec<usize>,
    pub reached: usize,
    /// Reached with the call over before the slot window closed.
    pub reached_in_window: usize,
    pub wrong_number: usize,
    pub gave_up_exhausted: usize,
    pub gave_up_past_window: usize,
    pub gave_up_outside_hours: usize,
    /// Slot instant to the end of the last call.
    pub makespan: TimeDelta,
    /// Slot instant to the start of the last first attempt.
    pub last_first_attempt: TimeDelta,
    pub max_in_flight: usize,
    /// Mean channel time of an attempt: compare with `PacingConfig::typical_call`.
    pub mean_hold: TimeDelta,
    /// Calls per caller line, in configuration order.
    pub line_use: Vec<(String, usize)>,
    /// Invariant breaches (all must be zero): retries starting at or past the window,
    /// calls starting outside the allowed hours, calls on an unconfigured line.
    pub retries_past_window: usize,
    pub calls_outside_allowed_hours: usize,
    pub calls_on_unknown_lines: usize,
    pub events: usize,
}

impl SimReport {
    pub fn share(&self, n: usize) -> f64 {
        if self.jobs == 0 {
            0.0
        } else {
            n as f64 / self.jobs as f64
        }
    }

    pub fn mean_attempts(&self) -> f64 {
        self.share(self.attempts)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The job may be dialled from now (first attempt or a retry).
    Due(usize),
    /// A call ends with this outcome.
    CallEnd(usize, OutcomeCode),
    /// The start-rate bucket has a token again.
    Wake,
}

/// `AttemptOutcome` packed for the heap's ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct OutcomeCode(u8);

const OUTCOMES: [AttemptOutcome; 6] = [
    AttemptOutcome::Completed,
    AttemptOutcome::NoInput,
    AttemptOutcome::NoAnswer,
    AttemptOutcome::Busy,
    AttemptOutcome::Failed,
    AttemptOutcome::WrongNumber,
];

struct Job {
    planned: PlannedJob,
    away: bool,
    attempts: u32,
    line: Option<LineLease>,
}

/// Runs one slot to completion. Run time is bounded by the number of attempts
/// (at most patients × max_attempts calls).
pub fn simulate(cfg: &SimConfig) -> Result<SimReport, DialerError> {
    if cfg.plan.retry.max_attempts == 0 {
        return Err(DialerError::InvalidPolicy(
            "max_attempts must be at least 1".into(),
        ));
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut lines = CallerLinePool::from_config(&cfg.lines)?;
    let mut pacer = Pacer::new(&cfg.plan.pacing);
    let trunk = TrunkId(0);
    let tz = cfg.plan.tz;
    let one_slot = CallSlots::from_hours(&[cfg.slot.as_u8()])
        .map_err(|_| DialerError::InvalidHour(cfg.slot.hour()))?;
    let slot = SlotSchedule::new(tz, one_slot).instant(cfg.date, cfg.slot);

    let template = PatientSnapshot {
        id: PatientId(0),
        slots: one_slot,
        observation_start: cfg.date,
        observation_end: cfg.date,
        stopped: false,
        wrong_number: false,
        contact: ContactMethod::AutoCall,
        last_report: None,
    };
    let patients: Vec<PatientSnapshot> = (0..cfg.patients)
        .map(|i| PatientSnapshot {
            id: PatientId(i as i64 + 1),
            ..template.clone()
        })
        .collect();
    let plan = plan_slot(&slot, &patients, &cfg.plan);
    let mut jobs: Vec<Job> = plan
        .jobs
        .iter()
        .map(|p| Job {
            planned: *p,
            away: rng.random_bool(cfg.phones.away_share.clamp(0.0, 1.0)),
            attempts: 0,
            line: None,
        })
        .collect();

    let mut report = SimReport {
        patients: cfg.patients,
        jobs: jobs.len(),
        warnings: plan.warnings.clone(),
        attempts: 0,
        attempts_per_job: vec![0; cfg.plan.retry.max_attempts as usize + 1],
        reached: 0,
        reached_in_window: 0,
        wrong_number: 0,
        gave_up_exhausted: 0,
        gave_up_past_window: 0,
        gave_up_outside_hours: 0,
        makespan: TimeDelta::zero(),
        last_first_attempt: TimeDelta::zero(),
        max_in_flight: 0,
        mean_hold: TimeDelta::zero(),
        line_use: cfg
            .lines
            .iter()
            .map(|l| (l.number.trim().to_string(), 0))
            .collect(),
        retries_past_window: 0,
        calls_outside_allowed_hours: 0,
        calls_on_unknown_lines: 0,
        events: 0,
    };

    // Min-heap on (time, sequence) so equal times keep insertion order.
    let mut heap: BinaryHeap<Reverse<(DateTime<Utc>, u64, Event)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<_>, at, ev| {
        seq += 1;
        heap.push(Reverse((at, seq, ev)));
    };
    for (i, j) in jobs.iter().enumerate() {
        push(&mut heap, j.planned.slot_at, Event::Due(i));
    }
    let mut ready: VecDeque<usize> = VecDeque::new();
    let mut wake_pending = false;
    let window_end = slot.at + cfg.plan.window();
    let mut hold_total = TimeDelta::zero();

    let finish = |report: &mut SimReport, job: &Job, end: Option<GiveUpReason>| {
        report.attempts_per_job[job.attempts as usize] += 1;
        match end {
            Some(GiveUpReason::AttemptsExhausted) => report.gave_up_exhausted += 1,
            Some(GiveUpReason::PastWindow) => report.gave_up_past_window += 1,
            Some(GiveUpReason::OutsideAllowedHours) => report.gave_up_outside_hours += 1,
            // Simulated phones never produce a stop at claim.
            Some(GiveUpReason::NotDialled) | None => {}
        }
    };

    while let Some(Reverse((now, _, ev))) = heap.pop() {
        report.events += 1;
        match ev {
            Event::Due(i) => ready.push_back(i),
            Event::Wake => wake_pending = false,
            Event::CallEnd(i, code) => {
                pacer.finish(trunk);
                let job = &mut jobs[i];
                if let Some(l) = job.line.take() {
                    lines.release(l);
                }
                report.makespan = report.makespan.max(now - slot.at);
                let outcome = OUTCOMES[code.0 as usize];
                match after_attempt(&cfg.plan, slot.at, job.attempts, outcome, now) {
                    RetryDecision::Reached => {
                        report.reached += 1;
                        if now <= window_end {
                            report.reached_in_window += 1;
                        }
                        finish(&mut report, job, None);
                    }
                    RetryDecision::WrongNumber => {
                        report.wrong_number += 1;
                        finish(&mut report, job, None);
                    }
                    RetryDecision::GiveUp(r) => finish(&mut report, job, Some(r)),
                    RetryDecision::RetryAt { at, .. } => push(&mut heap, at, Event::Due(i)),
                }
            }
        }
        // Start calls while capacity allows.
        while let Some(&i) = ready.front() {
            let job = &jobs[i];
            let claimed = ClaimedJob {
                key: job.planned.key,
                slot_at: job.planned.slot_at,
                attempt: job.attempts + 1,
                interrupted: None,
                lease: LeaseToken(i as u64),
                lease_until: now,
            };
            let patient = &patients[(job.planned.key.patient.0 - 1) as usize];
            match claim_decision(&claimed, Some(patient), now, &cfg.plan) {
                ClaimDecision::Dial { .. } => {}
                ClaimDecision::GiveUp(r) => {
                    ready.pop_front();
                    finish(&mut report, job, Some(r));
                    continue;
                }
                ClaimDecision::Stop(_) => {
                    ready.pop_front();
                    finish(&mut report, job, None);
                    continue;
                }
                ClaimDecision::Wait { until } => {
                    ready.pop_front();
                    push(&mut heap, until, Event::Due(i));
                    continue;
                }
            }
            match pacer.try_start(trunk, now) {
                Ok(()) => {}
                Err(PaceDenied::RateLimited { retry_at }) => {
                    if !wake_pending {
                        wake_pending = true;
                        push(&mut heap, retry_at, Event::Wake);
                    }
                    break;
                }
                Err(_) => break, // a call ending frees a channel and resumes this loop
            }
            let Some(line) = lines.acquire(&mut rng) else {
                pacer.finish(trunk);
                break;
            };
            ready.pop_front();
            let job = &mut jobs[i];
            job.attempts += 1;
            report.attempts += 1;
            report.max_in_flight = report.max_in_flight.max(pacer.in_flight());
            if job.attempts == 1 {
                report.last_first_attempt = report.last_first_attempt.max(now - slot.at);
            } else if now >= window_end {
                report.retries_past_window += 1;
            }
            if !cfg.plan.calling_allowed(now) {
                report.calls_outside_allowed_hours += 1;
            }
            match report.line_use.iter_mut().find(|(n, _)| n == line.number()) {
                Some((_, c)) => *c += 1,
                None => report.calls_on_unknown_lines += 1,
            }
            job.line = Some(line);
            let (outcome, hold) = ring(&mut rng, &cfg.phones, job.away);
            hold_total += hold;
            let code = OUTCOMES.iter().position(|o| *o == outcome).unwrap_or(4) as u8;
            push(&mut heap, now + hold, Event::CallEnd(i, OutcomeCode(code)));
        }
    }
    if report.attempts > 0 {
        report.mean_hold =
            TimeDelta::milliseconds(hold_total.num_milliseconds() / report.attempts as i64);
    }
    Ok(report)
}

#[cfg(test)]
#[path = "sim_tests.rs"]
mod tests;
