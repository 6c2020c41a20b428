//! How `kenkocall serve` stops, and `call-now` beside it, as operators run them: the real
//! binary with a config file, on the real clock, against real sipp callers and phones.
//!
//! - SIGTERM mid-call: new INVITEs and OPTIONS get 503 during the grace period; the caller
//!   gets BYE when it ends; what was keyed is stored; exit status 0.
//! - `kenkocall drain`: OPTIONS answer 503 and the node exits once its call has ended
//!   (well before the grace period).
//! - `call-now` beside a running `serve` with the same config file: the node places the
//!   call, the outcome is printed and `kenkocall calls` shows it; with no node running,
//!   `call-now` says so at once.
//!
//! Ports: each node its 50-port slice in 44100-44399 (see `Node::in_slice`); sipp media
//! 44400-44499. Needs sipp (Debian `sip-tester`), python3, and root for sipp's pcap replay.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::serve::{Node, Reaped, keys_pcap, root, runtime, signal, stderr_of, wait_exit};
use kenkocall::store::ReportFilter;

/// The probe a dispatcher sends: true when OPTIONS got 503 with Retry-After.
fn options_refused(node: &Node) -> bool {
    // A node that already left never answers: give up after a few retransmissions.
    node.sipp_from(
        node.sipp_port + 2,
        &root().join("tests/sip/uac_options_503.xml"),
        &["-timeout", "4s"],
    )
    .status()
    .unwrap()
    .success()
}

#[test]
fn sigterm_mid_call_refuses_new_calls_byes_the_caller_after_the_grace_and_keeps_answers() {
    let rt = runtime();
    let grace = 6;
    let node = Node::in_slice(44100, &format!("[node]\nshutdown_grace_secs = {grace}\n"));
    let id = "3456789";
    let mmdd = node.enrol(&rt, id, "09011112222");
    let mut serve = node.serve();
    // Temperature and SpO2 keyed, then silence on the first symptom question.
    let keys = format!("1,{id}#{mmdd},,*365,1,97#,1");
    let (pcap, plays) = keys_pcap(node.dir.path(), &keys);
    let mut caller = Reaped::spawn(&mut node.sipp(
        &root().join("tests/ivr/uac_keys_wait_bye.xml"),
        &["-mp", "44400", "-key", "pcap", pcap.to_str().unwrap()],
    ));
    std::thread::sleep(plays);
    let store = node.store(&rt);
    let filter = ReportFilter {
        hersys_id: Some(id.into()),
        since: None,
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reports = rt.block_on(store.list_reports(&filter)).unwrap();
        if reports.first().is_some_and(|r| r.spo2.is_some()) {
            break;
        }
        assert!(Instant::now() < deadline, "SpO2 not saved: {reports:?}");
        std::thread::sleep(Duration::from_millis(200));
    }

    let sigterm_at = Instant::now();
    signal(&serve, libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    // Draining: a new caller gets 503 + Retry-After, and so does a dispatcher's probe.
    let refused = node
        .sipp_from(
            node.sipp_port + 3,
            &root().join("tests/sip/uac_503.xml"),
            &["-mp", "44410"],
        )
        .status()
        .unwrap();
    assert!(refused.success(), "a new INVITE was not refused with 503");
    assert!(options_refused(&node), "OPTIONS was not answered 503");
    assert!(
        caller.try_wait().unwrap().is_none(),
        "the caller's call must go on during the grace period"
    );

    let (caller_status, bye_at) = wait_exit(&mut caller, Duration::from_secs(30));
    assert!(
        caller_status.success(),
        "the caller got no BYE: {caller_status:?}"
    );
    let waited = bye_at - sigterm_at;
    assert!(
        waited >= Duration::from_millis(grace * 1000 - 500),
        "BYE came {waited:?} after SIGTERM, before the {grace} s grace"
    );
    let (status, _) = wait_exit(&mut serve, Duration::from_secs(30));
    let log = stderr_of(&mut serve);
    assert!(status.success(), "serve exited with {status:?}: {log}");
    assert!(log.contains("ending 1 call(s) with BYE"), "{log}");

    let reports = rt.block_on(store.list_reports(&filter)).unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].temperature_dc(), Some(365));
    assert_eq!(reports[0].spo2, Some(97));
    assert!(!reports[0].complete);
}

#[test]
fn drain_refuses_probes_and_the_node_exits_once_its_call_ends() {
    let rt = runtime();
    // A grace far longer than the call: the node must leave when the call ends, not then.
    let node = Node::in_slice(44200, "[node]\nshutdown_grace_secs = 90\n");
    let mut serve = node.serve();
    let (pcap, _) = keys_pcap(node.dir.path(), "1");
    // Long enough for a slow CI machine to start `kenkocall drain` and the node to see it
    // while the call is still up (else the node leaves at once and no probe sees the 503).
    let hold_ms = 20_000;
    let started = Instant::now();
    let mut caller = Reaped::spawn(&mut node.sipp(
        &root().join("tests/ivr/uac_keys_then_bye.xml"),
        &[
            "-mp",
            "44420",
            "-d",
            &hold_ms.to_string(),
            "-key",
            "pcap",
            pcap.to_str().unwrap(),
        ],
    ));
    std::thread::sleep(Duration::from_secs(2));
    assert!(!options_refused(&node), "OPTIONS refused before the drain");
    let mut drain = Reaped::spawn(
        node.kenkocall()
            .arg("drain")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    // The node sees the request at its next heartbeat (1 s); a loaded CI machine may
    // take a while to start the CLI, so the bound is generous and a failed drain says why.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !options_refused(&node) {
        if let Some(status) = drain.try_wait().unwrap().filter(|s| !s.success()) {
            panic!("drain failed ({status}): {}", stderr_of(&mut drain));
        }
        assert!(Instant::now() < deadline, "OPTIONS never answered 503");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (drain_status, _) = wait_exit(&mut drain, Duration::from_secs(60));
    let mut said = String::new();
    drain
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    let err = stderr_of(&mut drain);
    assert!(drain_status.success(), "drain: {said} {err}");
    assert!(
        said.contains("asked to drain") && said.contains("stopped"),
        "{said}"
    );
    let (status, exited_at) = wait_exit(&mut serve, Duration::from_secs(10));
    let log = stderr_of(&mut serve);
    assert!(status.success(), "serve exited with {status:?}: {log}");
    assert!(log.contains("draining (kenkocall drain)"), "{log}");
    assert!(!log.contains("with BYE"), "the call was cut: {log}");
    let (caller_status, _) = wait_exit(&mut caller, Duration::from_secs(5));
    assert!(
        caller_status.success(),
        "the caller's call did not end cleanly"
    );
    let lived = exited_at - started;
    assert!(
        lived >= Duration::from_millis(hold_ms) && lived < Duration::from_secs(60),
        "node exited {lived:?} after the call began"
    );
    drop(rt);
}

#[test]
fn call_now_beside_a_running_node_is_placed_by_it_and_listed() {
    let rt = runtime();
    let trunk = 44300 + 43;
    let node = Node::in_slice(
        44300,
        &format!(
            "[trunk]\nuri = \"sip:127.0.0.1:{trunk}\"\n[dialer]\npoll_ms = 200\nworkers = 4\n"
        ),
    );
    let id = "4567890";
    node.enrol(&rt, id, "09022220001");
    // The patient's phone: answers, keys the whole questionnaire, waits for our BYE.
    let mut phone = Reaped::spawn(
        Command::new("sipp")
            .current_dir(node.dir.path())
            .arg("-sf")
            .arg(root().join("tests/sip/uas_per_number.xml"))
            .args(["-i", "127.0.0.1", "-p", &trunk.to_string()])
            .args([
                "-mp",
                "44430",
                "-m",
                "1",
                "-nostdin",
                "-trace_err",
                "-key",
                "pcap",
            ])
            .arg(root().join("tests/data/dtmf4733_outbound_answers.pcap"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let mut serve = node.serve();
    // The same config file as `serve`: it would fail with "Address in use" if it bound SIP.
    let out = node.run(&["call-now", id]);
    let said = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "call-now: {said} {err}");
    assert!(said.contains(": completed (SIP Call-ID "), "{said} {err}");
    assert!(err.contains("is calling"), "{err}");
    let calls = node.run(&["calls"]);
    let listed = String::from_utf8_lossy(&calls.stdout);
    let row = listed
        .lines()
        .find(|l| l.starts_with(id))
        .unwrap_or_else(|| panic!("no attempt listed: {listed}"));
    assert!(
        row.contains("now") && row.contains("completed") && row.contains("finished"),
        "{row}"
    );

    signal(&serve, libc::SIGTERM);
    let (status, _) = wait_exit(&mut serve, Duration::from_secs(30));
    assert!(status.success(), "serve: {}", stderr_of(&mut serve));
    let (phone_status, _) = wait_exit(&mut phone, Duration::from_secs(10));
    assert!(
        phone_status.success(),
        "the phone's call did not end cleanly"
    );
    let store = node.store(&rt);
    let reports = rt
        .block_on(store.list_reports(&ReportFilter {
            hersys_id: Some(id.into()),
            since: None,
        }))
        .unwrap();
    assert!(reports.first().is_some_and(|r| r.complete), "{reports:?}");
}

#[test]
fn call_now_with_no_node_running_says_so_at_once() {
    let rt = runtime();
    let node = Node::in_slice(44350, "");
    let id = "5678901";
    node.enrol(&rt, id, "09022220001");
    let started = Instant::now();
    let out = node.run(&["call-now", id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no kenkocall node is running"), "{err}");
    assert!(err.contains("--standalone"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "it waited");
    // Nothing was queued for a node that might start later.
    let store = node.store(&rt);
    assert!(
        rt.block_on(store.list_call_requests(None))
            .unwrap()
            .is_empty()
    );
}
