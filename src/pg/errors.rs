//! A driver error as one line naming its cause, and whether the connection survives it.

use super::url::{Roots, Target};
use crate::error::{one_line, Error};
use crate::timeout::Deadline;
use tokio_postgres::error::SqlState;

/// A failed call: the one-line error, the SQLSTATE if the server sent one, and whether the
/// connection is still usable.
#[derive(Debug)]
pub struct PgError {
    pub code: Option<SqlState>,
    pub broken: bool,
    pub error: Error,
}

impl From<PgError> for Error {
    fn from(e: PgError) -> Error {
        e.error
    }
}

pub type PgResult<T> = std::result::Result<T, PgError>;

pub(super) fn timeout_error(place: &str, deadline: Deadline) -> Error {
    Error::timeout(place, "the server", deadline.budget)
}

/// The server's or the driver's error as one line naming the cause: `unreachable`, `access denied`
/// or `timeout` for what stops a connection, the server's own message for the rest.
pub(super) fn classify(place: &str, e: &tokio_postgres::Error, target: Option<&Target>) -> PgError {
    let hint = match target.map(|t| &t.roots) {
        Some(Roots::File(path)) => format!(" (sslrootcert {})", path.display()),
        _ => String::new(),
    };
    class(place, &cause(e), e.code().cloned(), &hint)
}

/// What went wrong, read from what tokio-postgres exposes rather than from its display text: the
/// server's error and its SQLSTATE, `is_closed`, the rustls or I/O error in the cause chain. Its
/// other kinds have no accessor; only those are told apart by the text their display names
/// (docs/postgres.md, "Error classes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Cause {
    /// The server's error: its SQLSTATE and message.
    Server { code: SqlState, message: String },
    /// The connection was closed under the call.
    Closed,
    /// rustls refused the server's certificate (`InvalidCertificate`, no certificate).
    Certificate(String),
    /// Another TLS failure rustls reports (an alert, a malformed or unexpected message).
    Tls(String),
    /// Connecting, reading or writing failed, or a message could not be decoded: the I/O error's
    /// kind, and what the driver and the cause chain say (sockets and protocols, never values).
    Io {
        kind: std::io::ErrorKind,
        what: String,
    },
    /// The driver's connect timeout (no cause, no accessor: named by its text).
    ConnectTimeout,
    /// The server asked for an authentication the driver cannot answer (named by its text).
    Authentication(String),
    /// The TLS handshake failed without a rustls error (the server does not offer TLS; named by
    /// its text).
    Handshake(String),
    /// Anything else: a driver error that is not about reaching the server.
    Other(String),
}

/// The driver's text for its connect-timeout, authentication and TLS errors, which carry no
/// typed cause (tokio-postgres 0.7, `Kind::Timeout`, `Kind::Authentication`, `Kind::Tls`).
const TIMEOUT_TEXT: &str = "timeout waiting for server";
const AUTHENTICATION_TEXT: &str = "authentication error";
const TLS_TEXT: &str = "error performing TLS handshake";

pub(super) fn cause(e: &tokio_postgres::Error) -> Cause {
    if let Some(db) = e.as_db_error() {
        return Cause::Server {
            code: db.code().clone(),
            message: db.message().to_string(),
        };
    }
    if e.is_closed() {
        return Cause::Closed;
    }
    let text = e.to_string();
    let chain = chain(e);
    if let Some(r) = rustls_error(e) {
        return match r {
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                Cause::Certificate(r.to_string())
            }
            _ => Cause::Tls(r.to_string()),
        };
    }
    // Before the I/O check: a SCRAM exchange that fails is an I/O error under this kind.
    if text == AUTHENTICATION_TEXT {
        return Cause::Authentication(chain);
    }
    if let Some(io) = io_error(e) {
        let what = match (text.as_str(), chain.is_empty()) {
            (TLS_TEXT, _) => format!("TLS handshake failed: {chain}"),
            (_, true) => text,
            (_, false) => format!("{text}: {chain}"),
        };
        return Cause::Io {
            kind: io.kind(),
            what,
        };
    }
    match text.as_str() {
        TIMEOUT_TEXT => Cause::ConnectTimeout,
        TLS_TEXT => Cause::Handshake(chain),
        _ => Cause::Other(format!("{text}: {chain}")),
    }
}

/// The one-line error for a cause, and whether the connection survives it.
pub(super) fn class(place: &str, cause: &Cause, code: Option<SqlState>, hint: &str) -> PgError {
    let unreachable = |detail: String| Error::Unreachable {
        registry: place.to_string(),
        detail,
    };
    let denied = |detail: String| Error::Rejected {
        registry: place.to_string(),
        detail,
    };
    let (error, broken) = match cause {
        Cause::Server { code: c, message } => {
            let msg = one_line(message);
            let class = c.code().get(..2).unwrap_or_default();
            let error = if *c == SqlState::INVALID_PASSWORD
                || *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                || *c == SqlState::INSUFFICIENT_PRIVILEGE
                || *c == SqlState::INVALID_CATALOG_NAME
            {
                denied(msg)
            } else if class == "08" || class == "57" || class == "53" {
                // Connection exceptions, the server shutting down or starting, out of resources.
                unreachable(msg)
            } else {
                Error::at(place, format!("{msg} (SQLSTATE {})", c.code()))
            };
            (error, class == "08" || class == "57" || class == "28")
        }
        Cause::Closed => (unreachable("connection closed".into()), true),
        Cause::Certificate(tls) => (
            denied(format!(
                "TLS: the server's certificate was refused: {tls}{hint}"
            )),
            true,
        ),
        Cause::Tls(tls) => (unreachable(format!("TLS handshake failed: {tls}")), true),
        // The system's own timeout (a connect or read that timed out): a timeout like the others.
        Cause::Io {
            kind: std::io::ErrorKind::TimedOut,
            what,
        } => (
            Error::Timeout {
                place: place.to_string(),
                detail: one_line(what),
                of_key: false,
            },
            true,
        ),
        Cause::Io { what, .. } => (unreachable(one_line(what)), true),
        Cause::ConnectTimeout => (
            Error::Timeout {
                place: place.to_string(),
                detail: "no answer to the connection attempt (BETA9_TIMEOUT)".into(),
                of_key: false,
            },
            true,
        ),
        Cause::Authentication(why) => (denied(format!("authentication failed: {why}")), true),
        Cause::Handshake(why) => (unreachable(format!("TLS handshake failed: {why}")), true),
        Cause::Other(what) => (
            Error::Other(anyhow::anyhow!("{place}: {}", one_line(what))),
            false,
        ),
    };
    PgError {
        code,
        broken,
        error,
    }
}

/// The causes below a driver error, joined (they name sockets and protocols, never values).
fn chain(e: &tokio_postgres::Error) -> String {
    let mut parts = Vec::new();
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        parts.push(s.to_string());
        next = s.source();
    }
    one_line(&parts.join(": "))
}

/// The rustls error inside a TLS failure (wrapped in an io::Error by tokio-rustls).
fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(r);
            }
        }
        next = s.source();
    }
    None
}

/// The I/O error under a connect, read or write failure.
fn io_error(e: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        next = s.source();
    }
    None
}

/// Is this the database being out of reach (so a local copy may answer)? Refusals (a password, a
/// certificate, a permission) are not: they are answers.
pub fn is_outage(e: &Error) -> bool {
    matches!(e, Error::Unreachable { .. } | Error::Timeout { .. })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{ErrorKind, Read, Write};
    use std::time::Duration;

    const PLACE: &str = "PostgreSQL store db:5432/creds";

    fn server(code: &str) -> Cause {
        Cause::Server {
            code: SqlState::from_code(code),
            message: "the server's words".into(),
        }
    }

    /// One test per class: the error a caller branches on, whether the connection survives, and
    /// whether a local copy may answer instead (an outage).
    #[test]
    fn each_cause_has_its_class() {
        let cases: Vec<(Cause, &str, bool, bool)> = vec![
            (server("28P01"), "access denied", true, false),
            (server("28000"), "access denied", true, false),
            (server("42501"), "access denied", false, false),
            (server("3D000"), "access denied", false, false),
            (server("08006"), "unreachable", true, true),
            (server("57P03"), "unreachable", true, true),
            (server("53300"), "unreachable", false, true),
            (server("42P01"), "SQLSTATE 42P01", false, false),
            (Cause::Closed, "unreachable: connection closed", true, true),
            (
                Cause::Certificate("invalid peer certificate: UnknownIssuer".into()),
                "access denied: TLS: the server's certificate was refused",
                true,
                false,
            ),
            (
                Cause::Tls("received corrupt message".into()),
                "unreachable: TLS handshake failed",
                true,
                true,
            ),
            (
                Cause::Io {
                    kind: ErrorKind::ConnectionRefused,
                    what: "error connecting to server: Connection refused".into(),
                },
                "unreachable: error connecting to server",
                true,
                true,
            ),
            (
                Cause::Io {
                    kind: ErrorKind::InvalidInput,
                    what: "error parsing response from server: unknown message tag".into(),
                },
                "unreachable: error parsing response",
                true,
                true,
            ),
            (
                Cause::Io {
                    kind: ErrorKind::TimedOut,
                    what: "error connecting to server: Connection timed out".into(),
                },
                "timeout: error connecting to server",
                true,
                true,
            ),
            (
                Cause::ConnectTimeout,
                "timeout: no answer to the connection attempt",
                true,
                true,
            ),
            (
                Cause::Authentication("unsupported SASL mechanism".into()),
                "access denied: authentication failed",
                true,
                false,
            ),
            (
                Cause::Handshake("server does not support TLS".into()),
                "unreachable: TLS handshake failed",
                true,
                true,
            ),
            (
                Cause::Other("error deserializing column 0".into()),
                "error deserializing column 0",
                false,
                false,
            ),
        ];
        for (cause, says, broken, outage) in cases {
            let e = class(PLACE, &cause, None, "");
            let text = e.error.to_string();
            assert!(text.contains(says), "{cause:?}: {text}");
            assert!(!text.contains('\n'), "{text}");
            assert_eq!(e.broken, broken, "{cause:?}: broken");
            assert_eq!(is_outage(&e.error), outage, "{cause:?}: outage");
        }
        let hinted = class(
            PLACE,
            &Cause::Certificate("x".into()),
            None,
            " (sslrootcert /ca.pem)",
        );
        assert!(hinted.error.to_string().ends_with("(sslrootcert /ca.pem)"));
    }

    /// A loopback server that reads the startup message and answers `reply`, then hangs up.
    fn answering(reply: Vec<u8>) -> u16 {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else { return };
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_ok() {
                let mut rest = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                let _ = s.read_exact(&mut rest);
                let _ = s.write_all(&reply);
            }
        });
        port
    }

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![tag];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// The driver's error for a connection to `port` on loopback, without TLS.
    fn driver_error(port: u16) -> tokio_postgres::Error {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(port)
            .user("u")
            .password("p")
            .dbname("d")
            .connect_timeout(Duration::from_secs(5))
            .ssl_mode(tokio_postgres::config::SslMode::Disable);
        match rt.block_on(config.connect(tokio_postgres::NoTls)) {
            Err(e) => e,
            Ok(_) => panic!("connected to a fake server"),
        }
    }

    /// What tokio-postgres hands back is read by type and SQLSTATE, not by its display text.
    #[test]
    fn driver_errors_are_read_by_what_the_driver_exposes() {
        let mut fields = Vec::new();
        for (k, v) in [
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "28P01"),
            (b'M', "password authentication failed"),
        ] {
            fields.push(k);
            fields.extend_from_slice(v.as_bytes());
            fields.push(0);
        }
        fields.push(0);
        let e = driver_error(answering(message(b'E', &fields)));
        assert!(
            matches!(cause(&e), Cause::Server { code, .. } if code == SqlState::INVALID_PASSWORD),
            "{:?}",
            cause(&e)
        );

        // SASL without a mechanism the driver speaks: its authentication kind.
        let mut sasl = 10u32.to_be_bytes().to_vec();
        sasl.extend_from_slice(b"NOT-SCRAM\0\0");
        let e = driver_error(answering(message(b'R', &sasl)));
        assert!(
            matches!(cause(&e), Cause::Authentication(_)),
            "{:?}",
            cause(&e)
        );

        // Bytes that are no protocol message: the driver's decode error, an I/O error too.
        let e = driver_error(answering(b"\x01\x00\x00\x00\x05x".to_vec()));
        assert!(
            matches!(
                cause(&e),
                Cause::Io {
                    kind: ErrorKind::InvalidData | ErrorKind::InvalidInput,
                    ..
                }
            ),
            "{:?}",
            cause(&e)
        );

        // Nobody listening: refused, an outage.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = driver_error(closed);
        assert!(
            matches!(
                cause(&e),
                Cause::Io {
                    kind: ErrorKind::ConnectionRefused,
                    ..
                }
            ),
            "{:?}",
            cause(&e)
        );

        // The connect timeout has no cause and no accessor: its text names it.
        assert_eq!(
            cause(&tokio_postgres::Error::__private_api_timeout()),
            Cause::ConnectTimeout
        );
    }
}
