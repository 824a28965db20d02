//! The fleet's shared token cache, behind the local one (docs/fleet.md, "Worker flow"): after a
//! local miss, a shareable token is looked up in the shared store; on a miss there, one machine
//! of the fleet takes a short lease, mints, publishes and releases while the others poll for what
//! it published. Nothing in the store is readable: names and values come from a [`ShareKey`]
//! derived from the credential itself.
//!
//! Never worse than without it: any failure of the store (refused, slow, garbage) falls back to the
//! local algorithm within the same budget, with one note, and a local marker keeps every `get` of
//! the next [`Settings::skip_for`] seconds away from the store. The store itself is a trait
//! ([`SharedStore`]; Redis in [`super::redis`]); time, sleeping and randomness come through
//! [`Pace`] so the state machine runs under an injected clock in tests.

use super::{
    is_fresh, is_valid, lock_or_note, mint_locally, stale_note, CachedToken, Fleet, Guard, Origin,
    Policy, Refresh, ShareKey, TokenCache,
};
use crate::error::{Error, Result};
use crate::fsutil;
use std::cell::Cell;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Why the shared store could not be used: a cause class a note may print (never the URL, never a
/// reply's text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unavailable(pub String);

/// The store's key names for one shared entry: the platform's conventions (docs/fleet.md, "Key
/// names"), with the opaque id as a hash tag so a cluster keeps the three in one slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    pub entry: String,
    pub lock: String,
    pub backoff: String,
}

impl Names {
    pub(crate) fn of(share: &ShareKey) -> Names {
        let entry = format!("beta9:token:{{{}}}", share.name());
        Names {
            lock: format!("{entry}:lock"),
            backoff: format!("{entry}:backoff"),
            entry,
        }
    }
}

/// One read of an entry's state (one round trip).
#[derive(Debug, Default, Clone)]
pub(crate) struct Status {
    /// The sealed token, if any.
    pub entry: Option<Vec<u8>>,
    /// Someone holds the lease to mint.
    pub locked: bool,
    /// `attempt:until_ms` after a throttled refresh.
    pub backoff: Option<Vec<u8>>,
}

/// The operations the state machine needs from a shared store. Values are opaque bytes.
pub(crate) trait SharedStore {
    fn status(&self, names: &Names) -> Result<Status, Unavailable>;
    /// `SET lock holder NX PX lease`: true when this holder now has the lease.
    fn try_lock(&self, names: &Names, holder: &str, lease: Duration) -> Result<bool, Unavailable>;
    /// Compare-and-set: stores `value` (expiring after `ttl`) and releases the lease, only if
    /// `holder` still holds it; false when the lease was lost.
    fn publish(
        &self,
        names: &Names,
        holder: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, Unavailable>;
    /// Releases the lease if `holder` still holds it.
    fn release(&self, names: &Names, holder: &str) -> Result<(), Unavailable>;
    fn set_backoff(&self, names: &Names, value: &[u8], ttl: Duration) -> Result<(), Unavailable>;
    /// Renews `holder`'s lease when called, from another thread while this one mints; false
    /// once the lease is lost or the store fails (then renewing stops).
    fn renewer(
        &self,
        names: &Names,
        holder: &str,
        lease: Duration,
    ) -> Box<dyn FnMut() -> bool + Send>;
}

/// Monotonic time, sleeping, randomness and wall-clock milliseconds: real in a `get`, scripted in
/// tests.
pub(crate) trait Pace {
    /// Time since this pace was made.
    fn elapsed(&self) -> Duration;
    fn sleep(&self, d: Duration);
    /// Uniform in `[0, below)`; 0 when `below` is 0.
    fn random(&self, below: u64) -> u64;
    /// Unix milliseconds (backoff deadlines are compared across machines).
    fn wall_ms(&self) -> u64;
}

/// The machine's clocks and the OS's randomness.
pub(crate) struct SystemPace {
    start: Instant,
}

impl SystemPace {
    pub(crate) fn new() -> SystemPace {
        SystemPace {
            start: Instant::now(),
        }
    }
}

impl Default for SystemPace {
    fn default() -> Self {
        Self::new()
    }
}

impl Pace for SystemPace {
    fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
    fn random(&self, below: u64) -> u64 {
        if below == 0 {
            return 0;
        }
        let mut b = [0u8; 8];
        if getrandom::fill(&mut b).is_err() {
            // No OS randomness (never seen on Linux): time and pid still tell processes apart.
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            b = (nanos ^ (u64::from(std::process::id()) << 32)).to_le_bytes();
        }
        u64::from_le_bytes(b) % below
    }
    fn wall_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// "The shared store failed recently": while it holds, `get`s do not try the store at all. And
/// "another machine held this entry's lease past our whole wait": while that holds, `get`s of
/// that entry still read the store but do not wait for the lease again (docs/fleet.md, "Worker
/// flow").
pub(crate) trait SkipMarker {
    /// Unix seconds until which the store is skipped, if a marker is set.
    fn until(&self) -> Option<u64>;
    fn set(&self, until: u64);
    /// Unix seconds until which nobody waits for the lease of the entry with opaque id `id`.
    fn held_until(&self, id: &str) -> Option<u64>;
    fn set_held(&self, id: &str, until: u64);
}

/// The marker as a small file in the workspace's token cache directory (0600, atomic writes);
/// reading it is one `open` on a local miss.
pub(crate) struct FileSkipMarker {
    dir: PathBuf,
}

/// The marker's file name in the cache directory.
pub(crate) const SKIP_FILE: &str = "shared-cache-unreachable";

impl FileSkipMarker {
    pub(crate) fn new(dir: PathBuf) -> FileSkipMarker {
        FileSkipMarker { dir }
    }
}

/// The held-lease marker's file name for an entry: its opaque id (32 hex digits) after this.
pub(crate) const HELD_PREFIX: &str = "shared-lease-held-";

impl FileSkipMarker {
    fn read(&self, name: &str) -> Option<u64> {
        let bytes = fsutil::read_regular(&self.dir.join(name), 64).ok()??;
        std::str::from_utf8(&bytes).ok()?.trim().parse().ok()
    }

    /// A temp file (0600 from creation) renamed into place, without fsync: a marker lost in a
    /// crash only costs one more timeout, and the failing `get` should not pay for a disk flush.
    fn write(&self, name: &str, until: u64) {
        let tmp = self.dir.join(format!(".tmp-{name}-{}", std::process::id()));
        let written = fsutil::ensure_dir(&self.dir).and_then(|()| {
            let _ = std::fs::remove_file(&tmp);
            let mut f = fsutil::create_private(&tmp)?;
            f.write_all(until.to_string().as_bytes())?;
            std::fs::rename(&tmp, self.dir.join(name))?;
            Ok(())
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            tracing::debug!(error = %e, "cannot write a shared-cache marker");
        }
    }
}

/// An opaque id is 32 hex digits; anything else never becomes a file name.
fn held_file(id: &str) -> Option<String> {
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("{HELD_PREFIX}{id}"))
}

impl SkipMarker for FileSkipMarker {
    fn until(&self) -> Option<u64> {
        self.read(SKIP_FILE)
    }
    fn set(&self, until: u64) {
        self.write(SKIP_FILE, until);
    }
    fn held_until(&self, id: &str) -> Option<u64> {
        self.read(&held_file(id)?)
    }
    fn set_held(&self, id: &str, until: u64) {
        if let Some(name) = held_file(id) {
            self.write(&name, until);
        }
    }
}

/// No marker can be kept (an untrusted cache directory): only this process skips the store.
pub(crate) struct NoSkipMarker;

impl SkipMarker for NoSkipMarker {
    fn until(&self) -> Option<u64> {
        None
    }
    fn set(&self, _until: u64) {}
    fn held_until(&self, _id: &str) -> Option<u64> {
        None
    }
    fn set_held(&self, _id: &str, _until: u64) {}
}

/// Timing of the shared cache (docs/fleet.md, "Timing").
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The minting lease: lapses this long after its holder's last renewal (a SIGKILLed holder
    /// blocks the others no longer than this).
    pub lease: Duration,
    /// Waiters poll every `poll` ± 50 %.
    pub poll: Duration,
    /// After a failure, skip the store for this many seconds.
    pub skip_for: u64,
    /// `BETA9_TIMEOUT`: waiting for another machine's mint takes at most half of it.
    pub budget: Duration,
    /// Full-jitter backoff after a throttled refresh: up to `base * 2^attempt`, at most `cap`.
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Settings {
    pub(crate) fn new(budget: Duration) -> Settings {
        Settings {
            lease: Duration::from_secs(3),
            poll: Duration::from_millis(50),
            skip_for: 30,
            budget,
            backoff_base: Duration::from_secs(2),
            backoff_cap: Duration::from_secs(120),
        }
    }
}

/// The shared layer: a store, the skip marker, the pace and the settings.
pub(crate) struct SharedTokens {
    store: Box<dyn SharedStore>,
    marker: Box<dyn SkipMarker>,
    pace: Box<dyn Pace>,
    settings: Settings,
    /// The store failed in this process: no further attempt, no second note.
    failed: Cell<bool>,
}

impl SharedTokens {
    pub(crate) fn new(
        store: Box<dyn SharedStore>,
        marker: Box<dyn SkipMarker>,
        pace: Box<dyn Pace>,
        settings: Settings,
    ) -> SharedTokens {
        SharedTokens {
            store,
            marker,
            pace,
            settings,
            failed: Cell::new(false),
        }
    }

    fn skipping(&self, now: u64) -> bool {
        self.failed.get() || self.marker.until().is_some_and(|until| now < until)
    }

    /// The store failed: one note for this process, the marker for the next `skip_for` s.
    fn failed(&self, r: &Refresh<'_>, why: Unavailable) {
        if self.failed.replace(true) {
            return;
        }
        self.marker.set(r.clock.now() + self.settings.skip_for);
        (r.note)(format!(
            "shared token cache unavailable ({}); using the local cache only for the next {} s",
            why.0, self.settings.skip_for
        ));
    }

    /// The store failed: note it, then do what a `get` without it does.
    fn fall_back(
        &self,
        r: &Refresh<'_>,
        why: Unavailable,
        cached: Option<CachedToken>,
        fetch: &mut dyn FnMut() -> Result<CachedToken>,
    ) -> Result<CachedToken> {
        self.failed(r, why);
        mint_locally(
            r.local, r.key, cached, r.policy, r.clock, r.note, r.eager, fetch,
        )
    }

    /// A random lease holder id (128 bits, hex): a lock is only ever released or renewed by the
    /// process that took it.
    fn holder(&self) -> String {
        format!(
            "{:016x}{:016x}",
            self.pace.random(u64::MAX),
            self.pace.random(u64::MAX)
        )
    }

    fn open(&self, r: &Refresh<'_>, names: &Names, status: &Status) -> Option<CachedToken> {
        let sealed = status.entry.as_deref()?;
        let token = r.share.open(&names.entry, sealed);
        if token.is_none() {
            // Damaged, or written by something else: a miss, which the next publish replaces.
            tracing::debug!("unreadable shared token entry; treated as a miss");
        }
        token
    }

    /// A token from the shared cache, kept locally too (so the next `get` is a local hit).
    fn adopt(&self, r: &Refresh<'_>, mut token: CachedToken) -> CachedToken {
        token.origin = Origin::Shared;
        if let Err(e) = r.local.write(r.key, &token) {
            (r.note)(format!("token not cached: {}", e.protocol_message()));
        }
        token
    }

    /// Whether this process should try to refresh a still-valid token now: only inside the
    /// refresh window, and only once past a random point in its first twentieth, so a fleet whose
    /// tokens all entered the window together does not contend at the same instant.
    fn due(&self, t: &CachedToken, policy: &Policy, now: u64) -> bool {
        let lifetime = t.expires_at.saturating_sub(t.fetched_at);
        let margin = (lifetime / 12).max(policy.min_margin);
        let start = t.expires_at.saturating_sub(margin).max(t.fetched_at);
        let end = t.expires_at.saturating_sub(policy.hard_margin);
        if now < start {
            // Stale although before the window: the clock went backwards. Refresh.
            return true;
        }
        let spread = end.saturating_sub(start) / 20;
        now >= start + self.pace.random(spread + 1)
    }

    fn backoff_active(&self, backoff: Option<&[u8]>) -> bool {
        parse_backoff(backoff).is_some_and(|(_, until)| until > self.pace.wall_ms())
    }

    /// After a throttled refresh: the next attempt (by any machine) waits a full-jitter delay,
    /// random in `[0, min(cap, base * 2^attempt)]`; the attempt count survives the delay.
    fn back_off(&self, names: &Names, previous: Option<&[u8]>) {
        let attempt = parse_backoff(previous)
            .map_or(0, |(a, _)| a)
            .saturating_add(1);
        let base = self.settings.backoff_base.as_millis() as u64;
        let cap = self.settings.backoff_cap.as_millis() as u64;
        let ceiling = base.saturating_mul(1u64 << attempt.min(20)).min(cap);
        let delay = self.pace.random(ceiling + 1);
        let value = format!("{attempt}:{}", self.pace.wall_ms() + delay);
        tracing::debug!(
            attempt,
            delay_ms = delay,
            "throttled: backing off the shared refresh"
        );
        if let Err(why) =
            self.store
                .set_backoff(names, value.as_bytes(), self.settings.backoff_cap * 2)
        {
            tracing::debug!(why = %why.0, "cannot record the backoff");
        }
    }

    /// `fetch`, while another thread renews the lease every third of it.
    fn mint_renewing(
        &self,
        names: &Names,
        holder: &str,
        fetch: &mut dyn FnMut() -> Result<CachedToken>,
    ) -> Result<CachedToken> {
        let mut renew = self.store.renewer(names, holder, self.settings.lease);
        let every = self.settings.lease / 3;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::scope(|s| {
            s.spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    if !renew() {
                        break;
                    }
                }
            });
            let minted = fetch();
            drop(stop);
            minted
        })
    }

    /// This process holds the lease: mint, keep locally, publish (if still holding), release.
    fn as_holder(
        &self,
        r: &Refresh<'_>,
        names: &Names,
        holder: &str,
        valid: Option<CachedToken>,
        backoff: Option<Vec<u8>>,
        fetch: &mut dyn FnMut() -> Result<CachedToken>,
    ) -> Result<CachedToken> {
        // Someone may have published between our read and our lock.
        match self.store.status(names) {
            Ok(s) => {
                if let Some(t) = self
                    .open(r, names, &s)
                    .filter(|t| is_fresh(t, r.policy, r.clock.now()))
                {
                    let _ = self.store.release(names, holder);
                    return Ok(self.adopt(r, t));
                }
            }
            // Our lease lapses by itself.
            Err(why) => return self.fall_back(r, why, valid, fetch),
        }
        match self.mint_renewing(names, holder, fetch) {
            Ok(token) => {
                if let Err(e) = r.local.write(r.key, &token) {
                    (r.note)(format!("token not cached: {}", e.protocol_message()));
                }
                self.publish(r, names, holder, &token);
                Ok(token)
            }
            Err(e) => {
                if matches!(e, Error::Throttled { .. }) && valid.is_some() {
                    self.back_off(names, backoff.as_deref());
                }
                if let Err(why) = self.store.release(names, holder) {
                    self.failed(r, why);
                }
                let now = r.clock.now();
                match valid {
                    Some(t) if is_valid(&t, r.policy, now) => {
                        if !r.eager {
                            (r.note)(stale_note(&e, &t, now));
                        }
                        Ok(t)
                    }
                    _ => Err(e),
                }
            }
        }
    }

    fn publish(&self, r: &Refresh<'_>, names: &Names, holder: &str, token: &CachedToken) {
        // Kept until the token stops being usable: the store forgets dead tokens by itself.
        let usable_until = token.expires_at.saturating_sub(r.policy.hard_margin);
        let ttl = usable_until.saturating_sub(r.clock.now());
        let sealed = match r.share.seal(&names.entry, token) {
            Ok(s) if ttl > 0 => s,
            _ => {
                let _ = self.store.release(names, holder);
                return;
            }
        };
        match self
            .store
            .publish(names, holder, &sealed, Duration::from_secs(ttl))
        {
            Ok(true) => tracing::debug!("token published to the shared cache"),
            Ok(false) => tracing::debug!("lease lost while minting; token not published"),
            Err(why) => self.failed(r, why),
        }
    }

    /// A still-valid token in the refresh window: refresh it if this process is due and nobody is
    /// at it, else answer it as it is.
    fn refresh_early(
        &self,
        r: &Refresh<'_>,
        names: &Names,
        status: Status,
        valid: CachedToken,
        fetch: &mut dyn FnMut() -> Result<CachedToken>,
    ) -> Result<CachedToken> {
        if status.locked
            || self.backoff_active(status.backoff.as_deref())
            || !self.due(&valid, r.policy, r.clock.now())
        {
            return Ok(valid);
        }
        let holder = self.holder();
        match self.store.try_lock(names, &holder, self.settings.lease) {
            Err(why) => self.fall_back(r, why, Some(valid), fetch),
            Ok(false) => Ok(valid),
            Ok(true) => self.as_holder(r, names, &holder, Some(valid), status.backoff, fetch),
        }
    }

    /// No usable token anywhere (or a refresher's `valid` one in its window): take the lease and
    /// mint, or wait (polling, with jitter, for at most half the budget) for the holder's token; a
    /// holder that died lets its lease lapse and the first poller to find it free takes over.
    /// With `valid`, only a fresh published token ends the wait, and `valid` is the fallback.
    fn acquire_or_wait(
        &self,
        r: &Refresh<'_>,
        names: &Names,
        mut status: Status,
        started: Duration,
        valid: Option<CachedToken>,
        fetch: &mut dyn FnMut() -> Result<CachedToken>,
    ) -> Result<CachedToken> {
        let wait_until = started + self.settings.budget / 2;
        let id = r.share.name();
        let held = self
            .marker
            .held_until(id)
            .is_some_and(|until| r.clock.now() < until);
        loop {
            if !status.locked {
                let holder = self.holder();
                match self.store.try_lock(names, &holder, self.settings.lease) {
                    Err(why) => return self.fall_back(r, why, valid, fetch),
                    Ok(true) => {
                        let backoff = status.backoff.take();
                        return self.as_holder(r, names, &holder, valid, backoff, fetch);
                    }
                    Ok(false) => {}
                }
            }
            if held {
                // This lease outlasted a whole wait recently: a stuck or planted lock must not
                // cost every cold `get` half the budget again.
                tracing::debug!("lease held past a whole wait recently; minting without waiting");
                return mint_locally(
                    r.local, r.key, valid, r.policy, r.clock, r.note, r.eager, fetch,
                );
            }
            let elapsed = self.pace.elapsed();
            if elapsed >= wait_until {
                self.marker
                    .set_held(id, r.clock.now() + self.settings.skip_for);
                (r.note)(format!(
                    "no token from the shared token cache within {} ms; minting here, and not waiting for this token's lease for the next {} s",
                    (self.settings.budget / 2).as_millis(),
                    self.settings.skip_for
                ));
                return mint_locally(
                    r.local, r.key, valid, r.policy, r.clock, r.note, r.eager, fetch,
                );
            }
            let poll = self.settings.poll.as_millis() as u64;
            let pause = Duration::from_millis(poll / 2 + self.pace.random(poll + 1));
            self.pace.sleep(pause.min(wait_until - elapsed));
            status = match self.store.status(names) {
                Ok(s) => s,
                Err(why) => return self.fall_back(r, why, valid, fetch),
            };
            let now = r.clock.now();
            if let Some(t) = self.open(r, names, &status).filter(|t| match &valid {
                None => is_valid(t, r.policy, now),
                Some(_) => is_fresh(t, r.policy, now),
            }) {
                return Ok(self.adopt(r, t));
            }
        }
    }
}

/// `attempt:until_ms`.
fn parse_backoff(value: Option<&[u8]>) -> Option<(u32, u64)> {
    let text = std::str::from_utf8(value?).ok()?;
    let (attempt, until) = text.split_once(':')?;
    Some((attempt.parse().ok()?, until.parse().ok()?))
}

impl Fleet for SharedTokens {
    fn refresh(
        &self,
        r: &Refresh<'_>,
        fetch: &mut dyn FnMut() -> Result<CachedToken>,
    ) -> Result<CachedToken> {
        let started = self.pace.elapsed();
        // Local single flight first: one process per machine goes on to the shared store.
        let _local: Option<Guard> = lock_or_note(r.local, r.key, r.note);
        let now = r.clock.now();
        let local = r.local.read(r.key);
        if let Some(t) = local.as_ref().filter(|t| is_fresh(t, r.policy, now)) {
            tracing::debug!("token refreshed by another process");
            return Ok(t.duplicate());
        }
        if self.skipping(now) {
            tracing::debug!("shared token cache skipped after a recent failure");
            return mint_locally(
                r.local, r.key, local, r.policy, r.clock, r.note, r.eager, fetch,
            );
        }
        let names = Names::of(r.share);
        let status = match self.store.status(&names) {
            Ok(s) => s,
            Err(why) => return self.fall_back(r, why, local, fetch),
        };
        let valid = |t: &CachedToken| is_valid(t, r.policy, now);
        let shared = self.open(r, &names, &status).filter(valid);
        if let Some(t) = shared.as_ref().filter(|t| is_fresh(t, r.policy, now)) {
            tracing::debug!("shared token cache hit");
            return Ok(self.adopt(r, t.duplicate()));
        }
        // The newer of the two still-valid tokens, if any (the same token stays as it is).
        let best = match (local.filter(valid), shared) {
            (Some(l), Some(s)) if s.expires_at > l.expires_at => Some(self.adopt(r, s)),
            (Some(l), _) => Some(l),
            (None, Some(s)) => Some(self.adopt(r, s)),
            (None, None) => None,
        };
        match best {
            // A refresher (`refresh`) does not wait for a jitter point nor settle for the old
            // token while another machine mints: it takes the lease or waits for its publish,
            // as a cold `get` does, with the valid token as the fallback.
            Some(valid) if r.eager && !self.backoff_active(status.backoff.as_deref()) => {
                self.acquire_or_wait(r, &names, status, started, Some(valid), fetch)
            }
            Some(valid) => self.refresh_early(r, &names, status, valid, fetch),
            None => self.acquire_or_wait(r, &names, status, started, None, fetch),
        }
    }
}

/// The local cache with the fleet's shared cache behind it: reads, writes, locks and clears are
/// the local cache's; [`TokenCache::fleet`] hands out the shared layer.
pub(crate) struct Layered {
    local: Box<dyn TokenCache>,
    shared: SharedTokens,
}

impl Layered {
    pub(crate) fn new(local: Box<dyn TokenCache>, shared: SharedTokens) -> Layered {
        Layered { local, shared }
    }
}

impl TokenCache for Layered {
    fn read(&self, key: &str) -> Option<CachedToken> {
        self.local.read(key)
    }
    fn write(&self, key: &str, token: &CachedToken) -> Result<()> {
        self.local.write(key, token)
    }
    fn lock(&self, key: &str) -> Result<Guard> {
        self.local.lock(key)
    }
    /// Only the local copies: shared entries are not sealed with this machine's key, and other
    /// machines still use them.
    fn clear(&self) -> Result<usize> {
        self.local.clear()
    }
    /// Only the local copy, for the same reason.
    fn remove(&self, key: &str) -> Result<bool> {
        self.local.remove(key)
    }
    fn fleet(&self) -> Option<&dyn Fleet> {
        Some(&self.shared)
    }
}

/// In-memory stand-ins for the state machine's tests: a shared store whose leases expire on a
/// scripted clock, a scripted pace, a marker.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    /// Scripted time: `sleep` advances it; `random` is a fixed-seed generator (or a fixed value).
    #[derive(Clone, Default)]
    pub(crate) struct FakePace {
        ms: Arc<AtomicU64>,
        rng: Arc<Mutex<Option<fastrand::Rng>>>,
        /// When set, `random(n)` answers `min(value, n - 1)`.
        pub fixed: Arc<Mutex<Option<u64>>>,
    }

    impl FakePace {
        pub(crate) fn advance(&self, d: Duration) {
            self.ms.fetch_add(d.as_millis() as u64, Ordering::SeqCst);
        }
        pub(crate) fn ms(&self) -> u64 {
            self.ms.load(Ordering::SeqCst)
        }
        pub(crate) fn fix_random(&self, v: Option<u64>) {
            *self.fixed.lock().unwrap() = v;
        }
    }

    impl Pace for FakePace {
        fn elapsed(&self) -> Duration {
            Duration::from_millis(self.ms())
        }
        fn sleep(&self, d: Duration) {
            self.advance(d);
        }
        fn random(&self, below: u64) -> u64 {
            if below == 0 {
                return 0;
            }
            if let Some(v) = *self.fixed.lock().unwrap() {
                return v.min(below - 1);
            }
            let mut rng = self.rng.lock().unwrap();
            rng.get_or_insert_with(|| fastrand::Rng::with_seed(0))
                .u64(..below)
        }
        fn wall_ms(&self) -> u64 {
            1_700_000_000_000 + self.ms()
        }
    }

    #[derive(Default)]
    pub(crate) struct MemState {
        /// name → (value, expires at pace ms)
        pub keys: BTreeMap<String, (Vec<u8>, Option<u64>)>,
        pub ops: usize,
    }

    /// A shared store in memory. `down` makes every operation fail; `on_status` runs on each
    /// status read (a test plays another machine there).
    #[derive(Clone, Default)]
    pub(crate) struct MemoryShared {
        pub pace: FakePace,
        pub state: Arc<Mutex<MemState>>,
        pub down: Arc<AtomicBool>,
        #[allow(clippy::type_complexity)]
        pub on_status: Arc<Mutex<Option<Box<dyn FnMut(&mut MemState, u64) + Send>>>>,
    }

    impl MemoryShared {
        pub(crate) fn new(pace: FakePace) -> MemoryShared {
            MemoryShared {
                pace,
                ..MemoryShared::default()
            }
        }
        fn live(&self, st: &mut MemState) {
            let now = self.pace.ms();
            st.keys.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        }
        fn op<T>(&self, f: impl FnOnce(&mut MemState, u64) -> T) -> Result<T, Unavailable> {
            if self.down.load(Ordering::SeqCst) {
                return Err(Unavailable("connection refused".into()));
            }
            let mut st = self.state.lock().unwrap();
            st.ops += 1;
            self.live(&mut st);
            Ok(f(&mut st, self.pace.ms()))
        }
        pub(crate) fn ops(&self) -> usize {
            self.state.lock().unwrap().ops
        }
        pub(crate) fn get(&self, name: &str) -> Option<Vec<u8>> {
            let mut st = self.state.lock().unwrap();
            self.live(&mut st);
            st.keys.get(name).map(|(v, _)| v.clone())
        }
        pub(crate) fn put(&self, name: &str, value: &[u8], ttl: Option<Duration>) {
            let exp = ttl.map(|t| self.pace.ms() + t.as_millis() as u64);
            self.state
                .lock()
                .unwrap()
                .keys
                .insert(name.to_string(), (value.to_vec(), exp));
        }
    }

    impl SharedStore for MemoryShared {
        fn status(&self, names: &Names) -> Result<Status, Unavailable> {
            let hook = self.on_status.lock().unwrap().take();
            let status = self.op(|st, now| {
                let mut hook = hook;
                if let Some(h) = hook.as_mut() {
                    h(st, now);
                }
                let get = |k: &str| st.keys.get(k).map(|(v, _)| v.clone());
                (
                    Status {
                        entry: get(&names.entry),
                        locked: st.keys.contains_key(&names.lock),
                        backoff: get(&names.backoff),
                    },
                    hook,
                )
            })?;
            *self.on_status.lock().unwrap() = status.1;
            Ok(status.0)
        }
        fn try_lock(
            &self,
            names: &Names,
            holder: &str,
            lease: Duration,
        ) -> Result<bool, Unavailable> {
            self.op(|st, now| {
                if st.keys.contains_key(&names.lock) {
                    return false;
                }
                let exp = now + lease.as_millis() as u64;
                st.keys
                    .insert(names.lock.clone(), (holder.as_bytes().to_vec(), Some(exp)));
                true
            })
        }
        fn publish(
            &self,
            names: &Names,
            holder: &str,
            value: &[u8],
            ttl: Duration,
        ) -> Result<bool, Unavailable> {
            self.op(|st, now| {
                let ours = st
                    .keys
                    .get(&names.lock)
                    .is_some_and(|(v, _)| v == holder.as_bytes());
                if ours {
                    let exp = now + ttl.as_millis() as u64;
                    st.keys
                        .insert(names.entry.clone(), (value.to_vec(), Some(exp)));
                    st.keys.remove(&names.lock);
                    st.keys.remove(&names.backoff);
                }
                ours
            })
        }
        fn release(&self, names: &Names, holder: &str) -> Result<(), Unavailable> {
            self.op(|st, _| {
                if st
                    .keys
                    .get(&names.lock)
                    .is_some_and(|(v, _)| v == holder.as_bytes())
                {
                    st.keys.remove(&names.lock);
                }
            })
        }
        fn set_backoff(
            &self,
            names: &Names,
            value: &[u8],
            ttl: Duration,
        ) -> Result<(), Unavailable> {
            self.op(|st, now| {
                let exp = now + ttl.as_millis() as u64;
                st.keys
                    .insert(names.backoff.clone(), (value.to_vec(), Some(exp)));
            })
        }
        fn renewer(
            &self,
            _names: &Names,
            _holder: &str,
            _lease: Duration,
        ) -> Box<dyn FnMut() -> bool + Send> {
            // Scripted time does not pass while a test's fetch runs: nothing to renew.
            Box::new(|| true)
        }
    }

    /// A marker in memory; clones share it.
    #[derive(Clone, Default)]
    pub(crate) struct MemoryMarker(
        pub Arc<Mutex<Option<u64>>>,
        pub Arc<Mutex<BTreeMap<String, u64>>>,
    );

    impl SkipMarker for MemoryMarker {
        fn until(&self) -> Option<u64> {
            *self.0.lock().unwrap()
        }
        fn set(&self, until: u64) {
            *self.0.lock().unwrap() = Some(until);
        }
        fn held_until(&self, id: &str) -> Option<u64> {
            self.1.lock().unwrap().get(id).copied()
        }
        fn set_held(&self, id: &str, until: u64) {
            self.1.lock().unwrap().insert(id.to_string(), until);
        }
    }
}

#[cfg(test)]
mod matrix;
