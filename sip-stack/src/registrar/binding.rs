//! A binding of the location service (RFC 3261 §10.3): one contact for an AOR, with what the
//! registrar must remember about it: expiry, q, the Call-ID and CSeq that set it (§10.3 step
//! 7), the Path (RFC 3327 §5.3) and the outbound identity (RFC 5626 §6).

use std::time::{Duration, Instant};

use crate::percent_decode;
use crate::typed::NameAddr;
use crate::uri::Uri;

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The Contact as registered, without its `expires` parameter.
    pub contact: NameAddr,
    pub expires_at: Instant,
    /// `q` in thousandths; 1000 when the Contact had none.
    pub q: u16,
    pub call_id: String,
    pub cseq: u32,
    /// Path header values of the REGISTER, in order (route set towards the contact).
    pub path: Vec<String>,
    /// `+sip.instance` (RFC 5626 §4.1), unquoted.
    pub instance: Option<String>,
    /// `reg-id` (RFC 5626 §4.2), kept only together with an instance.
    pub reg_id: Option<u32>,
    /// When this binding was last refreshed (ties in q go to the freshest).
    pub updated_at: Instant,
}

/// What identifies a binding within its AOR.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BindingKey {
    /// RFC 5626 §6: instance and reg-id replace the contact URI as the identity.
    Outbound { instance: String, reg_id: u32 },
    /// RFC 3261 §10.3 step 7: the contact URI, compared per §19.1.4.
    Uri(String),
}

impl Binding {
    pub fn key(&self) -> BindingKey {
        binding_key(&self.contact.uri, self.instance.as_deref(), self.reg_id)
    }

    /// Time left, rounded up to whole seconds (what the 200 OK lists).
    pub fn remaining_secs(&self, now: Instant) -> u64 {
        let d = self.expires_at.saturating_duration_since(now);
        d.as_secs() + u64::from(d.subsec_nanos() > 0)
    }

    pub fn is_live(&self, now: Instant) -> bool {
        self.expires_at > now
    }

    /// Sort order for routing: highest q first, then the most recently refreshed.
    pub(crate) fn routing_order(a: &Binding, b: &Binding) -> std::cmp::Ordering {
        b.q.cmp(&a.q).then(b.updated_at.cmp(&a.updated_at))
    }

    pub(crate) fn lifetime(now: Instant, secs: u32) -> Instant {
        now + Duration::from_secs(u64::from(secs))
    }
}

pub(crate) fn binding_key(uri: &Uri, instance: Option<&str>, reg_id: Option<u32>) -> BindingKey {
    match (instance, reg_id) {
        (Some(i), Some(r)) => BindingKey::Outbound {
            instance: i.to_owned(),
            reg_id: r,
        },
        _ => BindingKey::Uri(uri_key(uri)),
    }
}

/// A comparison key approximating §19.1.4: scheme and host case-insensitive, user
/// case-sensitive with escapes decoded, parameters in any order with case-insensitive names.
fn uri_key(uri: &Uri) -> String {
    let Some(s) = uri.as_sip() else {
        return uri.to_string().to_ascii_lowercase();
    };
    let user = s
        .user
        .as_deref()
        .map(|u| String::from_utf8_lossy(&percent_decode(u)).into_owned())
        .unwrap_or_default();
    let mut params: Vec<String> = s
        .params
        .iter()
        .map(|p| {
            let name = p.name.to_ascii_lowercase();
            match &p.value {
                Some(v) => format!("{name}={}", v.to_ascii_lowercase()),
                None => name,
            }
        })
        .collect();
    params.sort();
    format!(
        "{}:{}@{}:{};{}",
        if s.secure { "sips" } else { "sip" },
        user,
        s.host.to_string().to_ascii_lowercase(),
        s.port.map(|p| p.to_string()).unwrap_or_default(),
        params.join(";")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> BindingKey {
        binding_key(&Uri::parse(s).unwrap(), None, None)
    }

    #[test]
    fn contact_uris_compare_loosely_where_the_rfc_allows() {
        assert_eq!(
            key("sip:%61lice@HOST.example;Transport=UDP;ob"),
            key("sip:alice@host.example;ob;transport=udp")
        );
        assert_ne!(key("sip:alice@host"), key("sip:Alice@host"));
        assert_ne!(key("sip:alice@host"), key("sip:alice@host:5070"));
    }
}
