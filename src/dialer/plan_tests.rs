use super::*;
use crate::dialer::memory_queue::InMemoryJobQueue;
use crate::dialer::queue::JobQueue;
use crate::dialer::slots::SlotSchedule;
use chrono::TimeDelta;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub(super) fn patient(id: i64, slots: &str) -> PatientSnapshot {
    PatientSnapshot {
        id: PatientId(id),
        slots: crate::store::CallSlots::parse(slots).unwrap(),
        observation_start: "2026-11-15".parse().unwrap(),
        observation_end: "2026-11-25".parse().unwrap(),
        stopped: false,
        wrong_number: false,
        contact: ContactMethod::AutoCall,
        last_report: None,
    }
}

fn nine_jst() -> SlotInstant {
    SlotSchedule::tokyo_default().instant("2026-11-22".parse().unwrap(), CallSlot::new(9).unwrap())
}

#[test]
fn only_patients_who_chose_the_slot_get_a_job_keyed_on_local_date() {
    let patients = vec![patient(1, "9,14"), patient(2, "14"), patient(3, "9")];
    let slot = nine_jst();
    assert_eq!(slot.at, utc("2026-11-22T00:00:00Z"));
    let plan = plan_slot(&slot, &patients, &PlanConfig::default());
    let keys: Vec<String> = plan.jobs.iter().map(|j| j.key.to_string()).collect();
    assert_eq!(keys, ["1/2026-11-22/09", "3/2026-11-22/09"]);
    assert!(plan.jobs.iter().all(|j| j.slot_at == slot.at));
    assert!(plan.skipped.is_empty() && plan.warnings.is_empty());
}

#[test]
fn stopped_patients_are_skipped_with_their_reason() {
    let mut stopped = patient(1, "9");
    stopped.stopped = true;
    let mut ended = patient(2, "9");
    ended.observation_end = "2026-11-21".parse().unwrap();
    let plan = plan_slot(
        &nine_jst(),
        &[stopped, ended, patient(3, "9")],
        &PlanConfig::default(),
    );
    assert_eq!(plan.jobs.len(), 1);
    assert_eq!(
        plan.skipped,
        vec![
            (PatientId(1), StopReason::StaffStopped),
            (PatientId(2), StopReason::ObservationEnded)
        ]
    );
}

#[tokio::test]
async fn planning_a_slot_twice_creates_nothing_twice() {
    let patients: Vec<_> = (1..=50).map(|i| patient(i, "9,11")).collect();
    let q = InMemoryJobQueue::new();
    let first = plan_slot(&nine_jst(), &patients, &PlanConfig::default());
    let again = plan_slot(&nine_jst(), &patients, &PlanConfig::default());
    assert_eq!(first.jobs, again.jobs);
    assert_eq!(q.enqueue(&first.jobs).await.unwrap(), 50);
    assert_eq!(q.enqueue(&again.jobs).await.unwrap(), 0);
    assert_eq!(q.len(), 50);
    // A duplicated patient row in the input still yields one job.
    let dup = vec![patient(7, "9"), patient(7, "9")];
    assert_eq!(
        plan_slot(&nine_jst(), &dup, &PlanConfig::default())
            .jobs
            .len(),
        1
    );
}

#[test]
fn window_too_short_for_the_capacity_is_a_plan_warning() {
    let small: Vec<_> = (0..1000).map(|i| patient(i, "9")).collect();
    assert!(
        plan_slot(&nine_jst(), &small, &PlanConfig::default())
            .warnings
            .is_empty()
    );
    let cfg = PlanConfig {
        pacing: crate::dialer::pacing::PacingConfig {
            trunk_channels: 10,
            ..Default::default()
        },
        ..PlanConfig::default()
    };
    let plan = plan_slot(&nine_jst(), &small, &cfg);
    assert_eq!(plan.jobs.len(), 1000, "jobs are still planned");
    let [PlanWarning::WindowTooShort(pace)] = plan.warnings.as_slice() else {
        panic!("expected one window warning, got {:?}", plan.warnings);
    };
    assert_eq!((pace.calls, pace.channels), (1000, 10));
    assert!(pace.needed > TimeDelta::hours(3));
    assert!(plan.warnings[0].to_string().contains("cannot be met"));
}

#[test]
fn slot_outside_allowed_hours_plans_nobody() {
    let seven = SlotSchedule::tokyo_default()
        .instant("2026-11-22".parse().unwrap(), CallSlot::new(7).unwrap());
    let plan = plan_slot(&seven, &[patient(1, "7")], &PlanConfig::default());
    assert!(plan.jobs.is_empty());
    assert_eq!(
        plan.warnings,
        vec![PlanWarning::SlotOutsideAllowedHours(seven)]
    );
}

#[tokio::test]
async fn patient_slot_change_mid_day_applies_from_the_next_slot() {
    let q = InMemoryJobQueue::new();
    let schedule = SlotSchedule::tokyo_default();
    let day = "2026-11-22".parse().unwrap();
    let mut p = patient(1, "9,11");
    let nine = schedule.instant(day, CallSlot::new(9).unwrap());
    q.enqueue(&plan_slot(&nine, [&p], &PlanConfig::default()).jobs)
        .await
        .unwrap();
    // 10:30 JST: staff move the patient to 14 only; the 9 o'clock job stays as planned.
    p.slots = crate::store::CallSlots::parse("14").unwrap();
    for hour in [11, 14, 16] {
        let s = schedule.instant(day, CallSlot::new(hour).unwrap());
        q.enqueue(&plan_slot(&s, [&p], &PlanConfig::default()).jobs)
            .await
            .unwrap();
    }
    let mut hours: Vec<u32> = [9, 11, 14, 16]
        .into_iter()
        .filter(|h| {
            let key = JobKey {
                patient: PatientId(1),
                date: day,
                slot: CallSlot::new(*h).unwrap(),
            };
            q.state(&key).is_some()
        })
        .collect();
    hours.sort();
    assert_eq!(hours, [9, 14]);
}
