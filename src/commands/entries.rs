//! Commands over stored entries: `remove`, `ls`, `show`, `export`, `secret-name`. Only `export`
//! prints values; `ls` and `show` print names, types and times, values as a fixed mask, and for
//! minted tokens where the cached one came from (`local`: minted here, `shared`: from the fleet's
//! shared cache) and when it expires; never the token. Neither touches the network.

use super::outcome::{CmdResult, Failure};
use crate::actions::tokens::{self, LoginKind, Origin, Sharing};
use crate::actions::{self, Removed};
use crate::context::Context;
use crate::error::{printable, Error};
use crate::output::Output;
use crate::record::{self, Entry};
use crate::rfc3339;
use std::io::Write as _;

const FORCE_HINT: &str = "to delete it unread: remove --force";

/// What `show` prints instead of every value: fixed width, so not even the length leaks.
pub(crate) const MASK: &str = "********";

pub(crate) const REMOVE_ABOUT: &str =
    "Delete the stored credentials for a registry (exit 0 if there were none)";
pub(crate) const REMOVE_EXAMPLES: &str = "Example:\n  docker-credential-beta9 remove ghcr.io";
pub(crate) const LS_ABOUT: &str =
    "List stored registries: type, secret name, updated, token; no values";
pub(crate) const LS_EXAMPLES: &str = "Example:\n  docker-credential-beta9 --workspace ci ls --json";
pub(crate) const SHOW_ABOUT: &str = "Show one registry's record with every value masked";
pub(crate) const SHOW_EXAMPLES: &str =
    "Example:\n  docker-credential-beta9 show nvcr.io/nvidia/pytorch:24.01";
pub(crate) const EXPORT_ABOUT: &str =
    "Print a record as version-1 JSON WITH SECRETS (only this and `get` print them)";
pub(crate) const EXPORT_EXAMPLES: &str =
    "Example (copy a record to another machine or workspace):\n  \
docker-credential-beta9 export ghcr.io | ssh builder docker-credential-beta9 import";
pub(crate) const SECRET_NAME_ABOUT: &str =
    "Print the secret name (oci-creds-<16 hex>) of a registry's record";
pub(crate) const SECRET_NAME_EXAMPLES: &str =
    "Example:\n  docker-credential-beta9 secret-name ghcr.io/org/app:1   # oci-creds-0fd460f0568e29c1";

#[derive(clap::Args)]
pub(crate) struct RemoveArgs {
    /// Registry host or image reference
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Delete the entry's file even if it cannot be decrypted (damaged, or sealed with a lost key)
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args)]
pub(crate) struct LsArgs {
    /// One JSON array instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub(crate) struct ShowArgs {
    /// Registry host or image reference
    #[arg(value_name = "REF")]
    pub reference: String,
    /// One JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub(crate) struct ExportArgs {
    /// Registry host or image reference
    #[arg(value_name = "REF")]
    pub reference: String,
}

#[derive(clap::Args)]
pub(crate) struct SecretNameArgs {
    /// Registry host or image reference
    #[arg(value_name = "REF")]
    pub reference: String,
}

fn not_stored(ctx: &Context, reference: &str) -> String {
    let registry = actions::registry_arg(reference)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "that reference".into());
    format!(
        "nothing stored for {registry} in workspace {}",
        ctx.workspace
    )
}

pub(crate) fn remove(ctx: &Context, args: &RemoveArgs) -> CmdResult {
    // Without --force an unreadable entry stays (a wrong key must never cost data); with it, the
    // operator has decided: the entry the REF names goes, unread.
    let removed = actions::remove(ctx, &args.reference, args.force).map_err(|e| {
        let unread = matches!(
            e,
            Error::Undecryptable { .. } | Error::BadRecord { .. } | Error::StoreFormat { .. }
        );
        match Failure::from(e) {
            Failure::User(m) if unread => Failure::User(format!("{m}; {FORCE_HINT}")),
            Failure::Internal(m) if unread => Failure::Internal(format!("{m}; {FORCE_HINT}")),
            other => other,
        }
    })?;
    let note = match removed {
        None => not_stored(ctx, &args.reference),
        Some(Removed::Entry { registry, name }) => format!(
            "removed {registry} ({name}) from workspace {}",
            ctx.workspace
        ),
        Some(Removed::Unread { name }) => format!(
            "removed unreadable {name} from workspace {} (--force)",
            ctx.workspace
        ),
    };
    Ok(Output::default().note(note))
}

pub(crate) fn ls(ctx: &Context, args: &LsArgs) -> CmdResult {
    let mut entries = actions::entries(ctx)?;
    entries.sort_by(|a, b| a.record.registry.cmp(&b.record.registry));
    let mut out = Output::default();
    if args.json {
        let rows: Vec<serde_json::Value> = entries.iter().map(|e| summary(ctx, e)).collect();
        out.println(pretty(&serde_json::Value::Array(rows)));
        return Ok(out);
    }
    if entries.is_empty() {
        return Ok(out.note(format!(
            "no credentials stored in workspace {}",
            ctx.workspace
        )));
    }
    let rows: Vec<[String; 6]> = entries
        .iter()
        .map(|e| {
            [
                printable(e.record.registry.as_str()),
                e.record.kind.to_string(),
                e.record.registry.secret_name().to_string(),
                rfc3339::format(e.updated_at),
                expires_cell(ctx, e),
                token_cell(ctx, e),
            ]
        })
        .collect();
    let header = [
        "REGISTRY",
        "TYPE",
        "SECRET NAME",
        "UPDATED",
        "EXPIRES",
        "TOKEN",
    ]
    .map(String::from);
    let width = |i: usize| {
        rows.iter()
            .chain([&header])
            .map(|r| r[i].len())
            .max()
            .unwrap_or(0)
    };
    let (w0, w1, w2, w3, w4) = (width(0), width(1), width(2), width(3), width(4));
    for r in [&header].into_iter().chain(rows.iter()) {
        out.println(format!(
            "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {:w4$}  {}",
            r[0], r[1], r[2], r[3], r[4], r[5]
        ));
    }
    Ok(out)
}

pub(crate) fn show(ctx: &Context, args: &ShowArgs) -> CmdResult {
    let Some(entry) = actions::lookup(ctx, &args.reference)? else {
        return Err(Failure::user(not_stored(ctx, &args.reference)));
    };
    let mut out = Output::default();
    if args.json {
        let mut v = summary(ctx, &entry);
        let masked: serde_json::Map<String, serde_json::Value> = entry
            .record
            .credentials
            .names()
            .map(|n| (n.to_string(), serde_json::Value::from(MASK)))
            .collect();
        v["workspace"] = ctx.workspace.clone().into();
        v["credentials"] = serde_json::Value::Object(masked);
        out.println(pretty(&v));
        return Ok(out);
    }
    let r = &entry.record;
    out.println(format!("registry:    {}", printable(r.registry.as_str())));
    out.println(format!("type:        {}", r.kind));
    out.println(format!("secret name: {}", r.registry.secret_name()));
    out.println(format!("workspace:   {}", ctx.workspace));
    out.println(format!(
        "updated:     {}",
        rfc3339::format(entry.updated_at)
    ));
    if let Some(t) = entry.life.expires_at {
        out.println(if entry.expired(ctx.now()) {
            format!(
                "expired:     {} (get answers not found; prune deletes it)",
                rfc3339::format(t)
            )
        } else {
            format!("expires:     {}", rfc3339::format(t))
        });
    }
    if let Some(origin) = &entry.life.origin {
        out.println(format!("origin:      {}", printable(origin)));
    }
    if let Some((_, interval)) = ctx.last_use() {
        let used = actions::last_used(ctx, &r.registry.secret_name());
        out.println(format!(
            "last used:   {} (recorded at most every {interval} s)",
            used.map_or("never recorded".to_string(), rfc3339::format)
        ));
    }
    if let Some(url) = &entry.server_url {
        out.println(format!("stored by:   docker login as {}", printable(url)));
    }
    if let Ok(LoginKind::Token { cached, sharing }) = tokens::login_kind(ctx, r) {
        let now = ctx.now();
        let token = match cached {
            None => "none cached (the next get mints one)".to_string(),
            Some(t) if t.expires_at <= now => {
                format!(
                    "expired {} (the next get mints one)",
                    rfc3339::format(t.expires_at)
                )
            }
            Some(t) => format!(
                "{}, fetched {}, expires {}",
                match t.origin {
                    Origin::Minted => "minted here",
                    Origin::Shared => "from the shared token cache",
                },
                rfc3339::format(t.fetched_at),
                rfc3339::format(t.expires_at)
            ),
        };
        out.println(format!("token:       {token}"));
        out.println(format!(
            "sharing:     {}",
            match sharing {
                Sharing::Off => "off (no BETA9_TOKEN_CACHE_URL)",
                Sharing::Never => "never (minted from this machine's own identity)",
                Sharing::Fleet => "with the machines holding the same credential",
            }
        ));
    }
    out.println("credentials:");
    let w = r.credentials.names().map(str::len).max().unwrap_or(0);
    for name in r.credentials.names() {
        out.println(format!("  {name:w$}  {MASK}"));
    }
    Ok(out)
}

pub(crate) fn export(ctx: &Context, args: &ExportArgs) -> CmdResult {
    let Some(entry) = actions::lookup(ctx, &args.reference)? else {
        return Err(Failure::user(not_stored(ctx, &args.reference)));
    };
    // The record JSON has no expiry: exporting would hand on, permanent, what expired here.
    if let Some(t) = entry.life.expires_at.filter(|_| entry.expired(ctx.now())) {
        return Err(Failure::user(format!(
            "{} expired at {} in workspace {}: nothing to export",
            printable(entry.record.registry.as_str()),
            rfc3339::format(t),
            ctx.workspace
        )));
    }
    let mut out = Output {
        stdout: record::record_json(&entry.record),
        ..Output::default()
    };
    let _ = out.stdout.write_all(b"\n");
    Ok(out)
}

/// No store access: the name is a function of the registry alone.
pub(crate) fn secret_name(args: &SecretNameArgs) -> CmdResult {
    Ok(Output::line(
        actions::registry_arg(&args.reference)?
            .secret_name()
            .as_str(),
    ))
}

/// The EXPIRES column of `ls`: `-` for a permanent entry.
fn expires_cell(ctx: &Context, e: &Entry) -> String {
    match e.life.expires_at {
        None => "-".into(),
        Some(_) if e.expired(ctx.now()) => "expired".into(),
        Some(t) => rfc3339::format(t),
    }
}

/// The TOKEN column of `ls`: `-` for a static login, else where the cached token came from and
/// until when it works.
fn token_cell(ctx: &Context, e: &Entry) -> String {
    match tokens::login_kind(ctx, &e.record) {
        Ok(LoginKind::Static) => "-".into(),
        Ok(LoginKind::Token { cached: None, .. }) => "none cached".into(),
        Ok(LoginKind::Token {
            cached: Some(t), ..
        }) if t.expires_at <= ctx.now() => "expired".into(),
        Ok(LoginKind::Token {
            cached: Some(t), ..
        }) => format!(
            "{} until {}",
            t.origin.as_str(),
            rfc3339::format(t.expires_at)
        ),
        // A record `get` would refuse: `show` and `get` say why.
        Err(_) => "?".into(),
    }
}

/// `ls --json`'s and `show --json`'s `token` object for minted tokens (none for static logins).
fn token_json(ctx: &Context, e: &Entry) -> Option<serde_json::Value> {
    let LoginKind::Token { cached, sharing } = tokens::login_kind(ctx, &e.record).ok()? else {
        return None;
    };
    let mut v = serde_json::json!({"cached": cached.is_some(), "sharing": sharing.as_str()});
    if let Some(t) = cached {
        v["source"] = t.origin.as_str().into();
        v["fetched_at"] = t.fetched_at.into();
        v["expires_at"] = t.expires_at.into();
        v["expires"] = rfc3339::format(t.expires_at).into();
    }
    Some(v)
}

/// What `ls --json` and `show --json` say about an entry, values excluded.
fn summary(ctx: &Context, e: &Entry) -> serde_json::Value {
    let mut v = serde_json::json!({
        "registry": e.record.registry.as_str(),
        "type": e.record.kind.as_str(),
        "secret_name": e.record.registry.secret_name().as_str(),
        "updated_at": e.updated_at,
        "updated": rfc3339::format(e.updated_at),
    });
    if let Some(url) = &e.server_url {
        v["server_url"] = url.clone().into();
    }
    if let Some(t) = e.life.expires_at {
        v["expires_at"] = rfc3339::format(t).into();
        v["expired"] = e.expired(ctx.now()).into();
    }
    if let Some(origin) = &e.life.origin {
        v["origin"] = origin.clone().into();
    }
    if let Some(t) = actions::last_used(ctx, &e.record.registry.secret_name()) {
        v["last_used"] = rfc3339::format(t).into();
    }
    if let Some(token) = token_json(ctx, e) {
        v["token"] = token;
    }
    v
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}
