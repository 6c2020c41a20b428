use super::*;
use crate::dialer::plan::{JobKey, LastReport, PatientId};
use crate::dialer::queue::LeaseToken;
use crate::dialer::slots::CallSlot;
use chrono::TimeDelta;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const NINE: &str = "2026-11-22T00:00:00Z"; // 09:00 JST

fn patient() -> PatientSnapshot {
    PatientSnapshot {
        id: PatientId(1),
        slots: crate::store::CallSlots::parse("9").unwrap(),
        observation_start: "2026-11-15".parse().unwrap(),
        observation_end: "2026-11-22".parse().unwrap(),
        stopped: false,
        wrong_number: false,
        contact: ContactMethod::AutoCall,
        last_report: None,
    }
}

fn job(attempt: u32) -> ClaimedJob {
    ClaimedJob {
        key: JobKey {
            patient: PatientId(1),
            date: "2026-11-22".parse().unwrap(),
            slot: CallSlot::new(9).unwrap(),
        },
        slot_at: utc(NINE),
        attempt,
        interrupted: None,
        lease: LeaseToken(1),
        lease_until: utc(NINE) + TimeDelta::minutes(5),
    }
}

fn decide(p: &PatientSnapshot, j: &ClaimedJob, now: &str) -> ClaimDecision {
    claim_decision(j, Some(p), utc(now), &PlanConfig::default())
}

const JUST_AFTER: &str = "2026-11-22T00:00:05Z";

#[test]
fn healthy_job_is_dialled_with_its_attempt_number() {
    assert_eq!(
        decide(&patient(), &job(1), JUST_AFTER),
        ClaimDecision::Dial { attempt: 1 }
    );
    assert_eq!(
        decide(&patient(), &job(3), "2026-11-22T00:40:00Z"),
        ClaimDecision::Dial { attempt: 3 }
    );
}

#[test]
fn staff_stop_after_planning_is_seen_at_claim() {
    let mut p = patient();
    p.stopped = true;
    assert_eq!(
        decide(&p, &job(1), JUST_AFTER),
        ClaimDecision::Stop(StopReason::StaffStopped)
    );
}

#[test]
fn wrong_number_and_contact_change_are_seen_at_claim() {
    let mut p = patient();
    p.wrong_number = true;
    assert_eq!(
        decide(&p, &job(2), JUST_AFTER),
        ClaimDecision::Stop(StopReason::WrongNumber)
    );
    let mut p = patient();
    p.contact = ContactMethod::HealthCall;
    assert_eq!(
        decide(&p, &job(1), JUST_AFTER),
        ClaimDecision::Stop(StopReason::ContactMethodChanged(ContactMethod::HealthCall))
    );
}

#[test]
fn observation_ended_after_planning_is_seen_at_claim() {
    // Planned while the period ran to the 22nd; staff then ended it on the 21st (JST).
    let mut p = patient();
    p.observation_end = "2026-11-21".parse().unwrap();
    assert_eq!(
        decide(&p, &job(1), JUST_AFTER),
        ClaimDecision::Stop(StopReason::ObservationEnded)
    );
    // The last day itself is still called: 09:00 JST on the 22nd is 00:00 UTC.
    assert_eq!(
        decide(&patient(), &job(1), JUST_AFTER),
        ClaimDecision::Dial { attempt: 1 }
    );
    let mut p = patient();
    p.observation_start = "2026-11-23".parse().unwrap();
    assert_eq!(
        decide(&p, &job(1), JUST_AFTER),
        ClaimDecision::Stop(StopReason::ObservationNotStarted)
    );
}

#[test]
fn report_on_another_channel_at_or_after_the_slot_stops_the_call() {
    let mut p = patient();
    p.last_report = Some(LastReport {
        at: utc(NINE),
        channel: Channel::HealthCall,
    });
    assert_eq!(
        decide(&p, &job(2), "2026-11-22T00:20:00Z"),
        ClaimDecision::Stop(StopReason::AlreadyReported {
            at: utc(NINE),
            channel: Channel::HealthCall
        })
    );
    // A report earlier that morning (07:30 JST) does not cancel the 09:00 call by default…
    p.last_report = Some(LastReport {
        at: utc("2026-11-21T22:30:00Z"),
        channel: Channel::AutoCall,
    });
    assert_eq!(
        decide(&p, &job(1), JUST_AFTER),
        ClaimDecision::Dial { attempt: 1 }
    );
    // …but does when the centre counts the whole local day.
    let cfg = PlanConfig {
        stop: StopConfig {
            already_reported: ReportCutoff::SameDay,
        },
        ..PlanConfig::default()
    };
    assert!(matches!(
        claim_decision(&job(1), Some(&p), utc(JUST_AFTER), &cfg),
        ClaimDecision::Stop(StopReason::AlreadyReported { .. })
    ));
    let off = PlanConfig {
        stop: StopConfig {
            already_reported: ReportCutoff::Off,
        },
        ..PlanConfig::default()
    };
    p.last_report = Some(LastReport {
        at: utc(NINE),
        channel: Channel::HealthCall,
    });
    assert_eq!(
        claim_decision(&job(1), Some(&p), utc(JUST_AFTER), &off),
        ClaimDecision::Dial { attempt: 1 }
    );
}

#[test]
fn removed_patient_is_stopped_not_dialled() {
    assert_eq!(
        claim_decision(&job(1), None, utc(JUST_AFTER), &PlanConfig::default()),
        ClaimDecision::Stop(StopReason::PatientRemoved)
    );
}

#[test]
fn never_a_call_outside_allowed_hours() {
    // An 8 o'clock slot claimed at 07:59:59 JST (early node clock) waits for 08:00.
    let mut j = job(1);
    j.slot_at = utc("2026-11-21T22:00:00Z");
    assert_eq!(
        decide(&patient(), &j, "2026-11-21T22:59:59Z"),
        ClaimDecision::Wait {
            until: utc("2026-11-21T23:00:00Z")
        }
    );
    // A 19 o'clock first attempt started late, at 20:10 JST: given up, not dialled.
    let mut j = job(1);
    j.slot_at = utc("2026-11-22T10:00:00Z");
    assert_eq!(
        decide(&patient(), &j, "2026-11-22T11:10:00Z"),
        ClaimDecision::GiveUp(GiveUpReason::OutsideAllowedHours)
    );
}

#[test]
fn retries_stop_at_the_window_but_late_first_attempts_may_run_on() {
    assert_eq!(
        decide(&patient(), &job(2), "2026-11-22T01:00:00Z"),
        ClaimDecision::GiveUp(GiveUpReason::PastWindow)
    );
    assert_eq!(
        decide(&patient(), &job(1), "2026-11-22T01:30:00Z"),
        ClaimDecision::Dial { attempt: 1 }
    );
    assert_eq!(
        decide(&patient(), &job(1), "2026-11-22T02:00:00Z"),
        ClaimDecision::GiveUp(GiveUpReason::PastWindow)
    );
    assert_eq!(
        decide(&patient(), &job(4), "2026-11-22T00:30:00Z"),
        ClaimDecision::GiveUp(GiveUpReason::AttemptsExhausted)
    );
}

#[test]
fn interrupted_attempt_waits_the_failed_offset_before_the_next_one() {
    let mut j = job(2);
    j.interrupted = Some(1);
    assert_eq!(
        decide(&patient(), &j, "2026-11-22T00:05:00Z"),
        ClaimDecision::Wait {
            until: utc("2026-11-22T00:15:00Z")
        }
    );
    let mut j = job(4);
    j.interrupted = Some(3);
    assert_eq!(
        decide(&patient(), &j, "2026-11-22T00:05:00Z"),
        ClaimDecision::GiveUp(GiveUpReason::AttemptsExhausted)
    );
}
