//! Stateless server nonces (RFC 7616 §3.3 leaves the nonce's form to the server; §5.4–§5.5
//! on replay): a nonce carries its issue time and a serial number, sealed with an HMAC over a
//! server secret, so issuing one stores nothing. Only nonces that have been used get an entry,
//! in a bounded map of the highest `nc` seen.

use std::collections::BTreeMap;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::algorithm::{from_hex, to_hex};

const MAC_LEN: usize = 16;

/// Seals and opens nonces: `hex(issued_secs ‖ serial ‖ HMAC-SHA256(secret, realm ‖ issued ‖
/// serial)[..16])`, 64 hex characters.
#[derive(Clone)]
pub(crate) struct NonceKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

/// What a valid nonce says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NonceInfo {
    pub issued_secs: u64,
    pub serial: u64,
}

impl NonceKey {
    pub(crate) fn new(secret: &[u8; 32], realm: &str) -> NonceKey {
        // HMAC takes keys of any length: new_from_slice cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
        mac.update(realm.as_bytes());
        mac.update(&[0]);
        NonceKey { mac }
    }

    fn tag(&self, body: &[u8]) -> Hmac<Sha256> {
        let mut m = self.mac.clone();
        m.update(body);
        m
    }

    pub(crate) fn seal(&self, info: NonceInfo) -> String {
        let mut buf = Vec::with_capacity(16 + MAC_LEN);
        buf.extend_from_slice(&info.issued_secs.to_be_bytes());
        buf.extend_from_slice(&info.serial.to_be_bytes());
        let tag = self.tag(&buf).finalize().into_bytes();
        buf.extend_from_slice(&tag[..MAC_LEN]);
        to_hex(&buf)
    }

    /// The nonce's contents when we issued it (the tag is checked in constant time).
    pub(crate) fn open(&self, nonce: &str) -> Option<NonceInfo> {
        let raw = from_hex(nonce).filter(|r| r.len() == 16 + MAC_LEN)?;
        let (body, tag) = raw.split_at(16);
        self.tag(body).verify_truncated_left(tag).ok()?;
        let issued_secs = u64::from_be_bytes(body[..8].try_into().ok()?);
        let serial = u64::from_be_bytes(body[8..].try_into().ok()?);
        Some(NonceInfo {
            issued_secs,
            serial,
        })
    }
}

/// Result of presenting a nonce count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NcCheck {
    /// Higher than any seen for this nonce: recorded.
    Fresh,
    /// Already seen (or lower): a replay (RFC 7616 §3.3, `nc`).
    Replay,
    /// The nonce's record was evicted to bound memory: ask for a new nonce.
    Forgotten,
}

/// Highest `nc` per used nonce, bounded. Serials grow with issue time, so evicting the
/// smallest serial evicts the oldest nonce; everything below `floor` counts as forgotten.
#[derive(Debug)]
pub(crate) struct NcTracker {
    seen: BTreeMap<u64, (u64, u32)>,
    floor: u64,
    capacity: usize,
}

impl NcTracker {
    pub(crate) fn new(capacity: usize) -> NcTracker {
        NcTracker {
            seen: BTreeMap::new(),
            floor: 0,
            capacity: capacity.max(1),
        }
    }

    /// Records `nc` for the nonce unless it replays one already seen. A legacy answer
    /// without qop passes `nc = 1`, which makes such a nonce single-use.
    pub(crate) fn check(&mut self, info: NonceInfo, nc: u32) -> NcCheck {
        if info.serial < self.floor {
            return NcCheck::Forgotten;
        }
        if let Some((_, highest)) = self.seen.get_mut(&info.serial) {
            if nc <= *highest {
                return NcCheck::Replay;
            }
            *highest = nc;
            return NcCheck::Fresh;
        }
        if nc == 0 {
            return NcCheck::Replay;
        }
        while self.seen.len() >= self.capacity {
            match self.seen.pop_first() {
                Some((serial, _)) => self.floor = self.floor.max(serial + 1),
                None => break,
            }
        }
        self.seen.insert(info.serial, (info.issued_secs, nc));
        NcCheck::Fresh
    }

    /// Drops records of nonces issued before `oldest_valid_secs` (they fail the age check
    /// anyway).
    pub(crate) fn purge(&mut self, oldest_valid_secs: u64) {
        self.seen
            .retain(|_, (issued, _)| *issued >= oldest_valid_secs);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(serial: u64) -> NonceInfo {
        NonceInfo {
            issued_secs: 7,
            serial,
        }
    }

    #[test]
    fn sealed_nonce_opens_and_tampered_one_does_not() {
        let k = NonceKey::new(&[1; 32], "r");
        let n = k.seal(info(42));
        assert_eq!(k.open(&n), Some(info(42)));
        let mut bad = n.clone().into_bytes();
        bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
        assert_eq!(k.open(std::str::from_utf8(&bad).unwrap()), None);
        assert_eq!(NonceKey::new(&[1; 32], "other").open(&n), None);
        assert_eq!(NonceKey::new(&[2; 32], "r").open(&n), None);
    }

    #[test]
    fn nc_must_grow_and_evicted_nonces_are_forgotten() {
        let mut t = NcTracker::new(2);
        assert_eq!(t.check(info(1), 1), NcCheck::Fresh);
        assert_eq!(t.check(info(1), 1), NcCheck::Replay);
        assert_eq!(t.check(info(1), 2), NcCheck::Fresh);
        assert_eq!(t.check(info(2), 1), NcCheck::Fresh);
        assert_eq!(t.check(info(3), 1), NcCheck::Fresh);
        assert_eq!(t.len(), 2);
        assert_eq!(t.check(info(1), 9), NcCheck::Forgotten);
    }
}
