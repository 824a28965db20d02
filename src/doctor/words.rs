//! The report's words: how doctor names a route, an entry, a token's age, a rate limit, and the
//! commands a fix names. Pure formatting of what the other modules decided.

use super::model::EntryInfo;
use super::probe::{self, Answer};
use crate::actions::tokens::LoginKind;
use crate::clients::config::{Route, HELPER};
use crate::credential_type::CredentialType;
use crate::detect;
use crate::error::printable;
use crate::record::Entry;
use crate::registry::Registry;
use crate::rfc3339;
use std::path::Path;

/// `401 UNAUTHORIZED`: the status and, when the body names one, the registry's error code.
pub(super) fn said(a: &Answer) -> String {
    match probe::error_code(&a.body) {
        Some(code) => format!("{} {code}", a.status),
        None => a.status.to_string(),
    }
}

pub(super) fn configure_cmd(registry: &Registry, containers: bool, migrate: bool) -> String {
    format!(
        "docker-credential-beta9 configure-docker {}{}{}",
        registry.as_str(),
        if containers { " --containers" } else { "" },
        if migrate { " --migrate" } else { "" }
    )
}

pub(super) fn shown(p: &Path) -> String {
    printable(&p.display().to_string())
}

/// What a route means, in words, and how to fix it when it is not this helper.
pub(super) fn route_words(route: &Route) -> String {
    match route {
        Route::Helper { helper, via, file } => {
            format!("{via} in {} → docker-credential-{helper}", shown(file))
        }
        Route::Plaintext { key, file } => format!(
            "a plaintext login in auths ({}) of {} answers",
            printable(key),
            shown(file)
        ),
        Route::Unrouted => "nothing routes it".into(),
    }
}

pub(super) fn not_ours(head: &str, route: &Route) -> String {
    match route {
        Route::Helper { .. } => format!("{head}, not {HELPER}"),
        Route::Plaintext { .. } => format!("{head} instead of {HELPER}"),
        Route::Unrouted => format!("{head}: the pull goes anonymous"),
    }
}

pub(super) fn describe_entry(i: &EntryInfo) -> String {
    let user = if i.username.is_empty() {
        String::new()
    } else {
        format!(", username {}", printable(&i.username))
    };
    format!(
        "{} ({} entry {}, type {}, workspace {}, updated {}{user})",
        i.secret_name,
        i.scope,
        printable(&i.key),
        i.kind,
        i.workspace,
        rfc3339::format(i.updated_at)
    )
}

/// What to run to store a login for `registry`, or to have docker store one.
pub(super) fn add_hint(workspace: &str, registry: &Registry) -> String {
    format!(
        "{} (or `docker login` once docker routes it here)",
        add_command(workspace, registry)
    )
}

/// `export NAMES and run `docker-credential-beta9 add REGISTRY NAMES``: the type's variable
/// names, whose values `add` reads from the environment.
pub(super) fn add_command(workspace: &str, registry: &Registry) -> String {
    let kind = detect::by_registry(registry).unwrap_or(CredentialType::Generic);
    let names: Vec<&str> = match kind.login_names() {
        Some((u, s)) => vec![u, s],
        None => match kind {
            CredentialType::Aws => vec!["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
            CredentialType::Gcp => vec!["GOOGLE_APPLICATION_CREDENTIALS_JSON"],
            CredentialType::Azure => vec!["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"],
            _ => vec!["NGC_API_KEY"],
        },
    };
    let ws = ws_flag(workspace);
    format!(
        "export {} and run `docker-credential-beta9 {ws}add {} {}`",
        names.join(", "),
        registry.as_str(),
        names.join(" ")
    )
}

pub(super) fn token_words(now: u64, kind: CredentialType, cached: &LoginKind) -> String {
    match cached {
        LoginKind::Static => format!("static {kind} login, answered as stored"),
        LoginKind::Token { cached: None, .. } => {
            format!("token minted from the {kind} record on each get (none cached)")
        }
        LoginKind::Token {
            cached: Some(t), ..
        } if t.expires_at > now => format!(
            "token minted from the {kind} record; cached one ({}) fetched {} ago, expires in {} ({})",
            t.origin.as_str(),
            crate::duration::human(now.saturating_sub(t.fetched_at)),
            crate::duration::human(t.expires_at - now),
            rfc3339::format(t.expires_at)
        ),
        LoginKind::Token {
            cached: Some(t), ..
        } => format!(
            "token minted from the {kind} record; the cached one expired {} ago, the next get mints a new one",
            crate::duration::human(now.saturating_sub(t.expires_at))
        ),
    }
}

/// `--workspace W ` when the run is not in the default workspace: commands named in a fix act on
/// the same entries doctor looked at.
pub(super) fn ws_flag(workspace: &str) -> String {
    if workspace == crate::paths::DEFAULT_WORKSPACE {
        String::new()
    } else {
        format!("--workspace {workspace} ")
    }
}

/// `docker-credential-beta9 [--workspace W] show KEY`: the entry's record, as `show` takes it.
pub(super) fn show_command(workspace: &str, e: &Entry) -> String {
    let ws = ws_flag(workspace);
    format!(
        "`docker-credential-beta9 {ws}show {}`",
        printable(e.record.registry.as_str())
    )
}

/// `76 of 100 pulls left in this 6 h window`.
pub(super) fn allowance(r: &probe::RateLimit) -> String {
    let window = match r.window {
        Some(w) => format!(" in this {} window", crate::duration::human(w)),
        None => String::new(),
    };
    format!(
        "rate limit: {} of {} pulls left{window}",
        r.remaining, r.limit
    )
}

/// Anonymous pulls share one allowance per address; an account has its own, larger one.
pub(super) fn rate_limit_fix(workspace: &str, registry: &Registry, with_login: bool) -> String {
    if with_login {
        "wait for the window to pass, or store a login whose plan allows more pulls".into()
    } else {
        format!(
            "pulls without a login share the address's small allowance: {}",
            add_hint(workspace, registry)
        )
    }
}

/// `Bearer realm https://auth.example/token, service registry.example` or `Basic realm "…"`.
pub(super) fn challenge_words(c: &probe::Challenge) -> String {
    match c.scheme.as_str() {
        "bearer" => format!(
            "Bearer realm {}{}",
            c.param("realm")
                .map_or_else(|| "(none)".into(), probe::shown_url),
            c.param("service")
                .map(|s| format!(", service {}", printable(s)))
                .unwrap_or_default()
        ),
        _ => format!(
            "Basic realm \"{}\"",
            printable(c.param("realm").unwrap_or_default())
        ),
    }
}
