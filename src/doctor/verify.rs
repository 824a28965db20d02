//! `add … --verify` and `import --verify`: a credential checked against its registry before it is
//! stored, by `doctor`'s own live step (docs/clients.md, "Verifying before storing"): the login
//! the record resolves to, then the `/v2/` challenge and Basic or the token endpoint, and for an
//! image reference the manifest a pull asks for. `aws` and `gcp` records that mint are checked by
//! minting once: the cloud's token service judges the keys.
//!
//! Nothing here writes an entry; the caller stores the record only when this returns `Ok`.

use super::{live, parse_target, Cause, Mark, Options, Reference, Step, Target};
use crate::actions::tokens::{self, LoginKind};
use crate::context::Context;
use crate::credential_type::CredentialType;
use crate::error::{printable, Error};
use crate::record::Record;

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
}

impl Refusal {
    pub(crate) fn message(&self) -> &str {
        match self {
            Refusal::Rejected(m) | Refusal::Unreachable(m) | Refusal::Other(m) => m,
        }
    }
}

/// Checks `record` against its registry; `image` (a reference naming a repository) also checks a
/// pull of that image's manifest. `Ok` carries one line saying what was checked.
pub(crate) fn verify(
    ctx: &Context,
    record: &Record,
    image: Option<&str>,
    plain_http: bool,
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
    if matches!(record.kind, CredentialType::Aws | CredentialType::Gcp) {
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
    live(ctx, &t, Some(&login), &opts, &mut steps, &mut |_| {});
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
