//! Where records are kept. One sealed file per secret name, so a `get` touches one file however
//! many entries exist, and one damaged file never hides another.

pub mod crypt;
pub mod file;
pub mod key;
pub mod rekey;

use crate::error::Result;
use crate::registry::SecretName;
use crate::secret::SecretBuf;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;

/// The seam between the actions and the storage backend; tests use [`MemoryStore`].
pub trait Store {
    /// The plaintext of one entry, or `None` if nothing is stored under that name.
    fn read(&self, name: &SecretName) -> Result<Option<SecretBuf>>;
    /// Creates or replaces one entry atomically.
    fn write(&self, name: &SecretName, plaintext: &[u8]) -> Result<()>;
    /// Removes one entry; `false` if there was none.
    fn remove(&self, name: &SecretName) -> Result<bool>;
    /// Every entry name present, in order.
    fn names(&self) -> Result<Vec<SecretName>>;
    /// The workspace's key for sealing cached tokens (derived from the master key, purpose
    /// `token-cache`). Stores without a master key have no token cache.
    fn token_cache_key(&self) -> Result<crypt::Key> {
        Err(crate::error::Error::KeyUnavailable(
            "this store has no token cache".into(),
        ))
    }
    /// One-line warnings gathered while working (e.g. a key file others can read).
    fn take_warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

/// An in-memory store for unit tests of the actions.
#[derive(Default)]
pub struct MemoryStore {
    entries: RefCell<BTreeMap<SecretName, Vec<u8>>>,
}

impl Store for MemoryStore {
    fn read(&self, name: &SecretName) -> Result<Option<SecretBuf>> {
        Ok(self.entries.borrow().get(name).map(|v| {
            let mut b = SecretBuf::with_capacity(v.len());
            let _ = b.write_all(v);
            b
        }))
    }
    fn write(&self, name: &SecretName, plaintext: &[u8]) -> Result<()> {
        self.entries
            .borrow_mut()
            .insert(name.clone(), plaintext.to_vec());
        Ok(())
    }
    fn remove(&self, name: &SecretName) -> Result<bool> {
        Ok(self.entries.borrow_mut().remove(name).is_some())
    }
    fn names(&self) -> Result<Vec<SecretName>> {
        Ok(self.entries.borrow().keys().cloned().collect())
    }
}
