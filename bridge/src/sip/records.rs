//! Call records: one JSON object per finished call the endpoint routed (who, from where, to
//! where, the rule and route, answer time, duration, how it ended). Written to the log
//! (target `cardea::cdr`) and kept, the latest [`KEPT`], for the Admin API
//! (`list_call_records`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cardea_sip::transaction::ServerKey;
use serde_json::{json, Value};

/// Finished records kept for the Admin API.
pub const KEPT: usize = 1000;
/// Calls followed at once; beyond it the oldest is closed as "not followed".
const ACTIVE_LIMIT: usize = 100_000;
/// An answered call whose BYE we never see (it took another path) is closed after this.
const ANSWERED_LIMIT: Duration = Duration::from_secs(12 * 3600);

/// The finished records, shared with the Admin API.
#[derive(Clone, Default)]
pub struct RecordLog(Arc<Mutex<VecDeque<Value>>>);

impl RecordLog {
    /// The latest `limit` records, newest last.
    pub fn latest(&self, limit: usize) -> Vec<Value> {
        let log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let skip = log.len().saturating_sub(limit);
        log.iter().skip(skip).cloned().collect()
    }

    fn push(&self, record: Value) {
        let mut log = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == KEPT {
            log.pop_front();
        }
        log.push_back(record);
    }
}

/// What is known of a call when it is routed.
pub struct Started {
    pub call_id: String,
    pub caller_tag: String,
    pub caller: String,
    pub origin: String,
    pub source: String,
    pub to: String,
    pub number: String,
    pub rule: String,
    pub route: Value,
}

struct Active {
    started: Started,
    /// Counters of media that flows through Cardea for this call (the echo).
    media: Option<std::sync::Arc<super::echo::Counters>>,
    key: ServerKey,
    at: Instant,
    wall: u64,
    answered: Option<(Instant, u64)>,
}

/// The calls being followed.
#[derive(Default)]
pub struct CallRecords {
    active: HashMap<String, Active>,
    by_key: HashMap<ServerKey, String>,
    pub log: RecordLog,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl CallRecords {
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    pub fn start(&mut self, now: Instant, key: ServerKey, started: Started) {
        if self.active.len() >= ACTIVE_LIMIT {
            if let Some(oldest) = self
                .active
                .iter()
                .min_by_key(|(_, a)| a.at)
                .map(|(k, _)| k.clone())
            {
                self.finish(now, &oldest, None, "not followed (too many calls)");
            }
        }
        self.by_key.insert(key, started.call_id.clone());
        self.active.insert(
            started.call_id.clone(),
            Active {
                started,
                key,
                at: now,
                wall: unix_now(),
                answered: None,
                media: None,
            },
        );
    }

    /// The counters of the media this call sends through Cardea.
    pub fn attach_media(&mut self, call_id: &str, counters: std::sync::Arc<super::echo::Counters>) {
        if let Some(a) = self.active.get_mut(call_id) {
            a.media = Some(counters);
        }
    }

    /// A call refused before anything was forwarded (a dialplan rejection, nobody to
    /// ring): its record at once.
    pub fn refused(
        &mut self,
        now: Instant,
        key: ServerKey,
        started: Started,
        status: u16,
        reason: &str,
    ) {
        let call_id = started.call_id.clone();
        self.start(now, key, started);
        self.finish(now, &call_id, Some(status), &format!("{status} {reason}"));
    }

    /// The final response that went back to the caller.
    pub fn final_response(&mut self, now: Instant, key: &ServerKey, status: u16) {
        let Some(call_id) = self.by_key.get(key).cloned() else {
            return;
        };
        if status < 300 {
            if let Some(a) = self.active.get_mut(&call_id) {
                a.answered.get_or_insert((now, unix_now()));
            }
            self.by_key.remove(key);
        } else {
            let reason = cardea_sip::default_reason(status);
            self.finish(now, &call_id, Some(status), &format!("{status} {reason}"));
        }
    }

    /// A BYE seen for `call_id`, sent by the side whose From tag is `from_tag`.
    pub fn bye(&mut self, now: Instant, call_id: &str, from_tag: Option<&str>) {
        let Some(a) = self.active.get(call_id) else {
            return;
        };
        if a.answered.is_none() {
            return;
        }
        let by = if from_tag == Some(a.started.caller_tag.as_str()) {
            "BYE from the caller"
        } else {
            "BYE from the callee"
        };
        self.finish(now, call_id, Some(200), by);
    }

    /// Closes answered calls never seen to end.
    pub fn expire(&mut self, now: Instant) {
        let stale: Vec<String> = self
            .active
            .iter()
            .filter(|(_, a)| {
                a.answered
                    .is_some_and(|(t, _)| now.duration_since(t) > ANSWERED_LIMIT)
            })
            .map(|(k, _)| k.clone())
            .collect();
        for call_id in stale {
            self.finish(now, &call_id, None, "no BYE seen");
        }
    }

    fn finish(&mut self, now: Instant, call_id: &str, status: Option<u16>, reason: &str) {
        let Some(a) = self.active.remove(call_id) else {
            return;
        };
        self.by_key.remove(&a.key);
        let s = a.started;
        let (answered, duration) = match a.answered {
            Some((t, wall)) => (Some(wall), Some(now.duration_since(t).as_secs_f64())),
            None => (None, None),
        };
        let record = json!({
            "call_id": s.call_id,
            "caller": s.caller,
            "origin": s.origin,
            "source": s.source,
            "dialled": s.to,
            "number": s.number,
            "rule": s.rule,
            "route": s.route,
            "started": a.wall,
            "answered": answered,
            "ended": unix_now(),
            "setup_seconds": a.answered.map(|(t, _)| t.duration_since(a.at).as_secs_f64()),
            "duration_seconds": duration,
            "status": status,
            "end_reason": reason,
            // Proxied calls' media flows between the endpoints, not through Cardea.
            "media": a.media.map_or(Value::Null, |m| m.describe()),
        });
        tracing::info!(target: "cardea::cdr", "{record}");
        self.log.push(record);
    }
}
