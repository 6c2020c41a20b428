//! Media engine benchmark: N concurrent calls on loopback. The engine (this process) plays a
//! prompt on every call; a load generator (a child process, so its cost is measured apart)
//! plays N phones that send RTP with RFC 4733 digits back and measure the engine's pacing by
//! kernel arrival timestamps. Each run ends by itself after `--secs`.
//!
//! Usage: media-bench [--calls N] [--secs S] [--shards K]

mod generator;
mod net;
mod schedule;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kenkocall::call::{Codec, NegotiatedMedia};
use kenkocall::media::{EngineConfig, MediaEngine, MediaEvent, Prompt};

struct Args {
    calls: usize,
    secs: u64,
    shards: usize,
    generate: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        calls: 100,
        secs: 20,
        shards: 2,
        generate: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "generate" => args.generate = true,
            "--calls" => {
                args.calls = value("--calls")?
                    .parse()
                    .map_err(|e| format!("--calls: {e}"))?
            }
            "--secs" => {
                args.secs = value("--secs")?
                    .parse()
                    .map_err(|e| format!("--secs: {e}"))?
            }
            "--shards" => {
                args.shards = value("--shards")?
                    .parse()
                    .map_err(|e| format!("--shards: {e}"))?
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: media-bench [--calls N] [--secs S] [--shards K]"
                ));
            }
        }
    }
    if args.secs < 5 || args.secs > 60 {
        return Err("--secs must be 5..=60 (runs are bounded)".into());
    }
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let result = if args.generate {
        generator::run(args.calls, args.secs)
    } else {
        run_engine(&args)
    };
    if let Err(e) = result {
        eprintln!("media-bench: {e}");
        std::process::exit(1);
    }
}

fn field<'a>(result: &'a str, key: &str) -> &'a str {
    result
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        .unwrap_or("?")
}

fn run_engine(args: &Args) -> std::io::Result<()> {
    net::raise_fd_limit();
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args([
            "generate",
            "--calls",
            &args.calls.to_string(),
            "--secs",
            &args.secs.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut child_in = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("no child stdin"))?;
    let child_out = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no child stdout"))?;
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(child_out).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr_line = lines_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(std::io::Error::other)?;
    let gen_addr: SocketAddr = addr_line
        .strip_prefix("ADDR ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad generator line {addr_line:?}")))?;

    // Three seconds of a 300 Hz tone at -12 dBFS as "the prompt" (content does not matter).
    let samples: Vec<i16> = (0..24_000)
        .map(|i| (8000.0 * (2.0 * std::f32::consts::PI * 300.0 * i as f32 / 8000.0).sin()) as i16)
        .collect();
    let prompt = Prompt::from_samples(&samples);
    let engine = MediaEngine::start(EngineConfig {
        port_range: "20000-29999".into(),
        shards: args.shards,
        ..EngineConfig::default()
    })
    .map_err(std::io::Error::other)?;
    let media = NegotiatedMedia {
        codec: Codec::Pcmu,
        telephone_event_pt: Some(schedule::TE_PT),
        remote_rtp: gen_addr,
        ptime_ms: 20,
    };
    let rss0 = net::rss_kib();
    let mut calls = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        let (handle, events) = engine
            .create_session(&media)
            .map_err(std::io::Error::other)?;
        handle
            .play(vec![prompt.clone()])
            .map_err(std::io::Error::other)?;
        calls.push((handle, events, String::new()));
    }
    let ports: Vec<String> = calls
        .iter()
        .map(|c| c.0.local_addr().port().to_string())
        .collect();
    writeln!(child_in, "PORTS {}", ports.join(" "))?;
    child_in.flush()?;
    let cpu0 = net::cpu_seconds();
    let t0 = Instant::now();
    let mut rss_peak = net::rss_kib();
    let poll = |calls: &mut Vec<(kenkocall::media::MediaHandle, _, String)>| {
        for (handle, events, digits) in calls.iter_mut() {
            let events: &mut tokio::sync::mpsc::UnboundedReceiver<MediaEvent> = events;
            while let Ok(ev) = events.try_recv() {
                match ev {
                    MediaEvent::Digit(d) => digits.push(d.key),
                    MediaEvent::PlaybackFinished => {
                        let _ = handle.play(vec![prompt.clone()]);
                    }
                    MediaEvent::MediaTimeout => {}
                }
            }
        }
    };
    let result = loop {
        poll(&mut calls);
        rss_peak = rss_peak.max(net::rss_kib());
        match lines_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(line) if line.starts_with("RESULT") => break line,
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => return Err(std::io::Error::other(format!("generator ended: {e}"))),
        }
        if t0.elapsed() > Duration::from_secs(3 * args.secs + 10) {
            let _ = child.kill();
            return Err(std::io::Error::other("generator never reported"));
        }
    };
    let cpu = net::cpu_seconds() - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    poll(&mut calls);
    let _ = child.wait();

    let total_frames = args.secs * 1000 / schedule::FRAME_MS;
    let (mut expected, mut got, mut lost, mut wrong_calls) = (0usize, 0usize, 0usize, 0usize);
    for (i, (_, _, digits)) in calls.iter().enumerate() {
        let want = schedule::expected(i, total_frames);
        expected += want.len();
        got += digits.len();
        lost += want.len().saturating_sub(digits.len());
        wrong_calls += usize::from(*digits != want);
    }
    let stats = engine.stats();
    let n = args.calls as f64;
    let rss_per_call = (rss_peak.saturating_sub(rss0)) as f64 / n;
    let gen_cpu: f64 = field(&result, "gen_cpu_s").parse().unwrap_or(f64::NAN);
    let gen_wall: f64 = field(&result, "wall_s").parse().unwrap_or(f64::NAN);
    println!(
        "calls={} shards={} secs={}",
        args.calls, args.shards, args.secs
    );
    println!(
        "engine: cpu={:.1}% of one core ({:.2} µs CPU per call per frame), rss={} KiB total, {:.1} KiB/call, late_subticks={}, sent={}, send_errors={}",
        100.0 * cpu / wall,
        cpu / wall * 1e6 / n / 50.0,
        rss_peak,
        rss_per_call,
        stats.late_ticks.load(Ordering::Relaxed),
        stats.packets_sent.load(Ordering::Relaxed),
        stats.send_errors.load(Ordering::Relaxed),
    );
    println!(
        "pacing (receiver, |inter-arrival - 20 ms|): p50={} µs p99={} µs max={} µs over {} samples; seq gaps={}",
        field(&result, "p50_us"),
        field(&result, "p99_us"),
        field(&result, "max_us"),
        field(&result, "samples"),
        field(&result, "seq_gaps"),
    );
    println!(
        "digits: expected={expected} reported={got} lost={lost} calls with a wrong sequence={wrong_calls}; generator sent={}",
        field(&result, "digits_sent"),
    );
    println!(
        "generator: cpu={:.1}% of one core over {gen_wall:.1} s (engine measured over {wall:.1} s)",
        100.0 * gen_cpu / gen_wall
    );
    println!(
        "| {} | {:.1}% | {:.2} | {} | {} | {} | {} | {:.1} | {} | {:.1}% | {:.1} s |",
        args.calls,
        100.0 * cpu / wall,
        cpu / wall * 1e6 / n / 50.0,
        field(&result, "p50_us"),
        field(&result, "p99_us"),
        field(&result, "max_us"),
        stats.late_ticks.load(Ordering::Relaxed),
        rss_per_call,
        lost,
        100.0 * gen_cpu / gen_wall,
        gen_wall,
    );
    Ok(())
}
