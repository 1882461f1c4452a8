//! Cardea's dialplan: YAML routing rules compiled into `route(call) -> decision`.
//! The rules land with the appliance issue; the crate exists so the workspace has its final shape.
#![forbid(unsafe_code)]
