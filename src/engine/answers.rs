//! Turns the IVR's answers into journaled report writes: each keyed answer and each
//! completion becomes a [`ReportWrite`] for the node's [`ReportWriter`], which keeps it
//! (memory + fsync'd spool) until the case store has it. The call never waits for the
//! database, only for the write to be durable (see `call_runner.rs` for "please wait").

use std::collections::{HashMap, HashSet};

use chrono::Utc;

use crate::ivr::{AnswerValue, PersonIndex};
use crate::privacy::mask_hersys_id;
use crate::store::journal::{ReportKey, ReportWrite};
use crate::store::{Answer, AttemptId, Channel, PatientId, ReportWriter, Symptom, WriterError};

/// Who a person of this call is, once known (verified, or dialled).
#[derive(Debug, Clone)]
pub struct KnownPerson {
    pub patient: PatientId,
    pub hersys_id: String,
}

/// The reports of one call, one per person.
pub struct CallReports {
    writer: ReportWriter,
    channel: Channel,
    question_set: String,
    sip_call_id: String,
    attempt: Option<AttemptId>,
    persons: HashMap<PersonIndex, KnownPerson>,
    /// Persons with at least one answer journaled (their report exists or will).
    started: HashSet<PersonIndex>,
}

impl CallReports {
    pub fn new(
        writer: ReportWriter,
        channel: Channel,
        question_set: &str,
        sip_call_id: &str,
        attempt: Option<AttemptId>,
    ) -> Self {
        Self {
            writer,
            channel,
            question_set: question_set.to_string(),
            sip_call_id: sip_call_id.to_string(),
            attempt,
            persons: HashMap::new(),
            started: HashSet::new(),
        }
    }

    pub fn set_person(&mut self, index: PersonIndex, person: KnownPerson) {
        self.persons.insert(index, person);
    }

    pub fn person(&self, index: PersonIndex) -> Option<&KnownPerson> {
        self.persons.get(&index)
    }

    /// Reports begun in this call (complete or not).
    pub fn report_count(&self) -> usize {
        self.started.len()
    }

    pub fn writer(&self) -> &ReportWriter {
        &self.writer
    }

    fn key(&self, person: &KnownPerson) -> ReportKey {
        ReportKey {
            patient: person.patient,
            call_id: self.sip_call_id.clone(),
        }
    }

    /// The write saving one keyed answer; `None` (logged) when it cannot be saved.
    pub fn answer_write(
        &mut self,
        index: PersonIndex,
        question: &str,
        value: AnswerValue,
    ) -> Option<ReportWrite> {
        let Some(person) = self.persons.get(&index) else {
            tracing::error!(
                person = index,
                "answer for a person not verified; not saved"
            );
            return None;
        };
        let Some(answer) = to_store_answer(question, value) else {
            tracing::error!(
                question,
                "answer the case store has no column for; not saved"
            );
            return None;
        };
        let write = ReportWrite::Answer {
            report: self.key(person),
            channel: self.channel,
            question_set: self.question_set.clone(),
            attempt: self.attempt,
            answer,
            at_ms: Utc::now().timestamp_millis(),
        };
        self.started.insert(index);
        Some(write)
    }

    /// The write completing a person's report, journaled after their answers.
    pub fn completion_write(&self, index: PersonIndex) -> Option<ReportWrite> {
        let person = self.persons.get(&index)?;
        if !self.started.contains(&index) {
            return None;
        }
        Some(ReportWrite::Complete {
            report: self.key(person),
            at_ms: Utc::now().timestamp_millis(),
        })
    }

    /// The write recording that the answerer keyed "wrong number" (the call's first
    /// person: the patient an auto-call dialled).
    pub fn wrong_number_write(&self) -> Option<ReportWrite> {
        let person = self.persons.get(&0)?;
        Some(ReportWrite::WrongNumber {
            report: self.key(person),
            at_ms: Utc::now().timestamp_millis(),
        })
    }

    /// Logs a write the writer did not accept (it is closed: the node is stopping).
    pub fn log_refused(&self, write: &ReportWrite, e: &WriterError) {
        let who = self
            .persons
            .values()
            .find(|p| p.patient == write.report().patient)
            .map(|p| mask_hersys_id(&p.hersys_id))
            .unwrap_or_default();
        tracing::error!(patient = %who, error = %e, "report write not journaled");
    }
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
