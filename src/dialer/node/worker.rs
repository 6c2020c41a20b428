//! The node's call dispatcher: claim jobs under a lease (as many as there are free call
//! slots), and per job re-check the rules, dial, record. The lease is renewed while the
//! call is up; every store call names the lease, so a worker
//! that lost its lease (paused too long) changes nothing and never dials.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{Ctx, DialerStats, attempt_outcome};
use crate::dialer::{
    AttemptResult, ClaimDecision, ClaimedJob, JobEnd, JobQueue, PaceDenied, PatientSnapshot,
    PlanConfig, TrunkId, WorkerId, claim_decision,
};

use crate::dialer::{LeaseRenewal, LineLease, Renewal};
use crate::engine::PlacedCall;
use crate::sip::DialResult;
use crate::store::{AlertThresholds, Patient, StoreError};

/// Jobs claimed in one statement at most.
const CLAIM_BATCH: usize = 50;

/// Claims at most as many jobs as there are free call slots (`[dialer] workers`) and runs
/// each in its own task. Aborting this task (a kill) drops the set and every call task.
pub(super) async fn run(ctx: Arc<Ctx>, capacity: usize, mut stop: watch::Receiver<bool>) {
    let me = WorkerId(format!("{}/dialer", ctx.node));
    let mut calls: JoinSet<()> = JoinSet::new();
    loop {
        if *stop.borrow() {
            break;
        }
        while calls.try_join_next().is_some() {}
        let free = capacity.saturating_sub(calls.len()).min(CLAIM_BATCH);
        let mut full_batch = false;
        // On-demand calls first: someone is waiting at `call-now` for this one.
        let mut free = free;
        if free > 0 {
            for request in super::on_demand::claim(&ctx, free).await {
                free -= 1;
                calls.spawn(super::on_demand::place(ctx.clone(), request));
            }
        }
        if free > 0 {
            let now = ctx.clock.now();
            match ctx.store.claim(&me, now, ctx.settings.lease(), free).await {
                Ok(jobs) => {
                    full_batch = jobs.len() == free;
                    for job in jobs {
                        let ctx = ctx.clone();
                        calls.spawn(async move { work(&ctx, job).await });
                    }
                }
                Err(e) => tracing::warn!(worker = %me, error = %e, "claim failed"),
            }
        }
        if full_batch {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(ctx.poll()) => {}
            _ = stop.changed() => {}
            Some(_) = calls.join_next(), if !calls.is_empty() => {}
        }
    }
    // Shutdown: no new claims; calls in progress finish and are recorded.
    while calls.join_next().await.is_some() {}
}

/// Gives the job back until `until`; a lost lease is only logged (someone else has it).
async fn release(ctx: &Ctx, job: &ClaimedJob, until: DateTime<Utc>) {
    if let Err(e) = ctx.store.release(job, ctx.clock.now(), until).await {
        tracing::debug!(job = %job.key, error = %e, "release refused");
    }
}

async fn work(ctx: &Ctx, job: ClaimedJob) {
    let now = ctx.clock.now();
    let patient = match ctx.store.get_patient_by_id(job.key.patient).await {
        Ok(p) => Some(p),
        Err(StoreError::NotFound(_)) => None,
        Err(e) => {
            tracing::warn!(job = %job.key, error = %e, "cannot read the patient; job released");
            return release(ctx, &job, now + TimeDelta::seconds(30)).await;
        }
    };
    let (snapshot, cfg, thresholds) = match &patient {
        Some(p) => match context_of(ctx, p).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(job = %job.key, error = %e, "cannot read the centre; job released");
                return release(ctx, &job, now + TimeDelta::seconds(30)).await;
            }
        },
        None => (None, PlanConfig::default(), AlertThresholds::default()),
    };
    let end = match claim_decision(&job, snapshot.as_ref(), now, &cfg) {
        ClaimDecision::Dial { .. } => match patient {
            Some(p) => return dial(ctx, job, &p, &cfg, thresholds).await,
            None => return,
        },
        ClaimDecision::Wait { until } => return release(ctx, &job, until).await,
        ClaimDecision::Stop(r) => JobEnd::Stopped(r),
        ClaimDecision::GiveUp(r) => JobEnd::GaveUp(r),
    };
    tracing::info!(job = %job.key, end = end.as_str(), "job ended without a call");
    DialerStats::bump(&ctx.stats.jobs_ended_without_call, 1);
    if let Err(e) = ctx.store.end(&job, end, now).await {
        tracing::warn!(job = %job.key, error = %e, "could not end the job");
    }
}

async fn context_of(
    ctx: &Ctx,
    p: &Patient,
) -> Result<
    (Option<PatientSnapshot>, PlanConfig, AlertThresholds),
    Box<dyn std::error::Error + Send + Sync>,
> {
    let centre = ctx.store.get_centre_by_id(p.centre_id).await?;
    let cfg = PlanConfig::for_centre(&centre.settings, &ctx.settings, &ctx.config)?;
    let last = ctx.store.last_report(p.id).await?;
    let snapshot = PatientSnapshot::from_patient(p, last);
    Ok((Some(snapshot), cfg, centre.settings.alerts))
}

async fn dial(
    ctx: &Ctx,
    job: ClaimedJob,
    patient: &Patient,
    cfg: &PlanConfig,
    th: AlertThresholds,
) {
    let now = ctx.clock.now();
    let line = match super::trunk_share::take(ctx, now).await {
        Ok(line) => line,
        Err(retry_at) => return release(ctx, &job, retry_at).await,
    };
    // The Call-ID is recorded with the attempt before the INVITE carrying it leaves.
    let sip_call_id = ctx.engine.new_sip_call_id();
    if let Err(e) = ctx
        .store
        .begin_attempt(&job, line.number(), &sip_call_id, now)
        .await
    {
        tracing::warn!(job = %job.key, error = %e, "attempt not begun; not dialling");
        return;
    }
    DialerStats::bump(&ctx.stats.attempts_started, 1);
    let attempt_id = ctx.store.attempt_id_of(&job).await.ok();
    // Aborted when dropped, so a killed call task stops renewing its lease too.
    let renewer = AbortOnDrop(tokio::spawn(renew_while_up(
        ctx.store.clone(),
        ctx.clock,
        job.clone(),
        ctx.settings.lease(),
    )));
    let ring = std::time::Duration::from_secs(ctx.config.sip.ring_timeout_secs);
    let placed = ctx
        .engine
        .place_call(
            patient,
            line.number(),
            attempt_id,
            Some(sip_call_id),
            th,
            Some(ring),
        )
        .await;
    drop(renewer);
    drop(line);
    if let Ok(PlacedCall {
        result: DialResult::TrunkCongested { retry_after, .. },
        ..
    }) = &placed
    {
        return trunk_congested(ctx, &job, *retry_after).await;
    }
    let outcome = attempt_outcome(&placed);
    let call_id = placed.as_ref().ok().map(|p| p.sip_call_id.clone());
    if let Err(e) = &placed {
        tracing::warn!(job = %job.key, error = %e, "call failed");
    }
    let result = AttemptResult::decide(&job, outcome, ctx.clock.now(), call_id, cfg);
    tracing::info!(job = %job.key, attempt = job.attempt, outcome = %outcome, next = ?result.next, "attempt finished");
    DialerStats::bump(&ctx.stats.attempts_finished, 1);
    if let Err(e) = ctx.store.finish_attempt(&job, result).await {
        tracing::warn!(job = %job.key, error = %e, "attempt result not recorded");
    }
}

/// Back-off after a trunk refusal that named no Retry-After.
const TRUNK_BACKOFF: std::time::Duration = std::time::Duration::from_secs(10);

/// The trunk refused the call itself: every start pauses for its Retry-After, and the
/// job goes back to pending without spending the patient's attempt.
async fn trunk_congested(ctx: &Ctx, job: &ClaimedJob, retry_after: Option<std::time::Duration>) {
    let now = ctx.clock.now();
    let wait =
        TimeDelta::from_std(retry_after.unwrap_or(TRUNK_BACKOFF)).unwrap_or(TimeDelta::seconds(10));
    let until = now + wait;
    if let Ok(mut p) = ctx.pacer.lock() {
        p.pause_until(until);
    }
    tracing::warn!(job = %job.key, wait_secs = wait.num_seconds(), "trunk congested: dialling paused, attempt given back");
    DialerStats::bump(&ctx.stats.trunk_congested, 1);
    if let Err(e) = ctx.store.give_back_attempt(job, now, until).await {
        tracing::warn!(job = %job.key, error = %e, "attempt not given back");
    }
}

/// A caller line and a trunk channel (this node's count, and the shared lease once
/// taken) held for one call; all are given back when dropped.
pub(super) struct HeldLine<'a> {
    ctx: &'a Ctx,
    line: Option<LineLease>,
    shared: Option<crate::store::TrunkChannel>,
}

impl HeldLine<'_> {
    pub(super) fn number(&self) -> &str {
        self.line.as_ref().map_or("", LineLease::number)
    }

    pub(super) fn hold_shared(&mut self, ch: crate::store::TrunkChannel) {
        self.shared = Some(ch);
    }
}

impl Drop for HeldLine<'_> {
    fn drop(&mut self) {
        if let Some(ch) = self.shared.take() {
            super::trunk_share::release_later(&self.ctx.store, ch);
        }
        if let Ok(mut p) = self.ctx.pacer.lock() {
            p.finish(TRUNK);
        }
        if let (Some(line), Ok(mut l)) = (self.line.take(), self.ctx.lines.lock()) {
            l.release(line);
        }
    }
}

const TRUNK: TrunkId = TrunkId(0);

/// Takes a free caller line and a trunk channel (within the calls-per-second cap); when
/// none is free, says when to try again.
pub(super) fn take_line(ctx: &Ctx, now: DateTime<Utc>) -> Result<HeldLine<'_>, DateTime<Utc>> {
    let soon = now + TimeDelta::seconds(2);
    let line = ctx
        .lines
        .lock()
        .ok()
        .and_then(|mut l| l.acquire(&mut rand::rng()))
        .ok_or(soon)?;
    let paced = match ctx.pacer.lock() {
        Ok(mut p) => p.try_start(TRUNK, now),
        Err(_) => Err(PaceDenied::RateLimited { retry_at: soon }),
    };
    match paced {
        Ok(()) => Ok(HeldLine {
            ctx,
            line: Some(line),
            shared: None,
        }),
        Err(denied) => {
            if let Ok(mut l) = ctx.lines.lock() {
                l.release(line);
            }
            Err(match denied {
                PaceDenied::RateLimited { retry_at } | PaceDenied::Paused { until: retry_at } => {
                    retry_at
                }
                _ => soon,
            })
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Renews the job's lease while the call is up, when [`LeaseRenewal`] says, until aborted
/// or lost.
async fn renew_while_up(
    store: crate::store::Store,
    clock: super::Clock,
    job: ClaimedJob,
    lease: TimeDelta,
) {
    let mut renewal = LeaseRenewal::new(&job, lease, clock.now());
    while let Some(at) = renewal.next_renewal() {
        clock.sleep_until(at).await;
        let now = clock.now();
        let result = store.renew(&job, now, lease).await;
        match (renewal.renewed(now, result.clone()), result) {
            (Renewal::Lost, _) => {
                tracing::warn!(job = %job.key, "lease lost during the call");
            }
            (Renewal::Retry { .. }, Err(e)) => {
                tracing::warn!(job = %job.key, error = %e, "lease not renewed; retrying");
            }
            _ => tracing::debug!(job = %job.key, "lease renewed"),
        }
    }
}
