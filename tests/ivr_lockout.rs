//! The health-call lockout through the real line: the engine in-process answers real `sipp`
//! calls (RFC 4733 keys) from given calling numbers. Two strangers who know a patient's
//! HER-SYS ID key wrong birthdays from two numbers, one of them until it is locked out; the
//! patient then still reports from their own phone (the old rule locked the ID for an
//! hour after five failures, whoever called).
//! Ports 49100-49199 (engine SIP, sipp, RTP).

#[path = "ivr/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{Line, Ports, TIMING, clear_log, plays, reports_when, sipp_call};
use kenkocall::store::{AuthFailureKey, LockoutScope};
use serde_json::json;

const PORTS: Ports = Ports {
    engine_sip: 49100,
    peer_sip: 49101,
    peer_media: 49110,
    peer_control: 49120,
    rtp_low: 49140,
};

/// The patient's phone as enrolled by the harness.
const OWN_PHONE: &str = "09011112222";

async fn call_from(number: &str, keys: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pcap = harness::rfc4733_pcap(dir.path(), keys, TIMING);
    sipp_call(
        PORTS,
        "uac_caller_keys_wait_bye.xml",
        &pcap,
        &["-key", "caller", number],
    )
    .await;
}

/// Three wrong birthdays for `id` in one call (the line then ends the call).
fn three_wrong(id: &str) -> String {
    format!("1,{id}#0101,,,{id}#0102,,,{id}#0103")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_keying_wrong_birthdays_do_not_lock_the_patient_out_of_their_own_phone() {
    let line = Line::start(PORTS).await;
    let id = "5550101";
    let mmdd = line.enrol(id).await;
    assert!(!["0101", "0102", "0103"].contains(&mmdd.as_str()));
    let (a, b) = ("08012340001", "08012340002");

    // Stranger A, two calls: the fifth failure locks A out of this ID; the sixth try hears so.
    call_from(a, &three_wrong(id)).await;
    clear_log();
    call_from(a, &three_wrong(id)).await;
    let played = plays();
    assert_eq!(
        played.last().map(String::as_str),
        Some("locked_out"),
        "{played:?}"
    );
    // Stranger B, one call: three more failures on the ID (eight in all).
    call_from(b, &three_wrong(id)).await;
    assert_eq!(line.auth_failures(id).await, 8);

    let since = chrono::Utc::now() - chrono::Duration::hours(1);
    let lockouts = line
        .store
        .list_lockouts(
            line.store.get_centre("Minato").await.unwrap().unwrap().id,
            since,
            10,
        )
        .await
        .unwrap();
    assert_eq!(lockouts.len(), 1, "{lockouts:?}");
    assert_eq!(lockouts[0].scope, LockoutScope::NumberAndId);
    assert_eq!(lockouts[0].calling_number.as_deref(), Some(a));
    let from_b = line
        .store
        .count_auth_failures(AuthFailureKey::NumberAndId(b, id), since)
        .await
        .unwrap();
    assert_eq!(from_b, 3);

    // The patient, from their own phone: a complete report.
    clear_log();
    call_from(
        OWN_PHONE,
        &format!("1,{id}#{mmdd},,*365,1,97#,1,222222222,2"),
    )
    .await;
    let reports = reports_when(&line, id, Duration::from_secs(5), |r| {
        r.first().is_some_and(|r| r["complete"] == json!(true))
    })
    .await;
    assert_eq!(reports.len(), 1, "{reports:#?} {:?}", plays());
    assert_eq!(reports[0]["temperature_c"], json!(36.5));
    assert_eq!(reports[0]["spo2"], json!(97));
    line.engine.shutdown().await;
}
