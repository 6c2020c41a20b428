//! `kenkocall demo`: the newcomer's first command. Needs no configuration: everything runs
//! on loopback with an embedded SQLite file in a temporary directory, and ends by itself.

use std::process::ExitCode;

use anyhow::Context;
use kenkocall::demo::{DemoOptions, print_tables, run_demo};

pub async fn run() -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    eprintln!(
        "kenkocall demo: case store {}, one 09:00 slot on a clock running 120x; \
         simulated phones answer over loopback SIP/RTP. About a minute...",
        dir.path().join("kenkocall-demo.db").display()
    );
    let outcome = run_demo(dir.path(), &DemoOptions::default()).await?;
    print_tables(&mut std::io::stdout().lock(), &outcome)?;
    Ok(ExitCode::SUCCESS)
}
