//! What each verb and command does, as plain functions over a [`Context`]. No stdin, stdout or exit
//! codes here: the edge turns these results into bytes and statuses. Every read-decide-write of an
//! entry happens inside one store update, so nothing can land between the decision and the change.

pub(crate) mod google;
pub(crate) mod import_policy;
pub(crate) mod kubelet;
pub(crate) mod platform;
pub(crate) mod rekey;
pub(crate) mod schema;
pub(crate) mod tokens;

use crate::context::Context;
use crate::credential_type::CredentialType;
use crate::detect;
use crate::error::{Error, Result};
use crate::login::{Login, NewLogin};
use crate::record::{self, Credentials, Entry, Lifecycle, Record, RecordError};
use crate::registry::Registry;
use crate::resolve;
use crate::secret_name::SecretName;
use crate::store::sealed::{Current, Plan};
use crate::store::used;
use secrecy::SecretString;
use std::collections::BTreeMap;

/// The registry a REF argument names (docs/registry-identity.md, "Table of forms").
pub(crate) fn registry_arg(reference: &str) -> Result<Registry> {
    Registry::from_reference(reference)
}

fn bad_record(name: &SecretName, reason: RecordError) -> Error {
    Error::BadRecord {
        entry: name.to_string(),
        reason: reason.to_string(),
    }
}

/// The entry stored for exactly this registry. A different registry under the same 64-bit name
/// (a hash collision, or a file copied by hand) is treated as absent, never returned
/// (docs/registry-identity.md, "Collision guard").
pub(crate) fn load(ctx: &Context, registry: &Registry) -> Result<Option<Entry>> {
    let name = registry.secret_name();
    let Some(plain) = ctx.store.read(&name)? else {
        return Ok(None);
    };
    let entry = Entry::decode(plain.as_slice()).map_err(|r| bad_record(&name, r))?;
    if entry.record.registry != *registry {
        tracing::debug!(entry = %name, "entry belongs to another registry; treated as absent");
        return Ok(None);
    }
    Ok(Some(entry))
}

/// The entry `get` answers from: [`load`], with an expired entry treated as absent
/// (docs/storage.md, "Entry lifecycle").
pub(crate) fn load_live(ctx: &Context, registry: &Registry) -> Result<Option<Entry>> {
    Ok(load(ctx, registry)?.filter(|e| {
        let expired = e.expired(ctx.now());
        if expired {
            tracing::debug!(entry = %registry.secret_name(), "entry expired; treated as absent");
        }
        !expired
    }))
}

/// What [`save`] did.
#[derive(Debug)]
pub struct Saved {
    pub name: SecretName,
    pub replaced: bool,
}

/// Writes a record, replacing the registry's previous one. Refuses (and leaves it as it is) an
/// entry under that name that cannot be opened or decoded, or that holds another registry's
/// record: a wrong key or a name collision must never cost a credential.
pub fn save(ctx: &Context, record: &Record, server_url: Option<&str>) -> Result<Saved> {
    save_as(ctx, record, server_url, &Lifecycle::default())
}

/// [`save`] with the entry's expiry and origin, sealed with it. The new entry replaces the old
/// one's lifecycle too: saving without an expiry makes the entry permanent again.
pub(crate) fn save_as(
    ctx: &Context,
    record: &Record,
    server_url: Option<&str>,
    life: &Lifecycle,
) -> Result<Saved> {
    save_checked(ctx, record, server_url, life, false)?.ok_or_else(|| {
        Error::Invalid(format!(
            "{} was not stored: another writer's entry is there",
            record.registry
        ))
    })
}

/// [`save_as`] for `import --sync`: writes only over nothing or over an entry with the same
/// origin as `life`'s; `None` (and nothing written) when an entry of another origin, or of none,
/// is there (docs/storage.md, "Entry lifecycle").
pub(crate) fn save_owned(
    ctx: &Context,
    record: &Record,
    life: &Lifecycle,
) -> Result<Option<Saved>> {
    save_checked(ctx, record, None, life, true)
}

fn save_checked(
    ctx: &Context,
    record: &Record,
    server_url: Option<&str>,
    life: &Lifecycle,
    owned_only: bool,
) -> Result<Option<Saved>> {
    let name = record.registry.secret_name();
    let keep = |why: String| {
        Error::Invalid(format!(
            "{why}; it was left as it is: restore the key it was sealed with, or delete it with `remove --force` first"
        ))
    };
    let replaced = ctx.store.update(&name, |current| {
        let replaced = match current {
            Current::Absent => false,
            Current::Unreadable(e) => return Err(keep(e.protocol_message())),
            Current::Open(plain) => match Entry::decode(plain.as_slice()) {
                Ok(e) if e.record.registry == record.registry => {
                    if owned_only && e.life.origin != life.origin {
                        return Ok(Plan::Keep(None));
                    }
                    true
                }
                Ok(_) => {
                    return Err(keep(format!(
                        "entry {name} holds another registry's record"
                    )))
                }
                Err(reason) => return Err(keep(bad_record(&name, reason).protocol_message())),
            },
        };
        let plain = record::entry_json(record, server_url, ctx.now(), life);
        Ok(Plan::Put(plain, Some(replaced)))
    })?;
    let Some(replaced) = replaced else {
        return Ok(None);
    };
    tracing::debug!(entry = %name, kind = %record.kind, "stored");
    Ok(Some(Saved { name, replaced }))
}

/// Deletes the entry of `registry` only if `origin` wrote it (`import --sync` removing what the
/// platform no longer has); `true` if it did.
pub(crate) fn remove_owned(ctx: &Context, registry: &Registry, origin: &str) -> Result<bool> {
    let name = registry.secret_name();
    let removed = ctx.store.update(&name, |current| {
        Ok(match current {
            Current::Open(plain) => match Entry::decode(plain.as_slice()) {
                Ok(e)
                    if e.record.registry == *registry
                        && e.life.origin.as_deref() == Some(origin) =>
                {
                    Plan::Delete(true)
                }
                _ => Plan::Keep(false),
            },
            Current::Absent | Current::Unreadable(_) => Plan::Keep(false),
        })
    })?;
    if removed {
        forget_use(ctx, &name);
    }
    Ok(removed)
}

/// `store`: docker's login becomes a record that keeps exactly the Username and Secret given
/// (docs/records.md, "Logins stored by docker"). Hub and GHCR use their types' names; everything
/// else, ECR, Google and NGC hosts included, becomes `generic`: an explicit login wins over
/// detection, nothing is minted. Like every write, it never replaces an entry it cannot open
/// (`remove --force` deletes one) or another registry's entry.
pub(crate) fn store(ctx: &Context, login: NewLogin) -> Result<()> {
    let registry = Registry::from_server_url(&login.server_url)?;
    let kind = match detect::by_registry(&registry) {
        Some(t @ (CredentialType::Dockerhub | CredentialType::Ghcr)) => t,
        _ => CredentialType::Generic,
    };
    let Some((user_name, secret_name)) = kind.login_names() else {
        return Err(Error::Other(anyhow::anyhow!("{kind} has no login pair")));
    };
    let mut credentials = Credentials::new();
    credentials.insert(user_name, SecretString::from(login.username));
    credentials.insert(secret_name, login.secret);
    let record = Record {
        registry,
        kind,
        credentials,
    };
    let life = Lifecycle::new("store", None, ctx.now());
    save_as(ctx, &record, Some(&login.server_url), &life)?;
    Ok(())
}

/// `get`: the login for a server URL, `None` when nothing is stored for exactly that key or the
/// entry expired.
pub fn get(ctx: &Context, server_url: &str) -> Result<Option<Login>> {
    let registry = Registry::from_server_url(server_url)?;
    let Some(entry) = load_live(ctx, &registry)? else {
        return Ok(None);
    };
    let login = tokens::login(ctx, &entry.record)?;
    if login.is_some() {
        record_use(ctx, &registry.secret_name());
    }
    Ok(login)
}

/// Notes that `get` answered from an entry: at most one small write per entry per interval,
/// after the answer was made, outside any lock, never an error (docs/storage.md, "Last use").
fn record_use(ctx: &Context, name: &SecretName) {
    if let Some((dir, interval)) = ctx.last_use() {
        used::touch(dir, name, ctx.now(), interval);
    }
}

/// When `get` last answered from this entry, as recorded (within the interval).
pub(crate) fn last_used(ctx: &Context, name: &SecretName) -> Option<u64> {
    used::last_used(ctx.last_use()?.0, name)
}

fn forget_use(ctx: &Context, name: &SecretName) {
    if let Some((dir, _)) = ctx.last_use() {
        used::forget(dir, name);
    }
}

/// Deletes the entry of exactly `registry` if it is there. `force` also deletes an entry that
/// cannot be opened or decoded; otherwise that is an error (a wrong key must never cost data).
/// Another registry's entry under the same name is left alone.
fn delete(ctx: &Context, registry: &Registry, force: bool) -> Result<Option<Removed>> {
    let name = registry.secret_name();
    let removed = ctx.store.update(&name, |current| {
        Ok(match current {
            Current::Absent => Plan::Keep(None),
            Current::Open(plain) => match Entry::decode(plain.as_slice()) {
                Ok(e) if e.record.registry == *registry => Plan::Delete(Some(Removed::Entry {
                    registry: registry.clone(),
                    name: name.clone(),
                })),
                Ok(_) => Plan::Keep(None),
                Err(_) if force => Plan::Delete(Some(Removed::Unread { name: name.clone() })),
                Err(reason) => return Err(bad_record(&name, reason)),
            },
            Current::Unreadable(_) if force => {
                Plan::Delete(Some(Removed::Unread { name: name.clone() }))
            }
            Current::Unreadable(e) => return Err(e),
        })
    })?;
    if removed.is_some() {
        forget_use(ctx, &name);
    }
    Ok(removed)
}

/// `erase`: removes the entry; absent is fine (`docker logout` erases up to four keys).
pub(crate) fn erase(ctx: &Context, server_url: &str) -> Result<()> {
    delete(ctx, &Registry::from_server_url(server_url)?, false).map(drop)
}

/// What [`remove`] did.
#[derive(Debug)]
pub(crate) enum Removed {
    Entry {
        registry: Registry,
        name: SecretName,
    },
    /// `--force` deleted an entry that could not be opened.
    Unread { name: SecretName },
}

/// The keys a REF may mean, most specific first: exactly the key as given (what `ls` shows for
/// keys `docker login` stored, such as `ghcr.io/org/app` or Hub's OAuth keys), then the registry
/// of the REF read as an image reference (`ghcr.io/org/app:1` → `ghcr.io`).
fn candidates(reference: &str) -> Result<Vec<Registry>> {
    let by_ref = registry_arg(reference)?;
    Ok(match Registry::from_server_url(reference) {
        Ok(exact) if exact != by_ref => vec![exact, by_ref],
        _ => vec![by_ref],
    })
}

/// `remove`: deletes the entry a REF names (see [`candidates`]); `None` if there was none.
pub(crate) fn remove(ctx: &Context, reference: &str, force: bool) -> Result<Option<Removed>> {
    for registry in candidates(reference)? {
        if let Some(removed) = delete(ctx, &registry, force)? {
            return Ok(Some(removed));
        }
    }
    Ok(None)
}

/// The entry a REF names (see [`candidates`]).
pub(crate) fn lookup(ctx: &Context, reference: &str) -> Result<Option<Entry>> {
    for registry in candidates(reference)? {
        if let Some(e) = load(ctx, &registry)? {
            return Ok(Some(e));
        }
    }
    Ok(None)
}

/// The username `list` shows for a record (empty for a token-only type).
pub(crate) fn username(record: &Record) -> String {
    resolve::list_username(record)
}

/// `list`: server URL → username for every readable entry that has not expired, offline. An
/// unreadable entry is skipped with a note, so one damaged file does not hide the others.
pub fn list(ctx: &Context) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let now = ctx.now();
    for entry in entries(ctx)?.into_iter().filter(|e| !e.expired(now)) {
        out.insert(entry.list_key(), resolve::list_username(&entry.record));
    }
    Ok(out)
}

/// Every readable entry, notes for the rest.
pub(crate) fn entries(ctx: &Context) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for name in ctx.store.names()? {
        let entry = ctx.store.read(&name).and_then(|p| {
            p.map(|p| Entry::decode(p.as_slice()).map_err(|r| bad_record(&name, r)))
                .transpose()
        });
        match entry {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(e) => ctx.note(format!("skipping {name}: {}", e.protocol_message())),
        }
    }
    Ok(out)
}

/// Why `prune` removes an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doomed {
    /// Its expiry (Unix seconds) has passed.
    Expired { at: u64 },
    /// Neither written nor used since `since` (Unix seconds), longer ago than `prune --unused-for`.
    Unused { since: u64 },
}

/// One entry `prune` removed (or, in a dry run, would remove).
#[derive(Debug)]
pub(crate) struct Pruned {
    pub registry: Registry,
    pub name: SecretName,
    pub why: Doomed,
    /// A cached token minted for it was deleted too.
    pub token: bool,
}

/// Which entries `prune` deletes besides expired ones.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PruneRule {
    /// Seconds without a write or a recorded use; `None`: expired entries only.
    pub unused_for: Option<u64>,
}

fn doomed(ctx: &Context, entry: &Entry, rule: PruneRule, now: u64) -> Option<Doomed> {
    if let Some(at) = entry.life.expires_at.filter(|at| *at <= now) {
        return Some(Doomed::Expired { at });
    }
    let unused_for = rule.unused_for?;
    // A use is recorded only when the last record is older than the interval, so one may be
    // up to an interval old: allow that much more, and never delete an entry used within D.
    let slack = ctx.last_use().map_or(0, |(_, interval)| interval);
    let used = last_used(ctx, &entry.record.registry.secret_name());
    let written_within = entry.updated_at.saturating_add(unused_for) >= now;
    let used_within =
        used.is_some_and(|u| u.saturating_add(slack).saturating_add(unused_for) >= now);
    (!written_within && !used_within).then(|| Doomed::Unused {
        since: used.map_or(entry.updated_at, |u| u.max(entry.updated_at)),
    })
}

/// `prune`: deletes this workspace's expired entries and the tokens cached for them
/// (docs/storage.md, "Entry lifecycle"). Each deletion decides again inside the entry's update,
/// so an entry written meanwhile (a fresh import) is kept. Entries that do not open are skipped
/// with a note (`remove --force` is the way to delete those). A dry run changes nothing.
pub(crate) fn prune(ctx: &Context, rule: PruneRule, dry_run: bool) -> Result<Vec<Pruned>> {
    let mut out = Vec::new();
    for entry in entries(ctx)? {
        let now = ctx.now();
        let Some(why) = doomed(ctx, &entry, rule, now) else {
            continue;
        };
        let registry = entry.record.registry.clone();
        let name = registry.secret_name();
        // Computed before the entry goes: the key is derived from the record's credentials.
        let token_key = tokens::own_token_key(ctx, &entry.record).unwrap_or(None);
        if dry_run {
            let token = token_key
                .is_some_and(|k| ctx.tokens().map(|t| t.read(&k).is_some()).unwrap_or(false));
            out.push(Pruned {
                registry,
                name,
                why,
                token,
            });
            continue;
        }
        let removed = ctx.store.update(&name, |current| {
            Ok(match current {
                Current::Open(plain) => match Entry::decode(plain.as_slice()) {
                    Ok(e) if e.record.registry == registry => {
                        match doomed(ctx, &e, rule, ctx.now()) {
                            Some(why) => Plan::Delete(Some(why)),
                            None => Plan::Keep(None),
                        }
                    }
                    _ => Plan::Keep(None),
                },
                Current::Absent | Current::Unreadable(_) => Plan::Keep(None),
            })
        })?;
        let Some(why) = removed else {
            continue;
        };
        forget_use(ctx, &name);
        let token = match token_key {
            Some(k) => ctx.tokens().and_then(|t| t.remove(&k)).unwrap_or_else(|e| {
                ctx.note(format!(
                    "warning: {registry}: its cached token was not deleted: {}",
                    e.protocol_message()
                ));
                false
            }),
            None => false,
        };
        out.push(Pruned {
            registry,
            name,
            why,
            token,
        });
    }
    Ok(out)
}

/// Which key of an image a login was found under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// An entry stored for exactly the image's repository.
    Repository,
    /// The registry's entry.
    Registry,
}

/// The login for an image (the kubelet plugin's question).
#[derive(Debug)]
pub(crate) struct ImageLogin {
    /// The key the entry was found under (`ghcr.io/org/app` or `ghcr.io`).
    pub key: Registry,
    pub scope: Scope,
    pub kind: CredentialType,
    pub login: Login,
    /// The entry's own expiry, which caps how long kubelet may cache the answer.
    pub expires_at: Option<u64>,
}

/// An entry stored for exactly the image's repository wins over the registry's (as
/// go-containerregistry looks them up, docs/clients.md).
pub(crate) fn image_login(ctx: &Context, image: &str) -> Result<Option<ImageLogin>> {
    let registry = registry_arg(image)?;
    let mut keys = Vec::with_capacity(2);
    if let Some(repo) = crate::registry::repository(image) {
        let key = Registry::from_server_url(&format!("{}/{repo}", registry.as_str()))?;
        keys.push((key, Scope::Repository));
    }
    keys.push((registry, Scope::Registry));
    for (key, scope) in keys {
        if let Some(entry) = load_live(ctx, &key)? {
            if let Some(login) = tokens::login(ctx, &entry.record)? {
                record_use(ctx, &key.secret_name());
                return Ok(Some(ImageLogin {
                    key,
                    scope,
                    kind: entry.record.kind,
                    login,
                    expires_at: entry.life.expires_at,
                }));
            }
        }
    }
    Ok(None)
}

/// Every workspace of the store `ctx` opened (the file store's directories, the database's
/// distinct workspaces): what `refresh` covers without `--workspace`.
pub(crate) fn workspaces(ctx: &Context) -> Result<Vec<String>> {
    ctx.store.backend().workspaces()
}

/// One entry of a `refresh` pass.
#[derive(Debug)]
pub(crate) struct Prewarmed {
    pub registry: Registry,
    pub kind: CredentialType,
    /// Already fresh, refreshed, or why not.
    pub outcome: Result<tokens::Warmed>,
}

/// `refresh`: every entry of the workspace whose login is a minted token, made fresh if `get`
/// would refresh it (docs/fleet.md, "Pre-warming"); the others (static logins) are not listed.
/// One entry's failure does not stop the others; `stop` is asked before each entry.
pub(crate) fn prewarm(ctx: &Context, stop: &mut dyn FnMut() -> bool) -> Result<Vec<Prewarmed>> {
    let mut out = Vec::new();
    for entry in entries(ctx)? {
        if !matches!(entry.record.kind, CredentialType::Aws | CredentialType::Gcp) {
            continue;
        }
        if stop() {
            break;
        }
        let outcome = match tokens::prewarm(ctx, &entry.record) {
            Ok(Some(w)) => Ok(w),
            Ok(None) => continue,
            Err(e) => Err(e),
        };
        out.push(Prewarmed {
            registry: entry.record.registry.clone(),
            kind: entry.record.kind,
            outcome,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::protocol::parse_store;
    use secrecy::ExposeSecret;

    fn ctx() -> Context {
        Context::in_memory(Env::default())
    }

    fn store_json(ctx: &Context, json: &str) {
        store(ctx, parse_store(json.as_bytes()).unwrap()).unwrap();
    }

    fn put_raw(ctx: &Context, name: &SecretName, plain: crate::secret::SecretBuf) {
        let mut plain = Some(plain);
        ctx.store
            .update(name, |_| {
                Ok(Plan::Put(plain.take().unwrap_or_default(), ()))
            })
            .unwrap();
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
        let entry = load(&c, &Registry::from_server_url("ghcr.io").unwrap())
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
        let hub = load(&c, &Registry::from_server_url("docker.io").unwrap())
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
            &Registry::from_server_url("111111111111.dkr.ecr.us-east-1.amazonaws.com").unwrap(),
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
    fn collision_guard_returns_nothing_for_another_registry_and_keeps_it() {
        let c = ctx();
        // Plant ghcr.io's record under nvcr.io's secret name, as a collision would.
        let rec = Record::decode(
            br#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t"}}"#,
            None,
        )
        .unwrap();
        let nvcr = Registry::from_canonical("nvcr.io");
        put_raw(
            &c,
            &nvcr.secret_name(),
            record::entry_json(&rec, None, 0, &Lifecycle::default()),
        );
        assert!(get(&c, "nvcr.io").unwrap().is_none());
        erase(&c, "nvcr.io").unwrap();
        assert!(remove(&c, "nvcr.io", true).unwrap().is_none());
        assert!(c.store.read(&nvcr.secret_name()).unwrap().is_some());
        // A write for nvcr.io refuses to replace it.
        let login = parse_store(br#"{"ServerURL":"nvcr.io","Username":"u","Secret":"s"}"#);
        let err = store(&c, login.unwrap()).unwrap_err();
        assert!(err.to_string().contains("another registry"), "{err}");
    }

    #[test]
    fn unreadable_entries_are_kept_by_every_write_and_deleted_only_by_force() {
        let c = ctx();
        let ghcr = Registry::from_canonical("ghcr.io");
        let mut junk = crate::secret::SecretBuf::default();
        std::io::Write::write_all(&mut junk, b"not json").unwrap();
        put_raw(&c, &ghcr.secret_name(), junk);
        let rec = Record::decode(
            br#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t"}}"#,
            None,
        )
        .unwrap();
        let err = save(&c, &rec, None).unwrap_err();
        assert!(err.to_string().contains("left as it is"), "{err}");
        let login = parse_store(br#"{"ServerURL":"ghcr.io","Username":"u","Secret":"s"}"#);
        assert!(
            store(&c, login.unwrap()).is_err(),
            "docker login refuses too"
        );
        assert!(erase(&c, "ghcr.io").is_err());
        assert!(remove(&c, "ghcr.io", false).is_err());
        assert!(matches!(
            remove(&c, "ghcr.io", true).unwrap(),
            Some(Removed::Unread { .. })
        ));
        assert!(c.store.read(&ghcr.secret_name()).unwrap().is_none());
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

    #[test]
    fn repository_entries_win_over_the_registry_for_images() {
        let c = ctx();
        store_json(
            &c,
            r#"{"ServerURL":"ghcr.io","Username":"reg","Secret":"s1"}"#,
        );
        store_json(
            &c,
            r#"{"ServerURL":"ghcr.io/org/app","Username":"repo","Secret":"s2"}"#,
        );
        let hit = image_login(&c, "ghcr.io/org/app:1").unwrap().unwrap();
        assert_eq!(
            (hit.key.as_str(), hit.scope),
            ("ghcr.io/org/app", Scope::Repository)
        );
        let hit = image_login(&c, "ghcr.io/org/other").unwrap().unwrap();
        assert_eq!((hit.key.as_str(), hit.scope), ("ghcr.io", Scope::Registry));
        assert!(image_login(&c, "nvcr.io/x").unwrap().is_none());
    }

    #[test]
    fn expired_entries_answer_as_absent_until_saved_again_without_expiry() {
        let clock = crate::clock::ManualClock::at(1_000_000);
        let c = ctx().with_clock(Box::new(clock.clone()));
        let rec = Record::decode(
            br#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t"}}"#,
            None,
        )
        .unwrap();
        save_as(&c, &rec, None, &Lifecycle::new("import", Some(90), c.now())).unwrap();
        assert!(get(&c, "ghcr.io").unwrap().is_some());
        assert!(
            image_login(&c, "ghcr.io/org/app")
                .unwrap()
                .unwrap()
                .expires_at
                == Some(1_000_090)
        );
        clock.advance(89);
        assert!(get(&c, "ghcr.io").unwrap().is_some());
        clock.advance(1);
        assert!(get(&c, "ghcr.io").unwrap().is_none());
        assert!(image_login(&c, "ghcr.io/org/app").unwrap().is_none());
        assert!(list(&c).unwrap().is_empty());
        // Still there for `ls`, `show` and `prune`.
        let e = lookup(&c, "ghcr.io").unwrap().unwrap();
        assert!(e.expired(c.now()));
        assert_eq!(e.life.origin.as_deref(), Some("import"));
        // docker login to the same registry: permanent again.
        store_json(&c, r#"{"ServerURL":"ghcr.io","Username":"u","Secret":"s"}"#);
        clock.advance(10 * 365 * 86400);
        assert!(get(&c, "ghcr.io").unwrap().is_some());
        let e = lookup(&c, "ghcr.io").unwrap().unwrap();
        assert_eq!(e.life.expires_at, None);
        assert_eq!(e.life.origin.as_deref(), Some("store"));
    }

    #[test]
    fn prune_deletes_expired_entries_and_their_tokens_and_nothing_else() {
        let clock = crate::clock::ManualClock::at(1_000_000);
        let c = ctx().with_clock(Box::new(clock.clone()));
        let ecr = Record::decode(
            br#"{"version":1,"registry":"111111111111.dkr.ecr.us-east-1.amazonaws.com","type":"aws",
                "credentials":{"AWS_ACCESS_KEY_ID":"AKIAEXAMPLE","AWS_SECRET_ACCESS_KEY":"s"}}"#,
            None,
        )
        .unwrap();
        save_as(&c, &ecr, None, &Lifecycle::new("import", Some(60), c.now())).unwrap();
        let key = tokens::own_token_key(&c, &ecr).unwrap().unwrap();
        let token = crate::token::CachedToken {
            username: "AWS".into(),
            secret: SecretString::from("tok"),
            expires_at: c.now() + 43_200,
            fetched_at: c.now(),
            origin: crate::token::Origin::Minted,
        };
        c.tokens().unwrap().write(&key, &token).unwrap();
        store_json(&c, r#"{"ServerURL":"ghcr.io","Username":"u","Secret":"s"}"#);
        let later = Record::decode(
            br#"{"version":1,"registry":"nvcr.io","type":"ngc","credentials":{"NGC_API_KEY":"k"}}"#,
            None,
        )
        .unwrap();
        save_as(
            &c,
            &later,
            None,
            &Lifecycle::new("add", Some(3600), c.now()),
        )
        .unwrap();

        assert!(
            prune(&c, PruneRule::default(), false).unwrap().is_empty(),
            "nothing expired yet"
        );
        clock.advance(60);
        let planned = prune(&c, PruneRule::default(), true).unwrap();
        assert_eq!(planned.len(), 1);
        assert!(planned[0].token);
        assert!(
            c.tokens().unwrap().read(&key).is_some(),
            "dry run keeps the token"
        );
        assert!(lookup(&c, "111111111111.dkr.ecr.us-east-1.amazonaws.com")
            .unwrap()
            .is_some());
        let done = prune(&c, PruneRule::default(), false).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(
            done[0].registry.as_str(),
            "111111111111.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(done[0].why, Doomed::Expired { at: 1_000_060 });
        assert!(done[0].token);
        assert!(c.tokens().unwrap().read(&key).is_none());
        assert!(lookup(&c, "111111111111.dkr.ecr.us-east-1.amazonaws.com")
            .unwrap()
            .is_none());
        assert!(get(&c, "ghcr.io").unwrap().is_some());
        assert!(get(&c, "nvcr.io").unwrap().is_some());
        assert!(prune(&c, PruneRule::default(), false).unwrap().is_empty());
    }

    #[test]
    fn prune_unused_for_keeps_what_get_answered_or_someone_wrote_within_the_duration() {
        let dir = tempfile::tempdir().unwrap();
        let clock = crate::clock::ManualClock::at(1_000_000);
        let c = ctx()
            .with_clock(Box::new(clock.clone()))
            .with_uses_dir(dir.path().to_path_buf());
        store_json(
            &c,
            r#"{"ServerURL":"used.example","Username":"u","Secret":"s"}"#,
        );
        store_json(
            &c,
            r#"{"ServerURL":"idle.example","Username":"u","Secret":"s"}"#,
        );
        clock.advance(100);
        assert!(get(&c, "used.example").unwrap().is_some());
        let name = Registry::from_canonical("used.example").secret_name();
        assert_eq!(last_used(&c, &name), Some(1_000_100));
        let rule = PruneRule {
            unused_for: Some(3000),
        };
        clock.set(1_003_000);
        assert!(prune(&c, rule, false).unwrap().is_empty(), "written within");
        clock.set(1_003_001);
        let planned = prune(&c, rule, true).unwrap();
        assert_eq!(planned.len(), 1);
        assert_eq!(planned[0].registry.as_str(), "idle.example");
        assert_eq!(planned[0].why, Doomed::Unused { since: 1_000_000 });
        assert!(get(&c, "idle.example").unwrap().is_some(), "dry run");
        // That get counts as a use: nothing to prune now.
        assert!(prune(&c, rule, false).unwrap().is_empty());
        // A use is recorded at most once an hour, so one up to an hour old still counts.
        clock.set(1_000_100 + 3600 + 3000);
        assert!(prune(&c, rule, false)
            .unwrap()
            .iter()
            .all(|p| p.registry.as_str() != "used.example"));
        clock.advance(1);
        let done = prune(&c, rule, false).unwrap();
        assert!(done.iter().any(|p| p.registry.as_str() == "used.example"));
        assert_eq!(last_used(&c, &name), None, "the marker goes with the entry");
    }
}
