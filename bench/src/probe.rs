//! The probe every payload carries, and the per-peer ledger of what was sent and echoed.
//!
//! The probe is 12 bytes, big-endian: peer index (u32), probe sequence (u32, one counter per
//! peer across its audio and video streams), send time (u32, µs since the run started; wraps
//! after 71 minutes, far beyond any bounded run). It sits at the *end* of the RTP payload, so
//! the codec headers a server may read (the opus TOC byte, the VP8 payload descriptor and
//! frame tag) stay at the front where they belong.

/// Size of the probe in bytes.
pub const PROBE_LEN: usize = 12;

/// The identity and send time of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub peer: u32,
    pub seq: u32,
    pub sent_us: u32,
}

impl Probe {
    /// Writes the probe into the last [`PROBE_LEN`] bytes of `payload`.
    ///
    /// Payload sizes are validated at start-up to be at least the codec header plus the probe,
    /// so a shorter payload here is a programming error.
    pub fn write_tail(&self, payload: &mut [u8]) {
        assert!(payload.len() >= PROBE_LEN, "payload too short for a probe");
        let tail = payload.len() - PROBE_LEN;
        payload[tail..tail + 4].copy_from_slice(&self.peer.to_be_bytes());
        payload[tail + 4..tail + 8].copy_from_slice(&self.seq.to_be_bytes());
        payload[tail + 8..].copy_from_slice(&self.sent_us.to_be_bytes());
    }

    /// Reads the probe from the end of an echoed payload.
    pub fn read_tail(payload: &[u8]) -> Option<Probe> {
        let tail = payload.len().checked_sub(PROBE_LEN)?;
        let word = |at: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&payload[tail + at..tail + at + 4]);
            u32::from_be_bytes(b)
        };
        Some(Probe {
            peer: word(0),
            seq: word(4),
            sent_us: word(8),
        })
    }
}

/// What one peer sent and got back, indexed by probe sequence.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    /// Send time (µs since start) of probe `seq`.
    sent_us: Vec<u32>,
    /// Whether probe `seq` went out on the video stream (else audio).
    video: Vec<bool>,
    /// Echo count and first echo arrival (µs since start) of probe `seq`.
    echoes: Vec<Echo>,
    /// Echoes carrying another peer's index or a sequence never sent: a routing bug.
    pub foreign: u64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Echo {
    count: u32,
    first_us: u32,
}

/// A receive-only peer ignores probe sequences this high (about 37 hours at 500 packets/s):
/// they cannot come from a bounded run, and would make its ledger huge.
const MAX_RECEIVED_SEQ: u32 = 1 << 26;

/// Totals over a measuring window of what receive-only peers got of one sender's probes,
/// summed over the receivers.
#[derive(Debug, Default, Clone)]
pub struct FanoutTally {
    /// Probes the sender sent inside the window, times the receivers.
    pub expected: u64,
    /// Of those, probes a receiver never got.
    pub lost: u64,
    /// The same two for the video stream alone.
    pub expected_video: u64,
    pub lost_video: u64,
    /// Extra copies of probes sent inside the window.
    pub duplicates: u64,
    /// Packets that arrived inside the window, whenever sent: what the server relayed.
    pub relayed: u64,
    /// Packets with another peer's probe or a sequence never sent: misrouting.
    pub foreign: u64,
    /// One-way times sender → server → receiver (µs) of probes sent inside the window.
    pub latency_us: Vec<u32>,
    /// Receivers that lost at least one probe, and the highest loss of one receiver, %.
    pub receivers_with_loss: u32,
    pub worst_loss_pct: f64,
}

/// Totals over a measuring window, for one peer or summed over all.
#[derive(Debug, Default, Clone)]
pub struct WindowTally {
    /// Probes sent inside the window.
    pub sent: u64,
    /// Of those, probes never echoed.
    pub lost: u64,
    /// Extra echoes of probes sent inside the window.
    pub duplicates: u64,
    /// Echoes that arrived inside the window, whenever they were sent: what the server
    /// relayed during the window.
    pub relayed: u64,
    /// Round-trip times (µs) of probes sent inside the window.
    pub rtt_us: Vec<u32>,
}

impl Ledger {
    /// Records a probe about to be sent and returns its sequence.
    pub fn next_sent(&mut self, sent_us: u32) -> u32 {
        self.next_sent_as(sent_us, false)
    }

    /// Like [`Ledger::next_sent`], for a probe sent on the video stream.
    pub fn next_sent_video(&mut self, sent_us: u32) -> u32 {
        self.next_sent_as(sent_us, true)
    }

    fn next_sent_as(&mut self, sent_us: u32, video: bool) -> u32 {
        let seq = self.sent_us.len() as u32;
        self.sent_us.push(sent_us);
        self.video.push(video);
        self.echoes.push(Echo::default());
        seq
    }

    /// Records, for a receive-only peer, a packet of `probe` that arrived at `arrived_us`;
    /// the probes are those of peer `source` (whose ledger holds the send times).
    pub fn received(&mut self, source: u32, probe: Probe, arrived_us: u32) {
        if probe.peer != source || probe.seq >= MAX_RECEIVED_SEQ {
            self.foreign += 1;
            return;
        }
        let at = probe.seq as usize;
        if self.echoes.len() <= at {
            self.echoes.resize(at + 1, Echo::default());
        }
        let echo = &mut self.echoes[at];
        if echo.count == 0 {
            echo.first_us = arrived_us;
        }
        echo.count += 1;
    }

    /// Adds, for a receive-only peer, its figures for the probes `sender` sent in the window
    /// `[from_us, to_us)` (see [`Ledger::received`]) to `tally`.
    pub fn tally_received(
        &self,
        sender: &Ledger,
        from_us: u32,
        to_us: u32,
        tally: &mut FanoutTally,
    ) {
        let inside = |t: u32| t >= from_us && t < to_us;
        let mut lost = 0;
        let mut expected = 0;
        for (seq, echo) in self.echoes.iter().enumerate() {
            if echo.count > 0 && inside(echo.first_us) {
                tally.relayed += u64::from(echo.count);
            }
            if echo.count > 0 && seq >= sender.sent_us.len() {
                // A sequence the sender never used.
                tally.foreign += u64::from(echo.count);
            }
        }
        for (seq, sent) in sender.sent_us.iter().enumerate() {
            if !inside(*sent) {
                continue;
            }
            let video = sender.video.get(seq).copied().unwrap_or(false);
            expected += 1;
            if video {
                tally.expected_video += 1;
            }
            match self.echoes.get(seq).map_or(0, |e| e.count) {
                0 => {
                    lost += 1;
                    if video {
                        tally.lost_video += 1;
                    }
                }
                n => {
                    tally.duplicates += u64::from(n - 1);
                    tally
                        .latency_us
                        .push(self.echoes[seq].first_us.saturating_sub(*sent));
                }
            }
        }
        tally.expected += expected;
        tally.lost += lost;
        tally.foreign += self.foreign;
        if lost > 0 {
            tally.receivers_with_loss += 1;
        }
        if expected > 0 {
            let pct = lost as f64 * 100.0 / expected as f64;
            tally.worst_loss_pct = tally.worst_loss_pct.max(pct);
        }
    }

    /// Records an echo of `probe` that arrived at `arrived_us`, for the peer `me`.
    pub fn echoed(&mut self, me: u32, probe: Probe, arrived_us: u32) {
        let slot = self.echoes.get_mut(probe.seq as usize);
        match slot {
            Some(echo) if probe.peer == me => {
                if echo.count == 0 {
                    echo.first_us = arrived_us;
                }
                echo.count += 1;
            }
            _ => self.foreign += 1,
        }
    }

    /// Adds this ledger's figures for the window `[from_us, to_us)` to `tally`.
    pub fn tally(&self, from_us: u32, to_us: u32, tally: &mut WindowTally) {
        let inside = |t: u32| t >= from_us && t < to_us;
        for (sent, echo) in self.sent_us.iter().zip(&self.echoes) {
            // Duplicates are booked at the first echo's arrival: close enough for a rate.
            if echo.count > 0 && inside(echo.first_us) {
                tally.relayed += u64::from(echo.count);
            }
            if !inside(*sent) {
                continue;
            }
            tally.sent += 1;
            match echo.count {
                0 => tally.lost += 1,
                n => {
                    tally.duplicates += u64::from(n - 1);
                    tally.rtt_us.push(echo.first_us.saturating_sub(*sent));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_round_trips_through_the_payload_tail() {
        let mut payload = vec![0xAA; 40];
        let probe = Probe {
            peer: 7,
            seq: 123_456,
            sent_us: 9_999_999,
        };
        probe.write_tail(&mut payload);
        assert_eq!(payload[..28], [0xAA; 28]);
        assert_eq!(Probe::read_tail(&payload), Some(probe));
        assert_eq!(Probe::read_tail(&payload[..11]), None);
    }

    #[test]
    fn window_counts_loss_duplicates_and_round_trips_of_probes_sent_inside_it() {
        let mut ledger = Ledger::default();
        let before = ledger.next_sent(50); // sent before the window, echoed inside
        let lost = ledger.next_sent(150);
        let twice = ledger.next_sent(160);
        let after = ledger.next_sent(300); // sent after the window
        ledger.echoed(
            1,
            Probe {
                peer: 1,
                seq: before,
                sent_us: 50,
            },
            120,
        );
        for arrived in [200, 210] {
            ledger.echoed(
                1,
                Probe {
                    peer: 1,
                    seq: twice,
                    sent_us: 160,
                },
                arrived,
            );
        }
        ledger.echoed(
            1,
            Probe {
                peer: 2,
                seq: after,
                sent_us: 300,
            },
            310,
        );
        let mut t = WindowTally::default();
        ledger.tally(100, 250, &mut t);
        assert_eq!(lost, 1);
        assert_eq!((t.sent, t.lost, t.duplicates, t.relayed), (2, 1, 1, 3));
        assert_eq!(t.rtt_us, vec![40]);
        assert_eq!(ledger.foreign, 1);
    }

    #[test]
    fn receivers_are_tallied_against_the_senders_ledger() {
        let mut sender = Ledger::default();
        let before = sender.next_sent(50);
        let audio = sender.next_sent(150);
        let video = sender.next_sent_video(160);
        let lost_video = sender.next_sent_video(170);
        let probe = |seq, sent_us| Probe {
            peer: 0,
            seq,
            sent_us,
        };
        let mut a = Ledger::default();
        a.received(0, probe(before, 50), 120);
        a.received(0, probe(video, 160), 200);
        a.received(0, probe(video, 160), 205);
        a.received(0, probe(audio, 150), 180);
        a.received(7, probe(audio, 150), 180); // another peer's probe
        a.received(0, probe(99, 150), 180); // never sent
        let mut b = Ledger::default();
        for (seq, sent) in [(audio, 150), (video, 160), (lost_video, 170)] {
            b.received(0, probe(seq, sent), sent + 10);
        }
        let mut t = FanoutTally::default();
        a.tally_received(&sender, 100, 250, &mut t);
        b.tally_received(&sender, 100, 250, &mut t);
        assert_eq!((t.expected, t.lost, t.duplicates), (6, 1, 1));
        assert_eq!((t.expected_video, t.lost_video), (4, 1));
        // a: 120, 200, 205, 180 and the never-sent one at 180; b: 3.
        assert_eq!(t.relayed, 8);
        assert_eq!(t.foreign, 2);
        assert_eq!(t.receivers_with_loss, 1);
        assert!((t.worst_loss_pct - 100.0 / 3.0).abs() < 1e-9);
        let mut l = t.latency_us.clone();
        l.sort_unstable();
        assert_eq!(l, vec![10, 10, 10, 30, 40]);
    }
}
