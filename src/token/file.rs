//! The per-machine token cache: one file per cache key in the workspace's cache directory, sealed
//! with the store's key (purpose `token-cache`), refreshed under a per-key file lock so many
//! concurrent cold `get`s make one upstream call. Written atomically but not flushed: it is only a
//! cache, and a file a crash damaged is a miss.

use super::{CachedToken, Guard, TokenCache};
use crate::error::Result;
use crate::fsutil;
use crate::seal::{self, Key, Purpose};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::Duration;

const PREFIX: &str = "tok-";
const LOCK_SUFFIX: &str = ".lock";

pub(crate) struct FileTokenCache {
    dir: PathBuf,
    workspace: String,
    key: Key,
    /// How long to wait for another process refreshing the same token (`BETA9_TIMEOUT`).
    lock_timeout: Duration,
}

impl FileTokenCache {
    pub(crate) fn new(
        dir: PathBuf,
        workspace: &str,
        key: Key,
        lock_timeout: Duration,
    ) -> FileTokenCache {
        FileTokenCache {
            dir,
            workspace: workspace.to_string(),
            key,
            lock_timeout,
        }
    }

    /// File name for a cache key: a hash, so names reveal neither registries nor key material.
    fn file_name(cache_key: &str) -> String {
        let digest = Sha256::digest(cache_key.as_bytes());
        format!("{PREFIX}{}", hex::encode(&digest[..16]))
    }

    /// Is this a name this cache made (`tok-<32 hex>` or its lock)? Only those are ever deleted.
    fn is_ours(name: &str) -> bool {
        let body = name.strip_suffix(LOCK_SUFFIX).unwrap_or(name);
        body.strip_prefix(PREFIX).is_some_and(|h| {
            h.len() == 32
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    }
}

impl TokenCache for FileTokenCache {
    fn read(&self, cache_key: &str) -> Option<CachedToken> {
        let name = Self::file_name(cache_key);
        let sealed = fsutil::read_regular(&self.dir.join(&name), fsutil::TOKEN_LIMIT).ok()??;
        let plain = seal::open(
            &self.key,
            Purpose::TokenCache,
            &self.workspace,
            &name,
            &sealed,
        );
        match plain {
            Ok(p) => CachedToken::from_json(p.as_slice()),
            Err(e) => {
                tracing::debug!(file = %name, error = ?e, "ignoring unreadable cache file");
                None
            }
        }
    }

    fn write(&self, cache_key: &str, token: &CachedToken) -> Result<()> {
        let name = Self::file_name(cache_key);
        fsutil::ensure_dir(&self.dir)?;
        let plain = token.to_json();
        let sealed = seal::seal(
            &self.key,
            Purpose::TokenCache,
            &self.workspace,
            &name,
            plain.as_slice(),
        )?;
        // Without fsync: a file a crash left torn fails to open, which is a miss. A token is only
        // a cache, and the flush would be most of a `get` served from the fleet's cache.
        fsutil::write_atomic_unsynced(&self.dir, &name, &sealed)?;
        Ok(())
    }

    fn lock(&self, cache_key: &str) -> Result<Guard> {
        fsutil::ensure_dir(&self.dir)?;
        let path = self
            .dir
            .join(format!("{}{LOCK_SUFFIX}", Self::file_name(cache_key)));
        Ok(Guard::new(fsutil::lock_file(&path, self.lock_timeout)?))
    }

    fn clear(&self) -> Result<usize> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(anyhow::anyhow!("cannot list {}: {e}", self.dir.display()).into()),
        };
        let mut removed = 0;
        for e in entries.flatten() {
            let ours = e.file_name().to_str().is_some_and(Self::is_ours);
            let regular = e.file_type().is_ok_and(|t| t.is_file());
            if ours && regular && std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The token file only: its lock file may be held by a `get` minting right now, and deleting
    /// it would let a second process take the lock beside the first.
    fn remove(&self, cache_key: &str) -> Result<bool> {
        let path = self.dir.join(Self::file_name(cache_key));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(anyhow::anyhow!("cannot remove {}: {e}", path.display()).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::{ExposeSecret, SecretString};

    #[test]
    fn tokens_round_trip_sealed_and_clear_removes_only_ours() {
        let t = tempfile::tempdir().unwrap();
        let c = FileTokenCache::new(
            t.path().to_path_buf(),
            "default",
            Key::from_bytes([1; 32]),
            Duration::from_secs(1),
        );
        let tok = CachedToken {
            username: "AWS".into(),
            secret: SecretString::from("CANARY-tok"),
            expires_at: 10,
            fetched_at: 5,
            origin: crate::token::Origin::Minted,
        };
        c.write("ecr\0k", &tok).unwrap();
        drop(c.lock("ecr\0k").unwrap());
        assert_eq!(
            c.read("ecr\0k").unwrap().secret.expose_secret(),
            "CANARY-tok"
        );
        assert!(c.read("other").is_none());
        fsutil::write_atomic(t.path(), "notes.txt", b"keep").unwrap();
        fsutil::ensure_dir(&t.path().join("tok-dir")).unwrap();
        assert_eq!(c.clear().unwrap(), 2, "the token and its lock");
        assert!(t.path().join("notes.txt").exists() && t.path().join("tok-dir").exists());
        assert!(c.read("ecr\0k").is_none());
    }
}
