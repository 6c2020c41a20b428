//! Two real `kenkocall serve` nodes on one PostgreSQL behind Debian's Kamailio running
//! deploy/kamailio/kamailio.cfg (rendered into a temp dir with this test's ports), with
//! sipp as the trunk's callers (tests/kamailio/uac_keys_wait_bye_rr.xml: ACK and BYE follow
//! the Record-Route). Each caller keys a whole health report; a call counts only when
//! its report is stored complete.
//!
//! - failover: calls go to both nodes; one node is SIGKILLed and new calls keep
//!   completing (the first one after the kill waits one `NODE_TIMEOUT_MS`).
//! - rolling restart: under a steady inbound load, drain node a (`kenkocall drain --node`),
//!   start it again, drain b, start it again: every call that had started completes.
//!
//! Ports 53000-53899 (callers: SIP 53200-53239 and 53600-53647, media 53240-53299 and
//! 53700-53891). Needs kamailio, sipp (Debian `sip-tester`), python3, root (sipp's
//! pcap replay), and PostgreSQL (skipped without it unless KENKOCALL_REQUIRE_PG=1).

#[path = "multinode/cluster.rs"]
mod cluster;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster::{LINE, Peer, ServeNode, enrol, root, runtime};
use kenkocall::store::{ReportFilter, Store};

/// An INVITE no node answered within this is tried on the next node.
const NODE_TIMEOUT_MS: u64 = 1000;
/// Kamailio's OPTIONS probe interval (s).
const PROBE_SECS: u64 = 1;

/// Kamailio with the shipped config, this test's ports and node list.
fn kamailio(dir: &Path, port: u16, nodes: &[u16]) -> Peer {
    let kdir = dir.join("kamailio");
    std::fs::create_dir_all(&kdir).unwrap();
    std::fs::copy(
        root().join("deploy/kamailio/kamailio.cfg"),
        kdir.join("kamailio.cfg"),
    )
    .unwrap();
    let list: String = nodes
        .iter()
        .map(|p| format!("1 sip:127.0.0.1:{p}\n"))
        .collect();
    std::fs::write(kdir.join("dispatcher.list"), list).unwrap();
    // sipp callers come from loopback: the trunk's source list.
    std::fs::write(kdir.join("address.list"), "1 127.0.0.1 32 0 test-trunk\n").unwrap();
    std::fs::write(
        kdir.join("kenkocall-local.cfg"),
        format!(
            "#!define LISTEN udp:127.0.0.1:{port}\n\
             #!define DS_LIST \"{ds}\"\n\
             #!define TRUNK_SOURCES \"{src}\"\n\
             #!define PROBE_SECS {PROBE_SECS}\n\
             #!define NODE_TIMEOUT_MS {NODE_TIMEOUT_MS}\n\
             #!define CTL_SOCKET \"unixs:{ctl}\"\n",
            ctl = kdir.join("ctl.sock").display(),
            ds = kdir.join("dispatcher.list").display(),
            src = kdir.join("address.list").display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(kdir.join("kamailio.log")).unwrap();
    let child = Command::new("kamailio")
        .arg("-DD")
        .arg("-E")
        .arg("-f")
        .arg(kdir.join("kamailio.cfg"))
        .args(["-m", "32", "-M", "8", "-P"])
        .arg(kdir.join("kamailio.pid"))
        .args(["-Y"])
        .arg(&kdir)
        .current_dir(&kdir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("kamailio must be installed");
    let mut peer = Peer(child);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        peer.0.try_wait().unwrap().is_none(),
        "kamailio exited: {}",
        std::fs::read_to_string(kdir.join("kamailio.log")).unwrap_or_default()
    );
    peer
}

/// RFC 4733 keys with PCMU silence: 1 s lead, 80 ms tones, 80 ms gaps, 300 ms per ','.
fn keys_pcap(dir: &Path, name: &str, keys: &str) -> PathBuf {
    let (out, make) = keys_pcap_command(dir, name, keys);
    if let Some(mut make) = make {
        assert!(make.status().expect("python3 needed").success());
    }
    out
}

/// The pcap's path, and the command that makes it unless it exists.
fn keys_pcap_command(dir: &Path, name: &str, keys: &str) -> (PathBuf, Option<Command>) {
    let out = dir.join(format!("{name}.pcap"));
    if out.exists() {
        return (out, None);
    }
    let mut c = Command::new("python3");
    c.arg(root().join("tests/tools/mkrtp.py"))
        .args(["rfc4733", keys])
        .arg(&out)
        .args(["--pt", "101", "--audio", "--lead-ms", "1000"])
        .args(["--tone-ms", "80", "--gap-ms", "80", "--pause-ms", "300"])
        .stdout(Stdio::null());
    (out, Some(c))
}

/// Prepares many callers at once (one python3 each, in parallel).
fn prepare_callers(dir: &Path, ids: &[String]) {
    let mut running = Vec::new();
    for id in ids {
        let d = dir.join(id);
        std::fs::create_dir_all(&d).unwrap();
        if let (_, Some(mut c)) = keys_pcap_command(&d, id, &report_keys(id)) {
            running.push(c.spawn().expect("python3 needed"));
        }
    }
    for mut c in running {
        assert!(c.wait().unwrap().success());
    }
}

/// The keys of one whole health report: English (the shortest goodbye), ID, birthday,
/// the answers, no one else. Everything past the language is typed ahead.
fn report_keys(hersys_id: &str) -> String {
    format!("2,{hersys_id}#0407,*365197#1222222222,2")
}

/// One caller of the trunk through Kamailio at `proxy` from SIP port `port` (media from
/// `port_media` on), keying a whole report.
/// Runs in `dir/<hersys_id>/`, where sipp's `-trace_rtt` file gives the INVITE's answer
/// time ([`answer_ms`]).
fn call(dir: &Path, proxy: u16, port: u16, port_media: u16, hersys_id: &str) -> Child {
    let pcap = prepare_caller(dir, hersys_id);
    let dir = dir.join(hersys_id);
    Command::new("sipp")
        .current_dir(&dir)
        .arg(format!("127.0.0.1:{proxy}"))
        .arg("-sf")
        .arg(root().join("tests/kamailio/uac_keys_wait_bye_rr.xml"))
        .args(["-s", LINE, "-i", "127.0.0.1", "-mi", "127.0.0.1"])
        .args(["-p", &port.to_string()])
        .args(["-mp", &port_media.to_string()])
        .args(["-m", "1", "-l", "1", "-nostdin"])
        .args(["-timeout", "60s", "-timeout_error", "-trace_err"])
        .args(["-trace_rtt", "-rtt_freq", "1"])
        .args(["-key", "pcap", pcap.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp must be installed")
}

/// The caller's directory and keys (done ahead when the call must start at once).
fn prepare_caller(dir: &Path, hersys_id: &str) -> PathBuf {
    let dir = dir.join(hersys_id);
    std::fs::create_dir_all(&dir).unwrap();
    keys_pcap(&dir, hersys_id, &report_keys(hersys_id))
}

/// How long the caller in `dir/<hersys_id>/` waited from its INVITE to the 200 (ms).
fn answer_ms(dir: &Path, hersys_id: &str) -> Option<f64> {
    let entries = std::fs::read_dir(dir.join(hersys_id)).ok()?;
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().ends_with("_rtt.csv") {
            let text = std::fs::read_to_string(e.path()).ok()?;
            return text.lines().nth(1)?.split(';').nth(1)?.parse().ok();
        }
    }
    None
}

fn wait(child: &mut Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.success();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Patients (HER-SYS IDs) with a complete report stored.
fn reported(rt: &tokio::runtime::Runtime, store: &Store) -> Vec<String> {
    let mut ids: Vec<String> = rt
        .block_on(store.list_reports(&ReportFilter::default()))
        .unwrap()
        .into_iter()
        .filter(|r| r.complete)
        .map(|r| r.hersys_id)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// Inbound calls each node answered (its log's per-call lines).
fn answered(node: &ServeNode) -> usize {
    node.log().matches("health-call answered").count()
}

#[test]
fn kamailio_spreads_calls_over_two_nodes_and_fails_over_when_one_dies() {
    let rt = runtime();
    let Some(db) = rt.block_on(common::postgres()) else {
        return;
    };
    let store = db.store.clone();
    let dir = tempfile::tempdir().unwrap();
    let proxy = 53060;
    let mut a = ServeNode::new(dir.path(), "a", &db.url, 53061, 53071, "53100-53149", "");
    let mut b = ServeNode::new(dir.path(), "b", &db.url, 53062, 53072, "53150-53199", "");
    let t_start = Instant::now();
    a.spawn();
    b.spawn();
    let patients = enrol(&rt, &store, 100, 7);
    let ids: Vec<String> = patients.iter().map(|p| p.0.clone()).collect();
    prepare_callers(dir.path(), &ids);
    a.wait_ready();
    b.wait_ready();
    eprintln!("nodes up in {:?}", t_start.elapsed());
    let t0 = Instant::now();
    let _kamailio = kamailio(dir.path(), proxy, &[53061, 53062]);

    // Four calls at once: round-robin gives each node two.
    let mut callers: Vec<Child> = (0..4)
        .map(|k| {
            call(
                dir.path(),
                proxy,
                53200 + k as u16,
                53240 + 4 * k as u16,
                &ids[k],
            )
        })
        .collect();
    for c in &mut callers {
        assert!(
            wait(c, Duration::from_secs(60)),
            "a call through Kamailio failed"
        );
    }
    assert_eq!(reported(&rt, &store), ids[..4].to_vec());
    eprintln!(
        "first four calls done {:?} after kamailio started",
        t0.elapsed()
    );
    let (on_a, on_b) = (answered(&a), answered(&b));
    assert!(
        on_a >= 1 && on_b >= 1,
        "calls not spread: a {on_a}, b {on_b}"
    );
    let before: Vec<f64> = ids[..4]
        .iter()
        .filter_map(|id| answer_ms(dir.path(), id))
        .collect();

    // Node b dies; three new calls at once keep completing on a (those sent to b before
    // Kamailio's probe notices wait one node timeout and go to a).
    prepare_callers(dir.path(), &ids[4..]);
    b.kill();
    let mut callers: Vec<Child> = (4..7)
        .map(|k| {
            call(
                dir.path(),
                proxy,
                53200 + k as u16,
                53240 + 4 * k as u16,
                &ids[k],
            )
        })
        .collect();
    for c in &mut callers {
        assert!(
            wait(c, Duration::from_secs(60)),
            "a call after the kill failed"
        );
    }
    assert_eq!(reported(&rt, &store), ids);
    let after: Vec<f64> = ids[4..]
        .iter()
        .filter_map(|id| answer_ms(dir.path(), id))
        .collect();
    assert_eq!(
        answered(&a),
        on_a + 3,
        "a did not take every call after the kill"
    );
    eprintln!(
        "FIGURES kamailio_front: before the kill a {on_a} / b {on_b} calls, answered in \
         {before:?} ms; after it all on a, answered in {after:?} ms (node timeout \
         {NODE_TIMEOUT_MS} ms, probe every {PROBE_SECS} s); calls lost 0"
    );
    a.kill();
    drop(b);
    rt.block_on(db.finish());
}

#[test]
fn rolling_restart_under_load_loses_no_started_call() {
    let rt = runtime();
    let Some(db) = rt.block_on(common::postgres()) else {
        return;
    };
    let store = db.store.clone();
    let dir = tempfile::tempdir().unwrap();
    let proxy = 53460;
    // A grace longer than any call: drained nodes let every call finish.
    let extra = "[node]\nshutdown_grace_secs = 60\n";
    let mut a = ServeNode::new(dir.path(), "a", &db.url, 53461, 53471, "53500-53549", extra);
    let mut b = ServeNode::new(dir.path(), "b", &db.url, 53462, 53472, "53550-53599", extra);
    a.spawn();
    b.spawn();
    const MAX_CALLS: usize = 48;
    let patients = enrol(&rt, &store, 200, MAX_CALLS as u32);
    let ids: Vec<String> = patients.iter().map(|p| p.0.clone()).collect();
    prepare_callers(dir.path(), &ids);
    a.wait_ready();
    b.wait_ready();
    let _kamailio = kamailio(dir.path(), proxy, &[53461, 53462]);

    // The load: a new caller every second until the restart is over.
    let results: Arc<Mutex<Vec<(String, bool)>>> = Arc::default();
    let restarting = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let load = {
        let results = results.clone();
        let restarting = restarting.clone();
        let ids = ids.clone();
        let dir = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let mut running: Vec<(String, Child)> = Vec::new();
            for (k, id) in ids.iter().enumerate() {
                if !restarting.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let k = k as u16;
                running.push((id.clone(), call(&dir, proxy, 53600 + k, 53700 + 4 * k, id)));
                std::thread::sleep(Duration::from_millis(1000));
            }
            for (id, mut c) in running {
                let ok = wait(&mut c, Duration::from_secs(60));
                results.lock().unwrap().push((id, ok));
            }
        })
    };

    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    for node in [&mut a, &mut b] {
        assert!(
            node.drain(&store, &rt),
            "{} did not exit 0 after draining",
            node.name
        );
        node.start();
        // Back in the dispatcher's set at its next probe.
        std::thread::sleep(Duration::from_secs(2 * PROBE_SECS));
    }
    let restart_took = started.elapsed();
    // A few calls more on the restarted pair.
    std::thread::sleep(Duration::from_secs(3));
    restarting.store(false, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();
    let results = results.lock().unwrap().clone();
    let failed: Vec<_> = results.iter().filter(|r| !r.1).collect();
    assert!(failed.is_empty(), "calls failed: {failed:?}");
    let mut called: Vec<String> = results.iter().map(|r| r.0.clone()).collect();
    called.sort();
    assert_eq!(
        reported(&rt, &store),
        called,
        "a started call has no complete report"
    );
    // The drains really had calls to finish (the serve logs say how many).
    let in_progress: usize = [&a, &b]
        .iter()
        .flat_map(|n| {
            n.log()
                .lines()
                .filter_map(|l| {
                    let (_, rest) = l.split_once("new calls refused; ")?;
                    rest.split_whitespace().next()?.parse::<usize>().ok()
                })
                .collect::<Vec<_>>()
        })
        .sum();
    assert!(in_progress > 0, "no call was up during a drain");
    eprintln!(
        "FIGURES rolling_restart: {} calls (one a second), both nodes drained and \
         restarted in {restart_took:?}, {in_progress} call(s) in progress at the drains, \
         calls lost: 0, a answered {}, b answered {}",
        results.len(),
        answered(&a),
        answered(&b)
    );
    a.kill();
    b.kill();
    rt.block_on(db.finish());
}
