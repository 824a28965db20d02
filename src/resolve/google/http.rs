//! The two HTTP exchanges of Google token minting (the OAuth token endpoint, the metadata server)
//! over blocking `ureq`: no async runtime for a process that makes one call. Each exchange fits in
//! one time budget, with at most one retry, only after a connection failure or a 5xx; errors are
//! classified into the cause classes of docs/records.md ("Not found versus error") and never quote a body, a token or an
//! assertion (an OAuth `error` code such as `invalid_grant` is the most that is shown).

use crate::error::Error;
use crate::http;
use crate::net::NetError;
use crate::timeout::Deadline;
use secrecy::SecretString;
use serde::Deserialize;
use std::time::Duration;
use zeroize::Zeroizing;

/// A token endpoint reply is a few hundred bytes; anything far larger is not one.
const BODY_LIMIT: u64 = 64 * 1024;
/// Pause before the one retry.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// A retry is only worth it with at least this much budget left.
const RETRY_MIN: Duration = Duration::from_millis(500);

/// Who we are talking to, for messages: never a full URL (it could carry a query).
pub(crate) struct Peer<'a> {
    /// The registry the `get` was for: every error line starts with it.
    pub(crate) registry: &'a str,
    /// `token endpoint` or `metadata server`.
    pub(crate) what: &'static str,
    /// `host[:port]`.
    pub(crate) host: String,
    /// `through the proxy in HTTPS_PROXY (host:port)` when the exchange goes through one.
    pub(crate) via: Option<String>,
    /// What a refusal (400/401/403) most likely means for this peer, appended to its line.
    pub(crate) hint: &'static str,
}

impl<'a> Peer<'a> {
    /// The peer at `url` (named by its authority only), reached by `route`.
    pub(crate) fn at(
        registry: &'a str,
        what: &'static str,
        url: &str,
        route: &crate::net::proxy::Route,
        hint: &'static str,
    ) -> Peer<'a> {
        Peer {
            registry,
            what,
            host: crate::net::url::Url::parse(url).map_or_else(String::new, |u| u.to_string()),
            via: route.describe(),
            hint,
        }
    }
}

/// The request to send; the same one again on the retry.
pub(crate) enum Request<'a> {
    /// POST an `application/x-www-form-urlencoded` body.
    Form { url: &'a str, body: &'a [u8] },
    /// GET with extra headers.
    Get {
        url: &'a str,
        headers: &'a [(&'a str, &'a str)],
    },
    /// POST a JSON body with a bearer token.
    Json {
        url: &'a str,
        bearer: &'a str,
        body: &'a [u8],
    },
}

/// What `application/x-www-form-urlencoded` leaves as it is (WHATWG URL, "urlencoded
/// serializer"); spaces are encoded as `%20`, which every decoder reads.
const FORM: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Appends `&name=value` (no `&` first) to a form body, the value form-encoded (it may hold
/// `/`, `+`, `=`).
pub(crate) fn form_field(body: &mut Vec<u8>, name: &str, value: &str) {
    if !body.is_empty() {
        body.push(b'&');
    }
    body.extend_from_slice(name.as_bytes());
    body.push(b'=');
    for part in percent_encoding::utf8_percent_encode(value, FORM) {
        body.extend_from_slice(part.as_bytes());
    }
}

/// What an answered exchange gave: the status and the body (zeroized on drop: it holds a token).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Zeroizing<Vec<u8>>,
}

/// One exchange within `deadline`, `connect` bounding each connection attempt; through `proxy`
/// when one is given (src/net/proxy.rs decides).
pub(crate) fn exchange(
    peer: &Peer,
    req: &Request,
    deadline: Deadline,
    connect: Duration,
    proxy: Option<ureq::Proxy>,
) -> Result<Reply, Error> {
    let mut retried = false;
    loop {
        let outcome = attempt(req, deadline, connect, proxy.clone());
        let retryable = match &outcome {
            Ok(r) => r.status >= 500,
            Err(NetError::Connect(_)) => true,
            Err(_) => false,
        };
        if retryable && !retried && deadline.remaining() > RETRY_MIN + RETRY_PAUSE {
            tracing::debug!(host = %peer.host, "retrying once");
            retried = true;
            std::thread::sleep(RETRY_PAUSE);
            continue;
        }
        return outcome.map_err(|f| unreachable(peer, deadline, f));
    }
}

fn attempt(
    req: &Request,
    deadline: Deadline,
    connect: Duration,
    proxy: Option<ureq::Proxy>,
) -> Result<Reply, NetError> {
    let bearer;
    let (method, url, headers): (_, _, Vec<(&str, &str)>) = match req {
        Request::Form { url, body } => (
            http::Method::Post(body),
            *url,
            vec![
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Accept", "application/json"),
            ],
        ),
        Request::Get { url, headers } => (http::Method::Get, *url, headers.to_vec()),
        Request::Json {
            url,
            bearer: b,
            body,
        } => {
            bearer = Zeroizing::new(format!("Bearer {b}"));
            (
                http::Method::Post(body),
                *url,
                vec![
                    ("Content-Type", "application/json"),
                    ("Accept", "application/json"),
                    ("Authorization", bearer.as_str()),
                ],
            )
        }
    };
    let request = http::Request {
        method,
        url,
        headers: &headers,
        body_limit: BODY_LIMIT,
    };
    // The rules (no redirect: it would carry the assertion somewhere the key did not name; only
    // the proxy src/net/proxy.rs chose, never one for the metadata server) live in src/http.rs.
    let route = http::Route {
        deadline,
        connect: Some(connect),
        proxy,
        roots: &[],
        agent_suffix: "",
    };
    let response = http::exchange(&request, route)?;
    Ok(Reply {
        status: response.status,
        body: response.body,
    })
}

fn unreachable(peer: &Peer, deadline: Deadline, f: NetError) -> Error {
    let via = peer
        .via
        .as_deref()
        .map_or_else(String::new, |v| format!(" {v}"));
    let detail = match f {
        NetError::ProxyAuth => {
            return Error::Rejected {
                registry: peer.registry.to_string(),
                detail: format!(
                    "the proxy refused its credentials for the {} {}{via} {}",
                    peer.what,
                    peer.host,
                    crate::net::PROXY_AUTH_REFUSED
                ),
            }
        }
        NetError::Connect(why) | NetError::Tls(why) | NetError::Other(why) => {
            format!("{} {}{via}: {why}", peer.what, peer.host)
        }
        NetError::Certificate(p) => {
            format!("{} {}{via}: {}", peer.what, peer.host, p.describe())
        }
        NetError::Timeout => {
            return Error::timeout(
                peer.registry.to_string(),
                &format!("the {} {}{via}", peer.what, peer.host),
                deadline.budget,
            )
        }
    };
    Error::Unreachable {
        registry: peer.registry.to_string(),
        detail,
    }
}

/// A successful `{"access_token","expires_in","token_type"}` reply (token endpoint and metadata
/// server alike).
pub(crate) struct AccessToken {
    pub(crate) token: SecretString,
    /// Seconds from now; `None` when the reply has none.
    pub(crate) expires_in: Option<u64>,
}

/// Turns a reply into a token or a classified error.
pub(crate) fn access_token(peer: &Peer, reply: &Reply) -> Result<AccessToken, Error> {
    #[derive(Deserialize)]
    struct Ok {
        #[serde(default)]
        access_token: Option<SecretString>,
        #[serde(default)]
        expires_in: Option<f64>,
    }
    let registry = peer.registry.to_string();
    match reply.status {
        200 => {
            let parsed: Option<Ok> = serde_json::from_slice(&reply.body).ok();
            let Some(Ok {
                access_token: Some(token),
                expires_in,
            }) = parsed
            else {
                return Err(Error::Unreachable {
                    registry,
                    detail: format!("{} {}: the reply has no access_token", peer.what, peer.host),
                });
            };
            let expires_in = expires_in
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(|s| s as u64);
            Ok(AccessToken { token, expires_in })
        }
        429 => Err(Error::Throttled {
            registry,
            detail: format!(
                "{} {}: HTTP 429, too many token requests; retry later",
                peer.what, peer.host
            ),
        }),
        400 | 401 | 403 => Err(Error::Rejected {
            registry,
            detail: format!(
                "{} {}: {}{}",
                peer.what,
                peer.host,
                oauth_error(&reply.body).unwrap_or_else(|| format!("HTTP {}", reply.status)),
                hint(peer, reply.status)
            ),
        }),
        s if s >= 500 => Err(Error::Unreachable {
            registry,
            detail: format!("{} {}: HTTP {s}", peer.what, peer.host),
        }),
        s => Err(Error::Rejected {
            registry,
            detail: format!("{} {}: HTTP {s}", peer.what, peer.host),
        }),
    }
}

fn hint(peer: &Peer, status: u16) -> &'static str {
    match (peer.what, status) {
        (METADATA_SERVER, 403) => "; the metadata server wants the Metadata-Flavor header",
        _ => peer.hint,
    }
}

pub(crate) const TOKEN_ENDPOINT: &str = "token endpoint";
pub(crate) const METADATA_SERVER: &str = "metadata server";
/// Workload identity federation's three peers.
pub(crate) const SUBJECT_SOURCE: &str = "subject token source";
pub(crate) const STS: &str = "Google STS";
pub(crate) const IAM_CREDENTIALS: &str = "IAM Credentials";

/// The OAuth `error` code of a refusal (RFC 6749 §5.2), shown only when it is a plain short word:
/// `error_description` and anything else in the body may quote input, so they are never shown.
fn oauth_error(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Refusal {
        error: Option<String>,
    }
    let code = serde_json::from_slice::<Refusal>(body).ok()?.error?;
    let plain = !code.is_empty()
        && code.len() <= 40
        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    plain.then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Peer<'static> {
        Peer {
            registry: "us-docker.pkg.dev",
            what: TOKEN_ENDPOINT,
            host: "oauth2.googleapis.com".into(),
            via: None,
            hint: "; what it most likely means",
        }
    }

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: Zeroizing::new(body.as_bytes().to_vec()),
        }
    }

    #[test]
    fn refusals_show_the_oauth_code_only() {
        let e = access_token(
            &peer(),
            &reply(
                400,
                r#"{"error":"invalid_grant","error_description":"CANARY"}"#,
            ),
        )
        .err()
        .map(|e| e.protocol_message())
        .unwrap_or_default();
        assert!(e.starts_with("us-docker.pkg.dev: access denied:"), "{e}");
        assert!(
            e.contains(": invalid_grant;") && !e.contains("CANARY"),
            "{e}"
        );
        let e = access_token(&peer(), &reply(401, r#"{"error":"CANARY value"}"#))
            .err()
            .map(|e| e.protocol_message())
            .unwrap_or_default();
        assert!(e.contains("HTTP 401") && !e.contains("CANARY"), "{e}");
    }

    #[test]
    fn statuses_map_to_cause_classes() {
        let class = |s: u16| match access_token(&peer(), &reply(s, "CANARY")) {
            Err(Error::Throttled { .. }) => "throttled",
            Err(Error::Rejected { .. }) => "rejected",
            Err(Error::Unreachable { .. }) => "unreachable",
            Err(_) => "other",
            Ok(_) => "ok",
        };
        assert_eq!(class(429), "throttled");
        assert_eq!(class(403), "rejected");
        assert_eq!(class(503), "unreachable");
        assert_eq!(class(200), "unreachable");
        let ok = access_token(
            &peer(),
            &reply(
                200,
                r#"{"access_token":"t","expires_in":3599,"token_type":"Bearer"}"#,
            ),
        );
        assert!(matches!(
            ok,
            Ok(AccessToken {
                expires_in: Some(3599),
                ..
            })
        ));
    }

    /// The rules of src/http.rs hold for token minting: a 302 is an answer (the target is never
    /// asked), the proxy given carries the request, the deadline ends a silent peer.
    #[test]
    fn minting_follows_no_redirect_uses_its_proxy_and_its_deadline() {
        use crate::http::loopback::Server;
        let get = |url: &str, budget: Duration, proxy: Option<ureq::Proxy>| {
            exchange(
                &peer(),
                &Request::Get {
                    url,
                    headers: &[("Metadata-Flavor", "Google")],
                },
                Deadline::start(budget),
                budget,
                proxy,
            )
        };
        let target = Server::ok(r#"{"access_token":"CANARY"}"#);
        let origin = Server::redirecting(&format!("{}token", target.url()));
        let r = get(&origin.url(), Duration::from_secs(5), None);
        assert_eq!(r.map(|r| r.status).ok(), Some(302));
        assert_eq!((origin.hits(), target.hits()), (1, 0));

        let proxy = Server::ok(r#"{"access_token":"t"}"#);
        let r = get(
            "http://metadata.invalid/token",
            Duration::from_secs(5),
            ureq::Proxy::new(&proxy.url()).ok(),
        );
        assert_eq!(r.map(|r| r.status).ok(), Some(200));
        assert_eq!(
            proxy.lines(),
            [
                "CONNECT metadata.invalid:80 HTTP/1.1",
                "GET /token HTTP/1.1"
            ]
        );

        let silent = Server::start(None);
        let t0 = std::time::Instant::now();
        let r = get(&silent.url(), Duration::from_millis(300), None);
        assert!(matches!(r, Err(Error::Timeout { .. })), "{:?}", r.err());
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    }
}
