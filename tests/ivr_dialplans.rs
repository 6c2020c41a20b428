//! Start-up checks: dialplans, question set and prompts are refused with the file and
//! the problem named, never half-loaded.

mod ivr_support;

use std::fs;
use std::path::{Path, PathBuf};

use ivr_support::root;
use kenkocall::ivr::{
    DialplanError, Dialplans, IvrError, Language, PromptCatalog, PromptError, check_prompts,
};

/// A copy of the shipped dialplans with `file` edited by `edit`.
fn plans_with(file: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in ["inbound.toml", "outbound.toml", "questions.toml"] {
        let text = fs::read_to_string(root().join("dialplans").join(f)).unwrap();
        let text = if f == file { edit(text) } else { text };
        fs::write(dir.path().join(f), text).unwrap();
    }
    dir
}

fn catalog() -> PromptCatalog {
    PromptCatalog::load(&root().join("prompts"), Language::ALL).unwrap()
}

fn load(dir: &Path) -> Result<Dialplans, DialplanError> {
    Dialplans::load(dir, &catalog(), Language::ALL)
}

fn replace(from: &'static str, to: &'static str) -> impl Fn(String) -> String {
    move |t: String| {
        assert!(t.contains(from), "fixture text {from:?} not found");
        t.replacen(from, to, 1)
    }
}

#[test]
fn shipped_dialplans_prompts_and_wavs_pass_the_start_up_check() {
    let plans = kenkocall::ivr::load(
        &root().join("dialplans"),
        &root().join("prompts"),
        Language::ALL,
    )
    .unwrap();
    let ids = plans.prompt_ids();
    assert!(ids.contains("digit_0") && ids.contains("point") && ids.contains("urgent_notice"));
    assert!(ids.contains("ask_taste_smell_loss") && ids.contains("unit_percent"));
}

#[test]
fn a_missing_node_is_named_with_its_file_and_the_node_pointing_to_it() {
    let dir = plans_with(
        "inbound.toml",
        replace("next = \"birthday\"", "next = \"birthdya\""),
    );
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, DialplanError::MissingNode { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("inbound.toml") && msg.contains("hersys_id") && msg.contains("birthdya"),
        "{msg}"
    );
}

#[test]
fn an_unreachable_node_is_refused() {
    let dir = plans_with("outbound.toml", |t| {
        format!("{t}\n[nodes.orphan]\ntype = \"hangup\"\nprompts = [\"goodbye\"]\n")
    });
    let msg = load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("outbound.toml") && msg.contains("orphan") && msg.contains("never be reached"),
        "{msg}"
    );
}

#[test]
fn a_missing_start_node_is_refused() {
    let dir = plans_with(
        "outbound.toml",
        replace("start = \"greeting\"", "start = \"hello\""),
    );
    let err = load(dir.path()).unwrap_err();
    assert!(matches!(err, DialplanError::MissingStart { .. }), "{err}");
}

#[test]
fn an_unknown_prompt_is_named() {
    let dir = plans_with(
        "inbound.toml",
        replace("[\"enter_birthday\"]", "[\"enter_birthdate\"]"),
    );
    let err = load(dir.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DialplanError::UnknownPrompt { .. }), "{msg}");
    assert!(
        msg.contains("enter_birthdate") && msg.contains("birthday") && msg.contains("inbound.toml"),
        "{msg}"
    );
}

#[test]
fn an_unknown_prompt_in_the_question_set_is_named() {
    let dir = plans_with(
        "questions.toml",
        replace("prompt = \"ask_cough\"", "prompt = \"ask_coughing\""),
    );
    let msg = load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("questions.toml") && msg.contains("ask_coughing"),
        "{msg}"
    );
}

#[test]
fn a_prompt_missing_in_one_language_names_the_language_and_its_texts_file() {
    let prompts = tempfile::tempdir().unwrap();
    for &lang in Language::ALL {
        let d = prompts.path().join(lang.as_str());
        fs::create_dir_all(&d).unwrap();
        let mut text = fs::read_to_string(
            root()
                .join("prompts")
                .join(lang.as_str())
                .join("prompts.toml"),
        )
        .unwrap();
        if lang == Language::Ko {
            text = text
                .lines()
                .filter(|l| !l.starts_with("observation_ended"))
                .collect::<Vec<_>>()
                .join("\n");
        }
        fs::write(d.join("prompts.toml"), text).unwrap();
    }
    let catalog = PromptCatalog::load(prompts.path(), Language::ALL).unwrap();
    let err = Dialplans::load(&root().join("dialplans"), &catalog, Language::ALL).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            DialplanError::PromptMissingInLanguage {
                lang: Language::Ko,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("observation_ended")
            && msg.contains("ko/prompts.toml")
            && msg.contains("inbound.toml"),
        "{msg}"
    );
}

#[test]
fn star_as_a_menu_key_is_refused_because_pulse_lines_press_it() {
    let dir = plans_with(
        "outbound.toml",
        replace("\"9\" = \"wrong_number\"", "\"*\" = \"wrong_number\""),
    );
    let msg = load(dir.path()).unwrap_err().to_string();
    assert!(
        msg.contains("option \"*\"") && msg.contains("pulse"),
        "{msg}"
    );
}

#[test]
fn an_unknown_node_type_or_key_is_a_parse_error_naming_the_file() {
    let dir = plans_with(
        "outbound.toml",
        replace("type = \"questionnaire\"", "type = \"survey\""),
    );
    let err = load(dir.path()).unwrap_err();
    assert!(
        matches!(err, DialplanError::Parse { .. }) && err.to_string().contains("outbound.toml"),
        "{err}"
    );
    let dir = plans_with(
        "inbound.toml",
        replace("max_failures = 3", "max_failures = 3\nmax_fails = 2"),
    );
    assert!(
        load(dir.path())
            .unwrap_err()
            .to_string()
            .contains("max_fails")
    );
}

#[test]
fn a_menu_language_that_is_not_configured_is_refused() {
    let langs = [Language::Ja, Language::En];
    let catalog = PromptCatalog::load(&root().join("prompts"), &langs).unwrap();
    let msg = Dialplans::load(&root().join("dialplans"), &catalog, &langs)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("language zh is not configured"), "{msg}");
}

/// A prompts folder with `lang`'s texts and WAVs copied.
fn prompts_copy(lang: Language) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("prompts").join(lang.as_str());
    let dst = dir.path().join(lang.as_str());
    fs::create_dir_all(&dst).unwrap();
    for e in fs::read_dir(&src).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
    (dir, dst)
}

fn shipped() -> Dialplans {
    load(&root().join("dialplans")).unwrap()
}

#[test]
fn check_prompts_passes_with_every_wav_present() {
    let (dir, _) = prompts_copy(Language::Vi);
    check_prompts(dir.path(), &shipped(), &[Language::Vi]).unwrap();
}

#[test]
fn check_prompts_names_a_missing_wav_with_its_language() {
    let (dir, lang_dir) = prompts_copy(Language::Pt);
    fs::remove_file(lang_dir.join("ask_sputum.wav")).unwrap();
    let err = check_prompts(dir.path(), &shipped(), &[Language::Pt]).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            PromptError::MissingWav {
                lang: Language::Pt,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("ask_sputum") && msg.contains("pt/ask_sputum.wav"),
        "{msg}"
    );
}

#[test]
fn check_prompts_refuses_a_wav_that_is_not_8khz_16bit_mono() {
    let (dir, lang_dir) = prompts_copy(Language::Es);
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(lang_dir.join("digit_7.wav"), spec).unwrap();
    w.write_sample(0i16).unwrap();
    w.finalize().unwrap();
    let msg = check_prompts(dir.path(), &shipped(), &[Language::Es])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("digit_7.wav") && msg.contains("16000 Hz"),
        "{msg}"
    );
    // Not a WAV at all.
    fs::write(lang_dir.join("digit_7.wav"), b"hello").unwrap();
    let err = check_prompts(dir.path(), &shipped(), &[Language::Es]).unwrap_err();
    assert!(matches!(err, PromptError::BadWav { .. }), "{err}");
}

#[test]
fn load_reports_a_missing_texts_file_as_an_ivr_error() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        kenkocall::ivr::load(&root().join("dialplans"), dir.path(), &[Language::Ja]).unwrap_err();
    assert!(
        matches!(err, IvrError::Prompts(PromptError::Read { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("ja/prompts.toml"));
}

#[test]
fn every_prompt_has_text_in_every_language_and_japanese_requests_are_polite() {
    let cat = catalog();
    let plans = shipped();
    for &lang in Language::ALL {
        for id in plans.prompt_ids() {
            let r = kenkocall::ivr::PromptRef::new(lang, id.as_str());
            let t = cat.text(&r).unwrap_or_else(|| panic!("{r} has no text"));
            assert!(!t.trim().is_empty(), "{r}");
        }
    }
    // Polite Japanese: requests end in ください, statements in です/ます forms.
    for id in [
        "enter_hersys_id",
        "ask_temperature",
        "another_person_menu",
        "identity_mismatch",
    ] {
        let t = cat
            .text(&kenkocall::ivr::PromptRef::new(Language::Ja, id))
            .unwrap();
        assert!(t.contains("ください"), "{id}: {t}");
    }
}
