//! The async shell around [`SipCore`]: one task owns the core, feeds it what the
//! transports receive and what the glue commands, sleeps until its next timer, and
//! carries out what it asks (send bytes, deliver events, complete dials).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::addresses::{self, Advertiser, KernelRoutes};
use super::api::{CallRef, DialOutcome, DialRequest, DialResult, RejectReason, SipEvent};
use super::connections::{ConnectionLimits, StreamTimeouts};
use super::core::{Command, CoreConfig, Output, Peer, SipCore, TransportKind, TrunkTarget};
use super::framing::SizeLimits;
use super::limits::{Counter, SipCounters, SipCountersSnapshot};
use super::transport::{self, TcpPolicy};
use super::wire::Malformed;
use crate::config::{SipConfig, TrunkConfig};

#[derive(Debug, thiserror::Error)]
pub enum SipError {
    #[error("cannot listen for SIP on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// `trunk.uri` or `trunk.proxy` (named in `key`) is unusable.
    #[error("{key} {value:?}: {reason}")]
    TrunkUri {
        key: &'static str,
        value: String,
        reason: String,
    },
    #[error("the SIP endpoint has stopped")]
    Stopped,
}

/// Inputs of the core task.
pub(crate) enum Input {
    Received {
        peer: Peer,
        bytes: Vec<u8>,
    },
    TcpOpened {
        addr: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
    },
    TcpClosed {
        addr: SocketAddr,
    },
    StreamBroken {
        peer: Peer,
        reason: &'static str,
    },
    /// A message the transport refused unread (over a size cap, unusable length).
    Refused {
        peer: Peer,
        bad: Malformed,
    },
    Command(Command),
    Dial {
        request: DialRequest,
        reply: oneshot::Sender<DialOutcome>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
    /// Time to send the trunk a keep-alive.
    KeepAlive,
}

/// Bound on queued inputs: when the core falls behind, UDP reads wait and the kernel
/// drops datagrams, instead of memory growing.
const INPUT_QUEUE: usize = 4096;

/// Our SIP user agent; cheap to clone, every clone drives the same endpoint.
#[derive(Clone)]
pub struct SipEndpoint {
    inputs: mpsc::Sender<Input>,
    counters: Arc<SipCounters>,
    local: SocketAddr,
    tasks: Arc<Vec<JoinHandle<()>>>,
}

impl SipEndpoint {
    /// Binds UDP and TCP on `sip.listen` and starts serving. Events for the glue arrive
    /// on the returned receiver.
    pub async fn start(
        sip: &SipConfig,
        trunk: &TrunkConfig,
    ) -> Result<(SipEndpoint, mpsc::Receiver<SipEvent>), SipError> {
        let bind_err = |addr, source| SipError::Bind { addr, source };
        let udp = UdpSocket::bind(sip.listen)
            .await
            .map_err(|e| bind_err(sip.listen, e))?;
        let local = udp.local_addr().map_err(|e| bind_err(sip.listen, e))?;
        let tcp = TcpListener::bind(local)
            .await
            .map_err(|e| bind_err(local, e))?;
        let trunk_target = resolve_trunk(trunk).await?;
        let counters = SipCounters::new();
        let cfg = CoreConfig {
            local,
            inbound_numbers: sip.inbound_numbers.clone(),
            max_calls: sip.max_calls,
            max_unconfirmed_per_source: sip.max_unconfirmed_calls_per_source,
            ring_timeout: Duration::from_secs(sip.ring_timeout_secs),
            trunk: trunk_target.clone(),
            called_number_from: sip.called_number_from.clone(),
        };
        for warning in addresses::config_warnings(
            local.ip(),
            sip.public_address,
            &sip.local_nets,
            trunk_target.as_ref().map(|t| t.peer.addr.ip()),
        ) {
            warn!("SIP: {warning}");
        }
        let keepalive = trunk_target
            .as_ref()
            .filter(|_| trunk.keepalive_secs > 0)
            .map(|_| Duration::from_secs(trunk.keepalive_secs));
        let mut core = SipCore::new(cfg, counters.clone());
        core.set_addresses(Advertiser::new(
            local,
            sip.public_address,
            sip.local_nets.clone(),
            Box::new(KernelRoutes::default()),
        ));
        if trunk.register {
            core.start_registration(Instant::now());
        }
        let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
        // Events are bounded by calls (a handful per call), and calls by max_calls.
        let (event_tx, event_rx) = mpsc::channel(sip.max_calls.saturating_mul(4).max(64));
        let udp = Arc::new(udp);
        let gate = Arc::new(transport::Gate {
            trusted: sip.trusted_sources.clone(),
            counters: counters.clone(),
        });
        let policy = tcp_policy(sip, counters.clone());
        let mut tasks = vec![
            tokio::spawn(transport::udp_receiver(
                udp.clone(),
                input_tx.clone(),
                gate.clone(),
                policy.clone(),
            )),
            tokio::spawn(transport::tcp_acceptor(
                tcp,
                input_tx.clone(),
                gate,
                policy.clone(),
            )),
            tokio::spawn(
                CoreTask {
                    core,
                    udp,
                    inputs: input_rx,
                    input_tx: input_tx.clone(),
                    events: event_tx,
                    tcp: HashMap::new(),
                    connecting: HashMap::new(),
                    dials: HashMap::new(),
                    counters: counters.clone(),
                    policy,
                }
                .run(),
            ),
        ];
        if let Some(period) = keepalive {
            tasks.push(tokio::spawn(keepalive_ticks(input_tx.clone(), period)));
        }
        let endpoint = SipEndpoint {
            inputs: input_tx,
            counters,
            local,
            tasks: Arc::new(tasks),
        };
        Ok((endpoint, event_rx))
    }

    /// The address we listen on (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A fresh Call-ID for [`DialRequest::call_id`], so the caller can record it first.
    pub fn new_call_id(&self) -> String {
        super::uac::new_call_id(self.local.ip())
    }

    /// Answers a ringing inbound call (200 OK with our SDP answer for `local_rtp`).
    pub async fn answer(&self, call: CallRef, local_rtp: SocketAddr) -> Result<(), SipError> {
        self.command(Command::Answer { call, local_rtp }).await
    }

    /// Refuses a ringing inbound call.
    pub async fn reject(&self, call: CallRef, reason: RejectReason) -> Result<(), SipError> {
        self.command(Command::Reject { call, reason }).await
    }

    /// Ends a call in any state (BYE, CANCEL or a refusal, as the state requires).
    pub async fn hangup(&self, call: CallRef) -> Result<(), SipError> {
        self.command(Command::Hangup { call }).await
    }

    /// Stops taking new calls: new INVITEs and OPTIONS probes get 503 from now on; calls
    /// in progress (and outbound dials) go on.
    pub async fn drain(&self) -> Result<(), SipError> {
        self.command(Command::Drain).await
    }

    /// Places a call through the trunk and waits for its outcome (answer, ring timeout,
    /// busy, ...). On `Answered`, the call stays up until `hangup` or `CallEnded`.
    pub async fn dial(&self, request: DialRequest) -> Result<DialOutcome, SipError> {
        let (reply, rx) = oneshot::channel();
        self.inputs
            .send(Input::Dial { request, reply })
            .await
            .map_err(|_| SipError::Stopped)?;
        rx.await.map_err(|_| SipError::Stopped)
    }

    pub fn counters(&self) -> SipCountersSnapshot {
        self.counters.snapshot()
    }

    /// Ends every call (BYE, CANCEL or 480; `CallEnded` with `Shutdown`), then stops
    /// every task of this endpoint. Retransmissions of those BYEs are not waited for.
    pub async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        if self.inputs.send(Input::Shutdown { done }).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(1), finished).await;
        }
        for t in self.tasks.iter() {
            t.abort();
        }
    }

    async fn command(&self, cmd: Command) -> Result<(), SipError> {
        self.inputs
            .send(Input::Command(cmd))
            .await
            .map_err(|_| SipError::Stopped)
    }
}

/// Asks the core task for a keep-alive every `period` (the first after one period).
async fn keepalive_ticks(inputs: mpsc::Sender<Input>, period: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if inputs.send(Input::KeepAlive).await.is_err() {
            return;
        }
    }
}

fn tcp_policy(sip: &SipConfig, counters: Arc<SipCounters>) -> Arc<TcpPolicy> {
    TcpPolicy::new(
        SizeLimits {
            max_header_bytes: sip.max_header_bytes,
            max_body_bytes: sip.max_body_bytes,
        },
        StreamTimeouts {
            message: Duration::from_secs(sip.tcp_message_timeout_secs),
            idle: Duration::from_secs(sip.tcp_idle_timeout_secs),
        },
        ConnectionLimits {
            max_total: sip.tcp_max_connections,
            max_per_source: sip.tcp_max_connections_per_source,
        },
        counters,
    )
}

async fn resolve_trunk(trunk: &TrunkConfig) -> Result<Option<TrunkTarget>, SipError> {
    if trunk.uri.trim().is_empty() {
        return Ok(None);
    }
    let bad = |key: &'static str, value: &str, reason: &str| SipError::TrunkUri {
        key,
        value: value.to_string(),
        reason: reason.into(),
    };
    let rest = trunk
        .uri
        .strip_prefix("sip:")
        .ok_or_else(|| bad("trunk.uri", &trunk.uri, "only sip: URIs are supported"))?;
    let (host, params) = host_and_params(rest);
    // Requests go to the proxy when one is set, else to the URI's host.
    let (via, via_params, what) = if trunk.proxy.trim().is_empty() {
        (host, params, "trunk.uri")
    } else {
        let proxy = trunk.proxy.trim();
        let (h, p) = host_and_params(proxy.strip_prefix("sip:").unwrap_or(proxy));
        (h, p, "trunk.proxy")
    };
    let transport = if via_params.to_ascii_lowercase().contains("transport=tcp") {
        TransportKind::Tcp
    } else {
        TransportKind::Udp
    };
    let lookup = if via.contains(':') {
        via.to_string()
    } else {
        format!("{via}:5060")
    };
    let addr = tokio::net::lookup_host(lookup.as_str())
        .await
        .map_err(|e| bad(what, via, &e.to_string()))?
        .next()
        .ok_or_else(|| bad(what, via, "host does not resolve"))?;
    let domain = match trunk.domain.trim() {
        "" => host.to_string(),
        d => d.to_string(),
    };
    let from_domain = match trunk.from_domain.trim() {
        "" => domain.clone(),
        d => d.to_string(),
    };
    Ok(Some(TrunkTarget {
        peer: Peer { transport, addr },
        domain,
        from_domain,
        number_format: trunk.number_format,
        params: if params.is_empty() {
            String::new()
        } else {
            format!(";{params}")
        },
        username: trunk.username.clone(),
        password: trunk.password.clone(),
    }))
}

/// `[user@]host[:port][;params]` → (`host[:port]`, `params`); the user part, if any, is
/// replaced by the callee.
fn host_and_params(rest: &str) -> (&str, &str) {
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    rest.split_once(';').unwrap_or((rest, ""))
}

struct CoreTask {
    core: SipCore,
    udp: Arc<UdpSocket>,
    inputs: mpsc::Receiver<Input>,
    input_tx: mpsc::Sender<Input>,
    events: mpsc::Sender<SipEvent>,
    tcp: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>,
    /// Messages waiting for an outbound TCP connection to open.
    connecting: HashMap<SocketAddr, Vec<Vec<u8>>>,
    dials: HashMap<CallRef, oneshot::Sender<DialOutcome>>,
    counters: Arc<SipCounters>,
    policy: Arc<TcpPolicy>,
}

impl CoreTask {
    async fn run(mut self) {
        loop {
            // Drained first, so what the core queued at start (REGISTER) goes out at once.
            self.drain().await;
            // After `handle_timeout(now)` the core's next deadline is later than `now`, so
            // this sleep always waits: a past deadline cannot make the loop spin.
            let deadline = self.core.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(t) => tokio::time::sleep_until(t.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                input = self.inputs.recv() => match input {
                    Some(Input::Shutdown { done }) => {
                        self.core.shutdown(Instant::now());
                        self.drain().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(input) => self.on_input(input),
                    None => return,
                },
                () = sleep => self.core.handle_timeout(Instant::now()),
            }
        }
    }

    fn on_input(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Received { peer, bytes } => self.core.handle_datagram(now, peer, &bytes),
            Input::Command(cmd) => self.core.handle_command(now, cmd),
            Input::Dial { request, reply } => {
                let call = self.core.allocate_ref();
                self.dials.insert(call, reply);
                self.core
                    .handle_command(now, Command::Dial { call, request });
            }
            Input::TcpOpened { addr, writer } => {
                for bytes in self.connecting.remove(&addr).unwrap_or_default() {
                    self.write_tcp(&writer, bytes);
                }
                self.tcp.insert(addr, writer);
            }
            Input::TcpClosed { addr } => {
                self.tcp.remove(&addr);
                self.connecting.remove(&addr);
            }
            Input::StreamBroken { peer, reason } => {
                self.counters.bump(Counter::MalformedDropped);
                self.core.log_bad_input(now, peer, reason);
            }
            Input::KeepAlive => {
                // A double CRLF (RFC 5626 §4.4.1): every SIP stack ignores it, and it
                // refreshes the NAT mapping the trunk's requests come back through.
                if let Some(trunk) = &self.core.cfg.trunk {
                    let peer = trunk.peer;
                    self.core.send(peer, b"\r\n\r\n".to_vec());
                }
            }
            Input::Refused { peer, bad } => self.core.handle_malformed(now, peer, bad),
            Input::Shutdown { .. } => {} // handled in `run`
        }
    }

    async fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Send { to, bytes } => self.send(to, bytes).await,
                Output::Event(ev) => {
                    if self.events.try_send(ev).is_err() {
                        self.counters.bump(Counter::EventsDropped);
                        warn!("SIP: event channel full or closed; event dropped");
                    }
                }
                Output::Dialled(outcome) => {
                    let call = outcome.call;
                    let answered = matches!(outcome.result, DialResult::Answered(_));
                    let delivered = self
                        .dials
                        .remove(&call)
                        .is_some_and(|reply| reply.send(outcome).is_ok());
                    if answered && !delivered {
                        // Nobody awaits this dial any more: do not leave the call up.
                        self.core
                            .handle_command(Instant::now(), Command::Hangup { call });
                    }
                }
            }
        }
    }

    async fn send(&mut self, to: Peer, bytes: Vec<u8>) {
        match to.transport {
            TransportKind::Udp => {
                if let Err(e) = self.udp.send_to(&bytes, to.addr).await {
                    self.counters.bump(Counter::SendFailures);
                    debug!(error = %e, peer = %to.addr, "SIP: UDP send failed");
                }
            }
            TransportKind::Tcp => match self.tcp.get(&to.addr).cloned() {
                Some(writer) => self.write_tcp(&writer, bytes),
                None => {
                    let queue = self.connecting.entry(to.addr).or_default();
                    if queue.is_empty() {
                        tokio::spawn(transport::tcp_connect(
                            to.addr,
                            self.input_tx.clone(),
                            self.policy.clone(),
                        ));
                    }
                    queue.push(bytes);
                }
            },
        }
    }

    fn write_tcp(&self, writer: &mpsc::Sender<Vec<u8>>, bytes: Vec<u8>) {
        if writer.try_send(bytes).is_err() {
            self.counters.bump(Counter::SendFailures);
        }
    }
}
