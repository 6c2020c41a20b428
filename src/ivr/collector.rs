//! Digit collection for one field, sans-IO: keys, the end of the field's prompt and
//! timer expiries go in; a result and the timer the field wants running come out.
//!
//! Rules: `*` is ignored wherever it comes (pulse-line users press it to switch to
//! tone; it has no meaning in any menu), so `*365`, `**365` and `*`, pause, `365` are
//! all `365`. The first-digit timeout runs from the end of the prompt; the first digit,
//! whenever it comes (also during the prompt), starts the inter-digit timeout, which
//! every further digit restarts.

use std::time::Duration;

/// How a field is keyed and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub min_digits: usize,
    pub max_digits: usize,
    /// `#` ends the entry; without it the entry ends at `max_digits`.
    pub terminator: bool,
    /// `#` alone is an answer (the empty string): "not measured".
    pub allow_empty: bool,
    pub first_digit_timeout: Duration,
    pub inter_digit_timeout: Duration,
    /// Tries in all, the first included.
    pub max_tries: u32,
    pub validator: Validator,
}

/// What makes a complete entry acceptable.
#[derive(Debug, Clone, PartialEq)]
pub enum Validator {
    Any,
    /// One of these exact entries (menu keys).
    OneOf(Vec<String>),
    /// A month and day, `MMDD`.
    MonthDay,
    /// The entry as a number, inclusive; outside it is `OutOfRange`.
    Range {
        min: u32,
        max: u32,
    },
}

impl Validator {
    fn check(&self, digits: &str) -> Result<(), Failure> {
        match self {
            Validator::Any => Ok(()),
            Validator::OneOf(keys) if keys.iter().any(|k| k == digits) => Ok(()),
            Validator::OneOf(_) => Err(Failure::NoMatch),
            Validator::MonthDay => {
                let n: u32 = digits.parse().map_err(|_| Failure::NoMatch)?;
                let (month, day) = (n / 100, n % 100);
                let days = match month {
                    2 => 29,
                    4 | 6 | 9 | 11 => 30,
                    1..=12 => 31,
                    _ => 0,
                };
                if digits.len() == 4 && (1..=days).contains(&day) {
                    Ok(())
                } else {
                    Err(Failure::NoMatch)
                }
            }
            Validator::Range { min, max } => {
                let n: u32 = digits.parse().map_err(|_| Failure::NoMatch)?;
                if (*min..=*max).contains(&n) {
                    Ok(())
                } else {
                    Err(Failure::OutOfRange)
                }
            }
        }
    }
}

/// Why a try failed; each has its own spoken explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Nothing keyed before the first-digit timeout.
    NoInput,
    /// Keys that do not make an entry (too few, too many, not an option).
    NoMatch,
    /// A well-formed number outside the valid range.
    OutOfRange,
}

/// The result of feeding the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Collected {
    /// Keep listening.
    Pending,
    /// A valid entry (empty when `#` alone was allowed and keyed).
    Value(String),
    /// This try failed and another is allowed: explain, then ask again.
    Retry(Failure),
    /// The last allowed try failed.
    MaxTries(Failure),
}

/// Which timer a field runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldTimer {
    FirstDigit,
    InterDigit,
}

/// A change to the one timer the field runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerChange {
    Start(FieldTimer, Duration),
    Cancel,
}

/// Collects one field over one or more tries.
#[derive(Debug, Clone)]
pub struct DigitCollector {
    spec: FieldSpec,
    digits: String,
    tries: u32,
    prompt_done: bool,
    done: bool,
    timer: Option<FieldTimer>,
    timer_change: Option<TimerChange>,
}

impl DigitCollector {
    /// Starts the first try; its prompt is assumed to be playing.
    pub fn new(spec: FieldSpec) -> Self {
        Self {
            spec,
            digits: String::new(),
            tries: 0,
            prompt_done: false,
            done: false,
            timer: None,
            timer_change: None,
        }
    }

    pub fn spec(&self) -> &FieldSpec {
        &self.spec
    }

    /// Digits keyed in the current try (not counting `*`).
    pub fn has_digits(&self) -> bool {
        !self.digits.is_empty()
    }

    /// Failed tries so far.
    pub fn tries(&self) -> u32 {
        self.tries
    }

    /// The timer change the last call asked for, once.
    pub fn take_timer_change(&mut self) -> Option<TimerChange> {
        self.timer_change.take()
    }

    /// The prompt of the current try ended (or there was none): wait for the first digit.
    pub fn prompt_finished(&mut self) {
        if self.done || self.prompt_done {
            return;
        }
        self.prompt_done = true;
        if self.digits.is_empty() {
            self.arm(FieldTimer::FirstDigit, self.spec.first_digit_timeout);
        }
    }

    /// One key. `*` (and `A`-`D`) change nothing.
    pub fn key(&mut self, key: char) -> Collected {
        if self.done {
            return Collected::Pending;
        }
        match key {
            '0'..='9' => {
                self.digits.push(key);
                if self.digits.len() > self.spec.max_digits {
                    return self.fail(Failure::NoMatch);
                }
                if !self.spec.terminator && self.digits.len() == self.spec.max_digits {
                    return self.finish();
                }
                self.arm(FieldTimer::InterDigit, self.spec.inter_digit_timeout);
                Collected::Pending
            }
            '#' if self.digits.is_empty() && self.spec.allow_empty => self.accept(),
            '#' if self.spec.terminator && !self.digits.is_empty() => self.finish(),
            '#' => self.fail(Failure::NoMatch),
            _ => Collected::Pending,
        }
    }

    /// A timer this collector asked for fired.
    pub fn timer_fired(&mut self, which: FieldTimer) -> Collected {
        if self.done || self.timer != Some(which) {
            return Collected::Pending;
        }
        self.timer = None;
        match which {
            FieldTimer::FirstDigit => self.fail(Failure::NoInput),
            // A caller who forgot `#` still gets a complete entry accepted.
            FieldTimer::InterDigit => self.finish(),
        }
    }

    /// The entry ended: check its length, then its validator.
    fn finish(&mut self) -> Collected {
        let n = self.digits.len();
        if n < self.spec.min_digits || n > self.spec.max_digits {
            return self.fail(Failure::NoMatch);
        }
        match self.spec.validator.check(&self.digits) {
            Ok(()) => self.accept(),
            Err(f) => self.fail(f),
        }
    }

    fn accept(&mut self) -> Collected {
        self.done = true;
        self.disarm();
        Collected::Value(std::mem::take(&mut self.digits))
    }

    /// Counts a failed try; the next try starts with its prompt playing.
    fn fail(&mut self, failure: Failure) -> Collected {
        self.tries += 1;
        self.digits.clear();
        self.prompt_done = false;
        self.disarm();
        if self.tries >= self.spec.max_tries {
            self.done = true;
            Collected::MaxTries(failure)
        } else {
            Collected::Retry(failure)
        }
    }

    fn arm(&mut self, which: FieldTimer, after: Duration) {
        self.timer = Some(which);
        self.timer_change = Some(TimerChange::Start(which, after));
    }

    fn disarm(&mut self) {
        if self.timer.take().is_some() || self.timer_change.is_some() {
            self.timer_change = Some(TimerChange::Cancel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_secs(8);
    const INTER: Duration = Duration::from_secs(5);

    fn spec(min: usize, max: usize, terminator: bool, validator: Validator) -> FieldSpec {
        FieldSpec {
            min_digits: min,
            max_digits: max,
            terminator,
            allow_empty: false,
            first_digit_timeout: FIRST,
            inter_digit_timeout: INTER,
            max_tries: 3,
            validator,
        }
    }

    fn temperature() -> DigitCollector {
        DigitCollector::new(spec(3, 3, false, Validator::Range { min: 340, max: 420 }))
    }

    fn feed(c: &mut DigitCollector, keys: &str) -> Collected {
        let mut last = Collected::Pending;
        for k in keys.chars() {
            last = c.key(k);
        }
        last
    }

    #[test]
    fn star_prefix_is_ignored_once_or_many_times() {
        for keys in ["*365", "**365", "***365", "3*65"] {
            let mut c = temperature();
            assert_eq!(feed(&mut c, keys), Collected::Value("365".into()), "{keys}");
            assert_eq!(c.tries(), 0);
        }
    }

    #[test]
    fn star_alone_then_digits_after_the_prompt_is_no_error() {
        let mut c = temperature();
        c.prompt_finished();
        assert_eq!(
            c.take_timer_change(),
            Some(TimerChange::Start(FieldTimer::FirstDigit, FIRST))
        );
        assert_eq!(c.key('*'), Collected::Pending);
        // `*` neither answers nor restarts anything: the first-digit timer still runs.
        assert_eq!(c.take_timer_change(), None);
        assert_eq!(feed(&mut c, "365"), Collected::Value("365".into()));
    }

    #[test]
    fn first_digit_during_prompt_starts_inter_digit_timer_and_prompt_end_adds_none() {
        let mut c = DigitCollector::new(spec(6, 8, true, Validator::Any));
        assert_eq!(c.key('1'), Collected::Pending);
        assert_eq!(
            c.take_timer_change(),
            Some(TimerChange::Start(FieldTimer::InterDigit, INTER))
        );
        c.prompt_finished();
        assert_eq!(c.take_timer_change(), None);
    }

    #[test]
    fn no_input_then_no_match_then_max_tries_are_distinct() {
        let mut c = temperature();
        c.prompt_finished();
        assert_eq!(
            c.timer_fired(FieldTimer::FirstDigit),
            Collected::Retry(Failure::NoInput)
        );
        c.prompt_finished();
        assert_eq!(feed(&mut c, "12#"), Collected::Retry(Failure::NoMatch));
        c.prompt_finished();
        assert_eq!(
            feed(&mut c, "450"),
            Collected::MaxTries(Failure::OutOfRange)
        );
        // Finished: nothing more comes out.
        assert_eq!(c.key('3'), Collected::Pending);
    }

    #[test]
    fn out_of_range_is_not_a_no_match() {
        let mut c = temperature();
        assert_eq!(feed(&mut c, "339"), Collected::Retry(Failure::OutOfRange));
        assert_eq!(feed(&mut c, "420"), Collected::Value("420".into()));
    }

    #[test]
    fn inter_digit_timeout_accepts_a_complete_entry_without_hash() {
        let mut c = DigitCollector::new(spec(6, 8, true, Validator::Any));
        feed(&mut c, "1234567");
        assert_eq!(
            c.timer_fired(FieldTimer::InterDigit),
            Collected::Value("1234567".into())
        );
        let mut short = DigitCollector::new(spec(6, 8, true, Validator::Any));
        feed(&mut short, "123");
        assert_eq!(
            short.timer_fired(FieldTimer::InterDigit),
            Collected::Retry(Failure::NoMatch)
        );
    }

    #[test]
    fn stale_timer_kind_is_ignored() {
        let mut c = temperature();
        c.key('3');
        assert_eq!(c.timer_fired(FieldTimer::FirstDigit), Collected::Pending);
    }

    #[test]
    fn terminated_field_waits_for_hash_at_max_and_refuses_a_digit_beyond() {
        let spo2 = || {
            let mut s = spec(2, 3, true, Validator::Range { min: 70, max: 100 });
            s.allow_empty = true;
            DigitCollector::new(s)
        };
        let mut c = spo2();
        assert_eq!(feed(&mut c, "100"), Collected::Pending);
        assert_eq!(c.key('#'), Collected::Value("100".into()));
        assert_eq!(feed(&mut spo2(), "97#"), Collected::Value("97".into()));
        assert_eq!(feed(&mut spo2(), "#"), Collected::Value(String::new()));
        assert_eq!(feed(&mut spo2(), "*#"), Collected::Value(String::new()));
        assert_eq!(
            feed(&mut spo2(), "1000"),
            Collected::Retry(Failure::NoMatch)
        );
        assert_eq!(feed(&mut spo2(), "9#"), Collected::Retry(Failure::NoMatch));
        assert_eq!(
            feed(&mut spo2(), "69#"),
            Collected::Retry(Failure::OutOfRange)
        );
    }

    #[test]
    fn hash_alone_is_no_match_where_not_allowed() {
        let mut c = DigitCollector::new(spec(6, 8, true, Validator::Any));
        assert_eq!(c.key('#'), Collected::Retry(Failure::NoMatch));
    }

    #[test]
    fn month_day_validator_refuses_impossible_dates() {
        let v = Validator::MonthDay;
        assert!(v.check("0305").is_ok() && v.check("1231").is_ok() && v.check("0229").is_ok());
        for bad in ["1301", "0000", "0230", "0431", "0100"] {
            assert_eq!(v.check(bad), Err(Failure::NoMatch), "{bad}");
        }
    }

    #[test]
    fn menu_key_outside_options_is_no_match() {
        let mut c = DigitCollector::new(spec(
            1,
            1,
            false,
            Validator::OneOf(vec!["1".into(), "2".into()]),
        ));
        assert_eq!(c.key('3'), Collected::Retry(Failure::NoMatch));
        assert_eq!(c.key('2'), Collected::Value("2".into()));
    }
}
