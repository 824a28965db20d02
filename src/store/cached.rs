//! Local copies in front of a shared store (docs/postgres.md, "Local copies and outages"): every
//! entry read through the database is kept on this machine as the sealed bytes the database
//! returned, with the time the database confirmed them (`confirmed_at`).
//!
//! - For `BETA9_STORE_CACHE_TTL` seconds after that confirmation (default 60; 0 asks every time) a
//!   read answers from the copy without asking, so a hot `get` costs what a local one does.
//! - A read that asks fetches the entry and the base's own records in one round trip and
//!   refreshes both copies.
//! - When the database is unreachable (or times out), a read answers from a copy confirmed at most
//!   `BETA9_STORE_MAX_STALE` ago (default 24 h), with one stderr note; past that, the database's
//!   error. A refusal (a password, a certificate, a permission) is an answer, never bypassed.
//! - Writes, and every read a write's decision makes, go to the database; the copy is refreshed
//!   only once the write is acknowledged.
//! - An entry that does not open makes the reader ask again (`Store::refresh`): a copy may predate
//!   a key rotation.
//!
//! Copies are sealed bytes like the database's rows; what they add is a timestamp. Someone who can
//! write the copies' directory could make an old copy look fresh, as they could put back an old
//! entry file in a local store (docs/storage.md, "Key ownership and rotation"): the directory must
//! be the user's own (0700), and a directory others can write to is not used.
//!
//! This file is the policy; `cached/format.rs` is the copies' file format and `cached/setup.rs`
//! reads the settings and places the copies.

use super::postgres::{PgStore, Snapshot, METAS};
use super::{Change, Decide, Meta, Store};
use crate::clock::Clock;
use crate::duration::human;
use crate::env;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::guard::Guard;
use crate::paths;
use crate::pg::is_outage;
use crate::secret_name::SecretName;
use crate::settings::Settings;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod format;
mod setup;

use format::{decode_base, decode_entry, encode_base, encode_entry, Copy, Records};
pub(crate) use setup::clear_copies;

const BASE_FILE: &str = "base";

/// The shared store `BETA9_STORE_URL` names, with this machine's copies in front of it.
pub(crate) fn open(settings: &Settings) -> Result<CachedStore<PgStore>> {
    let s = setup::from_settings(settings)?;
    let store = CachedStore::new(s.pg, s.dir, s.ttl, s.max_stale, s.clock);
    if let Some(why) = s.unusable {
        let _ = store.trusted.set(Some(why));
    }
    Ok(store)
}

/// What a cache needs of the store behind it, beyond [`Store`]: batched reads.
pub(crate) trait Origin: Store {
    /// One entry (if named) and every base record, in one exchange.
    fn snapshot(&self, entry: Option<(&str, &SecretName)>) -> Result<Snapshot>;
    /// Every entry of a workspace with its bytes, sorted by name.
    fn entries(&self, workspace: &str) -> Result<Vec<(SecretName, Vec<u8>)>>;
}

impl Origin for PgStore {
    fn snapshot(&self, entry: Option<(&str, &SecretName)>) -> Result<Snapshot> {
        PgStore::snapshot(self, entry)
    }
    fn entries(&self, workspace: &str) -> Result<Vec<(SecretName, Vec<u8>)>> {
        PgStore::entries(self, workspace)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Entry(String, SecretName),
    Base(Meta),
}

/// Base records known present or absent.
type Known = BTreeMap<Meta, Option<Vec<u8>>>;

pub(crate) struct CachedStore<O: Origin> {
    origin: O,
    dir: PathBuf,
    ttl: u64,
    max_stale: u64,
    clock: Box<dyn Clock>,
    /// What the origin confirmed during this process: current for the rest of it.
    confirmed: RefCell<BTreeMap<Key, Option<Vec<u8>>>>,
    /// Whether fresh copies may answer (turned off by [`Store::refresh`]).
    trust_copies: Cell<bool>,
    /// A copy answered a read in this process.
    served_copy: Cell<bool>,
    /// The origin failed to answer in this process: later reads go straight to the copies.
    outage: RefCell<Option<Error>>,
    /// Depth of writes in progress: their decisions read the origin.
    writing: Cell<u32>,
    /// A base record was written inside the write in progress.
    base_written: Cell<bool>,
    /// The base records as the write in progress read or left them: the base copy is refreshed
    /// from them once the write is acknowledged.
    pending: RefCell<Known>,
    trusted: OnceCell<Option<String>>,
    notes: RefCell<Vec<String>>,
    /// One warning about the copies' directory, one note about an outage, per process.
    warned: Cell<bool>,
    noted: Cell<bool>,
}

impl<O: Origin> CachedStore<O> {
    pub(crate) fn new(
        origin: O,
        dir: PathBuf,
        ttl: u64,
        max_stale: u64,
        clock: Box<dyn Clock>,
    ) -> CachedStore<O> {
        CachedStore {
            origin,
            dir,
            ttl,
            max_stale,
            clock,
            confirmed: RefCell::new(BTreeMap::new()),
            trust_copies: Cell::new(true),
            served_copy: Cell::new(false),
            outage: RefCell::new(None),
            writing: Cell::new(0),
            base_written: Cell::new(false),
            pending: RefCell::new(BTreeMap::new()),
            trusted: OnceCell::new(),
            notes: RefCell::new(Vec::new()),
            warned: Cell::new(false),
            noted: Cell::new(false),
        }
    }

    #[cfg(test)]
    pub(crate) fn origin(&self) -> &O {
        &self.origin
    }

    /// The copies' directory may be used: owned by this user, not writable by others. Checked
    /// once; otherwise copies are neither read nor written, with one note.
    fn usable(&self) -> bool {
        let why = self.trusted.get_or_init(|| {
            let existing = self.dir.ancestors().find(|p| p.exists())?;
            fsutil::untrusted_dir(existing).or_else(|| {
                let ws = self.dir.join("workspaces");
                ws.exists().then(|| fsutil::untrusted_dir(&ws)).flatten()
            })
        });
        if let Some(why) = why {
            if !self.warned.replace(true) {
                let place = if self.dir.as_os_str().is_empty() {
                    String::new()
                } else {
                    format!(" in {}", self.dir.display())
                };
                self.notes.borrow_mut().push(format!(
                    "warning: not keeping local copies of the shared store{place}: {why}; every read asks the database"
                ));
            }
            return false;
        }
        true
    }

    fn entry_path(&self, ws: &str, name: &SecretName) -> Result<(PathBuf, String)> {
        paths::validate_workspace(ws)?;
        Ok((
            self.dir.join("workspaces").join(ws),
            name.as_str().to_string(),
        ))
    }

    fn read_file(&self, dir: &Path, name: &str) -> Option<Vec<u8>> {
        if !self.usable() {
            return None;
        }
        match fsutil::read_regular(&dir.join(name), fsutil::ENTRY_LIMIT) {
            Ok(b) => b.map(|b| b.to_vec()),
            Err(e) => {
                tracing::debug!(file = %dir.join(name).display(), "local copy unreadable: {e}");
                None
            }
        }
    }

    fn write_file(&self, dir: &Path, name: &str, bytes: &[u8]) {
        if !self.usable() {
            return;
        }
        if bytes.len() as u64 > fsutil::ENTRY_LIMIT {
            // `read_file` would refuse it: no copy, and none of an older value either
            // (docs/postgres.md, "Size caps").
            tracing::debug!(file = %dir.join(name).display(), "too large for a local copy");
            let _ = std::fs::remove_file(dir.join(name));
            return;
        }
        let written =
            fsutil::ensure_dir(dir).and_then(|()| fsutil::write_atomic_unsynced(dir, name, bytes));
        if let Err(e) = written {
            // A copy is only a copy: the answer stands; say once that none is being kept.
            if !self.warned.replace(true) {
                self.notes
                    .borrow_mut()
                    .push(format!("warning: cannot keep a local copy: {e:#}"));
            }
        }
    }

    fn read_entry_copy(
        &self,
        ws: &str,
        name: &SecretName,
    ) -> Result<Option<Copy<Option<Vec<u8>>>>> {
        let (dir, file) = self.entry_path(ws, name)?;
        Ok(self.read_file(&dir, &file).and_then(|b| decode_entry(&b)))
    }

    fn write_entry_copy(
        &self,
        ws: &str,
        name: &SecretName,
        value: Option<&[u8]>,
        old: Option<&Copy<Option<Vec<u8>>>>,
    ) {
        let now = self.clock.now();
        if old.is_some_and(|o| o.value.as_deref() == value && !self.due(o.confirmed_at, now)) {
            return;
        }
        if let Ok((dir, file)) = self.entry_path(ws, name) {
            self.write_file(&dir, &file, &encode_entry(now, value));
        }
    }

    fn read_base_copy(&self) -> Option<Copy<Records>> {
        self.read_file(&self.dir, BASE_FILE)
            .and_then(|b| decode_base(&b))
    }

    fn write_base_copy(&self, records: &Records, old: Option<&Copy<Records>>) {
        let now = self.clock.now();
        if old.is_some_and(|o| &o.value == records && !self.due(o.confirmed_at, now)) {
            return;
        }
        self.write_file(&self.dir, BASE_FILE, &encode_base(now, records));
    }

    /// Should an unchanged copy get a new `confirmed_at`? Once its TTL has run out (else it would
    /// not answer the next read), and at most once a minute with a short TTL or 0: the time only
    /// bounds how long the copy may bridge an outage, where a minute is noise.
    fn due(&self, confirmed_at: u64, now: u64) -> bool {
        now.saturating_sub(confirmed_at) >= self.ttl.clamp(1, 60) || confirmed_at > now
    }

    fn drop_base_copy(&self) {
        let _ = std::fs::remove_file(self.dir.join(BASE_FILE));
    }

    /// A copy confirmed less than the TTL ago (and not in the future: a clock that went back or a
    /// planted timestamp does not make a copy fresh).
    fn fresh(&self, confirmed_at: u64) -> bool {
        let now = self.clock.now();
        self.trust_copies.get() && confirmed_at <= now && now - confirmed_at < self.ttl
    }

    /// Asks the origin for `entry` and the base records, records what it confirmed and refreshes
    /// the copies. `Err` only for what is not an outage, or an outage with `fallback` absent.
    fn ask(&self, entry: Option<(&str, &SecretName)>) -> Result<Snapshot> {
        if let Some(e) = self.outage.borrow().as_ref() {
            return Err(copy_error(e));
        }
        let snap = match self.origin.snapshot(entry) {
            Ok(s) => s,
            Err(e) => {
                if is_outage(&e) {
                    *self.outage.borrow_mut() = Some(copy_error(&e));
                }
                return Err(e);
            }
        };
        let records: Records = snap.base.iter().cloned().collect();
        {
            let mut c = self.confirmed.borrow_mut();
            for m in METAS {
                c.insert(Key::Base(m), records.get(&m).cloned());
            }
            if let Some((ws, name)) = entry {
                c.insert(Key::Entry(ws.to_string(), name.clone()), snap.entry.clone());
            }
        }
        let old_base = self.read_base_copy();
        self.write_base_copy(&records, old_base.as_ref());
        Ok(snap)
    }

    /// The origin is out of reach: a copy within `BETA9_STORE_MAX_STALE` answers, with one note.
    fn fallback<T>(&self, e: Error, copy: Option<Copy<T>>, what: &str) -> Result<T> {
        let now = self.clock.now();
        match copy {
            Some(c) if c.confirmed_at <= now && now - c.confirmed_at <= self.max_stale => {
                if !self.noted.replace(true) {
                    self.notes.borrow_mut().push(format!(
                        "note: {}; answered from the local copy the database confirmed {} ago ({} allows {})",
                        e.protocol_message(),
                        human(now - c.confirmed_at),
                        env::STORE_MAX_STALE,
                        human(self.max_stale)
                    ));
                }
                self.served_copy.set(true);
                Ok(c.value)
            }
            Some(c) => Err(extend(
                e,
                &format!(
                    "the local copy of {what} was confirmed {} ago, past {} ({})",
                    human(now.saturating_sub(c.confirmed_at)),
                    env::STORE_MAX_STALE,
                    human(self.max_stale)
                ),
            )),
            None => Err(e),
        }
    }

    /// Runs a write against the origin; its decisions read the origin, and what it left is
    /// recorded once it is acknowledged.
    fn write(
        &self,
        key: Key,
        f: impl FnOnce(&mut Option<Option<Vec<u8>>>) -> Result<bool>,
    ) -> Result<bool> {
        let depth = self.writing.get();
        if depth == 0 {
            self.pending.borrow_mut().clear();
            self.base_written.set(false);
        }
        self.writing.set(depth + 1);
        let mut state = None;
        let result = f(&mut state);
        self.writing.set(depth);
        let changed = result?;
        if let Key::Base(m) = &key {
            self.base_written.set(true);
            if let Some(s) = &state {
                self.pending.borrow_mut().insert(*m, s.clone());
            }
        }
        if depth == 0 {
            self.after_write(key, state);
        }
        Ok(changed)
    }

    /// Records what an acknowledged write left, and refreshes (or drops) the copies it touched.
    fn after_write(&self, key: Key, state: Option<Option<Vec<u8>>>) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        let base_written = self.base_written.replace(false);
        if base_written {
            self.confirmed
                .borrow_mut()
                .retain(|k, _| !matches!(k, Key::Base(_)));
        }
        if pending.len() == METAS.len() {
            let mut records = Records::new();
            let mut confirmed = self.confirmed.borrow_mut();
            for (m, v) in pending {
                if let Some(b) = &v {
                    records.insert(m, b.clone());
                }
                confirmed.insert(Key::Base(m), v);
            }
            drop(confirmed);
            self.write_base_copy(&records, None);
        } else if base_written {
            self.drop_base_copy();
        }
        if let (Key::Entry(ws, name), Some(state)) = (&key, &state) {
            let old = self.read_entry_copy(ws, name).ok().flatten();
            self.write_entry_copy(ws, name, state.as_deref(), old.as_ref());
        }
        if let Some(state) = state {
            self.confirmed.borrow_mut().insert(key, state);
        }
    }
}

/// What a decision left a record holding.
fn outcome(seen: Option<&[u8]>, change: &Change) -> Option<Vec<u8>> {
    match change {
        Change::Keep => seen.map(<[u8]>::to_vec),
        Change::Put(b) => Some(b.clone()),
        Change::Delete => None,
    }
}

impl<O: Origin> Store for CachedStore<O> {
    fn location(&self) -> String {
        self.origin.location()
    }

    fn workspaces(&self) -> Result<Vec<String>> {
        self.origin.workspaces()
    }

    fn read(&self, workspace: &str, name: &SecretName) -> Result<Option<Vec<u8>>> {
        let key = Key::Entry(workspace.to_string(), name.clone());
        if let Some(v) = self.confirmed.borrow().get(&key) {
            return Ok(v.clone());
        }
        if self.writing.get() > 0 {
            return self.origin.read(workspace, name);
        }
        let copy = self.read_entry_copy(workspace, name)?;
        if let Some(c) = copy.as_ref().filter(|c| self.fresh(c.confirmed_at)) {
            tracing::debug!(entry = %name, confirmed_at = c.confirmed_at, "answered from the local copy");
            self.served_copy.set(true);
            return Ok(c.value.clone());
        }
        match self.ask(Some((workspace, name))) {
            Ok(snap) => {
                self.write_entry_copy(workspace, name, snap.entry.as_deref(), copy.as_ref());
                Ok(snap.entry)
            }
            Err(e) if is_outage(&e) => self.fallback(e, copy, &format!("{workspace}/{name}")),
            Err(e) => Err(e),
        }
    }

    fn names(&self, workspace: &str) -> Result<Vec<SecretName>> {
        if self.writing.get() > 0 {
            return self.origin.names(workspace);
        }
        // One round trip for every row: a `list` then opens them without asking again.
        let entries = self.origin.entries(workspace)?;
        let mut confirmed = self.confirmed.borrow_mut();
        let mut names = Vec::with_capacity(entries.len());
        for (name, bytes) in entries {
            confirmed.insert(Key::Entry(workspace.to_string(), name.clone()), Some(bytes));
            names.push(name);
        }
        Ok(names)
    }

    fn update(&self, workspace: &str, name: &SecretName, decide: &mut Decide) -> Result<bool> {
        let key = Key::Entry(workspace.to_string(), name.clone());
        self.write(key, |state| {
            self.origin.update(workspace, name, &mut |seen| {
                let change = decide(seen)?;
                *state = Some(outcome(seen, &change));
                Ok(change)
            })
        })
    }

    fn read_meta(&self, meta: Meta) -> Result<Option<Vec<u8>>> {
        if let Some(v) = self.confirmed.borrow().get(&Key::Base(meta)) {
            return Ok(v.clone());
        }
        if self.writing.get() > 0 {
            let v = self.origin.read_meta(meta)?;
            self.pending.borrow_mut().insert(meta, v.clone());
            return Ok(v);
        }
        let copy = self.read_base_copy();
        if let Some(c) = copy.as_ref().filter(|c| self.fresh(c.confirmed_at)) {
            self.served_copy.set(true);
            return Ok(c.value.get(&meta).cloned());
        }
        match self.ask(None) {
            Ok(snap) => Ok(snap
                .base
                .into_iter()
                .find(|(m, _)| *m == meta)
                .map(|(_, b)| b)),
            Err(e) if is_outage(&e) => {
                let copy = copy.map(|c| Copy {
                    confirmed_at: c.confirmed_at,
                    value: c.value.get(&meta).cloned(),
                });
                self.fallback(e, copy, meta.name())
            }
            Err(e) => Err(e),
        }
    }

    fn update_meta(&self, meta: Meta, decide: &mut Decide) -> Result<bool> {
        self.write(Key::Base(meta), |state| {
            self.origin.update_meta(meta, &mut |seen| {
                let change = decide(seen)?;
                *state = Some(outcome(seen, &change));
                Ok(change)
            })
        })
    }

    fn lock_rotation(&self) -> Result<Guard> {
        self.origin.lock_rotation()
    }

    fn check(&self, workspace: &str) -> Vec<String> {
        self.origin.check(workspace)
    }

    fn refresh(&self) -> bool {
        if !self.served_copy.replace(false) {
            return false;
        }
        self.trust_copies.set(false);
        // With the database out of reach, asking again would only find the same copy.
        self.outage.borrow().is_none()
    }

    fn take_notes(&self) -> Vec<String> {
        let mut out = self.origin.take_notes();
        out.append(&mut self.notes.borrow_mut());
        out
    }
}

/// A second handle on an outage error (for later reads of the same process).
fn copy_error(e: &Error) -> Error {
    match e {
        Error::Unreachable { registry, detail } => Error::Unreachable {
            registry: registry.clone(),
            detail: detail.clone(),
        },
        Error::Timeout {
            place,
            detail,
            of_key,
        } => Error::Timeout {
            place: place.clone(),
            detail: detail.clone(),
            of_key: *of_key,
        },
        other => Error::Other(anyhow::anyhow!("{}", other.protocol_message())),
    }
}

fn extend(e: Error, more: &str) -> Error {
    match e {
        Error::Unreachable { registry, detail } => Error::Unreachable {
            registry,
            detail: format!("{detail}; {more}"),
        },
        Error::Timeout {
            place,
            detail,
            of_key,
        } => Error::Timeout {
            place,
            detail: format!("{detail}; {more}"),
            of_key,
        },
        other => other,
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::MemoryStore;

    /// A memory origin that can go "unreachable", counting what it is asked.
    #[derive(Default)]
    struct Flaky {
        mem: MemoryStore,
        down: Cell<bool>,
        asked: Cell<u32>,
    }

    impl Flaky {
        fn gate(&self) -> Result<()> {
            if self.down.get() {
                return Err(Error::Unreachable {
                    registry: "PostgreSQL store test".into(),
                    detail: "error connecting to server: Connection refused".into(),
                });
            }
            self.asked.set(self.asked.get() + 1);
            Ok(())
        }
    }

    impl Store for Flaky {
        fn location(&self) -> String {
            "test".into()
        }
        fn workspaces(&self) -> Result<Vec<String>> {
            self.gate()?;
            self.mem.workspaces()
        }
        fn read(&self, ws: &str, name: &SecretName) -> Result<Option<Vec<u8>>> {
            self.gate()?;
            self.mem.read(ws, name)
        }
        fn names(&self, ws: &str) -> Result<Vec<SecretName>> {
            self.gate()?;
            self.mem.names(ws)
        }
        fn update(&self, ws: &str, name: &SecretName, decide: &mut Decide) -> Result<bool> {
            self.gate()?;
            self.mem.update(ws, name, decide)
        }
        fn read_meta(&self, meta: Meta) -> Result<Option<Vec<u8>>> {
            self.gate()?;
            self.mem.read_meta(meta)
        }
        fn update_meta(&self, meta: Meta, decide: &mut Decide) -> Result<bool> {
            self.gate()?;
            self.mem.update_meta(meta, decide)
        }
        fn lock_rotation(&self) -> Result<Guard> {
            self.mem.lock_rotation()
        }
    }

    impl Origin for Flaky {
        fn snapshot(&self, entry: Option<(&str, &SecretName)>) -> Result<Snapshot> {
            self.gate()?;
            let mut s = Snapshot::default();
            if let Some((ws, n)) = entry {
                s.entry = self.mem.read(ws, n)?;
            }
            for m in METAS {
                if let Some(b) = self.mem.read_meta(m)? {
                    s.base.push((m, b));
                }
            }
            Ok(s)
        }
        fn entries(&self, ws: &str) -> Result<Vec<(SecretName, Vec<u8>)>> {
            self.gate()?;
            let mut out = Vec::new();
            for n in self.mem.names(ws)? {
                if let Some(b) = self.mem.read(ws, &n)? {
                    out.push((n, b));
                }
            }
            Ok(out)
        }
    }

    fn machine(dir: &Path, origin: Flaky, ttl: u64, clock: &ManualClock) -> CachedStore<Flaky> {
        CachedStore::new(
            origin,
            dir.join("copies"),
            ttl,
            3600,
            Box::new(clock.clone()),
        )
    }

    fn put(s: &impl Store, n: &SecretName, b: &[u8]) {
        s.update("default", n, &mut |_| Ok(Change::Put(b.to_vec())))
            .unwrap();
    }

    #[test]
    fn fresh_copies_answer_without_asking_then_expire() {
        let t = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(1_000_000);
        let n = SecretName::derive("ghcr.io");
        let s = machine(t.path(), Flaky::default(), 60, &clock);
        put(&s, &n, b"v1");
        // A new process on the same machine: the write left a copy.
        let s = machine(t.path(), Flaky::default(), 60, &clock);
        assert_eq!(s.read("default", &n).unwrap().unwrap(), b"v1");
        assert_eq!(s.origin().asked.get(), 0, "answered from the copy");
        assert!(s.read_meta(Meta::RotationNext).is_ok());
        // After the TTL the origin is asked (here: an empty one, as if erased elsewhere).
        clock.advance(60);
        let s = machine(t.path(), Flaky::default(), 60, &clock);
        assert_eq!(s.read("default", &n).unwrap(), None);
        assert_eq!(
            s.origin().asked.get(),
            1,
            "entry and base records in one exchange"
        );
        assert_eq!(s.read_meta(Meta::RotationNext).unwrap(), None);
        assert_eq!(s.origin().asked.get(), 1);
        // The absence is a confirmation too.
        let s = machine(t.path(), Flaky::default(), 60, &clock);
        assert_eq!(s.read("default", &n).unwrap(), None);
        assert_eq!(s.origin().asked.get(), 0);
    }

    #[test]
    fn ttl_zero_asks_every_process_once() {
        let t = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(1_000_000);
        let n = SecretName::derive("ghcr.io");
        let origin = Flaky::default();
        put(&origin.mem, &n, b"v1");
        let s = machine(t.path(), origin, 0, &clock);
        assert_eq!(s.read("default", &n).unwrap().unwrap(), b"v1");
        assert_eq!(s.read("default", &n).unwrap().unwrap(), b"v1");
        s.read_meta(Meta::KeyCheck).unwrap();
        assert_eq!(s.origin().asked.get(), 1);
    }

    #[test]
    fn outages_are_answered_from_copies_within_max_stale() {
        let t = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(1_000_000);
        let n = SecretName::derive("ghcr.io");
        let origin = Flaky::default();
        put(&origin.mem, &n, b"v1");
        machine(t.path(), origin, 0, &clock)
            .read("default", &n)
            .unwrap();
        clock.advance(1800);
        let down = Flaky::default();
        down.down.set(true);
        let s = machine(t.path(), down, 0, &clock);
        assert_eq!(s.read("default", &n).unwrap().unwrap(), b"v1");
        assert_eq!(s.read_meta(Meta::RotationNext).unwrap(), None);
        let notes = s.take_notes();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("unreachable") && notes[0].contains("30 min"),
            "{notes:?}"
        );
        // Writes are refused, nothing is changed.
        let err = s
            .update("default", &n, &mut |_| Ok(Change::Put(b"v2".to_vec())))
            .unwrap_err();
        assert!(err.to_string().contains("unreachable"), "{err}");
        assert_eq!(s.read("default", &n).unwrap().unwrap(), b"v1");
        // Past max-stale: the database's error, naming the cause and the copy's age.
        clock.advance(3600);
        let down = Flaky::default();
        down.down.set(true);
        let s = machine(t.path(), down, 0, &clock);
        let err = s.read("default", &n).unwrap_err().to_string();
        assert!(
            err.contains("unreachable") && err.contains("BETA9_STORE_MAX_STALE"),
            "{err}"
        );
        assert!(!err.contains('\n'));
    }

    #[test]
    fn a_sealed_write_leaves_copies_that_bridge_an_outage() {
        use crate::seal::Key;
        use crate::store::key::KeySource;
        use crate::store::sealed::{Plan, SealedStore};
        use std::io::Write as _;
        let t = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(1_000_000);
        let key = || KeySource::Memory(std::sync::Arc::new(Key::from_bytes([9; 32])));
        let n = SecretName::derive("ghcr.io");
        let up = SealedStore::new(
            Box::new(machine(t.path(), Flaky::default(), 0, &clock)),
            "default",
            key(),
        );
        up.update(&n, |_| {
            let mut b = crate::secret::SecretBuf::default();
            b.write_all(b"plain").unwrap();
            Ok(Plan::Put(b, ()))
        })
        .unwrap();
        clock.advance(5);
        let down = Flaky::default();
        down.down.set(true);
        let s = SealedStore::new(
            Box::new(machine(t.path(), down, 0, &clock)),
            "default",
            key(),
        );
        assert_eq!(s.read(&n).unwrap().unwrap().as_slice(), b"plain");
        let notes = s.take_warnings();
        assert!(
            notes.len() == 1 && notes[0].contains("5 s ago"),
            "{notes:?}"
        );
    }

    #[test]
    fn refresh_asks_again_after_a_copy_answered() {
        let t = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(1_000_000);
        let n = SecretName::derive("ghcr.io");
        let s = machine(t.path(), Flaky::default(), 60, &clock);
        put(&s, &n, b"old");
        let origin = Flaky::default();
        put(&origin.mem, &n, b"new");
        let s = machine(t.path(), origin, 60, &clock);
        assert_eq!(s.read("default", &n).unwrap().unwrap(), b"old");
        assert!(s.refresh());
        assert_eq!(s.read("default", &n).unwrap().unwrap(), b"new");
        assert!(!s.refresh(), "nothing more to refresh");
    }

    #[test]
    fn names_read_every_row_once() {
        let t = tempfile::tempdir().unwrap();
        let clock = ManualClock::at(1_000_000);
        let origin = Flaky::default();
        for r in ["a.example", "b.example", "c.example"] {
            put(&origin.mem, &SecretName::derive(r), r.as_bytes());
        }
        let s = machine(t.path(), origin, 0, &clock);
        let names = s.names("default").unwrap();
        assert_eq!(names.len(), 3);
        for n in &names {
            s.read("default", n).unwrap().unwrap();
        }
        assert_eq!(s.origin().asked.get(), 1);
    }
}
