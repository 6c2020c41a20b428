//! One trunk's limits held across two real `kenkocall serve` nodes on one PostgreSQL:
//! against a sipp carrier trunk (tests/trunk/uas_hold_then_bye.xml), the channels in use
//! at the carrier never exceed `trunk.channels`, call starts stay 1/cps apart whichever
//! node starts them, and when one node is SIGKILLed mid-call its channels come back to
//! the other within one `trunk.channel_lease_secs`.
//!
//! Calls are `call-now` requests written to the store (both nodes take them).
//! Ports 53900-53999. Needs sipp (Debian `sip-tester`) and PostgreSQL (skipped without it
//! unless KENKOCALL_REQUIRE_PG=1).

#[path = "multinode/cluster.rs"]
mod cluster;
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use cluster::{Peer, ServeNode, enrol, root, runtime};

const TRUNK_PORT: u16 = 53910;
const CHANNELS: usize = 3;
const CPS: f64 = 2.0;
const LEASE_SECS: u64 = 3;
const HOLD_MS: u64 = 2500;

/// (start, end, Call-ID) of each call in the carrier's log, ms on sipp's clock.
fn carrier_calls(log: &str) -> Vec<(i64, i64, String)> {
    let mut starts = std::collections::HashMap::new();
    let mut calls = Vec::new();
    for line in log.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if let [what, call_id, at] = f[..] {
            let Ok(at) = at.parse::<i64>() else { continue };
            match what {
                "start" => {
                    starts.insert(call_id.to_string(), at);
                }
                "end" => {
                    if let Some(s) = starts.remove(call_id) {
                        calls.push((s, at, call_id.to_string()));
                    }
                }
                _ => {}
            }
        }
    }
    // Calls still up when the carrier stopped count until then.
    let last = calls.iter().map(|c| c.1).max().unwrap_or(0);
    calls.extend(starts.into_iter().map(|(id, s)| (s, last.max(s), id)));
    calls.sort();
    calls
}

/// Most calls up at once within [from, to) on the carrier's clock.
/// Most of `calls` up at once.
fn peak<'a>(calls: impl IntoIterator<Item = &'a (i64, i64, String)>) -> usize {
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for (s, e, _) in calls {
        edges.push((*s, 1));
        edges.push((*e, -1));
    }
    // An end before a start at the same instant: the carrier freed the channel first.
    edges.sort();
    let (mut up, mut best) = (0i32, 0i32);
    for (_, d) in edges {
        up += d;
        best = best.max(up);
    }
    best.max(0) as usize
}

#[test]
fn two_nodes_share_one_trunks_channels_and_rate_and_a_killed_nodes_channels_come_back() {
    let rt = runtime();
    let Some(db) = rt.block_on(common::postgres()) else {
        return;
    };
    let store = db.store.clone();
    let dir = tempfile::tempdir().unwrap();
    let trunk_uri = format!("sip:127.0.0.1:{TRUNK_PORT}");
    let log_file = dir.path().join("carrier.log");
    let _carrier = Peer(
        Command::new("sipp")
            .current_dir(dir.path())
            .arg("-sf")
            .arg(root().join("tests/trunk/uas_hold_then_bye.xml"))
            .args(["-i", "127.0.0.1", "-p", &TRUNK_PORT.to_string()])
            .args(["-mp", "53980", "-d", &HOLD_MS.to_string(), "-nostdin"])
            .args(["-trace_logs", "-log_file"])
            .arg(&log_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipp must be installed"),
    );
    let extra = format!(
        "[trunk]\nuri = \"{trunk_uri}\"\nchannels = {CHANNELS}\nchannel_lease_secs = {LEASE_SECS}\n\
         [dialer]\ncalls_per_second = {CPS:.1}\nworkers = {CHANNELS}\npoll_ms = 100\n"
    );
    let mut a = ServeNode::new(
        dir.path(),
        "a",
        &db.url,
        53901,
        53903,
        "53920-53949",
        &extra,
    );
    let mut b = ServeNode::new(
        dir.path(),
        "b",
        &db.url,
        53902,
        53904,
        "53950-53979",
        &extra,
    );
    a.spawn();
    b.spawn();
    a.wait_ready();
    b.wait_ready();
    let a_name = a.node_name(&store, &rt);
    let patients = enrol(&rt, &store, 1, 14);

    // First batch: more calls than channels, taken by both nodes.
    for (_, pid) in &patients[..8] {
        rt.block_on(store.request_call(*pid, "test", Utc::now()))
            .unwrap();
    }
    // Kill node a while it holds a trunk channel for a call.
    let deadline = Instant::now() + Duration::from_secs(30);
    while rt
        .block_on(store.trunk_channels_in_use(&trunk_uri, Some(&a_name), Utc::now()))
        .unwrap()
        == 0
    {
        assert!(Instant::now() < deadline, "node a never dialled");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    a.kill();
    let killed = Instant::now();
    let killed_at = Utc::now();
    // Second batch, for the survivor.
    for (_, pid) in &patients[8..] {
        rt.block_on(store.request_call(*pid, "test", Utc::now()))
            .unwrap();
    }
    // The dead node's channels are free within one lease.
    loop {
        let held = rt
            .block_on(store.trunk_channels_in_use(&trunk_uri, Some(&a_name), Utc::now()))
            .unwrap();
        if held == 0 {
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_millis(LEASE_SECS * 1000 + 300),
            "node a still holds {held} channel(s) {:?} after its death",
            killed.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let back_after = killed.elapsed();

    // Every request of the second batch is placed by b.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reqs = rt.block_on(store.list_call_requests(None)).unwrap();
        let second: Vec<_> = reqs
            .iter()
            .filter(|r| patients[8..].iter().any(|(id, _)| *id == r.hersys_id))
            .collect();
        if second.len() == 6 && second.iter().all(|r| r.state == "finished") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "second batch not placed: {reqs:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(_carrier);

    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    let calls = carrier_calls(&log);
    assert!(
        calls.len() >= 10,
        "carrier saw {} calls: {log}",
        calls.len()
    );
    let all = peak(&calls);
    assert!(
        all <= CHANNELS,
        "{all} calls up at once at the carrier: {calls:?}"
    );
    // Starts 1/cps = 500 ms apart; 100 ms for the network and the scheduler.
    let starts: Vec<i64> = calls.iter().map(|c| c.0).collect();
    let closest = starts.windows(2).map(|w| w[1] - w[0]).min().unwrap();
    assert!(closest >= 400, "two starts {closest} ms apart: {starts:?}");
    let rate =
        (starts.len() - 1) as f64 * 1000.0 / (starts[starts.len() - 1] - starts[0]).max(1) as f64;
    // The survivor alone had every channel up at once: the dead node's came back.
    let reqs = rt.block_on(store.list_call_requests(None)).unwrap();
    let after_kill: Vec<String> = reqs
        .iter()
        .filter(|r| r.started_at.is_some_and(|t| t > killed_at))
        .filter_map(|r| r.sip_call_id.clone())
        .collect();
    let after = peak(calls.iter().filter(|c| after_kill.contains(&c.2)));
    assert_eq!(
        after, CHANNELS,
        "survivor never used every channel: {calls:?} {reqs:#?}"
    );
    eprintln!(
        "FIGURES trunk_shared: {} calls, peak {all}/{CHANNELS} channels, closest starts \
         {closest} ms (cap {} ms), mean rate {rate:.2}/s (cap {CPS}), killed node's \
         channels back after {} ms (lease {} ms), survivor peak after {after}",
        calls.len(),
        (1000.0 / CPS) as i64,
        back_after.as_millis(),
        LEASE_SECS * 1000
    );
    b.kill();
    drop(a);
    rt.block_on(db.finish());
}
