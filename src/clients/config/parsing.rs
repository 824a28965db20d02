//! How a client config file is read, as the Go clients (and docker-py) read it (docs/clients.md,
//! "Key rules of config.json"): member names, `credHelpers`, `credsStore`, and `auths` reduced to
//! keys and whether each holds a secret.

use crate::error::NotJsonObject;
use crate::fsutil;
use crate::registry::Registry;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// A client config is small; anything larger is not one.
pub const CONFIG_LIMIT: u64 = 16 << 20;

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
            Err(e) => FileState::Unreadable(e.to_string()),
        },
    };
    ConfigFile {
        path: path.to_path_buf(),
        state,
    }
}

/// Parses a config's text; errors give a position only (the file may hold secrets).
pub fn parse(bytes: &[u8], legacy: bool) -> Result<Parsed, NotJsonObject> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Parsed::default());
    }
    let at = |e: serde_json::Error| NotJsonObject::at(&e);
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
