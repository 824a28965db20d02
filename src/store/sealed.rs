//! Sealing over a [`Store`]: entries go in and come out as plaintext here, and only as sealed
//! bytes below (docs/storage.md, "Sealed format"). The workspace's keys are derived from the master
//! key once per process and only when an entry must be opened, so a `get` of an absent entry loads
//! no key at all.

use super::crypt::{self, Key, OpenError, Purpose};
use super::key::KeySource;
use super::name::SecretName;
use super::{Change, Store};
use crate::error::{Error, Result};
use crate::secret::SecretBuf;
use std::cell::{OnceCell, RefCell};

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

pub struct SealedStore {
    store: Box<dyn Store>,
    workspace: String,
    key_source: KeySource,
    /// Keys to try when opening: the current one, then the one a running `rekey` is moving
    /// entries to (if any).
    read_keys: OnceCell<Vec<Key>>,
    /// The workspace's token-cache key, derived from the same master key load (a keyring is asked
    /// once per process, not once for the entry and again for the cache).
    cache_key: OnceCell<Key>,
    warnings: RefCell<Vec<String>>,
}

impl SealedStore {
    pub fn new(store: Box<dyn Store>, workspace: &str, key_source: KeySource) -> SealedStore {
        SealedStore {
            store,
            workspace: workspace.to_string(),
            key_source,
            read_keys: OnceCell::new(),
            cache_key: OnceCell::new(),
            warnings: RefCell::new(Vec::new()),
        }
    }

    pub fn workspace(&self) -> &str {
        &self.workspace
    }

    pub fn key_source(&self) -> &KeySource {
        &self.key_source
    }

    pub fn location(&self) -> String {
        self.store.location()
    }

    pub fn names(&self) -> Result<Vec<SecretName>> {
        self.store.names()
    }

    /// The plaintext of one entry, `None` when absent.
    pub fn read(&self, name: &SecretName) -> Result<Option<SecretBuf>> {
        match self.store.read(name)? {
            None => Ok(None),
            Some(sealed) => self.open(name, &sealed).map(Some),
        }
    }

    /// Reads one entry and applies `decide`'s plan atomically (see [`Store::update`]). New
    /// plaintext is sealed inside the backend's critical section, with the key read afresh
    /// there, so a concurrent `rekey` is never undone.
    pub fn update<T>(
        &self,
        name: &SecretName,
        mut decide: impl FnMut(Current) -> Result<Plan<T>>,
    ) -> Result<T> {
        let mut outcome = None;
        self.store.update(name, &mut |bytes| {
            let current = match bytes {
                None => Current::Absent,
                Some(sealed) => match self.open(name, sealed) {
                    Ok(plain) => Current::Open(plain),
                    Err(e @ Error::KeyUnavailable(_)) => return Err(e),
                    Err(e) => Current::Unreadable(e),
                },
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
                    let key = self.write_key()?;
                    let sealed = crypt::seal(
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

    /// The workspace's key for sealing cached tokens (derived from the master key, purpose
    /// `token-cache`).
    pub fn token_cache_key(&self) -> Result<Key> {
        if self.cache_key.get().is_none() {
            self.read_keys()?;
        }
        self.cache_key
            .get()
            .map(Key::duplicate)
            .ok_or_else(|| Error::KeyUnavailable("no master key for the token cache".into()))
    }

    /// One-line warnings gathered while working (a key file or directory others can read).
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }

    fn read_keys(&self) -> Result<&[Key]> {
        if let Some(k) = self.read_keys.get() {
            return Ok(k);
        }
        let mut keys = Vec::with_capacity(2);
        if let Some(k) = self.key_source.load()? {
            keys.push(k.derive(&self.workspace, Purpose::Entry));
            let _ = self
                .cache_key
                .set(k.derive(&self.workspace, Purpose::TokenCache));
        }
        if let Some(next) = self.key_source.next_source() {
            if let Some(k) = next.load()? {
                keys.push(k.derive(&self.workspace, Purpose::Entry));
            }
        }
        if keys.is_empty() {
            return Err(Error::KeyUnavailable(format!(
                "entries exist in {} but the {} does not",
                self.store.location(),
                self.key_source.describe()
            )));
        }
        self.check();
        Ok(self.read_keys.get_or_init(|| keys))
    }

    /// The key new writes are sealed with, read afresh (the caller holds the backend's critical
    /// section): during a rotation writes go to the next key.
    fn write_key(&self) -> Result<Key> {
        if let Some(next) = self.key_source.next_source() {
            if let Some(k) = next.load()? {
                return Ok(k.derive(&self.workspace, Purpose::Entry));
            }
        }
        let master = match self.key_source.load()? {
            Some(k) => k,
            // Never mint a second key next to entries sealed with a lost one: that would mix
            // keys in one store and hide the real problem (a moved HOME, a lost file).
            None if !self.store.names()?.is_empty() => {
                return Err(Error::KeyUnavailable(format!(
                    "entries exist in {} but the {} does not; restore it (or move the entries away) before storing",
                    self.store.location(),
                    self.key_source.describe()
                )))
            }
            // First write: racing first writers agree on one key (key files are created
            // link-atomically, the keyring item is read back).
            None => self.key_source.load_or_create()?,
        };
        self.check();
        Ok(master.derive(&self.workspace, Purpose::Entry))
    }

    fn check(&self) {
        let mut w = self.warnings.borrow_mut();
        if w.is_empty() {
            w.extend(self.key_source.check());
            w.extend(self.store.check());
        }
    }

    fn open(&self, name: &SecretName, sealed: &[u8]) -> Result<SecretBuf> {
        let keys = self.read_keys()?;
        let mut result = Err(OpenError::Authentication);
        for key in keys {
            result = crypt::open(key, Purpose::Entry, &self.workspace, name.as_str(), sealed);
            if !matches!(result, Err(OpenError::Authentication)) {
                break;
            }
        }
        result.map_err(|e| match e {
            OpenError::Authentication | OpenError::NotSealed => Error::Undecryptable {
                entry: name.to_string(),
                location: self.store.location(),
            },
            OpenError::UnsupportedVersion(version) => Error::StoreFormat {
                entry: name.to_string(),
                version,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::file::FileStore;
    use crate::store::MemoryStore;
    use std::io::Write as _;
    use std::path::Path;

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
            Box::new(FileStore::new(t.join("store").join(ws))),
            ws,
            KeySource::Generated(t.join(key)),
        )
    }

    #[test]
    fn sealed_round_trip_and_nothing_in_clear_below() {
        let mem = std::rc::Rc::new(MemoryStore::default());
        struct Shared(std::rc::Rc<MemoryStore>);
        impl Store for Shared {
            fn location(&self) -> String {
                self.0.location()
            }
            fn read(&self, n: &SecretName) -> Result<Option<Vec<u8>>> {
                self.0.read(n)
            }
            fn names(&self) -> Result<Vec<SecretName>> {
                self.0.names()
            }
            fn update(
                &self,
                n: &SecretName,
                d: &mut dyn FnMut(Option<&[u8]>) -> Result<Change>,
            ) -> Result<bool> {
                self.0.update(n, d)
            }
        }
        let key = KeySource::Memory(std::sync::Arc::new(Key::from_bytes([3; 32])));
        let s = SealedStore::new(Box::new(Shared(mem.clone())), "default", key);
        let n = SecretName::derive("ghcr.io");
        put(&s, &n, b"CANARY-plain");
        assert_eq!(s.read(&n).unwrap().unwrap().as_slice(), b"CANARY-plain");
        let raw = mem.read(&n).unwrap().unwrap();
        assert!(!raw.windows(6).any(|w| w == b"CANARY"));
    }

    #[test]
    fn wrong_key_is_unreadable_and_bytes_stay() {
        let t = tempfile::tempdir().unwrap();
        let n = SecretName::derive("ghcr.io");
        put(&file_store(t.path(), "default", "k1"), &n, b"v");
        let path = t.path().join("store/default").join(n.as_str());
        let before = std::fs::read(&path).unwrap();
        KeySource::Generated(t.path().join("k2"))
            .load_or_create()
            .unwrap();
        let other = file_store(t.path(), "default", "k2");
        let err = other.read(&n).unwrap_err();
        assert!(matches!(err, Error::Undecryptable { .. }), "{err}");
        assert!(err.to_string().contains(n.as_str()));
        // An update sees it as unreadable and may keep it.
        other
            .update(&n, |c| {
                assert!(matches!(c, Current::Unreadable(_)));
                Ok(Plan::Keep(()))
            })
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }

    #[test]
    fn missing_key_with_entries_is_key_unavailable() {
        let t = tempfile::tempdir().unwrap();
        let n = SecretName::derive("ghcr.io");
        put(&file_store(t.path(), "default", "k1"), &n, b"v");
        std::fs::remove_file(t.path().join("k1")).unwrap();
        let s = file_store(t.path(), "default", "k1");
        assert!(matches!(s.read(&n), Err(Error::KeyUnavailable(_))));
        let err = s
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
        let path = t.path().join("store/default").join(n.as_str());
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
