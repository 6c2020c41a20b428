//! Subcommands. Each one loads the effective configuration the same way, so what
//! `config show` prints is what every other command uses.

mod demo;
mod dialer;
mod node;
mod patients;
mod reports;
mod serve;
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
    /// health-call line answers; patients are called at their slots). SIGTERM, SIGINT
    /// and `kenkocall drain` stop it gracefully (see `[node] shutdown_grace_secs`).
    Serve,
    /// Drain a running node (by default the one on this host): it refuses new calls
    /// (503 to INVITE and OPTIONS), stops dialling, lets its calls finish, then exits.
    Drain(node::DrainArgs),
    /// The nodes running on this case store (heartbeat, draining).
    Nodes(node::NodesArgs),
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
    /// Call one patient now, outside the schedule (to test a number): a running node
    /// places the call; prints the outcome.
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
    let store = Store::connect_with_timeout(
        &cfg.database.url,
        std::time::Duration::from_secs(cfg.database.acquire_timeout_secs.max(1)),
    )
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
        Command::Serve => serve::run(&cfg).await,
        Command::Drain(args) => node::drain(args, &cfg, &open_store(&cfg).await?).await,
        Command::Nodes(args) => node::nodes(args, &open_store(&cfg).await?).await,
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
