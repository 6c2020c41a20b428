//! `kenkocall serve`, and how it stops. SIGTERM (systemd, `docker stop`), SIGINT (Ctrl-C)
//! and `kenkocall drain` (a flag on this node's row in the case store, seen at the next
//! heartbeat) all drain the node the same way:
//!
//! 1. new INVITEs and OPTIONS probes get 503 + Retry-After (a dispatcher takes the node
//!    out); the dialer claims nothing more (slot jobs and `call-now` requests);
//! 2. calls in progress go on for up to `[node] shutdown_grace_secs` (a second signal cuts
//!    this short);
//! 3. the calls left are ended with BYE; each call's task finishes writing what was keyed,
//!    and the dialer records every attempt;
//! 4. the node's row is removed, and the process exits 0.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use kenkocall::config::Config;
use kenkocall::store::Store;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Notify;

use super::node::{HEARTBEAT, NODE_LEASE, host_name};

/// After the BYEs, how long calls may take to write their last answers and attempts.
const FLUSH_LIMIT: Duration = Duration::from_secs(15);

/// What made the node drain.
#[derive(Debug, Clone, Copy)]
enum StopCause {
    Sigterm,
    Sigint,
    DrainRequested,
}

impl StopCause {
    fn as_str(self) -> &'static str {
        match self {
            StopCause::Sigterm => "SIGTERM",
            StopCause::Sigint => "SIGINT",
            StopCause::DrainRequested => "kenkocall drain",
        }
    }
}

pub async fn run(cfg: &Config) -> anyhow::Result<std::process::ExitCode> {
    // Installed first: a SIGTERM during start-up (loading prompts) must not kill us mid-way.
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let store = super::open_store(cfg).await?;
    let engine = kenkocall::engine::Engine::start(cfg, store.clone())
        .await
        .context("cannot start the engine")?;
    let me = ThisNode {
        name: format!("{}-{}", host_name(), std::process::id()),
        host: host_name(),
        sip_listen: cfg.sip.listen.to_string(),
        dialer: cfg.dialer.enabled,
    };
    me.announce(&store)
        .await
        .context("cannot announce this node in the case store")?;
    let node = me.name.clone();
    let dialer = if cfg.dialer.enabled {
        let clock =
            kenkocall::dialer::node::Clock::scaled(chrono::Utc::now(), cfg.dialer.time_scale);
        Some(
            kenkocall::dialer::node::DialerNode::start(
                &node,
                engine.clone(),
                store.clone(),
                cfg,
                clock,
            )
            .context("cannot start the dialer")?,
        )
    } else {
        None
    };
    let admin_state = kenkocall::admin::AdminState::new(store.clone(), engine.metrics().clone())
        .with_http_config(&cfg.http);
    let http = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("cannot listen for the staff pages on {}", cfg.http.listen))?;
    let pages = tokio::spawn(async move {
        if let Err(e) = kenkocall::admin::serve_on(http, admin_state).await {
            tracing::error!(error = %e, "staff pages stopped");
        }
    });
    let draining = Arc::new(AtomicBool::new(false));
    let drain_asked = Arc::new(Notify::new());
    let heartbeat = tokio::spawn(heartbeat(
        store.clone(),
        me,
        draining.clone(),
        drain_asked.clone(),
    ));
    tracing::info!(sip = %engine.sip_addr(), http = %cfg.http.listen, node, "kenkocall serving");
    eprintln!(
        "kenkocall: SIP on {} (UDP and TCP), staff pages on http://{}; node {node}; \
         Ctrl-C, SIGTERM or `kenkocall drain` stops",
        engine.sip_addr(),
        cfg.http.listen
    );

    let cause = tokio::select! {
        _ = sigterm.recv() => StopCause::Sigterm,
        _ = sigint.recv() => StopCause::Sigint,
        () = drain_asked.notified() => StopCause::DrainRequested,
    };
    draining.store(true, Ordering::Relaxed);
    let grace = Duration::from_secs(cfg.node.shutdown_grace_secs);
    if let Err(e) = engine.drain().await {
        tracing::warn!(error = %e, "cannot stop SIP taking new calls");
    }
    if let Some(d) = &dialer {
        d.stop_claiming();
    }
    let calls = engine.calls_in_progress();
    tracing::info!(
        cause = cause.as_str(),
        calls,
        grace_secs = grace.as_secs(),
        "draining"
    );
    eprintln!(
        "kenkocall: draining ({}): new calls refused; {calls} call(s) in progress may go on \
         for up to {} s (signal again to end them now)",
        cause.as_str(),
        grace.as_secs()
    );
    let finished = tokio::select! {
        done = engine.wait_calls_finished(grace) => done,
        _ = sigterm.recv() => false,
        _ = sigint.recv() => false,
    };
    if !finished {
        let left = engine.calls_in_progress();
        tracing::warn!(
            calls = left,
            "grace period over: ending the calls left with BYE"
        );
        eprintln!("kenkocall: ending {left} call(s) with BYE");
    }
    engine.shutdown().await;
    if !engine.wait_calls_finished(FLUSH_LIMIT).await {
        tracing::error!(
            calls = engine.calls_in_progress(),
            "calls still writing after the BYEs; stopping anyway"
        );
    }
    if let Some(d) = dialer
        && tokio::time::timeout(FLUSH_LIMIT, d.shutdown())
            .await
            .is_err()
    {
        tracing::error!("dialer did not record its last attempts in time");
    }
    // Answers the store has not taken yet stay in this node's spool for its next start.
    let unstored = engine
        .close_reports(tokio::time::Instant::now() + FLUSH_LIMIT)
        .await;
    if unstored > 0 {
        tracing::warn!(
            writes = unstored,
            "answers the store has not taken stay in the spool for the next start"
        );
    }
    heartbeat.abort();
    if let Err(e) = store.node_stopped(&node).await {
        tracing::warn!(error = %e, "cannot remove this node's row (it expires by itself)");
    }
    pages.abort();
    store.close().await;
    eprintln!("kenkocall: stopped");
    Ok(std::process::ExitCode::SUCCESS)
}

/// This process as the case store's `nodes` table knows it.
struct ThisNode {
    name: String,
    host: String,
    sip_listen: String,
    dialer: bool,
}

impl ThisNode {
    async fn announce(&self, store: &Store) -> Result<(), kenkocall::store::StoreError> {
        store
            .node_started(
                &self.name,
                &self.host,
                &self.sip_listen,
                self.dialer,
                Utc::now(),
                NODE_LEASE,
            )
            .await
    }
}

/// Keeps this node's row (and its on-demand calls' leases) alive; wakes the main task
/// when `kenkocall drain` asked this node to drain.
async fn heartbeat(store: Store, me: ThisNode, draining: Arc<AtomicBool>, asked: Arc<Notify>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let state = draining.load(Ordering::Relaxed);
        match store
            .node_heartbeat(&me.name, state, Utc::now(), NODE_LEASE)
            .await
        {
            Ok(true) if !state => asked.notify_one(),
            Ok(_) => {}
            // Deleted by hand: announce again so call-now and drain still find us.
            Err(kenkocall::store::StoreError::NotFound(_)) => {
                if let Err(e) = me.announce(&store).await {
                    tracing::warn!(error = %e, "cannot announce this node again");
                }
            }
            Err(e) => tracing::warn!(error = %e, "node heartbeat failed"),
        }
    }
}
