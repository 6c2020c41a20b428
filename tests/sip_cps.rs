//! Benchmark, not a timed test (ignored by default): call setups per second. sipp calls
//! the engine, which answers and hangs up at once; the run passes only with 0 failed
//! calls, and prints the engine's CPU and RSS. Run in release mode:
//!
//!   KENKO_CPS_RATE=300 KENKO_CPS_CALLS=3000 \
//!     cargo test --release --test sip_cps -- --ignored --nocapture

#[path = "sip/harness.rs"]
mod harness;

use std::time::Instant;

use harness::*;
use kenkocall::config::TrunkConfig;
use kenkocall::sip::SipEvent;

fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's CPU time (user + system), in clock ticks (100 Hz on Linux).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name's closing parenthesis; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
#[ignore = "benchmark: run explicitly in release mode"]
async fn call_setups_per_second_with_zero_failures() {
    let (rate, calls) = (
        env_u32("KENKO_CPS_RATE", 300),
        env_u32("KENKO_CPS_CALLS", 3000),
    );
    let p = ports(80);
    let (ep, mut rx) = engine(
        p,
        5000,
        TrunkConfig {
            uri: String::new(),
            ..TrunkConfig::default()
        },
    )
    .await;
    let glue = {
        let ep = ep.clone();
        tokio::spawn(async move {
            let mut ended = 0u32;
            while let Some(ev) = rx.recv().await {
                match ev {
                    SipEvent::IncomingCall { call, .. } => {
                        let _ = ep.answer(call, local_rtp(p)).await;
                        let _ = ep.hangup(call).await;
                    }
                    SipEvent::CallEnded { .. } => ended += 1,
                    _ => {}
                }
            }
            ended
        })
    };
    let (cpu0, t0) = (cpu_ticks(), Instant::now());
    sipp_load("uac_wait_bye.xml", p, OUR_NUMBER, rate, calls)
        .expect_success()
        .await;
    let (cpu, wall) = (cpu_ticks() - cpu0, t0.elapsed());
    let counters = ep.counters();
    ep.shutdown().await;
    glue.abort();
    println!(
        "SIP CPS: {calls} calls at {rate}/s, 0 failed; wall {:.1} s; engine CPU {:.1} % of one core \
         ({:.0} µs per call); RSS {} KiB; 4xx sent {}, 5xx sent {}",
        wall.as_secs_f64(),
        cpu as f64 / 100.0 / wall.as_secs_f64() * 100.0,
        cpu as f64 * 10_000.0 / calls as f64,
        rss_kib(),
        counters.responses_4xx_sent,
        counters.responses_5xx_sent,
    );
    assert_eq!(
        counters.responses_5xx_sent, 0,
        "no call refused at capacity"
    );
}
