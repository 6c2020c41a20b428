//! The node types a dialplan is made of, as written in its TOML (`type = "menu"`...),
//! and the targets and prompts each names (what start-up validation walks).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::store::Language;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Node {
    LanguageMenu(LanguageMenuNode),
    Play(PlayNode),
    Menu(MenuNode),
    Collect(CollectNode),
    VerifyIdentity(VerifyNode),
    Questionnaire(QuestionnaireNode),
    Hangup(HangupNode),
}

fn three() -> u32 {
    3
}
fn yes() -> bool {
    true
}

/// Plays `prompt` in each language, in menu order; key N picks the Nth language. No
/// input picks `default`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageMenuNode {
    /// Played first, in the default language (the opening and the dial-line guidance:
    /// a pulse-line caller must press `*` before they can choose).
    #[serde(default)]
    pub intro: Vec<String>,
    pub prompt: String,
    pub languages: Vec<Language>,
    pub default: Language,
    /// Played (in the default language) before the menu again after a wrong key.
    pub no_match: String,
    #[serde(default = "three")]
    pub max_tries: u32,
    pub next: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlayNode {
    pub prompts: Vec<String>,
    /// A key stops the prompt (and is kept for the next field).
    #[serde(default = "yes")]
    pub barge_in: bool,
    pub next: String,
}

/// One key picks the next node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuNode {
    pub prompts: Vec<String>,
    /// Key (`0`-`9`) → node.
    pub options: BTreeMap<String, String>,
    pub no_input: String,
    pub no_match: String,
    #[serde(default = "three")]
    pub max_tries: u32,
    pub on_max_tries: String,
}

/// What a `collect` node stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    HersysId,
    BirthMmdd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldCheck {
    #[default]
    Any,
    MonthDay,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectNode {
    pub field: Field,
    pub prompts: Vec<String>,
    pub min_digits: usize,
    pub max_digits: usize,
    #[serde(default)]
    pub terminator: bool,
    #[serde(default)]
    pub check: FieldCheck,
    pub no_input: String,
    pub no_match: String,
    #[serde(default = "three")]
    pub max_tries: u32,
    pub on_max_tries: String,
    pub next: String,
}

/// Asks the shell to check the collected HER-SYS ID and birthday against the case store.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyNode {
    /// Mismatches allowed before `on_too_many`.
    pub max_failures: u32,
    pub next: String,
    pub on_mismatch: String,
    pub on_too_many: String,
    pub on_locked: String,
    pub on_ended: String,
    pub on_unavailable: String,
}

/// Runs the question set for the current person.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionnaireNode {
    pub next: String,
    /// Taken instead of `next` when the answers are urgent.
    pub next_if_urgent: String,
    /// A question failed every try.
    pub on_max_tries: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HangupNode {
    #[serde(default)]
    pub prompts: Vec<String>,
    /// The person said this is not their number (outbound key 9).
    #[serde(default)]
    pub mark_wrong_number: bool,
}

impl Node {
    /// Nodes this one can go to.
    pub fn targets(&self) -> Vec<&str> {
        match self {
            Node::LanguageMenu(n) => vec![&n.next],
            Node::Play(n) => vec![&n.next],
            Node::Menu(n) => {
                let mut v: Vec<&str> = n.options.values().map(String::as_str).collect();
                v.push(&n.on_max_tries);
                v
            }
            Node::Collect(n) => vec![&n.next, &n.on_max_tries],
            Node::VerifyIdentity(n) => vec![
                &n.next,
                &n.on_mismatch,
                &n.on_too_many,
                &n.on_locked,
                &n.on_ended,
                &n.on_unavailable,
            ],
            Node::Questionnaire(n) => vec![&n.next, &n.next_if_urgent, &n.on_max_tries],
            Node::Hangup(_) => vec![],
        }
    }

    /// Prompts this node names directly.
    pub fn prompts(&self) -> Vec<&str> {
        fn s(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        match self {
            Node::LanguageMenu(n) => [s(&n.intro), vec![&n.prompt, &n.no_match]].concat(),
            Node::Play(n) => s(&n.prompts),
            Node::Menu(n) => [s(&n.prompts), vec![&n.no_input, &n.no_match]].concat(),
            Node::Collect(n) => [s(&n.prompts), vec![&n.no_input, &n.no_match]].concat(),
            Node::VerifyIdentity(_) | Node::Questionnaire(_) => vec![],
            Node::Hangup(n) => s(&n.prompts),
        }
    }
}
