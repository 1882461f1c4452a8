//! Locating SIP servers (RFC 3263 §4), sans-IO: which DNS questions a URI needs and how the
//! answers become an ordered list of destinations. The driver asks the questions (and may
//! answer from a static hosts table first).
//!
//! A URI that names neither a transport nor a port nor an IP address asks NAPTR first
//! (§4.1): the best record whose service we speak (`SIP+D2U`, `SIP+D2T`, `SIPS+D2T`; only
//! the last for `sips`) gives the transport and the SRV name to ask. Otherwise, or without
//! NAPTR records, the transport comes from the URI (`transport` parameter, `sips` → TLS, else
//! UDP, §4.1 last paragraph); a numeric port or an IP literal skips SRV (§4.2); otherwise
//! `_sip._udp.<host>` (`_sips._tcp` for TLS, `_sip._tcp` for TCP) is asked, and without SRV
//! records the host's A/AAAA records at the default port are used.

use std::net::{IpAddr, SocketAddr};

use crate::proxy::destination_of;
use crate::transaction::Destination;
use crate::typed::Transport;
use crate::uri::Uri;

/// What it takes to reach a URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locate {
    /// An IP literal: no DNS needed.
    Direct(Destination),
    /// A name: ask `srv` first when set, else resolve `host` to addresses at `port`.
    Lookup(Lookup),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub host: String,
    pub transport: Transport,
    /// The port to use with the host's addresses (the URI's, or the transport's default).
    pub port: u16,
    /// The SRV name to ask first, when the URI gave no port (§4.2).
    pub srv: Option<String>,
    /// The name to ask NAPTR records of first, when the URI gave no transport and no port
    /// (§4.1); what [`naptr_choice`] picks replaces `transport` and `srv`.
    pub naptr: Option<String>,
    /// A `sips` URI: only TLS may be chosen (§4.1).
    pub secure: bool,
}

/// One NAPTR record (RFC 3403), as far as SIP uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaptrRecord {
    pub order: u16,
    pub preference: u16,
    pub flags: String,
    pub services: String,
    /// The SRV name to ask next (SIP's records replace, they carry no regexp).
    pub replacement: String,
}

/// The transport and SRV name of the best NAPTR record we can use (§4.1): lowest order,
/// then preference; `S` flag and a service we speak (only `SIPS+D2T` for `sips` URIs).
pub fn naptr_choice(mut records: Vec<NaptrRecord>, secure: bool) -> Option<(Transport, String)> {
    records.sort_by_key(|r| (r.order, r.preference));
    records.into_iter().find_map(|r| {
        if !r.flags.eq_ignore_ascii_case("s") || r.replacement.is_empty() {
            return None;
        }
        let transport = match r.services.to_ascii_uppercase().as_str() {
            "SIPS+D2T" => Transport::Tls,
            "SIP+D2T" if !secure => Transport::Tcp,
            "SIP+D2U" if !secure => Transport::Udp,
            _ => return None,
        };
        Some((transport, r.replacement.trim_end_matches('.').to_owned()))
    })
}

/// One SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

/// What a URI needs; `None` for URIs that are not `sip:`/`sips:`.
pub fn locate(uri: &Uri) -> Option<Locate> {
    if let Some(d) = destination_of(uri) {
        return Some(Locate::Direct(d));
    }
    let sip = uri.as_sip()?;
    let host = sip
        .host
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let transport = match sip.transport() {
        Some(t) => Transport::parse(t),
        None if sip.secure => Transport::Tls,
        None => Transport::Udp,
    };
    let default_port = if matches!(transport, Transport::Tls | Transport::Wss) {
        5061
    } else {
        5060
    };
    let srv = match (sip.port, &transport) {
        (Some(_), _) => None,
        (None, Transport::Tls) => Some(format!("_sips._tcp.{host}")),
        (None, Transport::Tcp) => Some(format!("_sip._tcp.{host}")),
        (None, Transport::Udp) => Some(format!("_sip._udp.{host}")),
        (None, _) => None,
    };
    let naptr = (sip.port.is_none() && sip.transport().is_none()).then(|| host.clone());
    Some(Locate::Lookup(Lookup {
        host,
        transport,
        port: sip.port.unwrap_or(default_port),
        srv,
        naptr,
        secure: sip.secure,
    }))
}

/// Orders SRV records for trying (RFC 2782): by priority, and within one priority by a
/// weighted random draw, for which `pick(total)` returns a number in `0..=total`.
pub fn order_srv(mut records: Vec<SrvRecord>, mut pick: impl FnMut(u32) -> u32) -> Vec<SrvRecord> {
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    while !records.is_empty() {
        let priority = records[0].priority;
        let end = records
            .iter()
            .position(|r| r.priority != priority)
            .unwrap_or(records.len());
        let mut group: Vec<SrvRecord> = records.drain(..end).collect();
        // Zero weights first, so they have a small chance of being picked (RFC 2782).
        group.sort_by_key(|r| r.weight != 0);
        while !group.is_empty() {
            let total: u32 = group.iter().map(|r| u32::from(r.weight)).sum();
            let draw = pick(total).min(total);
            let mut running = 0;
            let index = group
                .iter()
                .position(|r| {
                    running += u32::from(r.weight);
                    running >= draw
                })
                .unwrap_or(0);
            out.push(group.remove(index));
        }
    }
    // "." as the target means the service is not available there (RFC 2782).
    out.retain(|r| r.target != "." && !r.target.is_empty());
    out
}

/// The destinations for a lookup's answers, in order.
pub fn destinations(lookup: &Lookup, addresses: &[(IpAddr, u16)]) -> Vec<Destination> {
    addresses
        .iter()
        .map(|(ip, port)| Destination::new(SocketAddr::new(*ip, *port), lookup.transport.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        Uri::parse(s).unwrap()
    }

    #[test]
    fn ip_literals_need_no_dns() {
        assert_eq!(
            locate(&uri("sip:bob@192.0.2.1:5070")),
            Some(Locate::Direct(Destination::udp(
                "192.0.2.1:5070".parse().unwrap()
            )))
        );
    }

    #[test]
    fn naptr_is_asked_without_transport_or_port_and_its_best_usable_record_wins() {
        let lookup = |s: &str| match locate(&uri(s)) {
            Some(Locate::Lookup(l)) => l,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            lookup("sip:bob@example.com").naptr.as_deref(),
            Some("example.com")
        );
        assert_eq!(lookup("sip:bob@example.com:5070").naptr, None);
        assert_eq!(lookup("sip:bob@example.com;transport=tcp").naptr, None);
        assert!(lookup("sips:bob@example.com").secure);
        let rec = |order, preference, services: &str, replacement: &str| NaptrRecord {
            order,
            preference,
            flags: "S".into(),
            services: services.into(),
            replacement: replacement.into(),
        };
        let records = vec![
            rec(90, 50, "SIP+D2U", "_sip._udp.example.com."),
            rec(50, 50, "SIP+D2T", "_sip._tcp.example.com."),
            rec(50, 10, "SIP+D2W", "_sip._ws.example.com."),
            rec(10, 10, "E2U+sip", "!^.*$!sip:info@example.com!"),
            rec(50, 90, "SIPS+D2T", "_sips._tcp.example.com."),
        ];
        assert_eq!(
            naptr_choice(records.clone(), false),
            Some((Transport::Tcp, "_sip._tcp.example.com".into()))
        );
        assert_eq!(
            naptr_choice(records, true),
            Some((Transport::Tls, "_sips._tcp.example.com".into()))
        );
        assert_eq!(naptr_choice(vec![], false), None);
        let mut a = rec(1, 1, "SIP+D2U", "_sip._udp.example.com");
        a.flags = "A".into();
        assert_eq!(naptr_choice(vec![a], false), None);
    }

    #[test]
    fn names_ask_srv_without_a_port_and_a_records_with_one() {
        let Some(Locate::Lookup(l)) = locate(&uri("sip:bob@PBX.example.com")) else {
            panic!()
        };
        assert_eq!(l.host, "pbx.example.com");
        assert_eq!(l.srv.as_deref(), Some("_sip._udp.pbx.example.com"));
        assert_eq!(l.port, 5060);
        let Some(Locate::Lookup(l)) = locate(&uri("sip:bob@pbx.example.com:5080")) else {
            panic!()
        };
        assert_eq!((l.srv, l.port), (None, 5080));
        let Some(Locate::Lookup(l)) = locate(&uri("sips:bob@pbx.example.com")) else {
            panic!()
        };
        assert_eq!(l.srv.as_deref(), Some("_sips._tcp.pbx.example.com"));
        assert_eq!((l.transport, l.port), (Transport::Tls, 5061));
        let Some(Locate::Lookup(l)) = locate(&uri("sip:pbx.example.com;transport=tcp")) else {
            panic!()
        };
        assert_eq!(l.srv.as_deref(), Some("_sip._tcp.pbx.example.com"));
    }

    #[test]
    fn srv_records_go_by_priority_then_weight() {
        let r = |priority, weight, target: &str| SrvRecord {
            priority,
            weight,
            port: 5060,
            target: target.into(),
        };
        let records = vec![r(20, 0, "c"), r(10, 60, "a"), r(10, 40, "b"), r(5, 0, ".")];
        // The draw always lands at the top of the range: the heaviest-last record wins.
        let ordered = order_srv(records.clone(), |total| total);
        let names: Vec<&str> = ordered.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        let ordered = order_srv(records, |_| 1);
        let names: Vec<&str> = ordered.iter().map(|r| r.target.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }
}
