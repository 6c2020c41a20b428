//! Running nodes, seen from the CLI: `kenkocall nodes` lists them, `kenkocall drain` asks
//! one to drain. Both go through the case store (the `nodes` table), so they work from
//! any shell that has the node's config file, in a container (`docker exec`) or beside it,
//! and need no open port, pid file or signal rights.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use clap::Args;
use kenkocall::config::Config;
use kenkocall::store::{NodeInfo, Store};

/// How often a node renews its row, and sees a drain request.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node whose row was not renewed for this long is taken as dead.
pub const NODE_LEASE: TimeDelta = TimeDelta::seconds(10);

/// This machine's name (the container's in Docker), as nodes record it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The node to drain (a name from `kenkocall nodes`). Default: the node running on
    /// this host (with this config's sip.listen when there are several).
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,
    /// Return once the node was asked, without waiting for it to exit.
    #[arg(long)]
    pub no_wait: bool,
}

#[derive(Debug, Args)]
pub struct NodesArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn state(n: &NodeInfo, now: chrono::DateTime<Utc>) -> &'static str {
    if !n.is_live(now) {
        "gone"
    } else if n.draining_since.is_some() {
        "draining"
    } else if n.drain_requested_at.is_some() {
        "drain asked"
    } else {
        "serving"
    }
}

pub async fn nodes(args: &NodesArgs, store: &Store) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    let mut out = std::io::stdout().lock();
    for n in store.list_nodes().await? {
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&n)?)?;
        } else {
            writeln!(
                out,
                "{:<30} {:<12} {:<22} dialer={} started {}",
                n.name,
                state(&n, now),
                n.sip_listen,
                if n.dialer { "on" } else { "off" },
                n.started_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Which live node `drain` means.
fn pick(nodes: &[NodeInfo], args: &DrainArgs, cfg: &Config) -> anyhow::Result<String> {
    let now = Utc::now();
    let live: Vec<&NodeInfo> = nodes.iter().filter(|n| n.is_live(now)).collect();
    if let Some(name) = &args.node {
        return live
            .iter()
            .find(|n| &n.name == name)
            .map(|n| n.name.clone())
            .with_context(|| format!("no running node named {name:?} (see `kenkocall nodes`)"));
    }
    let host = host_name();
    let here: Vec<&&NodeInfo> = live.iter().filter(|n| n.host == host).collect();
    let listen = cfg.sip.listen.to_string();
    match here.as_slice() {
        [] => bail!(
            "no running kenkocall node on this host ({host}) uses this case store; \
             `kenkocall nodes` lists the others (drain one with --node NAME)"
        ),
        [one] => Ok(one.name.clone()),
        several => several
            .iter()
            .find(|n| n.sip_listen == listen)
            .map(|n| n.name.clone())
            .with_context(|| {
                format!(
                    "{} nodes run on this host and none listens on {listen}; \
                     choose one with --node NAME (see `kenkocall nodes`)",
                    several.len()
                )
            }),
    }
}

pub async fn drain(args: &DrainArgs, cfg: &Config, store: &Store) -> anyhow::Result<ExitCode> {
    let name = pick(&store.list_nodes().await?, args, cfg)?;
    if !store.request_drain(&name, Utc::now()).await? {
        bail!("node {name} stopped before it could be asked to drain");
    }
    println!(
        "node {name}: asked to drain (new calls refused; calls in progress have up to {} s)",
        cfg.node.shutdown_grace_secs
    );
    if args.no_wait {
        return Ok(ExitCode::SUCCESS);
    }
    // The node's own grace, then the BYEs and last writes, then a margin for a slow store.
    let limit = Duration::from_secs(cfg.node.shutdown_grace_secs + 60);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = Utc::now();
        let nodes = store.list_nodes().await?;
        match nodes.iter().find(|n| n.name == name) {
            None => {
                println!("node {name}: stopped");
                return Ok(ExitCode::SUCCESS);
            }
            Some(n) if !n.is_live(now) => {
                bail!("node {name} stopped renewing its row without a clean exit");
            }
            Some(_) if tokio::time::Instant::now() > deadline => {
                bail!("node {name} is still running {} s later", limit.as_secs());
            }
            Some(_) => {}
        }
    }
}
