//! TCP connection policing, sans-IO (time is passed in): how many connections a source
//! and the node may hold, when a connection has waited too long for a message or sat
//! idle, and how long the acceptor backs off when the process is out of descriptors.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Caps on accepted TCP connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max_total: usize,
    pub max_per_source: usize,
}

/// Why an accepted connection is closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every place is held by connections that have each delivered a message.
    Total,
    PerSource,
}

/// An accepted connection's key in the table (increasing: lower is older).
pub type ConnectionId = u64;

/// A connection let in, and the one it displaced if the table was full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub id: ConnectionId,
    /// The oldest connection that had not yet delivered a whole message, evicted to make
    /// room: the shell closes it.
    pub evicted: Option<ConnectionId>,
}

/// Open accepted connections, counted in total and per source.
///
/// At the total cap, a newcomer displaces the oldest connection still waiting for its
/// first message rather than being refused: silent connections (a slowloris flood from
/// many sources) then cannot lock real peers out for a whole message timeout, while a
/// peer that has spoken SIP keeps its place.
#[derive(Debug)]
pub struct ConnectionTable {
    limits: ConnectionLimits,
    next_id: ConnectionId,
    /// Each open connection's source.
    open: HashMap<ConnectionId, IpAddr>,
    /// Connections with no whole message yet, oldest first.
    silent: BTreeSet<ConnectionId>,
    per_source: HashMap<IpAddr, usize>,
}

/// The source a per-source cap applies to: an IPv4 address, or an IPv6 /64 (one host
/// is usually handed a whole /64, so single addresses would be no limit at all).
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

impl ConnectionTable {
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            limits,
            next_id: 0,
            open: HashMap::new(),
            silent: BTreeSet::new(),
            per_source: HashMap::new(),
        }
    }

    /// Counts a new connection from `ip`, unless its source's cap is reached, or every
    /// place is held by a connection that has delivered a message.
    pub fn admit(&mut self, ip: IpAddr) -> Result<Admission, Refusal> {
        let source = source_of(ip);
        if self.from_source(ip) >= self.limits.max_per_source {
            return Err(Refusal::PerSource);
        }
        let mut evicted = None;
        if self.open.len() >= self.limits.max_total {
            let oldest = self.silent.first().copied().ok_or(Refusal::Total)?;
            self.release(oldest);
            evicted = Some(oldest);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(id, source);
        self.silent.insert(id);
        *self.per_source.entry(source).or_insert(0) += 1;
        Ok(Admission { id, evicted })
    }

    /// The connection delivered a whole message: it is no longer evicted for newcomers.
    pub fn spoke(&mut self, id: ConnectionId) {
        self.silent.remove(&id);
    }

    /// The connection has ended (or was evicted); a second release is a no-op.
    pub fn release(&mut self, id: ConnectionId) {
        let Some(source) = self.open.remove(&id) else {
            return;
        };
        self.silent.remove(&id);
        if let Some(held) = self.per_source.get_mut(&source) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                self.per_source.remove(&source);
            }
        }
    }

    pub fn total(&self) -> usize {
        self.open.len()
    }

    pub fn from_source(&self, ip: IpAddr) -> usize {
        self.per_source.get(&source_of(ip)).copied().unwrap_or(0)
    }
}

/// How long a TCP peer may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamTimeouts {
    /// A message begun must arrive whole within this (slowloris); an accepted connection
    /// must deliver its first message within it too.
    pub message: Duration,
    /// No bytes at all (keep-alives count) for this long closes the connection.
    pub idle: Duration,
}

/// One connection's deadlines; the shell sleeps until [`Self::deadline`].
#[derive(Debug, Clone)]
pub struct ConnectionClock {
    timeouts: StreamTimeouts,
    last_bytes: Instant,
    /// When the message now awaited began (or when an accepted connection opened).
    message_since: Option<Instant>,
    delivered_any: bool,
}

impl ConnectionClock {
    /// `accepted`: the peer connected to us, so its first message is due within the
    /// message timeout; a connection we opened (to the trunk) only has the idle timeout.
    pub fn new(now: Instant, timeouts: StreamTimeouts, accepted: bool) -> Self {
        Self {
            timeouts,
            last_bytes: now,
            message_since: accepted.then_some(now),
            delivered_any: !accepted,
        }
    }

    /// After bytes were read and framed: `in_message` is whether part of a message is
    /// buffered, `delivered` how many whole messages these bytes completed.
    pub fn on_bytes(&mut self, now: Instant, in_message: bool, delivered: usize) {
        self.last_bytes = now;
        if delivered > 0 {
            self.delivered_any = true;
            self.message_since = None;
        }
        if in_message {
            self.message_since.get_or_insert(now);
        } else if self.delivered_any {
            self.message_since = None;
        }
    }

    pub fn deadline(&self) -> Instant {
        let idle = self.last_bytes + self.timeouts.idle;
        match self.message_since {
            Some(t) => idle.min(t + self.timeouts.message),
            None => idle,
        }
    }

    /// Why the connection must close at `now`, if it must.
    pub fn expired(&self, now: Instant) -> Option<&'static str> {
        if self
            .message_since
            .is_some_and(|t| now >= t + self.timeouts.message)
        {
            Some("message not complete in time")
        } else if now >= self.last_bytes + self.timeouts.idle {
            Some("idle")
        } else {
            None
        }
    }
}

/// Delay before the next accept after an error: out of descriptors or memory, accept
/// fails at once until something closes, so retrying at once would spin.
#[derive(Debug, Clone)]
pub struct AcceptBackoff {
    next: Duration,
}

const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self { next: BACKOFF_MIN }
    }
}

impl AcceptBackoff {
    /// How long to wait after an accept error of this kind (zero: retry at once, the
    /// error was one connection's and it is gone).
    pub fn on_error(&mut self, error: &std::io::Error) -> Duration {
        if !is_resource_error(error) {
            return Duration::ZERO;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        wait
    }

    pub fn on_success(&mut self) {
        self.next = BACKOFF_MIN;
    }
}

/// EMFILE, ENFILE, ENOBUFS, ENOMEM: the process or system is out of something.
fn is_resource_error(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

#[cfg(test)]
#[path = "connections_tests.rs"]
mod tests;
