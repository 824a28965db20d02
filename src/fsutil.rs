//! The one way the helper touches files: 0700 directories, 0600 files created with that mode
//! (never chmod afterwards), temp file in the same directory + fsync + rename, under an exclusive
//! lock; and reads that trust nothing: no FIFO or device waited on, only regular files of a sane
//! size, and no symbolic link followed inside the helper's own directories (docs/storage.md,
//! "Files and modes"). Files the operator names are reached through links, as Kubernetes mounts
//! them (docs/storage.md, "Files the operator names").

use anyhow::Context as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

/// Prefix of in-flight temp files. Anything with it found while holding the lock is a leftover of
/// a crashed writer and is removed.
pub(crate) const TEMP_PREFIX: &str = ".tmp-";
pub(crate) const LOCK_NAME: &str = ".lock";

pub(crate) fn ensure_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    b.mode(0o700);
    b.create(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Opens a new file that only the owner can read, failing if it exists.
pub(crate) fn create_private(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    o.open(path)
}

/// A fresh temp-file path for `dir/name` (the prefix the lock holder sweeps).
pub(crate) fn temp_path(dir: &Path, name: &str) -> PathBuf {
    let mut rnd = [0u8; 6];
    // A collision only makes create_new fail; the random part is not security-relevant.
    let _ = getrandom::fill(&mut rnd);
    dir.join(format!(
        "{TEMP_PREFIX}{name}-{}-{}",
        std::process::id(),
        hex::encode(rnd)
    ))
}

/// Writes `bytes` to `dir/name` atomically: readers see the old file or the new one, never a mix.
/// The caller holds the directory's [`DirLock`] when several writers may race.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic_mode(dir, name, bytes, 0o600)
}

/// [`write_atomic`] for a file that must keep another mode (a user's docker config.json): the
/// temp file is created 0600 and set to `mode` before anything is written or renamed.
pub(crate) fn write_atomic_mode(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    mode: u32,
) -> anyhow::Result<()> {
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

/// [`write_atomic`] without the fsyncs, for copies that can be fetched again (a shared store's
/// local copies): readers still see the old file or the new one; after a crash the file may be
/// missing or empty, which its reader treats as no copy. Saves milliseconds on every refresh.
pub(crate) fn write_atomic_unsynced(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = temp_path(dir, name);
    let result = (|| -> std::io::Result<()> {
        let mut f = create_private(&tmp)?;
        f.write_all(bytes)?;
        fs::rename(&tmp, dir.join(name))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", dir.join(name).display()))
}

/// Creates `dir/name` with `bytes` only if it does not exist yet (hard link of a complete temp
/// file: no reader ever sees it half-written). Returns false if another writer got there first.
pub(crate) fn create_atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<bool> {
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

pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Size caps for what the helper reads: an entry (a record of a few KiB; a 1 MiB secret fits),
/// a key file (64 hex characters), the base's own records, a cached token.
pub(crate) const ENTRY_LIMIT: u64 = 8 << 20;
pub(crate) const KEY_LIMIT: u64 = 1024;
pub(crate) const META_LIMIT: u64 = 64 << 10;
pub(crate) const TOKEN_LIMIT: u64 = 1 << 20;

/// Whether the last component of a path may be a symbolic link.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Links {
    /// A file in the helper's own store or cache directories: a link there was planted.
    Refuse,
    /// A file the operator named (a key, password, CA or subject-token file), which Kubernetes
    /// mounts as `name -> ..data/name`.
    Follow,
}

/// Opens for reading without blocking on a FIFO or device (and, with [`Links::Refuse`], without
/// following a symbolic link), and checks on the open descriptor that it is a regular file.
fn open_regular(path: &Path, write: bool, create: bool, links: Links) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(write).create(create);
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        let flags = match links {
            Links::Refuse => OFlags::NOFOLLOW | OFlags::NONBLOCK,
            Links::Follow => OFlags::NONBLOCK,
        };
        o.custom_flags(flags.bits() as i32);
        o.mode(0o600);
    }
    let file = o.open(path).map_err(|e| {
        // O_NOFOLLOW on a link fails with ELOOP: say what it is.
        if links == Links::Refuse && e.kind() != std::io::ErrorKind::NotFound && is_symlink(path) {
            std::io::Error::other("it is a symbolic link, which the helper never follows")
        } else {
            e
        }
    })?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other(
            "it is not a regular file (a FIFO, device or directory)",
        ));
    }
    Ok(file)
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Sets the modification time of an empty marker file in the helper's own directories to `unix`
/// seconds, creating it (0600) if needed; never through a link, never a FIFO or device.
pub(crate) fn touch_marker(path: &Path, unix: u64) -> std::io::Result<()> {
    let file = open_regular(path, true, true, Links::Refuse)?;
    file.set_modified(std::time::UNIX_EPOCH + Duration::from_secs(unix))
}

/// The modification time (Unix seconds) of a marker file, `None` when absent or not a regular
/// file. One `lstat`: links are not followed.
pub(crate) fn marker_time(path: &Path) -> Option<u64> {
    let m = fs::symlink_metadata(path).ok().filter(|m| m.is_file())?;
    m.modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// Reads a file in the helper's own store or cache directories, trusted only as far as it checks:
/// a regular file, not through a link, at most `limit` bytes (zeroized after use: it may hold a
/// key). `Ok(None)` when absent.
pub(crate) fn read_regular(path: &Path, limit: u64) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    read_capped(path, limit, Links::Refuse)
}

/// Reads a file the operator named by its path (an environment variable, a flag, a URL parameter,
/// a record added by the operator): symbolic links are followed, as a Kubernetes Secret,
/// ConfigMap or projected volume mounts every file as `name -> ..data/name`; what the path
/// reaches must still be a regular file (checked on the open descriptor) of at most `limit`
/// bytes, opened without blocking. `Ok(None)` when absent (a dangling link included).
pub(crate) fn read_operator_file(
    path: &Path,
    limit: u64,
) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    read_capped(path, limit, Links::Follow)
}

fn read_capped(
    path: &Path,
    limit: u64,
    links: Links,
) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    let file = match open_regular(path, false, false, links) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    if len > limit {
        return Err(std::io::Error::other(format!(
            "it is larger than {limit} bytes, too large for what it should hold"
        )));
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(len as usize + 1));
    file.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "it is larger than {limit} bytes, too large for what it should hold"
        )));
    }
    Ok(Some(buf))
}

/// Opens (creating, 0600; never through a link) and exclusively locks `path`, waiting at most
/// `timeout` for another holder. The lock goes with the returned file (or the process).
pub(crate) fn lock_file(path: &Path, timeout: Duration) -> anyhow::Result<File> {
    let file = open_regular(path, true, true, Links::Refuse)
        .with_context(|| format!("cannot open lock {}", path.display()))?;
    let end = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < end => {
                std::thread::sleep(pause.min(end.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                anyhow::bail!(
                    "waited {} s for the lock {} (another process holds it; BETA9_TIMEOUT bounds the wait)",
                    crate::duration::secs(timeout),
                    path.display()
                )
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

/// An exclusive advisory lock on `dir/.lock`, released on drop (or when the process dies).
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path, timeout: Duration) -> anyhow::Result<DirLock> {
        ensure_dir(dir)?;
        Ok(DirLock {
            _file: lock_file(&dir.join(LOCK_NAME), timeout)?,
        })
    }

    /// Removes temp files left by writers that died mid-write. Only safe while holding the lock.
    pub(crate) fn sweep_temp_files(&self, dir: &Path) {
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }
}

/// Why a directory must not be used: owned by another user (other than root), or writable by
/// others (they could plant files or links in it). `None` when it is fine or absent.
pub(crate) fn untrusted_dir(dir: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let m = fs::symlink_metadata(dir).ok()?;
        if m.file_type().is_symlink() {
            // A link is followed only to check its target; the target must pass too.
            return untrusted_dir(&fs::canonicalize(dir).ok()?);
        }
        if !m.is_dir() {
            // Not a directory: creating anything in it fails on its own, with its own error.
            return None;
        }
        let me = rustix::process::geteuid().as_raw();
        if m.uid() != me && m.uid() != 0 {
            return Some(format!("it is owned by another user (uid {})", m.uid()));
        }
        let mode = m.mode() & 0o7777;
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Some(format!(
                "others can write to it (mode {:04o})",
                mode & 0o777
            ));
        }
        None
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Group/other permission bits of a path, if any are set (a key or store others can read).
pub(crate) fn loose_mode(path: &Path) -> Option<u32> {
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
        let _l = DirLock::acquire(&dir, Duration::from_secs(1)).unwrap();
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
    #[cfg(unix)]
    fn reads_refuse_links_fifos_devices_and_huge_files() {
        let t = tempfile::tempdir().unwrap();
        write_atomic(t.path(), "real", b"data").unwrap();
        assert_eq!(
            read_regular(&t.path().join("real"), 10)
                .unwrap()
                .unwrap()
                .as_slice(),
            b"data"
        );
        assert!(read_regular(&t.path().join("absent"), 10)
            .unwrap()
            .is_none());
        std::os::unix::fs::symlink(t.path().join("real"), t.path().join("link")).unwrap();
        let e = read_regular(&t.path().join("link"), 10).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            t.path().join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Would block forever without O_NONBLOCK.
        let e = read_regular(&t.path().join("fifo"), 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = read_regular(Path::new("/dev/zero"), 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read_regular(&t.path().join("real"), 3).is_err());
        // A lock file that is a link is never created through.
        std::os::unix::fs::symlink(t.path().join("elsewhere"), t.path().join(".lock")).unwrap();
        assert!(DirLock::acquire(t.path(), Duration::from_secs(1)).is_err());
        assert!(!t.path().join("elsewhere").exists());
    }

    /// What a kubelet writes for a Secret, ConfigMap or projected volume: the files in a
    /// timestamped directory, `..data` linked to it, and each name linked through `..data`.
    #[cfg(unix)]
    fn kubelet_volume(dir: &Path, files: &[(&str, &[u8])]) {
        let stamp = "..2026_12_06_22_58_10.123456789";
        ensure_dir(&dir.join(stamp)).unwrap();
        for (name, bytes) in files {
            write_atomic(&dir.join(stamp), name, bytes).unwrap();
            std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
        }
        std::os::unix::fs::symlink(stamp, dir.join("..data")).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn operator_files_are_read_through_kubelet_links_but_stay_regular_and_capped() {
        let t = tempfile::tempdir().unwrap();
        kubelet_volume(t.path(), &[("key", b"data")]);
        let key = t.path().join("key");
        assert_eq!(
            read_operator_file(&key, 10).unwrap().unwrap().as_slice(),
            b"data"
        );
        // The helper's own reader still refuses the same link.
        let e = read_regular(&key, 10).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // Through a link: still capped, still no FIFO or device.
        assert!(read_operator_file(&key, 3).is_err());
        rustix::fs::mknodat(
            rustix::fs::CWD,
            t.path().join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        std::os::unix::fs::symlink(t.path().join("fifo"), t.path().join("to-fifo")).unwrap();
        let e = read_operator_file(&t.path().join("to-fifo"), 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        std::os::unix::fs::symlink("/dev/zero", t.path().join("to-zero")).unwrap();
        let e = read_operator_file(&t.path().join("to-zero"), 10).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        // A dangling link is an absent file.
        std::os::unix::fs::symlink("..data/gone", t.path().join("gone")).unwrap();
        assert!(read_operator_file(&t.path().join("gone"), 10)
            .unwrap()
            .is_none());
    }

    #[test]
    fn lock_waits_are_bounded() {
        let t = tempfile::tempdir().unwrap();
        let _held = DirLock::acquire(t.path(), Duration::from_secs(1)).unwrap();
        let start = Instant::now();
        let e = DirLock::acquire(t.path(), Duration::from_millis(200))
            .err()
            .unwrap();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(format!("{e:#}").contains("waited"), "{e:#}");
    }

    #[test]
    fn create_atomic_never_replaces() {
        let t = tempfile::tempdir().unwrap();
        assert!(create_atomic(t.path(), "k", b"first").unwrap());
        assert!(!create_atomic(t.path(), "k", b"second").unwrap());
        assert_eq!(fs::read(t.path().join("k")).unwrap(), b"first");
    }
}
