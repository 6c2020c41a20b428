//! Shared by tests/sip_inbound.rs and tests/sip_outbound.rs: an engine endpoint on a
//! loopback port and a real `sipp` (Debian package `sip-tester`) as the peer.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use kenkocall::config::{SipConfig, TrunkConfig};
use kenkocall::sip::{SipEndpoint, SipEvent};
use tokio::sync::mpsc;

/// Ports for one test: engine SIP, sipp SIP, sipp media, sipp control. Every test
/// passes its own `slot` so tests can run in parallel.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub engine: u16,
    pub sipp: u16,
    pub media: u16,
    pub control: u16,
}

/// The SIP tests' port block is 17000-19999: clear of the default RTP range
/// (20000-29999, which media tests and benchmarks fill) and of the ephemeral range.
pub fn ports(slot: u16) -> Ports {
    assert!(slot < 90, "slot {slot} outside the SIP tests' port block");
    Ports {
        engine: 17000 + slot * 10,
        sipp: 17001 + slot * 10,
        media: 18000 + slot * 10,
        control: 19000 + slot * 10,
    }
}

/// Ports for the real-clock timer tests (tests/sip_timers.rs): SIP and sipp's control
/// port in 41000-41999, sipp's media in 42000-42999.
pub fn timer_ports(slot: u16) -> Ports {
    assert!(
        slot < 100,
        "slot {slot} outside the timer tests' port block"
    );
    Ports {
        engine: 41000 + slot * 10,
        sipp: 41001 + slot * 10,
        media: 42000 + slot * 10,
        control: 41002 + slot * 10,
    }
}

pub const OUR_NUMBER: &str = "05031980214";

pub fn sip_config(p: Ports, max_calls: usize) -> SipConfig {
    SipConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], p.engine)),
        inbound_numbers: vec![OUR_NUMBER.into()],
        rtp_ports: "30000-30100".into(),
        max_calls,
        max_unconfirmed_calls_per_source: max_calls,
        ring_timeout_secs: 45,
        ..SipConfig::default()
    }
}

pub fn trunk_to_sipp(p: Ports) -> TrunkConfig {
    TrunkConfig {
        uri: format!("sip:127.0.0.1:{}", p.sipp),
        username: "kenko".into(),
        password: "secret".into(),
        channels: 10,
        register: false,
    }
}

pub async fn engine(
    p: Ports,
    max_calls: usize,
    trunk: TrunkConfig,
) -> (SipEndpoint, mpsc::Receiver<SipEvent>) {
    SipEndpoint::start(&sip_config(p, max_calls), &trunk)
        .await
        .expect("engine SIP endpoint starts")
}

fn scenario(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sip")
        .join(name)
}

/// A running sipp; `finish` waits for it and returns whether every call succeeded.
pub struct Sipp {
    child: std::process::Child,
    dir: tempfile::TempDir,
    name: String,
}

/// sipp calling the engine (UAC scenarios); `extra` adds or overrides arguments.
pub fn sipp_uac(scenario_file: &str, p: Ports, service: &str, extra: &[&str]) -> Sipp {
    let target = format!("127.0.0.1:{}", p.engine);
    let mut args = vec!["-s", service];
    args.extend_from_slice(extra);
    args.push(&target);
    spawn(scenario_file, p, &args)
}

/// sipp answering the engine's calls (UAS scenarios).
pub fn sipp_uas(scenario_file: &str, p: Ports) -> Sipp {
    spawn(scenario_file, p, &[])
}

/// sipp answering the engine's calls over TCP.
pub fn sipp_uas_tcp(scenario_file: &str, p: Ports) -> Sipp {
    spawn(scenario_file, p, &["-t", "t1"])
}

/// sipp placing `calls` calls at `rate` per second (load; only errors are traced).
pub fn sipp_load(scenario_file: &str, p: Ports, service: &str, rate: u32, calls: u32) -> Sipp {
    let (rate, calls, limit) = (rate.to_string(), calls.to_string(), (rate * 4).to_string());
    let target = format!("127.0.0.1:{}", p.engine);
    let args = [
        "-s", service, "-r", &rate, "-m", &calls, "-l", &limit, &target,
    ];
    spawn_with(scenario_file, p, &args, false)
}

fn spawn(scenario_file: &str, p: Ports, args: &[&str]) -> Sipp {
    spawn_with(scenario_file, p, &[&["-m", "1"][..], args].concat(), true)
}

fn spawn_with(scenario_file: &str, p: Ports, args: &[&str], trace_messages: bool) -> Sipp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (port, media, control) = (
        p.sipp.to_string(),
        p.media.to_string(),
        p.control.to_string(),
    );
    let sf = scenario(scenario_file);
    let mut cmd = Command::new("sipp");
    cmd.current_dir(dir.path())
        .arg("-sf")
        .arg(&sf)
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-mp",
            &media,
            "-cp",
            &control,
        ])
        .args([
            "-nostdin",
            "-timeout",
            "60s",
            "-timeout_error",
            "-trace_err",
        ])
        .args(if trace_messages {
            &["-trace_msg"][..]
        } else {
            &[]
        })
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = cmd
        .spawn()
        .expect("sipp must be installed for these tests: apt-get install -y sip-tester");
    Sipp {
        child,
        dir,
        name: scenario_file.to_string(),
    }
}

impl Sipp {
    /// Waits (off the async runtime) for sipp to exit; panics with its traces if any
    /// call failed.
    pub async fn expect_success(self) {
        self.expect_success_log().await;
    }

    /// Like `expect_success`, and returns sipp's message log (`-trace_msg`).
    pub async fn expect_success_log(self) -> String {
        let Sipp {
            mut child,
            dir,
            name,
        } = self;
        let status = tokio::task::spawn_blocking(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(70);
            loop {
                if let Some(status) = child.try_wait().expect("wait for sipp") {
                    return Some(status);
                }
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
        .await
        .expect("join");
        let ok = status.is_some_and(|s| s.success());
        if !ok {
            let mut traces = String::new();
            for entry in std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                traces.push_str(&format!("--- {}\n{}\n", entry.path().display(), text));
            }
            panic!("sipp {name} failed ({status:?}):\n{traces}");
        }
        let mut log = String::new();
        for entry in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry
                .file_name()
                .to_string_lossy()
                .ends_with("_messages.log")
            {
                log.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
        log
    }
}

/// The next event, or a panic naming what was awaited.
/// The next event, skipping `CallConfirmed` (an ACK arrived) unless that is what is awaited.
pub async fn next_event(rx: &mut mpsc::Receiver<SipEvent>, what: &str) -> SipEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(15), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("event channel closed waiting for {what}"));
        if what == "CallConfirmed" || !matches!(event, SipEvent::CallConfirmed { .. }) {
            return event;
        }
    }
}

pub fn local_rtp(p: Ports) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 30000 + p.engine % 100))
}
