//! The health questionnaire as data: one versioned question set used by every channel,
//! and the answers a person gives to it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::dialplan::DialplanError;
use crate::store::{AlertLevel, AlertThresholds, Symptom};

/// Question ids the alert rules rely on.
pub const TEMPERATURE: &str = "temperature";
pub const SPO2: &str = "spo2";

/// `dialplans/questions.toml`: the questions, in the order they are asked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionSet {
    /// Recorded on every report, e.g. `2026-11-v1`.
    pub version: String,
    /// Default alert thresholds; a health centre may override them.
    #[serde(default)]
    pub thresholds: AlertThresholds,
    /// Prompts shared by every question.
    pub voice: QuestionVoice,
    pub questions: Vec<Question>,
}

/// Spoken parts of the questionnaire that are not specific to one question.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuestionVoice {
    /// After a read-back: "1 if correct, 2 to enter again".
    pub confirm: String,
    /// Nothing was keyed in time.
    pub no_input: String,
    /// A key that is not an answer (e.g. 3 to a yes/no question).
    pub invalid: String,
    /// Tries per question (and per read-back) before the call gives up.
    #[serde(default = "three")]
    pub max_tries: u32,
}

fn three() -> u32 {
    3
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Question {
    Number(NumberQuestion),
    YesNo(YesNoQuestion),
}

impl Question {
    pub fn id(&self) -> &str {
        match self {
            Question::Number(q) => &q.id,
            Question::YesNo(q) => &q.id,
        }
    }

    /// Every prompt id this question may play.
    pub fn prompt_ids(&self) -> Vec<&str> {
        match self {
            Question::Number(q) => {
                let mut v = vec![
                    q.prompt.as_str(),
                    q.readback.as_str(),
                    q.unit.as_str(),
                    q.out_of_range.as_str(),
                ];
                v.extend(q.not_measured.as_deref());
                v
            }
            Question::YesNo(q) => vec![q.prompt.as_str()],
        }
    }
}

/// A number keyed digit by digit; with `decimals = 1`, `365` means 36.5.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberQuestion {
    pub id: String,
    pub prompt: String,
    pub min_digits: usize,
    pub max_digits: usize,
    /// Entry ends with `#` (otherwise it ends at `max_digits`).
    #[serde(default)]
    pub terminator: bool,
    /// Digits after the decimal point in the keyed number.
    #[serde(default)]
    pub decimals: u8,
    /// Valid range in the question's own unit (e.g. 34.0 to 42.0).
    pub min: f64,
    pub max: f64,
    /// Spoken before the digits when reading the value back.
    pub readback: String,
    /// Unit word spoken after the digits.
    pub unit: String,
    /// Explains the valid range.
    pub out_of_range: String,
    /// When set, `#` alone means "not measured" and this prompt is the read-back.
    #[serde(default)]
    pub not_measured: Option<String>,
}

impl NumberQuestion {
    /// The valid range in keyed units (tenths for `decimals = 1`).
    pub fn scaled_range(&self) -> (u32, u32) {
        let f = 10f64.powi(i32::from(self.decimals));
        ((self.min * f).round() as u32, (self.max * f).round() as u32)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YesNoQuestion {
    pub id: String,
    /// Asks the question and says "yes 1, no 2".
    pub prompt: String,
}

impl QuestionSet {
    /// Reads and validates the question set; errors name the file and the problem.
    pub fn load(path: &Path) -> Result<Self, DialplanError> {
        let text = std::fs::read_to_string(path).map_err(|source| DialplanError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, DialplanError> {
        let set: QuestionSet = toml::from_str(text).map_err(|e| DialplanError::Parse {
            file: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        set.validate().map_err(|message| DialplanError::Invalid {
            file: path.to_path_buf(),
            message,
        })?;
        Ok(set)
    }

    fn validate(&self) -> Result<(), String> {
        if self.version.trim().is_empty() {
            return Err("version must not be empty".into());
        }
        if self.questions.is_empty() {
            return Err("no questions".into());
        }
        let mut seen = BTreeSet::new();
        for q in &self.questions {
            if !seen.insert(q.id()) {
                return Err(format!("question id {:?} appears twice", q.id()));
            }
            if let Question::Number(n) = q {
                let id = &n.id;
                if n.min_digits == 0 || n.min_digits > n.max_digits || n.max_digits > 9 {
                    return Err(format!(
                        "question {id}: need 1 <= min_digits <= max_digits <= 9"
                    ));
                }
                if usize::from(n.decimals) >= n.max_digits {
                    return Err(format!(
                        "question {id}: decimals must be fewer than max_digits"
                    ));
                }
                if !(n.min >= 0.0 && n.min <= n.max) {
                    return Err(format!("question {id}: need 0 <= min <= max"));
                }
                if n.not_measured.is_some() && !n.terminator {
                    return Err(format!(
                        "question {id}: not_measured (# alone) needs terminator = true"
                    ));
                }
            }
        }
        // The alert rules read these ids with these scales.
        for (id, decimals) in [(TEMPERATURE, 1), (SPO2, 0)] {
            match self.questions.iter().find(|q| q.id() == id) {
                Some(Question::Number(n)) if n.decimals == decimals => {}
                Some(_) => {
                    return Err(format!(
                        "question {id} must be a number with {decimals} decimals"
                    ));
                }
                None => return Err(format!("question {id} is missing")),
            }
        }
        for s in &self.thresholds.follow_up_symptoms {
            match self.questions.iter().find(|q| q.id() == s.as_str()) {
                Some(Question::YesNo(_)) => {}
                _ => {
                    return Err(format!(
                        "thresholds.follow_up_symptoms: {s} is not a yes/no question"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every prompt id the questionnaire may play (besides the built-in digits).
    pub fn prompt_ids(&self) -> BTreeSet<&str> {
        let mut ids: BTreeSet<&str> = [
            self.voice.confirm.as_str(),
            self.voice.no_input.as_str(),
            self.voice.invalid.as_str(),
        ]
        .into();
        for q in &self.questions {
            ids.extend(q.prompt_ids());
        }
        ids
    }
}

/// One answer as keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum AnswerValue {
    /// The keyed number in keyed units: `365` with one decimal is 36.5.
    Number {
        scaled: u32,
        decimals: u8,
    },
    /// `#` alone to a question that allows it (no oximeter yet).
    NotMeasured,
    YesNo(bool),
}

/// What one person answered so far, by question id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answers {
    values: BTreeMap<String, AnswerValue>,
}

impl Answers {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, id: &str, value: AnswerValue) {
        self.values.insert(id.to_string(), value);
    }

    pub fn get(&self, id: &str) -> Option<AnswerValue> {
        self.values.get(id).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Temperature in tenths of a degree (365 = 36.5 °C), if answered.
    pub fn temperature_tenths(&self) -> Option<u32> {
        match self.get(TEMPERATURE) {
            Some(AnswerValue::Number { scaled, .. }) => Some(scaled),
            _ => None,
        }
    }

    /// SpO2 in percent, if measured and answered.
    pub fn spo2(&self) -> Option<u32> {
        match self.get(SPO2) {
            Some(AnswerValue::Number { scaled, .. }) => Some(scaled),
            _ => None,
        }
    }

    /// A yes/no answer, if given.
    pub fn yes_no(&self, id: &str) -> Option<bool> {
        match self.get(id) {
            Some(AnswerValue::YesNo(b)) => Some(b),
            _ => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, AnswerValue)> {
        self.values.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// The yes/no answers to the shared symptom questions.
    pub fn symptoms(&self) -> BTreeMap<Symptom, bool> {
        self.values
            .iter()
            .filter_map(|(id, v)| match v {
                AnswerValue::YesNo(b) => Some((Symptom::parse(id).ok()?, *b)),
                _ => None,
            })
            .collect()
    }

    /// The alert these answers call for, by the same rule the staff pages use.
    pub fn alert_level(&self, thresholds: &AlertThresholds) -> AlertLevel {
        let spo2 = self.spo2().map(|s| u8::try_from(s).unwrap_or(u8::MAX));
        thresholds.assess(
            self.temperature_tenths().map(i64::from),
            spo2,
            &self.symptoms(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn shipped() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dialplans/questions.toml")
    }

    #[test]
    fn shipped_question_set_has_every_symptom_and_the_number_rules() {
        let set = QuestionSet::load(&shipped()).unwrap();
        assert_eq!(set.version, "2026-11-v1");
        for s in Symptom::ALL {
            assert!(
                matches!(
                    set.questions.iter().find(|q| q.id() == s.as_str()),
                    Some(Question::YesNo(_))
                ),
                "{s}"
            );
        }
        let Some(Question::Number(t)) = set.questions.iter().find(|q| q.id() == TEMPERATURE) else {
            panic!("no temperature");
        };
        assert_eq!((t.min_digits, t.max_digits, t.terminator), (3, 3, false));
        assert_eq!(t.scaled_range(), (340, 420));
        let Some(Question::Number(s)) = set.questions.iter().find(|q| q.id() == SPO2) else {
            panic!("no spo2");
        };
        assert_eq!((s.min_digits, s.max_digits, s.terminator), (2, 3, true));
        assert_eq!(s.scaled_range(), (70, 100));
        assert!(s.not_measured.is_some());
    }

    #[test]
    fn duplicate_question_is_refused_naming_the_file() {
        let text = std::fs::read_to_string(shipped()).unwrap();
        let doubled = format!(
            "{text}\n[[questions]]\nkind = \"yes_no\"\nid = \"cough\"\nprompt = \"ask_cough\"\n"
        );
        let err = QuestionSet::parse(&doubled, Path::new("dialplans/q.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("dialplans/q.toml") && msg.contains("cough"),
            "{msg}"
        );
    }

    fn numbers(temp: u32, spo2: u32) -> Answers {
        let mut a = Answers::new();
        let number = |scaled, decimals| AnswerValue::Number { scaled, decimals };
        a.set(TEMPERATURE, number(temp, 1));
        a.set(SPO2, number(spo2, 0));
        a
    }

    #[test]
    fn answers_are_assessed_by_the_stored_rule() {
        let t = AlertThresholds::default();
        assert_eq!(numbers(365, 97).alert_level(&t), AlertLevel::Normal);
        assert_eq!(numbers(365, 93).alert_level(&t), AlertLevel::Urgent);
        assert_eq!(numbers(365, 95).alert_level(&t), AlertLevel::Recheck);
        assert_eq!(numbers(375, 97).alert_level(&t), AlertLevel::FollowUp);
        let mut chest = numbers(365, 97);
        chest.set("chest_pain", AnswerValue::YesNo(true));
        chest.set("cough", AnswerValue::YesNo(false));
        assert_eq!(chest.alert_level(&t), AlertLevel::FollowUp);
        assert_eq!(
            chest.symptoms(),
            [(Symptom::Cough, false), (Symptom::ChestPain, true)].into()
        );
        let mut nm = Answers::new();
        nm.set(SPO2, AnswerValue::NotMeasured);
        assert_eq!(nm.alert_level(&t), AlertLevel::Normal);
    }

    #[test]
    fn a_follow_up_symptom_without_a_yes_no_question_is_refused() {
        let text = std::fs::read_to_string(shipped()).unwrap().replace(
            "[[questions]]\nkind = \"yes_no\"\nid = \"chest_pain\"",
            "[[questions]]\nkind = \"yes_no\"\nid = \"chest_ache\"",
        );
        assert!(text.contains("chest_ache"), "fixture edit did not apply");
        let err = QuestionSet::parse(&text, Path::new("q.toml")).unwrap_err();
        assert!(
            err.to_string()
                .contains("chest_pain is not a yes/no question"),
            "{err}"
        );
    }

    #[test]
    fn missing_spo2_question_is_refused() {
        let text = r#"
version = "x"
[voice]
confirm = "c"
no_input = "n"
invalid = "i"
[[questions]]
kind = "number"
id = "temperature"
prompt = "p"
min_digits = 3
max_digits = 3
decimals = 1
min = 34.0
max = 42.0
readback = "r"
unit = "u"
out_of_range = "o"
"#;
        let err = QuestionSet::parse(text, Path::new("q.toml")).unwrap_err();
        assert!(err.to_string().contains("spo2 is missing"), "{err}");
    }
}
