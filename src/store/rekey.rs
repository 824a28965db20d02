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

use super::crypt::{self, Key, Purpose};
use super::file::FileStore;
use super::key::{read_key_file_as, KeySource};
use super::keys::{self, MasterKeys};
use super::{cached, postgres};
use super::{Change, Meta, Store};
use crate::env::{self, Env};
use crate::error::{Error, Result};
use crate::paths;
use crate::timeout;
use crate::token::file::FileTokenCache;
use crate::token::TokenCache;
use std::path::Path;

/// What a rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RekeyReport {
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

/// Rotates the master key of the store base `env` names. With an operator-provided key file
/// (`BETA9_CREDENTIALS_KEY_FILE`) the new key must be given (`new_key_file`); for the generated
/// key and the keyring one is made.
pub fn rekey(env: &Env, new_key_file: Option<&Path>) -> Result<RekeyReport> {
    env.validate()?;
    let source = KeySource::from_env(env)?;
    let new = match (&source, new_key_file) {
        (KeySource::File(p), Some(newp)) => {
            if same_file(p, newp) {
                return Err(Error::Invalid("the new key file is the current one".into()));
            }
            Some(read_key_file_as(newp, "new key file")?)
        }
        (KeySource::File(_), None) => None,
        (_, Some(_)) => {
            return Err(Error::Invalid(
                "--new-key-file only applies with BETA9_CREDENTIALS_KEY_FILE; the generated and keyring keys are rotated in place".into(),
            ))
        }
        (_, None) => None,
    };
    let budget = timeout::budget(env).0;
    let clear_caches = |ws: &str, key: &Key| {
        if let Ok(dir) = paths::cache_dir(env, ws) {
            let key = key.derive(ws, Purpose::TokenCache);
            let _ = FileTokenCache::new(dir, ws, key, budget).clear();
        }
    };
    if env.get(env::STORE_URL).is_none() {
        let store = FileStore::new(paths::data_base(env)?, budget);
        return rotate(&source, &store, new, &clear_caches);
    }
    // The shared store: every row re-sealed in its own transaction, straight against the
    // database; this machine's local copies (sealed under the old key) are dropped afterwards,
    // and other machines' copies are asked again when they no longer open.
    if !matches!(source, KeySource::File(_)) {
        return Err(Error::Invalid(format!(
            "{} needs {}: every machine must seal with the same master key",
            env::STORE_URL,
            env::CREDENTIALS_KEY_FILE
        )));
    }
    let store = postgres::from_env(env)?;
    let report = rotate(&source, &store, new, &clear_caches);
    cached::clear_copies(env, &store);
    report
}

/// The rotation over any backend. `new` is the operator's new key; `None` makes one for a managed
/// source (or, for an operator's key file, finishes a rotation already parked).
pub fn rotate(
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
        return Err(Error::Invalid(
            "a rotation to this key is in progress: finish it with BETA9_CREDENTIALS_KEY_FILE naming the key it started from and --new-key-file naming this one".into(),
        ));
    }
    if keys.is_promoted() {
        // Every entry was moved and the key check names the new key: only the clean-up is left.
        let Some(next) = keys.write_key() else {
            return Err(Error::Other(anyhow::anyhow!("inconsistent rotation state")));
        };
        if new.as_ref().is_some_and(|n| n.expose() != next.expose()) {
            return Err(Error::Invalid(
                "a rotation to another key is in progress: finish it first with --new-key-file naming the key it started with".into(),
            ));
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
            return Err(Error::Invalid(
                "a rotation to another key is in progress: finish it first with --new-key-file naming the key it started with".into(),
            ));
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
            Some(n) if n.expose() == current.expose() => {
                return Err(Error::Invalid("the new key is the current one".into()))
            }
            Some(n) => n,
            None if source.is_managed() => Key::generate()?,
            None => {
                return Err(Error::Invalid(
                    "BETA9_CREDENTIALS_KEY_FILE is managed by you: pass --new-key-file NEW, then point the variable at NEW".into(),
                ))
            }
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
            let open = |k: &Key| crypt::open(k, Purpose::Entry, ws, name.as_str(), sealed);
            if open(&new).is_ok() {
                outcome = Outcome::Already;
                return Ok(Change::Keep);
            }
            match open(&old) {
                Ok(plain) => {
                    outcome = Outcome::Converted;
                    let resealed =
                        crypt::seal(&new, Purpose::Entry, ws, name.as_str(), plain.as_slice())?;
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

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions;
    use crate::context::Context;
    use crate::fsutil;
    use crate::protocol::parse_store;
    use secrecy::ExposeSecret;

    fn env(t: &Path) -> Env {
        Env::from_pairs([
            ("HOME", t.join("home").to_str().unwrap()),
            ("BETA9_CREDENTIALS_DIR", t.join("store").to_str().unwrap()),
        ])
    }

    fn put(env: &Env, ws: &str, url: &str, secret: &str) {
        let ctx = Context::from_env(env.clone(), Some(ws)).unwrap();
        let req = format!(r#"{{"ServerURL":"{url}","Username":"u","Secret":"{secret}"}}"#);
        actions::store(&ctx, parse_store(req.as_bytes()).unwrap()).unwrap();
    }

    fn secret(env: &Env, ws: &str, url: &str) -> String {
        let ctx = Context::from_env(env.clone(), Some(ws)).unwrap();
        let login = actions::get(&ctx, url).unwrap().unwrap();
        login.secret.expose_secret().to_string()
    }

    #[test]
    fn rotation_changes_the_key_and_keeps_every_entry() {
        let t = tempfile::tempdir().unwrap();
        let e = env(t.path());
        put(&e, "default", "ghcr.io", "a");
        put(&e, "team", "nvcr.io", "b");
        let key_path = paths::generated_key_file(&e).unwrap();
        let before = std::fs::read(&key_path).unwrap();
        let r = rekey(&e, None).unwrap();
        assert_eq!((r.workspaces, r.converted, r.already), (2, 2, 0));
        assert_ne!(std::fs::read(&key_path).unwrap(), before);
        assert!(!t.path().join("store/rotation.next").exists());
        assert_eq!(secret(&e, "default", "ghcr.io"), "a");
        assert_eq!(secret(&e, "team", "nvcr.io"), "b");
    }

    #[test]
    fn an_interrupted_rotation_stays_readable_and_finishes_on_rerun() {
        interrupted_rotation(false);
    }

    /// A rotation an earlier version parked (records bound to their names only, a key check
    /// without a generation) still reads from the old key's side and finishes.
    #[test]
    fn a_rotation_an_earlier_version_interrupted_finishes_on_rerun() {
        interrupted_rotation(true);
    }

    fn interrupted_rotation(legacy: bool) {
        let t = tempfile::tempdir().unwrap();
        let e = env(t.path());
        for i in 0..6 {
            put(&e, "default", &format!("r{i}.example"), &format!("s{i}"));
        }
        // Simulate a crash half-way: the next key parked and some entries converted.
        let source = KeySource::from_env(&e).unwrap();
        let store = FileStore::new(t.path().join("store"), std::time::Duration::from_secs(2));
        let old = source.load().unwrap().unwrap();
        let new = Key::generate().unwrap();
        if legacy {
            keys::put_meta(&store, Meta::KeyCheck, keys::seal_legacy_key_check(&old)).unwrap();
            for (meta, key, under) in [
                (Meta::RotationPrev, &old, &new),
                (Meta::RotationNext, &new, &old),
            ] {
                let sealed = keys::seal_parked_legacy(meta, key, under).unwrap();
                keys::put_meta(&store, meta, sealed).unwrap();
            }
        } else {
            assert_eq!(
                keys::start_rotation(&store, &source, &old, &new).unwrap(),
                1
            );
        }
        let (o, n) = (
            old.derive("default", Purpose::Entry),
            new.derive("default", Purpose::Entry),
        );
        let dir = store.dir("default").unwrap();
        for i in 0..3 {
            let name = crate::store::name::SecretName::derive(&format!("r{i}.example"));
            let sealed = std::fs::read(dir.join(name.as_str())).unwrap();
            let plain = crypt::open(&o, Purpose::Entry, "default", name.as_str(), &sealed).unwrap();
            let re = crypt::seal(
                &n,
                Purpose::Entry,
                "default",
                name.as_str(),
                plain.as_slice(),
            )
            .unwrap();
            fsutil::write_atomic(&dir, name.as_str(), &re).unwrap();
        }
        // Mixed state: everything still reads, and a write now goes to the new key.
        for i in 0..6 {
            assert_eq!(
                secret(&e, "default", &format!("r{i}.example")),
                format!("s{i}")
            );
        }
        put(&e, "default", "late.example", "late");
        let r = rekey(&e, None).unwrap();
        assert!(r.resumed);
        assert_eq!((r.converted, r.already), (3, 4));
        assert_eq!(
            source.load().unwrap().unwrap().expose(),
            new.expose(),
            "the parked key was promoted"
        );
        for i in 0..6 {
            assert_eq!(
                secret(&e, "default", &format!("r{i}.example")),
                format!("s{i}")
            );
        }
        assert_eq!(secret(&e, "default", "late.example"), "late");
    }

    #[test]
    fn operator_key_files_need_the_new_one_named() {
        let t = tempfile::tempdir().unwrap();
        let k1 = t.path().join("k1");
        let k2 = t.path().join("k2");
        fsutil::write_atomic(t.path(), "k1", "11".repeat(32).as_bytes()).unwrap();
        fsutil::write_atomic(t.path(), "k2", "22".repeat(32).as_bytes()).unwrap();
        let mut pairs = [
            (
                "BETA9_CREDENTIALS_DIR",
                t.path().join("store").to_str().unwrap().to_string(),
            ),
            (
                "BETA9_CREDENTIALS_KEY_FILE",
                k1.to_str().unwrap().to_string(),
            ),
        ];
        let e1 = Env::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        put(&e1, "default", "ghcr.io", "a");
        assert!(rekey(&e1, None).is_err());
        assert!(rekey(&e1, Some(&k1)).is_err());
        let r = rekey(&e1, Some(&k2)).unwrap();
        assert_eq!(r.converted, 1);
        pairs[1].1 = k2.to_str().unwrap().to_string();
        let e2 = Env::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        assert_eq!(secret(&e2, "default", "ghcr.io"), "a");
    }

    #[test]
    fn an_empty_base_has_nothing_to_rotate_and_makes_no_key() {
        let t = tempfile::tempdir().unwrap();
        let e = env(t.path());
        let r = rekey(&e, None).unwrap();
        assert_eq!(r, RekeyReport::default());
        assert!(!paths::generated_key_file(&e).unwrap().exists());
    }
}
