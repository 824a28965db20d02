//! The token cache a workspace opens: its local file cache, with the fleet's shared cache behind
//! it when one is configured. The context only calls [`open`].

use super::file::FileTokenCache;
use super::fleet::{
    FileSkipMarker, Layered, NoSkipMarker, Settings, SharedTokens, SkipMarker, SystemPace,
};
use super::redis::RedisStore;
use super::{NoTokenCache, TokenCache};
use crate::error::Result;
use crate::fsutil;
use crate::seal::Key;
use crate::settings::Settings as EnvSettings;
use std::path::PathBuf;

/// The workspace's token cache in `dir`, sealed with the key `key` gives (asked only when the
/// file cache is used). A cache directory another user owns or others can write to is not used
/// (a shared `BETA9_CACHE_DIR` on a node): tokens are minted without caching, with a note. With
/// `BETA9_TOKEN_CACHE_URL`, the fleet's shared cache sits behind the local one (connected only on
/// a local miss).
pub(crate) fn open(
    settings: &EnvSettings,
    dir: PathBuf,
    workspace: &str,
    key: impl FnOnce() -> Result<Key>,
    note: &dyn Fn(String),
) -> Result<Box<dyn TokenCache>> {
    let budget = settings.timeout();
    let untrusted = untrusted_cache_dir(&dir);
    let local: Box<dyn TokenCache> = match &untrusted {
        Some(why) => {
            note(format!(
                "warning: not using the token cache {}: {why}; tokens are minted without caching",
                dir.display()
            ));
            Box::new(NoTokenCache)
        }
        None => Box::new(FileTokenCache::new(dir.clone(), workspace, key()?, budget)),
    };
    let cache = match settings.token_cache_url() {
        None => local,
        Some(url) => match RedisStore::new(url, settings.token_cache_ca_file(), budget) {
            Ok(store) => {
                let marker: Box<dyn SkipMarker> = match untrusted {
                    Some(_) => Box::new(NoSkipMarker),
                    None => Box::new(FileSkipMarker::new(dir)),
                };
                let shared = SharedTokens::new(
                    Box::new(store),
                    marker,
                    Box::new(SystemPace::new()),
                    Settings::new(budget),
                );
                Box::new(Layered::new(local, shared))
            }
            Err(why) => {
                note(format!("warning: not using the shared token cache: {why}"));
                local
            }
        },
    };
    Ok(cache)
}

/// The cache directory, or the nearest existing parent it would be created in, must be trusted.
fn untrusted_cache_dir(dir: &std::path::Path) -> Option<String> {
    let existing = dir.ancestors().find(|p| p.exists())?;
    fsutil::untrusted_dir(existing)
}
