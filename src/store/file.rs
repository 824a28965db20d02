//! The encrypted file store: `<store dir>/oci-creds-<16 hex>`, each file sealed (see `crypt`) with
//! the workspace's entry key, written atomically under the directory lock.

use super::crypt::{self, Key, OpenError, Purpose};
use super::key::KeySource;
use super::Store;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::registry::SecretName;
use crate::secret::SecretBuf;
use std::cell::{OnceCell, RefCell};
use std::path::{Path, PathBuf};

pub struct FileStore {
    dir: PathBuf,
    workspace: String,
    key_source: KeySource,
    /// The workspace's entry keys, derived once per process and only when a file must be opened:
    /// the current key, then the one a running `rekey` is moving entries to (if any).
    keys: OnceCell<Vec<Key>>,
    /// The workspace's token-cache key, derived from the same master key load (a keyring is asked
    /// once per process, not once for the entry and again for the cache).
    cache_key: OnceCell<Key>,
    warnings: RefCell<Vec<String>>,
}

impl FileStore {
    pub fn new(dir: PathBuf, workspace: &str, key_source: KeySource) -> FileStore {
        FileStore {
            dir,
            workspace: workspace.to_string(),
            key_source,
            keys: OnceCell::new(),
            cache_key: OnceCell::new(),
            warnings: RefCell::new(Vec::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key_source(&self) -> &KeySource {
        &self.key_source
    }

    /// Keys to try when opening: current first, then a rotation's next key.
    fn read_keys(&self) -> Result<&[Key]> {
        if let Some(k) = self.keys.get() {
            return Ok(k);
        }
        let mut keys = Vec::with_capacity(2);
        if let Some(k) = self.key_source.load()? {
            keys.push(k.derive(&self.workspace, Purpose::Entry));
            let _ = self
                .cache_key
                .set(k.derive(&self.workspace, Purpose::TokenCache));
        }
        if let Some(next) = self.key_source.next_source() {
            if let Some(k) = next.load()? {
                keys.push(k.derive(&self.workspace, Purpose::Entry));
            }
        }
        if keys.is_empty() {
            return Err(Error::KeyUnavailable(format!(
                "entries exist in {} but the {} does not",
                self.dir.display(),
                self.key_source.describe()
            )));
        }
        self.check_permissions();
        Ok(self.keys.get_or_init(|| keys))
    }

    /// The key new writes are sealed with, read afresh while holding the directory lock so a
    /// concurrent `rekey` is never undone: during a rotation writes go to the next key.
    fn write_key(&self) -> Result<Key> {
        if let Some(next) = self.key_source.next_source() {
            if let Some(k) = next.load()? {
                return Ok(k.derive(&self.workspace, Purpose::Entry));
            }
        }
        let master = match self.key_source.load()? {
            Some(k) => k,
            // Never mint a second key next to entries sealed with a lost one: that would mix
            // keys in one store and hide the real problem (a moved HOME, a lost file).
            None if !self.names()?.is_empty() => {
                return Err(Error::KeyUnavailable(format!(
                    "entries exist in {} but the {} does not; restore it (or move the entries away) before storing",
                    self.dir.display(),
                    self.key_source.describe()
                )))
            }
            // First write: created under the directory lock, so racing first writers of this
            // workspace agree on one key (key files are also created link-atomically).
            None => self.key_source.load_or_create()?,
        };
        self.check_permissions();
        Ok(master.derive(&self.workspace, Purpose::Entry))
    }

    /// Loose permissions are warned about, not refused: a Kubernetes secret volume mounts key
    /// files 0644 by default, and refusing would break every pull. The warning says how to fix it.
    fn check_permissions(&self) {
        let key_path = match &self.key_source {
            KeySource::File(p) | KeySource::Generated(p) => Some(p.as_path()),
            KeySource::Keyring(_) => None,
        };
        let mut w = self.warnings.borrow_mut();
        if let Some(p) = key_path {
            if let Some(mode) = fsutil::loose_mode(p) {
                w.push(format!(
                    "warning: key file {} is accessible to other users (mode {mode:04o}); run: chmod 600 {}",
                    p.display(),
                    p.display()
                ));
            }
        }
        if let Some(mode) = fsutil::loose_mode(&self.dir) {
            w.push(format!(
                "warning: store directory {} is accessible to other users (mode {mode:04o}); run: chmod 700 {}",
                self.dir.display(),
                self.dir.display()
            ));
        }
    }

    /// Opens sealed bytes that were read from `name` (also used by `rekey` and diagnostics).
    pub fn open_bytes(&self, name: &SecretName, sealed: &[u8]) -> Result<SecretBuf> {
        let keys = self.read_keys()?;
        let mut result = Err(OpenError::Authentication);
        for key in keys {
            result = crypt::open(key, Purpose::Entry, &self.workspace, name.as_str(), sealed);
            if !matches!(result, Err(OpenError::Authentication)) {
                break;
            }
        }
        result.map_err(|e| {
            let path = self.dir.join(name.as_str());
            match e {
                OpenError::Authentication | OpenError::NotSealed => Error::Undecryptable {
                    entry: name.to_string(),
                    path,
                },
                OpenError::UnsupportedVersion(v) => Error::BadRecord {
                    entry: name.to_string(),
                    reason: format!("file format {v} is newer than this helper understands"),
                },
            }
        })
    }
}

impl Store for FileStore {
    fn read(&self, name: &SecretName) -> Result<Option<SecretBuf>> {
        let path = self.dir.join(name.as_str());
        let sealed = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Other(anyhow::anyhow!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        self.open_bytes(name, &sealed).map(Some)
    }

    fn write(&self, name: &SecretName, plaintext: &[u8]) -> Result<()> {
        let lock = fsutil::DirLock::acquire(&self.dir)?;
        let key = self.write_key()?;
        let sealed = crypt::seal(
            &key,
            Purpose::Entry,
            &self.workspace,
            name.as_str(),
            plaintext,
        )?;
        lock.sweep_temp_files(&self.dir);
        fsutil::write_atomic(&self.dir, name.as_str(), &sealed)?;
        Ok(())
    }

    fn remove(&self, name: &SecretName) -> Result<bool> {
        if !self.dir.join(name.as_str()).exists() {
            return Ok(false);
        }
        let _lock = fsutil::DirLock::acquire(&self.dir)?;
        match std::fs::remove_file(self.dir.join(name.as_str())) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::Other(anyhow::anyhow!(
                "cannot remove {}: {e}",
                self.dir.join(name.as_str()).display()
            ))),
        }
    }

    fn token_cache_key(&self) -> Result<Key> {
        if self.cache_key.get().is_none() {
            self.read_keys()?;
        }
        self.cache_key
            .get()
            .map(Key::duplicate)
            .ok_or_else(|| Error::KeyUnavailable("no master key for the token cache".into()))
    }

    fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut self.warnings.borrow_mut())
    }

    fn names(&self) -> Result<Vec<SecretName>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::Other(anyhow::anyhow!(
                    "cannot list {}: {e}",
                    self.dir.display()
                )))
            }
        };
        let mut names: Vec<SecretName> = entries
            .flatten()
            .filter_map(|e| SecretName::parse(e.file_name().to_str()?))
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn store(t: &Path, ws: &str, key: &str) -> FileStore {
        FileStore::new(
            t.join("store").join(ws),
            ws,
            KeySource::Generated(t.join(key)),
        )
    }

    #[test]
    fn write_read_remove() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path(), "default", "k");
        let n = Registry::from_canonical("ghcr.io").secret_name();
        assert!(s.read(&n).unwrap().is_none());
        s.write(&n, b"{\"x\":1}").unwrap();
        assert_eq!(s.read(&n).unwrap().unwrap().as_slice(), b"{\"x\":1}");
        assert_eq!(s.names().unwrap(), vec![n.clone()]);
        assert!(s.remove(&n).unwrap());
        assert!(!s.remove(&n).unwrap());
        assert!(s.read(&n).unwrap().is_none());
    }

    #[test]
    fn wrong_key_is_a_clear_error_and_bytes_stay() {
        let t = tempfile::tempdir().unwrap();
        let n = Registry::from_canonical("ghcr.io").secret_name();
        store(t.path(), "default", "k1").write(&n, b"v").unwrap();
        let before = std::fs::read(t.path().join("store/default").join(n.as_str())).unwrap();
        // Another key file, same directory.
        let other = FileStore::new(
            t.path().join("store/default"),
            "default",
            KeySource::Generated(t.path().join("k2")),
        );
        KeySource::Generated(t.path().join("k2"))
            .load_or_create()
            .unwrap();
        let err = other.read(&n).unwrap_err();
        assert!(matches!(err, Error::Undecryptable { .. }), "{err}");
        assert!(err.to_string().contains(n.as_str()));
        let after = std::fs::read(t.path().join("store/default").join(n.as_str())).unwrap();
        assert_eq!(before, after);
    }

    #[test]
    fn missing_key_with_entries_is_key_unavailable() {
        let t = tempfile::tempdir().unwrap();
        let n = Registry::from_canonical("ghcr.io").secret_name();
        store(t.path(), "default", "k1").write(&n, b"v").unwrap();
        std::fs::remove_file(t.path().join("k1")).unwrap();
        let err = store(t.path(), "default", "k1").read(&n).unwrap_err();
        assert!(matches!(err, Error::KeyUnavailable(_)), "{err}");
    }

    #[test]
    fn stray_files_are_not_entries() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path(), "default", "k");
        std::fs::create_dir_all(s.dir()).unwrap();
        fsutil::write_atomic(s.dir(), "notes.txt", b"x").unwrap();
        fsutil::write_atomic(s.dir(), ".tmp-oci-creds-0000000000000000-1-aa", b"x").unwrap();
        assert!(s.names().unwrap().is_empty());
    }
}
