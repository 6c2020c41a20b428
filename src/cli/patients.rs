//! `kenkocall patients ...`: enrolment by CSV and the patient list.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use kenkocall::store::{Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum PatientsCommand {
    /// Enrol patients from a CSV file, all-or-nothing: one bad row rejects the whole file
    /// and every bad row is listed with its line number.
    ///
    /// Header: hersys_id,name,birth_date,phone,language,health_centre,slots,
    /// observation_start,observation_end (dates YYYY-MM-DD or YYYY/M/D, slots like
    /// 9;11;14;16). UTF-8 (with or without BOM) or Shift_JIS; full-width digits are fine.
    Import {
        /// The CSV file.
        file: PathBuf,
    },
    /// Set a patient's call slots (local hours of their centre), e.g. `9,14`; applies from
    /// the next slot.
    SetSlots {
        hersys_id: String,
        /// Hours 0-23 separated by commas.
        slots: String,
    },
    /// Stop a patient's auto-calls (checked again when each call is about to be made).
    Stop {
        hersys_id: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Resume a stopped patient's auto-calls.
    Resume { hersys_id: String },
    /// List enrolled patients.
    List {
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: &PatientsCommand, store: &Store) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        PatientsCommand::Import { file } => {
            let f = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
            match store
                .import_patients_csv(f, "cli", chrono::Utc::now())
                .await
            {
                Ok(summary) => {
                    writeln!(out, "imported {} patient(s)", summary.inserted)?;
                    for c in &summary.centres_created {
                        writeln!(out, "new health centre {c:?} created with default settings")?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(StoreError::Import(errors)) => {
                    eprintln!("{}: import rejected, nothing was applied", file.display());
                    eprintln!("{errors}");
                    Ok(ExitCode::from(2))
                }
                Err(e) => Err(e.into()),
            }
        }
        PatientsCommand::SetSlots { hersys_id, slots } => {
            let slots = super::dialer::parse_slots(slots)?;
            let p = store
                .set_patient_slots(hersys_id, slots, "cli", chrono::Utc::now())
                .await?;
            writeln!(out, "{}: call slots {}", p.hersys_id, p.call_slots)?;
            Ok(ExitCode::SUCCESS)
        }
        PatientsCommand::Stop { hersys_id, reason } => {
            let p = store
                .stop_patient(hersys_id, reason, "cli", chrono::Utc::now())
                .await?;
            writeln!(out, "{}: auto-calls stopped", p.hersys_id)?;
            Ok(ExitCode::SUCCESS)
        }
        PatientsCommand::Resume { hersys_id } => {
            let p = store
                .resume_patient(hersys_id, "cli", chrono::Utc::now())
                .await?;
            writeln!(out, "{}: auto-calls resumed", p.hersys_id)?;
            Ok(ExitCode::SUCCESS)
        }
        PatientsCommand::List { json } => {
            let patients = store.list_patients().await?;
            if *json {
                for p in &patients {
                    writeln!(out, "{}", serde_json::to_string(p)?)?;
                }
            } else {
                writeln!(
                    out,
                    "{:<8} {:<20} {:<14} {:<4} {:<12} {:<10} {:<23} status",
                    "hersys", "name", "phone", "lang", "centre", "slots", "observation"
                )?;
                let today = chrono::Utc::now().date_naive();
                for p in &patients {
                    writeln!(
                        out,
                        "{:<8} {:<20} {:<14} {:<4} {:<12} {:<10} {} – {} {:?}",
                        p.hersys_id,
                        p.name,
                        p.phone,
                        p.language.as_str(),
                        p.health_centre,
                        p.call_slots.to_string(),
                        p.observation_start,
                        p.observation_end,
                        p.status_on(today),
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
