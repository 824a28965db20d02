//! How a blocking HTTP exchange (ureq) failed, reduced to what a message may say and what a
//! caller branches on (retry a connection failure, report a timeout against the budget). Shared by
//! Google token minting and `doctor`'s registry probe; never quotes a body or a URL.

pub(crate) mod addr;
pub(crate) mod proxy;
pub(crate) mod tls;
pub(crate) mod url;

/// Why a request got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum NetError {
    /// Refused, reset, unreachable, no such host: nothing listens there.
    Connect(String),
    /// The budget ran out.
    Timeout,
    /// The proxy answered 407: it refused the credentials in its URL (docs/proxies.md, "Errors").
    ProxyAuth,
    /// TLS failed (or the peer does not speak TLS).
    Tls(String),
    /// The peer speaks TLS, but its certificate is refused (docs/clients.md, "Registry
    /// certificates").
    Certificate(crate::net::tls::CertProblem),
    Other(String),
}

/// What a proxy's 407 means to the user; one wording for every path (docs/proxies.md, "Errors").
pub(crate) const PROXY_AUTH_REFUSED: &str =
    "(HTTP 407 Proxy Authentication Required): check the user and password in the proxy URL";

/// The failure class of a ureq error.
pub(crate) fn classify(e: ureq::Error) -> NetError {
    use ureq::Error as E;
    if let Some(p) = crate::net::tls::CertProblem::of(&e) {
        return NetError::Certificate(p);
    }
    use ureq::Timeout as T;
    match e {
        E::Timeout(T::Connect | T::Resolve) => NetError::Connect("connection timed out".into()),
        E::Timeout(_) => NetError::Timeout,
        E::HostNotFound => NetError::Connect("host name not found".into()),
        E::ConnectionFailed => NetError::Connect("connection failed".into()),
        E::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => NetError::Timeout,
            std::io::ErrorKind::ConnectionRefused => NetError::Connect("connection refused".into()),
            // A plain-http server answering a TLS hello closes or garbles the handshake.
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof => {
                NetError::Tls("TLS handshake failed (does it speak https?)".into())
            }
            // std's resolver failure has no stable kind; its text is "failed to lookup address
            // information: …" (the resolver's own words, which name no secret).
            _ if io.to_string().starts_with("failed to lookup address") => {
                NetError::Connect("host name not found".into())
            }
            kind => NetError::Connect(kind.to_string()),
        },
        E::Tls(_) | E::Rustls(_) | E::Pem(_) | E::TlsRequired => {
            NetError::Tls("TLS handshake failed".into())
        }
        // ureq's reason holds the proxy's status only ("proxy server responded 407/...").
        E::ConnectProxyFailed(reason) if reason.starts_with("proxy server responded 407/") => {
            NetError::ProxyAuth
        }
        E::ConnectProxyFailed(reason) => NetError::Connect(format!("the proxy refused: {reason}")),
        E::BodyExceedsLimit(_) => NetError::Other("the reply is too large".into()),
        E::BadUri(_) | E::Http(_) => NetError::Other("the URL is not valid".into()),
        E::Protocol(_) => NetError::Tls("not an HTTP answer (TLS or protocol mismatch)".into()),
        _ => NetError::Other("HTTP exchange failed".into()),
    }
}
