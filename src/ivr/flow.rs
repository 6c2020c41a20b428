//! Running the nodes of a dialplan: entering each node, what a collected field leads
//! to, the spoken way back after an error, and the identity check's branches.

use super::collector::{Collected, DigitCollector, Failure, FieldSpec, Validator};
use super::events::{Action, IdentityClaim, IdentityResult};
use super::interpreter::{Interpreter, MAX_HOPS, Person, Purpose, Stage};
use super::node::{Field, FieldCheck, Node};
use super::prompts::PromptRef;
use super::questions::Question;

impl Interpreter {
    pub(super) fn on_collected(&mut self, result: Collected) {
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

    pub(super) fn on_value(&mut self, purpose: Purpose, v: String) {
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

    pub(super) fn on_max_tries(&mut self, purpose: Purpose) {
        let next = match (purpose, self.plan().node(&self.node)) {
            (Purpose::LanguageMenu, _) => return self.choose_default_language(),
            (_, Some(Node::Menu(m))) => m.on_max_tries.clone(),
            (_, Some(Node::Collect(c))) => c.on_max_tries.clone(),
            (_, Some(Node::Questionnaire(q))) => q.on_max_tries.clone(),
            _ => return self.finish(true),
        };
        self.goto(&next);
    }

    pub(super) fn choose_default_language(&mut self) {
        if let Some(Node::LanguageMenu(m)) = self.plan().node(&self.node) {
            let next = m.next.clone();
            self.lang = m.default;
            self.goto(&next);
        }
    }

    /// The spoken explanation for a failed try.
    pub(super) fn error_prompts(&self, purpose: &Purpose, f: Failure) -> Vec<PromptRef> {
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
                Some(Question::Number(n)) => p(&n.out_of_range),
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
    pub(super) fn enter(&mut self) -> Option<String> {
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
                let options: Vec<PromptRef> = m
                    .languages
                    .iter()
                    .map(|&l| PromptRef::new(l, m.prompt.as_str()))
                    .collect();
                let mut first = refs(m.default, &m.intro);
                first.extend(options.iter().cloned());
                self.collect_with_retry(
                    Purpose::LanguageMenu,
                    spec(1, 1, false, m.max_tries, Validator::OneOf(keys)),
                    first,
                    options,
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
        self.collect_with_retry(purpose, spec, prompts.clone(), prompts);
    }

    /// As [`Self::collect`], with `first` played the first time and `again` after an error.
    fn collect_with_retry(
        &mut self,
        purpose: Purpose,
        spec: FieldSpec,
        first: Vec<PromptRef>,
        again: Vec<PromptRef>,
    ) {
        self.stage = Stage::Collecting {
            collector: DigitCollector::new(spec),
            purpose,
            prompts: again,
        };
        if self.typeahead.is_empty() {
            return self.play(first, true);
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

    pub(super) fn on_identity(&mut self, result: IdentityResult) {
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
}
