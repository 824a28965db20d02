//! Short-lived registry tokens (ECR, Google), cached so each fresh `get` process can reuse them:
//! the [`TokenCache`] trait (get, put, single-flight lock, clear), the freshness rule, and the
//! refresh algorithm over any cache and an injected clock. The file backend is [`file`].

pub mod file;

use crate::clock::Clock;
use crate::error::Result;
pub use crate::guard::Guard;
use crate::login::Login;
use crate::secret::SecretBuf;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;

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

    /// A second handle on the same token.
    pub fn duplicate(&self) -> CachedToken {
        CachedToken {
            username: self.username.clone(),
            secret: self.secret.clone(),
            expires_at: self.expires_at,
            fetched_at: self.fetched_at,
        }
    }

    /// The token's plaintext, for a cache to seal. One of the few places a secret is exposed.
    pub fn to_json(&self) -> SecretBuf {
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

    pub fn from_json(bytes: &[u8]) -> Option<CachedToken> {
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

/// Where tokens are cached: a per-machine file cache today; the seam a shared cache plugs into.
pub trait TokenCache {
    /// The cached token for `key`, if there is a readable one. Any damage means "not cached".
    fn read(&self, key: &str) -> Option<CachedToken>;
    fn write(&self, key: &str, token: &CachedToken) -> Result<()>;
    /// Single flight: waits until this process is the only one refreshing `key`. The holder's
    /// upstream call is time-bounded, so waiting is bounded too. Released when the guard drops.
    fn lock(&self, key: &str) -> Result<Guard>;
    /// Forgets every token this cache holds (after a key rotation they cannot be opened; they are
    /// only a cache). Returns how many were removed.
    fn clear(&self) -> Result<usize>;
}

/// Policy for one kind of token.
pub struct Policy {
    pub min_margin: u64,
    pub hard_margin: u64,
}

/// Cached token if fresh; else one process refreshes while the others wait and then read what it
/// wrote. If the refresh fails and the old token still works, it is used with a note for stderr.
pub fn get_or_refresh(
    cache: &dyn TokenCache,
    cache_key: &str,
    policy: &Policy,
    clock: &dyn Clock,
    note: &dyn Fn(String),
    fetch: impl FnOnce() -> Result<CachedToken>,
) -> Result<CachedToken> {
    let now = || clock.now();
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
            note(format!(
                "token cache unavailable ({}); fetching without it",
                e.protocol_message()
            ));
            None
        }
    };
    let cached = cache.read(cache_key);
    if let Some(t) = cached.as_ref().filter(|t| fresh(t)) {
        tracing::debug!("token refreshed by another process");
        return Ok(t.duplicate());
    }
    match fetch() {
        Ok(token) => {
            if let Err(e) = cache.write(cache_key, &token) {
                note(format!("token not cached: {}", e.protocol_message()));
            }
            Ok(token)
        }
        Err(e) => match cached {
            Some(t)
                if freshness(&t, now(), policy.min_margin, policy.hard_margin)
                    != Freshness::Expired =>
            {
                note(format!(
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

/// No cache at all: every `get` mints (when the cache directory cannot be trusted).
pub struct NoTokenCache;

impl TokenCache for NoTokenCache {
    fn read(&self, _key: &str) -> Option<CachedToken> {
        None
    }
    fn write(&self, _key: &str, _token: &CachedToken) -> Result<()> {
        Ok(())
    }
    fn lock(&self, _key: &str) -> Result<Guard> {
        Ok(Guard::new(()))
    }
    fn clear(&self) -> Result<usize> {
        Ok(0)
    }
}

/// A cache in memory, for tests of the refresh algorithm and of the resolvers. `on_lock` runs
/// while the lock is being taken: a test uses it to play another process that refreshed meanwhile.
#[derive(Default)]
pub struct MemoryTokenCache {
    tokens: RefCell<BTreeMap<String, CachedToken>>,
    #[allow(clippy::type_complexity)]
    on_lock: RefCell<Option<Box<dyn FnMut(&MemoryTokenCache)>>>,
    pub locks: std::cell::Cell<usize>,
}

impl MemoryTokenCache {
    pub fn on_lock(&self, f: impl FnMut(&MemoryTokenCache) + 'static) {
        *self.on_lock.borrow_mut() = Some(Box::new(f));
    }
}

impl TokenCache for MemoryTokenCache {
    fn read(&self, key: &str) -> Option<CachedToken> {
        self.tokens.borrow().get(key).map(CachedToken::duplicate)
    }
    fn write(&self, key: &str, token: &CachedToken) -> Result<()> {
        self.tokens
            .borrow_mut()
            .insert(key.to_string(), token.duplicate());
        Ok(())
    }
    fn lock(&self, _key: &str) -> Result<Guard> {
        self.locks.set(self.locks.get() + 1);
        let hook = self.on_lock.borrow_mut().take();
        if let Some(mut f) = hook {
            f(self);
        }
        Ok(Guard::new(()))
    }
    fn clear(&self) -> Result<usize> {
        let n = self.tokens.borrow().len();
        self.tokens.borrow_mut().clear();
        Ok(n)
    }
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

    use crate::clock::ManualClock;
    use crate::error::Error;
    use std::cell::Cell;

    const POLICY: Policy = Policy {
        min_margin: 60,
        hard_margin: 30,
    };

    fn token(secret: &str, fetched: u64, expires: u64) -> CachedToken {
        CachedToken {
            username: "AWS".into(),
            secret: SecretString::from(secret),
            expires_at: expires,
            fetched_at: fetched,
        }
    }

    fn run(
        cache: &MemoryTokenCache,
        clock: &ManualClock,
        fetch: impl FnOnce() -> Result<CachedToken>,
    ) -> (Result<CachedToken>, Vec<String>) {
        let notes = RefCell::new(Vec::new());
        let r = get_or_refresh(
            cache,
            "k",
            &POLICY,
            clock,
            &|n| notes.borrow_mut().push(n),
            fetch,
        );
        (r, notes.into_inner())
    }

    #[test]
    fn a_fresh_token_is_served_without_lock_or_fetch() {
        let cache = MemoryTokenCache::default();
        let clock = ManualClock::at(1000);
        cache
            .write("k", &token("old", 1000, 1000 + 43_200))
            .unwrap();
        clock.advance(3600);
        let (r, notes) = run(&cache, &clock, || panic!("no fetch on a fresh token"));
        assert_eq!(r.unwrap().secret.expose_secret(), "old");
        assert_eq!(cache.locks.get(), 0);
        assert!(notes.is_empty());
    }

    #[test]
    fn a_stale_token_is_refreshed_once_and_cached() {
        let cache = MemoryTokenCache::default();
        let clock = ManualClock::at(1000);
        cache
            .write("k", &token("old", 1000, 1000 + 43_200))
            .unwrap();
        clock.advance(11 * 3600 + 1);
        let fetched = Cell::new(0);
        let (r, _) = run(&cache, &clock, || {
            fetched.set(fetched.get() + 1);
            Ok(token("new", clock.now(), clock.now() + 43_200))
        });
        assert_eq!(r.unwrap().secret.expose_secret(), "new");
        assert_eq!((fetched.get(), cache.locks.get()), (1, 1));
        assert_eq!(cache.read("k").unwrap().secret.expose_secret(), "new");
    }

    #[test]
    fn a_refresh_by_another_process_while_waiting_is_used_without_fetching() {
        let cache = MemoryTokenCache::default();
        let clock = ManualClock::at(50_000);
        let now = clock.now();
        // Another process holds the lock and writes a fresh token before we get it.
        cache.on_lock(move |c| {
            c.write("k", &token("theirs", now, now + 43_200)).unwrap();
        });
        let (r, _) = run(&cache, &clock, || panic!("the winner already refreshed"));
        assert_eq!(r.unwrap().secret.expose_secret(), "theirs");
    }

    #[test]
    fn a_failed_refresh_falls_back_to_a_stale_but_valid_token_and_never_to_an_expired_one() {
        let cache = MemoryTokenCache::default();
        let clock = ManualClock::at(0);
        cache.write("k", &token("old", 0, 43_200)).unwrap();
        clock.set(42_000); // stale: inside the last hour, 1,200 s left
        let unreachable = || {
            Err(Error::Unreachable {
                registry: "r".into(),
                detail: "down".into(),
            })
        };
        let (r, notes) = run(&cache, &clock, unreachable);
        assert_eq!(r.unwrap().secret.expose_secret(), "old");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("valid for 1200 more s"), "{notes:?}");
        clock.set(43_200 - 10); // within the hard margin: dead
        let (r, _) = run(&cache, &clock, unreachable);
        assert!(matches!(r, Err(Error::Unreachable { .. })));
    }

    #[test]
    fn digest_parts_is_unambiguous() {
        assert_ne!(digest_parts(&[b"ab", b"c"]), digest_parts(&[b"a", b"bc"]));
        assert_eq!(digest_parts(&[b"x"]).len(), 64);
    }
}
