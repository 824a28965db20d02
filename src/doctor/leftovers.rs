//! What doctor says about logins outside the entry that answers: a plaintext login left in a
//! file the clients read that differs from the store's (docs/clients.md, "Leftover plaintext
//! logins"), and an entry that exists only in another workspace (docs/worker.md, "Why the
//! workspace travels per call": a `get` in this workspace answers not found, byte for byte, and
//! only doctor names the other one).
//!
//! The plaintext values are read into zeroized buffers, compared, and dropped: a message names
//! the file, the key and the username, never the password.

use crate::actions::tokens::{self, LoginKind};
use crate::clients::config as cc;
use crate::context::Context;
use crate::error::printable;
use crate::login::Login;
use crate::record::Entry;
use crate::registry::Registry;
use secrecy::{ExposeSecret, SecretString};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// An auth file is small; anything larger is not one (the clients' own limit is far above).
const FILE_LIMIT: u64 = 4 * 1024 * 1024;

/// One plaintext login found in an `auths` map.
pub(crate) struct Plain {
    pub file: PathBuf,
    /// The `auths` key as written (`https://index.docker.io/v1/`, `ghcr.io`).
    pub key: String,
    pub username: String,
    secret: SecretString,
}

impl std::fmt::Debug for Plain {
    // The password never; the rest is what a message shows anyway.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plain")
            .field("file", &self.file)
            .field("key", &self.key)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<SecretString>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<SecretString>,
}

/// The username and secret of one `auths` entry: `auth` (base64 of `user:secret`), else
/// `username`/`password`. `None` for an entry without a login (an empty `{}` docker leaves).
fn decode(raw: &RawValue) -> Option<(String, SecretString)> {
    use base64::Engine as _;
    let e: AuthEntry = serde_json::from_str(raw.get()).ok()?;
    if let Some(auth) = e.auth.filter(|a| !a.expose_secret().is_empty()) {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(auth.expose_secret().trim())
                .ok()?,
        );
        let text = std::str::from_utf8(&bytes).ok()?;
        let (user, secret) = text.split_once(':')?;
        return Some((user.to_string(), SecretString::from(secret.to_string())));
    }
    let user = e.username.filter(|u| !u.is_empty())?;
    let secret = e.password.filter(|p| !p.expose_secret().is_empty())?;
    Some((user, secret))
}

/// The `auths` logins for `registry` in one file. docker's `config.json` keys match
/// case-insensitively (Go's `encoding/json`): every `auths` spelling is looked at, since a
/// leftover in any of them is worth a line. A legacy `~/.dockercfg` is the `auths` map itself.
fn in_file(path: &Path, legacy: bool, registry: &Registry) -> Vec<Plain> {
    let mut bytes = Zeroizing::new(Vec::new());
    let read = std::fs::File::open(path).and_then(|f| f.take(FILE_LIMIT).read_to_end(&mut bytes));
    if read.is_err() {
        return Vec::new();
    }
    let Ok(top) = serde_json::from_slice::<BTreeMap<String, Box<RawValue>>>(&bytes) else {
        return Vec::new();
    };
    let maps: Vec<BTreeMap<String, Box<RawValue>>> = if legacy {
        vec![top]
    } else {
        top.iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("auths"))
            .filter_map(|(_, v)| serde_json::from_str(v.get()).ok())
            .collect()
    };
    let mut out = Vec::new();
    for map in maps {
        for (key, raw) in map {
            let same = Registry::from_server_url(&key)
                .ok()
                .is_some_and(|r| r == *registry);
            if !same {
                continue;
            }
            if let Some((username, secret)) = decode(&raw) {
                out.push(Plain {
                    file: path.to_path_buf(),
                    key,
                    username,
                    secret,
                });
            }
        }
    }
    out
}

/// Every plaintext login for `registry` in the files the client families read: docker's
/// `config.json` (docker, docker-py, go-containerregistry, and the containers tools) and the
/// containers tools' auth files, each file once.
pub(crate) fn plaintext_logins(ctx: &Context, registry: &Registry) -> Vec<Plain> {
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    if let Some(p) = cc::docker_config_path(&ctx.settings) {
        files.push((p, false));
    }
    for a in cc::containers_files(&ctx.settings, cc::real_uid()) {
        if !files.iter().any(|(p, _)| *p == a.path) {
            files.push((a.path, a.legacy));
        }
    }
    files
        .iter()
        .flat_map(|(p, legacy)| in_file(p, *legacy, registry))
        .collect()
}

/// What the store answers for the registry key, as a plaintext login compares with it.
pub(crate) enum Stored {
    Nothing,
    Login(Login),
    /// A record that mints tokens: a plaintext login never equals it.
    Minted,
    /// Not readable here (its login step says why).
    Unknown,
}

/// What the registry entry answers, without any network (a static record resolves locally).
pub(crate) fn stored(ctx: &Context, registry_entry: Option<&Entry>) -> Stored {
    let Some(e) = registry_entry else {
        return Stored::Nothing;
    };
    match tokens::login_kind(ctx, &e.record) {
        Ok(LoginKind::Static) => match tokens::static_login(ctx, &e.record) {
            Some(l) => Stored::Login(l),
            None => Stored::Unknown,
        },
        Ok(LoginKind::Token { .. }) => Stored::Minted,
        Err(_) => Stored::Unknown,
    }
}

fn same(p: &Plain, l: &Login) -> bool {
    p.username == l.username.expose_secret() && p.secret.expose_secret() == l.secret.expose_secret()
}

/// The `plaintext` step's detail and fix, when some file holds a plaintext login for the
/// registry that differs from the store's (or the store has none). A copy equal to the stored
/// login changes nothing a client sends and is left to the routing lines.
pub(crate) fn leftover(
    ctx: &Context,
    registry: &Registry,
    stored: &Stored,
    ws_flag: &str,
) -> Option<(String, String)> {
    if matches!(stored, Stored::Unknown) {
        return None;
    }
    let differing: Vec<Plain> = plaintext_logins(ctx, registry)
        .into_iter()
        .filter(|p| match stored {
            Stored::Login(l) => !same(p, l),
            _ => true,
        })
        .collect();
    if differing.is_empty() {
        return None;
    }
    let host = printable(registry.as_str());
    let places = differing
        .iter()
        .map(|p| {
            format!(
                "{} auths[\"{}\"] (username {})",
                printable(&p.file.display().to_string()),
                printable(&p.key),
                printable(&p.username)
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let versus = match stored {
        Stored::Nothing => "while the store holds none for it",
        _ => "that differs from the stored one",
    };
    let meaning = if cc::routed_here(&ctx.settings, registry) {
        format!("while credHelpers routes {host} to this helper, docker and go-containerregistry never send it (on not found they pull anonymously) but docker-py falls back to it; once the routing is gone it answers for every client again")
    } else {
        format!(
            "nothing routes {host} to this helper now, so the clients that read that file send it"
        )
    };
    let detail = format!(
        "a plaintext login for {host} is left in {places} {versus}: {meaning}; `podman logout --all` and `skopeo logout --all` erase the stored logins and empty the containers tools' auth file, routing included, after which the next `login` lands there in plaintext too"
    );
    let first = &differing[0];
    let file = printable(&first.file.display().to_string());
    let fix = match stored {
        Stored::Nothing => format!(
            "`docker-credential-beta9 {ws_flag}configure-docker {host} --migrate` moves it into the store (and removes it from {file})"
        ),
        _ => format!(
            "if the stored login is the right one (`docker-credential-beta9 {ws_flag}show {host}`), delete auths[\"{}\"] from {file}; if the plaintext one is, `docker-credential-beta9 {ws_flag}remove {host}` and then `docker-credential-beta9 {ws_flag}configure-docker {host} --migrate`",
            printable(&first.key)
        ),
    };
    Some((detail, fix))
}

/// The other workspaces of this store that hold an entry under one of `keys` (presence only:
/// another workspace's entries are sealed with its own key and are not opened).
pub(crate) fn other_workspaces(ctx: &Context, keys: &[&Registry]) -> Vec<String> {
    let backend = ctx.store.backend();
    let Ok(all) = backend.workspaces() else {
        return Vec::new();
    };
    all.into_iter()
        .filter(|ws| *ws != ctx.workspace)
        .filter(|ws| {
            keys.iter()
                .any(|k| matches!(backend.read(ws, &k.secret_name()), Ok(Some(_))))
        })
        .collect()
}
