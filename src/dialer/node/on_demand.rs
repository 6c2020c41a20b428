//! On-demand calls (`kenkocall call-now`): the worker takes them from the case store before
//! slot jobs and places each at once, on a caller line and a trunk channel like any call.
//! No stop rules or retries apply: staff asked for this one call.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};

use super::trunk_share;
use super::{Ctx, attempt_outcome};
use crate::store::{AlertThresholds, AttemptOutcome, CallRequest, CallRequestResult};

/// A request older than this when a node looks is cancelled, not dialled: whoever asked
/// has stopped waiting (`call-now` waits far less).
const MAX_AGE: TimeDelta = TimeDelta::seconds(60);
/// How long a request may wait on this node for a free line or channel.
const LINE_WAIT: Duration = Duration::from_secs(30);

/// Takes up to `free` requests for this node.
pub(super) async fn claim(ctx: &Ctx, free: usize) -> Vec<CallRequest> {
    // Leases of on-demand calls are renewed by the node's heartbeat (`serve`); the dialer's
    // job lease is the first one, as for slot jobs.
    match ctx
        .store
        .claim_call_requests(&ctx.node, Utc::now(), ctx.settings.lease(), MAX_AGE, free)
        .await
    {
        Ok(taken) => taken,
        Err(e) => {
            tracing::warn!(node = %ctx.node, error = %e, "on-demand claim failed");
            Vec::new()
        }
    }
}

/// Places one on-demand call and records how it went.
pub(super) async fn place(ctx: Arc<Ctx>, request: CallRequest) {
    let fail = |detail: String| CallRequestResult {
        outcome: AttemptOutcome::Failed,
        caller_line: None,
        sip_call_id: None,
        detail: Some(detail),
        ended_at: Utc::now(),
    };
    let result = match ctx.store.get_patient_by_id(request.patient_id).await {
        Err(e) => fail(format!("cannot read the patient: {e}")),
        Ok(patient) => {
            let thresholds = match ctx.store.get_centre_by_id(patient.centre_id).await {
                Ok(c) => c.settings.alerts,
                Err(_) => AlertThresholds::default(),
            };
            let waited_until = tokio::time::Instant::now() + LINE_WAIT;
            let line = loop {
                match trunk_share::take(&ctx, ctx.clock.now()).await {
                    Ok(line) => break Some(line),
                    Err(_) if tokio::time::Instant::now() < waited_until => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(_) => break None,
                }
            };
            match line {
                None => fail("no caller line or trunk channel free".into()),
                Some(line) => {
                    tracing::info!(
                        request = request.id.0,
                        line = line.number(),
                        "on-demand call"
                    );
                    let ring = Duration::from_secs(ctx.config.sip.ring_timeout_secs);
                    let placed = ctx
                        .engine
                        .place_call(&patient, line.number(), None, None, thresholds, Some(ring))
                        .await;
                    CallRequestResult {
                        outcome: attempt_outcome(&placed),
                        caller_line: Some(line.number().to_string()),
                        sip_call_id: placed.as_ref().ok().map(|p| p.sip_call_id.clone()),
                        detail: placed.as_ref().err().map(ToString::to_string),
                        ended_at: Utc::now(),
                    }
                }
            }
        }
    };
    match ctx
        .store
        .finish_call_request(request.id, &ctx.node, &result)
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::warn!(request = request.id.0, "on-demand call was taken back"),
        Err(e) => {
            tracing::warn!(request = request.id.0, error = %e, "on-demand result not recorded")
        }
    }
}
