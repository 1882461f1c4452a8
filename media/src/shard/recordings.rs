//! The shard's recordings (Janus `.mjr`): packets of a recorded stream are appended to its
//! recorder's buffer as they are forwarded; full buffers, and every buffer on a 100 ms
//! tick, go out through [`Shard::drain_recorded`] to the writer thread of `bridge`. No
//! file is touched here.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use str0m::media::{Mid, Rid};

use super::Shard;
use crate::{LegEvent, LegId, RecordChunk, RecordedRtp, Recorder};

/// The deadline-set entry of the flush tick (no leg, source or mixer has this id: handle
/// ids have 53 bits).
pub(super) const FLUSH_TICK: LegId = LegId(u64::MAX);
/// How long bytes may wait in a buffer before they go to the writer.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

impl Shard {
    pub(super) fn add_recorder(&mut self, now: Instant, leg: LegId, mid: Mid, r: Recorder) {
        // A recording id is used once: a second start replaces the first.
        self.stop_recorder(r.id());
        self.recorders.entry((leg, mid)).or_default().push(r);
        if !self.deadline_of.contains_key(&FLUSH_TICK) {
            self.set_deadline(FLUSH_TICK, now + FLUSH_EVERY);
        }
    }

    /// Ends recording `id`: its last bytes go to the writer.
    pub(super) fn stop_recorder(&mut self, id: u64) {
        let mut done = Vec::new();
        self.recorders.retain(|_, list| {
            if let Some(i) = list.iter().position(|r| r.id() == id) {
                done.push(list.swap_remove(i));
            }
            !list.is_empty()
        });
        self.recorded.extend(done.into_iter().map(Recorder::finish));
    }

    /// Pauses or resumes recording `id`.
    pub(super) fn pause_recorder(&mut self, id: u64, paused: bool) {
        if let Some(r) = self.recorders.values_mut().flatten().find(|r| r.id() == id) {
            r.set_paused(paused);
        }
    }

    /// A leg or source that goes ends its recordings.
    pub(super) fn stop_recorders_of(&mut self, leg: LegId) {
        if self.recorders.is_empty() {
            return;
        }
        let mids: Vec<(LegId, Mid)> = self
            .recorders
            .keys()
            .filter(|(l, _)| *l == leg)
            .copied()
            .collect();
        for key in mids {
            if let Some(list) = self.recorders.remove(&key) {
                self.recorded.extend(list.into_iter().map(Recorder::finish));
            }
        }
    }

    /// Recordings on this shard.
    pub fn recorder_count(&self) -> usize {
        self.recorders.values().map(Vec::len).sum()
    }

    /// A packet forwarded from stream `mid` of `leg` (layer `rid`) that arrived at `at`:
    /// into the stream's recordings, if any.
    pub(super) fn record(
        &mut self,
        leg: LegId,
        mid: Mid,
        rid: Option<Rid>,
        at: Instant,
        pkt: &RecordedRtp<'_>,
    ) {
        record_into(
            &mut self.recorders,
            &mut self.recorded,
            (leg, mid),
            rid,
            at,
            pkt,
        );
    }

    /// The flush tick: every buffer with bytes goes to the writer.
    pub(super) fn flush_recorders(&mut self, now: Instant) {
        for r in self.recorders.values_mut().flatten() {
            self.recorded.extend(r.take());
        }
        if !self.recorders.is_empty() {
            self.set_deadline(FLUSH_TICK, now + FLUSH_EVERY);
        }
    }

    /// Recorded bytes for the writer; the I/O loop drains them after each round.
    pub fn drain_recorded(&mut self) -> std::vec::Drain<'_, RecordChunk> {
        self.recorded.drain(..)
    }
}

impl Shard {
    /// The data-channel messages among the events from index `from` on (those `leg` just
    /// reported) into the recordings and forwarders of its data m-line `mid`, if any.
    pub(super) fn leg_data_out(&mut self, now: Instant, leg: LegId, mid: Mid, from: usize) {
        let recorders = self.recorders.get_mut(&(leg, mid));
        let forwarders = self.forwarders.get(&(leg, mid));
        if recorders.is_none() && forwarders.is_none() {
            return;
        }
        let mut recorders = recorders;
        for e in self.events.get(from..).unwrap_or_default() {
            let (true, LegEvent::Data { data, .. }) = (e.leg == leg, &e.event) else {
                continue;
            };
            for r in recorders.iter_mut().flat_map(|list| list.iter_mut()) {
                r.write_data(now, data);
                if r.is_full() {
                    self.recorded.extend(r.take());
                }
            }
            for f in forwarders.into_iter().flatten() {
                f.forward_data(data, &mut self.forwarded);
            }
        }
    }

    /// A message of data stream `mid` of `leg` into its recordings, if any.
    pub(super) fn record_data(&mut self, now: Instant, leg: LegId, mid: Mid, data: &[u8]) {
        let Some(list) = self.recorders.get_mut(&(leg, mid)) else {
            return;
        };
        for r in list.iter_mut() {
            r.write_data(now, data);
            if r.is_full() {
                self.recorded.extend(r.take());
            }
        }
    }
}

/// A packet into the recordings of `key`, if any; full buffers go to `out`. (A free
/// function, so that a caller holding a borrow of another part of the shard can record.)
pub(super) fn record_into(
    recorders: &mut HashMap<(LegId, Mid), Vec<Recorder>>,
    out: &mut Vec<RecordChunk>,
    key: (LegId, Mid),
    rid: Option<Rid>,
    at: Instant,
    pkt: &RecordedRtp<'_>,
) {
    let Some(list) = recorders.get_mut(&key) else {
        return;
    };
    for r in list.iter_mut().filter(|r| r.wants(rid)) {
        r.write_rtp(at, pkt);
        if r.is_full() {
            out.extend(r.take());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::{MediaCommand, MediaKind, MjrInfo, RecordedKind, RtpSource, SourceStream};

    const SOURCE: LegId = LegId(1 << 61 | 5);

    fn shard_with_source(now: Instant) -> (Shard, SocketAddr) {
        let local: SocketAddr = "127.0.0.1:5002".parse().unwrap();
        let stream = SourceStream {
            mid: Mid::from("a"),
            kind: MediaKind::Audio,
            local: Some(local),
            file: None,
            srtp: None,
            pt: Some(111),
            clock_rate: 48_000,
            codec: None,
            data: None,
            rid: None,
            rtcp: None,
        };
        let mut shard = Shard::new();
        let source = RtpSource::new(SOURCE, vec![stream], now);
        shard.handle_command(now, MediaCommand::AddSource(Box::new(source)));
        (shard, local)
    }

    fn recorder(id: u64, now: Instant) -> Box<Recorder> {
        let info = MjrInfo {
            kind: RecordedKind::Audio,
            codec: "opus".into(),
            fmtp: None,
            description: None,
            created_us: 0,
        };
        Box::new(Recorder::new(id, info, None, now))
    }

    fn opus(seq: u16) -> Vec<u8> {
        let mut p = vec![0x80, 111];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&(u32::from(seq) * 960).to_be_bytes());
        p.extend_from_slice(&0xabcdu32.to_be_bytes());
        p.extend_from_slice(&[0xfc; 40]);
        p
    }

    fn frames(bytes: &[u8]) -> usize {
        bytes.windows(4).filter(|w| *w == b"MEET").count()
    }

    #[test]
    fn a_recorded_source_stream_goes_out_on_the_tick_and_ends_on_stop() {
        let t0 = Instant::now();
        let (mut shard, local) = shard_with_source(t0);
        let peer: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        shard.handle_command(
            t0,
            MediaCommand::Record {
                leg: SOURCE,
                mid: Mid::from("a"),
                recorder: recorder(1, t0),
            },
        );
        assert_eq!(shard.recorder_count(), 1);
        for seq in 0..5 {
            shard.handle_datagram(t0, peer, local, &opus(seq));
        }
        assert_eq!(shard.drain_recorded().count(), 0, "nothing before the tick");
        let tick = t0 + FLUSH_EVERY;
        assert!(shard.next_deadline().is_some_and(|d| d <= tick));
        shard.handle_timeout(tick);
        let out: Vec<RecordChunk> = shard.drain_recorded().collect();
        assert_eq!(out.len(), 1);
        assert!(out[0].bytes.starts_with(b"MJR00002") && !out[0].last);
        assert_eq!(frames(&out[0].bytes), 5);
        shard.handle_datagram(tick, peer, local, &opus(5));
        shard.handle_command(tick, MediaCommand::StopRecord { id: 1 });
        let out: Vec<RecordChunk> = shard.drain_recorded().collect();
        assert_eq!(
            (out.len(), out[0].last, frames(&out[0].bytes)),
            (1, true, 1)
        );
        assert_eq!(shard.recorder_count(), 0);
    }

    #[test]
    fn removing_a_source_ends_its_recordings() {
        let t0 = Instant::now();
        let (mut shard, _) = shard_with_source(t0);
        for id in [1, 2] {
            shard.handle_command(
                t0,
                MediaCommand::Record {
                    leg: SOURCE,
                    mid: Mid::from("a"),
                    recorder: recorder(id, t0),
                },
            );
        }
        shard.handle_command(
            t0,
            MediaCommand::RemoveLeg {
                leg: SOURCE,
                close: false,
            },
        );
        let out: Vec<RecordChunk> = shard.drain_recorded().collect();
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|c| c.last && c.bytes == b"MJR00002"));
        // The tick finds nothing left and stops.
        shard.handle_timeout(t0 + FLUSH_EVERY);
        assert_eq!(shard.next_deadline(), None);
    }
}
