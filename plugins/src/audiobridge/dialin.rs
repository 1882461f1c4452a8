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

use super::AudioBridge;
use crate::fields::Fields;
use crate::sip::send_ua_output as send;
use crate::{Command, Ctx, HandleId, MixCodec, Plugin, RtpPorts, SipOut};

/// A caller in a room.
#[derive(Debug)]
pub struct DialIn {
    invite: InviteSession,
    call_id: String,
    pt: u8,
    codec: MixCodec,
    /// Where the caller sends to us (our answer's port), once the leg is open.
    ports: Option<RtpPorts>,
    /// Our answer's `o=` session id and version (a re-INVITE's answer bumps the version).
    sdp_id: u32,
    sdp_version: u32,
    /// Where the caller receives, as its last offer said.
    remote: Option<SocketAddr>,
}

impl DialIn {
    fn answer(&mut self) -> Option<Bytes> {
        let ports = self.ports.as_ref()?;
        let sdp = answer_sdp(ports, self.codec, self.pt, self.sdp_id, self.sdp_version);
        self.sdp_version = self.sdp_version.wrapping_add(1);
        Some(sdp)
    }
}

/// What the caller's offer settles: the codec, its payload type and where to send.
fn choose(offer: &[u8]) -> Result<(MixCodec, u8, Option<SocketAddr>), (u16, &'static str)> {
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
            return Ok((codec, pt, remote));
        }
    }
    Err((
        488,
        "Not Acceptable Here - a room takes one RTP/AVP audio stream in PCMU, PCMA or opus",
    ))
}

fn answer_sdp(ports: &RtpPorts, codec: MixCodec, pt: u8, id: u32, version: u32) -> Bytes {
    let ip = ports.ip;
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let rtpmap = match codec {
        MixCodec::Opus => format!("a=rtpmap:{pt} opus/48000/2\r\n"),
        MixCodec::Pcmu => format!("a=rtpmap:{pt} PCMU/8000\r\n"),
        MixCodec::Pcma => format!("a=rtpmap:{pt} PCMA/8000\r\n"),
    };
    Bytes::from(format!(
        "v=0\r\no=cardea {id} {version} IN {family} {ip}\r\ns=Cardea AudioBridge\r\nc=IN {family} {ip}\r\n\
         t=0 0\r\nm=audio {} RTP/AVP {pt}\r\n{rtpmap}a=sendrecv\r\n",
        ports.audio.0.port()
    ))
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
        if !self.rooms.contains_key(&room) {
            refuse(ctx, 404, &format!("Not Found - no AudioBridge room {room}"));
            return;
        }
        let (codec, pt, remote) = match choose(&request.body) {
            Ok(c) => c,
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
        let body = json!({
            "request": "join", "room": room, "display": display, "codec": codec.name(),
            "rtp": {
                "ip": remote.map_or_else(|| "0.0.0.0".to_owned(), |r| r.ip().to_string()),
                "port": remote.map_or(0, |r| r.port()), "payload_type": pt,
            },
        });
        let admitted = Fields::new(&body)
            .map_err(super::error::AbError::from)
            .and_then(|f| self.admit_rtp(ctx, handle, &f, false));
        if let Err(e) = admitted {
            let _ = invite.reject(480, Some(&format!("Temporarily Unavailable - {e}")));
            self.sessions.remove(&handle);
            while let Some(out) = invite.poll_output() {
                send(ctx, handle, out);
            }
            return;
        }
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.pending_rtp = Some(None);
            s.dial_in = Some(DialIn {
                invite,
                call_id,
                pt,
                codec,
                ports: None,
                sdp_id: rand::random::<u32>() >> 1,
                sdp_version: 1,
                remote,
            });
        }
        if let Some(p) = self.participant_mut(handle) {
            p.pt = pt;
        }
        ctx.push(Command::OpenRtp {
            handle,
            video: false,
        });
        self.drive_dial_in(ctx, handle);
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
    }

    /// Sends what the call queued; a call that ended takes the caller out of the room.
    fn drive_dial_in(&mut self, ctx: &mut Ctx, handle: HandleId) {
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
        while let Some(e) = d.invite.poll_event() {
            match e {
                SessionEvent::Terminated { .. } | SessionEvent::Failed { .. } => over = true,
                SessionEvent::ReInvite { sdp } => {
                    // A session refresh, hold or a new address: the same codec is answered
                    // as before and the mix follows the caller's address; anything else
                    // is refused and the call goes on as it was.
                    let offer = if sdp.is_empty() {
                        Ok((d.codec, d.pt, d.remote))
                    } else {
                        choose(&sdp)
                    };
                    match offer {
                        Ok((codec, pt, remote)) if codec == d.codec && pt == d.pt => {
                            if remote != d.remote {
                                d.remote = remote;
                                ctx.push(Command::RetargetRtp {
                                    handle,
                                    kind: crate::MediaKind::Audio,
                                    remote_rtp: remote,
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
                _ => {}
            }
        }
        while let Some(out) = d.invite.poll_output() {
            send(ctx, handle, out);
        }
        if !over {
            return;
        }
        let call_id = d.call_id.clone();
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
mod tests {
    use super::*;
    use crate::SipIn;
    use cardea_sip::transaction::{Destination, TransactionEvent, TransactionLayer};

    const CALLER: &str = "127.0.0.1:5070";

    /// `text` through a transaction layer: the request and its server transaction.
    fn arrive(layer: &mut TransactionLayer, text: &str) -> (ServerKey, Request) {
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

    fn request(method: &str, cseq: u32, to_tag: Option<&str>, port: Option<u16>) -> String {
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
    fn responses(ctx: &Ctx) -> Vec<cardea_sip::Response> {
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
        let (codec, pt, remote) = choose(offer).unwrap();
        assert_eq!((codec, pt), (MixCodec::Pcma, 8));
        assert_eq!(remote, Some("127.0.0.1:4000".parse().unwrap()));
        let video = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=video 4000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n";
        assert_eq!(choose(video).unwrap_err().0, 488);
    }
}
