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
pub enum Sink {
    Ws {
        conn: ConnId,
        tx: mpsc::UnboundedSender<Value>,
    },
    LongPoll {
        queue: VecDeque<Value>,
        waiter: Option<(usize, oneshot::Sender<Vec<Value>>)>,
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
        let batch: Vec<Value> = queue.drain(..n).collect();
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
