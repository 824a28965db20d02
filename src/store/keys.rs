//! The master keys of one store base, and the rules that tie a key to the base it seals
//! (docs/storage.md, "Key ownership and rotation"):
//!
//! * The base keeps a key-check value ([`Meta::KeyCheck`]) sealed under its master key. Before any
//!   write the key is verified against it; a key that does not open it (another node's key file, a
//!   restored backup's key) is refused in one line that says what to restore. Bases written before
//!   the key check existed are verified against an entry and get one.
//! * A missing key next to a key check or entries anywhere in the base is never replaced by a new
//!   one: that would mix keys and hide the loss.
//! * During a rotation the next key is parked in the base itself, sealed under the current key
//!   ([`Meta::RotationNext`]), and the current key under the next ([`Meta::RotationPrev`]): a reader
//!   or writer holding either key finds the other, so nothing becomes unreadable mid-way and
//!   writers always seal with the next key.

use super::crypt::{self, Key, Purpose};
use super::key::KeySource;
use super::name::SecretName;
use super::{Change, Meta, Store};
use crate::error::{Error, Result};
use crate::secret::SecretBuf;
use sha2::{Digest, Sha256};

/// What the key check seals: a fixed label and random bytes (the AEAD tag is the proof).
const KEY_CHECK_LABEL: &[u8] = b"docker-credential-beta9 key check v1\n";

/// How often a writer re-reads the keys when they seem not to match: a concurrent rotation can
/// change them between two reads.
const ATTEMPTS: usize = 4;

/// The keys entries of a base may be sealed with, the write key first.
pub struct MasterKeys {
    keys: Vec<Key>,
    rotating: bool,
}

impl MasterKeys {
    /// What the key source holds and, during a rotation, its counterpart. Empty when no key exists
    /// yet. A custom base with no key of its own adopts the key all bases shared before, if that
    /// key provably sealed this base.
    pub fn load(source: &KeySource, store: &dyn Store) -> Result<MasterKeys> {
        let current = match source.load()? {
            Some(k) => Some(k),
            None => adopt_legacy(source, store)?,
        };
        let Some(current) = current else {
            return Ok(MasterKeys {
                keys: Vec::new(),
                rotating: false,
            });
        };
        if let Some(next) = open_parked(store, Meta::RotationNext, &current)? {
            return Ok(MasterKeys {
                keys: vec![next, current],
                rotating: true,
            });
        }
        if let Some(prev) = open_parked(store, Meta::RotationPrev, &current)? {
            return Ok(MasterKeys {
                keys: vec![current, prev],
                rotating: true,
            });
        }
        if let Some(next) = source.load_legacy_next()? {
            return Ok(MasterKeys {
                keys: vec![next, current],
                rotating: true,
            });
        }
        Ok(MasterKeys {
            keys: vec![current],
            rotating: false,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// New writes are sealed with this key: the next key during a rotation.
    pub fn write_key(&self) -> Option<&Key> {
        self.keys.first()
    }

    /// During a rotation, the key entries are moving away from.
    pub fn old_key(&self) -> Option<&Key> {
        self.rotating.then(|| self.keys.get(1)).flatten()
    }

    pub fn all(&self) -> &[Key] {
        &self.keys
    }

    pub fn is_rotating(&self) -> bool {
        self.rotating
    }

    /// Tells key sets apart without keeping key bytes around.
    pub fn fingerprint(&self) -> Vec<[u8; 32]> {
        self.keys
            .iter()
            .map(|k| Sha256::digest(k.expose()).into())
            .collect()
    }

    /// Does one of these keys open this base's key check? `None` when there is none.
    pub fn opens_key_check(&self, store: &dyn Store) -> Result<Option<bool>> {
        let Some(sealed) = store.read_meta(Meta::KeyCheck)? else {
            return Ok(None);
        };
        Ok(Some(self.keys.iter().any(|k| open_key_check(k, &sealed))))
    }
}

fn open_key_check(master: &Key, sealed: &[u8]) -> bool {
    let k = master.derive("", Purpose::KeyCheck);
    crypt::open(&k, Purpose::KeyCheck, "", Meta::KeyCheck.name(), sealed)
        .is_ok_and(|p| p.as_slice().starts_with(KEY_CHECK_LABEL))
}

/// A key check sealed under `master`.
pub fn seal_key_check(master: &Key) -> Result<Vec<u8>> {
    let mut plain = KEY_CHECK_LABEL.to_vec();
    let mut nonce = [0u8; 16];
    getrandom::getrandom(&mut nonce).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    plain.extend_from_slice(hex::encode(nonce).as_bytes());
    let k = master.derive("", Purpose::KeyCheck);
    Ok(crypt::seal(
        &k,
        Purpose::KeyCheck,
        "",
        Meta::KeyCheck.name(),
        &plain,
    )?)
}

/// `key` sealed under `under`, for a rotation record.
pub fn seal_parked(meta: Meta, key: &Key, under: &Key) -> Result<Vec<u8>> {
    let k = under.derive("", Purpose::Rotation);
    Ok(crypt::seal(
        &k,
        Purpose::Rotation,
        "",
        meta.name(),
        key.expose(),
    )?)
}

/// The key a rotation record holds, if `with` opens it.
fn open_parked(store: &dyn Store, meta: Meta, with: &Key) -> Result<Option<Key>> {
    let Some(sealed) = store.read_meta(meta)? else {
        return Ok(None);
    };
    let k = with.derive("", Purpose::Rotation);
    let Ok(plain) = crypt::open(&k, Purpose::Rotation, "", meta.name(), &sealed) else {
        return Ok(None);
    };
    let bytes: [u8; 32] = match plain.as_slice().try_into() {
        Ok(b) => b,
        Err(_) => return Ok(None),
    };
    Ok(Some(Key::from_bytes(bytes)))
}

/// The first entry of the base, in any workspace.
fn first_entry(store: &dyn Store) -> Result<Option<(String, SecretName, Vec<u8>)>> {
    for ws in store.workspaces()? {
        for name in store.names(&ws)? {
            if let Some(bytes) = store.read(&ws, &name)? {
                return Ok(Some((ws, name, bytes)));
            }
        }
    }
    Ok(None)
}

fn opens_entry(master: &Key, ws: &str, name: &SecretName, sealed: &[u8]) -> bool {
    let k = master.derive(ws, Purpose::Entry);
    crypt::open(&k, Purpose::Entry, ws, name.as_str(), sealed).is_ok()
}

/// Does the base hold anything sealed (a key check, or an entry in any workspace)?
pub fn base_is_sealed(store: &dyn Store) -> Result<bool> {
    Ok(store.read_meta(Meta::KeyCheck)?.is_some() || first_entry(store)?.is_some())
}

/// A custom base whose own key does not exist yet may take the key every base shared before keys
/// were tied to their base, if it provably sealed this base (its key check, else its first
/// entry). The key is then copied to the base's own place, once.
fn adopt_legacy(source: &KeySource, store: &dyn Store) -> Result<Option<Key>> {
    let Some(legacy) = source.load_legacy_shared()? else {
        return Ok(None);
    };
    let proven = match store.read_meta(Meta::KeyCheck)? {
        Some(sealed) => open_key_check(&legacy, &sealed),
        None => match first_entry(store)? {
            Some((ws, name, bytes)) => opens_entry(&legacy, &ws, &name, &bytes),
            None => false,
        },
    };
    if !proven {
        return Ok(None);
    }
    source.store_key(&legacy)?;
    tracing::debug!("adopted the shared legacy key for this store base");
    Ok(Some(legacy))
}

/// The one-line refusal when a key did not seal the base.
pub fn wrong_key(source: &KeySource, store: &dyn Store) -> Error {
    Error::WrongKey {
        entry: None,
        key: source.describe(),
        location: store.location(),
    }
}

/// The keys to write with, after proving they sealed this base: the key check opens, or (a base
/// from before key checks) its first entry opens and a key check is written. On the first write to
/// an empty base the key is created (if the source manages one) and the key check written. A base
/// that holds anything while the key is missing is refused: restore the key.
pub fn for_write(source: &KeySource, store: &dyn Store) -> Result<MasterKeys> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let keys = MasterKeys::load(source, store)?;
        let Some(write) = keys.write_key() else {
            if base_is_sealed(store)? {
                return Err(Error::KeyUnavailable(format!(
                    "{} holds sealed entries but the {} does not exist; restore it (or move the entries away) before storing",
                    store.location(),
                    source.describe()
                )));
            }
            let key = source.load_or_create()?;
            put_key_check_if_absent(store, &key)?;
            continue;
        };
        match keys.opens_key_check(store)? {
            Some(true) => return Ok(keys),
            // Keys can change under a concurrent rotation: read them again.
            Some(false) => last = Some(wrong_key(source, store)),
            None => match first_entry(store)? {
                Some((ws, name, bytes))
                    if !keys
                        .all()
                        .iter()
                        .any(|k| opens_entry(k, &ws, &name, &bytes)) =>
                {
                    last = Some(wrong_key(source, store));
                }
                _ => {
                    put_key_check_if_absent(store, write)?;
                    continue;
                }
            },
        }
    }
    Err(last.unwrap_or_else(|| wrong_key(source, store)))
}

fn put_key_check_if_absent(store: &dyn Store, key: &Key) -> Result<()> {
    let sealed = seal_key_check(key)?;
    store.update_meta(Meta::KeyCheck, &mut |cur| {
        Ok(match cur {
            Some(_) => Change::Keep,
            None => Change::Put(sealed.clone()),
        })
    })?;
    Ok(())
}

/// Opens an entry with any of `keys`.
pub fn open_entry(
    keys: &MasterKeys,
    ws: &str,
    name: &SecretName,
    sealed: &[u8],
) -> std::result::Result<SecretBuf, crypt::OpenError> {
    let mut result = Err(crypt::OpenError::Authentication);
    for master in keys.all() {
        let k = master.derive(ws, Purpose::Entry);
        result = crypt::open(&k, Purpose::Entry, ws, name.as_str(), sealed);
        if !matches!(result, Err(crypt::OpenError::Authentication)) {
            break;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;
    use std::sync::Arc;

    fn mem_key(b: u8) -> KeySource {
        KeySource::Memory(Arc::new(Key::from_bytes([b; 32])))
    }

    #[test]
    fn the_first_write_seals_a_key_check_and_another_key_is_refused() {
        let store = MemoryStore::default();
        let k1 = mem_key(1);
        let keys = for_write(&k1, &store).unwrap();
        assert_eq!(keys.opens_key_check(&store).unwrap(), Some(true));
        let err = for_write(&mem_key(2), &store).err().unwrap();
        assert!(matches!(err, Error::WrongKey { .. }), "{err}");
        assert!(err.to_string().contains("restore"), "{err}");
    }

    #[test]
    fn parked_keys_open_from_either_side() {
        let store = MemoryStore::default();
        let (old, new) = (Key::from_bytes([1; 32]), Key::from_bytes([2; 32]));
        let put = |m: Meta, b: Vec<u8>| {
            store
                .update_meta(m, &mut |_| Ok(Change::Put(b.clone())))
                .unwrap()
        };
        put(
            Meta::RotationPrev,
            seal_parked(Meta::RotationPrev, &old, &new).unwrap(),
        );
        put(
            Meta::RotationNext,
            seal_parked(Meta::RotationNext, &new, &old).unwrap(),
        );
        let with_old = MasterKeys::load(&mem_key(1), &store).unwrap();
        assert!(with_old.is_rotating());
        assert_eq!(with_old.write_key().unwrap().expose(), new.expose());
        let with_new = MasterKeys::load(&mem_key(2), &store).unwrap();
        assert_eq!(with_new.write_key().unwrap().expose(), new.expose());
        assert_eq!(with_new.old_key().unwrap().expose(), old.expose());
        // A third key finds nothing.
        let other = MasterKeys::load(&mem_key(3), &store).unwrap();
        assert!(!other.is_rotating());
    }
}
