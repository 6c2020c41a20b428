use super::*;

fn tone_pair(low: f32, high: f32, low_amp: f32, high_amp: f32, ms: u32) -> Vec<i16> {
    let n = (ms * 8) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE;
            let v = low_amp * (2.0 * std::f32::consts::PI * low * t).sin()
                + high_amp * (2.0 * std::f32::consts::PI * high * t).sin();
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

fn silence(ms: u32) -> Vec<i16> {
    vec![0; (ms * 8) as usize]
}

fn detect(samples: &[i16]) -> String {
    let mut det = InbandDetector::default();
    let mut out = String::new();
    // Feed in 20 ms packets as the session does.
    for chunk in samples.chunks(160) {
        det.push(chunk, |k| out.push(k));
    }
    out
}

/// Amplitude of one tone at about -10 dBm0 in 16-bit linear.
const AMP: f32 = 7000.0;

fn digit_tone(key: char, deviation: f32, ms: u32) -> Vec<i16> {
    let (r, c) = KEYS
        .iter()
        .enumerate()
        .find_map(|(r, row)| row.iter().position(|&k| k == key).map(|c| (r, c)))
        .unwrap();
    tone_pair(
        LOW[r] * (1.0 + deviation),
        HIGH[c] * (1.0 + deviation),
        AMP,
        AMP,
        ms,
    )
}

fn sequence(keys: &str, deviation: f32, tone_ms: u32, gap_ms: u32) -> Vec<i16> {
    let mut s = silence(30);
    for k in keys.chars() {
        s.extend(digit_tone(k, deviation, tone_ms));
        s.extend(silence(gap_ms));
    }
    s
}

#[test]
fn all_sixteen_keys_are_detected_once_each() {
    assert_eq!(
        detect(&sequence("123A456B789C*0#D", 0.0, 100, 80)),
        "123A456B789C*0#D"
    );
}

#[test]
fn frequency_deviation_within_one_and_a_half_percent_is_accepted() {
    for dev in [0.015, -0.015] {
        assert_eq!(
            detect(&sequence("*3650#D", dev, 100, 80)),
            "*3650#D",
            "deviation {dev}"
        );
    }
}

#[test]
fn frequency_deviation_beyond_three_and_a_half_percent_is_rejected() {
    for dev in [0.035, -0.035, 0.05, -0.06] {
        assert_eq!(
            detect(&sequence("*3650#D", dev, 100, 80)),
            "",
            "deviation {dev}"
        );
    }
}

#[test]
fn one_tone_off_frequency_is_rejected() {
    let mut s = silence(20);
    s.extend(tone_pair(697.0 * 1.04, 1209.0, AMP, AMP, 120));
    s.extend(tone_pair(697.0, 1209.0 * 0.96, AMP, AMP, 120));
    assert_eq!(detect(&s), "");
}

#[test]
fn twist_within_limits_is_accepted_and_beyond_is_rejected() {
    let db = |d: f32| 10f32.powf(d / 20.0);
    let case = |low_amp: f32, high_amp: f32| {
        let mut s = silence(20);
        s.extend(tone_pair(852.0, 1336.0, low_amp, high_amp, 120));
        s.extend(silence(60));
        detect(&s)
    };
    assert_eq!(case(AMP, AMP / db(7.0)), "8", "normal twist 7 dB");
    assert_eq!(case(AMP / db(3.0), AMP), "8", "reverse twist 3 dB");
    assert_eq!(case(AMP, AMP / db(10.0)), "", "normal twist 10 dB");
    assert_eq!(case(AMP / db(6.0), AMP), "", "reverse twist 6 dB");
}

#[test]
fn tone_of_forty_ms_is_detected_and_of_fifteen_is_not() {
    for offset in [0u32, 5, 10, 15] {
        let mut s = silence(20 + offset);
        s.extend(digit_tone('5', 0.0, 40));
        s.extend(silence(60));
        assert_eq!(detect(&s), "5", "40 ms tone at offset {offset} ms");
    }
    for offset in [0u32, 5, 10, 15] {
        let mut s = silence(20 + offset);
        s.extend(digit_tone('5', 0.0, 15));
        s.extend(silence(60));
        assert_eq!(detect(&s), "", "15 ms tone at offset {offset} ms");
    }
}

#[test]
fn long_press_is_one_digit_and_a_pause_separates_repeats() {
    let mut s = sequence("7", 0.0, 1500, 60);
    s.extend(digit_tone('7', 0.0, 100));
    s.extend(silence(60));
    assert_eq!(detect(&s), "77");
}

#[test]
fn quiet_tones_below_the_floor_are_ignored() {
    let mut s = silence(20);
    s.extend(tone_pair(770.0, 1477.0, 60.0, 60.0, 200));
    assert_eq!(detect(&s), "");
}

#[test]
fn white_noise_gives_no_digit() {
    let mut state = 0x2545_F491u32;
    let noise: Vec<i16> = (0..8000 * 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            ((state >> 16) as i16) / 4
        })
        .collect();
    assert_eq!(detect(&noise), "");
}

#[test]
fn tones_in_moderate_noise_are_still_detected() {
    let mut state = 0x1234_5678u32;
    let mut s = sequence("159#", 0.01, 100, 80);
    for x in &mut s {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = ((state >> 16) as i16) / 64; // about -24 dB below the tones
        *x = x.saturating_add(n);
    }
    assert_eq!(detect(&s), "159#");
}

#[test]
fn speech_and_prompts_give_no_digit() {
    // espeak-ng speech in several languages, 8 kHz 16-bit mono (tests/data/speech_*.wav).
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with("speech_") {
            continue;
        }
        let samples: Vec<i16> = hound::WavReader::open(&path)
            .unwrap()
            .samples::<i16>()
            .map(|s| s.unwrap())
            .collect();
        assert_eq!(detect(&samples), "", "talk-off on {name}");
        // The same speech through G.711, as the detector really sees it.
        let ulaw: Vec<i16> = samples
            .iter()
            .map(|&s| crate::media::g711::ulaw_decode(crate::media::g711::ulaw_encode(s)))
            .collect();
        assert_eq!(detect(&ulaw), "", "talk-off on μ-law {name}");
        checked += 1;
    }
    assert!(checked >= 4, "speech samples missing in {}", dir.display());
}

#[test]
fn star_365_wav_from_the_peers_is_detected() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/inband_star365.wav");
    let samples: Vec<i16> = hound::WavReader::open(&path)
        .unwrap()
        .samples::<i16>()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(detect(&samples), "*365");
}

#[test]
fn a_ten_ms_dropout_does_not_split_a_press() {
    for offset in [0u32, 5, 10, 15] {
        let mut s = silence(20 + offset);
        s.extend(digit_tone('6', 0.0, 100));
        s.extend(silence(10));
        s.extend(digit_tone('6', 0.0, 100));
        s.extend(silence(60));
        assert_eq!(detect(&s), "6", "offset {offset} ms");
    }
}

#[test]
fn a_forty_ms_pause_separates_two_presses() {
    for offset in [0u32, 5, 10, 15] {
        let mut s = silence(20 + offset);
        s.extend(digit_tone('6', 0.0, 60));
        s.extend(silence(40));
        s.extend(digit_tone('6', 0.0, 60));
        s.extend(silence(60));
        assert_eq!(detect(&s), "66", "offset {offset} ms");
    }
}
