//! AudioBridge mixing, sans-IO: each room decodes its participants' audio into 20 ms frames
//! at the room's sampling rate, sums them, and sends every participant the mix of the
//! others, encoded in its codec. Everyone who is not speaking hears the same mix, so that
//! mix is encoded once per codec and shared; only speakers get a mix of their own.

mod g711;
mod jitter;
mod resample;
mod room;
#[cfg(test)]
mod tests;

pub use room::{Mixer, MixerEvent, Outgoing, FRAME, RATES};

/// A participant's codec (both ways; Cardea does not transcode between directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MixCodec {
    Opus,
    Pcmu,
    Pcma,
}

impl MixCodec {
    /// Janus's names: `opus`, `pcmu`, `pcma`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "opus" => Some(Self::Opus),
            "pcmu" => Some(Self::Pcmu),
            "pcma" => Some(Self::Pcma),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Opus => "opus",
            Self::Pcmu => "pcmu",
            Self::Pcma => "pcma",
        }
    }

    /// The RTP clock rate.
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Opus => 48_000,
            Self::Pcmu | Self::Pcma => 8_000,
        }
    }
}

/// How one participant takes part in a mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixParticipant {
    /// The participant is the handle's plain RTP leg rather than its WebRTC leg.
    pub rtp: bool,
    pub codec: MixCodec,
    /// The payload type of its audio, both ways.
    pub pt: u8,
    /// Its audio is left out of the mix.
    pub muted: bool,
    /// It is sent no mix (Janus `suspend`).
    pub suspended: bool,
    /// Gain on its audio, in percent (100: as it comes).
    pub volume: u16,
    /// Opus: the encoder's bitrate in bit/s (0: libopus chooses).
    pub bitrate: u32,
    /// Opus: the encoder's complexity, 0–10 (Janus's `quality`, default 4).
    pub quality: u8,
    /// Opus: expected packet loss in percent, 0–20; above 0 the encoder adds in-band FEC.
    pub expected_loss: u8,
}

impl Default for MixParticipant {
    fn default() -> Self {
        Self {
            rtp: false,
            codec: MixCodec::Opus,
            pt: 111,
            muted: false,
            suspended: false,
            volume: 100,
            bitrate: 0,
            quality: 4,
            expected_loss: 0,
        }
    }
}

/// A plain RTP copy of a room's whole mix (Janus's AudioBridge `rtp_forward`), sent from
/// the shard's media socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixForward {
    pub id: u32,
    pub destination: std::net::SocketAddr,
    pub codec: MixCodec,
    pub pt: u8,
    pub ssrc: u32,
    /// Send (silence) even while nobody is in the room.
    pub always_on: bool,
    /// SRTP out with this key (Janus's `srtp_suite` and `srtp_crypto`).
    pub srtp: Option<crate::rtp_leg::SrtpKey>,
}
