//! The SIP plugin's events, shaped as Janus sends them: `{"sip":"event","result":{...}}`,
//! with `call_id` both beside `result` and inside it once a call has one.

use serde_json::{json, Value};

use super::error::SipError;
use crate::{Command, Ctx, HandleId, JsepAction};

pub fn result(event: &str, call_id: Option<&str>, fields: Value) -> Value {
    let mut result = json!({ "event": event });
    if let (Some(obj), Value::Object(extra)) = (result.as_object_mut(), fields) {
        obj.extend(extra);
        if let Some(id) = call_id {
            obj.insert("call_id".into(), id.into());
        }
    }
    let mut data = json!({ "sip": "event", "result": result });
    if let Some(id) = call_id {
        data["call_id"] = id.into();
    }
    data
}

pub fn error(e: &SipError) -> Value {
    json!({ "sip": "event", "error_code": e.code(), "error": e.to_string() })
}

pub fn push(ctx: &mut Ctx, handle: HandleId, transaction: Option<String>, data: Value) {
    ctx.push(Command::PushEvent {
        handle,
        transaction,
        data,
        jsep: None,
    });
}

pub fn push_with_jsep(
    ctx: &mut Ctx,
    handle: HandleId,
    transaction: Option<String>,
    data: Value,
    jsep: JsepAction,
) {
    ctx.push(Command::PushEvent {
        handle,
        transaction,
        data,
        jsep: Some(jsep),
    });
}
