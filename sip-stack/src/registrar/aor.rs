//! Addresses of record (RFC 3261 §10.3 step 5): the To URI in canonical form,
//! `sip:user@host`, URI parameters removed and escapes decoded, as the location service's key.

use std::fmt;

use crate::uri::{Host, Uri};

/// A canonical address of record. `sips:` and `sip:` AORs share bindings (one user, one
/// location list); the port is kept, as URI comparison keeps it (§19.1.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aor {
    /// User part, unescaped, case kept (user parts compare case-sensitively, §19.1.4).
    pub user: String,
    /// Host in lower case, with `:port` when the URI had one.
    pub host: String,
}

impl Aor {
    /// The AOR of a SIP or SIPS URI with a user part; `None` otherwise (such a To is not a
    /// valid address of record: 404, §10.3 step 5).
    pub fn from_uri(uri: &Uri) -> Option<Aor> {
        let sip = uri.as_sip()?;
        let user = sip.user_decoded().filter(|u| !u.is_empty())?;
        let host = match &sip.host {
            Host::Domain(d) => d.to_ascii_lowercase(),
            h => h.to_string().to_ascii_lowercase(),
        };
        let host = match sip.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        };
        Some(Aor { user, host })
    }

    /// The host without the port.
    pub fn domain(&self) -> &str {
        if self.host.starts_with('[') {
            return self.host.split_inclusive(']').next().unwrap_or(&self.host);
        }
        self.host.split(':').next().unwrap_or(&self.host)
    }
}

impl fmt::Display for Aor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sip:{}@{}", self.user, self.host)
    }
}

/// The default authorization policy (§10.3 step 4): an authenticated user may change the
/// bindings of the AOR whose user part is its own name. Callers with other policies (an
/// admin user, aliases) decide before calling the registrar.
pub fn may_register(authenticated_user: &str, aor: &Aor) -> bool {
    authenticated_user == aor.user
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aor_drops_parameters_and_decodes_escapes() {
        let u = Uri::parse("sips:%61lice@Example.COM:5061;transport=tls").unwrap();
        let aor = Aor::from_uri(&u).unwrap();
        assert_eq!(aor.to_string(), "sip:alice@example.com:5061");
        assert_eq!(aor.domain(), "example.com");
        assert!(Aor::from_uri(&Uri::parse("sip:example.com").unwrap()).is_none());
        assert!(Aor::from_uri(&Uri::parse("tel:+123").unwrap()).is_none());
    }

    #[test]
    fn only_the_owner_may_register() {
        let aor = Aor::from_uri(&Uri::parse("sip:alice@example.com").unwrap()).unwrap();
        assert!(may_register("alice", &aor));
        assert!(!may_register("bob", &aor));
    }
}
