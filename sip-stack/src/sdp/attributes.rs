//! Typed views of the attributes the SIP side reads: rtpmap and fmtp (RFC 8866 §6.6,
//! §6.15), the direction attributes (RFC 3264 §5.1), rtcp (RFC 3605), crypto (RFC 4568
//! §9.1), and the codec a payload type names (RFC 3551 §6 for static types).

use std::fmt;

use super::error::SdpError;
use super::model::{parse_pt, Connection};

/// `a=sendrecv | sendonly | recvonly | inactive`, from the writer's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.name().eq_ignore_ascii_case(name))
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_flags(sends: bool, receives: bool) -> Self {
        match (sends, receives) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// The same stream seen from the other end (sendonly ↔ recvonly).
    pub fn reversed(self) -> Self {
        Self::from_flags(self.receives(), self.sends())
    }

    /// What both allow: sends only if both send, receives only if both receive.
    pub fn intersect(self, other: Self) -> Self {
        Self::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }

    /// The direction an answerer may state for an offer saying `offer` (RFC 3264 §6.1).
    pub fn answer_to(offer: Self, wanted: Self) -> Self {
        offer.reversed().intersect(wanted)
    }
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]` (RFC 8866 §6.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    pub pt: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u16>,
}

impl Rtpmap {
    pub fn parse(value: &str) -> Result<Self, SdpError> {
        let bad = || SdpError::BadRtpmap(value.into());
        let (pt, rest) = value.trim().split_once(' ').ok_or_else(bad)?;
        let pt = parse_pt(pt)?;
        let mut f = rest.trim().split('/');
        let encoding = f.next().filter(|e| !e.is_empty()).ok_or_else(bad)?;
        let clock_rate = f
            .next()
            .and_then(|c| c.parse().ok())
            .filter(|c| *c > 0)
            .ok_or_else(bad)?;
        let channels = f.next().map(|c| c.parse().map_err(|_| bad())).transpose()?;
        if f.next().is_some() {
            return Err(bad());
        }
        Ok(Self {
            pt,
            encoding: encoding.into(),
            clock_rate,
            channels,
        })
    }
}

impl fmt::Display for Rtpmap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.pt, self.encoding, self.clock_rate)?;
        if let Some(c) = self.channels {
            write!(f, "/{c}")?;
        }
        Ok(())
    }
}

/// `a=fmtp:<payload type> <format specific parameters>` (RFC 8866 §6.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    pub pt: u8,
    pub params: String,
}

impl Fmtp {
    pub fn parse(value: &str) -> Result<Self, SdpError> {
        let value = value.trim();
        let (pt, params) = value
            .split_once(' ')
            .ok_or_else(|| SdpError::BadFmtp(value.into()))?;
        Ok(Self {
            pt: parse_pt(pt)?,
            params: params.trim().into(),
        })
    }

    /// `name[=value]` pairs of a `;`-separated parameter list (the common form; RFC 7587
    /// §6, RFC 6184 §8.1).
    pub fn pairs(params: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
        params
            .split(';')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (p, None),
            })
    }
}

impl fmt::Display for Fmtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.pt, self.params)
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    pub port: u16,
    pub connection: Option<Connection>,
}

impl Rtcp {
    pub fn parse(value: &str) -> Result<Self, SdpError> {
        let value = value.trim();
        let (port, rest) = match value.split_once(' ') {
            Some((p, r)) => (p, Some(r)),
            None => (value, None),
        };
        let port = port.parse().map_err(|_| SdpError::BadRtcp(value.into()))?;
        let connection = rest
            .map(|r| Connection::parse(r.trim()).map_err(|_| SdpError::BadRtcp(value.into())))
            .transpose()?;
        Ok(Self { port, connection })
    }
}

impl fmt::Display for Rtcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        if let Some(c) = &self.connection {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}

/// `a=crypto:<tag> <crypto-suite> <key-params> [<session-param>]*` (RFC 4568 §9.1), as
/// strings: the media crate's `CryptoAttribute` decodes the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// 1*9DIGIT.
    pub tag: u32,
    pub suite: String,
    /// e.g. `inline:<base64 key||salt>[|lifetime][|MKI:length]`, `;`-separated if several.
    pub key_params: String,
    /// Space-separated, as written (`UNENCRYPTED_SRTCP`, `KDR=…`); empty if none.
    pub session_params: String,
}

impl Crypto {
    /// Parses the value after `a=crypto:`.
    pub fn parse(value: &str) -> Result<Self, SdpError> {
        let bad = || SdpError::BadCrypto(value.into());
        let mut f = value.split_ascii_whitespace();
        let tag = f
            .next()
            .filter(|t| (1..=9).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse().ok())
            .ok_or_else(bad)?;
        let suite = f.next().ok_or_else(bad)?;
        let key_params = f.next().ok_or_else(bad)?;
        if !key_params.contains(':') {
            return Err(bad());
        }
        Ok(Self {
            tag,
            suite: suite.into(),
            key_params: key_params.into(),
            session_params: f.collect::<Vec<_>>().join(" "),
        })
    }
}

impl fmt::Display for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.tag, self.suite, self.key_params)?;
        if !self.session_params.is_empty() {
            write!(f, " {}", self.session_params)?;
        }
        Ok(())
    }
}

/// A payload type and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    pub pt: u8,
    pub encoding: String,
    pub clock_rate: u32,
    /// Audio channels; `None` means one (RFC 8866 §6.6).
    pub channels: Option<u16>,
    /// The `a=fmtp` parameters, if any.
    pub fmtp: Option<String>,
}

/// The static audio and video payload types of RFC 3551 §6 (Tables 4 and 5).
const STATIC: [(u8, &str, u32, Option<u16>); 19] = [
    (0, "PCMU", 8000, Some(1)),
    (3, "GSM", 8000, Some(1)),
    (4, "G723", 8000, Some(1)),
    (5, "DVI4", 8000, Some(1)),
    (6, "DVI4", 16000, Some(1)),
    (7, "LPC", 8000, Some(1)),
    (8, "PCMA", 8000, Some(1)),
    (9, "G722", 8000, Some(1)),
    (10, "L16", 44100, Some(2)),
    (11, "L16", 44100, Some(1)),
    (12, "QCELP", 8000, Some(1)),
    (13, "CN", 8000, Some(1)),
    (14, "MPA", 90000, None),
    (15, "G728", 8000, Some(1)),
    (16, "DVI4", 11025, Some(1)),
    (17, "DVI4", 22050, Some(1)),
    (18, "G729", 8000, Some(1)),
    (26, "JPEG", 90000, None),
    (34, "H263", 90000, None),
];

impl Codec {
    pub fn from_rtpmap(m: &Rtpmap) -> Self {
        Self {
            pt: m.pt,
            encoding: m.encoding.clone(),
            clock_rate: m.clock_rate,
            channels: m.channels,
            fmtp: None,
        }
    }

    /// A static payload type named without `a=rtpmap` (RFC 3551 §6).
    pub fn from_static(pt: u8) -> Option<Self> {
        STATIC
            .iter()
            .find(|s| s.0 == pt)
            .map(|&(pt, encoding, clock_rate, _)| Self {
                pt,
                encoding: encoding.into(),
                clock_rate,
                channels: None,
                fmtp: None,
            })
    }

    /// Same encoding (case-insensitive), clock rate and channel count: the same codec even
    /// under another payload type number.
    pub fn same_codec(&self, other: &Codec) -> bool {
        self.encoding.eq_ignore_ascii_case(&other.encoding)
            && self.clock_rate == other.clock_rate
            && self.channels.unwrap_or(1) == other.channels.unwrap_or(1)
    }

    /// RFC 4733 named events.
    pub fn is_telephone_event(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("telephone-event")
    }

    /// Comfort noise (RFC 3389).
    pub fn is_comfort_noise(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("CN")
    }

    /// Carries media itself (not DTMF, comfort noise, redundancy, retransmission or FEC).
    pub fn is_media(&self) -> bool {
        !self.is_telephone_event() && !self.is_comfort_noise() && !is_webrtc_only_encoding(self)
    }

    pub fn rtpmap(&self) -> Rtpmap {
        Rtpmap {
            pt: self.pt,
            encoding: self.encoding.clone(),
            clock_rate: self.clock_rate,
            channels: self.channels,
        }
    }
}

/// Payload formats that only make sense with WebRTC's feedback and SSRC machinery (RFC 4588
/// rtx, RFC 2198 red over opus, RFC 5109 ulpfec, flexfec): not offered to SIP peers.
pub const WEBRTC_ONLY_ENCODINGS: [&str; 4] = ["red", "rtx", "ulpfec", "flexfec-03"];

pub(crate) fn is_webrtc_only_encoding(c: &Codec) -> bool {
    WEBRTC_ONLY_ENCODINGS
        .iter()
        .any(|e| c.encoding.eq_ignore_ascii_case(e))
}

/// The opus parameters of RFC 7587 §6.1; others in a browser's fmtp are its own.
const OPUS_PARAMS: [&str; 11] = [
    "maxplaybackrate",
    "sprop-maxcapturerate",
    "maxptime",
    "ptime",
    "minptime",
    "maxaveragebitrate",
    "stereo",
    "sprop-stereo",
    "cbr",
    "useinbandfec",
    "usedtx",
];

/// The fmtp a SIP peer gets for a browser codec: opus keeps only RFC 7587 parameters, other
/// codecs keep theirs. `None` when nothing is left.
pub(crate) fn sip_fmtp(codec: &Codec) -> Option<String> {
    let params = codec.fmtp.as_deref()?;
    if !codec.encoding.eq_ignore_ascii_case("opus") {
        return Some(params.to_owned());
    }
    let kept: Vec<&str> = params
        .split(';')
        .map(str::trim)
        .filter(|p| {
            let name = p.split('=').next().unwrap_or_default().trim();
            OPUS_PARAMS.iter().any(|o| o.eq_ignore_ascii_case(name))
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(";"))
}
