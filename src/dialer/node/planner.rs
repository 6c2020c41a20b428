//! The planner task: every poll, the slots that fired since the last look, for every
//! centre, become jobs ([`JobQueue::enqueue`] is idempotent, so a restart or a second node
//! re-planning the same slot creates nothing twice).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use super::{Ctx, DialerStats};
use crate::dialer::{JobQueue, PatientSnapshot, PlanConfig, PlanWarning, SlotSchedule, plan_slot};
use crate::store::{CallSlots, HealthCentre};

/// Every hour of the day: which hours matter is the patients' choice (`patients_due`).
const ALL_HOURS: i64 = (1 << 24) - 1;

pub(super) async fn run(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    // Look back over the slots a restart may have missed; old jobs give up at claim.
    let mut after = ctx.clock.now() - ctx.settings.first_attempt_limit();
    loop {
        let now = ctx.clock.now();
        match plan_range(&ctx, after, now).await {
            Ok(()) => after = now,
            Err(e) => tracing::warn!(error = %e, "planning failed; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(ctx.poll()) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn plan_range(
    ctx: &Ctx,
    after: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    for centre in ctx.store.list_centres().await? {
        let cfg = match PlanConfig::for_centre(&centre.settings, &ctx.settings, &ctx.config) {
            Ok(cfg) => cfg,
            Err(e) => {
                tracing::warn!(centre = %centre.name, error = %e, "centre settings unusable; not planned");
                continue;
            }
        };
        let hours = CallSlots::from_mask(ALL_HOURS)?;
        let schedule = SlotSchedule::new(cfg.tz, hours);
        for slot in schedule.next_slots(after, now)? {
            plan_one(ctx, &centre, &cfg, &slot).await?;
        }
    }
    Ok(())
}

async fn plan_one(
    ctx: &Ctx,
    centre: &HealthCentre,
    cfg: &PlanConfig,
    slot: &crate::dialer::SlotInstant,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // How late this slot is being planned (a slow or restarted node shows here).
    let lag = (ctx.clock.now() - slot.at).to_std().unwrap_or_default();
    ctx.engine.metrics().set_planner_lag(lag);
    let due = ctx
        .store
        .patients_due(centre.id, slot.date, slot.slot.as_u8())
        .await?;
    if due.is_empty() {
        return Ok(());
    }
    let ids: Vec<_> = due.iter().map(|p| p.id).collect();
    let mut last = ctx.store.last_reports(&ids).await?;
    let snapshots: Vec<_> = due
        .iter()
        .map(|p| PatientSnapshot::from_patient(p, last.remove(&p.id)))
        .collect();
    let plan = plan_slot(slot, &snapshots, cfg);
    let new = ctx.store.enqueue(&plan.jobs).await?;
    DialerStats::bump(&ctx.stats.jobs_planned, new as u64);
    for w in &plan.warnings {
        if matches!(w, PlanWarning::WindowTooShort(_)) {
            DialerStats::bump(&ctx.stats.window_warnings, 1);
        }
        tracing::warn!(centre = %centre.name, node = %ctx.node, "{w}");
    }
    tracing::info!(
        centre = %centre.name,
        slot = %slot.slot,
        date = %slot.date,
        jobs = plan.jobs.len(),
        new,
        skipped = plan.skipped.len(),
        "slot planned"
    );
    Ok(())
}
