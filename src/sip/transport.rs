//! Moving bytes: a UDP socket and a TCP listener on the SIP address, TCP connections
//! framed by Content-Length. Everything received goes to the core task as `Input`.
//!
//! A hostile peer is assumed: sizes are capped before anything is buffered (`framing`),
//! accepted connections are capped per source and in total, must deliver a message in
//! time and are closed when idle (`connections`), and accept errors back off.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Notify, mpsc};
use tracing::{debug, warn};

use super::connections::{
    AcceptBackoff, ConnectionClock, ConnectionId, ConnectionLimits, ConnectionTable, StreamTimeouts,
};
use super::core::{Peer, TransportKind};
use super::endpoint::Input;
use super::framing::{SizeLimits, StreamEvent, StreamFramer};
use super::limits::{Counter, LogLimiter, LogVerdict, SipCounters};
use crate::cidr::Cidr;

/// Queued writes per TCP connection; a peer that stops reading loses messages, not memory.
const TCP_WRITE_QUEUE: usize = 256;
/// Largest UDP datagram we read.
const MAX_DATAGRAM: usize = 65_535;
/// One read from a TCP connection; on the stack, so idle connections hold no read buffer.
const READ_CHUNK: usize = 8 * 1024;
/// Accept errors and refusals are logged at most once per this interval.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// `sip.trusted_sources`: who may talk to us. Anything else is dropped here, before
/// parsing, without a reply (a reply would confirm to a scanner that we exist).
pub(crate) struct Gate {
    pub trusted: Vec<Cidr>,
    pub counters: Arc<SipCounters>,
}

impl Gate {
    fn admits(&self, addr: SocketAddr) -> bool {
        if self.trusted.is_empty() || Cidr::any_contains(&self.trusted, addr.ip()) {
            return true;
        }
        self.counters.bump(Counter::UntrustedDropped);
        false
    }
}

/// What every TCP connection task shares: the limits and the count of open connections.
pub(crate) struct TcpPolicy {
    pub sizes: SizeLimits,
    pub timeouts: StreamTimeouts,
    pub counters: Arc<SipCounters>,
    table: Mutex<ConnectionTable>,
    /// How the acceptor closes a connection the table evicted.
    evictions: Mutex<HashMap<ConnectionId, Arc<Notify>>>,
}

impl TcpPolicy {
    pub(crate) fn new(
        sizes: SizeLimits,
        timeouts: StreamTimeouts,
        limits: ConnectionLimits,
        counters: Arc<SipCounters>,
    ) -> Arc<Self> {
        Arc::new(Self {
            sizes,
            timeouts,
            counters,
            table: Mutex::new(ConnectionTable::new(limits)),
            evictions: Mutex::new(HashMap::new()),
        })
    }

    fn table(&self) -> MutexGuard<'_, ConnectionTable> {
        // The table is counters and sets: still consistent after a panic elsewhere.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn evictions(&self) -> MutexGuard<'_, HashMap<ConnectionId, Arc<Notify>>> {
        self.evictions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes a connection the table displaced for a newcomer.
    fn evict(&self, id: ConnectionId) {
        if let Some(close) = self.evictions().remove(&id) {
            self.counters.bump(Counter::TcpEvicted);
            close.notify_one();
        }
    }
}

/// One admitted connection's place in the table, given back however its task ends.
struct Admitted {
    policy: Arc<TcpPolicy>,
    id: ConnectionId,
    /// Notified when a newcomer displaced this (still silent) connection.
    evicted: Arc<Notify>,
}

impl Admitted {
    fn new(policy: &Arc<TcpPolicy>, id: ConnectionId) -> Self {
        let evicted = Arc::new(Notify::new());
        policy.evictions().insert(id, evicted.clone());
        Self {
            policy: policy.clone(),
            id,
            evicted,
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.policy.table().release(self.id);
        self.policy.evictions().remove(&self.id);
    }
}

/// Resolves when an accepted connection was evicted; never for one we opened.
async fn evicted(place: Option<&Admitted>) {
    match place {
        Some(p) => p.evicted.notified().await,
        None => std::future::pending().await,
    }
}

pub(crate) async fn udp_receiver(
    socket: Arc<UdpSocket>,
    inputs: mpsc::Sender<Input>,
    gate: Arc<Gate>,
    policy: Arc<TcpPolicy>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((_, addr)) if !gate.admits(addr) => {}
            Ok((n, addr)) => {
                let peer = Peer {
                    transport: TransportKind::Udp,
                    addr,
                };
                let input = match policy.sizes.check_datagram(&buf[..n]) {
                    Ok(()) => Input::Received {
                        peer,
                        bytes: buf[..n].to_vec(),
                    },
                    Err(bad) => {
                        policy.counters.bump(Counter::TooLarge);
                        Input::Refused { peer, bad }
                    }
                };
                if inputs.send(input).await.is_err() {
                    return;
                }
            }
            // ICMP port unreachable and the like surface here on some systems: keep going.
            Err(e) => debug!(error = %e, "SIP: UDP receive error"),
        }
    }
}

pub(crate) async fn tcp_acceptor(
    listener: TcpListener,
    inputs: mpsc::Sender<Input>,
    gate: Arc<Gate>,
    policy: Arc<TcpPolicy>,
) {
    let mut backoff = AcceptBackoff::default();
    let mut error_log = LogLimiter::new(ACCEPT_LOG_INTERVAL, 1);
    let mut refusal_log = LogLimiter::new(ACCEPT_LOG_INTERVAL, 1);
    loop {
        match listener.accept().await {
            // Closed at once: nothing is read from an untrusted source.
            Ok((_, addr)) if !gate.admits(addr) => {}
            Ok((stream, addr)) => {
                backoff.on_success();
                let admitted = policy.table().admit(addr.ip());
                match admitted {
                    Ok(admission) => {
                        if let Some(old) = admission.evicted {
                            policy.evict(old);
                        }
                        let place = Admitted::new(&policy, admission.id);
                        let task = tcp_connection(
                            stream,
                            addr,
                            inputs.clone(),
                            policy.clone(),
                            Some(place),
                        );
                        tokio::spawn(task);
                    }
                    Err(refusal) => {
                        policy.counters.bump(Counter::TcpRefusedAtCap);
                        // A reset, not a FIN: no TIME_WAIT left behind per refused connection.
                        let _ = stream.set_zero_linger();
                        drop(stream);
                        if let LogVerdict::Log { suppressed_before } =
                            refusal_log.check(Instant::now())
                        {
                            warn!(peer = %addr, ?refusal, suppressed_before,
                                "SIP: TCP connection refused: connection cap reached");
                        }
                    }
                }
            }
            Err(e) => {
                let wait = backoff.on_error(&e);
                if let LogVerdict::Log { suppressed_before } = error_log.check(Instant::now()) {
                    warn!(error = %e, backoff_ms = wait.as_millis() as u64, suppressed_before,
                        "SIP: TCP accept failed");
                }
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// Connects to a TCP peer we must send to (the trunk), then serves it like an accepted
/// one (without the caps and first-message deadline, which are for strangers).
pub(crate) async fn tcp_connect(
    addr: SocketAddr,
    inputs: mpsc::Sender<Input>,
    policy: Arc<TcpPolicy>,
) {
    match TcpStream::connect(addr).await {
        Ok(stream) => tcp_connection(stream, addr, inputs, policy, None).await,
        Err(e) => {
            debug!(error = %e, %addr, "SIP: TCP connect failed");
            let _ = inputs.send(Input::TcpClosed { addr }).await;
        }
    }
}

/// Serves one connection until it closes; `place` (accepted connections only) holds its
/// place in the connection table until then, however the task ends.
async fn tcp_connection(
    stream: TcpStream,
    addr: SocketAddr,
    inputs: mpsc::Sender<Input>,
    policy: Arc<TcpPolicy>,
    place: Option<Admitted>,
) {
    let accepted = place.is_some();
    let mut spoke = false;
    let (reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(TCP_WRITE_QUEUE);
    if inputs
        .send(Input::TcpOpened { addr, writer: tx })
        .await
        .is_err()
    {
        return;
    }
    let mut write_task = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let peer = Peer {
        transport: TransportKind::Tcp,
        addr,
    };
    let mut framer = StreamFramer::new(policy.sizes);
    let mut clock = ConnectionClock::new(Instant::now(), policy.timeouts, accepted);
    'read: loop {
        tokio::select! {
            ready = reader.readable() => {
                if ready.is_err() {
                    break;
                }
            }
            () = evicted(place.as_ref()) => {
                debug!(%addr, "SIP: closing a silent TCP connection for a newcomer (cap reached)");
                break;
            }
            () = tokio::time::sleep_until(clock.deadline().into()) => {
                if let Some(reason) = clock.expired(Instant::now()) {
                    policy.counters.bump(Counter::TcpTimedOut);
                    debug!(%addr, reason, "SIP: closing TCP connection");
                    break;
                }
                continue;
            }
        }
        {
            let mut chunk = [0u8; READ_CHUNK];
            match reader.try_read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => framer.push(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(_) => break,
            }
        }
        let mut delivered = 0;
        while let Some(event) = framer.next_event() {
            let input = match event {
                StreamEvent::Message(bytes) => {
                    delivered += 1;
                    Input::Received { peer, bytes }
                }
                StreamEvent::Refused(bad) => Input::Refused { peer, bad },
                StreamEvent::TooLarge(bad) => {
                    policy.counters.bump(Counter::TooLarge);
                    Input::Refused { peer, bad }
                }
                StreamEvent::Broken(reason) => {
                    debug!(%addr, reason, "SIP: closing TCP connection with broken framing");
                    Input::StreamBroken { peer, reason }
                }
            };
            let last = !matches!(input, Input::Received { .. });
            // After a refusal the core answers (400/413) and the connection is closed.
            if inputs.send(input).await.is_err() || last {
                break 'read;
            }
        }
        clock.on_bytes(Instant::now(), framer.in_message(), delivered);
        if delivered > 0 && !spoke {
            spoke = true;
            if let Some(p) = &place {
                policy.table().spoke(p.id);
            }
        }
    }
    // The core drops its writer on TcpClosed; the writer then flushes what is queued
    // (a last 400 or 413, say) and ends. A peer that stops reading gets 2 s.
    let _ = inputs.send(Input::TcpClosed { addr }).await;
    if tokio::time::timeout(Duration::from_secs(2), &mut write_task)
        .await
        .is_err()
    {
        write_task.abort();
    }
}
