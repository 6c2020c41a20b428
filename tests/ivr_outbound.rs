//! The outbound auto-call flow, as the dialer runs it.

mod ivr_support;

use ivr_support::*;
use kenkocall::ivr::{Action, AlertLevel, CallOutcome, Event, Language};

#[test]
fn greeting_names_the_call_guides_dial_lines_and_asks_to_start() {
    let p = Phone::outbound(Language::Ja);
    assert_eq!(
        p.now_playing(),
        vec![
            "outbound_greeting",
            "dial_line_guidance",
            "outbound_start_menu"
        ]
    );
}

#[test]
fn healthy_patient_completes_the_report_and_hears_goodbye() {
    let mut p = Phone::outbound(Language::En);
    p.listen_then("1");
    p.answer_questionnaire("365", "97#", ALL_NO);
    assert_eq!(p.now_playing(), vec!["goodbye"]);
    p.prompt_ends();
    assert_eq!(p.completed(), vec![(0, AlertLevel::Normal)]);
    assert_eq!(p.saves().len(), 11);
    assert!(p.saves().iter().all(|s| s.0 == 0));
    assert_eq!(
        p.finished,
        Some(CallOutcome::Answered {
            reports_complete: 1,
            reports_incomplete: 0
        })
    );
}

#[test]
fn urgent_spo2_closes_with_the_centre_will_call_and_119() {
    let mut p = Phone::outbound(Language::Ja);
    p.listen_then("1");
    p.answer_questionnaire("365", "91#", ALL_NO);
    assert_eq!(p.completed(), vec![(0, AlertLevel::Urgent)]);
    assert_eq!(p.now_playing(), vec!["urgent_notice", "goodbye"]);
}

#[test]
fn fever_is_follow_up_but_not_urgent() {
    let mut p = Phone::outbound(Language::Ja);
    p.listen_then("1");
    p.answer_questionnaire("380", "97#", ALL_NO);
    assert_eq!(p.completed(), vec![(0, AlertLevel::FollowUp)]);
    assert_eq!(p.now_playing(), vec!["goodbye"]);
}

#[test]
fn pulse_line_user_presses_star_first_and_still_answers() {
    let mut p = Phone::outbound(Language::Ja);
    p.keys("*");
    assert_eq!(p.now_playing().len(), 3, "star does not cut the guidance");
    p.listen_then("*1");
    p.answer_questionnaire("**365", "*97#", ALL_NO);
    assert_eq!(p.completed().len(), 1);
}

#[test]
fn nine_marks_the_number_wrong_apologises_and_hangs_up() {
    let mut p = Phone::outbound(Language::Ja);
    p.listen_then("9");
    assert!(p.log.contains(&Action::MarkWrongNumber));
    assert_eq!(p.now_playing(), vec!["wrong_number_apology"]);
    p.prompt_ends();
    assert!(p.log.contains(&Action::HangUp));
    assert_eq!(p.finished, Some(CallOutcome::WrongNumber));
    assert!(p.saves().is_empty());
}

#[test]
fn no_input_at_all_is_not_reached() {
    let mut p = Phone::outbound(Language::Ja);
    p.prompt_ends();
    p.timer_fires();
    assert_eq!(
        p.now_playing(),
        vec![
            "no_input",
            "outbound_greeting",
            "dial_line_guidance",
            "outbound_start_menu"
        ]
    );
    p.prompt_ends();
    p.timer_fires();
    assert_eq!(p.now_playing(), vec!["goodbye_no_answer"]);
    p.prompt_ends();
    assert_eq!(p.finished, Some(CallOutcome::NotReached));
}

#[test]
fn hang_up_during_the_greeting_is_not_reached() {
    let mut p = Phone::outbound(Language::Ja);
    p.send(Event::HangUp);
    assert_eq!(p.finished, Some(CallOutcome::NotReached));
    assert!(!p.log.contains(&Action::HangUp));
}

#[test]
fn hang_up_after_the_temperature_keeps_it_as_a_partial_report() {
    let mut p = Phone::outbound(Language::Ja);
    p.listen_then("1");
    p.listen_then("371");
    p.listen_then("1");
    p.send(Event::HangUp);
    assert_eq!(p.saves(), vec![(0, "temperature".into(), temp(371))]);
    assert_eq!(
        p.finished,
        Some(CallOutcome::Answered {
            reports_complete: 0,
            reports_incomplete: 1
        })
    );
}

#[test]
fn wrong_key_at_the_start_is_explained_and_asked_again() {
    let mut p = Phone::outbound(Language::Ja);
    p.listen_then("5");
    assert_eq!(p.now_playing()[0], "invalid_entry");
    p.listen_then("1");
    assert_eq!(p.now_playing(), vec!["ask_temperature"]);
}

#[test]
fn silence_at_a_question_and_at_a_read_back_is_explained_and_repeated() {
    let mut p = Phone::outbound(Language::Ko);
    p.listen_then("1");
    p.prompt_ends();
    p.timer_fires();
    assert_eq!(p.now_playing(), vec!["no_input", "ask_temperature"]);
    p.listen_then("368");
    p.prompt_ends();
    p.timer_fires();
    assert_eq!(
        p.now_playing(),
        vec![
            "no_input",
            "readback_temperature",
            "digit_3",
            "digit_6",
            "point",
            "digit_8",
            "unit_celsius",
            "confirm_entry"
        ]
    );
    p.listen_then("3");
    assert_eq!(p.now_playing()[0], "invalid_entry");
    p.listen_then("1");
    assert_eq!(p.saves(), vec![(0, "temperature".into(), temp(368))]);
    assert_eq!(p.now_playing(), vec!["ask_spo2"]);
}
