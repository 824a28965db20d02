//! The one URL-authority parser: what the helper needs of an absolute URL (an endpoint override, a
//! service-account key's `token_uri`) is its scheme, host and port, to check it and to name it in
//! messages without its user info or path. Parsing is the `http` crate's (already compiled in for
//! the AWS SDK and ureq).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Url {
    /// Lower case.
    pub scheme: String,
    /// Lower case; IPv6 literals without brackets.
    pub host: String,
    pub port: Option<u16>,
    /// `user[:password]@` was present (never kept, never printed).
    pub has_userinfo: bool,
}

impl Url {
    /// An absolute `scheme://authority[/...]` URL; `None` for anything else.
    pub(crate) fn parse(s: &str) -> Option<Url> {
        let uri: http::Uri = s.trim().parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let authority = uri.authority()?;
        // The host part as written: a bracketed IPv6 literal and nothing else, or a plain name.
        let written = authority.as_str().rsplit('@').next().unwrap_or_default();
        let host = match written.strip_prefix('[') {
            Some(rest) => {
                let (literal, after) = rest.split_once(']')?;
                if !(after.is_empty() || after.starts_with(':')) {
                    return None;
                }
                literal.parse::<std::net::Ipv6Addr>().ok()?;
                literal.to_ascii_lowercase()
            }
            None => {
                let name = authority.host();
                let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
                if name.is_empty() || !name.bytes().all(plain) {
                    return None;
                }
                name.to_ascii_lowercase()
            }
        };
        Some(Url {
            scheme,
            host,
            port: authority.port_u16(),
            has_userinfo: authority.as_str().contains('@'),
        })
    }

    /// `localhost`, `127.0.0.0/8` or `::1`: traffic that never leaves the machine.
    pub(crate) fn is_loopback(&self) -> bool {
        if self.host == "localhost" {
            return true;
        }
        self.host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for Url {
    /// `host[:port]`, IPv6 in brackets: what a message may say about the URL.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_without_user_info_or_path() {
        let u = Url::parse("https://user:CANARY@API.Example:8443/x?y#z").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.host.as_str()),
            ("https", "api.example")
        );
        assert_eq!(u.port, Some(8443));
        assert!(u.has_userinfo);
        assert_eq!(u.to_string(), "api.example:8443");
        assert!(!u.to_string().contains("CANARY"));
        let v6 = Url::parse("http://[::1]:5000/token").unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), "[::1]:5000");
        assert!(v6.is_loopback());
        assert!(Url::parse("http://127.0.0.7/").unwrap().is_loopback());
        assert!(Url::parse("http://localhost:1").unwrap().is_loopback());
        assert!(!Url::parse("http://127.0.0.1.evil.example/")
            .unwrap()
            .is_loopback());
        for bad in [
            "",
            "ghcr.io",
            "/path",
            "https://",
            "not a url",
            "http://a b/",
        ] {
            assert!(Url::parse(bad).is_none(), "{bad}");
        }
    }
}
