//! The SDP text model (RFC 8866 §5): a session part and media sections, each a list of lines
//! kept as written. Typed views ([`Origin`], [`Connection`], attributes) are read on demand,
//! so a line we do not understand survives, in place, and an untouched body is written back
//! byte for byte.

use std::fmt;
use std::net::IpAddr;

use super::attributes::{Codec, Crypto, Direction, Fmtp, Rtcp, Rtpmap};
use super::error::SdpError;

/// Larger bodies are refused: a SIP SDP is a few hundred bytes, a browser's a few kilobytes.
pub const MAX_SDP_BYTES: usize = 64 * 1024;
/// More lines than this are refused (bounds the work per body).
pub const MAX_SDP_LINES: usize = 2048;

/// How a line ended in the text it came from. Lines we write end in CRLF (RFC 8866 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnd {
    CrLf,
    Lf,
    /// The last line of a body that does not end in a line break.
    Missing,
}

impl LineEnd {
    fn as_str(self) -> &'static str {
        match self {
            LineEnd::CrLf => "\r\n",
            LineEnd::Lf => "\n",
            LineEnd::Missing => "",
        }
    }
}

/// One line, `<type>=<value>`, as written (an empty line is kept too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    text: String,
    end: LineEnd,
}

/// An `a=` line seen as `name[:value]` (RFC 8866 §5.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

impl Line {
    /// A new `<kind>=<value>` line ending in CRLF.
    pub fn new(kind: char, value: &str) -> Self {
        Self {
            text: format!("{kind}={value}"),
            end: LineEnd::CrLf,
        }
    }

    /// A new `a=name` or `a=name:value` line.
    pub fn attribute(name: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => Self::new('a', &format!("{name}:{v}")),
            None => Self::new('a', name),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn end(&self) -> LineEnd {
        self.end
    }

    /// The type letter, `None` for an empty line.
    pub fn kind(&self) -> Option<char> {
        let b = self.text.as_bytes();
        (b.len() >= 2 && b[1] == b'=').then(|| char::from(b[0]))
    }

    /// What follows `<type>=`.
    pub fn value(&self) -> &str {
        self.text.get(2..).unwrap_or_default()
    }

    /// The attribute, if this is an `a=` line.
    pub fn as_attribute(&self) -> Option<Attribute<'_>> {
        if self.kind() != Some('a') {
            return None;
        }
        Some(match self.value().split_once(':') {
            Some((name, value)) => Attribute {
                name,
                value: Some(value),
            },
            None => Attribute {
                name: self.value(),
                value: None,
            },
        })
    }

    fn set(&mut self, kind: char, value: &str) {
        self.text = format!("{kind}={value}");
        if self.end == LineEnd::Missing {
            self.end = LineEnd::CrLf;
        }
    }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
/// (RFC 8866 §5.2). The session id stays for the life of the session; the version goes up
/// by one with every changed offer (RFC 3264 §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    /// A numeric string; kept as written since some peers exceed 64 bits.
    pub session_id: String,
    pub version: u64,
    pub net_type: String,
    pub addr_type: String,
    pub address: String,
}

impl Origin {
    /// Our own origin: username `-`, the given id and version, `IN IP4|IP6 address`.
    pub fn new(session_id: u64, version: u64, address: IpAddr) -> Self {
        Self {
            username: "-".into(),
            session_id: session_id.to_string(),
            version,
            net_type: "IN".into(),
            addr_type: addr_type(address).into(),
            address: address.to_string(),
        }
    }

    pub fn parse(value: &str) -> Result<Self, SdpError> {
        let f: Vec<&str> = value.split(' ').collect();
        let [username, session_id, version, net_type, addr_type, address] = f[..] else {
            return Err(SdpError::BadOrigin);
        };
        if session_id.is_empty() || !session_id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SdpError::BadOrigin);
        }
        Ok(Self {
            username: username.into(),
            session_id: session_id.into(),
            version: version.parse().map_err(|_| SdpError::BadOrigin)?,
            net_type: net_type.into(),
            addr_type: addr_type.into(),
            address: address.into(),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username,
            self.session_id,
            self.version,
            self.net_type,
            self.addr_type,
            self.address
        )
    }
}

/// `c=<nettype> <addrtype> <connection-address>` (RFC 8866 §5.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub net_type: String,
    pub addr_type: String,
    /// As written: an IP address, possibly with `/ttl[/n]` for multicast, or a FQDN.
    pub address: String,
}

impl Connection {
    pub fn from_ip(ip: IpAddr) -> Self {
        Self {
            net_type: "IN".into(),
            addr_type: addr_type(ip).into(),
            address: ip.to_string(),
        }
    }

    pub fn parse(value: &str) -> Result<Self, SdpError> {
        let f: Vec<&str> = value.split(' ').collect();
        match f[..] {
            [net_type, addr_type, address] if !address.is_empty() => Ok(Self {
                net_type: net_type.into(),
                addr_type: addr_type.into(),
                address: address.into(),
            }),
            _ => Err(SdpError::BadConnection(value.into())),
        }
    }

    /// The address as an IP, when it is one (a FQDN is left to the caller to resolve).
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.split('/').next()?.parse().ok()
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.net_type, self.addr_type, self.address)
    }
}

pub(crate) fn addr_type(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// One `m=` line and the lines under it (RFC 8866 §5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    line: Line,
    media: String,
    port: u16,
    port_count: Option<u16>,
    proto: String,
    formats: Vec<String>,
    lines: Vec<Line>,
}

impl MediaSection {
    /// A new section `m=<media> <port> <proto> <formats…>` with no lines under it.
    pub fn new(media: &str, port: u16, proto: &str, formats: Vec<String>) -> Self {
        let mut s = Self {
            line: Line::new('m', ""),
            media: media.into(),
            port,
            port_count: None,
            proto: proto.into(),
            formats,
            lines: Vec::new(),
        };
        s.render();
        s
    }

    fn parse_m(line: Line, number: usize) -> Result<Self, SdpError> {
        let bad = || SdpError::BadMediaLine { line: number };
        let mut f = line.value().split(' ');
        let media = f.next().filter(|m| !m.is_empty()).ok_or_else(bad)?;
        let port_field = f.next().ok_or_else(bad)?;
        let (port, port_count) = match port_field.split_once('/') {
            Some((p, n)) => (p, Some(n.parse::<u16>().map_err(|_| bad())?)),
            None => (port_field, None),
        };
        let port = port.parse::<u16>().map_err(|_| bad())?;
        let proto = f.next().filter(|p| !p.is_empty()).ok_or_else(bad)?;
        let formats: Vec<String> = f.map(str::to_owned).collect();
        if formats.is_empty() || formats.iter().any(String::is_empty) {
            return Err(bad());
        }
        Ok(Self {
            media: media.into(),
            port,
            port_count,
            proto: proto.into(),
            formats,
            lines: Vec::new(),
            line,
        })
    }

    fn render(&mut self) {
        let port = match self.port_count {
            Some(n) => format!("{}/{n}", self.port),
            None => self.port.to_string(),
        };
        let value = format!(
            "{} {port} {} {}",
            self.media,
            self.proto,
            self.formats.join(" ")
        );
        self.line.set('m', &value);
    }

    /// `audio`, `video`, `application`, `image`, …
    pub fn media(&self) -> &str {
        &self.media
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `/<number of ports>` when written.
    pub fn port_count(&self) -> Option<u16> {
        self.port_count
    }

    pub fn proto(&self) -> &str {
        &self.proto
    }

    pub fn formats(&self) -> &[String] {
        &self.formats
    }

    /// Port 0: the stream is rejected or disabled (RFC 3264 §5.1, §6).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// Whether the proto carries RTP (`RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, …), so the
    /// formats are payload types (RFC 8866 §5.14).
    pub fn is_rtp(&self) -> bool {
        self.proto.split('/').any(|p| p.eq_ignore_ascii_case("RTP"))
    }

    pub fn set_port(&mut self, port: u16) {
        self.port = port;
        self.render();
    }

    pub fn set_proto(&mut self, proto: &str) {
        self.proto = proto.into();
        self.render();
    }

    pub fn set_formats(&mut self, formats: Vec<String>) {
        self.formats = formats;
        self.render();
    }

    /// Keeps only the payload types `keep` (in that order) on the `m=` line, with their
    /// `rtpmap`, `fmtp` and `rtcp-fb` lines; other attributes stay.
    pub fn retain_formats(&mut self, keep: &[u8]) {
        let keep: Vec<String> = keep.iter().map(u8::to_string).collect();
        self.set_formats(keep.clone());
        self.retain_lines(|line| {
            let Some(a) = line.as_attribute() else {
                return true;
            };
            if !matches!(a.name, "rtpmap" | "fmtp" | "rtcp-fb") {
                return true;
            }
            let pt = a
                .value
                .and_then(|v| v.split_whitespace().next())
                .unwrap_or_default();
            pt == "*" || keep.iter().any(|k| k == pt)
        });
    }

    /// The `m=` line itself.
    pub fn media_line(&self) -> &Line {
        &self.line
    }

    /// The lines under `m=`, in order.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    pub fn push_line(&mut self, line: Line) {
        self.lines.push(line);
    }

    pub fn retain_lines(&mut self, keep: impl FnMut(&Line) -> bool) {
        self.lines.retain(keep);
    }

    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> {
        self.lines.iter().filter_map(Line::as_attribute)
    }

    /// The first attribute of that name (names compare case-insensitively).
    pub fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        self.attributes()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub fn has_attribute(&self, name: &str) -> bool {
        self.attribute(name).is_some()
    }

    /// The media-level `c=`, if any.
    pub fn connection(&self) -> Result<Option<Connection>, SdpError> {
        self.lines
            .iter()
            .find(|l| l.kind() == Some('c'))
            .map(|l| Connection::parse(l.value()))
            .transpose()
    }

    /// All `a=rtpmap` (RFC 8866 §6.6), in order.
    pub fn rtpmaps(&self) -> Result<Vec<Rtpmap>, SdpError> {
        self.attributes()
            .filter(|a| a.name.eq_ignore_ascii_case("rtpmap"))
            .map(|a| Rtpmap::parse(a.value.unwrap_or_default()))
            .collect()
    }

    /// The `a=fmtp` of a payload type (RFC 8866 §6.15).
    pub fn fmtp(&self, pt: u8) -> Result<Option<Fmtp>, SdpError> {
        for a in self
            .attributes()
            .filter(|a| a.name.eq_ignore_ascii_case("fmtp"))
        {
            let fmtp = Fmtp::parse(a.value.unwrap_or_default())?;
            if fmtp.pt == pt {
                return Ok(Some(fmtp));
            }
        }
        Ok(None)
    }

    /// `a=ptime` in milliseconds (RFC 8866 §6.4); fractions are cut.
    pub fn ptime(&self) -> Result<Option<u32>, SdpError> {
        self.attribute("ptime")
            .map(|a| {
                let v = a.value.unwrap_or_default().trim();
                v.split('.')
                    .next()
                    .and_then(|ms| ms.parse().ok())
                    .ok_or_else(|| SdpError::BadPtime(v.into()))
            })
            .transpose()
    }

    /// The media-level direction attribute, if any (RFC 3264 §5.1).
    pub fn direction(&self) -> Option<Direction> {
        self.attributes()
            .find_map(|a| Direction::from_name(a.name).filter(|_| a.value.is_none()))
    }

    /// Replaces any direction attribute by `direction`, at the place of the first one.
    pub fn set_direction(&mut self, direction: Direction) {
        let new = Line::attribute(direction.name(), None);
        match self.lines.iter().position(is_direction) {
            Some(i) => {
                self.lines[i] = new;
                let mut n = 0;
                self.lines.retain(|l| {
                    n += 1;
                    n - 1 == i || !is_direction(l)
                });
            }
            None => self.lines.push(new),
        }
    }

    /// `a=rtcp` (RFC 3605 §2.1).
    pub fn rtcp(&self) -> Result<Option<Rtcp>, SdpError> {
        self.attribute("rtcp")
            .map(|a| Rtcp::parse(a.value.unwrap_or_default()))
            .transpose()
    }

    /// `a=rtcp-mux` (RFC 5761 §5.1.1).
    pub fn rtcp_mux(&self) -> bool {
        self.has_attribute("rtcp-mux")
    }

    /// All `a=crypto` (RFC 4568 §9.1), in order.
    pub fn crypto(&self) -> Result<Vec<Crypto>, SdpError> {
        self.attributes()
            .filter(|a| a.name.eq_ignore_ascii_case("crypto"))
            .map(|a| Crypto::parse(a.value.unwrap_or_default()))
            .collect()
    }

    /// The formats as codecs, in `m=` order: from `a=rtpmap`, or from the static table of
    /// RFC 3551 §6 when there is none, with their `a=fmtp`. Formats that are neither are
    /// left out. Empty unless [`MediaSection::is_rtp`].
    pub fn codecs(&self) -> Result<Vec<Codec>, SdpError> {
        if !self.is_rtp() {
            return Ok(Vec::new());
        }
        let maps = self.rtpmaps()?;
        let mut out = Vec::with_capacity(self.formats.len());
        for f in &self.formats {
            let pt = parse_pt(f)?;
            let codec = match maps.iter().find(|m| m.pt == pt) {
                Some(m) => Codec::from_rtpmap(m),
                None => match Codec::from_static(pt) {
                    Some(c) => c,
                    None => continue,
                },
            };
            let fmtp = self.fmtp(pt)?.map(|f| f.params);
            out.push(Codec { fmtp, ..codec });
        }
        Ok(out)
    }

    /// The first telephone-event payload type (RFC 4733 §7.1.1).
    pub fn telephone_event(&self) -> Result<Option<u8>, SdpError> {
        Ok(self
            .codecs()?
            .iter()
            .find(|c| c.is_telephone_event())
            .map(|c| c.pt))
    }

    fn write(&self, out: &mut String) {
        push_line(out, &self.line);
        for l in &self.lines {
            push_line(out, l);
        }
    }
}

fn is_direction(l: &Line) -> bool {
    l.as_attribute()
        .is_some_and(|a| a.value.is_none() && Direction::from_name(a.name).is_some())
}

pub(crate) fn parse_pt(s: &str) -> Result<u8, SdpError> {
    s.parse::<u8>()
        .ok()
        .filter(|pt| *pt <= 127)
        .ok_or_else(|| SdpError::BadPayloadType(s.into()))
}

fn push_line(out: &mut String, l: &Line) {
    out.push_str(&l.text);
    out.push_str(l.end.as_str());
}

/// A whole SDP body: session-level lines, then media sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    session: Vec<Line>,
    media: Vec<MediaSection>,
}

impl SessionDescription {
    /// `v=0`, `o=`, `s=`, `t=0 0` and nothing else (RFC 8866 §5).
    pub fn new(origin: &Origin, session_name: &str) -> Self {
        Self {
            session: vec![
                Line::new('v', "0"),
                Line::new('o', &origin.to_string()),
                Line::new('s', session_name),
                Line::new('t', "0 0"),
            ],
            media: Vec::new(),
        }
    }

    /// Reads a body. Requires `v=0` first and a well-formed `o=` and `m=` lines; every other
    /// line need only be `<letter>=<value>` and is kept as written.
    pub fn parse(input: &[u8]) -> Result<Self, SdpError> {
        if input.len() > MAX_SDP_BYTES {
            return Err(SdpError::TooLarge(MAX_SDP_BYTES));
        }
        let text = std::str::from_utf8(input).map_err(|e| SdpError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let mut sdp = Self {
            session: Vec::new(),
            media: Vec::new(),
        };
        let mut rest = text;
        let mut number = 0;
        let mut seen_version = false;
        while !rest.is_empty() {
            number += 1;
            if number > MAX_SDP_LINES {
                return Err(SdpError::TooManyLines(MAX_SDP_LINES));
            }
            let (raw, end, next) = match rest.find('\n') {
                Some(i) if rest[..i].ends_with('\r') => {
                    (&rest[..i - 1], LineEnd::CrLf, &rest[i + 1..])
                }
                Some(i) => (&rest[..i], LineEnd::Lf, &rest[i + 1..]),
                None => (rest, LineEnd::Missing, ""),
            };
            rest = next;
            let line = Line {
                text: raw.into(),
                end,
            };
            if raw.is_empty() {
                sdp.push_raw(line);
                continue;
            }
            let kind = line.kind().filter(|k| k.is_ascii_alphabetic());
            let Some(kind) = kind else {
                return Err(SdpError::BadLine { line: number });
            };
            if !seen_version {
                if line.text != "v=0" {
                    return Err(SdpError::BadVersion);
                }
                seen_version = true;
            }
            if kind == 'm' {
                sdp.media.push(MediaSection::parse_m(line, number)?);
            } else {
                sdp.push_raw(line);
            }
        }
        if !seen_version {
            return Err(SdpError::Empty);
        }
        sdp.origin()?;
        Ok(sdp)
    }

    fn push_raw(&mut self, line: Line) {
        match self.media.last_mut() {
            Some(m) => m.lines.push(line),
            None => self.session.push(line),
        }
    }

    /// The body as text; unchanged lines are written exactly as they were read.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for l in &self.session {
            push_line(&mut out, l);
        }
        for m in &self.media {
            m.write(&mut out);
        }
        out
    }

    pub fn session_lines(&self) -> &[Line] {
        &self.session
    }

    /// Adds a session-level line at its place in the order of RFC 8866 §5 (`v o s i u e p c
    /// b t r z k a`): after the last line whose type comes no later.
    pub fn push_session_line(&mut self, line: Line) {
        const ORDER: &str = "vosiuepcbtrzka";
        let rank = |l: &Line| l.kind().and_then(|k| ORDER.find(k)).unwrap_or(ORDER.len());
        let r = rank(&line);
        let at = self
            .session
            .iter()
            .rposition(|l| rank(l) <= r)
            .map_or(0, |i| i + 1);
        self.session.insert(at, line);
    }

    pub fn retain_session_lines(&mut self, keep: impl FnMut(&Line) -> bool) {
        self.session.retain(keep);
    }

    pub fn session_attributes(&self) -> impl Iterator<Item = Attribute<'_>> {
        self.session.iter().filter_map(Line::as_attribute)
    }

    /// The session-level direction attribute, if any (RFC 3264 §5.1).
    pub fn session_direction(&self) -> Option<Direction> {
        self.session_attributes()
            .find_map(|a| Direction::from_name(a.name).filter(|_| a.value.is_none()))
    }

    pub fn origin(&self) -> Result<Origin, SdpError> {
        self.session
            .iter()
            .find(|l| l.kind() == Some('o'))
            .ok_or(SdpError::MissingOrigin)
            .and_then(|l| Origin::parse(l.value()))
    }

    pub fn set_origin(&mut self, origin: &Origin) {
        match self.session.iter_mut().find(|l| l.kind() == Some('o')) {
            Some(l) => l.set('o', &origin.to_string()),
            None => self.push_session_line(Line::new('o', &origin.to_string())),
        }
    }

    /// Increments the `o=` version, as every changed offer in a session must (RFC 3264 §8);
    /// returns the new version.
    pub fn bump_version(&mut self) -> Result<u64, SdpError> {
        let mut o = self.origin()?;
        o.version = o.version.checked_add(1).ok_or(SdpError::VersionOverflow)?;
        self.set_origin(&o);
        Ok(o.version)
    }

    /// The session-level `c=`, if any.
    pub fn connection(&self) -> Result<Option<Connection>, SdpError> {
        self.session
            .iter()
            .find(|l| l.kind() == Some('c'))
            .map(|l| Connection::parse(l.value()))
            .transpose()
    }

    pub fn set_connection(&mut self, c: &Connection) {
        match self.session.iter_mut().find(|l| l.kind() == Some('c')) {
            Some(l) => l.set('c', &c.to_string()),
            None => self.push_session_line(Line::new('c', &c.to_string())),
        }
    }

    pub fn media(&self) -> &[MediaSection] {
        &self.media
    }

    pub fn media_mut(&mut self) -> &mut [MediaSection] {
        &mut self.media
    }

    pub fn push_media(&mut self, m: MediaSection) {
        self.media.push(m);
    }

    /// Sets `direction` on every active media section and drops a session-level one.
    pub fn set_direction(&mut self, direction: Direction) {
        self.session.retain(|l| !is_direction(l));
        for m in self.media.iter_mut().filter(|m| !m.is_rejected()) {
            m.set_direction(direction);
        }
    }

    /// Turns a previous offer of ours into a hold re-offer: same codecs, `a=sendonly` (or
    /// `a=inactive` when we were not receiving), version + 1 (RFC 3264 §8.4).
    pub fn hold(&mut self) -> Result<u64, SdpError> {
        for m in self.media.iter_mut().filter(|m| !m.is_rejected()) {
            let d = match m.direction() {
                Some(Direction::RecvOnly | Direction::Inactive) => Direction::Inactive,
                _ => Direction::SendOnly,
            };
            m.set_direction(d);
        }
        self.session.retain(|l| !is_direction(l));
        self.bump_version()
    }

    /// The re-offer that takes a call off hold: same codecs, `a=sendrecv`, version + 1.
    pub fn resume(&mut self) -> Result<u64, SdpError> {
        self.set_direction(Direction::SendRecv);
        self.bump_version()
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}
