//! Google Artifact Registry and GCR: `oauth2accesstoken` + an access token, from one of the forms a
//! `gcp` record can hold (docs/google.md; docs/records.md, "Google names"). The first form present wins, in this order:
//!
//! 1. `GCP_ACCESS_TOKEN` (+ optional `GCP_ACCESS_TOKEN_EXPIRY`): answered as stored, no I/O.
//! 2. `GOOGLE_APPLICATION_CREDENTIALS_JSON` (a service-account key, or gcloud's `authorized_user`
//!    file): an access token is minted at the file's `token_uri` with the JWT-bearer or the
//!    refresh-token grant ([`key`](key)) and cached encrypted, shared by every
//!    Google registry that uses the same file, and across the fleet (`BETA9_TOKEN_CACHE_URL`) by
//!    the machines holding the same file (docs/fleet.md, "What is shared").
//! 3. `GCP_METADATA=1`: the token of the instance's default service account from the metadata
//!    server (`GCE_METADATA_HOST` or `metadata.google.internal`), cached the same way. Never tried
//!    unless the record asks for it. Its tokens are this machine's identity: never shared.
//!
//! `_json_key` / `_json_key_base64` logins are `generic` records and never reach this module.
//! The caller ([`super::resolve`]) has already checked that the host is a Google registry host.

pub(crate) mod endpoints;
pub(crate) mod external;
pub(crate) mod http;
pub(crate) mod jwt;
pub(crate) mod key;

use super::needs::Needs;
use crate::error::{Error, Result};
use crate::login::Login;
use crate::record::Record;
use crate::timeout::Deadline;
use crate::token::{self, CachedToken, Origin, Policy, ShareKey, Warmed};
use external::{ExternalAccount, Source};
use http::{Peer, Request, IAM_CREDENTIALS, METADATA_SERVER, STS, SUBJECT_SOURCE, TOKEN_ENDPOINT};
use key::{GoogleKey, GoogleKeyError};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

pub(crate) const USERNAME: &str = "oauth2accesstoken";

/// Refresh 225 s before expiry at the latest (cloud.google.com/go/auth), 300 s for a 1 h token;
/// never hand out a token within 10 s of its end (docker-credential-gcr PR #183).
pub(crate) const POLICY: Policy = Policy {
    min_margin: 225,
    hard_margin: 10,
};

const METADATA_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";
/// The metadata server is link-local: if it does not connect at once, we are not on Google Cloud.
const METADATA_CONNECT: Duration = Duration::from_secs(2);
/// Assumed lifetime when a reply has no `expires_in` (Google's tokens live one hour).
const DEFAULT_EXPIRES_IN: u64 = 3600;

pub(crate) fn resolve(needs: &Needs, record: &Record) -> Result<Login> {
    if let Some(token) = record.credentials.non_empty("GCP_ACCESS_TOKEN") {
        return static_token(needs, record, token);
    }
    Ok(minted(needs, record, false)?.into_token().login())
}

/// `refresh` for a `gcp` record: the minted token `get` would answer, made fresh now if it is not
/// ([`token::prewarm`]); `None` for a stored access token (nothing to mint).
pub(crate) fn prewarm(needs: &Needs, record: &Record) -> Result<Option<Warmed>> {
    if record.credentials.non_empty("GCP_ACCESS_TOKEN").is_some() {
        return Ok(None);
    }
    minted(needs, record, true).map(Some)
}

/// Forms 2 and 3: a token minted and cached (`prewarm`: by [`token::prewarm`]).
fn minted(needs: &Needs, record: &Record, prewarm: bool) -> Result<Warmed> {
    let c = &record.credentials;
    if let Some(key) = c.non_empty("GOOGLE_APPLICATION_CREDENTIALS_JSON") {
        return credential_file(needs, record, key, prewarm);
    }
    if let Some(flag) = c.get("GCP_METADATA") {
        if metadata_opt_in(flag.expose_secret()).map_err(|reason| bad_record(record, reason))? {
            return metadata(needs, record, prewarm);
        }
    }
    Err(bad_record(
        record,
        "a gcp record needs GCP_ACCESS_TOKEN, GOOGLE_APPLICATION_CREDENTIALS_JSON or GCP_METADATA=1",
    ))
}

/// The token a `get` would answer from the local cache right now, if any (no network, no
/// minting; `None` as well for a stored access token, which is not cached), and whether the token
/// may be shared (service-account keys only).
pub(crate) fn cached(needs: &Needs, record: &Record) -> Result<(Option<CachedToken>, bool)> {
    let c = &record.credentials;
    if c.non_empty("GCP_ACCESS_TOKEN").is_some() {
        return Ok((None, false));
    }
    let (key, shared) = if let Some(json) = c.non_empty("GOOGLE_APPLICATION_CREDENTIALS_JSON") {
        let key = GoogleKey::parse(json.expose_secret()).map_err(|r| bad_record(record, r))?;
        (key.cache_key(), key.share_key().is_some())
    } else {
        // A host `metadata` refuses never had a token cached under it.
        let Ok(host) = needs.settings.gce_metadata_host() else {
            return Ok((None, false));
        };
        (format!("gcp-metadata\0{host}"), false)
    };
    Ok(((needs.tokens)()?.read(&key), shared))
}

/// The local token-cache key of a token minted from the record's own key; `None` for a stored
/// access token (not cached) and for the metadata server (the machine's identity, whose cached
/// token every such record of the workspace shares).
pub(crate) fn own_cache_key(record: &Record) -> Result<Option<String>> {
    let Some(json) = record
        .credentials
        .non_empty("GOOGLE_APPLICATION_CREDENTIALS_JSON")
    else {
        return Ok(None);
    };
    let key = GoogleKey::parse(json.expose_secret()).map_err(|r| bad_record(record, r))?;
    Ok(Some(key.cache_key()))
}

fn bad_record(record: &Record, reason: impl std::fmt::Display) -> Error {
    Error::BadRecord {
        entry: record.registry.secret_name().to_string(),
        reason: reason.to_string(),
    }
}

/// A stored `GCP_ACCESS_TOKEN`, refused when its stored expiry (`GCP_ACCESS_TOKEN_EXPIRY`, RFC 3339
/// or Unix seconds) has passed: docker would otherwise get a dead token and a confusing 401.
fn static_token(needs: &Needs, record: &Record, token: &SecretString) -> Result<Login> {
    if let Some(expiry) = record.credentials.get("GCP_ACCESS_TOKEN_EXPIRY") {
        let at = parse_expiry(expiry.expose_secret()).ok_or_else(|| {
            bad_record(
                record,
                "GCP_ACCESS_TOKEN_EXPIRY is neither RFC 3339 nor Unix seconds",
            )
        })?;
        if at <= needs.clock.now() {
            return Err(Error::Expired {
                registry: record.registry.to_string(),
                detail: format!(
                    "the stored GCP_ACCESS_TOKEN expired {} s ago; store a fresh one (gcloud auth print-access-token)",
                    needs.clock.now() - at
                ),
            });
        }
    }
    Ok(Login::new(USERNAME, token))
}

/// `GCP_METADATA`: `1`/`true`/`yes`/`on` opt in, `0`/`false`/`no`/`off`/empty do not.
pub(crate) fn metadata_opt_in(value: &str) -> std::result::Result<bool, GoogleKeyError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(GoogleKeyError::MetadataFlag),
    }
}

/// Form 2: a token minted from the credential file, through the token cache. A cache hit parses
/// no PEM, signs nothing and opens no socket.
fn credential_file(
    needs: &Needs,
    record: &Record,
    json: &SecretString,
    prewarm: bool,
) -> Result<Warmed> {
    let key = GoogleKey::parse(json.expose_secret()).map_err(|r| bad_record(record, r))?;
    if let GoogleKey::External(x) = &key {
        // Before the cache too: a token is never handed out for a file naming other endpoints.
        let origin = endpoints::Origin::from_settings(needs.settings)?;
        x.check_endpoints(origin.as_ref())
            .map_err(|r| bad_record(record, r))?;
    }
    let share = key.share_key();
    refresh(
        needs,
        &key.cache_key(),
        share.as_ref(),
        prewarm,
        || match &key {
            GoogleKey::External(x) => federate(needs, record, x),
            _ => mint(needs, record, &key),
        },
    )
}

/// What an STS refusal most likely means.
const EXTERNAL_REFUSED: &str = "; the pool or provider does not accept this machine's subject token (audience, attribute condition, or an expired token)";

/// What an IAM Credentials refusal most likely means.
const IMPERSONATION_REFUSED: &str = "; the pool's principal needs roles/iam.workloadIdentityUser (or serviceAccountTokenCreator) on the service account";

/// Workload identity federation: the subject token (file or URL), Google's STS, then IAM
/// Credentials when the file names a service account to impersonate. One budget for all steps.
fn federate(needs: &Needs, record: &Record, x: &ExternalAccount) -> Result<CachedToken> {
    let budget = (needs.budget)();
    let deadline = Deadline::start(budget);
    let now = needs.clock.now();
    let registry = record.registry.to_string();
    let proxies = (needs.proxies)()?;
    let connect = (budget / 3).max(Duration::from_secs(1));
    let no_subject = |reason: GoogleKeyError| Error::Rejected {
        registry: registry.clone(),
        detail: format!("no subject token for workload identity federation: {reason}"),
    };
    let subject = match &x.source {
        Source::File { .. } => x.subject_from_file().map_err(no_subject)?,
        Source::Url {
            url,
            headers,
            format,
        } => {
            let route = proxies.route(url);
            let peer = Peer::at(&registry, SUBJECT_SOURCE, url, &route, "");
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let request = Request::Get {
                url,
                headers: &headers,
            };
            let reply = http::exchange(&peer, &request, deadline, connect, route.ureq())?;
            if reply.status != 200 {
                return Err(no_subject(
                    x.subject_error(&format!("answered HTTP {}", reply.status)),
                ));
            }
            x.subject_from(&reply.body, format).map_err(no_subject)?
        }
    };
    // Google's STS: the subject token for a federated access token.
    let route = proxies.route(&x.token_url);
    let peer = Peer::at(&registry, STS, &x.token_url, &route, EXTERNAL_REFUSED);
    tracing::debug!(host = %peer.host, "exchanging the subject token at Google's STS");
    let body = x.sts_form(&subject);
    let request = Request::Form {
        url: &x.token_url,
        body: &body,
    };
    let reply = http::exchange(&peer, &request, deadline, connect, route.ureq())?;
    let federated = to_cached(&peer, &reply, now)?;
    let Some(url) = &x.impersonation_url else {
        return Ok(federated);
    };
    // IAM Credentials: the federated token for the service account's own token.
    let route = proxies.route(url);
    let peer = Peer::at(
        &registry,
        IAM_CREDENTIALS,
        url,
        &route,
        IMPERSONATION_REFUSED,
    );
    tracing::debug!(host = %peer.host, "impersonating the service account");
    let body = x.impersonation_body();
    let request = Request::Json {
        url,
        bearer: federated.secret.expose_secret(),
        body: &body,
    };
    let reply = http::exchange(&peer, &request, deadline, connect, route.ureq())?;
    if reply.status != 200 {
        // The same classes as a token endpoint's refusal (the error shape is Google's JSON).
        return Err(http::access_token(&peer, &reply)
            .err()
            .unwrap_or_else(|| Error::Rejected {
                registry: registry.clone(),
                detail: format!("{} {}: HTTP {}", peer.what, peer.host, reply.status),
            }));
    }
    let (token, expires_in) =
        external::impersonated(&reply.body, now).ok_or_else(|| Error::Unreachable {
            registry: registry.clone(),
            detail: format!(
                "{} {}: the reply has no accessToken and expireTime",
                peer.what, peer.host
            ),
        })?;
    cached_token(&peer, token, expires_in, now)
}

fn mint(needs: &Needs, record: &Record, key: &GoogleKey) -> Result<CachedToken> {
    let budget = (needs.budget)();
    let now = needs.clock.now();
    let body = key.form(now).map_err(|r| bad_record(record, r))?;
    let registry = record.registry.to_string();
    let proxies = (needs.proxies)()?;
    let route = proxies.route(key.token_uri());
    let peer = Peer::at(
        &registry,
        TOKEN_ENDPOINT,
        key.token_uri(),
        &route,
        key.refused_hint(),
    );
    tracing::debug!(host = %peer.host, grant = key.grant(), "minting a Google access token");
    let request = Request::Form {
        url: key.token_uri(),
        body: &body,
    };
    // Half the budget per connection attempt leaves room for the one retry.
    let connect = (budget / 2).max(Duration::from_secs(1));
    let reply = http::exchange(
        &peer,
        &request,
        Deadline::start(budget),
        connect,
        route.ureq(),
    )?;
    to_cached(&peer, &reply, now)
}

/// Form 3: the metadata server's token for the instance's default service account.
fn metadata(needs: &Needs, record: &Record, prewarm: bool) -> Result<Warmed> {
    let host = needs.settings.gce_metadata_host()?;
    let cache_key = format!("gcp-metadata\0{host}");
    // The instance's own identity: never shared (docs/fleet.md, "What is shared").
    refresh(needs, &cache_key, None, prewarm, || {
        let budget = (needs.budget)();
        let now = needs.clock.now();
        let registry = record.registry.to_string();
        let peer = Peer {
            registry: &registry,
            what: METADATA_SERVER,
            host: host.to_string(),
            via: None,
            hint: "",
        };
        let url = format!("http://{host}{METADATA_PATH}");
        tracing::debug!(host = %host, "asking the metadata server for a token");
        let request = Request::Get {
            url: &url,
            headers: &[("Metadata-Flavor", "Google")],
        };
        let connect = METADATA_CONNECT.min(budget);
        // The machine's own metadata server: never through a proxy (docs/proxies.md, "Never
        // proxied"), whatever GCE_METADATA_HOST names.
        let reply = http::exchange(&peer, &request, Deadline::start(budget), connect, None)?;
        to_cached(&peer, &reply, now)
    })
}

/// A reply as a cache entry. A token that arrives within the hard margin of its end is refused:
/// docker would get a dead token (GKE's metadata server has returned such, docker-credential-gcr
/// PR #183).
fn to_cached(peer: &Peer, reply: &http::Reply, now: u64) -> Result<CachedToken> {
    let t = http::access_token(peer, reply)?;
    cached_token(
        peer,
        t.token,
        t.expires_in.unwrap_or(DEFAULT_EXPIRES_IN),
        now,
    )
}

fn cached_token(
    peer: &Peer,
    token: SecretString,
    expires_in: u64,
    now: u64,
) -> Result<CachedToken> {
    if expires_in <= POLICY.hard_margin {
        return Err(Error::Expired {
            registry: peer.registry.to_string(),
            detail: format!(
                "{} {}: the token it handed out expires in {expires_in} s",
                peer.what, peer.host
            ),
        });
    }
    Ok(CachedToken {
        username: USERNAME.to_string(),
        secret: token,
        expires_at: now + expires_in,
        fetched_at: now,
        origin: Origin::Minted,
    })
}

/// The token cache's refresh with this context's cache, clock and notes (`prewarm`: `refresh`'s,
/// [`token::prewarm`]).
fn refresh(
    needs: &Needs,
    cache_key: &str,
    share: Option<&ShareKey>,
    prewarm: bool,
    fetch: impl FnOnce() -> Result<CachedToken>,
) -> Result<Warmed> {
    let job = token::Job {
        cache: (needs.tokens)()?,
        cache_key,
        share,
        policy: &POLICY,
        clock: needs.clock,
        note: needs.note,
    };
    if prewarm {
        return token::prewarm(&job, fetch);
    }
    token::get_or_refresh(
        job.cache, cache_key, share, &POLICY, job.clock, job.note, fetch,
    )
    .map(Warmed::Fresh)
}

/// Unix seconds, or an RFC 3339 timestamp such as `2026-11-24T10:00:00Z`.
pub(crate) fn parse_expiry(s: &str) -> Option<u64> {
    let s = s.trim();
    s.parse::<u64>().ok().or_else(|| crate::rfc3339::parse(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_formats() {
        assert_eq!(parse_expiry("1700000000"), Some(1_700_000_000));
        assert_eq!(parse_expiry("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_expiry("2023-11-14T22:13:20Z"), Some(1_700_000_000));
        assert_eq!(
            parse_expiry("2023-11-14T22:13:20.123456Z"),
            Some(1_700_000_000)
        );
        assert_eq!(
            parse_expiry("2023-11-15T00:13:20+02:00"),
            Some(1_700_000_000)
        );
        assert_eq!(parse_expiry("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        assert_eq!(parse_expiry("tomorrow"), None);
        assert_eq!(parse_expiry("2023-13-01T00:00:00Z"), None);
    }

    #[test]
    fn metadata_flag_values() {
        assert_eq!(metadata_opt_in("1"), Ok(true));
        assert_eq!(metadata_opt_in("TRUE"), Ok(true));
        assert_eq!(metadata_opt_in("0"), Ok(false));
        assert_eq!(metadata_opt_in("maybe"), Err(GoogleKeyError::MetadataFlag));
        let origin = endpoints::Origin::parse("ftp://x").unwrap_err();
        assert!(
            matches!(&origin, Error::Setting { name, .. } if name == "BETA9_GOOGLE_ENDPOINT_ORIGIN"),
            "{origin}"
        );
    }
}
