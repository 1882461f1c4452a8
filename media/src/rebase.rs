//! Renumbering of forwarded packets: one continuous RTP stream out of whatever feeds it.

use std::time::Instant;

/// Renumbers the packets forwarded out of one stream so that the receiver sees a single
/// continuous stream whatever feeds it: the first source starts at SRTP rollover counter 0
/// (a publisher that has sent 65 536 packets already would otherwise be undecryptable for a
/// late subscriber), and a new source (a switch, a publisher that came back) continues the
/// sequence and timestamps where the previous one stopped.
#[derive(Debug, Default)]
pub(crate) struct Rebase {
    source: Option<u32>,
    seq_delta: u64,
    ts_delta: u32,
    last_seq: u64,
    last_ts: u32,
    last_at: Option<Instant>,
    /// The next packet continues the stream as a new source would, even from the same
    /// SSRC (the edge was off for a while: a gap would read as loss).
    restart: bool,
}

impl Rebase {
    /// The sequence index and timestamp to send a packet of `ssrc` with; `clock` is the
    /// stream's RTP clock rate, used to space the timestamps across a change of source.
    pub(crate) fn map(
        &mut self,
        ssrc: u32,
        seq: u64,
        ts: u32,
        at: Instant,
        clock: u32,
    ) -> (u64, u32) {
        // (Taken first: a restart that comes with a change of source is that change.)
        let restart = std::mem::take(&mut self.restart);
        if self.source != Some(ssrc) || restart {
            match (self.source, self.last_at) {
                (Some(_), Some(last_at)) => {
                    let elapsed = at.saturating_duration_since(last_at);
                    let ticks = (elapsed.as_micros() * u128::from(clock) / 1_000_000).max(1);
                    let next_ts = self.last_ts.wrapping_add(ticks as u32);
                    self.seq_delta = self.last_seq.wrapping_add(1).wrapping_sub(seq);
                    self.ts_delta = next_ts.wrapping_sub(ts);
                }
                _ => {
                    self.seq_delta = (seq & 0xffff).wrapping_sub(seq);
                    self.ts_delta = 0;
                }
            }
            self.source = Some(ssrc);
        }
        let out = (
            seq.wrapping_add(self.seq_delta),
            ts.wrapping_add(self.ts_delta),
        );
        if self.last_at.is_none() || out.0 > self.last_seq || self.last_seq - out.0 > 1 << 15 {
            self.last_seq = out.0;
            self.last_ts = out.1;
            self.last_at = Some(at);
        }
        out
    }

    /// The source comes back after its edge was off (a moderator's mute, a publisher's
    /// `send: false`): its next packet follows the last one sent, as after a switch.
    pub(crate) fn restart(&mut self) {
        self.restart = self.source.is_some();
    }

    /// A packet of `ssrc` left out of the stream (a temporal layer above the cap): the
    /// packets after it move down one so that the receiver sees no gap.
    pub(crate) fn skip(&mut self, ssrc: u32, seq: u64) {
        if self.source == Some(ssrc) && seq.wrapping_add(self.seq_delta) > self.last_seq {
            self.seq_delta = self.seq_delta.wrapping_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn forwarded_numbering_starts_at_roc_zero_and_continues_across_sources() {
        let t0 = Instant::now();
        let mut r = Rebase::default();
        // A publisher already past one rollover: the subscriber sees ROC 0.
        assert_eq!(r.map(7, 70_000, 1000, t0, 90_000), (70_000 - 65_536, 1000));
        assert_eq!(r.map(7, 70_001, 4000, t0, 90_000), (70_001 - 65_536, 4000));
        // Reordered packet: mapped, but the high-water mark stays.
        assert_eq!(r.map(7, 70_000, 1000, t0, 90_000), (70_000 - 65_536, 1000));
        // Another source 100 ms later continues the sequence and the clock.
        let (seq, ts) = r.map(9, 5, 50, t0 + Duration::from_millis(100), 90_000);
        assert_eq!(seq, 70_002 - 65_536);
        assert_eq!(ts, 4000 + 9000);
        assert_eq!(r.map(9, 6, 3050, t0, 90_000), (seq + 1, ts + 3000));
        // Packets 7 and 8 left out (a temporal layer above the cap): 9 follows 6 at once.
        r.skip(9, 7);
        r.skip(9, 8);
        assert_eq!(r.map(9, 9, 6050, t0, 90_000).0, seq + 2);
        // Skips of another source or of packets already passed change nothing.
        r.skip(7, 10);
        r.skip(9, 4);
        assert_eq!(r.map(9, 10, 6050, t0, 90_000).0, seq + 3);
        // The same source back after 2 s off, 60 packets later: no gap, the clock moves on.
        r.restart();
        let (back, back_ts) = r.map(9, 70, 186_050, t0 + Duration::from_secs(2), 90_000);
        assert_eq!(back, seq + 4);
        // (Packet 10 went out at ts + 6000, at t0.)
        assert_eq!(back_ts, ts + 6000 + 2 * 90_000);
        assert_eq!(r.map(9, 71, 189_050, t0, 90_000).0, seq + 5);
    }

    #[test]
    fn a_restart_with_a_change_of_source_is_one_rebase() {
        let t0 = Instant::now();
        let mut r = Rebase::default();
        r.map(1, 100, 1000, t0, 48_000);
        r.restart();
        let (seq, ts) = r.map(2, 7, 50, t0 + Duration::from_millis(20), 48_000);
        assert_eq!((seq, ts), (101, 1960));
        // The next packet of the new source follows its own clock, not a second rebase.
        assert_eq!(
            r.map(2, 8, 1010, t0 + Duration::from_millis(41), 48_000),
            (102, 2920)
        );
    }

    #[test]
    fn a_restart_before_any_packet_changes_nothing() {
        let mut r = Rebase::default();
        r.restart();
        assert_eq!(r.map(3, 10, 500, Instant::now(), 8000), (10, 500));
    }
}
