//! Property tests of the interpreter's timers (issue 10): random callers on a virtual
//! clock, driven as `engine::call_runner` drives a real call: prompts take time to play,
//! timers fire at their deadlines, the case store answers an identity check late or not
//! at all (the shell then answers `Unavailable`). Callers key digits (leading `*`
//! included), wrong entries and noise, stay silent for long spells, or hang up.
//! Asserted throughout: no timer is asked for with a deadline at or before now, so a
//! handled deadline never comes back due; at most one timer runs; a call that is not
//! over is always waiting for something that will come by itself (a prompt ending, a
//! timer, the store). At the end the caller goes silent, and every call must finish,
//! exactly once, with no timer or play left, within a bounded time.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use proptest::prelude::*;

use super::*;

/// How long one prompt plays on the virtual clock.
const PROMPT: Duration = Duration::from_millis(1500);
/// How long the shell waits for the store before answering `Unavailable`.
const STORE_GIVE_UP: Duration = Duration::from_secs(5);
/// A silent caller's longest path to the end: a few nodes (language menu, a field,
/// its hang-up) of at most three tries, each a handful of prompts and a first-digit
/// timeout, and one store timeout. Ten virtual minutes is far above it and far below
/// "never".
const SILENT_LIFETIME: Duration = Duration::from_secs(600);

fn plans() -> Arc<Dialplans> {
    static PLANS: OnceLock<Arc<Dialplans>> = OnceLock::new();
    PLANS
        .get_or_init(|| {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
            load(
                &root.join("dialplans"),
                &root.join("prompts"),
                Language::ALL,
            )
            .expect("shipped dialplans load")
        })
        .clone()
}

#[derive(Debug, Clone)]
enum Step {
    /// Keys, 300 ms apart.
    Keys(String),
    /// Nothing from the caller for this long.
    Silence(Duration),
    HangUp,
    /// The store's answer to a pending identity check arrives now.
    StoreAnswers(IdentityResult),
}

fn keys() -> impl Strategy<Value = String> {
    prop_oneof![
        // Plausible answers to what the flows ask, with pulse-line `*` first or inside.
        Just("1".to_string()),
        Just("2".to_string()),
        Just("9".to_string()),
        Just("1234567#".to_string()),
        Just("*1234567#".to_string()),
        Just("0305".to_string()),
        Just("**365".to_string()),
        Just("3*65".to_string()),
        Just("97#".to_string()),
        Just("#".to_string()),
        Just("*".to_string()),
        // Half an entry, then (usually) silence: the inter-digit timeout's path.
        Just("12".to_string()),
        "[0-9#*]{1,10}",
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => keys().prop_map(Step::Keys),
        4 => (0u64..20_000).prop_map(|ms| Step::Silence(Duration::from_millis(ms))),
        1 => Just(Step::HangUp),
        2 => prop_oneof![
            Just(IdentityResult::Verified { thresholds: None }),
            Just(IdentityResult::Mismatch),
            Just(IdentityResult::LockedOut),
            Just(IdentityResult::ObservationEnded),
            Just(IdentityResult::Unavailable),
        ]
        .prop_map(Step::StoreAnswers),
    ]
}

/// The shell on a virtual clock (milliseconds since the call was answered).
struct Shell {
    ivr: Interpreter,
    now: Duration,
    timers: BTreeMap<TimerId, Duration>,
    playing: Option<(PlayId, Duration)>,
    /// An identity check waits for the store until then.
    store_by: Option<Duration>,
    finished: Vec<CallOutcome>,
    ended_at: Option<Duration>,
}

impl Shell {
    fn new(ivr: Interpreter) -> Self {
        let mut me = Self {
            ivr,
            now: Duration::ZERO,
            timers: BTreeMap::new(),
            playing: None,
            store_by: None,
            finished: Vec::new(),
            ended_at: None,
        };
        me.carry_out();
        me
    }

    fn over(&self) -> bool {
        !self.finished.is_empty()
    }

    /// Carries out the actions, checking each deadline asked for.
    fn carry_out(&mut self) {
        while let Some(action) = self.ivr.poll_action() {
            assert!(!self.over(), "action after Finished: {action:?}");
            match action {
                Action::Play { id, prompts, .. } => {
                    let plays = PROMPT * prompts.len().max(1) as u32;
                    self.playing = Some((id, self.now + plays));
                }
                Action::StopPlayback(id) => {
                    if self.playing.is_some_and(|(p, _)| p == id) {
                        self.playing = None;
                    }
                }
                Action::StartTimer { id, after } => {
                    assert!(
                        after > Duration::ZERO,
                        "timer {id:?} asked for with a deadline at now ({after:?})"
                    );
                    self.timers.insert(id, self.now + after);
                    assert!(self.timers.len() <= 1, "two timers: {:?}", self.timers);
                }
                Action::CancelTimer(id) => {
                    self.timers.remove(&id);
                }
                Action::VerifyIdentity { .. } => {
                    assert!(self.store_by.is_none(), "two identity checks at once");
                    self.store_by = Some(self.now + STORE_GIVE_UP);
                }
                Action::Finished(outcome) => {
                    self.finished.push(outcome);
                    self.ended_at = Some(self.now);
                }
                Action::SaveAnswer { .. }
                | Action::CompleteReport { .. }
                | Action::MarkWrongNumber
                | Action::HangUp => {}
            }
        }
        if self.over() {
            assert!(self.timers.is_empty(), "timer left after the end");
            return;
        }
        // Nothing handled stays due, and the call waits for something that comes.
        for (id, at) in &self.timers {
            assert!(
                *at > self.now,
                "timer {id:?} due at {at:?}, now {:?}",
                self.now
            );
        }
        assert!(
            self.playing.is_some() || !self.timers.is_empty() || self.store_by.is_some(),
            "call at node {:?} waits for nothing: it would never end",
            self.ivr.current_node()
        );
    }

    fn send(&mut self, event: Event) {
        self.ivr.handle_event(event);
        self.carry_out();
    }

    /// The earliest thing that comes by itself.
    fn next_deadline(&self) -> Option<Duration> {
        let timer = self.timers.values().min().copied();
        let play = self.playing.map(|(_, at)| at);
        [timer, play, self.store_by].into_iter().flatten().min()
    }

    /// Lets virtual time run to `until`, firing what falls due, in order.
    fn advance_to(&mut self, until: Duration) {
        while !self.over() {
            let Some(at) = self.next_deadline().filter(|at| *at <= until) else {
                break;
            };
            self.now = self.now.max(at);
            if self.store_by == Some(at) {
                self.store_by = None;
                self.send(Event::IdentityChecked(IdentityResult::Unavailable));
            } else if let Some((id, _)) = self.playing.filter(|(_, end)| *end == at) {
                self.playing = None;
                self.send(Event::PromptFinished(id));
            } else if let Some((&id, _)) = self.timers.iter().find(|(_, t)| **t == at) {
                self.timers.remove(&id);
                self.send(Event::TimerFired(id));
            }
        }
        self.now = self.now.max(until);
    }

    fn step(&mut self, s: Step) {
        match s {
            Step::Keys(keys) => {
                for k in keys.chars() {
                    self.advance_to(self.now + Duration::from_millis(300));
                    if self.over() {
                        return;
                    }
                    self.send(Event::Digit(k));
                }
            }
            Step::Silence(d) => self.advance_to(self.now + d),
            Step::HangUp => self.send(Event::HangUp),
            Step::StoreAnswers(r) => {
                if self.store_by.take().is_some() {
                    self.send(Event::IdentityChecked(r));
                }
            }
        }
    }
}

fn run(ivr: Interpreter, steps: Vec<Step>) {
    let mut shell = Shell::new(ivr);
    for s in steps {
        if shell.over() {
            break;
        }
        shell.step(s);
    }
    // The caller goes silent (or keeps the line open saying nothing): the call must end.
    let silent_from = shell.now;
    shell.advance_to(silent_from + SILENT_LIFETIME);
    assert_eq!(
        shell.finished.len(),
        1,
        "call still at node {:?} {:?} after the caller went silent",
        shell.ivr.current_node(),
        SILENT_LIFETIME
    );
    assert!(shell.ivr.is_finished());
    assert!(shell.timers.is_empty() && shell.playing.is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn inbound_timers_never_stay_due_and_every_call_ends(
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        run(Interpreter::inbound(plans(), AlertThresholds::default()), steps);
    }

    #[test]
    fn outbound_timers_never_stay_due_and_every_call_ends(
        lang in 0usize..8,
        steps in proptest::collection::vec(step(), 0..60),
    ) {
        let lang = Language::ALL[lang];
        run(Interpreter::outbound(plans(), lang, AlertThresholds::default()), steps);
    }
}

#[test]
fn a_silent_caller_is_reprompted_then_the_call_ends_on_the_timers_alone() {
    for ivr in [
        Interpreter::inbound(plans(), AlertThresholds::default()),
        Interpreter::outbound(plans(), Language::Ja, AlertThresholds::default()),
    ] {
        let mut shell = Shell::new(ivr);
        shell.advance_to(SILENT_LIFETIME);
        assert_eq!(shell.finished, vec![CallOutcome::NotReached]);
        // Ended by the plan's timers: after at least one first-digit timeout, well
        // before the limit.
        let ended = shell.ended_at.unwrap_or(SILENT_LIFETIME);
        assert!(
            ended > Duration::from_secs(8) && ended < Duration::from_secs(180),
            "{ended:?}"
        );
    }
}
