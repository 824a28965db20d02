//! The clients' own config files: where each client family looks for credentials, and what those
//! files route for one key (docs/clients.md, "Config files" and "Which file answers").
//!
//! Read only, and never a secret kept: an `auths` entry is reduced to its key and whether it holds
//! a secret. `configure-docker` writes these files (through `commands::jsonfile`); `doctor`
//! reads them here.

use crate::env::{self, Env};
use crate::fsutil;
use crate::registry::{ImageRef, Registry, DOCKER_HUB, DOCKER_HUB_SERVER_URL};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// docker runs `docker-credential-<name>`: the value `credHelpers` entries must hold.
pub const HELPER: &str = "beta9";
/// A client config is small; anything larger is not one.
pub const CONFIG_LIMIT: u64 = 16 << 20;
/// `statfs` type of tmpfs (linux/magic.h): a primary auth file there is lost at reboot.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The families of clients that ask a credential helper, each with its own keys and files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// docker CLI, docker-py, BuildKit: `$DOCKER_CONFIG/config.json`.
    Docker,
    /// podman, buildah, skopeo (containers/image): the auth files, in order.
    Containers,
    /// go-containerregistry (crane, ko, CLIP): docker's config.json, else the containers file.
    Ggcr,
    /// The kubelet credential provider plugin: asked with the image itself.
    Kubelet,
}

impl Family {
    pub const ALL: [Family; 4] = [
        Family::Docker,
        Family::Containers,
        Family::Ggcr,
        Family::Kubelet,
    ];

    /// Who they are, for people.
    pub fn clients(self) -> &'static str {
        match self {
            Family::Docker => "docker CLI, docker-py",
            Family::Containers => "podman, buildah, skopeo",
            Family::Ggcr => "go-containerregistry (crane, CLIP)",
            Family::Kubelet => "kubelet plugin",
        }
    }

    /// The short name used in step names (`routing.docker`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Docker => "docker",
            Family::Containers => "containers",
            Family::Ggcr => "ggcr",
            Family::Kubelet => "kubelet",
        }
    }
}

/// The keys one image is asked under, per family (docs/clients.md, "Callers and the keys they ask").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// docker CLI and docker-py: `https://index.docker.io/v1/` for Hub, else `host[:port]`.
    pub docker: String,
    /// containers/image: `docker.io` for Hub, else `host[:port]`.
    pub containers: String,
    /// go-containerregistry: the repository key first, then the registry key.
    pub ggcr: [String; 2],
    /// kubelet: the image as the pod spec names it.
    pub kubelet: String,
}

/// The keys each family computes for `image` (whose registry is `registry`, repository `repo`).
pub fn keys(image: &str, registry: &Registry, repo: &str) -> Keys {
    if registry.is_docker_hub() {
        return Keys {
            docker: DOCKER_HUB_SERVER_URL.into(),
            containers: DOCKER_HUB.into(),
            ggcr: [
                format!("index.docker.io/{repo}"),
                DOCKER_HUB_SERVER_URL.into(),
            ],
            kubelet: image.trim().to_string(),
        };
    }
    // The host as written: `credHelpers` keys are matched byte for byte.
    let host = ImageRef::parse(image)
        .ok()
        .and_then(|i| i.host)
        .unwrap_or_else(|| registry.host().to_string());
    Keys {
        docker: host.clone(),
        containers: host.clone(),
        ggcr: [format!("{host}/{repo}"), host],
        kubelet: image.trim().to_string(),
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (docker/cli `cli/config`); `None`
/// without either variable.
pub fn docker_config_path(env: &Env) -> Option<PathBuf> {
    if let Some(dir) = env.path(env::DOCKER_CONFIG) {
        return Some(dir.join("config.json"));
    }
    env.path(env::HOME).map(|h| h.join(".docker/config.json"))
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
pub fn containers_primary(env: &Env, uid: u32) -> Primary {
    if let Some(p) = env.path(env::REGISTRY_AUTH_FILE) {
        return Primary {
            path: p,
            source: PrimarySource::RegistryAuthFile,
        };
    }
    if let Some(dir) = env.path(env::XDG_RUNTIME_DIR) {
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
pub fn missing_runtime_dir(env: &Env) -> Option<PathBuf> {
    if env.path(env::REGISTRY_AUTH_FILE).is_some() {
        return None;
    }
    env.path(env::XDG_RUNTIME_DIR)
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
pub fn containers_files(env: &Env, uid: u32) -> Vec<AuthPath> {
    let mut out = vec![AuthPath {
        path: containers_primary(env, uid).path,
        legacy: false,
    }];
    let config_home = env
        .path(env::XDG_CONFIG_HOME)
        .or_else(|| env.path(env::HOME).map(|h| h.join(".config")));
    if let Some(dir) = config_home {
        out.push(AuthPath {
            path: dir.join("containers/auth.json"),
            legacy: false,
        });
    }
    if let Some(p) = docker_config_path(env) {
        out.push(AuthPath {
            path: p,
            legacy: false,
        });
    }
    if let Some(h) = env.path(env::HOME) {
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
pub fn ggcr_file(env: &Env) -> Option<PathBuf> {
    let home_cfg = env.path(env::HOME).map(|h| h.join(".docker/config.json"));
    if home_cfg.as_ref().is_some_and(|p| p.is_file()) {
        // It then loads `$DOCKER_CONFIG/config.json` if that is set (docker's config.Load).
        return docker_config_path(env);
    }
    let docker = env
        .path(env::DOCKER_CONFIG)
        .map(|d| d.join("config.json"))
        .filter(|p| p.is_file());
    docker
        .or_else(|| env.path(env::REGISTRY_AUTH_FILE).filter(|p| p.is_file()))
        .or_else(|| {
            env.path(env::XDG_RUNTIME_DIR)
                .map(|d| d.join("containers/auth.json"))
                .filter(|p| p.is_file())
        })
}

/// An `auths` entry: its key and whether it holds a secret (`auth`, `identitytoken`,
/// `registrytoken` or `password`). The values themselves are never kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthEntry {
    pub key: String,
    pub secret: bool,
}

/// What a config file says about routing, as the Go clients read it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub cred_helpers: Vec<(String, String)>,
    pub creds_store: Option<String>,
    pub auths: Vec<AuthEntry>,
    /// What docker-py reads of docker's config.json, when it differs from the above (Python's
    /// `json`: exact member names only, the last of a name wins whole; docs/clients.md, "Key
    /// rules of config.json").
    pub docker_py: Option<Box<Parsed>>,
}

/// A config file as found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileState {
    Absent,
    /// Not readable or not JSON: why, without its content.
    Unreadable(String),
    Parsed(Parsed),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub state: FileState,
}

impl ConfigFile {
    /// The same file as docker-py reads it.
    pub fn as_docker_py(&self) -> ConfigFile {
        let state = match &self.state {
            FileState::Parsed(p) => {
                FileState::Parsed(p.docker_py.as_deref().cloned().unwrap_or_else(|| p.clone()))
            }
            other => other.clone(),
        };
        ConfigFile {
            path: self.path.clone(),
            state,
        }
    }

    pub fn exists(&self) -> bool {
        !matches!(self.state, FileState::Absent)
    }

    pub fn parsed(&self) -> Option<&Parsed> {
        match &self.state {
            FileState::Parsed(p) => Some(p),
            _ => None,
        }
    }

    /// The helper `credHelpers` names for exactly `key`.
    pub fn helper_for(&self, key: &str) -> Option<&str> {
        let p = self.parsed()?;
        p.cred_helpers
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `auths` entries holding a secret for `registry` (any spelling of its key).
    pub fn plaintext_for(&self, registry: &Registry) -> Vec<&AuthEntry> {
        let Some(p) = self.parsed() else {
            return Vec::new();
        };
        p.auths
            .iter()
            .filter(|a| {
                a.secret && Registry::from_server_url(&a.key).ok().as_ref() == Some(registry)
            })
            .collect()
    }

    /// An `auths` entry holding a secret under exactly `key`.
    pub fn plaintext_exact(&self, key: &str) -> Option<&AuthEntry> {
        self.parsed()?
            .auths
            .iter()
            .find(|a| a.secret && a.key == key)
    }
}

/// Reads and parses one client config (a missing file is `Absent`). `legacy` is `~/.dockercfg`,
/// whose top level is the `auths` map itself.
pub fn read(path: &Path, legacy: bool) -> ConfigFile {
    // Clients follow a linked config (dotfile managers link them); reading through it is safe,
    // and the file it names must still be a regular file of sane size.
    let state = match fsutil::read_operator_file(path, CONFIG_LIMIT) {
        Ok(None) => FileState::Absent,
        Err(e) => FileState::Unreadable(format!("cannot read it: {e}")),
        Ok(Some(bytes)) => match parse(&bytes, legacy) {
            Ok(p) => FileState::Parsed(p),
            Err(e) => FileState::Unreadable(e),
        },
    };
    ConfigFile {
        path: path.to_path_buf(),
        state,
    }
}

/// Parses a config's text; errors give a position only (the file may hold secrets).
pub fn parse(bytes: &[u8], legacy: bool) -> Result<Parsed, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Parsed::default());
    }
    let at = |e: serde_json::Error| {
        format!(
            "not a JSON object (error at line {}, column {})",
            e.line(),
            e.column()
        )
    };
    if legacy {
        let Auths(auths) = serde_json::from_slice(bytes).map_err(at)?;
        return Ok(Parsed {
            auths,
            ..Parsed::default()
        });
    }
    let raw: RawConfig = serde_json::from_slice(bytes).map_err(at)?;
    let mut out = Parsed {
        cred_helpers: raw.cred_helpers,
        creds_store: raw.creds_store.filter(|s| !s.is_empty()),
        auths: raw
            .auths
            .into_iter()
            .map(|(key, secret)| AuthEntry { key, secret })
            .collect(),
        docker_py: None,
    };
    if raw.py != out {
        out.docker_py = Some(Box::new(raw.py));
    }
    Ok(out)
}

/// The members of docker's config.json that decide routing. docker, docker-py's Go peers,
/// go-containerregistry and containers/image all decode the file with Go's `encoding/json`, whose
/// rules this type is the one place to state (docs/clients.md, "Key rules of config.json"):
/// a member name matches a field without regard to case (`"CredHelpers"` is `credHelpers`);
/// members that fill the same field are all decoded, in file order, so objects merge (a later
/// entry for the same key wins), a later string replaces an earlier one, and `null` empties an
/// object but leaves a string as it was. `doctor` reads through it (here), and `configure-docker`
/// edits through it (`commands::jsonfile`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member {
    CredHelpers,
    CredsStore,
    Auths,
}

impl Member {
    /// The spelling docker writes, used when the member is new.
    pub fn name(self) -> &'static str {
        match self {
            Member::CredHelpers => "credHelpers",
            Member::CredsStore => "credsStore",
            Member::Auths => "auths",
        }
    }

    /// The field a member name fills, as Go matches it.
    pub fn of(key: &str) -> Option<Member> {
        [Member::CredHelpers, Member::CredsStore, Member::Auths]
            .into_iter()
            .find(|m| go_name_eq(key, m.name()))
    }
}

/// Go's `encoding/json` name match: equal under simple case folding. Besides ASCII case, two
/// non-ASCII letters fold onto ASCII ones: U+017F (long s) onto `s`, U+212A (Kelvin sign) onto `k`.
pub fn go_name_eq(key: &str, name: &str) -> bool {
    let fold = |c: char| match c {
        '\u{17f}' => 's',
        '\u{212a}' => 'k',
        c => c.to_ascii_lowercase(),
    };
    key.chars().map(fold).eq(name.chars().map(fold))
}

/// Folds one more decoded member into an object field, as Go decodes into a map that already
/// exists: `None` (JSON `null`) empties it; entries are added, a later one replacing an earlier
/// one under the same key (within one member too).
pub fn merge_object<T>(acc: &mut Vec<(String, T)>, next: Option<Vec<(String, T)>>) {
    let Some(next) = next else {
        acc.clear();
        return;
    };
    for (k, v) in next {
        match acc.iter_mut().find(|(ak, _)| *ak == k) {
            Some(slot) => slot.1 = v,
            None => acc.push((k, v)),
        }
    }
}

/// The routing members of a config file, decoded as Go decodes them ([`Member`]), and as
/// docker-py (Python's `json`) reads them: only the exact names, the last member of a name
/// replacing the earlier ones whole.
#[derive(Default)]
struct RawConfig {
    cred_helpers: Vec<(String, String)>,
    creds_store: Option<String>,
    auths: Vec<(String, bool)>,
    py: Parsed,
}

impl<'de> Deserialize<'de> for RawConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawConfig, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawConfig, A::Error> {
                let mut out = RawConfig::default();
                while let Some(key) = map.next_key::<String>()? {
                    let field = Member::of(&key);
                    let exact = field.is_some_and(|m| m.name() == key);
                    match field {
                        Some(Member::CredHelpers) => {
                            let next: Option<Pairs> = map.next_value()?;
                            if exact {
                                out.py.cred_helpers =
                                    next.as_ref().map(|p| p.0.clone()).unwrap_or_default();
                            }
                            merge_object(&mut out.cred_helpers, next.map(|p| p.0));
                        }
                        Some(Member::CredsStore) => {
                            let next = map.next_value::<Option<String>>()?;
                            if exact {
                                out.py.creds_store = next.clone().filter(|s| !s.is_empty());
                            }
                            if let Some(s) = next {
                                out.creds_store = Some(s);
                            }
                        }
                        Some(Member::Auths) => {
                            let next: Option<Auths> = map.next_value()?;
                            if exact {
                                out.py.auths =
                                    next.as_ref().map(|a| a.0.clone()).unwrap_or_default();
                            }
                            let next =
                                next.map(|a| a.0.into_iter().map(|e| (e.key, e.secret)).collect());
                            merge_object(&mut out.auths, next);
                        }
                        None => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(V)
    }
}

/// An object of strings, in file order.
struct Pairs(Vec<(String, String)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pairs, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some(kv) = map.next_entry::<String, String>()? {
                    out.push(kv);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// `auths`: key → whether the entry holds a secret.
struct Auths(Vec<AuthEntry>);

impl<'de> Deserialize<'de> for Auths {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Auths, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Auths;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of auth entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Auths, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let HasSecret(secret) = map.next_value()?;
                    out.push(AuthEntry { key, secret });
                }
                Ok(Auths(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The member names whose values are credentials in an `auths` entry (docker/cli `types.AuthConfig`).
pub const SECRET_FIELDS: [&str; 4] = ["auth", "identitytoken", "registrytoken", "password"];

/// Whether an entry object has a non-empty secret member; the values are looked at, never kept.
struct HasSecret(bool);

impl<'de> Deserialize<'de> for HasSecret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HasSecret, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HasSecret;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an auth entry object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HasSecret, A::Error> {
                // Per field, the last non-null value decides (Go: `null` leaves a string as it was).
                let mut set = [false; SECRET_FIELDS.len()];
                while let Some(key) = map.next_key::<String>()? {
                    if let Some(i) = SECRET_FIELDS.iter().position(|f| go_name_eq(&key, f)) {
                        if let NonEmpty(Some(n)) = map.next_value()? {
                            set[i] = n;
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(HasSecret(set.contains(&true)))
            }
            // `"registry": null` and other non-objects hold nothing.
            fn visit_unit<E>(self) -> Result<HasSecret, E> {
                Ok(HasSecret(false))
            }
        }
        d.deserialize_any(V)
    }
}

/// Is a value a non-empty string (`None`: `null`)? Nothing of it is kept.
struct NonEmpty(Option<bool>);

impl<'de> Deserialize<'de> for NonEmpty {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NonEmpty, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NonEmpty;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E>(self, s: &str) -> Result<NonEmpty, E> {
                Ok(NonEmpty(Some(!s.is_empty())))
            }
            fn visit_unit<E>(self) -> Result<NonEmpty, E> {
                Ok(NonEmpty(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// How one family reaches (or does not reach) a credential for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// A helper answers: `credHelpers` or `credsStore` in `file` names it.
    Helper {
        helper: String,
        via: &'static str,
        file: PathBuf,
    },
    /// A plaintext `auths` entry answers, from `file`.
    Plaintext { key: String, file: PathBuf },
    /// Nothing: the client pulls anonymously.
    Unrouted,
}

impl Route {
    pub fn is_ours(&self) -> bool {
        matches!(self, Route::Helper { helper, .. } if helper == HELPER)
    }
}

/// docker CLI and docker-py: `credHelpers[key]`, else `credsStore`, else `auths`
/// (docker/cli `configfile.GetCredentialsStore`).
pub fn docker_route(file: &ConfigFile, key: &str, registry: &Registry) -> Route {
    let Some(p) = file.parsed() else {
        return Route::Unrouted;
    };
    if let Some(h) = file.helper_for(key) {
        return Route::Helper {
            helper: h.to_string(),
            via: "credHelpers",
            file: file.path.clone(),
        };
    }
    if let Some(s) = &p.creds_store {
        return Route::Helper {
            helper: s.clone(),
            via: "credsStore",
            file: file.path.clone(),
        };
    }
    match file.plaintext_for(registry).first() {
        Some(a) => Route::Plaintext {
            key: a.key.clone(),
            file: file.path.clone(),
        },
        None => Route::Unrouted,
    }
}

/// containers/image: the files in order; in each, `credHelpers[registry key]` first, then an
/// `auths` entry for the repository's namespaces or the registry. The first file that answers
/// wins (`credsStore` is not read: containers/skopeo #1083).
pub fn containers_route(files: &[ConfigFile], key: &str, registry: &Registry, repo: &str) -> Route {
    let host = registry.host();
    for file in files {
        if file.parsed().is_none() {
            continue;
        }
        if let Some(h) = file.helper_for(key) {
            return Route::Helper {
                helper: h.to_string(),
                via: "credHelpers",
                file: file.path.clone(),
            };
        }
        // Namespaced logins (`podman login host/ns`), most specific first.
        let parts: Vec<&str> = repo.split('/').collect();
        for n in (1..=parts.len()).rev() {
            let ns = format!("{host}/{}", parts[..n].join("/"));
            if let Some(a) = file.plaintext_exact(&ns) {
                return Route::Plaintext {
                    key: a.key.clone(),
                    file: file.path.clone(),
                };
            }
        }
        if let Some(a) = file.plaintext_for(registry).first() {
            return Route::Plaintext {
                key: a.key.clone(),
                file: file.path.clone(),
            };
        }
    }
    Route::Unrouted
}

/// Does some client family's config on this machine route `registry` (an entry's key: a
/// registry, or a repository for go-containerregistry's repository key) to this helper? Reads the
/// same files, with the same rules, as doctor's routing steps; nothing else.
pub fn routed_here(env: &Env, registry: &Registry) -> bool {
    let hub = registry.is_docker_hub();
    let host = registry.host().to_string();
    let docker_key = if hub {
        DOCKER_HUB_SERVER_URL.into()
    } else {
        host.clone()
    };
    let containers_key = if hub { DOCKER_HUB.into() } else { host };
    let repo_key = if registry.has_path() {
        registry.as_str().to_string()
    } else {
        docker_key.clone()
    };
    let docker = || {
        docker_config_path(env)
            .is_some_and(|p| docker_route(&read(&p, false), &docker_key, registry).is_ours())
    };
    let containers = || {
        let files: Vec<ConfigFile> = containers_files(env, real_uid())
            .into_iter()
            .map(|a| read(&a.path, a.legacy))
            .collect();
        containers_route(&files, &containers_key, registry, "").is_ours()
    };
    let ggcr = || {
        ggcr_file(env).is_some_and(|p| {
            let keys = [repo_key.clone(), docker_key.clone()];
            ggcr_routes(&read(&p, false), &keys, registry)
                .iter()
                .any(Route::is_ours)
        })
    };
    docker() || containers() || ggcr()
}

/// go-containerregistry: docker's lookup for the repository key, then for the registry key.
/// Returns both routes; the first that answers wins.
pub fn ggcr_routes(file: &ConfigFile, keys: &[String; 2], registry: &Registry) -> [Route; 2] {
    let repo = match file.parsed() {
        None => Route::Unrouted,
        Some(p) => {
            if let Some(h) = file.helper_for(&keys[0]) {
                Route::Helper {
                    helper: h.to_string(),
                    via: "credHelpers",
                    file: file.path.clone(),
                }
            } else if let Some(s) = &p.creds_store {
                Route::Helper {
                    helper: s.clone(),
                    via: "credsStore",
                    file: file.path.clone(),
                }
            } else if let Some(a) = file.plaintext_exact(&keys[0]) {
                Route::Plaintext {
                    key: a.key.clone(),
                    file: file.path.clone(),
                }
            } else {
                Route::Unrouted
            }
        }
    };
    [repo, docker_route(file, &keys[1], registry)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ConfigFile {
        ConfigFile {
            path: PathBuf::from("/c.json"),
            state: FileState::Parsed(parse(text.as_bytes(), false).unwrap()),
        }
    }

    #[test]
    fn keys_per_family() {
        let hub = Registry::from_reference("nginx:1.25").unwrap();
        let k = keys("nginx:1.25", &hub, "library/nginx");
        assert_eq!(k.docker, "https://index.docker.io/v1/");
        assert_eq!(k.containers, "docker.io");
        assert_eq!(
            k.ggcr,
            [
                "index.docker.io/library/nginx".to_string(),
                "https://index.docker.io/v1/".to_string()
            ]
        );
        let r = Registry::from_reference("localhost:5000/a/b:1").unwrap();
        let k = keys("localhost:5000/a/b:1", &r, "a/b");
        assert_eq!(
            (k.docker.as_str(), k.containers.as_str()),
            ("localhost:5000", "localhost:5000")
        );
        assert_eq!(k.ggcr[0], "localhost:5000/a/b");
    }

    #[test]
    fn parsing_keeps_no_values_and_reads_names_without_case() {
        let p = parse(
            br#"{"CredHelpers":{"a.io":"beta9"},"credsStore":"desktop","auths":{"b.io":{"auth":"SEKRIT"},"c.io":{},"d.io":{"\u0061uth":"x"},"e.io":null}}"#,
            false,
        )
        .unwrap();
        assert_eq!(p.cred_helpers, vec![("a.io".into(), "beta9".into())]);
        assert_eq!(p.creds_store.as_deref(), Some("desktop"));
        let secret: Vec<_> = p.auths.iter().map(|a| (a.key.as_str(), a.secret)).collect();
        assert_eq!(
            secret,
            vec![
                ("b.io", true),
                ("c.io", false),
                ("d.io", true),
                ("e.io", false)
            ]
        );
        assert!(!format!("{p:?}").contains("SEKRIT"));
        let e = parse(b"{\"auths\": SEKRIT}", false).unwrap_err();
        assert!(!e.contains("SEKRIT") && e.contains("line"), "{e}");
        let legacy = parse(
            br#"{"https://index.docker.io/v1/":{"auth":"x","email":"e"}}"#,
            true,
        )
        .unwrap();
        assert!(legacy.auths[0].secret);
    }

    /// Go's encoding/json rules (checked against go1.19): names in any case, later members win
    /// per key, objects merge, `null` empties an object and leaves a string.
    #[test]
    fn members_follow_go_rules() {
        let p = parse(
            br#"{"credHelpers":{"a":"x","b":"x"},"CredHelpers":{"b":"y","c":"y"},"credsStore":"s1","CREDSSTORE":"s2","credsStore":null}"#,
            false,
        )
        .unwrap();
        assert_eq!(
            p.cred_helpers,
            [("a", "x"), ("b", "y"), ("c", "y")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(p.creds_store.as_deref(), Some("s2"));
        let p = parse(br#"{"credHelpers":{"a":"x"},"credHelpers":null}"#, false).unwrap();
        assert!(p.cred_helpers.is_empty());
        let p = parse("{\"credHelper\u{17f}\":{\"a\":\"x\"}}".as_bytes(), false).unwrap();
        assert_eq!(p.cred_helpers.len(), 1);
        let p = parse(
            br#"{"auths":{"r":{"auth":"x"}},"Auths":{"r":{"username":"u"},"s":{"Auth":"x","auth":""}}}"#,
            false,
        )
        .unwrap();
        let secret: Vec<_> = p.auths.iter().map(|a| (a.key.as_str(), a.secret)).collect();
        assert_eq!(secret, [("r", false), ("s", false)]);
        assert!(go_name_eq("CREDSSTORE", "credsStore"));
        assert!(!go_name_eq("credsStores", "credsStore"));
        assert_eq!(Member::of("AUTHS"), Some(Member::Auths));
        assert_eq!(Member::of("auth"), None);
    }

    #[test]
    fn docker_routing_order() {
        let reg = Registry::from_server_url("r.io").unwrap();
        let f = file(
            r#"{"credHelpers":{"r.io":"beta9"},"credsStore":"x","auths":{"r.io":{"auth":"a"}}}"#,
        );
        assert!(docker_route(&f, "r.io", &reg).is_ours());
        let f = file(r#"{"credsStore":"desktop"}"#);
        assert!(
            matches!(docker_route(&f, "r.io", &reg), Route::Helper { ref helper, via: "credsStore", .. } if helper == "desktop")
        );
        let f = file(r#"{"auths":{"https://r.io/":{"auth":"a"}}}"#);
        assert!(
            matches!(docker_route(&f, "r.io", &reg), Route::Plaintext { ref key, .. } if key == "https://r.io/")
        );
        assert_eq!(docker_route(&file("{}"), "r.io", &reg), Route::Unrouted);
    }

    #[test]
    fn containers_first_file_wins_and_plaintext_shadows() {
        let reg = Registry::from_server_url("r.io").unwrap();
        let plain = file(r#"{"auths":{"r.io":{"auth":"a"}}}"#);
        let helper = file(r#"{"credHelpers":{"r.io":"beta9"}}"#);
        let r = containers_route(&[plain.clone(), helper.clone()], "r.io", &reg, "x/y");
        assert!(matches!(r, Route::Plaintext { .. }));
        let r = containers_route(&[helper, plain], "r.io", &reg, "x/y");
        assert!(r.is_ours());
        let ns = file(r#"{"auths":{"r.io/x":{"auth":"a"}},"credHelpers":{"r.io":"beta9"}}"#);
        assert!(containers_route(std::slice::from_ref(&ns), "r.io", &reg, "x/y").is_ours());
        let ns = file(r#"{"auths":{"r.io/x":{"auth":"a"}}}"#);
        assert!(
            matches!(containers_route(&[ns], "r.io", &reg, "x/y"), Route::Plaintext { ref key, .. } if key == "r.io/x")
        );
        // Hub: docker.io in credHelpers; any spelling in auths.
        let hub = Registry::from_reference("nginx").unwrap();
        let f = file(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"a"}}}"#);
        assert!(matches!(
            containers_route(&[f], "docker.io", &hub, "library/nginx"),
            Route::Plaintext { .. }
        ));
    }

    #[test]
    fn primary_file_order() {
        let env = Env::from_pairs([
            ("REGISTRY_AUTH_FILE", "/a.json"),
            ("XDG_RUNTIME_DIR", "/run/user/7"),
        ]);
        assert_eq!(containers_primary(&env, 7).path, PathBuf::from("/a.json"));
        let env = Env::from_pairs([("XDG_RUNTIME_DIR", "/run/user/7"), ("HOME", "/h")]);
        assert_eq!(
            containers_primary(&env, 7).path,
            PathBuf::from("/run/user/7/containers/auth.json")
        );
        let env = Env::from_pairs([("HOME", "/h")]);
        let p = containers_primary(&env, 7);
        assert_eq!(p.path, PathBuf::from("/run/containers/7/auth.json"));
        let files: Vec<_> = containers_files(&env, 7)
            .into_iter()
            .map(|a| a.path)
            .collect();
        assert_eq!(
            files,
            [
                "/run/containers/7/auth.json",
                "/h/.config/containers/auth.json",
                "/h/.docker/config.json",
                "/h/.dockercfg"
            ]
            .map(PathBuf::from)
        );
    }
}
