//! The location service's storage (RFC 3261 §10.3: "a list of bindings" per AOR) behind a
//! trait, so bindings can live in memory now and in a shared store (Redis) later.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use crate::registrar::aor::Aor;
use crate::registrar::binding::Binding;

/// Bindings per AOR. Implementations store what they are given; the registrar applies the
/// rules and filters by time.
pub trait LocationStore {
    /// The stored bindings of `aor` (possibly including expired ones not yet purged).
    fn get(&self, aor: &Aor) -> Vec<Binding>;
    /// Replaces every binding of `aor` at once (empty removes the AOR): one REGISTER is
    /// applied atomically (§10.3 step 7, "the update MUST be aborted").
    fn put(&mut self, aor: &Aor, bindings: Vec<Binding>);
    /// Removes bindings expired at `now`; returns how many went.
    fn purge(&mut self, now: Instant) -> usize;
    /// The earliest expiry among stored bindings.
    fn next_expiry(&self) -> Option<Instant>;
    /// How many AORs have bindings.
    fn aor_count(&self) -> usize;
}

/// Bindings in process memory, with an expiry index so purging and the next deadline cost
/// O(log n).
#[derive(Debug, Default)]
pub struct MemoryLocationStore {
    by_aor: HashMap<Aor, Vec<Binding>>,
    /// (expiry, AOR) of every stored binding.
    expiries: BTreeMap<(Instant, Aor), usize>,
}

impl MemoryLocationStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn unindex(&mut self, aor: &Aor, bindings: &[Binding]) {
        for b in bindings {
            let k = (b.expires_at, aor.clone());
            if let Some(n) = self.expiries.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.expiries.remove(&k);
                }
            }
        }
    }
}

impl LocationStore for MemoryLocationStore {
    fn get(&self, aor: &Aor) -> Vec<Binding> {
        self.by_aor.get(aor).cloned().unwrap_or_default()
    }

    fn put(&mut self, aor: &Aor, bindings: Vec<Binding>) {
        if let Some(old) = self.by_aor.remove(aor) {
            self.unindex(aor, &old);
        }
        if bindings.is_empty() {
            return;
        }
        for b in &bindings {
            *self
                .expiries
                .entry((b.expires_at, aor.clone()))
                .or_insert(0) += 1;
        }
        self.by_aor.insert(aor.clone(), bindings);
    }

    fn purge(&mut self, now: Instant) -> usize {
        let mut due: Vec<Aor> = Vec::new();
        for (t, aor) in self.expiries.keys() {
            if *t > now {
                break;
            }
            if due.last() != Some(aor) {
                due.push(aor.clone());
            }
        }
        due.sort();
        due.dedup();
        let mut removed = 0;
        for aor in due {
            let mut list = self.get(&aor);
            let before = list.len();
            list.retain(|b| b.is_live(now));
            removed += before - list.len();
            self.put(&aor, list);
        }
        removed
    }

    fn next_expiry(&self) -> Option<Instant> {
        self.expiries.keys().next().map(|(t, _)| *t)
    }

    fn aor_count(&self) -> usize {
        self.by_aor.len()
    }
}
