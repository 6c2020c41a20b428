//! G.711 μ-law and A-law (ITU-T G.711), our own implementation: prompts are encoded once at
//! load, received audio is decoded by table lookup for the in-band DTMF detector.

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// μ-law code of silence (positive zero).
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law code of silence (smallest positive step).
pub const ALAW_SILENCE: u8 = 0xD5;

/// Encodes one 16-bit linear sample as μ-law.
pub fn ulaw_encode(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign: u8 = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
    // Segment = position of the highest set bit above bit 7 (0..=7).
    let top = ((pcm >> 7) & 0xFF) as u8;
    let exponent = if top == 0 {
        0
    } else {
        7 - top.leading_zeros() as u8
    };
    let mantissa = ((pcm >> (exponent + 3)) & 0x0F) as u8;
    !(sign | (exponent << 4) | mantissa)
}

const fn ulaw_decode_const(code: u8) -> i16 {
    let u = !code;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encodes one 16-bit linear sample as A-law.
pub fn alaw_encode(sample: i16) -> u8 {
    // A-law works on 13 bits; negative values map onto the magnitude -x-1.
    let mut pcm = i32::from(sample) >> 3;
    let mask: u8 = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    const SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let Some(seg) = SEG_END.iter().position(|&end| pcm <= end) else {
        return 0x7F ^ mask;
    };
    let shift = if seg < 2 { 1 } else { seg };
    let aval = ((seg as u8) << 4) | ((pcm >> shift) & 0x0F) as u8;
    aval ^ mask
}

const fn alaw_decode_const(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_decode_const(i as u8)
        } else {
            ulaw_decode_const(i as u8)
        };
        i += 1;
    }
    table
}

static ULAW_TABLE: [i16; 256] = build_table(false);
static ALAW_TABLE: [i16; 256] = build_table(true);

/// Decodes one μ-law code to a 16-bit linear sample.
pub fn ulaw_decode(code: u8) -> i16 {
    ULAW_TABLE[usize::from(code)]
}

/// Decodes one A-law code to a 16-bit linear sample.
pub fn alaw_decode(code: u8) -> i16 {
    ALAW_TABLE[usize::from(code)]
}

#[cfg(test)]
mod tests {
    use super::*;

    // Decoder outputs from ITU-T G.711 tables 1a/2a, scaled from 13/14-bit to 16-bit.
    #[test]
    fn ulaw_decodes_g711_table_values() {
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x7F), 0);
        assert_eq!(ulaw_decode(0xFE), 2 * 4); // segment 1 step 2
        assert_eq!(ulaw_decode(0xEF), 33 * 4); // first value of segment 2
        assert_eq!(ulaw_decode(0x80), 8031 * 4); // largest magnitude
        assert_eq!(ulaw_decode(0x00), -8031 * 4);
        assert_eq!(ulaw_decode(0x6F), -33 * 4);
    }

    #[test]
    fn alaw_decodes_g711_table_values() {
        assert_eq!(alaw_decode(0xD5), 8); // 13-bit value 1
        assert_eq!(alaw_decode(0x55), -8);
        assert_eq!(alaw_decode(0xD4), 3 * 8);
        assert_eq!(alaw_decode(0xAA), 4032 * 8); // largest magnitude
        assert_eq!(alaw_decode(0x2A), -4032 * 8);
        assert_eq!(alaw_decode(0xC5), 33 * 8); // first value of segment 1
        assert_eq!(alaw_decode(0xF5), 66 * 8); // first value of segment 2
    }

    #[test]
    fn encoders_pick_g711_codes_for_known_inputs() {
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn every_code_round_trips_through_linear() {
        for code in 0..=255u8 {
            let want_ulaw = if code == 0x7F { 0xFF } else { code }; // negative zero
            assert_eq!(
                ulaw_encode(ulaw_decode(code)),
                want_ulaw,
                "μ-law {code:#04x}"
            );
            assert_eq!(alaw_encode(alaw_decode(code)), code, "A-law {code:#04x}");
        }
    }

    #[test]
    fn decoders_are_monotonic_over_their_code_order() {
        // Positive μ-law codes 0xFF..=0x80 grow in magnitude; A-law codes 0xD5.. do via XOR 0x55.
        let ulaw: Vec<i16> = (0x80..=0xFFu8).rev().map(ulaw_decode).collect();
        assert!(ulaw.windows(2).all(|w| w[0] < w[1]));
        let alaw: Vec<i16> = (0x80..=0xFFu8).map(|c| alaw_decode(c ^ 0x55)).collect();
        assert!(alaw.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn quantisation_error_stays_within_half_a_step() {
        for s in (-32000i32..32000).step_by(37) {
            let s = s as i16;
            let u = i32::from(ulaw_decode(ulaw_encode(s))) - i32::from(s);
            let a = i32::from(alaw_decode(alaw_encode(s))) - i32::from(s);
            // Largest step is 1024 (μ-law) and 1024 (A-law) in 16-bit units.
            assert!(u.abs() <= 512 + 132, "μ-law {s}: {u}");
            assert!(a.abs() <= 512 + 8, "A-law {s}: {a}");
        }
    }
}
