//! The simulated phones of [`super::sim`]: per-attempt outcomes and channel times.

use chrono::TimeDelta;
use rand::Rng;
use rand::rngs::StdRng;

use crate::store::AttemptOutcome;

/// How the simulated phones behave. Probabilities are per attempt; a share of patients
/// is "away" (out, asleep, in the bath) and answers much less, so a retry is less likely
/// to succeed than a first try, as on real call lists.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PhoneBehaviour {
    pub away_share: f64,
    pub answer_when_home: f64,
    pub answer_when_away: f64,
    /// Of unanswered attempts, the share that is busy (486) or failed (trunk/5xx);
    /// the rest ring out.
    pub busy_share: f64,
    pub failed_share: f64,
    /// Of answered calls: hung up without keying anything, and key 9 (wrong number).
    pub no_input_share: f64,
    pub wrong_number_share: f64,
    /// Seconds: ring before answer (uniform), the ring timeout, the questionnaire
    /// (mean and half-spread), a silent answer, and busy/failed signalling.
    pub ring_secs: (f64, f64),
    pub ring_timeout_secs: f64,
    pub talk_mean_secs: f64,
    pub talk_spread_secs: f64,
    pub no_input_secs: (f64, f64),
    pub reject_secs: (f64, f64),
}

impl Default for PhoneBehaviour {
    fn default() -> Self {
        Self {
            away_share: 0.15,
            answer_when_home: 0.85,
            answer_when_away: 0.10,
            busy_share: 0.20,
            failed_share: 0.05,
            no_input_share: 0.04,
            wrong_number_share: 0.002,
            ring_secs: (4.0, 25.0),
            ring_timeout_secs: 45.0,
            // Greeting, temperature and SpO2 with read-back, nine yes/no symptoms.
            talk_mean_secs: 100.0,
            talk_spread_secs: 35.0,
            no_input_secs: (8.0, 25.0),
            reject_secs: (0.5, 4.0),
        }
    }
}

fn uniform(rng: &mut StdRng, (lo, hi): (f64, f64)) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

fn secs(s: f64) -> TimeDelta {
    TimeDelta::milliseconds((s * 1000.0).round() as i64)
}

/// One attempt's outcome and how long it holds the channel.
pub(super) fn ring(
    rng: &mut StdRng,
    b: &PhoneBehaviour,
    away: bool,
) -> (AttemptOutcome, TimeDelta) {
    let p_answer = if away {
        b.answer_when_away
    } else {
        b.answer_when_home
    };
    if rng.random_bool(p_answer.clamp(0.0, 1.0)) {
        let ring = uniform(rng, b.ring_secs);
        let r: f64 = rng.random();
        if r < b.wrong_number_share {
            return (AttemptOutcome::WrongNumber, secs(ring + 15.0));
        }
        if r < b.wrong_number_share + b.no_input_share {
            return (
                AttemptOutcome::NoInput,
                secs(ring + uniform(rng, b.no_input_secs)),
            );
        }
        // A triangular spread around the mean: two uniforms summed.
        let talk = b.talk_mean_secs
            + b.talk_spread_secs * (rng.random::<f64>() + rng.random::<f64>() - 1.0);
        return (AttemptOutcome::Completed, secs(ring + talk.max(20.0)));
    }
    let r: f64 = rng.random();
    if r < b.busy_share {
        (AttemptOutcome::Busy, secs(uniform(rng, b.reject_secs)))
    } else if r < b.busy_share + b.failed_share {
        (AttemptOutcome::Failed, secs(uniform(rng, b.reject_secs)))
    } else {
        (AttemptOutcome::NoAnswer, secs(b.ring_timeout_secs))
    }
}
