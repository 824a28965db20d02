//! One HTTP exchange over blocking `ureq`, owning the rules every request of this crate follows
//! (docs/proxies.md, "One exchange"): no redirect is followed (a redirect could carry a login or an
//! assertion to a host nobody named), the system's CA store (and any extra roots) only when the
//! request or its proxy is https, only the proxy src/net/proxy.rs chose (ureq's own environment reading
//! stays off: env.rs is the one reader), one global timeout for the whole exchange, statuses
//! returned rather than turned into errors, and a bounded body. Google token minting
//! (src/resolve/google/http.rs) and `doctor`'s registry probe (src/doctor/probe.rs) both go through
//! [`exchange`]; neither builds an agent of its own.

use crate::net::{classify, NetError};
use crate::timeout::Deadline;
use std::time::Duration;
use zeroize::Zeroizing;

/// The request line and its body.
pub enum Method<'a> {
    Get,
    /// The body is never read.
    Head,
    /// POST this body (its `Content-Type` is among the headers).
    Post(&'a [u8]),
}

/// One request.
pub struct Request<'a> {
    pub method: Method<'a>,
    pub url: &'a str,
    pub headers: &'a [(&'a str, &'a str)],
    /// A reply body longer than this is an error.
    pub body_limit: u64,
}

/// How the request travels: within what time, through which proxy, trusting what.
pub struct Route<'a> {
    /// The whole exchange ends by this deadline.
    pub deadline: Deadline,
    /// Bounds each connection attempt too (never beyond the deadline), when given.
    pub connect: Option<Duration>,
    /// The proxy src/net/proxy.rs chose for this URL; `None` connects directly.
    pub proxy: Option<ureq::Proxy>,
    /// Trust anchors beside the system's (a registry's `certs.d` CAs).
    pub roots: &'a [rustls_pki_types::CertificateDer<'static>],
    /// `docker-credential-beta9/<version>` and this suffix.
    pub agent_suffix: &'static str,
}

/// An answer, whatever its status; the body is zeroized on drop (it may hold a token).
pub struct Response {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Zeroizing<Vec<u8>>,
}

/// Sends `req` along `route`: one attempt, no retry (callers decide that), no redirect followed.
pub fn exchange(req: &Request, route: Route) -> Result<Response, NetError> {
    exchange_pinned(req, route, None)
}

/// [`exchange`], its host resolved by `pin` when given: to the addresses a check was made on
/// (src/net/addr.rs), never by a second lookup.
pub(crate) fn exchange_pinned(
    req: &Request,
    route: Route,
    pin: Option<crate::net::addr::Pin>,
) -> Result<Response, NetError> {
    let remaining = route.deadline.remaining();
    if remaining.is_zero() {
        return Err(NetError::Timeout);
    }
    let proxy_tls = route
        .proxy
        .as_ref()
        .is_some_and(|p| p.protocol() == ureq::ProxyProtocol::Https);
    let mut config = ureq::Agent::config_builder();
    // The system's CA store (src/net/tls.rs), read only when this request or its proxy is https.
    if req.url.starts_with("https://") || proxy_tls {
        config = config.tls_config(crate::net::tls::ureq_config_with(route.roots));
    }
    let user_agent = format!(
        "docker-credential-beta9/{}{}",
        env!("CARGO_PKG_VERSION"),
        route.agent_suffix
    );
    let config = config
        // Statuses are the caller's to classify, not opaque errors.
        .http_status_as_error(false)
        // A redirect could carry the login or the assertion to a host nobody named.
        .max_redirects(0)
        // Only the proxy src/net/proxy.rs chose, never ureq's reading of the environment.
        .proxy(route.proxy)
        .timeout_global(Some(remaining))
        .timeout_connect(route.connect.map(|c| c.min(remaining)))
        .user_agent(user_agent)
        .build();
    // ureq's resolver hook lives under `ureq::unversioned` (outside its semver promise):
    // Cargo.lock pins the version; an update may need this call adjusted.
    let agent = match pin {
        Some(pin) => ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            pin,
        ),
        None => ureq::Agent::new_with_config(config),
    };
    let response = match req.method {
        Method::Get => {
            let mut r = agent.get(req.url);
            for (k, v) in req.headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        Method::Head => {
            let mut r = agent.head(req.url);
            for (k, v) in req.headers {
                r = r.header(*k, *v);
            }
            r.call()
        }
        Method::Post(body) => {
            let mut r = agent.post(req.url);
            for (k, v) in req.headers {
                r = r.header(*k, *v);
            }
            r.send(body)
        }
    };
    let mut response = response.map_err(classify)?;
    let status = response.status().as_u16();
    let body = if matches!(req.method, Method::Head) {
        Vec::new()
    } else {
        response
            .body_mut()
            .with_config()
            .limit(req.body_limit)
            .read_to_vec()
            .map_err(classify)?
    };
    Ok(Response {
        status,
        headers: std::mem::take(response.headers_mut()),
        body: Zeroizing::new(body),
    })
}

/// Loopback HTTP servers for the tests of [`exchange`]'s callers: each answers every request with
/// one canned reply (after a `200` to a proxy's `CONNECT`, as a proxy would) and counts the
/// request heads it read.
#[cfg(test)]
pub mod loopback {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    pub struct Server {
        pub port: u16,
        hits: Arc<AtomicUsize>,
        /// The request lines read, in order (`CONNECT origin.invalid:80 HTTP/1.1`, `GET / HTTP/1.1`).
        lines: Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl Server {
        /// Answers `reply` (a whole HTTP response) to each request, or nothing at all when `None`
        /// (it reads the request and keeps the connection open until the client gives up).
        /// The thread ends with the test process; it holds no file and no machine-wide state.
        pub fn start(reply: Option<String>) -> Server {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            let hits = Arc::new(AtomicUsize::new(0));
            let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
            let (h, ls) = (hits.clone(), lines.clone());
            std::thread::spawn(move || {
                for s in l.incoming() {
                    let Ok(mut s) = s else { return };
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    // A proxy's `CONNECT` is answered, then the request through the tunnel.
                    loop {
                        let mut first = String::new();
                        if r.read_line(&mut first).is_err() || first.is_empty() {
                            break;
                        }
                        loop {
                            let mut line = String::new();
                            if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                                break;
                            }
                        }
                        h.fetch_add(1, Ordering::SeqCst);
                        ls.lock().unwrap().push(first.trim_end().to_string());
                        if first.starts_with("CONNECT ") {
                            let _ = s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
                            continue;
                        }
                        match &reply {
                            Some(reply) => {
                                let _ = s.write_all(reply.as_bytes());
                            }
                            // Hold the connection until the client hangs up.
                            None => {
                                let mut rest = Vec::new();
                                let _ = std::io::Read::read_to_end(&mut r, &mut rest);
                            }
                        }
                        break;
                    }
                }
            });
            Server { port, hits, lines }
        }

        /// A `302` to `location`.
        pub fn redirecting(location: &str) -> Server {
            Server::start(Some(format!(
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )))
        }

        /// A `200` with a small JSON body.
        pub fn ok(body: &str) -> Server {
            Server::start(Some(format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )))
        }

        pub fn url(&self) -> String {
            format!("http://127.0.0.1:{}/", self.port)
        }

        pub fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }

        pub fn lines(&self) -> Vec<String> {
            self.lines.lock().unwrap().clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::loopback::Server;
    use super::*;

    fn route(budget: Duration, proxy: Option<ureq::Proxy>) -> Route<'static> {
        Route {
            deadline: Deadline::start(budget),
            connect: Some(budget),
            proxy,
            roots: &[],
            agent_suffix: "",
        }
    }

    fn get(url: &str) -> Request<'_> {
        Request {
            method: Method::Get,
            url,
            headers: &[("Authorization", "Basic CANARY")],
            body_limit: 1024,
        }
    }

    #[test]
    fn a_redirect_is_answered_not_followed() {
        let target = Server::ok("{}");
        let origin = Server::redirecting(&target.url());
        let r = exchange(&get(&origin.url()), route(Duration::from_secs(5), None));
        assert_eq!(r.map(|r| r.status).ok(), Some(302));
        assert_eq!((origin.hits(), target.hits()), (1, 0));
    }

    #[test]
    fn the_proxy_given_is_the_one_used_and_the_deadline_ends_it() {
        let proxy = Server::ok("{}");
        let p = ureq::Proxy::new(&proxy.url()).ok();
        let r = exchange(
            &get("http://origin.invalid/v2/"),
            route(Duration::from_secs(5), p),
        );
        assert_eq!(r.map(|r| r.status).ok(), Some(200));
        assert_eq!(
            proxy.lines(),
            ["CONNECT origin.invalid:80 HTTP/1.1", "GET /v2/ HTTP/1.1"]
        );

        let silent = Server::start(None);
        let t0 = std::time::Instant::now();
        let r = exchange(&get(&silent.url()), route(Duration::from_millis(300), None));
        assert_eq!(r.err(), Some(NetError::Timeout));
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    }
}
