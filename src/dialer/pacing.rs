//! Pacing: how many calls may be in progress (a global cap for the node and a channel
//! cap per trunk) and how fast new calls start (a calls-per-second bucket, so thousands
//! of INVITEs are not fired at the trunk in the slot's first millisecond).
//!
//! Calls otherwise start as soon as capacity frees up: "within about one hour" is the
//! patient's expectation, so holding a free channel idle would only make people wait.
//! Whether the window can be met is estimated once, at planning time ([`SlotPace`]).

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::Config;

/// Capacity settings, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingConfig {
    /// Calls this node carries at once (inbound health-calls included).
    pub global_cap: usize,
    /// Channels the trunk allows.
    pub trunk_channels: usize,
    /// New calls started per second at most.
    pub calls_per_second: f64,
    /// Channel time of a typical attempt (answered or not), for estimates. The default
    /// is what the simulation measures with its default phones (~90 s).
    pub typical_call: TimeDelta,
    /// Attempts per job on average, retries included (the simulation measures ~1.4).
    pub expected_attempts: f64,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            global_cap: 3000,
            trunk_channels: 2600,
            calls_per_second: 100.0,
            typical_call: TimeDelta::seconds(90),
            expected_attempts: 1.4,
        }
    }
}

impl PacingConfig {
    /// The caps of the configuration file (node `sip.max_calls`, `trunk.channels`).
    pub fn from_config(cfg: &Config) -> Self {
        Self {
            global_cap: cfg.sip.max_calls,
            trunk_channels: cfg.trunk.channels,
            ..Self::default()
        }
    }

    /// Channels usable for calls: the smaller of the two caps.
    pub fn channels(&self) -> usize {
        self.global_cap.min(self.trunk_channels)
    }
}

/// Whether a slot's attempts (first tries and the expected retries) fit in its window at
/// this capacity. An estimate: retries bunch towards the end of the window, so a slot
/// just inside it can still leave a few retries undone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlotPace {
    pub calls: usize,
    pub channels: usize,
    /// Estimated time to start and finish every expected attempt.
    pub needed: TimeDelta,
    pub window: TimeDelta,
}

impl SlotPace {
    pub fn estimate(calls: usize, cfg: &PacingConfig, window: TimeDelta) -> SlotPace {
        let channels = cfg.channels();
        let needed = if calls == 0 {
            TimeDelta::zero()
        } else if channels == 0 || cfg.calls_per_second <= 0.0 {
            TimeDelta::MAX
        } else {
            let attempts = calls as f64 * cfg.expected_attempts.max(1.0);
            let talk_ms = cfg.typical_call.num_milliseconds() as f64 * attempts / channels as f64;
            let ramp_ms = 1000.0 * calls.min(channels) as f64 / cfg.calls_per_second;
            let rate_ms = 1000.0 * attempts / cfg.calls_per_second;
            TimeDelta::milliseconds((talk_ms + ramp_ms).max(rate_ms).ceil() as i64)
        };
        SlotPace {
            calls,
            channels,
            needed,
            window,
        }
    }

    pub fn fits(&self) -> bool {
        self.needed <= self.window
    }
}

/// A trunk known to the pacer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrunkId(pub usize);

/// Why a call may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceDenied {
    GlobalCap,
    TrunkFull,
    UnknownTrunk,
    /// The start rate is used up; a token is back at `retry_at`.
    RateLimited {
        retry_at: DateTime<Utc>,
    },
    /// The trunk asked us to back off (congestion): no starts until `until`.
    Paused {
        until: DateTime<Utc>,
    },
}

/// The live counters: in-progress calls per trunk and overall, and the start bucket.
#[derive(Debug, Clone)]
pub struct Pacer {
    global_cap: usize,
    in_flight: usize,
    trunks: Vec<(usize, usize)>,
    cps: f64,
    tokens: f64,
    refilled_at: Option<DateTime<Utc>>,
    /// No call starts before this (the trunk's Retry-After).
    paused_until: Option<DateTime<Utc>>,
}

impl Pacer {
    /// A pacer with the configured trunk as [`TrunkId`]`(0)`.
    pub fn new(cfg: &PacingConfig) -> Self {
        Self {
            global_cap: cfg.global_cap,
            in_flight: 0,
            trunks: vec![(cfg.trunk_channels, 0)],
            cps: cfg.calls_per_second.max(0.0),
            // Start with a full bucket: one second's worth of starts.
            tokens: if cfg.calls_per_second > 0.0 {
                cfg.calls_per_second.max(1.0)
            } else {
                0.0
            },
            refilled_at: None,
            paused_until: None,
        }
    }

    /// Starts no call before `until` (a later pause wins; an earlier one is ignored).
    pub fn pause_until(&mut self, until: DateTime<Utc>) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    pub fn add_trunk(&mut self, channels: usize) -> TrunkId {
        self.trunks.push((channels, 0));
        TrunkId(self.trunks.len() - 1)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    fn refill(&mut self, now: DateTime<Utc>) {
        let burst = self.cps.max(1.0);
        if let Some(last) = self.refilled_at {
            let secs = (now - last).num_milliseconds().max(0) as f64 / 1000.0;
            self.tokens = (self.tokens + secs * self.cps).min(burst);
        }
        self.refilled_at = Some(now);
    }

    /// Takes a channel on `trunk` and a start token at `now`, or says why not.
    pub fn try_start(&mut self, trunk: TrunkId, now: DateTime<Utc>) -> Result<(), PaceDenied> {
        let Some(&(cap, used)) = self.trunks.get(trunk.0) else {
            return Err(PaceDenied::UnknownTrunk);
        };
        if self.in_flight >= self.global_cap {
            return Err(PaceDenied::GlobalCap);
        }
        if used >= cap {
            return Err(PaceDenied::TrunkFull);
        }
        if let Some(until) = self.paused_until.filter(|u| now < *u) {
            return Err(PaceDenied::Paused { until });
        }
        self.refill(now);
        if self.tokens < 1.0 {
            let wait_ms = if self.cps > 0.0 {
                ((1.0 - self.tokens) / self.cps * 1000.0).ceil() as i64
            } else {
                i64::MAX / 4
            };
            return Err(PaceDenied::RateLimited {
                retry_at: now + TimeDelta::milliseconds(wait_ms.max(1)),
            });
        }
        self.tokens -= 1.0;
        self.in_flight += 1;
        self.trunks[trunk.0].1 += 1;
        Ok(())
    }

    /// A call on `trunk` ended (a no-op for an unknown trunk or an idle one).
    pub fn finish(&mut self, trunk: TrunkId) {
        if let Some(t) = self.trunks.get_mut(trunk.0)
            && t.1 > 0
        {
            t.1 -= 1;
            self.in_flight = self.in_flight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn trunk_cap_and_global_cap_both_hold() {
        let cfg = PacingConfig {
            global_cap: 3,
            trunk_channels: 2,
            calls_per_second: 1000.0,
            ..PacingConfig::default()
        };
        let mut p = Pacer::new(&cfg);
        let t0 = TrunkId(0);
        let t1 = p.add_trunk(5);
        let now = utc("2026-11-22T00:00:00Z");
        assert_eq!(p.try_start(t0, now), Ok(()));
        assert_eq!(p.try_start(t0, now), Ok(()));
        assert_eq!(p.try_start(t0, now), Err(PaceDenied::TrunkFull));
        assert_eq!(p.try_start(t1, now), Ok(()));
        assert_eq!(p.try_start(t1, now), Err(PaceDenied::GlobalCap));
        p.finish(t0);
        assert_eq!(p.try_start(t1, now), Ok(()));
        assert_eq!(p.in_flight(), 3);
        assert_eq!(p.try_start(TrunkId(9), now), Err(PaceDenied::UnknownTrunk));
    }

    #[test]
    fn finishing_an_idle_trunk_does_not_underflow() {
        let mut p = Pacer::new(&PacingConfig::default());
        p.finish(TrunkId(0));
        p.finish(TrunkId(7));
        assert_eq!(p.in_flight(), 0);
    }

    #[test]
    fn start_rate_is_limited_on_the_virtual_clock() {
        let cfg = PacingConfig {
            calls_per_second: 2.0,
            ..PacingConfig::default()
        };
        let mut p = Pacer::new(&cfg);
        let t = TrunkId(0);
        let now = utc("2026-11-22T00:00:00Z");
        assert!(p.try_start(t, now).is_ok());
        assert!(p.try_start(t, now).is_ok());
        let Err(PaceDenied::RateLimited { retry_at }) = p.try_start(t, now) else {
            panic!("third start in the same instant must be rate limited");
        };
        assert_eq!(retry_at, now + TimeDelta::milliseconds(500));
        assert!(p.try_start(t, retry_at).is_ok());
    }

    #[test]
    fn a_pause_holds_every_start_until_it_ends() {
        let mut p = Pacer::new(&PacingConfig::default());
        let t = TrunkId(0);
        let now = utc("2026-11-22T00:00:00Z");
        let until = now + TimeDelta::seconds(30);
        p.pause_until(until);
        p.pause_until(now + TimeDelta::seconds(5)); // an earlier end does not shorten it
        assert_eq!(p.try_start(t, now), Err(PaceDenied::Paused { until }));
        assert_eq!(
            p.try_start(t, until - TimeDelta::milliseconds(1)),
            Err(PaceDenied::Paused { until })
        );
        assert_eq!(p.try_start(t, until), Ok(()));
        assert_eq!(p.in_flight(), 1);
    }

    #[test]
    fn estimate_flags_a_slot_too_big_for_the_window() {
        let cfg = PacingConfig::default(); // 2600 channels, 90 s × 1.4 attempts
        let ok = SlotPace::estimate(50_000, &cfg, TimeDelta::minutes(60));
        assert!(ok.fits(), "{ok:?}");
        let too_many = SlotPace::estimate(100_000, &cfg, TimeDelta::minutes(60));
        assert!(!too_many.fits(), "{too_many:?}");
        assert!(too_many.needed > TimeDelta::minutes(70));
        let none = PacingConfig {
            trunk_channels: 0,
            ..cfg
        };
        assert!(!SlotPace::estimate(1, &none, TimeDelta::minutes(60)).fits());
        assert!(SlotPace::estimate(0, &none, TimeDelta::minutes(60)).fits());
    }
}
