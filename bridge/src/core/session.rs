//! Sessions and handles as the core keeps them, and where a session's events go.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use cardea_media::LegStats;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// Identifies one transport connection (a WebSocket) for ownership and cleanup.
pub type ConnId = u64;

/// Most events a long-poll queue keeps for a client that stopped polling.
const QUEUE_LIMIT: usize = 1000;

/// Where a session's events are delivered: its WebSocket, or a queue read by long polls.
/// A long-poll queue keeps its events as JSON text: a tenth of the memory of the parsed
/// tree, for clients that poll slowly or not at all.
pub enum Sink {
    Ws {
        conn: ConnId,
        tx: mpsc::UnboundedSender<Value>,
    },
    LongPoll {
        queue: VecDeque<String>,
        waiter: Option<(usize, oneshot::Sender<Vec<String>>)>,
    },
    /// The WebSocket went away; events wait for a `claim` within the reclaim timeout.
    Orphaned { since: Instant },
}

impl Sink {
    pub fn long_poll() -> Self {
        Sink::LongPoll {
            queue: VecDeque::new(),
            waiter: None,
        }
    }

    pub fn transport_name(&self) -> &'static str {
        match self {
            Sink::Ws { .. } => "janus.transport.websockets",
            Sink::LongPoll { .. } => "janus.transport.http",
            Sink::Orphaned { .. } => "none",
        }
    }

    pub fn push(&mut self, event: Value) {
        match self {
            Sink::Ws { tx, .. } => {
                let _ = tx.send(event);
            }
            Sink::LongPoll { .. } => self.push_text(event.to_string()),
            Sink::Orphaned { .. } => {}
        }
    }

    /// An event already serialized (one that was queued for a long poll).
    pub fn push_text(&mut self, event: String) {
        match self {
            Sink::Ws { tx, .. } => {
                if let Ok(v) = serde_json::from_str(&event) {
                    let _ = tx.send(v);
                }
            }
            Sink::LongPoll { queue, .. } => {
                if queue.len() >= QUEUE_LIMIT {
                    queue.pop_front();
                }
                queue.push_back(event);
                self.flush();
            }
            Sink::Orphaned { .. } => {}
        }
    }

    /// Hands queued events to a waiting long poll, if there is one.
    pub fn flush(&mut self) {
        let Sink::LongPoll { queue, waiter } = self else {
            return;
        };
        if queue.is_empty() {
            return;
        }
        let Some((maxev, tx)) = waiter.take() else {
            return;
        };
        let n = maxev.min(queue.len());
        let batch: Vec<String> = queue.drain(..n).collect();
        if let Err(batch) = tx.send(batch) {
            // The poller gave up (its 30 s passed): keep the events for the next one.
            for e in batch.into_iter().rev() {
                queue.push_front(e);
            }
        }
    }
}

pub struct Session {
    pub id: u64,
    pub last_activity: Instant,
    /// Set by the Admin API's per-session set_session_timeout.
    pub timeout: Option<u64>,
    pub sink: Sink,
    pub handles: BTreeSet<u64>,
}

/// The WebRTC side of a handle, as the control plane knows it.
#[derive(Default)]
pub struct Pc {
    pub shard: usize,
    pub local_sdp: Option<String>,
    pub remote_sdp: Option<String>,
    pub webrtc_up: bool,
    pub ice_state: &'static str,
    pub stats: Option<Box<LegStats>>,
}

pub struct Handle {
    pub session: u64,
    pub plugin: usize,
    pub opaque_id: Option<String>,
    pub created: Instant,
    pub pc: Option<Pc>,
    pub trickles: u64,
    /// The media shard the plugin chose for the handle (a room's legs share one).
    pub shard: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_long_poll_queue_keeps_text_bounded_and_hands_it_out_in_order() {
        let mut sink = Sink::long_poll();
        for i in 0..QUEUE_LIMIT + 5 {
            sink.push(json!({ "janus": "event", "n": i }));
        }
        let (tx, mut rx) = oneshot::channel();
        if let Sink::LongPoll { waiter, queue } = &mut sink {
            assert_eq!(queue.len(), QUEUE_LIMIT, "the oldest are dropped");
            *waiter = Some((3, tx));
        }
        sink.flush();
        let got = rx.try_recv().expect("a batch");
        assert_eq!(got.len(), 3);
        let first: Value = serde_json::from_str(&got[0]).expect("JSON text");
        assert_eq!(first, json!({ "janus": "event", "n": 5 }));
        // Text moved to a WebSocket becomes an event again.
        let (ws, mut out) = mpsc::unbounded_channel();
        let mut moved = Sink::Ws { conn: 1, tx: ws };
        moved.push_text(got[1].clone());
        assert_eq!(
            out.try_recv().ok(),
            Some(json!({ "janus": "event", "n": 6 }))
        );
    }
}
