//! Carries the IVR's answers into the case store as the call goes: the first answer of a
//! person creates their report (partial), each later one updates it, the last marks it
//! complete. A store failure is logged and the call goes on: the caller must not be
//! punished for our database, and what was saved stays saved.

use std::collections::HashMap;

use chrono::Utc;

use crate::ivr::{AnswerValue, PersonIndex};
use crate::privacy::mask_hersys_id;
use crate::store::{
    Answer, AttemptId, Channel, PatientId, ReportCall, ReportId, Store, StoreError, Symptom,
};

/// Who a person of this call is, once known (verified, or dialled).
#[derive(Debug, Clone)]
pub struct KnownPerson {
    pub patient: PatientId,
    pub hersys_id: String,
}

/// The reports of one call, one per person.
pub struct CallReports {
    store: Store,
    channel: Channel,
    question_set: String,
    call: ReportCall,
    persons: HashMap<PersonIndex, KnownPerson>,
    reports: HashMap<PersonIndex, ReportId>,
}

impl CallReports {
    pub fn new(
        store: Store,
        channel: Channel,
        question_set: &str,
        sip_call_id: &str,
        attempt: Option<AttemptId>,
    ) -> Self {
        Self {
            store,
            channel,
            question_set: question_set.to_string(),
            call: ReportCall {
                call_id: sip_call_id.to_string(),
                attempt_id: attempt,
            },
            persons: HashMap::new(),
            reports: HashMap::new(),
        }
    }

    pub fn set_person(&mut self, index: PersonIndex, person: KnownPerson) {
        self.persons.insert(index, person);
    }

    pub fn person(&self, index: PersonIndex) -> Option<&KnownPerson> {
        self.persons.get(&index)
    }

    /// Reports written in this call (complete or not).
    pub fn report_count(&self) -> usize {
        self.reports.len()
    }

    pub async fn save(&mut self, index: PersonIndex, question: &str, value: AnswerValue) {
        let Some(person) = self.persons.get(&index) else {
            tracing::error!(
                person = index,
                "answer for a person not verified; not saved"
            );
            return;
        };
        let Some(answer) = to_store_answer(question, value) else {
            tracing::error!(
                question,
                "answer the case store has no column for; not saved"
            );
            return;
        };
        let now = Utc::now();
        let result = match self.reports.get(&index) {
            Some(report) => self.store.record_answer(*report, answer, now).await,
            None => self
                .store
                .start_report(
                    person.patient,
                    self.channel,
                    &self.question_set,
                    &self.call,
                    answer,
                    now,
                )
                .await
                .map(|id| {
                    self.reports.insert(index, id);
                }),
        };
        if let Err(e) = result {
            log_failure(&person.hersys_id, "save answer", &e);
        }
    }

    pub async fn complete(&mut self, index: PersonIndex) {
        let (Some(report), Some(person)) = (self.reports.get(&index), self.persons.get(&index))
        else {
            return;
        };
        if let Err(e) = self.store.complete_report(*report, Utc::now()).await {
            log_failure(&person.hersys_id, "complete report", &e);
        }
    }
}

fn log_failure(hersys_id: &str, what: &str, e: &StoreError) {
    tracing::error!(patient = %mask_hersys_id(hersys_id), error = %e, "cannot {what}");
}

/// Maps a question id and keyed value onto the store's answer columns.
pub fn to_store_answer(question: &str, value: AnswerValue) -> Option<Answer> {
    match (question, value) {
        (crate::ivr::TEMPERATURE, AnswerValue::Number { scaled, decimals }) => {
            // Stored in 0.1 °C whatever precision the question set keys.
            let dc = match decimals {
                0 => i64::from(scaled) * 10,
                1 => i64::from(scaled),
                d => i64::from(scaled) / 10_i64.pow(u32::from(d) - 1),
            };
            Some(Answer::TemperatureDc(dc))
        }
        (
            crate::ivr::SPO2,
            AnswerValue::Number {
                scaled,
                decimals: 0,
            },
        ) => u8::try_from(scaled).ok().map(|v| Answer::Spo2(Some(v))),
        (crate::ivr::SPO2, AnswerValue::NotMeasured) => Some(Answer::Spo2(None)),
        (symptom, AnswerValue::YesNo(yes)) => Symptom::parse(symptom)
            .ok()
            .map(|s| Answer::Symptom(s, yes)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_values_map_to_store_columns() {
        let t = AnswerValue::Number {
            scaled: 365,
            decimals: 1,
        };
        assert_eq!(
            to_store_answer(crate::ivr::TEMPERATURE, t),
            Some(Answer::TemperatureDc(365))
        );
        let s = AnswerValue::Number {
            scaled: 97,
            decimals: 0,
        };
        assert_eq!(
            to_store_answer(crate::ivr::SPO2, s),
            Some(Answer::Spo2(Some(97)))
        );
        assert_eq!(
            to_store_answer(crate::ivr::SPO2, AnswerValue::NotMeasured),
            Some(Answer::Spo2(None))
        );
        assert_eq!(
            to_store_answer("chest_pain", AnswerValue::YesNo(true)),
            Some(Answer::Symptom(Symptom::ChestPain, true))
        );
    }

    #[test]
    fn unknown_question_is_not_mapped() {
        assert_eq!(to_store_answer("shoe_size", AnswerValue::YesNo(true)), None);
    }
}
