//! Which HTTP proxy an outgoing request goes through (docs/proxies.md).
//!
//! The standard variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, either case),
//! read through the settings (src/settings.rs) and matched by hyper-util's curl-compatible matcher: the same
//! one the AWS SDK's client applies per request, so the Google, doctor and ECR paths agree on
//! what `NO_PROXY` means. Loopback and link-local destinations (instance metadata, container
//! credential endpoints) never go through a proxy, whatever the variables say.
//!
//! Built only on a path that is about to use the network: a static `get` never reads these.

use crate::error::{Error, Result, SettingReason};
use crate::settings::Settings;
use aws_smithy_http_client::proxy::ProxyConfig;
use hyper_util::client::proxy::matcher::Matcher;
use secrecy::{ExposeSecret, SecretString};

/// Always direct (docs/proxies.md, "Never proxied"): loopback, IPv4 and IPv6 link-local
/// (169.254.169.254 and 169.254.170.2 among them) and the IPv6 addresses of the EC2 instance
/// metadata service and the EKS Pod Identity agent.
const ALWAYS_DIRECT: &str =
    "localhost,127.0.0.0/8,::1,169.254.0.0/16,fe80::/10,fd00:ec2::254,fd00:ec2::23";

/// The proxy settings of one process.
pub(crate) struct Proxies {
    /// For `http://` destinations: `HTTP_PROXY`, else `ALL_PROXY`.
    http: Option<Named>,
    /// For `https://` destinations: `HTTPS_PROXY`, else `ALL_PROXY`.
    https: Option<Named>,
    /// The user's `NO_PROXY` after [`ALWAYS_DIRECT`].
    no_proxy: String,
    matcher: Matcher,
}

/// A proxy URL and the variable it came from (errors name the variable, never the URL: it may
/// hold a password).
#[derive(Clone)]
struct Named {
    var: &'static str,
    url: SecretString,
}

impl std::fmt::Debug for Proxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxies")
            .field("http", &self.http.as_ref().map(|n| n.var))
            .field("https", &self.https.as_ref().map(|n| n.var))
            .finish_non_exhaustive()
    }
}

/// Where a request goes: straight to its host, or through a proxy.
pub(crate) struct Route<'a> {
    proxy: Option<&'a Named>,
}

impl Route<'_> {
    /// The proxy for ureq, or `None` to connect directly.
    pub(crate) fn ureq(&self) -> Option<ureq::Proxy> {
        // Validated in `Proxies::from_settings`, so this parse succeeds.
        self.proxy
            .and_then(|n| ureq::Proxy::new(n.url.expose_secret()).ok())
    }

    /// For messages: `through the proxy in HTTPS_PROXY (proxy.example:3128)`, or nothing.
    /// Host and port only: the user-info part is never shown.
    pub(crate) fn describe(&self) -> Option<String> {
        let n = self.proxy?;
        let authority = n
            .url
            .expose_secret()
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| {
                let a = u.authority()?;
                let host_port = a.as_str().rsplit('@').next()?.to_string();
                Some(host_port)
            })
            .unwrap_or_default();
        Some(format!("through the proxy in {} ({authority})", n.var))
    }
}

impl Proxies {
    /// No proxy for anything (tests).
    #[cfg(test)]
    pub(crate) fn direct() -> Proxies {
        Proxies::build(None, None, String::new())
    }

    /// The variables from the snapshot. A variable that is set but not UTF-8, or not a proxy URL
    /// this helper can use, is an error naming the variable (never its value).
    pub(crate) fn from_settings(s: &Settings) -> Result<Proxies> {
        let all = named(s.all_proxy()?).map(with_scheme);
        let http = named(s.http_proxy()?)
            .map(with_scheme)
            .or_else(|| all.clone());
        let https = named(s.https_proxy()?).map(with_scheme).or(all);
        let no_proxy = named(s.no_proxy()?)
            .map(|n| n.url.expose_secret().to_string())
            .unwrap_or_default();
        for n in http.iter().chain(https.iter()) {
            check_url(n)?;
        }
        Ok(Proxies::build(http, https, no_proxy))
    }

    fn build(http: Option<Named>, https: Option<Named>, user_no_proxy: String) -> Proxies {
        let no_proxy = if user_no_proxy.trim().is_empty() {
            ALWAYS_DIRECT.to_string()
        } else {
            format!("{ALWAYS_DIRECT},{user_no_proxy}")
        };
        let mut b = Matcher::builder().no(no_proxy.clone());
        if let Some(n) = &http {
            b = b.http(n.url.expose_secret().to_string());
        }
        if let Some(n) = &https {
            b = b.https(n.url.expose_secret().to_string());
        }
        Proxies {
            http,
            https,
            no_proxy,
            matcher: b.build(),
        }
    }

    /// Is any proxy configured at all?
    #[cfg(test)]
    pub(crate) fn any(&self) -> bool {
        self.http.is_some() || self.https.is_some()
    }

    /// The route of a request to `url`. A URL that does not parse goes direct (the request
    /// itself will then fail with its own error).
    pub(crate) fn route(&self, url: &str) -> Route<'_> {
        let Ok(uri) = url.parse::<http::Uri>() else {
            return Route { proxy: None };
        };
        if uri.host().is_some_and(always_direct) || self.matcher.intercept(&uri).is_none() {
            return Route { proxy: None };
        }
        let proxy = match uri.scheme_str() {
            Some("https") => self.https.as_ref(),
            _ => self.http.as_ref(),
        };
        Route { proxy }
    }

    /// The AWS SDK client's proxy for a client whose API endpoint is `https` (or `http`, with an
    /// endpoint override): one proxy URL per client, the same `NO_PROXY` rules per request.
    pub(crate) fn smithy(&self, https: bool) -> ProxyConfig {
        let chosen = if https { &self.https } else { &self.http };
        let Some(n) = chosen else {
            return ProxyConfig::disabled();
        };
        // Validated in `from_settings`; all() carries user info from the URL as basic auth.
        match ProxyConfig::all(n.url.expose_secret()) {
            Ok(c) => c.no_proxy(&self.no_proxy),
            Err(_) => ProxyConfig::disabled(),
        }
    }
}

/// Is `host` (a URL's host: a name, an IPv4 address in any form the system resolver accepts, or
/// an IPv6 address, bracketed or not) this machine or its own link? Such a destination never goes
/// through a proxy (docs/proxies.md, "Never proxied"). One decision on the parsed address, for
/// every HTTP client here: `127.1`, `0x7f.1`, `2130706433`, `localhost.` and `[::ffff:127.0.0.1]`
/// are all loopback, whatever a `NO_PROXY` matcher makes of their spelling.
pub(crate) fn always_direct(host: &str) -> bool {
    let h = host.trim();
    let h = h
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h);
    // A fully qualified name's final dot names the same host.
    let h = h.strip_suffix('.').unwrap_or(h).to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    // An IPv6 zone (`fe80::1%eth0`) does not change the address.
    let v6 = h.split('%').next().unwrap_or(&h);
    if let Ok(a) = v6.parse::<std::net::Ipv6Addr>() {
        return direct_ip(a.into());
    }
    inet_aton(&h).is_some_and(|a| direct_ip(a.into()))
}

/// Loopback, "this host" (`0.0.0.0/8`, `::`), link-local, and the IPv6 addresses of the EC2
/// instance metadata service and the EKS Pod Identity agent; an IPv4-mapped or -compatible IPv6
/// address by its IPv4 address.
fn direct_ip(ip: std::net::IpAddr) -> bool {
    use std::net::{IpAddr, Ipv6Addr};
    const METADATA_V6: [Ipv6Addr; 2] = [
        Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254),
        Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23),
    ];
    match ip {
        IpAddr::V4(a) => a.is_loopback() || a.is_link_local() || a.octets()[0] == 0,
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4() {
                return direct_ip(v4.into());
            }
            a.is_loopback()
                || a.is_unspecified()
                || (a.segments()[0] & 0xffc0) == 0xfe80
                || METADATA_V6.contains(&a)
        }
    }
}

/// An IPv4 address as `inet_aton` (and so glibc's and musl's resolvers) reads it: one to four
/// parts, each decimal, octal (leading `0`) or hex (`0x`), the last filling the remaining bytes.
fn inet_aton(s: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(4);
    for p in &parts {
        let (digits, radix) = if let Some(h) = p.strip_prefix("0x") {
            (h, 16)
        } else if p.len() > 1 && p.starts_with('0') {
            (&p[1..], 8)
        } else {
            (*p, 10)
        };
        if digits.is_empty() && radix != 16 {
            return None;
        }
        let v = if digits.is_empty() {
            0
        } else {
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u32::from_str_radix(digits, radix).ok()?
        };
        values.push(v);
    }
    let (last, head) = values.split_last()?;
    if head.iter().any(|v| *v > 0xff) {
        return None;
    }
    let room = 8 * (4 - head.len() as u32);
    if room < 32 && *last >> room != 0 {
        return None;
    }
    let mut addr = 0u32;
    for (i, v) in head.iter().enumerate() {
        addr |= v << (24 - 8 * i as u32);
    }
    Some(std::net::Ipv4Addr::from(addr | last))
}

/// The variable the settings found set, as a proxy setting.
fn named(set: Option<(&'static str, &str)>) -> Option<Named> {
    set.map(|(var, v)| Named {
        var,
        url: SecretString::from(v.trim().to_string()),
    })
}

/// A bare `host:port` means `http://host:port`, as curl and Go read it.
fn with_scheme(n: Named) -> Named {
    if n.url.expose_secret().contains("://") {
        return n;
    }
    Named {
        var: n.var,
        url: SecretString::from(format!("http://{}", n.url.expose_secret())),
    }
}

/// Only `http://` and `https://` proxies (with optional `user:password@`).
fn check_url(n: &Named) -> Result<()> {
    let raw = n.url.expose_secret();
    let bad = || {
        Error::setting(
            n.var,
            SettingReason::Says(
                "is not a usable proxy URL: expected http://[user:password@]host:port or https://…"
                    .into(),
            ),
        )
    };
    let lower = raw.to_ascii_lowercase();
    if lower.starts_with("socks") {
        return Err(Error::setting(
            n.var,
            SettingReason::Says(
                "names a SOCKS proxy: only http:// and https:// proxies are supported".into(),
            ),
        ));
    }
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(bad());
    }
    let uri = raw.parse::<http::Uri>().map_err(|_| bad())?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad());
    }
    ureq::Proxy::new(raw).map_err(|_| bad())?;
    ProxyConfig::all(raw).map_err(|_| bad())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    fn proxies(pairs: &[(&str, &str)]) -> Proxies {
        Proxies::from_settings(&Settings::new(&Env::from_pairs(pairs.iter().copied()))).unwrap()
    }

    fn via(p: &Proxies, url: &str) -> Option<&'static str> {
        p.route(url).proxy.map(|n| n.var)
    }

    #[test]
    fn unset_means_direct_for_everything() {
        let p = proxies(&[]);
        assert!(!p.any());
        assert_eq!(via(&p, "https://oauth2.googleapis.com/token"), None);
        assert!(p.smithy(true).is_disabled());
    }

    #[test]
    fn each_scheme_takes_its_own_variable_then_all_proxy() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://secure.proxy:3128"),
            ("ALL_PROXY", "http://all.proxy:8080"),
        ]);
        assert_eq!(
            via(&p, "https://api.ecr.us-east-1.amazonaws.com/"),
            Some("HTTPS_PROXY")
        );
        assert_eq!(
            via(&p, "http://registry.internal:5000/v2/"),
            Some("ALL_PROXY")
        );
        let p = proxies(&[("http_proxy", "proxy:3128")]);
        assert_eq!(via(&p, "http://r.example/v2/"), Some("http_proxy"));
        assert_eq!(via(&p, "https://r.example/v2/"), None);
        // The upper-case name wins, as in curl.
        let p = proxies(&[("HTTPS_PROXY", "http://a:1"), ("https_proxy", "http://b:2")]);
        assert_eq!(via(&p, "https://r.example/"), Some("HTTPS_PROXY"));
    }

    #[test]
    fn no_proxy_follows_curl_and_local_destinations_are_always_direct() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("HTTP_PROXY", "http://proxy.corp:3128"),
            ("NO_PROXY", "internal.example, .corp.example,10.0.0.0/8"),
        ]);
        for direct in [
            "https://internal.example/v2/",
            "https://registry.internal.example/v2/",
            "https://a.corp.example/",
            "http://10.1.2.3:5000/v2/",
            "http://127.0.0.1:5000/v2/",
            "http://localhost:5000/v2/",
            "http://[::1]:5000/v2/",
            "http://169.254.169.254/latest/api/token",
            "http://169.254.170.2/v2/credentials",
            "http://[fd00:ec2::254]/latest/api/token",
        ] {
            assert_eq!(via(&p, direct), None, "{direct}");
        }
        for proxied in [
            "https://notinternal.example/",
            "https://oauth2.googleapis.com/token",
            "http://11.0.0.1/",
        ] {
            assert!(via(&p, proxied).is_some(), "{proxied}");
        }
        let all = proxies(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "*")]);
        assert_eq!(via(&all, "https://oauth2.googleapis.com/token"), None);
    }

    #[test]
    fn every_spelling_of_this_machine_is_always_direct() {
        let p = proxies(&[
            ("HTTPS_PROXY", "http://proxy.corp:3128"),
            ("HTTP_PROXY", "http://proxy.corp:3128"),
        ]);
        for direct in [
            "http://127.1:5000/v2/",
            "http://127.0.1/",
            "http://0x7f.1/",
            "http://0X7F.0.0.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://0/",
            "http://localhost./",
            "http://LocalHost/",
            "http://a.localhost./",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[::]/",
            "http://[0:0:0:0:0:0:0:1]/",
            "http://[fe80::1]/",
            "http://169.254.169.254./latest/api/token",
            "http://0xa9.0xfe.0xa9.0xfe/latest/api/token",
            "http://2852039166/latest/api/token",
            "http://[::ffff:169.254.169.254]/latest/api/token",
            "http://[FD00:EC2::254]/latest/api/token",
        ] {
            assert_eq!(via(&p, direct), None, "{direct}");
        }
        for proxied in [
            "https://127.0.0.1.nip.example/",
            "https://10.1/",
            "https://0x7f.example/",
            "https://notlocalhost/",
            "https://[::ffff:8.8.8.8]/",
            "https://256.0.0.1/",
            "https://127.256.1/",
            "https://08.0.0.1/",
        ] {
            assert!(via(&p, proxied).is_some(), "{proxied}");
        }
        assert_eq!(inet_aton("127.1"), Some(std::net::Ipv4Addr::LOCALHOST));
        assert_eq!(inet_aton("1.2.65535"), Some([1, 2, 255, 255].into()));
        assert_eq!(inet_aton("1.2.65536"), None);
        assert_eq!(inet_aton("4294967296"), None);
        assert_eq!(inet_aton(""), None);
        assert_eq!(inet_aton("1..2"), None);
    }

    #[test]
    fn unusable_urls_are_named_by_variable_never_echoed() {
        for (value, words) in [
            ("socks5://user:hunter2@p:1080", "SOCKS"),
            ("ftp://user:hunter2@p:21", "not a usable proxy URL"),
            ("http://user:hunter2@", "not a usable proxy URL"),
            ("http://user:hunter2@ bad host", "not a usable proxy URL"),
        ] {
            let err =
                Proxies::from_settings(&Settings::new(&Env::from_pairs([("HTTPS_PROXY", value)])))
                    .unwrap_err()
                    .to_string();
            assert!(err.contains("HTTPS_PROXY") && err.contains(words), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn descriptions_and_debug_never_show_user_info() {
        let p = proxies(&[("HTTPS_PROXY", "http://me:hunter2@proxy.corp:3128")]);
        let d = p.route("https://r.example/").describe().unwrap();
        assert_eq!(d, "through the proxy in HTTPS_PROXY (proxy.corp:3128)");
        assert!(!format!("{p:?}").contains("hunter2"));
        assert!(!p.smithy(true).is_disabled());
        assert!(p.smithy(false).is_disabled());
    }
}
