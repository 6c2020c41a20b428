//! One call's media, sans-IO: fed the peer's datagrams and the time, it yields the next 20 ms
//! RTP packet to send (prompt audio or silence, never a gap) and events (digits, playback
//! finished, media timeout). The engine owns sockets and clocks.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::call::{Codec, Digit, DigitSource, NegotiatedMedia};
use crate::media::dedup::{DEFAULT_WINDOW, DigitDedup};
use crate::media::g711;
use crate::media::inband::InbandDetector;
use crate::media::latch::{LatchConfig, RtpLatch};
use crate::media::prompt::Prompt;
use crate::media::rfc4733::TelephoneEventDecoder;
use crate::media::rtp::{RtpDrop, RtpReceiver, RtpSender, RxCounters, SAMPLES_PER_FRAME};

/// Packet interval; we always send 20 ms frames.
pub const FRAME: Duration = Duration::from_millis(20);
/// Further behind than this (engine stalled), frames are skipped rather than sent in a burst.
const MAX_LATE_FRAMES: u32 = 3;
/// Packets sent to a peer that has not confirmed the call (no ACK, no RTP from it yet):
/// enough to open a NAT pinhole, too few for a spoofed SDP address to make us a reflector.
pub const UNCONFIRMED_PACKETS: u64 = 5;
const FRAME_BYTES: usize = SAMPLES_PER_FRAME as usize;

/// What the call's owner hears from its media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaEvent {
    /// A key press, reported once whatever the number of sources carrying it.
    Digit(Digit),
    /// The play queue ran empty (not sent after `stop_playback`).
    PlaybackFinished,
    /// No RTP from the peer for the configured time; the call should end.
    MediaTimeout,
}

/// A packet to send: the first `len` bytes of the buffer given to `poll_transmit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// No RTP for this long raises `MediaTimeout`.
    pub media_timeout: Duration,
    /// Window in which one key from two sources counts as one press.
    pub dedup_window: Duration,
    /// Which sources' RTP is accepted (strict latching with probation).
    pub latch: LatchConfig,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            media_timeout: Duration::from_secs(30),
            dedup_window: DEFAULT_WINDOW,
            latch: LatchConfig::default(),
        }
    }
}

impl From<&crate::config::MediaConfig> for SessionConfig {
    fn from(c: &crate::config::MediaConfig) -> Self {
        Self {
            media_timeout: Duration::from_secs(c.timeout_secs),
            latch: LatchConfig {
                probation: c.rtp_probation_packets,
                quiet: Duration::from_millis(c.rtp_source_quiet_ms),
            },
            ..Self::default()
        }
    }
}

pub struct MediaSession {
    config: SessionConfig,
    codec: Codec,
    telephone_event_pt: Option<u8>,
    destination: SocketAddr,
    sender: RtpSender,
    receiver: RtpReceiver,
    telephone_events: TelephoneEventDecoder,
    inband: InbandDetector,
    dedup: DigitDedup,
    queue: VecDeque<Prompt>,
    /// Audio being played and the offset of its next frame.
    playing: Option<(Arc<[u8]>, usize)>,
    /// The next audio frame starts a talk-spurt (RTP marker bit).
    talkspurt_start: bool,
    next_send: Instant,
    last_rx: Instant,
    /// The peer showed it wants this media (ACK, or RTP we accepted); until then only
    /// `UNCONFIRMED_PACKETS` of silence go out and prompts wait.
    confirmed: bool,
    timed_out: bool,
    /// The peer put us on hold: it sends no RTP, so silence is no media timeout.
    on_hold: bool,
    events: VecDeque<MediaEvent>,
}

impl MediaSession {
    /// A session that sends its first packet at `now` and every 20 ms after.
    pub fn new(media: &NegotiatedMedia, config: SessionConfig, now: Instant) -> Self {
        Self::with_sender(
            media,
            config,
            now,
            RtpSender::new(media.codec.payload_type()),
        )
    }

    pub fn with_sender(
        media: &NegotiatedMedia,
        config: SessionConfig,
        now: Instant,
        sender: RtpSender,
    ) -> Self {
        Self {
            config,
            codec: media.codec,
            telephone_event_pt: media.telephone_event_pt,
            destination: media.remote_rtp,
            sender,
            receiver: RtpReceiver::new(RtpLatch::new(config.latch, media.remote_rtp, now)),
            telephone_events: TelephoneEventDecoder::default(),
            inband: InbandDetector::default(),
            dedup: DigitDedup::new(config.dedup_window),
            queue: VecDeque::new(),
            playing: None,
            talkspurt_start: true,
            next_send: now,
            last_rx: now,
            confirmed: true,
            timed_out: false,
            on_hold: false,
            events: VecDeque::new(),
        }
    }

    /// An inbound call answered but not yet acknowledged: send next to nothing, and no
    /// prompt, until the ACK (`confirm`) or the peer's first accepted RTP.
    pub fn await_confirmation(&mut self) {
        self.confirmed = false;
    }

    /// The call is confirmed (the ACK came): media flows normally from now on.
    pub fn confirm(&mut self) {
        self.confirmed = true;
    }

    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// On hold the media timeout is suspended; on resume it counts afresh from `now`
    /// (the peer had no reason to send before).
    pub fn set_on_hold(&mut self, now: Instant, on_hold: bool) {
        if self.on_hold && !on_hold {
            self.last_rx = now;
        }
        self.on_hold = on_hold;
    }

    /// The peer renegotiated (re-INVITE): new codec, event PT or address; the stream goes on.
    pub fn update_media(&mut self, now: Instant, media: &NegotiatedMedia) {
        self.codec = media.codec;
        self.telephone_event_pt = media.telephone_event_pt;
        self.destination = media.remote_rtp;
        self.sender.set_payload_type(media.codec.payload_type());
        self.receiver.resignal(media.remote_rtp, now);
    }

    /// One datagram from the peer. Bad input is dropped and counted, never fatal; returns
    /// false when valid RTP was refused by the source latch (for the engine's counter).
    pub fn handle_input(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) -> bool {
        let packet = match self.receiver.accept(now, from, datagram) {
            Ok(packet) => packet,
            Err(RtpDrop::UnexpectedSource | RtpDrop::Probation) => return false,
            Err(_) => return true,
        };
        self.last_rx = now;
        self.confirmed = true;
        // Symmetric RTP: answer where the peer really sends from.
        self.destination = from;
        let payload_type = packet.payload_type();
        let payload = packet.payload();
        if Some(payload_type) == self.telephone_event_pt {
            if let Some(key) =
                self.telephone_events
                    .on_packet(packet.timestamp(), packet.mark(), payload)
            {
                self.report(now, key, DigitSource::Rfc4733);
            }
            return true;
        }
        let decode: fn(u8) -> i16 = match payload_type {
            0 => g711::ulaw_decode,
            8 => g711::alaw_decode,
            _ => {
                self.receiver.counters_mut().unknown_payload_type += 1;
                return true;
            }
        };
        let mut keys = [None; 4];
        let mut found = 0;
        let mut samples = [0i16; FRAME_BYTES];
        for chunk in payload.chunks(FRAME_BYTES) {
            for (s, &b) in samples.iter_mut().zip(chunk) {
                *s = decode(b);
            }
            self.inband.push(&samples[..chunk.len()], |key| {
                if found < keys.len() {
                    keys[found] = Some(key);
                    found += 1;
                }
            });
        }
        for key in keys.into_iter().flatten() {
            self.report(now, key, DigitSource::InBand);
        }
        true
    }

    /// A digit the SIP layer received by INFO; shares de-duplication with the RTP sources.
    pub fn sip_info_digit(&mut self, now: Instant, key: char) {
        self.report(now, key, DigitSource::SipInfo);
    }

    fn report(&mut self, now: Instant, key: char, source: DigitSource) {
        if let Some(digit) = self.dedup.admit(now, Digit { key, source }) {
            self.events.push_back(MediaEvent::Digit(digit));
        }
    }

    /// Queues a prompt after whatever is playing.
    pub fn play(&mut self, prompt: Prompt) {
        self.queue.push_back(prompt);
    }

    /// Barge-in: drops the current prompt and the queue; the next frame is silence.
    pub fn stop_playback(&mut self) {
        self.queue.clear();
        self.playing = None;
        self.talkspurt_start = true;
    }

    pub fn is_playing(&self) -> bool {
        self.playing.is_some() || !self.queue.is_empty()
    }

    /// Checks the media timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.timed_out
            && !self.on_hold
            && now.saturating_duration_since(self.last_rx) >= self.config.media_timeout
        {
            self.timed_out = true;
            self.events.push_back(MediaEvent::MediaTimeout);
        }
    }

    /// When the session next needs `poll_transmit` or `handle_timeout`.
    pub fn poll_timeout(&self) -> Instant {
        if self.timed_out || self.on_hold {
            self.next_send
        } else {
            self.next_send.min(self.last_rx + self.config.media_timeout)
        }
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// The next RTP packet if one is due at `now`, built into `buf` (≥ `rtp::MAX_PACKET`).
    /// Call until `None`: at most one packet per 20 ms of elapsed time, so a late caller
    /// catches up (or skips frames when far behind) without drifting from the origin.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if now < self.next_send {
            return None;
        }
        let late = (now - self.next_send).as_micros() / FRAME.as_micros();
        if !self.confirmed && self.sender.packets_sent() >= UNCONFIRMED_PACKETS {
            // Keep the clock (timestamps) going without sending; prompts have not started.
            let frames = u32::try_from(late + 1).unwrap_or(u32::MAX);
            self.sender.skip_frames(frames);
            self.next_send += FRAME * frames;
            return None;
        }
        if late > u128::from(MAX_LATE_FRAMES) {
            let skip = u32::try_from(late).unwrap_or(u32::MAX);
            self.skip_frames(skip);
        }
        let silence = match self.codec {
            Codec::Pcmu => [g711::ULAW_SILENCE; FRAME_BYTES],
            Codec::Pcma => [g711::ALAW_SILENCE; FRAME_BYTES],
        };
        self.start_next_prompt();
        let audio = self
            .playing
            .as_ref()
            .and_then(|(audio, pos)| audio.get(*pos..*pos + FRAME_BYTES));
        // Marker: first packet of the stream, and first audio frame after silence.
        let marker = self.sender.packets_sent() == 0 || (audio.is_some() && self.talkspurt_start);
        let payload = audio.unwrap_or(&silence);
        let len = self.sender.next_packet(payload, marker, buf)?;
        if self.playing.is_some() {
            self.talkspurt_start = false;
        }
        self.advance_audio(1);
        self.next_send += FRAME;
        Some(Transmit {
            destination: self.destination,
            len,
        })
    }

    fn skip_frames(&mut self, frames: u32) {
        self.sender.skip_frames(frames);
        self.next_send += FRAME * frames;
        self.advance_audio(frames as usize);
    }

    fn start_next_prompt(&mut self) {
        // Prompts start once the peer has confirmed, so the caller hears them from the top.
        while self.confirmed
            && self.playing.is_none()
            && let Some(prompt) = self.queue.pop_front()
        {
            let audio = prompt.audio(self.codec);
            if audio.len() >= FRAME_BYTES {
                self.playing = Some((Arc::clone(audio), 0));
            }
        }
    }

    /// Moves the play position on by `frames`, into queued prompts as each one ends.
    fn advance_audio(&mut self, mut frames: usize) {
        while frames > 0 {
            self.start_next_prompt();
            let Some((audio, pos)) = &mut self.playing else {
                return;
            };
            let left = (audio.len() - *pos) / FRAME_BYTES;
            let step = frames.min(left);
            *pos += step * FRAME_BYTES;
            frames -= step;
            if audio.len() - *pos < FRAME_BYTES {
                self.playing = None;
                if self.queue.is_empty() {
                    self.talkspurt_start = true;
                    self.events.push_back(MediaEvent::PlaybackFinished);
                    return;
                }
            }
        }
    }

    pub fn counters(&self) -> &RxCounters {
        self.receiver.counters()
    }

    pub fn destination(&self) -> SocketAddr {
        self.destination
    }

    pub fn ssrc(&self) -> u32 {
        self.sender.ssrc()
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
