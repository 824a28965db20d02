//! `rekey`: which store base and key the environment names, the rotation over it
//! (`store::rekey::rotate`, docs/storage.md, "Key ownership and rotation"), and what a rotation
//! leaves stale: this machine's token caches and the shared store's local copies.

use crate::context;
use crate::env::Env;
use crate::error::{RekeyRefusal, Result};
use crate::paths;
use crate::seal::Key;
use crate::settings::Settings;
use crate::store::file::FileStore;
use crate::store::key::{read_key_file_as, KeySource};
use crate::store::rekey::rotate;
pub(crate) use crate::store::rekey::RekeyReport;
use crate::store::{cached, postgres};
use std::path::Path;

/// Rotates the master key of the store base `env` names. With an operator-provided key file
/// (`BETA9_CREDENTIALS_KEY_FILE`) the new key must be given (`new_key_file`); for the generated
/// key and the keyring one is made.
pub(crate) fn rekey(env: &Env, new_key_file: Option<&Path>) -> Result<RekeyReport> {
    env.validate()?;
    let settings = Settings::new(env);
    let source = KeySource::from_settings(&settings)?;
    let new = match (&source, new_key_file) {
        (KeySource::File(p), Some(newp)) => {
            if same_file(p, newp) {
                return Err(RekeyRefusal::SameKeyFile.into());
            }
            Some(read_key_file_as(newp, "new key file")?)
        }
        (KeySource::File(_), None) => None,
        (_, Some(_)) => return Err(RekeyRefusal::NewKeyFileNotApplicable.into()),
        (_, None) => None,
    };
    let budget = settings.timeout();
    let clear_caches =
        |ws: &str, key: &Key| context::clear_local_tokens(&settings, ws, key, budget);
    if !context::shared_store(&settings, &source)? {
        let store = FileStore::new(paths::data_base(settings.dirs())?, budget);
        return rotate(&source, &store, new, &clear_caches);
    }
    // The shared store: every row re-sealed in its own transaction, straight against the
    // database; this machine's local copies (sealed under the old key) are dropped afterwards,
    // and other machines' copies are asked again when they no longer open.
    let store = postgres::from_settings(&settings, budget)?;
    let report = rotate(&source, &store, new, &clear_caches);
    cached::clear_copies(&settings, &store);
    report
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
    use crate::seal::{self, Purpose};
    use crate::store::keys;
    use crate::store::Meta;
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
        let key_path = paths::generated_key_file(Settings::new(&e).dirs()).unwrap();
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
        let source = KeySource::from_settings(&Settings::new(&e)).unwrap();
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
            let name = crate::secret_name::SecretName::derive(&format!("r{i}.example"));
            let sealed = std::fs::read(dir.join(name.as_str())).unwrap();
            let plain = seal::open(&o, Purpose::Entry, "default", name.as_str(), &sealed).unwrap();
            let re = seal::seal(
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
        assert!(!paths::generated_key_file(Settings::new(&e).dirs())
            .unwrap()
            .exists());
    }

    /// The shared store without an operator's key file is refused in the words every other
    /// command uses: one decision (`context::shared_store`), not a copy.
    #[test]
    fn the_shared_store_without_a_key_file_is_refused_as_every_command_refuses_it() {
        let t = tempfile::tempdir().unwrap();
        let mut pairs = vec![
            ("HOME", t.path().join("home").to_str().unwrap().to_string()),
            (
                "BETA9_CREDENTIALS_DIR",
                t.path().join("store").to_str().unwrap().to_string(),
            ),
        ];
        pairs.push(("BETA9_STORE_URL", "postgres://u@127.0.0.1:9/db".into()));
        let e = Env::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        let expected = match Context::from_env(e.clone(), None) {
            Err(err) => err.to_string(),
            Ok(_) => panic!("a context over the shared store without a key file"),
        };
        assert!(expected.contains("every machine must seal"), "{expected}");
        assert_eq!(rekey(&e, None).unwrap_err().to_string(), expected);
    }

    fn key_file(path: &Path, byte: u8) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .unwrap();
        writeln!(f, "{}", hex::encode([byte; 32])).unwrap();
    }

    #[test]
    fn rekey_refusals_are_typed_and_keep_their_wording() {
        let refusal = |r: Result<RekeyReport>| match r {
            Err(crate::error::Error::Rekey(why)) => (why.clone(), why.to_string()),
            other => panic!("not a rekey refusal: {other:?}"),
        };
        let t = tempfile::tempdir().unwrap();
        let generated = env(t.path());
        put(&generated, "default", "ghcr.io", "a");
        let (why, text) = refusal(rekey(&generated, Some(&t.path().join("new"))));
        assert_eq!(why, RekeyRefusal::NewKeyFileNotApplicable);
        assert_eq!(text, "--new-key-file only applies with BETA9_CREDENTIALS_KEY_FILE; the generated and keyring keys are rotated in place");

        let (k, same) = (t.path().join("k"), t.path().join("same"));
        key_file(&k, 1);
        key_file(&same, 1);
        let e = Env::from_pairs([
            ("HOME", t.path().join("home").to_str().unwrap()),
            (
                "BETA9_CREDENTIALS_DIR",
                t.path().join("ops").to_str().unwrap(),
            ),
            ("BETA9_CREDENTIALS_KEY_FILE", k.to_str().unwrap()),
        ]);
        put(&e, "default", "ghcr.io", "a");
        let cases = [
            (Some(k.as_path()), RekeyRefusal::SameKeyFile, "the new key file is the current one"),
            (Some(same.as_path()), RekeyRefusal::SameKey, "the new key is the current one"),
            (None, RekeyRefusal::NewKeyFileNeeded, "BETA9_CREDENTIALS_KEY_FILE is managed by you: pass --new-key-file NEW, then point the variable at NEW"),
        ];
        for (new, expected, wording) in cases {
            let (why, text) = refusal(rekey(&e, new));
            assert_eq!((why, text.as_str()), (expected, wording));
        }
        assert_eq!(secret(&e, "default", "ghcr.io"), "a");
    }
}
