//! For tests/sip_torture.rs: an engine endpoint on a loopback port (this test process is
//! the engine, so /proc/self/status is its memory) and raw hostile TCP/UDP clients.
//! Ports: 45000-45999.

#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use kenkocall::config::{SipConfig, TrunkConfig};
use kenkocall::sip::{SipEndpoint, SipEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};
use tokio::sync::mpsc;

pub struct Engine {
    pub sip: SipEndpoint,
    pub addr: SocketAddr,
    _events: mpsc::Receiver<SipEvent>,
}

pub async fn engine(port: u16, tweak: impl FnOnce(&mut SipConfig)) -> Engine {
    let mut cfg = SipConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], port)),
        ..SipConfig::default()
    };
    tweak(&mut cfg);
    let trunk = TrunkConfig {
        uri: String::new(),
        ..TrunkConfig::default()
    };
    let (sip, events) = SipEndpoint::start(&cfg, &trunk)
        .await
        .expect("engine SIP endpoint starts");
    Engine {
        addr: sip.local_addr(),
        sip,
        _events: events,
    }
}

/// An OPTIONS request; `length` is written as the Content-Length, `body` after it.
pub fn options(transport: &str, n: u64, length: &str, body: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:05031980214@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} 127.0.0.1:9;branch=z9hG4bK-t{n}\r\n\
         From: <sip:0901234@127.0.0.1>;tag=t{n}\r\n\
         To: <sip:05031980214@127.0.0.1>\r\n\
         Call-ID: hostile-{n}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: {length}\r\n\r\n{body}"
    )
    .into_bytes()
}

/// The status code of the first response in `bytes`.
pub fn status(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes.get(..12)?).ok()?;
    text.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
}

/// One OPTIONS over UDP: its status and round-trip time (None: no answer in 2 s).
pub async fn udp_options(engine: SocketAddr, n: u64) -> Option<(u16, Duration)> {
    udp_request(engine, &options("UDP", n, "0", "")).await
}

pub async fn udp_request(engine: SocketAddr, datagram: &[u8]) -> Option<(u16, Duration)> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let t0 = Instant::now();
    sock.send_to(datagram, engine).await.ok()?;
    let mut buf = vec![0u8; 65_535];
    let n = tokio::time::timeout(Duration::from_secs(2), sock.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some((status(&buf[..n])?, t0.elapsed()))
}

/// One OPTIONS over a fresh TCP connection: its status and round-trip time.
pub async fn tcp_options(engine: SocketAddr, n: u64) -> Option<(u16, Duration)> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(engine).await.ok()?;
    s.write_all(&options("TCP", n, "0", "")).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let got = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some((status(&buf[..got])?, t0.elapsed()))
}

/// A TCP connection to the engine from a chosen loopback source address.
pub async fn connect_from(source: IpAddr, engine: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(source, 0))?;
    sock.connect(engine).await
}

/// Reads until the engine closes the connection (or `limit` passes): what it sent, and
/// whether it closed.
pub async fn read_to_close(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut out = vec![];
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (out, true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (out, false),
        }
    }
}

/// The status of one response read from the connection (None: none within 2 s).
pub async fn read_response(s: &mut TcpStream) -> Option<u16> {
    let mut out = vec![];
    let mut buf = [0u8; 1024];
    while !out.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        out.extend_from_slice(&buf[..n]);
    }
    status(&out)
}

/// Whether the engine has closed (or reset) this connection within `wait`.
pub async fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    let mut buf = [0u8; 256];
    matches!(
        tokio::time::timeout(wait, s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// This process's resident memory, KiB (the engine runs in it).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Raises this process's open-file limit to at least `n` (up to the hard limit).
pub fn raise_nofile(n: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
    lim.rlim_cur
}

/// Percentile of a sorted list of durations, in ms.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}
