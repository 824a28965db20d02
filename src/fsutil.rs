//! The one way the helper writes files: 0700 directories, 0600 files created with that mode (never
//! chmod afterwards), temp file in the same directory + fsync + rename, under an exclusive lock.

use anyhow::Context as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Prefix of in-flight temp files. Anything with it found while holding the lock is a leftover of
/// a crashed writer and is removed.
pub const TEMP_PREFIX: &str = ".tmp-";
pub const LOCK_NAME: &str = ".lock";

pub fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Opens a new file that only the owner can read, failing if it exists.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    o.open(path)
}

fn temp_path(dir: &Path, name: &str) -> PathBuf {
    let mut rnd = [0u8; 6];
    // A collision only makes create_new fail; the random part is not security-relevant.
    let _ = getrandom::getrandom(&mut rnd);
    dir.join(format!(
        "{TEMP_PREFIX}{name}-{}-{}",
        std::process::id(),
        hex::encode(rnd)
    ))
}

/// Writes `bytes` to `dir/name` atomically: readers see the old file or the new one, never a mix.
/// The caller holds the directory's [`DirLock`] when several writers may race.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_mode(dir, name, bytes, 0o600)
}

/// [`write_atomic`] for a file that must keep another mode (a user's docker config.json): the
/// temp file is created 0600 and set to `mode` before anything is written or renamed.
pub fn write_atomic_mode(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let tmp = temp_path(dir, name);
    let result = (|| -> std::io::Result<()> {
        let mut f = create_private(&tmp)?;
        #[cfg(unix)]
        if mode != 0o600 {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, dir.join(name))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", dir.join(name).display()))
}

/// Creates `dir/name` with `bytes` only if it does not exist yet (hard link of a complete temp
/// file: no reader ever sees it half-written). Returns false if another writer got there first.
pub fn create_atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<bool> {
    let tmp = temp_path(dir, name);
    let result = (|| -> std::io::Result<bool> {
        let mut f = create_private(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        let linked = match fs::hard_link(&tmp, dir.join(name)) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(e),
        };
        sync_dir(dir)?;
        Ok(linked)
    })();
    let _ = fs::remove_file(&tmp);
    result.with_context(|| format!("cannot create {}", dir.join(name).display()))
}

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Opens (creating, 0600) and exclusively locks `path`, blocking until it is free. The lock goes
/// with the returned file (or the process).
pub fn lock_file(path: &Path) -> anyhow::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    o.mode(0o600);
    let file = o
        .open(path)
        .with_context(|| format!("cannot open lock {}", path.display()))?;
    file.lock()
        .with_context(|| format!("cannot lock {}", path.display()))?;
    Ok(file)
}

/// An exclusive advisory lock on `dir/.lock`, released on drop (or when the process dies).
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> anyhow::Result<DirLock> {
        ensure_dir(dir)?;
        Ok(DirLock {
            _file: lock_file(&dir.join(LOCK_NAME))?,
        })
    }

    /// Removes temp files left by writers that died mid-write. Only safe while holding the lock.
    pub fn sweep_temp_files(&self, dir: &Path) {
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
}

/// Group/other permission bits of a path, if any are set (a key or store others can read).
pub fn loose_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        let mode = fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    #[cfg(unix)]
    fn files_are_0600_and_dirs_0700() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("a/b");
        ensure_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        write_atomic(&dir, "x", b"1").unwrap();
        assert_eq!(mode(&dir.join("x")), 0o600);
        let _l = DirLock::acquire(&dir).unwrap();
        assert_eq!(mode(&dir.join(LOCK_NAME)), 0o600);
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let t = tempfile::tempdir().unwrap();
        write_atomic(t.path(), "x", b"old").unwrap();
        write_atomic(t.path(), "x", b"new").unwrap();
        assert_eq!(fs::read(t.path().join("x")).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(t.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn create_atomic_never_replaces() {
        let t = tempfile::tempdir().unwrap();
        assert!(create_atomic(t.path(), "k", b"first").unwrap());
        assert!(!create_atomic(t.path(), "k", b"second").unwrap());
        assert_eq!(fs::read(t.path().join("k")).unwrap(), b"first");
    }
}
