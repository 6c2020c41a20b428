//! The dialer shell's time source. Production runs on the wall clock; tests and the demo
//! compress time (`[dialer] time_scale`): a 15-minute retry offset passes in seconds while
//! every rule still sees consistent virtual instants.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};

/// Virtual time: `origin + (real elapsed) × scale`.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    real_origin: Instant,
    origin: DateTime<Utc>,
    scale: f64,
}

impl Clock {
    /// The wall clock.
    pub fn real() -> Self {
        Self::scaled(Utc::now(), 1.0)
    }

    /// Virtual time starting at `origin` now and running `scale` times faster than real
    /// time. A non-positive or NaN scale is taken as 1.
    pub fn scaled(origin: DateTime<Utc>, scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Self {
            real_origin: Instant::now(),
            origin,
            scale,
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.at_real(self.real_origin.elapsed())
    }

    /// The virtual instant `elapsed` real time after the origin.
    fn at_real(&self, elapsed: Duration) -> DateTime<Utc> {
        let virt_ms = (elapsed.as_secs_f64() * self.scale * 1000.0) as i64;
        self.origin + TimeDelta::milliseconds(virt_ms)
    }

    /// The real time a span of virtual time takes (zero for a negative span).
    pub fn real_duration(&self, virt: TimeDelta) -> Duration {
        let secs = virt.num_milliseconds().max(0) as f64 / 1000.0 / self.scale;
        Duration::from_secs_f64(secs)
    }

    /// Sleeps until the virtual instant `t` (at once if it has passed).
    pub async fn sleep_until(&self, t: DateTime<Utc>) {
        tokio::time::sleep(self.real_duration(t - self.now())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_time_maps_real_spans_both_ways() {
        let origin = DateTime::from_timestamp(1_795_132_800, 0).unwrap();
        let c = Clock::scaled(origin, 60.0);
        assert_eq!(
            c.at_real(Duration::from_secs(15)),
            origin + TimeDelta::minutes(15)
        );
        assert_eq!(
            c.real_duration(TimeDelta::minutes(5)),
            Duration::from_secs(5)
        );
        assert_eq!(c.real_duration(TimeDelta::minutes(-5)), Duration::ZERO);
        assert_eq!(Clock::scaled(origin, f64::NAN).scale(), 1.0);
    }
}
