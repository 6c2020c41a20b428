//! The load generator (child process): plays N phones from one UDP socket. Each phone sends
//! PCMU silence every 20 ms with RFC 4733 digits on a fixed schedule, and measures the engine's
//! packets by kernel arrival time: |inter-arrival − 20 ms| into a histogram, sequence gaps.

use std::io::{BufRead, Write};
use std::net::{SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use crate::net;
use crate::schedule::{self, FRAME_MS, WARMUP_FRAMES};

/// Histogram of pacing error in 10 µs buckets up to 100 ms.
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max_us: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            buckets: vec![0; 10_001],
            count: 0,
            max_us: 0,
        }
    }
    fn add(&mut self, us: u64) {
        self.buckets[(us / 10).min(10_000) as usize] += 1;
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }
    fn quantile_us(&self, q: f64) -> u64 {
        let target = (self.count as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return i as u64 * 10 + 10;
            }
        }
        self.max_us
    }
}

struct Phone {
    engine: SocketAddrV4,
    seq: u16,
    ts: u32,
    last_arrival_ns: i64,
    last_seq: Option<u16>,
}

/// 50 frames of μ-law white noise at about -20 dBFS (no DTMF in it: the detector's tests show
/// no talk-off on noise).
fn noise_frames() -> Vec<[u8; 160]> {
    let mut state = 0x9E37_79B9u32;
    (0..50)
        .map(|_| {
            let mut frame = [0u8; 160];
            for b in &mut frame {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *b = kenkocall::media::g711::ulaw_encode(((state >> 16) as i16) / 10);
            }
            frame
        })
        .collect()
}

pub fn run(calls: usize, secs: u64) -> std::io::Result<()> {
    net::raise_fd_limit();
    // Below the engine's pacing threads (10), above ordinary work.
    let rt = std::env::var_os("MEDIA_BENCH_GEN_NO_RT").is_none() && net::realtime(5);
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    net::prepare(&socket)?;
    let mut out = std::io::stdout();
    writeln!(out, "ADDR {}", socket.local_addr()?)?;
    out.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let ports: Vec<u16> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(ports.len(), calls, "engine sent {} ports", ports.len());
    let mut by_port = vec![u32::MAX; 65536];
    let mut phones: Vec<Phone> = ports
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            by_port[usize::from(p)] = i as u32;
            Phone {
                engine: SocketAddrV4::new([127, 0, 0, 1].into(), p),
                seq: (i as u16).wrapping_mul(7919),
                ts: (i as u32).wrapping_mul(104_729),
                last_arrival_ns: 0,
                last_seq: None,
            }
        })
        .collect();

    let noise = noise_frames();
    let cpu0 = net::cpu_seconds();
    let origin = Instant::now();
    let total_frames = secs * 1000 / FRAME_MS;
    let mut hist = Histogram::new();
    let mut received = 0u64;
    let mut seq_gaps = 0u64;
    let mut sent = 0u64;
    let mut digits_sent = 0u64;
    let mut rx = net::Receiver::new();
    let mut arena: Vec<([u8; 172], usize, SocketAddrV4)> = Vec::with_capacity(calls / 4 + 1);
    // Four sub-ticks per frame: each phone sends on its own quarter.
    let ticks = total_frames * 4;
    // Bounded even when starved of CPU: give up on the schedule after twice its length.
    let give_up = Duration::from_secs(2 * secs + 5);
    for tick in 0..ticks {
        if origin.elapsed() > give_up {
            break;
        }
        let due = origin + Duration::from_micros(tick * FRAME_MS * 250);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let frame = tick / 4;
        let quarter = (tick % 4) as usize;
        arena.clear();
        for (i, phone) in phones.iter_mut().enumerate().skip(quarter).step_by(4) {
            let mut pkt = [0xFFu8; 172];
            let (pt, marker, ts, len) = match schedule::event_at(i, frame, total_frames) {
                Some(ev) => {
                    if ev.first_end_packet {
                        digits_sent += 1;
                    }
                    pkt[12..16].copy_from_slice(&ev.payload);
                    let ts = phone.ts.wrapping_sub(ev.frames_into_event * 160);
                    (schedule::TE_PT, ev.marker, ts, 16)
                }
                None => {
                    // Noise, not silence: every frame goes through the engine's G.711 decode
                    // and in-band detector the way a caller's voice would.
                    let f = (frame as usize + i) % noise.len();
                    pkt[12..172].copy_from_slice(&noise[f]);
                    (0, false, phone.ts, 172)
                }
            };
            pkt[0] = 0x80;
            pkt[1] = pt | if marker { 0x80 } else { 0 };
            pkt[2..4].copy_from_slice(&phone.seq.to_be_bytes());
            pkt[4..8].copy_from_slice(&ts.to_be_bytes());
            pkt[8..12].copy_from_slice(&(i as u32 + 1).to_be_bytes());
            phone.seq = phone.seq.wrapping_add(1);
            phone.ts = phone.ts.wrapping_add(160);
            arena.push((pkt, len, phone.engine));
        }
        let batch: Vec<(&[u8], SocketAddrV4)> =
            arena.iter().map(|(p, len, to)| (&p[..*len], *to)).collect();
        sent += net::send_batch(&socket, &batch) as u64;
        while rx.recv_batch(&socket, |r| {
            let idx = by_port[usize::from(r.from_port)];
            if idx == u32::MAX || r.data.len() < 12 {
                return;
            }
            received += 1;
            let phone = &mut phones[idx as usize];
            let seq = u16::from_be_bytes([r.data[2], r.data[3]]);
            if let Some(last) = phone.last_seq
                && seq != last.wrapping_add(1)
            {
                seq_gaps += 1;
            }
            phone.last_seq = Some(seq);
            if frame >= WARMUP_FRAMES && phone.last_arrival_ns != 0 {
                let delta = r.arrival_ns - phone.last_arrival_ns;
                hist.add((delta - FRAME_MS as i64 * 1_000_000).unsigned_abs() / 1000);
            }
            phone.last_arrival_ns = r.arrival_ns;
        }) > 0
        {}
    }
    let cpu = net::cpu_seconds() - cpu0;
    let wall = origin.elapsed().as_secs_f64();
    writeln!(
        out,
        "RESULT sent={sent} received={received} seq_gaps={seq_gaps} digits_sent={digits_sent} \
         samples={} p50_us={} p99_us={} max_us={} gen_cpu_s={cpu:.3} wall_s={wall:.3} gen_realtime={rt}",
        hist.count,
        hist.quantile_us(0.50),
        hist.quantile_us(0.99),
        hist.max_us,
    )?;
    out.flush()
}
