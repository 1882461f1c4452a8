//! One continuous outgoing stream out of inputs that come and go (RFC 3550 §5.1 wants one
//! SSRC whose sequence numbers and timestamps advance steadily; a PBX's jitter buffer resets,
//! or plays silence, on a jump). Like mediasoup's `SeqManager` plus the timestamp side:
//! when the input SSRC changes or the input restarts, the new input is re-anchored right
//! after the last packet sent, with the timestamp advanced by the wall-clock time elapsed.

use std::time::{Duration, Instant};

/// A sequence jump larger than this within one SSRC is taken as a restart of the input.
const MAX_SEQ_JUMP: i32 = 3000;

#[derive(Debug, Clone, Copy)]
struct Input {
    ssrc: u32,
    seq_delta: u16,
    ts_delta: u32,
    highest_seq: u16,
}

#[derive(Debug, Clone, Copy)]
struct Sent {
    seq: u16,
    ts: u32,
    /// When `ts` was current, for estimating how far the clock moved since.
    at: Instant,
}

/// The output numbering of one stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    pub seq: u16,
    pub ts: u32,
    /// This packet starts a new input (first packet, SSRC change, restart): a talkspurt
    /// starts, so audio should carry the marker bit (RFC 3551 §4.1).
    pub restarted: bool,
}

#[derive(Debug, Clone)]
pub struct SeqRewriter {
    clock_rate: u32,
    initial_seq: u16,
    initial_ts: u32,
    input: Option<Input>,
    last: Option<Sent>,
}

impl SeqRewriter {
    /// A stream whose first packet gets `initial_seq`/`initial_ts` (random, RFC 3550 §5.1).
    pub fn new(clock_rate: u32, initial_seq: u16, initial_ts: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            initial_seq,
            initial_ts,
            input: None,
            last: None,
        }
    }

    pub fn clock_rate(&self) -> u32 {
        self.clock_rate
    }

    /// The clock of the payload now flowing (e.g. after a re-INVITE switched codecs).
    pub fn set_clock_rate(&mut self, clock_rate: u32) {
        self.clock_rate = clock_rate.max(1);
    }

    /// Forces the next input packet to be re-anchored (e.g. the plugin switched sources).
    pub fn restart(&mut self) {
        self.input = None;
    }

    /// Output seq and timestamp for an input packet.
    pub fn rewrite(&mut self, now: Instant, ssrc: u32, seq: u16, ts: u32) -> Rewritten {
        let current = self.input.filter(|i| {
            i.ssrc == ssrc
                && i32::from(seq.wrapping_sub(i.highest_seq) as i16).abs() <= MAX_SEQ_JUMP
        });
        let restarted = current.is_none();
        let input = current.unwrap_or_else(|| {
            let (seq0, ts0) = self.anchor(now);
            Input {
                ssrc,
                seq_delta: seq0.wrapping_sub(seq),
                ts_delta: ts0.wrapping_sub(ts),
                highest_seq: seq,
            }
        });
        let out = Rewritten {
            seq: seq.wrapping_add(input.seq_delta),
            ts: ts.wrapping_add(input.ts_delta),
            restarted,
        };
        let newer = restarted || (seq.wrapping_sub(input.highest_seq) as i16) > 0;
        self.input = Some(Input {
            highest_seq: if newer { seq } else { input.highest_seq },
            ..input
        });
        if newer {
            self.last = Some(Sent {
                seq: out.seq,
                ts: out.ts,
                at: now,
            });
        }
        out
    }

    /// Starts packets made here (a DTMF event): returns the timestamp the stream's clock has
    /// reached at `now`. The input re-anchors after them.
    pub fn begin_local(&mut self, now: Instant) -> u32 {
        let (seq, ts) = self.anchor(now);
        self.last = Some(Sent {
            seq: seq.wrapping_sub(1),
            ts,
            at: now,
        });
        self.input = None;
        ts
    }

    /// The next sequence number for a packet made here (after [`Self::begin_local`]).
    pub fn next_local_seq(&mut self, now: Instant) -> u16 {
        let last = match self.last {
            Some(l) => l,
            None => {
                self.begin_local(now);
                // begin_local always sets `last`.
                self.last.unwrap_or(Sent {
                    seq: self.initial_seq.wrapping_sub(1),
                    ts: self.initial_ts,
                    at: now,
                })
            }
        };
        let seq = last.seq.wrapping_add(1);
        self.last = Some(Sent { seq, ..last });
        seq
    }

    /// Where the next packet of a fresh input lands: right after the last one sent, later in
    /// time by the wall clock (at least one tick, so no two frames share a timestamp).
    fn anchor(&self, now: Instant) -> (u16, u32) {
        match self.last {
            None => (self.initial_seq, self.initial_ts),
            Some(l) => {
                let ticks = ticks(now.saturating_duration_since(l.at), self.clock_rate).max(1);
                (l.seq.wrapping_add(1), l.ts.wrapping_add(ticks))
            }
        }
    }

    /// The output timestamp the stream's clock shows at `now` (for RTCP SR, RFC 3550 §6.4.1).
    pub fn ts_at(&self, now: Instant) -> u32 {
        match self.last {
            None => self.initial_ts,
            Some(l) => {
                l.ts.wrapping_add(ticks(now.saturating_duration_since(l.at), self.clock_rate))
            }
        }
    }
}

/// `elapsed` in RTP clock ticks, modulo 2^32 as RTP timestamps are.
pub fn ticks(elapsed: Duration, clock_rate: u32) -> u32 {
    (elapsed.as_micros() * u128::from(clock_rate) / 1_000_000) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS20: Duration = Duration::from_millis(20);

    #[test]
    fn one_input_is_shifted_but_keeps_its_gaps_and_order() {
        let t0 = Instant::now();
        let mut r = SeqRewriter::new(8000, 1000, 50_000);
        let a = r.rewrite(t0, 1, 40_000, 7);
        assert_eq!((a.seq, a.ts, a.restarted), (1000, 50_000, true));
        let b = r.rewrite(t0 + MS20 * 2, 1, 40_002, 7 + 320);
        assert_eq!((b.seq, b.ts, b.restarted), (1002, 50_320, false));
        let late = r.rewrite(t0 + MS20 * 2, 1, 40_001, 7 + 160);
        assert_eq!((late.seq, late.ts), (1001, 50_160));
        let c = r.rewrite(t0 + MS20 * 3, 1, 40_003, 7 + 480);
        assert_eq!(c.seq, 1003);
    }

    #[test]
    fn a_big_jump_in_one_ssrc_is_a_restart() {
        let t0 = Instant::now();
        let mut r = SeqRewriter::new(8000, 0xffff, 0);
        r.rewrite(t0, 1, 10, 0);
        let b = r.rewrite(t0 + Duration::from_secs(1), 1, 20_000, 99);
        assert!(b.restarted);
        assert_eq!((b.seq, b.ts), (0, 8000));
    }

    #[test]
    fn local_packets_take_the_next_numbers_and_the_input_follows_them() {
        let t0 = Instant::now();
        let mut r = SeqRewriter::new(8000, 10, 0);
        r.rewrite(t0, 1, 500, 1000);
        let ts = r.begin_local(t0 + MS20);
        assert_eq!(ts, 160);
        assert_eq!(r.next_local_seq(t0 + MS20), 11);
        assert_eq!(r.next_local_seq(t0 + MS20 * 2), 12);
        let back = r.rewrite(t0 + MS20 * 6, 1, 505, 1000 + 5 * 160);
        assert_eq!(
            (back.seq, back.ts, back.restarted),
            (13, 160 + 5 * 160, true)
        );
    }
}
