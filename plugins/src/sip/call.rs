//! One call per handle, as in Janus: `call` (INVITE out, RFC 3261 §13.2), `accept` /
//! `decline` of an incoming INVITE (§13.3), `hangup` (CANCEL or BYE, §9, §15), INFO
//! (RFC 6086, DTMF as `application/dtmf-relay`), and the SIP peer's requests in the
//! dialog. The UA state machine is `cardea_sip::ua::InviteSession`; this module turns its
//! events into Janus events and sets up the media bridge.

use bytes::Bytes;
use cardea_media::rtp_leg::{CryptoAttribute, RtpLegEvent};
use cardea_sip::sdp::{
    read_sip_offer, sip_answer_from_webrtc, sip_offer_from_webrtc, BrowserAnswerConstraints, Codec,
    Crypto, Direction as SdpDirection, LocalMedia, LocalSdp, Origin, SessionDescription, SipMedia,
    SipOffer,
};
use cardea_sip::transaction::{Destination, ServerKey, Timers};
use cardea_sip::typed::{CallId, From as FromHeader, NameAddr};
use cardea_sip::ua::{
    AnswerConfig, CallConfig, InviteSession, Local, Outgoing, SessionEvent, SessionState,
};
use cardea_sip::{Header, HeaderName, Method, Request, Response, Uri};
use serde_json::json;
use std::net::SocketAddr;

use super::error::SipError;
use super::events;
use super::recording::RecordedCodec;
use super::request::Body;
use super::sdp::{media_kind, offers_video, restrict_offer, rtp_configs};
use super::srtp::{self, SrtpPolicy};
use super::Session;
use crate::api::{OfferCodec, OfferMedia, RtpPorts, SipOut};
use crate::{Command, Ctx, HandleId, Jsep, JsepAction, JsepType};

/// Session timers (RFC 4028) offered and accepted: RFC 4028's recommended 30 minutes, so
/// a call whose peer vanished without BYE ends by itself.
const SESSION_EXPIRES: u32 = 1800;

/// Default length of a `dtmf_info` key press (Janus: 160 ms).
const DTMF_DURATION_MS: u64 = 160;

enum Direction {
    /// `call`: the browser's offer, and our SIP offer once the RTP ports are open.
    Outgoing {
        uri: Uri,
        browser_offer: String,
        headers: Vec<(String, String)>,
        srtp: Option<SrtpPolicy>,
        /// Our SDES keys per kind, once offered.
        keys: Vec<(crate::MediaKind, CryptoAttribute)>,
        sip_offer: Option<SipOffer>,
        /// The browser got its answer (with early media or on 200).
        browser_answered: bool,
    },
    /// An INVITE from the SIP side, with its offer.
    Incoming {
        sip_offer: Option<SessionDescription>,
        caller: String,
        displayname: Option<String>,
        callee: String,
    },
}

pub struct Call {
    direction: Direction,
    /// `None` until the INVITE is built (outgoing: after the RTP ports open).
    invite: Option<InviteSession>,
    call_id: String,
    /// The transaction of the request being served (events carry it).
    transaction: Option<String>,
    rtp: Option<RtpPorts>,
    /// A `hangup` came before the INVITE left.
    hung_up: bool,
    /// Our last SDP toward the SIP peer (offer or answer): the base of hold re-offers.
    local_sdp: Option<SessionDescription>,
    /// The payload types the browser may use per m-line (the bridged codecs): a browser
    /// re-offer (`update`) is answered within them.
    browser_keep: Vec<BrowserAnswerConstraints>,
    /// The codec negotiated for each kind of media: what a recording is in.
    pub(super) recorded_codecs: Vec<RecordedCodec>,
    /// The streams being recorded (`user-audio`...) and their files.
    pub(super) recording: Vec<(&'static str, String)>,
}

impl Call {
    pub fn status(&self) -> &'static str {
        self.invite.as_ref().map_or("calling", |i| i.state().name())
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    pub fn is_recording(&self, mid: &str) -> bool {
        self.recording.iter().any(|(m, _)| *m == mid)
    }

    /// Whether the call is under way: placed or ringing (early media) or established,
    /// neither ended nor ending.
    pub fn is_live(&self) -> bool {
        self.invite.as_ref().is_some_and(|i| {
            !matches!(
                i.state(),
                SessionState::Terminating | SessionState::Terminated { .. }
            )
        })
    }
}

/// Notes in `list` the codec negotiated for `kind` (the SIP side's; the browser's is the
/// same, nothing is transcoded).
fn note_codec(list: &mut Vec<RecordedCodec>, kind: crate::MediaKind, codec: Option<&Codec>) {
    let Some(c) = codec else {
        return;
    };
    list.retain(|r| r.kind != kind);
    list.push(RecordedCodec {
        kind,
        name: c.encoding.to_ascii_lowercase(),
        fmtp: c.fmtp.clone(),
    });
}

fn no_call() -> SipError {
    SipError::WrongState("no call in progress".into())
}

pub fn call(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    _local: &Local,
    body: &Body<'_>,
    jsep: Option<Jsep>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    if session.account.is_none() {
        return Err(SipError::WrongState("register first".into()));
    }
    if session.call.is_some() {
        return Err(SipError::WrongState("already in a call".into()));
    }
    let target = body.required_str("uri")?;
    let uri = Uri::parse(target)
        .ok()
        .filter(|u| u.as_sip().is_some())
        .ok_or_else(|| SipError::InvalidAddress(format!("invalid uri {target}")))?;
    let jsep = jsep.ok_or(SipError::MissingSdp)?;
    if jsep.kind != JsepType::Offer {
        return Err(SipError::InvalidElement("a call needs a JSEP offer".into()));
    }
    let srtp = srtp::policy(body)?;
    let headers = body.headers()?;
    let video = offers_video(&jsep.sdp);
    session.call = Some(Call {
        direction: Direction::Outgoing {
            uri,
            browser_offer: jsep.sdp,
            headers,
            srtp,
            keys: Vec::new(),
            sip_offer: None,
            browser_answered: false,
        },
        invite: None,
        call_id: String::new(),
        transaction,
        rtp: None,
        hung_up: false,
        local_sdp: None,
        browser_keep: Vec::new(),
        recorded_codecs: Vec::new(),
        recording: Vec::new(),
    });
    ctx.push(Command::OpenRtp { handle, video });
    Ok(())
}

/// The RTP leg is open: an outgoing call sends its INVITE, an incoming one offers the
/// browser the SIP peer's codecs.
pub fn rtp_opened(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    ports: Result<RtpPorts, String>,
) {
    let Some(call) = session.call.as_mut() else {
        ctx.push(Command::CloseRtp { handle });
        return;
    };
    let ports = match ports {
        Ok(p) => p,
        Err(e) => {
            let transaction = call.transaction.clone();
            events::push(
                ctx,
                handle,
                transaction.clone(),
                events::error(&SipError::Io(e)),
            );
            abort(ctx, handle, session, 503, "No RTP ports", transaction);
            return;
        }
    };
    call.rtp = Some(ports);
    if call.hung_up {
        let transaction = call.transaction.clone();
        abort(ctx, handle, session, 487, "Request Terminated", transaction);
        return;
    }
    let result = match &call.direction {
        Direction::Outgoing { .. } => send_invite(ctx, handle, session, ports),
        Direction::Incoming { .. } => offer_browser(ctx, handle, session),
    };
    if let Err(e) = result {
        let transaction = session.call.as_ref().and_then(|c| c.transaction.clone());
        events::push(ctx, handle, transaction.clone(), events::error(&e));
        abort(
            ctx,
            handle,
            session,
            488,
            "Not Acceptable Here",
            transaction,
        );
    }
}

fn local_sdp(
    ports: &RtpPorts,
    audio_crypto: Option<Crypto>,
    video_crypto: Option<Crypto>,
) -> LocalSdp {
    LocalSdp {
        origin: Origin::new(rand::random::<u32>().into(), 1, ports.ip),
        address: ports.ip,
        audio: Some(LocalMedia {
            port: ports.audio.0.port(),
            crypto: audio_crypto,
        }),
        video: ports.video.map(|v| LocalMedia {
            port: v.0.port(),
            crypto: video_crypto,
        }),
        rtcp_mux: false,
    }
}

fn send_invite(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    ports: RtpPorts,
) -> Result<(), SipError> {
    let account = session.account.as_ref().ok_or_else(no_call)?;
    let call = session.call.as_mut().ok_or_else(no_call)?;
    let Direction::Outgoing {
        uri,
        browser_offer,
        headers,
        srtp: policy,
        keys,
        sip_offer,
        ..
    } = &mut call.direction
    else {
        return Err(no_call());
    };
    let browser = SessionDescription::parse(browser_offer.as_bytes())
        .map_err(|e| SipError::InvalidSdp(e.to_string()))?;
    let (audio_crypto, video_crypto) = match policy {
        Some(p) => {
            let (a, a_sdp) = srtp::generate(1, p.suite)?;
            let (v, v_sdp) = srtp::generate(1, p.suite)?;
            *keys = vec![(crate::MediaKind::Audio, a), (crate::MediaKind::Video, v)];
            (Some(a_sdp), Some(v_sdp))
        }
        None => (None, None),
    };
    let mut offer = sip_offer_from_webrtc(&browser, &local_sdp(&ports, audio_crypto, video_crypto))
        .map_err(|e| SipError::InvalidSdp(e.to_string()))?;
    if policy.is_some_and(|p| !p.mandatory) {
        // sdes_optional: plain RTP/AVP that carries keys; a peer may answer without.
        for m in offer.sdp.media_mut() {
            if m.proto() == "RTP/SAVP" {
                m.set_proto("RTP/AVP");
            }
        }
        for m in &mut offer.media {
            m.secure = false;
        }
    }
    let config = CallConfig {
        local: account.local.clone(),
        from: account.identity.clone(),
        to: NameAddr::new(uri.clone()),
        target: None,
        contact: account.contact.clone(),
        routes: account.routes(),
        credentials: account.credentials.clone(),
    };
    let mut invite = InviteSession::call(config, Bytes::from(offer.sdp.to_text()));
    invite.enable_session_timer(SESSION_EXPIRES);
    call.local_sdp = Some(offer.sdp.clone());
    *sip_offer = Some(offer);
    call.call_id = invite.call_id().to_owned();
    let extra = std::mem::take(headers);
    // The client's extra headers ride on the first INVITE.
    let mut first = true;
    while let Some(out) = invite.poll_output() {
        let out = match out {
            Outgoing::Request(mut r) if first => {
                first = false;
                add_headers(&mut r, &extra);
                Outgoing::Request(r)
            }
            other => other,
        };
        send(ctx, handle, out);
    }
    call.invite = Some(invite);
    let data = events::result("calling", Some(&call.call_id), json!({}));
    events::push(ctx, handle, call.transaction.clone(), data);
    drive(ctx, handle, session);
    Ok(())
}

fn add_headers(request: &mut Request, headers: &[(String, String)]) {
    let at = request
        .headers
        .iter()
        .position(|h| *h.name() == HeaderName::ContentLength)
        .unwrap_or(request.headers.len());
    for (i, (name, value)) in headers.iter().enumerate() {
        request
            .headers
            .insert(at + i, Header::new(HeaderName::parse(name), value));
    }
}

/// An incoming call's ports are open: offer the browser the SIP peer's codecs.
fn offer_browser(ctx: &mut Ctx, handle: HandleId, session: &mut Session) -> Result<(), SipError> {
    let call = session.call.as_mut().ok_or_else(no_call)?;
    let Direction::Incoming {
        sip_offer,
        caller,
        displayname,
        callee,
    } = &call.direction
    else {
        return Err(no_call());
    };
    let media = match sip_offer {
        Some(sdp) => read_sip_offer(sdp).map_err(|e| SipError::InvalidSdp(e.to_string()))?,
        None => {
            return Err(SipError::InvalidSdp(
                "offerless INVITEs are not supported yet".into(),
            ))
        }
    };
    let offer: Vec<OfferMedia> = media.iter().filter_map(offer_media).collect();
    if offer.is_empty() {
        return Err(SipError::InvalidSdp(
            "no codec in the SIP offer that a browser speaks".into(),
        ));
    }
    let keep = offer
        .iter()
        .enumerate()
        .map(|(i, m)| BrowserAnswerConstraints {
            browser_index: i,
            keep_pts: m.codecs.iter().map(|c| c.pt).collect(),
            direction: SdpDirection::SendRecv,
        })
        .collect();
    let data = events::result(
        "incomingcall",
        Some(&call.call_id),
        json!({ "username": caller, "displayname": displayname, "callee": callee }),
    );
    events::push_with_jsep(
        ctx,
        handle,
        None,
        data,
        JsepAction::Offer {
            media: offer,
            later: Vec::new(),
            data: false,
        },
    );
    call.browser_keep = keep;
    Ok(())
}

/// The codecs of one SIP m-line a browser can take without transcoding.
fn offer_media(m: &SipMedia) -> Option<OfferMedia> {
    if m.is_rejected() {
        return None;
    }
    let kind = media_kind(&m.kind)?;
    let codecs: Vec<OfferCodec> = m
        .codecs
        .iter()
        .filter(|c| {
            let name = c.encoding.to_ascii_lowercase();
            match kind {
                crate::MediaKind::Audio => matches!(
                    name.as_str(),
                    "opus" | "g722" | "pcmu" | "pcma" | "telephone-event"
                ),
                crate::MediaKind::Video => matches!(name.as_str(), "vp8" | "vp9" | "h264" | "av1"),
            }
        })
        .map(|c| OfferCodec {
            pt: c.pt,
            name: c.encoding.clone(),
            clock_rate: c.clock_rate,
            channels: c.channels,
            fmtp: c.fmtp.clone(),
            rtx: None,
        })
        .collect();
    codecs
        .iter()
        .any(|c| !c.name.eq_ignore_ascii_case("telephone-event"))
        .then_some(OfferMedia {
            kind,
            codecs,
            send_only: false,
        })
}

pub fn accept(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    _body: &Body<'_>,
    jsep: Option<Jsep>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let call = session.call.as_mut().ok_or_else(no_call)?;
    let Direction::Incoming { sip_offer, .. } = &call.direction else {
        return Err(SipError::WrongState("not an incoming call".into()));
    };
    let ports = call
        .rtp
        .ok_or_else(|| SipError::WrongState("media not ready".into()))?;
    let invite = call.invite.as_mut().ok_or_else(no_call)?;
    if !matches!(
        invite.state(),
        SessionState::Proceeding | SessionState::Early
    ) {
        return Err(SipError::WrongState(format!(
            "call is {}",
            invite.state().name()
        )));
    }
    let jsep = jsep.ok_or(SipError::MissingSdp)?;
    if jsep.kind != JsepType::Answer {
        return Err(SipError::InvalidElement(
            "accept needs a JSEP answer".into(),
        ));
    }
    let offer = sip_offer.as_ref().ok_or(SipError::MissingSdp)?;
    let browser = SessionDescription::parse(jsep.sdp.as_bytes())
        .map_err(|e| SipError::InvalidSdp(e.to_string()))?;
    let media = read_sip_offer(offer).map_err(|e| SipError::InvalidSdp(e.to_string()))?;
    // SDES: answer each offered key with one of ours of the same suite and tag.
    let mut keys = Vec::new();
    let mut crypto = [None, None];
    for m in media
        .iter()
        .filter(|m| !m.is_rejected() && !m.crypto.is_empty())
    {
        let Some(kind) = media_kind(&m.kind) else {
            continue;
        };
        let theirs = srtp::peer_key(m, None)
            .ok_or_else(|| SipError::TooStrict("the SIP peer's SRTP keys are unusable".into()))?;
        let (ours, ours_sdp) = srtp::generate(theirs.tag, theirs.key.suite())?;
        crypto[usize::from(kind == crate::MediaKind::Video)] = Some(ours_sdp);
        keys.push((kind, srtp::keys(&ours, &theirs)));
    }
    let [audio_crypto, video_crypto] = crypto;
    let answer = sip_answer_from_webrtc(
        offer,
        &browser,
        &local_sdp(&ports, audio_crypto, video_crypto),
    )
    .map_err(|e| SipError::InvalidSdp(e.to_string()))?;
    ctx.push(Command::AcceptAnswer {
        handle,
        answer: jsep.sdp,
    });
    let mut noted = Vec::new();
    for mapping in answer.media.iter().filter(|m| m.accepted) {
        let Some(sip) = media.get(mapping.sip_index) else {
            continue;
        };
        let Some(kind) = media_kind(&sip.kind) else {
            continue;
        };
        let pairs: Vec<(u8, u8)> = mapping.pt_map.iter().map(|p| p.as_tuple()).collect();
        let Ok(pt_map) = cardea_media::rtp_leg::PtMap::new(&pairs) else {
            continue;
        };
        let codec = sip
            .codecs
            .iter()
            .find(|c| pairs.iter().any(|(_, s)| *s == c.pt) && c.is_media());
        let clock_rate = codec.map_or(8000, |c| c.clock_rate);
        note_codec(&mut noted, kind, codec);
        ctx.push(Command::ConfigureRtp {
            handle,
            config: crate::RtpConfig {
                kind,
                remote_rtp: sip.remote_rtp,
                remote_rtcp: sip.remote_rtcp,
                pt_map,
                telephone_event: mapping.telephone_event,
                clock_rate,
                srtp: keys
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map(|(_, k)| k.clone()),
            },
        });
    }
    ctx.push(Command::BridgeRtp {
        handle,
        enabled: true,
    });
    invite
        .answer(ctx.now, Bytes::from(answer.sdp.to_text()))
        .map_err(|e| SipError::Stack(e.to_string()))?;
    call.local_sdp = Some(answer.sdp);
    call.recorded_codecs = noted;
    call.transaction = transaction.clone();
    // Janus says `accepted` at once when `accept` brings the answer.
    let data = events::result("accepted", Some(&call.call_id), json!({}));
    events::push(ctx, handle, transaction, data);
    drive(ctx, handle, session);
    Ok(())
}

pub fn decline(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    body: &Body<'_>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let code = body.u64("code")?.unwrap_or(486);
    let code = u16::try_from(code)
        .ok()
        .filter(|c| (300..=699).contains(c))
        .ok_or_else(|| SipError::InvalidElement(format!("invalid SIP response code {code}")))?;
    let call = session.call.as_mut().ok_or_else(no_call)?;
    if !matches!(call.direction, Direction::Incoming { .. }) {
        return Err(SipError::WrongState("not an incoming call".into()));
    }
    let invite = call.invite.as_mut().ok_or_else(no_call)?;
    invite
        .reject(code, None)
        .map_err(|e| SipError::WrongState(e.to_string()))?;
    call.transaction = transaction.clone();
    let data = events::result("declining", Some(&call.call_id), json!({ "code": code }));
    events::push(ctx, handle, transaction, data);
    drive(ctx, handle, session);
    Ok(())
}

pub fn hangup(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let call = session.call.as_mut().ok_or_else(no_call)?;
    call.transaction = transaction.clone();
    let data = events::result("hangingup", Some(&call.call_id), json!({}));
    events::push(ctx, handle, transaction, data);
    match call.invite.as_mut() {
        None => call.hung_up = true,
        Some(invite) => {
            if invite.hangup().is_err() {
                // Already ending: nothing more to send.
                return Ok(());
            }
            drive(ctx, handle, session);
        }
    }
    Ok(())
}

/// `update` with a browser re-offer (an ICE restart, a renegotiation): answered within the
/// codecs already bridged, so the SIP side needs no change.
pub fn update(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    jsep: Option<Jsep>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let call = session.call.as_mut().ok_or_else(no_call)?;
    let confirmed = call
        .invite
        .as_ref()
        .is_some_and(|i| *i.state() == SessionState::Confirmed);
    if !confirmed || call.browser_keep.is_empty() {
        return Err(SipError::WrongState("the call is not established".into()));
    }
    let jsep = jsep.ok_or(SipError::MissingSdp)?;
    if jsep.kind != JsepType::Offer {
        return Err(SipError::InvalidElement("update needs a JSEP offer".into()));
    }
    let keep: Vec<&BrowserAnswerConstraints> = call.browser_keep.iter().collect();
    let restricted = restrict_offer(&jsep.sdp, &keep).map_err(SipError::InvalidSdp)?;
    let data = events::result("updated", Some(&call.call_id), json!({}));
    events::push_with_jsep(
        ctx,
        handle,
        transaction,
        data,
        JsepAction::AnswerOffer { offer: restricted },
    );
    Ok(())
}

/// `hold` / `unhold`: a re-INVITE toward the SIP peer with our last SDP, its direction
/// changed (RFC 3264 §8.4); the browser side is not renegotiated (as Janus).
pub fn hold(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    body: &Body<'_>,
    transaction: Option<String>,
    hold: bool,
) -> Result<(), SipError> {
    let direction = match body.str("direction")? {
        None | Some("sendonly") => SdpDirection::SendOnly,
        Some("recvonly") => SdpDirection::RecvOnly,
        Some("inactive") => SdpDirection::Inactive,
        Some(other) => {
            return Err(SipError::InvalidElement(format!(
                "direction should be sendonly, recvonly or inactive, not {other}"
            )))
        }
    };
    let call = session.call.as_mut().ok_or_else(no_call)?;
    let invite = call.invite.as_mut().ok_or_else(no_call)?;
    let mut sdp = call
        .local_sdp
        .clone()
        .ok_or_else(|| SipError::WrongState("no media negotiated yet".into()))?;
    if hold {
        sdp.set_direction(direction);
    } else {
        sdp.set_direction(SdpDirection::SendRecv);
    }
    sdp.bump_version()
        .map_err(|e| SipError::InvalidSdp(e.to_string()))?;
    invite
        .reinvite(Bytes::from(sdp.to_text()))
        .map_err(|e| SipError::WrongState(e.to_string()))?;
    call.local_sdp = Some(sdp);
    call.transaction = transaction.clone();
    let name = if hold { "holding" } else { "resuming" };
    let mut fields = json!({});
    if hold {
        fields["direction"] = direction.name().into();
    }
    events::push(
        ctx,
        handle,
        transaction,
        events::result(name, Some(&call.call_id), fields),
    );
    drive(ctx, handle, session);
    Ok(())
}

pub fn dtmf_info(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    body: &Body<'_>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let digit = body.required_str("digit")?;
    let valid = digit.len() == 1
        && cardea_media::rtp_leg::event_of(digit.chars().next().unwrap_or(' ')).is_ok();
    if !valid {
        return Err(SipError::InvalidElement(format!("invalid digit {digit}")));
    }
    let duration = body.u64("duration")?.unwrap_or(DTMF_DURATION_MS);
    let content = format!("Signal={digit}\r\nDuration={duration}\r\n");
    send_in_call(
        ctx,
        handle,
        session,
        transaction,
        "dtmfsent",
        no_call,
        |invite| invite.info("application/dtmf-relay", Bytes::from(content)),
    )
}

/// Sends a request in the call's dialog with `send`, then tells the client `event`.
fn send_in_call(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    transaction: Option<String>,
    event: &str,
    not_in_call: fn() -> SipError,
    send: impl FnOnce(&mut InviteSession) -> Result<(), cardea_sip::ua::UaError>,
) -> Result<(), SipError> {
    let call = session.call.as_mut().ok_or_else(not_in_call)?;
    let invite = call.invite.as_mut().ok_or_else(not_in_call)?;
    send(invite).map_err(|e| SipError::WrongState(e.to_string()))?;
    let data = events::result(event, Some(&call.call_id), json!({}));
    events::push(ctx, handle, transaction, data);
    drive(ctx, handle, session);
    Ok(())
}

/// `message` inside the call's dialog (RFC 3428 allows MESSAGE in a dialog).
pub fn message(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    content_type: &str,
    content: &str,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let not_in_call =
        || SipError::WrongState("not in a call: give a uri to send outside a call".into());
    send_in_call(
        ctx,
        handle,
        session,
        transaction,
        "messagesent",
        not_in_call,
        |invite| invite.message(content_type, Bytes::from(content.to_owned())),
    )
}

/// `transfer`: REFER the SIP peer to `uri` (blind), or to the call `replace` names
/// (attended: RFC 3891 Replaces in the Refer-To).
pub fn transfer(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    body: &Body<'_>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let target = body.required_str("uri")?;
    let uri = Uri::parse(target)
        .ok()
        .filter(|u| u.as_sip().is_some())
        .ok_or_else(|| SipError::InvalidAddress(format!("invalid uri {target}")))?;
    let refer_to = match body.str("replace")? {
        None => uri.to_string(),
        Some(replace) => {
            if replace.contains(['\r', '\n', '<', '>']) {
                return Err(SipError::InvalidElement("invalid replace".into()));
            }
            format!("{uri}?Replaces={}", percent_encode(replace))
        }
    };
    send_in_call(
        ctx,
        handle,
        session,
        transaction,
        "transferring",
        no_call,
        |invite| invite.refer(&refer_to),
    )
}

/// Escapes a Replaces value for a URI header (RFC 3261 §19.1.1: hvalue characters).
fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()[]/?:+$".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn info(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    body: &Body<'_>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let content_type = body.required_str("type")?;
    let content = body.required_str("content")?;
    if content_type.contains(['\r', '\n']) {
        return Err(SipError::InvalidElement("invalid type".into()));
    }
    send_in_call(
        ctx,
        handle,
        session,
        transaction,
        "infosent",
        no_call,
        |invite| invite.info(content_type, Bytes::from(content.to_owned())),
    )
}

pub fn on_response(ctx: &mut Ctx, handle: HandleId, session: &mut Session, response: &Response) {
    if let Some(invite) = session.call.as_mut().and_then(|c| c.invite.as_mut()) {
        invite.handle_response(ctx.now, response);
        if (101..200).contains(&response.status) && response.status != 180 {
            let call_id = invite.call_id().to_owned();
            let data = events::result(
                "proceeding",
                Some(&call_id),
                json!({ "code": response.status, "reason": response.reason }),
            );
            let transaction = session.call.as_ref().and_then(|c| c.transaction.clone());
            events::push(ctx, handle, transaction, data);
        }
    }
    drive(ctx, handle, session);
}

pub fn on_failure(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    method: &Method,
    code: u16,
) {
    if let Some(invite) = session.call.as_mut().and_then(|c| c.invite.as_mut()) {
        invite.handle_failure(ctx.now, method, code);
    }
    drive(ctx, handle, session);
}

/// A request for this handle: a new INVITE, or one inside the call's dialog.
pub fn on_request(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    local: &Local,
    key: ServerKey,
    request: Request,
    _source: Destination,
) {
    let in_dialog = request.has_to_tag();
    let same_call = session
        .call
        .as_ref()
        .is_some_and(|c| request.call_id_value().is_some_and(|id| id == c.call_id));
    if same_call {
        if let Some(invite) = session.call.as_mut().and_then(|c| c.invite.as_mut()) {
            invite.handle_request(ctx.now, key, request);
        }
        drive(ctx, handle, session);
        return;
    }
    if !in_dialog && request.method == Method::Message {
        respond(ctx, handle, key, &request, 200);
        super::message::incoming(ctx, handle, &request);
        return;
    }
    if in_dialog || request.method != Method::Invite {
        let status = match request.method {
            Method::Options => 200,
            _ if in_dialog => 481,
            Method::Message | Method::Info | Method::Notify => 200,
            _ => 405,
        };
        respond(ctx, handle, key, &request, status);
        return;
    }
    incoming_invite(ctx, handle, session, local, key, request);
}

fn respond(ctx: &mut Ctx, handle: HandleId, key: ServerKey, request: &Request, status: u16) {
    send_response(ctx, handle, key, request.make_response(status));
}

/// Answers a request outside any session of ours, with a fresh To tag on a final or
/// provisional response (§8.2.6.2).
fn send_response(ctx: &mut Ctx, handle: HandleId, key: ServerKey, mut response: Response) {
    if response.status > 100 {
        let _ = response.set_to_tag(&cardea_sip::dialog::new_tag());
    }
    ctx.push(Command::Sip {
        handle,
        out: SipOut::Respond { key, response },
    });
}

fn caller_of(request: &Request) -> (String, Option<String>) {
    match request.headers.typed::<FromHeader>().ok().flatten() {
        Some(f) => (f.0.uri.to_string(), f.0.display_name.clone()),
        None => (String::new(), None),
    }
}

fn incoming_invite(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    local: &Local,
    key: ServerKey,
    request: Request,
) {
    let call_id = request
        .headers
        .typed::<CallId>()
        .ok()
        .flatten()
        .map(|c| c.0)
        .unwrap_or_default();
    let (caller, displayname) = caller_of(&request);
    let Some(account) = session.account.as_ref().filter(|_| session.call.is_none()) else {
        // One call per handle (Janus): the caller hears busy, the app `missed_call`.
        respond(ctx, handle, key, &request, 486);
        ctx.push(Command::Sip {
            handle,
            out: SipOut::ReleaseCall { call_id },
        });
        let data = events::result(
            "missed_call",
            None,
            json!({ "caller": caller, "displayname": displayname, "callee": request.uri.to_string() }),
        );
        events::push(ctx, handle, None, data);
        return;
    };
    // §8.2.2.3: an extension we do not implement (100rel) is refused with 420.
    let missing = cardea_sip::ua::unsupported_requirements(&request);
    if !missing.is_empty() {
        let mut response = request.make_response(420);
        response
            .headers
            .push(Header::new(HeaderName::Unsupported, &missing.join(", ")));
        send_response(ctx, handle, key, response);
        return;
    }
    let sip_offer = if request.body.is_empty() {
        None
    } else {
        match SessionDescription::parse(&request.body) {
            Ok(s) => Some(s),
            Err(e) => {
                let reason = format!("Not Acceptable Here - {e}");
                send_response(
                    ctx,
                    handle,
                    key,
                    request.make_response_with_reason(488, &reason),
                );
                return;
            }
        }
    };
    let video = sip_offer.as_ref().is_some_and(|s| {
        s.media()
            .iter()
            .any(|m| m.media().eq_ignore_ascii_case("video") && !m.is_rejected())
    });
    let config = AnswerConfig {
        local: local.clone(),
        contact: account.contact.clone(),
        timers: Timers::default(),
    };
    let mut invite = match InviteSession::incoming(key, request.clone(), config) {
        Ok(i) => i,
        Err(e) => {
            let reason = format!("Bad Request - {e}");
            send_response(
                ctx,
                handle,
                key,
                request.make_response_with_reason(400, &reason),
            );
            return;
        }
    };
    invite.enable_session_timer(SESSION_EXPIRES);
    // Janus rings at once.
    let _ = invite.ring(ctx.now);
    session.call = Some(Call {
        direction: Direction::Incoming {
            sip_offer,
            caller,
            displayname,
            // The address that was dialled (To), not our Contact (Janus's `callee`).
            callee: request
                .headers
                .typed::<cardea_sip::typed::To>()
                .ok()
                .flatten()
                .map_or_else(|| request.uri.to_string(), |to| to.0.uri.to_string()),
        },
        invite: Some(invite),
        call_id,
        transaction: None,
        rtp: None,
        hung_up: false,
        local_sdp: None,
        browser_keep: Vec::new(),
        recorded_codecs: Vec::new(),
        recording: Vec::new(),
    });
    drive(ctx, handle, session);
    ctx.push(Command::OpenRtp { handle, video });
}

pub fn on_cancel(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    key: ServerKey,
    request: &Request,
) {
    match session.call.as_mut().and_then(|c| c.invite.as_mut()) {
        Some(invite) => invite.handle_request(ctx.now, key, request.clone()),
        None => respond(ctx, handle, key, request, 481),
    }
    drive(ctx, handle, session);
}

pub fn on_ack(ctx: &mut Ctx, handle: HandleId, session: &mut Session, request: &Request) {
    if let Some(invite) = session.call.as_mut().and_then(|c| c.invite.as_mut()) {
        invite.handle_ack(ctx.now, request);
    }
    drive(ctx, handle, session);
}

pub fn rtp_event(ctx: &mut Ctx, handle: HandleId, session: &mut Session, event: RtpLegEvent) {
    let Some(call) = session.call.as_ref() else {
        return;
    };
    if let RtpLegEvent::Dtmf {
        digit,
        duration,
        end: true,
    } = event
    {
        let data = events::result(
            "dtmf",
            Some(&call.call_id),
            json!({ "sender": peer_of(call), "signal": digit.to_string(), "duration": duration.as_millis() as u64 }),
        );
        events::push(ctx, handle, None, data);
    }
}

fn peer_of(call: &Call) -> String {
    match &call.direction {
        Direction::Outgoing { uri, .. } => uri.to_string(),
        Direction::Incoming { caller, .. } => caller.clone(),
    }
}

pub fn handle_timeout(ctx: &mut Ctx, handle: HandleId, session: &mut Session) {
    let due = session
        .call
        .as_ref()
        .and_then(|c| c.invite.as_ref())
        .and_then(InviteSession::next_timeout)
        .is_some_and(|t| t <= ctx.now);
    if due {
        if let Some(invite) = session.call.as_mut().and_then(|c| c.invite.as_mut()) {
            invite.handle_timeout(ctx.now);
        }
        drive(ctx, handle, session);
    }
}

/// Ends the call at once (the browser went away, the handle is detached, negotiation
/// failed): BYE, CANCEL or a final response as the state requires, then cleanup.
pub fn abort(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    code: u16,
    reason: &str,
    transaction: Option<String>,
) {
    let Some(call) = session.call.as_mut() else {
        return;
    };
    if let Some(invite) = call.invite.as_mut() {
        let live = !matches!(
            invite.state(),
            SessionState::Terminated { .. } | SessionState::Terminating
        );
        if live {
            let _ = match (&call.direction, invite.state()) {
                (Direction::Incoming { .. }, SessionState::Proceeding | SessionState::Early) => {
                    invite.reject(code.max(300), None)
                }
                _ => invite.hangup(),
            };
            while let Some(out) = invite.poll_output() {
                send(ctx, handle, out);
            }
        }
    }
    let call_id = call.call_id.clone();
    let data = events::result(
        "hangup",
        Some(&call_id),
        json!({ "code": code, "reason": reason }),
    );
    events::push(ctx, handle, transaction, data);
    finish(ctx, handle, session);
}

/// The call is over: free its media and stop routing its dialog here. The Call-ID is kept
/// claimed until the transactions settle (late responses to our BYE still reach us and
/// are dropped here).
fn finish(ctx: &mut Ctx, handle: HandleId, session: &mut Session) {
    let Some(call) = session.call.take() else {
        return;
    };
    ctx.push(Command::BridgeRtp {
        handle,
        enabled: false,
    });
    ctx.push(Command::CloseRtp { handle });
    ctx.push(Command::ClosePc { handle });
    if !call.call_id.is_empty() {
        ctx.push(Command::Sip {
            handle,
            out: SipOut::ReleaseCall {
                call_id: call.call_id,
            },
        });
    }
}

/// Sends what a UA state machine queued through the shared endpoint.
pub(crate) fn send(ctx: &mut Ctx, handle: HandleId, out: Outgoing) {
    let out = match out {
        Outgoing::Request(request) => SipOut::Request {
            request,
            destination: None,
        },
        Outgoing::Stateless(request) => SipOut::Stateless {
            request,
            destination: None,
        },
        Outgoing::Response { key, response } => SipOut::Respond { key, response },
    };
    ctx.push(Command::Sip { handle, out });
}

/// Sends what the session queued and turns its events into Janus events and media setup.
fn drive(ctx: &mut Ctx, handle: HandleId, session: &mut Session) {
    let Some(call) = session.call.as_mut() else {
        return;
    };
    let Some(invite) = call.invite.as_mut() else {
        return;
    };
    while let Some(out) = invite.poll_output() {
        send(ctx, handle, out);
    }
    let mut events_out = Vec::new();
    while let Some(e) = invite.poll_event() {
        events_out.push(e);
    }
    for event in events_out {
        if !on_session_event(ctx, handle, session, event) {
            finish(ctx, handle, session);
            return;
        }
    }
    // Reactions (a BYE after a failed answer) may have queued more.
    if let Some(invite) = session.call.as_mut().and_then(|c| c.invite.as_mut()) {
        while let Some(out) = invite.poll_output() {
            send(ctx, handle, out);
        }
    }
}

/// Handles one session event; `false` when the call is over.
fn on_session_event(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    event: SessionEvent,
) -> bool {
    let Some(call) = session.call.as_mut() else {
        return false;
    };
    let call_id = call.call_id.clone();
    let transaction = call.transaction.clone();
    let event_by_remote = match &event {
        SessionEvent::Terminated { by_remote, .. } => Some(*by_remote),
        _ => None,
    };
    match event {
        SessionEvent::Ringing => {
            events::push(
                ctx,
                handle,
                transaction.clone(),
                events::result("ringing", Some(&call_id), json!({})),
            );
            events::push(
                ctx,
                handle,
                transaction,
                events::result("proceeding", Some(&call_id), json!({ "code": 180 })),
            );
        }
        SessionEvent::Progress { sdp } => {
            let Some(sdp) = sdp else {
                return true;
            };
            match browser_answer(ctx, handle, call, &sdp) {
                Ok(Some(jsep)) => {
                    let data = events::result(
                        "progress",
                        Some(&call_id),
                        json!({ "username": peer_of(call) }),
                    );
                    events::push_with_jsep(ctx, handle, transaction, data, jsep);
                    bridge(ctx, handle);
                }
                Ok(None) => bridge(ctx, handle),
                Err(e) => {
                    events::push(ctx, handle, transaction, events::error(&e));
                }
            }
        }
        SessionEvent::Answered { sdp } => match browser_answer(ctx, handle, call, &sdp) {
            Ok(jsep) => {
                let data = events::result(
                    "accepted",
                    Some(&call_id),
                    json!({ "username": peer_of(call) }),
                );
                match jsep {
                    Some(jsep) => events::push_with_jsep(ctx, handle, transaction, data, jsep),
                    None => events::push(ctx, handle, transaction, data),
                }
                // After the event: its JSEP creates the WebRTC leg the bridge needs.
                bridge(ctx, handle);
            }
            Err(e) => {
                // The peer answered with nothing we can bridge: end it.
                events::push(ctx, handle, transaction.clone(), events::error(&e));
                if let Some(invite) = call.invite.as_mut() {
                    let _ = invite.bye();
                }
            }
        },
        SessionEvent::Failed { code, reason } | SessionEvent::Terminated { code, reason, .. } => {
            // A BYE ended it: Janus's reasons name who sent it.
            let reason = match event_by_remote {
                Some(true) if code == 200 => "Session Terminated".to_owned(),
                Some(false) if code == 200 => "to BYE".to_owned(),
                _ => reason,
            };
            let data = events::result(
                "hangup",
                Some(&call_id),
                json!({ "code": code, "reason": reason }),
            );
            events::push(ctx, handle, transaction, data);
            return false;
        }
        SessionEvent::ReInvite { sdp } => {
            // A hold or a media change from the SIP side is accepted at once (Janus does):
            // the peer's new addresses are taken, our answer keeps our ports and codecs.
            accept_reinvite(ctx, handle, call, &sdp);
        }
        SessionEvent::ReInviteAnswered { sdp } => {
            // The peer may move its media with its answer.
            if let Ok(parsed) = SessionDescription::parse(&sdp) {
                retarget(ctx, handle, &parsed);
            }
        }
        SessionEvent::ReInviteFailed { code, reason } => {
            let data = events::result(
                "updatingfailed",
                Some(&call_id),
                json!({ "code": code, "reason": reason }),
            );
            events::push(ctx, handle, transaction, data);
        }
        SessionEvent::Info { content_type, body } => {
            let text = String::from_utf8_lossy(&body).into_owned();
            if asks_for_key_frame(content_type.as_deref(), &text) {
                // A video phone's key-frame request by INFO (RFC 5168): the browser is
                // asked with a PLI, and the app still hears of the INFO.
                ctx.push(Command::RequestKeyframe { handle });
            }
            let is_dtmf = content_type
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("application/dtmf-relay"));
            let data = match (is_dtmf, parse_dtmf_relay(&text)) {
                (true, Some((signal, duration))) => events::result(
                    "dtmf",
                    Some(&call_id),
                    json!({ "sender": peer_of(call), "signal": signal, "duration": duration }),
                ),
                _ => events::result(
                    "info",
                    Some(&call_id),
                    json!({ "sender": peer_of(call), "type": content_type, "content": text }),
                ),
            };
            events::push(ctx, handle, None, data);
        }
        SessionEvent::Refer {
            refer_to,
            referred_by,
        } => {
            // Janus leaves the decision to the app: it calls refer_to (on this handle after
            // hanging up, or on a helper) with `refer_id`, or ignores it.
            let strip = |s: &str| {
                s.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            };
            let target = strip(refer_to.split(';').next().unwrap_or_default());
            let replaces = refer_to.split_once("?Replaces=").map(|(_, r)| {
                let raw = cardea_sip::percent_decode(r.trim_end_matches('>'));
                String::from_utf8_lossy(&raw).into_owned()
            });
            let refer_id = rand::random::<u32>();
            let data = events::result(
                "transfer",
                Some(&call_id),
                json!({
                    "refer_id": refer_id,
                    "refer_to": target,
                    "referred_by": referred_by.as_deref().map(strip),
                    "replaces": replaces,
                }),
            );
            events::push(ctx, handle, None, data);
        }
        SessionEvent::Notify {
            event,
            subscription_state,
            content_type,
            body,
        } => {
            let data = events::result(
                "notify",
                Some(&call_id),
                json!({
                    "notify": event,
                    "substate": subscription_state,
                    "content-type": content_type,
                    "content": String::from_utf8_lossy(&body),
                }),
            );
            events::push(ctx, handle, None, data);
        }
        SessionEvent::Message { content_type, body } => {
            let data = events::result(
                "message",
                Some(&call_id),
                json!({
                    "sender": peer_of(call),
                    "content_type": content_type,
                    "content": String::from_utf8_lossy(&body),
                }),
            );
            events::push(ctx, handle, None, data);
        }
    }
    true
}

fn bridge(ctx: &mut Ctx, handle: HandleId) {
    ctx.push(Command::BridgeRtp {
        handle,
        enabled: true,
    });
}

/// Whether an INFO is RFC 5168's media control asking for a key frame (XML with a
/// `picture_fast_update`, as many SIP video phones send instead of RTCP).
fn asks_for_key_frame(content_type: Option<&str>, body: &str) -> bool {
    let media_control = content_type.is_some_and(|t| {
        t.split(';').next().is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/media_control+xml")
        })
    });
    media_control && body.contains("picture_fast_update")
}

/// `Signal=5\r\nDuration=160` (application/dtmf-relay, as SIP phones send it).
fn parse_dtmf_relay(text: &str) -> Option<(String, u64)> {
    let mut signal = None;
    let mut duration = DTMF_DURATION_MS;
    for line in text.lines() {
        let (k, v) = line.split_once('=')?;
        match k.trim().to_ascii_lowercase().as_str() {
            "signal" => signal = Some(v.trim().to_owned()),
            "duration" => duration = v.trim().parse().unwrap_or(DTMF_DURATION_MS),
            _ => {}
        }
    }
    signal.map(|s| (s, duration))
}

/// The SIP peer answered (183 with SDP, or 2xx): point the RTP leg at it, bridge, and give
/// the browser an answer restricted to the codecs the peer chose. `None` when the browser
/// already has its answer.
fn browser_answer(
    ctx: &mut Ctx,
    handle: HandleId,
    call: &mut Call,
    sdp: &Bytes,
) -> Result<Option<JsepAction>, SipError> {
    let Direction::Outgoing {
        browser_offer,
        sip_offer,
        browser_answered,
        srtp,
        keys,
        ..
    } = &mut call.direction
    else {
        return Ok(None);
    };
    let offer = sip_offer.as_ref().ok_or(SipError::MissingSdp)?;
    let answer = SessionDescription::parse(sdp).map_err(|e| SipError::InvalidSdp(e.to_string()))?;
    let read = offer.read_answer(&answer).map_err(|e| match e {
        cardea_sip::sdp::SdpError::MissingCrypto { .. } => {
            SipError::TooStrict("SRTP is mandatory and the SIP peer answered without keys".into())
        }
        e => SipError::InvalidSdp(e.to_string()),
    })?;
    let mut configs = rtp_configs(&read);
    for m in read.media.iter().filter(|m| m.accepted) {
        if let Some(kind) = media_kind(&m.sip.kind) {
            note_codec(&mut call.recorded_codecs, kind, m.sip.main_codec());
        }
    }
    for config in &mut configs {
        let Some(ours) = keys.iter().find(|(k, _)| *k == config.kind).map(|(_, a)| a) else {
            continue;
        };
        let answered = read
            .media
            .iter()
            .find(|m| m.accepted && media_kind(&m.sip.kind) == Some(config.kind));
        match answered.and_then(|m| srtp::peer_key(&m.sip, Some(ours.key.suite()))) {
            Some(theirs) => config.srtp = Some(srtp::keys(ours, &theirs)),
            None if srtp.is_some_and(|p| p.mandatory) => {
                return Err(SipError::TooStrict(
                    "SRTP is mandatory and the SIP peer's keys are unusable".into(),
                ))
            }
            None => {}
        }
    }
    if configs.is_empty() {
        return Err(SipError::InvalidSdp(
            "the SIP peer accepted no media we offered".into(),
        ));
    }
    for config in configs {
        ctx.push(Command::ConfigureRtp { handle, config });
    }
    if *browser_answered {
        return Ok(None);
    }
    let constraints: Vec<_> = read.media.iter().map(|m| &m.browser).collect();
    let restricted = restrict_offer(browser_offer, &constraints).map_err(SipError::InvalidSdp)?;
    *browser_answered = true;
    call.browser_keep = read.media.iter().map(|m| m.browser.clone()).collect();
    Ok(Some(JsepAction::AnswerOffer { offer: restricted }))
}

fn accept_reinvite(ctx: &mut Ctx, handle: HandleId, call: &mut Call, sdp: &Bytes) {
    let Some(ports) = call.rtp else {
        return;
    };
    let Some(invite) = call.invite.as_mut() else {
        return;
    };
    let parsed = match SessionDescription::parse(sdp) {
        Ok(p) => p,
        Err(_) => {
            let _ = invite.reject_reinvite(488);
            return;
        }
    };
    retarget(ctx, handle, &parsed);
    // Our answer mirrors the offer's codecs back under our address (RFC 3264 §6).
    let mut answer = parsed.clone();
    // Our session id stays; the version goes up with every SDP we send (RFC 3264 §8).
    let origin = match call.local_sdp.as_mut() {
        Some(ours) => {
            let _ = ours.bump_version();
            ours.origin().ok()
        }
        None => None,
    };
    let origin = origin.unwrap_or_else(|| {
        let mut o = Origin::new(rand::random::<u32>().into(), 2, ports.ip);
        o.username = "-".into();
        o
    });
    answer.set_origin(&origin);
    answer.set_connection(&cardea_sip::sdp::Connection::from_ip(ports.ip));
    for m in answer.media_mut() {
        let port = match media_kind(m.media()) {
            Some(crate::MediaKind::Audio) => ports.audio.0.port(),
            Some(crate::MediaKind::Video) => ports.video.map_or(0, |v| v.0.port()),
            None => 0,
        };
        if !m.is_rejected() {
            m.set_port(port);
        }
        m.retain_lines(|l| l.kind() != Some('c'));
        if let Some(d) = m.direction() {
            m.set_direction(reversed(d));
        }
    }
    let _ = invite.accept_reinvite(ctx.now, Bytes::from(answer.to_text()));
    let _ = handle;
}

/// Points the RTP leg at the addresses of the peer's new SDP.
fn retarget(ctx: &mut Ctx, handle: HandleId, sdp: &SessionDescription) {
    let media = read_sip_offer(sdp).unwrap_or_default();
    for m in media.iter().filter(|m| !m.is_rejected()) {
        let Some(kind) = media_kind(&m.kind) else {
            continue;
        };
        let remote: Option<SocketAddr> = m.remote_rtp;
        ctx.push(Command::RetargetRtp {
            handle,
            kind,
            remote_rtp: remote,
            remote_rtcp: m.remote_rtcp,
        });
    }
}

/// The answer's direction for an offered one (RFC 3264 §6.1).
fn reversed(d: SdpDirection) -> SdpDirection {
    match d {
        SdpDirection::SendOnly => SdpDirection::RecvOnly,
        SdpDirection::RecvOnly => SdpDirection::SendOnly,
        other => other,
    }
}
