//! The connection URL as libpq reads it (docs/postgres.md, "Connecting to PostgreSQL"): host,
//! port, database, user, `sslmode`, `sslrootcert`, `require_auth`, `channel_binding`; messages
//! name the parameter at fault, never a value from the URL.

use super::auth::AuthPolicy;
use crate::error::{one_line, Error, Result};
use percent_encoding::percent_decode_str;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tokio_postgres::config::Host;

/// libpq's `sslmode` (docs/postgres.md, "sslmode"). `allow` (plain first, TLS only if refused) is not
/// offered: nothing here wants a plain connection when TLS is possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where trusted CA certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Roots {
    /// `sslrootcert=PATH`, or libpq's default `~/.postgresql/root.crt` when it exists.
    File(PathBuf),
    /// `sslrootcert=system`: the system's CA store (src/net/tls.rs's policy).
    System,
    None,
}

/// A parsed connection URL: where, as whom, how TLS is checked. Holds no password read from a file
/// until a connection is made; `Debug` never shows the URL's password (tokio-postgres redacts it).
#[derive(Debug, Clone)]
pub struct Target {
    pub(super) config: tokio_postgres::Config,
    pub(super) mode: SslMode,
    pub(super) roots: Roots,
    pub(super) password_file: Option<PathBuf>,
    /// libpq's `require_auth`, when the URL names it.
    pub(super) require_auth: Option<AuthPolicy>,
    /// The URL names `channel_binding` (which tokio-postgres applies itself).
    pub(super) binding_named: bool,
    /// `host:port/dbname`, for messages: never the user info or the query.
    pub(super) place: String,
    /// What set the URL (`BETA9_STORE_URL`, `--from-beta9`), for messages.
    pub(super) what: &'static str,
}

impl Target {
    /// Which authentication requests to answer: the URL's `require_auth`; else, with a password
    /// and a server that is not verified (`disable`, `prefer`, `require` without a root
    /// certificate) over TCP, SCRAM only, with channel binding over TLS (docs/postgres.md,
    /// "Passwords and unverified servers"); else every request.
    pub(super) fn auth_policy(&self, has_password: bool) -> Option<AuthPolicy> {
        if let Some(p) = self.require_auth {
            return Some(p);
        }
        let verified = match self.mode {
            SslMode::VerifyCa | SslMode::VerifyFull => true,
            SslMode::Require => self.roots != Roots::None,
            SslMode::Disable | SslMode::Prefer => false,
        };
        let tcp = self
            .config
            .get_hosts()
            .iter()
            .any(|h| matches!(h, Host::Tcp(_)));
        (has_password && !verified && tcp).then(|| {
            AuthPolicy::unverified(
                match self.mode {
                    SslMode::Disable => "sslmode=disable",
                    SslMode::Prefer => "sslmode=prefer",
                    _ => "sslmode=require without a root certificate",
                },
                !self.binding_named,
            )
        })
    }

    /// Parses `postgres://` or `postgresql://` URLs with libpq's `sslmode` and `sslrootcert`
    /// parameters (and tokio-postgres's others). `home` locates libpq's default root certificate.
    /// Messages name the parameter at fault, never a value from the URL.
    pub fn parse(
        url: &str,
        what: &'static str,
        password_file: Option<PathBuf>,
        home: Option<&Path>,
    ) -> Result<Target> {
        let url = url.trim();
        let invalid = |why: String| Error::at(what, why);
        let lower = url.get(..13).unwrap_or(url).to_ascii_lowercase();
        if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
            return Err(invalid(
                "must be a postgres:// or postgresql:// URL (not repeated here)".into(),
            ));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut mode = None;
        let mut rootcert = None;
        let mut require_auth = None;
        let mut binding_named = false;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(k).ok_or_else(|| invalid("a parameter name is not UTF-8".into()))?;
            let value =
                || decode(v).ok_or_else(|| invalid(format!("the value of {key} is not UTF-8")));
            match key.as_str() {
                "sslmode" => {
                    mode = Some(SslMode::parse(&value()?).ok_or_else(|| {
                        invalid(
                            "sslmode must be disable, prefer, require, verify-ca or verify-full"
                                .into(),
                        )
                    })?);
                }
                "sslrootcert" => rootcert = Some(value()?),
                "require_auth" => {
                    require_auth = Some(AuthPolicy::require_auth(&value()?).ok_or_else(|| {
                        invalid(
                            "require_auth must list password, md5, scram-sha-256 or none, or each with a leading !"
                                .into(),
                        )
                    })?);
                }
                "channel_binding" => {
                    binding_named = true;
                    rest.push(pair);
                }
                "password" => {
                    return Err(invalid(
                        "a password parameter in the query is not supported: use a password file"
                            .into(),
                    ))
                }
                _ => rest.push(pair),
            }
        }
        let rebuilt = if rest.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut config = tokio_postgres::Config::from_str(&rebuilt).map_err(|e| {
            // tokio-postgres names unknown or bad options by key only; anything else could quote
            // the URL, so it is not passed on.
            let cause = std::error::Error::source(&e).map(|s| s.to_string());
            match cause {
                Some(c) if c.starts_with("unknown option") || c.starts_with("invalid value") => {
                    invalid(format!("not a valid PostgreSQL URL: {c}"))
                }
                _ => invalid("not a valid PostgreSQL URL (not repeated here)".into()),
            }
        })?;
        if config.get_password().is_some() && password_file.is_some() {
            return Err(invalid(
                "the URL holds a password and a password file is named too: keep one".into(),
            ));
        }
        let roots = match rootcert.as_deref() {
            Some("system") => Roots::System,
            Some(p) => Roots::File(PathBuf::from(p)),
            None => match home.map(|h| h.join(".postgresql/root.crt")) {
                Some(p) if p.is_file() => Roots::File(p),
                _ => Roots::None,
            },
        };
        // libpq's default is `prefer`, and `verify-full` with the system's CAs.
        let mut mode = mode.unwrap_or(if roots == Roots::System {
            SslMode::VerifyFull
        } else {
            SslMode::Prefer
        });
        if roots == Roots::System && mode != SslMode::VerifyFull {
            // libpq refuses a weaker mode with the system store: any public CA could vouch for
            // any name.
            return Err(invalid(format!(
                "sslrootcert=system needs sslmode=verify-full (not {})",
                mode.name()
            )));
        }
        // libpq never uses TLS over a Unix-domain socket.
        if config
            .get_hosts()
            .iter()
            .all(|h| matches!(h, Host::Unix(_)))
            && !config.get_hosts().is_empty()
        {
            mode = SslMode::Disable;
        }
        config.ssl_mode(match mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        if config.get_application_name().is_none() {
            config.application_name("docker-credential-beta9");
        }
        let place = place(&config);
        Ok(Target {
            config,
            mode,
            roots,
            password_file,
            require_auth,
            binding_named,
            place,
            what,
        })
    }

    /// `host:port/dbname`, safe to print.
    pub(crate) fn place(&self) -> &str {
        &self.place
    }

    pub(crate) fn user(&self) -> &str {
        self.config.get_user().unwrap_or("")
    }

    pub(crate) fn has_password_in_url(&self) -> bool {
        self.config.get_password().is_some()
    }

    #[cfg(test)]
    pub(crate) fn ssl_mode(&self) -> SslMode {
        self.mode
    }

    /// "PostgreSQL store 127.0.0.1:5432/beta9" or "--from-beta9 database ...": names the
    /// database and what pointed at it.
    pub(crate) fn label(&self) -> String {
        if self.what.starts_with("BETA9_") {
            format!("PostgreSQL store {}", self.place)
        } else {
            format!("PostgreSQL {} ({})", self.place, self.what)
        }
    }
}

/// Percent-decoding as libpq does it (no `+` for space).
pub(super) fn decode(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

pub(super) fn place(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) if h.contains(':') => format!("[{h}]"),
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => match config.get_hostaddrs().first() {
            Some(a) => a.to_string(),
            None => "localhost".into(),
        },
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or_default();
    one_line(&format!("{host}:{port}/{db}"))
}
