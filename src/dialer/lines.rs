//! Caller lines: the numbers patients see. Patients are told these numbers, so a call
//! only ever goes out on a configured line; each call picks one at random among the
//! lines with a free channel. The RNG is injected so tests and the simulation are
//! reproducible.

use rand::Rng;

use super::DialerError;
use crate::config::CallerLine;

/// A line taken for one call; give it back with [`CallerLinePool::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineLease {
    index: usize,
    number: String,
}

impl LineLease {
    /// The caller number to present (store it on the attempt).
    pub fn number(&self) -> &str {
        &self.number
    }
}

#[derive(Debug, Clone)]
struct LineState {
    number: String,
    /// `None`: limited by the trunk only (`channels = 0` in the configuration).
    cap: Option<usize>,
    in_use: usize,
}

/// The configured caller lines and their channels in use.
#[derive(Debug, Clone)]
pub struct CallerLinePool {
    lines: Vec<LineState>,
}

impl CallerLinePool {
    /// From `caller_lines` in the configuration: at least one line, no duplicates.
    pub fn from_config(lines: &[CallerLine]) -> Result<Self, DialerError> {
        if lines.is_empty() {
            return Err(DialerError::NoCallerLines);
        }
        let mut out: Vec<LineState> = Vec::with_capacity(lines.len());
        for l in lines {
            let number = l.number.trim().to_string();
            if number.is_empty() {
                return Err(DialerError::NoCallerLines);
            }
            if out.iter().any(|o| o.number == number) {
                return Err(DialerError::DuplicateCallerLine(number));
            }
            out.push(LineState {
                number,
                cap: (l.channels > 0).then_some(l.channels),
                in_use: 0,
            });
        }
        Ok(Self { lines: out })
    }

    /// Picks a line uniformly among those with a free channel; `None` if all are full.
    pub fn acquire<R: Rng + ?Sized>(&mut self, rng: &mut R) -> Option<LineLease> {
        let free = self
            .lines
            .iter()
            .filter(|l| l.cap.is_none_or(|c| l.in_use < c))
            .count();
        if free == 0 {
            return None;
        }
        let mut pick = rng.random_range(0..free);
        let index = self.lines.iter().position(|l| {
            let has_room = l.cap.is_none_or(|c| l.in_use < c);
            if has_room && pick == 0 {
                return true;
            }
            if has_room {
                pick -= 1;
            }
            false
        })?;
        let line = &mut self.lines[index];
        line.in_use += 1;
        Some(LineLease {
            index,
            number: line.number.clone(),
        })
    }

    /// The call on `lease` ended.
    pub fn release(&mut self, lease: LineLease) {
        if let Some(l) = self.lines.get_mut(lease.index) {
            l.in_use = l.in_use.saturating_sub(1);
        }
    }

    /// Whether `number` is one of the configured lines (for checking a stored attempt).
    pub fn is_configured(&self, number: &str) -> bool {
        self.lines.iter().any(|l| l.number == number)
    }

    pub fn in_use(&self, number: &str) -> Result<usize, DialerError> {
        self.lines
            .iter()
            .find(|l| l.number == number)
            .map(|l| l.in_use)
            .ok_or_else(|| DialerError::UnknownCallerLine(number.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn line(n: &str, channels: usize) -> CallerLine {
        CallerLine {
            number: n.into(),
            channels,
        }
    }

    fn seeds() -> Vec<CallerLine> {
        vec![line("05031980215", 0), line("05033110008", 0)]
    }

    #[test]
    fn both_seed_lines_are_used_at_random_and_nothing_else() {
        let mut pool = CallerLinePool::from_config(&seeds()).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        let mut counts = [0usize; 2];
        for _ in 0..1000 {
            let l = pool.acquire(&mut rng).unwrap();
            match l.number() {
                "05031980215" => counts[0] += 1,
                "05033110008" => counts[1] += 1,
                other => panic!("unconfigured line {other}"),
            }
            pool.release(l);
        }
        assert!(counts[0] > 400 && counts[1] > 400, "{counts:?}");
    }

    #[test]
    fn a_full_line_is_skipped_and_all_full_gives_none() {
        let mut pool =
            CallerLinePool::from_config(&[line("05031980215", 1), line("05033110008", 2)]).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let a = pool.acquire(&mut rng).unwrap();
        let b = pool.acquire(&mut rng).unwrap();
        let c = pool.acquire(&mut rng).unwrap();
        assert!(pool.acquire(&mut rng).is_none());
        assert_eq!(pool.in_use("05031980215").unwrap(), 1);
        assert_eq!(pool.in_use("05033110008").unwrap(), 2);
        // Freeing the small line: the only free one, so every pick must be it.
        let small = [&a, &b, &c]
            .into_iter()
            .find(|l| l.number() == "05031980215")
            .unwrap()
            .clone();
        pool.release(small);
        for _ in 0..20 {
            let l = pool.acquire(&mut rng).unwrap();
            assert_eq!(l.number(), "05031980215");
            pool.release(l);
        }
    }

    #[test]
    fn configuration_errors_are_named() {
        assert_eq!(
            CallerLinePool::from_config(&[]).unwrap_err(),
            DialerError::NoCallerLines
        );
        assert_eq!(
            CallerLinePool::from_config(&[line("0501", 0), line(" 0501", 0)]).unwrap_err(),
            DialerError::DuplicateCallerLine("0501".into())
        );
        let pool = CallerLinePool::from_config(&seeds()).unwrap();
        assert!(pool.is_configured("05033110008"));
        assert!(!pool.is_configured("0120000000"));
        assert!(pool.in_use("0120000000").is_err());
    }
}
