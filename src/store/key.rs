//! Where the master key comes from, in order: `$BETA9_CREDENTIALS_KEY_FILE`; the OS keyring when
//! chosen (`BETA9_KEY_BACKEND=keyring`) or native to the platform (macOS, Windows); else a generated
//! key file under the XDG config dir. A Linux server needs no keyring daemon and waits on nothing.

use super::crypt::Key;
use crate::env::{self, Env};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::paths;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

const KEYRING_SERVICE: &str = "docker-credential-beta9";
const KEYRING_USER: &str = "master-key";
/// Where `rekey` keeps the new key until every entry is converted (suffix for files).
const KEYRING_USER_NEXT: &str = "master-key-next";
const NEXT_SUFFIX: &str = ".next";

#[derive(Debug, Clone)]
pub enum KeySource {
    /// A key file the operator provides (e.g. a mounted Kubernetes secret). Never created by us.
    File(PathBuf),
    /// The OS keyring (Secret Service on Linux, Keychain, Credential Manager), under this user.
    Keyring(&'static str),
    /// A key we generate on first write, 0600 in a 0700 directory.
    Generated(PathBuf),
    /// A key held in memory only: tests and in-memory stores.
    Memory(Arc<Key>),
}

impl PartialEq for KeySource {
    fn eq(&self, other: &KeySource) -> bool {
        match (self, other) {
            (KeySource::File(a), KeySource::File(b)) => a == b,
            (KeySource::Keyring(a), KeySource::Keyring(b)) => a == b,
            (KeySource::Generated(a), KeySource::Generated(b)) => a == b,
            (KeySource::Memory(a), KeySource::Memory(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl KeySource {
    pub fn from_env(env: &Env) -> Result<KeySource> {
        if let Some(p) = env.path(env::CREDENTIALS_KEY_FILE) {
            return Ok(KeySource::File(p));
        }
        match env.get(env::KEY_BACKEND) {
            Some("keyring") => Ok(KeySource::Keyring(KEYRING_USER)),
            Some("file") => Ok(KeySource::Generated(paths::generated_key_file(env)?)),
            Some(other) => Err(Error::Invalid(format!(
                "{}={other:?} is not a key backend: use 'file' or 'keyring'",
                env::KEY_BACKEND
            ))),
            None if cfg!(any(target_os = "macos", target_os = "windows")) => {
                Ok(KeySource::Keyring(KEYRING_USER))
            }
            None => Ok(KeySource::Generated(paths::generated_key_file(env)?)),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            KeySource::File(p) => format!("key file {}", p.display()),
            KeySource::Keyring(user) => format!("OS keyring item {KEYRING_SERVICE}/{user}"),
            KeySource::Generated(p) => format!("generated key file {}", p.display()),
            KeySource::Memory(_) => "in-memory key".to_string(),
        }
    }

    /// A one-line warning when the key file is readable by others. Warned, not refused: a
    /// Kubernetes secret volume mounts files 0644 by default, and refusing would break every pull.
    pub fn check(&self) -> Option<String> {
        let (KeySource::File(p) | KeySource::Generated(p)) = self else {
            return None;
        };
        let mode = fsutil::loose_mode(p)?;
        Some(format!(
            "warning: key file {} is accessible to other users (mode {mode:04o}); run: chmod 600 {}",
            p.display(),
            p.display()
        ))
    }

    /// The key, or `None` if none was ever created (so nothing can have been stored with it).
    pub fn load(&self) -> Result<Option<Key>> {
        match self {
            KeySource::File(p) => read_key_file(p).map(Some),
            KeySource::Generated(p) => match std::fs::metadata(p) {
                Ok(_) => read_key_file(p).map(Some),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(Error::KeyUnavailable(format!("{}: {e}", p.display()))),
            },
            KeySource::Keyring(user) => keyring_load(user),
            KeySource::Memory(k) => Ok(Some(k.duplicate())),
        }
    }

    /// Where a key rotation parks the new key: `<key file>.next`, or a second keyring item.
    /// An operator-provided key file has none: its rotation is the operator's (`--new-key-file`).
    pub fn next_source(&self) -> Option<KeySource> {
        match self {
            KeySource::File(_) | KeySource::Memory(_) => None,
            KeySource::Generated(p) => {
                let mut name = p.as_os_str().to_owned();
                name.push(NEXT_SUFFIX);
                Some(KeySource::Generated(PathBuf::from(name)))
            }
            KeySource::Keyring(_) => Some(KeySource::Keyring(KEYRING_USER_NEXT)),
        }
    }

    /// Makes `next` this source's key and removes `next` (the last step of a rotation).
    pub fn promote(&self, next: &KeySource) -> Result<()> {
        match (self, next) {
            (KeySource::Generated(cur), KeySource::Generated(nxt)) => {
                std::fs::rename(nxt, cur).map_err(|e| {
                    Error::KeyUnavailable(format!(
                        "cannot install the new key at {}: {e}",
                        cur.display()
                    ))
                })?;
                if let Some(dir) = cur.parent() {
                    let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
                }
                Ok(())
            }
            (KeySource::Keyring(cur), KeySource::Keyring(nxt)) => {
                let key = keyring_load(nxt)?.ok_or_else(|| {
                    Error::KeyUnavailable("the new key vanished from the keyring".into())
                })?;
                let text = Zeroizing::new(hex::encode(key.expose()));
                keyring_entry(cur)?
                    .set_password(&text)
                    .map_err(keyring_error)?;
                // If this delete is lost to a crash, both items hold the same key: harmless.
                let _ = keyring_entry(nxt)?.delete_credential();
                Ok(())
            }
            _ => Err(Error::KeyUnavailable(
                "this key source cannot be rotated in place".into(),
            )),
        }
    }

    /// The key, created if this is the first write.
    pub fn load_or_create(&self) -> Result<Key> {
        if let Some(k) = self.load()? {
            return Ok(k);
        }
        match self {
            KeySource::File(_) => unreachable_file(),
            KeySource::Generated(p) => create_key_file(p),
            KeySource::Keyring(user) => keyring_create(user),
            KeySource::Memory(k) => Ok(k.duplicate()),
        }
    }
}

fn unreachable_file() -> Result<Key> {
    Err(Error::KeyUnavailable("key file could not be read".into()))
}

/// 64 hex characters (surrounding whitespace allowed) or exactly 32 raw bytes (docs/storage.md, "Key file shape").
pub fn parse_key(bytes: &[u8]) -> Option<Key> {
    let text = std::str::from_utf8(bytes).ok().map(str::trim);
    if let Some(t) = text.filter(|t| t.len() == 64) {
        let mut k = Zeroizing::new([0u8; 32]);
        if hex::decode_to_slice(t, &mut k[..]).is_ok() {
            return Some(Key::from_bytes(*k));
        }
    }
    if bytes.len() == 32 {
        let mut k = [0u8; 32];
        k.copy_from_slice(bytes);
        return Some(Key::from_bytes(k));
    }
    None
}

fn read_key_file(path: &Path) -> Result<Key> {
    read_key_file_as(path, "key file")
}

/// Reads and parses a key file; `what` names it in errors ("key file", "new key file").
pub fn read_key_file_as(path: &Path, what: &str) -> Result<Key> {
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        Error::KeyUnavailable(format!("cannot read {what} {}: {e}", path.display()))
    })?);
    parse_key(&bytes).ok_or_else(|| {
        Error::KeyUnavailable(format!(
            "{what} {} must hold 64 hex characters or exactly 32 raw bytes",
            path.display()
        ))
    })
}

fn create_key_file(path: &Path) -> Result<Key> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::KeyUnavailable(format!("bad key path {}", path.display())))?;
    fsutil::ensure_dir(dir)?;
    let key = Key::generate()?;
    let mut text = Zeroizing::new(hex::encode(key.expose()));
    text.push('\n');
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(paths::KEY_FILE_NAME);
    // Two first writers may race: the loser reads the winner's key instead of replacing it.
    if fsutil::create_atomic(dir, name, text.as_bytes())? {
        Ok(key)
    } else {
        read_key_file(path)
    }
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

fn keyring_load(user: &str) -> Result<Option<Key>> {
    match keyring_entry(user)?.get_password() {
        Ok(text) => {
            let text = Zeroizing::new(text);
            parse_key(text.as_bytes()).map(Some).ok_or_else(|| {
                Error::KeyUnavailable("OS keyring holds a malformed master key".into())
            })
        }
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(keyring_error(e)),
    }
}

fn keyring_create(user: &str) -> Result<Key> {
    let key = Key::generate()?;
    let text = Zeroizing::new(hex::encode(key.expose()));
    keyring_entry(user)?
        .set_password(&text)
        .map_err(keyring_error)?;
    // Read back: another process may have won the race, and its key is the one that counts.
    keyring_load(user)?.ok_or_else(|| Error::KeyUnavailable("OS keyring lost the new key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
            KeySource::from_env(&e).unwrap(),
            KeySource::File("/k".into())
        );
        let e = Env::from_pairs([("BETA9_KEY_BACKEND", "keyring"), ("HOME", "/h")]);
        assert_eq!(
            KeySource::from_env(&e).unwrap(),
            KeySource::Keyring("master-key")
        );
        let e = Env::from_pairs([("BETA9_KEY_BACKEND", "nope"), ("HOME", "/h")]);
        assert!(KeySource::from_env(&e).is_err());
        #[cfg(target_os = "linux")]
        {
            let e = Env::from_pairs([("HOME", "/h")]);
            assert_eq!(
                KeySource::from_env(&e).unwrap(),
                KeySource::Generated("/h/.config/docker-credential-beta9/master.key".into())
            );
        }
    }

    #[test]
    fn generated_key_is_created_once() {
        let t = tempfile::tempdir().unwrap();
        let src = KeySource::Generated(t.path().join("cfg/master.key"));
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
}
