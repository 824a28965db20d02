//! Where a request for a record from outside this machine may go (docs/records.md, "Verify
//! targets"): `import --verify` talks to the registry the record names and to the token endpoint
//! that registry's challenge names, so neither may be this machine (loopback, unspecified), the
//! cloud metadata server (link-local, its names) or the private network (RFC 1918, unique local,
//! shared address space) unless the operator opened that host or the private ranges.
//!
//! The check is made on the addresses the name resolves to, once, and the connection goes to
//! exactly those addresses ([`Pin`] is the resolver ureq uses for that exchange), so a DNS answer
//! that changes between the check and the connection (rebinding) reaches nothing new. Through a
//! proxy the proxy looks the name up itself: the check is this machine's answer.

use crate::timeout::Deadline;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

/// Why an address (or a name) is not one a record may aim the worker at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    /// 127.0.0.0/8, ::1, `localhost` and `*.localhost`: this machine's own services.
    Loopback,
    /// 169.254.0.0/16, fe80::/10: the cloud metadata server's range.
    LinkLocal,
    /// 10/8, 172.16/12, 192.168/16, fc00::/7 (and the retired site-local fec0::/10).
    Private,
    /// 100.64.0.0/10, carrier-grade NAT (RFC 6598), used inside clusters and overlays.
    Shared,
    /// 0.0.0.0/8 and `::`: a connection to it reaches this machine.
    Unspecified,
    /// Multicast and the broadcast address: no registry answers there.
    NotUnicast,
    /// A cloud metadata server's name (`metadata.google.internal`, `instance-data`, ...).
    Metadata,
}

impl Rule {
    /// The words a refusal uses.
    pub(crate) fn words(self) -> &'static str {
        match self {
            Rule::Loopback => "a loopback address (this machine's own services)",
            Rule::LinkLocal => "a link-local address (the cloud metadata server's range)",
            Rule::Private => "a private-network address",
            Rule::Shared => "a shared (carrier-grade NAT) address, 100.64.0.0/10",
            Rule::Unspecified => "the unspecified address (this machine)",
            Rule::NotUnicast => "a broadcast or multicast address",
            Rule::Metadata => "a cloud metadata server's name",
        }
    }

    /// Whether `verify-private` opens it: the private network, not this machine or the
    /// metadata server.
    pub(crate) fn private_network(self) -> bool {
        matches!(self, Rule::Private | Rule::Shared)
    }
}

/// The names of the metadata servers (GCE, EC2), which resolve to link-local addresses only
/// inside their cloud; refused by name so that a lookup elsewhere (or a proxy's) cannot matter.
const METADATA_NAMES: &[&str] = &[
    "metadata",
    "metadata.google.internal",
    "metadata.goog",
    "instance-data",
    "instance-data.ec2.internal",
];

/// The rule a host name falls under by itself (lower case, no trailing dot needed).
pub(crate) fn name_rule(host: &str) -> Option<Rule> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        Some(Rule::Loopback)
    } else if METADATA_NAMES.contains(&host.as_str()) {
        Some(Rule::Metadata)
    } else {
        None
    }
}

/// The rule an address falls under; `None` for a public unicast address.
pub(crate) fn addr_rule(ip: IpAddr) -> Option<Rule> {
    match ip {
        IpAddr::V4(v4) => v4_rule(v4),
        IpAddr::V6(v6) => v6_rule(v6),
    }
}

fn v4_rule(ip: Ipv4Addr) -> Option<Rule> {
    let [a, b, _, _] = ip.octets();
    match (a, b) {
        (127, _) => Some(Rule::Loopback),
        (169, 254) => Some(Rule::LinkLocal),
        (10, _) | (192, 168) => Some(Rule::Private),
        (172, b) if (16..32).contains(&b) => Some(Rule::Private),
        (100, b) if (64..128).contains(&b) => Some(Rule::Shared),
        (0, _) => Some(Rule::Unspecified),
        _ if ip.is_multicast() || ip.is_broadcast() => Some(Rule::NotUnicast),
        _ => None,
    }
}

fn v6_rule(ip: Ipv6Addr) -> Option<Rule> {
    let s = ip.segments();
    // An IPv4 address carried in IPv6 reaches that IPv4 address: mapped (::ffff:a.b.c.d), the
    // retired compatible form (::a.b.c.d) and the NAT64 well-known prefix (64:ff9b::/96).
    let embedded =
        |s: &[u16; 8]| Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if ip.is_unspecified() {
        return Some(Rule::Unspecified);
    }
    if ip.is_loopback() {
        return Some(Rule::Loopback);
    }
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return v4_rule(embedded(&s));
    }
    match s[0] {
        x if x & 0xffc0 == 0xfe80 => Some(Rule::LinkLocal),
        x if x & 0xfe00 == 0xfc00 || x & 0xffc0 == 0xfec0 => Some(Rule::Private),
        x if x & 0xff00 == 0xff00 => Some(Rule::NotUnicast),
        _ => None,
    }
}

/// What the operator opened in `BETA9_IMPORT_ALLOW` (`verify-host:HOST[:PORT]`,
/// `verify-private`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Allow {
    /// Host (lower case, IPv6 without brackets, no trailing dot) and, when given, the one port.
    pub(crate) hosts: Vec<(String, Option<u16>)>,
    pub(crate) private: bool,
}

impl Allow {
    /// `HOST[:PORT]` of a `verify-host:` item: a name or an IP literal (IPv6 in brackets), with
    /// no user info, path or query.
    pub(crate) fn parse_host(item: &str) -> Option<(String, Option<u16>)> {
        if item.is_empty() || item.contains(['/', '@', '?', '#']) {
            return None;
        }
        // What follows the host must be a port in digits (the URL parser lets `h:x` through).
        let port = match item.strip_prefix('[') {
            Some(rest) => rest.split_once(']')?.1.strip_prefix(':'),
            None => item.split_once(':').map(|(_, p)| p),
        };
        if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
        let u = crate::net::url::Url::parse(&format!("http://{item}/"))?;
        Some((normal(&u.host), u.port))
    }

    /// Whether the operator opened `host` on `port`.
    pub(crate) fn host(&self, host: &str, port: u16) -> bool {
        let host = normal(host);
        self.hosts
            .iter()
            .any(|(h, p)| *h == host && p.is_none_or(|p| p == port))
    }
}

/// Lower case, no brackets, no trailing dot: how hosts are compared.
fn normal(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// A host shown with its port: `host:port`, IPv6 in brackets.
fn shown(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `host:port` of an http(s) URL as a [`Denied`] names it (the scheme's port when none is
/// written).
pub(crate) fn target(url: &str) -> String {
    match crate::net::url::Url::parse(url) {
        Some(u) => shown(
            &normal(&u.host),
            u.port.unwrap_or(if u.scheme == "http" { 80 } else { 443 }),
        ),
        None => "a URL that does not parse".into(),
    }
}

/// Why a request was not sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Denied {
    /// The host is, or resolves to, what `rule` covers.
    Rule {
        /// `host:port` as the request would use it.
        target: String,
        /// The address that fell under the rule, when the name was looked up.
        addr: Option<IpAddr>,
        rule: Rule,
    },
    /// The name could not be looked up here, so where it points could not be checked.
    Unresolved { target: String, why: String },
}

impl Denied {
    /// `host:port` the request was for.
    pub(crate) fn target(&self) -> &str {
        match self {
            Denied::Rule { target, .. } | Denied::Unresolved { target, .. } => target,
        }
    }

    /// `127.0.0.1:5000, a loopback address (...)` or `r.example:443, which resolves to 10.0.0.5,
    /// a private-network address`: where the request would have gone and why not.
    pub(crate) fn describe(&self) -> String {
        match self {
            Denied::Rule { target, addr, rule } => match addr {
                Some(a) => format!("{target}, which resolves to {a}, {}", rule.words()),
                None => format!("{target}, {}", rule.words()),
            },
            Denied::Unresolved { target, why } => {
                format!("{target}, whose addresses cannot be looked up here ({why})")
            }
        }
    }
}

/// The checks of one `import --verify` run: what the operator opened, the lookups made (each
/// name looked up once, its addresses kept for the connection) and the first refusal.
pub(crate) struct Guard {
    allow: Allow,
    deadline: Deadline,
    looked_up: Mutex<Vec<(String, Vec<IpAddr>)>>,
    denied: Mutex<Option<Denied>>,
}

impl Guard {
    pub(crate) fn new(allow: Allow, budget: Duration) -> Guard {
        Guard {
            allow,
            deadline: Deadline::start(budget),
            looked_up: Mutex::new(Vec::new()),
            denied: Mutex::new(None),
        }
    }

    /// The first request this guard refused.
    pub(crate) fn denied(&self) -> Option<Denied> {
        self.denied.lock().ok().and_then(|d| d.clone())
    }

    /// Checks a request to `url` (http or https); the [`Pin`] its exchange resolves with.
    pub(crate) fn admit_url(&self, url: &str) -> Result<Pin, Denied> {
        let Some(u) = crate::net::url::Url::parse(url) else {
            return Err(self.deny(Denied::Unresolved {
                target: target(url),
                why: "not an http(s) URL".into(),
            }));
        };
        self.admit(
            &u.host,
            u.port.unwrap_or(if u.scheme == "http" { 80 } else { 443 }),
        )
    }

    /// Checks `host` (a name or an IP literal, IPv6 with or without brackets) on `port`.
    pub(crate) fn admit(&self, host: &str, port: u16) -> Result<Pin, Denied> {
        let host = normal(host);
        let target = shown(&host, port);
        // The operator's word: that host is resolved as any request's would be.
        if self.allow.host(&host, port) {
            return Ok(Pin { host, addrs: None });
        }
        let opened = |rule: Rule| self.allow.private && rule.private_network();
        if let Some(rule) = name_rule(&host).filter(|r| !opened(*r)) {
            return Err(self.deny(Denied::Rule {
                target,
                addr: None,
                rule,
            }));
        }
        let literal = host.parse::<IpAddr>().ok();
        let addrs = match literal {
            Some(ip) => vec![ip],
            None => self.lookup(&host).map_err(|why| {
                self.deny(Denied::Unresolved {
                    target: target.clone(),
                    why,
                })
            })?,
        };
        for ip in &addrs {
            if let Some(rule) = addr_rule(*ip).filter(|r| !opened(*r)) {
                return Err(self.deny(Denied::Rule {
                    target,
                    addr: literal.is_none().then_some(*ip),
                    rule,
                }));
            }
        }
        Ok(Pin {
            host,
            addrs: Some(addrs),
        })
    }

    fn deny(&self, d: Denied) -> Denied {
        if let Ok(mut first) = self.denied.lock() {
            first.get_or_insert_with(|| d.clone());
        }
        d
    }

    /// The name's addresses, looked up once per run within the time budget.
    fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Some((_, addrs)) = self
            .looked_up
            .lock()
            .ok()
            .and_then(|l| l.iter().find(|(h, _)| h == host).cloned())
        {
            return Ok(addrs);
        }
        let remaining = self.deadline.remaining();
        if remaining.is_zero() {
            return Err("the time budget ran out".into());
        }
        // std's lookup cannot be bounded, so it runs on a thread this waits for (as ureq does).
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let name = host.to_string();
        std::thread::spawn(move || {
            let _ = tx.send(
                (name.as_str(), 0)
                    .to_socket_addrs()
                    .map(|a| a.collect::<Vec<_>>()),
            );
        });
        let found = match rx.recv_timeout(remaining) {
            Ok(Ok(found)) => found,
            Ok(Err(_)) => return Err("host name not found".into()),
            Err(_) => return Err("the lookup did not answer in time".into()),
        };
        let mut addrs: Vec<IpAddr> = Vec::new();
        for a in found {
            if !addrs.contains(&a.ip()) {
                addrs.push(a.ip());
            }
        }
        if addrs.is_empty() {
            return Err("host name not found".into());
        }
        if let Ok(mut l) = self.looked_up.lock() {
            l.push((host.to_string(), addrs.clone()));
        }
        Ok(addrs)
    }
}

/// ureq keeps at most 16 addresses of a lookup.
const MAX_PINNED: usize = 16;

/// The resolver of one checked exchange: its host resolves to the addresses that were checked,
/// never to a second lookup's; the proxy the exchange goes through is resolved as usual; any
/// other name is refused.
#[derive(Debug, Clone)]
pub(crate) struct Pin {
    host: String,
    /// `None`: a host the operator opened, looked up as any request's would be.
    addrs: Option<Vec<IpAddr>>,
}

impl ureq::unversioned::resolver::Resolver for Pin {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        use ureq::unversioned::resolver::DefaultResolver;
        let host = uri.host().map(normal).unwrap_or_default();
        let proxy = config.proxy().is_some_and(|p| {
            normal(p.host()) == host && uri.port_u16().is_none_or(|x| x == p.port())
        });
        match &self.addrs {
            Some(addrs) if host == self.host => {
                let port = uri
                    .port_u16()
                    .unwrap_or(if uri.scheme_str() == Some("http") {
                        80
                    } else {
                        443
                    });
                let mut out = self.empty();
                for ip in addrs.iter().take(MAX_PINNED) {
                    out.push(SocketAddr::new(*ip, port));
                }
                Ok(out)
            }
            None if host == self.host => DefaultResolver::default().resolve(uri, config, timeout),
            _ if proxy => DefaultResolver::default().resolve(uri, config, timeout),
            _ => Err(ureq::Error::HostNotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> Option<Rule> {
        addr_rule(s.parse().unwrap())
    }

    #[test]
    fn every_range_and_a_public_address() {
        for (addr, want) in [
            ("127.0.0.1", Some(Rule::Loopback)),
            ("127.255.0.9", Some(Rule::Loopback)),
            ("::1", Some(Rule::Loopback)),
            ("169.254.169.254", Some(Rule::LinkLocal)),
            ("169.254.0.1", Some(Rule::LinkLocal)),
            ("fe80::1", Some(Rule::LinkLocal)),
            ("febf::1", Some(Rule::LinkLocal)),
            ("10.0.0.5", Some(Rule::Private)),
            ("172.16.0.1", Some(Rule::Private)),
            ("172.31.255.255", Some(Rule::Private)),
            ("192.168.1.1", Some(Rule::Private)),
            ("fc00::1", Some(Rule::Private)),
            ("fd12:3456::1", Some(Rule::Private)),
            ("fd00:ec2::254", Some(Rule::Private)),
            ("100.64.0.1", Some(Rule::Shared)),
            ("100.127.255.255", Some(Rule::Shared)),
            ("0.0.0.0", Some(Rule::Unspecified)),
            ("0.1.2.3", Some(Rule::Unspecified)),
            ("::", Some(Rule::Unspecified)),
            ("224.0.0.1", Some(Rule::NotUnicast)),
            ("255.255.255.255", Some(Rule::NotUnicast)),
            ("ff02::1", Some(Rule::NotUnicast)),
            // IPv4 inside IPv6 is the IPv4 address.
            ("::ffff:127.0.0.1", Some(Rule::Loopback)),
            ("::ffff:169.254.169.254", Some(Rule::LinkLocal)),
            ("::ffff:10.1.2.3", Some(Rule::Private)),
            ("::127.0.0.1", Some(Rule::Loopback)),
            ("64:ff9b::10.0.0.1", Some(Rule::Private)),
            ("64:ff9b::a9fe:a9fe", Some(Rule::LinkLocal)),
            // Public: allowed.
            ("8.8.8.8", None),
            ("140.82.112.3", None),
            ("172.32.0.1", None),
            ("172.15.255.255", None),
            ("100.128.0.1", None),
            ("100.63.255.255", None),
            ("169.253.0.1", None),
            ("2606:4700::6810:84e5", None),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::808:808", None),
        ] {
            assert_eq!(rule(addr), want, "{addr}");
        }
        for (name, want) in [
            ("localhost", Some(Rule::Loopback)),
            ("LocalHost.", Some(Rule::Loopback)),
            ("registry.localhost", Some(Rule::Loopback)),
            ("metadata.google.internal", Some(Rule::Metadata)),
            ("metadata.google.internal.", Some(Rule::Metadata)),
            ("metadata", Some(Rule::Metadata)),
            ("instance-data", Some(Rule::Metadata)),
            ("ghcr.io", None),
            ("metadata.google.internal.evil.example", None),
            ("notlocalhost", None),
        ] {
            assert_eq!(name_rule(name), want, "{name}");
        }
        assert!(Rule::Private.private_network() && Rule::Shared.private_network());
        for r in [
            Rule::Loopback,
            Rule::LinkLocal,
            Rule::Unspecified,
            Rule::Metadata,
        ] {
            assert!(!r.private_network(), "{r:?}");
        }
    }

    fn guard(allow: Allow) -> Guard {
        Guard::new(allow, Duration::from_secs(5))
    }

    #[test]
    fn literals_names_and_what_the_operator_opened() {
        let g = guard(Allow::default());
        for (host, rule) in [
            ("127.0.0.1", Rule::Loopback),
            ("[::1]", Rule::Loopback),
            ("::ffff:127.0.0.1", Rule::Loopback),
            ("169.254.169.254", Rule::LinkLocal),
            ("10.0.0.5", Rule::Private),
            ("metadata.google.internal", Rule::Metadata),
            ("localhost", Rule::Loopback),
        ] {
            match g.admit(host, 8080) {
                Err(Denied::Rule { rule: r, addr, .. }) => {
                    assert_eq!((r, addr), (rule, None), "{host}")
                }
                other => panic!("{host}: {other:?}"),
            }
        }
        // The first refusal is the one kept.
        assert_eq!(g.denied().unwrap().target(), "127.0.0.1:8080");
        assert_eq!(
            g.admit("[::1]", 8080).unwrap_err().describe(),
            "[::1]:8080, a loopback address (this machine's own services)"
        );
        assert!(g.admit("8.8.8.8", 443).is_ok());
        assert!(g.admit_url("https://[2606:4700::1]/v2/").is_ok());

        let g = guard(Allow {
            hosts: vec![Allow::parse_host("127.0.0.1:5000").unwrap()],
            private: true,
        });
        assert!(g.admit("127.0.0.1", 5000).is_ok());
        assert!(g.admit_url("http://127.0.0.1:5000/v2/").is_ok());
        assert!(g.admit("127.0.0.1", 5001).is_err(), "another port");
        assert!(g.admit("10.0.0.5", 5432).is_ok(), "verify-private");
        assert!(g.admit("100.64.1.1", 80).is_ok(), "verify-private");
        assert!(
            g.admit("169.254.169.254", 80).is_err(),
            "never by verify-private"
        );
        assert!(g.admit("metadata.google.internal", 80).is_err());
        assert!(g.denied().is_some());

        let any_port = Allow {
            hosts: vec![Allow::parse_host("Metadata.Google.Internal").unwrap()],
            private: false,
        };
        assert!(any_port.host("metadata.google.internal", 80));
        assert!(any_port.host("metadata.google.internal.", 8080));
        assert_eq!(
            Allow::parse_host("[::1]:8080"),
            Some(("::1".to_string(), Some(8080)))
        );
        for bad in ["", "h/x", "u@h", "h:port", "h:", "[::1]:x", "h?x", "a b"] {
            assert_eq!(Allow::parse_host(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_name_is_checked_on_every_address_it_resolves_to() {
        let g = guard(Allow::default());
        g.looked_up.lock().unwrap().extend([
            (
                "public.example".to_string(),
                vec!["8.8.8.8".parse().unwrap()],
            ),
            (
                "mixed.example".to_string(),
                vec!["8.8.8.8".parse().unwrap(), "10.0.0.5".parse().unwrap()],
            ),
        ]);
        assert_eq!(
            g.admit("public.example", 443).unwrap().addrs,
            Some(vec!["8.8.8.8".parse().unwrap()])
        );
        let d = g.admit("Mixed.Example.", 443).unwrap_err();
        assert_eq!(
            d.describe(),
            "mixed.example:443, which resolves to 10.0.0.5, a private-network address"
        );
        // A name nothing resolves is refused too: where it points cannot be checked.
        assert!(matches!(
            g.admit("name.invalid", 443),
            Err(Denied::Unresolved { .. })
        ));
    }

    fn get(url: &str, pin: Pin, proxy: Option<ureq::Proxy>) -> Result<u16, crate::net::NetError> {
        let route = crate::http::Route {
            deadline: Deadline::start(Duration::from_secs(5)),
            connect: None,
            proxy,
            roots: &[],
            agent_suffix: "",
        };
        let req = crate::http::Request {
            method: crate::http::Method::Get,
            url,
            headers: &[],
            body_limit: 1024,
        };
        crate::http::exchange_pinned(&req, route, Some(pin)).map(|r| r.status)
    }

    #[test]
    fn the_exchange_connects_to_the_checked_addresses_and_nowhere_else() {
        use crate::http::loopback::Server;
        let server = Server::ok("{}");
        // A name no resolver knows reaches the address it was checked at: no second lookup.
        let pin = Pin {
            host: "registry.invalid".into(),
            addrs: Some(vec!["127.0.0.1".parse().unwrap()]),
        };
        let url = format!("http://registry.invalid:{}/v2/", server.port);
        assert_eq!(get(&url, pin.clone(), None).ok(), Some(200));
        assert_eq!(server.hits(), 1);
        // Another host than the one checked is not resolved at all.
        let other = format!("http://localhost:{}/v2/", server.port);
        assert!(get(&other, pin.clone(), None).is_err());
        assert_eq!(server.hits(), 1);
        // Through a proxy, the proxy (resolved as usual) gets the name, not an address.
        let proxy = Server::ok("{}");
        let p = ureq::Proxy::new(&proxy.url()).ok();
        let pin = Pin {
            host: "registry.invalid".into(),
            addrs: Some(vec!["192.0.2.1".parse().unwrap()]),
        };
        assert_eq!(get("http://registry.invalid/v2/", pin, p).ok(), Some(200));
        assert_eq!(
            proxy.lines(),
            ["CONNECT registry.invalid:80 HTTP/1.1", "GET /v2/ HTTP/1.1"]
        );
    }
}
