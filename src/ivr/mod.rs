//! The IVR: dialplans and the question set as data, prompts in eight languages, and a
//! sans-IO interpreter per call (events in, actions out; the async shell stays thin).
//!
//! How a shell drives one call:
//! ```text
//! let plans = ivr::load(&cfg.ivr.dialplans_dir, &cfg.ivr.prompts_dir, &cfg.ivr.languages)?; // once
//! let mut call = Interpreter::inbound(plans.clone(), AlertThresholds::default());
//! //          or Interpreter::outbound(plans.clone(), patient_language, centre_thresholds);
//! loop {
//!     while let Some(action) = call.poll_action() { carry it out }   // Finished(_) is last
//!     if call.is_finished() { break }
//!     call.handle_event(next event);  // Digit, PromptFinished(id), TimerFired(id),
//! }                                   // IdentityChecked(result), HangUp
//! ```
//! `Play { id, .. }` is answered by `PromptFinished(id)` once every prompt has played,
//! unless `StopPlayback(id)` came first. `StartTimer { id, after }` is answered by
//! `TimerFired(id)` unless `CancelTimer(id)` came first (stale ids are ignored anyway).
//! `VerifyIdentity` is answered by `IdentityChecked` (the shell applies lockout rules and
//! should answer `Unavailable` if the store does not reply in time). The first
//! `SaveAnswer` for a person creates their report (partial); `CompleteReport` completes it.

mod collector;
mod dialplan;
mod events;
mod flow;
mod interpreter;
mod node;
mod prompts;
mod questionnaire;
mod questions;
#[cfg(test)]
mod timer_props;

use std::path::Path;
use std::sync::Arc;

/// The IVR speaks the store's languages and judges answers by the store's alert rule.
pub use crate::store::{AlertLevel, AlertThresholds, Language};
pub use collector::{
    Collected, DigitCollector, Failure, FieldSpec, FieldTimer, TimerChange, Validator,
};
pub use dialplan::{Dialplan, DialplanError, Dialplans, Timeouts};
pub use events::{
    Action, CallOutcome, Event, IdentityClaim, IdentityResult, PersonIndex, PlayId, TimerId,
};
pub use interpreter::{Direction, Interpreter};

pub use node::{
    CollectNode, Field, FieldCheck, HangupNode, LanguageMenuNode, MenuNode, Node, PlayNode,
    QuestionnaireNode, VerifyNode,
};
pub use prompts::{PLEASE_WAIT, PromptCatalog, PromptError, PromptRef, PromptText, check_prompts};
pub use questions::{AnswerValue, Answers, Question, QuestionSet, SPO2, TEMPERATURE};

/// Why the IVR refused to start. An I/O failure is the error's `source()`, not part of
/// its message, so `{:#}` (anyhow) prints the cause once.
#[derive(Debug, thiserror::Error)]
pub enum IvrError {
    #[error(transparent)]
    Prompts(#[from] PromptError),
    #[error(transparent)]
    Dialplan(#[from] DialplanError),
}

/// Everything the IVR needs at start-up, checked: prompt texts, dialplans, question set
/// and a WAV for every prompt in every language.
pub fn load(
    dialplans_dir: &Path,
    prompts_dir: &Path,
    languages: &[Language],
) -> Result<Arc<Dialplans>, IvrError> {
    let catalog = PromptCatalog::load(prompts_dir, languages)?;
    let plans = Dialplans::load(dialplans_dir, &catalog, languages)?;
    check_prompts(prompts_dir, &plans, languages)?;
    Ok(Arc::new(plans))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(e: IvrError) -> String {
        format!("{:#}", anyhow::Error::from(e))
    }

    #[test]
    fn missing_prompt_texts_name_the_file_and_the_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let e = load(&root.join("dialplans"), dir.path(), &[Language::Ja]).unwrap_err();
        assert!(std::error::Error::source(&e).is_some());
        let msg = chain(e);
        assert_eq!(msg.matches("cannot read prompt texts").count(), 1, "{msg}");
        assert_eq!(msg.matches("ja/prompts.toml").count(), 1, "{msg}");
        assert_eq!(msg.matches("(os error 2)").count(), 1, "{msg}");
    }

    #[test]
    fn missing_dialplans_name_the_file_and_the_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let e = load(dir.path(), &root.join("prompts"), &[Language::Ja]).unwrap_err();
        let msg = chain(e);
        assert_eq!(msg.matches("cannot read dialplan").count(), 1, "{msg}");
        assert_eq!(msg.matches("(os error 2)").count(), 1, "{msg}");
    }
}
