//! The sans-IO dialplan interpreter: one per call. Events in ([`Event`]), actions out
//! ([`Action`]); it never reads the clock, sleeps or touches the network. Timers are
//! asked for with `StartTimer` and come back as `TimerFired`.

use std::collections::VecDeque;
use std::sync::Arc;

use super::collector::{Collected, DigitCollector, FieldTimer, TimerChange};
use super::dialplan::{Dialplan, Dialplans};
use super::events::{Action, CallOutcome, Event, PersonIndex, PlayId, TimerId};
use super::node::Field;
use super::prompts::PromptRef;
use super::questions::{AnswerValue, Answers};
use crate::store::AlertThresholds;
use crate::store::Language;

/// Transitions allowed without waiting for an event; more means a loop in the plan.
pub(super) const MAX_HOPS: usize = 64;

/// Keys kept as type-ahead; a caller leaning on the keypad cannot grow it further.
const MAX_TYPEAHEAD: usize = 32;

/// Which flow a call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The 24 h health-call line: language menu, ID and birthday, several people.
    Inbound,
    /// The auto-call to a known patient.
    Outbound,
}

/// What the interpreter is waiting for.
#[derive(Debug)]
pub(super) enum Stage {
    /// A `play` node; then `next`.
    Playing {
        next: String,
    },
    /// Keys for one field; `prompts` ask for it again after an error.
    Collecting {
        collector: DigitCollector,
        purpose: Purpose,
        prompts: Vec<PromptRef>,
    },
    AwaitIdentity,
    /// The goodbye is playing; then hang up.
    HangingUp,
    Done,
}

/// What the field being collected is for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Purpose {
    LanguageMenu,
    Menu,
    Field(Field),
    /// Question `n` of the set.
    Ask(usize),
    /// The read-back of question `n`'s answer, awaiting 1 (correct) or 2 (again).
    Confirm {
        question: usize,
        value: AnswerValue,
    },
}

#[derive(Debug, Default)]
pub(super) struct Person {
    pub(super) hersys_id: Option<String>,
    pub(super) answers: Answers,
    pub(super) complete: bool,
}

/// One call's run through a dialplan.
#[derive(Debug)]
pub struct Interpreter {
    pub(super) plans: Arc<Dialplans>,
    pub(super) direction: Direction,
    pub(super) lang: Language,
    pub(super) thresholds: AlertThresholds,
    pub(super) node: String,
    pub(super) stage: Stage,
    /// Keys pressed while nothing was listening, kept for the next field.
    pub(super) typeahead: VecDeque<char>,
    out: VecDeque<Action>,
    next_id: u64,
    timer: Option<(TimerId, FieldTimer)>,
    pub(super) playing: Option<(PlayId, bool)>,
    pub(super) any_key: bool,
    pub(super) wrong_number: bool,
    pub(super) persons: Vec<Person>,
    pub(super) current: Option<PersonIndex>,
    pub(super) hersys_id: Option<String>,
    pub(super) birth_mmdd: Option<String>,
    pub(super) verify_failures: u32,
    /// The person index and ID being checked.
    pub(super) verifying: Option<(PersonIndex, String)>,
}

impl Interpreter {
    /// An inbound health call; starts with the language menu.
    pub fn inbound(plans: Arc<Dialplans>, default_thresholds: AlertThresholds) -> Self {
        let mut me = Self::new(plans, Direction::Inbound, Language::Ja, default_thresholds);
        let start = me.plan().start.clone();
        me.goto(&start);
        me
    }

    /// An auto-call, answered; the patient (person 0) and their language are known.
    pub fn outbound(plans: Arc<Dialplans>, lang: Language, thresholds: AlertThresholds) -> Self {
        let mut me = Self::new(plans, Direction::Outbound, lang, thresholds);
        me.persons.push(Person::default());
        me.current = Some(0);
        let start = me.plan().start.clone();
        me.goto(&start);
        me
    }

    fn new(
        plans: Arc<Dialplans>,
        direction: Direction,
        lang: Language,
        t: AlertThresholds,
    ) -> Self {
        Self {
            plans,
            direction,
            lang,
            thresholds: t,
            node: String::new(),
            stage: Stage::Done,
            typeahead: VecDeque::new(),
            out: VecDeque::new(),
            next_id: 0,
            timer: None,
            playing: None,
            any_key: false,
            wrong_number: false,
            persons: Vec::new(),
            current: None,
            hersys_id: None,
            birth_mmdd: None,
            verify_failures: 0,
            verifying: None,
        }
    }

    /// The next action to carry out, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// The language prompts are played in now.
    pub fn language(&self) -> Language {
        self.lang
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// The question-set version every report of this call records.
    pub fn question_set_version(&self) -> &str {
        &self.plans.questions.version
    }

    /// What `person` has answered so far.
    pub fn answers(&self, person: PersonIndex) -> Option<&Answers> {
        self.persons.get(person).map(|p| &p.answers)
    }

    /// The node being run (for logs and tests).
    pub fn current_node(&self) -> &str {
        &self.node
    }

    pub(super) fn plan(&self) -> &Dialplan {
        match self.direction {
            Direction::Inbound => &self.plans.inbound,
            Direction::Outbound => &self.plans.outbound,
        }
    }

    pub(super) fn emit(&mut self, a: Action) {
        self.out.push_back(a);
    }

    pub fn handle_event(&mut self, event: Event) {
        if self.is_finished() {
            return;
        }
        match event {
            Event::Digit(k) => self.on_key(k),
            Event::PromptFinished(id) => self.on_prompt_finished(id),
            Event::TimerFired(id) => self.on_timer(id),
            Event::IdentityChecked(r) => self.on_identity(r),
            Event::HangUp => self.finish(false),
        }
    }

    fn on_key(&mut self, key: char) {
        if !matches!(key, '0'..='9' | '#' | '*') {
            return;
        }
        self.any_key = true;
        // A pulse-line user's `*` means nothing anywhere: it neither answers, errs,
        // stops a prompt nor waits as type-ahead.
        if key == '*' {
            return;
        }
        let barge = matches!(self.playing, Some((_, true)));
        match &self.stage {
            Stage::Collecting { .. } => {
                if barge {
                    self.stop_playback();
                }
                let result = self.with_collector(|c| c.key(key));
                self.on_collected(result);
            }
            Stage::Playing { next } if barge => {
                let next = next.clone();
                self.stop_playback();
                self.type_ahead(key);
                self.goto(&next);
            }
            Stage::Playing { .. } | Stage::AwaitIdentity => self.type_ahead(key),
            Stage::HangingUp | Stage::Done => {}
        }
    }

    fn type_ahead(&mut self, key: char) {
        if self.typeahead.len() < MAX_TYPEAHEAD {
            self.typeahead.push_back(key);
        }
    }

    fn on_prompt_finished(&mut self, id: PlayId) {
        if self.playing.map(|(p, _)| p) != Some(id) {
            return;
        }
        self.playing = None;
        match &self.stage {
            Stage::Collecting { .. } => {
                let r = self.with_collector(|c| {
                    c.prompt_finished();
                    Collected::Pending
                });
                self.on_collected(r);
            }
            Stage::Playing { next } => {
                let next = next.clone();
                self.goto(&next);
            }
            Stage::HangingUp => self.finish(true),
            Stage::AwaitIdentity | Stage::Done => {}
        }
    }

    fn on_timer(&mut self, id: TimerId) {
        let Some((current, which)) = self.timer else {
            return;
        };
        if current != id {
            return;
        }
        self.timer = None;
        let r = self.with_collector(|c| c.timer_fired(which));
        self.on_collected(r);
    }

    /// Runs `f` on the active collector and applies the timer change it asks for.
    pub(super) fn with_collector(
        &mut self,
        f: impl FnOnce(&mut DigitCollector) -> Collected,
    ) -> Collected {
        let Stage::Collecting { collector, .. } = &mut self.stage else {
            return Collected::Pending;
        };
        let r = f(collector);
        let change = collector.take_timer_change();
        match change {
            Some(TimerChange::Start(which, after)) => {
                self.cancel_timer();
                let id = TimerId(self.fresh_id());
                self.timer = Some((id, which));
                self.emit(Action::StartTimer { id, after });
            }
            Some(TimerChange::Cancel) => self.cancel_timer(),
            None => {}
        }
        r
    }

    /// Plays prompts; a play still running is stopped first.
    pub(super) fn play(&mut self, prompts: Vec<PromptRef>, barge_in: bool) {
        self.stop_playback();
        let id = PlayId(self.fresh_id());
        self.playing = Some((id, barge_in));
        self.emit(Action::Play {
            id,
            prompts,
            barge_in,
        });
    }

    pub(super) fn stop_playback(&mut self) {
        if let Some((id, _)) = self.playing.take() {
            self.emit(Action::StopPlayback(id));
        }
    }

    pub(super) fn cancel_timer(&mut self) {
        if let Some((id, _)) = self.timer.take() {
            self.emit(Action::CancelTimer(id));
        }
    }

    pub(super) fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Ends the call: `we_hang_up` when the plan ended it, not the caller.
    pub(super) fn finish(&mut self, we_hang_up: bool) {
        if self.is_finished() {
            return;
        }
        self.cancel_timer();
        self.stop_playback();
        self.stage = Stage::Done;
        self.verifying = None;
        self.hersys_id = None;
        self.birth_mmdd = None;
        if we_hang_up {
            self.emit(Action::HangUp);
        }
        let outcome = self.outcome();
        tracing::info!(?outcome, node = %self.node, "call finished");
        self.emit(Action::Finished(outcome));
    }

    pub(super) fn outcome(&self) -> CallOutcome {
        if self.wrong_number {
            return CallOutcome::WrongNumber;
        }
        if !self.any_key {
            return CallOutcome::NotReached;
        }
        let complete = self.persons.iter().filter(|p| p.complete).count();
        let partial = self
            .persons
            .iter()
            .filter(|p| !p.complete && !p.answers.is_empty())
            .count();
        CallOutcome::Answered {
            reports_complete: complete as u32,
            reports_incomplete: partial as u32,
        }
    }
}
