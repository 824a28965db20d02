//! The file backend: one store base directory holding `workspaces/<workspace>/oci-creds-<16 hex>`,
//! one file of sealed bytes per entry, and the base's own records (`keycheck`, `rotation.next`,
//! `rotation.prev`) at its top. Every change is atomic (temp file, fsync, rename) under the
//! directory's lock; every read refuses links, FIFOs, devices and oversized files
//! (docs/storage.md, "Files and modes").

use super::{Change, Decide, Meta, Store};
use crate::error::{Error, Result};
use crate::fsutil::{self, DirLock};
use crate::guard::Guard;
use crate::paths;
use crate::secret_name::SecretName;
use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROTATION_LOCK: &str = ".rotate.lock";

pub(crate) struct FileStore {
    base: PathBuf,
    /// How long to wait for another process's lock (`BETA9_TIMEOUT`).
    lock_timeout: Duration,
    trusted: OnceCell<()>,
}

impl FileStore {
    pub(crate) fn new(base: PathBuf, lock_timeout: Duration) -> FileStore {
        FileStore {
            base,
            lock_timeout,
            trusted: OnceCell::new(),
        }
    }

    /// A workspace's directory. The name was validated by the caller; checked again here because
    /// it becomes a path.
    pub(crate) fn dir(&self, workspace: &str) -> Result<PathBuf> {
        paths::validate_workspace(workspace)?;
        Ok(self.base.join("workspaces").join(workspace))
    }

    /// Refuses a base that another user owns or others may write to (they could plant links or
    /// files in it). Checked once per process.
    fn trust(&self) -> Result<()> {
        if self.trusted.get().is_some() {
            return Ok(());
        }
        for dir in [self.base.clone(), self.base.join("workspaces")] {
            if let Some(why) = fsutil::untrusted_dir(&dir) {
                return Err(Error::Invalid(format!(
                    "refusing to use the store directory {}: {why}; fix its owner or mode (chmod 700)",
                    dir.display()
                )));
            }
        }
        let _ = self.trusted.set(());
        Ok(())
    }

    fn read_file(&self, path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
        self.trust()?;
        match fsutil::read_regular(path, limit) {
            Ok(b) => Ok(b.map(|b| b.to_vec())),
            Err(e) => Err(io_error("read", path, &e)),
        }
    }

    /// Applies a change to `dir/name`; the caller holds `dir`'s lock.
    fn apply(dir: &Path, name: &str, change: Change) -> Result<bool> {
        match change {
            Change::Keep => Ok(false),
            Change::Put(bytes) => {
                fsutil::write_atomic(dir, name, &bytes)?;
                Ok(true)
            }
            Change::Delete => match std::fs::remove_file(dir.join(name)) {
                Ok(()) => {
                    fsutil::sync_dir(dir).map_err(|e| io_error("sync", dir, &e))?;
                    Ok(true)
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_error("remove", &dir.join(name), &e)),
            },
        }
    }

    /// Read, decide and apply under `dir`'s lock. A directory that does not exist yet holds
    /// nothing: the decision is made without creating it, which is only done for a write.
    fn locked_update(
        &self,
        dir: &Path,
        name: &str,
        limit: u64,
        decide: &mut Decide,
    ) -> Result<bool> {
        self.trust()?;
        if !dir.exists() {
            if let Change::Keep | Change::Delete = decide(None)? {
                return Ok(false);
            }
        }
        let lock = DirLock::acquire(dir, self.lock_timeout)?;
        lock.sweep_temp_files(dir);
        let current = self.read_file(&dir.join(name), limit)?;
        let change = decide(current.as_deref())?;
        Self::apply(dir, name, change)
    }
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> Error {
    Error::Other(anyhow::anyhow!("cannot {what} {}: {e}", path.display()))
}

impl Store for FileStore {
    fn location(&self) -> String {
        format!("directory {}", self.base.display())
    }

    fn workspaces(&self) -> Result<Vec<String>> {
        let dir = self.base.join("workspaces");
        let entries = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("list", &dir, &e)),
        };
        let mut out: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|w| paths::validate_workspace(w).is_ok())
            .collect();
        out.sort();
        Ok(out)
    }

    fn read(&self, workspace: &str, name: &SecretName) -> Result<Option<Vec<u8>>> {
        let path = self.dir(workspace)?.join(name.as_str());
        self.read_file(&path, fsutil::ENTRY_LIMIT)
    }

    fn names(&self, workspace: &str) -> Result<Vec<SecretName>> {
        let dir = self.dir(workspace)?;
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("list", &dir, &e)),
        };
        let mut names: Vec<SecretName> = entries
            .flatten()
            .filter_map(|e| SecretName::parse(e.file_name().to_str()?))
            .collect();
        names.sort();
        Ok(names)
    }

    fn update(&self, workspace: &str, name: &SecretName, decide: &mut Decide) -> Result<bool> {
        let dir = self.dir(workspace)?;
        self.locked_update(&dir, name.as_str(), fsutil::ENTRY_LIMIT, decide)
    }

    fn read_meta(&self, meta: Meta) -> Result<Option<Vec<u8>>> {
        self.read_file(&self.base.join(meta.name()), fsutil::META_LIMIT)
    }

    fn update_meta(&self, meta: Meta, decide: &mut Decide) -> Result<bool> {
        let base = self.base.clone();
        self.locked_update(&base, meta.name(), fsutil::META_LIMIT, decide)
    }

    fn lock_rotation(&self) -> Result<Guard> {
        self.trust()?;
        fsutil::ensure_dir(&self.base)?;
        // Another rotation may take a while (every entry re-sealed): wait longer than a `get`.
        let wait = self.lock_timeout.max(Duration::from_secs(60));
        let file = fsutil::lock_file(&self.base.join(ROTATION_LOCK), wait)?;
        Ok(Guard::new(file))
    }

    fn check(&self, workspace: &str) -> Vec<String> {
        let Ok(dir) = self.dir(workspace) else {
            return Vec::new();
        };
        match fsutil::loose_mode(&dir) {
            Some(mode) => vec![format!(
                "warning: store directory {} is accessible to other users (mode {mode:04o}); run: chmod 700 {}",
                dir.display(),
                dir.display()
            )],
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(t: &Path) -> FileStore {
        FileStore::new(t.join("store"), Duration::from_secs(2))
    }

    fn put(s: &FileStore, n: &SecretName, b: &[u8]) -> bool {
        s.update("default", n, &mut |_| Ok(Change::Put(b.to_vec())))
            .unwrap()
    }

    #[test]
    fn write_read_remove() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        let n = SecretName::derive("ghcr.io");
        assert!(s.read("default", &n).unwrap().is_none());
        assert!(!s
            .update("default", &n, &mut |_| Ok(Change::Delete))
            .unwrap());
        assert!(!t.path().join("store").exists(), "a no-op creates nothing");
        assert!(put(&s, &n, b"x1"));
        assert_eq!(s.read("default", &n).unwrap().unwrap(), b"x1");
        assert_eq!(s.names("default").unwrap(), vec![n.clone()]);
        assert_eq!(s.workspaces().unwrap(), vec!["default".to_string()]);
        // The decision sees what is there now.
        s.update("default", &n, &mut |cur| {
            assert_eq!(cur, Some(&b"x1"[..]));
            Ok(Change::Delete)
        })
        .unwrap();
        assert!(s.read("default", &n).unwrap().is_none());
        assert!(s.dir("../etc").is_err());
    }

    #[test]
    fn meta_records_live_at_the_base() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        s.update_meta(Meta::KeyCheck, &mut |_| Ok(Change::Put(b"kc".to_vec())))
            .unwrap();
        assert!(t.path().join("store/keycheck").is_file());
        assert_eq!(s.read_meta(Meta::KeyCheck).unwrap().unwrap(), b"kc");
        assert!(s.read_meta(Meta::RotationNext).unwrap().is_none());
        let _g = s.lock_rotation().unwrap();
    }

    #[test]
    fn stray_files_are_not_entries() {
        let t = tempfile::tempdir().unwrap();
        let s = store(t.path());
        let dir = s.dir("default").unwrap();
        fsutil::ensure_dir(&dir).unwrap();
        fsutil::write_atomic(&dir, "notes.txt", b"x").unwrap();
        fsutil::write_atomic(&dir, ".tmp-oci-creds-0000000000000000-1-aa", b"x").unwrap();
        assert!(s.names("default").unwrap().is_empty());
    }

    #[test]
    #[cfg(unix)]
    fn a_base_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let base = t.path().join("store");
        fsutil::ensure_dir(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();
        let s = store(t.path());
        let err = s.read("default", &SecretName::derive("x")).unwrap_err();
        assert!(err.to_string().contains("others can write"), "{err}");
    }
}
