//! Sample-rate conversion between a G.711 participant (8 kHz) and the room's rate, one
//! 20 ms frame at a time: linear interpolation going up, a box filter (the mean of the
//! input samples each output sample covers) going down, so that what lies above the lower
//! rate's band is attenuated rather than folded back.

/// Carries the last input sample of one frame into the next, so that interpolation has no
/// seam at frame boundaries.
#[derive(Debug, Default, Clone)]
pub struct Resampler {
    last: i16,
}

impl Resampler {
    /// Fills `output` from `input`, both one frame long at their own rates.
    pub fn process(&mut self, input: &[i16], output: &mut [i16]) {
        let (n_in, n_out) = (input.len(), output.len());
        if n_in == 0 || n_out == 0 {
            output.fill(0);
            return;
        }
        if n_in == n_out {
            output.copy_from_slice(input);
        } else if n_out > n_in {
            // Output sample j lies at input position (j + 1) * n_in / n_out - 1, measured
            // from the previous frame's last sample (position -1).
            for (j, out) in output.iter_mut().enumerate() {
                let num = (j + 1) * n_in;
                let whole = num / n_out; // 1..=n_in
                let frac = (num % n_out) as i64;
                let a = if whole == 0 {
                    self.last
                } else {
                    input[whole - 1]
                };
                let b = input.get(whole).copied().unwrap_or(input[n_in - 1]);
                let (a, b) = (i64::from(a), i64::from(b));
                *out = (a + (b - a) * frac / n_out as i64) as i16;
            }
        } else {
            for (j, out) in output.iter_mut().enumerate() {
                let start = j * n_in / n_out;
                let end = ((j + 1) * n_in / n_out).max(start + 1).min(n_in);
                let sum: i32 = input[start..end].iter().map(|&s| i32::from(s)).sum();
                *out = (sum / (end - start) as i32) as i16;
            }
        }
        self.last = input[n_in - 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: f64) -> f64 {
        10_000.0 * (2.0 * std::f64::consts::PI * 400.0 * t).sin()
    }

    #[test]
    fn up_and_down_keep_a_low_tone() {
        for (from, to) in [
            (8000, 16000),
            (8000, 48000),
            (8000, 12000),
            (48000, 8000),
            (16000, 8000),
        ] {
            let mut r = Resampler::default();
            let (n_in, n_out) = (from / 50, to / 50);
            let ratio = from as f64 / to as f64;
            // Where output sample j lies in input time, relative to j / to.
            let shift = if to > from {
                -(1.0 - ratio) / from as f64
            } else {
                (ratio - 1.0) / (2.0 * from as f64)
            };
            let mut worst = 0f64;
            for frame in 0..5 {
                let input: Vec<i16> = (0..n_in)
                    .map(|i| at((frame * n_in + i) as f64 / from as f64) as i16)
                    .collect();
                let mut out = vec![0i16; n_out];
                r.process(&input, &mut out);
                if frame == 0 {
                    continue;
                }
                for (j, o) in out.iter().enumerate() {
                    let want = at((frame * n_out + j) as f64 / to as f64 + shift);
                    worst = worst.max((f64::from(*o) - want).abs());
                }
            }
            assert!(worst < 500.0, "{from} -> {to}: {worst}");
        }
    }
}
