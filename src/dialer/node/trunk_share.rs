//! The trunk's limits shared with the other nodes on this case store: before a call the
//! node takes its own caps (caller line, [`crate::dialer::Pacer`]) and then a leased channel
//! of the trunk and a start of its rate from the store ([`Store::claim_trunk_channel`]);
//! a task renews the leases of the channels held while calls are up.
//!
//! Store leases run on the real clock ([`Utc::now`]), whatever the dialer's (compressible)
//! clock says: they count real channels and real starts on a real trunk.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::Ctx;
use super::worker::{HeldLine, take_line};
use crate::store::{Store, StoreError, TrunkChannel, TrunkClaim};

/// How long a call waits before asking again when every channel of the trunk is held.
const FULL_RETRY: TimeDelta = TimeDelta::seconds(1);

/// The trunk as the store names it: its URI, the same on every node that dials it.
pub(super) fn trunk_key(ctx: &Ctx) -> &str {
    &ctx.config.trunk.uri
}

pub(super) fn lease(ctx: &Ctx) -> TimeDelta {
    TimeDelta::seconds(i64::try_from(ctx.config.trunk.channel_lease_secs).unwrap_or(i64::MAX))
}

/// A caller line, this node's channel and start token, and a channel of the trunk shared
/// by all nodes; or the (dialer-clock) instant to try again.
pub(super) async fn take(ctx: &Ctx, now: DateTime<Utc>) -> Result<HeldLine<'_>, DateTime<Utc>> {
    let mut line = take_line(ctx, now)?;
    let real_now = Utc::now();
    let mut claim = claim(ctx, real_now).await;
    if matches!(claim, Err(StoreError::NotFound(_))) {
        // The first call before `keep_leases` made the rows.
        claim = match prepare(ctx).await {
            Ok(()) => self::claim(ctx, real_now).await,
            Err(e) => Err(e),
        };
    }
    // A wait on the real clock, as a later instant on the dialer's clock (at least as late).
    let wait = match claim {
        Ok(TrunkClaim::Held(ch)) => {
            line.hold_shared(ch);
            return Ok(line);
        }
        Ok(TrunkClaim::Full) => FULL_RETRY,
        Ok(TrunkClaim::TooSoon { retry_at }) => {
            (retry_at - real_now).max(TimeDelta::milliseconds(1))
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot claim a trunk channel in the case store");
            FULL_RETRY
        }
    };
    Err(now + wait)
}

async fn claim(ctx: &Ctx, now: DateTime<Utc>) -> Result<TrunkClaim, StoreError> {
    ctx.store
        .claim_trunk_channel(
            trunk_key(ctx),
            ctx.config.trunk.channels,
            ctx.settings.calls_per_second,
            &ctx.node,
            now,
            lease(ctx),
        )
        .await
}

/// Makes sure the trunk's channel rows exist (more of them if `trunk.channels` grew).
async fn prepare(ctx: &Ctx) -> Result<(), StoreError> {
    ctx.store
        .prepare_trunk(trunk_key(ctx), ctx.config.trunk.channels)
        .await
}

/// Gives a shared channel back without blocking the dropping call; if that fails the
/// lease runs out by itself.
pub(super) fn release_later(store: &Store, ch: TrunkChannel) {
    let store = store.clone();
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            if let Err(e) = store.release_trunk_channel(&ch).await {
                tracing::debug!(error = %e, "trunk channel not released; its lease will pass");
            }
        });
    }
}

/// Renews the leases of this node's channels at a third of their length, until aborted.
pub(super) async fn keep_leases(ctx: Arc<Ctx>) {
    let lease = lease(&ctx);
    let every = (lease / 3)
        .to_std()
        .unwrap_or(std::time::Duration::from_secs(1))
        .max(std::time::Duration::from_millis(100));
    if let Err(e) = prepare(&ctx).await {
        tracing::warn!(error = %e, "cannot prepare the trunk's shared channels");
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = ctx
            .store
            .renew_trunk_channels(&ctx.node, Utc::now(), lease)
            .await
        {
            tracing::warn!(error = %e, "trunk channel leases not renewed");
        }
    }
}
