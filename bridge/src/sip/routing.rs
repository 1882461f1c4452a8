//! What the endpoint routes with, and can reload while calls go on: the local users (their
//! credentials and groups), the trunks, the dialplan and the flood limit. Built from the
//! `sip` section of the configuration; any error names the key, or the dialplan file and
//! line, and leaves the routing in force unchanged.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use cardea_dialplan::{Dialplan, Names};
use cardea_sip::auth::{HashFn, MemoryCredentials};
use cardea_sip::transaction::{ClientKey, Destination};
use cardea_sip::typed::Transport;
use cardea_sip::Uri;
use cardea_sip::{Host, SipUri};

use crate::config::{Config, Sip};

/// A trunk as the endpoint uses it.
#[derive(Debug, Clone)]
pub struct Trunk {
    pub name: String,
    /// `sip:host:port;transport=…`, the host part of the Request-URIs we send it.
    pub uri: SipUri,
    pub destination: Destination,
    pub inbound: Vec<IpAddr>,
    pub no_answer: Duration,
    pub probe: Option<Duration>,
    /// Health from OPTIONS probes: a trunk that stopped answering is tried last.
    pub up: bool,
    pub next_probe: Option<Instant>,
    pub probing: Option<ClientKey>,
    /// When the probe out is late enough to call the trunk down.
    pub probe_deadline: Option<Instant>,
    /// Registration with the trunk, if it wants one: (account user, password, AOR
    /// domain, interval).
    pub register: Option<crate::config::TrunkRegister>,
}

impl Trunk {
    /// The Request-URI for `number` at this trunk.
    pub fn request_uri(&self, number: &str) -> Option<Uri> {
        let mut uri = self.uri.clone();
        uri.user = Some(escape_user(number));
        Some(Uri::Sip(uri))
    }
}

/// Characters of a dialled number that may stand in a SIP user part as they are
/// (RFC 3261 §25.1 `user`: unreserved and user-unreserved); the rest is %-escaped.
fn escape_user(number: &str) -> String {
    let mut out = String::with_capacity(number.len());
    for b in number.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$,;?/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Everything the endpoint routes by.
#[derive(Debug)]
pub struct Routing {
    pub credentials: MemoryCredentials,
    pub users: Vec<String>,
    pub groups: HashMap<String, Vec<String>>,
    pub trunks: Vec<Trunk>,
    pub dialplan: Dialplan,
    /// Where the dialplan came from, for logs.
    pub dialplan_file: Option<String>,
    pub auth_failure_limit: u32,
}

impl Routing {
    /// `base`: the directory of the configuration file, which a relative `sip.dialplan`
    /// path is read from (the working directory when there is no file).
    pub fn from_config(sip: &Sip, base: Option<&Path>) -> Result<Routing, String> {
        let mut credentials = MemoryCredentials::new();
        let mut groups = HashMap::new();
        let mut users = Vec::new();
        for u in &sip.users {
            if users.contains(&u.username) {
                return Err(format!("sip.users: {} is listed twice", u.username));
            }
            match (&u.password, &u.ha1) {
                (Some(p), None) => credentials.insert_password(&u.username, &sip.realm, p),
                (None, Some(h)) => credentials
                    .insert_ha1(&u.username, &sip.realm, HashFn::Md5, h)
                    .map_err(|e| format!("sip.users {}: ha1: {e}", u.username))?,
                _ => {
                    return Err(format!(
                        "sip.users {}: give exactly one of password and ha1",
                        u.username
                    ))
                }
            }
            users.push(u.username.clone());
            groups.insert(u.username.clone(), u.groups.clone());
        }
        let hosts = super::dns::Hosts::parse(&sip.hosts)?;
        let mut trunks: Vec<Trunk> = Vec::new();
        for t in &sip.trunks {
            if trunks.iter().any(|x| x.name == t.name) {
                return Err(format!("sip.trunks: {} is listed twice", t.name));
            }
            let key = format!("sip.trunks {}", t.name);
            let uri = Uri::parse(&t.uri)
                .ok()
                .and_then(|u| u.as_sip().cloned())
                .ok_or_else(|| format!("{key}: uri {:?} is not a sip: URI", t.uri))?;
            if uri.user.is_some() {
                return Err(format!(
                    "{key}: uri {:?} names a user; give only the host (the dialled number is put in front)",
                    t.uri
                ));
            }
            let (ip, table_port) = match &uri.host {
                Host::Domain(name) => hosts.get(&name.to_ascii_lowercase()).ok_or_else(|| {
                    format!("{key}: {name} is not an IP address; add it to sip.hosts")
                })?,
                h => (
                    h.ip().ok_or_else(|| format!("{key}: bad host in uri"))?,
                    None,
                ),
            };
            let transport = match uri.transport() {
                Some(t) => Transport::parse(t),
                None if uri.secure => Transport::Tls,
                None => Transport::Udp,
            };
            if !matches!(transport, Transport::Udp | Transport::Tcp | Transport::Tls) {
                return Err(format!(
                    "{key}: transport {} toward trunks is not supported yet (udp, tcp or tls)",
                    transport.as_str()
                ));
            }
            let default_port = if transport == Transport::Tls {
                5061
            } else {
                5060
            };
            let port = uri.port.or(table_port).unwrap_or(default_port);
            let destination = Destination::new(SocketAddr::new(ip, port), transport);
            let inbound = if t.inbound.is_empty() {
                vec![ip]
            } else {
                t.inbound.clone()
            };
            if t.no_answer == 0 {
                return Err(format!("{key}: no_answer must be at least 1 second"));
            }
            trunks.push(Trunk {
                name: t.name.clone(),
                uri,
                destination,
                inbound,
                no_answer: Duration::from_secs(t.no_answer),
                probe: (t.probe > 0).then(|| Duration::from_secs(t.probe)),
                up: true,
                next_probe: None,
                probing: None,
                probe_deadline: None,
                register: t.register.clone(),
            });
            if let Some(r) = &t.register {
                if r.username.is_empty() || r.expires < 60 {
                    return Err(format!(
                        "{key}: register needs a username and expires of at least 60 s"
                    ));
                }
            }
        }
        let (dialplan, dialplan_file) = match &sip.dialplan {
            Some(path) => {
                let full = match base {
                    Some(dir) if Path::new(path).is_relative() => dir.join(path),
                    _ => Path::new(path).to_path_buf(),
                };
                let path = &full.display().to_string();
                let plan = Dialplan::from_file(&full).map_err(|e| e.to_string())?;
                let user_names: Vec<&str> = users.iter().map(String::as_str).collect();
                let trunk_names: Vec<&str> = trunks.iter().map(|t| t.name.as_str()).collect();
                plan.check_names(
                    path,
                    &Names {
                        users: &user_names,
                        trunks: &trunk_names,
                    },
                )
                .map_err(|e| e.to_string())?;
                (plan, Some(path.clone()))
            }
            None => (Dialplan::ring_dialled_user(), None),
        };
        Ok(Routing {
            credentials,
            users,
            groups,
            trunks,
            dialplan,
            dialplan_file,
            auth_failure_limit: sip.auth_failure_limit,
        })
    }

    /// Reads the configuration file again (and the environment over it) and builds the
    /// routing from its `sip` section.
    pub fn reload(source: Option<&Path>) -> Result<Routing, String> {
        let config = match source {
            Some(path) => Config::from_file(path).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        let config = config
            .apply_env(std::env::vars())
            .map_err(|e| e.to_string())?;
        Routing::from_config(&config.sip, source.and_then(Path::parent))
    }

    /// The trunk whose calls come from `ip`.
    pub fn trunk_from(&self, ip: IpAddr) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.inbound.contains(&ip))
    }

    pub fn trunk(&self, name: &str) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.name == name)
    }

    /// Takes over the probe state of trunks that are still configured the same way, so a
    /// reload does not forget which trunk is down.
    pub fn inherit(&mut self, old: &Routing) {
        for t in &mut self.trunks {
            if let Some(o) = old
                .trunks
                .iter()
                .find(|o| o.name == t.name && o.destination == t.destination)
            {
                t.up = o.up;
                t.next_probe = o.next_probe;
                t.probing = o.probing;
                t.probe_deadline = o.probe_deadline;
            }
        }
    }
}
