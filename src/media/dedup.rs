//! One key press reported once: when the same key arrives from two sources (telephone-event
//! and in-band tones, or SIP INFO) within a short window, the later copy is dropped.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::call::{Digit, DigitSource};

/// How far apart two copies of one press may arrive (in-band detection lags the
/// telephone-event start by about 40-60 ms; gateways add jitter).
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(400);

#[derive(Debug)]
struct Reported {
    digit: Digit,
    at: Instant,
    /// Sources that already delivered their copy of this press.
    matched: [bool; 3],
}

fn slot(source: DigitSource) -> usize {
    match source {
        DigitSource::Rfc4733 => 0,
        DigitSource::InBand => 1,
        DigitSource::SipInfo => 2,
    }
}

/// Pairs copies of one press across sources; presses from one source are never merged.
#[derive(Debug)]
pub struct DigitDedup {
    window: Duration,
    recent: VecDeque<Reported>,
}

impl Default for DigitDedup {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW)
    }
}

impl DigitDedup {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            recent: VecDeque::new(),
        }
    }

    /// Returns the digit if it is a new press, `None` if another source already reported it.
    pub fn admit(&mut self, now: Instant, digit: Digit) -> Option<Digit> {
        let window = self.window;
        self.recent
            .retain(|r| now.saturating_duration_since(r.at) <= window);
        let copy_of = self.recent.iter_mut().find(|r| {
            r.digit.key == digit.key
                && r.digit.source != digit.source
                && !r.matched[slot(digit.source)]
        });
        if let Some(first) = copy_of {
            first.matched[slot(digit.source)] = true;
            return None;
        }
        let mut matched = [false; 3];
        matched[slot(digit.source)] = true;
        self.recent.push_back(Reported {
            digit,
            at: now,
            matched,
        });
        Some(digit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(key: char, source: DigitSource) -> Digit {
        Digit { key, source }
    }

    #[test]
    fn same_key_from_telephone_event_and_tones_is_reported_once_with_the_first_source() {
        let t0 = Instant::now();
        let mut dd = DigitDedup::default();
        assert_eq!(
            dd.admit(t0, d('5', DigitSource::Rfc4733)),
            Some(d('5', DigitSource::Rfc4733))
        );
        assert_eq!(
            dd.admit(t0 + Duration::from_millis(60), d('5', DigitSource::InBand)),
            None
        );
    }

    #[test]
    fn repeated_presses_pair_one_to_one_across_sources() {
        let t0 = Instant::now();
        let ms = |m| t0 + Duration::from_millis(m);
        let mut dd = DigitDedup::default();
        let mut out = Vec::new();
        out.extend(dd.admit(ms(0), d('3', DigitSource::Rfc4733)));
        out.extend(dd.admit(ms(50), d('3', DigitSource::InBand)));
        out.extend(dd.admit(ms(200), d('3', DigitSource::Rfc4733)));
        out.extend(dd.admit(ms(250), d('3', DigitSource::InBand)));
        assert_eq!(out.len(), 2, "{out:?}");
    }

    #[test]
    fn same_source_repeats_are_never_merged() {
        let t0 = Instant::now();
        let mut dd = DigitDedup::default();
        assert!(dd.admit(t0, d('1', DigitSource::SipInfo)).is_some());
        assert!(
            dd.admit(t0 + Duration::from_millis(10), d('1', DigitSource::SipInfo))
                .is_some()
        );
    }

    #[test]
    fn copies_outside_the_window_are_new_presses() {
        let t0 = Instant::now();
        let mut dd = DigitDedup::default();
        assert!(dd.admit(t0, d('9', DigitSource::SipInfo)).is_some());
        assert!(
            dd.admit(t0 + Duration::from_millis(900), d('9', DigitSource::InBand))
                .is_some()
        );
    }

    #[test]
    fn different_keys_are_both_reported() {
        let t0 = Instant::now();
        let mut dd = DigitDedup::default();
        assert!(dd.admit(t0, d('1', DigitSource::Rfc4733)).is_some());
        assert!(dd.admit(t0, d('2', DigitSource::InBand)).is_some());
    }

    #[test]
    fn three_sources_of_one_press_give_one_digit() {
        let t0 = Instant::now();
        let mut dd = DigitDedup::default();
        let n = [
            DigitSource::Rfc4733,
            DigitSource::SipInfo,
            DigitSource::InBand,
        ]
        .into_iter()
        .filter_map(|s| dd.admit(t0, d('#', s)))
        .count();
        assert_eq!(n, 1);
    }
}
