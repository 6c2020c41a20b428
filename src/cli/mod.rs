//! Subcommands. Each one loads the effective configuration the same way, so what
//! `config show` prints is what every other command uses.

mod demo;
mod dialer;
mod patients;
mod reports;
mod staff;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kenkocall::config::{Config, Overrides};
use kenkocall::store::Store;

#[derive(Debug, Parser)]
#[command(
    name = "kenkocall",
    version,
    about = "Telephony IVR engine for daily home-care health observation"
)]
pub struct Cli {
    /// Configuration file (default: ./kenkocall.toml if present, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Case store URL: sqlite://FILE or postgres://user@host/db.
    #[arg(
        long,
        global = true,
        env = "KENKOCALL_DATABASE_URL",
        value_name = "URL"
    )]
    pub database: Option<String>,
    /// SIP listen address (overrides sip.listen).
    #[arg(long, global = true, value_name = "ADDR")]
    pub sip_listen: Option<SocketAddr>,
    /// HTTP listen address for the staff pages (overrides http.listen).
    #[arg(long, global = true, value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// More log output (-v info, -vv debug); RUST_LOG wins when set.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine: SIP, media, IVR, the case store and the auto-call dialer (the
    /// health-call line answers; patients are called at their slots).
    Serve,
    /// Run everything on loopback with simulated phones and print the results: one
    /// auto-call slot (six scripted patients) and one health-call for two people. Needs no
    /// configuration; ends by itself in about a minute.
    Demo,
    /// Apply the case-store migrations (also done at every start).
    Migrate,
    /// Enrol and list patients.
    #[command(subcommand)]
    Patients(patients::PatientsCommand),
    /// Every outbound call attempt: line, times, outcome, SIP Call-ID.
    Calls(dialer::CallsArgs),
    /// A health centre's call slots.
    #[command(subcommand)]
    Slots(dialer::SlotsCommand),
    /// Call one patient now, outside the schedule (to test a number).
    CallNow(dialer::CallNowArgs),
    /// Health reports, newest last.
    Reports(reports::ReportsArgs),
    /// Staff accounts for the staff pages.
    #[command(subcommand)]
    Staff(staff::StaffCommand),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (file, flags and environment applied).
    Show,
}

pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let overrides = Overrides {
        database: cli.database.clone(),
        sip_listen: cli.sip_listen,
        http_listen: cli.http_listen,
    };
    Ok(Config::load(cli.config.as_deref(), &overrides)?)
}

/// Opens the case store and brings its schema up to date.
async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&cfg.database.url)
        .await
        .context("cannot open the case store")?;
    store
        .migrate()
        .await
        .context("cannot apply case-store migrations")?;
    Ok(store)
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let cfg = load_config(&cli)?;
    let mut out = std::io::stdout();
    match &cli.command {
        Command::Serve => serve(&cfg).await,
        Command::Demo => demo::run().await,
        Command::Migrate => {
            open_store(&cfg).await?;
            writeln!(out, "case store is up to date")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Patients(cmd) => patients::run(cmd, &open_store(&cfg).await?).await,
        Command::Calls(args) => dialer::calls(args, &open_store(&cfg).await?).await,
        Command::Slots(cmd) => dialer::slots(cmd, &open_store(&cfg).await?).await,
        Command::CallNow(args) => dialer::call_now(args, &cfg, open_store(&cfg).await?).await,
        Command::Reports(args) => reports::run(args, &open_store(&cfg).await?).await,
        Command::Staff(cmd) => staff::run(cmd, &open_store(&cfg).await?).await,
        Command::Config(ConfigCommand::Show) => {
            write!(out, "{}", cfg.to_display_toml())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let store_for_admin = store.clone();
    let engine = kenkocall::engine::Engine::start(cfg, store.clone())
        .await
        .context("cannot start the engine")?;
    let dialer = if cfg.dialer.enabled {
        let clock =
            kenkocall::dialer::node::Clock::scaled(chrono::Utc::now(), cfg.dialer.time_scale);
        let node = format!("node-{}", std::process::id());
        Some(
            kenkocall::dialer::node::DialerNode::start(&node, engine.clone(), store, cfg, clock)
                .context("cannot start the dialer")?,
        )
    } else {
        None
    };
    let admin_state = kenkocall::admin::AdminState::new(store_for_admin, engine.metrics().clone())
        .with_http_config(&cfg.http);
    let http = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .with_context(|| format!("cannot listen for the staff pages on {}", cfg.http.listen))?;
    let pages = tokio::spawn(async move {
        if let Err(e) = kenkocall::admin::serve_on(http, admin_state).await {
            tracing::error!(error = %e, "staff pages stopped");
        }
    });
    tracing::info!(sip = %engine.sip_addr(), http = %cfg.http.listen, "kenkocall serving; Ctrl-C stops");
    eprintln!(
        "kenkocall: SIP on {} (UDP and TCP), staff pages on http://{}; Ctrl-C stops",
        engine.sip_addr(),
        cfg.http.listen
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    if let Some(d) = dialer {
        d.shutdown().await;
    }
    pages.abort();
    engine.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
