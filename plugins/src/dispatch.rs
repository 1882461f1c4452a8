//! How a Janus plugin answers a `message`: the body's `request` picks a request answered at
//! once (`success` with the plugin data) or one acknowledged and answered by an event with
//! the same transaction. Errors of either kind are plugin data with the plugin's own code.

use serde_json::Value;

use crate::fields::{FieldError, Fields};
use crate::{Command, Ctx, HandleId, Jsep, JsepAction, Message, Reply};

/// A plugin's requests, for [`dispatch`].
pub(crate) trait Requests {
    type Error: From<FieldError>;
    /// Requests answered at once; the others of [`Self::ASYNC`] get an event.
    const SYNC: &'static [&'static str];
    const ASYNC: &'static [&'static str];

    /// Whether the handle is attached to this plugin.
    fn knows(&self, handle: HandleId) -> bool;
    fn error_json(e: &Self::Error) -> Value;
    fn unknown_request(request: &str) -> Self::Error;

    fn sync_request(
        &mut self,
        ctx: &mut Ctx,
        request: &str,
        f: &Fields<'_>,
    ) -> Result<Value, Self::Error>;

    fn async_request(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        request: &str,
        f: &Fields<'_>,
        jsep: Option<Jsep>,
    ) -> Result<(Value, Option<JsepAction>), Self::Error>;
}

/// Answers `message` for plugin `p`. The commands of an asynchronous request run in this
/// order: shard placement first (the answer may build the PeerConnection), then the answer,
/// then what handling queued (notifications, routes, caps, which need the PeerConnection).
pub(crate) fn dispatch<P: Requests>(p: &mut P, ctx: &mut Ctx, message: Message) -> Reply {
    let Message {
        handle,
        transaction,
        body,
        jsep,
    } = message;
    if !p.knows(handle) {
        return Reply::Error("No session associated with this handle".into());
    }
    let parsed = Fields::new(&body).map_err(P::Error::from).and_then(|f| {
        let request = f.required_str("request")?;
        Ok((f, request))
    });
    let (f, request) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return Reply::Sync(P::error_json(&e)),
    };
    if P::SYNC.contains(&request) {
        return Reply::Sync(match p.sync_request(ctx, request, &f) {
            Ok(v) => v,
            Err(e) => P::error_json(&e),
        });
    }
    if !P::ASYNC.contains(&request) {
        return Reply::Sync(P::error_json(&P::unknown_request(request)));
    }
    let before = ctx.commands.len();
    let (data, jsep) = match p.async_request(ctx, handle, request, &f, jsep) {
        Ok(answer) => answer,
        Err(e) => (P::error_json(&e), None),
    };
    let queued: Vec<Command> = ctx.commands.drain(before..).collect();
    let (pins, rest): (Vec<_>, Vec<_>) = queued
        .into_iter()
        .partition(|c| matches!(c, Command::PinShard { .. }));
    ctx.commands.extend(pins);
    ctx.commands.push(Command::PushEvent {
        handle,
        transaction,
        data,
        jsep,
    });
    ctx.commands.extend(rest);
    Reply::Ack
}

/// Implements [`Requests`] for a plugin type whose inherent `answer_now` and
/// `answer_later` answer its requests, with module-level `SYNC`, `ASYNC` and `error_json`,
/// a `handles` set, and an error type with `InvalidRequest(String)`.
macro_rules! requests {
    ($plugin:ty, $error:ident) => {
        impl $crate::dispatch::Requests for $plugin {
            type Error = $error;
            const SYNC: &'static [&'static str] = &SYNC;
            const ASYNC: &'static [&'static str] = &ASYNC;

            fn knows(&self, handle: $crate::HandleId) -> bool {
                self.handles.contains(&handle)
            }

            fn error_json(e: &$error) -> serde_json::Value {
                error_json(e)
            }

            fn unknown_request(request: &str) -> $error {
                $error::InvalidRequest(request.to_owned())
            }

            fn sync_request(
                &mut self,
                ctx: &mut $crate::Ctx,
                request: &str,
                f: &$crate::fields::Fields<'_>,
            ) -> Result<serde_json::Value, $error> {
                self.answer_now(ctx, request, f)
            }

            fn async_request(
                &mut self,
                ctx: &mut $crate::Ctx,
                handle: $crate::HandleId,
                request: &str,
                f: &$crate::fields::Fields<'_>,
                jsep: Option<$crate::Jsep>,
            ) -> Result<(serde_json::Value, Option<$crate::JsepAction>), $error> {
                self.answer_later(ctx, handle, request, f, jsep)
            }
        }
    };
}
pub(crate) use requests;

/// Pushes event `data` to `handle`'s session, without JSEP.
pub fn push(
    ctx: &mut crate::Ctx,
    handle: crate::HandleId,
    transaction: Option<String>,
    data: serde_json::Value,
) {
    ctx.push(crate::Command::PushEvent {
        handle,
        transaction,
        data,
        jsep: None,
    });
}

#[cfg(test)]
pub mod test_support {
    use serde_json::Value;

    use crate::{Command, Ctx, HandleId, Jsep, JsepAction, Message, Plugin, Reply};

    /// Sends a synchronous request on `handle` (attaching it first); returns its answer.
    pub fn sync(p: &mut dyn Plugin, ctx: &mut Ctx, handle: HandleId, body: Value) -> Value {
        p.create_session(handle).ok();
        let reply = p.handle_message(
            ctx,
            Message {
                handle,
                transaction: Some("t".into()),
                body,
                jsep: None,
            },
        );
        match reply {
            Reply::Sync(v) => v,
            other => panic!("not sync: {other:?}"),
        }
    }

    /// Sends an async request on `handle` (attaching it first); returns the answering
    /// event's data and JSEP action.
    pub fn event(
        p: &mut dyn Plugin,
        ctx: &mut Ctx,
        handle: HandleId,
        body: Value,
        jsep: Option<Jsep>,
    ) -> (Value, Option<JsepAction>) {
        p.create_session(handle).ok();
        let before = ctx.commands.len();
        let reply = p.handle_message(
            ctx,
            Message {
                handle,
                transaction: Some("a".into()),
                body,
                jsep,
            },
        );
        assert!(matches!(reply, Reply::Ack), "not acknowledged: {reply:?}");
        ctx.commands[before..]
            .iter()
            .find_map(|c| match c {
                Command::PushEvent {
                    handle: h,
                    transaction: Some(t),
                    data,
                    jsep,
                } if *h == handle && t == "a" => Some((data.clone(), jsep.clone())),
                _ => None,
            })
            .expect("an answer event")
    }
}
