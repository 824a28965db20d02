//! PostgreSQL connections, for the fleet store (`BETA9_STORE_URL`) and `import --from-beta9`: the
//! URL as libpq reads it, TLS as libpq's `sslmode` defines it (with rustls and ring), the password
//! from the URL or a file and never from argv, and a blocking façade over `tokio-postgres` that puts
//! a deadline on every call (docs/postgres.md, "Connecting to PostgreSQL").
//!
//! One connection per process, no pool: every `get` is a fresh process. The async client runs on a
//! current-thread runtime built only when a connection is opened, so a `get` answered from a local
//! copy never builds one.

use crate::error::{one_line, Error, Result};
use crate::fsutil;
use crate::timeout::Deadline;
use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

pub use tokio_postgres::types::Type as SqlType;

/// A password file is a mounted secret holding one line.
const PASSWORD_LIMIT: u64 = 4096;

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

    pub fn name(self) -> &'static str {
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
enum Roots {
    /// `sslrootcert=PATH`, or libpq's default `~/.postgresql/root.crt` when it exists.
    File(PathBuf),
    /// `sslrootcert=system`: the system's CA store (src/tls.rs's policy).
    System,
    None,
}

/// A parsed connection URL: where, as whom, how TLS is checked. Holds no password read from a file
/// until a connection is made; `Debug` never shows the URL's password (tokio-postgres redacts it).
#[derive(Debug, Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    mode: SslMode,
    roots: Roots,
    password_file: Option<PathBuf>,
    /// libpq's `require_auth`, when the URL names it.
    require_auth: Option<AuthPolicy>,
    /// The URL names `channel_binding` (which tokio-postgres applies itself).
    binding_named: bool,
    /// `host:port/dbname`, for messages: never the user info or the query.
    place: String,
    /// What set the URL (`BETA9_STORE_URL`, `--from-beta9`), for messages.
    what: &'static str,
}

impl Target {
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
        let invalid = |why: String| Error::Invalid(format!("{what}: {why}"));
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

    /// Which authentication requests to answer: the URL's `require_auth`; else, with a password
    /// and a server that is not verified (`disable`, `prefer`, `require` without a root
    /// certificate) over TCP, SCRAM only, with channel binding over TLS (docs/postgres.md,
    /// "Passwords and unverified servers"); else every request.
    fn auth_policy(&self, has_password: bool) -> Option<AuthPolicy> {
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
        (has_password && !verified && tcp)
            .then(|| AuthPolicy::unverified(self.mode, !self.binding_named))
    }

    /// `host:port/dbname`, safe to print.
    pub fn place(&self) -> &str {
        &self.place
    }

    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or("")
    }

    pub fn has_password_in_url(&self) -> bool {
        self.config.get_password().is_some()
    }

    pub fn ssl_mode(&self) -> SslMode {
        self.mode
    }

    /// Opens a connection within what is left of `deadline`: TCP (or socket), TLS as the mode
    /// says, authentication.
    pub fn connect(&self, deadline: Deadline) -> Result<Conn> {
        let mut config = self.config.clone();
        if let Some(file) = &self.password_file {
            config.password(read_password(file)?.as_slice());
        }
        let remaining = deadline.remaining();
        if remaining.is_zero() {
            return Err(self.timeout(deadline));
        }
        let started_at = std::time::Instant::now();
        // Each address of each host gets at most what is left; the whole attempt is bounded below.
        config.connect_timeout(remaining);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::Other(anyhow::anyhow!("cannot start the I/O runtime: {e}")))?;
        let policy = self.auth_policy(config.get_password().is_some());
        let started = if let Some(policy) = policy {
            self.start_guarded(&rt, &config, policy, deadline)
        } else if self.mode == SslMode::Disable {
            self.start(&rt, &config, tokio_postgres::NoTls, deadline)
        } else {
            self.tls_config().and_then(|tls| {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls);
                self.start(&rt, &config, tls, deadline)
            })
        };
        let (client, task) = match started {
            Ok(v) => v,
            Err(e) => {
                // A name lookup still running on a blocking thread is left to die with the
                // process instead of being waited for.
                rt.shutdown_background();
                return Err(e);
            }
        };
        tracing::debug!(
            database = %self.place,
            sslmode = self.mode.name(),
            ms = started_at.elapsed().as_secs_f64() * 1000.0,
            "connected"
        );
        Ok(Conn {
            rt: Some(rt),
            client: Some(client),
            task: Some(task),
            place: self.label(),
            broken: std::cell::Cell::new(false),
        })
    }

    fn start<T>(
        &self,
        rt: &tokio::runtime::Runtime,
        config: &tokio_postgres::Config,
        tls: T,
        deadline: Deadline,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>)>
    where
        T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Send + 'static,
        T::Stream: Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
    {
        let connected = rt.block_on(async {
            tokio::time::timeout(deadline.remaining(), config.connect(tls)).await
        });
        match connected {
            Err(_) => Err(self.timeout(deadline)),
            Ok(Err(e)) => Err(classify(&self.label(), &e, Some(self)).error),
            Ok(Ok((client, connection))) => {
                let task = rt.spawn(async move {
                    let _ = connection.await;
                });
                Ok((client, task))
            }
        }
    }

    /// `start` with every server message watched until authentication is over: the TCP
    /// connection is opened here (each TCP host in turn; `hostaddr` honoured) and handed to
    /// tokio-postgres, with an [`AuthGuard`] below TLS and another above it.
    fn start_guarded(
        &self,
        rt: &tokio::runtime::Runtime,
        config: &tokio_postgres::Config,
        policy: AuthPolicy,
        deadline: Deadline,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>)> {
        use tokio_postgres::tls::MakeTlsConnect;
        let tls = match self.mode {
            SslMode::Disable => None,
            _ => Some(self.tls_config()?),
        };
        let ports = config.get_ports();
        let addrs = config.get_hostaddrs();
        let mut last = None;
        for (i, host) in config.get_hosts().iter().enumerate() {
            let Host::Tcp(name) = host else { continue };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            let addr = addrs.get(i).copied();
            let refused = Arc::new(std::sync::Mutex::new(None));
            let attempt = async {
                let sock = match addr {
                    Some(a) => tokio::net::TcpStream::connect((a, port)).await,
                    None => tokio::net::TcpStream::connect((name.as_str(), port)).await,
                }
                .map_err(|e| Error::Unreachable {
                    registry: self.label(),
                    detail: format!("error connecting to server: {}", one_line(&e.to_string())),
                })?;
                let _ = sock.set_nodelay(true);
                let guard = AuthGuard::new(sock, policy, false, refused.clone());
                let driver =
                    |e: tokio_postgres::Error| match refused.lock().ok().and_then(|r| r.clone()) {
                        Some(why) => Error::Rejected {
                            registry: self.label(),
                            detail: why,
                        },
                        None => classify(&self.label(), &e, Some(self)).error,
                    };
                match &tls {
                    None => {
                        let (client, connection) = config
                            .connect_raw(guard, tokio_postgres::NoTls)
                            .await
                            .map_err(driver)?;
                        let task = tokio::spawn(async move {
                            let _ = connection.await;
                        });
                        Ok((client, task))
                    }
                    Some(tls) => {
                        let mut make = tokio_postgres_rustls::MakeRustlsConnect::new(tls.clone());
                        let inner =
                            MakeTlsConnect::<AuthGuard<tokio::net::TcpStream>>::make_tls_connect(
                                &mut make, name,
                            )
                            .map_err(|_| {
                                Error::Invalid(format!(
                                    "{}: the host is not a valid TLS server name",
                                    self.what
                                ))
                            })?;
                        let guarded = GuardedTls {
                            inner,
                            policy,
                            refused: refused.clone(),
                        };
                        let (client, connection) =
                            config.connect_raw(guard, guarded).await.map_err(driver)?;
                        let task = tokio::spawn(async move {
                            let _ = connection.await;
                        });
                        Ok((client, task))
                    }
                }
            };
            let result: Result<_> = rt.block_on(async {
                match tokio::time::timeout(deadline.remaining(), attempt).await {
                    Ok(r) => r,
                    Err(_) => Err(self.timeout(deadline)),
                }
            });
            match result {
                Ok(v) => return Ok(v),
                // A refused request or a timeout ends the attempt; a host out of reach does not.
                Err(e @ Error::Unreachable { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last
            .unwrap_or_else(|| Error::Invalid(format!("{}: no TCP host to connect to", self.what))))
    }

    /// "PostgreSQL store 127.0.0.1:5432/beta9" or "--from-beta9 database ...": names the
    /// database and what pointed at it.
    pub fn label(&self) -> String {
        if self.what.starts_with("BETA9_") {
            format!("PostgreSQL store {}", self.place)
        } else {
            format!("PostgreSQL {} ({})", self.place, self.what)
        }
    }

    fn timeout(&self, deadline: Deadline) -> Error {
        timeout_error(&self.label(), deadline)
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match (&self.roots, self.mode) {
            (_, SslMode::Disable) => None,
            // `prefer` and a `require` without a root certificate encrypt but do not verify; a
            // `require` with one behaves as verify-ca (libpq's rule, docs/postgres.md, "sslmode").
            (Roots::None, SslMode::Prefer | SslMode::Require) => None,
            (Roots::File(_), SslMode::Prefer) => None,
            (Roots::None, SslMode::VerifyCa | SslMode::VerifyFull) => {
                return Err(Error::Invalid(format!(
                    "{}: sslmode={} needs sslrootcert=PATH (or ~/.postgresql/root.crt)",
                    self.what,
                    self.mode.name()
                )))
            }
            (Roots::System, _) => Some(crate::tls::rustls_roots()),
            (Roots::File(path), _) => Some(file_roots(path, self.what)?),
        };
        let check_name = self.mode == SslMode::VerifyFull;
        let verifier = Verifier {
            inner: match roots {
                Some(r) => Some(
                    WebPkiServerVerifier::builder_with_provider(Arc::new(r), provider.clone())
                        .build()
                        .map_err(|e| Error::Invalid(format!("{}: sslrootcert: {e}", self.what)))?,
                ),
                None => None,
            },
            check_name,
            provider: provider.clone(),
        };
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Other(anyhow::anyhow!("TLS set-up: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth())
    }
}

/// Percent-decoding as libpq does it (no `+` for space).
fn decode(s: &str) -> Option<String> {
    percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

fn place(config: &tokio_postgres::Config) -> String {
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

fn read_password(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let what = || format!("cannot read the password file {}", path.display());
    let bytes = fsutil::read_operator_file(path, PASSWORD_LIMIT)
        .map_err(|e| Error::Invalid(format!("{}: {e}", what())))?
        .ok_or_else(|| Error::Invalid(format!("{}: no such file", what())))?;
    // A mounted secret or `echo pw > file` ends in a newline that is not part of the password.
    let mut end = bytes.len();
    while end > 0 && matches!(bytes[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    Ok(zeroize::Zeroizing::new(bytes[..end].to_vec()))
}

fn file_roots(path: &Path, what: &str) -> Result<rustls::RootCertStore> {
    let bad =
        |why: String| Error::Invalid(format!("{what}: sslrootcert {}: {why}", path.display()));
    let bytes = fsutil::read_operator_file(path, fsutil::META_LIMIT * 16)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("no such file".into()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|_| bad("not a PEM certificate file".into()))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("unusable certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    Ok(roots)
}

/// Verifies as the mode says: chain and name (verify-full), chain only (verify-ca), nothing
/// (prefer, require without a root certificate: encryption against passive listeners only).
#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

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

/// One open connection. Every call is bounded by the caller's deadline; a call that runs out
/// marks the connection broken (its state is unknown), and the caller drops it.
pub struct Conn {
    rt: Option<tokio::runtime::Runtime>,
    client: Option<tokio_postgres::Client>,
    task: Option<tokio::task::JoinHandle<()>>,
    place: String,
    broken: std::cell::Cell<bool>,
}

/// A typed parameter: sent with its type in the one round trip of an unprepared query.
pub type Param<'a> = (&'a (dyn ToSql + Sync), Type);

impl Conn {
    pub fn is_broken(&self) -> bool {
        self.broken.get()
    }

    fn client(&self) -> PgResult<&tokio_postgres::Client> {
        self.client.as_ref().ok_or_else(|| PgError {
            code: None,
            broken: true,
            error: Error::Unreachable {
                registry: self.place.clone(),
                detail: "the connection was closed".into(),
            },
        })
    }

    /// Rows of one statement, parsed, bound and run in one round trip (no prepared statement).
    pub fn query(&self, deadline: Deadline, sql: &str, params: &[Param<'_>]) -> PgResult<Vec<Row>> {
        let client = self.client()?;
        self.run(deadline, client.query_typed(sql, params))
    }

    /// Statements without parameters or results (`BEGIN`, `COMMIT`, DDL), in the simple protocol.
    pub fn batch(&self, deadline: Deadline, sql: &str) -> PgResult<()> {
        let client = self.client()?;
        self.run(deadline, client.batch_execute(sql))
    }

    fn run<T>(
        &self,
        deadline: Deadline,
        fut: impl std::future::Future<Output = std::result::Result<T, tokio_postgres::Error>>,
    ) -> PgResult<T> {
        let Some(rt) = &self.rt else {
            return Err(PgError {
                code: None,
                broken: true,
                error: Error::Unreachable {
                    registry: self.place.clone(),
                    detail: "the connection was closed".into(),
                },
            });
        };
        let out = rt.block_on(async { tokio::time::timeout(deadline.remaining(), fut).await });
        let result = match out {
            Err(_) => Err(PgError {
                code: None,
                broken: true,
                error: timeout_error(&self.place, deadline),
            }),
            Ok(Err(e)) => Err(classify(&self.place, &e, None)),
            Ok(Ok(v)) => Ok(v),
        };
        if let Err(e) = &result {
            if e.broken {
                self.broken.set(true);
            }
        }
        result
    }
}

impl Drop for Conn {
    // Says goodbye (a Terminate message, written by the connection task as soon as the client is
    // gone) instead of just dropping the socket; the server's exit is not waited for. Bounded, and
    // skipped for a connection in an unknown state.
    fn drop(&mut self) {
        drop(self.client.take());
        let Some(rt) = self.rt.take() else { return };
        if let Some(task) = self.task.take() {
            if !self.broken.get() {
                let _ = rt.block_on(async {
                    tokio::time::timeout(Duration::from_millis(20), task).await
                });
            }
        }
        rt.shutdown_background();
    }
}

fn timeout_error(place: &str, deadline: Deadline) -> Error {
    Error::Timeout {
        place: place.to_string(),
        detail: format!(
            "no answer within {} s (BETA9_TIMEOUT)",
            secs(deadline.budget)
        ),
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

/// The server's or the driver's error as one line naming the cause: `unreachable`, `access denied`
/// or `timeout` for what stops a connection, the server's own message for the rest.
fn classify(place: &str, e: &tokio_postgres::Error, target: Option<&Target>) -> PgError {
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
fn rustls_error(e: &tokio_postgres::Error) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Target> {
        Target::parse(url, "BETA9_STORE_URL", None, None)
    }

    #[test]
    fn urls_as_libpq_reads_them() {
        let t = parse(
            "postgres://u:CANARY@db.example:6432/creds?sslmode=verify-full&sslrootcert=/ca.pem",
        )
        .unwrap();
        assert_eq!(t.place(), "db.example:6432/creds");
        assert_eq!(t.ssl_mode(), SslMode::VerifyFull);
        assert!(t.has_password_in_url());
        assert_eq!(t.user(), "u");
        assert!(!format!("{t:?}").contains("CANARY"));
        let t = parse("postgresql://u@%2Ftmp%2Fpg/creds?sslmode=require").unwrap();
        assert_eq!(t.ssl_mode(), SslMode::Disable, "no TLS over a Unix socket");
        assert_eq!(t.place(), "/tmp/pg:5432/creds");
        let t = parse("postgres://u@h/d").unwrap();
        assert_eq!(t.ssl_mode(), SslMode::Prefer, "libpq's default");
        let t = parse("postgres://u@h/d?sslmode=verify-full&sslrootcert=system&connect_timeout=3")
            .unwrap();
        assert_eq!(t.roots, Roots::System);
        let t = parse("postgres://u@h/d?sslrootcert=system").unwrap();
        assert_eq!(
            t.ssl_mode(),
            SslMode::VerifyFull,
            "libpq's default with the system CAs"
        );
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_them() {
        for (url, says) in [
            ("mysql://u:CANARY@h/d", "postgres://"),
            ("postgres://u:CANARY@h/d?sslmode=CANARY", "sslmode must be"),
            ("postgres://u:CANARY@h/d?sslmode=allow", "sslmode must be"),
            ("postgres://u:CANARY@h/d?CANARY=1", "unknown option"),
            (
                "postgres://u:CANARY@h/d?password=CANARY",
                "password parameter",
            ),
            ("postgres://u:CANARY@h:CANARY/d", "not a valid"),
            (
                "postgres://u:CANARY@h/d?sslmode=require&sslrootcert=system",
                "verify-full",
            ),
        ] {
            let err = parse(url).unwrap_err().to_string();
            assert!(err.contains(says), "{url}: {err}");
            assert!(err.starts_with("BETA9_STORE_URL"), "{err}");
            if !says.contains("unknown") {
                assert!(!err.contains("CANARY"), "{url}: {err}");
            }
        }
        let both = Target::parse(
            "postgres://u:pw@h/d",
            "BETA9_STORE_URL",
            Some("/run/secrets/pw".into()),
            None,
        );
        assert!(both.unwrap_err().to_string().contains("keep one"));
    }

    #[test]
    fn verify_modes_need_a_root_certificate() {
        let t = parse("postgres://u@h/d?sslmode=verify-ca").unwrap();
        let err = t.tls_config().unwrap_err().to_string();
        assert!(err.contains("sslrootcert"), "{err}");
        let t =
            parse("postgres://u@h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem").unwrap();
        let err = t.tls_config().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        assert!(parse("postgres://u@h/d?sslmode=require")
            .unwrap()
            .tls_config()
            .is_ok());
    }

    #[test]
    fn require_with_a_root_certificate_verifies_the_ca() {
        // libpq: a root certificate file (given, or ~/.postgresql/root.crt) turns `require` into
        // `verify-ca`; `prefer` never verifies.
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".postgresql");
        fsutil::ensure_dir(&dir).unwrap();
        fsutil::write_atomic(&dir, "root.crt", b"not a certificate").unwrap();
        let with_home = |url: &str| {
            Target::parse(url, "BETA9_STORE_URL", None, Some(home.path()))
                .unwrap()
                .tls_config()
        };
        let err = with_home("postgres://u@h/d?sslmode=require").unwrap_err();
        assert!(err.to_string().contains("root.crt"), "{err}");
        assert!(with_home("postgres://u@h/d?sslmode=prefer").is_ok());
        assert!(with_home("postgres://u@h/d?sslmode=verify-full").is_err());
    }

    #[test]
    fn password_files_lose_their_trailing_newline() {
        let t = tempfile::tempdir().unwrap();
        fsutil::write_atomic(t.path(), "pw", b"s3cret\r\n").unwrap();
        assert_eq!(
            read_password(&t.path().join("pw")).unwrap().as_slice(),
            b"s3cret"
        );
        assert!(read_password(&t.path().join("missing")).is_err());
    }
}

/// Which authentication requests the client answers (docs/postgres.md, "Passwords and
/// unverified servers"). `None` in [`Target`]: every request tokio-postgres knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AuthPolicy {
    cleartext: bool,
    md5: bool,
    scram: bool,
    /// Over TLS, SCRAM only with channel binding (the server offers `SCRAM-SHA-256-PLUS`).
    binding: bool,
    /// The setting a refusal names.
    setting: &'static str,
}

impl AuthPolicy {
    /// libpq's `require_auth`: a comma-separated list of `password`, `md5`, `scram-sha-256`,
    /// `none` (also `gss`, `sspi`, which tokio-postgres does not speak), or the same each with a
    /// leading `!` (every method but those).
    fn require_auth(list: &str) -> Option<AuthPolicy> {
        let items: Vec<&str> = list.split(',').map(str::trim).collect();
        let negated = items.iter().all(|i| i.starts_with('!'));
        if !negated && items.iter().any(|i| i.starts_with('!')) {
            return None;
        }
        let mut named = (false, false, false);
        for item in &items {
            match item.trim_start_matches('!') {
                "password" => named.0 = true,
                "md5" => named.1 = true,
                "scram-sha-256" => named.2 = true,
                "none" | "gss" | "sspi" => {}
                _ => return None,
            }
        }
        Some(AuthPolicy {
            cleartext: named.0 != negated,
            md5: named.1 != negated,
            scram: named.2 != negated,
            binding: false,
            setting: "require_auth",
        })
    }

    /// The default with a password and a server that is not verified: SCRAM only, with channel
    /// binding over TLS unless the URL names `channel_binding` itself.
    fn unverified(mode: SslMode, binding: bool) -> AuthPolicy {
        AuthPolicy {
            cleartext: false,
            md5: false,
            scram: true,
            binding,
            setting: match mode {
                SslMode::Disable => "sslmode=disable",
                SslMode::Prefer => "sslmode=prefer",
                _ => "sslmode=require without a root certificate",
            },
        }
    }

    /// Why the authentication request `code` (with its body) is refused, if it is.
    fn refuses(&self, code: u32, body: &[u8], tls: bool) -> Option<String> {
        let what = match code {
            3 if !self.cleartext => "a cleartext password",
            5 if !self.md5 => "an MD5 password hash",
            10 if !self.scram => "a SCRAM password proof",
            10 if tls && self.binding && !mechanisms(body).any(|m| m == b"SCRAM-SHA-256-PLUS") => {
                "a SCRAM password proof without channel binding"
            }
            _ => return None,
        };
        let hint = if self.setting == "require_auth" {
            "the URL's require_auth does not allow it".to_string()
        } else {
            format!(
                "the server is not verified ({}): use sslmode=verify-full with sslrootcert, or allow it with require_auth",
                self.setting
            )
        };
        Some(format!("the server asked for {what}; not sent: {hint}"))
    }
}

/// The NUL-terminated mechanism names of an AuthenticationSASL body (after the code).
fn mechanisms(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|b| *b == 0).filter(|m| !m.is_empty())
}

/// A stream that watches the server's messages until authentication is over and fails the read
/// that brings an authentication request the policy refuses, so tokio-postgres never answers it.
/// Below TLS it also sees the one-byte answer to an SSLRequest: `S` hands the watching over to the
/// guard above TLS.
struct AuthGuard<S> {
    inner: S,
    policy: AuthPolicy,
    tls: bool,
    state: Watch,
    /// The header (type and length) or the body of the message being read.
    buf: Vec<u8>,
    /// Body bytes of a message that is not kept, still to skip.
    skip: usize,
    refused: Arc<std::sync::Mutex<Option<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// Nothing written yet.
    Start,
    /// An SSLRequest was written: the next byte read answers it.
    SslAnswer,
    Messages,
    Done,
}

/// An authentication request's body is small (a SASL mechanism list); more is refused.
const AUTH_MESSAGE_LIMIT: usize = 4096;

impl<S> AuthGuard<S> {
    fn new(
        inner: S,
        policy: AuthPolicy,
        tls: bool,
        refused: Arc<std::sync::Mutex<Option<String>>>,
    ) -> Self {
        AuthGuard {
            inner,
            policy,
            tls,
            state: if tls { Watch::Messages } else { Watch::Start },
            buf: Vec::new(),
            skip: 0,
            refused,
        }
    }

    /// Feeds bytes the server sent; an error once a refused request is seen.
    fn watch(&mut self, mut data: &[u8]) -> std::result::Result<(), String> {
        while !data.is_empty() {
            match self.state {
                Watch::Done => return Ok(()),
                Watch::Start => self.state = Watch::Messages,
                Watch::SslAnswer => {
                    self.state = if data[0] == b'S' {
                        Watch::Done
                    } else {
                        Watch::Messages
                    };
                    data = &data[1..];
                }
                Watch::Messages => {
                    if self.skip > 0 {
                        let n = self.skip.min(data.len());
                        self.skip -= n;
                        data = &data[n..];
                        continue;
                    }
                    let need = if self.buf.len() < 5 {
                        5
                    } else {
                        let len = u32::from_be_bytes([
                            self.buf[1],
                            self.buf[2],
                            self.buf[3],
                            self.buf[4],
                        ]) as usize;
                        1 + len
                    };
                    let n = (need - self.buf.len()).min(data.len());
                    self.buf.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    if self.buf.len() < need {
                        continue;
                    }
                    if need == 5 {
                        let len = u32::from_be_bytes([
                            self.buf[1],
                            self.buf[2],
                            self.buf[3],
                            self.buf[4],
                        ]) as usize;
                        if len < 4 {
                            return Err("the server sent a malformed message".into());
                        }
                        if self.buf[0] != b'R' {
                            self.skip = len - 4;
                            self.buf.clear();
                        } else if len > AUTH_MESSAGE_LIMIT {
                            return Err(
                                "the server sent an oversized authentication request".into()
                            );
                        } else if len == 4 {
                            return Err("the server sent a malformed authentication request".into());
                        }
                        continue;
                    }
                    let body = std::mem::take(&mut self.buf);
                    let code = u32::from_be_bytes([
                        body.get(5).copied().unwrap_or(0),
                        body.get(6).copied().unwrap_or(0),
                        body.get(7).copied().unwrap_or(0),
                        body.get(8).copied().unwrap_or(0),
                    ]);
                    if code == 0 {
                        // AuthenticationOk: nothing more to watch.
                        self.state = Watch::Done;
                        return Ok(());
                    }
                    if let Some(why) =
                        self.policy
                            .refuses(code, body.get(9..).unwrap_or_default(), self.tls)
                    {
                        return Err(why);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The SSLRequest message: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for AuthGuard<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &polled {
            if this.state != Watch::Done {
                let fresh = buf.filled()[before..].to_vec();
                if let Err(why) = this.watch(&fresh) {
                    buf.set_filled(before);
                    if let Ok(mut slot) = this.refused.lock() {
                        *slot = Some(why);
                    }
                    return std::task::Poll::Ready(Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        "authentication request refused",
                    )));
                }
            }
        }
        polled
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for AuthGuard<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.state == Watch::Start {
            this.state = if data.starts_with(&SSL_REQUEST) {
                Watch::SslAnswer
            } else {
                Watch::Messages
            };
        }
        std::pin::Pin::new(&mut this.inner).poll_write(cx, data)
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: tokio_postgres::tls::TlsStream + Unpin> tokio_postgres::tls::TlsStream for AuthGuard<S> {
    fn channel_binding(&self) -> tokio_postgres::tls::ChannelBinding {
        self.inner.channel_binding()
    }
}

/// A TLS connector whose streams are watched by an [`AuthGuard`] above TLS.
struct GuardedTls<T> {
    inner: T,
    policy: AuthPolicy,
    refused: Arc<std::sync::Mutex<Option<String>>>,
}

impl<S, T> tokio_postgres::tls::TlsConnect<S> for GuardedTls<T>
where
    T: tokio_postgres::tls::TlsConnect<S> + Send + 'static,
    T::Future: Send + 'static,
    T::Stream: Send + 'static,
    S: Send + 'static,
{
    type Stream = AuthGuard<T::Stream>;
    type Error = T::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = std::result::Result<Self::Stream, T::Error>> + Send>,
    >;

    fn connect(self, stream: S) -> Self::Future {
        let GuardedTls {
            inner,
            policy,
            refused,
        } = self;
        Box::pin(async move {
            let tls = inner.connect(stream).await?;
            Ok(AuthGuard::new(tls, policy, true, refused))
        })
    }
}

#[cfg(test)]
mod auth_tests {
    use super::*;

    fn guard(policy: AuthPolicy, tls: bool) -> AuthGuard<()> {
        AuthGuard::new((), policy, tls, Arc::new(std::sync::Mutex::new(None)))
    }

    fn auth(code: u32, extra: &[u8]) -> Vec<u8> {
        let mut m = vec![b'R'];
        m.extend_from_slice(&(8 + extra.len() as u32).to_be_bytes());
        m.extend_from_slice(&code.to_be_bytes());
        m.extend_from_slice(extra);
        m
    }

    #[test]
    fn requests_are_seen_however_the_bytes_are_split() {
        let strict = AuthPolicy::unverified(SslMode::Prefer, true);
        // A notice first (skipped), then the cleartext request, fed one byte at a time.
        let mut stream = vec![b'N', 0, 0, 0, 6, b'x', b'y'];
        stream.extend(auth(3, b""));
        let mut g = guard(strict, false);
        let fed: Vec<_> = stream.iter().map(|b| g.watch(&[*b])).collect();
        assert!(fed[..fed.len() - 1].iter().all(|r| r.is_ok()));
        let why = fed.last().unwrap().clone().unwrap_err();
        assert!(
            why.contains("cleartext") && why.contains("sslmode=prefer"),
            "{why}"
        );
        // SCRAM with PLUS over TLS passes; without PLUS it does not; in plaintext it does.
        let plus = auth(10, b"SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0");
        let plain = auth(10, b"SCRAM-SHA-256\0\0");
        assert!(guard(strict, true).watch(&plus).is_ok());
        assert!(guard(strict, true).watch(&plain).is_err());
        assert!(guard(strict, false).watch(&plain).is_ok());
        // After AuthenticationOk nothing is watched.
        let mut g = guard(strict, false);
        let mut ok_then = auth(0, b"");
        ok_then.extend(auth(3, b""));
        assert!(g.watch(&ok_then).is_ok());
        // Below TLS: `S` answers the SSLRequest and hands over to the guard above TLS.
        let mut g = guard(strict, false);
        g.state = Watch::SslAnswer;
        let mut after = vec![b'S'];
        after.extend(auth(3, b""));
        assert!(g.watch(&after).is_ok());
    }

    #[test]
    fn require_auth_lists_as_libpq_reads_them() {
        let p = AuthPolicy::require_auth("password,md5").unwrap();
        assert!(p.cleartext && p.md5 && !p.scram);
        let p = AuthPolicy::require_auth("!password").unwrap();
        assert!(!p.cleartext && p.md5 && p.scram);
        assert!(AuthPolicy::require_auth("password,!md5").is_none());
        assert!(AuthPolicy::require_auth("kerberos").is_none());
        assert!(AuthPolicy::require_auth("none").is_some());
    }
}
