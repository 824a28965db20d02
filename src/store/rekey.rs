//! Master-key rotation of one store base: every entry of every workspace re-sealed under a new
//! key (docs/storage.md, "Key ownership and rotation").
//!
//! Crash-safe by construction, for generated keys, the keyring and operator key files alike: the
//! new key is parked in the base, sealed under the old one (and, for an operator's key file, the
//! old under the new), bound to the next generation, and the key check re-sealed under the new key
//! saying that generation is rotating, before any entry changes; readers find the other key and
//! writers seal with the new one from then on; each entry is replaced atomically under its
//! workspace's lock; only when all are converted does the key check say the generation is steady,
//! then the new key is installed (generated file, keyring) and the parked records removed. Killed
//! at any point, every entry opens with the key the source holds, and running `rekey` again (with
//! the key it started from) finishes the job. A rotation lock, held from parking to promoting,
//! keeps rotations from overlapping.

//!
//! This file is the rotation over any backend; which backend, which key and what else a rotation
//! clears (token caches, local copies) is the action's (`actions::rekey`).

use super::key::KeySource;
use super::keys::{self, MasterKeys};
use super::{Change, Meta, Store};
use crate::error::{Error, RekeyRefusal, Result};
use crate::seal::{self, Key, Purpose};

/// What a rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RekeyReport {
    pub workspaces: usize,
    /// Entries re-sealed under the new key by this run.
    pub converted: usize,
    /// Entries a previous, interrupted run (or a concurrent writer) had already converted.
    pub already: usize,
    /// Entries neither key opens (damaged files): left untouched, named here.
    pub unreadable: Vec<String>,
    /// Whether this run finished a rotation an earlier run had started.
    pub resumed: bool,
}

/// The rotation over any backend. `new` is the operator's new key; `None` makes one for a managed
/// source (or, for an operator's key file, finishes a rotation already parked).
pub(crate) fn rotate(
    source: &KeySource,
    store: &dyn Store,
    new: Option<Key>,
    clear_caches: &dyn Fn(&str, &Key),
) -> Result<RekeyReport> {
    let _rotation = store.lock_rotation()?;
    let keys = MasterKeys::load(source, store)?;
    let mut report = RekeyReport::default();
    if keys.is_new_side() {
        // Only the old key's holder finishes a rotation: entries it cannot tell from the ones the
        // rotation moves are re-sealed only by a run that holds the key they are sealed with.
        return Err(RekeyRefusal::InProgressToThisKey.into());
    }
    if keys.is_promoted() {
        // Every entry was moved and the key check names the new key: only the clean-up is left.
        let Some(next) = keys.write_key() else {
            return Err(Error::Other(anyhow::anyhow!("inconsistent rotation state")));
        };
        if new.as_ref().is_some_and(|n| n.expose() != next.expose()) {
            return Err(RekeyRefusal::InProgressToAnotherKey.into());
        }
        report.resumed = true;
        let target = keys.target_generation().unwrap_or(1);
        promote(source, store, next, target)?;
        return Ok(report);
    }
    let (old, next, target) = if keys.is_rotating() {
        // An interrupted rotation: finish it, towards the key it parked.
        let (Some(next), Some(old)) = (keys.write_key(), keys.old_key()) else {
            return Err(Error::Other(anyhow::anyhow!("inconsistent rotation state")));
        };
        if new.as_ref().is_some_and(|n| n.expose() != next.expose()) {
            return Err(RekeyRefusal::InProgressToAnotherKey.into());
        }
        report.resumed = true;
        // A rotation an earlier version parked moves the base from generation 0 to 1.
        let target = keys.target_generation().unwrap_or(1);
        (old.duplicate(), next.duplicate(), target)
    } else {
        let Some(current) = keys.write_key() else {
            if keys::base_is_sealed(store)? {
                return Err(Error::KeyUnavailable(format!(
                    "{} holds sealed entries but the {} does not exist; restore it before rotating",
                    store.location(),
                    source.describe()
                )));
            }
            // Nothing sealed, no key: nothing to rotate, and no key is made for nothing.
            return Ok(report);
        };
        if keys.opens_key_check(store)? == Some(false) {
            return Err(keys::wrong_key(source, store));
        }
        let next = match new {
            Some(n) if n.expose() == current.expose() => return Err(RekeyRefusal::SameKey.into()),
            Some(n) => n,
            None if source.is_managed() => Key::generate()?,
            None => return Err(RekeyRefusal::NewKeyFileNeeded.into()),
        };
        let current = current.duplicate();
        // Park both keys, bound to the next generation, then mark the key check: from then on
        // writers seal with the new key.
        let target = keys::start_rotation(store, source, &current, &next)?;
        (current, next, target)
    };
    for ws in store.workspaces()? {
        rekey_workspace(store, &ws, &old, &next, &mut report)?;
        // Cached tokens were sealed with the old key; they are only a cache.
        clear_caches(&ws, &old);
        report.workspaces += 1;
    }
    promote(source, store, &next, target)?;
    Ok(report)
}

/// Promote: the key check says the new generation is steady under the new key first (from then on
/// no parked record is honoured), then the key itself is installed, then the parked records go.
fn promote(source: &KeySource, store: &dyn Store, next: &Key, target: u64) -> Result<()> {
    keys::put_meta(
        store,
        Meta::KeyCheck,
        keys::seal_key_check(next, keys::Check::Steady(target))?,
    )?;
    if source.is_managed() {
        source.store_key(next)?;
    }
    for meta in [Meta::RotationNext, Meta::RotationPrev] {
        store.update_meta(meta, &mut |_| Ok(Change::Delete))?;
    }
    source.drop_legacy_next();
    Ok(())
}

/// What happened to one entry.
enum Outcome {
    Converted,
    Already,
    Unreadable,
}

fn rekey_workspace(
    store: &dyn Store,
    ws: &str,
    old: &Key,
    new: &Key,
    report: &mut RekeyReport,
) -> Result<()> {
    let old = old.derive(ws, Purpose::Entry);
    let new = new.derive(ws, Purpose::Entry);
    for name in store.names(ws)? {
        let mut outcome = Outcome::Already;
        store.update(ws, &name, &mut |bytes| {
            let Some(sealed) = bytes else {
                outcome = Outcome::Already;
                return Ok(Change::Keep);
            };
            let open = |k: &Key| seal::open(k, Purpose::Entry, ws, name.as_str(), sealed);
            if open(&new).is_ok() {
                outcome = Outcome::Already;
                return Ok(Change::Keep);
            }
            match open(&old) {
                Ok(plain) => {
                    outcome = Outcome::Converted;
                    let resealed =
                        seal::seal(&new, Purpose::Entry, ws, name.as_str(), plain.as_slice())?;
                    Ok(Change::Put(resealed))
                }
                Err(_) => {
                    outcome = Outcome::Unreadable;
                    Ok(Change::Keep)
                }
            }
        })?;
        match outcome {
            Outcome::Converted => report.converted += 1,
            Outcome::Already => report.already += 1,
            Outcome::Unreadable => report.unreadable.push(format!("{ws}/{name}")),
        }
    }
    Ok(())
}
