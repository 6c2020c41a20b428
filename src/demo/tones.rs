//! Key presses as in-band DTMF audio (ITU-T Q.23 tone pairs), so a simulated phone
//! "keys" over the real RTP path and the engine's in-band detector hears it.

const RATE: f64 = 8000.0;
const TONE_MS: u32 = 100;
const GAP_MS: u32 = 100;
/// Each of the two tones at about -12 dBFS: well above the detector's floor, no clipping.
const AMPLITUDE: f64 = 8000.0;

/// One step of a phone's script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyStep {
    /// Press these keys one after another (`0-9`, `*`, `#`).
    Keys(&'static str),
    /// Silence, in milliseconds (listening to a prompt).
    Pause(u32),
}

fn pair(key: char) -> Option<(f64, f64)> {
    const LOW: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const HIGH: [f64; 3] = [1209.0, 1336.0, 1477.0];
    let (row, col) = match key {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        _ => return None,
    };
    Some((LOW[row], HIGH[col]))
}

fn silence(out: &mut Vec<i16>, ms: u32) {
    out.extend(std::iter::repeat_n(0, (ms * 8) as usize));
}

/// The script as 8 kHz linear samples; unknown keys are skipped.
pub fn script_audio(steps: &[KeyStep]) -> Vec<i16> {
    let mut out = Vec::new();
    for step in steps {
        match step {
            KeyStep::Pause(ms) => silence(&mut out, *ms),
            KeyStep::Keys(keys) => {
                for (lo, hi) in keys.chars().filter_map(pair) {
                    let n = (TONE_MS * 8) as usize;
                    out.extend((0..n).map(|i| {
                        let t = i as f64 / RATE;
                        let s = (2.0 * std::f64::consts::PI * lo * t).sin()
                            + (2.0 * std::f64::consts::PI * hi * t).sin();
                        (s * AMPLITUDE) as i16
                    }));
                    silence(&mut out, GAP_MS);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::inband::InbandDetector;

    #[test]
    fn the_detector_hears_every_scripted_key_in_order() {
        let audio = script_audio(&[
            KeyStep::Pause(200),
            KeyStep::Keys("*1"),
            KeyStep::Pause(300),
            KeyStep::Keys("365#2222"),
        ]);
        let mut heard = String::new();
        let mut d = InbandDetector::default();
        for chunk in audio.chunks(160) {
            d.push(chunk, |k| heard.push(k));
        }
        assert_eq!(heard, "*1365#2222");
    }
}
