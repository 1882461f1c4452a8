//! Dial-in: a SIP call the appliance's dialplan routes to a room (`room` action) becomes a
//! plain RTP participant of that room. The call arrives on a handle of its own (no Janus
//! session); Cardea answers it as a UAS once the participant's RTP leg has ports, in the
//! codec the caller offered (PCMU, PCMA or opus), and the web participants see the caller
//! by the display name of its From. A caller that hangs up leaves the room; kicking it
//! sends BYE.

use std::net::SocketAddr;

use bytes::Bytes;
use cardea_sip::sdp::SessionDescription;
use cardea_sip::transaction::{ServerKey, Timers};
use cardea_sip::typed::NameAddr;
use cardea_sip::ua::{AnswerConfig, InviteSession, Local, SessionEvent, SessionState};
use cardea_sip::{Request, Uri};
use serde_json::json;

use super::pin::Lobby;
use super::AudioBridge;
use crate::fields::Fields;
use crate::sip::send_ua_output as send;
use crate::{Command, Ctx, HandleId, MixCodec, Plugin, RtpPorts, SipOut};

/// A caller in a room (or in its lobby, typing the room's PIN).
#[derive(Debug)]
pub struct DialIn {
    pub(super) invite: InviteSession,
    call_id: String,
    room: u64,
    display: String,
    pub(super) pt: u8,
    pub(super) codec: MixCodec,
    /// The caller's telephone-event payload type (RFC 4733), when it offered one at the
    /// codec's clock rate.
    pub(super) te: Option<u8>,
    /// Waiting for the PIN, not yet in the room.
    pub(super) lobby: Option<Lobby>,
    /// The participant id it takes (a dial-out's was given when it was dialed).
    pub(super) id: Option<u64>,
    /// A dial-out not answered yet: the handle that dialed, told how it goes.
    pub(super) requester: Option<HandleId>,
    /// Where the caller sends to us (our answer's port), once the leg is open.
    ports: Option<RtpPorts>,
    /// Our answer's `o=` session id and version (a re-INVITE's answer bumps the version).
    sdp_id: u32,
    sdp_version: u32,
    /// Where the caller receives, as its last offer said.
    pub(super) remote: Option<SocketAddr>,
}

impl DialIn {
    /// A call `dial` placed (see `dialout`): `sdp` are the `o=` id and the next version.
    pub(super) fn outgoing(
        invite: InviteSession,
        room: u64,
        id: u64,
        display: String,
        requester: HandleId,
        ports: RtpPorts,
        sdp: (u32, u32),
    ) -> Self {
        Self {
            call_id: invite.call_id().to_owned(),
            invite,
            room,
            display,
            // Until the answer says.
            pt: 0,
            codec: MixCodec::Pcmu,
            te: None,
            lobby: None,
            id: Some(id),
            requester: Some(requester),
            ports: Some(ports),
            sdp_id: sdp.0,
            sdp_version: sdp.1,
            remote: None,
        }
    }

    pub(super) fn call_id(&self) -> &str {
        &self.call_id
    }

    pub(super) fn room(&self) -> u64 {
        self.room
    }

    fn answer(&mut self) -> Option<Bytes> {
        let ports = self.ports.as_ref()?;
        let sdp = answer_sdp(
            ports,
            (self.codec, self.pt, self.te),
            self.sdp_id,
            self.sdp_version,
        );
        self.sdp_version = self.sdp_version.wrapping_add(1);
        Some(sdp)
    }
}

/// What the caller's offer settles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Offered {
    pub codec: MixCodec,
    pub pt: u8,
    /// Its telephone-event payload type at the codec's clock rate.
    pub te: Option<u8>,
    /// Where the caller receives.
    pub remote: Option<SocketAddr>,
}

/// What the caller's offer settles: the codec, its payload type, DTMF and where to send.
pub(super) fn choose(offer: &[u8]) -> Result<Offered, (u16, &'static str)> {
    let sdp = SessionDescription::parse(offer)
        .map_err(|_| (488, "Not Acceptable Here - unreadable SDP offer"))?;
    let session_ip = sdp.connection().ok().flatten().and_then(|c| c.ip());
    for m in sdp.media() {
        if !m.media().eq_ignore_ascii_case("audio")
            || m.is_rejected()
            || !m.proto().eq_ignore_ascii_case("RTP/AVP")
        {
            continue;
        }
        let codecs = m
            .codecs()
            .map_err(|_| (488, "Not Acceptable Here - unreadable SDP offer"))?;
        // The caller's order of preference, among what the mixer speaks.
        let chosen = codecs.iter().find_map(|c| {
            let codec = MixCodec::from_name(&c.encoding)?;
            Some((codec, c.pt))
        });
        if let Some((codec, pt)) = chosen {
            let ip = m
                .connection()
                .ok()
                .flatten()
                .and_then(|c| c.ip())
                .or(session_ip);
            let remote = ip
                .filter(|ip| !ip.is_unspecified())
                .map(|ip| SocketAddr::new(ip, m.port()));
            let te = codecs
                .iter()
                .find(|c| {
                    c.encoding.eq_ignore_ascii_case("telephone-event")
                        && c.clock_rate == codec.clock_rate()
                })
                .map(|c| c.pt);
            return Ok(Offered {
                codec,
                pt,
                te,
                remote,
            });
        }
    }
    Err((
        488,
        "Not Acceptable Here - a room takes one RTP/AVP audio stream in PCMU, PCMA or opus",
    ))
}

/// Our SDP (an answer to a caller, or the offer of a dial-out): `codecs` are the payload
/// types with their codec, then telephone-event's when there is one.
pub(super) fn local_sdp(
    ports: &RtpPorts,
    codecs: &[(MixCodec, u8)],
    te: Option<u8>,
    id: u32,
    version: u32,
) -> Bytes {
    let ip = ports.ip;
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut pts = String::new();
    let mut attrs = String::new();
    for (codec, pt) in codecs {
        pts.push_str(&format!(" {pt}"));
        attrs.push_str(&match codec {
            MixCodec::Opus => format!("a=rtpmap:{pt} opus/48000/2\r\n"),
            MixCodec::Pcmu => format!("a=rtpmap:{pt} PCMU/8000\r\n"),
            MixCodec::Pcma => format!("a=rtpmap:{pt} PCMA/8000\r\n"),
        });
    }
    if let Some(te) = te {
        // The clock of the first codec (RFC 4733 §2.1).
        let clock = codecs.first().map_or(8000, |(c, _)| c.clock_rate());
        pts.push_str(&format!(" {te}"));
        attrs.push_str(&format!(
            "a=rtpmap:{te} telephone-event/{clock}\r\na=fmtp:{te} 0-16\r\n"
        ));
    }
    Bytes::from(format!(
        "v=0\r\no=cardea {id} {version} IN {family} {ip}\r\ns=Cardea AudioBridge\r\nc=IN {family} {ip}\r\n\
         t=0 0\r\nm=audio {} RTP/AVP{pts}\r\n{attrs}a=sendrecv\r\n",
        ports.audio.0.port()
    ))
}

fn answer_sdp(
    ports: &RtpPorts,
    chosen: (MixCodec, u8, Option<u8>),
    id: u32,
    version: u32,
) -> Bytes {
    let (codec, pt, te) = chosen;
    local_sdp(ports, &[(codec, pt)], te, id, version)
}

/// The caller's name for the room: the From display name, else its user.
fn caller_name(request: &Request) -> String {
    let from = request
        .headers
        .typed::<cardea_sip::typed::From>()
        .ok()
        .flatten();
    let display = from
        .as_ref()
        .and_then(|f| f.0.display_name.clone())
        .filter(|d| !d.trim().is_empty());
    let user = from.and_then(|f| f.0.uri.as_sip().and_then(|s| s.user_decoded()));
    display.or(user).unwrap_or_else(|| "SIP caller".into())
}

impl AudioBridge {
    /// The UAS identity calls are answered with.
    fn dial_in_local(&self, room: u64) -> Option<(Local, NameAddr)> {
        let env = self.sip.as_ref()?;
        let local = env.local();
        let contact = Uri::parse(&format!("sip:room-{room}@{}", env.udp)).ok()?;
        Some((local, NameAddr::new(contact)))
    }

    /// A call the dialplan sent to `room`, on its own handle.
    pub(super) fn dial_in(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        room: u64,
        key: ServerKey,
        request: Request,
    ) {
        let refuse = |ctx: &mut Ctx, code: u16, reason: &str| {
            let response = request.make_response_with_reason(code, reason);
            ctx.push(Command::Sip {
                handle,
                out: SipOut::Respond { key, response },
            });
        };
        let Some(r) = self.rooms.get(&room) else {
            refuse(ctx, 404, &format!("Not Found - no AudioBridge room {room}"));
            return;
        };
        let pin = r.pin.clone();
        // A room with a PIN takes only callers who type it: without a prompt to ask for
        // it, none.
        if pin.is_some() && self.pin_prompt.is_none() {
            refuse(ctx, 403, "Forbidden - PIN required");
            return;
        }
        let offered = match choose(&request.body) {
            Ok(o) => o,
            Err((code, reason)) => {
                refuse(ctx, code, reason);
                return;
            }
        };
        let Some((local, contact)) = self.dial_in_local(room) else {
            refuse(ctx, 503, "Service Unavailable - the SIP endpoint is off");
            return;
        };
        let config = AnswerConfig {
            local,
            contact,
            timers: Timers::default(),
        };
        let mut invite = match InviteSession::incoming(key, request.clone(), config) {
            Ok(i) => i,
            Err(e) => {
                refuse(ctx, 400, &format!("Bad Request - {e}"));
                return;
            }
        };
        let _ = invite.ring(ctx.now);
        let call_id = invite.call_id().to_owned();
        let display = caller_name(&request);
        let _ = self.create_session(handle);
        let lobby = pin.map(|pin| Lobby::new(room, pin, ctx.now));
        let mut dial_in = DialIn {
            invite,
            call_id,
            room,
            display,
            pt: offered.pt,
            codec: offered.codec,
            te: offered.te,
            lobby,
            id: None,
            requester: None,
            ports: None,
            sdp_id: rand::random::<u32>() >> 1,
            sdp_version: 1,
            remote: offered.remote,
        };
        if dial_in.lobby.is_some() {
            // Not in the room until the PIN is right: its leg goes where the room's are.
            ctx.push(Command::PinShard {
                handle,
                key: super::room::room_key(room),
            });
        } else if let Err(e) = self.admit_dial_in(ctx, handle, &dial_in, None) {
            let _ = dial_in
                .invite
                .reject(480, Some(&format!("Temporarily Unavailable - {e}")));
            self.sessions.remove(&handle);
            self.handles.remove(&handle);
            while let Some(out) = dial_in.invite.poll_output() {
                send(ctx, handle, out);
            }
            return;
        }
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.telephone_event = dial_in.te;
            s.dial_in = Some(dial_in);
        }
        ctx.push(Command::OpenRtp {
            handle,
            video: false,
        });
        self.drive_dial_in(ctx, handle);
    }

    /// Puts the caller into its room as a plain RTP participant (not yet mixed: that waits
    /// for its leg, see `rtp_ready`); `pin` is the PIN it typed.
    pub(super) fn admit_dial_in(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        d: &DialIn,
        pin: Option<&str>,
    ) -> Result<(), super::error::AbError> {
        let remote = d.remote;
        let mut body = json!({
            "request": "join", "room": d.room, "display": d.display, "codec": d.codec.name(),
            "rtp": {
                "ip": remote.map_or_else(|| "0.0.0.0".to_owned(), |r| r.ip().to_string()),
                "port": remote.map_or(0, |r| r.port()), "payload_type": d.pt,
            },
        });
        if let Some(pin) = pin {
            body["pin"] = pin.into();
        }
        if let Some(id) = d.id {
            body["id"] = id.into();
        }
        let f = Fields::new(&body).map_err(super::error::AbError::from)?;
        self.admit_rtp(ctx, handle, &f, false)?;
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.pending_rtp = Some(None);
        }
        if let Some(p) = self.participant_mut(handle) {
            p.pt = d.pt;
        }
        Ok(())
    }

    /// The caller's RTP leg is open: answer the call.
    pub(super) fn answer_dial_in(&mut self, ctx: &mut Ctx, handle: HandleId, ports: &RtpPorts) {
        let Some(d) = self
            .sessions
            .get_mut(&handle)
            .and_then(|s| s.dial_in.as_mut())
        else {
            return;
        };
        d.ports = Some(*ports);
        if let Some(sdp) = d.answer() {
            if let Err(e) = d.invite.answer(ctx.now, sdp) {
                tracing::debug!(handle, "dial-in not answered: {e}");
            }
        }
        self.drive_dial_in(ctx, handle);
    }

    /// The caller's leg could not be opened: refuse the call.
    pub(super) fn fail_dial_in(&mut self, ctx: &mut Ctx, handle: HandleId) {
        if let Some(d) = self
            .sessions
            .get_mut(&handle)
            .and_then(|s| s.dial_in.as_mut())
        {
            let _ = d
                .invite
                .reject(503, Some("Service Unavailable - no RTP port for the room"));
        }
        self.drive_dial_in(ctx, handle);
    }

    /// A caller still typing the room's PIN.
    pub(super) fn in_lobby(&self, handle: HandleId) -> bool {
        self.sessions
            .get(&handle)
            .and_then(|s| s.dial_in.as_ref())
            .is_some_and(|d| d.lobby.is_some())
    }

    pub(super) fn is_dial_in(&self, handle: HandleId) -> bool {
        self.sessions
            .get(&handle)
            .is_some_and(|s| s.dial_in.is_some())
    }

    /// Ends a caller's call from our side (kicked, room destroyed).
    pub(super) fn hang_up_dial_in(&mut self, ctx: &mut Ctx, handle: HandleId) {
        if let Some(d) = self
            .sessions
            .get_mut(&handle)
            .and_then(|s| s.dial_in.as_mut())
        {
            let _ = d.invite.hangup();
        }
        self.drive_dial_in(ctx, handle);
    }

    /// SIP for a caller's handle.
    pub(super) fn dial_in_sip(&mut self, ctx: &mut Ctx, handle: HandleId, sip: crate::SipIn) {
        let Some(d) = self
            .sessions
            .get_mut(&handle)
            .and_then(|s| s.dial_in.as_mut())
        else {
            return;
        };
        match sip {
            crate::SipIn::Request { key, request, .. } => {
                d.invite.handle_request(ctx.now, key, request)
            }
            crate::SipIn::Cancel { key, request } => d.invite.handle_request(ctx.now, key, request),
            crate::SipIn::Ack { request } => d.invite.handle_ack(ctx.now, &request),
            crate::SipIn::Response(response) => d.invite.handle_response(ctx.now, &response),
            crate::SipIn::Failed { method, code, .. } => {
                d.invite.handle_failure(ctx.now, &method, code)
            }
            crate::SipIn::DialIn { .. } => {}
        }
        self.drive_dial_in(ctx, handle);
    }

    /// The callers' session timers.
    pub(super) fn dial_in_timers(&mut self, ctx: &mut Ctx) {
        let due: Vec<HandleId> = self
            .sessions
            .iter()
            .filter_map(|(h, s)| {
                let d = s.dial_in.as_ref()?;
                d.invite
                    .next_timeout()
                    .filter(|t| *t <= ctx.now)
                    .map(|_| *h)
            })
            .collect();
        for handle in due {
            if let Some(d) = self
                .sessions
                .get_mut(&handle)
                .and_then(|s| s.dial_in.as_mut())
            {
                d.invite.handle_timeout(ctx.now);
            }
            self.drive_dial_in(ctx, handle);
        }
        self.lobby_timers(ctx);
    }

    /// Sends what the call queued; a call that ended takes the caller out of the room.
    pub(super) fn drive_dial_in(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let Some(d) = self
            .sessions
            .get_mut(&handle)
            .and_then(|s| s.dial_in.as_mut())
        else {
            return;
        };
        while let Some(out) = d.invite.poll_output() {
            send(ctx, handle, out);
        }
        let mut over = matches!(d.invite.state(), SessionState::Terminated { .. });
        let mut keys = Vec::new();
        let mut answered = None;
        let mut news = Vec::new();
        let (room, id, call_id) = (d.room, d.id.unwrap_or(0), d.call_id.clone());
        while let Some(e) = d.invite.poll_event() {
            match e {
                SessionEvent::Failed { code, reason }
                | SessionEvent::Terminated { code, reason, .. } => {
                    over = true;
                    if d.requester.is_some() {
                        news.push(super::dialout::failure(
                            room,
                            id,
                            Some(&call_id),
                            code,
                            &reason,
                        ));
                    }
                }
                SessionEvent::Ringing | SessionEvent::Progress { .. } if d.requester.is_some() => {
                    news.push(json!({
                        "audiobridge": "event", "room": room, "dial": "ringing", "id": id,
                        "call_id": call_id,
                    }));
                }
                SessionEvent::Answered { sdp } => answered = Some(sdp),
                SessionEvent::ReInvite { sdp } => {
                    // A session refresh, hold or a new address: the same codec is answered
                    // as before and the mix follows the caller's address; anything else
                    // is refused and the call goes on as it was.
                    let offer = if sdp.is_empty() {
                        Ok(Offered {
                            codec: d.codec,
                            pt: d.pt,
                            te: d.te,
                            remote: d.remote,
                        })
                    } else {
                        choose(&sdp)
                    };
                    match offer {
                        Ok(o) if o.codec == d.codec && o.pt == d.pt => {
                            if o.remote != d.remote {
                                d.remote = o.remote;
                                ctx.push(Command::RetargetRtp {
                                    handle,
                                    kind: crate::MediaKind::Audio,
                                    remote_rtp: o.remote,
                                    remote_rtcp: None,
                                });
                            }
                            let answered = d.answer().map(|a| d.invite.accept_reinvite(ctx.now, a));
                            if !matches!(answered, Some(Ok(()))) {
                                let _ = d.invite.reject_reinvite(500);
                            }
                        }
                        _ => {
                            let _ = d.invite.reject_reinvite(488);
                        }
                    }
                }
                // SIP INFO DTMF (already answered 200).
                SessionEvent::Info { content_type, body } => {
                    keys.extend(super::pin::dtmf_relay_key(content_type.as_deref(), &body));
                }
                _ => {}
            }
        }
        while let Some(out) = d.invite.poll_output() {
            send(ctx, handle, out);
        }
        if let Some(r) = d.requester {
            for event in news {
                crate::dispatch::push(ctx, r, None, event);
            }
        }
        if !over {
            if let Some(sdp) = answered {
                self.dial_answered(ctx, handle, &sdp);
            }
            for key in keys {
                self.dial_in_key(ctx, handle, key);
            }
            return;
        }
        let call_id = d.call_id.clone();
        if let Some(lobby) = d.lobby.take() {
            Self::close_lobby(ctx, handle, &lobby);
        }
        self.leave_room(ctx, handle, true);
        ctx.push(Command::CloseRtp { handle });
        ctx.push(Command::Sip {
            handle,
            out: SipOut::ReleaseCall { call_id },
        });
        self.sessions.remove(&handle);
        self.handles.remove(&handle);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::SipIn;
    use cardea_sip::transaction::{Destination, TransactionEvent, TransactionLayer};

    const CALLER: &str = "127.0.0.1:5070";

    /// `text` through a transaction layer: the request and its server transaction.
    pub(in crate::audiobridge) fn arrive(
        layer: &mut TransactionLayer,
        text: &str,
    ) -> (ServerKey, Request) {
        let message = cardea_sip::Message::parse(text.as_bytes()).expect("a SIP message");
        let source = Destination::udp(CALLER.parse().unwrap());
        layer
            .handle_message(std::time::Instant::now(), message, source)
            .expect("accepted by the layer");
        while let Some(e) = layer.poll_event() {
            if let TransactionEvent::Request { key, request, .. } = e {
                return (key, request);
            }
        }
        panic!("no request event for {text}");
    }

    pub(in crate::audiobridge) fn request(
        method: &str,
        cseq: u32,
        to_tag: Option<&str>,
        port: Option<u16>,
    ) -> String {
        let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
        let body = port.map_or_else(String::new, |p| {
            format!(
                "v=0\r\no=- 1 {cseq} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                 m=audio {p} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
            )
        });
        format!(
            "{method} sip:5000@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK{method}{cseq}\r\n\
             From: \"Desk Phone\" <sip:desk@127.0.0.1>;tag=caller\r\nTo: <sip:5000@127.0.0.1>{to_tag}\r\n\
             Call-ID: dial-in-test\r\nCSeq: {cseq} {method}\r\nContact: <sip:desk@{CALLER}>\r\n\
             Max-Forwards: 70\r\n{}Content-Length: {}\r\n\r\n{body}",
            if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" },
            body.len()
        )
    }

    /// The responses the plugin sent, in order.
    pub(in crate::audiobridge) fn responses(ctx: &Ctx) -> Vec<cardea_sip::Response> {
        ctx.commands
            .iter()
            .filter_map(|c| match c {
                Command::Sip {
                    out: SipOut::Respond { response, .. },
                    ..
                } => Some(response.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_caller_is_answered_followed_on_reinvite_and_leaves_on_bye() {
        let env = crate::sip::SipEnv {
            udp: "127.0.0.1:5060".parse().unwrap(),
            user_agent: "test".into(),
            keepalive: None,
        };
        let mut p = AudioBridge::new(None, None).with_sip(Some(env));
        let mut layer = TransactionLayer::new(Timers::default());
        let mut ctx = Ctx::default();
        let (key, invite) = arrive(&mut layer, &request("INVITE", 1, None, Some(4000)));
        let source = Destination::udp(CALLER.parse().unwrap());
        p.incoming_sip(
            &mut ctx,
            9,
            SipIn::DialIn {
                room: 1234,
                key,
                request: invite,
                source,
            },
        );
        assert!(ctx
            .commands
            .iter()
            .any(|c| matches!(c, Command::OpenRtp { handle: 9, .. })));
        let ip = std::net::IpAddr::from([127, 0, 0, 1]);
        let ports = RtpPorts {
            ip,
            audio: (SocketAddr::new(ip, 20000), SocketAddr::new(ip, 20001)),
            video: None,
        };
        p.rtp_opened(&mut ctx, 9, Ok(ports));
        let ok = responses(&ctx)
            .into_iter()
            .find(|r| r.status == 200)
            .expect("a 200");
        let body = String::from_utf8_lossy(&ok.body).into_owned();
        assert!(body.contains("m=audio 20000 RTP/AVP 0\r\n"), "{body}");
        assert!(ctx.commands.iter().any(|c| matches!(c,
            Command::MixIn { room: 1234, handle: 9, participant } if participant.rtp && participant.pt == 0)));
        assert_eq!(p.rooms[&1234].participants.len(), 1);
        let tag = ok
            .headers
            .typed::<cardea_sip::typed::To>()
            .ok()
            .flatten()
            .and_then(|t| t.tag().map(str::to_owned))
            .expect("a To tag");

        // A re-INVITE to a new port: the mix follows, the answer keeps the codec.
        let mut ctx = Ctx::default();
        let (key, reinvite) = arrive(&mut layer, &request("INVITE", 2, Some(&tag), Some(4002)));
        let source = Destination::udp(CALLER.parse().unwrap());
        p.incoming_sip(
            &mut ctx,
            9,
            SipIn::Request {
                key,
                request: reinvite,
                source,
            },
        );
        assert!(ctx.commands.iter().any(|c| matches!(c,
            Command::RetargetRtp { handle: 9, remote_rtp: Some(a), .. } if a.port() == 4002)));
        let ok = responses(&ctx)
            .into_iter()
            .find(|r| r.status == 200)
            .expect("a 200");
        assert!(String::from_utf8_lossy(&ok.body).contains("m=audio 20000 RTP/AVP 0"));

        // BYE: answered, out of the room, the leg and the call released.
        let mut ctx = Ctx::default();
        let (key, bye) = arrive(&mut layer, &request("BYE", 3, Some(&tag), None));
        let source = Destination::udp(CALLER.parse().unwrap());
        p.incoming_sip(
            &mut ctx,
            9,
            SipIn::Request {
                key,
                request: bye,
                source,
            },
        );
        assert!(responses(&ctx).iter().any(|r| r.status == 200));
        assert!(ctx
            .commands
            .iter()
            .any(|c| matches!(c, Command::CloseRtp { handle: 9 })));
        assert!(ctx.commands.iter().any(|c| matches!(
            c,
            Command::Sip {
                handle: 9,
                out: SipOut::ReleaseCall { .. }
            }
        )));
        assert!(p.rooms[&1234].participants.is_empty());
    }

    #[test]
    fn the_callers_first_mixable_codec_is_chosen() {
        let offer = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 9 8 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";
        let o = choose(offer).unwrap();
        assert_eq!((o.codec, o.pt, o.te), (MixCodec::Pcma, 8, Some(101)));
        assert_eq!(o.remote, Some("127.0.0.1:4000".parse().unwrap()));
        let video = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=video 4000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert_eq!(choose(video).unwrap_err().0, 488);
    }
}
