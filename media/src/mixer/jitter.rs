//! A participant's jitter buffer: packets by extended sequence number in a small ring,
//! played one after the other at the mixer's pace, with losses reported (so that the
//! decoder can conceal them, or recover them from the next packet's FEC) and the depth
//! kept bounded when the sender's clock runs faster than the mixer's.

/// Slots in the ring: packets further ahead than this restart the buffer.
const SLOTS: usize = 32;
/// Packets held before playing starts (and after an underrun): 40 ms at 20 ms packets.
pub const PREBUFFER: usize = 2;
/// Above this many packets waiting, the oldest are skipped (the sender is ahead).
const MAX_DEPTH: usize = 8;

#[derive(Debug, Default)]
struct Slot {
    seq: Option<u64>,
    data: Vec<u8>,
    /// The sender said the packet is too quiet to matter (its audio level).
    quiet: bool,
}

#[derive(Debug)]
pub struct Jitter {
    slots: Vec<Slot>,
    /// The next sequence number to play, once playing.
    next: Option<u64>,
    count: usize,
    playing: bool,
    /// Packets dropped because they came after their turn.
    pub late: u64,
    /// Turns with no packet while later ones were waiting.
    pub lost: u64,
}

impl Default for Jitter {
    fn default() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Slot::default()).collect(),
            next: None,
            count: 0,
            playing: false,
            late: 0,
            lost: 0,
        }
    }
}

/// What the next turn plays.
#[derive(Debug, PartialEq, Eq)]
pub enum Turn<'a> {
    /// This packet's payload, and whether its sender marked it quiet.
    Packet(&'a [u8], bool),
    /// The packet is missing; `next` is the following one's payload if it is here (its
    /// in-band FEC may carry this one).
    Lost { next: Option<&'a [u8]> },
    /// Nothing to play: not started, or ran dry.
    Nothing,
}

impl Jitter {
    /// Queues packet `seq`; `quiet` when its sender says it is below hearing (the audio
    /// level header extension).
    pub fn push(&mut self, seq: u64, payload: &[u8], quiet: bool) {
        if let Some(next) = self.next.filter(|_| self.playing) {
            if seq < next {
                self.late += 1;
                return;
            }
            if seq >= next + SLOTS as u64 {
                // Far ahead (the sender restarted or jumped): start again from here.
                self.reset();
            }
        }
        let slot = &mut self.slots[(seq % SLOTS as u64) as usize];
        if slot.seq == Some(seq) {
            return; // a duplicate
        }
        if slot.seq.is_none() {
            self.count += 1;
        }
        slot.seq = Some(seq);
        slot.quiet = quiet;
        slot.data.clear();
        slot.data.extend_from_slice(payload);
        if self.next.is_none_or(|n| !self.playing && seq < n) {
            self.next = Some(seq);
        }
    }

    pub fn reset(&mut self) {
        for slot in &mut self.slots {
            slot.seq = None;
        }
        self.count = 0;
        self.next = None;
        self.playing = false;
    }

    /// The next turn's payload. Call [`Self::advance`] after using it.
    pub fn turn(&mut self) -> Turn<'_> {
        if !self.playing {
            if self.count < PREBUFFER {
                return Turn::Nothing;
            }
            self.playing = true;
        }
        while self.count > MAX_DEPTH {
            self.skip();
        }
        let Some(next) = self.next else {
            return Turn::Nothing;
        };
        if self.count == 0 {
            // Ran dry: wait for the buffer to fill again.
            self.playing = false;
            return Turn::Nothing;
        }
        let index = (next % SLOTS as u64) as usize;
        if self.slots[index].seq == Some(next) {
            let slot = &self.slots[index];
            return Turn::Packet(&slot.data, slot.quiet);
        }
        self.lost += 1;
        let after = ((next + 1) % SLOTS as u64) as usize;
        let next_payload =
            (self.slots[after].seq == Some(next + 1)).then_some(&self.slots[after].data[..]);
        Turn::Lost { next: next_payload }
    }

    /// Moves past the turn just taken.
    pub fn advance(&mut self) {
        if let Some(next) = self.next {
            let slot = &mut self.slots[(next % SLOTS as u64) as usize];
            if slot.seq == Some(next) {
                slot.seq = None;
                self.count -= 1;
            }
            self.next = Some(next + 1);
        }
    }

    /// Drops the next packet, or the gap before it.
    fn skip(&mut self) {
        self.advance();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(j: &mut Jitter) -> String {
        let out = match j.turn() {
            Turn::Packet(p, _) => format!("{}", p[0]),
            Turn::Lost { next: Some(p) } => format!("lost<{}", p[0]),
            Turn::Lost { next: None } => "lost".into(),
            Turn::Nothing => "-".into(),
        };
        if out != "-" {
            j.advance();
        }
        out
    }

    #[test]
    fn waits_for_the_prebuffer_then_plays_in_order() {
        let mut j = Jitter::default();
        j.push(11, &[11], false);
        assert_eq!(play(&mut j), "-");
        j.push(10, &[10], false);
        assert_eq!(play(&mut j), "10");
        assert_eq!(play(&mut j), "11");
        assert_eq!(play(&mut j), "-");
    }

    #[test]
    fn reports_a_gap_with_the_following_packet() {
        let mut j = Jitter::default();
        for s in [1u64, 2, 4, 5] {
            j.push(s, &[s as u8], false);
        }
        let turns: Vec<_> = (0..5).map(|_| play(&mut j)).collect();
        assert_eq!(turns, ["1", "2", "lost<4", "4", "5"]);
        assert_eq!(j.lost, 1);
        j.push(3, &[3], false);
        assert_eq!(j.late, 1);
    }

    #[test]
    fn stays_bounded_when_the_sender_runs_ahead() {
        let mut j = Jitter::default();
        for s in 0..20u64 {
            j.push(s, &[s as u8], false);
        }
        let first = play(&mut j);
        assert_eq!(first, "12");
        assert!(j.count <= MAX_DEPTH);
    }

    #[test]
    fn a_jump_far_ahead_restarts() {
        let mut j = Jitter::default();
        j.push(1, &[1], false);
        j.push(2, &[2], false);
        assert_eq!(play(&mut j), "1");
        j.push(1000, &[100], false);
        j.push(1001, &[101], false);
        assert_eq!(play(&mut j), "100");
    }
}
