//! What the edge shows of minted tokens (`ls`, `show`, `refresh`): where the entry's cached token
//! came from and whether the fleet shares it, never the token. The types are the resolver's and
//! the token cache's, named here so the edge needs neither.

use crate::context::Context;
use crate::error::Result;
use crate::login::Login;
use crate::record::Record;
use crate::resolve;
use crate::token::fleet::{Pace, SystemPace};

pub(crate) use crate::resolve::{LoginKind, Sharing, Warmed};
pub(crate) use crate::token::Origin;

/// Whether the record's login is static or a minted token, and what is cached of the token.
pub(crate) fn login_kind(ctx: &Context, record: &Record) -> Result<LoginKind> {
    resolve::login_kind(ctx, record)
}

/// The login `get` would answer from the record now: a minted token is taken from the cache or
/// minted; `None` for a record that cannot serve a login yet.
pub(crate) fn login(ctx: &Context, record: &Record) -> Result<Option<Login>> {
    resolve::resolve(ctx, record)
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
