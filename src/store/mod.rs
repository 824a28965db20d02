//! Where entries are kept, as sealed bytes under a [`SecretName`]: the [`Store`] trait knows bytes
//! and names only. Sealing, keys and records sit above it ([`sealed::SealedStore`]), so a file
//! directory, an in-memory map and a database are interchangeable backends.
//!
//! One entry per secret name, so a `get` touches one entry however many exist, and one damaged
//! entry never hides another (docs/storage.md, "Files and modes").

pub mod crypt;
pub mod file;
pub mod key;
pub mod name;
pub mod rekey;
pub mod sealed;

use crate::error::Result;
use name::SecretName;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// What an [`Store::update`] decision does to one entry.
#[derive(Debug)]
pub enum Change {
    Keep,
    Put(Vec<u8>),
    Delete,
}

/// The seam between the sealed store and a backend.
pub trait Store {
    /// Where the entries are, for messages (a directory, a database).
    fn location(&self) -> String;
    /// The sealed bytes of one entry, `None` when absent.
    fn read(&self, name: &SecretName) -> Result<Option<Vec<u8>>>;
    /// Every entry name present, sorted.
    fn names(&self) -> Result<Vec<SecretName>>;
    /// Reads the entry and applies what `decide` makes of it, atomically with respect to every
    /// other update of this store: nothing can land between the read and the change. `decide`
    /// may run more than once (a backend may retry after a concurrent change); only the last
    /// run's answer is applied. Returns whether anything changed.
    fn update(
        &self,
        name: &SecretName,
        decide: &mut dyn FnMut(Option<&[u8]>) -> Result<Change>,
    ) -> Result<bool>;
    /// One-line warnings about how the store is kept (e.g. a directory others can read).
    fn check(&self) -> Vec<String> {
        Vec::new()
    }
}

/// An in-memory backend for tests of the layers above.
#[derive(Default)]
pub struct MemoryStore {
    entries: RefCell<BTreeMap<SecretName, Vec<u8>>>,
}

impl Store for MemoryStore {
    fn location(&self) -> String {
        "memory".into()
    }
    fn read(&self, name: &SecretName) -> Result<Option<Vec<u8>>> {
        Ok(self.entries.borrow().get(name).cloned())
    }
    fn names(&self) -> Result<Vec<SecretName>> {
        Ok(self.entries.borrow().keys().cloned().collect())
    }
    fn update(
        &self,
        name: &SecretName,
        decide: &mut dyn FnMut(Option<&[u8]>) -> Result<Change>,
    ) -> Result<bool> {
        let current = self.entries.borrow().get(name).cloned();
        match decide(current.as_deref())? {
            Change::Keep => Ok(false),
            Change::Put(bytes) => {
                self.entries.borrow_mut().insert(name.clone(), bytes);
                Ok(true)
            }
            Change::Delete => Ok(self.entries.borrow_mut().remove(name).is_some()),
        }
    }
}
