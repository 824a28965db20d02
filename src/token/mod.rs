//! Short-lived registry tokens (ECR, Google), cached so each fresh `get` process can reuse them:
//! the [`TokenCache`] trait (get, put, single-flight lock, clear), the freshness rule, and the
//! refresh algorithm over any cache and an injected clock. The file backend is [`file`].
//!
//! A fleet's shared cache sits behind the local one ([`Fleet`], implemented by [`fleet`] over
//! [`redis`]): [`get_or_refresh`] asks it only on a local miss and only for tokens the resolver
//! marks as shareable with a [`ShareKey`], so a local hit never opens a socket.

pub(crate) mod file;
pub(crate) mod fleet;
pub(crate) mod redis;
pub(crate) mod workspace;

use crate::clock::Clock;
use crate::error::{Error, Result};
pub(crate) use crate::guard::Guard;
use crate::login::Login;
use crate::seal::{self, Key, Purpose};
use crate::secret::SecretBuf;
use hkdf::Hkdf;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;

/// Where a cached token came from: minted by this machine, or taken from the fleet's shared
/// cache (another machine minted it). What `ls` and `show` report; never secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Origin {
    #[default]
    Minted,
    Shared,
}

impl Origin {
    /// `local` or `shared`, as `ls` and `show` print it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Origin::Minted => "local",
            Origin::Shared => "shared",
        }
    }
}

/// One cached token and its lifetime.
pub(crate) struct CachedToken {
    pub(crate) username: String,
    pub(crate) secret: SecretString,
    /// Unix seconds at which the upstream says the token dies.
    pub(crate) expires_at: u64,
    /// Unix seconds at which we fetched it (the minting machine's clock for a shared token).
    pub(crate) fetched_at: u64,
    pub(crate) origin: Origin,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("username", &self.username)
            .field("secret", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .field("fetched_at", &self.fetched_at)
            .field("origin", &self.origin)
            .finish()
    }
}

impl CachedToken {
    pub(crate) fn login(&self) -> Login {
        Login::new(&self.username, &self.secret)
    }

    /// A second handle on the same token.
    pub(crate) fn duplicate(&self) -> CachedToken {
        CachedToken {
            username: self.username.clone(),
            secret: self.secret.clone(),
            expires_at: self.expires_at,
            fetched_at: self.fetched_at,
            origin: self.origin,
        }
    }

    /// The token's plaintext, for a cache to seal. One of the few places a secret is exposed.
    pub(crate) fn to_json(&self) -> SecretBuf {
        let mut out = SecretBuf::with_capacity(self.secret.expose_secret().len() * 2 + 128);
        let mut body = serde_json::json!({
            "username": self.username,
            "expires_at": self.expires_at,
            "fetched_at": self.fetched_at,
        });
        if self.origin == Origin::Shared {
            body["origin"] = "shared".into();
        }
        // Write the secret straight into the zeroizing buffer, not through a `Value`.
        let _ = out.write_all(b"{\"secret\":");
        let _ = serde_json::to_writer(&mut out, self.secret.expose_secret());
        let _ = out.write_all(b",\"meta\":");
        let _ = serde_json::to_writer(&mut out, &body);
        let _ = out.write_all(b"}");
        out
    }

    pub(crate) fn from_json(bytes: &[u8]) -> Option<CachedToken> {
        #[derive(Deserialize)]
        struct Meta {
            username: String,
            expires_at: u64,
            fetched_at: u64,
            /// Absent in files written before the shared cache existed: minted here.
            #[serde(default)]
            origin: Option<String>,
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
            origin: match raw.meta.origin.as_deref() {
                Some("shared") => Origin::Shared,
                _ => Origin::Minted,
            },
        })
    }
}

/// How usable a cached token is at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freshness {
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
pub(crate) fn freshness(t: &CachedToken, now: u64, min_margin: u64, hard_margin: u64) -> Freshness {
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

/// Where tokens are cached: a per-machine file cache, optionally with a fleet's shared cache
/// behind it ([`TokenCache::fleet`]).
pub(crate) trait TokenCache {
    /// The cached token for `key`, if there is a readable one. Any damage means "not cached".
    fn read(&self, key: &str) -> Option<CachedToken>;
    fn write(&self, key: &str, token: &CachedToken) -> Result<()>;
    /// Single flight: waits until this process is the only one refreshing `key`. The holder's
    /// upstream call is time-bounded, so waiting is bounded too. Released when the guard drops.
    fn lock(&self, key: &str) -> Result<Guard>;
    /// Forgets every token this cache holds (after a key rotation they cannot be opened; they are
    /// only a cache). Returns how many were removed.
    fn clear(&self) -> Result<usize>;
    /// Forgets one cached token (its entry was pruned); `true` if there was one. Caches that
    /// cannot tell say `false`.
    fn remove(&self, _key: &str) -> Result<bool> {
        Ok(false)
    }
    /// The fleet's shared cache behind this one, when one is configured (`BETA9_TOKEN_CACHE_URL`).
    fn fleet(&self) -> Option<&dyn Fleet> {
        None
    }
}

/// Policy for one kind of token.
pub(crate) struct Policy {
    pub(crate) min_margin: u64,
    pub(crate) hard_margin: u64,
}

/// What one refresh through a fleet's shared cache works with.
pub(crate) struct Refresh<'a> {
    /// The local cache (it stays in front: a hit there never reaches the fleet).
    pub(crate) local: &'a dyn TokenCache,
    pub(crate) key: &'a str,
    pub(crate) share: &'a ShareKey,
    pub(crate) policy: &'a Policy,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) note: &'a dyn Fn(String),
    /// `refresh` (pre-warming): a still-valid token inside its refresh window is refreshed now,
    /// without the per-process jitter point, and a process that finds another one holding the
    /// lease waits for what it publishes instead of keeping the old token.
    pub(crate) eager: bool,
}

/// A fleet's shared token cache: called by [`get_or_refresh`] after a local miss, for a shareable
/// token. It must answer as the local algorithm would when the shared cache fails, and call
/// `fetch` at most once.
pub(crate) trait Fleet {
    fn refresh(
        &self,
        req: &Refresh<'_>,
        fetch: &mut dyn FnMut() -> Result<CachedToken>,
    ) -> Result<CachedToken>;
}

/// The secret a shared entry is derived from: only machines holding the same key material for the
/// same registry derive the same entry name and sealing key (docs/fleet.md, "Shared entry keys").
/// HKDF-SHA256 (RFC 5869) with the material as input keying material, so neither the name nor
/// the sealed value says anything about the material, the registry or the region.
pub(crate) struct ShareKey {
    /// 128 bits, hex: the opaque part of the Redis key names.
    name: String,
    seal: Key,
}

impl std::fmt::Debug for ShareKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareKey([REDACTED])")
    }
}

/// Associated-data "workspace" of a shared entry: a value no workspace can have (`\0`), so a
/// shared value can never be opened as a local cache file or the other way round.
const SHARED_AD: &str = "\0fleet";

impl ShareKey {
    /// `kind` names the token type (`ecr`, `gcp-sa`); `binding` is what the token is valid for
    /// (registry, region, endpoint); `material` is the credential (every part of it).
    pub(crate) fn derive(kind: &str, binding: &[&[u8]], material: &[&[u8]]) -> ShareKey {
        let mut ikm = zeroize::Zeroizing::new(Vec::new());
        for m in material {
            ikm.extend_from_slice(&(m.len() as u64).to_be_bytes());
            ikm.extend_from_slice(m);
        }
        let hk = Hkdf::<Sha256>::new(Some(b"docker-credential-beta9/shared-token/v1"), &ikm);
        let info = |what: &str| {
            let mut info = Vec::new();
            for part in [what.as_bytes(), kind.as_bytes()].iter().chain(binding) {
                info.extend_from_slice(&(part.len() as u64).to_be_bytes());
                info.extend_from_slice(part);
            }
            info
        };
        let mut name = [0u8; 16];
        let mut seal = Box::new([0u8; 32]);
        // Both lengths are far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
        let _ = hk.expand(&info("name"), &mut name);
        let _ = hk.expand(&info("seal"), &mut seal[..]);
        let key = Key::from_bytes(*seal);
        zeroize::Zeroize::zeroize(&mut seal[..]);
        ShareKey {
            name: hex::encode(name),
            seal: key,
        }
    }

    /// The opaque id shared entries are named by (hex, no meaning without the material).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The token sealed for the shared cache under `entry` (its Redis key name).
    pub(crate) fn seal(&self, entry: &str, token: &CachedToken) -> Result<Vec<u8>> {
        let plain = token.to_json();
        Ok(seal::seal(
            &self.seal,
            Purpose::TokenCache,
            SHARED_AD,
            entry,
            plain.as_slice(),
        )?)
    }

    /// A shared value opened, `None` when it is not one this key sealed under `entry` (garbage,
    /// another credential's, moved from another name): a miss, never an error.
    pub(crate) fn open(&self, entry: &str, sealed: &[u8]) -> Option<CachedToken> {
        let plain = seal::open(&self.seal, Purpose::TokenCache, SHARED_AD, entry, sealed).ok()?;
        CachedToken::from_json(plain.as_slice())
    }
}

/// Cached token if fresh; else one process refreshes while the others wait and then read what it
/// wrote. If the refresh fails and the old token still works, it is used with a note for stderr.
/// With a fleet behind the cache and a `share` key, a local miss goes to the fleet's cache first
/// ([`Fleet::refresh`]); without either, this is the local algorithm alone.
pub(crate) fn get_or_refresh(
    cache: &dyn TokenCache,
    cache_key: &str,
    share: Option<&ShareKey>,
    policy: &Policy,
    clock: &dyn Clock,
    note: &dyn Fn(String),
    fetch: impl FnOnce() -> Result<CachedToken>,
) -> Result<CachedToken> {
    let job = Job {
        cache,
        cache_key,
        share,
        policy,
        clock,
        note,
    };
    obtain(&job, false, fetch).map(Warmed::into_token)
}

/// Which token a cache key is about and what to refresh it with: the arguments of
/// [`get_or_refresh`] and [`prewarm`], from the resolvers.
pub(crate) struct Job<'a> {
    pub(crate) cache: &'a dyn TokenCache,
    pub(crate) cache_key: &'a str,
    pub(crate) share: Option<&'a ShareKey>,
    pub(crate) policy: &'a Policy,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) note: &'a dyn Fn(String),
}

/// What [`prewarm`] found or did.
#[derive(Debug)]
pub(crate) enum Warmed {
    /// The cached token was fresh: nothing was done.
    Fresh(CachedToken),
    /// A fresh token is now in the local cache: minted here, or published by another process or
    /// machine meanwhile (its [`CachedToken::origin`] says which).
    Refreshed(CachedToken),
}

impl Warmed {
    pub(crate) fn into_token(self) -> CachedToken {
        match self {
            Warmed::Fresh(t) | Warmed::Refreshed(t) => t,
        }
    }
}

/// `refresh`: makes the token the next `get` reads fresh, by `get`'s own rule ([`is_fresh`]) and
/// through `get`'s own paths (the local single flight, the fleet's lease and publish), so a `get`
/// right after is a local hit. A fresh token is left alone. Unlike `get`, a failed refresh is an
/// error even when the old token still works: nothing was warmed.
pub(crate) fn prewarm(
    job: &Job<'_>,
    fetch: impl FnOnce() -> Result<CachedToken>,
) -> Result<Warmed> {
    let failure: RefCell<Option<String>> = RefCell::new(None);
    let fetch = || {
        let minted = fetch();
        if let Err(e) = &minted {
            *failure.borrow_mut() = Some(e.protocol_message());
        }
        minted
    };
    // `get`'s "refresh failed; using the cached token" is not true of a refresher: it answers
    // nobody. The eager path says no such note ([`mint_locally`]); the failure is this function's
    // error instead.
    let warmed = obtain(job, true, fetch)?;
    if let Warmed::Refreshed(t) = &warmed {
        if !is_fresh(t, job.policy, job.clock.now()) {
            let why = failure.borrow_mut().take().unwrap_or_else(|| {
                "another process holds the refresh lease, or the fleet is backing off".into()
            });
            return Err(Error::Other(anyhow::anyhow!(
                "{why}; the cached token stays valid for {} more s",
                t.expires_at.saturating_sub(job.clock.now())
            )));
        }
    }
    Ok(warmed)
}

fn obtain(
    job: &Job<'_>,
    eager: bool,
    fetch: impl FnOnce() -> Result<CachedToken>,
) -> Result<Warmed> {
    let Job {
        cache,
        cache_key,
        share,
        policy,
        clock,
        note,
    } = *job;
    if let Some(t) = cache
        .read(cache_key)
        .filter(|t| is_fresh(t, policy, clock.now()))
    {
        tracing::debug!("token cache hit");
        return Ok(Warmed::Fresh(t));
    }
    if let (Some(share), Some(fleet)) = (share, cache.fleet()) {
        let mut once = Some(fetch);
        let mut fetch = || match once.take() {
            Some(f) => f(),
            None => Err(Error::Other(anyhow::anyhow!(
                "internal: a token was minted twice in one refresh"
            ))),
        };
        let req = Refresh {
            local: cache,
            key: cache_key,
            share,
            policy,
            clock,
            note,
            eager,
        };
        return fleet.refresh(&req, &mut fetch).map(Warmed::Refreshed);
    }
    let _lock = lock_or_note(cache, cache_key, note);
    let cached = cache.read(cache_key);
    if let Some(t) = cached.as_ref().filter(|t| is_fresh(t, policy, clock.now())) {
        tracing::debug!("token refreshed by another process");
        return Ok(Warmed::Refreshed(t.duplicate()));
    }
    mint_locally(cache, cache_key, cached, policy, clock, note, eager, fetch).map(Warmed::Refreshed)
}

pub(crate) fn is_fresh(t: &CachedToken, policy: &Policy, now: u64) -> bool {
    freshness(t, now, policy.min_margin, policy.hard_margin) == Freshness::Fresh
}

/// Not expired: fresh, or stale but still usable.
pub(crate) fn is_valid(t: &CachedToken, policy: &Policy, now: u64) -> bool {
    freshness(t, now, policy.min_margin, policy.hard_margin) != Freshness::Expired
}

/// The cache's single-flight lock; a cache that cannot be locked (read-only or full disk) costs
/// single-flight, not the answer.
pub(crate) fn lock_or_note(
    cache: &dyn TokenCache,
    cache_key: &str,
    note: &dyn Fn(String),
) -> Option<Guard> {
    match cache.lock(cache_key) {
        Ok(lock) => Some(lock),
        Err(e) => {
            note(format!(
                "token cache unavailable ({}); fetching without it",
                e.protocol_message()
            ));
            None
        }
    }
}

/// The local refresh, under the caller's lock: mint, cache, answer; if minting fails and `cached`
/// still works, answer that, with a note unless `eager` (a refresher answers nobody, and says why
/// it failed as its error: [`prewarm`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn mint_locally(
    cache: &dyn TokenCache,
    cache_key: &str,
    cached: Option<CachedToken>,
    policy: &Policy,
    clock: &dyn Clock,
    note: &dyn Fn(String),
    eager: bool,
    fetch: impl FnOnce() -> Result<CachedToken>,
) -> Result<CachedToken> {
    match fetch() {
        Ok(token) => {
            if let Err(e) = cache.write(cache_key, &token) {
                note(format!("token not cached: {}", e.protocol_message()));
            }
            Ok(token)
        }
        Err(e) => match cached {
            Some(t) if is_valid(&t, policy, clock.now()) => {
                if !eager {
                    note(stale_note(&e, &t, clock.now()));
                }
                Ok(t)
            }
            _ => Err(e),
        },
    }
}

/// What a failed refresh that still has a working token says on stderr.
pub(crate) fn stale_note(e: &Error, t: &CachedToken, now: u64) -> String {
    format!(
        "refresh failed ({}); using the cached token, valid for {} more s",
        e.protocol_message(),
        t.expires_at.saturating_sub(now)
    )
}

/// No cache at all: every `get` mints (when the cache directory cannot be trusted).
pub(crate) struct NoTokenCache;

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
pub(crate) struct MemoryTokenCache {
    tokens: RefCell<BTreeMap<String, CachedToken>>,
    #[allow(clippy::type_complexity)]
    on_lock: RefCell<Option<Box<dyn FnMut(&MemoryTokenCache)>>>,
    pub(crate) locks: std::cell::Cell<usize>,
}

impl MemoryTokenCache {
    #[cfg(test)]
    pub(crate) fn on_lock(&self, f: impl FnMut(&MemoryTokenCache) + 'static) {
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
    fn remove(&self, key: &str) -> Result<bool> {
        Ok(self.tokens.borrow_mut().remove(key).is_some())
    }
}

/// SHA-256 over length-prefixed parts, hex: a cache key component from key material that cannot
/// be reversed and where `("ab","c")` and `("a","bc")` differ.
pub(crate) fn digest_parts(parts: &[&[u8]]) -> String {
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
            origin: Origin::Minted,
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

    pub(super) const POLICY: Policy = Policy {
        min_margin: 60,
        hard_margin: 30,
    };

    pub(super) fn token(secret: &str, fetched: u64, expires: u64) -> CachedToken {
        CachedToken {
            username: "AWS".into(),
            secret: SecretString::from(secret),
            expires_at: expires,
            fetched_at: fetched,
            origin: Origin::Minted,
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
            None,
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
    fn a_refresher_falls_back_without_the_stale_note_and_says_why_as_its_error() {
        let cache = MemoryTokenCache::default();
        let clock = ManualClock::at(0);
        cache.write("k", &token("old", 0, 43_200)).unwrap();
        clock.set(42_000);
        let down = || {
            Err(Error::Unreachable {
                registry: "r".into(),
                detail: "down".into(),
            })
        };
        // The typed switch, not the note's wording, decides.
        for (eager, expected) in [(false, 1), (true, 0)] {
            let notes = RefCell::new(Vec::new());
            let cached = cache.read("k");
            let note = |n: String| notes.borrow_mut().push(n);
            let r = mint_locally(&cache, "k", cached, &POLICY, &clock, &note, eager, down);
            assert_eq!(r.unwrap().secret.expose_secret(), "old");
            assert_eq!(notes.borrow().len(), expected, "eager {eager}: {notes:?}");
        }
        let notes = RefCell::new(Vec::new());
        let note = |n: String| notes.borrow_mut().push(n);
        let job = Job {
            cache: &cache,
            cache_key: "k",
            share: None,
            policy: &POLICY,
            clock: &clock,
            note: &note,
        };
        let e = prewarm(&job, down).unwrap_err();
        assert_eq!(
            e.protocol_message(),
            "r: unreachable: down; the cached token stays valid for 1200 more s"
        );
        assert!(notes.borrow().is_empty(), "{notes:?}");
    }

    #[test]
    fn digest_parts_is_unambiguous() {
        assert_ne!(digest_parts(&[b"ab", b"c"]), digest_parts(&[b"a", b"bc"]));
        assert_eq!(digest_parts(&[b"x"]).len(), 64);
    }
}
