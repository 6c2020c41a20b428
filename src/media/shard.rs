//! One pacing thread: owns its calls' sessions and sockets and serves them on a 5 ms sub-tick
//! against a monotonic origin (tick k is due at origin + k × 5 ms, so there is no drift); each
//! call belongs to one of four sub-ticks and is served once per 20 ms frame.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::call::NegotiatedMedia;
use crate::media::engine::EngineStats;
use crate::media::ports::PortLease;
use crate::media::prompt::Prompt;
use crate::media::rtp::MAX_PACKET;
use crate::media::session::{FRAME, MediaEvent, MediaSession, SessionConfig};
use crate::media::udp::{RX_BATCH, RxBatch};

const SUBTICKS: u32 = 4;
const SUBTICK: Duration = Duration::from_millis(5);
const SUBTICK_US: u64 = 5_000;
/// Reads per call per frame at most (a peer flooding us cannot starve the others).
const MAX_RX_BATCHES_PER_FRAME: usize = 4;
/// A sub-tick this late counts as late in the stats.
const LATE: Duration = Duration::from_millis(2);
/// Further behind than this the shard jumps ahead instead of running every missed sub-tick.
const MAX_BACKLOG: Duration = Duration::from_millis(200);

pub(crate) struct NewCall {
    pub id: u64,
    pub socket: UdpSocket,
    pub lease: PortLease,
    pub media: NegotiatedMedia,
    pub config: SessionConfig,
    /// An answered inbound call not yet ACKed: almost nothing is sent until it is.
    pub awaiting_ack: bool,
    pub events: UnboundedSender<MediaEvent>,
}

pub(crate) enum Command {
    Add(Box<NewCall>),
    Play(u64, Vec<Prompt>),
    Stop(u64),
    InfoDigit(u64, char),
    Update(u64, Box<NegotiatedMedia>),
    Confirm(u64),
    Hold(u64, bool),
    Close(u64),
    Shutdown,
}

struct Call {
    id: u64,
    session: MediaSession,
    socket: UdpSocket,
    events: UnboundedSender<MediaEvent>,
    /// Kept until the call is removed: dropping it frees the port.
    _lease: PortLease,
}

struct Shard {
    origin: Instant,
    tick: u64,
    /// Calls by sub-tick.
    slots: Vec<Vec<Call>>,
    /// Which sub-tick each call is on, so commands need not search every call.
    slot_of: HashMap<u64, usize>,
    next_slot: usize,
    stats: Arc<EngineStats>,
    tx_buf: [u8; MAX_PACKET],
    rx: RxBatch,
}

/// Asks for SCHED_FIFO on the calling thread; without the privilege the thread stays normal.
pub(crate) fn enter_realtime() {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: plain syscall wrapper on the calling thread with a valid parameter struct.
    let rc = unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
    if rc != 0 {
        tracing::warn!(
            errno = rc,
            "media pacing thread runs without real-time priority"
        );
    }
}

pub(crate) fn run_shard(commands: Receiver<Command>, stats: Arc<EngineStats>) {
    let mut shard = Shard {
        origin: Instant::now(),
        tick: 0,
        slots: (0..SUBTICKS).map(|_| Vec::new()).collect(),
        slot_of: HashMap::new(),
        next_slot: 0,
        stats,
        tx_buf: [0; MAX_PACKET],
        rx: RxBatch::default(),
    };
    loop {
        // u64 microseconds: no overflow however long the engine runs.
        let due = shard.origin + Duration::from_micros(shard.tick * SUBTICK_US);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > MAX_BACKLOG {
            // Stalled (suspended machine, overload): resume at the present sub-tick.
            let behind = (now - due).as_micros() as u64 / SUBTICK_US;
            tracing::warn!(
                behind_ms = behind * 5,
                "media pacing thread stalled; skipping ahead"
            );
            shard.tick += behind;
            continue;
        } else if now - due > LATE {
            shard.stats.late_ticks.fetch_add(1, Ordering::Relaxed);
        }
        loop {
            match commands.try_recv() {
                Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return,
                Ok(command) => shard.apply(command, due),
                Err(TryRecvError::Empty) => break,
            }
        }
        let slot = (shard.tick % u64::from(SUBTICKS)) as usize;
        shard.serve(slot, due);
        shard.tick += 1;
    }
}

impl Shard {
    fn apply(&mut self, command: Command, due: Instant) {
        match command {
            Command::Add(new) => {
                // The call sends first on its own sub-tick, the next time it comes round.
                let slot = self.next_slot;
                self.next_slot = (self.next_slot + 1) % self.slots.len();
                let current = (self.tick % u64::from(SUBTICKS)) as usize;
                let ahead = (slot + self.slots.len() - current) % self.slots.len();
                let start = due + SUBTICK * ahead as u32;
                let NewCall {
                    id,
                    socket,
                    lease,
                    media,
                    config,
                    awaiting_ack,
                    events,
                } = *new;
                let mut session = MediaSession::new(&media, config, start);
                if awaiting_ack {
                    session.await_confirmation();
                }
                self.slot_of.insert(id, slot);
                self.slots[slot].push(Call {
                    id,
                    session,
                    socket,
                    events,
                    _lease: lease,
                });
                self.stats.active_calls.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(call = id, slot, "media session started");
            }
            Command::Play(id, prompts) => {
                if let Some(call) = self.find(id) {
                    for prompt in prompts {
                        call.session.play(prompt);
                    }
                }
            }
            Command::Stop(id) => {
                if let Some(call) = self.find(id) {
                    call.session.stop_playback();
                }
            }
            Command::InfoDigit(id, key) => {
                if let Some(call) = self.find(id) {
                    call.session.sip_info_digit(Instant::now(), key);
                    call.flush_events();
                }
            }
            Command::Update(id, media) => {
                if let Some(call) = self.find(id) {
                    call.session.update_media(Instant::now(), &media);
                }
            }
            Command::Hold(id, on_hold) => {
                if let Some(call) = self.find(id) {
                    call.session.set_on_hold(Instant::now(), on_hold);
                }
            }
            Command::Confirm(id) => {
                if let Some(call) = self.find(id) {
                    call.session.confirm();
                }
            }
            Command::Close(id) => {
                let Some(slot) = self.slot_of.remove(&id) else {
                    return;
                };
                let calls = &mut self.slots[slot];
                if let Some(i) = calls.iter().position(|c| c.id == id) {
                    let call = calls.swap_remove(i);
                    self.stats.active_calls.fetch_sub(1, Ordering::Relaxed);
                    let c = call.session.counters();
                    tracing::debug!(
                        call = id,
                        received = c.accepted,
                        dropped = c.dropped(),
                        rtcp = c.rtcp,
                        "media session closed"
                    );
                    self.stats
                        .rx_dropped
                        .fetch_add(c.dropped(), Ordering::Relaxed);
                }
            }
            Command::Shutdown => {}
        }
    }

    fn find(&mut self, id: u64) -> Option<&mut Call> {
        let slot = *self.slot_of.get(&id)?;
        self.slots[slot].iter_mut().find(|c| c.id == id)
    }

    /// Sends each call's due frame first (pacing matters most), then reads what arrived.
    fn serve(&mut self, slot: usize, due: Instant) {
        let mut sent = 0u64;
        let mut errors = 0u64;
        for call in &mut self.slots[slot] {
            while let Some(tx) = call.session.poll_transmit(due, &mut self.tx_buf) {
                match call.socket.send_to(&self.tx_buf[..tx.len], tx.destination) {
                    Ok(_) => sent += 1,
                    Err(_) => errors += 1,
                }
            }
        }
        let now = Instant::now();
        let mut received = 0u64;
        let mut refused = 0u64;
        for call in &mut self.slots[slot] {
            for _ in 0..MAX_RX_BATCHES_PER_FRAME {
                // Errors (would block, ICMP port unreachable from an earlier send) read as 0.
                let count = self.rx.recv(&call.socket);
                for i in 0..count {
                    if let Some((from, datagram)) = self.rx.get(i)
                        && !call.session.handle_input(now, from, datagram)
                    {
                        refused += 1;
                    }
                }
                received += count as u64;
                if count < RX_BATCH {
                    break;
                }
            }
            call.session.handle_timeout(now);
            call.flush_events();
        }
        let s = &self.stats;
        s.packets_sent.fetch_add(sent, Ordering::Relaxed);
        s.send_errors.fetch_add(errors, Ordering::Relaxed);
        s.packets_received.fetch_add(received, Ordering::Relaxed);
        if refused > 0 {
            s.rtp_refused.fetch_add(refused, Ordering::Relaxed);
        }
    }
}

impl Call {
    fn flush_events(&mut self) {
        while let Some(event) = self.session.poll_event() {
            // The owner may have gone; its handle's drop closes us shortly.
            let _ = self.events.send(event);
        }
    }
}

// FRAME is the sub-tick period times the number of sub-ticks.
const _: () = assert!(FRAME.as_millis() == SUBTICK.as_millis() * SUBTICKS as u128);
const _: () = assert!(SUBTICK.as_micros() == SUBTICK_US as u128);
