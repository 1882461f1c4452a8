//! The Janus HTTP API as the tests use it: a session with one plugin handle and its long
//! poll, and requests answered synchronously or with an event.

use cardea_tests::{transaction, Cardea, EventStream, JanusHttp};
use serde_json::Value;

use super::STEP;

/// A session with one handle attached to `plugin`, and the session's long poll.
pub struct Handle {
    pub janus: JanusHttp,
    pub session: u64,
    pub handle: u64,
    pub plugin: &'static str,
    pub events: EventStream,
}

impl Handle {
    pub async fn attach(cardea: &Cardea, plugin: &'static str) -> Handle {
        let janus = cardea.janus();
        let session = janus.create().await;
        let handle = janus.attach(session, plugin).await;
        let events = janus.events(session);
        Handle {
            janus,
            session,
            handle,
            plugin,
            events,
        }
    }

    /// A request the plugin answers at once: the whole reply (`janus` "success" with
    /// `plugindata`, or an error).
    pub async fn sync_request(&self, body: Value) -> Value {
        self.janus
            .message(self.session, self.handle, &transaction(), body, None)
            .await
    }

    /// An asynchronous request: the ack, then the whole event with the same transaction.
    pub async fn event(&mut self, body: Value, jsep: Option<Value>) -> Value {
        async_request(
            &self.janus,
            &mut self.events,
            self.session,
            self.handle,
            self.plugin,
            body,
            jsep,
        )
        .await
    }

    /// An asynchronous request; returns the answering event's `plugindata.data` (with `jsep`
    /// copied in under `"jsep"` when present).
    pub async fn request(&mut self, body: Value, jsep: Option<Value>) -> Value {
        let event = self.event(body, jsep).await;
        let mut data = event["plugindata"]["data"].clone();
        if let Some(jsep) = event.get("jsep") {
            data["jsep"] = jsep.clone();
        }
        data
    }
}

/// Sends a message to `handle`, checks the ack (and its transaction), and returns the whole
/// event answering it, which must come from `handle` and `plugin`.
pub async fn async_request(
    janus: &JanusHttp,
    events: &mut EventStream,
    session: u64,
    handle: u64,
    plugin: &str,
    body: Value,
    jsep: Option<Value>,
) -> Value {
    let tx = transaction();
    let what = body.to_string();
    let reply = janus.message(session, handle, &tx, body, jsep).await;
    assert_eq!(
        reply["janus"], "ack",
        "{what}: {plugin} answers asynchronously: {reply}"
    );
    assert_eq!(reply["transaction"], tx.as_str(), "{what}: {reply}");
    let event = events
        .wait_for(&format!("the event answering {what}"), STEP, |e| {
            e["janus"] == "event" && e["transaction"] == tx.as_str()
        })
        .await;
    assert_eq!(event["sender"], handle, "{what}: {event}");
    assert_eq!(event["plugindata"]["plugin"], plugin, "{what}: {event}");
    event
}
