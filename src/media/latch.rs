//! Strict RTP source latching, sans-IO (the rule Asterisk calls `strictrtp` with probation).
//!
//! The address:port the peer signalled in its SDP is trusted: its packets are accepted at
//! once. Any other source (a NAT'd phone whose SDP names a private address, a peer that
//! moved, or an attacker spraying our port) must first send `probation` consecutive packets
//! of one SSRC, and may only start that while the current source is quiet: a stream that is
//! flowing cannot be taken over. An SSRC change from the current address goes through the
//! same probation (without the quiet rule: the same address is the same peer). The session
//! start and every new SDP count as activity of the signalled source, so a stranger cannot
//! race the caller's first packet.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatchConfig {
    /// Consecutive packets of one SSRC a new source must send before it is accepted.
    pub probation: u16,
    /// How long the current source must have been silent before another may take over.
    pub quiet: Duration,
}

impl Default for LatchConfig {
    fn default() -> Self {
        Self {
            probation: 4,
            quiet: Duration::from_secs(2),
        }
    }
}

/// Why a packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Another source: the current one sent within the quiet time.
    SourceActive,
    /// A new source or SSRC still on probation.
    Probation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    from: SocketAddr,
    ssrc: u32,
    next_seq: u16,
    count: u16,
}

/// Decides, packet by packet, whether RTP comes from the call's peer.
#[derive(Debug, Clone)]
pub struct RtpLatch {
    config: LatchConfig,
    /// From the SDP; `None` when it names no usable address (hold with `c=0.0.0.0`).
    signalled: Option<SocketAddr>,
    /// The accepted source and its SSRC.
    current: Option<(SocketAddr, u32)>,
    /// Last activity of the current source (or the session start / new SDP).
    current_at: Instant,
    candidate: Option<Candidate>,
}

impl RtpLatch {
    pub fn new(config: LatchConfig, signalled: SocketAddr, now: Instant) -> Self {
        Self {
            config,
            signalled: usable(signalled),
            current: None,
            current_at: now,
            candidate: None,
        }
    }

    /// The peer sent new SDP (re-INVITE): its new address is trusted, what was learnt is not.
    pub fn resignal(&mut self, signalled: SocketAddr, now: Instant) {
        self.signalled = usable(signalled);
        self.current = None;
        self.current_at = now;
        self.candidate = None;
    }

    /// The source accepted last, if any.
    pub fn source(&self) -> Option<SocketAddr> {
        self.current.map(|(a, _)| a)
    }

    /// Accepts or refuses one valid RTP packet from `from` with this SSRC and sequence.
    pub fn check(
        &mut self,
        now: Instant,
        from: SocketAddr,
        ssrc: u32,
        seq: u16,
    ) -> Result<(), Refusal> {
        if Some(from) == self.signalled || self.current == Some((from, ssrc)) {
            self.current = Some((from, ssrc));
            self.current_at = now;
            self.candidate = None;
            return Ok(());
        }
        let same_address = self.source() == Some(from);
        if !same_address && now.saturating_duration_since(self.current_at) < self.config.quiet {
            return Err(Refusal::SourceActive);
        }
        let count = match &mut self.candidate {
            Some(c) if c.from == from && c.ssrc == ssrc && c.next_seq == seq => {
                c.count = c.count.saturating_add(1);
                c.next_seq = seq.wrapping_add(1);
                c.count
            }
            _ => {
                self.candidate = Some(Candidate {
                    from,
                    ssrc,
                    next_seq: seq.wrapping_add(1),
                    count: 1,
                });
                1
            }
        };
        if count >= self.config.probation {
            self.current = Some((from, ssrc));
            self.current_at = now;
            self.candidate = None;
            tracing::debug!(source = %from, "RTP source latched after probation");
            return Ok(());
        }
        Err(Refusal::Probation)
    }
}

/// A wildcard address or port 0 (hold, or no media) names no source.
fn usable(addr: SocketAddr) -> Option<SocketAddr> {
    (!addr.ip().is_unspecified() && addr.port() != 0).then_some(addr)
}

#[cfg(test)]
#[path = "latch_tests.rs"]
mod tests;
