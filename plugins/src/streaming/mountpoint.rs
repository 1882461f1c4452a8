//! A mountpoint: what a `create` body (or the configuration) describes, read without any
//! I/O, and how `list`, `info` and `created` show it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Instant;

use serde_json::{json, Value};

use super::error::StError;
use crate::fields::Fields;
use crate::{HandleId, MediaKind, OfferCodec, OfferMedia};
use cardea_media::rtp_leg::SrtpKey;
use cardea_media::DataMode;

/// One stream of a mountpoint.
#[derive(Debug, Clone)]
pub struct Stream {
    pub mid: String,
    pub kind: MediaKind,
    pub label: String,
    pub msid: Option<String>,
    /// The port asked for (0: any free one).
    pub port: u16,
    /// A data stream (`type: data`): datagrams become data-channel messages. Its `kind`
    /// is unused and its `codec` is `data`.
    pub data: Option<DataMode>,
    /// A simulcast video: the ports asked for layers 1 and 2 (`port2`, `port3`; layer 0
    /// is `port`), and where they are bound.
    pub simulcast: Option<[u16; 2]>,
    pub layer_locals: [Option<SocketAddr>; 2],
    /// A VP9 video coded in SVC layers (`svc`): each viewer gets the spatial and temporal
    /// layers it asks for.
    pub svc: bool,
    /// Janus's `rtcpport`: the port asked for the sender's RTCP (0: any), and where bound.
    pub rtcpport: Option<u16>,
    pub rtcp_local: Option<SocketAddr>,
    /// The multicast group to join (`mcast`), on interface `iface`.
    pub mcast: Option<std::net::Ipv4Addr>,
    pub iface: Option<String>,
    pub pt: u8,
    /// Lower case: opus, pcmu, pcma, g722, vp8, vp9, h264, av1.
    pub codec: String,
    pub fmtp: Option<String>,
    /// Where the source listens, once bound.
    pub local: Option<SocketAddr>,
    pub receiving: bool,
    pub last_packet: Option<Instant>,
    pub packets: u64,
    /// The `.mjr` file the stream is recorded into, while it is.
    pub recording: Option<String>,
}

impl Stream {
    /// `audio`, `video` or `data`, as Janus names the stream's type.
    pub fn type_str(&self) -> &'static str {
        if self.data.is_some() {
            "data"
        } else {
            self.kind.as_str()
        }
    }

    /// Adds the ports of the other simulcast layers (`port2`, `port3`) and the RTCP port
    /// (under `rtcp_key`) to `v`: those bound, else those asked for.
    fn other_ports(&self, v: &mut Value, rtcp_key: &str) {
        if let Some(asked) = self.simulcast {
            for (i, name) in ["port2", "port3"].into_iter().enumerate() {
                v[name] = self.layer_locals[i].map_or(asked[i], |a| a.port()).into();
            }
        }
        if let Some(asked) = self.rtcpport {
            v[rtcp_key] = self.rtcp_local.map_or(asked, |a| a.port()).into();
        }
    }

    /// The source's stream names of this stream's simulcast layers, lowest first (just
    /// the mid when it is not simulcast).
    pub fn layer_mids(&self) -> Vec<String> {
        match self.simulcast {
            Some(_) => vec![
                self.mid.clone(),
                format!("{}/1", self.mid),
                format!("{}/2", self.mid),
            ],
            None => vec![self.mid.clone()],
        }
    }

    pub fn clock_rate(&self) -> u32 {
        codec_info(&self.codec).map_or(90_000, |c| c.1)
    }

    /// `rtpmap` as Janus shows it (`opus/48000/2`).
    pub fn rtpmap(&self) -> String {
        match codec_info(&self.codec) {
            Some((name, clock, Some(ch))) => format!("{name}/{clock}/{ch}"),
            Some((name, clock, None)) => format!("{name}/{clock}"),
            None => self.codec.clone(),
        }
    }

    /// The m-line a viewer is offered: Cardea's payload type for the codec (packets are
    /// renumbered), the mountpoint's fmtp where it sets one.
    pub fn offer_media(&self) -> Option<OfferMedia> {
        if self.data.is_some() {
            return None;
        }
        let mut codec: OfferCodec = crate::codecs::canonical(&self.codec)?;
        if let Some(fmtp) = &self.fmtp {
            codec.fmtp = Some(fmtp.clone());
        }
        Some(OfferMedia {
            kind: self.kind,
            codecs: vec![codec],
            send_only: true,
        })
    }

    fn age_ms(&self, now: Instant) -> Option<u64> {
        self.last_packet
            .map(|t| now.saturating_duration_since(t).as_millis() as u64)
    }
}

/// Encoding name, clock rate and channels of the codecs a mountpoint may carry.
fn codec_info(codec: &str) -> Option<(&'static str, u32, Option<u8>)> {
    Some(match codec {
        "opus" => ("opus", 48_000, Some(2)),
        "pcmu" => ("PCMU", 8000, None),
        "pcma" => ("PCMA", 8000, None),
        "g722" => ("G722", 8000, None),
        "vp8" => ("VP8", 90_000, None),
        "vp9" => ("VP9", 90_000, None),
        "h264" => ("H264", 90_000, None),
        "av1" => ("AV1", 90_000, None),
        _ => return None,
    })
}

/// Where a mountpoint's media comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// Plain RTP on the streams' ports.
    Rtp,
    /// A file every viewer hears at the same point.
    Live(String),
    /// A file each viewer hears from its start.
    OnDemand(String),
    /// An RTSP presentation Cardea pulls.
    Rtsp(RtspFeed),
}

/// What an `rtsp` mountpoint pulls, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspFeed {
    pub url: String,
    pub credentials: Option<(String, String)>,
    /// Janus's `rtsp_reconnect_delay` (s).
    pub reconnect_delay: u64,
    /// Janus's `rtsp_conn_timeout` (s).
    pub timeout: u64,
    /// `rtsp_failcheck`: `create` fails when the first connection does.
    pub failcheck: bool,
    /// The codec given in `audiocodec`/`videocodec`, in place of the server's.
    pub codecs: [Option<String>; 2],
    /// Whether the server's tracks were seen yet.
    pub described: bool,
}

#[derive(Debug, Clone)]
pub struct Mountpoint {
    pub id: u64,
    pub feed: Feed,
    pub name: String,
    pub description: String,
    pub metadata: Option<String>,
    pub is_private: bool,
    pub secret: Option<String>,
    pub pin: Option<String>,
    pub enabled: bool,
    pub streams: Vec<Stream>,
    /// Created with the deprecated audio/video fields: `created` answers in that shape.
    pub legacy: bool,
    pub viewers: BTreeSet<HandleId>,
    /// The media core's name for its source.
    pub source: u64,
    /// SRTP in: the key every stream's sender uses (`srtpsuite` 32 or 80, `srtpcrypto`).
    pub srtp: Option<SrtpKey>,
}

/// Janus's `srtpsuite` (32 or 80) and `srtpcrypto` (base64 of key and salt).
fn srtp_of(f: &Fields<'_>) -> Result<Option<SrtpKey>, StError> {
    crate::srtp_params::srtp_key(f.u64("srtpsuite")?, f.str("srtpcrypto")?).map_err(|e| {
        e.into_plugin(
            ("srtpsuite", "srtpcrypto"),
            StError::MissingElement,
            StError::CantCreate,
        )
    })
}

fn port_of(f: &Fields<'_>, name: &'static str) -> Result<u16, StError> {
    let port = f.required_u64(name)?;
    u16::try_from(port)
        .map_err(|_| StError::InvalidElement(format!("{name} should be a port (0-65535)")))
}

fn pt_of(f: &Fields<'_>, name: &'static str) -> Result<u8, StError> {
    let pt = f.required_u64(name)?;
    u8::try_from(pt)
        .ok()
        .filter(|pt| *pt < 128)
        .ok_or_else(|| StError::InvalidElement(format!("{name} should be a payload type (0-127)")))
}

/// The codec, from `codec` or the deprecated `rtpmap` (`opus/48000/2`).
fn codec_of(
    f: &Fields<'_>,
    kind: MediaKind,
    codec: &'static str,
    rtpmap: &'static str,
) -> Result<String, StError> {
    let name = match (f.str(codec)?, f.str(rtpmap)?) {
        (Some(name), _) => name,
        (None, Some(map)) => map.split('/').next().unwrap_or_default(),
        (None, None) => return Err(StError::MissingElement(codec)),
    }
    .trim()
    .to_ascii_lowercase();
    let audio = matches!(name.as_str(), "opus" | "pcmu" | "pcma" | "g722");
    let video = matches!(name.as_str(), "vp8" | "vp9" | "h264" | "av1");
    let fits = match kind {
        MediaKind::Audio => audio,
        MediaKind::Video => video,
    };
    if !fits {
        return Err(StError::CantCreate(format!(
            "Can't add 'rtp' stream, unsupported {} codec '{name}'",
            kind.as_str()
        )));
    }
    Ok(name)
}

fn stream(
    mid: String,
    kind: MediaKind,
    port: u16,
    pt: u8,
    codec: String,
    fmtp: Option<&str>,
) -> Stream {
    Stream {
        label: kind.as_str().to_owned(),
        mid,
        kind,
        msid: None,
        port,
        data: None,
        simulcast: None,
        svc: false,
        layer_locals: [None, None],
        rtcpport: None,
        rtcp_local: None,
        mcast: None,
        iface: None,
        pt,
        codec,
        fmtp: fmtp.map(str::to_owned),
        local: None,
        receiving: false,
        last_packet: None,
        packets: 0,
        recording: None,
    }
}

/// Janus's `mcast` (an IPv4 multicast group, joined on a fixed port) and `iface` (the
/// interface to join it on: an address or a name).
fn multicast_of(
    f: &Fields<'_>,
    st: &mut Stream,
    mcast: &'static str,
    iface: &'static str,
) -> Result<(), StError> {
    st.iface = f.str(iface)?.map(str::to_owned);
    let Some(group) = f.str(mcast)? else {
        return Ok(());
    };
    let group: std::net::Ipv4Addr = group
        .trim()
        .parse()
        .ok()
        .filter(|g: &std::net::Ipv4Addr| g.is_multicast())
        .ok_or_else(|| {
            StError::CantCreate(format!(
                "Can't add 'rtp' stream, {mcast} '{group}' is not an IPv4 multicast group"
            ))
        })?;
    if st.port == 0 {
        return Err(StError::CantCreate(format!(
            "Can't add 'rtp' stream, multicast group {group} needs a port"
        )));
    }
    st.mcast = Some(group);
    Ok(())
}

fn rtcpport_of(f: &Fields<'_>, name: &'static str) -> Result<Option<u16>, StError> {
    match f.u64(name)? {
        None => Ok(None),
        Some(_) => port_of(f, name).map(Some),
    }
}

/// Janus's `svc` for a video stream: VP9 only (Janus's SVC support is VP9's).
fn svc_of(f: &Fields<'_>, st: &mut Stream, name: &'static str) -> Result<(), StError> {
    if f.bool(name)? != Some(true) {
        return Ok(());
    }
    if st.kind != MediaKind::Video || st.codec != "vp9" {
        return Err(StError::CantCreate(
            "Can't add 'rtp' stream, SVC is for VP9 video".into(),
        ));
    }
    if st.simulcast.is_some() {
        return Err(StError::CantCreate(
            "Can't add 'rtp' stream, a stream is simulcast or SVC, not both".into(),
        ));
    }
    st.svc = true;
    Ok(())
}

/// Janus's `simulcast` for a video stream: layers 1 and 2 come on `port2` and `port3`.
fn simulcast_of(
    f: &Fields<'_>,
    st: &mut Stream,
    flag: &'static str,
    port2: &'static str,
    port3: &'static str,
) -> Result<(), StError> {
    if f.bool(flag)? != Some(true) {
        return Ok(());
    }
    if st.kind != MediaKind::Video {
        return Err(StError::CantCreate(
            "Can't add 'rtp' stream, simulcast is for video".into(),
        ));
    }
    if st.mcast.is_some() {
        return Err(StError::CantCreate(
            "Can't add 'rtp' stream, simulcast from a multicast group is not supported".into(),
        ));
    }
    st.simulcast = Some([port_of(f, port2)?, port_of(f, port3)?]);
    Ok(())
}

/// `None` for a data stream.
fn kind_of(text: &str) -> Result<Option<MediaKind>, StError> {
    match text {
        "audio" => Ok(Some(MediaKind::Audio)),
        "video" => Ok(Some(MediaKind::Video)),
        "data" => Ok(None),
        _ => Err(StError::CantCreate(
            "Unsupported media type in media stream".into(),
        )),
    }
}

/// A data stream on `port`: `datatype` text (the default) or binary, `buffermsg` keeps
/// the last message for new viewers.
fn data_stream(
    f: &Fields<'_>,
    mid: String,
    port: u16,
    datatype: &'static str,
    buffermsg: &'static str,
) -> Result<Stream, StError> {
    let binary = match f.str(datatype)? {
        None | Some("text") => false,
        Some("binary") => true,
        Some(other) => {
            return Err(StError::CantCreate(format!(
                "Can't add 'rtp' stream, invalid data type '{other}' (text or binary)"
            )))
        }
    };
    let mut st = stream(mid, MediaKind::Audio, port, 0, "data".into(), None);
    st.label = "data".into();
    st.data = Some(DataMode {
        binary,
        keep_last: f.bool(buffermsg)?.unwrap_or(false),
    });
    Ok(st)
}

/// The streams of an `rtp` mountpoint: `media[]`, or the deprecated audio/video fields.
fn streams_of(f: &Fields<'_>) -> Result<(Vec<Stream>, bool), StError> {
    if let Some(media) = f.objects("media")? {
        let mut streams: Vec<Stream> = Vec::new();
        for m in &media {
            let kind = kind_of(m.required_str("type")?)?;
            let mid = m.required_str("mid")?.to_owned();
            if streams.iter().any(|s| s.mid == mid) {
                return Err(StError::CantCreate(format!(
                    "Can't add 'rtp' stream, duplicate mid '{mid}'"
                )));
            }
            let port = port_of(m, "port")?;
            let Some(kind) = kind else {
                if streams.iter().any(|s| s.data.is_some()) {
                    return Err(StError::CantCreate(
                        "Can't add 'rtp' stream, only one data stream per mountpoint".into(),
                    ));
                }
                let mut st = data_stream(m, mid, port, "datatype", "buffermsg")?;
                if let Some(label) = m.str("label")? {
                    st.label = label.to_owned();
                }
                multicast_of(m, &mut st, "mcast", "iface")?;
                streams.push(st);
                continue;
            };
            let pt = pt_of(m, "pt")?;
            let codec = codec_of(m, kind, "codec", "rtpmap")?;
            let mut st = stream(mid, kind, port, pt, codec, m.str("fmtp")?);
            multicast_of(m, &mut st, "mcast", "iface")?;
            simulcast_of(m, &mut st, "simulcast", "port2", "port3")?;
            svc_of(m, &mut st, "svc")?;
            st.rtcpport = rtcpport_of(m, "rtcpport")?;
            if let Some(label) = m.str("label")? {
                st.label = label.to_owned();
            }
            st.msid = m.str("msid")?.map(str::to_owned);
            streams.push(st);
        }
        if streams.is_empty() {
            return Err(StError::CantCreate(
                "Can't add 'rtp' stream, no stream in media".into(),
            ));
        }
        return Ok((streams, false));
    }
    let mut streams = Vec::new();
    if f.bool("audio")? == Some(true) {
        let mut st = stream(
            "a".into(),
            MediaKind::Audio,
            port_of(f, "audioport")?,
            pt_of(f, "audiopt")?,
            codec_of(f, MediaKind::Audio, "audiocodec", "audiortpmap")?,
            f.str("audiofmtp")?,
        );
        multicast_of(f, &mut st, "audiomcast", "audioiface")?;
        st.rtcpport = rtcpport_of(f, "audiortcpport")?;
        streams.push(st);
    }
    if f.bool("video")? == Some(true) {
        let mut st = stream(
            "v".into(),
            MediaKind::Video,
            port_of(f, "videoport")?,
            pt_of(f, "videopt")?,
            codec_of(f, MediaKind::Video, "videocodec", "videortpmap")?,
            f.str("videofmtp")?,
        );
        multicast_of(f, &mut st, "videomcast", "videoiface")?;
        simulcast_of(f, &mut st, "videosimulcast", "videoport2", "videoport3")?;
        svc_of(f, &mut st, "videosvc")?;
        st.rtcpport = rtcpport_of(f, "videortcpport")?;
        streams.push(st);
    }
    if f.bool("data")? == Some(true) {
        let mut st = data_stream(
            f,
            "d".into(),
            port_of(f, "dataport")?,
            "datatype",
            "databuffermsg",
        )?;
        multicast_of(f, &mut st, "datamcast", "dataiface")?;
        streams.push(st);
    }
    if streams.is_empty() {
        return Err(StError::CantCreate(
            "Can't add 'rtp' stream, no audio, video or data have to be streamed...".into(),
        ));
    }
    Ok((streams, true))
}

impl Mountpoint {
    /// Reads a `create` body (the id is chosen by the caller when absent). No port is
    /// bound here.
    pub fn parse(f: &Fields<'_>, id: u64) -> Result<Self, StError> {
        let mut srtp = None;
        let (feed, streams, legacy) = match f.required_str("type")? {
            "rtp" => {
                let (streams, legacy) = streams_of(f)?;
                srtp = srtp_of(f)?;
                (Feed::Rtp, streams, legacy)
            }
            kind @ ("live" | "ondemand") => {
                let (file, stream) = file_stream(f)?;
                let feed = if kind == "live" {
                    Feed::Live(file)
                } else {
                    Feed::OnDemand(file)
                };
                (feed, vec![stream], false)
            }
            "rtsp" => {
                let (feed, streams) = rtsp_streams(f)?;
                (Feed::Rtsp(feed), streams, false)
            }
            kind => {
                return Err(StError::CantCreate(format!(
                    "Can't create a '{kind}' mountpoint: 'rtp', 'live', 'ondemand' and 'rtsp' are supported"
                )))
            }
        };
        let name = f
            .str("name")?
            .map_or_else(|| format!("mp-{id}"), str::to_owned);
        Ok(Self {
            id,
            feed,
            description: f.str("description")?.unwrap_or(&name).to_owned(),
            name,
            metadata: f.str("metadata")?.map(str::to_owned),
            is_private: f.bool("is_private")?.unwrap_or(false),
            secret: f.str("secret")?.map(str::to_owned),
            pin: f.str("pin")?.map(str::to_owned),
            enabled: true,
            streams,
            legacy,
            viewers: BTreeSet::new(),
            source: 0,
            srtp,
        })
    }

    /// Which media shard the source and its viewers share. Mountpoints of the same shape
    /// (the only ones a viewer can `switch` between) land on the same shard.
    pub fn shard_key(&self) -> u64 {
        // FNV-1a over the kinds and codecs, in order.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for s in &self.streams {
            for b in s.kind.as_str().bytes().chain(s.codec.bytes()).chain([b'/']) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }

    /// Whether a viewer of `self` can switch to `other` on the same PeerConnection.
    pub fn same_shape(&self, other: &Self) -> bool {
        self.streams.len() == other.streams.len()
            && self
                .streams
                .iter()
                .zip(&other.streams)
                .all(|(a, b)| a.kind == b.kind && a.codec == b.codec)
    }

    /// `live` or `on demand`, as Janus names the type.
    pub fn type_name(&self) -> &'static str {
        match self.feed {
            Feed::OnDemand(_) => "on demand",
            _ => "live",
        }
    }

    pub fn filename(&self) -> Option<&str> {
        match &self.feed {
            Feed::Live(f) | Feed::OnDemand(f) => Some(f),
            Feed::Rtp | Feed::Rtsp(_) => None,
        }
    }

    /// Whether packets come in on the streams' ports (RTP, or relayed from RTSP).
    pub fn on_ports(&self) -> bool {
        matches!(self.feed, Feed::Rtp | Feed::Rtsp(_))
    }

    /// The streams' codecs and payload types from what the RTSP server described: a
    /// stream whose kind the server lacks, or whose codec Cardea cannot relay, is left
    /// without a codec (no viewer is offered it). Returns whether any stream can play.
    pub fn describe(&mut self, tracks: &[crate::RtspTrack]) -> bool {
        let Feed::Rtsp(feed) = &mut self.feed else {
            return false;
        };
        feed.described = true;
        for (i, s) in self.streams.iter_mut().enumerate() {
            let track = tracks.iter().find(|t| t.kind == s.kind);
            let given = feed.codecs.get(i).cloned().flatten();
            match track {
                Some(t) => {
                    let codec = given.or_else(|| super::rtsp::codec_of(&t.codec));
                    match codec {
                        Some(codec) => {
                            s.codec = codec;
                            s.pt = t.pt;
                            if s.fmtp.is_none() {
                                s.fmtp = t.fmtp.clone();
                            }
                        }
                        None => {
                            tracing::warn!(
                                mountpoint = self.id,
                                "RTSP {} track in {} cannot be relayed: left out",
                                s.kind.as_str(),
                                t.codec
                            );
                            s.codec.clear();
                        }
                    }
                }
                None => s.codec.clear(),
            }
        }
        self.streams.iter().any(|s| !s.codec.is_empty())
    }

    pub fn list_entry(&self, now: Instant) -> Value {
        let media: Vec<Value> = self
            .streams
            .iter()
            .map(|s| {
                let mut v = json!({ "mid": s.mid, "type": s.type_str(), "label": s.label });
                if let Some(msid) = &s.msid {
                    v["msid"] = msid.clone().into();
                }
                if let Some(age) = s.age_ms(now) {
                    v["age_ms"] = age.into();
                }
                v
            })
            .collect();
        let mut v = json!({
            "id": self.id,
            "type": self.type_name(),
            "description": self.description,
            "enabled": self.enabled,
            "media": media,
        });
        if let Some(m) = &self.metadata {
            v["metadata"] = m.clone().into();
        }
        v
    }

    /// `info`: the administrative fields only for who knows the secret (or when there is
    /// none).
    pub fn info(&self, admin: bool, now: Instant) -> Value {
        let mut v = json!({
            "id": self.id,
            "description": self.description,
            "enabled": self.enabled,
            "type": self.type_name(),
        });
        if self.srtp.is_some() {
            v["srtp"] = true.into();
        }
        if let Some(m) = &self.metadata {
            v["metadata"] = m.clone().into();
        }
        if admin {
            v["name"] = self.name.clone().into();
            if let Some(s) = &self.secret {
                v["secret"] = s.clone().into();
            }
            if let Some(p) = &self.pin {
                v["pin"] = p.clone().into();
            }
            if self.is_private {
                v["is_private"] = true.into();
            }
            v["viewers"] = self.viewers.len().into();
            if let Some(file) = self.filename() {
                v["filename"] = file.into();
            }
            if let Feed::Rtsp(r) = &self.feed {
                v["rtsp"] = true.into();
                v["url"] = r.url.clone().into();
            }
        }
        let media: Vec<Value> = self
            .streams
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut m = json!({
                    "mindex": i,
                    "type": s.type_str(),
                    "mid": s.mid,
                    "label": s.label,
                });
                match s.data {
                    Some(mode) => {
                        m["datatype"] = if mode.binary { "binary" } else { "text" }.into();
                        m["buffermsg"] = mode.keep_last.into();
                    }
                    None => {
                        m["pt"] = s.pt.into();
                        m["codec"] = s.codec.clone().into();
                        m["rtpmap"] = s.rtpmap().into();
                    }
                }
                if let Some(fmtp) = &s.fmtp {
                    m["fmtp"] = fmtp.clone().into();
                }
                if let Some(msid) = &s.msid {
                    m["msid"] = msid.clone().into();
                }
                if admin && self.feed == Feed::Rtp {
                    m["port"] = s.local.map_or(s.port, |a| a.port()).into();
                    s.other_ports(&mut m, "rtcpport");
                }
                if s.simulcast.is_some() {
                    m["simulcast"] = true.into();
                }
                if s.svc {
                    m["svc"] = true.into();
                }
                if let Some(age) = s.age_ms(now) {
                    m["age_ms"] = age.into();
                }
                if let Some(path) = s.recording.as_deref().filter(|_| admin) {
                    // Janus shows the file's name, not its folder.
                    let name = path.rsplit('/').next().unwrap_or(path);
                    m["recording"] = name.into();
                }
                m
            })
            .collect();
        v["media"] = media.into();
        v
    }

    /// The `create` fields an `edit` may change, with their values now (`Null`: unset),
    /// for saving a permanent edit.
    pub fn edit_fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("description", self.description.clone().into()),
            ("metadata", self.metadata.clone().into()),
            ("secret", self.secret.clone().into()),
            ("pin", self.pin.clone().into()),
            ("is_private", self.is_private.into()),
        ]
    }

    /// The `created` answer.
    pub fn created(&self) -> Value {
        let mut stream = json!({
            "id": self.id,
            "type": self.type_name(),
            "description": self.description,
            "is_private": self.is_private,
        });
        let port = |s: &Stream| s.local.map_or(s.port, |a| a.port());
        if self.feed != Feed::Rtp {
            // A file has no ports.
        } else if self.legacy {
            for s in &self.streams {
                stream[format!("{}_port", s.type_str())] = port(s).into();
            }
        } else {
            let ports: Vec<Value> = self
                .streams
                .iter()
                .map(|s| {
                    let mut p = json!({ "type": s.type_str(), "mid": s.mid, "port": port(s) });
                    s.other_ports(&mut p, "rtcp_port");
                    if let Some(local) = s.local {
                        p["host"] = local.ip().to_string().into();
                    }
                    p
                })
                .collect();
            stream["ports"] = ports.into();
        }
        let mut v = json!({
            "streaming": "created",
            "created": self.name,
            "permanent": false,
            "stream": stream,
        });
        if self.legacy {
            v["warning"] = "deprecated_api".into();
        }
        v
    }
}

/// The streams of an `rtsp` mountpoint (`audio` and/or `video`: the server's first track
/// of each kind), still without codec until the server describes them.
fn rtsp_streams(f: &Fields<'_>) -> Result<(RtspFeed, Vec<Stream>), StError> {
    let url = f.required_str("url")?;
    if !(url.starts_with("rtsp://") || url.starts_with("rtsps://")) {
        return Err(StError::InvalidElement(
            "url should be an rtsp:// URL".into(),
        ));
    }
    let credentials = match (f.str("rtsp_user")?, f.str("rtsp_pwd")?) {
        (Some(u), p) => Some((u.to_owned(), p.unwrap_or_default().to_owned())),
        (None, _) => None,
    };
    let seconds = |name: &'static str, default: u64| -> Result<u64, StError> {
        match f.u64(name)? {
            None => Ok(default),
            Some(s) if (1..=3600).contains(&s) => Ok(s),
            Some(_) => Err(StError::InvalidElement(format!(
                "{name} should be between 1 and 3600 seconds"
            ))),
        }
    };
    let mut streams = Vec::new();
    let mut codecs = [None, None];
    for (kind, flag, codec_field, fmtp_field) in [
        (MediaKind::Audio, "audio", "audiocodec", "audiofmtp"),
        (MediaKind::Video, "video", "videocodec", "videofmtp"),
    ] {
        if f.bool(flag)? != Some(true) {
            continue;
        }
        let given = match f.str(codec_field)? {
            Some(_) => Some(codec_of(f, kind, codec_field, "")?),
            None => None,
        };
        let mid = if kind == MediaKind::Audio { "a" } else { "v" };
        let st = stream(mid.into(), kind, 0, 0, String::new(), f.str(fmtp_field)?);
        codecs[streams.len()] = given;
        streams.push(st);
    }
    if streams.is_empty() {
        return Err(StError::CantCreate(
            "Can't add 'rtsp' stream, no audio or video have to be streamed...".into(),
        ));
    }
    let feed = RtspFeed {
        url: url.to_owned(),
        credentials,
        reconnect_delay: seconds("rtsp_reconnect_delay", 5)?,
        timeout: seconds("rtsp_conn_timeout", 5)?,
        failcheck: f.bool("rtsp_failcheck")?.unwrap_or(true),
        codecs,
        described: false,
    };
    Ok((feed, streams))
}

/// The one audio stream of a `live` or `ondemand` mountpoint and its file. The codec comes
/// from `audiocodec`, else from the file's extension.
fn file_stream(f: &Fields<'_>) -> Result<(String, Stream), StError> {
    let file = f.required_str("filename")?.to_owned();
    let codec = match (f.str("audiocodec")?, f.str("audiortpmap")?) {
        (Some(c), _) => c.to_ascii_lowercase(),
        (None, Some(map)) => map
            .split('/')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase(),
        (None, None) => {
            let ext = file
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            match ext.as_str() {
                "opus" | "ogg" => "opus".into(),
                "alaw" => "pcma".into(),
                "mulaw" | "ulaw" => "pcmu".into(),
                _ => {
                    return Err(StError::CantCreate(format!(
                        "Can't tell the codec of '{file}': give audiocodec (opus, pcmu or pcma)"
                    )))
                }
            }
        }
    };
    if !matches!(codec.as_str(), "opus" | "pcmu" | "pcma") {
        return Err(StError::CantCreate(format!(
            "Can't play a '{codec}' file: opus, pcmu and pcma are supported"
        )));
    }
    let pt = match f.u64("audiopt")? {
        Some(pt) => u8::try_from(pt)
            .ok()
            .filter(|pt| *pt < 128)
            .ok_or_else(|| {
                StError::InvalidElement("audiopt should be a payload type (0-127)".into())
            })?,
        None => crate::codecs::canonical_pt(&codec).unwrap_or(0),
    };
    let mut st = stream(
        "a".into(),
        MediaKind::Audio,
        0,
        pt,
        codec,
        f.str("audiofmtp")?,
    );
    st.label = "audio".into();
    Ok((file, st))
}

/// Janus's sample mountpoint 1 (Opus/VP8 on ports 5002 and 5004), used when the
/// configuration lists none.
pub fn sample() -> Value {
    json!({
        "type": "rtp",
        "id": 1,
        "name": "rtp-sample",
        "description": "Opus/VP8 live stream coming from external source",
        "metadata": "You can use this metadata section to put any info you want!",
        "secret": "adminpwd",
        "audio": true,
        "audioport": 5002,
        "audiopt": 111,
        "audiocodec": "opus",
        "video": true,
        "videoport": 5004,
        "videopt": 100,
        "videocodec": "vp8",
    })
}
