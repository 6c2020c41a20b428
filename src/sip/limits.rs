//! SIP error counters (for /metrics) and the rate limit on logs about bad input, so a
//! flood of garbage cannot flood the log too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::api::CallRef;
use super::dialog::{Dialog, Phase, Role};

/// Live counters, shared between the SIP task and whoever reads metrics.
#[derive(Debug, Default)]
pub struct SipCounters {
    malformed_dropped: AtomicU64,
    bad_request_sent: AtomicU64,
    responses_4xx_sent: AtomicU64,
    responses_5xx_sent: AtomicU64,
    rejected_at_capacity: AtomicU64,
    rejected_per_source: AtomicU64,
    unknown_number: AtomicU64,
    events_dropped: AtomicU64,
    send_failures: AtomicU64,
    register_failures: AtomicU64,
    untrusted_dropped: AtomicU64,
    too_large: AtomicU64,
    tcp_refused_at_cap: AtomicU64,
    tcp_timed_out: AtomicU64,
    tcp_evicted: AtomicU64,
}

/// A point-in-time copy of [`SipCounters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SipCountersSnapshot {
    /// Messages dropped because no response could be formed (or they were responses).
    pub malformed_dropped: u64,
    /// 400 Bad Request answers to malformed requests.
    pub bad_request_sent: u64,
    /// Every 4xx we sent (400 and 404 included).
    pub responses_4xx_sent: u64,
    /// Every 5xx we sent (503 at capacity included).
    pub responses_5xx_sent: u64,
    /// INVITEs refused with 503 because `max_calls` calls were up.
    pub rejected_at_capacity: u64,
    /// INVITEs refused with 503 because their source held `max_unconfirmed_calls_per_source`
    /// calls not yet ACKed.
    pub rejected_per_source: u64,
    /// INVITEs refused with 404 (Request-URI user not one of our numbers).
    pub unknown_number: u64,
    /// Events the glue's channel had no room for (a stalled glue; should stay 0).
    pub events_dropped: u64,
    /// Messages the transport failed to send.
    pub send_failures: u64,
    /// REGISTERs to the trunk refused or unanswered.
    pub register_failures: u64,
    /// Datagrams and TCP connections from sources outside `sip.trusted_sources`,
    /// dropped without a reply.
    pub untrusted_dropped: u64,
    /// Messages over `max_header_bytes`/`max_body_bytes` (413/513 or closed unread).
    pub too_large: u64,
    /// TCP connections closed at accept: `tcp_max_connections[_per_source]` reached.
    pub tcp_refused_at_cap: u64,
    /// TCP connections closed for a message not complete in time, or for idling.
    pub tcp_timed_out: u64,
    /// Silent TCP connections (no whole message yet) closed to make room for a newcomer
    /// at `tcp_max_connections`.
    pub tcp_evicted: u64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    MalformedDropped,
    BadRequestSent,
    RejectedAtCapacity,
    RejectedPerSource,
    UnknownNumber,
    EventsDropped,
    SendFailures,
    RegisterFailures,
    UntrustedDropped,
    TooLarge,
    TcpRefusedAtCap,
    TcpTimedOut,
    TcpEvicted,
}

impl SipCounters {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn bump(&self, c: Counter) {
        let cell = match c {
            Counter::MalformedDropped => &self.malformed_dropped,
            Counter::BadRequestSent => &self.bad_request_sent,
            Counter::RejectedAtCapacity => &self.rejected_at_capacity,
            Counter::RejectedPerSource => &self.rejected_per_source,
            Counter::UnknownNumber => &self.unknown_number,
            Counter::EventsDropped => &self.events_dropped,
            Counter::SendFailures => &self.send_failures,
            Counter::RegisterFailures => &self.register_failures,
            Counter::UntrustedDropped => &self.untrusted_dropped,
            Counter::TooLarge => &self.too_large,
            Counter::TcpRefusedAtCap => &self.tcp_refused_at_cap,
            Counter::TcpTimedOut => &self.tcp_timed_out,
            Counter::TcpEvicted => &self.tcp_evicted,
        };
        cell.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a response we sent by its class.
    pub(crate) fn response_sent(&self, status: u16) {
        match status {
            400..=499 => self.responses_4xx_sent.fetch_add(1, Ordering::Relaxed),
            500..=599 => self.responses_5xx_sent.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }

    pub fn snapshot(&self) -> SipCountersSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SipCountersSnapshot {
            malformed_dropped: g(&self.malformed_dropped),
            bad_request_sent: g(&self.bad_request_sent),
            responses_4xx_sent: g(&self.responses_4xx_sent),
            responses_5xx_sent: g(&self.responses_5xx_sent),
            rejected_at_capacity: g(&self.rejected_at_capacity),
            rejected_per_source: g(&self.rejected_per_source),
            unknown_number: g(&self.unknown_number),
            events_dropped: g(&self.events_dropped),
            send_failures: g(&self.send_failures),
            register_failures: g(&self.register_failures),
            untrusted_dropped: g(&self.untrusted_dropped),
            too_large: g(&self.too_large),
            tcp_refused_at_cap: g(&self.tcp_refused_at_cap),
            tcp_timed_out: g(&self.tcp_timed_out),
            tcp_evicted: g(&self.tcp_evicted),
        }
    }
}

/// Inbound calls from `ip` that are ringing or answered but not yet ACKed. One sender
/// cannot hold more than a few such calls (each holds a call slot and an RTP port until
/// its ACK or Timer H); confirmed calls are not counted, so a trunk carrying many calls
/// from one address is not limited. A scan of the calls, bounded by `max_calls`.
pub(crate) fn unconfirmed_from(calls: &HashMap<CallRef, Dialog>, ip: IpAddr) -> usize {
    calls
        .values()
        .filter(|d| {
            d.role == Role::Inbound
                && matches!(d.phase, Phase::Ringing | Phase::Answered)
                && d.peer.addr.ip() == ip
        })
        .count()
}

/// At most `burst` log lines per `window`; the rest are counted and summarised once the
/// window turns over.
#[derive(Debug)]
pub(crate) struct LogLimiter {
    window: Duration,
    burst: u32,
    window_start: Option<Instant>,
    used: u32,
    suppressed: u64,
}

/// What the caller should do with one log line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LogVerdict {
    /// Log it; `suppressed_before` lines were swallowed since the last one logged.
    Log {
        suppressed_before: u64,
    },
    Suppress,
}

impl LogLimiter {
    pub(crate) fn new(window: Duration, burst: u32) -> Self {
        Self {
            window,
            burst,
            window_start: None,
            used: 0,
            suppressed: 0,
        }
    }

    pub(crate) fn check(&mut self, now: Instant) -> LogVerdict {
        let fresh = self
            .window_start
            .is_none_or(|s| now.saturating_duration_since(s) >= self.window);
        if fresh {
            self.window_start = Some(now);
            self.used = 0;
        }
        if self.used < self.burst {
            self.used += 1;
            let suppressed_before = std::mem::take(&mut self.suppressed);
            LogVerdict::Log { suppressed_before }
        } else {
            self.suppressed += 1;
            LogVerdict::Suppress
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_limiter_allows_burst_then_reports_what_it_swallowed() {
        let t0 = Instant::now();
        let mut l = LogLimiter::new(Duration::from_secs(1), 2);
        assert_eq!(
            l.check(t0),
            LogVerdict::Log {
                suppressed_before: 0
            }
        );
        assert_eq!(
            l.check(t0),
            LogVerdict::Log {
                suppressed_before: 0
            }
        );
        assert_eq!(l.check(t0), LogVerdict::Suppress);
        assert_eq!(
            l.check(t0 + Duration::from_millis(999)),
            LogVerdict::Suppress
        );
        assert_eq!(
            l.check(t0 + Duration::from_secs(1)),
            LogVerdict::Log {
                suppressed_before: 2
            }
        );
    }

    #[test]
    fn counters_sort_responses_by_class() {
        let c = SipCounters::new();
        c.response_sent(404);
        c.response_sent(503);
        c.response_sent(200);
        c.bump(Counter::MalformedDropped);
        let s = c.snapshot();
        assert_eq!((s.responses_4xx_sent, s.responses_5xx_sent), (1, 1));
        assert_eq!(s.malformed_dropped, 1);
    }
}
