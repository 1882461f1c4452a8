//! Where the server finds a user's secret: a lookup by user, realm and algorithm that yields
//! an HA1, never a password (RFC 7616 §5.6 recommends storing HA1, not the password).

use std::collections::HashMap;

use crate::auth::algorithm::{Algorithm, HashFn};
use crate::auth::digest::Ha1;
use crate::auth::error::DigestError;

/// The credentials database.
pub trait CredentialStore {
    /// `H(user ":" realm ":" password)` with the hash function of `algorithm` (the base HA1
    /// also for `-sess`), or `None` for an unknown user or a hash this user has no HA1 for.
    fn ha1(&self, user: &str, realm: &str, algorithm: Algorithm) -> Option<Ha1>;
}

/// Users held in memory: per (user, realm), one HA1 per hash function.
#[derive(Debug, Default, Clone)]
pub struct MemoryCredentials {
    users: HashMap<(String, String), Vec<Ha1>>,
}

impl MemoryCredentials {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores the HA1 of every supported hash for this password; the password itself is not
    /// kept.
    pub fn insert_password(&mut self, user: &str, realm: &str, password: &str) {
        let all = [HashFn::Md5, HashFn::Sha256, HashFn::Sha512_256]
            .map(|h| Ha1::from_password(h, user, realm, password));
        self.users
            .insert((user.to_owned(), realm.to_owned()), all.to_vec());
    }

    /// Adds (or replaces) one precomputed HA1, as a provisioning system would hand it over.
    pub fn insert_ha1(
        &mut self,
        user: &str,
        realm: &str,
        hash: HashFn,
        hex: &str,
    ) -> Result<(), DigestError> {
        let ha1 = Ha1::from_hex(hash, hex)?;
        let list = self
            .users
            .entry((user.to_owned(), realm.to_owned()))
            .or_default();
        list.retain(|h| h.hash_fn() != hash);
        list.push(ha1);
        Ok(())
    }

    pub fn remove(&mut self, user: &str, realm: &str) {
        self.users.remove(&(user.to_owned(), realm.to_owned()));
    }
}

impl CredentialStore for MemoryCredentials {
    fn ha1(&self, user: &str, realm: &str, algorithm: Algorithm) -> Option<Ha1> {
        self.users
            .get(&(user.to_owned(), realm.to_owned()))?
            .iter()
            .find(|h| h.hash_fn() == algorithm.hash_fn())
            .cloned()
    }
}
