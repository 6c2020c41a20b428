//! Login throttling, per username and per source address: after `MAX_FAILURES` wrong
//! passwords for one username, or `MAX_SOURCE_FAILURES` from one source (any usernames,
//! unknown ones included) within `WINDOW`, further attempts for it are refused until the
//! window since its first failure has passed. IPv6 sources count per /64 (one subscriber's
//! usual allocation). In memory, per node: this slows guessing, the argon2 cost and the
//! 10-character minimum do the rest. Each entry costs its maker a password check, and
//! those are capped ([`LoginGate`]), so the maps stay small. Pure: time is passed in.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AdminError;

pub const MAX_FAILURES: u32 = 5;
pub const MAX_SOURCE_FAILURES: u32 = 20;
pub const WINDOW_MINUTES: i64 = 15;

/// Failures per key within the window: key → (failures, time of the first).
#[derive(Debug)]
struct Counter<K> {
    limit: u32,
    failures: HashMap<K, (u32, DateTime<Utc>)>,
}

impl<K: Eq + Hash> Counter<K> {
    fn new(limit: u32) -> Self {
        Self {
            limit,
            failures: HashMap::new(),
        }
    }

    fn allows(&self, key: &K, now: DateTime<Utc>) -> bool {
        match self.failures.get(key) {
            Some((n, first)) => *n < self.limit || now - *first >= window(),
            None => true,
        }
    }

    /// Counts a failure; true when it is the one that reaches the limit.
    fn record(&mut self, key: K, now: DateTime<Utc>) -> bool {
        // Forget expired windows so unknown keys cannot grow the map for ever.
        self.failures
            .retain(|_, (_, first)| now - *first < window());
        let entry = self.failures.entry(key).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.0 == self.limit
    }
}

fn window() -> Duration {
    Duration::minutes(WINDOW_MINUTES)
}

/// The source key: IPv4 as is, IPv6 by its /64.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

#[derive(Debug)]
pub struct LoginThrottle {
    by_username: Counter<String>,
    by_source: Counter<IpAddr>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            by_username: Counter::new(MAX_FAILURES),
            by_source: Counter::new(MAX_SOURCE_FAILURES),
        }
    }
}

impl LoginThrottle {
    /// Whether a login attempt for `username` from `source` may be checked at `now`.
    pub fn allows(&self, username: &str, source: Option<IpAddr>, now: DateTime<Utc>) -> bool {
        self.by_username.allows(&username.to_string(), now)
            && source.is_none_or(|ip| self.by_source.allows(&source_key(ip), now))
    }

    /// Counts a wrong password; true when it makes the username or the source throttled
    /// (worth one log line, where every refused attempt after it is not).
    pub fn record_failure(
        &mut self,
        username: &str,
        source: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> bool {
        let user = self.by_username.record(username.to_string(), now);
        let src = source.is_some_and(|ip| self.by_source.record(source_key(ip), now));
        user || src
    }

    /// A correct password clears the username's failures (not the source's: one right
    /// password must not buy a guesser another round for other accounts).
    pub fn record_success(&mut self, username: &str) {
        self.by_username.failures.remove(username);
    }
}

/// The cap on password checks: at most `checks` run at once on the blocking pool, and at
/// most `4 × checks` logins wait for one (for up to [`LoginGate::MAX_WAIT`]); any more are
/// refused at once with 503, so a flood costs a bounded number of threads and CPU and never
/// queues without bound.
#[derive(Debug)]
pub struct LoginGate {
    checks: std::sync::Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl LoginGate {
    pub const MAX_WAIT: StdDuration = StdDuration::from_secs(3);

    pub fn new(checks: usize) -> LoginGate {
        let checks = checks.max(1);
        LoginGate {
            checks: std::sync::Arc::new(Semaphore::new(checks)),
            waiting: AtomicUsize::new(0),
            max_waiting: checks * 4,
        }
    }

    /// A permit to run one password check; hold it until the check has finished.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, AdminError> {
        if let Ok(p) = self.checks.clone().try_acquire_owned() {
            return Ok(p);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(AdminError::Busy);
        }
        let permit =
            tokio::time::timeout(Self::MAX_WAIT, self.checks.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match permit {
            Ok(Ok(p)) => Ok(p),
            _ => Err(AdminError::Busy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_132_800 + min * 60, 0).unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn fifth_failure_locks_the_username_until_the_window_passes() {
        let mut th = LoginThrottle::default();
        for i in 0..MAX_FAILURES {
            assert!(th.allows("sato", None, t(i64::from(i))));
            th.record_failure("sato", None, t(i64::from(i)));
        }
        assert!(!th.allows("sato", None, t(5)));
        assert!(th.allows("kato", None, t(5)), "other usernames unaffected");
        assert!(!th.allows("sato", None, t(WINDOW_MINUTES - 1)));
        assert!(th.allows("sato", None, t(WINDOW_MINUTES)));
    }

    #[test]
    fn one_source_trying_many_unknown_usernames_is_throttled() {
        let mut th = LoginThrottle::default();
        let src = ip("198.51.100.7");
        let mut reached = 0;
        for i in 0..MAX_SOURCE_FAILURES {
            assert!(th.allows(&format!("ghost{i}"), src, t(0)));
            reached += u32::from(th.record_failure(&format!("ghost{i}"), src, t(0)));
        }
        assert_eq!(reached, 1, "one log line when the source becomes throttled");
        assert!(
            !th.allows("sato", src, t(1)),
            "any username from that source"
        );
        assert!(th.allows("sato", ip("198.51.100.8"), t(1)), "other sources");
        assert!(th.allows("sato", src, t(WINDOW_MINUTES)));
    }

    #[test]
    fn ipv6_sources_count_per_64() {
        let mut th = LoginThrottle::default();
        for i in 0..MAX_SOURCE_FAILURES {
            let addr = format!("2001:db8:1:2::{:x}", i + 1);
            th.record_failure(&format!("ghost{i}"), ip(&addr), t(0));
        }
        assert!(!th.allows("sato", ip("2001:db8:1:2:ffff::1"), t(1)));
        assert!(th.allows("sato", ip("2001:db8:1:3::1"), t(1)));
    }

    #[test]
    fn success_clears_earlier_failures_of_the_username_only() {
        let mut th = LoginThrottle::default();
        for i in 0..MAX_FAILURES - 1 {
            th.record_failure("sato", None, t(i64::from(i)));
        }
        th.record_success("sato");
        th.record_failure("sato", None, t(5));
        assert!(th.allows("sato", None, t(5)));
    }

    #[test]
    fn expired_entries_are_forgotten() {
        let mut th = LoginThrottle::default();
        th.record_failure("ghost", ip("198.51.100.7"), t(0));
        th.record_failure("sato", None, t(WINDOW_MINUTES + 1));
        assert_eq!(th.by_username.failures.len(), 1);
    }

    #[tokio::test]
    async fn the_gate_lets_checks_run_up_to_its_cap_queues_a_few_and_refuses_the_rest() {
        let gate = std::sync::Arc::new(LoginGate::new(1));
        let held = gate.enter().await.unwrap();
        // Four may wait; the fifth is refused at once.
        let mut waiters = Vec::new();
        for _ in 0..4 {
            let g = gate.clone();
            waiters.push(tokio::spawn(async move { g.enter().await.is_ok() }));
        }
        tokio::task::yield_now().await;
        while gate.waiting.load(Ordering::Acquire) < 4 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(gate.enter().await, Err(AdminError::Busy)));
        drop(held);
        for w in waiters {
            assert!(
                w.await.unwrap(),
                "each waiter gets its turn as permits free up"
            );
        }
    }
}
