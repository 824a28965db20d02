//! From a stored record to the login `get` answers. Static types do no I/O; cloud types mint
//! short-lived tokens in their own modules, except `azure`, a static login bound to ACR hosts
//! ([`acr`]). Every entry point takes the [`Needs`] the actions layer builds from the context
//! (`actions::tokens`): nothing here sees the context.

use crate::credential_type::CredentialType;
use crate::error::{Error, Result};
use crate::hosts;
use crate::login::Login;
use crate::record::{Record, RecordError};
use crate::token::Origin;
pub(crate) use crate::token::Warmed;
pub(crate) use needs::Needs;
use secrecy::{ExposeSecret, SecretString};

pub(crate) mod acr;
pub(crate) mod ecr;
pub(crate) mod google;
pub(crate) mod needs;

/// How a record's login is produced, as `ls`, `show` and `doctor` report it: no network, nothing
/// minted, no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LoginKind {
    /// Answered as stored.
    Static,
    /// A short-lived token minted from the record: the locally cached one, if any, and whether
    /// the fleet shares it.
    Token {
        cached: Option<TokenInfo>,
        sharing: Sharing,
    },
}

/// What is known about a cached token, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenInfo {
    pub fetched_at: u64,
    pub expires_at: u64,
    /// Minted here (`local`) or taken from the fleet's shared cache (`shared`).
    pub origin: Origin,
}

/// Whether a record's token goes through the fleet's shared cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sharing {
    /// No shared cache is configured (`BETA9_TOKEN_CACHE_URL` unset).
    Off,
    /// Minted from this machine's own identity (ambient AWS credentials, the metadata server):
    /// never shared.
    Never,
    /// Minted from key material stored in the record: shared with the machines holding it.
    Fleet,
}

impl Sharing {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Sharing::Off => "off",
            Sharing::Never => "never",
            Sharing::Fleet => "fleet",
        }
    }
}

/// See [`LoginKind`].
pub(crate) fn login_kind(n: &Needs, record: &Record) -> Result<LoginKind> {
    let (cached, shareable) = match record.kind {
        CredentialType::Aws => ecr::cached(n, record)?,
        CredentialType::Gcp if record.credentials.non_empty("GCP_ACCESS_TOKEN").is_none() => {
            google::cached(n, record)?
        }
        _ => return Ok(LoginKind::Static),
    };
    let sharing = match ((n.tokens)()?.fleet().is_some(), shareable) {
        (false, _) => Sharing::Off,
        (true, false) => Sharing::Never,
        (true, true) => Sharing::Fleet,
    };
    let cached = cached.map(|t| TokenInfo {
        fetched_at: t.fetched_at,
        expires_at: t.expires_at,
        origin: t.origin,
    });
    Ok(LoginKind::Token { cached, sharing })
}

/// The local token-cache key of the token minted for this record alone, if any: `prune` deletes it
/// with the entry (docs/storage.md, "Entry lifecycle"). No network.
pub(crate) fn own_token_key(n: &Needs, record: &Record) -> Result<Option<String>> {
    match record.kind {
        CredentialType::Aws => ecr::cache_key_of(n, record).map(Some),
        CredentialType::Gcp if record.credentials.non_empty("GCP_ACCESS_TOKEN").is_none() => {
            google::own_cache_key(record)
        }
        _ => Ok(None),
    }
}

/// The login for a record, `None` when the record cannot serve logins yet.
pub(crate) fn resolve(n: &Needs, record: &Record) -> Result<Option<Login>> {
    let c = &record.credentials;
    let need = |name: &str| -> Result<&SecretString> {
        c.get(name).ok_or_else(|| Error::BadRecord {
            entry: record.registry.secret_name().to_string(),
            reason: RecordError::missing(record.kind, name).to_string(),
        })
    };
    let login = match record.kind {
        CredentialType::Dockerhub => {
            let secret = match c.get("DOCKERHUB_PASSWORD") {
                Some(p) => p,
                None => need("DOCKERHUB_TOKEN")?,
            };
            Login::new(need("DOCKERHUB_USERNAME")?.expose_secret(), secret)
        }
        CredentialType::Ghcr => {
            let token = need("GITHUB_TOKEN")?;
            // CLIP's convention: with no username, the token doubles as one (GHCR ignores it).
            let user = c.non_empty("GITHUB_USERNAME").unwrap_or(token);
            Login::new(user.expose_secret(), token)
        }
        CredentialType::Ngc => Login::new("$oauthtoken", need("NGC_API_KEY")?),
        CredentialType::Generic => Login::new(need("USERNAME")?.expose_secret(), need("PASSWORD")?),
        CredentialType::Gcp => {
            if !hosts::is_google_host(record.registry.hostname()) {
                return Err(not_google(record));
            }
            return google::resolve(n, record).map(Some);
        }
        CredentialType::Aws => return ecr::resolve(n, record).map(Some),
        // Checks the host itself: the secret goes to ACR hosts only.
        CredentialType::Azure => return acr::resolve(record).map(Some),
    };
    Ok(Some(login))
}

/// `refresh`: for a record whose login is a minted token (`aws`, and `gcp` without a stored
/// access token), that token made fresh now if `get` would refresh it (docs/fleet.md,
/// "Pre-warming"); `None` for every other record (nothing to mint).
pub(crate) fn prewarm(n: &Needs, record: &Record) -> Result<Option<Warmed>> {
    match record.kind {
        CredentialType::Aws => ecr::prewarm(n, record).map(Some),
        CredentialType::Gcp => {
            if !hosts::is_google_host(record.registry.hostname()) {
                return Err(not_google(record));
            }
            google::prewarm(n, record)
        }
        _ => Ok(None),
    }
}

/// The username `list` shows for a record, without any network or secret.
pub(crate) fn list_username(record: &Record) -> String {
    let plain = |name: &str| {
        record
            .credentials
            .get(name)
            .map(|v| v.expose_secret().to_string())
            .unwrap_or_default()
    };
    match record.kind {
        CredentialType::Dockerhub => plain("DOCKERHUB_USERNAME"),
        CredentialType::Ghcr => plain("GITHUB_USERNAME"),
        CredentialType::Ngc => "$oauthtoken".to_string(),
        CredentialType::Generic => plain("USERNAME"),
        CredentialType::Gcp => google::USERNAME.to_string(),
        CredentialType::Aws => "AWS".to_string(),
        // The application (client) id: an identifier, not a secret.
        CredentialType::Azure => acr::list_username(record),
    }
}

fn not_google(record: &Record) -> Error {
    Error::Unsupported {
        registry: record.registry.to_string(),
        detail: "a gcp record is only used for Google registry hosts (gcr.io, *.gcr.io, *-docker.pkg.dev, docker.*.rep.pkg.dev); nothing was sent".into(),
    }
}
