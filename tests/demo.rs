//! `kenkocall demo` end to end (its library function): real SIP/RTP on loopback, the
//! engine, the dialer on a compressed clock and the simulated phones.

use std::collections::BTreeMap;

use kenkocall::demo::{DemoOptions, run_demo};
use kenkocall::store::{AttemptOutcome, Channel};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demo_slot_reaches_retries_and_stops_as_scripted() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_demo(dir.path(), &DemoOptions::default()).await.unwrap();

    let mut per_patient: BTreeMap<&str, Vec<(u32, Option<AttemptOutcome>)>> = BTreeMap::new();
    for a in &o.attempts {
        per_patient
            .entry(a.hersys_id.as_str())
            .or_default()
            .push((a.attempt_no, a.outcome));
        let line = a.caller_line.as_deref().unwrap();
        assert!(["05031980215", "05033110008"].contains(&line), "{line}");
        assert!(a.sip_call_id.is_some() && a.started_at.is_some() && a.ended_at.is_some());
    }
    use AttemptOutcome::*;
    let expect: BTreeMap<&str, Vec<(u32, Option<AttemptOutcome>)>> = [
        ("1000001", vec![(1, Some(Completed))]),
        ("1000002", vec![(1, Some(Completed))]),
        ("1000003", vec![(1, Some(Completed))]),
        ("1000004", vec![(1, Some(Busy)), (2, Some(Completed))]),
        (
            "1000005",
            vec![
                (1, Some(NoAnswer)),
                (2, Some(NoAnswer)),
                (3, Some(NoAnswer)),
            ],
        ),
        ("1000006", vec![(1, Some(WrongNumber))]),
    ]
    .into_iter()
    .collect();
    assert_eq!(per_patient, expect);

    // Retries at the centre's offsets: busy +5 min, no answer +15 min (virtual clock).
    let gap = |id: &str, n: u32| {
        let a: Vec<_> = o.attempts.iter().filter(|a| a.hersys_id == id).collect();
        let prev = a[n as usize - 2].ended_at.unwrap();
        let next = a[n as usize - 1].started_at.unwrap();
        (next - prev).num_seconds()
    };
    assert!(
        (300..330).contains(&gap("1000004", 2)),
        "{}",
        gap("1000004", 2)
    );
    assert!(
        (900..930).contains(&gap("1000005", 2)),
        "{}",
        gap("1000005", 2)
    );

    let reports: BTreeMap<&str, (Channel, Option<u8>, bool)> = o
        .reports
        .iter()
        .map(|r| (r.hersys_id.as_str(), (r.channel, r.spo2, r.complete)))
        .collect();
    let expected_reports: BTreeMap<&str, (Channel, Option<u8>, bool)> = [
        ("1000001", (Channel::AutoCall, Some(97), true)),
        ("1000002", (Channel::AutoCall, Some(91), true)),
        ("1000003", (Channel::AutoCall, Some(97), true)),
        ("1000004", (Channel::AutoCall, Some(98), true)),
        ("1000007", (Channel::HealthCall, Some(96), true)),
        ("1000008", (Channel::HealthCall, Some(96), true)),
    ]
    .into_iter()
    .collect();
    assert_eq!(reports, expected_reports);
    assert_eq!(o.inbound_result, "answered");
    let both = o
        .reports
        .iter()
        .filter(|r| r.channel == Channel::HealthCall);
    let call_ids: Vec<_> = both.map(|r| r.call_id.clone()).collect();
    assert_eq!(call_ids.len(), 2);
    assert_eq!(call_ids[0], call_ids[1], "two people in the same call");
    assert!(o.elapsed.as_secs() < 90, "{:?}", o.elapsed);
}
