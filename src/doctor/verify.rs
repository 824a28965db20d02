//! `add … --verify` and `import --verify`: a credential checked against its registry before it is
//! stored, by `doctor`'s own live step (docs/clients.md, "Verifying before storing"): the login
//! the record resolves to, then the `/v2/` challenge and Basic or the token endpoint, and for an
//! image reference the manifest a pull asks for. `aws` and `gcp` records that mint are checked by
//! minting once: the cloud's token service judges the keys.
//!
//! Nothing here writes an entry; the caller stores the record only when this returns `Ok`.

use super::live::{api_host, live_guarded};
use super::{parse_target, Cause, Mark, Options, Reference, Step, Target};
use crate::actions::tokens::{self, LoginKind};
use crate::context::Context;
use crate::credential_type::CredentialType;
use crate::error::{printable, Error};
use crate::net::addr::{target, Allow, Denied, Guard};
use crate::record::Record;
use crate::registry::Registry;
use std::sync::Arc;

/// Why a credential was not verified: one line naming what the registry (or the token service)
/// said, never a secret or a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The registry or the token service refused the login, or the account may not pull the
    /// image.
    Rejected(String),
    /// Nothing answered: connection, TLS, proxy, the time budget.
    Unreachable(String),
    /// Anything else (no such image, not a registry, a record that cannot log in).
    Other(String),
    /// A request the guard did not send (docs/records.md, "Verify targets"): `to` is whom it was
    /// for (`its registry`, `the token endpoint its registry names`), `words` a plain line.
    Denied {
        to: &'static str,
        denied: Denied,
        words: String,
    },
}

impl Refusal {
    pub(crate) fn message(&self) -> &str {
        match self {
            Refusal::Rejected(m) | Refusal::Unreachable(m) | Refusal::Other(m) => m,
            Refusal::Denied { words, .. } => words,
        }
    }
}

/// Whom a request of the live check is for, by its `host:port`.
const TO_REGISTRY: &str = "its registry";
const TO_REALM: &str = "the token endpoint its registry names";

/// Checks `record` against its registry; `image` (a reference naming a repository) also checks a
/// pull of that image's manifest. `Ok` carries one line saying what was checked.
pub(crate) fn verify(
    ctx: &Context,
    record: &Record,
    image: Option<&str>,
    plain_http: bool,
) -> Result<String, Refusal> {
    verify_with(ctx, record, image, plain_http, None)
}

/// [`verify`] for a record from outside this machine (`import --verify`): the registry's host,
/// and the token endpoint's before the login goes there, must not be this machine, the metadata
/// server or the private network unless `allow` opens them (docs/records.md, "Verify targets").
/// The registry is checked before any request; a refused host is never connected to.
pub(crate) fn verify_guarded(
    ctx: &Context,
    record: &Record,
    plain_http: bool,
    allow: Allow,
) -> Result<String, Refusal> {
    verify_with(ctx, record, None, plain_http, Some(allow))
}

fn verify_with(
    ctx: &Context,
    record: &Record,
    image: Option<&str>,
    plain_http: bool,
    allow: Option<Allow>,
) -> Result<String, Refusal> {
    let registry = &record.registry;
    let shown = printable(registry.as_str());
    let target = match image {
        None => None,
        Some(image) => {
            let (named, repo, reference) = parse_target(image).map_err(Refusal::Other)?;
            if named != *registry {
                return Err(Refusal::Other(format!(
                    "{} is not an image of {shown}",
                    printable(image)
                )));
            }
            let sep = match reference {
                Reference::Tag(_) => ':',
                Reference::Digest(_) => '@',
            };
            let what = format!("{repo}{sep}{}", reference.as_str());
            Some((repo, reference, what))
        }
    };
    let mints = matches!(record.kind, CredentialType::Aws | CredentialType::Gcp);
    // The registry is checked before anything: resolving some logins talks to it already (ACR's
    // token exchange). ECR and Google mint from their own services, never the registry.
    let guard = allow.map(|a| Arc::new(Guard::new(a, ctx.budget())));
    if let (Some(g), false) = (&guard, mints) {
        admit_registry(g, registry, plain_http)?;
    }
    if mints {
        ctx.uncached_tokens_without_a_key();
    }
    let minted = matches!(
        tokens::login_kind(ctx, record).map_err(login_failure)?,
        LoginKind::Token { .. }
    );
    let login = tokens::login(ctx, record)
        .map_err(login_failure)?
        .ok_or_else(|| {
            Refusal::Other(format!(
                "the {} record for {shown} cannot serve a login yet",
                record.kind
            ))
        })?;
    // The token service accepted the keys; the registry itself is asked only about an image.
    if minted && target.is_none() {
        return Ok(format!(
            "verified: the {} token service accepted the keys for {shown} (a token was minted)",
            record.kind
        ));
    }
    let t = Target {
        registry,
        image: target.as_ref().map(|(repo, r, _)| (repo.as_str(), r)),
    };
    let opts = Options {
        plain_http,
        no_network: false,
        client: None,
    };
    let mut steps: Vec<Step> = Vec::new();
    let registry_at = match &guard {
        Some(g) => Some(admit_registry(g, registry, plain_http)?),
        None => None,
    };
    live_guarded(
        ctx,
        &t,
        Some(&login),
        &opts,
        guard.clone(),
        &mut steps,
        &mut |_| {},
    );
    if let Some(d) = guard.as_ref().and_then(|g| g.denied()) {
        let to = if registry_at.is_some_and(|at| at.iter().any(|t| t == d.target())) {
            TO_REGISTRY
        } else {
            TO_REALM
        };
        return Err(denied(to, d));
    }
    if let Some(failed) = steps.iter().find(|s| s.mark == Mark::Fail) {
        let what = target.as_ref().map(|(_, _, what)| what.as_str());
        return Err(refusal(&shown, what, failed));
    }
    let asked_none = steps
        .iter()
        .any(|s| s.name == "auth" && s.mark == Mark::Skip);
    Ok(match (&target, asked_none) {
        (_, true) => format!(
            "verified: {shown} asks for no credential at /v2/, so the login could not be checked"
        ),
        (None, false) => format!("verified: {shown} accepted the login"),
        (Some((_, _, what)), false) => {
            format!("verified: {shown} accepted the login and a pull of {what}")
        }
    })
}

/// The registry's host checked before anything is sent to it; the `host:port`s its requests
/// use (https, and http for the loopback fallback), as the guard names them.
fn admit_registry(
    g: &Guard,
    registry: &Registry,
    plain_http: bool,
) -> Result<[String; 2], Refusal> {
    let host = api_host(registry);
    let scheme = if plain_http { "http" } else { "https" };
    g.admit_url(&format!("{scheme}://{host}/v2/"))
        .map_err(|d| denied(TO_REGISTRY, d))?;
    Ok(["https", "http"].map(|scheme| target(&format!("{scheme}://{host}/v2/"))))
}

/// A refused request as a refusal: a host that cannot be looked up is unreachable, one that
/// points where a record may not is [`Refusal::Denied`].
fn denied(to: &'static str, d: Denied) -> Refusal {
    match d {
        Denied::Unresolved { .. } => {
            Refusal::Unreachable(format!("cannot verify the login: {to} is {}", d.describe()))
        }
        Denied::Rule { .. } => Refusal::Denied {
            to,
            words: format!("{to} is {}: not sent there", d.describe()),
            denied: d,
        },
    }
}

/// The one line for a failed live step.
fn refusal(shown: &str, what: Option<&str>, s: &Step) -> Refusal {
    let what = what.unwrap_or("the image");
    match &s.cause {
        Some(Cause::Rejected(said)) => {
            Refusal::Rejected(format!("{shown} rejected the login: {said}"))
        }
        Some(Cause::NoPull(said)) => Refusal::Rejected(format!(
            "{shown} refused a pull of {what} with this login: {said}"
        )),
        Some(Cause::Missing(said)) => Refusal::Other(format!(
            "{shown} accepted the login but has no {what}: {said}"
        )),
        Some(Cause::Unreachable(detail)) => {
            Refusal::Unreachable(format!("cannot verify the login: {detail}"))
        }
        Some(Cause::Other) | None => Refusal::Other(format!(
            "cannot verify the login with {shown}: {}",
            s.detail
        )),
    }
}

/// A record that does not resolve to a login (a refused or unreachable token service, a bad
/// record): its own one-line message, classified.
fn login_failure(e: Error) -> Refusal {
    let m = e.protocol_message();
    match e {
        Error::Rejected { .. } | Error::Expired { .. } => Refusal::Rejected(m),
        Error::Unreachable { .. } | Error::Timeout { .. } => Refusal::Unreachable(m),
        _ => Refusal::Other(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(cause: Option<Cause>) -> Step {
        Step {
            name: "auth".into(),
            mark: Mark::Fail,
            detail: "GET /v2/ answered 500".into(),
            fix: None,
            cause,
        }
    }

    #[test]
    fn each_cause_is_one_line_naming_what_the_registry_said() {
        let r = |c| refusal("r.example:5000", Some("team/app:1"), &failed(c));
        assert_eq!(
            r(Some(Cause::Rejected("401 UNAUTHORIZED".into()))),
            Refusal::Rejected("r.example:5000 rejected the login: 401 UNAUTHORIZED".into())
        );
        assert_eq!(
            r(Some(Cause::NoPull("403 DENIED".into()))),
            Refusal::Rejected(
                "r.example:5000 refused a pull of team/app:1 with this login: 403 DENIED".into()
            )
        );
        assert!(matches!(
            r(Some(Cause::Missing("404".into()))),
            Refusal::Other(m) if m.ends_with("has no team/app:1: 404")
        ));
        assert!(matches!(
            r(Some(Cause::Unreachable("cannot reach r.example:5000: https: connection refused".into()))),
            Refusal::Unreachable(m) if m.starts_with("cannot verify the login: cannot reach")
        ));
        for c in [Some(Cause::Other), None] {
            assert_eq!(
                r(c).message(),
                "cannot verify the login with r.example:5000: GET /v2/ answered 500"
            );
        }
    }
}
