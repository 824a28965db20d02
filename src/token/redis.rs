//! The shared token cache on Redis (`BETA9_TOKEN_CACHE_URL`): the [`SharedStore`] operations as
//! single commands or small Lua scripts over one blocking connection, opened on the first
//! operation (so a local hit opens no socket), each exchange bounded by a wall-clock deadline
//! (docs/fleet.md, "Redis commands", "Timing").
//!
//! The URL carries the password: it is kept as a secret, never formatted, and the `redis` crate's
//! own error texts (which may quote parts of it) are never shown; failures are reduced to a cause
//! class ([`classify`]).

use super::fleet::{Names, SharedStore, Status, Unavailable};
use crate::env::TOKEN_CACHE_URL;
use crate::error::{Error, SettingReason};
use crate::fsutil;
use crate::net::tls;
use redis::{ConnectionAddr, IntoConnectionInfo};
use secrecy::{ExposeSecret, SecretString};
use std::cell::{OnceCell, RefCell};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Wall-clock deadline of every Redis exchange (connecting included): a healthy Redis answers in
/// well under a millisecond on a LAN, and a fleet must not pay seconds per `get` for a sick one.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_millis(300);
/// Wall-clock deadline of an exchange that opens the connection first (TCP, TLS, `AUTH`, the
/// command): each socket operation still times out after [`OP_TIMEOUT`], but the TLS set-up also
/// does local work (the redis crate reads the system's CA files on every TLS connect).
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(1);
/// A shared value larger than this is not ours (a token is a few kB sealed).
const VALUE_LIMIT: usize = 64 * 1024;
/// A CA file larger than this is refused.
const CA_LIMIT: u64 = 1 << 20;

/// The entry and the backoff record when each is a string of at most `ARGV[1]` bytes, and `1`
/// when the lock exists as a string; nil for the rest. Redis checks the sizes, so an oversized
/// value never crosses the wire (docs/fleet.md, "Redis commands"). KEYS: entry, lock, backoff.
const STATUS: &str = "local function small(k) \
     if redis.call('TYPE', k).ok ~= 'string' then return false end \
     if redis.call('STRLEN', k) > tonumber(ARGV[1]) then return false end \
     return redis.call('GET', k) end \
     local locked = false \
     if redis.call('TYPE', KEYS[2]).ok == 'string' then locked = '1' end \
     return {small(KEYS[1]), locked, small(KEYS[3])}";
/// Publish and release in one step, only while `ARGV[1]` holds the lease (compare-and-set).
/// KEYS: entry, lock, backoff. ARGV: holder, sealed value, TTL in ms.
const PUBLISH: &str = "if redis.call('GET', KEYS[2]) == ARGV[1] then \
     redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) \
     redis.call('DEL', KEYS[2], KEYS[3]) \
     return 1 end return 0";
/// Compare-and-delete. KEYS: lock. ARGV: holder.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) end return 0";
/// Compare-and-extend. KEYS: lock. ARGV: holder, lease in ms.
const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

/// How to reach the server: the URL (a secret), the CA file, the timeout. Cloned into the lease
/// renewing thread, which opens its own connection.
#[derive(Clone)]
struct Connector {
    url: SecretString,
    ca_file: Option<PathBuf>,
    timeout: Duration,
}

impl Connector {
    /// The crate's client for the URL: local work only (the URL, the CA file, the roots).
    fn client(&self) -> Result<redis::Client, Unavailable> {
        let bad_url = || Unavailable("BETA9_TOKEN_CACHE_URL is not a usable Redis URL".into());
        let info = self
            .url
            .expose_secret()
            .into_connection_info()
            .map_err(|_| bad_url())?;
        // Only AUTH (and SELECT) in the set-up round trip: the crate reads every reply of it even
        // after a timeout, so each extra command (CLIENT SETINFO) would cost another timeout
        // against a server that accepts but never answers.
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let info = info.set_redis_settings(settings);
        if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) {
            // rustls picks the process's provider; ring is the one compiled in (no aws-lc).
            let _ = rustls::crypto::ring::default_provider().install_default();
            match &self.ca_file {
                // The platform's roots plus the operator's CA, in the crate's PEM-bundle form.
                Some(path) => {
                    let ca = fsutil::read_operator_file(path, CA_LIMIT)
                        .ok()
                        .flatten()
                        .ok_or_else(|| {
                            Unavailable("cannot read BETA9_TOKEN_CACHE_CA_FILE".into())
                        })?;
                    let certs = redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(tls::roots_pem(&ca)),
                    };
                    redis::Client::build_with_tls(info, certs)
                }
                // The system's CA store, read by rustls-native-certs as src/net/tls.rs does.
                None => redis::Client::open(info),
            }
        } else {
            redis::Client::open(info)
        }
        .map_err(|_| bad_url())
    }

    /// Connects, with TLS and `AUTH` as the URL says; every socket operation times out after
    /// [`OP_TIMEOUT`] (the exchange as a whole is bounded by [`exchange`]).
    fn connect(
        client: &redis::Client,
        timeout: Duration,
    ) -> Result<redis::Connection, Unavailable> {
        let con = client
            .get_connection_with_timeout(timeout)
            .map_err(|e| classify(&e))?;
        con.set_read_timeout(Some(timeout))
            .and_then(|()| con.set_write_timeout(Some(timeout)))
            .map_err(|e| classify(&e))?;
        Ok(con)
    }
}

/// The `redis` crate's error as a cause class. Its message is never used: it may quote the URL.
fn classify(e: &redis::RedisError) -> Unavailable {
    let what = if e.is_timeout() {
        format!("no answer within {} ms", OP_TIMEOUT.as_millis())
    } else if e.is_connection_refusal() {
        "connection refused".into()
    } else if e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
    {
        "authentication refused".into()
    } else if e.is_connection_dropped() {
        "connection lost".into()
    } else if e.is_io_error() {
        "connection failed".into()
    } else if let Some(code) = e.code() {
        let code: String = code
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(24)
            .collect();
        format!("error reply {code}")
    } else {
        "unexpected reply".into()
    };
    Unavailable(what)
}

/// One exchange (connecting first when `con` is `None`) on a thread of its own, waited for at
/// most [`OP_TIMEOUT`], or [`SETUP_TIMEOUT`] when it connects, and never past `left`: the
/// crate's socket timeouts bound each read, not the exchange, so a server that dribbles a byte
/// now and then would otherwise hold the caller for ever (docs/fleet.md, "Timing"). After the
/// limit the thread is left behind with its connection; it ends with its socket or with the
/// process. Returns the connection to keep, if the exchange succeeded.
fn exchange<T>(
    connector: &Connector,
    con: Option<redis::Connection>,
    cmd: redis::Cmd,
    left: Duration,
) -> (Option<redis::Connection>, Result<T, Unavailable>)
where
    T: redis::FromRedisValue + Send + 'static,
{
    let (con, limit) = match con {
        Some(c) => (Ok(c), connector.timeout),
        None => match connector.client() {
            Ok(client) => (Err(client), SETUP_TIMEOUT.max(connector.timeout)),
            Err(why) => return (None, Err(why)),
        },
    };
    let limit = limit.min(left);
    let timeout = connector.timeout;
    let (tx, rx) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("redis".into())
        .spawn(move || {
            let mut con = match con.or_else(|client| Connector::connect(&client, timeout)) {
                Ok(c) => c,
                Err(why) => {
                    let _ = tx.send((None, Err(why)));
                    return;
                }
            };
            let reply = cmd.query::<T>(&mut con).map_err(|e| classify(&e));
            let keep = reply.is_ok().then_some(con);
            let _ = tx.send((keep, reply));
        });
    if spawned.is_err() {
        return (None, Err(Unavailable("cannot start a thread".into())));
    }
    match rx.recv_timeout(limit) {
        Ok(done) => done,
        Err(_) => (
            None,
            Err(Unavailable(format!(
                "no answer within {} ms",
                limit.as_millis()
            ))),
        ),
    }
}

/// One blocking connection, opened on first use and dropped after any failure.
pub(crate) struct RedisStore {
    connector: Connector,
    con: RefCell<Option<redis::Connection>>,
    /// All exchanges of this process end within this much of the first one's start.
    total: Duration,
    ends: OnceCell<Instant>,
}

impl RedisStore {
    /// Checks the URL's form without any I/O (`redis://`, `rediss://`, `redis+unix://`, `unix://`).
    /// The error never contains the URL.
    /// Every exchange of the store ends within `total` (`BETA9_TIMEOUT`) of its first one.
    pub(crate) fn new(
        url: &str,
        ca_file: Option<PathBuf>,
        total: Duration,
    ) -> Result<RedisStore, Error> {
        let refuse = |why: &str| Error::setting(TOKEN_CACHE_URL, SettingReason::Says(why.into()));
        let Ok(info) = url.into_connection_info() else {
            return Err(refuse("is not a redis://, rediss:// or redis+unix:// URL"));
        };
        if matches!(info.addr(), ConnectionAddr::TcpTls { insecure: true, .. }) {
            return Err(refuse(
                "asks for TLS without certificate checks (#insecure); trust the server's CA with BETA9_TOKEN_CACHE_CA_FILE instead",
            ));
        }
        Ok(RedisStore {
            connector: Connector {
                url: SecretString::from(url.to_string()),
                ca_file,
                timeout: OP_TIMEOUT,
            },
            con: RefCell::new(None),
            total,
            ends: OnceCell::new(),
        })
    }

    fn run<T>(&self, cmd: &redis::Cmd) -> Result<T, Unavailable>
    where
        T: redis::FromRedisValue + Send + 'static,
    {
        let ends = *self.ends.get_or_init(|| Instant::now() + self.total);
        let left = ends.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Unavailable(format!(
                "no answer within BETA9_TIMEOUT ({} ms)",
                self.total.as_millis()
            )));
        }
        let con = self.con.borrow_mut().take();
        let (con, reply) = exchange(&self.connector, con, cmd.clone(), left);
        *self.con.borrow_mut() = con;
        reply
    }
}

fn ms(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

impl SharedStore for RedisStore {
    fn status(&self, names: &Names) -> Result<Status, Unavailable> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(STATUS)
            .arg(3)
            .arg(&names.entry)
            .arg(&names.lock)
            .arg(&names.backoff)
            .arg(VALUE_LIMIT);
        let values: Vec<Option<Vec<u8>>> = self.run(&cmd)?;
        let mut values = values.into_iter();
        let mut next = || values.next().flatten();
        let entry = next().filter(|v| v.len() <= VALUE_LIMIT);
        let locked = next().is_some();
        let backoff = next();
        Ok(Status {
            entry,
            locked,
            backoff,
        })
    }

    fn try_lock(&self, names: &Names, holder: &str, lease: Duration) -> Result<bool, Unavailable> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(&names.lock)
            .arg(holder)
            .arg("NX")
            .arg("PX")
            .arg(ms(lease));
        let reply: Option<String> = self.run(&cmd)?;
        Ok(reply.is_some())
    }

    fn publish(
        &self,
        names: &Names,
        holder: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, Unavailable> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(PUBLISH)
            .arg(3)
            .arg(&names.entry)
            .arg(&names.lock)
            .arg(&names.backoff)
            .arg(holder)
            .arg(value)
            .arg(ms(ttl));
        let done: i64 = self.run(&cmd)?;
        Ok(done == 1)
    }

    fn release(&self, names: &Names, holder: &str) -> Result<(), Unavailable> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RELEASE).arg(1).arg(&names.lock).arg(holder);
        let _: i64 = self.run(&cmd)?;
        Ok(())
    }

    fn set_backoff(&self, names: &Names, value: &[u8], ttl: Duration) -> Result<(), Unavailable> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(&names.backoff).arg(value).arg("PX").arg(ms(ttl));
        let _: Option<String> = self.run(&cmd)?;
        Ok(())
    }

    fn renewer(
        &self,
        names: &Names,
        holder: &str,
        lease: Duration,
    ) -> Box<dyn FnMut() -> bool + Send> {
        let connector = self.connector.clone();
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RENEW)
            .arg(1)
            .arg(&names.lock)
            .arg(holder)
            .arg(ms(lease));
        // Its own connection, opened at the first renewal (a quick mint never needs one).
        let mut con: Option<redis::Connection> = None;
        Box::new(move || {
            let (kept, reply) = exchange::<i64>(&connector, con.take(), cmd.clone(), lease);
            con = kept;
            let renewed = reply.is_ok_and(|n| n == 1);
            if !renewed {
                tracing::debug!("lease renewal failed or the lease was lost");
            }
            renewed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_without_io_and_never_echoed() {
        for ok in [
            "redis://:pw@127.0.0.1:6379/0",
            "rediss://user:pw@cache.example:6380",
            "redis+unix:///run/redis.sock?db=1&pass=pw",
            "unix:///run/redis.sock",
        ] {
            assert!(
                RedisStore::new(ok, None, Duration::from_secs(1)).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "http://:CANARY@host",
            "CANARY",
            "redis://[::1",
            "rediss://:CANARY@host:6380/#insecure",
        ] {
            let e = RedisStore::new(bad, None, Duration::from_secs(1))
                .err()
                .unwrap()
                .to_string();
            assert!(!e.contains("CANARY") && !e.contains("host"), "{e}");
        }
    }

    #[test]
    fn a_refused_connection_is_a_cause_class_without_the_url() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // The listener is gone: nothing listens on `port` now.
        let store = RedisStore::new(
            &format!("redis://:CANARY@127.0.0.1:{port}"),
            None,
            Duration::from_secs(1),
        )
        .unwrap();
        let names = Names {
            entry: "e".into(),
            lock: "l".into(),
            backoff: "b".into(),
        };
        let e = store.status(&names).unwrap_err();
        assert_eq!(e.0, "connection refused");
    }

    #[test]
    fn a_bad_url_is_the_setting_error_naming_the_variable() {
        let e = RedisStore::new("http://x", None, Duration::from_secs(1))
            .err()
            .unwrap();
        assert!(
            matches!(&e, Error::Setting { name, .. } if name == TOKEN_CACHE_URL),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "BETA9_TOKEN_CACHE_URL is not a redis://, rediss:// or redis+unix:// URL"
        );
    }
}
