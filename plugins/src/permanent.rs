//! Permanent rooms and mountpoints: a `create`, `edit` or `destroy` with `"permanent": true`
//! survives a restart, as in Janus, where it rewrites the plugin's configuration file.
//!
//! Cardea does not rewrite the configuration a person wrote. Each plugin owns a state file
//! that holds the `create` bodies of what was created or edited permanently, and the ids of
//! configured objects that were destroyed permanently. At start the objects are the
//! configured ones, less those destroyed, with the state file's bodies added (a body there
//! replaces a configured one of the same id: it was edited permanently).
//!
//! The plugin keeps the bookkeeping ([`Keeper`]); the core reads the file at start and
//! writes it through [`PermanentStore`], as it binds ports through [`crate::SourceIo`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a plugin's state file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PermanentState {
    /// `create` bodies (with their id) of the objects created or edited permanently.
    pub created: Vec<Value>,
    /// Ids of configured objects destroyed permanently.
    pub destroyed: Vec<u64>,
}

/// Writes a plugin's state file (the core's I/O; replaced whole, atomically).
pub trait PermanentStore: Send + Sync {
    fn save(&self, state: &PermanentState) -> Result<(), String>;
}

/// A plugin's state file as the core hands it over at start: what it held, and where
/// changes go.
#[derive(Clone)]
pub struct Permanence {
    pub state: PermanentState,
    pub store: Arc<dyn PermanentStore>,
}

impl std::fmt::Debug for Permanence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permanence")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The objects a plugin starts with: the configured `bodies` (each with its id under
/// `id_key`) less those the state file says were destroyed, then the state file's own
/// (which replace configured ones of the same id).
pub fn startup_bodies(configured: &[Value], state: &PermanentState, id_key: &str) -> Vec<Value> {
    let saved: BTreeSet<u64> = state
        .created
        .iter()
        .filter_map(|b| id_of(b, id_key))
        .collect();
    configured
        .iter()
        .filter(|b| {
            id_of(b, id_key).is_none_or(|id| !saved.contains(&id) && !state.destroyed.contains(&id))
        })
        .chain(state.created.iter())
        .cloned()
        .collect()
}

fn id_of(body: &Value, id_key: &str) -> Option<u64> {
    body.get(id_key).and_then(Value::as_u64)
}

/// What a plugin remembers to save permanent changes: every live object's `create` body
/// (so an `edit` can be written whole) and what its state file holds.
pub(crate) struct Keeper {
    id_key: &'static str,
    store: Option<Arc<dyn PermanentStore>>,
    live: BTreeMap<u64, Value>,
    configured: BTreeSet<u64>,
    saved: BTreeMap<u64, Value>,
    destroyed: BTreeSet<u64>,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keeper")
            .field("live", &self.live.len())
            .field("saved", &self.saved.len())
            .field("can_save", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

/// Fields of a request that are not part of what it creates.
const NOT_STATE: [&str; 3] = ["request", "permanent", "admin_key"];

impl Keeper {
    /// The keeper and the bodies to create at start (see [`startup_bodies`]); `configured`
    /// are the configuration's. Without `permanence` nothing can be made permanent.
    pub fn new(
        id_key: &'static str,
        configured: &[Value],
        permanence: Option<&Permanence>,
    ) -> (Self, Vec<Value>) {
        let empty = PermanentState::default();
        let state = permanence.map_or(&empty, |p| &p.state);
        let bodies = startup_bodies(configured, state, id_key);
        let keeper = Self {
            id_key,
            store: permanence.map(|p| p.store.clone()),
            live: BTreeMap::new(),
            configured: configured.iter().filter_map(|b| id_of(b, id_key)).collect(),
            saved: state
                .created
                .iter()
                .filter_map(|b| Some((id_of(b, id_key)?, b.clone())))
                .collect(),
            destroyed: state.destroyed.iter().copied().collect(),
        };
        (keeper, bodies)
    }

    /// Whether a state file is configured (Janus: whether the plugin has a configuration
    /// file); without one a permanent request is refused.
    pub fn can_save(&self) -> bool {
        self.store.is_some()
    }

    /// Whether a request's `permanent` asks for a saved change; without a state file it is
    /// refused with Janus's words for a plugin without a configuration file (`what`:
    /// "create permanent room", "edit mountpoint permanently"...).
    pub fn wants(&self, permanent: Option<bool>, what: &str) -> Result<bool, String> {
        let wanted = permanent == Some(true);
        if wanted && !self.can_save() {
            return Err(format!("No configuration file, can't {what}"));
        }
        Ok(wanted)
    }

    /// Object `id` was created from `body` (at start, or by a request); `permanent` saves
    /// it. Returns whether it was saved.
    pub fn created(&mut self, id: u64, body: &Value, permanent: bool) -> bool {
        let mut body = body.clone();
        if let Some(map) = body.as_object_mut() {
            for key in NOT_STATE {
                map.remove(key);
            }
            map.insert(self.id_key.to_owned(), id.into());
        }
        self.live.insert(id, body.clone());
        permanent
            && self.change(|k| {
                k.saved.insert(id, body);
                k.destroyed.remove(&id);
            })
    }

    /// Object `id` was edited: `fields` are its `create` fields an `edit` may change, with
    /// their values now (`Null`: unset). Returns whether the change was saved.
    pub fn edited(&mut self, id: u64, fields: Vec<(&'static str, Value)>, permanent: bool) -> bool {
        let Some(map) = self.live.get_mut(&id).and_then(Value::as_object_mut) else {
            return false;
        };
        for (key, value) in fields {
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.to_owned(), value);
            }
        }
        let Some(body) = self.live.get(&id).cloned() else {
            return false;
        };
        permanent
            && self.change(|k| {
                k.saved.insert(id, body);
            })
    }

    /// Object `id` was destroyed. Returns whether that was saved.
    pub fn destroyed(&mut self, id: u64, permanent: bool) -> bool {
        self.live.remove(&id);
        permanent
            && self.change(|k| {
                k.saved.remove(&id);
                if k.configured.contains(&id) {
                    k.destroyed.insert(id);
                }
            })
    }

    /// Applies `change` to what the state file holds and writes it; if the write fails the
    /// change is undone (the answer says `permanent: false`, as Janus's does).
    fn change(&mut self, change: impl FnOnce(&mut Self)) -> bool {
        let Some(store) = self.store.clone() else {
            return false;
        };
        let (saved, destroyed) = (self.saved.clone(), self.destroyed.clone());
        change(self);
        let state = PermanentState {
            created: self.saved.values().cloned().collect(),
            destroyed: self.destroyed.iter().copied().collect(),
        };
        match store.save(&state) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("permanent change not saved: {e}");
                self.saved = saved;
                self.destroyed = destroyed;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Memory {
        last: Mutex<Option<PermanentState>>,
        fail: bool,
    }

    impl PermanentStore for Memory {
        fn save(&self, state: &PermanentState) -> Result<(), String> {
            if self.fail {
                return Err("disk full".into());
            }
            if let Ok(mut last) = self.last.lock() {
                *last = Some(state.clone());
            }
            Ok(())
        }
    }

    fn last(m: &Memory) -> PermanentState {
        m.last.lock().unwrap().clone().unwrap()
    }

    #[test]
    fn state_file_objects_follow_the_configured_ones_and_replace_or_remove_them() {
        let configured = [json!({"room": 1}), json!({"room": 2, "description": "old"})];
        let state = PermanentState {
            created: vec![json!({"room": 2, "description": "new"}), json!({"room": 7})],
            destroyed: vec![1],
        };
        let bodies = startup_bodies(&configured, &state, "room");
        assert_eq!(
            bodies,
            vec![json!({"room": 2, "description": "new"}), json!({"room": 7})]
        );
    }

    #[test]
    fn create_edit_destroy_rewrite_the_state_file() {
        let store = Arc::new(Memory::default());
        let p = Permanence {
            state: PermanentState::default(),
            store: store.clone(),
        };
        let (mut k, bodies) = Keeper::new("room", &[json!({"room": 1})], Some(&p));
        assert_eq!(bodies, vec![json!({"room": 1})]);
        k.created(1, &bodies[0], false);
        let body = json!({"request": "create", "permanent": true, "admin_key": "k", "pin": "1"});
        assert!(k.created(5, &body, true));
        assert_eq!(last(&store).created, vec![json!({"pin": "1", "room": 5})]);
        assert!(k.edited(
            5,
            vec![("pin", Value::Null), ("description", "d".into())],
            true
        ));
        assert_eq!(
            last(&store).created,
            vec![json!({"room": 5, "description": "d"})]
        );
        assert!(k.destroyed(1, true));
        assert!(k.destroyed(5, true));
        assert_eq!(
            last(&store),
            PermanentState {
                created: vec![],
                destroyed: vec![1]
            }
        );
        assert!(!k.created(6, &json!({}), false), "not permanent: not saved");
    }

    #[test]
    fn a_failed_write_answers_not_permanent_and_keeps_the_old_state() {
        let store = Arc::new(Memory {
            fail: true,
            ..Default::default()
        });
        let p = Permanence {
            state: PermanentState::default(),
            store,
        };
        let (mut k, _) = Keeper::new("id", &[], Some(&p));
        assert!(!k.created(3, &json!({"id": 3}), true));
        assert!(k.saved.is_empty());
        let (mut none, _) = Keeper::new("id", &[], None);
        assert!(!none.can_save());
        assert!(!none.created(3, &json!({}), true));
    }
}
