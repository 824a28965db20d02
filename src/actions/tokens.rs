//! The resolvers as the actions and the edge reach them, and what the edge shows of minted tokens
//! (`ls`, `show`, `refresh`): where the entry's cached token came from and whether the fleet
//! shares it, never the token. Each call hands the resolver the [`Needs`] built here from the
//! context, the one place that is done: the resolvers never see the context. The types are the
//! resolver's and the token cache's, named here so the edge needs neither.

use crate::context::Context;
use crate::error::Result;
use crate::login::Login;
use crate::record::Record;
use crate::resolve::{self, Needs};
use crate::token::fleet::{Pace, SystemPace};

pub(crate) use crate::resolve::{LoginKind, Sharing, Warmed};
pub(crate) use crate::token::Origin;

/// Runs `f` with the [`Needs`] the context provides.
fn with_needs<T>(ctx: &Context, f: impl FnOnce(&Needs) -> T) -> T {
    let note = |n: String| ctx.note(n);
    let tokens = || ctx.tokens();
    let budget = || ctx.budget();
    let proxies = || ctx.proxies();
    f(&Needs {
        workspace: &ctx.workspace,
        settings: &ctx.settings,
        clock: ctx.clock(),
        note: &note,
        tokens: &tokens,
        budget: &budget,
        proxies: &proxies,
    })
}

/// Whether the record's login is static or a minted token, and what is cached of the token.
pub(crate) fn login_kind(ctx: &Context, record: &Record) -> Result<LoginKind> {
    with_needs(ctx, |n| resolve::login_kind(n, record))
}

/// The login `get` would answer from the record now: a minted token is taken from the cache or
/// minted; `None` for a record that cannot serve a login yet.
pub(crate) fn login(ctx: &Context, record: &Record) -> Result<Option<Login>> {
    with_needs(ctx, |n| resolve::resolve(n, record))
}

/// The login a static record answers, read locally (no network, no token cache): `None` for a
/// record whose login is minted, or one that does not resolve.
pub(crate) fn static_login(ctx: &Context, record: &Record) -> Option<Login> {
    try_static_login(ctx, record).ok().flatten()
}

/// [`static_login`] with its errors: the record's login if it is static (no network, no token
/// cache), `None` for a record whose login is minted or that cannot serve a login yet; an error
/// when the record does not resolve.
pub(crate) fn try_static_login(ctx: &Context, record: &Record) -> Result<Option<Login>> {
    if login_kind(ctx, record)? != LoginKind::Static {
        return Ok(None);
    }
    login(ctx, record)
}

/// `refresh`: the record's minted token made fresh now if `get` would refresh it
/// (docs/fleet.md, "Pre-warming"); `None` for a record with nothing to mint.
pub(crate) fn prewarm(ctx: &Context, record: &Record) -> Result<Option<Warmed>> {
    with_needs(ctx, |n| resolve::prewarm(n, record))
}

/// The local token-cache key of the token minted for this record alone, if any: `prune` deletes
/// it with the entry (docs/storage.md, "Entry lifecycle"). No network.
pub(crate) fn own_token_key(ctx: &Context, record: &Record) -> Result<Option<String>> {
    with_needs(ctx, |n| resolve::own_token_key(n, record))
}

/// Random pauses for `refresh --every --jitter`, from the fleet's own source of randomness.
pub(crate) struct Jitter(SystemPace);

impl Jitter {
    pub(crate) fn new() -> Jitter {
        Jitter(SystemPace::new())
    }

    /// A number of seconds below `bound`.
    pub(crate) fn below(&self, bound: u64) -> u64 {
        self.0.random(bound)
    }
}

impl Default for Jitter {
    fn default() -> Jitter {
        Jitter::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    fn record(json: &str) -> Record {
        Record::decode(json.as_bytes(), None).unwrap()
    }

    #[test]
    fn login_kinds_need_no_network() {
        let ctx = Context::in_memory(Env::default());
        let ghcr = record(
            r#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t"}}"#,
        );
        assert_eq!(login_kind(&ctx, &ghcr).unwrap(), LoginKind::Static);
        let aws = record(
            r#"{"version":1,"registry":"111111111111.dkr.ecr.us-east-1.amazonaws.com","type":"aws","credentials":{"AWS_ACCESS_KEY_ID":"a","AWS_SECRET_ACCESS_KEY":"b"}}"#,
        );
        assert_eq!(
            login_kind(&ctx, &aws).unwrap(),
            LoginKind::Token {
                cached: None,
                sharing: Sharing::Off
            }
        );
        let stored = record(
            r#"{"version":1,"registry":"gcr.io","type":"gcp","credentials":{"GCP_ACCESS_TOKEN":"ya29"}}"#,
        );
        assert_eq!(login_kind(&ctx, &stored).unwrap(), LoginKind::Static);
    }
}
