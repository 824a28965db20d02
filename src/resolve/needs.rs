//! What a minting resolver is handed instead of the whole context.

use crate::clock::Clock;
use crate::error::Result;
use crate::net::proxy::Proxies;
use crate::settings::Settings;
use crate::token::TokenCache;
use std::time::Duration;

/// What the minting resolvers (`ecr`, `gcp`) use, and nothing more: they never see the context.
/// `actions::tokens` builds it from the context per call. What costs something is read on first
/// use only, so a record refused by its own plan opens no token cache, and a cache hit reads no
/// network setting.
pub(crate) struct Needs<'a> {
    /// Part of every local token-cache key.
    pub workspace: &'a str,
    /// The settings the resolvers read: `AWS_PROFILE`, the AWS endpoint overrides,
    /// `GCE_METADATA_HOST`, Google's stand-in origin (docs/google.md, "Pinned endpoints").
    pub settings: &'a Settings,
    pub clock: &'a dyn Clock,
    /// A one-line hint for stderr.
    pub note: &'a dyn Fn(String),
    /// The workspace's token cache, opened on first use.
    pub tokens: &'a dyn Fn() -> Result<&'a dyn TokenCache>,
    /// The network budget (`BETA9_TIMEOUT`), read when a token is fetched.
    pub budget: &'a dyn Fn() -> Duration,
    /// The HTTP proxies (docs/proxies.md), read when a token is fetched through one.
    pub proxies: &'a dyn Fn() -> Result<Proxies>,
}
