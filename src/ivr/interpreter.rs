//! The sans-IO dialplan interpreter: one per call. Events in ([`Event`]), actions out
//! ([`Action`]); it never reads the clock, sleeps or touches the network. Timers are
//! asked for with `StartTimer` and come back as `TimerFired`.

use std::collections::VecDeque;
use std::sync::Arc;

use super::alerts::Thresholds;
use super::collector::{
    Collected, DigitCollector, Failure, FieldSpec, FieldTimer, TimerChange, Validator,
};
use super::dialplan::{Dialplan, Dialplans, Field, FieldCheck, Node};
use super::events::{
    Action, CallOutcome, Event, IdentityClaim, IdentityResult, PersonIndex, PlayId, TimerId,
};
use super::language::Language;
use super::prompts::PromptRef;
use super::questions::{AnswerValue, Answers};

/// Transitions allowed without waiting for an event; more means a loop in the plan.
const MAX_HOPS: usize = 64;

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
    pub(super) thresholds: Thresholds,
    pub(super) node: String,
    pub(super) stage: Stage,
    /// Keys pressed while nothing was listening, kept for the next field.
    typeahead: VecDeque<char>,
    out: VecDeque<Action>,
    next_id: u64,
    timer: Option<(TimerId, FieldTimer)>,
    playing: Option<(PlayId, bool)>,
    any_key: bool,
    wrong_number: bool,
    pub(super) persons: Vec<Person>,
    pub(super) current: Option<PersonIndex>,
    hersys_id: Option<String>,
    birth_mmdd: Option<String>,
    verify_failures: u32,
    /// The person index and ID being checked.
    verifying: Option<(PersonIndex, String)>,
}

impl Interpreter {
    /// An inbound health call; starts with the language menu.
    pub fn inbound(plans: Arc<Dialplans>, default_thresholds: Thresholds) -> Self {
        let mut me = Self::new(plans, Direction::Inbound, Language::Ja, default_thresholds);
        let start = me.plan().start.clone();
        me.goto(&start);
        me
    }

    /// An auto-call, answered; the patient (person 0) and their language are known.
    pub fn outbound(plans: Arc<Dialplans>, lang: Language, thresholds: Thresholds) -> Self {
        let mut me = Self::new(plans, Direction::Outbound, lang, thresholds);
        me.persons.push(Person::default());
        me.current = Some(0);
        let start = me.plan().start.clone();
        me.goto(&start);
        me
    }

    fn new(plans: Arc<Dialplans>, direction: Direction, lang: Language, t: Thresholds) -> Self {
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
                self.typeahead.push_back(key);
                self.goto(&next);
            }
            Stage::Playing { .. } | Stage::AwaitIdentity => self.typeahead.push_back(key),
            Stage::HangingUp | Stage::Done => {}
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
    fn with_collector(&mut self, f: impl FnOnce(&mut DigitCollector) -> Collected) -> Collected {
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

    fn on_collected(&mut self, result: Collected) {
        let Stage::Collecting {
            purpose, prompts, ..
        } = &self.stage
        else {
            return;
        };
        let (purpose, prompts) = (purpose.clone(), prompts.clone());
        match result {
            Collected::Pending => {}
            Collected::Value(v) => self.on_value(purpose, v),
            Collected::Retry(f) => {
                // Keys typed ahead of a mistake are not trusted for the next try.
                self.typeahead.clear();
                if purpose == Purpose::LanguageMenu && f == Failure::NoInput {
                    return self.choose_default_language();
                }
                let mut again = self.error_prompts(&purpose, f);
                again.extend(prompts);
                self.play(again, true);
            }
            Collected::MaxTries(f) => {
                self.typeahead.clear();
                tracing::info!(node = %self.node, failure = ?f, "field failed every try");
                self.on_max_tries(purpose);
            }
        }
    }

    fn on_value(&mut self, purpose: Purpose, v: String) {
        match purpose {
            Purpose::LanguageMenu => {
                let Some(Node::LanguageMenu(m)) = self.plan().node(&self.node) else {
                    return;
                };
                let pick = v
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| m.languages.get(n.wrapping_sub(1)));
                let (lang, next) = (pick.copied().unwrap_or(m.default), m.next.clone());
                self.lang = lang;
                self.goto(&next);
            }
            Purpose::Menu => {
                let Some(Node::Menu(m)) = self.plan().node(&self.node) else {
                    return;
                };
                if let Some(next) = m.options.get(&v).cloned() {
                    self.goto(&next);
                }
            }
            Purpose::Field(field) => {
                let Some(Node::Collect(c)) = self.plan().node(&self.node) else {
                    return;
                };
                let next = c.next.clone();
                match field {
                    Field::HersysId => self.hersys_id = Some(v),
                    Field::BirthMmdd => self.birth_mmdd = Some(v),
                }
                self.goto(&next);
            }
            Purpose::Ask(q) => self.on_answer(q, v),
            Purpose::Confirm { question, value } => self.on_confirm(question, value, &v),
        }
    }

    fn on_max_tries(&mut self, purpose: Purpose) {
        let next = match (purpose, self.plan().node(&self.node)) {
            (Purpose::LanguageMenu, _) => return self.choose_default_language(),
            (_, Some(Node::Menu(m))) => m.on_max_tries.clone(),
            (_, Some(Node::Collect(c))) => c.on_max_tries.clone(),
            (_, Some(Node::Questionnaire(q))) => q.on_max_tries.clone(),
            _ => return self.finish(true),
        };
        self.goto(&next);
    }

    fn choose_default_language(&mut self) {
        if let Some(Node::LanguageMenu(m)) = self.plan().node(&self.node) {
            let next = m.next.clone();
            self.lang = m.default;
            self.goto(&next);
        }
    }

    /// The spoken explanation for a failed try.
    fn error_prompts(&self, purpose: &Purpose, f: Failure) -> Vec<PromptRef> {
        let p = |id: &str| vec![PromptRef::new(self.lang, id)];
        let voice = &self.plans.questions.voice;
        match (self.plan().node(&self.node), purpose) {
            (Some(Node::LanguageMenu(m)), _) => p(&m.no_match),
            (Some(Node::Menu(m)), _) if f == Failure::NoInput => p(&m.no_input),
            (Some(Node::Menu(m)), _) => p(&m.no_match),
            (Some(Node::Collect(c)), _) if f == Failure::NoInput => p(&c.no_input),
            (Some(Node::Collect(c)), _) => p(&c.no_match),
            (_, _) if f == Failure::NoInput => p(&voice.no_input),
            (_, Purpose::Ask(q)) if f == Failure::OutOfRange => match self.question(*q) {
                Some(super::questions::Question::Number(n)) => p(&n.out_of_range),
                _ => p(&voice.invalid),
            },
            _ => p(&voice.invalid),
        }
    }

    /// Moves to node `id` and runs it until it waits for an event.
    pub(super) fn goto(&mut self, id: &str) {
        let mut next = Some(id.to_string());
        let mut hops = 0;
        while let Some(id) = next.take() {
            hops += 1;
            if hops > MAX_HOPS {
                tracing::error!(node = %id, "dialplan loops without waiting; ending the call");
                return self.finish(true);
            }
            self.node = id;
            next = self.enter();
        }
    }

    /// Starts the current node; returns the node to go to at once, if any.
    fn enter(&mut self) -> Option<String> {
        let Some(node) = self.plan().node(&self.node).cloned() else {
            tracing::error!(node = %self.node, "no such node; ending the call");
            self.finish(true);
            return None;
        };
        let t = self.plan().timeouts;
        let spec = |min, max, terminator, tries, validator| FieldSpec {
            min_digits: min,
            max_digits: max,
            terminator,
            allow_empty: false,
            first_digit_timeout: t.first_digit(),
            inter_digit_timeout: t.inter_digit(),
            max_tries: tries,
            validator,
        };
        let refs = |lang, ids: &[String]| {
            ids.iter()
                .map(|i| PromptRef::new(lang, i.as_str()))
                .collect::<Vec<_>>()
        };
        match node {
            Node::LanguageMenu(m) => {
                self.lang = m.default;
                let keys = (1..=m.languages.len()).map(|n| n.to_string()).collect();
                let prompts = m
                    .languages
                    .iter()
                    .map(|&l| PromptRef::new(l, m.prompt.as_str()))
                    .collect();
                self.collect(
                    Purpose::LanguageMenu,
                    spec(1, 1, false, m.max_tries, Validator::OneOf(keys)),
                    prompts,
                );
                None
            }
            Node::Play(p) => {
                if p.barge_in && !self.typeahead.is_empty() {
                    return Some(p.next);
                }
                let prompts = refs(self.lang, &p.prompts);
                self.stage = Stage::Playing { next: p.next };
                self.play(prompts, p.barge_in);
                None
            }
            Node::Menu(m) => {
                let keys = m.options.keys().cloned().collect();
                let prompts = refs(self.lang, &m.prompts);
                self.collect(
                    Purpose::Menu,
                    spec(1, 1, false, m.max_tries, Validator::OneOf(keys)),
                    prompts,
                );
                None
            }
            Node::Collect(c) => {
                let v = match c.check {
                    FieldCheck::Any => Validator::Any,
                    FieldCheck::MonthDay => Validator::MonthDay,
                };
                let prompts = refs(self.lang, &c.prompts);
                let s = spec(c.min_digits, c.max_digits, c.terminator, c.max_tries, v);
                self.collect(Purpose::Field(c.field), s, prompts);
                None
            }
            Node::VerifyIdentity(_) => {
                let (Some(hersys_id), Some(birth_mmdd)) =
                    (self.hersys_id.take(), self.birth_mmdd.take())
                else {
                    tracing::error!(node = %self.node, "verify before ID and birthday were collected");
                    self.finish(true);
                    return None;
                };
                // The same ID twice in one call is the same person, so the same report.
                let person = self
                    .persons
                    .iter()
                    .position(|p| p.hersys_id.as_deref() == Some(hersys_id.as_str()))
                    .unwrap_or(self.persons.len());
                self.verifying = Some((person, hersys_id.clone()));
                self.stage = Stage::AwaitIdentity;
                self.emit(Action::VerifyIdentity {
                    person,
                    claim: IdentityClaim {
                        hersys_id,
                        birth_mmdd,
                    },
                });
                None
            }
            Node::Questionnaire(_) => self.start_questionnaire(),
            Node::Hangup(h) => {
                if h.mark_wrong_number {
                    self.wrong_number = true;
                    self.emit(Action::MarkWrongNumber);
                }
                self.stage = Stage::HangingUp;
                if h.prompts.is_empty() {
                    self.finish(true);
                } else {
                    let prompts = refs(self.lang, &h.prompts);
                    self.play(prompts, false);
                }
                None
            }
        }
    }

    /// Starts collecting a field: type-ahead keys first (the prompt is then skipped, as
    /// the caller already answered), else the prompt.
    pub(super) fn collect(&mut self, purpose: Purpose, spec: FieldSpec, prompts: Vec<PromptRef>) {
        self.stage = Stage::Collecting {
            collector: DigitCollector::new(spec),
            purpose,
            prompts: prompts.clone(),
        };
        if self.typeahead.is_empty() {
            return self.play(prompts, true);
        }
        while let Some(k) = self.typeahead.pop_front() {
            let r = self.with_collector(|c| c.key(k));
            if r != Collected::Pending {
                return self.on_collected(r);
            }
        }
        let r = self.with_collector(|c| {
            c.prompt_finished();
            Collected::Pending
        });
        self.on_collected(r);
    }

    fn on_identity(&mut self, result: IdentityResult) {
        if !matches!(self.stage, Stage::AwaitIdentity) {
            return;
        }
        let Some(Node::VerifyIdentity(v)) = self.plan().node(&self.node).cloned() else {
            return;
        };
        if !matches!(result, IdentityResult::Verified { .. }) {
            // Keys typed while the store was asked are not trusted after a failure.
            self.typeahead.clear();
            self.verifying = None;
        }
        let next = match result {
            IdentityResult::Verified { thresholds } => {
                self.verify_failures = 0;
                if let Some(t) = thresholds {
                    self.thresholds = t;
                }
                if let Some((person, id)) = self.verifying.take() {
                    if person == self.persons.len() {
                        self.persons.push(Person {
                            hersys_id: Some(id),
                            ..Person::default()
                        });
                    }
                    self.current = Some(person);
                }
                v.next
            }
            IdentityResult::Mismatch => {
                self.verify_failures += 1;
                if self.verify_failures >= v.max_failures {
                    v.on_too_many
                } else {
                    v.on_mismatch
                }
            }
            IdentityResult::LockedOut => v.on_locked,
            IdentityResult::ObservationEnded => v.on_ended,
            IdentityResult::Unavailable => v.on_unavailable,
        };
        self.goto(&next);
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

    fn stop_playback(&mut self) {
        if let Some((id, _)) = self.playing.take() {
            self.emit(Action::StopPlayback(id));
        }
    }

    fn cancel_timer(&mut self) {
        if let Some((id, _)) = self.timer.take() {
            self.emit(Action::CancelTimer(id));
        }
    }

    fn fresh_id(&mut self) -> u64 {
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

    fn outcome(&self) -> CallOutcome {
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
