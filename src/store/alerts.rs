//! Alert levels from a report's answers and the centre's thresholds: one rule for the IVR's
//! closing prompt and the staff pages' red rows.

use std::collections::BTreeMap;

use super::{HealthReport, Symptom};

/// Alert thresholds (the mission's defaults): SpO2 at or below `spo2_urgent` is urgent,
/// at or below `spo2_recheck` worth re-checking; temperature at or above
/// `temperature_followup_dc` (0.1 °C) or a "yes" to any of `follow_up_symptoms` flags
/// follow-up. The numbers are stored per health centre; the symptom list is not stored
/// yet (every centre reads back the default list).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertThresholds {
    pub spo2_urgent: u8,
    pub spo2_recheck: u8,
    pub temperature_followup_dc: i64,
    pub follow_up_symptoms: Vec<Symptom>,
}

impl Default for AlertThresholds {
    fn default() -> Self {
        AlertThresholds {
            spo2_urgent: 93,
            spo2_recheck: 95,
            temperature_followup_dc: 375,
            follow_up_symptoms: vec![Symptom::ShortnessOfBreath, Symptom::ChestPain],
        }
    }
}

/// How much attention a report needs, least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    Normal,
    /// SpO2 just above urgent: measure again.
    Recheck,
    /// Fever or a follow-up symptom (by default shortness of breath or chest pain).
    FollowUp,
    /// SpO2 at or below the urgent threshold: staff contact the patient now (red).
    Urgent,
}

/// One flagged answer of a report and what it raises: the reasons a follow-up row names.
/// [`AlertThresholds::findings`] is the one rule; [`AlertThresholds::assess`] is its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Finding {
    /// SpO2 at or below the urgent threshold.
    Spo2Urgent { spo2: u8 },
    /// SpO2 in the re-check band: above urgent, at or below the re-check threshold.
    Spo2Recheck { spo2: u8 },
    /// Temperature at or above the follow-up threshold (0.1 °C).
    Fever { temperature_dc: i64 },
    /// A "yes" to one of the follow-up symptoms.
    Symptom { symptom: Symptom },
}

impl Finding {
    pub fn level(self) -> AlertLevel {
        match self {
            Finding::Spo2Urgent { .. } => AlertLevel::Urgent,
            Finding::Spo2Recheck { .. } => AlertLevel::Recheck,
            Finding::Fever { .. } | Finding::Symptom { .. } => AlertLevel::FollowUp,
        }
    }
}

impl AlertThresholds {
    /// Every answer that raises something, SpO2 first, then temperature, then symptoms in
    /// question order; unanswered questions and an SpO2 that was not measured raise nothing.
    pub fn findings(
        &self,
        temperature_dc: Option<i64>,
        spo2: Option<u8>,
        symptoms: &BTreeMap<Symptom, bool>,
    ) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(s) = spo2 {
            if s <= self.spo2_urgent {
                out.push(Finding::Spo2Urgent { spo2: s });
            } else if s <= self.spo2_recheck {
                out.push(Finding::Spo2Recheck { spo2: s });
            }
        }
        if let Some(t) = temperature_dc.filter(|t| *t >= self.temperature_followup_dc) {
            out.push(Finding::Fever { temperature_dc: t });
        }
        out.extend(
            Symptom::ALL
                .iter()
                .filter(|s| self.follow_up_symptoms.contains(s) && symptoms.get(s) == Some(&true))
                .map(|s| Finding::Symptom { symptom: *s }),
        );
        out
    }

    /// The highest level any finding reaches.
    pub fn assess(
        &self,
        temperature_dc: Option<i64>,
        spo2: Option<u8>,
        symptoms: &BTreeMap<Symptom, bool>,
    ) -> AlertLevel {
        self.findings(temperature_dc, spo2, symptoms)
            .into_iter()
            .map(Finding::level)
            .max()
            .unwrap_or(AlertLevel::Normal)
    }
}

impl HealthReport {
    pub fn alert_level(&self, thresholds: &AlertThresholds) -> AlertLevel {
        thresholds.assess(self.temperature_dc(), self.spo2, &self.symptoms)
    }

    pub fn findings(&self, thresholds: &AlertThresholds) -> Vec<Finding> {
        thresholds.findings(self.temperature_dc(), self.spo2, &self.symptoms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assess(t: Option<i64>, spo2: Option<u8>, yes: &[Symptom]) -> AlertLevel {
        let symptoms = yes.iter().map(|s| (*s, true)).collect();
        AlertThresholds::default().assess(t, spo2, &symptoms)
    }

    #[test]
    fn spo2_thresholds_follow_the_mission_defaults() {
        assert_eq!(assess(None, Some(93), &[]), AlertLevel::Urgent);
        assert_eq!(assess(None, Some(91), &[]), AlertLevel::Urgent);
        assert_eq!(assess(None, Some(94), &[]), AlertLevel::Recheck);
        assert_eq!(assess(None, Some(95), &[]), AlertLevel::Recheck);
        assert_eq!(assess(None, Some(96), &[]), AlertLevel::Normal);
        assert_eq!(assess(None, None, &[]), AlertLevel::Normal);
    }

    #[test]
    fn fever_and_breathing_or_chest_symptoms_need_follow_up() {
        assert_eq!(assess(Some(375), Some(98), &[]), AlertLevel::FollowUp);
        assert_eq!(assess(Some(374), Some(98), &[]), AlertLevel::Normal);
        assert_eq!(
            assess(Some(365), None, &[Symptom::ShortnessOfBreath]),
            AlertLevel::FollowUp
        );
        assert_eq!(
            assess(Some(365), None, &[Symptom::ChestPain]),
            AlertLevel::FollowUp
        );
        assert_eq!(
            assess(Some(365), None, &[Symptom::Cough]),
            AlertLevel::Normal
        );
        // A fever does not lower an urgent SpO2.
        assert_eq!(assess(Some(390), Some(90), &[]), AlertLevel::Urgent);
        assert_eq!(assess(Some(390), Some(95), &[]), AlertLevel::FollowUp);
    }

    #[test]
    fn a_no_to_a_follow_up_symptom_raises_nothing() {
        let symptoms = [
            (Symptom::ChestPain, false),
            (Symptom::ShortnessOfBreath, false),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            AlertThresholds::default().assess(Some(365), Some(97), &symptoms),
            AlertLevel::Normal
        );
    }

    #[test]
    fn findings_name_every_flagged_answer_and_only_those() {
        let symptoms = [
            (Symptom::ChestPain, true),
            (Symptom::Cough, true),
            (Symptom::ShortnessOfBreath, false),
        ]
        .into_iter()
        .collect();
        let f = AlertThresholds::default().findings(Some(382), Some(95), &symptoms);
        assert_eq!(
            f,
            vec![
                Finding::Spo2Recheck { spo2: 95 },
                Finding::Fever {
                    temperature_dc: 382
                },
                Finding::Symptom {
                    symptom: Symptom::ChestPain
                },
            ]
        );
        let none = BTreeMap::new();
        assert!(
            AlertThresholds::default()
                .findings(Some(365), Some(98), &none)
                .is_empty()
        );
        assert_eq!(
            AlertThresholds::default().findings(None, Some(90), &none),
            vec![Finding::Spo2Urgent { spo2: 90 }]
        );
    }

    #[test]
    fn per_centre_thresholds_apply() {
        let strict = AlertThresholds {
            spo2_urgent: 95,
            spo2_recheck: 96,
            temperature_followup_dc: 370,
            ..AlertThresholds::default()
        };
        let none = BTreeMap::new();
        assert_eq!(strict.assess(None, Some(95), &none), AlertLevel::Urgent);
        assert_eq!(
            strict.assess(Some(371), Some(99), &none),
            AlertLevel::FollowUp
        );
    }

    #[test]
    fn the_follow_up_symptom_list_is_configurable() {
        let cough_too = AlertThresholds {
            follow_up_symptoms: vec![Symptom::Cough],
            ..AlertThresholds::default()
        };
        let cough = [(Symptom::Cough, true)].into_iter().collect();
        let chest = [(Symptom::ChestPain, true)].into_iter().collect();
        assert_eq!(cough_too.assess(None, None, &cough), AlertLevel::FollowUp);
        assert_eq!(cough_too.assess(None, None, &chest), AlertLevel::Normal);
    }

    #[test]
    fn thresholds_parse_from_toml_with_defaults_and_refuse_unknown_symptoms() {
        let t: AlertThresholds = toml::from_str("spo2_urgent = 92").unwrap();
        assert_eq!(t.spo2_urgent, 92);
        assert_eq!(
            t.follow_up_symptoms,
            AlertThresholds::default().follow_up_symptoms
        );
        assert!(toml::from_str::<AlertThresholds>("follow_up_symptoms = [\"sneezing\"]").is_err());
        assert!(toml::from_str::<AlertThresholds>("spo2_urgent_at_or_below = 93").is_err());
    }
}
