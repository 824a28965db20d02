//! Where things live: the store, the generated key, the token cache. All derived from an [`Env`]
//! snapshot; directories are created 0700 by [`crate::fsutil`] on first write.

use crate::env::{self, Env};
use crate::error::{Error, Result};
use std::path::PathBuf;

const APP: &str = "docker-credential-beta9";
pub const DEFAULT_WORKSPACE: &str = "default";
/// Name of the generated master key inside the config dir.
pub const KEY_FILE_NAME: &str = "master.key";

fn home(env: &Env) -> Result<PathBuf> {
    env.path(env::HOME).ok_or_else(|| {
        Error::Invalid(format!(
            "cannot locate the store: set {} or HOME",
            env::CREDENTIALS_DIR
        ))
    })
}

/// Base of the store: `$BETA9_CREDENTIALS_DIR`, else `$XDG_DATA_HOME/docker-credential-beta9`,
/// else `~/.local/share/docker-credential-beta9`.
pub fn data_base(env: &Env) -> Result<PathBuf> {
    if let Some(p) = env.path(env::CREDENTIALS_DIR) {
        return Ok(p);
    }
    if let Some(p) = env.path(env::XDG_DATA_HOME).filter(|p| p.is_absolute()) {
        return Ok(p.join(APP));
    }
    Ok(home(env)?.join(".local/share").join(APP))
}

/// One directory per workspace, so workspaces never see each other's entries.
pub fn store_dir(env: &Env, workspace: &str) -> Result<PathBuf> {
    Ok(data_base(env)?.join("workspaces").join(workspace))
}

/// `$XDG_CONFIG_HOME/docker-credential-beta9`, else `~/.config/docker-credential-beta9`
/// (docs/storage.md, "Key sources"): the generated key lives apart from the data it protects.
pub fn config_dir(env: &Env) -> Result<PathBuf> {
    if let Some(p) = env.path(env::XDG_CONFIG_HOME).filter(|p| p.is_absolute()) {
        return Ok(p.join(APP));
    }
    Ok(home(env)?.join(".config").join(APP))
}

pub fn generated_key_file(env: &Env) -> Result<PathBuf> {
    Ok(config_dir(env)?.join(KEY_FILE_NAME))
}

/// Token cache: `$BETA9_CACHE_DIR`; with an explicit store dir, `<store>/cache` (a throwaway store
/// keeps its cache with it); else `$XDG_CACHE_HOME/docker-credential-beta9`, else `~/.cache/...`.
pub fn cache_dir(env: &Env, workspace: &str) -> Result<PathBuf> {
    let base = if let Some(p) = env.path(env::CACHE_DIR) {
        p
    } else if let Some(p) = env.path(env::CREDENTIALS_DIR) {
        p.join("cache")
    } else if let Some(p) = env.path(env::XDG_CACHE_HOME).filter(|p| p.is_absolute()) {
        p.join(APP)
    } else {
        home(env)?.join(".cache").join(APP)
    };
    Ok(base.join(workspace))
}

/// A workspace name becomes a directory name and key-derivation input: keep it plain.
pub fn validate_workspace(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid workspace name {name:?}: use 1-64 letters, digits, '-', '_' or '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_dir_wins_then_xdg_then_home() {
        let e = Env::from_pairs([("BETA9_CREDENTIALS_DIR", "/s"), ("HOME", "/h")]);
        assert_eq!(
            store_dir(&e, "default").unwrap(),
            PathBuf::from("/s/workspaces/default")
        );
        assert_eq!(cache_dir(&e, "w").unwrap(), PathBuf::from("/s/cache/w"));
        let e = Env::from_pairs([("XDG_DATA_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(
            data_base(&e).unwrap(),
            PathBuf::from("/x/docker-credential-beta9")
        );
        let e = Env::from_pairs([("HOME", "/h")]);
        assert_eq!(
            data_base(&e).unwrap(),
            PathBuf::from("/h/.local/share/docker-credential-beta9")
        );
        assert_eq!(
            generated_key_file(&e).unwrap(),
            PathBuf::from("/h/.config/docker-credential-beta9/master.key")
        );
        assert!(data_base(&Env::default()).is_err());
    }

    #[test]
    fn workspace_names_are_plain() {
        assert!(validate_workspace("default").is_ok());
        assert!(validate_workspace("team-a_1.prod").is_ok());
        for bad in ["", "..", "../x", "a/b", ".hidden", "x y"] {
            assert!(validate_workspace(bad).is_err(), "{bad}");
        }
    }
}
