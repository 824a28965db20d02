//! Where each client family looks for its config files (docs/clients.md, "Config files"): docker's
//! config.json, the containers tools' auth files in order, go-containerregistry's one file. The
//! variables that place them come from the settings (src/settings.rs); the order is this file's.

use crate::settings::Settings;
use std::path::{Path, PathBuf};

/// `statfs` type of tmpfs (linux/magic.h): a primary auth file there is lost at reboot.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (docker/cli `cli/config`); `None`
/// without either variable.
pub fn docker_config_path(settings: &Settings) -> Option<PathBuf> {
    if let Some(dir) = settings.docker_config() {
        return Some(dir.join("config.json"));
    }
    settings.home().map(|h| h.join(".docker/config.json"))
}

/// The real user id (containers/image names `/run/containers/$UID` after it).
pub fn real_uid() -> u32 {
    #[cfg(unix)]
    {
        rustix::process::getuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Why a file is the containers tools' primary auth file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrimarySource {
    RegistryAuthFile,
    XdgRuntimeDir,
    RunContainers,
}

/// The primary auth file: the one `podman login` writes, and the only one whose `credHelpers` it
/// consults for `login`/`logout` (docs/clients.md, "containers/image auth files").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Primary {
    pub path: PathBuf,
    pub source: PrimarySource,
}

/// `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`, else
/// `/run/containers/$UID/auth.json` (containers/image `getPathToAuthWithOS`).
pub fn containers_primary(settings: &Settings, uid: u32) -> Primary {
    if let Some(p) = settings.registry_auth_file() {
        return Primary {
            path: p,
            source: PrimarySource::RegistryAuthFile,
        };
    }
    if let Some(dir) = settings.xdg_runtime_dir() {
        return Primary {
            path: dir.join("containers/auth.json"),
            source: PrimarySource::XdgRuntimeDir,
        };
    }
    Primary {
        path: PathBuf::from(format!("/run/containers/{uid}/auth.json")),
        source: PrimarySource::RunContainers,
    }
}

/// `$XDG_RUNTIME_DIR` is set to a directory that does not exist: the containers tools refuse to
/// log in (containers/image checks it), so their primary file is unusable.
pub fn missing_runtime_dir(settings: &Settings) -> Option<PathBuf> {
    if settings.registry_auth_file().is_some() {
        return None;
    }
    settings
        .xdg_runtime_dir()
        .filter(|d| std::fs::symlink_metadata(d).is_err())
}

/// Is `path` (or the nearest directory above it that exists) on a tmpfs, which a reboot empties?
pub fn on_tmpfs(path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Some(existing) = path.ancestors().find(|p| p.exists()) else {
            return false;
        };
        // `f_type`'s integer type differs between architectures.
        #[allow(clippy::unnecessary_cast)]
        let tmpfs = rustix::fs::statfs(existing).is_ok_and(|s| s.f_type as i64 == TMPFS_MAGIC);
        tmpfs
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (path, TMPFS_MAGIC);
        false
    }
}

/// One file the containers tools read, and whether it is docker's legacy `~/.dockercfg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthPath {
    pub path: PathBuf,
    pub legacy: bool,
}

/// Every file the containers tools read, in order: the primary file, `$XDG_CONFIG_HOME` (else
/// `~/.config`)`/containers/auth.json`, docker's config.json, `~/.dockercfg`.
pub fn containers_files(settings: &Settings, uid: u32) -> Vec<AuthPath> {
    let mut out = vec![AuthPath {
        path: containers_primary(settings, uid).path,
        legacy: false,
    }];
    let config_home = settings
        .xdg_config_home()
        .or_else(|| settings.home().map(|h| h.join(".config")));
    if let Some(dir) = config_home {
        out.push(AuthPath {
            path: dir.join("containers/auth.json"),
            legacy: false,
        });
    }
    if let Some(p) = docker_config_path(settings) {
        out.push(AuthPath {
            path: p,
            legacy: false,
        });
    }
    if let Some(h) = settings.home() {
        out.push(AuthPath {
            path: h.join(".dockercfg"),
            legacy: true,
        });
    }
    // REGISTRY_AUTH_FILE may name one of the others: read once.
    let mut seen = Vec::new();
    out.retain(|a| {
        let new = !seen.contains(&a.path);
        seen.push(a.path.clone());
        new
    });
    out
}

/// What the file that go-containerregistry reads is: docker's config.json if it exists, else
/// `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json` (`authn.DefaultKeychain`).
pub fn ggcr_file(settings: &Settings) -> Option<PathBuf> {
    let home_cfg = settings.home().map(|h| h.join(".docker/config.json"));
    if home_cfg.as_ref().is_some_and(|p| p.is_file()) {
        // It then loads `$DOCKER_CONFIG/config.json` if that is set (docker's config.Load).
        return docker_config_path(settings);
    }
    let docker = settings
        .docker_config()
        .map(|d| d.join("config.json"))
        .filter(|p| p.is_file());
    docker
        .or_else(|| settings.registry_auth_file().filter(|p| p.is_file()))
        .or_else(|| {
            settings
                .xdg_runtime_dir()
                .map(|d| d.join("containers/auth.json"))
                .filter(|p| p.is_file())
        })
}
