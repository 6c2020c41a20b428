//! RTP per RFC 3550 on top of `rtp-rs`: the sending side of one stream (SSRC, sequence,
//! timestamp, marker) and validation of what the peer sends, with every drop counted.

use std::net::SocketAddr;
use std::time::Instant;

use rtp_rs::{RtpPacketBuilder, RtpReader, RtpReaderError, Seq};

use crate::media::latch::{Refusal, RtpLatch};

/// Samples per 20 ms frame at 8 kHz: the timestamp step of every packet we send.
pub const SAMPLES_PER_FRAME: u32 = 160;
/// RTP header we build: no CSRC, no extension.
pub const HEADER_LEN: usize = 12;
/// Largest packet we build (header + one 20 ms G.711 frame).
pub const MAX_PACKET: usize = HEADER_LEN + SAMPLES_PER_FRAME as usize;

/// The sending side of one RTP stream.
#[derive(Debug)]
pub struct RtpSender {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    payload_type: u8,
    sent: u64,
}

impl RtpSender {
    /// A stream with a random SSRC, starting sequence and timestamp (RFC 3550 §5.1).
    pub fn new(payload_type: u8) -> Self {
        Self::with_initial(payload_type, rand::random(), rand::random(), rand::random())
    }

    pub fn with_initial(payload_type: u8, ssrc: u32, seq: u16, timestamp: u32) -> Self {
        Self {
            ssrc,
            seq,
            timestamp,
            payload_type,
            sent: 0,
        }
    }

    /// Packets built so far.
    pub fn packets_sent(&self) -> u64 {
        self.sent
    }

    /// The codec changed (re-INVITE); SSRC, sequence and timing go on.
    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type;
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Builds the next packet into `buf` and advances sequence and timestamp by one frame.
    /// Returns the packet length, or `None` if `buf` is too small or the payload not one frame.
    pub fn next_packet(&mut self, payload: &[u8], marker: bool, buf: &mut [u8]) -> Option<usize> {
        let len = RtpPacketBuilder::new()
            .payload_type(self.payload_type)
            .ssrc(self.ssrc)
            .sequence(Seq::from(self.seq))
            .timestamp(self.timestamp)
            .marked(marker)
            .payload(payload)
            .build_into(buf)
            .ok()?;
        self.seq = self.seq.wrapping_add(1);
        self.sent += 1;
        self.timestamp = self.timestamp.wrapping_add(payload.len() as u32);
        Some(len)
    }

    /// Frames that were never sent (the sender fell behind): time moves on, sequence does not.
    pub fn skip_frames(&mut self, frames: u32) {
        self.timestamp = self
            .timestamp
            .wrapping_add(frames.wrapping_mul(SAMPLES_PER_FRAME));
    }
}

/// Why an incoming datagram was not accepted as the peer's RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpDrop {
    /// Fewer bytes than an RTP header.
    Short,
    /// Version field not 2.
    BadVersion,
    /// CSRC list, extension or padding claims more bytes than the datagram has.
    Truncated,
    /// RTCP (PT 200-204): accepted and ignored.
    Rtcp,
    /// Another source than the peer's while the peer's stream is flowing.
    UnexpectedSource,
    /// A new source or SSRC still on probation (see `latch`).
    Probation,
}

/// What happened to received datagrams; read by the engine for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxCounters {
    pub accepted: u64,
    pub short: u64,
    pub bad_version: u64,
    pub truncated: u64,
    pub rtcp: u64,
    /// Refused: another source while the peer's stream flows (a spray, or a move too soon).
    pub unexpected_source: u64,
    /// Refused: a new source or SSRC during its probation.
    pub probation: u64,
    /// RTP payload types that are neither our codec nor telephone-event.
    pub unknown_payload_type: u64,
}

impl RxCounters {
    pub fn dropped(&self) -> u64 {
        self.short + self.bad_version + self.truncated + self.refused()
    }

    /// Valid RTP refused by the source latch.
    pub fn refused(&self) -> u64 {
        self.unexpected_source + self.probation
    }

    fn count(&mut self, drop: RtpDrop) {
        match drop {
            RtpDrop::Short => self.short += 1,
            RtpDrop::BadVersion => self.bad_version += 1,
            RtpDrop::Truncated => self.truncated += 1,
            RtpDrop::Rtcp => self.rtcp += 1,
            RtpDrop::UnexpectedSource => self.unexpected_source += 1,
            RtpDrop::Probation => self.probation += 1,
        }
    }
}

/// Validates the peer's datagrams and passes valid RTP through the source latch; counts
/// every drop.
#[derive(Debug)]
pub struct RtpReceiver {
    latch: RtpLatch,
    counters: RxCounters,
}

impl RtpReceiver {
    pub fn new(latch: RtpLatch) -> Self {
        Self {
            latch,
            counters: RxCounters::default(),
        }
    }

    pub fn counters(&self) -> &RxCounters {
        &self.counters
    }

    pub fn counters_mut(&mut self) -> &mut RxCounters {
        &mut self.counters
    }

    /// Where the peer really sends from, once it has sent accepted RTP.
    pub fn latched_source(&self) -> Option<SocketAddr> {
        self.latch.source()
    }

    /// The peer signalled a new address (re-INVITE): trust it, forget what was learnt.
    pub fn resignal(&mut self, signalled: SocketAddr, now: Instant) {
        self.latch.resignal(signalled, now);
    }

    /// Accepts `datagram` as the peer's RTP or says why not (and counts it).
    pub fn accept<'a>(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &'a [u8],
    ) -> Result<RtpReader<'a>, RtpDrop> {
        let result = Self::parse(datagram).and_then(|reader| {
            let seq = u16::from(reader.sequence_number());
            match self.latch.check(now, from, reader.ssrc(), seq) {
                Ok(()) => Ok(reader),
                Err(Refusal::SourceActive) => Err(RtpDrop::UnexpectedSource),
                Err(Refusal::Probation) => Err(RtpDrop::Probation),
            }
        });
        match &result {
            Ok(_) => self.counters.accepted += 1,
            Err(drop) => self.counters.count(*drop),
        }
        result
    }

    fn parse(datagram: &[u8]) -> Result<RtpReader<'_>, RtpDrop> {
        if datagram.len() >= 2 && datagram[0] >> 6 == 2 && (200..=204).contains(&datagram[1]) {
            return Err(RtpDrop::Rtcp);
        }
        RtpReader::new(datagram).map_err(|e| match e {
            RtpReaderError::BufferTooShort(_) => RtpDrop::Short,
            RtpReaderError::UnsupportedVersion(_) => RtpDrop::BadVersion,
            RtpReaderError::HeadersTruncated { .. } | RtpReaderError::PaddingLengthInvalid(_) => {
                RtpDrop::Truncated
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::latch::LatchConfig;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A receiver whose peer signalled port 1.
    fn receiver(now: Instant) -> RtpReceiver {
        RtpReceiver::new(RtpLatch::new(LatchConfig::default(), addr(1), now))
    }

    fn packet(ssrc: u32, seq: u16, pt: u8) -> Vec<u8> {
        RtpPacketBuilder::new()
            .payload_type(pt)
            .ssrc(ssrc)
            .sequence(Seq::from(seq))
            .timestamp(1000)
            .payload(&[0xFF; 160])
            .build()
            .unwrap()
    }

    #[test]
    fn sender_steps_sequence_by_one_and_timestamp_by_a_frame() {
        let mut tx = RtpSender::with_initial(0, 0xDEAD_BEEF, 0xFFFF, u32::MAX - 100);
        let mut buf = [0u8; MAX_PACKET];
        let mut seen = Vec::new();
        for i in 0..3 {
            let len = tx.next_packet(&[0xFF; 160], i == 0, &mut buf).unwrap();
            assert_eq!(len, MAX_PACKET);
            let r = RtpReader::new(&buf[..len]).unwrap();
            assert_eq!(r.ssrc(), 0xDEAD_BEEF);
            assert_eq!(r.payload_type(), 0);
            seen.push((u16::from(r.sequence_number()), r.timestamp(), r.mark()));
        }
        assert_eq!(
            seen,
            vec![
                (0xFFFF, u32::MAX - 100, true),
                (0, (u32::MAX - 100).wrapping_add(160), false),
                (1, (u32::MAX - 100).wrapping_add(320), false),
            ]
        );
        tx.skip_frames(2);
        let len = tx.next_packet(&[0xFF; 160], false, &mut buf).unwrap();
        let r = RtpReader::new(&buf[..len]).unwrap();
        assert_eq!(u16::from(r.sequence_number()), 2);
        assert_eq!(r.timestamp(), (u32::MAX - 100).wrapping_add(160 * 5));
    }

    #[test]
    fn random_senders_differ_in_ssrc() {
        let a = RtpSender::new(0);
        let b = RtpSender::new(0);
        assert_ne!(a.ssrc(), b.ssrc());
    }

    #[test]
    fn bad_datagrams_are_dropped_and_counted() {
        let t0 = Instant::now();
        let mut rx = receiver(t0);
        assert_eq!(
            rx.accept(t0, addr(1), &[0x80, 0x00, 0x01]).err(),
            Some(RtpDrop::Short)
        );
        let mut v1 = packet(1, 1, 0);
        v1[0] = 0x40;
        assert_eq!(rx.accept(t0, addr(1), &v1).err(), Some(RtpDrop::BadVersion));
        // CC = 15 claims 60 bytes of CSRC in a 20-byte datagram.
        let mut csrc = packet(1, 1, 0)[..20].to_vec();
        csrc[0] = 0x8F;
        assert_eq!(
            rx.accept(t0, addr(1), &csrc).err(),
            Some(RtpDrop::Truncated)
        );
        let mut ext = packet(1, 1, 0)[..14].to_vec();
        ext[0] = 0x90; // extension flag with no extension header
        assert_eq!(rx.accept(t0, addr(1), &ext).err(), Some(RtpDrop::Truncated));
        let c = rx.counters();
        assert_eq!(
            (c.short, c.bad_version, c.truncated, c.accepted),
            (1, 1, 2, 0)
        );
        assert_eq!(rx.latched_source(), None, "nothing valid arrived yet");
    }

    #[test]
    fn rtcp_is_recognised_and_ignored() {
        let t0 = Instant::now();
        let mut rx = receiver(t0);
        for pt in 200..=204u8 {
            let rtcp = [0x80, pt, 0x00, 0x01, 0, 0, 0, 1];
            assert_eq!(rx.accept(t0, addr(1), &rtcp).err(), Some(RtpDrop::Rtcp));
        }
        assert_eq!(rx.counters().rtcp, 5);
        assert_eq!(rx.counters().dropped(), 0);
        assert_eq!(rx.latched_source(), None);
    }

    #[test]
    fn the_signalled_source_is_accepted_and_a_sprayer_refused_and_counted() {
        let t0 = Instant::now();
        let mut rx = receiver(t0);
        assert!(rx.accept(t0, addr(1), &packet(7, 1, 0)).is_ok());
        assert_eq!(rx.latched_source(), Some(addr(1)));
        assert_eq!(
            rx.accept(t0, addr(4002), &packet(9, 3, 0)).err(),
            Some(RtpDrop::UnexpectedSource)
        );
        let quiet = t0 + LatchConfig::default().quiet;
        assert_eq!(
            rx.accept(quiet, addr(4002), &packet(9, 4, 0)).err(),
            Some(RtpDrop::Probation)
        );
        let c = *rx.counters();
        assert_eq!((c.accepted, c.unexpected_source, c.probation), (1, 1, 1));
        assert_eq!(c.refused(), 2);
        rx.resignal(addr(4002), quiet);
        assert!(rx.accept(quiet, addr(4002), &packet(9, 5, 0)).is_ok());
        assert_eq!(rx.latched_source(), Some(addr(4002)));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let t0 = Instant::now();
        let mut rx = receiver(t0);
        let mut state = 0x1234_5678u32;
        for len in 0..200usize {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    (state >> 24) as u8
                })
                .collect();
            let _ = rx.accept(t0, addr(1), &bytes);
        }
        let c = rx.counters();
        assert_eq!(c.accepted + c.dropped() + c.rtcp, 200);
    }
}
