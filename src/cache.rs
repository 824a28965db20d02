//! Short-lived registry tokens (ECR, Google), cached on disk so each fresh `get` process can reuse
//! them: sealed with the store's key (purpose `token-cache`), one file per cache key, refreshed
//! under a per-key lock so many concurrent cold `get`s make one upstream call.

use crate::actions::Context;
use crate::error::Result;
use crate::fsutil;
use crate::paths;
use crate::secret::{Login, SecretBuf};
use crate::store::crypt::{self, Key, Purpose};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;

/// One cached token and its lifetime.
pub struct CachedToken {
    pub username: String,
    pub secret: SecretString,
    /// Unix seconds at which the upstream says the token dies.
    pub expires_at: u64,
    /// Unix seconds at which we fetched it.
    pub fetched_at: u64,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("username", &self.username)
            .field("secret", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .field("fetched_at", &self.fetched_at)
            .finish()
    }
}

impl CachedToken {
    pub fn login(&self) -> Login {
        Login::new(&self.username, &self.secret)
    }

    /// The token's sealed plaintext. One of the few places a secret is exposed for serialising.
    fn to_json(&self) -> SecretBuf {
        let mut out = SecretBuf::with_capacity(self.secret.expose_secret().len() * 2 + 128);
        let body = serde_json::json!({
            "username": self.username,
            "expires_at": self.expires_at,
            "fetched_at": self.fetched_at,
        });
        // Write the secret straight into the zeroizing buffer, not through a `Value`.
        let _ = out.write_all(b"{\"secret\":");
        let _ = serde_json::to_writer(&mut out, self.secret.expose_secret());
        let _ = out.write_all(b",\"meta\":");
        let _ = serde_json::to_writer(&mut out, &body);
        let _ = out.write_all(b"}");
        out
    }

    fn from_json(bytes: &[u8]) -> Option<CachedToken> {
        #[derive(Deserialize)]
        struct Meta {
            username: String,
            expires_at: u64,
            fetched_at: u64,
        }
        #[derive(Deserialize)]
        struct Raw {
            secret: SecretString,
            meta: Meta,
        }
        let raw: Raw = serde_json::from_slice(bytes).ok()?;
        Some(CachedToken {
            username: raw.meta.username,
            secret: raw.secret,
            expires_at: raw.meta.expires_at,
            fetched_at: raw.meta.fetched_at,
        })
    }
}

/// How usable a cached token is at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Use it; no refresh due.
    Fresh,
    /// Refresh is due, but the token still works: the fallback if refreshing fails.
    Stale,
    /// Dead; never hand it out.
    Expired,
}

/// Refresh a token once `lifetime / 12` (11 h of a 12 h ECR token, as the design documents say)
/// or `min_margin` seconds before expiry, whichever is earlier; expired `hard_margin` seconds
/// before the upstream's own expiry (clock skew, time for docker to use it).
pub fn freshness(t: &CachedToken, now: u64, min_margin: u64, hard_margin: u64) -> Freshness {
    let lifetime = t.expires_at.saturating_sub(t.fetched_at);
    let margin = (lifetime / 12).max(min_margin);
    if now + hard_margin >= t.expires_at {
        Freshness::Expired
    } else if now + margin >= t.expires_at || now < t.fetched_at {
        // A clock that went backwards makes the fetch time untrustworthy: refresh.
        Freshness::Stale
    } else {
        Freshness::Fresh
    }
}

/// The on-disk cache for one workspace.
pub struct TokenCache {
    dir: PathBuf,
    workspace: String,
    key: Key,
}

impl TokenCache {
    /// Opens the cache. It needs the master key, so it exists only once an entry was read.
    pub fn open(ctx: &Context) -> Result<TokenCache> {
        Ok(TokenCache {
            dir: paths::cache_dir(&ctx.env, &ctx.workspace)?,
            workspace: ctx.workspace.clone(),
            key: ctx.store.token_cache_key()?,
        })
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// File name for a cache key: a hash, so names reveal neither registries nor key material.
    fn file_name(cache_key: &str) -> String {
        let digest = Sha256::digest(cache_key.as_bytes());
        format!("tok-{}", hex::encode(&digest[..16]))
    }

    /// The cached token, if there is a readable one. Any damage just means "not cached".
    pub fn read(&self, cache_key: &str) -> Option<CachedToken> {
        let name = Self::file_name(cache_key);
        let sealed = std::fs::read(self.dir.join(&name)).ok()?;
        let plain = crypt::open(
            &self.key,
            Purpose::TokenCache,
            &self.workspace,
            &name,
            &sealed,
        );
        match plain {
            Ok(p) => CachedToken::from_json(p.as_slice()),
            Err(e) => {
                tracing::debug!(file = %name, error = ?e, "ignoring unreadable cache file");
                None
            }
        }
    }

    pub fn write(&self, cache_key: &str, token: &CachedToken) -> Result<()> {
        let name = Self::file_name(cache_key);
        fsutil::ensure_dir(&self.dir)?;
        let plain = token.to_json();
        let sealed = crypt::seal(
            &self.key,
            Purpose::TokenCache,
            &self.workspace,
            &name,
            plain.as_slice(),
        )?;
        fsutil::write_atomic(&self.dir, &name, &sealed)?;
        Ok(())
    }

    /// Blocks until this process is the only one refreshing `cache_key`. The holder's upstream call
    /// is time-bounded, so waiting is bounded too.
    fn lock(&self, cache_key: &str) -> Result<std::fs::File> {
        fsutil::ensure_dir(&self.dir)?;
        let path = self
            .dir
            .join(format!("{}.lock", Self::file_name(cache_key)));
        Ok(fsutil::lock_file(&path)?)
    }
}

/// Policy for one kind of token.
pub struct Policy {
    pub min_margin: u64,
    pub hard_margin: u64,
}

/// Cached token if fresh; else one process refreshes while the others wait and then read what it
/// wrote. If the refresh fails and the old token still works, it is used with a note on stderr.
pub fn get_or_refresh(
    ctx: &Context,
    cache: &TokenCache,
    cache_key: &str,
    policy: &Policy,
    fetch: impl FnOnce() -> Result<CachedToken>,
) -> Result<CachedToken> {
    let now = || ctx.now_unix().max(unix_now());
    let fresh = |t: &CachedToken| {
        freshness(t, now(), policy.min_margin, policy.hard_margin) == Freshness::Fresh
    };
    if let Some(t) = cache.read(cache_key).filter(fresh) {
        tracing::debug!("token cache hit");
        return Ok(t);
    }
    // A cache that cannot be locked (read-only or full disk) costs single-flight, not the answer.
    let _lock = match cache.lock(cache_key) {
        Ok(lock) => Some(lock),
        Err(e) => {
            ctx.note(format!(
                "token cache unavailable ({}); fetching without it",
                e.protocol_message()
            ));
            None
        }
    };
    let cached = cache.read(cache_key);
    if let Some(t) = cached.as_ref().filter(|t| fresh(t)) {
        tracing::debug!("token refreshed by another process");
        return Ok(CachedToken {
            username: t.username.clone(),
            secret: t.secret.clone(),
            expires_at: t.expires_at,
            fetched_at: t.fetched_at,
        });
    }
    match fetch() {
        Ok(token) => {
            if let Err(e) = cache.write(cache_key, &token) {
                ctx.note(format!("token not cached: {}", e.protocol_message()));
            }
            Ok(token)
        }
        Err(e) => match cached {
            Some(t)
                if freshness(&t, now(), policy.min_margin, policy.hard_margin)
                    != Freshness::Expired =>
            {
                ctx.note(format!(
                    "refresh failed ({}); using the cached token, valid for {} more s",
                    e.protocol_message(),
                    t.expires_at.saturating_sub(now())
                ));
                Ok(t)
            }
            _ => Err(e),
        },
    }
}

/// Wall-clock seconds, for callers that need "now" after a wait.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// SHA-256 over length-prefixed parts, hex: a cache key component from key material that cannot
/// be reversed and where `("ab","c")` and `("a","bc")` differ.
pub fn digest_parts(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(fetched: u64, expires: u64) -> CachedToken {
        CachedToken {
            username: "AWS".into(),
            secret: SecretString::from("CANARY-token"),
            expires_at: expires,
            fetched_at: fetched,
        }
    }

    #[test]
    fn twelve_hour_tokens_refresh_after_eleven() {
        let t = tok(0, 12 * 3600);
        assert_eq!(freshness(&t, 10 * 3600, 60, 30), Freshness::Fresh);
        assert_eq!(freshness(&t, 11 * 3600 + 1, 60, 30), Freshness::Stale);
        assert_eq!(freshness(&t, 12 * 3600 - 10, 60, 30), Freshness::Expired);
    }

    #[test]
    fn short_tokens_refresh_earlier() {
        // A 1 h Google token with a 225 s floor: 300 s margin.
        let t = tok(0, 3600);
        assert_eq!(freshness(&t, 3290, 225, 10), Freshness::Fresh);
        assert_eq!(freshness(&t, 3310, 225, 10), Freshness::Stale);
        // A token that arrives nearly dead is stale at once.
        let t = tok(0, 100);
        assert_eq!(freshness(&t, 1, 225, 10), Freshness::Stale);
        assert_eq!(freshness(&t, 95, 225, 10), Freshness::Expired);
    }

    #[test]
    fn clock_going_backwards_forces_refresh() {
        let t = tok(1000, 1000 + 12 * 3600);
        assert_eq!(freshness(&t, 500, 60, 30), Freshness::Stale);
    }

    #[test]
    fn token_json_round_trips_and_debug_is_redacted() {
        let t = tok(5, 10);
        let back = CachedToken::from_json(t.to_json().as_slice()).unwrap();
        assert_eq!(back.secret.expose_secret(), "CANARY-token");
        assert_eq!((back.fetched_at, back.expires_at), (5, 10));
        assert!(!format!("{t:?}").contains("CANARY"));
    }

    #[test]
    fn digest_parts_is_unambiguous() {
        assert_ne!(digest_parts(&[b"ab", b"c"]), digest_parts(&[b"a", b"bc"]));
        assert_eq!(digest_parts(&[b"x"]).len(), 64);
    }
}
