//! The inbound health-call flow, driven event by event (no SIP, no sleeping).

mod ivr_support;

use std::time::Duration;

use ivr_support::*;
use kenkocall::ivr::{Action, AlertLevel, AnswerValue, CallOutcome, IdentityResult, Language};

#[test]
fn issue_key_sequence_reports_36_5_and_97_with_no_symptoms_complete() {
    let mut p = Phone::inbound();
    let mut opening = vec!["health_call_welcome", "dial_line_guidance"];
    opening.extend(["language_menu_option"; 8]);
    assert_eq!(p.now_playing(), opening);
    // 1, ID + #, MMDD, *365, 1, 97#, 1, 2 for every symptom, 2.
    p.listen_then("1");
    assert_eq!(p.ivr.language(), Language::Ja);
    p.identify("1234567", "0305");
    assert_eq!(
        p.verifications(),
        vec![(0, "1234567".into(), "0305".into())]
    );
    p.identity(verified());
    p.answer_questionnaire("*365", "97#", ALL_NO);
    assert_eq!(p.now_playing(), vec!["another_person_menu"]);
    p.listen_then("2");
    assert_eq!(p.now_playing(), vec!["goodbye"]);
    p.prompt_ends();

    let mut expected = vec![
        (0, "temperature".to_string(), temp(365)),
        (0, "spo2".into(), pct(97)),
    ];
    expected.extend(
        kenkocall::store::Symptom::ALL
            .iter()
            .map(|s| (0, s.to_string(), AnswerValue::YesNo(false))),
    );
    assert_eq!(p.saves(), expected);
    assert_eq!(p.completed(), vec![(0, AlertLevel::Normal)]);
    assert_eq!(p.log.iter().filter(|a| **a == Action::HangUp).count(), 1);
    assert_eq!(
        p.finished,
        Some(CallOutcome::Answered {
            reports_complete: 1,
            reports_incomplete: 0
        })
    );
    let a = p.ivr.answers(0).unwrap();
    assert_eq!((a.temperature_tenths(), a.spo2()), (Some(365), Some(97)));
    assert_eq!(p.ivr.question_set_version(), "2026-11-v1");
}

#[test]
fn same_keys_pressed_all_at_once_barge_in_and_give_the_same_report() {
    let mut p = Phone::inbound();
    // Nobody waits for a prompt to end: every key barges in or types ahead.
    p.keys("1");
    p.keys("1234567#0305");
    p.identity(verified());
    p.keys("*365197#1222222222");
    assert_eq!(p.saves().len(), 11);
    assert_eq!(p.ivr.answers(0).unwrap().spo2(), Some(97));
    p.keys("2");
    p.prompt_ends();
    assert_eq!(
        p.finished,
        Some(CallOutcome::Answered {
            reports_complete: 1,
            reports_incomplete: 0
        })
    );
}

#[test]
fn language_menu_without_input_chooses_japanese() {
    let mut p = Phone::inbound();
    p.prompt_ends();
    p.timer_fires();
    assert_eq!(p.ivr.language(), Language::Ja);
    assert_eq!(p.now_playing(), vec!["enter_hersys_id"]);
    assert!(p.played().iter().skip(10).all(|r| r.lang == Language::Ja));
}

#[test]
fn star_before_a_field_is_ignored_once_many_times_or_alone() {
    for (first, then) in [("*365", ""), ("**365", ""), ("*", "365")] {
        let mut p = Phone::inbound();
        p.listen_then("2");
        p.identify("123456", "1231");
        p.identity(verified());
        p.prompt_ends(); // ask_temperature
        p.keys(first);
        if then.is_empty() {
            assert_eq!(p.now_playing()[0], "readback_temperature", "{first}");
        } else {
            // `*` alone: still waiting, no error, the first-digit timer untouched.
            assert!(p.playing.is_none() && p.timers.len() == 1);
            assert_eq!(p.timers[0].1, Duration::from_millis(8000));
            p.keys(then);
        }
        assert_eq!(p.now_playing()[0], "readback_temperature", "{first} {then}");
        p.listen_then("1");
        assert_eq!(
            p.saves(),
            vec![(0, "temperature".into(), temp(365))],
            "{first} {then}"
        );
    }
}

#[test]
fn star_during_a_prompt_neither_stops_it_nor_counts() {
    let mut p = Phone::inbound();
    let out = p.keys("***");
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(p.now_playing().len(), 10);
}

#[test]
fn a_digit_during_the_prompt_stops_it_and_starts_the_inter_digit_timer() {
    let mut p = Phone::inbound();
    p.listen_then("2");
    assert_eq!(p.now_playing(), vec!["enter_hersys_id"]);
    let out = p.keys("1");
    assert!(matches!(out[0], Action::StopPlayback(_)), "{out:?}");
    assert_eq!(p.timers.len(), 1);
    assert_eq!(p.timers[0].1, Duration::from_millis(5000));
    // Forgot `#`: the inter-digit timeout still takes a complete ID.
    p.keys("23456");
    p.timer_fires();
    assert_eq!(p.now_playing(), vec!["enter_birthday"]);
}

#[test]
fn first_digit_timer_starts_only_when_the_prompt_ends() {
    let mut p = Phone::inbound();
    p.listen_then("2");
    assert!(p.timers.is_empty());
    p.prompt_ends();
    assert_eq!(p.timers.len(), 1);
    assert_eq!(p.timers[0].1, Duration::from_millis(8000));
}

#[test]
fn keys_during_a_message_type_ahead_into_the_next_field_without_its_prompt() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.identity(IdentityResult::Mismatch);
    assert_eq!(p.now_playing(), vec!["identity_mismatch"]);
    let asked = p
        .played_ids()
        .iter()
        .filter(|i| *i == "enter_hersys_id")
        .count();
    let out = p.keys("7654321#");
    assert!(matches!(out[0], Action::StopPlayback(_)), "{out:?}");
    let now = p
        .played_ids()
        .iter()
        .filter(|i| *i == "enter_hersys_id")
        .count();
    assert_eq!(now, asked, "the ID prompt was skipped");
    assert_eq!(p.now_playing(), vec!["enter_birthday"]);
    p.listen_then("0101");
    assert_eq!(p.verifications()[1].1, "7654321");
}

#[test]
fn a_wrong_key_at_the_language_menu_repeats_only_the_options() {
    let mut p = Phone::inbound();
    p.listen_then("9");
    let mut again = vec!["invalid_entry"];
    again.extend(["language_menu_option"; 8]);
    assert_eq!(p.now_playing(), again);
    p.listen_then("3");
    assert_eq!(p.ivr.language(), Language::Zh);
}

#[test]
fn no_input_and_no_match_have_their_own_words_then_max_tries_sends_to_the_centre() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.prompt_ends(); // enter_hersys_id
    p.timer_fires();
    assert_eq!(p.now_playing(), vec!["no_input", "enter_hersys_id"]);
    p.listen_then("12#");
    assert_eq!(
        p.now_playing(),
        vec!["invalid_hersys_id", "enter_hersys_id"]
    );
    p.listen_then("123456789");
    assert_eq!(p.now_playing(), vec!["identity_failed_contact_centre"]);
    p.prompt_ends();
    assert!(p.log.contains(&Action::HangUp));
    assert!(p.verifications().is_empty() && p.saves().is_empty());
}

#[test]
fn impossible_birthday_is_asked_again() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.listen_then("123456#");
    p.listen_then("1332");
    assert_eq!(p.now_playing(), vec!["invalid_birthday", "enter_birthday"]);
    p.listen_then("0229");
    assert_eq!(p.verifications().len(), 1);
}

#[test]
fn mismatch_is_retried_three_times_then_contact_your_health_centre() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    for n in 0..3 {
        p.identify("1234567", "0101");
        p.identity(IdentityResult::Mismatch);
        if n < 2 {
            assert_eq!(p.now_playing(), vec!["identity_mismatch"]);
            p.prompt_ends();
            assert_eq!(p.now_playing(), vec!["enter_hersys_id"]);
        }
    }
    assert_eq!(p.now_playing(), vec!["identity_failed_contact_centre"]);
    p.prompt_ends();
    assert_eq!(
        p.finished,
        Some(CallOutcome::Answered {
            reports_complete: 0,
            reports_incomplete: 0
        })
    );
}

#[test]
fn keys_typed_while_the_store_is_asked_are_flushed_after_a_mismatch() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.keys("99");
    p.identity(IdentityResult::Mismatch);
    assert_eq!(p.now_playing(), vec!["identity_mismatch"]);
    p.prompt_ends();
    assert_eq!(p.now_playing(), vec!["enter_hersys_id"]);
    p.listen_then("1234567#");
    p.listen_then("0102");
    assert_eq!(p.verifications()[1].1, "1234567");
}

#[test]
fn type_ahead_that_fails_is_flushed_and_the_error_explained() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.keys("5365"); // typed while the store is asked: "536" is out of range, "5" dropped
    p.identity(verified());
    assert_eq!(
        p.now_playing(),
        vec!["temperature_out_of_range", "ask_temperature"]
    );
    p.listen_then("365");
    p.listen_then("1");
    assert_eq!(p.saves()[0], (0, "temperature".into(), temp(365)));
}

#[test]
fn out_of_range_temperature_is_explained_and_asked_again() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.identity(verified());
    p.listen_then("429");
    assert_eq!(
        p.now_playing(),
        vec!["temperature_out_of_range", "ask_temperature"]
    );
    p.listen_then("339");
    assert_eq!(
        p.now_playing(),
        vec!["temperature_out_of_range", "ask_temperature"]
    );
    p.listen_then("420");
    assert_eq!(
        p.now_playing(),
        vec![
            "readback_temperature",
            "digit_4",
            "digit_2",
            "point",
            "digit_0",
            "unit_celsius",
            "confirm_entry"
        ]
    );
}

#[test]
fn pressing_2_at_the_read_back_asks_the_number_again() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.identity(verified());
    p.listen_then("385");
    p.listen_then("2");
    assert_eq!(p.now_playing(), vec!["ask_temperature"]);
    p.listen_then("375");
    p.listen_then("1");
    assert_eq!(p.saves(), vec![(0, "temperature".into(), temp(375))]);
}

#[test]
fn spo2_hash_alone_is_not_measured_and_read_back() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.identity(verified());
    p.listen_then("365");
    p.listen_then("1");
    p.listen_then("#");
    assert_eq!(p.now_playing(), vec!["spo2_not_measured", "confirm_entry"]);
    p.listen_then("1");
    assert_eq!(p.saves()[1], (0, "spo2".into(), AnswerValue::NotMeasured));
    assert_eq!(p.now_playing(), vec!["ask_shortness_of_breath"]);
}

#[test]
fn spo2_read_back_and_out_of_range() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.identity(verified());
    p.answer_questionnaire("365", "", "");
    p.listen_then("69#");
    assert_eq!(p.now_playing(), vec!["spo2_out_of_range", "ask_spo2"]);
    p.listen_then("100#");
    assert_eq!(
        p.now_playing(),
        vec![
            "readback_spo2",
            "digit_1",
            "digit_0",
            "digit_0",
            "unit_percent",
            "confirm_entry"
        ]
    );
}

#[test]
fn hang_up_midway_keeps_what_was_given_as_incomplete() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.identity(verified());
    p.listen_then("372");
    p.listen_then("1");
    p.listen_then("9");
    p.send(kenkocall::ivr::Event::HangUp);
    assert_eq!(p.saves(), vec![(0, "temperature".into(), temp(372))]);
    assert!(p.completed().is_empty());
    assert!(
        !p.log.contains(&Action::HangUp),
        "the caller hung up, not us"
    );
    assert_eq!(
        p.finished,
        Some(CallOutcome::Answered {
            reports_complete: 0,
            reports_incomplete: 1
        })
    );
    assert!(p.timers.is_empty(), "timers cancelled: {:?}", p.timers);
    // Nothing more after the end.
    assert!(p.keys("1").is_empty());
}

#[test]
fn two_people_in_one_call_get_one_report_each() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1111111", "0101");
    p.identity(verified());
    p.answer_questionnaire("365", "98#", ALL_NO);
    p.listen_then("1");
    assert_eq!(p.now_playing(), vec!["enter_hersys_id"]);
    p.identify("2222222", "0202");
    p.identity(verified());
    p.answer_questionnaire("380", "92#", "122222221");
    // Urgent for the second person: the 119 advice is heard in full before the menu.
    assert_eq!(p.now_playing(), vec!["urgent_notice"]);
    assert!(
        p.keys("2").is_empty(),
        "the urgent notice cannot be cut short"
    );
    p.prompt_ends();
    // The `2` typed during it answers the next menu.
    assert_eq!(p.now_playing(), vec!["goodbye"]);
    assert_eq!(
        p.completed(),
        vec![(0, AlertLevel::Normal), (1, AlertLevel::Urgent)]
    );
    let v = p.verifications();
    assert_eq!((v[0].0, v[1].0), (0, 1));
    assert!(p.saves().iter().filter(|s| s.0 == 1).count() == 11);
    p.prompt_ends();
    assert_eq!(
        p.finished,
        Some(CallOutcome::Answered {
            reports_complete: 2,
            reports_incomplete: 0
        })
    );
}

#[test]
fn the_same_person_twice_in_one_call_is_the_same_report() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1111111", "0101");
    p.identity(verified());
    p.answer_questionnaire("365", "98#", ALL_NO);
    p.listen_then("1");
    p.identify("1111111", "0101");
    p.identity(verified());
    p.listen_then("366");
    assert_eq!(p.verifications()[1].0, 0);
    p.listen_then("1");
    assert_eq!(p.saves().last().unwrap().0, 0);
}

#[test]
fn locked_out_caller_is_told_so_and_the_call_ends() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.identity(IdentityResult::LockedOut);
    assert_eq!(p.now_playing(), vec!["locked_out"]);
    p.prompt_ends();
    assert_eq!(p.verifications().len(), 1);
    assert!(p.saves().is_empty());
    assert!(p.log.contains(&Action::HangUp));
}

#[test]
fn ended_observation_needs_no_report_and_offers_another_person() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.identity(IdentityResult::ObservationEnded);
    assert_eq!(p.now_playing(), vec!["observation_ended"]);
    p.prompt_ends();
    assert_eq!(p.now_playing(), vec!["another_person_menu"]);
    p.listen_then("2");
    p.prompt_ends();
    assert!(p.saves().is_empty());
}

#[test]
fn store_unavailable_apologises_and_ends() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.identity(IdentityResult::Unavailable);
    assert_eq!(p.now_playing(), vec!["system_unavailable"]);
}

#[test]
fn a_centre_threshold_from_the_store_decides_the_closing() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    let strict = kenkocall::ivr::AlertThresholds {
        spo2_urgent: 96,
        spo2_recheck: 97,
        ..Default::default()
    };
    p.identity(IdentityResult::Verified {
        thresholds: Some(strict),
    });
    p.answer_questionnaire("365", "96#", ALL_NO);
    assert_eq!(p.completed(), vec![(0, AlertLevel::Urgent)]);
    assert_eq!(p.now_playing(), vec!["urgent_notice"]);
}

#[test]
fn every_question_failing_three_times_ends_with_an_apology_and_keeps_answers() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.identity(verified());
    p.answer_questionnaire("365", "97#", "");
    for _ in 0..3 {
        p.listen_then("5"); // not 1 or 2
    }
    assert_eq!(p.now_playing(), vec!["too_many_errors"]);
    p.prompt_ends();
    assert_eq!(p.saves().len(), 2);
    assert_eq!(
        p.finished,
        Some(CallOutcome::Answered {
            reports_complete: 0,
            reports_incomplete: 1
        })
    );
}

#[test]
fn stale_prompt_end_and_stale_timer_are_ignored() {
    let mut p = Phone::inbound();
    let (old, _) = p.playing.clone().unwrap();
    p.keys("1"); // barge-in stops `old`
    let before = p.log.len();
    p.ivr
        .handle_event(kenkocall::ivr::Event::PromptFinished(old));
    p.ivr
        .handle_event(kenkocall::ivr::Event::TimerFired(kenkocall::ivr::TimerId(
            999,
        )));
    assert_eq!(p.drain(), vec![]);
    assert_eq!(p.log.len(), before);
}

#[test]
fn identity_claim_debug_hides_the_id_and_birthday() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0305");
    let shown = format!("{:?}", p.log);
    assert!(
        !shown.contains("1234567") && !shown.contains("0305"),
        "{shown}"
    );
}

#[test]
fn a_flood_of_keys_while_the_store_is_asked_is_capped_and_the_call_goes_on() {
    let mut p = Phone::inbound();
    p.listen_then("1");
    p.identify("1234567", "0101");
    p.keys(&"1".repeat(10_000));
    p.identity(IdentityResult::Mismatch);
    assert_eq!(p.now_playing(), vec!["identity_mismatch"]);
    p.prompt_ends();
    p.identify("1234567", "0102");
    p.identity(verified());
    p.answer_questionnaire("365", "97#", ALL_NO);
    assert_eq!(p.completed().len(), 1);
}

#[test]
fn keys_other_than_digits_hash_and_star_are_ignored() {
    let mut p = Phone::inbound();
    assert!(p.keys("ABCD").is_empty());
    p.send(kenkocall::ivr::Event::HangUp);
    assert_eq!(p.finished, Some(CallOutcome::NotReached));
}
