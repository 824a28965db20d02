//! Master-key rotation: every entry of every workspace re-sealed under a new key.
//!
//! Crash-safe by construction: the new key is parked beside the old one (`<key file>.next`, or a
//! second keyring item) before any entry changes; readers try both keys and writers use the new
//! one while it is parked; each entry is replaced atomically under its workspace's lock; only when
//! all are converted does the new key replace the old. Killed at any point, every entry opens
//! with one of the two keys, and running `rekey` again finishes the job.

use super::crypt::{self, Key, Purpose};
use super::file::FileStore;
use super::key::{read_key_file_as, KeySource};
use super::{Change, Store};
use crate::env::Env;
use crate::error::{Error, Result};
use crate::paths;
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
}

/// Rotates the master key. With an operator-provided key file (`BETA9_CREDENTIALS_KEY_FILE`) the
/// new key must be given (`new_key_file`); for the generated key and the keyring one is made.
pub fn rekey(env: &Env, new_key_file: Option<&Path>) -> Result<RekeyReport> {
    let source = KeySource::from_env(env)?;
    let (old, new, next_source) = match (&source, new_key_file) {
        (KeySource::File(p), Some(newp)) => {
            if same_file(p, newp) {
                return Err(Error::Invalid("the new key file is the current one".into()));
            }
            (source.load()?, read_key_file_as(newp, "new key file")?, None)
        }
        (KeySource::File(_), None) => {
            return Err(Error::Invalid(
                "BETA9_CREDENTIALS_KEY_FILE is managed by you: pass --new-key-file NEW, then point the variable at NEW".into(),
            ))
        }
        (_, Some(_)) => {
            return Err(Error::Invalid(
                "--new-key-file only applies with BETA9_CREDENTIALS_KEY_FILE; the generated and keyring keys are rotated in place".into(),
            ))
        }
        (_, None) => {
            let next = source
                .next_source()
                .ok_or_else(|| Error::Invalid("this key source cannot be rotated".into()))?;
            let new = next.load_or_create()?;
            (source.load()?, new, Some(next))
        }
    };
    let mut report = RekeyReport::default();
    let base = paths::data_base(env)?.join("workspaces");
    let workspaces = match std::fs::read_dir(&base) {
        Ok(rd) => rd
            .flatten()
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|w| paths::validate_workspace(w).is_ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(Error::Other(anyhow::anyhow!(
                "cannot list {}: {e}",
                base.display()
            )))
        }
    };
    for ws in &workspaces {
        let store = FileStore::new(base.join(ws));
        rekey_workspace(&store, ws, old.as_ref(), &new, &mut report)?;
        // Cached tokens were sealed with the old key; they are only a cache. Only the token files
        // the cache itself names are removed, never the directory.
        if let Ok(dir) = paths::cache_dir(env, ws) {
            let _ = FileTokenCache::new(dir, ws, new.derive(ws, Purpose::TokenCache)).clear();
        }
        report.workspaces += 1;
    }
    if let Some(next) = next_source {
        source.promote(&next)?;
    }
    Ok(report)
}

/// What happened to one entry.
enum Outcome {
    Converted,
    Already,
    Unreadable,
}

fn rekey_workspace(
    store: &FileStore,
    ws: &str,
    old: Option<&Key>,
    new: &Key,
    report: &mut RekeyReport,
) -> Result<()> {
    let old = old.map(|k| k.derive(ws, Purpose::Entry));
    let new = new.derive(ws, Purpose::Entry);
    for name in store.names()? {
        let mut outcome = Outcome::Already;
        store.update(&name, &mut |bytes| {
            let Some(sealed) = bytes else {
                outcome = Outcome::Already;
                return Ok(Change::Keep);
            };
            let open = |k: &Key| crypt::open(k, Purpose::Entry, ws, name.as_str(), sealed);
            if open(&new).is_ok() {
                outcome = Outcome::Already;
                return Ok(Change::Keep);
            }
            match old.as_ref().map(open) {
                Some(Ok(plain)) => {
                    outcome = Outcome::Converted;
                    let resealed =
                        crypt::seal(&new, Purpose::Entry, ws, name.as_str(), plain.as_slice())?;
                    Ok(Change::Put(resealed))
                }
                _ => {
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
        assert!(!key_path.with_file_name("master.key.next").exists());
        assert_eq!(secret(&e, "default", "ghcr.io"), "a");
        assert_eq!(secret(&e, "team", "nvcr.io"), "b");
    }

    #[test]
    fn an_interrupted_rotation_stays_readable_and_finishes_on_rerun() {
        let t = tempfile::tempdir().unwrap();
        let e = env(t.path());
        for i in 0..6 {
            put(&e, "default", &format!("r{i}.example"), &format!("s{i}"));
        }
        // Simulate a crash half-way: the next key is parked and some entries converted.
        let source = KeySource::from_env(&e).unwrap();
        let next = source.next_source().unwrap();
        let new = next.load_or_create().unwrap();
        let dir = paths::store_dir(&e, "default").unwrap();
        let old = source.load().unwrap().unwrap();
        let (o, n) = (
            old.derive("default", Purpose::Entry),
            new.derive("default", Purpose::Entry),
        );
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
        assert_eq!((r.converted, r.already), (3, 4));
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
}
