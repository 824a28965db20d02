//! Where things live: the store, the generated key, the token cache. All derived from the
//! variables [`Dirs`] carries, which the settings read (src/settings.rs: nothing here reads the
//! environment); directories are created 0700 by [`crate::fsutil`] on first write.

use crate::env;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

const APP: &str = "docker-credential-beta9";

/// The variables that place the store, the generated key and the token cache, as the settings
/// hand them down (`Settings::dirs`); each `None` when unset or empty.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Dirs {
    /// `BETA9_CREDENTIALS_DIR`
    pub credentials_dir: Option<PathBuf>,
    /// `BETA9_CACHE_DIR`
    pub cache_dir: Option<PathBuf>,
    /// `XDG_DATA_HOME`
    pub xdg_data_home: Option<PathBuf>,
    /// `XDG_CONFIG_HOME`
    pub xdg_config_home: Option<PathBuf>,
    /// `XDG_CACHE_HOME`
    pub xdg_cache_home: Option<PathBuf>,
    /// `HOME`
    pub home: Option<PathBuf>,
}
pub const DEFAULT_WORKSPACE: &str = "default";
/// Name of the generated master key inside the config dir.
pub(crate) const KEY_FILE_NAME: &str = "master.key";

/// `$HOME`, or an error naming what could not be located and every variable that would locate it
/// (a kubelet under systemd often runs with no HOME).
fn home(dirs: &Dirs, what: &str, vars: &[&str]) -> Result<PathBuf> {
    dirs.home.clone().ok_or_else(|| {
        Error::Invalid(format!(
            "cannot locate {what}: HOME is not set; set {} or HOME",
            vars.join(", ")
        ))
    })
}

/// Base of the store: `$BETA9_CREDENTIALS_DIR`, else `$XDG_DATA_HOME/docker-credential-beta9`,
/// else `~/.local/share/docker-credential-beta9`.
pub(crate) fn data_base(dirs: &Dirs) -> Result<PathBuf> {
    if let Some(p) = dirs.credentials_dir.clone() {
        return Ok(absolute(p));
    }
    default_data_base(dirs)
}

/// The store base when `BETA9_CREDENTIALS_DIR` is not set.
fn default_data_base(dirs: &Dirs) -> Result<PathBuf> {
    if let Some(p) = dirs.xdg_data_home.clone().filter(|p| p.is_absolute()) {
        return Ok(p.join(APP));
    }
    let vars = [env::CREDENTIALS_DIR, env::XDG_DATA_HOME];
    Ok(home(dirs, "the store", &vars)?
        .join(".local/share")
        .join(APP))
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

/// Which store base a generated key belongs to: `None` for the default base (its key keeps the
/// historical name `master.key`), else 16 hex characters of SHA-256 over the base's absolute path.
/// A key belongs to what it seals: rotating one base's key never touches another's.
pub(crate) fn base_id(dirs: &Dirs) -> Result<Option<String>> {
    let Some(explicit) = dirs.credentials_dir.clone() else {
        return Ok(None);
    };
    let explicit = absolute(explicit);
    if default_data_base(dirs).is_ok_and(|d| absolute(d) == explicit) {
        return Ok(None);
    }
    let digest = Sha256::digest(explicit.as_os_str().as_encoded_bytes());
    Ok(Some(hex::encode(&digest[..8])))
}

/// `$XDG_CONFIG_HOME/docker-credential-beta9`, else `~/.config/docker-credential-beta9`
/// (docs/storage.md, "Key sources"): the generated key lives apart from the data it protects.
pub(crate) fn config_dir(dirs: &Dirs) -> Result<PathBuf> {
    if let Some(p) = dirs.xdg_config_home.clone().filter(|p| p.is_absolute()) {
        return Ok(p.join(APP));
    }
    let vars = [env::CREDENTIALS_KEY_FILE, env::XDG_CONFIG_HOME];
    Ok(home(dirs, "the generated key", &vars)?
        .join(".config")
        .join(APP))
}

/// The generated key of this store base: `master.key` for the default base, else
/// `stores/<base id>.key` beside it (see [`base_id`]).
pub(crate) fn generated_key_file(dirs: &Dirs) -> Result<PathBuf> {
    let dir = config_dir(dirs)?;
    Ok(match base_id(dirs)? {
        None => dir.join(KEY_FILE_NAME),
        Some(id) => dir.join("stores").join(format!("{id}.key")),
    })
}

/// The key every store base shared before keys were tied to their base (`master.key`): a custom
/// base that has no key of its own yet may adopt it, if it provably sealed that base.
pub(crate) fn legacy_shared_key_file(dirs: &Dirs) -> Result<Option<PathBuf>> {
    Ok(match base_id(dirs)? {
        None => None,
        Some(_) => Some(config_dir(dirs)?.join(KEY_FILE_NAME)),
    })
}

/// Token cache: `$BETA9_CACHE_DIR`; with an explicit store dir, `<store>/cache` (a throwaway store
/// keeps its cache with it); else `$XDG_CACHE_HOME/docker-credential-beta9`, else `~/.cache/...`.
pub(crate) fn cache_dir(dirs: &Dirs, workspace: &str) -> Result<PathBuf> {
    let base = if let Some(p) = dirs.cache_dir.clone() {
        p
    } else if let Some(p) = dirs.credentials_dir.clone() {
        p.join("cache")
    } else if let Some(p) = dirs.xdg_cache_home.clone().filter(|p| p.is_absolute()) {
        p.join(APP)
    } else {
        let vars = [env::CACHE_DIR, env::XDG_CACHE_HOME];
        home(dirs, "the token cache", &vars)?
            .join(".cache")
            .join(APP)
    };
    Ok(base.join(workspace))
}

/// Local copies of a shared store's entries (`BETA9_STORE_URL`): `<cache base>/.shared-store/<id>`,
/// `id` naming the database. A dot name, so no workspace's token cache can be it.
pub(crate) fn shared_store_copies(dirs: &Dirs, id: &str) -> Result<PathBuf> {
    Ok(cache_dir(dirs, ".shared-store")?.join(id))
}

/// A workspace name becomes a directory name and key-derivation input: keep it plain.
pub(crate) fn validate_workspace(name: &str) -> Result<()> {
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
    use crate::env::Env;
    use crate::settings::Settings;

    fn dirs_of<const N: usize>(pairs: [(&str, &str); N]) -> Dirs {
        Settings::new(&Env::from_pairs(pairs)).dirs().clone()
    }

    #[test]
    fn explicit_dir_wins_then_xdg_then_home() {
        let e = dirs_of([("BETA9_CREDENTIALS_DIR", "/s"), ("HOME", "/h")]);
        assert_eq!(data_base(&e).unwrap(), PathBuf::from("/s"));
        assert_eq!(cache_dir(&e, "w").unwrap(), PathBuf::from("/s/cache/w"));
        let e = dirs_of([("XDG_DATA_HOME", "/x"), ("HOME", "/h")]);
        assert_eq!(
            data_base(&e).unwrap(),
            PathBuf::from("/x/docker-credential-beta9")
        );
        let e = dirs_of([("HOME", "/h")]);
        assert_eq!(
            data_base(&e).unwrap(),
            PathBuf::from("/h/.local/share/docker-credential-beta9")
        );
        assert_eq!(
            generated_key_file(&e).unwrap(),
            PathBuf::from("/h/.config/docker-credential-beta9/master.key")
        );
        assert!(data_base(&Dirs::default()).is_err());
    }

    #[test]
    fn each_store_base_has_its_own_generated_key() {
        let home = ("HOME", "/h");
        let default = dirs_of([home]);
        let a = dirs_of([home, ("BETA9_CREDENTIALS_DIR", "/a")]);
        let b = dirs_of([home, ("BETA9_CREDENTIALS_DIR", "/b")]);
        let same_as_default = dirs_of([
            home,
            (
                "BETA9_CREDENTIALS_DIR",
                "/h/.local/share/docker-credential-beta9",
            ),
        ]);
        let ka = generated_key_file(&a).unwrap();
        assert_ne!(ka, generated_key_file(&b).unwrap());
        assert_ne!(ka, generated_key_file(&default).unwrap());
        assert!(ka.starts_with("/h/.config/docker-credential-beta9/stores/"));
        assert_eq!(
            generated_key_file(&same_as_default).unwrap(),
            generated_key_file(&default).unwrap()
        );
        assert_eq!(
            legacy_shared_key_file(&a).unwrap(),
            Some(PathBuf::from(
                "/h/.config/docker-credential-beta9/master.key"
            ))
        );
        assert_eq!(legacy_shared_key_file(&default).unwrap(), None);
    }

    #[test]
    fn a_missing_home_names_what_is_missing() {
        // The kubelet under systemd: the store dir is set, the key location is not.
        let e = dirs_of([("BETA9_CREDENTIALS_DIR", "/s")]);
        assert!(data_base(&e).is_ok());
        let err = generated_key_file(&e).unwrap_err().to_string();
        assert!(
            err.contains("cannot locate the generated key")
                && err.contains("BETA9_CREDENTIALS_KEY_FILE"),
            "{err}"
        );
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
