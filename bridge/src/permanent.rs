//! The state files of permanent rooms and mountpoints (`"permanent": true` in `create`,
//! `edit`, `destroy`): where each plugin's is, reading it at start (strict: a bad file is a
//! configuration error naming the file and line) and replacing it atomically when a
//! plugin saves a change. What a file holds is the plugins' business
//! ([`cardea_plugins::permanent`]).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cardea_plugins::{Permanence, PermanentState, PermanentStore};
use serde_json::{json, Value};

use crate::config::{Config, ConfigError};

/// The plugins whose objects can be permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    VideoRoom,
    AudioBridge,
    Streaming,
}

impl Owner {
    pub const ALL: [Owner; 3] = [Owner::VideoRoom, Owner::AudioBridge, Owner::Streaming];

    /// The plugin's key under `plugins`.
    pub fn key(self) -> &'static str {
        match self {
            Self::VideoRoom => "videoroom",
            Self::AudioBridge => "audiobridge",
            Self::Streaming => "streaming",
        }
    }

    /// `plugins.<plugin>.permanent_file`, if set.
    fn configured_file(self, config: &Config) -> Option<String> {
        let p = &config.plugins;
        match self {
            Self::VideoRoom => p.videoroom.permanent_file.clone(),
            Self::AudioBridge => file_key(p.audiobridge.as_ref()),
            Self::Streaming => file_key(p.streaming.as_ref()),
        }
    }

    /// Checks the objects of a state file as the plugin will create them; the error names
    /// the object at fault by its position in `created`.
    fn check(self, created: &[Value]) -> Result<(), String> {
        let list = Value::Array(created.to_vec());
        match self {
            Self::VideoRoom => cardea_plugins::videoroom::VideoRoom::with_rooms(created).map(drop),
            Self::AudioBridge => {
                cardea_plugins::audiobridge::Settings::parse(Some(&json!({ "rooms": list })))
                    .map(drop)
            }
            Self::Streaming => {
                cardea_plugins::streaming::Settings::parse(Some(&json!({ "mountpoints": list })))
                    .map(drop)
            }
        }
    }
}

fn file_key(settings: Option<&Value>) -> Option<String> {
    settings?.get("permanent_file")?.as_str().map(str::to_owned)
}

/// Where `owner`'s state file is: `plugins.<plugin>.permanent_file` (relative to the
/// configuration file's folder), else `<plugin>.permanent.yaml` beside the configuration
/// file. Without a configuration file and no `permanent_file`, there is none (and
/// `permanent` requests are refused, as Janus refuses them without a configuration file).
pub fn path(config: &Config, owner: Owner) -> Option<PathBuf> {
    let base = config.source.as_deref().and_then(Path::parent);
    match owner.configured_file(config) {
        Some(file) => Some(match base {
            Some(dir) if Path::new(&file).is_relative() => dir.join(file),
            _ => PathBuf::from(file),
        }),
        None => {
            let config_file = config.source.as_deref()?;
            let dir = config_file.parent().unwrap_or(Path::new(""));
            Some(dir.join(format!("{}.permanent.yaml", owner.key())))
        }
    }
}

/// Reads a state file; a missing file is an empty one (nothing was made permanent yet).
pub fn load(path: &Path, owner: Owner) -> Result<PermanentState, ConfigError> {
    let file = path.display().to_string();
    let fail = |message: String| ConfigError::File {
        file: file.clone(),
        message,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(fail(e.to_string())),
    };
    if text.trim().is_empty() {
        return Ok(Default::default());
    }
    let state: PermanentState = serde_saphyr::from_str(&text).map_err(|e| fail(e.to_string()))?;
    owner
        .check(&state.created)
        .map_err(|e| fail(format!("created: {e}")))?;
    Ok(state)
}

/// Every plugin's state file, read, with the store that rewrites it (`None` for a plugin
/// without one).
pub fn load_all(config: &Config) -> Result<[Option<Permanence>; 3], ConfigError> {
    let mut out: [Option<Permanence>; 3] = Default::default();
    for (slot, owner) in out.iter_mut().zip(Owner::ALL) {
        if let Some(path) = path(config, owner) {
            let state = load(&path, owner)?;
            *slot = Some(Permanence {
                state,
                store: Arc::new(StateFile { path, owner }),
            });
        }
    }
    Ok(out)
}

/// A plugin's state file, replaced whole on each save: written to a temporary file beside
/// it, flushed to disk, then renamed over it, so a crash leaves the old or the new one.
#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    owner: Owner,
}

impl StateFile {
    fn write(&self, state: &PermanentState) -> std::io::Result<()> {
        let yaml = serde_saphyr::to_string(state).map_err(std::io::Error::other)?;
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".tmp");
        let tmp = self.path.with_file_name(name);
        // It holds room secrets and PINs: readable by Cardea's user only.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        writeln!(
            f,
            "# Cardea's {} objects made permanent (create/edit/destroy with permanent: true).\n\
             # Rewritten by Cardea on each such request; edit only while it is stopped.",
            self.owner.key()
        )?;
        f.write_all(yaml.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename itself reaches the disk with the folder's entry.
            std::fs::File::open(dir).and_then(|d| d.sync_all()).ok();
        }
        Ok(())
    }
}

impl PermanentStore for StateFile {
    fn save(&self, state: &PermanentState) -> Result<(), String> {
        self.write(state)
            .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cardea-perm-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_state_file_round_trips() {
        let dir = temp_dir("round");
        let path = dir.join("videoroom.permanent.yaml");
        let store = StateFile {
            path: path.clone(),
            owner: Owner::VideoRoom,
        };
        let state = PermanentState {
            created: vec![
                json!({"room": 5, "description": "Five: \"quoted\"", "publishers": 4, "is_private": true}),
                json!({"room": 9, "secret": "s"}),
            ],
            destroyed: vec![1234],
        };
        store.save(&state).unwrap();
        assert_eq!(load(&path, Owner::VideoRoom).unwrap(), state);
        assert!(!dir.join("videoroom.permanent.yaml.tmp").exists());
        let missing = dir.join("none.yaml");
        assert_eq!(
            load(&missing, Owner::VideoRoom).unwrap(),
            PermanentState::default()
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_bad_state_file_is_an_error_naming_file_and_line() {
        let dir = temp_dir("bad");
        let path = dir.join("audiobridge.permanent.yaml");
        std::fs::write(&path, "created:\n  - room: 5\ndestroyd: [1]\n").unwrap();
        let err = load(&path, Owner::AudioBridge).unwrap_err().to_string();
        assert!(
            err.contains("audiobridge.permanent.yaml")
                && err.contains("destroyd")
                && err.contains('3'),
            "{err}"
        );
        std::fs::write(&path, "created:\n  - room: 5\n    sampling_rate: 44100\n").unwrap();
        let err = load(&path, Owner::AudioBridge).unwrap_err().to_string();
        assert!(
            err.contains("audiobridge.permanent.yaml") && err.contains("44100"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_state_file_sits_beside_the_configuration_unless_named() {
        let mut c = Config::default();
        assert_eq!(path(&c, Owner::Streaming), None, "no configuration file");
        c.source = Some(PathBuf::from("/etc/cardea/cardea.yaml"));
        assert_eq!(
            path(&c, Owner::Streaming),
            Some(PathBuf::from("/etc/cardea/streaming.permanent.yaml"))
        );
        c.plugins.videoroom.permanent_file = Some("state/vr.yaml".into());
        assert_eq!(
            path(&c, Owner::VideoRoom),
            Some(PathBuf::from("/etc/cardea/state/vr.yaml"))
        );
        c.plugins.audiobridge = Some(json!({"permanent_file": "/var/lib/cardea/ab.yaml"}));
        assert_eq!(
            path(&c, Owner::AudioBridge),
            Some(PathBuf::from("/var/lib/cardea/ab.yaml"))
        );
    }
}
