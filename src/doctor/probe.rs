//! The registry side of `doctor`: the requests a client makes to pull, over blocking `ureq`
//! (docs/clients.md, "Registry v2 pull authentication"): `GET /v2/` for the challenge, the token
//! endpoint for a Bearer challenge, `HEAD` of the manifest. Each request gets what is left of one
//! time budget. Bodies are never shown; of a token reply only the token is kept (zeroized).

use crate::http;
use crate::net::proxy::Proxies;
use crate::net::url::Url;
use crate::net::NetError;
use crate::timeout::Deadline;
use secrecy::SecretString;
use std::time::Duration;
use zeroize::Zeroizing;

/// A token reply or an error body is small; anything larger is not one.
const BODY_LIMIT: u64 = 256 * 1024;
/// What a pulling client accepts for a manifest (docker 28 and containers/image send these).
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Https,
    Http,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Https => "https",
            Scheme::Http => "http",
        }
    }
}

impl NetError {
    pub(crate) fn describe(&self, budget: Duration) -> String {
        match self {
            NetError::Connect(why) | NetError::Tls(why) | NetError::Other(why) => why.clone(),
            NetError::Certificate(p) => p.describe(),
            NetError::Timeout => format!(
                "no answer within {} s (BETA9_TIMEOUT)",
                crate::duration::secs(budget)
            ),
            NetError::ProxyAuth => format!(
                "the proxy refused its credentials {}",
                crate::net::PROXY_AUTH_REFUSED
            ),
        }
    }
}

/// An answer: status, the headers doctor looks at, and the body (zeroized: a token reply).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) challenges: Vec<Challenge>,
    pub(crate) digest: Option<String>,
    pub(crate) content_type: Option<String>,
    /// Docker Hub's pull allowance, when the registry reports one (docs/clients.md, "Pull rate
    /// limits").
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) body: Zeroizing<Vec<u8>>,
}

/// `ratelimit-limit: 100;w=21600` and `ratelimit-remaining: 76;w=21600`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimit {
    pub(crate) limit: u64,
    pub(crate) remaining: u64,
    /// The window in seconds (`w=`), when given.
    pub(crate) window: Option<u64>,
}

impl RateLimit {
    pub(crate) fn parse(limit: &str, remaining: &str) -> Option<RateLimit> {
        // `<count>[;w=<seconds>][;...]`
        fn count(v: &str) -> Option<(u64, Option<u64>)> {
            let mut parts = v.split(';').map(str::trim);
            let n = parts.next()?.parse().ok()?;
            let w = parts
                .filter_map(|p| p.strip_prefix("w="))
                .find_map(|w| w.parse().ok());
            Some((n, w))
        }
        let (limit, w1) = count(limit)?;
        let (remaining, w2) = count(remaining)?;
        Some(RateLimit {
            limit,
            remaining,
            window: w2.or(w1),
        })
    }
}

/// The HTTP side of one doctor run: one deadline, the proxies a client on this machine would use.
pub(crate) struct Client {
    deadline: Deadline,
    proxies: Proxies,
    /// Trust anchors beside the system's: the registry's `certs.d` CAs (src/doctor/trust.rs).
    roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// For a record from outside this machine: every request's host checked first, and
    /// connected to at the addresses checked (src/net/addr.rs).
    guard: Option<std::sync::Arc<crate::net::addr::Guard>>,
}

pub(crate) enum Method<'a> {
    Get,
    Head,
    /// POST an `application/x-www-form-urlencoded` body.
    Form(&'a [u8]),
}

impl Client {
    pub(crate) fn new(budget: Duration, proxies: Proxies) -> Client {
        Client {
            deadline: Deadline::start(budget),
            proxies,
            roots: Vec::new(),
            guard: None,
        }
    }

    /// The same client, each request checked by `guard` before it is sent.
    pub(crate) fn with_guard(
        mut self,
        guard: Option<std::sync::Arc<crate::net::addr::Guard>>,
    ) -> Client {
        self.guard = guard;
        self
    }

    /// The same client (same deadline) trusting `roots` beside the system's CA store.
    pub(crate) fn with_roots(
        mut self,
        roots: Vec<rustls_pki_types::CertificateDer<'static>>,
    ) -> Client {
        self.roots = roots;
        self
    }

    /// `GET url` (no credential) trusting `roots` beside the system's instead of this client's:
    /// whether a client with only those anchors gets an answer.
    pub(crate) fn ping_trusting(
        &self,
        url: &str,
        roots: &[rustls_pki_types::CertificateDer<'static>],
    ) -> Result<u16, NetError> {
        self.send(roots, Method::Get, url, None, None)
            .map(|a| a.status)
    }

    /// `through the proxy in HTTPS_PROXY (host:port)` when a request to `url` goes through one.
    pub(crate) fn via(&self, url: &str) -> Option<String> {
        self.proxies.route(url).describe()
    }

    pub(crate) fn budget(&self) -> Duration {
        self.deadline.budget
    }

    /// One request; any status is an answer. `auth` is an `Authorization` value.
    pub(crate) fn request(
        &self,
        method: Method,
        url: &str,
        auth: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Answer, NetError> {
        self.send(&self.roots, method, url, auth, accept)
    }

    fn send(
        &self,
        roots: &[rustls_pki_types::CertificateDer<'static>],
        method: Method,
        url: &str,
        auth: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Answer, NetError> {
        let mut headers = Vec::with_capacity(3);
        let method = match method {
            Method::Get => http::Method::Get,
            Method::Head => http::Method::Head,
            Method::Form(body) => {
                headers.push(("Content-Type", "application/x-www-form-urlencoded"));
                http::Method::Post(body)
            }
        };
        if let Some(a) = auth.filter(|_| !matches!(method, http::Method::Post(_))) {
            headers.push(("Authorization", a));
        }
        if let Some(a) = accept {
            headers.push(("Accept", a));
        }
        let request = http::Request {
            method,
            url,
            headers: &headers,
            body_limit: BODY_LIMIT,
        };
        // The rules (no redirect: it could carry the login to a host the challenge did not name;
        // the proxy src/net/proxy.rs chose, as docker, podman and skopeo would use it) live in
        // src/http.rs.
        let route = http::Route {
            deadline: self.deadline,
            connect: None,
            proxy: self.proxies.route(url).ureq(),
            roots,
            agent_suffix: " doctor",
        };
        // A refused host gets no request at all; the guard keeps why.
        let pin = match &self.guard {
            Some(g) => Some(
                g.admit_url(url)
                    .map_err(|d| NetError::Other(format!("not sent to {}", d.describe())))?,
            ),
            None => None,
        };
        let response = http::exchange_pinned(&request, route, pin)?;
        let header = |name: &str| {
            response
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let challenges = response
            .headers
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let digest = header("docker-content-digest");
        let content_type = header("content-type");
        let rate_limit = header("ratelimit-limit")
            .zip(header("ratelimit-remaining"))
            .and_then(|(l, r)| RateLimit::parse(&l, &r));
        Ok(Answer {
            status: response.status,
            challenges,
            digest,
            content_type,
            rate_limit,
            body: response.body,
        })
    }
}

/// One `WWW-Authenticate` challenge: the scheme (lower case) and its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) scheme: String,
    pub(crate) params: Vec<(String, String)>,
}

impl Challenge {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a `WWW-Authenticate` value (RFC 7235 §4.1: one or more challenges, each a scheme and
/// comma-separated `name=value` parameters, values as tokens or quoted strings).
pub(crate) fn parse_challenges(value: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let s = value.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < s.len() && (s[*i] == b' ' || s[*i] == b'\t' || s[*i] == b',') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> String {
        let start = *i;
        while *i < s.len() && !matches!(s[*i], b' ' | b'\t' | b',' | b'=' | b'"') {
            *i += 1;
        }
        String::from_utf8_lossy(&s[start..*i]).into_owned()
    };
    loop {
        skip_ws(&mut i);
        if i >= s.len() {
            break;
        }
        let word = token(&mut i);
        if word.is_empty() {
            i += 1;
            continue;
        }
        // `name=` continues the current challenge; a bare word starts a new one.
        let mut j = i;
        while j < s.len() && (s[j] == b' ' || s[j] == b'\t') {
            j += 1;
        }
        if j < s.len() && s[j] == b'=' && !out.is_empty() {
            i = j + 1;
            while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
                i += 1;
            }
            let v = if i < s.len() && s[i] == b'"' {
                i += 1;
                let mut v = Vec::new();
                while i < s.len() && s[i] != b'"' {
                    if s[i] == b'\\' && i + 1 < s.len() {
                        i += 1;
                    }
                    v.push(s[i]);
                    i += 1;
                }
                i += 1;
                String::from_utf8_lossy(&v).into_owned()
            } else {
                token(&mut i)
            };
            if let Some(c) = out.last_mut() {
                c.params.push((word.to_ascii_lowercase(), v));
            }
        } else {
            out.push(Challenge {
                scheme: word.to_ascii_lowercase(),
                params: Vec::new(),
            });
        }
    }
    out
}

/// What a message may say about a URL: scheme, host, port and path, never user info or query.
pub(crate) fn shown_url(url: &str) -> String {
    let Some(u) = Url::parse(url) else {
        return "a URL that does not parse".into();
    };
    let path = url
        .split_once("://")
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.find('/').map(|p| &rest[p..]))
        .unwrap_or("")
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    format!("{}://{u}{path}", u.scheme)
}

/// RFC 3986's unreserved characters: everything else in a query value is percent-encoded.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `application/x-www-form-urlencoded` / query encoding of one value (RFC 3986 unreserved kept).
pub(crate) fn encode(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, UNRESERVED).to_string()
}

/// A token endpoint reply: `token` (docker's spec) or `access_token` (OAuth 2); `expires_in`.
pub(crate) struct Token {
    pub(crate) token: SecretString,
    pub(crate) expires_in: Option<u64>,
}

pub(crate) fn token_reply(body: &[u8]) -> Option<Token> {
    #[derive(serde::Deserialize)]
    struct Reply {
        #[serde(default)]
        token: Option<SecretString>,
        #[serde(default)]
        access_token: Option<SecretString>,
        #[serde(default)]
        expires_in: Option<f64>,
    }
    use secrecy::ExposeSecret;
    let r: Reply = serde_json::from_slice(body).ok()?;
    let token = r
        .token
        .filter(|t| !t.expose_secret().is_empty())
        .or(r.access_token.filter(|t| !t.expose_secret().is_empty()))?;
    Some(Token {
        token,
        expires_in: r.expires_in.filter(|e| *e >= 0.0).map(|e| e as u64),
    })
}

/// The first `errors[].code` of a registry error body (`UNAUTHORIZED`, `DENIED`,
/// `MANIFEST_UNKNOWN`): a fixed vocabulary, safe to show.
pub(crate) fn error_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<Code>,
    }
    #[derive(serde::Deserialize)]
    struct Code {
        code: String,
    }
    let e: Errors = serde_json::from_slice(body).ok()?;
    let code = e.errors.into_iter().next()?.code;
    code.bytes()
        .all(|b| b.is_ascii_uppercase() || b == b'_')
        .then_some(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn docker_hubs_rate_limit_headers() {
        use super::RateLimit;
        assert_eq!(
            RateLimit::parse("100;w=21600", "76;w=21600"),
            Some(RateLimit {
                limit: 100,
                remaining: 76,
                window: Some(21600)
            })
        );
        assert_eq!(
            RateLimit::parse("200", "0").map(|r| (r.remaining, r.window)),
            Some((0, None))
        );
        assert_eq!(RateLimit::parse("many", "0;w=1"), None);
    }

    use super::*;

    #[test]
    fn challenges_basic_bearer_and_several_in_one_header() {
        let c = parse_challenges(r#"Basic realm="beta9-test-realm""#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "basic");
        assert_eq!(c[0].param("realm"), Some("beta9-test-realm"));
        let c = parse_challenges(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("service"), Some("registry.docker.io"));
        assert_eq!(c[0].param("scope"), Some("repository:library/nginx:pull"));
        let c = parse_challenges(r#"Basic realm="a, b", Bearer realm=x, error="invalid_token""#);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].param("realm"), Some("a, b"));
        assert_eq!(c[1].param("realm"), Some("x"));
        assert_eq!(c[1].param("error"), Some("invalid_token"));
        assert!(parse_challenges("").is_empty());
    }

    #[test]
    fn urls_are_shown_without_user_info_or_query() {
        assert_eq!(
            shown_url("https://u:CANARY@auth.example:8443/token?x=CANARY"),
            "https://auth.example:8443/token"
        );
        assert_eq!(shown_url("http://127.0.0.1:5/"), "http://127.0.0.1:5/");
        assert_eq!(encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
        assert_eq!(encode("A-z0.9_~ +&=é"), "A-z0.9_~%20%2B%26%3D%C3%A9");
    }

    #[test]
    fn token_replies_and_error_codes() {
        let t = token_reply(br#"{"token":"t1","expires_in":300}"#).unwrap();
        assert_eq!(t.expires_in, Some(300));
        assert!(token_reply(br#"{"access_token":"t2"}"#).is_some());
        assert!(token_reply(br#"{"token":""}"#).is_none());
        assert!(token_reply(b"<html>").is_none());
        assert_eq!(
            error_code(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"x"}]}"#).as_deref(),
            Some("MANIFEST_UNKNOWN")
        );
        assert_eq!(error_code(br#"{"errors":[{"code":"evil\u001b"}]}"#), None);
    }

    /// The rules of src/http.rs hold for doctor: a 302 is an answer (the login is never sent to
    /// its target), the proxy the environment names carries the request, the budget ends a silent
    /// registry.
    #[test]
    fn doctor_follows_no_redirect_uses_its_proxy_and_its_budget() {
        use crate::http::loopback::Server;
        use crate::net::proxy::Proxies;
        let target = Server::ok("{}");
        let origin = Server::redirecting(&format!("{}v2/", target.url()));
        let client = Client::new(Duration::from_secs(5), Proxies::direct());
        let r = client.request(Method::Get, &origin.url(), Some("Basic CANARY"), None);
        assert_eq!(r.map(|a| a.status).ok(), Some(302));
        assert_eq!((origin.hits(), target.hits()), (1, 0));

        let proxy = Server::ok("{}");
        let env = crate::env::Env::from_pairs([("HTTP_PROXY", proxy.url().as_str())]);
        let client = Client::new(
            Duration::from_secs(5),
            Proxies::from_settings(&crate::settings::Settings::new(&env)).unwrap(),
        );
        let r = client.request(Method::Head, "http://registry.invalid/v2/", None, None);
        assert_eq!(r.map(|a| a.status).ok(), Some(200));
        assert_eq!(
            proxy.lines(),
            ["CONNECT registry.invalid:80 HTTP/1.1", "HEAD /v2/ HTTP/1.1"]
        );

        let silent = Server::start(None);
        let t0 = std::time::Instant::now();
        let client = Client::new(Duration::from_millis(300), Proxies::direct());
        let r = client.request(Method::Get, &silent.url(), None, None);
        assert_eq!(r.err(), Some(NetError::Timeout));
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    }
}
