//! `configure-docker`: route registries to this helper in docker's config.json (and, asked,
//! containers' auth.json) through `credHelpers` entries.
//!
//! Keys (docs/clients.md, "Docker Hub keys"): docker and BuildKit look `credHelpers` up by exact key, Hub as
//! `https://index.docker.io/v1/`; containers/image (podman, skopeo, buildah) uses `docker.io`.
//! Other registries are `host[:port]` in both. Every other key of the file is kept byte for byte
//! (see `jsonfile`), the file's mode is kept, the write is atomic, the old file is kept as
//! `<name>.bak` (0600). A file that is not a JSON object is left untouched.

use super::diff;
use super::jsonfile::Document;
use super::outcome::{CmdResult, Failure};
use crate::actions;
use crate::context::Context;
use crate::env::{self, Env};
use crate::fsutil;
use crate::output::Output;
use crate::registry::{Registry, DOCKER_HUB, DOCKER_HUB_SERVER_URL};
use crate::secret::SecretBuf;
use std::path::{Path, PathBuf};

/// docker runs `docker-credential-<name>`.
pub const HELPER: &str = "beta9";
/// A client config is small; refuse to slurp anything huge.
const CONFIG_LIMIT: usize = 16 << 20;

pub const ABOUT: &str =
    "Add credHelpers entries for this helper to docker's (and containers') config";
pub const EXAMPLES: &str = "\
Examples:
  docker-credential-beta9 configure-docker --dry-run          # every stored registry, show the diff
  docker-credential-beta9 configure-docker ghcr.io nvcr.io --containers";

#[derive(clap::Args)]
pub struct ConfigureArgs {
    /// Registries to route to this helper (default: every registry in the store)
    #[arg(value_name = "REGISTRY")]
    pub registries: Vec<String>,
    /// docker's config file (default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json)
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print the change as a unified diff (values masked) and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also containers' auth.json ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json,
    /// else ~/.config/containers/auth.json) for podman, skopeo and buildah
    #[arg(long)]
    pub containers: bool,
}

/// Which client reads the file decides Hub's key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Docker,
    Containers,
}

pub fn run(ctx: &Context, args: &ConfigureArgs) -> CmdResult {
    let registries = target_registries(ctx, &args.registries)?;
    let mut out = Output::default();
    let docker_path = match &args.config {
        Some(p) => p.clone(),
        None => docker_config_path(&ctx.env)?,
    };
    configure(
        &docker_path,
        &registries,
        Dialect::Docker,
        args.dry_run,
        &mut out,
    )?;
    if args.containers {
        let path = containers_auth_path(&ctx.env)?;
        configure(
            &path,
            &registries,
            Dialect::Containers,
            args.dry_run,
            &mut out,
        )?;
    }
    Ok(out)
}

/// The named registries, else every registry in the store (repository-path keys by their host).
fn target_registries(ctx: &Context, named: &[String]) -> Result<Vec<Registry>, Failure> {
    let mut regs: Vec<Registry> = if named.is_empty() {
        actions::entries(ctx)?
            .into_iter()
            .filter_map(|e| Registry::from_server_url(e.record.registry.host()).ok())
            .collect()
    } else {
        named
            .iter()
            .map(|r| actions::registry_arg(r))
            .collect::<Result<_, _>>()?
    };
    regs.sort();
    regs.dedup();
    if regs.is_empty() {
        return Err(Failure::user(format!(
            "no registry named and none stored in workspace {}: name them (configure-docker ghcr.io) or add credentials first",
            ctx.workspace
        )));
    }
    Ok(regs)
}

fn helper_key(registry: &Registry, dialect: Dialect) -> String {
    match (registry.is_docker_hub(), dialect) {
        (true, Dialect::Docker) => DOCKER_HUB_SERVER_URL.to_string(),
        (true, Dialect::Containers) => DOCKER_HUB.to_string(),
        (false, _) => registry.host().to_string(),
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (docker/cli `cli/config`).
pub fn docker_config_path(env: &Env) -> Result<PathBuf, Failure> {
    if let Some(dir) = env.path(env::DOCKER_CONFIG) {
        return Ok(dir.join("config.json"));
    }
    Ok(home(env)?.join(".docker/config.json"))
}

/// `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`, else
/// `~/.config/containers/auth.json` (containers-auth.json(5)).
pub fn containers_auth_path(env: &Env) -> Result<PathBuf, Failure> {
    if let Some(p) = env.path(env::REGISTRY_AUTH_FILE) {
        return Ok(p);
    }
    if let Some(dir) = env.path(env::XDG_RUNTIME_DIR).filter(|p| p.is_absolute()) {
        return Ok(dir.join("containers/auth.json"));
    }
    Ok(home(env)?.join(".config/containers/auth.json"))
}

fn home(env: &Env) -> Result<PathBuf, Failure> {
    env.path(env::HOME)
        .ok_or_else(|| Failure::user("HOME is not set: pass --config PATH"))
}

/// Adds the entries to one file (or prints the diff), noting what happened.
fn configure(
    path: &Path,
    registries: &[Registry],
    dialect: Dialect,
    dry_run: bool,
    out: &mut Output,
) -> Result<(), Failure> {
    // Write through a symlink (dotfile managers link config.json), never replace the link.
    let path = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).map_err(|e| {
            Failure::user(format!("cannot follow the link {}: {e}", path.display()))
        })?,
        _ => path.to_path_buf(),
    };
    let shown = path.display().to_string();
    let untouched = |why: String| {
        Failure::user(format!(
            "cannot update {shown}: {why}; the file was left untouched"
        ))
    };
    let old = read_existing(&path).map_err(untouched)?;
    let old_text = match &old {
        Some((bytes, _)) => {
            std::str::from_utf8(bytes.as_slice()).map_err(|_| untouched("not UTF-8 text".into()))?
        }
        None => "",
    };
    let mut doc = Document::parse(old_text).map_err(untouched)?;
    let mut helpers = doc.cred_helpers().map_err(untouched)?;
    let mut added = Vec::new();
    for r in registries {
        let key = helper_key(r, dialect);
        match helpers.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) if v == HELPER => {}
            Some((_, v)) => {
                out.notes.push(format!(
                    "{shown}: {key} used docker-credential-{v}; now {HELPER}"
                ));
                *v = HELPER.to_string();
                added.push(key);
            }
            None => {
                helpers.push((key.clone(), HELPER.to_string()));
                added.push(key);
            }
        }
    }
    if added.is_empty() {
        out.notes.push(format!(
            "{shown}: already routes {} to {HELPER}; nothing to do",
            keys_of(registries, dialect)
        ));
        return Ok(());
    }
    doc.set_cred_helpers(&helpers).map_err(untouched)?;
    let new_text = doc.render();
    if dry_run {
        let old_name = if old.is_some() {
            shown.clone()
        } else {
            "/dev/null".into()
        };
        out.println(diff::unified(old_text, &new_text, &old_name, &shown).trim_end());
        out.notes.push(format!("dry run: {shown} not written"));
        return Ok(());
    }
    write(&path, old.as_ref(), new_text.as_bytes())?;
    out.notes.push(format!(
        "{shown}: {} now use{} {HELPER}",
        added.join(", "),
        if added.len() == 1 { "s" } else { "" }
    ));
    Ok(())
}

fn keys_of(registries: &[Registry], dialect: Dialect) -> String {
    registries
        .iter()
        .map(|r| helper_key(r, dialect))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The file's bytes (zeroized after use: `auths` may hold passwords) and mode, or `None`.
fn read_existing(path: &Path) -> Result<Option<(SecretBuf, u32)>, String> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it ({})", e.kind())),
    };
    let meta = f
        .metadata()
        .map_err(|e| format!("cannot stat it ({})", e.kind()))?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let bytes = SecretBuf::read_capped(&mut f, CONFIG_LIMIT)
        .map_err(|e| format!("cannot read it ({})", e.kind()))?
        .map_err(|_| "larger than 16 MiB".to_string())?;
    Ok(Some((bytes, file_mode(&meta))))
}

#[cfg(unix)]
fn file_mode(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn file_mode(_meta: &std::fs::Metadata) -> u32 {
    0o600
}

/// Backup (0600), then the new file with the old file's mode (0600 when new), atomically.
fn write(path: &Path, old: Option<&(SecretBuf, u32)>, bytes: &[u8]) -> Result<(), Failure> {
    let internal = |e: anyhow::Error| Failure::Internal(format!("{e:#}"));
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            },
            n.to_string_lossy().into_owned(),
        ),
        _ => {
            return Err(Failure::user(format!(
                "{} is not a file path",
                path.display()
            )))
        }
    };
    fsutil::ensure_dir(dir).map_err(internal)?;
    let mode = match old {
        Some((old_bytes, mode)) => {
            fsutil::write_atomic(dir, &format!("{name}.bak"), old_bytes.as_slice())
                .map_err(internal)?;
            *mode
        }
        None => 0o600,
    };
    fsutil::write_atomic_mode(dir, &name, bytes, mode).map_err(internal)
}
