//! Dialplans as data: `dialplans/inbound.toml` (the health-call line),
//! `dialplans/outbound.toml` (the auto-call) and `dialplans/questions.toml`. Loaded and
//! validated at start-up: a missing or unreachable node or an unknown prompt, or one
//! missing in any language, refuses to start, naming the file and the problem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::node::Node;
use super::prompts::{PromptCatalog, builtin_prompt_ids};
use super::questions::QuestionSet;
use crate::store::Language;

/// Why a dialplan or the question set was refused.
#[derive(Debug, thiserror::Error)]
pub enum DialplanError {
    #[error("cannot read dialplan {file}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("dialplan {file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("dialplan {file}: start node {start:?} does not exist")]
    MissingStart { file: PathBuf, start: String },
    #[error("dialplan {file}: node {node:?} goes to {target:?}, which does not exist")]
    MissingNode {
        file: PathBuf,
        node: String,
        target: String,
    },
    #[error("dialplan {file}: node {node:?} can never be reached from the start")]
    Unreachable { file: PathBuf, node: String },
    #[error("dialplan {file}: node {node:?} plays unknown prompt {prompt:?} (in no prompts.toml)")]
    UnknownPrompt {
        file: PathBuf,
        node: String,
        prompt: String,
    },
    #[error("dialplan {file}: prompt {prompt:?} is missing in language {lang} ({texts})")]
    PromptMissingInLanguage {
        file: PathBuf,
        prompt: String,
        lang: Language,
        texts: PathBuf,
    },
    #[error("dialplan {file}: {message}")]
    Invalid { file: PathBuf, message: String },
}

/// Digit timing for a whole flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// From the end of a field's prompt to its first digit.
    pub first_digit_ms: u64,
    /// Between digits of one field.
    pub inter_digit_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        // Generous: many callers are elderly or unwell.
        Self {
            first_digit_ms: 8000,
            inter_digit_ms: 5000,
        }
    }
}

impl Timeouts {
    pub fn first_digit(&self) -> Duration {
        Duration::from_millis(self.first_digit_ms)
    }
    pub fn inter_digit(&self) -> Duration {
        Duration::from_millis(self.inter_digit_ms)
    }
}

/// One flow: named nodes, each saying what to play, collect or check and where to go.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialplan {
    #[serde(skip)]
    pub file: PathBuf,
    pub start: String,
    #[serde(default)]
    pub timeouts: Timeouts,
    pub nodes: BTreeMap<String, Node>,
}

impl Dialplan {
    pub fn load(path: &Path) -> Result<Self, DialplanError> {
        let text = std::fs::read_to_string(path).map_err(|source| DialplanError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks the graph (prompts are checked by [`Dialplans::validate_prompts`]).
    pub fn parse(text: &str, path: &Path) -> Result<Self, DialplanError> {
        let mut plan: Dialplan = toml::from_str(text).map_err(|e| DialplanError::Parse {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        plan.file = path.to_path_buf();
        plan.validate_graph()?;
        Ok(plan)
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    fn invalid(&self, message: String) -> DialplanError {
        DialplanError::Invalid {
            file: self.file.clone(),
            message,
        }
    }

    fn validate_graph(&self) -> Result<(), DialplanError> {
        if !self.nodes.contains_key(&self.start) {
            return Err(DialplanError::MissingStart {
                file: self.file.clone(),
                start: self.start.clone(),
            });
        }
        for (id, node) in &self.nodes {
            for t in node.targets() {
                if !self.nodes.contains_key(t) {
                    return Err(DialplanError::MissingNode {
                        file: self.file.clone(),
                        node: id.clone(),
                        target: t.to_string(),
                    });
                }
            }
            self.validate_node(id, node)?;
        }
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut todo = vec![self.start.as_str()];
        while let Some(id) = todo.pop() {
            if seen.insert(id)
                && let Some(n) = self.nodes.get(id)
            {
                todo.extend(n.targets());
            }
        }
        if let Some(id) = self.nodes.keys().find(|k| !seen.contains(k.as_str())) {
            return Err(DialplanError::Unreachable {
                file: self.file.clone(),
                node: id.clone(),
            });
        }
        Ok(())
    }

    fn validate_node(&self, id: &str, node: &Node) -> Result<(), DialplanError> {
        let tries = |t: u32| {
            if t == 0 {
                Err(self.invalid(format!("node {id:?}: max_tries must be at least 1")))
            } else {
                Ok(())
            }
        };
        match node {
            Node::Menu(m) => {
                tries(m.max_tries)?;
                if m.options.is_empty() {
                    return Err(self.invalid(format!("node {id:?}: a menu needs options")));
                }
                for key in m.options.keys() {
                    if key.len() != 1 || !key.chars().all(|c| c.is_ascii_digit()) {
                        return Err(self.invalid(format!(
                            "node {id:?}: option {key:?} must be one digit 0-9 \
                             (`*` is reserved for pulse lines, `#` ends entries)"
                        )));
                    }
                }
            }
            Node::Collect(c) => {
                tries(c.max_tries)?;
                if c.min_digits == 0 || c.min_digits > c.max_digits {
                    return Err(
                        self.invalid(format!("node {id:?}: need 1 <= min_digits <= max_digits"))
                    );
                }
            }
            Node::LanguageMenu(l) => {
                tries(l.max_tries)?;
                if l.languages.is_empty() || l.languages.len() > 9 {
                    return Err(self.invalid(format!("node {id:?}: 1 to 9 languages")));
                }
                if !l.languages.contains(&l.default) {
                    return Err(self.invalid(format!(
                        "node {id:?}: default {} is not in the menu",
                        l.default
                    )));
                }
            }
            Node::VerifyIdentity(v) if v.max_failures == 0 => {
                return Err(self.invalid(format!("node {id:?}: max_failures must be at least 1")));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Everything the IVR runs, loaded once and shared by every call.
#[derive(Debug, Clone, PartialEq)]
pub struct Dialplans {
    pub inbound: Dialplan,
    pub outbound: Dialplan,
    pub questions: QuestionSet,
}

impl Dialplans {
    /// Loads `inbound.toml`, `outbound.toml` and `questions.toml` from `dir` and checks
    /// every prompt they use against the catalog in every language.
    pub fn load(
        dir: &Path,
        catalog: &PromptCatalog,
        languages: &[Language],
    ) -> Result<Self, DialplanError> {
        let plans = Self {
            inbound: Dialplan::load(&dir.join("inbound.toml"))?,
            outbound: Dialplan::load(&dir.join("outbound.toml"))?,
            questions: QuestionSet::load(&dir.join("questions.toml"))?,
        };
        plans.validate_prompts(catalog, languages, &dir.join("questions.toml"))?;
        Ok(plans)
    }

    /// Every prompt the flows and the questionnaire can play, read-back words included.
    pub fn prompt_ids(&self) -> BTreeSet<String> {
        let mut ids: BTreeSet<String> = builtin_prompt_ids().into_iter().collect();
        for plan in [&self.inbound, &self.outbound] {
            for node in plan.nodes.values() {
                ids.extend(node.prompts().into_iter().map(String::from));
            }
        }
        ids.extend(self.questions.prompt_ids().into_iter().map(String::from));
        ids
    }

    pub fn validate_prompts(
        &self,
        catalog: &PromptCatalog,
        languages: &[Language],
        questions_file: &Path,
    ) -> Result<(), DialplanError> {
        let mut uses: Vec<(&Path, String, &str)> = Vec::new();
        for plan in [&self.inbound, &self.outbound] {
            for (id, node) in &plan.nodes {
                if let Node::LanguageMenu(l) = node
                    && let Some(missing) = l.languages.iter().find(|x| !languages.contains(x))
                {
                    return Err(
                        plan.invalid(format!("node {id:?}: language {missing} is not configured"))
                    );
                }
                for p in node.prompts() {
                    uses.push((&plan.file, id.clone(), p));
                }
            }
        }
        for p in self.questions.prompt_ids() {
            uses.push((questions_file, "questions".into(), p));
        }
        let builtin = builtin_prompt_ids();
        for p in &builtin {
            uses.push((questions_file, "read-back".into(), p));
        }
        for (file, node, prompt) in uses {
            if !catalog.is_known(prompt) {
                return Err(DialplanError::UnknownPrompt {
                    file: file.to_path_buf(),
                    node,
                    prompt: prompt.to_string(),
                });
            }
            if let Some(&lang) = languages.iter().find(|&&l| !catalog.has(l, prompt)) {
                return Err(DialplanError::PromptMissingInLanguage {
                    file: file.to_path_buf(),
                    prompt: prompt.to_string(),
                    lang,
                    texts: catalog.texts_file(lang),
                });
            }
        }
        Ok(())
    }
}
