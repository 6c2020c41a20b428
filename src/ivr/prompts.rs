//! Prompt ids and texts: `prompts/<lang>/prompts.toml` holds the text of every prompt,
//! `prompts/<lang>/<id>.wav` its recording. Both are checked at start-up so a missing
//! prompt refuses to start instead of playing silence to a patient.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::dialplan::Dialplans;
use crate::store::Language;

/// One prompt to play: its id in one language.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PromptRef {
    pub lang: Language,
    pub id: String,
}

impl PromptRef {
    pub fn new(lang: Language, id: impl Into<String>) -> Self {
        Self {
            lang,
            id: id.into(),
        }
    }

    /// `<dir>/<lang>/<id>.wav`.
    pub fn wav_path(&self, dir: &Path) -> PathBuf {
        dir.join(self.lang.as_str())
            .join(format!("{}.wav", self.id))
    }
}

impl fmt::Display for PromptRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.lang, self.id)
    }
}

/// Played by the engine while a keyed answer is not yet durable (slow disk, full journal),
/// so the caller never waits in silence.
pub const PLEASE_WAIT: &str = "please_wait";

/// The prompts every language must have whatever the dialplans: the read-back words
/// `digit_0`..`digit_9` and `point`, and [`PLEASE_WAIT`].
pub fn builtin_prompt_ids() -> Vec<String> {
    let mut ids: Vec<String> = (0..10).map(|d| format!("digit_{d}")).collect();
    ids.push("point".into());
    ids.push(PLEASE_WAIT.into());
    ids
}

/// The id of the spoken digit `d` (`'0'..='9'`).
pub fn digit_prompt(d: char) -> String {
    format!("digit_{d}")
}

/// Why prompts refuse to load or are incomplete.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read prompt texts {file}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("prompt texts {file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("prompt {prompt:?} has no recording in {lang}: {file} is missing")]
    MissingWav {
        prompt: String,
        lang: Language,
        file: PathBuf,
    },
    #[error("prompt recording {file}: {message} (need 8 kHz, 16-bit, mono PCM WAV)")]
    BadWav { file: PathBuf, message: String },
}

/// A prompt's text, with an optional reading for the speech synthesiser (Japanese
/// kanji are given in kana because espeak-ng reads only kana).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PromptText {
    Plain(String),
    WithReading { text: String, say: String },
}

impl PromptText {
    pub fn text(&self) -> &str {
        match self {
            PromptText::Plain(t) | PromptText::WithReading { text: t, .. } => t,
        }
    }
}

/// The prompt texts of every language, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromptCatalog {
    texts: BTreeMap<Language, BTreeMap<String, PromptText>>,
    dir: PathBuf,
}

impl PromptCatalog {
    /// Reads `<dir>/<lang>/prompts.toml` for each language.
    pub fn load(dir: &Path, languages: &[Language]) -> Result<Self, PromptError> {
        let mut texts = BTreeMap::new();
        for &lang in languages {
            let file = dir.join(lang.as_str()).join("prompts.toml");
            let raw = std::fs::read_to_string(&file).map_err(|source| PromptError::Read {
                file: file.clone(),
                source,
            })?;
            let map: BTreeMap<String, PromptText> =
                toml::from_str(&raw).map_err(|e| PromptError::Parse {
                    file: file.clone(),
                    message: e.to_string().trim_end().to_string(),
                })?;
            texts.insert(lang, map);
        }
        Ok(Self {
            texts,
            dir: dir.to_path_buf(),
        })
    }

    /// A catalog from texts in memory (tests, tools).
    pub fn from_texts(texts: BTreeMap<Language, BTreeMap<String, PromptText>>) -> Self {
        Self {
            texts,
            dir: PathBuf::from("prompts"),
        }
    }

    pub fn text(&self, prompt: &PromptRef) -> Option<&str> {
        self.texts
            .get(&prompt.lang)?
            .get(&prompt.id)
            .map(PromptText::text)
    }

    /// Whether any language knows this id.
    pub fn is_known(&self, id: &str) -> bool {
        self.texts.values().any(|m| m.contains_key(id))
    }

    pub fn has(&self, lang: Language, id: &str) -> bool {
        self.texts.get(&lang).is_some_and(|m| m.contains_key(id))
    }

    /// The file that should hold the text of `lang`'s prompts.
    pub fn texts_file(&self, lang: Language) -> PathBuf {
        self.dir.join(lang.as_str()).join("prompts.toml")
    }
}

/// Checks that every prompt any dialplan can play exists as a usable WAV in every
/// language: `<dir>/<lang>/<id>.wav`, 8 kHz, 16-bit, mono PCM. Reads headers only.
pub fn check_prompts(
    dir: &Path,
    dialplans: &Dialplans,
    languages: &[Language],
) -> Result<(), PromptError> {
    let ids: BTreeSet<String> = dialplans.prompt_ids();
    for &lang in languages {
        for id in &ids {
            let file = PromptRef::new(lang, id.as_str()).wav_path(dir);
            if !file.is_file() {
                return Err(PromptError::MissingWav {
                    prompt: id.clone(),
                    lang,
                    file,
                });
            }
            check_wav_format(&file)?;
        }
    }
    Ok(())
}

fn check_wav_format(file: &Path) -> Result<(), PromptError> {
    let bad = |message: String| PromptError::BadWav {
        file: file.to_path_buf(),
        message,
    };
    let reader = hound::WavReader::open(file).map_err(|e| bad(e.to_string()))?;
    let s = reader.spec();
    if s.sample_rate != 8000
        || s.bits_per_sample != 16
        || s.channels != 1
        || s.sample_format != hound::SampleFormat::Int
    {
        return Err(bad(format!(
            "{} Hz, {}-bit, {} channel(s), {:?}",
            s.sample_rate, s.bits_per_sample, s.channels, s.sample_format
        )));
    }
    Ok(())
}
