//! Cardea's SIP stack, sans-IO (see DESIGN.md). Its layers land with the sip-stack issue;
//! until then the crate exists so the workspace has its final shape.
#![forbid(unsafe_code)]
