//! When each entry was last answered by `get` (docs/storage.md, "Last use"): the modification
//! time of an empty side file `.used-<secret name>` beside the entry in the local store. `get`
//! looks at it with one `lstat` and rewrites its time only when the recorded use is older than
//! the interval, so a hot `get` pays one system call; the sealed entry is never rewritten, no
//! lock is taken, and a marker that cannot be written never fails the `get`.

use crate::fsutil;
use crate::secret_name::SecretName;
use std::path::{Path, PathBuf};

/// The side file's prefix: hidden, and never taken for an entry (`oci-creds-…`) or a temp file.
pub(crate) const PREFIX: &str = ".used-";

fn marker(dir: &Path, name: &SecretName) -> PathBuf {
    dir.join(format!("{PREFIX}{name}"))
}

/// Records a use at `now` unless one within `interval` seconds is recorded already.
pub(crate) fn touch(dir: &Path, name: &SecretName, now: u64, interval: u64) {
    let path = marker(dir, name);
    if fsutil::marker_time(&path).is_some_and(|t| t.saturating_add(interval) > now) {
        return;
    }
    if let Err(e) = fsutil::touch_marker(&path, now) {
        tracing::debug!(entry = %name, error = %e, "last use not recorded");
    }
}

/// The last recorded use, Unix seconds.
pub(crate) fn last_used(dir: &Path, name: &SecretName) -> Option<u64> {
    fsutil::marker_time(&marker(dir, name))
}

/// Drops the marker of an entry that was deleted (absent is fine).
pub(crate) fn forget(dir: &Path, name: &SecretName) {
    let _ = std::fs::remove_file(marker(dir, name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_is_recorded_at_most_once_per_interval_and_never_fails() {
        let dir = tempfile::tempdir().unwrap();
        let name = SecretName::derive("ghcr.io");
        assert_eq!(last_used(dir.path(), &name), None);
        touch(dir.path(), &name, 1_000_000, 3600);
        assert_eq!(last_used(dir.path(), &name), Some(1_000_000));
        touch(dir.path(), &name, 1_003_599, 3600);
        assert_eq!(
            last_used(dir.path(), &name),
            Some(1_000_000),
            "within the interval"
        );
        touch(dir.path(), &name, 1_003_600, 3600);
        assert_eq!(last_used(dir.path(), &name), Some(1_003_600));
        let meta = std::fs::metadata(marker(dir.path(), &name)).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
        assert_eq!(meta.len(), 0);
        forget(dir.path(), &name);
        assert_eq!(last_used(dir.path(), &name), None);
        // A directory that is not there: nothing happens, nothing fails.
        touch(&dir.path().join("gone"), &name, 1, 1);
        // A planted link is not followed.
        let target = dir.path().join("target");
        std::os::unix::fs::symlink(&target, marker(dir.path(), &name)).unwrap();
        touch(dir.path(), &name, 5_000_000, 1);
        assert!(!target.exists());
        assert_eq!(last_used(dir.path(), &name), None);
    }
}
