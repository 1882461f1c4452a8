//! Finding where a SIP URI with a host name goes (RFC 3263 §4), for the SIP plugin's
//! requests: the static `sip.hosts` table first, then SRV records (hickory-resolver, the
//! system's resolver configuration) ordered by RFC 2782, then the name's addresses through
//! the system resolver (which honours /etc/hosts). The decisions are `cardea_sip::locate`'s.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use cardea_sip::locate::{order_srv, Lookup, SrvRecord};
use cardea_sip::transaction::Destination;
use hickory_resolver::TokioResolver;

/// Names resolved without DNS: `name → ip` or `name → ip:port`.
#[derive(Debug, Clone, Default)]
pub struct Hosts(HashMap<String, (IpAddr, Option<u16>)>);

impl Hosts {
    /// Parses the configured table; the error names the bad entry.
    pub fn parse(entries: &HashMap<String, String>) -> Result<Hosts, String> {
        let mut map = HashMap::new();
        for (name, value) in entries {
            let parsed = match value.parse::<SocketAddr>() {
                Ok(sa) => (sa.ip(), Some(sa.port())),
                Err(_) => (
                    value.parse::<IpAddr>().map_err(|_| {
                        format!("sip.hosts.{name}: {value} is neither an IP nor IP:port")
                    })?,
                    None,
                ),
            };
            map.insert(name.trim_end_matches('.').to_ascii_lowercase(), parsed);
        }
        Ok(Hosts(map))
    }

    pub(super) fn get(&self, name: &str) -> Option<(IpAddr, Option<u16>)> {
        self.0.get(name).copied()
    }
}

/// What the endpoint resolves with.
#[derive(Clone)]
pub struct Locator {
    hosts: Arc<Hosts>,
    /// `None` when the system has no resolver configuration: then only the hosts table and
    /// the system's getaddrinfo are used.
    dns: Option<Arc<TokioResolver>>,
    /// DNS servers were configured (`sip.dns_servers`): addresses come from them too, not
    /// from getaddrinfo (which knows only the system's).
    own_servers: bool,
}

impl Locator {
    /// `servers`: `sip.dns_servers` (empty: the system's resolver configuration).
    pub fn new(hosts: Hosts, servers: &[SocketAddr]) -> Locator {
        use hickory_resolver::config::{NameServerConfig, ResolverConfig};
        use hickory_resolver::name_server::TokioConnectionProvider;
        use hickory_resolver::proto::xfer::Protocol;
        let builder = if servers.is_empty() {
            TokioResolver::builder_tokio()
        } else {
            let mut config = ResolverConfig::new();
            for s in servers {
                config.add_name_server(NameServerConfig::new(*s, Protocol::Udp));
            }
            Ok(TokioResolver::builder_with_config(
                config,
                TokioConnectionProvider::default(),
            ))
        };
        let dns = match builder {
            Ok(mut b) => {
                // A call set-up waits on this: fail fast rather than at Timer B.
                b.options_mut().timeout = std::time::Duration::from_secs(2);
                b.options_mut().attempts = 2;
                Some(Arc::new(b.build()))
            }
            Err(e) => {
                tracing::info!("no DNS resolver configuration ({e}): SIP names resolve through sip.hosts and the system only");
                None
            }
        };
        Locator {
            hosts: Arc::new(hosts),
            dns,
            own_servers: !servers.is_empty(),
        }
    }

    /// The first destination for `lookup`, or `None` when the name does not resolve:
    /// NAPTR (when the URI leaves the transport open), then SRV, then A/AAAA (RFC 3263 §4).
    pub async fn resolve(&self, lookup: &Lookup) -> Option<Destination> {
        if let Some((ip, port)) = self.hosts.get(&lookup.host) {
            let at = SocketAddr::new(ip, port.unwrap_or(lookup.port));
            return Some(Destination::new(at, lookup.transport.clone()));
        }
        let (transport, srv) = match (&lookup.naptr, &self.dns) {
            (Some(name), Some(dns)) => self
                .naptr(dns, name, lookup.secure)
                .await
                .map(|(t, s)| (t, Some(s)))
                .unwrap_or_else(|| (lookup.transport.clone(), lookup.srv.clone())),
            _ => (lookup.transport.clone(), lookup.srv.clone()),
        };
        let at =
            |ip: IpAddr, port: u16| Destination::new(SocketAddr::new(ip, port), transport.clone());
        if let (Some(srv), Some(dns)) = (&srv, &self.dns) {
            if let Ok(answer) = dns.srv_lookup(srv.as_str()).await {
                let records: Vec<SrvRecord> = answer
                    .iter()
                    .map(|r| SrvRecord {
                        priority: r.priority(),
                        weight: r.weight(),
                        port: r.port(),
                        target: r.target().to_ascii().trim_end_matches('.').to_owned(),
                    })
                    .collect();
                for record in order_srv(records, |total| rand::random_range(0..=total)) {
                    if let Some((ip, _)) = self.hosts.get(&record.target) {
                        return Some(at(ip, record.port));
                    }
                    if let Some(ip) = self.address(&record.target, record.port).await {
                        return Some(at(ip, record.port));
                    }
                }
            }
        }
        let port = if transport != lookup.transport && lookup.naptr.is_some() {
            // The transport NAPTR chose, at its default port.
            if transport == cardea_sip::typed::Transport::Tls {
                5061
            } else {
                5060
            }
        } else {
            lookup.port
        };
        self.address(&lookup.host, port)
            .await
            .map(|ip| at(ip, port))
    }

    /// The best usable NAPTR record of `name`: its transport and SRV name.
    async fn naptr(
        &self,
        dns: &TokioResolver,
        name: &str,
        secure: bool,
    ) -> Option<(cardea_sip::typed::Transport, String)> {
        use hickory_resolver::proto::rr::{RData, RecordType};
        let answer = dns.lookup(name, RecordType::NAPTR).await.ok()?;
        let records = answer
            .iter()
            .filter_map(|r| match r {
                RData::NAPTR(n) => Some(cardea_sip::locate::NaptrRecord {
                    order: n.order(),
                    preference: n.preference(),
                    flags: String::from_utf8_lossy(n.flags()).into_owned(),
                    services: String::from_utf8_lossy(n.services()).into_owned(),
                    replacement: n.replacement().to_ascii(),
                }),
                _ => None,
            })
            .collect();
        cardea_sip::locate::naptr_choice(records, secure)
    }

    /// A host's address: from the configured DNS servers when there are some, else (and
    /// as a fallback) the system resolver. IPv4 first.
    async fn address(&self, host: &str, port: u16) -> Option<IpAddr> {
        if let (true, Some(dns)) = (self.own_servers, &self.dns) {
            if let Ok(ips) = dns.lookup_ip(host).await {
                let ips: Vec<IpAddr> = ips.iter().collect();
                if let Some(ip) = ips.iter().find(|ip| ip.is_ipv4()).or(ips.first()) {
                    return Some(*ip);
                }
            }
        }
        system_lookup(host, port).await
    }
}

/// A and AAAA through the system resolver (getaddrinfo: /etc/hosts, then DNS). IPv4 first:
/// the endpoint's sockets are IPv4 unless configured otherwise.
async fn system_lookup(host: &str, port: u16) -> Option<IpAddr> {
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .ok()?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(addrs.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardea_sip::locate::{locate, Locate};
    use cardea_sip::Uri;

    #[tokio::test]
    async fn the_hosts_table_answers_first_with_its_port_or_the_uris() {
        let mut entries = HashMap::new();
        entries.insert("pbx.test".to_owned(), "127.0.0.7:5999".to_owned());
        entries.insert("trunk.test".to_owned(), "127.0.0.8".to_owned());
        let locator = Locator::new(Hosts::parse(&entries).unwrap(), &[]);
        let lookup = |s: &str| match locate(&Uri::parse(s).unwrap()) {
            Some(Locate::Lookup(l)) => l,
            other => panic!("{other:?}"),
        };
        let d = locator.resolve(&lookup("sip:bob@PBX.test")).await.unwrap();
        assert_eq!(d.addr, "127.0.0.7:5999".parse().unwrap());
        let d = locator
            .resolve(&lookup("sip:bob@trunk.test:5070"))
            .await
            .unwrap();
        assert_eq!(d.addr, "127.0.0.8:5070".parse().unwrap());
        let d = locator
            .resolve(&lookup("sip:bob@localhost:5071"))
            .await
            .unwrap();
        assert_eq!(d.addr.port(), 5071);
        assert!(d.addr.ip().is_loopback());
        assert!(Hosts::parse(&HashMap::from([("x".into(), "nope".into())])).is_err());
    }
}
