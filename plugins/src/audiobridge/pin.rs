//! The PIN prompt of a dial-in caller: a room with a `pin` and a configured prompt file
//! (`plugins.audiobridge.pin_prompt`) answers the call into a private "lobby" mixer of its
//! own, where the caller hears the prompt in a loop and nobody else; the room neither hears
//! nor lists it. The caller types the PIN as DTMF (RFC 4733 telephone-events, or SIP INFO
//! `application/dtmf-relay`), ended by `#` or by as many digits as the PIN has (`*` starts
//! over). The right PIN takes it into the room; three wrong ones, or 30 s without the right
//! one, end the call (BYE).

use std::time::{Duration, Instant};

use super::room::room_key;
use super::AudioBridge;
use crate::{Command, Ctx, HandleId, MediaKind, MixParticipant, RtpConfig, RtpPorts};

/// Wrong PINs before the call is ended.
pub const PIN_TRIES: u8 = 3;
/// How long a caller has to type the right PIN.
pub const PIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Most digits kept while typing (longer input is cut: it cannot be right anyway).
const MAX_TYPED: usize = 64;
/// Lobby mixers are named by the caller's handle with this bit set. Room ids are below
/// 2^53 (`create` and the configuration refuse others) and handle ids too, so a lobby never
/// names a room, and the core's mixer ids (the low 60 bits, bit 60 set) keep them apart.
const LOBBY_BIT: u64 = 1 << 59;
/// The `file` name the prompt plays under in the lobby mixer.
pub const PROMPT_FILE: &str = "pin-prompt";

/// The mixer id of the lobby of the caller on `handle`.
pub fn lobby_id(handle: u64) -> u64 {
    LOBBY_BIT | (handle & (LOBBY_BIT - 1))
}

/// Whether mixer `room` is a caller's lobby rather than a room.
pub fn is_lobby(room: u64) -> bool {
    room & LOBBY_BIT != 0
}

/// What a key press did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// More digits are awaited.
    Typing,
    /// The PIN typed is wrong; `left` tries remain.
    Wrong { left: u8 },
    /// The PIN typed is right: into the room.
    Right,
    /// The last try was wrong: the call ends.
    Exhausted,
}

/// A caller waiting in its lobby for the PIN of `room`.
#[derive(Debug, Clone)]
pub struct Lobby {
    pub room: u64,
    pin: String,
    typed: String,
    tries: u8,
    deadline: Instant,
    /// The lobby mixer is open (the caller's leg is).
    pub mixing: bool,
}

impl Lobby {
    pub fn new(room: u64, pin: String, now: Instant) -> Self {
        Self {
            room,
            pin,
            typed: String::new(),
            tries: 0,
            deadline: now + PIN_TIMEOUT,
            mixing: false,
        }
    }

    /// The caller pressed `key` (`0`–`9`, `*`, `#`, `A`–`D`).
    pub fn key(&mut self, key: char) -> Verdict {
        match key {
            // `#` ends the PIN; a `#` after nothing (the PIN was already judged on its
            // length) is no try.
            '#' if self.typed.is_empty() => Verdict::Typing,
            '#' => self.judge(),
            '*' => {
                self.typed.clear();
                Verdict::Typing
            }
            k => {
                if self.typed.len() < MAX_TYPED {
                    self.typed.push(k);
                }
                if self.typed.chars().count() == self.pin.chars().count() {
                    self.judge()
                } else {
                    Verdict::Typing
                }
            }
        }
    }

    fn judge(&mut self) -> Verdict {
        let typed = std::mem::take(&mut self.typed);
        if typed == self.pin {
            return Verdict::Right;
        }
        self.tries = self.tries.saturating_add(1);
        if self.tries >= PIN_TRIES {
            Verdict::Exhausted
        } else {
            Verdict::Wrong {
                left: PIN_TRIES - self.tries,
            }
        }
    }

    /// When the caller's time is up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Lobby {
    /// The PIN of the room.
    fn pin(&self) -> &str {
        &self.pin
    }
}

impl AudioBridge {
    /// The leg of a caller that must type a PIN is open: it goes to its lobby, which plays
    /// the prompt in a loop.
    pub(super) fn open_lobby(&mut self, ctx: &mut Ctx, handle: HandleId, ports: &RtpPorts) {
        let Some(s) = self.sessions.get_mut(&handle) else {
            return;
        };
        s.rtp_ports = Some(*ports);
        let Some(d) = s.dial_in.as_mut() else {
            return;
        };
        let Some(lobby) = d.lobby.as_mut() else {
            return;
        };
        let pt_map = match cardea_media::rtp_leg::PtMap::new(&[(d.pt, d.pt)]) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(handle, "dial-in payload type {} refused: {e:?}", d.pt);
                return;
            }
        };
        ctx.push(Command::ConfigureRtp {
            handle,
            config: RtpConfig {
                kind: MediaKind::Audio,
                remote_rtp: d.remote,
                remote_rtcp: None,
                pt_map,
                telephone_event: d.te,
                clock_rate: d.codec.clock_rate(),
                srtp: None,
            },
        });
        let id = lobby_id(handle);
        let rate = self
            .rooms
            .get(&lobby.room)
            .map_or(16_000, |r| r.sampling_rate);
        ctx.push(Command::OpenMixer {
            room: id,
            key: room_key(lobby.room),
            sampling_rate: rate,
        });
        ctx.push(Command::MixIn {
            room: id,
            handle,
            participant: MixParticipant {
                rtp: true,
                codec: d.codec,
                pt: d.pt,
                // Nobody else is in the lobby to hear it.
                muted: true,
                ..MixParticipant::default()
            },
        });
        if let Some(path) = &self.pin_prompt {
            ctx.push(Command::MixPlayFile {
                room: id,
                file: PROMPT_FILE.into(),
                path: path.clone(),
                looped: true,
            });
        }
        lobby.mixing = true;
        tracing::debug!(
            handle,
            room = lobby.room,
            "dial-in caller asked for the PIN"
        );
    }

    /// Stops the lobby's mixer.
    pub(super) fn close_lobby(ctx: &mut Ctx, handle: HandleId, lobby: &Lobby) {
        if lobby.mixing {
            let room = lobby_id(handle);
            ctx.push(Command::MixOut { room, handle });
            ctx.push(Command::CloseMixer { room });
        }
    }

    /// A key the caller pressed (RFC 4733 or SIP INFO). Once in the room, keys are not
    /// the plugin's business.
    pub(super) fn dial_in_key(&mut self, ctx: &mut Ctx, handle: HandleId, key: char) {
        let Some(lobby) = self
            .sessions
            .get_mut(&handle)
            .and_then(|s| s.dial_in.as_mut())
            .and_then(|d| d.lobby.as_mut())
        else {
            return;
        };
        match lobby.key(key) {
            Verdict::Typing => {}
            Verdict::Wrong { left } => {
                tracing::info!(
                    handle,
                    room = lobby.room,
                    left,
                    "dial-in caller typed a wrong PIN"
                );
            }
            Verdict::Exhausted => {
                tracing::info!(
                    handle,
                    room = lobby.room,
                    "dial-in caller typed a wrong PIN {PIN_TRIES} times: hanging up"
                );
                self.hang_up_dial_in(ctx, handle);
            }
            Verdict::Right => self.enter_from_lobby(ctx, handle),
        }
    }

    /// The right PIN: out of the lobby, into the room.
    fn enter_from_lobby(&mut self, ctx: &mut Ctx, handle: HandleId) {
        let Some(s) = self.sessions.get_mut(&handle) else {
            return;
        };
        let ports = s.rtp_ports;
        let Some(mut d) = s.dial_in.take() else {
            return;
        };
        let Some(lobby) = d.lobby.take() else {
            s.dial_in = Some(d);
            return;
        };
        Self::close_lobby(ctx, handle, &lobby);
        let admitted = self.admit_dial_in(ctx, handle, &d, Some(lobby.pin()));
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.dial_in = Some(d);
        }
        match (admitted, ports) {
            (Ok(()), Some(ports)) => {
                tracing::info!(
                    handle,
                    room = lobby.room,
                    "dial-in caller typed the PIN: joining"
                );
                self.rtp_ready(ctx, handle, Ok(ports));
            }
            (Ok(()), None) => self.hang_up_dial_in(ctx, handle),
            (Err(e), _) => {
                tracing::info!(handle, room = lobby.room, "dial-in caller not let in: {e}");
                self.hang_up_dial_in(ctx, handle);
            }
        }
    }

    /// Callers whose time to type the PIN is up are hung up on.
    pub(super) fn lobby_timers(&mut self, ctx: &mut Ctx) {
        let late: Vec<HandleId> = self
            .sessions
            .iter()
            .filter_map(|(h, s)| {
                let lobby = s.dial_in.as_ref()?.lobby.as_ref()?;
                (lobby.deadline() <= ctx.now).then_some(*h)
            })
            .collect();
        for handle in late {
            tracing::info!(
                handle,
                "dial-in caller did not type the PIN in time: hanging up"
            );
            self.hang_up_dial_in(ctx, handle);
        }
    }

    /// Hangs up on the callers waiting to enter `room` (it is destroyed), and on the calls
    /// `dial` placed into it that are not answered yet.
    pub(super) fn hang_up_lobby(&mut self, ctx: &mut Ctx, room: u64) {
        let waiting: Vec<HandleId> = self
            .sessions
            .iter()
            .filter_map(|(h, s)| {
                let lobby = s.dial_in.as_ref()?.lobby.as_ref()?;
                (lobby.room == room).then_some(*h)
            })
            .collect();
        for handle in waiting {
            self.hang_up_dial_in(ctx, handle);
        }
        // And the calls `dial` placed into it that are not answered yet.
        let dialed: Vec<u64> = self
            .sessions
            .values()
            .filter(|s| s.participant.is_none())
            .filter_map(|s| match (&s.dialing, &s.dial_in) {
                (Some(d), _) if d.room == room => Some(d.id),
                (None, Some(d)) if d.room() == room && d.requester.is_some() => d.id,
                _ => None,
            })
            .collect();
        for id in dialed {
            self.hang_up_dialing(ctx, room, id);
        }
    }
}

/// The key of a SIP INFO `application/dtmf-relay` body (`Signal=5`), if it carries one.
pub fn dtmf_relay_key(content_type: Option<&str>, body: &[u8]) -> Option<char> {
    let ct = content_type?.split(';').next()?.trim();
    if !ct.eq_ignore_ascii_case("application/dtmf-relay") {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    text.lines().find_map(|line| {
        let (name, value) = line.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("signal") {
            return None;
        }
        let mut chars = value.trim().chars();
        let key = chars.next()?.to_ascii_uppercase();
        let valid = key.is_ascii_digit() || matches!(key, '*' | '#' | 'A'..='D');
        (chars.next().is_none() && valid).then_some(key)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lobby(pin: &str) -> Lobby {
        Lobby::new(7, pin.into(), Instant::now())
    }

    #[test]
    fn the_pin_is_judged_on_its_length_or_on_hash() {
        let mut l = lobby("1234");
        for k in "123".chars() {
            assert_eq!(l.key(k), Verdict::Typing);
        }
        assert_eq!(l.key('4'), Verdict::Right);
        let mut l = lobby("1234");
        assert_eq!(l.key('9'), Verdict::Typing);
        assert_eq!(l.key('#'), Verdict::Wrong { left: 2 });
        // A `#` after a PIN judged on its length is no further try.
        for k in "5678".chars() {
            l.key(k);
        }
        assert_eq!(l.key('#'), Verdict::Typing);
        assert_eq!(l.key('*'), Verdict::Typing);
        for k in "12".chars() {
            l.key(k);
        }
        assert_eq!(l.key('*'), Verdict::Typing, "star starts over");
        for k in "123".chars() {
            l.key(k);
        }
        assert_eq!(l.key('4'), Verdict::Right);
    }

    #[test]
    fn three_wrong_pins_end_the_call() {
        let mut l = lobby("42");
        assert_eq!(l.key('1'), Verdict::Typing);
        assert_eq!(l.key('1'), Verdict::Wrong { left: 2 });
        assert_eq!(l.key('0'), Verdict::Typing);
        assert_eq!(l.key('#'), Verdict::Wrong { left: 1 });
        assert_eq!(l.key('9'), Verdict::Typing);
        assert_eq!(l.key('9'), Verdict::Exhausted);
    }

    #[test]
    fn lobbies_never_name_rooms() {
        assert!(is_lobby(lobby_id(5)));
        assert!(!is_lobby((1 << 53) - 1));
        assert_ne!(lobby_id(5), lobby_id(6));
    }

    #[test]
    fn dtmf_relay_bodies_are_read() {
        let ct = Some("application/dtmf-relay");
        assert_eq!(
            dtmf_relay_key(ct, b"Signal=5\r\nDuration=160\r\n"),
            Some('5')
        );
        assert_eq!(dtmf_relay_key(ct, b"Signal= #\r\n"), Some('#'));
        assert_eq!(dtmf_relay_key(ct, b"Signal=55\r\n"), None);
        assert_eq!(dtmf_relay_key(ct, b"Duration=160\r\n"), None);
        assert_eq!(dtmf_relay_key(Some("text/plain"), b"Signal=5"), None);
        assert_eq!(dtmf_relay_key(None, b"Signal=5"), None);
        assert_eq!(dtmf_relay_key(ct, &[0xff, 0xfe]), None);
    }
}
