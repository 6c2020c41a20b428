use super::*;
use chrono_tz::{America, Europe};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

fn hours(s: &str) -> CallSlots {
    CallSlots::parse(s).unwrap()
}

#[test]
fn slot_hours_are_checked() {
    assert_eq!(CallSlot::new(23).unwrap().hour(), 23);
    assert_eq!(CallSlot::new(24), Err(DialerError::InvalidHour(24)));
}

#[test]
fn tokyo_nine_oclock_is_midnight_utc_and_keeps_the_local_date() {
    let s = SlotSchedule::tokyo_default();
    let got = s
        .next_slots(utc("2026-11-21T23:00:00Z"), utc("2026-11-22T08:00:00Z"))
        .unwrap();
    let at: Vec<_> = got.iter().map(|x| (x.date, x.slot.hour(), x.at)).collect();
    assert_eq!(
        at,
        vec![
            (date("2026-11-22"), 9, utc("2026-11-22T00:00:00Z")),
            (date("2026-11-22"), 11, utc("2026-11-22T02:00:00Z")),
            (date("2026-11-22"), 14, utc("2026-11-22T05:00:00Z")),
            (date("2026-11-22"), 16, utc("2026-11-22T07:00:00Z")),
        ]
    );
}

#[test]
fn range_is_exclusive_of_after_and_inclusive_of_until() {
    let s = SlotSchedule::tokyo_default();
    let nine = utc("2026-11-22T00:00:00Z");
    assert!(s.next_slots(nine, nine).unwrap().is_empty());
    let got = s.next_slots(nine - TimeDelta::seconds(1), nine).unwrap();
    assert_eq!(got.len(), 1);
    let got = s.next_slots(nine, nine + TimeDelta::hours(2)).unwrap();
    assert_eq!(got.iter().map(|x| x.slot.hour()).collect::<Vec<_>>(), [11]);
}

#[test]
fn several_days_give_each_slot_once_per_local_date() {
    let s = SlotSchedule::tokyo_default();
    let got = s
        .next_slots(utc("2026-11-20T15:00:00Z"), utc("2026-11-23T15:00:00Z"))
        .unwrap();
    assert_eq!(got.len(), 12);
    let mut keys: Vec<_> = got.iter().map(|x| (x.date, x.slot)).collect();
    keys.dedup();
    assert_eq!(keys.len(), 12);
}

#[test]
fn new_york_spring_forward_gap_fires_once_shifted_past_the_jump() {
    // 2026-03-08 02:00 EST jumps to 03:00 EDT; slot 2 does not exist on the wall clock.
    let s = SlotSchedule::new(America::New_York, hours("2,9"));
    let got = s
        .next_slots(utc("2026-03-07T05:00:00Z"), utc("2026-03-10T05:00:00Z"))
        .unwrap();
    let twos: Vec<_> = got
        .iter()
        .filter(|x| x.slot.hour() == 2)
        .map(|x| (x.date, x.at))
        .collect();
    assert_eq!(
        twos,
        vec![
            (date("2026-03-07"), utc("2026-03-07T07:00:00Z")),
            (date("2026-03-08"), utc("2026-03-08T07:00:00Z")), // = 03:00 EDT
            (date("2026-03-09"), utc("2026-03-09T06:00:00Z")),
        ]
    );
    // Plain cron in the zone drops that date's firing entirely: why we resolve ourselves.
    let raw = cron::Schedule::from_str("0 0 2 * * *").unwrap();
    let raw_dates: Vec<_> = raw
        .after(&utc("2026-03-07T05:00:00Z").with_timezone(&America::New_York))
        .take(2)
        .map(|t| t.date_naive())
        .collect();
    assert_eq!(raw_dates, [date("2026-03-07"), date("2026-03-09")]);
}

#[test]
fn new_york_fall_back_repeated_hour_fires_only_at_its_first_occurrence() {
    // 2026-11-01 01:00 happens twice: 05:00Z (EDT) and 06:00Z (EST).
    let s = SlotSchedule::new(America::New_York, hours("1"));
    let got = s
        .next_slots(utc("2026-10-31T12:00:00Z"), utc("2026-11-01T12:00:00Z"))
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].at, utc("2026-11-01T05:00:00Z"));
    let raw = cron::Schedule::from_str("0 0 1 * * *").unwrap();
    let raw_count = raw
        .after(&utc("2026-10-31T12:00:00Z").with_timezone(&America::New_York))
        .take_while(|t| t.with_timezone(&Utc) <= utc("2026-11-01T12:00:00Z"))
        .count();
    assert_eq!(raw_count, 2, "cron in the zone repeats the hour");
}

#[test]
fn london_spring_gap_at_one_oclock_fires_once() {
    // 2026-03-29 01:00 GMT jumps to 02:00 BST.
    let s = SlotSchedule::new(Europe::London, hours("1,9"));
    let got = s
        .next_slots(utc("2026-03-28T12:00:00Z"), utc("2026-03-29T12:00:00Z"))
        .unwrap();
    let at: Vec<_> = got.iter().map(|x| (x.slot.hour(), x.at)).collect();
    assert_eq!(
        at,
        vec![
            (1, utc("2026-03-29T01:00:00Z")),
            (9, utc("2026-03-29T08:00:00Z")),
        ]
    );
}

#[test]
fn staff_change_mid_day_applies_from_the_next_slot() {
    let mut s = SlotSchedule::tokyo_default();
    // 10:30 JST: only 14 from now on.
    s.change(utc("2026-11-22T01:30:00Z"), hours("14"));
    let got = s
        .next_slots(utc("2026-11-21T23:00:00Z"), utc("2026-11-23T08:00:00Z"))
        .unwrap();
    let fired: Vec<_> = got
        .iter()
        .map(|x| (x.date.day0() + 1, x.slot.hour()))
        .collect();
    use chrono::Datelike;
    assert_eq!(fired, vec![(22, 9), (22, 14), (23, 14)]);
}

#[test]
fn change_made_at_the_slot_instant_leaves_that_slot_alone() {
    let mut s = SlotSchedule::tokyo_default();
    let eleven = utc("2026-11-22T02:00:00Z");
    s.change(eleven, hours("9"));
    assert!(s.hours_at(eleven).contains(11));
    let got = s
        .next_slots(utc("2026-11-22T01:00:00Z"), utc("2026-11-23T08:00:00Z"))
        .unwrap();
    let hrs: Vec<_> = got.iter().map(|x| x.slot.hour()).collect();
    assert_eq!(hrs, [11, 9]);
}

#[test]
fn adding_an_hour_later_in_the_day_fires_it_today() {
    let mut s = SlotSchedule::new(chrono_tz::Asia::Tokyo, hours("9"));
    s.change(utc("2026-11-22T03:00:00Z"), hours("9,16"));
    let got = s
        .next_slots(utc("2026-11-21T23:00:00Z"), utc("2026-11-22T12:00:00Z"))
        .unwrap();
    assert_eq!(
        got.iter().map(|x| x.slot.hour()).collect::<Vec<_>>(),
        [9, 16]
    );
}

#[test]
fn calling_hours_are_local_and_half_open() {
    let a = CallingHours::default();
    let tz = chrono_tz::Asia::Tokyo;
    assert!(!within_calling_hours(a, tz, utc("2026-11-21T22:59:59Z"))); // 07:59:59 JST
    assert!(within_calling_hours(a, tz, utc("2026-11-21T23:00:00Z"))); // 08:00 JST
    assert!(within_calling_hours(a, tz, utc("2026-11-22T10:59:59Z"))); // 19:59:59 JST
    assert!(!within_calling_hours(a, tz, utc("2026-11-22T11:00:00Z"))); // 20:00 JST
    assert_eq!(
        calling_starts_on(a, tz, utc("2026-11-22T05:00:00Z")),
        utc("2026-11-21T23:00:00Z")
    );
}

#[test]
fn unknown_time_zone_is_a_clear_error() {
    assert_eq!(
        SlotSchedule::parse_tz("Asia/Tokio"),
        Err(DialerError::UnknownTimeZone("Asia/Tokio".into()))
    );
    assert_eq!(
        SlotSchedule::parse_tz("Asia/Tokyo"),
        Ok(chrono_tz::Asia::Tokyo)
    );
}
