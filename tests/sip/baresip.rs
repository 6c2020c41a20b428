//! A headless baresip (Debian package `baresip-core`) driven over its `ctrl_tcp` module
//! (JSON in netstrings), configured as in ../shared/peers/baresip/mkconf.sh.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Baresip {
    child: Child,
    _dir: tempfile::TempDir,
    ctrl: TcpStream,
    buf: Vec<u8>,
    /// Event types seen and not yet waited for.
    seen: Vec<String>,
}

/// 0.2 s of 8 kHz silence for baresip's audio source (it needs a real WAV file).
fn write_silence(path: &Path) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("create wav");
    for _ in 0..1600 {
        w.write_sample(0i16).expect("write wav");
    }
    w.finalize().expect("finalize wav");
}

impl Baresip {
    /// Starts baresip as `user` on `sip_port`; `auto_answer` answers incoming calls.
    pub async fn start(
        user: &str,
        sip_port: u16,
        ctrl_port: u16,
        rtp: (u16, u16),
        auto_answer: bool,
    ) -> Baresip {
        let dir = tempfile::tempdir().expect("temp dir");
        let wav = dir.path().join("silence.wav");
        write_silence(&wav);
        std::fs::create_dir_all(dir.path().join("rec")).expect("rec dir");
        let config = format!(
            "poll_method\t\tepoll\nnet_interface\t\t127.0.0.1\nsip_listen\t\t127.0.0.1:{sip_port}\n\
call_local_timeout\t120\ncall_max_calls\t\t4\naudio_player\t\taubridge,nil\naudio_source\t\taufile,{}\n\
audio_alert\t\taubridge,nil\naudio_level\t\tno\nausrc_format\t\ts16\nauplay_format\t\ts16\n\
rtp_ports\t\t{}-{}\nrtp_timeout\t\t0\nmodule_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\n\
module\t\t\taufile.so\nmodule\t\t\taubridge.so\nmodule_app\t\taccount.so\nmodule_app\t\tmenu.so\n\
module_app\t\tctrl_tcp.so\nctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}\n",
            wav.display(),
            rtp.0,
            rtp.1
        );
        std::fs::write(dir.path().join("config"), config).expect("config");
        let mode = if auto_answer { "auto" } else { "manual" };
        let account = format!(
            "<sip:{user}@127.0.0.1:{sip_port}>;regint=0;answermode={mode};audio_codecs=PCMU,PCMA\n"
        );
        std::fs::write(dir.path().join("accounts"), account).expect("accounts");
        std::fs::write(dir.path().join("contacts"), "").expect("contacts");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip must be installed for these tests: apt-get install -y baresip-core");
        let mut ctrl = None;
        for _ in 0..100 {
            if let Ok(s) = TcpStream::connect(("127.0.0.1", ctrl_port)).await {
                ctrl = Some(s);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Baresip {
            child,
            _dir: dir,
            ctrl: ctrl.expect("baresip ctrl_tcp listening"),
            buf: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// Sends one ctrl_tcp command (`dial sip:...`, `hangup`, ...).
    pub async fn command(&mut self, line: &str) {
        let (cmd, params) = line.split_once(' ').unwrap_or((line, ""));
        let body =
            serde_json::json!({ "command": cmd, "params": params, "token": cmd }).to_string();
        let framed = format!("{}:{},", body.len(), body);
        self.ctrl
            .write_all(framed.as_bytes())
            .await
            .expect("ctrl write");
    }

    /// Waits for an event of this type (e.g. `CALL_ESTABLISHED`, `CALL_CLOSED`).
    pub async fn wait_event(&mut self, kind: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(i) = self.seen.iter().position(|k| k == kind) {
                self.seen.drain(..=i);
                return;
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.ctrl.read(&mut chunk))
                .await
                .unwrap_or_else(|_| {
                    panic!("baresip: timed out waiting for {kind}; saw {:?}", self.seen)
                })
                .expect("ctrl read");
            assert!(n > 0, "baresip closed its control connection");
            self.buf.extend_from_slice(&chunk[..n]);
            self.parse_netstrings();
        }
    }

    fn parse_netstrings(&mut self) {
        loop {
            let Some(colon) = self.buf.iter().position(|b| *b == b':') else {
                return;
            };
            let Some(len) = std::str::from_utf8(&self.buf[..colon])
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
            else {
                return;
            };
            if self.buf.len() < colon + 1 + len + 1 {
                return;
            }
            let msg: serde_json::Value =
                serde_json::from_slice(&self.buf[colon + 1..colon + 1 + len]).unwrap_or_default();
            self.buf.drain(..colon + 1 + len + 1);
            if msg.get("event").and_then(|e| e.as_bool()) == Some(true)
                && let Some(kind) = msg.get("type").and_then(|t| t.as_str())
            {
                self.seen.push(kind.to_string());
            }
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
