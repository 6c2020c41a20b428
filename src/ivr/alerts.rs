//! Alert levels from a person's answers and the health centre's thresholds. Pure: the
//! staff pages, the store and the IVR's closing prompt all call the same function.

use serde::{Deserialize, Serialize};

use super::questions::Answers;

/// How much attention a report needs, lowest first (so `max` gives the strongest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    Normal,
    /// SpO2 borderline: worth measuring again.
    Recheck,
    /// Fever or a warning symptom: staff follow up.
    FollowUp,
    /// Shown in red; the caller is told the centre will contact them and about 119.
    Urgent,
}

/// A health centre's thresholds (defaults from the seed documents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// SpO2 at or below this (percent) is urgent.
    pub spo2_urgent_at_or_below: u32,
    /// SpO2 at or below this (and above the urgent line) is worth re-checking.
    pub spo2_recheck_at_or_below: u32,
    /// Temperature at or above this, in tenths of a degree (375 = 37.5 °C), needs follow-up.
    pub temperature_follow_up_tenths: u32,
    /// A "yes" to any of these symptoms needs follow-up.
    pub follow_up_symptoms: Vec<String>,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            spo2_urgent_at_or_below: 93,
            spo2_recheck_at_or_below: 95,
            temperature_follow_up_tenths: 375,
            follow_up_symptoms: vec!["shortness_of_breath".into(), "chest_pain".into()],
        }
    }
}

/// The strongest alert the answers given so far call for. Unanswered questions and
/// "not measured" raise nothing.
pub fn alert_level(answers: &Answers, thresholds: &Thresholds) -> AlertLevel {
    let mut level = AlertLevel::Normal;
    if let Some(spo2) = answers.spo2() {
        if spo2 <= thresholds.spo2_urgent_at_or_below {
            return AlertLevel::Urgent;
        }
        if spo2 <= thresholds.spo2_recheck_at_or_below {
            level = AlertLevel::Recheck;
        }
    }
    let fever = answers
        .temperature_tenths()
        .is_some_and(|t| t >= thresholds.temperature_follow_up_tenths);
    let warning_symptom = thresholds
        .follow_up_symptoms
        .iter()
        .any(|s| answers.yes_no(s) == Some(true));
    if fever || warning_symptom {
        level = level.max(AlertLevel::FollowUp);
    }
    level
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ivr::questions::AnswerValue;

    fn answers(temp: Option<u32>, spo2: Option<u32>, yes: &[&str]) -> Answers {
        let mut a = Answers::new();
        if let Some(t) = temp {
            a.set(
                "temperature",
                AnswerValue::Number {
                    scaled: t,
                    decimals: 1,
                },
            );
        }
        if let Some(s) = spo2 {
            a.set(
                "spo2",
                AnswerValue::Number {
                    scaled: s,
                    decimals: 0,
                },
            );
        }
        for s in yes {
            a.set(s, AnswerValue::YesNo(true));
        }
        a.set("cough", AnswerValue::YesNo(yes.contains(&"cough")));
        a
    }

    #[test]
    fn spo2_edges_follow_the_defaults() {
        let t = Thresholds::default();
        assert_eq!(
            alert_level(&answers(Some(365), Some(93), &[]), &t),
            AlertLevel::Urgent
        );
        assert_eq!(
            alert_level(&answers(Some(365), Some(94), &[]), &t),
            AlertLevel::Recheck
        );
        assert_eq!(
            alert_level(&answers(Some(365), Some(95), &[]), &t),
            AlertLevel::Recheck
        );
        assert_eq!(
            alert_level(&answers(Some(365), Some(96), &[]), &t),
            AlertLevel::Normal
        );
    }

    #[test]
    fn fever_and_warning_symptoms_need_follow_up_but_cough_alone_does_not() {
        let t = Thresholds::default();
        assert_eq!(
            alert_level(&answers(Some(374), Some(97), &[]), &t),
            AlertLevel::Normal
        );
        assert_eq!(
            alert_level(&answers(Some(375), Some(97), &[]), &t),
            AlertLevel::FollowUp
        );
        let sob = answers(Some(365), None, &["shortness_of_breath"]);
        assert_eq!(alert_level(&sob, &t), AlertLevel::FollowUp);
        let chest = answers(None, Some(95), &["chest_pain"]);
        assert_eq!(alert_level(&chest, &t), AlertLevel::FollowUp);
        assert_eq!(
            alert_level(&answers(None, None, &["cough"]), &t),
            AlertLevel::Normal
        );
    }

    #[test]
    fn urgent_wins_over_follow_up_and_not_measured_raises_nothing() {
        let t = Thresholds::default();
        let a = answers(Some(390), Some(90), &["chest_pain"]);
        assert_eq!(alert_level(&a, &t), AlertLevel::Urgent);
        let mut nm = Answers::new();
        nm.set("spo2", AnswerValue::NotMeasured);
        assert_eq!(alert_level(&nm, &t), AlertLevel::Normal);
    }

    #[test]
    fn a_centre_can_raise_its_own_thresholds() {
        let t = Thresholds {
            spo2_urgent_at_or_below: 95,
            temperature_follow_up_tenths: 380,
            ..Thresholds::default()
        };
        assert_eq!(
            alert_level(&answers(Some(375), Some(95), &[]), &t),
            AlertLevel::Urgent
        );
        assert_eq!(
            alert_level(&answers(Some(375), Some(97), &[]), &t),
            AlertLevel::Normal
        );
    }
}
