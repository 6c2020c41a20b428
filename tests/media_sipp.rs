//! The media engine against SIPp (package `sip-tester`; pcap playback needs root):
//! RFC 4733 and in-band PCMU pcaps and SIPp's built-in `play_dtmf` (PT 96 after PT 97
//! fillers) each give exactly `*`, `3`, `6`, `5` with the right source.
//!
//! SIP here is a TEST FIXTURE, not product code: the real stack is `crate::sip`. The fixture
//! answers one INVITE with an SDP pointing at an engine session, and 200s the BYE.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use kenkocall::call::{Codec, Digit, DigitSource, NegotiatedMedia};
use kenkocall::media::{EngineConfig, MediaEngine, MediaEvent};
use tokio::net::UdpSocket;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Header lines of a SIP message named `name` (case-insensitive), in order.
fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| {
            l.split_once(':')
                .is_some_and(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        })
        .collect()
}

fn response(request: &str, status: &str, to_tag: &str, sdp: Option<&str>) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for name in ["Via", "From", "Call-ID", "CSeq"] {
        for line in headers(request, name) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    for line in headers(request, "To") {
        if line.contains("tag=") {
            out.push_str(line);
        } else {
            out.push_str(&format!("{line};tag={to_tag}"));
        }
        out.push_str("\r\n");
    }
    out.push_str("Contact: <sip:ivr@127.0.0.1>\r\n");
    match sdp {
        Some(body) => out.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )),
        None => out.push_str("Content-Length: 0\r\n\r\n"),
    }
    out
}

/// The offer's audio port and telephone-event payload type, by plain string handling.
fn parse_offer(invite: &str) -> (u16, Option<u8>) {
    let body = invite.split("\r\n\r\n").nth(1).unwrap_or("");
    let mut port = 0;
    let mut te = None;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("m=audio ") {
            port = rest.split_whitespace().next().unwrap().parse().unwrap();
        }
        if let Some(rest) = line.strip_prefix("a=rtpmap:")
            && rest.contains("telephone-event")
        {
            te = rest.split_whitespace().next().unwrap().parse().ok();
        }
    }
    (port, te)
}

/// Answers one call from SIPp with an engine session; returns the digits it reported.
async fn answer_one_call(engine: &MediaEngine, sip: UdpSocket) -> Vec<Digit> {
    let mut buf = vec![0u8; 65535];
    let mut digits = Vec::new();
    let mut session = None;
    let mut answer = String::new();
    loop {
        let (len, from) = tokio::select! {
            r = sip.recv_from(&mut buf) => r.unwrap(),
            Some(ev) = async {
                match &mut session { Some((_, events)) => events_recv(events).await, None => std::future::pending().await }
            } => {
                if let MediaEvent::Digit(d) = ev { digits.push(d) }
                continue;
            }
        };
        let msg = String::from_utf8_lossy(&buf[..len]).to_string();
        if msg.starts_with("INVITE") {
            if session.is_none() {
                let (port, te) = parse_offer(&msg);
                let media = NegotiatedMedia {
                    codec: Codec::Pcmu,
                    telephone_event_pt: te,
                    remote_rtp: SocketAddr::from(([127, 0, 0, 1], port)),
                    ptime_ms: 20,
                };
                let (handle, events) = engine.create_session(&media).unwrap();
                let te_lines = te.map_or(String::new(), |pt| {
                    format!(" {pt}\r\na=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16")
                });
                let (m_tail, attrs) = te_lines.split_once("\r\n").unwrap_or(("", ""));
                let sdp = format!(
                    "v=0\r\no=ivr 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                     m=audio {} RTP/AVP 0{m_tail}\r\na=rtpmap:0 PCMU/8000\r\n{attrs}{}a=ptime:20\r\na=sendrecv\r\n",
                    handle.local_addr().port(),
                    if attrs.is_empty() { "" } else { "\r\n" },
                );
                answer = response(&msg, "200 OK", "fixture1", Some(&sdp));
                session = Some((handle, events));
            }
            sip.send_to(answer.as_bytes(), from).await.unwrap();
        } else if msg.starts_with("BYE") {
            sip.send_to(response(&msg, "200 OK", "fixture1", None).as_bytes(), from)
                .await
                .unwrap();
            // Digits already detected may still be in the channel.
            if let Some((_, events)) = &mut session {
                while let Ok(Some(ev)) =
                    tokio::time::timeout(Duration::from_millis(200), events.recv()).await
                {
                    if let MediaEvent::Digit(d) = ev {
                        digits.push(d);
                    }
                }
            }
            return digits;
        }
    }
}

async fn events_recv(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<MediaEvent>,
) -> Option<MediaEvent> {
    events.recv().await
}

/// Runs SIPp's UAC `scenario` against the fixture and returns the engine's digits.
async fn run_sipp(
    scenario: &str,
    extra: &[&str],
    sipp_port: u16,
    media_port: u16,
    rtp: &str,
) -> Vec<Digit> {
    assert!(
        std::process::Command::new("sipp")
            .arg("-v")
            .output()
            .is_ok(),
        "sipp not installed: apt-get install -y sip-tester"
    );
    let engine = MediaEngine::start(EngineConfig {
        port_range: rtp.into(),
        shards: 1,
        ..EngineConfig::default()
    })
    .unwrap();
    let sip = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = sip.local_addr().unwrap().to_string();
    let scenario = data(&format!("sipp/{scenario}"));
    let mut args: Vec<String> = vec![
        target,
        "-sf".into(),
        scenario.display().to_string(),
        "-s".into(),
        "ivr".into(),
        "-i".into(),
        "127.0.0.1".into(),
        "-p".into(),
        sipp_port.to_string(),
        "-mi".into(),
        "127.0.0.1".into(),
        "-mp".into(),
        media_port.to_string(),
        "-m".into(),
        "1".into(),
        "-l".into(),
        "1".into(),
        "-d".into(),
        "3500".into(),
        "-timeout".into(),
        "30s".into(),
        "-timeout_error".into(),
        "-nostdin".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let sipp = tokio::process::Command::new("sipp")
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let digits = tokio::time::timeout(Duration::from_secs(40), answer_one_call(&engine, sip))
        .await
        .expect("call did not complete");
    let out = sipp.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "sipp failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    digits
}

fn keys(digits: &[Digit]) -> String {
    digits.iter().map(|d| d.key).collect()
}

#[tokio::test]
async fn sipp_rfc4733_pcap_gives_star_365_by_telephone_event() {
    let pcap = data("dtmf4733_star365.pcap").display().to_string();
    let digits = run_sipp(
        "uac_dtmf.xml",
        &["-key", "pcap", &pcap],
        35061,
        35100,
        "32000-32099",
    )
    .await;
    assert_eq!(keys(&digits), "*365");
    assert!(
        digits.iter().all(|d| d.source == DigitSource::Rfc4733),
        "{digits:?}"
    );
}

#[tokio::test]
async fn sipp_in_band_pcmu_pcap_gives_star_365_by_tones() {
    let pcap = data("inband_star365_pcmu.pcap").display().to_string();
    let digits = run_sipp(
        "uac_dtmf.xml",
        &["-key", "pcap", &pcap],
        35063,
        35200,
        "32100-32199",
    )
    .await;
    assert_eq!(keys(&digits), "*365");
    assert!(
        digits.iter().all(|d| d.source == DigitSource::InBand),
        "{digits:?}"
    );
}

#[tokio::test]
async fn sipp_builtin_play_dtmf_on_pt_96_after_pt_97_fillers_gives_star_365() {
    let digits = run_sipp("uac_play_dtmf.xml", &[], 35065, 35300, "32200-32299").await;
    assert_eq!(keys(&digits), "*365");
    assert!(
        digits.iter().all(|d| d.source == DigitSource::Rfc4733),
        "{digits:?}"
    );
}
