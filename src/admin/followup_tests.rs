use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::store::{
    AttemptState, CallSlots, Channel, ContactMethod, Finding, FollowupHandled, Language, PatientId,
    ReportId, Symptom,
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
        Vec::new(),
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
        Vec::new(),
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

fn handled_at(ms: i64) -> FollowupHandled {
    FollowupHandled {
        by: "sato".into(),
        at: t(ms),
        note: "called back".into(),
    }
}

#[test]
fn findings_name_the_flagged_values_and_a_handled_mark_lasts_until_the_next_report() {
    let later = DAY_START + 3_600_000;
    let mut chest = report(2, later, 36.5, 98, false);
    chest.symptoms.insert(Symptom::ChestPain, true);
    let rows = followup_rows(
        vec![patient(1, false), patient(2, false), patient(3, false)],
        vec![
            report(1, later, 38.1, 91, false),
            chest,
            report(3, later, 38.0, 98, false),
        ],
        vec![
            // Handled after patient 1's report: shown, and the row goes last in its group.
            (PatientId(1), handled_at(later + 60_000)),
            // Handled before patient 3's latest report: an older state, not shown.
            (PatientId(3), handled_at(later - 60_000)),
        ],
        &[],
        &AlertThresholds::default(),
        day("2026-11-20"),
        t(DAY_START),
    );
    let one = rows.iter().find(|r| r.patient.id.0 == 1).unwrap();
    assert_eq!(
        one.findings,
        vec![
            Finding::Spo2Urgent { spo2: 91 },
            Finding::Fever {
                temperature_dc: 381
            }
        ]
    );
    assert_eq!(one.handled.as_ref().map(|h| h.by.as_str()), Some("sato"));
    let two = rows.iter().find(|r| r.patient.id.0 == 2).unwrap();
    assert_eq!(
        two.findings,
        vec![Finding::Symptom {
            symptom: Symptom::ChestPain
        }]
    );
    let three = rows.iter().find(|r| r.patient.id.0 == 3).unwrap();
    assert_eq!(three.handled, None);
    // Urgent (handled) stays in the urgent group; follow-ups unhandled first.
    let order: Vec<i64> = rows.iter().map(|r| r.patient.id.0).collect();
    assert_eq!(order, vec![1, 2, 3]);
    assert_eq!(rows[0].group, FollowupGroup::Urgent);
}

fn many_rows() -> Vec<FollowupRow> {
    let later = DAY_START + 3_600_000;
    let mut patients: Vec<Patient> = (1..=7).map(|i| patient(i, false)).collect();
    patients[5].observation_end = day("2026-11-19"); // ended
    patients[6].name = "Ｙａｍａｄａ Hanako".into();
    patients[6].phone = "+819012345678".into();
    patients[6].call_slots = crate::store::CallSlots::parse("14").unwrap();
    followup_rows(
        patients,
        vec![
            report(1, later, 36.4, 90, false),
            report(2, later, 38.4, 97, false),
            report(3, later, 36.5, 98, false),
        ],
        vec![(PatientId(2), handled_at(later + 1))],
        &[],
        &AlertThresholds::default(),
        day("2026-11-20"),
        t(DAY_START),
    )
}

fn ids(page: &FollowupPage) -> Vec<i64> {
    page.rows.iter().map(|r| r.patient.id.0).collect()
}

fn query(status: &str, q: &str) -> FollowupQuery {
    FollowupQuery {
        status: status.into(),
        q: q.into(),
        ..FollowupQuery::default()
    }
}

#[test]
fn totals_cover_the_centre_and_filters_narrow_the_rows() {
    let all = select(many_rows(), &query("", "")).unwrap();
    assert_eq!(
        all.totals,
        FollowupTotals {
            urgent: 1,
            follow_up: 1,
            no_report_today: 3,
            rest: 2,
            handled: 1,
            ended: 1,
            patients: 7,
        }
    );
    // Ended patient 6 is hidden unless asked for.
    assert_eq!(ids(&all), vec![1, 2, 4, 5, 7, 3]);
    assert_eq!(
        ids(&select(many_rows(), &query("ended", "")).unwrap()),
        vec![6]
    );
    assert_eq!(
        ids(&select(many_rows(), &query("urgent", "")).unwrap()),
        vec![1]
    );
    assert_eq!(
        ids(&select(many_rows(), &query("handled", "")).unwrap()),
        vec![2]
    );
    assert_eq!(
        ids(&select(many_rows(), &query("not_reported_today", "")).unwrap()),
        vec![4, 5, 7]
    );
    assert_eq!(
        select(many_rows(), &query("all", "")).unwrap().rows.len(),
        7
    );
    let slot14 = FollowupQuery {
        slot: Some(14),
        status: "all".into(),
        ..FollowupQuery::default()
    };
    // Default slots include 14 too; only patient 7 lacks 9.
    assert_eq!(select(many_rows(), &slot14).unwrap().rows.len(), 7);
    let slot9 = FollowupQuery {
        slot: Some(9),
        ..FollowupQuery::default()
    };
    assert!(!ids(&select(many_rows(), &slot9).unwrap()).contains(&7));
    assert!(select(many_rows(), &query("bogus", "")).is_err());
}

#[test]
fn search_finds_name_id_and_phone_in_any_width_or_form() {
    for q in [
        "yamada",
        "ＹＡＭＡＤＡ",
        "1000007",
        "090-1234-5678",
        "09012345678",
        "+81 90 1234",
        "０９０ー１２３４",
    ] {
        assert_eq!(
            ids(&select(many_rows(), &query("", q)).unwrap()),
            vec![7],
            "{q}"
        );
    }
    assert!(
        select(many_rows(), &query("", "nobody"))
            .unwrap()
            .rows
            .is_empty()
    );
}

#[test]
fn paging_splits_the_matching_rows() {
    let mut q = query("all", "");
    q.per_page = Some(3);
    q.page = Some(3);
    let p = select(many_rows(), &q).unwrap();
    assert_eq!((p.matching, p.pages, p.rows.len()), (7, 3, 1));
    q.page = Some(9);
    assert!(select(many_rows(), &q).unwrap().rows.is_empty());
    q.per_page = Some(0);
    assert_eq!(select(many_rows(), &q).unwrap().per_page, 1);
}

#[test]
fn age_counts_whole_years() {
    let p = patient(1, false);
    assert_eq!(p.age_on(day("2026-11-20")), 76);
    assert_eq!(p.age_on(day("1949-12-31")), 0);
}
