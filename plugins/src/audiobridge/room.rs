//! A room (from `create`, the configuration or the sample) and its participants, and how
//! `list`, `listparticipants` and the room's events show them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::error::AbError;
use crate::fields::Fields;
use crate::{HandleId, MixCodec, MixParticipant};

/// Most groups a room may have (Janus's limit).
const MAX_GROUPS: usize = 5;

/// The shard key of room `id`: its mixer and its participants' media share a shard.
pub fn room_key(id: u64) -> u64 {
    // FNV-1a over the plugin's name and the room id.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"audiobridge".iter().copied().chain(id.to_be_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A file played into the room (`play_file`).
#[derive(Debug, Clone)]
pub struct Announcement {
    pub filename: String,
    pub looped: bool,
    pub group: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Room {
    pub id: u64,
    pub description: String,
    pub is_private: bool,
    pub secret: Option<String>,
    pub pin: Option<String>,
    pub sampling_rate: u32,
    pub audiolevel_ext: bool,
    pub audiolevel_event: bool,
    /// Talking detection: packets per decision and the average level (-dBov) under which
    /// a participant talks.
    pub audio_active_packets: u32,
    pub audio_level_average: u8,
    pub default_expectedloss: u8,
    pub default_bitrate: u32,
    /// Whether the mix is recorded, into `record_file` (or a name of Janus's pattern) in
    /// `record_dir`.
    pub record: bool,
    pub record_file: Option<String>,
    pub record_dir: Option<String>,
    pub allow_rtp_participants: bool,
    pub groups: Vec<String>,
    /// Only tokens in `allowed` may join.
    pub check_tokens: bool,
    pub allowed: BTreeSet<String>,
    /// `mute_room`: only admins (who joined with the secret) are heard.
    pub muted: bool,
    /// Participant ids and their handles.
    pub participants: BTreeMap<u64, HandleId>,
    pub announcements: BTreeMap<String, Announcement>,
    /// `rtp_forward`s of the mix: their `listforwarders` entries by stream id.
    pub forwarders: BTreeMap<u32, Value>,
}

/// The strings of array `name`, with Janus's complaint about anything else.
fn string_array(f: &Fields<'_>, name: &'static str) -> Result<Option<Vec<String>>, AbError> {
    match f.get(name) {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| {
                    AbError::InvalidElement(format!(
                        "Invalid element in the {name} array (not a string)"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(AbError::InvalidType(format!("{name} should be an array"))),
    }
}

impl Room {
    pub fn new(id: u64) -> Self {
        Self {
            id,
            description: format!("Room {id}"),
            is_private: false,
            secret: None,
            pin: None,
            sampling_rate: 16_000,
            audiolevel_ext: true,
            audiolevel_event: false,
            audio_active_packets: 100,
            audio_level_average: 25,
            default_expectedloss: 0,
            default_bitrate: 0,
            record: false,
            record_file: None,
            record_dir: None,
            allow_rtp_participants: false,
            groups: Vec::new(),
            check_tokens: false,
            allowed: BTreeSet::new(),
            muted: false,
            participants: BTreeMap::new(),
            announcements: BTreeMap::new(),
            forwarders: BTreeMap::new(),
        }
    }

    /// The `create` body of room 1234 in Janus's sample configuration.
    pub fn sample() -> Value {
        json!({
            "room": 1234,
            "description": "Demo Room",
            "secret": "adminpwd",
            "sampling_rate": 16000,
            "record": false,
        })
    }

    /// The `create` fields an `edit` may change, with their values now (`Null`: unset),
    /// for saving a permanent edit.
    pub fn edit_fields(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("description", self.description.clone().into()),
            ("secret", self.secret.clone().into()),
            ("pin", self.pin.clone().into()),
            ("is_private", self.is_private.into()),
            ("record_dir", self.record_dir.clone().into()),
        ]
    }

    /// A room from a `create` body (the id is chosen by the caller).
    pub fn from_create(id: u64, f: &Fields<'_>) -> Result<Self, AbError> {
        let mut room = Self::new(id);
        if let Some(d) = f.str("description")?.filter(|d| !d.is_empty()) {
            room.description = d.to_owned();
        }
        room.secret = f.str("secret")?.map(str::to_owned);
        room.pin = f.str("pin")?.map(str::to_owned);
        room.is_private = f.bool("is_private")?.unwrap_or(false);
        let allowed = string_array(f, "allowed")?;
        let rate = match f.u64("sampling_rate")? {
            Some(r) => Some(r),
            None => f.u64("sampling")?,
        };
        for name in ["record", "mjrs", "permanent", "denoise", "signed_tokens"] {
            f.bool(name)?;
        }
        for name in ["record_dir", "mjrs_dir"] {
            f.str(name)?;
        }
        if f.bool("spatial_audio")? == Some(true) {
            return Err(AbError::Unknown(
                "Spatial audio is not supported by this server (the mix is mono)".into(),
            ));
        }
        room.record = f.bool("record")?.unwrap_or(false);
        room.record_file = f.str("record_file")?.map(str::to_owned);
        room.record_dir = f.str("record_dir")?.map(str::to_owned);
        room.allow_rtp_participants = f.bool("allow_rtp_participants")?.unwrap_or(false);
        room.audiolevel_ext = f.bool("audiolevel_ext")?.unwrap_or(true);
        room.audiolevel_event = f.bool("audiolevel_event")?.unwrap_or(false);
        let packets = f.u64("audio_active_packets")?;
        let average = f.u64("audio_level_average")?;
        if let Some(p) = packets.filter(|p| *p > 0) {
            room.audio_active_packets = u32::try_from(p).unwrap_or(u32::MAX);
        }
        if let Some(a) = average.filter(|a| *a > 0) {
            room.audio_level_average = u8::try_from(a.min(127)).unwrap_or(127);
        }
        if let Some(loss) = f.u64("default_expectedloss")? {
            // Above 20 Janus keeps the default.
            if loss <= 20 {
                room.default_expectedloss = loss as u8;
            }
        }
        if let Some(b) = f.u64("default_bitrate")? {
            if (500..=512_000).contains(&b) {
                room.default_bitrate = b as u32;
            }
        }
        if let Some(groups) = string_array(f, "groups")? {
            if groups.len() > MAX_GROUPS {
                return Err(AbError::InvalidElement(format!(
                    "Too many groups specified (max {MAX_GROUPS} allowed)"
                )));
            }
            for g in groups {
                if !room.groups.contains(&g) {
                    room.groups.push(g);
                }
            }
        }
        room.sampling_rate = match rate {
            None => 16_000,
            Some(r @ (8000 | 12_000 | 16_000 | 24_000 | 48_000)) => r as u32,
            Some(r) => return Err(AbError::Unknown(format!("Unsupported sampling rate {r}"))),
        };
        if let Some(list) = allowed {
            room.check_tokens = true;
            room.allowed = list.into_iter().collect();
        }
        Ok(room)
    }

    /// Where the mix is recorded: `record_file`, or Janus's
    /// `janus-audioroom-<room>-<microseconds since 1970>.wav`, in `record_dir`.
    pub fn record_path(&self) -> String {
        let file = self.record_file.clone().unwrap_or_else(|| {
            let micros = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            format!("janus-audioroom-{}-{micros}.wav", self.id)
        });
        match &self.record_dir {
            Some(dir) => format!("{}/{file}", dir.trim_end_matches('/')),
            None => file,
        }
    }

    /// The room as `list` shows it.
    pub fn list_entry(&self) -> Value {
        json!({
            "room": self.id,
            "description": self.description,
            "sampling_rate": self.sampling_rate,
            "spatial_audio": false,
            "pin_required": self.pin.is_some(),
            "record": self.record,
            "muted": self.muted,
            "num_participants": self.participants.len(),
        })
    }

    /// The group named in the request (required when the room has groups).
    pub fn group(&self, f: &Fields<'_>, required: bool) -> Result<Option<String>, AbError> {
        if self.groups.is_empty() {
            return Ok(None);
        }
        let name = if required {
            f.required_str("group")?
        } else {
            match f.str("group")? {
                Some(n) => n,
                None => return Ok(None),
            }
        };
        if !self.groups.iter().any(|g| g == name) {
            return Err(AbError::NoSuchGroup(name.to_owned()));
        }
        Ok(Some(name.to_owned()))
    }
}

/// How the participant's audio reaches the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// No media negotiated yet.
    None,
    /// We answered the browser's offer.
    Answered,
    /// We offered (`generate_offer`); the answer is awaited.
    Offered,
    /// The browser answered our offer.
    Accepted,
    /// A plain RTP leg.
    Rtp,
}

#[derive(Debug, Clone)]
pub struct Participant {
    pub room: u64,
    pub id: u64,
    pub display: Option<String>,
    pub muted: bool,
    pub suspended: bool,
    /// No room notifications until `resume`.
    pub paused_events: bool,
    /// Joined with the room's secret: heard when the room is muted.
    pub admin: bool,
    pub codec: MixCodec,
    /// The payload type of its audio (both ways).
    pub pt: u8,
    pub volume: u16,
    pub bitrate: u32,
    pub quality: u8,
    pub expected_loss: u8,
    pub group: Option<String>,
    /// Talking detection overrides.
    pub audio_active_packets: Option<u32>,
    pub audio_level_average: Option<u8>,
    /// The PeerConnection (or RTP leg) is up.
    pub setup: bool,
    pub talking: bool,
    /// The audio-level extension was negotiated (talking is reported).
    pub level_ext: bool,
    pub media: Media,
    /// In the room's mixer (MixIn sent).
    pub mixing: bool,
}

impl Participant {
    /// What the mixer needs to know of the participant in `room`.
    pub fn mix(&self, room: &Room) -> MixParticipant {
        MixParticipant {
            rtp: self.media == Media::Rtp,
            codec: self.codec,
            pt: self.pt,
            muted: self.muted || (room.muted && !self.admin),
            suspended: self.suspended,
            volume: self.volume,
            bitrate: self.bitrate,
            quality: self.quality,
            expected_loss: self.expected_loss,
        }
    }

    /// The participant as the room's lists show it; `talking` when reported.
    pub fn to_json(&self, with_talking: bool) -> Value {
        let mut v = json!({ "id": self.id });
        if let Some(d) = &self.display {
            v["display"] = d.clone().into();
        }
        v["setup"] = self.setup.into();
        v["muted"] = self.muted.into();
        if with_talking && self.level_ext {
            v["talking"] = self.talking.into();
        }
        if self.suspended {
            v["suspended"] = true.into();
        }
        v
    }
}
