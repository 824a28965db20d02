//! Where entries are kept, as sealed bytes: the [`Store`] trait knows workspaces, names and bytes
//! only. Sealing, keys and records sit above it ([`sealed::SealedStore`], [`keys`]), so a file
//! directory, an in-memory map and a database ([`postgres`], behind [`cached`]'s local copies)
//! are interchangeable backends.
//!
//! One entry per secret name, so a `get` touches one entry however many exist, and one damaged
//! entry never hides another (docs/storage.md, "Files and modes"). Beside the entries, a store
//! base keeps a few sealed records of its own ([`Meta`]): the key-check value and, during a
//! rotation, the two parked keys.

pub mod cached;
pub(crate) mod file;
pub mod key;
pub mod keys;
pub mod postgres;
pub(crate) mod rekey;
pub mod sealed;
pub(crate) mod used;

use crate::error::Result;
use crate::guard::Guard;
use crate::secret_name::SecretName;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// What an update decision does to one record.
#[derive(Debug)]
pub enum Change {
    Keep,
    Put(Vec<u8>),
    Delete,
}

/// The base's own records (docs/storage.md, "Key ownership and rotation").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Meta {
    /// Sealed under the master key that seals this base: a key that cannot open it is refused
    /// for every write and rotation. It also holds the rotation generation and whether a
    /// rotation to it is in progress.
    KeyCheck,
    /// During a rotation: the next key, sealed under the current one.
    RotationNext,
    /// During a rotation from an operator's key file: the current key, sealed under the next one,
    /// for machines given the next key before the rotation finished.
    RotationPrev,
}

impl Meta {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Meta::KeyCheck => "keycheck",
            Meta::RotationNext => "rotation.next",
            Meta::RotationPrev => "rotation.prev",
        }
    }
}

/// A decision over the current bytes of one record (see [`Store::update`]).
pub(crate) type Decide<'a> = dyn FnMut(Option<&[u8]>) -> Result<Change> + 'a;

/// The seam between the sealed store and a backend. One value is one store base; entries are
/// grouped by workspace.
pub trait Store {
    /// Where the entries are, for messages (a directory, a database).
    fn location(&self) -> String;
    /// Every workspace that has (or had) entries.
    fn workspaces(&self) -> Result<Vec<String>>;
    /// The sealed bytes of one entry, `None` when absent.
    fn read(&self, workspace: &str, name: &SecretName) -> Result<Option<Vec<u8>>>;
    /// Every entry name of a workspace, sorted.
    fn names(&self, workspace: &str) -> Result<Vec<SecretName>>;
    /// Reads the entry and applies what `decide` makes of it, atomically with respect to every
    /// other update of this workspace: nothing can land between the read and the change. `decide`
    /// may run more than once (a backend may retry after a concurrent change); only the last
    /// run's answer is applied. Returns whether anything changed.
    fn update(&self, workspace: &str, name: &SecretName, decide: &mut Decide) -> Result<bool>;
    fn read_meta(&self, meta: Meta) -> Result<Option<Vec<u8>>>;
    /// Like [`Store::update`], for one of the base's own records.
    fn update_meta(&self, meta: Meta, decide: &mut Decide) -> Result<bool>;
    /// Held from parking a rotation's next key to promoting it, so rotations never overlap.
    fn lock_rotation(&self) -> Result<Guard>;
    /// One-line warnings about how the store is kept (e.g. a directory others can read).
    fn check(&self, _workspace: &str) -> Vec<String> {
        Vec::new()
    }
    /// An entry this process read did not open: a backend that answered from a copy of its own
    /// (a shared store's local copy) asks its origin from now on and says `true`, so the reader
    /// tries again.
    fn refresh(&self) -> bool {
        false
    }
    /// One-line notes for stderr gathered while working (an answer from a local copy because the
    /// database was unreachable).
    fn take_notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// An in-memory backend for tests of the layers above.
#[derive(Default)]
pub(crate) struct MemoryStore {
    entries: RefCell<BTreeMap<(String, SecretName), Vec<u8>>>,
    meta: RefCell<BTreeMap<Meta, Vec<u8>>>,
}

fn apply<K: Ord + Clone>(
    map: &RefCell<BTreeMap<K, Vec<u8>>>,
    key: K,
    decide: &mut Decide,
) -> Result<bool> {
    let current = map.borrow().get(&key).cloned();
    match decide(current.as_deref())? {
        Change::Keep => Ok(false),
        Change::Put(bytes) => {
            map.borrow_mut().insert(key, bytes);
            Ok(true)
        }
        Change::Delete => Ok(map.borrow_mut().remove(&key).is_some()),
    }
}

impl Store for MemoryStore {
    fn location(&self) -> String {
        "memory".into()
    }
    fn workspaces(&self) -> Result<Vec<String>> {
        let mut ws: Vec<String> = self.entries.borrow().keys().map(|k| k.0.clone()).collect();
        ws.dedup();
        Ok(ws)
    }
    fn read(&self, workspace: &str, name: &SecretName) -> Result<Option<Vec<u8>>> {
        let key = (workspace.to_string(), name.clone());
        Ok(self.entries.borrow().get(&key).cloned())
    }
    fn names(&self, workspace: &str) -> Result<Vec<SecretName>> {
        Ok(self
            .entries
            .borrow()
            .keys()
            .filter(|k| k.0 == workspace)
            .map(|k| k.1.clone())
            .collect())
    }
    fn update(&self, workspace: &str, name: &SecretName, decide: &mut Decide) -> Result<bool> {
        apply(&self.entries, (workspace.to_string(), name.clone()), decide)
    }
    fn read_meta(&self, meta: Meta) -> Result<Option<Vec<u8>>> {
        Ok(self.meta.borrow().get(&meta).cloned())
    }
    fn update_meta(&self, meta: Meta, decide: &mut Decide) -> Result<bool> {
        apply(&self.meta, meta, decide)
    }
    fn lock_rotation(&self) -> Result<Guard> {
        Ok(Guard::new(()))
    }
}
