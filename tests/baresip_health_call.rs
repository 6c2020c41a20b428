//! A real softphone on the health-call line: baresip (Debian package `baresip-core`),
//! headless and driven over its ctrl_tcp socket (tests/tools/baresip_*, copied from
//! ../shared/peers/baresip), calls the engine running in-process and keys the issue's
//! sequence as RFC 4733 events with `sndcode`. The engine hangs up after its goodbye;
//! the store then holds the complete report.

#[path = "ivr/harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::{LINE, Line, ports, reports_when, root};
use serde_json::json;

/// A silent 8 kHz mono WAV for baresip's audio source (two minutes: longer than the call).
fn silence_wav(path: &std::path::Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for _ in 0..8000 * 120 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
}

/// Kills baresip when the test ends, however it ends.
struct Baresip(std::process::Child);

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_rfc4733_keys_give_a_complete_health_call_report() {
    let p = ports(5);
    let line = Line::start(p).await;
    let id = "3456789";
    let mmdd = line.enrol(id).await;

    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("silence.wav");
    silence_wav(&wav);
    let conf = dir.path().join("baresip");
    let rtp = format!("{}-{}", p.peer_media, p.peer_media + 9);
    let out = Command::new(root().join("tests/tools/baresip_mkconf.sh"))
        .arg(&conf)
        .arg("patient")
        .arg(p.peer_sip.to_string())
        .arg(p.peer_control.to_string())
        .arg(&rtp)
        .arg(&wav)
        .arg("manual")
        .output()
        .expect("mkconf");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _baresip = Baresip(
        Command::new("baresip")
            .arg("-f")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip must be installed: apt-get install -y baresip-core"),
    );
    let ctrl = SocketAddr::from(([127, 0, 0, 1], p.peer_control));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(ctrl).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "baresip control port never opened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let target = format!("sip:{LINE}@127.0.0.1:{}", p.engine_sip);
    let steps: Vec<String> = [
        format!("cmd:dial {target}"),
        "wait:CALL_ESTABLISHED:10".into(),
        "sleep:1".into(),
        "cmd:sndcode 1".into(),
        "sleep:1.5".into(),
        format!("cmd:sndcode {id}#"),
        "sleep:2".into(),
        format!("cmd:sndcode {mmdd}"),
        // The identity check answers before the questionnaire's keys come.
        "sleep:3".into(),
        "cmd:sndcode *365".into(),
        "sleep:1.5".into(),
        "cmd:sndcode 1".into(),
        "sleep:1".into(),
        "cmd:sndcode 97#".into(),
        "sleep:1.5".into(),
        "cmd:sndcode 1".into(),
        "sleep:1".into(),
        "cmd:sndcode 222222222".into(),
        "sleep:5".into(),
        "cmd:sndcode 2".into(),
        // The engine says goodbye and hangs up.
        "wait:CALL_CLOSED:30".into(),
    ]
    .into();
    let ctl = tokio::process::Command::new("python3")
        .arg(root().join("tests/tools/baresip_ctl.py"))
        .arg(ctrl.to_string())
        .args(&steps)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("python3 runs baresip_ctl.py");
    assert!(
        ctl.status.success(),
        "baresip control failed:\n{}{}",
        String::from_utf8_lossy(&ctl.stdout),
        String::from_utf8_lossy(&ctl.stderr)
    );

    let reports = reports_when(&line, id, Duration::from_secs(5), |r| {
        r.first().is_some_and(|r| r["complete"] == json!(true))
    })
    .await;
    assert_eq!(reports.len(), 1, "{reports:#?}");
    let r = &reports[0];
    assert_eq!(r["channel"], json!("health_call"));
    assert_eq!(r["temperature_c"], json!(36.5));
    assert_eq!(r["spo2"], json!(97));
    let symptoms = r["symptoms"].as_object().expect("symptoms");
    assert_eq!(symptoms.len(), 9, "{r}");
    assert!(symptoms.values().all(|v| *v == json!(false)), "{r}");
    assert_eq!(r["complete"], json!(true));
    line.engine.shutdown().await;
}
