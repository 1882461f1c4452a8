//! Fresh identifiers: branches (§8.1.1.7), tags (§19.3) and Call-IDs (§8.1.1.4), each
//! with enough randomness to be globally unique.

/// The RFC 3261 magic cookie (§8.1.1.7).
const COOKIE: &str = "z9hG4bK";

/// A branch for a request sent outside the transaction layer (the ACK for a 2xx).
pub fn new_branch() -> String {
    format!("{COOKIE}{:016x}", rand::random::<u64>())
}

/// A From or To tag: at least 32 bits of randomness (§19.3).
pub fn new_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A Call-ID, `random@host` (§8.1.1.4).
pub fn new_call_id(host: &str) -> String {
    format!("{:032x}@{host}", rand::random::<u128>())
}
