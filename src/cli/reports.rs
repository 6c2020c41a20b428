//! `kenkocall reports`: the health reports, oldest first.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use kenkocall::store::{ReportFilter, Store};

#[derive(Debug, Args)]
pub struct ReportsArgs {
    /// One JSON object per line (hersys_id, reported_at, channel, temperature_c, spo2,
    /// symptoms, complete, question_set).
    #[arg(long)]
    pub json: bool,
    /// Only this patient's reports.
    #[arg(long, value_name = "HERSYS_ID")]
    pub patient: Option<String>,
}

pub async fn run(args: &ReportsArgs, store: &Store) -> anyhow::Result<ExitCode> {
    let filter = ReportFilter {
        hersys_id: args.patient.clone(),
        since: None,
    };
    let reports = store.list_reports(&filter).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        for r in &reports {
            writeln!(out, "{}", r.to_json_line())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "{:<8} {:<25} {:<11} {:>5} {:>4} {:<8} symptoms (yes)",
        "hersys", "reported_at (UTC)", "channel", "temp", "spo2", "complete"
    )?;
    for r in &reports {
        let yes: Vec<&str> = r
            .symptoms
            .iter()
            .filter(|(_, yes)| **yes)
            .map(|(s, _)| s.as_str())
            .collect();
        writeln!(
            out,
            "{:<8} {:<25} {:<11} {:>5} {:>4} {:<8} {}",
            r.hersys_id,
            r.reported_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            r.channel.as_str(),
            r.temperature_c
                .map(|t| format!("{t:.1}"))
                .unwrap_or("-".into()),
            r.spo2.map(|s| s.to_string()).unwrap_or("-".into()),
            if r.complete { "yes" } else { "partial" },
            if yes.is_empty() {
                "none".to_string()
            } else {
                yes.join(",")
            },
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
