//! Sealing over a [`Store`]: entries go in and come out as plaintext here, and only as sealed
//! bytes below (docs/storage.md, "Sealed format"). Keys come from [`keys`](super::keys): loaded
//! once per process for reading and only when an entry must be opened (a `get` of an absent entry
//! loads no key), verified against the base's key check before every write.

use super::key::KeySource;
use super::keys::{self, MasterKeys};
use super::{Change, Store};
use crate::error::{Error, Result};
use crate::seal::{self, Key, OpenError, Purpose};
use crate::secret::SecretBuf;
use crate::secret_name::SecretName;
use std::cell::{Ref, RefCell};

/// The current state of an entry, as an update decision sees it.
pub enum Current {
    Absent,
    Open(SecretBuf),
    /// Present but not openable (wrong key, damage, a newer format): never replaced blindly.
    Unreadable(Error),
}

/// What an update decision does, and what it reports back.
pub enum Plan<T> {
    Keep(T),
    Put(SecretBuf, T),
    Delete(T),
}

/// How often a read re-reads the keys when an entry does not open: a concurrent rotation may have
/// moved the entry to a key this process did not know when it started.
const READ_ATTEMPTS: usize = 4;

pub struct SealedStore {
    store: Box<dyn Store>,
    workspace: String,
    key_source: KeySource,
    /// The keys readers try, loaded on first use and again when an entry does not open.
    keys: RefCell<Option<MasterKeys>>,
    warnings: RefCell<Vec<String>>,
}

impl SealedStore {
    pub(crate) fn new(
        store: Box<dyn Store>,
        workspace: &str,
        key_source: KeySource,
    ) -> SealedStore {
        SealedStore {
            store,
            workspace: workspace.to_string(),
            key_source,
            keys: RefCell::new(None),
            warnings: RefCell::new(Vec::new()),
        }
    }

    pub(crate) fn workspace(&self) -> &str {
        &self.workspace
    }

    pub(crate) fn backend(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn names(&self) -> Result<Vec<SecretName>> {
        self.store.names(&self.workspace)
    }

    /// The plaintext of one entry, `None` when absent.
    pub(crate) fn read(&self, name: &SecretName) -> Result<Option<SecretBuf>> {
        let mut result = Err(OpenError::Authentication);
        for attempt in 0..READ_ATTEMPTS {
            let Some(sealed) = self.store.read(&self.workspace, name)? else {
                return Ok(None);
            };
            result = keys::open_entry(&*self.read_keys()?, &self.workspace, name, &sealed);
            if !matches!(result, Err(OpenError::Authentication)) {
                break;
            }
            // Keys that changed since they were loaded (a rotation finished meanwhile) are worth
            // another try, and so are bytes a backend took from its own copy; the same keys over
            // the same bytes are not.
            if attempt + 1 >= READ_ATTEMPTS {
                break;
            }
            let refreshed = self.store.refresh();
            if !self.reload_keys()? && !refreshed {
                break;
            }
        }
        result.map(Some).map_err(|e| self.open_error(name, e))
    }

    /// Reads one entry and applies `decide`'s plan atomically (see [`Store::update`]). The keys
    /// are read afresh inside the backend's critical section, and verified against the base's key
    /// check before anything is sealed, so a concurrent `rekey` is never undone and a wrong key
    /// never writes.
    pub fn update<T>(
        &self,
        name: &SecretName,
        mut decide: impl FnMut(Current) -> Result<Plan<T>>,
    ) -> Result<T> {
        let mut outcome = None;
        let store = self.store.as_ref();
        store.update(&self.workspace, name, &mut |bytes| {
            let current = match bytes {
                None => Current::Absent,
                Some(sealed) => {
                    let fresh = MasterKeys::load(&self.key_source, store)?;
                    if fresh.is_empty() {
                        return Err(self.missing_key());
                    }
                    match keys::open_entry(&fresh, &self.workspace, name, sealed) {
                        Ok(plain) => Current::Open(plain),
                        Err(e) => Current::Unreadable(self.open_error_with(&fresh, name, e)),
                    }
                }
            };
            Ok(match decide(current)? {
                Plan::Keep(t) => {
                    outcome = Some(t);
                    Change::Keep
                }
                Plan::Delete(t) => {
                    outcome = Some(t);
                    Change::Delete
                }
                Plan::Put(plain, t) => {
                    let verified = keys::for_write(&self.key_source, store)?;
                    self.check();
                    let master = verified.write_key().ok_or_else(|| self.missing_key())?;
                    let key = master.derive(&self.workspace, Purpose::Entry);
                    let sealed = seal::seal(
                        &key,
                        Purpose::Entry,
                        &self.workspace,
                        name.as_str(),
                        plain.as_slice(),
                    )?;
                    outcome = Some(t);
                    Change::Put(sealed)
                }
            })
        })?;
        outcome.ok_or_else(|| Error::Other(anyhow::anyhow!("the store made no decision")))
    }

    /// The workspace's key for sealing cached tokens (derived from the write key, purpose
    /// `token-cache`, so every process agrees on it during a rotation too).
    pub(crate) fn token_cache_key(&self) -> Result<Key> {
        let keys = self.read_keys()?;
        let master = keys.write_key().ok_or_else(|| self.missing_key())?;
        Ok(master.derive(&self.workspace, Purpose::TokenCache))
    }

    /// One-line warnings gathered while working (a key file or directory others can read).
    pub(crate) fn take_warnings(&self) -> Vec<String> {
        let mut out = std::mem::take(&mut *self.warnings.borrow_mut());
        out.extend(self.store.take_notes());
        out
    }

    fn missing_key(&self) -> Error {
        Error::KeyUnavailable(format!(
            "entries exist in {} but the {} does not",
            self.store.location(),
            self.key_source.describe()
        ))
    }

    fn read_keys(&self) -> Result<Ref<'_, MasterKeys>> {
        if self.keys.borrow().is_none() {
            self.reload_keys()?;
        }
        let keys = Ref::map(self.keys.borrow(), |k| {
            k.as_ref()
                .unwrap_or_else(|| unreachable!("keys were just loaded"))
        });
        if keys.is_empty() {
            return Err(self.missing_key());
        }
        Ok(keys)
    }

    /// Loads the keys again; `true` when they differ from the ones held.
    fn reload_keys(&self) -> Result<bool> {
        let fresh = MasterKeys::load(&self.key_source, self.store.as_ref())?;
        self.check();
        let changed = self
            .keys
            .borrow()
            .as_ref()
            .is_none_or(|old| old.fingerprint() != fresh.fingerprint());
        *self.keys.borrow_mut() = Some(fresh);
        Ok(changed)
    }

    fn check(&self) {
        let mut w = self.warnings.borrow_mut();
        if w.is_empty() {
            w.extend(self.key_source.check());
            w.extend(self.store.check(&self.workspace));
        }
    }

    fn open_error(&self, name: &SecretName, e: OpenError) -> Error {
        match self.read_keys() {
            Ok(keys) => self.open_error_with(&keys, name, e),
            Err(err) => err,
        }
    }

    /// A wrong key and a damaged entry are told apart by the base's key check.
    fn open_error_with(&self, keys: &MasterKeys, name: &SecretName, e: OpenError) -> Error {
        match e {
            OpenError::UnsupportedVersion(version) => Error::StoreFormat {
                entry: name.to_string(),
                version,
            },
            OpenError::Authentication | OpenError::NotSealed => {
                if keys.opens_key_check(self.store.as_ref()).ok().flatten() == Some(false) {
                    Error::WrongKey {
                        entry: Some(name.to_string()),
                        key: self.key_source.describe(),
                        location: self.store.location(),
                    }
                } else {
                    Error::Undecryptable {
                        entry: name.to_string(),
                        location: self.store.location(),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::file::FileStore;
    use crate::store::MemoryStore;
    use std::io::Write as _;
    use std::path::Path;
    use std::time::Duration;

    fn buf(b: &[u8]) -> SecretBuf {
        let mut s = SecretBuf::default();
        s.write_all(b).unwrap();
        s
    }

    fn put(s: &SealedStore, n: &SecretName, b: &[u8]) {
        s.update(n, |_| Ok(Plan::Put(buf(b), ()))).unwrap();
    }

    fn file_store(t: &Path, ws: &str, key: &str) -> SealedStore {
        SealedStore::new(
            Box::new(FileStore::new(t.join("store"), Duration::from_secs(2))),
            ws,
            KeySource::Generated {
                path: t.join(key),
                legacy: None,
            },
        )
    }

    #[test]
    fn sealed_round_trip_and_nothing_in_clear_below() {
        let t = tempfile::tempdir().unwrap();
        let s = file_store(t.path(), "default", "k");
        let n = SecretName::derive("ghcr.io");
        put(&s, &n, b"CANARY-plain");
        assert_eq!(s.read(&n).unwrap().unwrap().as_slice(), b"CANARY-plain");
        let raw =
            std::fs::read(t.path().join("store/workspaces/default").join(n.as_str())).unwrap();
        assert!(!raw.windows(6).any(|w| w == b"CANARY"));
        let mem = SealedStore::new(
            Box::new(MemoryStore::default()),
            "default",
            KeySource::Memory(std::sync::Arc::new(Key::from_bytes([3; 32]))),
        );
        put(&mem, &n, b"x");
        assert_eq!(mem.read(&n).unwrap().unwrap().as_slice(), b"x");
    }

    #[test]
    fn a_wrong_key_is_named_as_such_and_bytes_stay() {
        let t = tempfile::tempdir().unwrap();
        let n = SecretName::derive("ghcr.io");
        put(&file_store(t.path(), "default", "k1"), &n, b"v");
        let path = t.path().join("store/workspaces/default").join(n.as_str());
        let before = std::fs::read(&path).unwrap();
        let other = file_store(t.path(), "default", "k2");
        KeySource::Generated {
            path: t.path().join("k2"),
            legacy: None,
        }
        .load_or_create()
        .unwrap();
        let err = other.read(&n).unwrap_err();
        assert!(matches!(err, Error::WrongKey { .. }), "{err}");
        // A write with the wrong key is refused before anything is sealed.
        let err = other
            .update(&SecretName::derive("nvcr.io"), |_| {
                Ok(Plan::Put(buf(b"x"), ()))
            })
            .unwrap_err();
        assert!(matches!(err, Error::WrongKey { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Damage under the right key is a damaged entry, not a wrong key.
        let mut bytes = before.clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        crate::fsutil::write_atomic(path.parent().unwrap(), n.as_str(), &bytes).unwrap();
        let err = file_store(t.path(), "default", "k1").read(&n).unwrap_err();
        assert!(matches!(err, Error::Undecryptable { .. }), "{err}");
    }

    #[test]
    fn a_missing_key_is_noticed_across_workspaces() {
        let t = tempfile::tempdir().unwrap();
        let n = SecretName::derive("ghcr.io");
        put(&file_store(t.path(), "default", "k1"), &n, b"v");
        std::fs::remove_file(t.path().join("k1")).unwrap();
        let s = file_store(t.path(), "default", "k1");
        assert!(matches!(s.read(&n), Err(Error::KeyUnavailable(_))));
        // Another workspace of the same base: no new key is minted beside the old entries.
        let team = file_store(t.path(), "team", "k1");
        let err = team
            .update(&SecretName::derive("nvcr.io"), |_| {
                Ok(Plan::Put(buf(b"x"), ()))
            })
            .unwrap_err();
        assert!(matches!(err, Error::KeyUnavailable(_)), "{err}");
        assert!(!t.path().join("k1").exists(), "no second key was minted");
    }

    #[test]
    fn newer_file_format_is_a_store_error() {
        let t = tempfile::tempdir().unwrap();
        let s = file_store(t.path(), "default", "k1");
        let n = SecretName::derive("ghcr.io");
        put(&s, &n, b"v");
        let path = t.path().join("store/workspaces/default").join(n.as_str());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[4] = 9;
        crate::fsutil::write_atomic(path.parent().unwrap(), n.as_str(), &bytes).unwrap();
        let err = file_store(t.path(), "default", "k1").read(&n).unwrap_err();
        assert!(
            matches!(err, Error::StoreFormat { version: 9, .. }),
            "{err}"
        );
    }
}
