//! DTMF as RTP telephone-events (RFC 4733): reading them from the SIP peer without reporting
//! a key three times, and sending a key press as the RFC's packet sequence.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |     event     |E|R| volume    |          duration             |
//! ```

use std::time::{Duration, Instant};

use super::error::DtmfError;

/// Packet interval of a generated event (RFC 4733 §2.5.1.2 suggests the audio ptime).
pub const DTMF_INTERVAL: Duration = Duration::from_millis(20);
/// How often the final packet is sent (RFC 4733 §2.5.1.4: three times).
const END_PACKETS: u8 = 3;
/// Power level of generated tones: -10 dBm0, a typical keypad level.
const DEFAULT_VOLUME: u8 = 10;

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    /// Power level in -dBm0 (0..=63).
    pub volume: u8,
    /// Duration so far, in RTP clock ticks.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Reads the first event of a payload (later ones are RFC 2198 redundancy we skip).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::TooShort(payload.len()));
        };
        Ok(Self {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3f,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        let end = if self.end { 0x80 } else { 0 };
        [self.event, end | (self.volume & 0x3f), d[0], d[1]]
    }
}

/// The DTMF key of an event code (RFC 4733 §3.2: 0-9, *, #, A-D), or `None` for other events.
pub fn digit_of(event: u8) -> Option<char> {
    match event {
        0..=9 => Some(char::from(b'0' + event)),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + event - 12)),
        _ => None,
    }
}

/// The event code of a DTMF key (case-insensitive for A-D).
pub fn event_of(digit: char) -> Result<u8, DtmfError> {
    match digit.to_ascii_uppercase() {
        d @ '0'..='9' => Ok(d as u8 - b'0'),
        '*' => Ok(10),
        '#' => Ok(11),
        d @ 'A'..='D' => Ok(d as u8 - b'A' + 12),
        _ => Err(DtmfError::NotADigit(digit)),
    }
}

/// A key press seen on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfReport {
    pub digit: char,
    pub duration: Duration,
    /// `false` when the key went down, `true` once when it came up.
    pub end: bool,
}

/// Turns a stream of telephone-event packets into one report when a key goes down and one
/// when it comes up. An event is identified by its RTP timestamp (RFC 4733 §2.5.2.1), so the
/// growing-duration updates and the retransmitted end packets are recognised as the same key.
#[derive(Debug, Default, Clone)]
pub struct DtmfReceiver {
    /// (timestamp, event, ended) of the event in progress or last seen.
    current: Option<(u32, u8, bool)>,
}

impl DtmfReceiver {
    pub fn on_packet(
        &mut self,
        ts: u32,
        event: &TelephoneEvent,
        clock_rate: u32,
    ) -> Option<DtmfReport> {
        let digit = digit_of(event.event)?;
        let report = DtmfReport {
            digit,
            duration: Duration::from_micros(
                u64::from(event.duration) * 1_000_000 / u64::from(clock_rate.max(1)),
            ),
            end: event.end,
        };
        match self.current {
            Some((t, e, ended)) if t == ts && e == event.event => {
                if ended || !event.end {
                    return None;
                }
                self.current = Some((ts, event.event, true));
                Some(report)
            }
            _ => {
                self.current = Some((ts, event.event, event.end));
                Some(report)
            }
        }
    }
}

/// A generated packet: the caller gives it the stream's next sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    pub marker: bool,
    pub ts: u32,
    pub event: TelephoneEvent,
}

#[derive(Debug, Clone, Copy)]
struct Sending {
    event: u8,
    ts: u32,
    total: u16,
    step: u16,
    sent: u16,
    first: bool,
    ends_left: u8,
    next_at: Instant,
}

/// Sends one key press (RFC 4733 §2.5.1): a packet every 20 ms with one timestamp and a
/// growing duration, the marker bit on the first, then the final duration three times with
/// the end bit.
#[derive(Debug, Default, Clone)]
pub struct DtmfSender {
    sending: Option<Sending>,
}

impl DtmfSender {
    pub fn is_sending(&self) -> bool {
        self.sending.is_some()
    }

    /// Starts `digit` for `duration` at RTP timestamp `ts` of a `clock_rate` clock.
    pub fn start(
        &mut self,
        now: Instant,
        digit: char,
        duration: Duration,
        ts: u32,
        clock_rate: u32,
    ) -> Result<(), DtmfError> {
        if self.sending.is_some() {
            return Err(DtmfError::Busy);
        }
        let event = event_of(digit)?;
        let to_ticks = |d: Duration| {
            let t = d.as_micros() * u128::from(clock_rate) / 1_000_000;
            u16::try_from(t).unwrap_or(u16::MAX).max(1)
        };
        let step = to_ticks(DTMF_INTERVAL);
        self.sending = Some(Sending {
            event,
            ts,
            total: to_ticks(duration.max(DTMF_INTERVAL)),
            step,
            sent: 0,
            first: true,
            ends_left: END_PACKETS,
            next_at: now,
        });
        Ok(())
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.sending.map(|s| s.next_at)
    }

    /// The packet due at `now`, if any.
    pub fn poll(&mut self, now: Instant) -> Option<DtmfPacket> {
        let s = self.sending.as_mut()?;
        if now < s.next_at {
            return None;
        }
        s.next_at += DTMF_INTERVAL;
        let end = s.sent >= s.total;
        if end {
            s.ends_left -= 1;
        } else {
            s.sent = s.sent.saturating_add(s.step).min(s.total);
        }
        let packet = DtmfPacket {
            marker: std::mem::take(&mut s.first),
            ts: s.ts,
            event: TelephoneEvent {
                event: s.event,
                end,
                volume: DEFAULT_VOLUME,
                duration: s.sent,
            },
        };
        if end && s.ends_left == 0 {
            self.sending = None;
        }
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_roundtrip_through_bytes() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Ok(e));
        assert_eq!(TelephoneEvent::parse(&[1, 2]), Err(DtmfError::TooShort(2)));
    }

    #[test]
    fn digits_map_to_event_codes_both_ways() {
        for (d, e) in [
            ('0', 0),
            ('9', 9),
            ('*', 10),
            ('#', 11),
            ('A', 12),
            ('D', 15),
        ] {
            assert_eq!(event_of(d), Ok(e));
            assert_eq!(digit_of(e), Some(d));
        }
        assert_eq!(event_of('d'), Ok(15));
        assert_eq!(event_of('x'), Err(DtmfError::NotADigit('x')));
        assert_eq!(digit_of(16), None);
    }
}
