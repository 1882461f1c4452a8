//! Reading a REGISTER into what the registrar acts on (RFC 3261 §10.3 steps 2, 5, 6 and the
//! expiry choice of step 7), or the reason to refuse it.

use crate::header_name::HeaderName;
use crate::lex::split_list;
use crate::message::Request;
use crate::method::Method;
use crate::registrar::aor::Aor;
use crate::registrar::binding::{binding_key, BindingKey};
use crate::typed::{CSeq, CallId, Contact, Expires, NameAddr, Require, To};

/// Option tags the registrar supports (RFC 3327 `path`, RFC 5626 `outbound`).
pub const SUPPORTED: [&str; 2] = ["path", "outbound"];

/// A REGISTER, read.
#[derive(Debug, Clone)]
pub(crate) struct RegisterRequest {
    pub aor: Aor,
    pub call_id: String,
    pub cseq: u32,
    pub path: Vec<String>,
    pub action: Action,
    pub supports_path: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Action {
    /// No Contact: list the bindings (§10.2.3).
    Query,
    /// `Contact: *` with `Expires: 0` (§10.2.2).
    RemoveAll,
    Update(Vec<ContactUpdate>),
}

/// One Contact of the request with its chosen expiry (not yet clamped).
#[derive(Debug, Clone)]
pub(crate) struct ContactUpdate {
    pub contact: NameAddr,
    pub key: BindingKey,
    pub expires: u32,
    pub q: u16,
    pub instance: Option<String>,
    pub reg_id: Option<u32>,
}

/// Why a REGISTER is refused before any binding is touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("not a REGISTER")]
    NotRegister,
    #[error("bad {0}")]
    BadHeader(&'static str),
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("To is not a valid address of record")]
    NotAnAor,
    #[error("unsupported extension {0}")]
    Unsupported(String),
    #[error("Contact * needs Expires: 0 and no other Contact")]
    BadWildcard,
}

impl RegisterError {
    /// §10.3: 404 for an AOR that is not ours (step 5), 420 for Require (step 2), 405 for
    /// another method, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            RegisterError::NotRegister => 405,
            RegisterError::NotAnAor => 404,
            RegisterError::Unsupported(_) => 420,
            _ => 400,
        }
    }
}

pub(crate) fn read(
    request: &Request,
    default_expires: u32,
) -> Result<RegisterRequest, RegisterError> {
    use RegisterError as E;
    if request.method != Method::Register {
        return Err(E::NotRegister);
    }
    let h = &request.headers;
    // Step 2: every Require tag must be understood.
    let required = h
        .typed_all::<Require>()
        .map_err(|_| E::BadHeader("Require"))?;
    if let Some(tag) = required
        .iter()
        .map(|r| &r.0)
        .find(|t| !SUPPORTED.iter().any(|s| s.eq_ignore_ascii_case(t)))
    {
        return Err(E::Unsupported(tag.clone()));
    }
    let to = h
        .typed::<To>()
        .map_err(|_| E::BadHeader("To"))?
        .ok_or(E::Missing("To"))?;
    let aor = Aor::from_uri(&to.uri).ok_or(E::NotAnAor)?;
    let call_id = h
        .typed::<CallId>()
        .map_err(|_| E::BadHeader("Call-ID"))?
        .ok_or(E::Missing("Call-ID"))?
        .0;
    let cseq = h
        .typed::<CSeq>()
        .map_err(|_| E::BadHeader("CSeq"))?
        .ok_or(E::Missing("CSeq"))?;
    let expires_header = h
        .typed::<Expires>()
        .map_err(|_| E::BadHeader("Expires"))?
        .map(|e| e.0);
    let contacts = h
        .typed_all::<Contact>()
        .map_err(|_| E::BadHeader("Contact"))?;
    let path = read_path(request)?;
    let supports_path = supports(request, "path");

    let action = if contacts.contains(&Contact::Wildcard) {
        // §10.3 step 6: `*` alone, and only with Expires: 0.
        if contacts.len() != 1 || expires_header != Some(0) {
            return Err(E::BadWildcard);
        }
        Action::RemoveAll
    } else if contacts.is_empty() {
        Action::Query
    } else {
        let default = expires_header.unwrap_or(default_expires);
        Action::Update(
            contacts
                .into_iter()
                .filter_map(|c| match c {
                    Contact::Address(a) => Some(update(a, default)),
                    Contact::Wildcard => None,
                })
                .collect(),
        )
    };
    Ok(RegisterRequest {
        aor,
        call_id,
        cseq: cseq.seq,
        path,
        action,
        supports_path,
    })
}

/// Expiry: the Contact's `expires` parameter, else the Expires header, else the default
/// (§10.3 step 7).
fn update(mut contact: NameAddr, default_expires: u32) -> ContactUpdate {
    let c = Contact::Address(contact.clone());
    let expires = c.expires().unwrap_or(default_expires);
    let q = c.q().unwrap_or(1000);
    contact.params.remove("expires");
    let instance = contact.params.get_unquoted("+sip.instance");
    // A reg-id without an instance is ignored (RFC 5626 §6).
    let reg_id = instance
        .as_ref()
        .and_then(|_| contact.params.get("reg-id").flatten())
        .and_then(|r| r.parse().ok());
    ContactUpdate {
        key: binding_key(&contact.uri, instance.as_deref(), reg_id),
        contact,
        expires,
        q,
        instance,
        reg_id,
    }
}

/// Path values in order (RFC 3327 §4: one or more Path fields, each a list).
fn read_path(request: &Request) -> Result<Vec<String>, RegisterError> {
    let mut out = Vec::new();
    for f in request.headers.get_all(&HeaderName::parse("Path")) {
        let v = f
            .value_str()
            .map_err(|_| RegisterError::BadHeader("Path"))?;
        let elems = split_list(v).ok_or(RegisterError::BadHeader("Path"))?;
        out.extend(elems.into_iter().map(str::to_owned));
    }
    Ok(out)
}

pub(crate) fn supports(request: &Request, tag: &str) -> bool {
    request
        .headers
        .typed_all::<crate::typed::Supported>()
        .is_ok_and(|s| s.iter().any(|t| t.0.eq_ignore_ascii_case(tag)))
}
