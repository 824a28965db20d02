//! Which authentication requests the client answers, enforced on the wire before
//! tokio-postgres sees them (docs/postgres.md, "Passwords and unverified servers").

use std::sync::Arc;

/// Which authentication requests the client answers (docs/postgres.md, "Passwords and
/// unverified servers"). `None` in [`Target`]: every request tokio-postgres knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AuthPolicy {
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
    pub(super) fn require_auth(list: &str) -> Option<AuthPolicy> {
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
    pub(super) fn unverified(setting: &'static str, binding: bool) -> AuthPolicy {
        AuthPolicy {
            cleartext: false,
            md5: false,
            scram: true,
            binding,
            setting,
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
pub(super) fn mechanisms(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|b| *b == 0).filter(|m| !m.is_empty())
}

/// A stream that watches the server's messages until authentication is over and fails the read
/// that brings an authentication request the policy refuses, so tokio-postgres never answers it.
/// Below TLS it also sees the one-byte answer to an SSLRequest: `S` hands the watching over to the
/// guard above TLS.
pub(super) struct AuthGuard<S> {
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
pub(super) enum Watch {
    /// Nothing written yet.
    Start,
    /// An SSLRequest was written: the next byte read answers it.
    SslAnswer,
    Messages,
    Done,
}

/// An authentication request's body is small (a SASL mechanism list); more is refused.
pub(super) const AUTH_MESSAGE_LIMIT: usize = 4096;

impl<S> AuthGuard<S> {
    pub(super) fn new(
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
    // The reason crosses tokio-postgres as an I/O error's text and comes back through `refused`.
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
pub(super) const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

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
pub(super) struct GuardedTls<T> {
    pub(super) inner: T,
    pub(super) policy: AuthPolicy,
    pub(super) refused: Arc<std::sync::Mutex<Option<String>>>,
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
        let strict = AuthPolicy::unverified("sslmode=prefer", true);
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
