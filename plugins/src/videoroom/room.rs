//! A room: its settings (from `create`, `edit` or the sample) and who is in it.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::error::VrError;
use crate::fields::Fields;
use crate::HandleId;

pub const AUDIO_CODECS: [&str; 4] = ["opus", "g722", "pcmu", "pcma"];
pub const VIDEO_CODECS: [&str; 4] = ["vp8", "vp9", "h264", "av1"];

#[derive(Debug, Clone)]
pub struct Room {
    pub id: u64,
    pub description: String,
    pub secret: Option<String>,
    pub pin: Option<String>,
    pub is_private: bool,
    pub require_pvtid: bool,
    /// Most publishers at once.
    pub publishers: usize,
    /// REMB cap for every publisher (0: none).
    pub bitrate: u64,
    /// Publishers may not ask for more than the room's bitrate.
    pub bitrate_cap: bool,
    /// Seconds between key-frame requests to each publisher (0: only when needed).
    pub fir_freq: u64,
    /// Preferred codecs, best first.
    pub audiocodec: Vec<String>,
    pub videocodec: Vec<String>,
    pub notify_joining: bool,
    pub audiolevel_ext: bool,
    pub audiolevel_event: bool,
    /// Talking detection: packets per decision, and the average level (-dBov) under
    /// which a publisher is talking.
    pub audio_active_packets: u32,
    pub audio_level_average: u8,
    pub videoorient_ext: bool,
    pub playoutdelay_ext: bool,
    pub transport_wide_cc_ext: bool,
    /// Tokens allowed to join, when the check is on.
    pub allowed: Option<BTreeSet<String>>,
    /// Every publisher is recorded (`record`, or `enable_recording`).
    pub record: bool,
    /// Where recordings go (`None`: the working folder).
    pub rec_dir: Option<String>,
    /// Publishers change their recording only with the room secret.
    pub lock_record: bool,
    /// Everyone who joined as a publisher (published or not), by feed id.
    pub participants: BTreeMap<u64, HandleId>,
    /// Subscriber handles.
    pub subscribers: BTreeSet<HandleId>,
}

fn codec_list(value: Option<&str>, known: &[&str], name: &str) -> Result<Vec<String>, VrError> {
    let Some(value) = value else {
        return Ok(vec![known[0].to_owned()]);
    };
    let list: Vec<String> = value
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .filter(|c| !c.is_empty())
        .collect();
    if list.is_empty() || list.iter().any(|c| !known.contains(&c.as_str())) {
        return Err(VrError::InvalidElement(format!(
            "{name} should be a comma-separated list of {}",
            known.join(", ")
        )));
    }
    Ok(list)
}

impl Room {
    /// Room 1234, as in Janus's sample configuration, as a `create` body.
    pub fn sample() -> Value {
        json!({
            "room": 1234,
            "description": "Demo Room",
            "secret": "adminpwd",
            "publishers": 6,
            "bitrate": 128_000,
            "fir_freq": 10,
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
            ("require_pvtid", self.require_pvtid.into()),
            ("bitrate", self.bitrate.into()),
            ("fir_freq", self.fir_freq.into()),
            ("publishers", self.publishers.into()),
        ]
    }

    pub fn new(id: u64) -> Self {
        Self {
            id,
            description: format!("Room {id}"),
            secret: None,
            pin: None,
            is_private: false,
            require_pvtid: false,
            publishers: 3,
            bitrate: 0,
            bitrate_cap: false,
            fir_freq: 0,
            audiocodec: vec!["opus".into()],
            videocodec: vec!["vp8".into()],
            notify_joining: false,
            audiolevel_ext: true,
            audiolevel_event: false,
            audio_active_packets: 100,
            audio_level_average: 25,
            videoorient_ext: true,
            playoutdelay_ext: true,
            transport_wide_cc_ext: true,
            allowed: None,
            record: false,
            rec_dir: None,
            lock_record: false,
            participants: BTreeMap::new(),
            subscribers: BTreeSet::new(),
        }
    }

    /// A room from a `create` request (the id is chosen by the caller).
    pub fn from_create(id: u64, f: &Fields<'_>) -> Result<Self, VrError> {
        let mut room = Self::new(id);
        if let Some(d) = f.str("description")? {
            room.description = d.to_owned();
        }
        room.secret = f.str("secret")?.map(str::to_owned);
        room.pin = f.str("pin")?.map(str::to_owned);
        room.is_private = f.bool("is_private")?.unwrap_or(false);
        room.require_pvtid = f.bool("require_pvtid")?.unwrap_or(false);
        if let Some(p) = f.u64("publishers")? {
            room.publishers = usize::try_from(p.max(1)).unwrap_or(usize::MAX);
        }
        room.bitrate = f.u64("bitrate")?.unwrap_or(0);
        room.bitrate_cap = f.bool("bitrate_cap")?.unwrap_or(false);
        room.fir_freq = f.u64("fir_freq")?.unwrap_or(0);
        room.audiocodec = codec_list(f.str("audiocodec")?, &AUDIO_CODECS, "audiocodec")?;
        room.videocodec = codec_list(f.str("videocodec")?, &VIDEO_CODECS, "videocodec")?;
        room.notify_joining = f.bool("notify_joining")?.unwrap_or(false);
        for (name, flag) in [
            ("audiolevel_ext", &mut room.audiolevel_ext),
            ("audiolevel_event", &mut room.audiolevel_event),
            ("videoorient_ext", &mut room.videoorient_ext),
            ("playoutdelay_ext", &mut room.playoutdelay_ext),
            ("transport_wide_cc_ext", &mut room.transport_wide_cc_ext),
        ] {
            if let Some(v) = f.bool(name)? {
                *flag = v;
            }
        }
        if let Some(n) = f.u64("audio_active_packets")? {
            room.audio_active_packets = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
        }
        if let Some(n) = f.u64("audio_level_average")? {
            room.audio_level_average = u8::try_from(n.min(127)).unwrap_or(127);
        }
        if let Some(list) = f.strings("allowed")? {
            room.allowed = Some(list.into_iter().collect());
        }
        room.record = f.bool("record")?.unwrap_or(false);
        room.rec_dir = f.str("rec_dir")?.map(str::to_owned);
        room.lock_record = f.bool("lock_record")?.unwrap_or(false);
        Ok(room)
    }

    /// `edit`: the `new_*` fields.
    pub fn edit(&mut self, f: &Fields<'_>) -> Result<(), VrError> {
        // Check everything before changing anything.
        let description = f.str("new_description")?;
        let secret = f.str("new_secret")?;
        let pin = f.str("new_pin")?;
        let is_private = f.bool("new_is_private")?;
        let require_pvtid = f.bool("new_require_pvtid")?;
        let bitrate = f.u64("new_bitrate")?;
        let fir_freq = f.u64("new_fir_freq")?;
        let publishers = f.u64("new_publishers")?;
        let lock_record = f.bool("new_lock_record")?;
        let rec_dir = f.str("new_rec_dir")?;
        if let Some(l) = lock_record {
            self.lock_record = l;
        }
        if let Some(d) = rec_dir {
            self.rec_dir = Some(d.to_owned());
        }
        if let Some(d) = description {
            self.description = d.to_owned();
        }
        if let Some(s) = secret {
            self.secret = Some(s.to_owned());
        }
        if let Some(p) = pin {
            self.pin = (!p.is_empty()).then(|| p.to_owned());
        }
        if let Some(p) = is_private {
            self.is_private = p;
        }
        if let Some(r) = require_pvtid {
            self.require_pvtid = r;
        }
        if let Some(b) = bitrate {
            self.bitrate = b;
        }
        if let Some(f) = fir_freq {
            self.fir_freq = f;
        }
        if let Some(p) = publishers {
            self.publishers = usize::try_from(p.max(1)).unwrap_or(usize::MAX);
        }
        Ok(())
    }

    /// Checks the room secret of a management request.
    pub fn check_secret(&self, f: &Fields<'_>) -> Result<(), VrError> {
        match &self.secret {
            Some(s) if f.str("secret")? != Some(s.as_str()) => {
                Err(VrError::Unauthorized("wrong secret"))
            }
            _ => Ok(()),
        }
    }

    /// Checks the PIN and, when the allowed list is on, the token of a join.
    pub fn check_join(&self, f: &Fields<'_>) -> Result<(), VrError> {
        if let Some(pin) = &self.pin {
            if f.str("pin")? != Some(pin.as_str()) {
                return Err(VrError::Unauthorized("wrong pin"));
            }
        }
        if let Some(allowed) = &self.allowed {
            let token = f.str("token")?.unwrap_or_default();
            if !allowed.contains(token) {
                return Err(VrError::Unauthorized("not in the allowed list"));
            }
        }
        Ok(())
    }

    /// The room as `list` describes it.
    pub fn info(&self) -> Value {
        let mut v = json!({
            "room": self.id,
            "description": self.description,
            "pin_required": self.pin.is_some(),
            "is_private": self.is_private,
            "max_publishers": self.publishers,
            "bitrate": self.bitrate,
            "bitrate_cap": self.bitrate_cap,
            "fir_freq": self.fir_freq,
            "require_pvtid": self.require_pvtid,
            "require_e2ee": false,
            "dummy_publisher": false,
            "notify_joining": self.notify_joining,
            "audiocodec": self.audiocodec.join(","),
            "videocodec": self.videocodec.join(","),
            "opus_fec": true,
            "record": self.record,
            "lock_record": self.lock_record,
            "num_participants": self.participants.len(),
            "audiolevel_ext": self.audiolevel_ext,
            "audiolevel_event": self.audiolevel_event,
            "audio_active_packets": self.audio_active_packets,
            "audio_level_average": self.audio_level_average,
            "videoorient_ext": self.videoorient_ext,
            "playoutdelay_ext": self.playoutdelay_ext,
            "transport_wide_cc_ext": self.transport_wide_cc_ext,
        });
        if let Some(d) = &self.rec_dir {
            v["rec_dir"] = d.clone().into();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_reads_settings_and_refuses_unknown_codecs() {
        let body = json!({"description": "x", "publishers": 10, "videocodec": "vp9,VP8",
            "bitrate": 256000, "pin": "1"});
        let room = Room::from_create(9, &Fields::new(&body).unwrap()).unwrap();
        assert_eq!(room.videocodec, vec!["vp9", "vp8"]);
        assert_eq!(room.publishers, 10);
        assert_eq!(room.info()["pin_required"], true);
        let bad = json!({"audiocodec": "mp3"});
        let e = Room::from_create(9, &Fields::new(&bad).unwrap()).unwrap_err();
        assert_eq!(e.code(), 430);
    }

    #[test]
    fn secret_pin_and_allowed_list_are_checked() {
        let room = Room::from_create(1234, &Fields::new(&Room::sample()).unwrap()).unwrap();
        let wrong = json!({"secret": "nope"});
        assert_eq!(
            room.check_secret(&Fields::new(&wrong).unwrap()),
            Err(VrError::Unauthorized("wrong secret"))
        );
        let mut room = Room::new(1);
        room.pin = Some("42".into());
        room.allowed = Some(["tok".to_owned()].into_iter().collect());
        let ok = json!({"pin": "42", "token": "tok"});
        assert!(room.check_join(&Fields::new(&ok).unwrap()).is_ok());
        let no_token = json!({"pin": "42"});
        assert_eq!(
            room.check_join(&Fields::new(&no_token).unwrap())
                .unwrap_err()
                .code(),
            433
        );
    }
}
