//! Random callers (seeded, reproducible): whatever is keyed and whenever prompts end or
//! timers fire, the interpreter never panics, plays one thing at a time, runs at most
//! one timer, completes a report only when every question was saved, and ends exactly
//! once.

mod ivr_support;

use ivr_support::*;
use kenkocall::ivr::{Action, CallOutcome, Event, IdentityResult, Language};

/// A small deterministic generator, so a failing seed can be replayed.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn run(seed: u64, mut p: Phone) {
    let mut r = Lcg(seed);
    // Mostly plausible entries (so calls get deep), some wrong ones, some noise.
    let tokens = [
        "1", "2", "1", "2", "1", "2", "365", "372", "97#", "91#", "#", "1234567#", "0305", "*",
        "**", "9", "450", "0", "12#", "3",
    ];
    for _ in 0..600 {
        if p.finished.is_some() {
            break;
        }
        if matches!(p.log.last(), Some(Action::VerifyIdentity { .. })) {
            let res = match r.next(10) {
                0 => IdentityResult::Mismatch,
                1 => IdentityResult::LockedOut,
                2 => IdentityResult::ObservationEnded,
                _ => verified(),
            };
            p.identity(res);
            continue;
        }
        if r.next(10) < 6 {
            // A caller who mostly answers what was asked.
            let asked = p.played_ids().last().cloned().unwrap_or_default();
            let pick = |r: &mut Lcg, xs: &[&'static str]| xs[r.next(xs.len() as u64) as usize];
            let answer = match asked.as_str() {
                "language_menu_option" => pick(&mut r, &["1", "2", "3", "4", "5", "6", "7", "8"]),
                "enter_hersys_id" => pick(&mut r, &["1234567#", "7654321#", "12345678"]),
                "enter_birthday" => pick(&mut r, &["0305", "1231", "1332"]),
                "ask_temperature" => pick(&mut r, &["365", "372", "380", "450"]),
                "ask_spo2" => pick(&mut r, &["97#", "91#", "#", "100#", "69#"]),
                "confirm_entry" | "outbound_start_menu" => pick(&mut r, &["1", "1", "1", "2"]),
                _ => pick(&mut r, &["1", "2"]),
            };
            p.keys(answer);
            continue;
        }
        match r.next(10) {
            0..=5 => {
                let t = tokens[r.next(tokens.len() as u64) as usize];
                p.keys(t);
            }
            6..=8 if p.playing.is_some() => {
                p.prompt_ends();
            }
            _ if !p.timers.is_empty() => {
                p.timer_fires();
            }
            _ if p.playing.is_some() => {
                p.prompt_ends();
            }
            _ => {}
        }
    }
    if p.finished.is_none() {
        p.send(Event::HangUp);
    }
    let finished = p
        .log
        .iter()
        .filter(|a| matches!(a, Action::Finished(_)))
        .count();
    assert_eq!(finished, 1, "seed {seed}");
    for (person, _) in p.completed() {
        let saved = p.saves().iter().filter(|s| s.0 == person).count();
        assert!(
            saved >= 11,
            "seed {seed}: person {person} complete with {saved} answers"
        );
    }
    let mut completed: Vec<usize> = p.completed().iter().map(|c| c.0).collect();
    completed.sort_unstable();
    completed.dedup();
    match p.finished {
        Some(CallOutcome::Answered {
            reports_complete, ..
        }) => assert!(reports_complete as usize <= completed.len(), "seed {seed}"),
        Some(CallOutcome::NotReached) => assert!(p.saves().is_empty(), "seed {seed}"),
        Some(CallOutcome::WrongNumber) => assert!(p.log.contains(&Action::MarkWrongNumber)),
        None => unreachable!(),
    }
}

#[test]
fn random_inbound_callers_never_break_the_interpreter() {
    for seed in 0..300 {
        run(seed, Phone::inbound());
    }
}

#[test]
fn random_outbound_callers_never_break_the_interpreter() {
    for seed in 0..300 {
        run(seed, Phone::outbound(Language::ALL[(seed % 8) as usize]));
    }
}
