//! `configure-docker`: route registries to this helper in every client's config through
//! `credHelpers`, and (with `--migrate`) move plaintext logins the clients left in `auths` into
//! the store (docs/clients.md, "Config files").
//!
//! Keys (docs/clients.md, "Docker Hub keys"): docker's config.json gets both Hub keys,
//! `https://index.docker.io/v1/` (docker CLI, docker-py) and `docker.io` (the containers tools
//! read that file too); containers' primary auth file gets `docker.io`. Other registries are
//! `host[:port]` everywhere. Every other member of a file is kept byte for byte (see `jsonfile`);
//! the file's mode, owner and group are kept; the write is atomic; the old file is kept as
//! `<name>.bak` (0600) without any plaintext secret. A file that is not a JSON object, not a
//! regular file, or has other hard links is left untouched, with one line saying why.

use super::diff;
use super::jsonfile::{self, ClientFileError, Document, FileMeta};
use super::outcome::{CmdResult, Failure};
use crate::actions;
use crate::clients::config::{self as cc, Member, PrimarySource, HELPER};
use crate::context::Context;
use crate::error::printable;
use crate::login::NewLogin;
use crate::output::Output;
use crate::registry::{Registry, DOCKER_HUB, DOCKER_HUB_SERVER_URL};
use crate::secret::SecretBuf;
use secrecy::ExposeSecret;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A client config is small; refuse to slurp anything huge.
const CONFIG_LIMIT: usize = cc::CONFIG_LIMIT as usize;

pub(crate) const ABOUT: &str =
    "Route registries to this helper in docker's and containers' configs";
pub(crate) const EXAMPLES: &str = "\
Examples:
  docker-credential-beta9 configure-docker --dry-run          # every stored registry, show the diff
  docker-credential-beta9 configure-docker ghcr.io nvcr.io --containers
  docker-credential-beta9 configure-docker --containers --migrate   # and move plaintext logins";

#[derive(clap::Args)]
pub(crate) struct ConfigureArgs {
    /// Registries to route to this helper (default: every registry in the store)
    #[arg(value_name = "REGISTRY")]
    pub registries: Vec<String>,
    /// docker's config file (default: $DOCKER_CONFIG/config.json, else ~/.docker/config.json)
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Print the change as a unified diff (secrets masked) and write nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Also the containers tools' primary auth file, the one `podman login` writes
    /// ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json, else
    /// /run/containers/$UID/auth.json)
    #[arg(long)]
    pub containers: bool,
    /// Move plaintext logins for these registries from the clients' `auths` into the store
    #[arg(long)]
    pub migrate: bool,
}

/// Which client reads the file decides Hub's keys.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dialect {
    Docker,
    Containers,
}

fn helper_keys(registry: &Registry, dialect: Dialect) -> Vec<String> {
    match (registry.is_docker_hub(), dialect) {
        // docker's config.json is read by the containers tools too (docs/clients.md).
        (true, Dialect::Docker) => vec![DOCKER_HUB_SERVER_URL.into(), DOCKER_HUB.into()],
        (true, Dialect::Containers) => vec![DOCKER_HUB.into()],
        (false, _) => vec![registry.host().to_string()],
    }
}

/// One file this run reads: the ones it routes registries in, and the ones it only looks in for
/// plaintext logins.
struct File {
    path: PathBuf,
    shown: String,
    dialects: Vec<Dialect>,
    old: Option<(SecretBuf, FileMeta)>,
    doc: Document,
    /// `auths` keys to remove (their logins were moved into the store).
    remove: Vec<String>,
}

impl File {
    fn old_text(&self) -> &str {
        self.old
            .as_ref()
            .and_then(|(b, _)| std::str::from_utf8(b.as_slice()).ok())
            .unwrap_or("")
    }
}

pub(crate) fn run(ctx: &Context, args: &ConfigureArgs) -> CmdResult {
    let settings = &ctx.settings;
    let docker_path = match &args.config {
        Some(p) => p.clone(),
        None => cc::docker_config_path(settings)
            .ok_or_else(|| Failure::user("HOME is not set: pass --config PATH"))?,
    };
    let primary = cc::containers_primary(settings, cc::real_uid());
    if args.containers {
        if let Some(dir) = cc::missing_runtime_dir(settings) {
            return Err(Failure::user(format!(
                "XDG_RUNTIME_DIR names {}, which does not exist: podman, buildah and skopeo fail there too; create it or unset XDG_RUNTIME_DIR",
                dir.display()
            )));
        }
    }
    let mut wanted: Vec<(PathBuf, Option<Dialect>)> = vec![(docker_path, Some(Dialect::Docker))];
    wanted.push((
        primary.path.clone(),
        args.containers.then_some(Dialect::Containers),
    ));
    let config_home = settings
        .xdg_config_home()
        .or_else(|| settings.home().map(|h| h.join(".config")));
    if let Some(dir) = config_home {
        wanted.push((dir.join("containers/auth.json"), None));
    }
    let mut out = Output::default();
    let mut files: Vec<File> = Vec::new();
    for (path, dialect) in wanted {
        let loaded = follow(&path).and_then(|p| match files.iter().position(|f| f.path == p) {
            Some(i) => Ok(Err(i)),
            None => load(&p).map(Ok),
        });
        match loaded {
            Ok(Ok(mut f)) => {
                f.dialects.extend(dialect);
                files.push(f);
            }
            Ok(Err(i)) => files[i].dialects.extend(dialect),
            // A file this run must write: refuse, one line, nothing written anywhere.
            Err(why) if dialect.is_some() => {
                return Err(Failure::user(format!(
                    "cannot update {}: {why}; the file was left untouched",
                    path.display()
                )))
            }
            // One it only looks in for plaintext logins: say so and go on.
            Err(why) => out.notes.push(format!(
                "not looking for plaintext logins in {}: {why}",
                path.display()
            )),
        }
    }

    let mut registries = target_registries(ctx, &args.registries, args.migrate, &files)?;
    let unrouted = plaintext(ctx, &registries, args, &mut files, &mut out)?;
    registries.retain(|r| !unrouted.contains(r));

    for f in &mut files {
        write_file(f, &registries, args.dry_run, &mut out)?;
    }

    // The containers tools' own logins.
    let keys: Vec<String> = registries
        .iter()
        .flat_map(|r| helper_keys(r, Dialect::Containers))
        .collect();
    if args.containers {
        if primary.source != PrimarySource::RegistryAuthFile && cc::on_tmpfs(&primary.path) {
            out.notes.push(format!(
                "{} is on a tmpfs and is emptied at reboot; to keep this routing, add to your shell profile: export REGISTRY_AUTH_FILE=\"$HOME/.config/containers/auth.json\" and run configure-docker --containers again",
                primary.path.display()
            ));
        }
    } else {
        let routed = files
            .iter()
            .find(|f| f.path == primary.path)
            .map(|f| {
                let helpers = f.doc.cred_helpers().unwrap_or_default();
                keys.iter()
                    .all(|k| helpers.iter().any(|(hk, hv)| hk == k && hv == HELPER))
            })
            .unwrap_or(false);
        if !routed {
            out.notes.push(format!(
                "podman, buildah and skopeo logins will not go through {HELPER}: they write {}, which does not route {} (a login would land there in plaintext); rerun with --containers",
                primary.path.display(),
                keys.join(", ")
            ));
        }
    }
    Ok(out)
}

/// Write through a symlink (dotfile managers link config.json), never replace the link; but only
/// into what the config's user owns (docs/clients.md, "Links and owners"), so root configuring
/// another user's file never rewrites a file of root's that the user linked to.
fn follow(path: &Path) -> Result<PathBuf, ClientFileError> {
    let linked = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let real = if linked {
        std::fs::canonicalize(path).map_err(|e| ClientFileError::FollowLink(e.kind()))?
    } else {
        // The file, or the directory it would be created in, may still be reached by a link.
        match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) => match std::fs::canonicalize(non_empty(dir)) {
                Ok(d) => d.join(name),
                // Not there yet: it is created (by its owner's rules) in `write`.
                Err(_) => return Ok(path.to_path_buf()),
            },
            _ => return Ok(path.to_path_buf()),
        }
    };
    let lexical = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    if real != lexical {
        owned_by_config_user(path, &real)?;
    }
    Ok(if linked { real } else { path.to_path_buf() })
}

fn non_empty(dir: &Path) -> &Path {
    if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }
}

/// A link in `path` may lead only to a file (or, for a new file, a directory) of the config's
/// user: whoever owns the directory the config is named in (the link itself when that directory
/// is a link), or the user running this when that is not root.
#[cfg(unix)]
fn owned_by_config_user(path: &Path, real: &Path) -> Result<(), ClientFileError> {
    use std::os::unix::fs::MetadataExt;
    let stat = |p: &Path| {
        p.ancestors()
            .find_map(|a| std::fs::symlink_metadata(non_empty(a)).ok())
            .map(|m| m.uid())
    };
    let user = path.parent().map(non_empty).and_then(stat);
    let owner = stat(real);
    let euid = rustix::process::geteuid();
    match (user, owner) {
        (Some(u), Some(o)) if o == u || (!euid.is_root() && o == euid.as_raw()) => Ok(()),
        (_, Some(o)) => Err(ClientFileError::ForeignLink {
            target: real.display().to_string(),
            owner: o,
            user,
        }),
        (_, None) => Err(ClientFileError::LinkUnstattable),
    }
}

#[cfg(not(unix))]
fn owned_by_config_user(_path: &Path, _real: &Path) -> Result<(), ClientFileError> {
    Ok(())
}

/// Reads and parses one client file; the error says why, never what it holds.
fn load(path: &Path) -> Result<File, ClientFileError> {
    let old = jsonfile::read_client_file(path, CONFIG_LIMIT)?;
    let text = match &old {
        Some((bytes, _)) => {
            std::str::from_utf8(bytes.as_slice()).map_err(|_| ClientFileError::NotUtf8)?
        }
        None => "",
    };
    let doc = Document::parse(text)?;
    // Both are checked before anything is written anywhere.
    doc.cred_helpers()?;
    doc.auths()?;
    Ok(File {
        path: path.to_path_buf(),
        shown: path.display().to_string(),
        dialects: Vec::new(),
        old,
        doc,
        remove: Vec::new(),
    })
}

/// The named registries, else every registry in the store (repository-path keys by their host),
/// plus, with `--migrate`, every registry a plaintext login was found for.
fn target_registries(
    ctx: &Context,
    named: &[String],
    migrate: bool,
    files: &[File],
) -> Result<Vec<Registry>, Failure> {
    let mut regs: Vec<Registry> = if named.is_empty() {
        let mut r: Vec<Registry> = actions::entries(ctx)?
            .into_iter()
            .filter_map(|e| Registry::from_server_url(e.record.registry.host()).ok())
            .collect();
        if migrate {
            for f in files {
                for (key, raw) in f.doc.auths().unwrap_or_default() {
                    let found = Registry::from_server_url(&key)
                        .ok()
                        .filter(|r| !r.has_path());
                    if let (Some(reg), Ok(Some(_))) = (found, jsonfile::decode_login(&raw)) {
                        r.push(reg);
                    }
                }
            }
        }
        r
    } else {
        named
            .iter()
            .map(|r| actions::registry_arg(r))
            .collect::<Result<_, _>>()?
    };
    // Hub's OAuth keys are entries of their own, never a registry to route.
    regs.retain(|r| !r.as_str().starts_with("https://"));
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

/// A plaintext login found for a routed registry.
struct Found {
    file: usize,
    key: String,
    login: Result<Option<jsonfile::PlainLogin>, ClientFileError>,
}

/// Finds plaintext `auths` logins for the routed registries in every file and keeps each one
/// working (docs/clients.md, "Routing and plaintext logins"): with clients never falling back
/// from a routed helper to `auths`, a login the store lacks is moved into it, and a registry whose
/// plaintext login differs from the stored one stays unrouted (returned) unless `--migrate` says
/// the store's wins.
fn plaintext(
    ctx: &Context,
    registries: &[Registry],
    args: &ConfigureArgs,
    files: &mut [File],
    out: &mut Output,
) -> Result<Vec<Registry>, Failure> {
    let mut unrouted = Vec::new();
    let mut by_registry: BTreeMap<Registry, Vec<Found>> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        for (key, raw) in f.doc.auths().unwrap_or_default() {
            let Some(reg) = Registry::from_server_url(&key)
                .ok()
                .filter(|r| registries.contains(r))
            else {
                continue;
            };
            let login = jsonfile::decode_login(&raw);
            if matches!(login, Ok(None)) {
                continue;
            }
            by_registry.entry(reg).or_default().push(Found {
                file: i,
                key,
                login,
            });
        }
    }
    for (reg, found) in by_registry {
        let places = |found: &[Found]| {
            found
                .iter()
                .map(|f| format!("{} ({})", files[f.file].shown, printable(&f.key)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !args.migrate && disagrees(&stored_login(ctx, &reg)?, &found) {
            out.notes.push(format!(
                "not routing {reg}: the plaintext login in {} differs from the one in the store, and once routed clients would use only the store's; run `docker-credential-beta9 configure-docker {reg} --migrate` to keep the store's, or `docker-credential-beta9 remove {reg}` and rerun to keep the file's",
                places(&found)
            ));
            unrouted.push(reg);
            continue;
        }
        migrate(ctx, &reg, &found, files, args.dry_run, out)?;
    }
    Ok(unrouted)
}

/// Would routing `reg` change the login its clients send: is some readable plaintext login for
/// it different from what the store holds (nothing stored disagrees with nothing)?
fn disagrees(stored: &Stored, found: &[Found]) -> bool {
    found.iter().any(|f| match (&f.login, stored) {
        (Ok(Some(_)), Stored::Nothing) | (Ok(None) | Err(_), _) => false,
        (Ok(Some(_)), Stored::Minted) => true,
        (Ok(Some(l)), Stored::Login(u, p)) => {
            *u != l.username || p.expose_secret() != l.secret.expose_secret()
        }
    })
}

/// Moves one registry's plaintext login into the store (through the same path as a docker
/// `store`), then marks every copy of that same login for removal. A different login already in
/// the store is kept, and so is the plaintext that disagrees with it, with a note.
fn migrate(
    ctx: &Context,
    reg: &Registry,
    found: &[Found],
    files: &mut [File],
    dry_run: bool,
    out: &mut Output,
) -> Result<(), Failure> {
    let mut stored = stored_login(ctx, reg)?;
    for f in found {
        let place = format!("{} ({})", files[f.file].shown, printable(&f.key));
        let login = match &f.login {
            Ok(Some(l)) => l,
            Ok(None) => continue,
            Err(why) => {
                out.notes.push(format!(
                    "warning: the plaintext login for {reg} in {place} was left: {why}"
                ));
                continue;
            }
        };
        let same = match &stored {
            Stored::Nothing => None,
            Stored::Login(u, p) => {
                Some(*u == login.username && p.expose_secret() == login.secret.expose_secret())
            }
            Stored::Minted => Some(false),
        };
        match same {
            Some(true) => {}
            Some(false) => {
                out.notes.push(format!(
                    "warning: the plaintext login for {reg} in {place} differs from the one in the store and was left; remove it by hand (or `remove {reg}` and rerun)"
                ));
                continue;
            }
            None => {
                if !dry_run {
                    actions::store(
                        ctx,
                        NewLogin {
                            server_url: f.key.clone(),
                            username: login.username.clone(),
                            secret: login.secret.clone(),
                        },
                    )?;
                }
                out.notes.push(format!(
                    "{}moved the plaintext login for {reg} (username {}) from {place} into the store",
                    if dry_run { "dry run: would have " } else { "" },
                    printable(&login.username)
                ));
                stored = Stored::Login(login.username.clone(), login.secret.clone());
            }
        }
        files[f.file].remove.push(f.key.clone());
    }
    Ok(())
}

/// What the store holds for exactly one registry, as far as a migration cares.
enum Stored {
    Nothing,
    /// A static login: username and secret.
    Login(String, secrecy::SecretString),
    /// A record that mints tokens: never the same as a plaintext login.
    Minted,
}

fn stored_login(ctx: &Context, reg: &Registry) -> Result<Stored, Failure> {
    let Some(entry) = actions::load(ctx, reg)? else {
        return Ok(Stored::Nothing);
    };
    let login = actions::tokens::try_static_login(ctx, &entry.record)?;
    Ok(match login {
        Some(l) => Stored::Login(l.username.expose_secret().to_string(), l.secret),
        None => Stored::Minted,
    })
}

/// Adds the helper entries and removes migrated logins in one file, then writes it (or prints
/// the diff), noting what happened.
/// How many times a file another program keeps writing is read again and the edit redone.
const WRITE_TRIES: usize = 5;

/// Edits and writes one file; when another program wrote it since it was read, reads it again and
/// redoes the edit (docs/clients.md, "Concurrent writers").
fn write_file(
    f: &mut File,
    registries: &[Registry],
    dry_run: bool,
    out: &mut Output,
) -> Result<(), Failure> {
    for _ in 0..WRITE_TRIES {
        let mark = out.notes.len();
        if write_once(f, registries, dry_run, out)? {
            return Ok(());
        }
        out.notes.truncate(mark);
        reload(f, out)?;
    }
    Err(Failure::user(format!(
        "cannot update {}: another program kept writing it while it was being updated; it was left as that program wrote it; run configure-docker again",
        f.shown
    )))
}

/// Reads a file again after another program wrote it. A plaintext login that was moved into the
/// store is still removed from it only if its entry is exactly as it was when it was moved.
fn reload(f: &mut File, out: &mut Output) -> Result<(), Failure> {
    let fresh = load(&f.path).map_err(|why| {
        Failure::user(format!(
            "cannot update {}: {why}; the file was left untouched",
            f.shown
        ))
    })?;
    let before = Document::parse(f.old_text())
        .and_then(|d| d.auths())
        .unwrap_or_default();
    let after = fresh.doc.auths().unwrap_or_default();
    let raw = |list: &[(String, Box<RawValue>)], k: &str| {
        list.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.get().to_string())
    };
    let mut kept = Vec::new();
    f.remove.retain(|k| {
        let same = raw(&before, k).is_some() && raw(&before, k) == raw(&after, k);
        if !same {
            kept.push(printable(k));
        }
        same
    });
    for k in kept {
        out.notes.push(format!(
            "{}: the plaintext login for {k} changed while it was being moved into the store; it was left in the file",
            f.shown
        ));
    }
    f.old = fresh.old;
    f.doc = fresh.doc;
    Ok(())
}

/// One attempt: `Ok(false)` when the file changed since it was read and nothing was written.
fn write_once(
    f: &mut File,
    registries: &[Registry],
    dry_run: bool,
    out: &mut Output,
) -> Result<bool, Failure> {
    let shown = f.shown.clone();
    let untouched = |why: ClientFileError| {
        Failure::user(format!(
            "cannot update {shown}: {why}; the file was left untouched"
        ))
    };
    let mut doc = Document::parse(f.old_text()).map_err(untouched)?;
    let mut added = Vec::new();
    let mut wanted = Vec::new();
    let mut respelled = false;
    if !f.dialects.is_empty() {
        let mut helpers = doc.cred_helpers().map_err(untouched)?;
        for r in registries {
            for d in &f.dialects {
                for key in helper_keys(r, *d) {
                    if wanted.contains(&key) {
                        continue;
                    }
                    wanted.push(key.clone());
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
            }
        }
        // A "CredHelpers" member (or several) routes the Go clients but not docker-py: it is
        // rewritten as the one member every client reads (docs/clients.md, "Key rules of
        // config.json").
        if !added.is_empty() || !doc.is_canonical(Member::CredHelpers) {
            doc.set_cred_helpers(&helpers).map_err(untouched)?;
            respelled = added.is_empty();
        }
    }
    if !f.remove.is_empty() {
        let auths: Vec<(String, Box<RawValue>)> = doc
            .auths()
            .map_err(untouched)?
            .into_iter()
            .filter(|(k, _)| !f.remove.contains(k))
            .collect();
        doc.set_auths(&auths).map_err(untouched)?;
    }
    if respelled {
        out.notes.push(format!(
            "{shown}: credHelpers rewritten as the one member every client reads (docker-py reads only that spelling)"
        ));
    }
    if added.is_empty() && f.remove.is_empty() && !respelled {
        if !f.dialects.is_empty() {
            out.notes.push(format!(
                "{shown}: already routes {} to {HELPER}; nothing to do",
                wanted.join(", ")
            ));
        }
        f.doc = doc;
        return Ok(true);
    }
    let new_text = doc.render();
    if dry_run {
        let old_name = if f.old.is_some() {
            shown.clone()
        } else {
            "/dev/null".into()
        };
        out.println(diff::unified_masked(f.old_text(), &new_text, &old_name, &shown).trim_end());
        out.notes.push(format!("dry run: {shown} not written"));
        f.doc = doc;
        return Ok(true);
    }
    if !write(f, new_text.as_bytes())? {
        return Ok(false);
    }
    if !added.is_empty() {
        out.notes.push(format!(
            "{shown}: {} now use{} {HELPER}",
            added.join(", "),
            if added.len() == 1 { "s" } else { "" }
        ));
    }
    if !f.remove.is_empty() {
        out.notes.push(format!(
            "{shown}: removed the plaintext login{} for {}",
            if f.remove.len() == 1 { "" } else { "s" },
            f.remove
                .iter()
                .map(|k| printable(k))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    f.doc = doc;
    Ok(true)
}

/// The backup's bytes: the old file as it was when it held no plaintext secret, else the old
/// document without the logins that moved and without any `auths` secret (a backup must never
/// hold a credential: the file itself, or the store, still does).
fn backup_text(f: &File) -> Result<Option<Vec<u8>>, ClientFileError> {
    let Some((bytes, _)) = &f.old else {
        return Ok(None);
    };
    let old = Document::parse(f.old_text())?;
    let has_secret = old
        .auths()?
        .iter()
        .any(|(_, raw)| matches!(jsonfile::decode_login(raw), Ok(Some(_)) | Err(_)));
    if !has_secret {
        return Ok(Some(bytes.as_slice().to_vec()));
    }
    let mut trimmed = old;
    let auths: Vec<_> = trimmed
        .auths()?
        .into_iter()
        .filter(|(k, _)| !f.remove.contains(k))
        .collect();
    trimmed.set_auths(&auths)?;
    Ok(Some(trimmed.without_auth_secrets()?.render().into_bytes()))
}

/// Backup (0600, the file's owner), then the new file with the old file's mode, owner and group
/// (0600 and the directory's owner when new), atomically, unless the file changed since it was
/// read (`Ok(false)`, nothing replaced but the backup).
fn write(f: &File, bytes: &[u8]) -> Result<bool, Failure> {
    let path = &f.path;
    let shown = &f.shown;
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
            return Err(Failure::user(format!("{shown} is not a file path")));
        }
    };
    let meta = match &f.old {
        Some((_, meta)) => *meta,
        None => jsonfile::new_file_meta(dir),
    };
    jsonfile::ensure_dir_owned(dir, &meta).map_err(|e| Failure::Internal(e.to_string()))?;
    let backup = backup_text(f).map_err(|e| {
        Failure::user(format!(
            "cannot update {shown}: {e}; the file was left untouched"
        ))
    })?;
    if let Some(b) = backup {
        let bak = FileMeta {
            mode: 0o600,
            ..meta
        };
        let b = zeroize::Zeroizing::new(b);
        jsonfile::replace(dir, &format!("{name}.bak"), &b, &bak)
            .map_err(|e| Failure::user(e.to_string()))?;
    }
    let expected = f.old.as_ref().map(|(b, _)| b.as_slice());
    jsonfile::replace_if_unchanged(dir, &name, bytes, &meta, expected)
        .map_err(|e| Failure::user(e.to_string()))
}
