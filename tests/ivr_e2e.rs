//! The health-call line end to end: the real engine in-process answers a real `sipp`
//! (Debian package `sip-tester`; its pcap playback needs root or cap_net_raw) that keys
//! the issue's sequence as RFC 4733 events or as in-band PCMU tones. The pcaps are made
//! at test time by tests/tools (python3; sox for the tones). The result is read back
//! from the store as `kenkocall reports --json` prints it.
//!
//! Keys are spaced like a person keying ahead (the IVR takes type-ahead and barge-in);
//! a ',' is a 1.5 s pause, left after the birthday so the identity check has answered.
//! The tests run one at a time: they share the captured engine log (prompt ids played).

#[path = "ivr/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{KeyTiming, Line, TIMING, clear_log, plays, ports, reports_when, sipp_call};
use kenkocall::store::Symptom;
use serde_json::json;
use tokio::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// The issue's sequence: language 1, ID + `#`, MMDD, `*365`, confirm, `97#`, confirm,
/// `2` to every symptom, then `2` (finish).
fn issue_keys(hersys_id: &str, mmdd: &str) -> String {
    format!("1,{hersys_id}#{mmdd},,*365,1,97#,1,222222222,2")
}

fn all_no() -> serde_json::Value {
    Symptom::ALL
        .iter()
        .map(|s| (s.to_string(), json!(false)))
        .collect()
}

async fn issue_sequence_gives_a_complete_report(slot: u16, inband: bool) {
    let _serial = ONE_AT_A_TIME.lock().await;
    clear_log();
    let p = ports(slot);
    let line = Line::start(p).await;
    let id = "1234567";
    let mmdd = line.enrol(id).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = issue_keys(id, &mmdd);
    let (pcap, scenario) = if inband {
        (
            harness::inband_pcap(dir.path(), &keys, TIMING),
            "uac_pcmu_keys_wait_bye.xml",
        )
    } else {
        (
            harness::rfc4733_pcap(dir.path(), &keys, TIMING),
            "uac_keys_wait_bye.xml",
        )
    };
    // The engine says goodbye and hangs up; sipp fails unless that BYE comes.
    sipp_call(p, scenario, &pcap, &[]).await;
    let reports = reports_when(&line, id, Duration::from_secs(5), |r| {
        r.first().is_some_and(|r| r["complete"] == json!(true))
    })
    .await;
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r["hersys_id"], json!(id));
    assert_eq!(r["channel"], json!("health_call"));
    assert_eq!(r["temperature_c"], json!(36.5));
    assert_eq!(r["spo2"], json!(97));
    assert_eq!(r["symptoms"], all_no());
    assert_eq!(r["complete"], json!(true));
    if std::env::var("IVR_E2E_LOG").is_ok() {
        eprintln!("{}", harness::log_text());
    }
    let played = plays();
    assert_eq!(
        played.last().map(String::as_str),
        Some("goodbye"),
        "{played:?}"
    );
    line.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_rfc4733_keys_give_a_complete_health_call_report() {
    issue_sequence_gives_a_complete_report(0, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_in_band_pcmu_keys_give_a_complete_health_call_report() {
    issue_sequence_gives_a_complete_report(1, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_birthday_three_times_ends_with_the_contact_centre_prompt_and_no_report() {
    let _serial = ONE_AT_A_TIME.lock().await;
    clear_log();
    let p = ports(2);
    let line = Line::start(p).await;
    let id = "7654321";
    let mmdd = line.enrol(id).await;
    let wrong = ["0101", "0102", "0103"];
    assert!(!wrong.contains(&mmdd.as_str()));
    let keys = format!(
        "1,{id}#{},,,{id}#{},,,{id}#{}",
        wrong[0], wrong[1], wrong[2]
    );
    let dir = tempfile::tempdir().unwrap();
    let pcap = harness::rfc4733_pcap(dir.path(), &keys, TIMING);
    sipp_call(p, "uac_keys_wait_bye.xml", &pcap, &[]).await;
    let played = plays();
    assert_eq!(
        played.last().map(String::as_str),
        Some("identity_failed_contact_centre"),
        "{played:?}"
    );
    assert_eq!(
        played.iter().filter(|p| *p == "identity_mismatch").count(),
        2,
        "{played:?}"
    );
    assert_eq!(line.auth_failures(id).await, 3);
    assert!(line.reports(id).await.is_empty());
    line.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_hanging_up_after_the_spo2_keeps_a_partial_report() {
    let _serial = ONE_AT_A_TIME.lock().await;
    clear_log();
    let p = ports(3);
    let line = Line::start(p).await;
    let id = "2345678";
    let mmdd = line.enrol(id).await;
    let keys = format!("1,{id}#{mmdd},,*365,1,97#,1");
    let dir = tempfile::tempdir().unwrap();
    let pcap = harness::rfc4733_pcap(dir.path(), &keys, TIMING);
    let t: KeyTiming = TIMING;
    // Hang up 2 s after the last key: the first symptom question is playing.
    let hold = (t.duration(&keys) + Duration::from_secs(2))
        .as_millis()
        .to_string();
    sipp_call(p, "uac_keys_then_bye.xml", &pcap, &["-d", &hold]).await;
    let reports = reports_when(&line, id, Duration::from_secs(5), |r| {
        r.first().is_some_and(|r| r["spo2"] == json!(97))
    })
    .await;
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r["channel"], json!("health_call"));
    assert_eq!(r["temperature_c"], json!(36.5));
    assert_eq!(r["spo2"], json!(97));
    assert_eq!(r["symptoms"], json!({}));
    assert_eq!(r["complete"], json!(false));
    let played = plays();
    assert_eq!(
        played.last().map(String::as_str),
        Some("ask_shortness_of_breath"),
        "{played:?}"
    );
    line.engine.shutdown().await;
}
