//! In-band DTMF detection in the style of ITU-T Q.24 on 8 kHz linear samples: Goertzel filters
//! on Hann-windowed 20 ms blocks. A digit needs both tones strong enough, within twist limits,
//! each tone nearer its nominal frequency than ±5 % probes (accepts ±1.5 %, rejects ±3.5 %),
//! the pair carrying most of the block's power (talk-off), for two blocks in a row (≥ ~40 ms),
//! and a pause before the next digit (a quiet block; a 10 ms dropout does not split a press).

use std::sync::LazyLock;

const RATE: f32 = 8000.0;
/// Samples per analysis block (20 ms).
pub const BLOCK: usize = 160;
const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];
/// Probe offset: a tone off by more than half of it reads stronger in a probe than in its bin.
const PROBE: f32 = 0.05;
/// Minimum mean power of a block worth analysing (about -43 dBFS).
const MIN_POWER: f32 = 5.0e3;
/// Each tone must carry at least this share of the block's power.
const MIN_TONE_SHARE: f32 = 0.06;
/// Both tones together must carry at least this share (speech spreads its power wider) in a
/// block partly covered by the tone, and `STRONG_PAIR_SHARE` in one fully covered.
const MIN_PAIR_SHARE: f32 = 0.4;
const STRONG_PAIR_SHARE: f32 = 0.7;
/// High tone weaker than low: up to 8 dB (normal twist).
const MAX_NORMAL_TWIST: f32 = 6.31;
/// High tone stronger than low: up to 4 dB (reverse twist).
const MAX_REVERSE_TWIST: f32 = 2.51;
/// The runner-up in a group must be this much weaker than the chosen tone: 3 dB in a partly
/// covered block (its spectrum is wider), 6 dB in a strong one.
const MIN_GROUP_MARGIN: f32 = 2.0;
const STRONG_GROUP_MARGIN: f32 = 4.0;
/// A block below 1/4 of the tone's power (-6 dB) during a press is a pause, not a dropout.
const PAUSE_POWER_RATIO: f32 = 4.0;
/// Blocks in a row a tone pair must be present.
const MIN_TONE_BLOCKS: u8 = 2;

struct Tables {
    window: [f32; BLOCK],
    /// 4 / (Σ window)²: turns |X|² into the mean power of the sine it comes from.
    scale: f32,
    /// Goertzel coefficients of the eight DTMF frequencies, low group first.
    dtmf: [f32; 8],
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let mut window = [0f32; BLOCK];
    for (i, w) in window.iter_mut().enumerate() {
        *w = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / BLOCK as f32).cos();
    }
    let window_sum: f32 = window.iter().sum();
    let mut dtmf = [0f32; 8];
    for (c, f) in dtmf.iter_mut().zip(LOW.iter().chain(&HIGH)) {
        *c = coeff(*f);
    }
    Tables {
        window,
        scale: 2.0 / (window_sum * window_sum),
        dtmf,
    }
});

fn coeff(freq: f32) -> f32 {
    2.0 * (2.0 * std::f32::consts::PI * freq / RATE).cos()
}

/// Powers of the components at K frequencies (by Goertzel coefficient) in a windowed block, in
/// one pass over the samples (K independent filters side by side vectorise well), scaled so
/// that a pure sine of amplitude A at a frequency reads A²/2 (its mean power).
fn goertzel_bank<const K: usize>(
    windowed: &[f32; BLOCK],
    coeffs: &[f32; K],
    scale: f32,
) -> [f32; K] {
    let (mut s1, mut s2) = ([0f32; K], [0f32; K]);
    for &x in windowed {
        for k in 0..K {
            let s0 = x + coeffs[k] * s1[k] - s2[k];
            s2[k] = s1[k];
            s1[k] = s0;
        }
    }
    let mut power = [0f32; K];
    for k in 0..K {
        power[k] = scale * (s1[k] * s1[k] + s2[k] * s2[k] - coeffs[k] * s1[k] * s2[k]);
    }
    power
}

/// What one block holds: a key's tone pair, and whether it is strong (fully covered, clean).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTone {
    pub key: char,
    pub strong: bool,
}

/// The block's mean power and the tone pair it holds, if any.
pub fn analyse_block(samples: &[i16; BLOCK]) -> (f32, Option<BlockTone>) {
    let mut energy = 0f32;
    for &s in samples {
        energy += f32::from(s) * f32::from(s);
    }
    let power = energy / BLOCK as f32;
    (power, find_tone(samples, power))
}

/// The strongest tone of a group if it stands out enough: (index, power, clear of the rest).
fn strongest(p: &[f32], power: f32) -> Option<(usize, f32, bool)> {
    let (best, &best_p) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let runner_up = p
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != best)
        .map(|(_, v)| *v)
        .fold(0f32, f32::max);
    if best_p < MIN_TONE_SHARE * power || best_p < MIN_GROUP_MARGIN * runner_up {
        return None;
    }
    Some((best, best_p, best_p >= STRONG_GROUP_MARGIN * runner_up))
}

fn find_tone(samples: &[i16; BLOCK], power: f32) -> Option<BlockTone> {
    if power < MIN_POWER {
        return None;
    }
    let t = &*TABLES;
    let mut windowed = [0f32; BLOCK];
    for ((w, &s), &win) in windowed.iter_mut().zip(samples).zip(&t.window) {
        *w = f32::from(s) * win;
    }
    let p = goertzel_bank(&windowed, &t.dtmf, t.scale);
    let (row, low_p, low_clear) = strongest(&p[..4], power)?;
    let (col, high_p, high_clear) = strongest(&p[4..], power)?;
    let twist_ok = high_p * MAX_NORMAL_TWIST >= low_p && high_p <= low_p * MAX_REVERSE_TWIST;
    let pair = low_p + high_p;
    if !twist_ok || pair < MIN_PAIR_SHARE * power {
        return None;
    }
    // Each tone must read stronger at its nominal frequency than at ±PROBE around it.
    let (fl, fh) = (LOW[row], HIGH[col]);
    let probes = [
        coeff(fl * (1.0 + PROBE)),
        coeff(fl * (1.0 - PROBE)),
        coeff(fh * (1.0 + PROBE)),
        coeff(fh * (1.0 - PROBE)),
    ];
    let q = goertzel_bank(&windowed, &probes, t.scale);
    let centred = low_p > q[0] && low_p > q[1] && high_p > q[2] && high_p > q[3];
    centred.then_some(BlockTone {
        key: KEYS[row][col],
        strong: low_clear && high_clear && pair >= STRONG_PAIR_SHARE * power,
    })
}

/// Per-call detector state: buffers samples into blocks and debounces block results.
#[derive(Debug)]
pub struct InbandDetector {
    block: [i16; BLOCK],
    fill: usize,
    /// Candidate key, how many blocks in a row it has been seen, and whether one was strong.
    candidate: Option<(char, u8, bool)>,
    /// Key already reported and still sounding, with the power of its last tone block.
    active: Option<(char, f32)>,
    /// Blocks in a row without the active key that kept most of its power (a dropout).
    dropouts: u8,
}

impl Default for InbandDetector {
    fn default() -> Self {
        Self {
            block: [0; BLOCK],
            fill: 0,
            candidate: None,
            active: None,
            dropouts: 0,
        }
    }
}

impl InbandDetector {
    /// Feeds samples; calls `on_digit` once per detected key press.
    pub fn push(&mut self, samples: &[i16], mut on_digit: impl FnMut(char)) {
        for &s in samples {
            self.block[self.fill] = s;
            self.fill += 1;
            if self.fill == BLOCK {
                self.fill = 0;
                if let Some(key) = self.on_block() {
                    on_digit(key);
                }
            }
        }
    }

    fn on_block(&mut self) -> Option<char> {
        let (power, seen) = analyse_block(&self.block);
        if let Some((key, tone_power)) = self.active {
            match seen {
                Some(t) if t.key == key => {
                    self.active = Some((key, power));
                    self.dropouts = 0;
                    return None;
                }
                // A block that kept over a quarter of the tone's power is a short interruption
                // (Q.24: ≤ 10 ms must not split a press); a quiet block is a pause.
                None if power * PAUSE_POWER_RATIO >= tone_power && self.dropouts == 0 => {
                    self.dropouts = 1;
                    return None;
                }
                _ => {
                    self.active = None;
                    self.dropouts = 0;
                }
            }
        }
        let Some(key) = seen else {
            self.candidate = None;
            return None;
        };
        let (count, strong) = match self.candidate {
            Some((k, n, s)) if k == key.key => (n + 1, s || key.strong),
            _ => (1, key.strong),
        };
        if count >= MIN_TONE_BLOCKS && strong {
            self.candidate = None;
            self.active = Some((key.key, power));
            return Some(key.key);
        }
        self.candidate = Some((key.key, count, strong));
        None
    }
}

#[cfg(test)]
#[path = "inband_tests.rs"]
mod tests;
