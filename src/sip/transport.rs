//! Moving bytes: a UDP socket and a TCP listener on the SIP address, TCP connections
//! framed by Content-Length. Everything received goes to the core task as `Input`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tracing::debug;

use super::core::{Peer, TransportKind};
use super::endpoint::Input;
use super::limits::{Counter, SipCounters};
use super::wire::{StreamFrame, stream_frame};
use crate::cidr::Cidr;

/// Queued writes per TCP connection; a peer that stops reading loses messages, not memory.
const TCP_WRITE_QUEUE: usize = 256;
/// Largest UDP datagram we read.
const MAX_DATAGRAM: usize = 65_535;

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

pub(crate) async fn udp_receiver(
    socket: Arc<UdpSocket>,
    inputs: mpsc::Sender<Input>,
    gate: Arc<Gate>,
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
                let input = Input::Received {
                    peer,
                    bytes: buf[..n].to_vec(),
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
) {
    loop {
        match listener.accept().await {
            // Closed at once: nothing is read from an untrusted source.
            Ok((_, addr)) if !gate.admits(addr) => {}
            Ok((stream, addr)) => {
                tokio::spawn(tcp_connection(stream, addr, inputs.clone()));
            }
            Err(e) => debug!(error = %e, "SIP: TCP accept error"),
        }
    }
}

/// Connects to a TCP peer we must send to (the trunk), then serves it like an accepted one.
pub(crate) async fn tcp_connect(addr: SocketAddr, inputs: mpsc::Sender<Input>) {
    match TcpStream::connect(addr).await {
        Ok(stream) => tcp_connection(stream, addr, inputs).await,
        Err(e) => {
            debug!(error = %e, %addr, "SIP: TCP connect failed");
            let _ = inputs.send(Input::TcpClosed { addr }).await;
        }
    }
}

async fn tcp_connection(stream: TcpStream, addr: SocketAddr, inputs: mpsc::Sender<Input>) {
    let (mut reader, mut writer) = stream.into_split();
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
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    'read: loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            match stream_frame(&buf) {
                StreamFrame::KeepAlive(n) => {
                    buf.drain(..n);
                }
                StreamFrame::Complete(n) => {
                    let bytes: Vec<u8> = buf.drain(..n).collect();
                    if inputs.send(Input::Received { peer, bytes }).await.is_err() {
                        break 'read;
                    }
                }
                StreamFrame::Incomplete => break,
                StreamFrame::BadLength(head) => {
                    // The reader answers it with 400; then the stream is closed.
                    let bytes = buf[..head].to_vec();
                    let _ = inputs.send(Input::Received { peer, bytes }).await;
                    break 'read;
                }
                StreamFrame::Invalid(reason) => {
                    debug!(%addr, reason, "SIP: closing TCP connection with broken framing");
                    let _ = inputs.send(Input::StreamBroken { peer, reason }).await;
                    break 'read;
                }
            }
        }
    }
    // The core drops its writer on TcpClosed; the writer then flushes what is queued
    // (a last 400, say) and ends. A peer that stops reading gets 2 s.
    let _ = inputs.send(Input::TcpClosed { addr }).await;
    if tokio::time::timeout(Duration::from_secs(2), &mut write_task)
        .await
        .is_err()
    {
        write_task.abort();
    }
}
