//! Timer paths that only a compressed clock had exercised, now on the real clock with the
//! real binary (`kenkocall serve` from a config file) and real peers (issue 10):
//!
//! - media timeout: the caller's RTP stops mid-call; the engine ends the call with BYE
//!   `[media] timeout_secs` later and keeps what was keyed;
//! - the IVR's first-digit and inter-digit timeouts (`[timeouts]` of the dialplan):
//!   reprompt, then end the call as the dialplan says;
//! - the dialer's job lease (`[dialer] lease_seconds`): a call five leases long keeps
//!   its job (renewed while up), so it is neither taken back nor dialled twice;
//! - Timer J (64·T1 on UDP): a retransmitted BYE is answered 200 again for 32 s after
//!   the call ended, then the dialog is forgotten (481).
//!
//! Ports 52000-52999: SIP, HTTP and sipp's SIP port per test 520x0-520x2; RTP
//! 52100-52399; sipp media 52400-52499.

mod common;

use std::fs::File;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use common::serve::{LINE, Node, NodePorts, Reaped, keys_pcap, root, runtime, signal, wait_exit};
use kenkocall::store::{
    AttemptState, CallSlots, CallingHours, CentreSettings, ContactMethod, ReportFilter,
};

/// `serve` with its log in `serve.log` (a file, so a chatty log never blocks it) at the
/// levels these tests read.
fn serve_logged(node: &Node, filter: &str) -> Reaped {
    let log = File::create(node.dir.path().join("serve.log")).unwrap();
    node.serve_with(|c| {
        c.env("RUST_LOG", filter).stderr(Stdio::from(log));
    })
}

fn log_of(node: &Node) -> String {
    std::fs::read_to_string(node.dir.path().join("serve.log")).unwrap_or_default()
}

/// Stops `serve` as operators do and checks it exits cleanly.
fn stop(node: &Node, mut serve: Reaped) -> String {
    signal(&serve, libc::SIGTERM);
    let (status, _) = wait_exit(&mut serve, Duration::from_secs(40));
    let log = log_of(node);
    assert!(status.success(), "serve exited with {status:?}: {log}");
    log
}

#[test]
fn rtp_stopping_mid_call_ends_it_with_bye_at_the_media_timeout_and_keeps_the_answers() {
    let rt = runtime();
    let timeout = 3;
    let ports = NodePorts {
        sip: 52000,
        http: 52001,
        sipp: 52002,
    };
    let node = Node::on_ports(
        ports,
        "52100-52149",
        &root().join("dialplans"),
        &format!("[media]\ntimeout_secs = {timeout}\n"),
    );
    let id = "3456701";
    let mmdd = node.enrol(&rt, id, "09011113333");
    let serve = serve_logged(&node, "info");
    // Temperature and SpO2 keyed, then the caller's RTP stops (the pcap ends) while the
    // line stays up: no BYE from the caller, who waits for ours.
    let (pcap, plays) = keys_pcap(node.dir.path(), &format!("1,{id}#{mmdd},,*365,1,97#,1"));
    let started = Instant::now();
    let mut caller = node
        .sipp(
            &root().join("tests/ivr/uac_keys_wait_bye.xml"),
            &["-mp", "52400", "-key", "pcap", pcap.to_str().unwrap()],
        )
        .spawn()
        .unwrap();
    let (status, bye_at) = wait_exit(&mut caller, plays + Duration::from_secs(40));
    assert!(status.success(), "the caller got no BYE: {}", log_of(&node));
    let after_rtp = (bye_at - started).saturating_sub(plays);
    // RTP stopped when the pcap ended; the BYE is due `timeout` later (sipp's start-up
    // and the 200 before the pcap start take a little of it).
    assert!(
        after_rtp >= Duration::from_millis(timeout * 1000 - 1000)
            && after_rtp < Duration::from_secs(timeout + 6),
        "BYE {after_rtp:?} after the RTP stopped; media timeout is {timeout} s"
    );
    let log = stop(&node, serve);
    assert!(log.contains("media timeout: ending the call"), "{log}");
    let store = node.store(&rt);
    let reports = rt
        .block_on(store.list_reports(&ReportFilter {
            hersys_id: Some(id.into()),
            since: None,
        }))
        .unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].temperature_dc(), Some(365));
    assert_eq!(reports[0].spo2, Some(97));
    assert!(!reports[0].complete);
}

/// A one-field health-call line with short digit timeouts and short prompts, so each
/// timeout is seen on the real clock in seconds. The shipped outbound plan and questions
/// come along unchanged (the loader wants all three files).
fn short_timeout_plans(dir: &Path) -> std::path::PathBuf {
    let plans = dir.join("dialplans");
    std::fs::create_dir_all(&plans).unwrap();
    for f in ["outbound.toml", "questions.toml"] {
        std::fs::copy(root().join("dialplans").join(f), plans.join(f)).unwrap();
    }
    std::fs::write(
        plans.join("inbound.toml"),
        r#"start = "hersys_id"

[timeouts]
first_digit_ms = 2000
inter_digit_ms = 1500

[nodes.hersys_id]
type = "collect"
field = "hersys_id"
prompts = ["language_menu_option"]
min_digits = 6
max_digits = 8
terminator = true
no_input = "no_input"
no_match = "invalid_entry"
max_tries = 3
on_max_tries = "given_up"
next = "entered"

[nodes.entered]
type = "hangup"
prompts = ["point"]

[nodes.given_up]
type = "hangup"
prompts = ["unit_celsius"]
"#,
    )
    .unwrap();
    plans
}

/// The prompts the engine played, play by play, from its debug log.
fn plays(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("play") && l.contains("prompts="))
        .filter_map(|l| l.split("prompts=").nth(1))
        .map(|p| p.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn first_digit_and_inter_digit_timeouts_reprompt_then_end_the_call_as_the_dialplan_says() {
    let scratch = tempfile::tempdir().unwrap();
    let plans = short_timeout_plans(scratch.path());
    let ports = NodePorts {
        sip: 52010,
        http: 52011,
        sipp: 52012,
    };
    // RTP stops with the pcap; the media timeout must not be what ends this call.
    let node = Node::on_ports(ports, "52150-52199", &plans, "[media]\ntimeout_secs = 60\n");
    let serve = serve_logged(
        &node,
        "warn,kenkocall::engine::call_runner=debug,kenkocall::ivr=info",
    );
    // Try 1: silence through the prompt (2.3 s) and the first-digit timeout (2 s): the
    // reprompt starts at ~4.4 s. Try 2: "123" at ~5.5 s (barging in), then silence: the
    // inter-digit timeout ends the entry 1.5 s later, too short: no match, reprompt.
    // Try 3: silence: first-digit timeout, the last try: the plan hangs up (`given_up`).
    let (pcap, _) = keys_pcap(node.dir.path(), ",,,123");
    let started = Instant::now();
    let mut caller = node
        .sipp(
            &root().join("tests/ivr/uac_keys_wait_bye.xml"),
            &["-mp", "52410", "-key", "pcap", pcap.to_str().unwrap()],
        )
        .spawn()
        .unwrap();
    let (status, bye_at) = wait_exit(&mut caller, Duration::from_secs(60));
    assert!(status.success(), "the caller got no BYE: {}", log_of(&node));
    let lasted = bye_at - started;
    let log = stop(&node, serve);
    assert_eq!(
        plays(&log),
        [
            "language_menu_option",
            "no_input,language_menu_option",
            "invalid_entry,language_menu_option",
            "unit_celsius",
        ],
        "{log}"
    );
    assert!(log.contains("field failed every try"), "{log}");
    // Prompts (2.3 + 5.2 + 4.7 + 0.4 s, the second cut short by the keys) and the
    // three timeouts (2 + 1.5 + 2 s): about 15 s; not ended early by anything else.
    assert!(
        lasted >= Duration::from_secs(12) && lasted < Duration::from_secs(30),
        "call lasted {lasted:?}"
    );
}

#[test]
fn a_call_five_leases_long_keeps_its_job_and_is_dialled_once() {
    let rt = runtime();
    let lease = 2;
    let call = 10;
    let ports = NodePorts {
        sip: 52020,
        http: 52021,
        sipp: 52022,
    };
    let phone_port = 52023;
    let node = Node::on_ports(
        ports,
        "52200-52249",
        &root().join("dialplans"),
        &format!(
            "[trunk]\nuri = \"sip:127.0.0.1:{phone_port}\"\n\
             [media]\ntimeout_secs = {call}\n\
             [dialer]\nlease_seconds = {lease}\npoll_ms = 200\nworkers = 2\n"
        ),
    );
    // A centre whose slot is this hour, with calls allowed all day: the planner plans it
    // at start-up and the worker dials at once.
    let store = node.store(&rt);
    let hour = Utc::now().hour() as u8;
    let centre = CentreSettings {
        timezone: "UTC".into(),
        default_slots: CallSlots::from_hours(&[hour]).unwrap(),
        calling_hours: CallingHours {
            from_minute: 0,
            until_minute: 24 * 60,
        },
        ..CentreSettings::default()
    };
    rt.block_on(store.upsert_centre("Minato", &centre, "test"))
        .unwrap();
    let id = "3456702";
    node.enrol_as(&rt, id, "09011114444", ContactMethod::AutoCall, None);
    // The phone answers and sends no RTP: the media timeout ends the call after `call` s.
    let mut phone = Command::new("sipp")
        .current_dir(node.dir.path())
        .arg("-sf")
        .arg(root().join("tests/sip/uas_answer_silent.xml"))
        .args(["-i", "127.0.0.1", "-p", &phone_port.to_string()])
        .args(["-mp", "52420", "-m", "1", "-nostdin", "-trace_err"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp must be installed");
    let serve = serve_logged(&node, "info");
    let (status, _) = wait_exit(&mut phone, Duration::from_secs(60));
    assert!(
        status.success(),
        "the phone's call did not end cleanly: {}",
        log_of(&node)
    );
    // Past the end of the call by more than a lease: a job not renewed would be taken back.
    std::thread::sleep(Duration::from_secs(lease + 2));
    let attempts = rt.block_on(store.list_attempts(Some(id))).unwrap();
    let log = stop(&node, serve);
    let dialled: Vec<_> = attempts.iter().filter(|a| a.started_at.is_some()).collect();
    assert_eq!(
        dialled.len(),
        1,
        "dialled more than once: {attempts:#?}\n{log}"
    );
    let a = dialled[0];
    // Not taken back mid-call (`interrupted`); the detail may say why no retry follows
    // (`past_window` late in the hour).
    assert_ne!(a.detail.as_deref(), Some("interrupted"), "{a:#?}");
    assert_eq!(a.state, AttemptState::Finished, "{a:#?}");
    assert!(a.outcome.is_some(), "attempt not recorded: {a:#?}");
    let (Some(from), Some(to)) = (a.started_at, a.ended_at) else {
        panic!("attempt without start or end: {a:#?}");
    };
    assert!(
        to - from >= chrono::TimeDelta::seconds(call as i64 - 1),
        "the call lasted {} s, not the {call} s the test needs",
        (to - from).num_seconds()
    );
    assert!(!log.contains("lease lost"), "{log}");
    assert!(!log.contains("attempt result not recorded"), "{log}");
}

/// A minimal UDP phone: INVITE with an SDP offer, ACK, and a BYE it can send again.
struct RawCaller {
    socket: UdpSocket,
    engine: String,
    port: u16,
}

impl RawCaller {
    fn send(&self, msg: &str) {
        self.socket.send_to(msg.as_bytes(), &self.engine).unwrap();
    }

    /// The next response whose CSeq line contains `cseq`, within `limit`.
    fn response(&self, cseq: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 65_535];
        while Instant::now() < deadline {
            self.socket
                .set_read_timeout(Some(deadline - Instant::now()))
                .unwrap();
            let Ok(n) = self.socket.recv(&mut buf) else {
                break;
            };
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if text.starts_with("SIP/2.0 ")
                && text
                    .lines()
                    .any(|l| l.starts_with("CSeq:") && l.contains(cseq))
            {
                return Some(text);
            }
        }
        None
    }

    fn header(msg: &str, name: &str) -> String {
        msg.lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.trim_end().to_string())
            .unwrap_or_default()
    }
}

#[test]
fn a_retransmitted_bye_is_answered_again_until_timer_j_then_the_dialog_is_gone() {
    let ports = NodePorts {
        sip: 52030,
        http: 52031,
        sipp: 52032,
    };
    let node = Node::on_ports(ports, "52250-52299", &root().join("dialplans"), "");
    let serve = serve_logged(&node, "info");
    let port = ports.sipp;
    let caller = RawCaller {
        socket: UdpSocket::bind(("127.0.0.1", port)).unwrap(),
        engine: format!("127.0.0.1:{}", node.sip),
        port,
    };
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 52498 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
               a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
    let head = |method: &str, branch: &str, cseq: u32, to_tag: &str| {
        format!(
            "{method} sip:{LINE}@127.0.0.1:{sip} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-{branch}\r\n\
             From: <sip:09011115555@127.0.0.1:{p}>;tag=raw-timer-j\r\n\
             To: <sip:{LINE}@127.0.0.1:{sip}>{to_tag}\r\n\
             Call-ID: timer-j@127.0.0.1\r\nCSeq: {cseq} {method}\r\n\
             Contact: <sip:09011115555@127.0.0.1:{p}>\r\nMax-Forwards: 70\r\n",
            sip = node.sip,
            p = caller.port,
        )
    };
    caller.send(&format!(
        "{}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        head("INVITE", "inv", 1, ""),
        sdp.len()
    ));
    let ok = loop {
        let r = caller
            .response("INVITE", Duration::from_secs(10))
            .expect("no answer to the INVITE");
        if r.starts_with("SIP/2.0 200") {
            break r;
        }
    };
    let to = RawCaller::header(&ok, "To:");
    let tag = to.split(";tag=").nth(1).expect("To tag in the 200");
    let to_tag = format!(";tag={tag}");
    caller.send(&format!(
        "{}Content-Length: 0\r\n\r\n",
        head("ACK", "ack", 1, &to_tag)
    ));
    std::thread::sleep(Duration::from_millis(500));
    let bye = format!(
        "{}Content-Length: 0\r\n\r\n",
        head("BYE", "bye", 2, &to_tag)
    );
    let bye_at = Instant::now();
    caller.send(&bye);
    let first = caller
        .response("BYE", Duration::from_secs(5))
        .expect("no answer to the BYE");
    assert!(first.starts_with("SIP/2.0 200"), "{first}");

    // Within 64·T1 (32 s) the same BYE, retransmitted, gets the same 200.
    std::thread::sleep(Duration::from_secs(29).saturating_sub(bye_at.elapsed()));
    caller.send(&bye);
    let again = caller
        .response("BYE", Duration::from_secs(2))
        .expect("the retransmitted BYE went unanswered within Timer J");
    assert!(again.starts_with("SIP/2.0 200"), "{again}");

    // Past it, the dialog is forgotten: no state is kept for ever.
    std::thread::sleep(Duration::from_secs(34).saturating_sub(bye_at.elapsed()));
    caller.send(&bye);
    let late = caller
        .response("BYE", Duration::from_secs(2))
        .expect("a BYE for a forgotten dialog must still be answered");
    assert!(late.starts_with("SIP/2.0 481"), "{late}");
    stop(&node, serve);
}
