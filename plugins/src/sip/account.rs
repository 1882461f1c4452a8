//! `register` / `unregister`: the handle's SIP identity and its registration (RFC 3261 §10.2)
//! through `cardea_sip::ua::Registration`. The Contact names the shared endpoint with the
//! account's user part, and the endpoint is told to hand requests for that user to this
//! handle (Janus instead binds a port per handle).

use cardea_sip::auth::{ClientCredentials, HashFn, Secret};
use cardea_sip::typed::NameAddr;
use cardea_sip::ua::{Local, Registration, RegistrationConfig, RegistrationEvent};
use cardea_sip::{Response, Uri};
use serde_json::json;

use super::error::SipError;
use super::events;
use super::request::Body;
use super::Session;
use crate::api::SipOut;
use crate::{Command, Ctx, HandleId};

/// Janus's default `register_ttl`.
const DEFAULT_TTL: u32 = 3600;

/// How the account was set up (`type` in `register`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// REGISTERs with a registrar.
    Registered,
    /// No REGISTER (`type: guest` or `send_register: false`): calls out only.
    Guest,
    /// `type: helper`: shares a master handle's account for parallel calls (Janus): calls
    /// out as the master, and takes the master's incoming calls while the master is busy.
    Helper { master: HandleId },
}

pub struct Account {
    pub kind: Kind,
    /// From (and To of REGISTER), with the display name.
    pub identity: NameAddr,
    pub contact: NameAddr,
    /// The user part the endpoint routes to this handle.
    pub user: String,
    pub credentials: Option<ClientCredentials>,
    /// Janus's `proxy`: the registrar's address (REGISTER's Request-URI).
    pub proxy: Option<Uri>,
    /// Janus's `outbound_proxy`: the first hop of every request (a pre-loaded Route).
    pub outbound_proxy: Option<Uri>,
    pub registration: Option<Registration>,
    /// The transaction of the `register`/`unregister` being served.
    transaction: Option<String>,
    registered: bool,
    pub local: Local,
    /// Janus's `master_id`: helpers name their master by it.
    pub master_id: u32,
}

impl Account {
    pub fn status(&self) -> &'static str {
        match (self.kind, self.registered) {
            (Kind::Guest, _) => "guest",
            (Kind::Helper { .. }, _) => "helper",
            (_, true) => "registered",
            _ => "registering",
        }
    }

    pub fn identity_uri(&self) -> String {
        self.identity.uri.to_string()
    }

    /// A pre-loaded route through the outbound proxy (RFC 3261 §8.1.2), loose-routing.
    pub fn routes(&self) -> Vec<NameAddr> {
        self.outbound_proxy
            .iter()
            .filter_map(|p| {
                let mut sip = p.as_sip()?.clone();
                if !sip.params.contains("lr") {
                    sip.params.set("lr", None);
                }
                Some(NameAddr::new(Uri::Sip(sip)))
            })
            .collect()
    }
}

fn parse_uri(value: &str, what: &str) -> Result<Uri, SipError> {
    let uri = Uri::parse(value)
        .map_err(|e| SipError::InvalidAddress(format!("invalid {what} {value}: {e}")))?;
    if uri.as_sip().is_none() {
        return Err(SipError::InvalidAddress(format!(
            "{what} {value} is not a sip: or sips: URI"
        )));
    }
    Ok(uri)
}

pub fn register(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    local: &Local,
    body: &Body<'_>,
    transaction: Option<String>,
) -> Result<(), SipError> {
    if session
        .account
        .as_ref()
        .is_some_and(|a| a.registration.is_some() && a.registered)
    {
        return Err(SipError::AlreadyRegistered(
            "unregister first to register again".into(),
        ));
    }
    let guest = match body.str("type")? {
        None => false,
        Some("guest") => true,
        Some("helper") => {
            return Err(SipError::Stack(
                "helper registration is handled by the plugin".into(),
            ))
        }
        Some(other) => return Err(SipError::InvalidElement(format!("unknown type {other}"))),
    };
    let send_register = body.bool("send_register")?.unwrap_or(true);
    let username = body.required_str("username")?;
    let identity_uri = parse_uri(username, "username")?;
    let user = identity_uri
        .as_sip()
        .and_then(|s| s.user.clone())
        .ok_or_else(|| SipError::InvalidAddress(format!("{username} has no user part")))?;
    let proxy = body
        .str("proxy")?
        .map(|p| parse_uri(p, "proxy"))
        .transpose()?;
    let outbound_proxy = body
        .str("outbound_proxy")?
        .map(|p| parse_uri(p, "outbound_proxy"))
        .transpose()?;
    let authuser = body.str("authuser")?.unwrap_or(&user).to_owned();
    let secret = match (body.str("secret")?, body.str("ha1_secret")?) {
        (Some(p), _) => Some(Secret::Password(p.to_owned())),
        (None, Some(h)) => Some(Secret::Ha1(
            cardea_sip::auth::Ha1::from_hex(HashFn::Md5, h)
                .map_err(|e| SipError::InvalidElement(format!("ha1_secret: {e}")))?,
        )),
        (None, None) => None,
    };
    if !guest && send_register && secret.is_none() {
        return Err(SipError::MissingElement("secret"));
    }
    let ttl = match body.u64("register_ttl")? {
        Some(0) => {
            return Err(SipError::InvalidElement(
                "register_ttl should be positive".into(),
            ))
        }
        Some(t) => u32::try_from(t).unwrap_or(u32::MAX),
        None => DEFAULT_TTL,
    };
    let display_name = body.str("display_name")?.map(str::to_owned);
    let mut identity = NameAddr::new(identity_uri.clone());
    identity.display_name = display_name.clone();
    let contact_uri = format!(
        "sip:{user}@{}{};transport=udp",
        local.host,
        local.port.map(|p| format!(":{p}")).unwrap_or_default()
    );
    let mut contact = NameAddr::new(
        Uri::parse(&contact_uri)
            .map_err(|e| SipError::InvalidAddress(format!("{contact_uri}: {e}")))?,
    );
    contact.display_name = display_name;
    let credentials = secret.map(|secret| ClientCredentials {
        username: authuser,
        secret,
        realm: None,
    });
    // A new register replaces an older account of this handle.
    if let Some(old) = session.account.take() {
        ctx.push(Command::Sip {
            handle,
            out: SipOut::Unbind { user: old.user },
        });
    }
    ctx.push(Command::Sip {
        handle,
        out: SipOut::Bind { user: user.clone() },
    });
    let kind = if guest || !send_register {
        Kind::Guest
    } else {
        Kind::Registered
    };
    let mut account = Account {
        kind,
        identity,
        contact,
        user,
        credentials,
        proxy,
        outbound_proxy,
        registration: None,
        transaction: transaction.clone(),
        registered: false,
        local: local.clone(),
        master_id: rand::random::<u32>() >> 1,
    };
    if kind == Kind::Guest {
        let data = events::result(
            "registered",
            None,
            json!({ "username": account.user, "register_sent": false, "master_id": account.master_id }),
        );
        events::push(ctx, handle, transaction, data);
        session.account = Some(account);
        return Ok(());
    }
    let registrar = match &account.proxy {
        Some(p) => p.clone(),
        None => {
            let host = identity_uri.as_sip().map(|s| s.host.to_string());
            parse_uri(&format!("sip:{}", host.unwrap_or_default()), "registrar")?
        }
    };
    let mut registration = Registration::new(RegistrationConfig {
        registrar,
        aor: account.identity.clone(),
        contact: account.contact.clone(),
        expires: ttl,
        local: local.clone(),
        credentials: account.credentials.clone(),
    });
    registration.register();
    account.registration = Some(registration);
    session.account = Some(account);
    drive(ctx, handle, session);
    Ok(())
}

pub fn unregister(
    ctx: &mut Ctx,
    handle: HandleId,
    session: &mut Session,
    transaction: Option<String>,
) -> Result<(), SipError> {
    let Some(account) = session.account.as_mut() else {
        return Err(SipError::WrongState("not registered".into()));
    };
    let Some(reg) = account.registration.as_mut() else {
        return Err(SipError::WrongState("not registered".into()));
    };
    account.transaction = transaction.clone();
    events::push(
        ctx,
        handle,
        transaction,
        events::result("unregistering", None, json!({})),
    );
    reg.unregister();
    drive(ctx, handle, session);
    Ok(())
}

/// Whether a message of `call_id` belongs to the handle's registration.
pub fn owns(session: &Session, call_id: Option<&str>) -> bool {
    let reg = session
        .account
        .as_ref()
        .and_then(|a| a.registration.as_ref());
    matches!((reg, call_id), (Some(r), Some(id)) if r.call_id() == id)
}

pub fn on_response(ctx: &mut Ctx, handle: HandleId, session: &mut Session, response: &Response) {
    if let Some(reg) = session
        .account
        .as_mut()
        .and_then(|a| a.registration.as_mut())
    {
        reg.handle_response(ctx.now, response);
    }
    drive(ctx, handle, session);
}

pub fn on_failure(ctx: &mut Ctx, handle: HandleId, session: &mut Session, code: u16) {
    if let Some(reg) = session
        .account
        .as_mut()
        .and_then(|a| a.registration.as_mut())
    {
        reg.handle_failure(code);
    }
    drive(ctx, handle, session);
}

pub fn handle_timeout(ctx: &mut Ctx, handle: HandleId, session: &mut Session) {
    let due = session
        .account
        .as_ref()
        .and_then(|a| a.registration.as_ref())
        .and_then(Registration::next_timeout)
        .is_some_and(|t| t <= ctx.now);
    if due {
        if let Some(reg) = session
            .account
            .as_mut()
            .and_then(|a| a.registration.as_mut())
        {
            reg.handle_timeout(ctx.now);
        }
        drive(ctx, handle, session);
    }
}

/// The handle goes away: unregister (as Janus does) and stop routing to it.
pub fn destroy(ctx: &mut Ctx, handle: HandleId, session: &mut Session) {
    let Some(mut account) = session.account.take() else {
        return;
    };
    if let Some(reg) = account.registration.as_mut() {
        if account.registered {
            reg.unregister();
            while let Some(request) = reg.poll_request() {
                ctx.push(Command::Sip {
                    handle,
                    out: SipOut::Request {
                        request,
                        destination: None,
                    },
                });
            }
        }
    }
    ctx.push(Command::Sip {
        handle,
        out: SipOut::Unbind { user: account.user },
    });
}

/// Sends what the registration queued and turns its events into Janus events.
fn drive(ctx: &mut Ctx, handle: HandleId, session: &mut Session) {
    let Some(account) = session.account.as_mut() else {
        return;
    };
    let Some(reg) = account.registration.as_mut() else {
        return;
    };
    // REGISTER goes through the outbound proxy when there is one.
    let destination = account
        .outbound_proxy
        .as_ref()
        .and_then(cardea_sip::proxy::destination_of);
    while let Some(request) = reg.poll_request() {
        ctx.push(Command::Sip {
            handle,
            out: SipOut::Request {
                request,
                destination: destination.clone(),
            },
        });
    }
    let mut unregistered = false;
    while let Some(event) = reg.poll_event() {
        let transaction = account.transaction.clone();
        let data = match event {
            RegistrationEvent::Registering => {
                if account.registered {
                    continue; // a refresh: Janus says nothing
                }
                events::result("registering", None, json!({}))
            }
            RegistrationEvent::Registered { expires } => {
                if account.registered {
                    continue;
                }
                account.registered = true;
                events::result(
                    "registered",
                    None,
                    json!({
                        "username": account.user,
                        "register_sent": true,
                        "expires": expires,
                        "master_id": account.master_id,
                    }),
                )
            }
            RegistrationEvent::Failed { code, reason } => {
                account.registered = false;
                events::result(
                    "registration_failed",
                    None,
                    json!({ "code": code, "reason": reason }),
                )
            }
            RegistrationEvent::Unregistered => {
                account.registered = false;
                unregistered = true;
                events::result("unregistered", None, json!({ "username": account.user }))
            }
        };
        events::push(ctx, handle, transaction, data);
    }
    if unregistered {
        account.registration = None;
    }
}

/// `register` with `type: helper` and `master_id`: the master's account, without a REGISTER
/// or a Contact of its own (Janus's helper handles, for parallel calls).
pub fn helper_of(master: HandleId, account: &Account, transaction: Option<String>) -> Account {
    Account {
        kind: Kind::Helper { master },
        identity: account.identity.clone(),
        contact: account.contact.clone(),
        user: account.user.clone(),
        credentials: account.credentials.clone(),
        proxy: account.proxy.clone(),
        outbound_proxy: account.outbound_proxy.clone(),
        registration: None,
        transaction,
        registered: false,
        local: account.local.clone(),
        master_id: account.master_id,
    }
}
