//! A scripted phone for the IVR interpreter: feeds events as a shell would and keeps
//! what came out, so tests read like a call.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kenkocall::ivr::{
    Action, AlertLevel, AlertThresholds, AnswerValue, CallOutcome, Dialplans, Event,
    IdentityResult, Interpreter, Language, PlayId, PromptRef, TimerId,
};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped dialplans, prompts checked, loaded once per test binary.
pub fn plans() -> Arc<Dialplans> {
    static PLANS: OnceLock<Arc<Dialplans>> = OnceLock::new();
    PLANS
        .get_or_init(|| {
            kenkocall::ivr::load(
                &root().join("dialplans"),
                &root().join("prompts"),
                Language::ALL,
            )
            .expect("shipped dialplans and prompts load")
        })
        .clone()
}

pub struct Phone {
    pub ivr: Interpreter,
    /// Every action, in order.
    pub log: Vec<Action>,
    pub playing: Option<(PlayId, Vec<PromptRef>)>,
    /// Timers running now: id and duration.
    pub timers: Vec<(TimerId, Duration)>,
    pub finished: Option<CallOutcome>,
}

impl Phone {
    pub fn inbound() -> Self {
        Self::wrap(Interpreter::inbound(plans(), AlertThresholds::default()))
    }

    pub fn outbound(lang: Language) -> Self {
        Self::wrap(Interpreter::outbound(
            plans(),
            lang,
            AlertThresholds::default(),
        ))
    }

    fn wrap(ivr: Interpreter) -> Self {
        let mut p = Self {
            ivr,
            log: Vec::new(),
            playing: None,
            timers: Vec::new(),
            finished: None,
        };
        p.drain();
        p
    }

    /// Collects the actions the interpreter has, tracking plays and timers.
    pub fn drain(&mut self) -> Vec<Action> {
        let mut new = Vec::new();
        while let Some(a) = self.ivr.poll_action() {
            assert!(self.finished.is_none(), "action after Finished: {a:?}");
            match &a {
                Action::Play { id, prompts, .. } => {
                    assert!(self.playing.is_none(), "Play while another plays: {a:?}");
                    self.playing = Some((*id, prompts.clone()));
                }
                Action::StopPlayback(id) => {
                    assert_eq!(
                        self.playing.as_ref().map(|p| p.0),
                        Some(*id),
                        "stop of another play"
                    );
                    self.playing = None;
                }
                Action::StartTimer { id, after } => {
                    assert!(
                        self.timers.is_empty(),
                        "two timers at once: {:?} then {a:?}",
                        self.timers
                    );
                    self.timers.push((*id, *after));
                }
                Action::CancelTimer(id) => self.timers.retain(|(t, _)| t != id),
                Action::Finished(o) => self.finished = Some(*o),
                _ => {}
            }
            new.push(a.clone());
            self.log.push(a);
        }
        new
    }

    pub fn send(&mut self, e: Event) -> Vec<Action> {
        self.ivr.handle_event(e);
        self.drain()
    }

    /// Keys pressed at once, each as its own event (barge-in, no prompt end between).
    pub fn keys(&mut self, keys: &str) -> Vec<Action> {
        let mut all = Vec::new();
        for k in keys.chars() {
            all.extend(self.send(Event::Digit(k)));
        }
        all
    }

    /// The current prompt plays to its end.
    pub fn prompt_ends(&mut self) -> Vec<Action> {
        let (id, _) = self.playing.take().expect("a prompt is playing");
        self.send(Event::PromptFinished(id))
    }

    /// Lets the current prompt end (if any), then keys.
    pub fn listen_then(&mut self, keys: &str) -> Vec<Action> {
        if self.playing.is_some() {
            self.prompt_ends();
        }
        self.keys(keys)
    }

    /// The one running timer fires.
    pub fn timer_fires(&mut self) -> Vec<Action> {
        assert_eq!(
            self.timers.len(),
            1,
            "expected one timer: {:?}",
            self.timers
        );
        let (id, _) = self.timers.remove(0);
        self.send(Event::TimerFired(id))
    }

    pub fn identity(&mut self, r: IdentityResult) -> Vec<Action> {
        self.send(Event::IdentityChecked(r))
    }

    /// Ids (without language) of the prompt playing now.
    pub fn now_playing(&self) -> Vec<String> {
        self.playing
            .as_ref()
            .map(|(_, p)| p.iter().map(|r| r.id.clone()).collect())
            .unwrap_or_default()
    }

    /// Every prompt played so far, in order.
    pub fn played(&self) -> Vec<PromptRef> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::Play { prompts, .. } => Some(prompts.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    pub fn played_ids(&self) -> Vec<String> {
        self.played().into_iter().map(|p| p.id).collect()
    }

    pub fn saves(&self) -> Vec<(usize, String, AnswerValue)> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::SaveAnswer {
                    person,
                    question,
                    value,
                } => Some((*person, question.clone(), *value)),
                _ => None,
            })
            .collect()
    }

    pub fn completed(&self) -> Vec<(usize, AlertLevel)> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::CompleteReport { person, alert } => Some((*person, *alert)),
                _ => None,
            })
            .collect()
    }

    pub fn verifications(&self) -> Vec<(usize, String, String)> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::VerifyIdentity { person, claim } => {
                    Some((*person, claim.hersys_id.clone(), claim.birth_mmdd.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Answers the whole questionnaire: `temp` (3 digits), `spo2` (keys, with `#`),
    /// then yes (1) / no (2) per symptom from `symptoms`, each after its prompt.
    pub fn answer_questionnaire(&mut self, temp: &str, spo2: &str, symptoms: &str) {
        self.listen_then(temp);
        self.listen_then("1");
        self.listen_then(spo2);
        self.listen_then("1");
        for k in symptoms.chars() {
            self.listen_then(&k.to_string());
        }
    }

    /// Inbound: language `lang_key`, then ID + `#` and birthday, each after its prompt.
    pub fn identify(&mut self, id: &str, mmdd: &str) {
        self.listen_then(&format!("{id}#"));
        self.listen_then(mmdd);
    }
}

pub const ALL_NO: &str = "222222222";

pub fn temp(tenths: u32) -> AnswerValue {
    AnswerValue::Number {
        scaled: tenths,
        decimals: 1,
    }
}

pub fn pct(p: u32) -> AnswerValue {
    AnswerValue::Number {
        scaled: p,
        decimals: 0,
    }
}

pub fn verified() -> IdentityResult {
    IdentityResult::Verified { thresholds: None }
}
