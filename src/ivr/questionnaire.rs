//! The questionnaire part of the interpreter: asks each question of the set, reads
//! numbers back for confirmation, saves every answer as it is given and completes the
//! report with its alert level.

use super::collector::{FieldSpec, Validator};
use super::events::Action;
use super::interpreter::{Interpreter, Person, Purpose};
use super::node::Node;
use super::prompts::{PromptRef, digit_prompt};
use super::questions::{AnswerValue, NumberQuestion, Question};
use crate::store::AlertLevel;

impl Interpreter {
    pub(super) fn question(&self, index: usize) -> Option<&Question> {
        self.plans.questions.questions.get(index)
    }

    /// Starts the question set for the current person.
    pub(super) fn start_questionnaire(&mut self) -> Option<String> {
        let person = match self.current {
            Some(p) => p,
            None => {
                self.persons.push(Person::default());
                self.persons.len() - 1
            }
        };
        self.current = Some(person);
        if let Some(p) = self.persons.get_mut(person) {
            // Asked again in the same call: the same report, answered afresh.
            p.complete = false;
        }
        self.ask(0);
        None
    }

    fn field_spec(
        &self,
        min: usize,
        max: usize,
        terminator: bool,
        validator: Validator,
    ) -> FieldSpec {
        let t = self.plan().timeouts;
        FieldSpec {
            min_digits: min,
            max_digits: max,
            terminator,
            allow_empty: false,
            first_digit_timeout: t.first_digit(),
            inter_digit_timeout: t.inter_digit(),
            max_tries: self.plans.questions.voice.max_tries,
            validator,
        }
    }

    fn one_or_two(&self) -> FieldSpec {
        self.field_spec(1, 1, false, Validator::OneOf(vec!["1".into(), "2".into()]))
    }

    fn ask(&mut self, index: usize) {
        let Some(q) = self.question(index).cloned() else {
            return self.complete_report();
        };
        let (spec, prompt) = match &q {
            Question::Number(n) => {
                let (min, max) = n.scaled_range();
                let mut s = self.field_spec(
                    n.min_digits,
                    n.max_digits,
                    n.terminator,
                    Validator::Range { min, max },
                );
                s.allow_empty = n.not_measured.is_some();
                (s, &n.prompt)
            }
            Question::YesNo(y) => (self.one_or_two(), &y.prompt),
        };
        let prompts = vec![PromptRef::new(self.lang, prompt.as_str())];
        self.collect(Purpose::Ask(index), spec, prompts);
    }

    pub(super) fn on_answer(&mut self, index: usize, keyed: String) {
        match self.question(index).cloned() {
            Some(Question::Number(n)) => {
                let value = if keyed.is_empty() {
                    AnswerValue::NotMeasured
                } else {
                    match keyed.parse::<u32>() {
                        Ok(scaled) => AnswerValue::Number {
                            scaled,
                            decimals: n.decimals,
                        },
                        // The collector only passes digits; ask again rather than guess.
                        Err(_) => return self.ask(index),
                    }
                };
                let prompts = self.readback(&n, &keyed);
                let spec = self.one_or_two();
                self.collect(
                    Purpose::Confirm {
                        question: index,
                        value,
                    },
                    spec,
                    prompts,
                );
            }
            Some(Question::YesNo(y)) => {
                self.save(&y.id, AnswerValue::YesNo(keyed == "1"));
                self.ask(index + 1);
            }
            None => self.complete_report(),
        }
    }

    pub(super) fn on_confirm(&mut self, index: usize, value: AnswerValue, key: &str) {
        if key != "1" {
            return self.ask(index);
        }
        if let Some(id) = self.question(index).map(|q| q.id().to_string()) {
            self.save(&id, value);
        }
        self.ask(index + 1);
    }

    /// "You entered" + the digits one by one (with "point" before the decimals) + the
    /// unit + "1 if correct, 2 to enter again".
    fn readback(&self, q: &NumberQuestion, keyed: &str) -> Vec<PromptRef> {
        let lang = self.lang;
        let confirm = PromptRef::new(lang, self.plans.questions.voice.confirm.as_str());
        if keyed.is_empty() {
            let nm = q.not_measured.as_deref().unwrap_or(q.readback.as_str());
            return vec![PromptRef::new(lang, nm), confirm];
        }
        let mut v = vec![PromptRef::new(lang, q.readback.as_str())];
        let point_at = keyed.len().saturating_sub(usize::from(q.decimals));
        for (i, d) in keyed.chars().enumerate() {
            if q.decimals > 0 && i == point_at {
                v.push(PromptRef::new(lang, "point"));
            }
            v.push(PromptRef::new(lang, digit_prompt(d)));
        }
        v.push(PromptRef::new(lang, q.unit.as_str()));
        v.push(confirm);
        v
    }

    fn save(&mut self, question: &str, value: AnswerValue) {
        let Some(person) = self.current else {
            return;
        };
        if let Some(p) = self.persons.get_mut(person) {
            p.answers.set(question, value);
        }
        self.emit(Action::SaveAnswer {
            person,
            question: question.to_string(),
            value,
        });
    }

    fn complete_report(&mut self) {
        let Some(Node::Questionnaire(node)) = self.plan().node(&self.node).cloned() else {
            return self.finish(true);
        };
        let Some(person) = self.current else {
            return self.finish(true);
        };
        let alert = match self.persons.get_mut(person) {
            Some(p) => {
                p.complete = true;
                p.answers.alert_level(&self.thresholds)
            }
            None => AlertLevel::Normal,
        };
        self.emit(Action::CompleteReport { person, alert });
        let next = if alert == AlertLevel::Urgent {
            node.next_if_urgent
        } else {
            node.next
        };
        self.goto(&next);
    }
}
