//! A patient answering in each of the eight languages hears that language's prompts.

mod ivr_support;

use ivr_support::*;
use kenkocall::ivr::Language;

#[test]
fn inbound_caller_choosing_each_language_hears_only_that_language_after_the_menu() {
    for (n, &lang) in Language::ALL.iter().enumerate() {
        let mut p = Phone::inbound();
        // The menu offers every language in its own voice, in menu order.
        let opening: Vec<Language> = p.played().iter().map(|r| r.lang).collect();
        assert_eq!(opening[..2], [Language::Ja, Language::Ja]);
        assert_eq!(opening[2..], *Language::ALL);
        let menu_len = p.played().len();
        p.listen_then(&(n + 1).to_string());
        assert_eq!(p.ivr.language(), lang);
        p.identify("1234567", "0101");
        p.identity(verified());
        p.answer_questionnaire("365", "97#", ALL_NO);
        p.listen_then("2");
        let after: Vec<_> = p.played().into_iter().skip(menu_len).collect();
        assert!(after.len() > 20, "{lang}: {after:?}");
        assert!(after.iter().all(|r| r.lang == lang), "{lang}: {after:?}");
        assert!(after.iter().any(|r| r.id == "ask_chest_pain"));
        assert!(after.iter().any(|r| r.id == "digit_6"));
        assert_eq!(p.completed().len(), 1, "{lang}");
    }
}

#[test]
fn outbound_patient_hears_their_own_language_from_the_first_word() {
    for &lang in Language::ALL {
        let mut p = Phone::outbound(lang);
        p.listen_then("1");
        p.answer_questionnaire("365", "#", ALL_NO);
        p.prompt_ends();
        let played = p.played();
        assert!(played.len() > 15);
        assert!(played.iter().all(|r| r.lang == lang), "{lang}");
        assert_eq!(played.last().unwrap().id, "goodbye");
        assert_eq!(p.completed().len(), 1, "{lang}");
    }
}

#[test]
fn every_played_prompt_has_a_wav_in_its_language() {
    let mut p = Phone::inbound();
    p.listen_then("5");
    p.identify("1234567", "0101");
    p.identity(verified());
    p.answer_questionnaire("398", "89#", "121212121");
    for r in p.played() {
        assert!(r.wav_path(&root().join("prompts")).is_file(), "{r}");
    }
}
