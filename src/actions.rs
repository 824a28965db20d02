//! What each verb does, as plain functions over a [`Context`]. No stdin, stdout or exit codes here:
//! `cli` turns these results into bytes and statuses.

use crate::detect;
use crate::env::{self, Env};
use crate::error::{Error, Result};
use crate::paths;
use crate::protocol::StoreRequest;
use crate::record::{CredentialType, Credentials, Record};
use crate::registry::{Registry, SecretName};
use crate::resolve;
use crate::secret::{self, Login};
use crate::store::file::FileStore;
use crate::store::key::KeySource;
use crate::store::Store;
use secrecy::SecretString;
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Everything an action may use: the env snapshot, the workspace, the store and the clock.
/// Notes are one-line hints for stderr, collected here so only `cli` picks the stream.
pub struct Context {
    pub env: Env,
    pub workspace: String,
    pub store: Box<dyn Store>,
    pub now: SystemTime,
    notes: RefCell<Vec<String>>,
}

impl Context {
    /// The real context: file store in the workspace's directory, key from the configured source.
    pub fn from_env(env: Env, workspace: Option<&str>) -> Result<Context> {
        let workspace = workspace
            .or_else(|| env.get(env::WORKSPACE))
            .unwrap_or(paths::DEFAULT_WORKSPACE)
            .to_string();
        paths::validate_workspace(&workspace)?;
        let dir = paths::store_dir(&env, &workspace)?;
        let keys = KeySource::from_env(&env)?;
        let store = FileStore::new(dir, &workspace, keys);
        Ok(Context::with_store(env, &workspace, Box::new(store)))
    }

    pub fn with_store(env: Env, workspace: &str, store: Box<dyn Store>) -> Context {
        Context {
            env,
            workspace: workspace.to_string(),
            store,
            now: SystemTime::now(),
            notes: RefCell::new(Vec::new()),
        }
    }

    pub fn now_unix(&self) -> u64 {
        self.now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    pub fn note(&self, line: String) {
        self.notes.borrow_mut().push(line);
    }

    pub fn take_notes(&self) -> Vec<String> {
        let mut notes = self.store.take_warnings();
        notes.append(&mut self.notes.borrow_mut());
        notes
    }
}

/// A decrypted entry: the record and what `list`/`ls` show about it.
#[derive(Debug)]
pub struct Entry {
    pub record: Record,
    /// The ServerURL docker gave to `store`, reported back by `list` (COMPAT.md §10.5).
    pub server_url: Option<String>,
    pub updated_at: u64,
}

impl Entry {
    pub fn list_key(&self) -> String {
        self.server_url
            .clone()
            .unwrap_or_else(|| self.record.registry.list_key())
    }
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(default)]
    updated_at: u64,
    #[serde(default)]
    server_url: Option<String>,
    #[serde(borrow)]
    record: &'a serde_json::value::RawValue,
}

fn decode_entry(name: &SecretName, plaintext: &[u8]) -> Result<Entry> {
    let bad = |reason: String| Error::BadRecord {
        entry: name.to_string(),
        reason,
    };
    let raw: RawEntry = serde_json::from_slice(plaintext).map_err(|e| {
        bad(format!(
            "malformed entry at line {}, column {}",
            e.line(),
            e.column()
        ))
    })?;
    let record = Record::decode_stored(raw.record.get().as_bytes()).map_err(bad)?;
    Ok(Entry {
        record,
        server_url: raw.server_url,
        updated_at: raw.updated_at,
    })
}

/// The entry stored for exactly this registry. A different registry under the same 64-bit name
/// (a hash collision, or a file copied by hand) is treated as absent, never returned.
pub fn load(ctx: &Context, registry: &Registry) -> Result<Option<Entry>> {
    let name = registry.secret_name();
    let Some(plain) = ctx.store.read(&name)? else {
        return Ok(None);
    };
    let entry = decode_entry(&name, plain.as_slice())?;
    if entry.record.registry != *registry {
        tracing::debug!(entry = %name, "entry belongs to another registry; treated as absent");
        return Ok(None);
    }
    Ok(Some(entry))
}

/// Writes a record (replacing any previous one for its registry) and returns its secret name.
pub fn save(ctx: &Context, record: &Record, server_url: Option<&str>) -> Result<SecretName> {
    let name = record.registry.secret_name();
    let plain = secret::entry_json(record, server_url, ctx.now_unix());
    ctx.store.write(&name, plain.as_slice())?;
    tracing::debug!(entry = %name, kind = %record.kind, "stored");
    Ok(name)
}

/// `store`: docker's login becomes a record that keeps exactly the Username and Secret given
/// (COMPAT.md §10.6). Hub and GHCR use their types' names; everything else, ECR, Google and NGC
/// hosts included, becomes `generic`: an explicit login wins over detection, nothing is minted.
pub fn store(ctx: &Context, req: StoreRequest) -> Result<()> {
    let registry = Registry::from_server_url(&req.server_url);
    let kind = match detect::by_registry(&registry) {
        Some(t @ (CredentialType::Dockerhub | CredentialType::Ghcr)) => t,
        _ => CredentialType::Generic,
    };
    let Some((user_name, secret_name)) = kind.login_names() else {
        return Err(Error::Invalid(format!("{kind} has no login pair")));
    };
    let mut credentials = Credentials::new();
    credentials.insert(user_name, SecretString::from(req.username));
    credentials.insert(secret_name, req.secret);
    let record = Record {
        registry,
        kind,
        credentials,
    };
    save(ctx, &record, Some(&req.server_url))?;
    Ok(())
}

/// `get`: the login for a server URL, `None` when nothing is stored for exactly that key.
pub fn get(ctx: &Context, server_url: &str) -> Result<Option<Login>> {
    let registry = Registry::from_server_url(server_url);
    let Some(entry) = load(ctx, &registry)? else {
        return Ok(None);
    };
    resolve::resolve(ctx, &entry.record)
}

/// `erase`: removes the entry; absent is fine (`docker logout` erases up to four keys). An entry
/// that cannot be decrypted is an error, not a silent delete: a wrong key must never cost data.
pub fn erase(ctx: &Context, server_url: &str) -> Result<()> {
    let registry = Registry::from_server_url(server_url);
    // `load` is None for another registry's entry under the same name: leave that one alone.
    if load(ctx, &registry)?.is_some() {
        ctx.store.remove(&registry.secret_name())?;
    }
    Ok(())
}

/// `remove`: deletes the entry for exactly this (canonical) registry; `false` if there was none.
/// Like `erase`, an entry that cannot be decrypted is an error, never a silent delete.
pub fn remove(ctx: &Context, registry: &Registry) -> Result<bool> {
    if load(ctx, registry)?.is_none() {
        return Ok(false);
    }
    ctx.store.remove(&registry.secret_name())
}

/// `list`: server URL → username for every readable entry, offline. An unreadable entry is skipped
/// with a note, so one damaged file does not hide the others.
pub fn list(ctx: &Context) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for entry in entries(ctx)? {
        out.insert(entry.list_key(), resolve::list_username(&entry.record));
    }
    Ok(out)
}

/// Every readable entry, notes for the rest.
pub fn entries(ctx: &Context) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for name in ctx.store.names()? {
        let entry = ctx
            .store
            .read(&name)
            .and_then(|p| p.map(|p| decode_entry(&name, p.as_slice())).transpose());
        match entry {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(e) => ctx.note(format!("skipping {name}: {}", e.protocol_message())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::parse_store;
    use crate::store::MemoryStore;
    use secrecy::ExposeSecret;

    fn ctx() -> Context {
        Context::with_store(Env::default(), "default", Box::new(MemoryStore::default()))
    }

    fn store_json(ctx: &Context, json: &str) {
        store(ctx, parse_store(json.as_bytes()).unwrap()).unwrap();
    }

    #[test]
    fn store_then_get_then_erase() {
        let c = ctx();
        store_json(
            &c,
            r#"{"ServerURL":"https://ghcr.io","Username":"octo","Secret":"ghp_x"}"#,
        );
        let login = get(&c, "ghcr.io").unwrap().unwrap();
        assert_eq!(login.username.expose_secret(), "octo");
        assert_eq!(login.secret.expose_secret(), "ghp_x");
        let entry = load(&c, &Registry::from_server_url("ghcr.io"))
            .unwrap()
            .unwrap();
        assert_eq!(entry.record.kind, CredentialType::Ghcr);
        erase(&c, "ghcr.io").unwrap();
        assert!(get(&c, "ghcr.io").unwrap().is_none());
        erase(&c, "ghcr.io").unwrap();
    }

    #[test]
    fn hub_keys_are_one_entry_but_oauth_keys_are_not() {
        let c = ctx();
        store_json(
            &c,
            r#"{"ServerURL":"https://index.docker.io/v1/","Username":"me","Secret":"pat"}"#,
        );
        store_json(
            &c,
            r#"{"ServerURL":"https://index.docker.io/v1/access-token","Username":"me","Secret":"jwt"}"#,
        );
        for key in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            let l = get(&c, key).unwrap().unwrap();
            assert_eq!(l.secret.expose_secret(), "pat", "{key}");
        }
        let l = get(&c, "https://index.docker.io/v1/access-token")
            .unwrap()
            .unwrap();
        assert_eq!(l.secret.expose_secret(), "jwt");
        let listed = list(&c).unwrap();
        assert_eq!(
            listed
                .get("https://index.docker.io/v1/")
                .map(String::as_str),
            Some("me")
        );
        assert!(listed.contains_key("https://index.docker.io/v1/access-token"));
        let hub = load(&c, &Registry::from_server_url("docker.io"))
            .unwrap()
            .unwrap();
        assert_eq!(hub.record.kind, CredentialType::Dockerhub);
    }

    #[test]
    fn cloud_hosts_stored_by_docker_are_generic() {
        let c = ctx();
        store_json(
            &c,
            r#"{"ServerURL":"111111111111.dkr.ecr.us-east-1.amazonaws.com","Username":"AWS","Secret":"tok"}"#,
        );
        let e = load(
            &c,
            &Registry::from_server_url("111111111111.dkr.ecr.us-east-1.amazonaws.com"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.record.kind, CredentialType::Generic);
        let l = get(&c, "111111111111.dkr.ecr.us-east-1.amazonaws.com")
            .unwrap()
            .unwrap();
        assert_eq!(l.username.expose_secret(), "AWS");
    }

    #[test]
    fn repository_paths_do_not_fall_back_to_the_host() {
        let c = ctx();
        store_json(&c, r#"{"ServerURL":"ghcr.io","Username":"u","Secret":"s"}"#);
        assert!(get(&c, "ghcr.io/org/img").unwrap().is_none());
    }

    #[test]
    fn collision_guard_returns_nothing_for_another_registry() {
        let c = ctx();
        // Plant ghcr.io's record under nvcr.io's secret name, as a collision would.
        let rec = Record::decode(
            br#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t"}}"#,
            None,
        )
        .unwrap();
        let plain = secret::entry_json(&rec, None, 0);
        c.store
            .write(
                &Registry::from_canonical("nvcr.io").secret_name(),
                plain.as_slice(),
            )
            .unwrap();
        assert!(get(&c, "nvcr.io").unwrap().is_none());
        erase(&c, "nvcr.io").unwrap();
        assert!(c
            .store
            .read(&Registry::from_canonical("nvcr.io").secret_name())
            .unwrap()
            .is_some());
    }

    #[test]
    fn static_types_resolve_per_the_guide() {
        let c = ctx();
        let put = |json: &str| {
            let rec = Record::decode(json.as_bytes(), None).unwrap();
            save(&c, &rec, None).unwrap();
        };
        put(
            r#"{"version":1,"registry":"nvcr.io","type":"ngc","credentials":{"NGC_API_KEY":"nk"}}"#,
        );
        put(
            r#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"gt"}}"#,
        );
        put(
            r#"{"version":1,"registry":"gcr.io","type":"gcp","credentials":{"GCP_ACCESS_TOKEN":"ya29"}}"#,
        );
        put(
            r#"{"version":1,"registry":"111111111111.dkr.ecr.us-east-1.amazonaws.com","type":"aws","credentials":{"AWS_ACCESS_KEY_ID":"a","AWS_SECRET_ACCESS_KEY":"b"}}"#,
        );
        let ngc = get(&c, "nvcr.io").unwrap().unwrap();
        assert_eq!(ngc.username.expose_secret(), "$oauthtoken");
        assert_eq!(ngc.secret.expose_secret(), "nk");
        let gh = get(&c, "ghcr.io").unwrap().unwrap();
        assert_eq!(gh.username.expose_secret(), "gt");
        let g = get(&c, "gcr.io").unwrap().unwrap();
        assert_eq!(g.username.expose_secret(), "oauth2accesstoken");
        let listed = list(&c).unwrap();
        assert_eq!(listed["ghcr.io"], "", "a token never shows in list");
        assert_eq!(listed["nvcr.io"], "$oauthtoken");
    }

    #[test]
    fn gcp_token_never_goes_to_other_hosts_and_expiry_is_checked() {
        let c = ctx();
        let rec = Record::decode(
            br#"{"version":1,"registry":"notgcr.io","type":"gcp","credentials":{"GCP_ACCESS_TOKEN":"ya29"}}"#,
            None,
        )
        .unwrap();
        save(&c, &rec, None).unwrap();
        let err = get(&c, "notgcr.io").unwrap_err();
        assert!(!err.protocol_message().contains("ya29"));
        let rec = Record::decode(
            br#"{"version":1,"registry":"us-docker.pkg.dev","type":"gcp","credentials":{"GCP_ACCESS_TOKEN":"ya29","GCP_ACCESS_TOKEN_EXPIRY":"1000"}}"#,
            None,
        )
        .unwrap();
        save(&c, &rec, None).unwrap();
        let err = get(&c, "us-docker.pkg.dev").unwrap_err();
        assert!(matches!(err, Error::Expired { .. }), "{err}");
    }
}
