//! The IVR: dialplans and the question set as data, prompts in eight languages, and a
//! sans-IO interpreter per call (events in, actions out; the async shell stays thin).

mod alerts;
mod collector;
mod dialplan;
mod events;
mod flow;
mod interpreter;
mod language;
mod node;
mod prompts;
mod questionnaire;
mod questions;

use std::path::Path;
use std::sync::Arc;

pub use alerts::{AlertLevel, Thresholds, alert_level};
pub use collector::{
    Collected, DigitCollector, Failure, FieldSpec, FieldTimer, TimerChange, Validator,
};
pub use dialplan::{Dialplan, DialplanError, Dialplans, Timeouts};
pub use events::{
    Action, CallOutcome, Event, IdentityClaim, IdentityResult, PersonIndex, PlayId, TimerId,
};
pub use interpreter::{Direction, Interpreter};
pub use language::{Language, UnknownLanguage};
pub use node::{
    CollectNode, Field, FieldCheck, HangupNode, LanguageMenuNode, MenuNode, Node, PlayNode,
    QuestionnaireNode, VerifyNode,
};
pub use prompts::{PromptCatalog, PromptError, PromptRef, PromptText, check_prompts};
pub use questions::{AnswerValue, Answers, Question, QuestionSet, SPO2, SYMPTOMS, TEMPERATURE};

/// Why the IVR refused to start.
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
