//! `kenkocall staff add`: accounts for the staff pages.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use kenkocall::store::Store;

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Create a staff account of a health centre. The password (at least 10 characters)
    /// is read from standard input, never from the command line (it would show in `ps`).
    Add {
        /// The health centre the account belongs to (it sees only that centre's patients).
        #[arg(long)]
        centre: String,
        /// Create the centre with default settings if it does not exist yet.
        #[arg(long)]
        create_centre: bool,
        /// The login name.
        username: String,
    },
}

pub async fn run(cmd: &StaffCommand, store: &Store) -> anyhow::Result<ExitCode> {
    let StaffCommand::Add {
        centre,
        create_centre,
        username,
    } = cmd;
    if *create_centre {
        store.ensure_centre(centre).await?;
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("password for {username}: ");
        std::io::stderr().flush().ok();
    }
    let mut password = String::new();
    stdin
        .lock()
        .read_line(&mut password)
        .context("cannot read the password from standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    let account = kenkocall::admin::add_staff(store, centre, username, password).await?;
    writeln!(
        std::io::stdout(),
        "staff account {:?} created for {:?}",
        account.username,
        centre
    )?;
    Ok(ExitCode::SUCCESS)
}
