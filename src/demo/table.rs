//! The demo's closing tables: every call attempt and every health report.

use std::io::Write;

use super::DemoOutcome;
use crate::store::{AlertThresholds, CallAttempt, HealthReport};

fn hhmmss(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&chrono_tz::Asia::Tokyo)
            .format("%H:%M:%S")
            .to_string()
    })
    .unwrap_or_else(|| "-".into())
}

fn attempt_row(a: &CallAttempt, who: &str) -> String {
    let call_id = a.sip_call_id.as_deref().unwrap_or("-");
    let short: String = call_id.chars().take(14).collect();
    format!(
        "{:<8} {:<24} {:>2}:00 {:>2} {:<12} {:<8} {:<8} {:<12} {:<20} {}",
        a.hersys_id,
        who,
        a.slot_hour,
        a.attempt_no,
        a.caller_line.as_deref().unwrap_or("-"),
        hhmmss(a.started_at),
        hhmmss(a.ended_at),
        a.outcome.map_or("-", |o| o.as_str()),
        a.detail.as_deref().unwrap_or(""),
        short
    )
}

fn report_row(r: &HealthReport, who: &str) -> String {
    let yes: Vec<&str> = r
        .symptoms
        .iter()
        .filter(|(_, y)| **y)
        .map(|(s, _)| s.as_str())
        .collect();
    let level = AlertThresholds::default().assess(r.temperature_dc(), r.spo2, &r.symptoms);
    format!(
        "{:<8} {:<24} {:<11} {:>5} {:>4} {:<8} {:<9} {}",
        r.hersys_id,
        who,
        r.channel.as_str(),
        r.temperature_c.map_or("-".into(), |t| format!("{t:.1}")),
        r.spo2.map_or("-".into(), |s| s.to_string()),
        if r.complete { "yes" } else { "partial" },
        format!("{level:?}").to_lowercase(),
        if yes.is_empty() {
            "none".into()
        } else {
            yes.join(",")
        }
    )
}

fn who<'a>(o: &'a DemoOutcome, hersys_id: &str) -> &'a str {
    o.scenarios.get(hersys_id).map_or("", String::as_str)
}

/// Prints the attempts (times on the demo's compressed clock, Tokyo time) and reports.
pub fn print_tables(out: &mut impl Write, o: &DemoOutcome) -> std::io::Result<()> {
    writeln!(
        out,
        "\nCall attempts (slot times on the demo's compressed clock, Asia/Tokyo)"
    )?;
    writeln!(
        out,
        "{:<8} {:<24} {:>5} {:>2} {:<12} {:<8} {:<8} {:<12} {:<20} SIP Call-ID",
        "hersys", "patient", "slot", "#", "caller line", "started", "ended", "outcome", "job end",
    )?;
    for a in &o.attempts {
        writeln!(out, "{}", attempt_row(a, who(o, &a.hersys_id)))?;
    }
    writeln!(out, "\nHealth reports")?;
    writeln!(
        out,
        "{:<8} {:<24} {:<11} {:>5} {:>4} {:<8} {:<9} symptoms (yes)",
        "hersys", "patient", "channel", "temp", "spo2", "complete", "alert"
    )?;
    for r in &o.reports {
        writeln!(out, "{}", report_row(r, who(o, &r.hersys_id)))?;
    }
    writeln!(
        out,
        "\nHealth-call from the household: {}. Finished in {:.1} s.",
        o.inbound_result,
        o.elapsed.as_secs_f64()
    )?;
    Ok(())
}
