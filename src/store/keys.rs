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
//!   ([`Meta::RotationNext`]), and (for an operator's key file) the current key under the next
//!   ([`Meta::RotationPrev`]), both bound to the rotation's generation; the key check, re-sealed
//!   under the next key, says that generation is rotating. A reader or writer holding either key
//!   finds the other, so nothing becomes unreadable mid-way and writers always seal with the next
//!   key. Promotion makes the check say the generation is steady: from then on no parked record
//!   is honoured, so records put back after a rotation bring no retired key back.

use super::key::KeySource;
use super::{Change, Meta, Store};
use crate::error::{Error, Result};
use crate::seal::{self, Key, Purpose};
use crate::secret::SecretBuf;
use crate::secret_name::SecretName;
use sha2::{Digest, Sha256};

/// What the key check seals: a fixed label and random bytes (the AEAD tag is the proof), then the
/// rotation generation and state (docs/storage.md, "Key ownership and rotation"). Versions that
/// wrote the label and random bytes only are read as generation 0, steady; they still accept the
/// longer form (they check the label).
const KEY_CHECK_LABEL: &[u8] = b"docker-credential-beta9 key check v1\n";

/// The prefix of a parked key record that names its rotation generation (the generation is also
/// in the associated data, so it cannot be changed). Records without it are from earlier versions.
const PARKED_MAGIC: &[u8; 4] = b"B9RG";

/// How often a writer re-reads the keys when they seem not to match: a concurrent rotation can
/// change them between two reads.
const ATTEMPTS: usize = 4;

/// What a key check says about the base, once opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Written before generations existed: generation 0, and a rotation only in the old format.
    Legacy,
    /// The key that opened it seals the base, at this generation.
    Steady(u64),
    /// A rotation to this generation moves the entries to the key that opened it.
    Rotating(u64),
}

impl Check {
    /// The generation of the key that opened the check.
    pub(crate) fn generation(self) -> u64 {
        match self {
            Check::Legacy => 0,
            Check::Steady(g) | Check::Rotating(g) => g,
        }
    }
}

/// Where a loaded key set stands in a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Steady,
    /// Entries move from the second key to the first, towards this generation (`None`: a rotation
    /// an earlier version parked). `from_new_side`: the key source holds the new key.
    Rotating {
        generation: Option<u64>,
        from_new_side: bool,
    },
    /// The key check already names the new key (the rotation was promoted) but the key source
    /// still holds the old one, or the parked records were not removed yet: only the new key is
    /// used, and a `rekey` finishes the clean-up.
    Promoted {
        generation: Option<u64>,
    },
}

/// The keys entries of a base may be sealed with, the write key first.
pub(crate) struct MasterKeys {
    keys: Vec<Key>,
    phase: Phase,
}

impl MasterKeys {
    fn one(key: Key) -> MasterKeys {
        MasterKeys {
            keys: vec![key],
            phase: Phase::Steady,
        }
    }

    /// What the key source holds and, during a rotation, its counterpart. Empty when no key exists
    /// yet. A custom base with no key of its own adopts the key all bases shared before, if that
    /// key provably sealed this base.
    ///
    /// A parked key is honoured only when the key check, opened with a key the source holds or
    /// the parked one, says the rotation it belongs to is in progress; the old key is taken from
    /// the base only for an operator's key file, by the new key's holder, while the check (sealed
    /// under that new key) says so. A record put back after the rotation finished, beside the
    /// check the rotation left, therefore brings no retired key back.
    pub(crate) fn load(source: &KeySource, store: &dyn Store) -> Result<MasterKeys> {
        let current = match source.load()? {
            Some(k) => Some(k),
            None => adopt_legacy(source, store)?,
        };
        let Some(current) = current else {
            return Ok(MasterKeys {
                keys: Vec::new(),
                phase: Phase::Steady,
            });
        };
        let next = store.read_meta(Meta::RotationNext)?;
        let prev = store.read_meta(Meta::RotationPrev)?;
        if next.is_none() && prev.is_none() {
            // The steady state costs no read of the key check.
            if let Some(next) = source.load_legacy_next()? {
                return Ok(MasterKeys {
                    keys: vec![next, current],
                    phase: Phase::Rotating {
                        generation: None,
                        from_new_side: false,
                    },
                });
            }
            return Ok(MasterKeys::one(current));
        }
        let check = store.read_meta(Meta::KeyCheck)?;
        let check_with = |k: &Key| check.as_deref().and_then(|c| open_check(k, c));
        match check_with(&current) {
            Some(Check::Rotating(g)) => {
                // `current` is the key a rotation to generation `g` moves to.
                if takes_old_key_from_base(source) {
                    if let Some((old, Some(pg))) = prev
                        .as_deref()
                        .and_then(|p| open_parked(Meta::RotationPrev, p, &current))
                    {
                        if pg == g {
                            return Ok(MasterKeys {
                                keys: vec![current, old],
                                phase: Phase::Rotating {
                                    generation: Some(g),
                                    from_new_side: true,
                                },
                            });
                        }
                    }
                }
                Ok(MasterKeys::one(current))
            }
            Some(Check::Legacy) => {
                // A rotation an earlier version parked and did not promote: its next key, from
                // the old key's side only.
                match next
                    .as_deref()
                    .and_then(|n| open_parked(Meta::RotationNext, n, &current))
                {
                    Some((next, None)) => Ok(MasterKeys {
                        keys: vec![next, current],
                        phase: Phase::Rotating {
                            generation: None,
                            from_new_side: false,
                        },
                    }),
                    _ => Ok(MasterKeys::one(current)),
                }
            }
            // A parked next key that no check names yet: nothing was moved to it.
            Some(Check::Steady(_)) => Ok(MasterKeys::one(current)),
            None => {
                let Some((next, ng)) = next
                    .as_deref()
                    .and_then(|n| open_parked(Meta::RotationNext, n, &current))
                else {
                    return Ok(MasterKeys::one(current));
                };
                let phase = match (check_with(&next), ng, check.is_some()) {
                    (Some(Check::Rotating(g)), Some(ng), _) if g == ng => Phase::Rotating {
                        generation: Some(g),
                        from_new_side: false,
                    },
                    (Some(Check::Steady(g)), Some(ng), _) if g == ng => Phase::Promoted {
                        generation: Some(g),
                    },
                    (Some(Check::Legacy), None, _) => Phase::Promoted { generation: None },
                    // A base from before key checks, mid-way through an earlier version's
                    // rotation.
                    (None, None, false) => Phase::Rotating {
                        generation: None,
                        from_new_side: false,
                    },
                    _ => return Ok(MasterKeys::one(current)),
                };
                let keys = match phase {
                    Phase::Promoted { .. } => vec![next],
                    _ => vec![next, current],
                };
                Ok(MasterKeys { keys, phase })
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// New writes are sealed with this key: the next key during a rotation.
    pub(crate) fn write_key(&self) -> Option<&Key> {
        self.keys.first()
    }

    /// During a rotation, the key entries are moving away from.
    pub(crate) fn old_key(&self) -> Option<&Key> {
        match self.phase {
            Phase::Rotating { .. } => self.keys.get(1),
            _ => None,
        }
    }

    pub(crate) fn all(&self) -> &[Key] {
        &self.keys
    }

    /// A rotation is under way (entries may be under either key).
    pub(crate) fn is_rotating(&self) -> bool {
        matches!(self.phase, Phase::Rotating { .. })
    }

    /// The rotation under way is seen from its new key (an operator's key file switched early).
    pub(crate) fn is_new_side(&self) -> bool {
        matches!(
            self.phase,
            Phase::Rotating {
                from_new_side: true,
                ..
            }
        )
    }

    /// The key check names the write key already; only the clean-up is left.
    pub(crate) fn is_promoted(&self) -> bool {
        matches!(self.phase, Phase::Promoted { .. })
    }

    /// The generation a rotation under way (or promoted) moves to; `None` for one an earlier
    /// version started, or when none is.
    pub(crate) fn target_generation(&self) -> Option<u64> {
        match self.phase {
            Phase::Rotating { generation, .. } | Phase::Promoted { generation } => generation,
            Phase::Steady => None,
        }
    }

    /// Tells key sets apart without keeping key bytes around.
    pub(crate) fn fingerprint(&self) -> Vec<[u8; 32]> {
        self.keys
            .iter()
            .map(|k| Sha256::digest(k.expose()).into())
            .collect()
    }

    /// Does one of these keys open this base's key check? `None` when there is none.
    pub(crate) fn opens_key_check(&self, store: &dyn Store) -> Result<Option<bool>> {
        let Some(sealed) = store.read_meta(Meta::KeyCheck)? else {
            return Ok(None);
        };
        Ok(Some(
            self.keys.iter().any(|k| open_check(k, &sealed).is_some()),
        ))
    }
}

/// Only an operator's key file can hold a rotation's new key before the rotation is promoted
/// (generated keys and keyring items get it at promotion, when every entry was moved): only then
/// is the old key taken from the base by the new key's holder, or parked for it.
fn takes_old_key_from_base(source: &KeySource) -> bool {
    matches!(source, KeySource::File(_) | KeySource::Memory(_))
}

/// What the key check says, if `master` opens it.
pub fn open_check(master: &Key, sealed: &[u8]) -> Option<Check> {
    let k = master.derive("", Purpose::KeyCheck);
    let plain = seal::open(&k, Purpose::KeyCheck, "", Meta::KeyCheck.name(), sealed).ok()?;
    let rest = plain.as_slice().strip_prefix(KEY_CHECK_LABEL)?;
    // 32 hex characters of random bytes, then (since generations) one line of state.
    let tail = rest.get(32..)?;
    if tail.is_empty() {
        return Some(Check::Legacy);
    }
    let line = std::str::from_utf8(tail).ok()?;
    let line = line.strip_prefix('\n')?.strip_suffix('\n')?;
    let mut words = line.split(' ');
    let (Some("generation"), Some(g), Some(state), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return None;
    };
    let g: u64 = g.parse().ok()?;
    match state {
        "steady" => Some(Check::Steady(g)),
        "rotating" => Some(Check::Rotating(g)),
        _ => None,
    }
}

/// A key check sealed under `master`, saying `check` (never [`Check::Legacy`]: written as steady 0).
pub(crate) fn seal_key_check(master: &Key, check: Check) -> Result<Vec<u8>> {
    let mut plain = KEY_CHECK_LABEL.to_vec();
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    plain.extend_from_slice(hex::encode(nonce).as_bytes());
    let line = match check {
        Check::Legacy | Check::Steady(_) => format!("\ngeneration {} steady\n", check.generation()),
        Check::Rotating(g) => format!("\ngeneration {g} rotating\n"),
    };
    plain.extend_from_slice(line.as_bytes());
    let k = master.derive("", Purpose::KeyCheck);
    Ok(seal::seal(
        &k,
        Purpose::KeyCheck,
        "",
        Meta::KeyCheck.name(),
        &plain,
    )?)
}

/// A key check as versions before generations wrote it, for tests of what they left behind.
#[cfg(test)]
pub(crate) fn seal_legacy_key_check(master: &Key) -> Vec<u8> {
    let k = master.derive("", Purpose::KeyCheck);
    let mut plain = KEY_CHECK_LABEL.to_vec();
    plain.extend_from_slice(&[b'a'; 32]);
    seal::seal(&k, Purpose::KeyCheck, "", Meta::KeyCheck.name(), &plain)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The name in a parked record's associated data: the record's name and its generation.
fn parked_ad_name(meta: Meta, generation: u64) -> String {
    format!("{}/{generation}", meta.name())
}

/// `key` sealed under `under`, for the rotation record `meta` of the rotation to `generation`.
pub(crate) fn seal_parked(meta: Meta, key: &Key, under: &Key, generation: u64) -> Result<Vec<u8>> {
    let k = under.derive("", Purpose::Rotation);
    let sealed = seal::seal(
        &k,
        Purpose::Rotation,
        "",
        &parked_ad_name(meta, generation),
        key.expose(),
    )?;
    let mut out = Vec::with_capacity(12 + sealed.len());
    out.extend_from_slice(PARKED_MAGIC);
    out.extend_from_slice(&generation.to_be_bytes());
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// `key` sealed under `under` as versions before generations parked it (bound to the record's
/// name only). Kept to test that such a rotation still finishes.
pub fn seal_parked_legacy(meta: Meta, key: &Key, under: &Key) -> Result<Vec<u8>> {
    let k = under.derive("", Purpose::Rotation);
    Ok(seal::seal(
        &k,
        Purpose::Rotation,
        "",
        meta.name(),
        key.expose(),
    )?)
}

/// The key a rotation record holds and its generation (`None`: an earlier version's record), if
/// `with` opens it.
fn open_parked(meta: Meta, bytes: &[u8], with: &Key) -> Option<(Key, Option<u64>)> {
    let k = with.derive("", Purpose::Rotation);
    let (plain, generation) = match bytes.strip_prefix(PARKED_MAGIC) {
        Some(rest) => {
            let g = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
            let sealed = rest.get(8..)?;
            let plain = seal::open(&k, Purpose::Rotation, "", &parked_ad_name(meta, g), sealed);
            (plain.ok()?, Some(g))
        }
        None => (
            seal::open(&k, Purpose::Rotation, "", meta.name(), bytes).ok()?,
            None,
        ),
    };
    let bytes: [u8; 32] = plain.as_slice().try_into().ok()?;
    Some((Key::from_bytes(bytes), generation))
}

/// The generation of the base as `current` sees it: what its key check says (0 for a check
/// without one, or none at all).
pub(crate) fn generation(store: &dyn Store, current: &Key) -> Result<u64> {
    Ok(store
        .read_meta(Meta::KeyCheck)?
        .and_then(|c| open_check(current, &c))
        .map_or(0, Check::generation))
}

/// Starts a rotation from `current` to `next`: the next key parked under the current one (and,
/// where a key source may hold the new key early, the current under the next), both bound to the
/// next generation, then the key check re-sealed under `next` saying that rotation is in progress.
/// From then on writers seal with `next`. Returns the generation the rotation moves to.
pub fn start_rotation(
    store: &dyn Store,
    source: &KeySource,
    current: &Key,
    next: &Key,
) -> Result<u64> {
    let target = generation(store, current)? + 1;
    if takes_old_key_from_base(source) {
        put_meta(
            store,
            Meta::RotationPrev,
            seal_parked(Meta::RotationPrev, current, next, target)?,
        )?;
    } else {
        store.update_meta(Meta::RotationPrev, &mut |_| Ok(Change::Delete))?;
    }
    put_meta(
        store,
        Meta::RotationNext,
        seal_parked(Meta::RotationNext, next, current, target)?,
    )?;
    put_meta(
        store,
        Meta::KeyCheck,
        seal_key_check(next, Check::Rotating(target))?,
    )?;
    Ok(target)
}

pub(crate) fn put_meta(store: &dyn Store, meta: Meta, bytes: Vec<u8>) -> Result<()> {
    store.update_meta(meta, &mut |_| Ok(Change::Put(bytes.clone())))?;
    Ok(())
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
    seal::open(&k, Purpose::Entry, ws, name.as_str(), sealed).is_ok()
}

/// Does the base hold anything sealed (a key check, or an entry in any workspace)?
pub(crate) fn base_is_sealed(store: &dyn Store) -> Result<bool> {
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
        Some(sealed) => open_check(&legacy, &sealed).is_some(),
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
pub(crate) fn wrong_key(source: &KeySource, store: &dyn Store) -> Error {
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
pub(crate) fn for_write(source: &KeySource, store: &dyn Store) -> Result<MasterKeys> {
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
            Some(true) => {
                if matches!(keys.phase, Phase::Steady) {
                    upgrade_legacy_check(store, write)?;
                }
                return Ok(keys);
            }
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

/// A key check from before generations becomes generation 0, steady, on the first write outside a
/// rotation (an earlier version's rotation in progress keeps its check until it is finished).
fn upgrade_legacy_check(store: &dyn Store, key: &Key) -> Result<()> {
    let legacy = |c: Option<&[u8]>| c.and_then(|c| open_check(key, c)) == Some(Check::Legacy);
    if !legacy(store.read_meta(Meta::KeyCheck)?.as_deref()) {
        return Ok(());
    }
    let sealed = seal_key_check(key, Check::Steady(0))?;
    store.update_meta(Meta::KeyCheck, &mut |cur| {
        Ok(if legacy(cur) {
            Change::Put(sealed.clone())
        } else {
            Change::Keep
        })
    })?;
    Ok(())
}

fn put_key_check_if_absent(store: &dyn Store, key: &Key) -> Result<()> {
    let sealed = seal_key_check(key, Check::Steady(0))?;
    store.update_meta(Meta::KeyCheck, &mut |cur| {
        Ok(match cur {
            Some(_) => Change::Keep,
            None => Change::Put(sealed.clone()),
        })
    })?;
    Ok(())
}

/// Opens an entry with any of `keys`.
pub(crate) fn open_entry(
    keys: &MasterKeys,
    ws: &str,
    name: &SecretName,
    sealed: &[u8],
) -> std::result::Result<SecretBuf, seal::OpenError> {
    let mut result = Err(seal::OpenError::Authentication);
    for master in keys.all() {
        let k = master.derive(ws, Purpose::Entry);
        result = seal::open(&k, Purpose::Entry, ws, name.as_str(), sealed);
        if !matches!(result, Err(seal::OpenError::Authentication)) {
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
    fn parked_keys_are_honoured_only_while_the_key_check_says_so() {
        let store = MemoryStore::default();
        let (old, new) = (Key::from_bytes([1; 32]), Key::from_bytes([2; 32]));
        for_write(&mem_key(1), &store).unwrap();
        assert_eq!(start_rotation(&store, &mem_key(1), &old, &new).unwrap(), 1);
        let with_old = MasterKeys::load(&mem_key(1), &store).unwrap();
        assert!(with_old.is_rotating() && !with_old.is_new_side());
        assert_eq!(with_old.write_key().unwrap().expose(), new.expose());
        assert_eq!(with_old.target_generation(), Some(1));
        let with_new = MasterKeys::load(&mem_key(2), &store).unwrap();
        assert!(with_new.is_new_side());
        assert_eq!(with_new.write_key().unwrap().expose(), new.expose());
        assert_eq!(with_new.old_key().unwrap().expose(), old.expose());
        // A third key finds nothing.
        let other = MasterKeys::load(&mem_key(3), &store).unwrap();
        assert!(!other.is_rotating());
        assert_eq!(other.all().len(), 1);
        // Promoted: the new key alone, from either side, though the records are still parked.
        put_meta(
            &store,
            Meta::KeyCheck,
            seal_key_check(&new, Check::Steady(1)).unwrap(),
        )
        .unwrap();
        let with_old = MasterKeys::load(&mem_key(1), &store).unwrap();
        assert!(with_old.is_promoted());
        assert_eq!(with_old.all().len(), 1);
        assert_eq!(with_old.write_key().unwrap().expose(), new.expose());
        let with_new = MasterKeys::load(&mem_key(2), &store).unwrap();
        assert!(!with_new.is_rotating() && !with_new.is_promoted());
        assert_eq!(with_new.all().len(), 1);
        // A record of another generation does not match a check saying "rotating".
        put_meta(
            &store,
            Meta::KeyCheck,
            seal_key_check(&new, Check::Rotating(2)).unwrap(),
        )
        .unwrap();
        assert_eq!(
            MasterKeys::load(&mem_key(2), &store).unwrap().all().len(),
            1
        );
        assert_eq!(
            MasterKeys::load(&mem_key(1), &store).unwrap().all().len(),
            1
        );
    }

    #[test]
    fn a_key_check_without_a_generation_reads_as_zero_and_is_upgraded_by_a_write() {
        let store = MemoryStore::default();
        let key = Key::from_bytes([1; 32]);
        let k = key.derive("", Purpose::KeyCheck);
        let legacy = seal_legacy_key_check(&key);
        assert_eq!(open_check(&key, &legacy), Some(Check::Legacy));
        put_meta(&store, Meta::KeyCheck, legacy).unwrap();
        for_write(&mem_key(1), &store).unwrap();
        let now = store.read_meta(Meta::KeyCheck).unwrap().unwrap();
        assert_eq!(open_check(&key, &now), Some(Check::Steady(0)));
        // Earlier versions check the label only: they still accept the new form.
        let opened = seal::open(&k, Purpose::KeyCheck, "", "keycheck", &now).unwrap();
        assert!(opened.as_slice().starts_with(KEY_CHECK_LABEL));
        let rotating = seal_key_check(&key, Check::Rotating(7)).unwrap();
        assert_eq!(open_check(&key, &rotating), Some(Check::Rotating(7)));
        assert_eq!(open_check(&Key::from_bytes([2; 32]), &rotating), None);
    }

    #[test]
    fn a_parked_record_is_bound_to_its_generation() {
        let (a, b) = (Key::from_bytes([1; 32]), Key::from_bytes([2; 32]));
        let mut rec = seal_parked(Meta::RotationPrev, &a, &b, 3).unwrap();
        let (k, g) = open_parked(Meta::RotationPrev, &rec, &b).unwrap();
        assert_eq!((k.expose(), g), (a.expose(), Some(3)));
        assert!(open_parked(Meta::RotationNext, &rec, &b).is_none());
        // Another generation written in front of the sealed bytes does not open.
        rec[11] = 4;
        assert!(open_parked(Meta::RotationPrev, &rec, &b).is_none());
        let old = seal_parked_legacy(Meta::RotationPrev, &a, &b).unwrap();
        assert_eq!(open_parked(Meta::RotationPrev, &old, &b).unwrap().1, None);
    }
}
