//! The shared-cache state machine (fleet.rs) under scripted time: the local token fresh, stale
//! but valid, or expired/absent, × the shared store up, down, or skipped by the marker.

use super::testing::{FakePace, MemoryMarker, MemoryShared};
use super::{Layered, Names, Settings, SharedTokens, SkipMarker};
use crate::clock::ManualClock;
use crate::token::tests::{token, POLICY};
use crate::token::*;
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::time::Duration;

const DAY: u64 = 43_200;

struct Machine {
    cache: Layered,
    marker: MemoryMarker,
}

fn machine(store: &MemoryShared) -> Machine {
    let marker = MemoryMarker::default();
    let shared = SharedTokens::new(
        Box::new(store.clone()),
        Box::new(marker.clone()),
        Box::new(store.pace.clone()),
        Settings::new(Duration::from_secs(10)),
    );
    Machine {
        cache: Layered::new(Box::new(MemoryTokenCache::default()), shared),
        marker,
    }
}

fn share() -> ShareKey {
    ShareKey::derive(
        "ecr",
        &[b"reg", b"us-east-1", b""],
        &[b"AKID", b"secret", b""],
    )
}

struct Got {
    result: Result<CachedToken>,
    notes: Vec<String>,
    fetches: usize,
}

impl Got {
    fn secret(&self) -> String {
        let t = self.result.as_ref().expect("an answer");
        t.secret.expose_secret().to_string()
    }
    fn origin(&self) -> Origin {
        self.result.as_ref().expect("an answer").origin
    }
}

/// One `get` on `m` at `clock`; `fetch` answers `minted` (a token fetched now) or fails.
fn get(m: &Machine, clock: &ManualClock, key: &ShareKey, minted: Result<&str>) -> Got {
    let notes = RefCell::new(Vec::new());
    let fetches = Cell::new(0);
    let now = clock.now();
    let result = get_or_refresh(
        &m.cache,
        "k",
        Some(key),
        &POLICY,
        clock,
        &|n| notes.borrow_mut().push(n),
        || {
            fetches.set(fetches.get() + 1);
            match &minted {
                Ok(s) => Ok(token(s, now, now + DAY)),
                Err(Error::Throttled { .. }) => Err(Error::Throttled {
                    registry: "r".into(),
                    detail: "slow down".into(),
                }),
                Err(_) => Err(Error::Unreachable {
                    registry: "r".into(),
                    detail: "down".into(),
                }),
            }
        },
    );
    Got {
        result,
        notes: notes.into_inner(),
        fetches: fetches.get(),
    }
}

fn unreachable() -> Result<&'static str> {
    Err(Error::Unreachable {
        registry: "r".into(),
        detail: "down".into(),
    })
}

fn throttled() -> Result<&'static str> {
    Err(Error::Throttled {
        registry: "r".into(),
        detail: "slow down".into(),
    })
}

fn shared_secret(store: &MemoryShared, key: &ShareKey) -> Option<String> {
    let names = Names::of(key);
    let sealed = store.get(&names.entry)?;
    Some(
        key.open(&names.entry, &sealed)?
            .secret
            .expose_secret()
            .to_string(),
    )
}

fn publish(store: &MemoryShared, key: &ShareKey, secret: &str, fetched: u64) {
    let names = Names::of(key);
    let sealed = key
        .seal(&names.entry, &token(secret, fetched, fetched + DAY))
        .unwrap();
    store.put(&names.entry, &sealed, None);
}

/// Local states at `clock`: fresh (fetched 1 h ago), stale but valid (20 min left), expired.
fn fresh(m: &Machine, clock: &ManualClock) {
    let now = clock.now();
    m.cache
        .write("k", &token("local", now - 3600, now - 3600 + DAY))
        .unwrap();
}
fn stale(m: &Machine, clock: &ManualClock) {
    let now = clock.now();
    m.cache
        .write("k", &token("local", now + 1200 - DAY, now + 1200))
        .unwrap();
}
fn expired(m: &Machine, clock: &ManualClock) {
    let now = clock.now();
    m.cache.write("k", &token("local", now - DAY, now)).unwrap();
}

fn setup() -> (MemoryShared, ManualClock, ShareKey) {
    let pace = FakePace::default();
    // Every process is due as soon as the window opens, unless a test says otherwise.
    pace.fix_random(Some(0));
    (MemoryShared::new(pace), ManualClock::at(1_000_000), share())
}

#[test]
fn a_fresh_local_token_never_reaches_the_shared_store_up_down_or_skipped() {
    for state in ["up", "down", "skipped"] {
        let (store, clock, key) = setup();
        let m = machine(&store);
        fresh(&m, &clock);
        match state {
            "down" => store.down.store(true, Ordering::SeqCst),
            "skipped" => m.marker.set(clock.now() + 30),
            _ => {}
        }
        let got = get(&m, &clock, &key, Ok("new"));
        assert_eq!((got.secret(), got.fetches), ("local".into(), 0), "{state}");
        assert_eq!(store.ops(), 0, "{state}: no shared-store operation");
        assert!(got.notes.is_empty(), "{state}: {:?}", got.notes);
    }
}

#[test]
fn stale_and_up_the_due_process_refreshes_once_and_publishes() {
    let (store, clock, key) = setup();
    let m = machine(&store);
    stale(&m, &clock);
    let got = get(&m, &clock, &key, Ok("new"));
    assert_eq!((got.secret(), got.fetches), ("new".into(), 1));
    assert_eq!(shared_secret(&store, &key).as_deref(), Some("new"));
    assert!(store.get(&Names::of(&key).lock).is_none(), "lease released");
    // Another machine in the same state now adopts it without minting.
    let other = machine(&store);
    stale(&other, &clock);
    let got = get(&other, &clock, &key, Ok("never"));
    assert_eq!((got.secret(), got.fetches), ("new".into(), 0));
    assert_eq!(got.origin(), Origin::Shared);
    assert_eq!(
        other.cache.read("k").unwrap().origin,
        Origin::Shared,
        "kept locally, marked as shared"
    );
}

#[test]
fn stale_and_up_a_process_not_yet_due_or_finding_the_lease_taken_answers_the_valid_token() {
    let (store, clock, key) = setup();
    let m = machine(&store);
    // 20 min before expiry: inside the window (last hour) but before a late jitter point.
    let now = clock.now();
    m.cache
        .write("k", &token("local", now + 3500 - DAY, now + 3500))
        .unwrap();
    store.pace.fix_random(Some(u64::MAX));
    let got = get(&m, &clock, &key, Ok("new"));
    assert_eq!((got.secret(), got.fetches), ("local".into(), 0));
    // Due, but another machine holds the lease: answer the valid token, do not wait.
    store.pace.fix_random(Some(0));
    store.put(
        &Names::of(&key).lock,
        b"someone",
        Some(Duration::from_secs(3)),
    );
    let got = get(&m, &clock, &key, Ok("new"));
    assert_eq!((got.secret(), got.fetches), ("local".into(), 0));
    assert!(got.notes.is_empty(), "{:?}", got.notes);
}

#[test]
fn stale_and_down_refreshes_locally_with_one_note_and_sets_the_marker() {
    let (store, clock, key) = setup();
    let m = machine(&store);
    stale(&m, &clock);
    store.down.store(true, Ordering::SeqCst);
    let got = get(&m, &clock, &key, Ok("new"));
    assert_eq!((got.secret(), got.fetches), ("new".into(), 1));
    assert_eq!(got.notes.len(), 1, "{:?}", got.notes);
    assert!(
        got.notes[0].contains("connection refused"),
        "{:?}",
        got.notes
    );
    assert_eq!(m.marker.until(), Some(clock.now() + 30));
    // Down and the refresh fails too: the stale token, never an error.
    let m = machine(&store);
    stale(&m, &clock);
    let got = get(&m, &clock, &key, unreachable());
    assert_eq!(got.secret(), "local");
    assert_eq!(
        got.notes.len(),
        2,
        "store note + stale note: {:?}",
        got.notes
    );
}

#[test]
fn stale_and_skipped_is_todays_local_refresh_without_touching_the_store() {
    let (store, clock, key) = setup();
    let m = machine(&store);
    stale(&m, &clock);
    m.marker.set(clock.now() + 10);
    let got = get(&m, &clock, &key, Ok("new"));
    assert_eq!((got.secret(), got.fetches), ("new".into(), 1));
    assert_eq!(store.ops(), 0);
    assert!(got.notes.is_empty());
    // The marker lapses: the store is used again.
    clock.advance(11);
    stale(&m, &clock);
    let got = get(&m, &clock, &key, Ok("newer"));
    assert_eq!(got.secret(), "newer");
    assert!(store.ops() > 0);
    assert_eq!(shared_secret(&store, &key).as_deref(), Some("newer"));
}

#[test]
fn a_throttled_refresh_serves_the_valid_token_and_backs_the_fleet_off() {
    let (store, clock, key) = setup();
    let m = machine(&store);
    stale(&m, &clock);
    // The backoff delay is the largest full-jitter draw: min(cap, 2 s * 2^1) = 4 s.
    store.pace.fix_random(Some(u64::MAX));
    let now = clock.now();
    // A late jitter point would not be due: put the token at the end of its window.
    m.cache
        .write("k", &token("local", now + 100 - DAY, now + 100))
        .unwrap();
    let got = get(&m, &clock, &key, throttled());
    assert_eq!((got.secret(), got.fetches), ("local".into(), 1));
    assert!(got.notes[0].contains("throttled"), "{:?}", got.notes);
    assert!(store.get(&Names::of(&key).backoff).is_some());
    // While the backoff holds, no machine calls the API.
    let other = machine(&store);
    other
        .cache
        .write("k", &token("local", now + 100 - DAY, now + 100))
        .unwrap();
    let got = get(&other, &clock, &key, Ok("new"));
    assert_eq!((got.secret(), got.fetches), ("local".into(), 0));
    // After it, the next due process tries again; a success clears the backoff.
    store.pace.advance(Duration::from_millis(4001));
    let got = get(&other, &clock, &key, Ok("new"));
    assert_eq!((got.secret(), got.fetches), ("new".into(), 1));
    assert!(store.get(&Names::of(&key).backoff).is_none());
}

#[test]
fn expired_and_up_one_machine_mints_and_the_others_are_served_from_the_store() {
    let (store, clock, key) = setup();
    let a = machine(&store);
    expired(&a, &clock);
    let got = get(&a, &clock, &key, Ok("minted"));
    assert_eq!(
        (got.secret(), got.fetches, got.origin()),
        ("minted".into(), 1, Origin::Minted)
    );
    for _ in 0..3 {
        let b = machine(&store);
        let got = get(&b, &clock, &key, Ok("never"));
        assert_eq!((got.secret(), got.fetches), ("minted".into(), 0));
        assert_eq!(got.origin(), Origin::Shared);
        // Now a local hit: no store operation.
        let ops = store.ops();
        let got = get(&b, &clock, &key, Ok("never"));
        assert_eq!((got.secret(), store.ops()), ("minted".into(), ops));
    }
}

/// Another machine holds the lease and publishes "theirs" at the third status read
/// (after a waiter polled twice), releasing the lease.
fn holder_publishes_at_third_read(store: &MemoryShared, clock: &ManualClock, key: &ShareKey) {
    let names = Names::of(key);
    store.put(&names.lock, b"holder", Some(Duration::from_secs(3)));
    let sealed = key
        .seal(
            &names.entry,
            &token("theirs", clock.now(), clock.now() + DAY),
        )
        .unwrap();
    let (entry, lock) = (names.entry.clone(), names.lock.clone());
    let mut reads = 0;
    *store.on_status.lock().unwrap() = Some(Box::new(move |st, _now| {
        reads += 1;
        if reads == 3 {
            st.keys.insert(entry.clone(), (sealed.clone(), None));
            st.keys.remove(&lock);
        }
    }));
}

#[test]
fn expired_and_up_a_waiter_answers_what_the_live_holder_publishes() {
    let (store, clock, key) = setup();
    holder_publishes_at_third_read(&store, &clock, &key);
    let m = machine(&store);
    let got = get(&m, &clock, &key, Ok("mine"));
    assert_eq!((got.secret(), got.fetches), ("theirs".into(), 0));
    assert!(got.notes.is_empty(), "{:?}", got.notes);
}

#[test]
fn expired_and_up_a_dead_holder_blocks_only_until_its_lease_lapses() {
    let (store, clock, key) = setup();
    let names = Names::of(&key);
    // Taken by a process that was SIGKILLed: nobody renews or releases it.
    store.put(&names.lock, b"dead", Some(Duration::from_secs(3)));
    let m = machine(&store);
    let started = store.pace.ms();
    let got = get(&m, &clock, &key, Ok("mine"));
    assert_eq!((got.secret(), got.fetches), ("mine".into(), 1));
    let waited = store.pace.ms() - started;
    assert!((3000..5000).contains(&waited), "waited {waited} ms");
    assert_eq!(shared_secret(&store, &key).as_deref(), Some("mine"));
}

#[test]
fn expired_and_up_a_holder_that_never_publishes_costs_half_the_budget_then_a_local_mint() {
    let (store, clock, key) = setup();
    let names = Names::of(&key);
    let lock = names.lock.clone();
    *store.on_status.lock().unwrap() = Some(Box::new(move |st, now| {
        st.keys
            .insert(lock.clone(), (b"stuck".to_vec(), Some(now + 3000)));
    }));
    store.put(&names.lock, b"stuck", Some(Duration::from_secs(3)));
    let m = machine(&store);
    let got = get(&m, &clock, &key, Ok("mine"));
    assert_eq!((got.secret(), got.fetches), ("mine".into(), 1));
    assert_eq!(store.pace.ms(), 5000, "half of the 10 s budget");
    assert_eq!(got.notes.len(), 1, "{:?}", got.notes);
    assert!(
        m.marker.until().is_none(),
        "a slow holder is not a store failure"
    );
}

#[test]
fn a_lease_held_past_a_whole_wait_is_not_waited_for_again_until_the_marker_lapses() {
    let (store, clock, key) = setup();
    let names = Names::of(&key);
    // Planted with a huge TTL: nobody ever publishes or releases it.
    store.put(&names.lock, b"stuck", Some(Duration::from_secs(86_400)));
    let m = machine(&store);
    let got = get(&m, &clock, &key, Ok("first"));
    assert_eq!((got.secret(), got.fetches), ("first".into(), 1));
    assert_eq!(store.pace.ms(), 5000, "one whole wait");
    assert_eq!(
        m.marker.held_until(key.name()),
        Some(clock.now() + 30),
        "{:?}",
        got.notes
    );
    assert!(m.marker.until().is_none(), "the store itself is fine");
    // Cold again (another process on this machine, its local copy gone): no second wait,
    // and still one read of the store (someone may have published since).
    let cold = || Machine {
        cache: Layered::new(
            Box::new(MemoryTokenCache::default()),
            SharedTokens::new(
                Box::new(store.clone()),
                Box::new(m.marker.clone()),
                Box::new(store.pace.clone()),
                Settings::new(Duration::from_secs(10)),
            ),
        ),
        marker: m.marker.clone(),
    };
    let ops = store.ops();
    let got = get(&cold(), &clock, &key, Ok("second"));
    assert_eq!((got.secret(), got.fetches), ("second".into(), 1));
    assert_eq!(store.pace.ms(), 5000, "no wait at all");
    assert!(got.notes.is_empty(), "{:?}", got.notes);
    assert!(store.ops() > ops);
    // Once the marker lapses, a cold `get` waits (and marks) again.
    clock.advance(31);
    let got = get(&cold(), &clock, &key, Ok("third"));
    assert_eq!(got.fetches, 1);
    assert_eq!(store.pace.ms(), 10_000);
}

#[test]
fn expired_and_down_or_skipped_mints_locally() {
    let (store, clock, key) = setup();
    let m = machine(&store);
    expired(&m, &clock);
    store.down.store(true, Ordering::SeqCst);
    let got = get(&m, &clock, &key, Ok("mine"));
    assert_eq!((got.secret(), got.fetches), ("mine".into(), 1));
    assert_eq!(got.notes.len(), 1);
    assert_eq!(m.marker.until(), Some(clock.now() + 30));
    // Skipped (the marker holds): no store operation, no note; an expired token is never
    // the answer, whatever fails.
    store.down.store(false, Ordering::SeqCst);
    let m2 = machine(&store);
    m2.marker.set(clock.now() + 30);
    expired(&m2, &clock);
    let got = get(&m2, &clock, &key, unreachable());
    assert!(matches!(got.result, Err(Error::Unreachable { .. })));
    assert_eq!((store.ops(), got.notes.len()), (0, 0));
}

#[test]
fn different_keys_never_read_or_overwrite_each_others_token() {
    let (store, clock, key) = setup();
    let other_key = ShareKey::derive(
        "ecr",
        &[b"reg", b"us-east-1", b""],
        &[b"AKID2", b"secret2", b""],
    );
    let a = machine(&store);
    assert_eq!(get(&a, &clock, &key, Ok("token-a")).fetches, 1);
    let b = machine(&store);
    let got = get(&b, &clock, &other_key, Ok("token-b"));
    assert_eq!((got.secret(), got.fetches), ("token-b".into(), 1));
    assert_eq!(shared_secret(&store, &key).as_deref(), Some("token-a"));
    assert_eq!(
        shared_secret(&store, &other_key).as_deref(),
        Some("token-b")
    );
    assert_ne!(Names::of(&key), Names::of(&other_key));
    // A value copied onto the other name does not open there: a miss, then overwritten.
    let stolen = store.get(&Names::of(&key).entry).unwrap();
    store.put(&Names::of(&other_key).entry, &stolen, None);
    let c = machine(&store);
    let got = get(&c, &clock, &other_key, Ok("token-b2"));
    assert_eq!((got.secret(), got.fetches), ("token-b2".into(), 1));
    assert_eq!(
        shared_secret(&store, &other_key).as_deref(),
        Some("token-b2")
    );
}

#[test]
fn garbage_in_the_store_is_a_miss_never_an_error() {
    let (store, clock, key) = setup();
    store.put(&Names::of(&key).entry, b"\x00garbage", None);
    let m = machine(&store);
    let got = get(&m, &clock, &key, Ok("mine"));
    assert_eq!((got.secret(), got.fetches), ("mine".into(), 1));
    assert!(got.notes.is_empty());
    assert_eq!(shared_secret(&store, &key).as_deref(), Some("mine"));
}

#[test]
fn a_newer_shared_token_replaces_a_stale_local_one_and_an_older_one_does_not() {
    let (store, clock, key) = setup();
    let m = machine(&store);
    stale(&m, &clock);
    publish(&store, &key, "fresh-shared", clock.now() - 60);
    let got = get(&m, &clock, &key, Ok("never"));
    assert_eq!((got.secret(), got.fetches), ("fresh-shared".into(), 0));
}

#[test]
fn share_keys_are_opaque_and_bound_to_every_input() {
    let base = share();
    assert_eq!(base.name().len(), 32);
    assert_eq!(base.name(), share().name(), "deterministic");
    for other in [
        ShareKey::derive(
            "gcp-sa",
            &[b"reg", b"us-east-1", b""],
            &[b"AKID", b"secret", b""],
        ),
        ShareKey::derive(
            "ecr",
            &[b"reg2", b"us-east-1", b""],
            &[b"AKID", b"secret", b""],
        ),
        ShareKey::derive(
            "ecr",
            &[b"reg", b"us-west-2", b""],
            &[b"AKID", b"secret", b""],
        ),
        ShareKey::derive(
            "ecr",
            &[b"reg", b"us-east-1", b"http://e"],
            &[b"AKID", b"secret", b""],
        ),
        ShareKey::derive(
            "ecr",
            &[b"reg", b"us-east-1", b""],
            &[b"AKID", b"secreT", b""],
        ),
        ShareKey::derive(
            "ecr",
            &[b"reg", b"us-east-1", b""],
            &[b"AKID", b"secret", b"s"],
        ),
    ] {
        assert_ne!(base.name(), other.name());
    }
    let names = Names::of(&base);
    assert!(!names.entry.contains("reg") && !names.entry.contains("AKID"));
    assert!(names.lock.ends_with(":lock") && names.lock.starts_with(&names.entry));
    assert_eq!(format!("{base:?}"), "ShareKey([REDACTED])");
    let sealed = base.seal(&names.entry, &token("CANARY-tok", 1, 2)).unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"CANARY"));
    assert!(base.open("beta9:token:{other}", &sealed).is_none());
}

/// `refresh` on `m` at `clock` (see [`get`]).
fn prewarm_on(
    m: &Machine,
    clock: &ManualClock,
    key: &ShareKey,
    minted: Result<&str>,
) -> (Result<Warmed>, usize, Vec<String>) {
    let notes = RefCell::new(Vec::new());
    let fetches = Cell::new(0);
    let now = clock.now();
    let note = |n| notes.borrow_mut().push(n);
    let job = Job {
        cache: &m.cache,
        cache_key: "k",
        share: Some(key),
        policy: &POLICY,
        clock,
        note: &note,
    };
    let result = prewarm(&job, || {
        fetches.set(fetches.get() + 1);
        match &minted {
            Ok(s) => Ok(token(s, now, now + DAY)),
            Err(_) => Err(Error::Unreachable {
                registry: "r".into(),
                detail: "down".into(),
            }),
        }
    });
    (result, fetches.get(), notes.into_inner())
}

#[test]
fn a_refresher_waits_for_the_lease_holders_token_instead_of_keeping_the_stale_one() {
    let (store, clock, key) = setup();
    holder_publishes_at_third_read(&store, &clock, &key);
    let m = machine(&store);
    stale(&m, &clock);
    let (result, fetches, notes) = prewarm_on(&m, &clock, &key, Ok("mine"));
    let Ok(Warmed::Refreshed(t)) = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        (t.secret.expose_secret(), t.origin, fetches),
        ("theirs", Origin::Shared, 0)
    );
    assert!(notes.is_empty(), "{notes:?}");
    // Kept locally: the next `get` is a local hit.
    let got = get(&m, &clock, &key, Ok("never"));
    assert_eq!((got.secret(), got.fetches), ("theirs".into(), 0));
}

#[test]
fn a_refresher_mints_a_stale_token_at_once_and_a_failure_is_an_error() {
    let (store, clock, key) = setup();
    // A late jitter point: a `get` would not refresh yet; a refresher does.
    store.pace.fix_random(Some(u64::MAX));
    let m = machine(&store);
    stale(&m, &clock);
    let (result, fetches, _) = prewarm_on(&m, &clock, &key, Ok("new"));
    assert!(matches!(result, Ok(Warmed::Refreshed(_))), "{result:?}");
    assert_eq!(fetches, 1);
    assert_eq!(shared_secret(&store, &key).as_deref(), Some("new"));
    // Fresh now: left alone.
    let (result, fetches, _) = prewarm_on(&m, &clock, &key, Ok("newer"));
    assert!(matches!(result, Ok(Warmed::Fresh(_))), "{result:?}");
    assert_eq!(fetches, 0);
    // Stale and the mint fails: an error, without get's "using the cached token" note.
    let m = machine(&store);
    stale(&m, &clock);
    store.put(&Names::of(&key).entry, b"gone", None);
    let (result, fetches, notes) = prewarm_on(&m, &clock, &key, unreachable());
    let err = result.unwrap_err().protocol_message();
    assert!(err.contains("down") && err.contains("stays valid"), "{err}");
    assert_eq!(fetches, 1);
    assert!(
        notes.iter().all(|n| !n.contains("refresh failed")),
        "{notes:?}"
    );
}
