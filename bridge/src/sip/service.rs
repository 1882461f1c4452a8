//! The endpoint's logic without sockets: bytes and `now` in, messages to send out. It drives
//! the transaction layer, answers REGISTER through digest auth and the registrar, answers
//! OPTIONS, and refuses what it cannot route yet.

use std::time::Instant;

use bytes::Bytes;
use cardea_dialplan::{Action, Call, Decision, Moment, Origin};
use cardea_sip::auth::ChallengeKind;
use cardea_sip::auth::{Authenticator, AuthenticatorConfig};
use cardea_sip::proxy::{
    destination_of, Failover, Proxy, ProxyConfig, ProxyEvent, Target, TargetGroup,
};
use cardea_sip::registrar::Aor;
use cardea_sip::registrar::{serve_register, MemoryLocationStore, Registrar, RegistrarConfig};
use cardea_sip::transaction::{
    Destination, ServerKey, Timers, TransactionEvent, TransactionLayer, Transmit,
};
use cardea_sip::typed::Transport;
use cardea_sip::typed::Via;
use cardea_sip::Uri;
use cardea_sip::{reject_reason, Header, HeaderName, Message, Method, Request, Response};

use super::echo::EchoCalls;
use super::plugin_link::PluginLink;
use super::records::{CallRecords, Started};
use super::routing::Routing;
use super::trunk_reg::TrunkRegistrations;
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
    /// Users, trunks, dialplan: swapped whole by a reload.
    routing: Routing,
    pub records: CallRecords,
    /// Cardea's registrations with the trunks that want one.
    pub trunk_regs: TrunkRegistrations,
    /// Calls the dialplan sent to the echo.
    pub echo: EchoCalls,
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
        base: Option<&std::path::Path>,
        listeners: &[(Transport, String)],
        now: Instant,
    ) -> Result<Self, String> {
        let routing = Routing::from_config(config, base)?;
        let secret: [u8; 32] = rand::random();
        // Failed attempts are counted per source until a minute passes without one.
        let mut auth_config = AuthenticatorConfig::new(&config.realm);
        auth_config.failure_window = std::time::Duration::from_secs(60);
        let auth = Authenticator::new(auth_config.clone(), secret, now);
        let mut proxy_auth_config = auth_config;
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
        let mut proxy_config =
            ProxyConfig::with_listeners(listeners).ok_or("no SIP listener to name")?;
        proxy_config.consume_realm = Some(config.realm.clone());
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
                local_hosts: proxy_listeners
                    .iter()
                    .map(|(_, uri)| format!("{}:{}", uri.host, uri.port.unwrap_or(5060)))
                    .collect(),
                ..RegistrarConfig::default()
            },
            MemoryLocationStore::new(),
        );
        let mut service = Self {
            layer: TransactionLayer::new(Timers::default()),
            proxy,
            auth,
            proxy_auth,
            routing,
            records: CallRecords::default(),
            trunk_regs: TrunkRegistrations::default(),
            echo: EchoCalls::default(),
            registrar,
            user_agent: config.user_agent.clone(),
            malformed: 0,
            domains,
            plugins: PluginLink::with_listeners(proxy_listeners),
        };
        service.sync_trunks(now);
        Ok(service)
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
        if !self.records.is_empty() {
            if let Message::Request(req) = &message {
                if req.method == Method::Bye {
                    let from = req
                        .headers
                        .typed::<cardea_sip::typed::From>()
                        .ok()
                        .flatten();
                    let call_id = req.call_id_value().unwrap_or_default();
                    self.records
                        .bye(now, &call_id, from.as_ref().and_then(|f| f.tag()));
                }
            }
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
        self.records.expire(now);
        self.probe_trunks(now);
        self.trunk_regs.handle_timeout(now);
        self.echo.handle_timeout(now, &mut self.layer);
        self.trunk_regs
            .pump(now, &mut self.layer, &self.routing.trunks);
        self.drain_events(now);
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        [
            self.layer.next_timeout(),
            self.proxy.next_timeout(),
            self.registrar.poll_timeout(),
            self.routing
                .trunks
                .iter()
                .filter(|t| t.probe.is_some())
                .filter_map(|t| match t.probing {
                    None => Some(t.next_probe.unwrap_or(Instant::now())),
                    Some(_) => t.probe_deadline,
                })
                .min(),
            self.trunk_regs.next_timeout(),
            self.echo.next_timeout(),
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

    /// The name a TLS peer at `to` must prove (a trunk configured by host name); `None`:
    /// its address.
    pub fn tls_name(&self, to: std::net::SocketAddr) -> Option<String> {
        self.routing
            .trunks
            .iter()
            .find(|t| t.destination.addr == to)
            .and_then(|t| match &t.uri.host {
                cardea_sip::Host::Domain(name) => Some(name.clone()),
                _ => None,
            })
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
                    ProxyEvent::Final { key, status } => {
                        self.records.final_response(now, &key, status)
                    }
                    ProxyEvent::Other(other) => self.on_other(now, other),
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// Sends an OPTIONS to every trunk whose probe is due (one outstanding per trunk).
    /// A trunk that has not answered its OPTIONS within its `no_answer` time is down (a
    /// late answer brings it back up); waiting for Timer F would take 32 s.
    fn probe_trunks(&mut self, now: Instant) {
        let mut changed = false;
        for t in &mut self.routing.trunks {
            let silent = t.probing.is_some() && t.probe_deadline.is_some_and(|d| d <= now) && t.up;
            if silent {
                tracing::warn!(trunk = %t.name, "SIP trunk does not answer OPTIONS: down");
                t.up = false;
                t.probe_deadline = None;
                changed = true;
            }
        }
        if changed {
            self.trunk_regs.publish(&self.routing.trunks);
        }
        for i in 0..self.routing.trunks.len() {
            let t = &self.routing.trunks[i];
            let Some(every) = t.probe else { continue };
            if t.probing.is_some() || t.next_probe.is_some_and(|due| due > now) {
                continue;
            }
            let sent = self
                .probe_request(t)
                .and_then(|r| self.layer.send_request(now, r, t.destination.clone()).ok());
            let t = &mut self.routing.trunks[i];
            t.probing = sent;
            t.probe_deadline = sent.map(|_| now + t.no_answer);
            t.next_probe = Some(now + every);
        }
    }

    fn probe_request(&self, trunk: &super::routing::Trunk) -> Option<Request> {
        let transport = &trunk.destination.transport;
        let local = self.proxy.config().listener_for(transport)?;
        let target = format!("sip:{}", trunk.destination.addr);
        let text = format!(
            "OPTIONS {target} SIP/2.0\r\n\
             Via: SIP/2.0/{} {}:{};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:cardea@{}:{}>;tag={}\r\n\
             To: <{target}>\r\n\
             Call-ID: {}\r\n\
             CSeq: 1 OPTIONS\r\n\
             User-Agent: {}\r\n\
             Content-Length: 0\r\n\r\n",
            transport.as_str(),
            local.host,
            local.port.unwrap_or(5060),
            local.host,
            local.port.unwrap_or(5060),
            cardea_sip::dialog::new_tag(),
            cardea_sip::dialog::new_tag(),
            self.user_agent,
        );
        match Message::parse(text.as_bytes()) {
            Ok(Message::Request(r)) => Some(r),
            _ => None,
        }
    }

    /// The outcome of a trunk probe: any final answer but 503 means the trunk is there.
    fn probe_result(&mut self, key: &cardea_sip::transaction::ClientKey, alive: bool) -> bool {
        let Some(t) = self
            .routing
            .trunks
            .iter_mut()
            .find(|t| t.probing.as_ref() == Some(key))
        else {
            return false;
        };
        t.probing = None;
        t.probe_deadline = None;
        let changed = t.up != alive;
        if changed {
            if alive {
                tracing::info!(trunk = %t.name, "SIP trunk answers OPTIONS again: up");
            } else {
                tracing::warn!(trunk = %t.name, "SIP trunk does not answer OPTIONS: down");
            }
        }
        t.up = alive;
        if changed {
            self.trunk_regs.publish(&self.routing.trunks);
        }
        true
    }

    fn on_other(&mut self, now: Instant, event: TransactionEvent) {
        match event {
            TransactionEvent::Ack { request, .. }
                if self.echo.has(&request.call_id_value().unwrap_or_default()) =>
            {
                self.echo.ack(now, &request)
            }
            TransactionEvent::Response { key, response }
                if self.echo.response(now, &mut self.layer, &key, &response) => {}
            TransactionEvent::Timeout(cardea_sip::transaction::TransactionKey::Client(key))
                if self.echo.failure(now, &mut self.layer, &key, 408) => {}
            TransactionEvent::TransportError(cardea_sip::transaction::TransactionKey::Client(
                key,
            )) if self.echo.failure(now, &mut self.layer, &key, 503) => {}
            TransactionEvent::Response { key, response }
                if self.trunk_regs.handle_response(now, &key, &response) =>
            {
                self.trunk_regs
                    .pump(now, &mut self.layer, &self.routing.trunks)
            }
            TransactionEvent::Response { key, response }
                if response.status >= 200 && self.probe_result(&key, response.status != 503) => {}
            TransactionEvent::Response { key, response } => {
                tracing::debug!(?key, status = response.status, "SIP response for nobody")
            }
            TransactionEvent::Timeout(cardea_sip::transaction::TransactionKey::Client(key))
                if self.trunk_regs.handle_failure(&key, 408) =>
            {
                self.trunk_regs
                    .pump(now, &mut self.layer, &self.routing.trunks)
            }
            TransactionEvent::TransportError(cardea_sip::transaction::TransactionKey::Client(
                key,
            )) if self.trunk_regs.handle_failure(&key, 503) => {
                self.trunk_regs
                    .pump(now, &mut self.layer, &self.routing.trunks)
            }
            TransactionEvent::Timeout(cardea_sip::transaction::TransactionKey::Client(key))
            | TransactionEvent::TransportError(cardea_sip::transaction::TransactionKey::Client(
                key,
            )) if self.probe_result(&key, false) => {}
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
        if !self.echo.is_empty()
            && request.has_to_tag()
            && self.echo.has(&request.call_id_value().unwrap_or_default())
        {
            if request.method != Method::Ack {
                self.echo.request(now, &mut self.layer, key, request);
            }
            return;
        }
        if request.method != Method::Ack && self.flooding(now, &source) {
            let resp = request.make_response_with_reason(
                403,
                "Forbidden - too many failed authentications from this address",
            );
            self.send(now, key, resp, &request);
            return;
        }
        match request.method {
            Method::Register => {
                let resp = serve_register(
                    now,
                    source.addr.ip(),
                    &request,
                    &mut self.auth,
                    &self.routing.credentials,
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

    /// Whether `source` failed authentication too often lately (RFC 3261 §26.3.2.4: a
    /// server should resist guessing). Trunks are trusted by address and never limited.
    fn flooding(&self, now: Instant, source: &Destination) -> bool {
        let ip = source.addr.ip();
        let limit = self.routing.auth_failure_limit;
        limit > 0
            && self.routing.trunk_from(ip).is_none()
            && self.auth.failures(now, ip) + self.proxy_auth.failures(now, ip) >= limit
    }

    fn is_registered(&self, uri: &Uri, now: Instant) -> bool {
        Aor::from_uri(uri).is_some_and(|aor| !self.registrar.bindings(&aor, now).is_empty())
    }

    /// Replaces users, trunks and dialplan. Calls in progress keep going: their dialogs
    /// follow their route sets, not the dialplan.
    pub fn reload(&mut self, mut routing: Routing) {
        routing.inherit(&self.routing);
        tracing::info!(
            users = routing.users.len(),
            trunks = routing.trunks.len(),
            rules = routing.dialplan.rules().len(),
            dialplan = routing.dialplan_file.as_deref().unwrap_or("(none)"),
            "SIP routing reloaded"
        );
        self.routing = routing;
        self.sync_trunks(Instant::now());
    }

    /// Starts (and stops) the registrations the trunks ask for, and publishes their state.
    fn sync_trunks(&mut self, now: Instant) {
        let listeners = self.proxy.config().listeners.clone();
        let Some((_, default)) = listeners.first().cloned() else {
            return;
        };
        self.trunk_regs.sync(
            &self.routing.trunks,
            &default,
            |t: &super::routing::Trunk| {
                let transport = t.destination.transport.clone();
                let uri = listeners
                    .iter()
                    .find(|(tr, _)| *tr == transport)
                    .map_or(&default, |(_, u)| u);
                cardea_sip::ua::Local::new(transport, uri.host.clone(), uri.port)
            },
        );
        self.trunk_regs
            .pump(now, &mut self.layer, &self.routing.trunks);
        self.trunk_regs.publish(&self.routing.trunks);
    }

    /// A request for someone else. Who is calling decides what may be reached: a trunk
    /// (known by its source address) or a local user who proves it with digest auth
    /// (RFC 3261 §22.3, Proxy-Authorization); anyone else is challenged, so nobody
    /// unauthenticated reaches anything (no open relay). Then the dialplan decides.
    fn route(&mut self, now: Instant, key: ServerKey, request: Request, source: Destination) {
        let trunk = self
            .routing
            .trunk_from(source.addr.ip())
            .map(|t| t.name.clone());
        let user = match &trunk {
            Some(_) => None,
            None => match self.proxy_auth.check(
                now,
                source.addr.ip(),
                &request,
                &self.routing.credentials,
            ) {
                // The proxy removes the credentials for our realm from what it forwards
                // (ProxyConfig::consume_realm): the next hop (a trunk) never sees them.
                Ok(user) => Some(user.username),
                Err(denial) => {
                    let resp = self.proxy_auth.respond(now, &request, &denial);
                    self.send(now, key, resp, &request);
                    return;
                }
            },
        };
        let no_groups = Vec::new();
        let origin = match (&trunk, &user) {
            (Some(t), _) => Origin::Trunk(t),
            (None, Some(u)) => Origin::User {
                name: u,
                groups: self.routing.groups.get(u).unwrap_or(&no_groups),
            },
            (None, None) => return,
        };
        let mut dialled = request
            .uri
            .as_sip()
            .and_then(|s| s.user_decoded())
            .unwrap_or_default();
        // A carrier we register with calls our registered Contact (its user is the account)
        // and says the number dialled in To.
        let registered_as = trunk
            .as_deref()
            .and_then(|t| self.routing.trunk(t))
            .and_then(|t| t.register.as_ref())
            .map(|r| r.username.clone());
        if registered_as.is_some_and(|u| u == dialled) {
            if let Some(to) = request
                .headers
                .typed::<cardea_sip::typed::To>()
                .ok()
                .flatten()
                .and_then(|t| t.uri.as_sip().and_then(|s| s.user_decoded()))
            {
                dialled = to;
            }
        }
        let from = request
            .headers
            .typed::<cardea_sip::typed::From>()
            .ok()
            .flatten();
        let caller = from
            .as_ref()
            .and_then(|f| f.uri.as_sip().and_then(|s| s.user_decoded()))
            .unwrap_or_default();
        let decision = if request.method == Method::Invite {
            let header = |name: &str| {
                request
                    .headers
                    .get(&HeaderName::parse(name))
                    .and_then(|h| h.value_str().ok().map(str::to_owned))
            };
            self.routing.dialplan.route(&Call {
                origin,
                to: &dialled,
                caller: &caller,
                header: &header,
                at: Moment::now(),
            })
        } else {
            None
        };
        let mut routed = Routed {
            origin: match (&trunk, &user) {
                (Some(t), _) => format!("trunk:{t}"),
                (_, Some(u)) => format!("user:{u}"),
                _ => String::new(),
            },
            source,
            number: dialled.clone(),
            dialled,
            rule: "(registered user)".to_owned(),
        };
        tracing::debug!(origin = %routed.origin, dialled = %routed.dialled, rule = ?decision.as_ref().map(|d| &d.rule), "routing");
        let Some(decision) = decision else {
            // No rule: the local user the Request-URI names, as a plain registrar-proxy.
            self.ring(now, key, request, None, &routed);
            return;
        };
        routed.number = decision.number.clone();
        routed.rule = decision.rule.clone();
        if let Some(pending) = self.proxy.pending_request_mut(&key) {
            apply_caller_id(pending, &decision);
        }
        match decision.action {
            Action::Ring(users) => self.ring(now, key, request, Some(users), &routed),
            Action::Trunk(choices) => {
                let order = cardea_dialplan::order_trunks(&choices, rand::random::<f64>);
                self.send_to_trunks(now, key, &request, order, &routed);
            }
            Action::Reject(r) => {
                let reason = r.reason.unwrap_or_else(|| {
                    format!("{} - {}", cardea_sip::default_reason(r.code), routed.rule)
                });
                self.refuse(now, key, &request, r.code, &reason, &routed);
            }
            Action::Room(room) => {
                // The AudioBridge answers it (or refuses: no such room, no usable codec).
                let handle = self
                    .plugins
                    .dial_in(room, key, request, routed.source.clone());
                tracing::debug!(room, handle, "call sent to an AudioBridge room");
            }
            Action::Echo => self.start_echo(now, key, &request, &routed),
            Action::Play(_) => {
                let reason = "Temporarily Unavailable - announcements are not in this build";
                self.refuse(now, key, &request, 480, reason, &routed);
            }
        }
    }

    /// Answers the call with the echo (once the I/O loop has an RTP port for it).
    fn start_echo(&mut self, now: Instant, key: ServerKey, request: &Request, routed: &Routed) {
        let listeners = &self.proxy.config().listeners;
        let Some((transport, listener)) = listeners
            .iter()
            .find(|(t, _)| *t == routed.source.transport)
            .or_else(|| listeners.first())
            .cloned()
        else {
            return;
        };
        let local = cardea_sip::ua::Local::new(transport, listener.host.clone(), listener.port);
        let Ok(contact) = Uri::parse(&format!(
            "sip:echo@{}:{}",
            listener.host,
            listener.port.unwrap_or(5060)
        )) else {
            return;
        };
        match self.echo.start(now, key, request, local, contact) {
            Ok(counters) => {
                let started = started(request, routed, serde_json::json!({ "echo": true }));
                let call_id = started.call_id.clone();
                self.records.start(now, key, started);
                self.records.attach_media(&call_id, counters);
            }
            Err((status, reason)) => self.refuse(now, key, request, status, reason, routed),
        }
    }

    /// The I/O loop bound the echo's RTP port pair at `at` (`None`: it could not).
    pub fn echo_bound(&mut self, now: Instant, call_id: &str, at: Option<std::net::SocketAddr>) {
        let key = self.echo.invite_key(call_id);
        match at {
            Some(at) => {
                self.echo.bound(now, &mut self.layer, call_id, at);
                if let Some(key) = key {
                    self.records.final_response(now, &key, 200);
                }
            }
            None => {
                self.echo.unbound(now, &mut self.layer, call_id);
                if let Some(key) = key {
                    self.records.final_response(now, &key, 503);
                }
            }
        }
        self.drain_events(now);
    }

    /// Rings every registered contact of `users` (or, without a rule, of the user the
    /// Request-URI names) in parallel, by q-value: phones and SIP plugin handles alike.
    fn ring(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: Request,
        users: Option<Vec<String>>,
        routed: &Routed,
    ) {
        let aors: Vec<Aor> = match &users {
            Some(users) => users
                .iter()
                .flat_map(|u| {
                    self.domains.iter().filter_map(move |d| {
                        Aor::from_uri(&Uri::parse(&format!("sip:{u}@{d}")).ok()?)
                    })
                })
                .collect(),
            None => Aor::from_uri(&request.uri).into_iter().collect(),
        };
        let targets: Vec<(Target, f32)> = aors
            .iter()
            .flat_map(|aor| self.registrar.bindings(aor, now))
            .filter_map(|b| {
                let destination = destination_of(&b.contact.uri)?;
                Some((
                    Target::new(b.contact.uri.clone(), destination),
                    f32::from(b.q) / 1000.0,
                ))
            })
            .collect();
        if targets.is_empty() {
            // A rule names configured users; without one, is the dialled user one of ours?
            let known =
                users.is_some() || aors.iter().any(|a| self.routing.users.contains(&a.user));
            let (status, reason) = if known {
                (480, "Temporarily Unavailable - not registered")
            } else {
                (404, "Not Found - no such user or route")
            };
            self.refuse(now, key, &request, status, reason, routed);
            return;
        }
        let route = serde_json::json!({
            "ring": targets.iter().map(|(t, _)| t.uri.to_string()).collect::<Vec<_>>(),
        });
        tracing::debug!(origin = %routed.origin, forks = targets.len(), "ringing registered contacts");
        let groups = TargetGroup::by_q(targets);
        self.forward(
            now,
            key,
            &request,
            groups,
            Failover::AnyFailure,
            routed,
            route,
        );
    }

    /// Sends the call to `order`'s trunks one after the other (failover on no answer,
    /// timeout and 5xx), trunks whose probes fail last.
    fn send_to_trunks(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: &Request,
        order: Vec<String>,
        routed: &Routed,
    ) {
        let mut trunks: Vec<&super::routing::Trunk> =
            order.iter().filter_map(|n| self.routing.trunk(n)).collect();
        // Stable: healthy trunks first, each kept in the drawn order.
        trunks.sort_by_key(|t| !t.up);
        let groups: Vec<TargetGroup> = trunks
            .iter()
            .filter_map(|t| {
                let mut target = Target::new(t.request_uri(&routed.number)?, t.destination.clone());
                target.no_answer = Some(t.no_answer);
                Some(TargetGroup(vec![target]))
            })
            .collect();
        let route = serde_json::json!({
            "trunks": trunks.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        });
        if groups.is_empty() {
            let resp = request
                .make_response_with_reason(503, "Service Unavailable - no trunk for this route");
            self.send(now, key, resp, request);
            return;
        }
        let failover = Failover::TimeoutOrServerError;
        self.forward(now, key, request, groups, failover, routed, route);
    }

    /// Answers a call the routing refuses, and records it.
    fn refuse(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: &Request,
        status: u16,
        reason: &str,
        routed: &Routed,
    ) {
        if request.method == Method::Invite {
            let started = started(request, routed, serde_json::json!({ "reject": status }));
            self.records.refused(now, key, started, status, reason);
        }
        let resp = request.make_response_with_reason(status, reason);
        self.send(now, key, resp, request);
    }

    /// Forwards the request to `groups` (an INVITE's call record starts here).
    #[allow(clippy::too_many_arguments)]
    fn forward(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: &Request,
        groups: Vec<TargetGroup>,
        failover: Failover,
        routed: &Routed,
        route: serde_json::Value,
    ) {
        if request.method == Method::Invite {
            self.records
                .start(now, key, started(request, routed, route));
        }
        if let Err(e) = self
            .proxy
            .forward_with(now, &mut self.layer, key, groups, failover)
        {
            tracing::warn!("SIP forward failed: {e}");
            let resp =
                request.make_response_with_reason(500, "Server Internal Error - forward failed");
            self.send(now, key, resp, request);
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

/// A call as the routing saw it: who calls (`trunk:NAME` or `user:NAME`) from where, what
/// was dialled, what goes out after the dialplan's rewriting, and by which rule.
struct Routed {
    origin: String,
    source: Destination,
    dialled: String,
    number: String,
    rule: String,
}

/// What a call record starts with: the request's caller and `routed`.
fn started(request: &Request, routed: &Routed, route: serde_json::Value) -> Started {
    let from = request
        .headers
        .typed::<cardea_sip::typed::From>()
        .ok()
        .flatten();
    Started {
        call_id: request.call_id_value().unwrap_or_default(),
        caller_tag: from
            .as_ref()
            .and_then(|f| f.tag().map(str::to_owned))
            .unwrap_or_default(),
        caller: from.map(|f| f.uri.to_string()).unwrap_or_default(),
        origin: routed.origin.clone(),
        source: format!(
            "{}:{}",
            routed.source.transport.as_str().to_ascii_lowercase(),
            routed.source.addr
        ),
        to: routed.dialled.clone(),
        number: routed.number.clone(),
        rule: routed.rule.clone(),
        route,
    }
}

/// The dialplan's caller ID on the forwarded request: From's user and display name (the
/// tag stays, so the caller's dialog is unchanged) and P-Asserted-Identity (RFC 3325),
/// which carriers read.
fn apply_caller_id(request: &mut Request, decision: &Decision) {
    if decision.caller_number.is_none() && decision.caller_name.is_none() {
        return;
    }
    let Ok(Some(mut from)) = request.headers.typed::<cardea_sip::typed::From>() else {
        return;
    };
    if let Some(number) = &decision.caller_number {
        if let Uri::Sip(sip) = &mut from.0.uri {
            sip.user = Some(number.clone());
        }
    }
    if let Some(name) = &decision.caller_name {
        from.0.display_name = Some(name.clone());
    }
    request.headers.set_typed(&from);
    use cardea_sip::TypedHeader;
    let mut pai = cardea_sip::typed::NameAddr::new(from.0.uri.clone());
    pai.display_name = from.0.display_name.clone();
    let mut value = String::new();
    cardea_sip::typed::From(pai).encode(&mut value);
    request
        .headers
        .remove_all(&HeaderName::parse("P-Asserted-Identity"));
    let at = request
        .headers
        .iter()
        .position(|h| *h.name() == HeaderName::ContentLength)
        .unwrap_or(request.headers.len());
    request.headers.insert(
        at,
        Header::new(HeaderName::parse("P-Asserted-Identity"), &value),
    );
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

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
