//! The async-facing shell: a few pacing threads ("shards") each run many `MediaSession`s on
//! one 5 ms tick against a monotonic origin; every call sends on one of four sub-ticks, so a
//! call's packets stay 20 ms apart and the work spreads over the frame. The glue creates a
//! session, sends it commands through a `MediaHandle` and reads `MediaEvent`s from a channel.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::call::NegotiatedMedia;
use crate::media::ports::{PortError, PortLease, RtpPortPool};
use crate::media::prompt::Prompt;
use crate::media::session::{MediaEvent, SessionConfig};
use crate::media::shard::{Command, NewCall, run_shard};

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error(transparent)]
    Ports(#[from] PortError),
    #[error("cannot start media thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot read local RTP address: {0}")]
    LocalAddr(std::io::Error),
    #[error("media engine is stopped")]
    Stopped,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Address RTP sockets bind to (and that SDP advertises).
    pub local_ip: IpAddr,
    /// RTP port range, `LOW-HIGH`.
    pub port_range: String,
    /// Pacing threads; calls are spread over them.
    pub shards: usize,
    /// Run pacing threads under SCHED_FIFO when permitted (root or CAP_SYS_NICE), so other
    /// work on the machine (builds, the database) cannot delay a frame.
    pub realtime: bool,
    pub session: SessionConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            local_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port_range: "20000-29999".into(),
            shards: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            realtime: true,
            session: SessionConfig::default(),
        }
    }
}

impl EngineConfig {
    /// From the config file: RTP on the SIP listen address, the `sip.rtp_ports` range and the
    /// `media` section's timeout.
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            local_ip: config.sip.listen.ip(),
            port_range: config.sip.rtp_ports.clone(),
            session: SessionConfig::from(&config.media),
            ..Self::default()
        }
    }
}

/// Engine-wide counters, updated by the shards.
#[derive(Debug, Default)]
pub struct EngineStats {
    pub active_calls: AtomicUsize,
    pub packets_sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub packets_received: AtomicU64,
    /// Invalid datagrams of closed sessions (added when a session closes).
    pub rx_dropped: AtomicU64,
    /// Valid RTP refused by strict source latching (another source, or on probation),
    /// counted as it happens.
    pub rtp_refused: AtomicU64,
    /// Sub-ticks started more than 2 ms after their due time.
    pub late_ticks: AtomicU64,
}

struct Shard {
    commands: mpsc::Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

/// Runs the media of every call on this node.
pub struct MediaEngine {
    config: EngineConfig,
    pool: RtpPortPool,
    shards: Vec<Shard>,
    next_shard: AtomicUsize,
    next_id: AtomicU64,
    stats: Arc<EngineStats>,
}

/// A bound RTP port not yet attached to a call: its address goes into the SDP offer or answer.
#[derive(Debug)]
pub struct RtpReservation {
    socket: UdpSocket,
    lease: PortLease,
    local: SocketAddr,
}

impl RtpReservation {
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

/// The call's side of its media session. Dropping it closes the session and frees the port.
#[derive(Debug)]
pub struct MediaHandle {
    id: u64,
    local: SocketAddr,
    commands: mpsc::Sender<Command>,
}

impl MediaEngine {
    pub fn start(config: EngineConfig) -> Result<Self, MediaError> {
        let pool = RtpPortPool::parse(&config.port_range)?;
        let limit = crate::media::ports::raise_open_file_limit();
        tracing::debug!(?limit, "open-file limit (one RTP socket per call)");
        let stats = Arc::new(EngineStats::default());
        let mut shards = Vec::new();
        for index in 0..config.shards.max(1) {
            let (tx, rx) = mpsc::channel();
            let stats = Arc::clone(&stats);
            let realtime = config.realtime;
            let thread = std::thread::Builder::new()
                .name(format!("media-shard-{index}"))
                .spawn(move || {
                    if realtime {
                        crate::media::shard::enter_realtime();
                    }
                    run_shard(rx, stats)
                })
                .map_err(MediaError::Thread)?;
            shards.push(Shard {
                commands: tx,
                thread: Some(thread),
            });
        }
        Ok(Self {
            config,
            pool,
            shards,
            next_shard: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            stats,
        })
    }

    pub fn stats(&self) -> &Arc<EngineStats> {
        &self.stats
    }

    /// Ports leased right now (sessions plus reservations).
    pub fn ports_in_use(&self) -> usize {
        self.pool.in_use()
    }

    /// Binds a port for a call whose media is not negotiated yet.
    pub fn reserve(&self) -> Result<RtpReservation, MediaError> {
        let (socket, lease) = self.pool.bind(self.config.local_ip)?;
        let local = socket.local_addr().map_err(MediaError::LocalAddr)?;
        Ok(RtpReservation {
            socket,
            lease,
            local,
        })
    }

    /// Starts media on a reserved port once SDP is settled and the peer has confirmed the
    /// call (an outbound call answered with 200).
    pub fn start_session(
        &self,
        reservation: RtpReservation,
        media: &NegotiatedMedia,
    ) -> Result<(MediaHandle, UnboundedReceiver<MediaEvent>), MediaError> {
        self.attach(reservation, media, false)
    }

    /// Starts media for an inbound call we answer: until [`MediaHandle::confirm`] (the
    /// ACK) or the caller's first accepted RTP, only a few packets of silence go to the
    /// SDP address and prompts wait, so a spoofed SDP cannot aim our audio at a stranger.
    pub fn create_inbound_session(
        &self,
        media: &NegotiatedMedia,
    ) -> Result<(MediaHandle, UnboundedReceiver<MediaEvent>), MediaError> {
        let reservation = self.reserve()?;
        self.attach(reservation, media, true)
    }

    fn attach(
        &self,
        reservation: RtpReservation,
        media: &NegotiatedMedia,
        awaiting_ack: bool,
    ) -> Result<(MediaHandle, UnboundedReceiver<MediaEvent>), MediaError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shard =
            &self.shards[self.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards.len()];
        let (events_tx, events_rx): (UnboundedSender<MediaEvent>, _) = unbounded_channel();
        let local = reservation.local;
        shard
            .commands
            .send(Command::Add(Box::new(NewCall {
                id,
                socket: reservation.socket,
                lease: reservation.lease,
                media: media.clone(),
                config: self.config.session,
                awaiting_ack,
                events: events_tx,
            })))
            .map_err(|_| MediaError::Stopped)?;
        let handle = MediaHandle {
            id,
            local,
            commands: shard.commands.clone(),
        };
        Ok((handle, events_rx))
    }

    /// Reserve and start in one step (the remote side is already known and confirmed).
    pub fn create_session(
        &self,
        media: &NegotiatedMedia,
    ) -> Result<(MediaHandle, UnboundedReceiver<MediaEvent>), MediaError> {
        let reservation = self.reserve()?;
        self.start_session(reservation, media)
    }
}

impl Drop for MediaEngine {
    fn drop(&mut self) {
        for shard in &self.shards {
            let _ = shard.commands.send(Command::Shutdown);
        }
        for shard in &mut self.shards {
            if let Some(thread) = shard.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl MediaHandle {
    /// Our RTP address (for the SDP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn send(&self, command: Command) -> Result<(), MediaError> {
        self.commands.send(command).map_err(|_| MediaError::Stopped)
    }

    /// Queues prompts after whatever is playing.
    pub fn play(&self, prompts: Vec<Prompt>) -> Result<(), MediaError> {
        self.send(Command::Play(self.id, prompts))
    }

    /// Barge-in: stops playback and clears the queue.
    pub fn stop_playback(&self) -> Result<(), MediaError> {
        self.send(Command::Stop(self.id))
    }

    /// A digit the SIP layer got by INFO.
    pub fn sip_info_digit(&self, key: char) -> Result<(), MediaError> {
        self.send(Command::InfoDigit(self.id, key))
    }

    /// The peer renegotiated media (re-INVITE).
    pub fn update_media(&self, media: NegotiatedMedia) -> Result<(), MediaError> {
        self.send(Command::Update(self.id, Box::new(media)))
    }

    /// The peer put the call on hold (true) or resumed it: no media timeout while on hold.
    pub fn set_on_hold(&self, on_hold: bool) -> Result<(), MediaError> {
        self.send(Command::Hold(self.id, on_hold))
    }

    /// The peer confirmed the call (ACK): media and prompts flow normally.
    pub fn confirm(&self) -> Result<(), MediaError> {
        self.send(Command::Confirm(self.id))
    }

    /// Ends the session and frees its port (also done on drop).
    pub fn close(self) {}
}

impl Drop for MediaHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Close(self.id));
    }
}
