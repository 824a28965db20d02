//! The blocking connection: a current-thread runtime built only when a connection is opened,
//! a deadline on every call, and a goodbye on drop.

use super::auth::AuthPolicy;
use super::auth::{AuthGuard, GuardedTls};
use super::errors::{classify, timeout_error};
use super::errors::{PgError, PgResult};
use super::url::{SslMode, Target};
use crate::error::{one_line, Error, Result};
use crate::fsutil;
use crate::timeout::Deadline;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::config::Host;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Row;

/// A password file is a mounted secret holding one line.
const PASSWORD_LIMIT: u64 = 4096;

impl Target {
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

    pub(super) fn start<T>(
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
    pub(super) fn start_guarded(
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
                                Error::at(self.what, "the host is not a valid TLS server name")
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
        Err(last.unwrap_or_else(|| Error::at(self.what, "no TCP host to connect to")))
    }

    pub(super) fn timeout(&self, deadline: Deadline) -> Error {
        timeout_error(&self.label(), deadline)
    }
}

pub(super) fn read_password(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let what = || format!("cannot read the password file {}", path.display());
    let bytes = fsutil::read_operator_file(path, PASSWORD_LIMIT)
        .map_err(|e| Error::at(what(), e.to_string()))?
        .ok_or_else(|| Error::at(what(), "no such file"))?;
    // A mounted secret or `echo pw > file` ends in a newline that is not part of the password.
    let mut end = bytes.len();
    while end > 0 && matches!(bytes[end - 1], b'\n' | b'\r') {
        end -= 1;
    }
    Ok(zeroize::Zeroizing::new(bytes[..end].to_vec()))
}

/// marks the connection broken (its state is unknown), and the caller drops it.
pub struct Conn {
    rt: Option<tokio::runtime::Runtime>,
    client: Option<tokio_postgres::Client>,
    task: Option<tokio::task::JoinHandle<()>>,
    place: String,
    broken: std::cell::Cell<bool>,
}

/// A typed parameter: sent with its type in the one round trip of an unprepared query.
pub(crate) type Param<'a> = (&'a (dyn ToSql + Sync), Type);

impl Conn {
    pub(crate) fn is_broken(&self) -> bool {
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
    pub(crate) fn query(
        &self,
        deadline: Deadline,
        sql: &str,
        params: &[Param<'_>],
    ) -> PgResult<Vec<Row>> {
        let client = self.client()?;
        self.run(deadline, client.query_typed(sql, params))
    }

    /// Statements without parameters or results (`BEGIN`, `COMMIT`, DDL), in the simple protocol.
    pub(crate) fn batch(&self, deadline: Deadline, sql: &str) -> PgResult<()> {
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
