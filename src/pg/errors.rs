//! A driver error as one line naming its cause, and whether the connection survives it.

use super::url::{Roots, Target};
use crate::error::{one_line, Error};
use crate::timeout::Deadline;
use std::time::Duration;
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
    Error::Timeout {
        place: place.to_string(),
        detail: format!(
            "no answer within {} s (BETA9_TIMEOUT)",
            secs(deadline.budget)
        ),
    }
}

pub(super) fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

/// The server's or the driver's error as one line naming the cause: `unreachable`, `access denied`
/// or `timeout` for what stops a connection, the server's own message for the rest.
pub(super) fn classify(place: &str, e: &tokio_postgres::Error, target: Option<&Target>) -> PgError {
    let code = e.code().cloned();
    let unreachable = |detail: String| Error::Unreachable {
        registry: place.to_string(),
        detail,
    };
    let denied = |detail: String| Error::Rejected {
        registry: place.to_string(),
        detail,
    };
    if let Some(db) = e.as_db_error() {
        let msg = one_line(db.message());
        let c = db.code();
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
            Error::Invalid(format!("{place}: {msg} (SQLSTATE {})", c.code()))
        };
        let broken = class == "08" || class == "57" || class == "28";
        return PgError {
            code,
            broken,
            error,
        };
    }
    let kind = e.to_string();
    let cause = chain(e);
    let error = match kind.as_str() {
        "error performing TLS handshake" => {
            let hint = match target.map(|t| (&t.roots, t.mode)) {
                Some((Roots::File(path), _)) => format!(" (sslrootcert {})", path.display()),
                _ => String::new(),
            };
            if let Some(tls) = rustls_error(e) {
                denied(format!(
                    "TLS: the server's certificate was refused: {tls}{hint}"
                ))
            } else {
                unreachable(format!("TLS handshake failed: {cause}"))
            }
        }
        "authentication error" => denied(format!("authentication failed: {cause}")),
        "timeout waiting for server" => Error::Timeout {
            place: place.to_string(),
            detail: "no answer to the connection attempt (BETA9_TIMEOUT)".into(),
        },
        "error connecting to server"
        | "error communicating with the server"
        | "connection closed" => unreachable(if cause.is_empty() {
            kind.clone()
        } else {
            format!("{kind}: {cause}")
        }),
        _ => Error::Other(anyhow::anyhow!("{place}: {kind}: {cause}")),
    };
    PgError {
        code,
        broken: !matches!(error, Error::Other(_)),
        error,
    }
}

/// The causes below a driver error, joined (they name sockets and protocols, never values).
pub(super) fn chain(e: &tokio_postgres::Error) -> String {
    let mut parts = Vec::new();
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        parts.push(s.to_string());
        next = s.source();
    }
    one_line(&parts.join(": "))
}

/// The rustls error inside a TLS failure (wrapped in an io::Error by tokio-rustls).
pub(super) fn rustls_error(e: &tokio_postgres::Error) -> Option<String> {
    let mut next = std::error::Error::source(e);
    while let Some(s) = next {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            return Some(r.to_string());
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(r) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(r.to_string());
            }
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
