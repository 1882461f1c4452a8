//! The endpoint's logic without sockets: bytes and `now` in, messages to send out. It drives
//! the transaction layer, answers REGISTER through digest auth and the registrar, answers
//! OPTIONS, and refuses what it cannot route yet.

use std::time::Instant;

use bytes::Bytes;
use cardea_sip::auth::ChallengeKind;
use cardea_sip::auth::{Authenticator, AuthenticatorConfig, HashFn, MemoryCredentials};
use cardea_sip::proxy::{destination_of, Proxy, ProxyConfig, ProxyEvent, Target, TargetGroup};
use cardea_sip::registrar::Aor;
use cardea_sip::registrar::{serve_register, MemoryLocationStore, Registrar, RegistrarConfig};
use cardea_sip::transaction::{
    Destination, ServerKey, Timers, TransactionEvent, TransactionLayer, Transmit,
};
use cardea_sip::typed::Transport;
use cardea_sip::typed::Via;
use cardea_sip::Uri;
use cardea_sip::{reject_reason, Header, HeaderName, Message, Method, Request, Response};

use super::plugin_link::PluginLink;
use crate::config::Sip;

/// Methods Cardea's endpoint understands (`Allow`).
const ALLOW: &str =
    "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, MESSAGE, UPDATE, REFER, NOTIFY";

pub struct SipService {
    layer: TransactionLayer,
    proxy: Proxy,
    auth: Authenticator,
    /// Challenges callers with 407 before anything is routed for them (no open relay).
    proxy_auth: Authenticator,
    credentials: MemoryCredentials,
    registrar: Registrar<MemoryLocationStore>,
    user_agent: String,
    /// Datagrams that did not parse; kept for metrics and the Admin API.
    pub malformed: u64,
    /// The registrar's domains: a Request-URI naming one is for the registrar/proxy, not
    /// for a SIP plugin handle's Contact.
    domains: Vec<String>,
    pub plugins: PluginLink,
}

impl SipService {
    /// `listeners` are our own SIP URIs, one per transport we listen on (UDP first: the
    /// default), for Via, Record-Route (per transport, RFC 5658) and "is this for us".
    pub fn new(
        config: &Sip,
        listeners: &[(Transport, String)],
        now: Instant,
    ) -> Result<Self, String> {
        let mut credentials = MemoryCredentials::new();
        for u in &config.users {
            match (&u.password, &u.ha1) {
                (Some(p), None) => credentials.insert_password(&u.username, &config.realm, p),
                (None, Some(h)) => credentials
                    .insert_ha1(&u.username, &config.realm, HashFn::Md5, h)
                    .map_err(|e| format!("sip.users {}: ha1: {e}", u.username))?,
                _ => {
                    return Err(format!(
                        "sip.users {}: give exactly one of password and ha1",
                        u.username
                    ))
                }
            }
        }
        let secret: [u8; 32] = rand::random();
        let auth = Authenticator::new(AuthenticatorConfig::new(&config.realm), secret, now);
        let mut proxy_auth_config = AuthenticatorConfig::new(&config.realm);
        proxy_auth_config.kind = ChallengeKind::Proxy;
        // The proxy may rewrite nothing before we check, but a caller's UA computes the
        // digest over the Request-URI it sent, which is what we see.
        let proxy_auth = Authenticator::new(proxy_auth_config, rand::random(), now);
        let listeners = listeners
            .iter()
            .map(|(transport, uri)| {
                Uri::parse(uri)
                    .ok()
                    .and_then(|u| u.as_sip().cloned())
                    .map(|sip| (transport.clone(), sip))
                    .ok_or_else(|| format!("bad local SIP URI {uri}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let proxy_listeners = listeners.clone();
        let proxy_config =
            ProxyConfig::with_listeners(listeners).ok_or("no SIP listener to name")?;
        let proxy = Proxy::new(proxy_config);
        // Serve the realm's domain unless told otherwise: a registrar for any domain
        // would accept bindings for names it has no business with.
        let domains = if config.domains.is_empty() {
            vec![config.realm.clone()]
        } else {
            config.domains.clone()
        };
        let registrar = Registrar::new(
            RegistrarConfig {
                min_expires: config.min_expires,
                max_expires: config.max_expires,
                domains: domains.clone(),
                ..RegistrarConfig::default()
            },
            MemoryLocationStore::new(),
        );
        Ok(Self {
            layer: TransactionLayer::new(Timers::default()),
            proxy,
            auth,
            proxy_auth,
            credentials,
            registrar,
            user_agent: config.user_agent.clone(),
            malformed: 0,
            domains,
            plugins: PluginLink::with_listeners(proxy_listeners),
        })
    }

    /// One datagram (UDP) or one framed message (TCP) from `source`.
    pub fn handle_bytes(&mut self, now: Instant, bytes: Bytes, source: Destination) {
        let message = match Message::parse_bytes(bytes.clone()) {
            Ok(m) => m,
            Err(e) => {
                self.malformed += 1;
                tracing::debug!(source = %source.addr, "unparsable SIP message: {e}");
                // A request whose addressing headers can still be read gets 400 naming
                // the fault, sent back where it came from (its Via may be what is broken).
                if let Some(resp) = cardea_sip::response_to_unparsable(&bytes, &e) {
                    self.layer.send_stateless(Message::Response(resp), source);
                }
                return;
            }
        };
        self.handle_message(now, message, source);
    }

    pub fn handle_message(&mut self, now: Instant, message: Message, source: Destination) {
        if let Err(e) = message.validate() {
            self.malformed += 1;
            if let Message::Request(req) = &message {
                if req.method != Method::Ack {
                    // A request we can parse but not accept: 400 naming the fault, sent
                    // statelessly (§8.2, §16.3).
                    let reason = reject_reason(&e);
                    let resp = req.make_response_with_reason(e.status_code(), &reason);
                    self.layer
                        .send_stateless(Message::Response(resp), source.clone());
                }
            }
            tracing::debug!(source = %source.addr, "invalid SIP message: {e}");
            return;
        }
        let (message, source) = match message {
            Message::Request(mut req) => {
                let reply_to = response_destination(&req, &source);
                stamp_received(&mut req, &source);
                (Message::Request(req), reply_to)
            }
            other => (other, source),
        };
        if let Err(e) = self.layer.handle_message(now, message, source) {
            tracing::debug!("SIP message names no transaction: {e}");
        }
        self.drain_events(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.layer.handle_timeout(now);
        self.proxy.handle_timeout(now, &mut self.layer);
        self.proxy_auth.handle_timeout(now);
        self.registrar.handle_timeout(now);
        self.auth.handle_timeout(now);
        self.drain_events(now);
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        [
            self.layer.next_timeout(),
            self.proxy.next_timeout(),
            self.registrar.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// SIP from a plugin handle.
    pub fn plugin_command(&mut self, now: Instant, handle: u64, out: cardea_plugins::SipOut) {
        self.plugins.command(now, &mut self.layer, handle, out);
        self.drain_events(now);
    }

    /// A message could not be sent (a connection could not be opened): its transaction
    /// fails as RFC 3261 §17.1.4 says.
    pub fn transport_error(&mut self, now: Instant, key: cardea_sip::transaction::TransactionKey) {
        let _ = self.layer.handle_transport_error(key);
        self.drain_events(now);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.layer.poll_transmit()
    }

    /// Registered contacts, for the Admin API and tests.
    pub fn registered_aors(&self) -> usize {
        use cardea_sip::registrar::LocationStore;
        self.registrar.store().aor_count()
    }

    fn drain_events(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(event) = self.layer.poll_event() {
                progressed = true;
                let domains = &self.domains;
                let ours = |uri: &Uri| {
                    uri.as_sip().is_some_and(|s| {
                        let host = s.host.to_string();
                        !domains.iter().any(|d| d.eq_ignore_ascii_case(&host))
                    })
                };
                if let Some(event) = self.plugins.intercept(event, ours) {
                    self.proxy.handle_event(now, &mut self.layer, event);
                }
            }
            while let Some(event) = self.proxy.poll_event() {
                progressed = true;
                match event {
                    ProxyEvent::Request {
                        key,
                        request,
                        source,
                        ..
                    } => self.on_request(now, key, request, source),
                    ProxyEvent::Other(other) => self.on_other(now, other),
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn on_other(&mut self, now: Instant, event: TransactionEvent) {
        match event {
            TransactionEvent::Request {
                key,
                request,
                source,
            } => self.on_request(now, key, request, source),
            TransactionEvent::Cancel {
                key,
                invite,
                request,
                ..
            } => {
                let status = if invite.is_some() { 200 } else { 481 };
                self.respond(now, key, &request, status, None);
            }
            TransactionEvent::Merged { key, request, .. } => {
                self.respond(now, key, &request, 482, None);
            }
            TransactionEvent::Timeout(key) => tracing::debug!(?key, "SIP transaction timed out"),
            TransactionEvent::TransportError(key) => tracing::debug!(?key, "SIP transport error"),
            _ => {}
        }
    }

    fn on_request(&mut self, now: Instant, key: ServerKey, request: Request, source: Destination) {
        match request.method {
            Method::Register => {
                let resp = serve_register(
                    now,
                    source.addr.ip(),
                    &request,
                    &mut self.auth,
                    &self.credentials,
                    &mut self.registrar,
                );
                let failures = self.auth.failures(now, source.addr.ip());
                if failures > 0 && failures.is_multiple_of(50) {
                    tracing::warn!(source = %source.addr, failures, "repeated failed SIP authentication");
                }
                self.send(now, key, resp, &request);
            }
            Method::Options if !self.is_registered(&request.uri, now) => {
                // Load balancers and Kamailio's dispatcher probe with OPTIONS: always answer
                // (an OPTIONS for a registered user goes to that user instead).
                self.respond(now, key, &request, 200, Some(()));
            }
            Method::Ack => {}
            _ => self.route(now, key, request, source),
        }
    }

    fn is_registered(&self, uri: &Uri, now: Instant) -> bool {
        Aor::from_uri(uri).is_some_and(|aor| !self.registrar.bindings(&aor, now).is_empty())
    }

    /// A request for someone else: only an authenticated local user may have anything
    /// routed (RFC 3261 §22.3, Proxy-Authorization), and only to a registered local user.
    /// Trunks and the dialplan come with the appliance issue.
    fn route(&mut self, now: Instant, key: ServerKey, request: Request, source: Destination) {
        let caller = match self
            .proxy_auth
            .check(now, source.addr.ip(), &request, &self.credentials)
        {
            Ok(user) => user,
            Err(denial) => {
                let resp = self.proxy_auth.respond(now, &request, &denial);
                self.send(now, key, resp, &request);
                return;
            }
        };
        let Some(aor) = Aor::from_uri(&request.uri) else {
            let resp =
                request.make_response_with_reason(404, "Not Found - no user in the Request-URI");
            self.send(now, key, resp, &request);
            return;
        };
        let targets: Vec<(Target, f32)> = self
            .registrar
            .bindings(&aor, now)
            .into_iter()
            .filter_map(|b| {
                let destination = destination_of(&b.contact.uri)?;
                Some((
                    Target::new(b.contact.uri.clone(), destination),
                    f32::from(b.q) / 1000.0,
                ))
            })
            .collect();
        if targets.is_empty() {
            let resp =
                request.make_response_with_reason(480, "Temporarily Unavailable - not registered");
            self.send(now, key, resp, &request);
            return;
        }
        tracing::debug!(caller = %caller.username, callee = %aor.user, forks = targets.len(), "routing to registered contacts");
        if let Err(e) = self
            .proxy
            .forward(now, &mut self.layer, key, TargetGroup::by_q(targets))
        {
            tracing::warn!("SIP forward failed: {e}");
            let resp =
                request.make_response_with_reason(500, "Server Internal Error - forward failed");
            self.send(now, key, resp, &request);
        }
    }

    fn respond(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: &Request,
        status: u16,
        capabilities: Option<()>,
    ) {
        let mut resp = request.make_response(status);
        if capabilities.is_some() {
            resp.headers.push(Header::new(HeaderName::Allow, ALLOW));
            resp.headers
                .push(Header::new(HeaderName::Accept, "application/sdp"));
            resp.headers
                .push(Header::new(HeaderName::Supported, "path, outbound"));
        }
        self.send(now, key, resp, request);
    }

    /// Sends a final or provisional response on a server transaction, with a To tag when
    /// the request had none (§8.2.6.2) and our Server header.
    fn send(&mut self, now: Instant, key: ServerKey, mut resp: Response, request: &Request) {
        if resp.status > 100 && !request.has_to_tag() {
            let tag = cardea_sip::dialog::new_tag();
            let _ = resp.set_to_tag(&tag);
        }
        resp.headers
            .push(Header::new(HeaderName::parse("Server"), &self.user_agent));
        if let Err(e) = self.layer.respond(now, key, resp) {
            tracing::debug!("SIP response not sent: {e}");
        }
    }
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: note on the top Via where the request really came
/// from (`received`), and the source port when the client asked with a bare `rport`, so
/// the response reaches a client behind NAT and tells it its public address.
fn stamp_received(request: &mut Request, source: &Destination) {
    let Ok(mut vias) = request.headers.typed_all::<Via>() else {
        return;
    };
    let Some(top) = vias.first_mut() else {
        return;
    };
    let ip = source.addr.ip().to_string();
    let wants_rport = top.params.contains("rport");
    let sent_by_differs = top.host.to_string().trim_matches(['[', ']']) != ip;
    if !wants_rport && !sent_by_differs {
        return;
    }
    top.params.set("received", Some(&ip));
    if wants_rport {
        top.params
            .set("rport", Some(&source.addr.port().to_string()));
    }
    request.headers.set_typed_list(&vias);
}

/// Where responses to a request go (RFC 3261 §18.2.2, RFC 3581 §4): over UDP, the source
/// address with the port from `rport` when the client asked for it, otherwise the sent-by
/// port (5060 by default); over a connection, back on the connection it came on.
fn response_destination(request: &Request, source: &Destination) -> Destination {
    if source.is_reliable() {
        return source.clone();
    }
    let Ok(vias) = request.headers.typed_all::<Via>() else {
        return source.clone();
    };
    let Some(top) = vias.first() else {
        return source.clone();
    };
    if top.params.contains("rport") {
        return source.clone();
    }
    let port = top.port.unwrap_or(5060);
    Destination::new(
        std::net::SocketAddr::new(source.addr.ip(), port),
        source.transport.clone(),
    )
}
