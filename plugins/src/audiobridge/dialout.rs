//! Dial-out, a Cardea extension of the AudioBridge API: `{"request": "dial", "room": R,
//! "uri": "sip:…", "display": "…", "secret": "…"}` calls a SIP URI and joins the answer to
//! the room as a plain RTP participant, as a dial-in caller is.
//!
//! - Needs the room's secret, and the plugin's `admin_key` when one is configured; a room
//!   without a secret cannot dial out (489).
//! - Never an open relay: the URI's host and port must be those of a configured trunk
//!   (`sip.trunks[].uri`); anything else is refused with error 495.
//! - Answered at once with `{"audiobridge": "dialing", "room": R, "id": <participant id>}`;
//!   the requesting handle then hears `{"audiobridge": "event", "room": R, "dial":
//!   "ringing" | "answered" | "failed", "id": …, "call_id": …}` (a failure with the SIP
//!   `code` and `reason`). Once answered, the callee is a participant (`joined`, listed
//!   with `display`); `kick` with its id hangs up (CANCEL before the answer, BYE after).
//! - We offer plain RTP/AVP: opus (rooms mixed at 48 kHz only), PCMU, PCMA and
//!   telephone-event; the answer's first codec is the participant's.

use bytes::Bytes;
use cardea_sip::typed::NameAddr;
use cardea_sip::ua::{CallConfig, InviteSession};
use cardea_sip::Uri;
use serde_json::{json, Value};

use super::dialin::{choose, local_sdp, DialIn};
use super::error::AbError;
use super::{check_secret, random_id, AudioBridge};
use crate::dispatch::push;
use crate::fields::Fields;
use crate::{Command, Ctx, HandleId, MixCodec, RtpPorts};

/// Our payload type for opus in a dial-out offer (a dynamic one, as Janus's plain RTP
/// participants use).
const OPUS_PT: u8 = 100;
/// Our telephone-event payload type in a dial-out offer.
const TE_PT: u8 = 101;

/// A call placed by `dial` whose RTP leg is being opened (the offer needs its port).
#[derive(Debug)]
pub struct Dialing {
    pub room: u64,
    /// The participant id it will have in the room.
    pub id: u64,
    pub display: Option<String>,
    /// The handle that asked: it hears how the call goes.
    pub requester: HandleId,
    config: CallConfig,
}

/// A trunk dial-out may reach: host (lower case) and port.
pub type DialTarget = (String, u16);

/// The host and port a SIP URI points at (5060 when it says none).
pub fn target_of(uri: &Uri) -> Option<DialTarget> {
    let sip = uri.as_sip()?;
    Some((
        sip.host.to_string().to_ascii_lowercase(),
        sip.port.unwrap_or(5060),
    ))
}

impl AudioBridge {
    /// The trunks `dial` may call (the URIs of `sip.trunks`); unparsable ones are skipped.
    pub fn with_dial_out(mut self, trunks: &[String]) -> Self {
        self.dial_out = trunks
            .iter()
            .filter_map(|t| Uri::parse(t).ok())
            .filter_map(|u| target_of(&u))
            .collect();
        self
    }

    /// `dial`: checks, then opens the callee's RTP leg; the INVITE leaves once it is open.
    pub(super) fn dial(&mut self, ctx: &mut Ctx, f: &Fields<'_>) -> Result<Value, AbError> {
        let room_id = f.required_u64("room")?;
        let text = f.required_str("uri")?;
        let display = f.str("display")?.map(str::to_owned);
        let room = self
            .rooms
            .get(&room_id)
            .ok_or(AbError::NoSuchRoom(room_id))?;
        // Calls cost money: nobody reaches a trunk without a secret. A room without one
        // cannot dial out, and a configured admin_key is needed as well.
        let Some(secret) = room.secret.as_deref() else {
            return Err(AbError::Unauthorized(
                "Unauthorized (dial-out needs a room with a secret)".into(),
            ));
        };
        check_secret(f, "secret", Some(secret))?;
        if let Some(key) = self.admin_key.as_deref() {
            check_secret(f, "admin_key", Some(key))?;
        }
        let uri = Uri::parse(text)
            .ok()
            .filter(|u| u.as_sip().is_some())
            .ok_or_else(|| {
                AbError::InvalidElement(format!(
                    "Invalid element (uri should be a SIP URI: {text})"
                ))
            })?;
        let target = target_of(&uri);
        if !target.as_ref().is_some_and(|t| self.dial_out.contains(t)) {
            return Err(AbError::DialRefused(format!(
                "Dial refused ({text} is not reached through a configured trunk)"
            )));
        }
        let env = self
            .sip
            .as_ref()
            .ok_or_else(|| AbError::Unknown("The SIP endpoint is off".into()))?;
        let me = Uri::parse(&format!("sip:room-{room_id}@{}", env.udp))
            .map_err(|e| AbError::Unknown(format!("No local SIP identity: {e}")))?;
        let mut from = NameAddr::new(me.clone());
        from.display_name = Some(room.description.clone());
        let mut to = NameAddr::new(uri);
        to.display_name = display.clone();
        let config = CallConfig {
            local: env.local(),
            from,
            to,
            target: None,
            contact: NameAddr::new(me),
            routes: Vec::new(),
            credentials: None,
        };
        let taken: Vec<u64> = self
            .sessions
            .values()
            .filter_map(|s| s.dialing.as_ref().map(|d| d.id))
            .collect();
        let id = random_id(|i| room.participants.contains_key(&i) || taken.contains(&i));
        let handle = random_id(|h| self.sessions.contains_key(&h) || self.handles.contains(&h));
        let _ = crate::Plugin::create_session(self, handle);
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.dialing = Some(Dialing {
                room: room_id,
                id,
                display,
                requester: self.current,
                config,
            });
        }
        ctx.push(Command::AttachSipHandle { handle });
        ctx.push(Command::PinShard {
            handle,
            key: super::room::room_key(room_id),
        });
        ctx.push(Command::OpenRtp {
            handle,
            video: false,
        });
        tracing::info!(
            room = room_id,
            id,
            handle,
            to = text,
            "audiobridge dialing out"
        );
        Ok(json!({ "audiobridge": "dialing", "room": room_id, "id": id }))
    }

    /// The callee's RTP leg is open (or not): the INVITE leaves with our offer.
    pub(super) fn dial_leg_opened(
        &mut self,
        ctx: &mut Ctx,
        handle: HandleId,
        ports: Result<RtpPorts, String>,
    ) {
        let Some(d) = self
            .sessions
            .get_mut(&handle)
            .and_then(|s| s.dialing.take())
        else {
            return;
        };
        let ports = match ports {
            Ok(p) => p,
            Err(e) => {
                let event = failure(d.room, d.id, None, 503, &format!("No RTP port: {e}"));
                push(ctx, d.requester, None, event);
                self.drop_call_handle(ctx, handle);
                return;
            }
        };
        let rate = self.rooms.get(&d.room).map_or(16_000, |r| r.sampling_rate);
        let mut codecs = Vec::new();
        if rate == 48_000 {
            codecs.push((MixCodec::Opus, OPUS_PT));
        }
        codecs.extend([(MixCodec::Pcmu, 0), (MixCodec::Pcma, 8)]);
        let (sdp_id, sdp_version) = (rand::random::<u32>() >> 1, 1);
        let offer = local_sdp(&ports, &codecs, Some(TE_PT), sdp_id, sdp_version);
        let invite = InviteSession::call(d.config, offer);
        let call = DialIn::outgoing(
            invite,
            d.room,
            d.id,
            d.display.unwrap_or_else(|| "SIP callee".into()),
            d.requester,
            ports,
            (sdp_id, sdp_version + 1),
        );
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.rtp_ports = Some(ports);
            s.dial_in = Some(call);
        }
        self.drive_dial_in(ctx, handle);
    }

    /// The callee answered with `sdp`: it joins the room in the answer's first codec.
    pub(super) fn dial_answered(&mut self, ctx: &mut Ctx, handle: HandleId, sdp: &Bytes) {
        let Some(s) = self.sessions.get_mut(&handle) else {
            return;
        };
        let ports = s.rtp_ports;
        let Some(mut d) = s.dial_in.take() else {
            return;
        };
        let requester = d.requester.take();
        let chosen = choose(sdp).map_err(|(_, reason)| reason.to_owned());
        if let Ok(o) = &chosen {
            s.telephone_event = o.te;
        }
        let admitted = chosen.and_then(|o| {
            d.codec = o.codec;
            d.pt = o.pt;
            d.te = o.te;
            d.remote = o.remote;
            let pin = self.rooms.get(&d.room()).and_then(|r| r.pin.clone());
            self.admit_dial_in(ctx, handle, &d, pin.as_deref())
                .map_err(|e| e.to_string())
        });
        let (room, id, call_id) = (d.room(), d.id.unwrap_or(0), d.call_id().to_owned());
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.dial_in = Some(d);
        }
        match (admitted, ports) {
            (Ok(()), Some(ports)) => {
                if let Some(r) = requester {
                    let event = json!({
                        "audiobridge": "event", "room": room, "dial": "answered", "id": id,
                        "call_id": call_id,
                    });
                    push(ctx, r, None, event);
                }
                self.rtp_ready(ctx, handle, Ok(ports));
            }
            (result, _) => {
                let reason = result.err().unwrap_or_else(|| "no RTP leg".into());
                tracing::info!(handle, room, "dialed callee not joined: {reason}");
                if let Some(r) = requester {
                    let event = failure(room, id, Some(&call_id), 488, &reason);
                    push(ctx, r, None, event);
                }
                self.hang_up_dial_in(ctx, handle);
            }
        }
    }

    /// Forgets the handle of a call that never left: its leg closes and the core drops
    /// the handle (releasing a Call-ID, here none, is what lets it go).
    fn drop_call_handle(&mut self, ctx: &mut Ctx, handle: HandleId) {
        ctx.push(Command::CloseRtp { handle });
        ctx.push(Command::Sip {
            handle,
            out: crate::SipOut::ReleaseCall {
                call_id: String::new(),
            },
        });
        self.sessions.remove(&handle);
        self.handles.remove(&handle);
    }

    /// Hangs up a call `dial` placed that is not in the room yet (`kick` of its id).
    pub(super) fn hang_up_dialing(&mut self, ctx: &mut Ctx, room: u64, id: u64) -> bool {
        let found = self.sessions.iter().find_map(|(h, s)| {
            let d = s.dial_in.as_ref()?;
            (d.room() == room && d.id == Some(id) && s.participant.is_none()).then_some(*h)
        });
        let opening = self.sessions.iter().find_map(|(h, s)| {
            let d = s.dialing.as_ref()?;
            (d.room == room && d.id == id).then_some(*h)
        });
        if let Some(h) = found {
            self.hang_up_dial_in(ctx, h);
            return true;
        }
        if let Some(h) = opening {
            // Its leg is still opening: the INVITE never leaves.
            if let Some(d) = self.sessions.get_mut(&h).and_then(|s| s.dialing.take()) {
                let event = failure(room, id, None, 487, "Request Terminated");
                push(ctx, d.requester, None, event);
            }
            self.drop_call_handle(ctx, h);
            return true;
        }
        false
    }
}

/// The event of a dial-out that failed.
pub(super) fn failure(room: u64, id: u64, call_id: Option<&str>, code: u16, reason: &str) -> Value {
    let mut event = json!({
        "audiobridge": "event", "room": room, "dial": "failed", "id": id, "code": code,
        "reason": reason,
    });
    if let Some(c) = call_id {
        event["call_id"] = c.into();
    }
    event
}
