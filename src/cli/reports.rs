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
    /// The staff pages' reports export (UTF-8 with BOM, Japanese office form): the same file
    /// as the "export reports" button for --from/--to (and --centre).
    #[arg(long, conflicts_with_all = ["json", "patient"], requires_all = ["from", "to"])]
    pub csv: bool,
    /// First local date of the CSV export (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<chrono::NaiveDate>,
    /// Last local date of the CSV export (YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<chrono::NaiveDate>,
    /// Only this health centre's patients in the CSV export (by name); all centres otherwise.
    #[arg(long)]
    pub centre: Option<String>,
}

pub async fn run(args: &ReportsArgs, store: &Store) -> anyhow::Result<ExitCode> {
    if args.csv {
        let (Some(from), Some(to)) = (args.from, args.to) else {
            anyhow::bail!("--csv needs --from and --to");
        };
        let centre = match &args.centre {
            Some(name) => Some(
                store
                    .get_centre(name)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("no health centre {name:?}"))?
                    .id,
            ),
            None => None,
        };
        let csv = kenkocall::admin::reports_export::reports_csv(store, centre, from, to).await?;
        std::io::stdout().lock().write_all(&csv)?;
        return Ok(ExitCode::SUCCESS);
    }
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
