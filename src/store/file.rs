//! The encrypted file store: `<store dir>/oci-creds-<16 hex>`, each file sealed (see `crypt`) with
//! the workspace's entry key, written atomically under the directory lock.

use super::crypt::{self, Key, OpenError, Purpose};
use super::key::KeySource;
use super::Store;
use crate::error::{Error, Result};
use crate::fsutil;
use crate::registry::SecretName;
use crate::secret::SecretBuf;
use std::cell::OnceCell;
use std::path::{Path, PathBuf};

pub struct FileStore {
    dir: PathBuf,
    workspace: String,
    key_source: KeySource,
    /// The workspace's entry key, derived once per process and only when a file must be opened.
    key: OnceCell<Key>,
}

impl FileStore {
    pub fn new(dir: PathBuf, workspace: &str, key_source: KeySource) -> FileStore {
        FileStore {
            dir,
            workspace: workspace.to_string(),
            key_source,
            key: OnceCell::new(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key_source(&self) -> &KeySource {
        &self.key_source
    }

    fn entry_key(&self, create: bool) -> Result<&Key> {
        if let Some(k) = self.key.get() {
            return Ok(k);
        }
        let master = if create {
            self.key_source.load_or_create()?
        } else {
            self.key_source.load()?.ok_or_else(|| {
                Error::KeyUnavailable(format!(
                    "entries exist in {} but the {} does not",
                    self.dir.display(),
                    self.key_source.describe()
                ))
            })?
        };
        Ok(self
            .key
            .get_or_init(|| master.derive(&self.workspace, Purpose::Entry)))
    }

    /// Opens sealed bytes that were read from `name` (also used by `rekey` and diagnostics).
    pub fn open_bytes(&self, name: &SecretName, sealed: &[u8]) -> Result<SecretBuf> {
        let key = self.entry_key(false)?;
        crypt::open(key, Purpose::Entry, &self.workspace, name.as_str(), sealed).map_err(|e| {
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
        let key = self.entry_key(true)?;
        let sealed = crypt::seal(key, Purpose::Entry, &self.workspace, name.as_str(), plaintext)?;
        let lock = fsutil::DirLock::acquire(&self.dir)?;
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
        other.entry_key(true).unwrap();
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
