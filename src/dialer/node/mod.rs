//! The dialer's async shell on one engine node: a planner task that, at every slot of
//! every centre, enqueues the jobs of the patients due ([`super::plan_slot`]), and worker
//! tasks that claim jobs from the case store under a lease, re-check the stop rules
//! ([`super::claim_decision`]), take a caller line and a channel ([`super::CallerLinePool`],
//! [`super::Pacer`]), place the call through the [`Engine`] and record the attempt. All
//! decisions are the sans-IO core's; this layer only carries them out.
//!
//! The worker also takes on-demand calls (`kenkocall call-now`, `on_demand.rs`) before slot
//! jobs. [`DialerNode::stop_claiming`] is the first step of a drain.
//!
//! Several nodes may run on one PostgreSQL: the job queue's leases keep them from dialling
//! the same job, and a node that dies leaves its jobs to be taken back when leases expire.
//! They also share the trunk's channels and start rate (`trunk_share.rs`): each call holds
//! a leased channel row, so N channels and R starts per second hold across all nodes.

mod clock;
mod on_demand;
mod outcome;
mod planner;
mod trunk_share;
mod worker;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use clock::Clock;
pub use outcome::attempt_outcome;

use super::{CallerLinePool, DialerError, DialerSettings, Pacer, PacingConfig};
use crate::config::Config;
use crate::engine::Engine;
use crate::store::Store;

/// Counters a metrics endpoint can expose.
#[derive(Debug, Default)]
pub struct DialerStats {
    pub jobs_planned: AtomicU64,
    /// Slots whose window cannot be met at this capacity (also logged at planning).
    pub window_warnings: AtomicU64,
    pub attempts_started: AtomicU64,
    pub attempts_finished: AtomicU64,
    pub jobs_ended_without_call: AtomicU64,
    /// Calls the trunk refused itself (congestion): attempts given back, dialling paused.
    pub trunk_congested: AtomicU64,
}

impl DialerStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// What the tasks share.
struct Ctx {
    node: String,
    engine: Engine,
    store: Store,
    config: Config,
    settings: DialerSettings,
    clock: Clock,
    lines: Mutex<CallerLinePool>,
    pacer: Mutex<Pacer>,
    stats: Arc<DialerStats>,
}

impl Ctx {
    fn poll(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.settings.poll_ms)
    }
}

/// A running dialer. Stop it with [`DialerNode::shutdown`] (let calls finish) or
/// [`DialerNode::kill`] (drop everything at once, as a crash would).
pub struct DialerNode {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Renews the shared trunk channels' leases; runs until the calls are over.
    trunk_leases: JoinHandle<()>,
    stats: Arc<DialerStats>,
    clock: Clock,
}

impl DialerNode {
    /// Starts the planner and the call dispatcher (at most `[dialer] workers` calls at
    /// once, and never more than the pacer's caps), leasing jobs as `node/dialer`.
    pub fn start(
        node: &str,
        engine: Engine,
        store: Store,
        config: &Config,
        clock: Clock,
    ) -> Result<DialerNode, DialerError> {
        let settings = config.dialer.clone();
        settings.validate()?;
        if config.trunk.channel_lease_secs == 0 {
            return Err(DialerError::InvalidPolicy(
                "trunk.channel_lease_secs must be at least 1".into(),
            ));
        }

        let lines = CallerLinePool::from_config(&config.caller_lines)?;
        let pacing: PacingConfig = settings.pacing(config);
        let workers = settings.workers.min(pacing.channels().max(1));
        let stats = Arc::new(DialerStats::default());
        let ctx = Arc::new(Ctx {
            node: node.to_string(),
            engine,
            store,
            config: config.clone(),
            settings,
            clock,
            lines: Mutex::new(lines),
            pacer: Mutex::new(Pacer::new(&pacing)),
            stats: stats.clone(),
        });
        let (stop, stopped) = watch::channel(false);
        let trunk_leases = tokio::spawn(trunk_share::keep_leases(ctx.clone()));
        let tasks = vec![
            tokio::spawn(planner::run(ctx.clone(), stopped.clone())),
            tokio::spawn(worker::run(ctx, workers, stopped)),
        ];
        tracing::info!(node, workers, "dialer started");
        Ok(DialerNode {
            stop,
            tasks,
            trunk_leases,
            stats,
            clock,
        })
    }

    pub fn stats(&self) -> &Arc<DialerStats> {
        &self.stats
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Stops planning and claiming (slot jobs and on-demand calls) at once; calls in
    /// progress go on. [`DialerNode::shutdown`] then waits for them.
    pub fn stop_claiming(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops planning and claiming; calls in progress finish and are recorded.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        self.trunk_leases.abort();
    }

    /// Drops every task at once, mid-call included (what a crash leaves behind: leased
    /// jobs and begun attempts that other nodes take back when the leases expire).
    pub fn kill(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.trunk_leases.abort();
    }
}
