//! Where a store base's master key comes from, in order: `$BETA9_CREDENTIALS_KEY_FILE`; the OS
//! keyring when chosen (`BETA9_KEY_BACKEND=keyring`) or native to the platform (macOS, Windows);
//! else a generated key file under the XDG config dir. Generated keys and keyring items belong to
//! one store base each (docs/storage.md, "Key ownership and rotation"). A Linux server needs no
//! keyring daemon and waits on nothing.

use crate::error::{Error, Result};
use crate::fsutil;
use crate::paths;
use crate::seal::{parse_key, Key};
use crate::settings::{KeyBackend, Settings};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

const KEYRING_SERVICE: &str = "docker-credential-beta9";
const KEYRING_USER: &str = "master-key";
/// Where versions before 0.2 parked the new key of an interrupted rotation.
const LEGACY_NEXT_SUFFIX: &str = ".next";
const LEGACY_KEYRING_NEXT: &str = "master-key-next";

#[derive(Debug, Clone)]
pub enum KeySource {
    /// A key file the operator provides (e.g. a mounted Kubernetes secret). Never created by us.
    File(PathBuf),
    /// The OS keyring (Secret Service on Linux, Keychain, Credential Manager): this base's item,
    /// the item all bases shared before keys were tied to their base, and how long to wait for
    /// the keyring to answer (`BETA9_TIMEOUT`).
    Keyring {
        user: String,
        legacy: Option<String>,
        timeout: Duration,
    },
    /// A key we generate on first write (0600 in a 0700 directory), and the shared key file a
    /// custom base may adopt (see [`paths::legacy_shared_key_file`]).
    Generated {
        path: PathBuf,
        legacy: Option<PathBuf>,
    },
    /// A key held in memory only: tests and in-memory stores.
    Memory(Arc<Key>),
}

impl PartialEq for KeySource {
    fn eq(&self, other: &KeySource) -> bool {
        match (self, other) {
            (KeySource::File(a), KeySource::File(b)) => a == b,
            (KeySource::Keyring { user: a, .. }, KeySource::Keyring { user: b, .. }) => a == b,
            (KeySource::Generated { path: a, .. }, KeySource::Generated { path: b, .. }) => a == b,
            (KeySource::Memory(a), KeySource::Memory(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl KeySource {
    pub(crate) fn from_settings(settings: &Settings) -> Result<KeySource> {
        if let Some(p) = settings.credentials_key_file() {
            return Ok(KeySource::File(p));
        }
        let keyring = || -> Result<KeySource> {
            let id = paths::base_id(settings.dirs())?;
            Ok(KeySource::Keyring {
                user: match &id {
                    None => KEYRING_USER.to_string(),
                    Some(id) => format!("{KEYRING_USER}-{id}"),
                },
                legacy: id.map(|_| KEYRING_USER.to_string()),
                timeout: settings.timeout(),
            })
        };
        let generated = || -> Result<KeySource> {
            Ok(KeySource::Generated {
                path: paths::generated_key_file(settings.dirs())?,
                legacy: paths::legacy_shared_key_file(settings.dirs())?,
            })
        };
        match settings.key_backend()? {
            Some(KeyBackend::Keyring) => keyring(),
            Some(KeyBackend::File) => generated(),
            None if cfg!(any(target_os = "macos", target_os = "windows")) => keyring(),
            None => generated(),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            KeySource::File(p) => format!("key file {}", p.display()),
            KeySource::Keyring { user, .. } => {
                format!("OS keyring item {KEYRING_SERVICE}/{user}")
            }
            KeySource::Generated { path, .. } => format!("generated key file {}", path.display()),
            KeySource::Memory(_) => "in-memory key".to_string(),
        }
    }

    /// The key, or `None` if none was ever created (so nothing can have been stored with it).
    pub(crate) fn load(&self) -> Result<Option<Key>> {
        match self {
            KeySource::File(p) => read_key_file(p).map(Some),
            KeySource::Generated { path, .. } => read_key_file_if_present(path, "key file"),
            KeySource::Keyring { user, timeout, .. } => keyring_load(user, *timeout),
            KeySource::Memory(k) => Ok(Some(k.duplicate())),
        }
    }

    /// The key all store bases shared before keys were tied to their base, if this source may
    /// adopt one (a custom base whose own key does not exist yet).
    pub(crate) fn load_legacy_shared(&self) -> Result<Option<Key>> {
        match self {
            KeySource::Generated {
                legacy: Some(p), ..
            } => read_key_file_if_present(p, "key file"),
            KeySource::Keyring {
                legacy: Some(u),
                timeout,
                ..
            } => keyring_load(u, *timeout),
            _ => Ok(None),
        }
    }

    /// The new key an interrupted rotation of a version before 0.2 parked (`master.key.next`, or
    /// the `master-key-next` keyring item). Only the default base ever had one.
    pub(crate) fn load_legacy_next(&self) -> Result<Option<Key>> {
        match self {
            KeySource::Generated { path, legacy: None } => {
                let mut name = path.as_os_str().to_owned();
                name.push(LEGACY_NEXT_SUFFIX);
                read_key_file_if_present(Path::new(&name), "parked key file")
            }
            KeySource::Keyring {
                legacy: None,
                timeout,
                ..
            } => keyring_load(LEGACY_KEYRING_NEXT, *timeout),
            _ => Ok(None),
        }
    }

    /// Forgets a legacy parked key once the rotation it belonged to is finished.
    pub(crate) fn drop_legacy_next(&self) {
        match self {
            KeySource::Generated { path, legacy: None } => {
                let mut name = path.as_os_str().to_owned();
                name.push(LEGACY_NEXT_SUFFIX);
                let _ = std::fs::remove_file(name);
            }
            KeySource::Keyring {
                legacy: None,
                timeout,
                ..
            } => {
                let _ = keyring_call(*timeout, || {
                    keyring_entry(LEGACY_KEYRING_NEXT)?
                        .delete_credential()
                        .map_err(keyring_error)
                });
            }
            _ => {}
        }
    }

    /// Can this source hold a key we give it (generated file, keyring)? An operator's key file is
    /// theirs: rotated with `rekey --new-key-file`.
    pub(crate) fn is_managed(&self) -> bool {
        !matches!(self, KeySource::File(_))
    }

    /// Makes `key` this source's key: atomically replaces the generated file, or sets the keyring
    /// item (the last step of a rotation, and the adoption of a legacy shared key).
    pub(crate) fn store_key(&self, key: &Key) -> Result<()> {
        match self {
            KeySource::Generated { path, .. } => {
                let (dir, name) = split(path)?;
                fsutil::ensure_dir(dir)?;
                let mut text = Zeroizing::new(hex::encode(key.expose()));
                text.push('\n');
                fsutil::write_atomic(dir, name, text.as_bytes()).map_err(|e| {
                    Error::KeyUnavailable(format!("cannot write {}: {e:#}", path.display()))
                })
            }
            KeySource::Keyring { user, timeout, .. } => {
                let text = Zeroizing::new(hex::encode(key.expose()));
                let user = user.clone();
                keyring_call(*timeout, move || {
                    keyring_entry(&user)?
                        .set_password(&text)
                        .map_err(keyring_error)
                })
            }
            KeySource::File(_) | KeySource::Memory(_) => Err(Error::KeyUnavailable(
                "this key source is not managed by the helper".into(),
            )),
        }
    }

    /// The key, created if this is the first write. Racing first writers agree on one key (files
    /// are created link-atomically; the keyring item is read back).
    pub(crate) fn load_or_create(&self) -> Result<Key> {
        if let Some(k) = self.load()? {
            return Ok(k);
        }
        match self {
            KeySource::File(p) => Err(Error::KeyUnavailable(format!(
                "cannot read key file {}",
                p.display()
            ))),
            KeySource::Generated { path, .. } => create_key_file(path),
            KeySource::Keyring { user, timeout, .. } => keyring_create(user, *timeout),
            KeySource::Memory(k) => Ok(k.duplicate()),
        }
    }

    /// A one-line warning when the key file is readable by others. Warned, not refused: a
    /// Kubernetes secret volume mounts files 0644 by default, and refusing would break every pull.
    pub(crate) fn check(&self) -> Option<String> {
        let (KeySource::File(p) | KeySource::Generated { path: p, .. }) = self else {
            return None;
        };
        let mode = fsutil::loose_mode(p)?;
        Some(format!(
            "warning: key file {} is accessible to other users (mode {mode:04o}); run: chmod 600 {}",
            p.display(),
            p.display()
        ))
    }
}

fn split(path: &Path) -> Result<(&Path, &str)> {
    match (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        (Some(d), Some(n)) => Ok((d, n)),
        _ => Err(Error::KeyUnavailable(format!(
            "bad key path {}",
            path.display()
        ))),
    }
}

fn read_key_file(path: &Path) -> Result<Key> {
    read_key_file_as(path, "key file")
}

fn read_key_file_if_present(path: &Path, what: &str) -> Result<Option<Key>> {
    match fsutil::read_regular(path, fsutil::KEY_LIMIT) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => parse_key_bytes(&bytes, path, what).map(Some),
        Err(e) => Err(Error::KeyUnavailable(format!(
            "cannot read {what} {}: {e}",
            path.display()
        ))),
    }
}

fn parse_key_bytes(bytes: &[u8], path: &Path, what: &str) -> Result<Key> {
    parse_key(bytes).ok_or_else(|| {
        Error::KeyUnavailable(format!(
            "{what} {} must hold 64 hex characters or exactly 32 raw bytes",
            path.display()
        ))
    })
}

/// Reads and parses a key file the operator named (a regular file, links followed as Kubernetes
/// mounts secrets, at most 1 KiB); `what` names it in errors ("key file", "new key file"). The
/// generated key, in the helper's own directory, is read by [`read_key_file_if_present`], which
/// follows no link.
pub(crate) fn read_key_file_as(path: &Path, what: &str) -> Result<Key> {
    let bytes = fsutil::read_operator_file(path, fsutil::KEY_LIMIT)
        .map_err(|e| Error::KeyUnavailable(format!("cannot read {what} {}: {e}", path.display())))?
        .ok_or_else(|| {
            Error::KeyUnavailable(format!(
                "cannot read {what} {}: no such file",
                path.display()
            ))
        })?;
    parse_key_bytes(&bytes, path, what)
}

fn create_key_file(path: &Path) -> Result<Key> {
    let (dir, name) = split(path)?;
    fsutil::ensure_dir(dir)?;
    let key = Key::generate()?;
    let mut text = Zeroizing::new(hex::encode(key.expose()));
    text.push('\n');
    // Two first writers may race: the loser reads the winner's key instead of replacing it.
    if fsutil::create_atomic(dir, name, text.as_bytes())? {
        Ok(key)
    } else {
        read_key_file_if_present(path, "key file")?.ok_or_else(|| {
            Error::KeyUnavailable(format!("cannot read key file {}", path.display()))
        })
    }
}

/// Runs a keyring call on its own thread and gives up after `timeout`: a D-Bus peer that accepts
/// and never answers must not hang a pull. A call left running is abandoned with the process.
fn keyring_call<T: Send + 'static>(
    timeout: Duration,
    call: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(call());
        });
    if spawned.is_err() {
        return Err(Error::KeyUnavailable(
            "OS keyring: cannot start a thread".into(),
        ));
    }
    rx.recv_timeout(timeout).unwrap_or_else(|_| {
        Err(Error::key_timeout(
            "master key unavailable: OS keyring",
            "the Secret Service",
            timeout,
        ))
    })
}

fn keyring_entry(user: &str) -> Result<keyring::Entry> {
    keyring::Entry::new(KEYRING_SERVICE, user).map_err(keyring_error)
}

/// Maps keyring errors without their payloads: `BadEncoding` carries the secret's bytes.
fn keyring_error(e: keyring::Error) -> Error {
    let what = match e {
        keyring::Error::PlatformFailure(_) => "platform failure (is a Secret Service running?)",
        keyring::Error::NoStorageAccess(_) => "no access to the keyring (locked or no daemon)",
        keyring::Error::BadEncoding(_) => "stored master key is not valid text",
        keyring::Error::Ambiguous(_) => "several keyring items match",
        _ => "keyring error",
    };
    Error::KeyUnavailable(format!("OS keyring: {what}"))
}

fn keyring_load(user: &str, timeout: Duration) -> Result<Option<Key>> {
    let user = user.to_string();
    keyring_call(timeout, move || {
        match keyring_entry(&user)?.get_password() {
            Ok(text) => {
                let text = Zeroizing::new(text);
                parse_key(text.as_bytes()).map(Some).ok_or_else(|| {
                    Error::KeyUnavailable("OS keyring holds a malformed master key".into())
                })
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(e)),
        }
    })
}

fn keyring_create(user: &str, timeout: Duration) -> Result<Key> {
    let key = Key::generate()?;
    let text = Zeroizing::new(hex::encode(key.expose()));
    let u = user.to_string();
    keyring_call(timeout, move || {
        keyring_entry(&u)?
            .set_password(&text)
            .map_err(keyring_error)
    })?;
    // Read back: another process may have won the race, and its key is the one that counts.
    keyring_load(user, timeout)?
        .ok_or_else(|| Error::KeyUnavailable("OS keyring lost the new key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    #[test]
    fn key_file_shapes() {
        let hex64 = "ab".repeat(32);
        assert!(parse_key(hex64.as_bytes()).is_some());
        assert!(parse_key(format!("{hex64}\n").as_bytes()).is_some());
        assert!(parse_key(&[7u8; 32]).is_some());
        assert!(parse_key(&[7u8; 31]).is_none());
        assert!(parse_key(&[7u8; 33]).is_none());
        assert!(parse_key("zz".repeat(32).as_bytes()).is_none());
        assert!(parse_key(b"").is_none());
    }

    #[test]
    fn source_order() {
        let e = Env::from_pairs([("BETA9_CREDENTIALS_KEY_FILE", "/k"), ("HOME", "/h")]);
        assert_eq!(
            KeySource::from_settings(&Settings::new(&e)).unwrap(),
            KeySource::File("/k".into())
        );
        let e = Env::from_pairs([("BETA9_KEY_BACKEND", "keyring"), ("HOME", "/h")]);
        assert!(matches!(
            KeySource::from_settings(&Settings::new(&e)).unwrap(),
            KeySource::Keyring { user, legacy: None, .. } if user == "master-key"
        ));
        let e = Env::from_pairs([
            ("BETA9_KEY_BACKEND", "keyring"),
            ("HOME", "/h"),
            ("BETA9_CREDENTIALS_DIR", "/s"),
        ]);
        assert!(matches!(
            KeySource::from_settings(&Settings::new(&e)).unwrap(),
            KeySource::Keyring { user, legacy: Some(_), .. } if user.starts_with("master-key-")
        ));
        let e = Env::from_pairs([("BETA9_KEY_BACKEND", "nope"), ("HOME", "/h")]);
        assert!(KeySource::from_settings(&Settings::new(&e)).is_err());
        #[cfg(target_os = "linux")]
        {
            let e = Env::from_pairs([("HOME", "/h")]);
            assert_eq!(
                KeySource::from_settings(&Settings::new(&e)).unwrap(),
                KeySource::Generated {
                    path: "/h/.config/docker-credential-beta9/master.key".into(),
                    legacy: None
                }
            );
        }
    }

    #[test]
    fn generated_key_is_created_once() {
        let t = tempfile::tempdir().unwrap();
        let src = KeySource::Generated {
            path: t.path().join("cfg/master.key"),
            legacy: None,
        };
        assert!(src.load().unwrap().is_none());
        let k1 = src.load_or_create().unwrap();
        let k2 = src.load_or_create().unwrap();
        assert_eq!(k1.expose(), k2.expose());
        assert!(fsutil::loose_mode(&t.path().join("cfg/master.key")).is_none());
    }

    #[test]
    fn missing_explicit_key_file_is_an_error() {
        let src = KeySource::File("/nonexistent/key".into());
        assert!(matches!(src.load(), Err(Error::KeyUnavailable(_))));
    }

    #[test]
    fn oversized_key_files_and_linked_generated_keys_are_refused() {
        let t = tempfile::tempdir().unwrap();
        fsutil::write_atomic(t.path(), "big", &[b'a'; 4096]).unwrap();
        assert!(read_key_file(&t.path().join("big")).is_err());
        #[cfg(unix)]
        {
            fsutil::write_atomic(t.path(), "k", "ab".repeat(32).as_bytes()).unwrap();
            std::os::unix::fs::symlink(t.path().join("k"), t.path().join("link")).unwrap();
            // The generated key lives in the helper's own directory: a link there was planted.
            let e = read_key_file_if_present(&t.path().join("link"), "key file").unwrap_err();
            assert!(e.to_string().contains("symbolic link"), "{e}");
            // The operator's key file may be a link (a mounted Kubernetes secret).
            assert!(read_key_file(&t.path().join("link")).is_ok());
        }
    }

    #[test]
    fn a_keyring_that_never_answers_is_bounded() {
        let start = std::time::Instant::now();
        let r: Result<()> = keyring_call(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        });
        assert!(start.elapsed() < Duration::from_secs(2));
        let e = r.unwrap_err();
        assert!(matches!(e, Error::Timeout { of_key: true, .. }), "{e}");
        assert!(e
            .to_string()
            .contains("no answer from the Secret Service within 0.1 s"));
    }
}
