//! G.711 (ITU-T G.711) µ-law and A-law, sample by sample: 14/13-bit linear PCM companded
//! into 8 bits. Decoding goes through tables built at compile time.

/// µ-law's bias added before the segment search.
const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32_635;

pub fn ulaw_encode(sample: i16) -> u8 {
    let mut x = i32::from(sample);
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    x = x.min(ULAW_CLIP) + ULAW_BIAS;
    // The segment is the position of the highest set bit above bit 7.
    let exponent = (31 - (x as u32).leading_zeros()).saturating_sub(7).min(7) as i32;
    let mantissa = (x >> (exponent + 3)) & 0x0f;
    !(sign | (exponent << 4) as u8 | mantissa as u8)
}

const fn ulaw_decode_one(code: u8) -> i16 {
    let u = !code;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0f) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

pub fn alaw_encode(sample: i16) -> u8 {
    let mut x = i32::from(sample) >> 3;
    let mask = if x >= 0 {
        0xd5
    } else {
        x = -x - 1;
        0x55
    };
    // Segment ends of 13-bit magnitudes: 0x1f, 0x3f, 0x7f, ... 0xfff.
    let segment = (32 - (x as u32 | 0x1f).leading_zeros()).saturating_sub(5) as i32;
    let code = if segment >= 8 {
        0x7f
    } else {
        let shift = if segment < 2 { 1 } else { segment };
        (segment << 4) | ((x >> shift) & 0x0f)
    };
    (code as u8) ^ mask
}

const fn alaw_decode_one(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0f) as i32) << 4;
    let segment = ((a & 0x70) >> 4) as i32;
    match segment {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= segment - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn table(alaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if alaw {
            alaw_decode_one(i as u8)
        } else {
            ulaw_decode_one(i as u8)
        };
        i += 1;
    }
    t
}

static ULAW: [i16; 256] = table(false);
static ALAW: [i16; 256] = table(true);

pub fn ulaw_decode(code: u8) -> i16 {
    ULAW[usize::from(code)]
}

pub fn alaw_decode(code: u8) -> i16 {
    ALAW[usize::from(code)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code decodes to a value that encodes back to the same code (the two known
    /// exceptions are µ-law's two zeros, 0x7f and 0xff).
    #[test]
    fn codes_round_trip() {
        for code in 0..=255u8 {
            let u = ulaw_decode(code);
            if code != 0x7f {
                assert_eq!(ulaw_encode(u), code, "µ-law {code:#x} -> {u}");
            }
            let a = alaw_decode(code);
            assert_eq!(alaw_encode(a), code, "A-law {code:#x} -> {a}");
        }
    }

    #[test]
    fn quantization_error_is_small_relative_to_the_sample() {
        for s in (-32768i32..=32767).step_by(37) {
            let s = s as i16;
            for (name, back) in [
                ("ulaw", ulaw_decode(ulaw_encode(s))),
                ("alaw", alaw_decode(alaw_encode(s))),
            ] {
                let err = (i32::from(back) - i32::from(s)).abs();
                let allowed = (i32::from(s).abs() / 16).max(16) + 1;
                assert!(err <= allowed, "{name}: {s} -> {back}");
            }
        }
    }

    #[test]
    fn silence_is_the_usual_code() {
        assert_eq!(ulaw_encode(0), 0xff);
        assert_eq!(alaw_encode(0), 0xd5);
    }
}
