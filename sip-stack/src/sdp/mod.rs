//! SDP for the SIP side (RFC 8866, offer/answer per RFC 3264), sans-IO.
//!
//! - [`SessionDescription`]: a body parsed into session lines and [`MediaSection`]s that keep
//!   every line as written, unknown ones included, and write back byte for byte where
//!   unchanged; typed views for `o=`, `c=`, rtpmap, fmtp, ptime, direction, rtcp (RFC 3605),
//!   rtcp-mux, crypto (RFC 4568) and telephone-event (RFC 4733).
//! - [`sip_offer_from_webrtc`]: a browser offer → a clean `RTP/AVP` (or `RTP/SAVP`) SIP
//!   offer mirroring the browser's codecs; [`SipOffer::read_answer`] reads the PBX's answer
//!   into a [`SipMediaAnswer`] (remote addresses, PT map, browser answer constraints).
//! - [`read_sip_offer`]: a PBX offer → per m-line [`SipMedia`] for building the browser
//!   offer; [`sip_answer_from_webrtc`] builds the SIP answer from the browser's answer.
//! - [`SessionDescription::hold`] / [`SessionDescription::resume`] /
//!   [`SessionDescription::bump_version`]: re-offers (RFC 3264 §8).
//!
//! The browser side's SDP is made by the WebRTC leg, not here (DESIGN.md).

mod attributes;
mod error;
mod model;
mod sip_media;
mod sip_to_webrtc;
mod webrtc_to_sip;

pub use attributes::{Codec, Crypto, Direction, Fmtp, Rtcp, Rtpmap, WEBRTC_ONLY_ENCODINGS};
pub use error::SdpError;
pub use model::{
    Attribute, Connection, Line, LineEnd, MediaSection, Origin, SessionDescription, MAX_SDP_BYTES,
    MAX_SDP_LINES,
};
pub use sip_media::{read_sip_offer, PtPair, SipMedia};
pub use sip_to_webrtc::{sip_answer_from_webrtc, AnswerMapping, SipAnswer, SipAnswerConfig};
pub use webrtc_to_sip::{
    sip_offer_from_webrtc, AnsweredMedia, BrowserAnswerConstraints, LocalMedia, LocalSdp,
    OfferedMedia, SipMediaAnswer, SipOffer, SipOfferConfig, WEBRTC_ONLY_ATTRIBUTES,
};
