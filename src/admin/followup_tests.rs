use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::store::{
    AttemptState, CallSlots, Channel, ContactMethod, Language, PatientId, ReportId, Symptom,
};

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn t(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap()
}

const DAY_START: i64 = 1_795_100_000_000;

fn patient(id: i64, stopped: bool) -> Patient {
    Patient {
        id: PatientId(id),
        hersys_id: format!("10000{id:02}"),
        name: format!("P{id}"),
        birth_date: day("1950-01-01"),
        phone: "+81312345678".into(),
        language: Language::Ja,
        centre_id: CentreId(1),
        health_centre: "Minato".into(),
        observation_start: day("2026-11-15"),
        observation_end: day("2026-11-25"),
        contact_method: ContactMethod::AutoCall,
        call_slots: CallSlots::DEFAULT,
        stopped_at: stopped.then(|| t(DAY_START)),
        stopped_reason: None,
        wrong_number: false,
        created_at: t(DAY_START),
    }
}

fn report(patient: i64, at: i64, temp: f64, spo2: u8, breathless: bool) -> HealthReport {
    let mut symptoms = BTreeMap::new();
    symptoms.insert(Symptom::ShortnessOfBreath, breathless);
    HealthReport {
        id: ReportId(patient * 10),
        patient_id: PatientId(patient),
        hersys_id: format!("10000{patient:02}"),
        reported_at: t(at),
        channel: Channel::AutoCall,
        temperature_c: Some(temp),
        spo2: Some(spo2),
        symptoms,
        complete: true,
        question_set: "v1".into(),
        call_id: format!("c{patient}"),
        attempt_id: None,
        updated_at: t(at),
    }
}

#[test]
fn urgent_then_follow_up_then_unreported_then_the_rest() {
    let today = day("2026-11-20");
    let later = DAY_START + 3_600_000;
    let patients = (1..=6).map(|i| patient(i, i == 6)).collect();
    let latest = vec![
        report(1, later, 36.5, 98, false), // normal, reported today
        report(2, later, 36.4, 91, false), // urgent
        report(3, DAY_START - 3_600_000, 36.5, 98, false), // yesterday: no report today
        report(4, later, 38.0, 97, false), // fever: follow-up
        report(5, later, 36.6, 95, false), // re-check
        report(6, later, 36.0, 85, false), // stopped: urgent level ignored
    ];
    let rows = followup_rows(
        patients,
        latest,
        &[],
        &AlertThresholds::default(),
        today,
        t(DAY_START),
    );
    let order: Vec<i64> = rows.iter().map(|r| r.patient.id.0).collect();
    assert_eq!(order, vec![2, 4, 3, 5, 1, 6]);
    assert_eq!(rows[0].group, FollowupGroup::Urgent);
    assert_eq!(rows[1].group, FollowupGroup::FollowUp);
    assert_eq!(rows[2].group, FollowupGroup::NoReportToday);
    assert!(!rows[2].reported_today && rows[0].reported_today);
    assert_eq!(rows[5].group, FollowupGroup::Rest);
    assert_eq!(rows[5].alert_level, Some(AlertLevel::Urgent));
}

#[test]
fn patient_without_any_report_is_unreported_not_urgent() {
    let rows = followup_rows(
        vec![patient(1, false)],
        Vec::new(),
        &[],
        &AlertThresholds::default(),
        day("2026-11-20"),
        t(DAY_START),
    );
    assert_eq!(rows[0].group, FollowupGroup::NoReportToday);
    assert_eq!(rows[0].alert_level, None);
}

#[test]
fn breathlessness_alone_needs_follow_up() {
    let rows = followup_rows(
        vec![patient(1, false)],
        vec![report(1, DAY_START + 1, 36.5, 98, true)],
        &[],
        &AlertThresholds::default(),
        day("2026-11-20"),
        t(DAY_START),
    );
    assert_eq!(rows[0].group, FollowupGroup::FollowUp);
}

fn attempt(patient: i64, hour: u8, no: u32, outcome: Option<AttemptOutcome>) -> CallAttempt {
    CallAttempt {
        id: crate::store::AttemptId(i64::from(hour) * 10 + i64::from(no)),
        patient_id: PatientId(patient),
        hersys_id: format!("10000{patient:02}"),
        slot_date: day("2026-11-20"),
        slot_hour: hour,
        attempt_no: no,
        due_at: t(DAY_START),
        state: if outcome.is_some() {
            AttemptState::Finished
        } else {
            AttemptState::Pending
        },
        outcome,
        caller_line: None,
        sip_call_id: None,
        lease_owner: None,
        lease_until: None,
        created_at: t(DAY_START),
        started_at: None,
        answered_at: None,
        ended_at: None,
        detail: None,
    }
}

#[test]
fn todays_finished_attempts_are_counted_with_the_last_outcome() {
    let attempts = [
        attempt(1, 9, 1, Some(AttemptOutcome::NoAnswer)),
        attempt(1, 9, 2, Some(AttemptOutcome::Busy)),
        attempt(1, 9, 3, None),
        attempt(2, 9, 1, Some(AttemptOutcome::Completed)),
    ];
    let rows = followup_rows(
        vec![patient(1, false), patient(2, false)],
        Vec::new(),
        &attempts,
        &AlertThresholds::default(),
        day("2026-11-20"),
        t(DAY_START),
    );
    let one = rows.iter().find(|r| r.patient.id.0 == 1).unwrap();
    assert_eq!(one.attempts_today, 2);
    assert_eq!(one.last_outcome_today, Some(AttemptOutcome::Busy));
    let two = rows.iter().find(|r| r.patient.id.0 == 2).unwrap();
    assert_eq!(two.attempts_today, 1);
}
