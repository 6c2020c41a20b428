//! Login throttling: after `MAX_FAILURES` wrong passwords for one username within `WINDOW`,
//! further attempts for it are refused until the window since the first failure has passed.
//! In memory, per node (a restart or another node starts afresh: this slows guessing, the
//! argon2 cost and the 10-character minimum do the rest). Pure: time is passed in.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW_MINUTES: i64 = 15;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    /// username → (failures, time of the first failure in the window)
    failures: HashMap<String, (u32, DateTime<Utc>)>,
}

impl LoginThrottle {
    fn window() -> Duration {
        Duration::minutes(WINDOW_MINUTES)
    }

    /// Whether a login attempt for `username` may be checked at `now`.
    pub fn allows(&self, username: &str, now: DateTime<Utc>) -> bool {
        match self.failures.get(username) {
            Some((n, first)) => *n < MAX_FAILURES || now - *first >= Self::window(),
            None => true,
        }
    }

    pub fn record_failure(&mut self, username: &str, now: DateTime<Utc>) {
        // Forget expired windows so unknown usernames cannot grow the map for ever.
        self.failures
            .retain(|_, (_, first)| now - *first < Self::window());
        let entry = self
            .failures
            .entry(username.to_string())
            .or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
    }

    pub fn record_success(&mut self, username: &str) {
        self.failures.remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_132_800 + min * 60, 0).unwrap()
    }

    #[test]
    fn fifth_failure_locks_the_username_until_the_window_passes() {
        let mut th = LoginThrottle::default();
        for i in 0..MAX_FAILURES {
            assert!(th.allows("sato", t(i64::from(i))));
            th.record_failure("sato", t(i64::from(i)));
        }
        assert!(!th.allows("sato", t(5)));
        assert!(th.allows("kato", t(5)), "other usernames unaffected");
        assert!(!th.allows("sato", t(WINDOW_MINUTES - 1)));
        assert!(th.allows("sato", t(WINDOW_MINUTES)));
    }

    #[test]
    fn success_clears_earlier_failures() {
        let mut th = LoginThrottle::default();
        for i in 0..MAX_FAILURES - 1 {
            th.record_failure("sato", t(i64::from(i)));
        }
        th.record_success("sato");
        th.record_failure("sato", t(5));
        assert!(th.allows("sato", t(5)));
    }

    #[test]
    fn expired_entries_are_forgotten() {
        let mut th = LoginThrottle::default();
        th.record_failure("ghost", t(0));
        th.record_failure("sato", t(WINDOW_MINUTES + 1));
        assert_eq!(th.failures.len(), 1);
    }
}
