//! The file backend: `<store dir>/oci-creds-<16 hex>`, one file of sealed bytes per entry, changed
//! atomically (temp file, fsync, rename) under the directory's lock (docs/storage.md, "Files and
//! modes").

use super::name::SecretName;
use super::{Change, Store};
use crate::error::{Error, Result};
use crate::fsutil;
use std::path::{Path, PathBuf};

pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn new(dir: PathBuf) -> FileStore {
        FileStore { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &SecretName) -> PathBuf {
        self.dir.join(name.as_str())
    }

    fn apply(&self, name: &SecretName, change: Change) -> Result<bool> {
        match change {
            Change::Keep => Ok(false),
            Change::Put(bytes) => {
                fsutil::write_atomic(&self.dir, name.as_str(), &bytes)?;
                Ok(true)
            }
            Change::Delete => match std::fs::remove_file(self.path(name)) {
                Ok(()) => {
                    fsutil::sync_dir(&self.dir).map_err(|e| io_error("sync", &self.dir, &e))?;
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_error("remove", &self.path(name), &e)),
            },
        }
    }
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Other(anyhow::anyhow!("cannot {what} {}: {e}", path.display()))
}

impl Store for FileStore {
    fn location(&self) -> String {
        format!("directory {}", self.dir.display())
    }

    fn read(&self, name: &SecretName) -> Result<Option<Vec<u8>>> {
        let path = self.path(name);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path, &e)),
        }
    }

    fn names(&self) -> Result<Vec<SecretName>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("list", &self.dir, &e)),
        };
        let mut names: Vec<SecretName> = entries
            .flatten()
            .filter_map(|e| SecretName::parse(e.file_name().to_str()?))
            .collect();
        names.sort();
        Ok(names)
    }

    fn update(
        &self,
        name: &SecretName,
        decide: &mut dyn FnMut(Option<&[u8]>) -> Result<Change>,
    ) -> Result<bool> {
        // A store that does not exist yet holds nothing: decide without creating it, and only
        // make the directory (and its lock) when there is something to write.
        if !self.dir.exists() {
            if let Change::Keep | Change::Delete = decide(None)? {
                return Ok(false);
            }
        }
        let lock = fsutil::DirLock::acquire(&self.dir)?;
        lock.sweep_temp_files(&self.dir);
        let current = self.read(name)?;
        let change = decide(current.as_deref())?;
        self.apply(name, change)
    }

    fn check(&self) -> Vec<String> {
        match fsutil::loose_mode(&self.dir) {
            Some(mode) => vec![format!(
                "warning: store directory {} is accessible to other users (mode {mode:04o}); run: chmod 700 {}",
                self.dir.display(),
                self.dir.display()
            )],
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(s: &FileStore, n: &SecretName, b: &[u8]) -> bool {
        s.update(n, &mut |_| Ok(Change::Put(b.to_vec()))).unwrap()
    }

    #[test]
    fn write_read_remove() {
        let t = tempfile::tempdir().unwrap();
        let s = FileStore::new(t.path().join("store/default"));
        let n = SecretName::derive("ghcr.io");
        assert!(s.read(&n).unwrap().is_none());
        assert!(!s.update(&n, &mut |_| Ok(Change::Delete)).unwrap());
        assert!(!t.path().join("store").exists(), "a no-op creates nothing");
        assert!(put(&s, &n, b"x1"));
        assert_eq!(s.read(&n).unwrap().unwrap(), b"x1");
        assert_eq!(s.names().unwrap(), vec![n.clone()]);
        // The decision sees what is there now.
        s.update(&n, &mut |cur| {
            assert_eq!(cur, Some(&b"x1"[..]));
            Ok(Change::Delete)
        })
        .unwrap();
        assert!(s.read(&n).unwrap().is_none());
    }

    #[test]
    fn stray_files_are_not_entries() {
        let t = tempfile::tempdir().unwrap();
        let s = FileStore::new(t.path().to_path_buf());
        fsutil::write_atomic(s.dir(), "notes.txt", b"x").unwrap();
        fsutil::write_atomic(s.dir(), ".tmp-oci-creds-0000000000000000-1-aa", b"x").unwrap();
        assert!(s.names().unwrap().is_empty());
    }
}
