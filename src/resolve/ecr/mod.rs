//! Amazon ECR: `AWS` + the password from GetAuthorizationToken, exchanged for the AWS keys an `aws`
//! record holds (docs/ecr.md; docs/records.md, "Cloud records on other hosts" and "Not found versus
//! error").
//!
//! * Keys come from the record only: no ambient credential chain, no profile files, no IMDS. The
//!   SDK client is built by hand ([`sdk`](sdk)) with the record's keys as a static
//!   credentials provider, so nothing else can be picked up. The one exception is a record that
//!   asks for it (below).
//! * **Opt-in to ambient credentials.** A record holding `AWS_CREDENTIALS_SOURCE=ambient` (any
//!   case) *instead of* `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` takes its keys at `get` time
//!   from aws-config: without `AWS_PROFILE` in the record, its default chain (environment
//!   variables, the `AWS_PROFILE` or `default` profile of `~/.aws/config` / `credentials`, web
//!   identity, ECS/EKS container credentials, EC2 instance metadata); with `AWS_PROFILE` in the
//!   record, exactly that profile (like `aws --profile`; a missing profile never falls through to
//!   the instance's role). SSO and `credential_process` profiles are not compiled in and fail with
//!   a one-line error. Create one with `AWS_CREDENTIALS_SOURCE=ambient docker-credential-beta9
//!   add <ecr-host> AWS_CREDENTIALS_SOURCE [AWS_PROFILE]`. Keys next to the opt-in, any other
//!   value, or `AWS_PROFILE` without it are refused by `add`/`import` and a `BadRecord` at `get`
//!   ([`record::aws_ambient`]). The same budget holds: instance metadata gets 1 s to connect and 1 s
//!   to answer, one attempt, and everything stays inside `BETA9_TIMEOUT`. The region is still the
//!   host's, and the same HTTP client (rustls with ring) is used.
//! * Only hosts that pass [`hosts::ecr_host`] or [`hosts::is_ecr_public`] are ever sent the keys.
//! * The token (never the keys) is cached encrypted by [`token::get_or_refresh`], which makes many
//!   concurrent cold `get`s one API call and falls back to a stale-but-valid token when a refresh
//!   fails. A cache hit builds no async runtime, loads no SDK config and sets up no TLS: everything
//!   SDK-related sits behind [`fetch`], which only runs on a miss.
//! * Tokens minted from the record's stored keys may also be shared through the fleet's cache
//!   (`BETA9_TOKEN_CACHE_URL`), under a [`ShareKey`] derived from those keys, the registry, the
//!   region and the endpoint override; tokens from ambient credentials are this machine's
//!   identity and stay local (docs/fleet.md, "What is shared").
//! * Endpoint overrides: `AWS_ENDPOINT_URL_ECR` / `AWS_ENDPOINT_URL_ECR_PUBLIC` win over
//!   `AWS_ENDPOINT_URL`; `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` ignores all of them. With an
//!   override the FIPS and dual-stack flags stay off (docs/ecr.md, "Endpoint overrides").

mod sdk;

use super::needs::Needs;
use crate::credential_type::{CredentialType, AWS_PROFILE};
use crate::env;
use crate::error::{Error, Result};
use crate::hosts;
use crate::login::Login;
use crate::net::url::Url;
use crate::record::{self, Record, RecordError};
use crate::settings::Settings;
use crate::token::{self, CachedToken, Origin, Policy, ShareKey, Warmed};
use base64::Engine as _;
use sdk::{Call, Failure, Keys, Source};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;
use zeroize::Zeroizing;

/// ECR's tokens live 12 h: refresh after 11 h (`lifetime / 12`, at least 60 s before the end);
/// never hand out one within 30 s of its end (clock skew, time for docker to use it).
pub(crate) const POLICY: Policy = Policy {
    min_margin: 60,
    hard_margin: 30,
};

/// ECR Public has one API endpoint, in us-east-1, whatever the record says.
pub(crate) const PUBLIC_REGION: &str = "us-east-1";
/// Assumed lifetime when a reply has no `expiresAt` (ECR documents 12 h).
const DEFAULT_LIFETIME: u64 = 12 * 3600;

/// Which API a registry's token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Api {
    /// `<account>.dkr.ecr.<region>.<suffix>` and its FIPS / dual-stack forms.
    Private {
        account: String,
        fips: bool,
        dual_stack: bool,
    },
    /// `public.ecr.aws`, `ecr-public.aws.com`.
    Public,
}

impl Api {
    fn name(&self) -> &'static str {
        match self {
            Api::Private { .. } => "ECR",
            Api::Public => "ECR Public",
        }
    }
}

/// The API and the region its token is valid in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub api: Api,
    pub region: String,
}

/// The target for a registry host, `None` for any host that is not an ECR host.
pub(crate) fn target(hostname: &str) -> Option<Target> {
    if hosts::is_ecr_public(hostname) {
        return Some(Target {
            api: Api::Public,
            region: PUBLIC_REGION.to_string(),
        });
    }
    let h = hosts::ecr_host(hostname)?;
    Some(Target {
        api: Api::Private {
            account: h.account,
            fips: h.fips,
            dual_stack: h.dual_stack,
        },
        region: h.region,
    })
}

/// What a `get` for an `aws` record will do: the API and region, where the keys come from, and
/// the token cache key. No I/O.
pub(crate) struct Plan<'a> {
    registry: String,
    target: Target,
    source: Source<'a>,
    key: String,
    /// Set for stored keys only: the fleet may share the token.
    share: Option<ShareKey>,
}

/// `get` for an `aws` record.
pub(crate) fn resolve(needs: &Needs, record: &Record) -> Result<Login> {
    Ok(token(needs, record, false)?.into_token().login())
}

/// `refresh` for an `aws` record: the token `get` would answer, made fresh now if it is not
/// ([`token::prewarm`]).
pub(crate) fn prewarm(needs: &Needs, record: &Record) -> Result<Warmed> {
    token(needs, record, true)
}

fn token(needs: &Needs, record: &Record, prewarm: bool) -> Result<Warmed> {
    let Plan {
        registry,
        target,
        source,
        key,
        share,
    } = plan(needs, record)?;
    let job = token::Job {
        cache: (needs.tokens)()?,
        cache_key: &key,
        share: share.as_ref(),
        policy: &POLICY,
        clock: needs.clock,
        note: needs.note,
    };
    let fetch = || fetch(needs, &registry, &target, &source);
    if prewarm {
        token::prewarm(&job, fetch)
    } else {
        token::get_or_refresh(
            job.cache,
            job.cache_key,
            job.share,
            job.policy,
            job.clock,
            job.note,
            fetch,
        )
        .map(Warmed::Fresh)
    }
}

/// The token a `get` would answer from the local cache right now, if any, and whether this
/// record's token may be shared; no network, no minting.
pub(crate) fn cached(needs: &Needs, record: &Record) -> Result<(Option<CachedToken>, bool)> {
    let plan = plan(needs, record)?;
    Ok(((needs.tokens)()?.read(&plan.key), plan.share.is_some()))
}

/// The local token-cache key of this record's token (no network).
pub(crate) fn cache_key_of(needs: &Needs, record: &Record) -> Result<String> {
    Ok(plan(needs, record)?.key)
}

fn plan<'a>(needs: &Needs, record: &'a Record) -> Result<Plan<'a>> {
    let registry = record.registry.to_string();
    let Some(target) = target(record.registry.hostname()) else {
        return Err(Error::Unsupported {
            registry,
            detail: "an aws record is only used for Amazon ECR hosts (<account>.dkr.ecr.<region>.amazonaws.com and the other AWS partitions, public.ecr.aws, ecr-public.aws.com); nothing was sent".into(),
        });
    };
    let c = &record.credentials;
    let bad_record = |reason: RecordError| Error::BadRecord {
        entry: record.registry.secret_name().to_string(),
        reason: reason.to_string(),
    };
    let need = |name: &str| -> Result<&SecretString> {
        c.non_empty(name)
            .ok_or_else(|| bad_record(RecordError::missing(CredentialType::Aws, name)))
    };
    let source = if record::aws_ambient(c).map_err(bad_record)? {
        Source::Ambient {
            profile: c
                .non_empty(AWS_PROFILE)
                .map(|p| p.expose_secret().trim().to_string()),
        }
    } else {
        Source::Record(Keys {
            access_key_id: need("AWS_ACCESS_KEY_ID")?,
            secret_access_key: need("AWS_SECRET_ACCESS_KEY")?,
            session_token: c.non_empty("AWS_SESSION_TOKEN"),
        })
    };
    // The host wins over the record's AWS_REGION: an ECR token is only valid for the registries
    // of the region whose API issued it, so asking another region's API would hand docker a token
    // this registry refuses. ECR Public has a single API in us-east-1, so no note there.
    if let (Api::Private { .. }, Some(r)) = (&target.api, c.non_empty("AWS_REGION")) {
        let r = r.expose_secret().trim();
        if !r.eq_ignore_ascii_case(&target.region) {
            (needs.note)(format!(
                "{registry}: the record's AWS_REGION ({}) differs from the registry's region; using {} (the token only works in the registry's region)",
                sanitise(r),
                target.region
            ));
        }
    }
    let key = match &source {
        Source::Record(keys) => cache_key(
            needs.workspace,
            record.registry.as_str(),
            &target.region,
            keys,
        ),
        Source::Ambient { profile } => ambient_cache_key(
            needs.workspace,
            record.registry.as_str(),
            &target.region,
            profile.as_deref(),
            needs.settings.aws_profile(),
        ),
    };
    let share = match &source {
        Source::Record(keys) => Some(share_key(
            record.registry.as_str(),
            &target,
            endpoint_override(needs.settings, &target.api).as_deref(),
            keys,
        )),
        // Ambient credentials are this machine's own identity (docs/fleet.md, "What is shared").
        Source::Ambient { .. } => None,
    };
    Ok(Plan {
        registry,
        target,
        source,
        key,
        share,
    })
}

/// The fleet's key for a token minted from stored keys: every part of the key material, bound to
/// the registry, the region and the endpoint (a token from another endpoint is another token).
/// The workspace is not part of it: machines holding the same keys can mint the same token anyway.
pub(crate) fn share_key(
    registry: &str,
    target: &Target,
    endpoint: Option<&str>,
    keys: &Keys,
) -> ShareKey {
    let session = keys
        .session_token
        .map(|s| s.expose_secret().as_bytes())
        .unwrap_or_default();
    ShareKey::derive(
        "ecr",
        &[
            registry.as_bytes(),
            target.region.as_bytes(),
            endpoint.unwrap_or_default().as_bytes(),
        ],
        &[
            keys.access_key_id.expose_secret().as_bytes(),
            keys.secret_access_key.expose_secret().as_bytes(),
            session,
        ],
    )
}

/// docs/ecr.md, "Token cache": workspace + canonical registry + region + SHA-256 over the access key id, the
/// secret key and the session token. Any change of the record's keys gives a new key, so a
/// rotation takes effect at once and a removed record's token is never found again.
pub(crate) fn cache_key(workspace: &str, registry: &str, region: &str, keys: &Keys) -> String {
    let session = keys
        .session_token
        .map(|s| s.expose_secret().as_bytes())
        .unwrap_or_default();
    let digest = token::digest_parts(&[
        keys.access_key_id.expose_secret().as_bytes(),
        keys.secret_access_key.expose_secret().as_bytes(),
        session,
    ]);
    format!("ecr\0{workspace}\0{registry}\0{region}\0{digest}")
}

/// The cache key of an ambient record: workspace + canonical registry + region + `ambient` + the
/// profile the chain will read (the record's, which is used alone, else the `AWS_PROFILE` of this
/// `get`'s environment). The keys themselves are not part of it: they are only known after
/// resolving the chain, and resolving it on every cache hit would cost file reads and, off EC2,
/// an instance-metadata timeout per `get`, which the cache exists to avoid. So a hit does no SDK
/// work at all, and a change of the ambient keys shows after at most the 11 h refresh (the old
/// token stays valid until its own expiry anyway: ECR tokens are not revoked by key rotation).
pub(crate) fn ambient_cache_key(
    workspace: &str,
    registry: &str,
    region: &str,
    record_profile: Option<&str>,
    env_profile: Option<&str>,
) -> String {
    // Digest-free and `\0`-separated: it can never equal a stored-keys key (hex digest last).
    let profile = match (record_profile, env_profile) {
        (Some(p), _) => format!("record\0{p}"),
        (None, Some(p)) => format!("env\0{}", p.trim()),
        (None, None) => "chain".to_string(),
    };
    format!("ecr\0{workspace}\0{registry}\0{region}\0ambient\0{profile}")
}

/// The endpoint override for this API from the environment, if any.
pub(crate) fn endpoint_override(settings: &Settings, api: &Api) -> Option<String> {
    named_endpoint_override(settings, api).map(|(_, url)| url)
}

/// The endpoint override and the variable it came from (an error about it names the variable).
fn named_endpoint_override(settings: &Settings, api: &Api) -> Option<(&'static str, String)> {
    if settings.aws_ignore_configured_endpoint_urls() {
        return None;
    }
    let [all, ecr, public] = settings.aws_endpoint_urls();
    let specific = match api {
        Api::Private { .. } => (env::AWS_ENDPOINT_URL_ECR, ecr),
        Api::Public => (env::AWS_ENDPOINT_URL_ECR_PUBLIC, public),
    };
    [specific, (env::AWS_ENDPOINT_URL, all)]
        .into_iter()
        .find_map(|(name, v)| Some((name, v?.to_string())))
}

/// The API's usual URL (the SDK's endpoint rules decide the exact one, FIPS and dual-stack
/// included): enough to match `NO_PROXY` rules such as `.amazonaws.com` for messages.
fn default_api_url(api: &Api, region: &str) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    match api {
        Api::Private { .. } => format!("https://api.ecr.{region}.{suffix}/"),
        Api::Public => format!("https://api.ecr-public.{region}.{suffix}/"),
    }
}

/// The cache missed: one GetAuthorizationToken call, bounded by `BETA9_TIMEOUT`.
fn fetch(needs: &Needs, registry: &str, target: &Target, source: &Source) -> Result<CachedToken> {
    let named = named_endpoint_override(needs.settings, &target.api);
    if let Some((name, e)) = &named {
        if !(e.starts_with("http://") || e.starts_with("https://")) {
            return Err(Error::at(
                registry,
                format!(
                    "{name}, the AWS endpoint override for {}, must be an http:// or https:// URL",
                    target.api.name()
                ),
            ));
        }
    }
    let endpoint = named.map(|(_, url)| url);
    let budget = (needs.budget)();
    let proxies = (needs.proxies)()?;
    // The API's URL, for the proxy choice and messages; the SDK applies NO_PROXY per request.
    let api_url = endpoint
        .clone()
        .unwrap_or_else(|| default_api_url(&target.api, &target.region));
    let route = proxies.route(&api_url);
    let (fips, dual_stack) = match &target.api {
        Api::Private {
            fips, dual_stack, ..
        } => (*fips, *dual_stack),
        Api::Public => (false, false),
    };
    let call = Call {
        public: target.api == Api::Public,
        region: &target.region,
        // docs/ecr.md, "Endpoint overrides": the SDK's endpoint rules refuse FIPS with a custom endpoint.
        fips: fips && endpoint.is_none(),
        dual_stack: dual_stack && endpoint.is_none(),
        endpoint: endpoint.as_deref(),
        source,
        budget,
        proxy: proxies.smithy(api_url.starts_with("https://")),
    };
    tracing::debug!(api = target.api.name(), region = %target.region, "GetAuthorizationToken");
    let mut api = match endpoint.as_deref() {
        Some(e) => format!("{} API at {}", target.api.name(), url_authority(e)),
        None => format!("{} API", target.api.name()),
    };
    if let Some(via) = route.describe() {
        api = format!("{api} {via}");
    }
    let reply = sdk::get_authorization_token(&call)
        .map_err(|f| classify(registry, &api, source, &f, budget))?;
    let now = needs.clock.now();
    let (username, secret) = decode_token(&reply.token).map_err(|what| {
        Error::Other(anyhow::anyhow!(
            "{registry}: the {} authorization token {what}",
            target.api.name()
        ))
    })?;
    Ok(CachedToken {
        username,
        secret,
        expires_at: reply.expires_at.unwrap_or(now + DEFAULT_LIFETIME),
        fetched_at: now,
        origin: Origin::Minted,
    })
}

/// base64 of `AWS:<password>` → (`AWS`, password), split at the first `:`.
pub(crate) fn decode_token(
    token: &str,
) -> std::result::Result<(String, SecretString), &'static str> {
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(token.trim().as_bytes())
            .map_err(|_| "is not base64")?,
    );
    let text = std::str::from_utf8(&bytes).map_err(|_| "is not UTF-8")?;
    let (user, password) = text.split_once(':').ok_or("is not user:password")?;
    if user.is_empty() || password.is_empty() {
        return Err("has an empty user or password");
    }
    Ok((user.to_string(), SecretString::from(password.to_string())))
}

/// Error codes meaning the keys were refused: the record needs other keys or permissions.
const REJECTED: &[&str] = &[
    "UnrecognizedClientException",
    "AccessDeniedException",
    "AccessDenied",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "IncompleteSignature",
    "MissingAuthenticationToken",
    "NotAuthorized",
];
/// The session token in the record has run out.
const EXPIRED: &[&str] = &["ExpiredTokenException", "ExpiredToken"];
/// Rate limits.
const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "LimitExceededException",
];

/// One line naming the registry and the cause class (docs/records.md, "Not found versus error"); at most the API's error
/// code, never its message, never any key.
pub(crate) fn classify(
    registry: &str,
    api: &str,
    source: &Source,
    f: &Failure,
    budget: Duration,
) -> Error {
    let registry = registry.to_string();
    let keys = source.keys_name();
    match f {
        Failure::NoCredentials => Error::Rejected {
            registry,
            detail: match source {
                Source::Ambient { profile: Some(p) } => format!(
                    "no usable AWS credentials in profile {} of ~/.aws/config and ~/.aws/credentials (SSO profiles are not supported; a credential_process must print valid credentials); nothing was sent to the {api}",
                    sanitise(p)
                ),
                _ => format!(
                    "no usable AWS credentials from the ambient chain (environment, ~/.aws profile, web identity, container or EC2 instance metadata); nothing was sent to the {api}"
                ),
            },
        },
        Failure::CredentialsTimeout => {
            Error::timeout(registry, "the ambient AWS credential chain", budget)
        }
        Failure::Timeout => Error::timeout(registry, &format!("the {api}"), budget),
        Failure::Connect => Error::Unreachable {
            registry,
            detail: format!("cannot connect to the {api} (DNS lookup or connection failed)"),
        },
        Failure::ProxyRefused => proxy_refused(registry, api),
        Failure::Dispatch => Error::Unreachable {
            registry,
            detail: format!(
                "the request to the {api} failed before an answer (DNS, TLS or connection)"
            ),
        },
        Failure::Service { code, status } => {
            let code_s = code.as_deref().map(sanitise).unwrap_or_default();
            let is = |list: &[&str]| list.iter().any(|c| *c == code_s);
            let shown = match (code_s.is_empty(), status) {
                (false, _) => code_s.clone(),
                (true, Some(s)) => format!("HTTP {s}"),
                (true, None) => "no error code".into(),
            };
            if code_s.is_empty() && *status == Some(407) {
                proxy_refused(registry, api)
            } else if is(REJECTED) || (code_s.is_empty() && matches!(status, Some(401 | 403))) {
                Error::Rejected {
                    registry,
                    detail: format!("the {api} refused {keys} ({shown})"),
                }
            } else if is(EXPIRED) {
                Error::Expired {
                    registry,
                    detail: match source {
                        Source::Record(_) => format!(
                            "the record's AWS_SESSION_TOKEN has expired ({shown}); store fresh keys"
                        ),
                        Source::Ambient { .. } => format!(
                            "the ambient AWS session credentials have expired ({shown}); refresh them"
                        ),
                    },
                }
            } else if is(THROTTLED) || matches!(status, Some(429)) {
                Error::Throttled {
                    registry,
                    detail: format!("the {api} is rate-limiting GetAuthorizationToken ({shown}); try again later"),
                }
            } else if status.is_some_and(|s| s >= 500) {
                Error::Unreachable {
                    registry,
                    detail: format!("the {api} failed ({shown}, HTTP {})", status.unwrap_or(500)),
                }
            } else {
                Error::Other(anyhow::anyhow!(
                    "{registry}: GetAuthorizationToken at the {api} failed ({shown})"
                ))
            }
        }
        Failure::BadReply(what) => {
            Error::Other(anyhow::anyhow!("{registry}: the reply of the {api} {what}"))
        }
        Failure::Setup(what) => {
            Error::Other(anyhow::anyhow!("{registry}: cannot call the {api}: {what}"))
        }
    }
}

/// The proxy answered 407, not AWS (docs/proxies.md, "Errors"): on the http path to the request
/// itself, on the https path to its `CONNECT`. Its credentials are the proxy URL's.
fn proxy_refused(registry: String, api: &str) -> Error {
    Error::Rejected {
        registry,
        detail: format!(
            "the proxy refused its credentials for the {api} {}",
            crate::net::PROXY_AUTH_REFUSED
        ),
    }
}

/// `host[:port]` of an endpoint URL: what an error line may show of it (no user info, no path).
fn url_authority(url: &str) -> String {
    Url::parse(url).map_or_else(
        || "the configured endpoint".into(),
        |u| sanitise(&u.to_string()),
    )
}

/// Text from outside (an error code, a region) made safe for one line: a short run of plain
/// characters.
fn sanitise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    const A: &str = "123456789012";

    fn s(v: &str) -> SecretString {
        SecretString::from(v.to_string())
    }

    #[test]
    fn targets_follow_the_host() {
        let t = target(&format!("{A}.dkr.ecr.eu-west-1.amazonaws.com")).unwrap();
        assert_eq!(t.region, "eu-west-1");
        assert_eq!(
            t.api,
            Api::Private {
                account: A.into(),
                fips: false,
                dual_stack: false
            }
        );
        let t = target(&format!("{A}.dkr-ecr-fips.us-west-2.on.aws")).unwrap();
        assert!(matches!(
            t.api,
            Api::Private {
                fips: true,
                dual_stack: true,
                ..
            }
        ));
        for public in ["public.ecr.aws", "ECR-PUBLIC.aws.com"] {
            let t = target(public).unwrap();
            assert_eq!((t.api, t.region.as_str()), (Api::Public, PUBLIC_REGION));
        }
        for bad in [
            format!("{A}.dkr.ecr.us-east-1.amazonaws.com.evil.example"),
            "public.ecr.aws.evil.example".to_string(),
            "ghcr.io".to_string(),
        ] {
            assert_eq!(target(&bad), None, "{bad}");
        }
    }

    #[test]
    fn cache_key_changes_with_every_input() {
        let (akid, secret, token) = (s("AKIA1"), s("secret1"), s("session1"));
        let keys = |a, b, c| Keys {
            access_key_id: a,
            secret_access_key: b,
            session_token: c,
        };
        let base = cache_key(
            "ws",
            "reg",
            "us-east-1",
            &keys(&akid, &secret, Some(&token)),
        );
        let other = s("other");
        let variants = [
            cache_key(
                "ws2",
                "reg",
                "us-east-1",
                &keys(&akid, &secret, Some(&token)),
            ),
            cache_key(
                "ws",
                "reg2",
                "us-east-1",
                &keys(&akid, &secret, Some(&token)),
            ),
            cache_key(
                "ws",
                "reg",
                "us-west-2",
                &keys(&akid, &secret, Some(&token)),
            ),
            cache_key(
                "ws",
                "reg",
                "us-east-1",
                &keys(&other, &secret, Some(&token)),
            ),
            cache_key("ws", "reg", "us-east-1", &keys(&akid, &other, Some(&token))),
            cache_key(
                "ws",
                "reg",
                "us-east-1",
                &keys(&akid, &secret, Some(&other)),
            ),
            cache_key("ws", "reg", "us-east-1", &keys(&akid, &secret, None)),
        ];
        for v in &variants {
            assert_ne!(&base, v);
        }
        // Stable, and no key material in it.
        assert_eq!(
            base,
            cache_key(
                "ws",
                "reg",
                "us-east-1",
                &keys(&akid, &secret, Some(&token))
            )
        );
        for needle in ["AKIA1", "secret1", "session1"] {
            assert!(!base.contains(needle), "{needle} in the cache key");
        }
    }

    #[test]
    fn tokens_decode_at_the_first_colon() {
        let enc = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
        let (user, pw) = decode_token(&enc("AWS:123456789012-auth-token")).unwrap();
        assert_eq!(
            (user.as_str(), pw.expose_secret()),
            ("AWS", "123456789012-auth-token")
        );
        let (_, pw) = decode_token(&enc("AWS:a:b:c")).unwrap();
        assert_eq!(pw.expose_secret(), "a:b:c");
        assert!(decode_token("%%%").is_err());
        assert!(decode_token(&enc("no-colon")).is_err());
        assert!(decode_token(&enc("AWS:")).is_err());
        let err = decode_token(&enc("CANARY-no-colon")).unwrap_err();
        assert!(!err.contains("CANARY"));
    }

    #[test]
    fn failures_map_to_one_line_cause_classes() {
        let b = Duration::from_secs(10);
        let svc = |code: Option<&str>, status| Failure::Service {
            code: code.map(str::to_string),
            status,
        };
        let (akid, secret) = (s("AKIA1"), s("secret1"));
        let record = Source::Record(Keys {
            access_key_id: &akid,
            secret_access_key: &secret,
            session_token: None,
        });
        let msg =
            |f: &Failure| classify("reg.example", "ECR API", &record, f, b).protocol_message();
        let m = msg(&svc(Some("UnrecognizedClientException"), Some(400)));
        assert!(m.starts_with("reg.example: access denied:"), "{m}");
        assert!(m.contains("UnrecognizedClientException"), "{m}");
        for code in ["AccessDeniedException", "InvalidSignatureException"] {
            assert!(msg(&svc(Some(code), Some(400))).contains("access denied"));
        }
        assert!(msg(&svc(None, Some(403))).contains("access denied"));
        assert!(msg(&svc(Some("ExpiredTokenException"), Some(400))).contains(": expired:"));
        assert!(msg(&svc(Some("ThrottlingException"), Some(400))).contains(": throttled:"));
        assert!(msg(&svc(None, Some(429))).contains(": throttled:"));
        assert!(msg(&svc(Some("InternalFailure"), Some(500))).contains(": unreachable:"));
        assert!(msg(&Failure::Timeout).contains("timeout: no answer from the ECR API within 10 s"));
        assert!(msg(&Failure::Connect).contains(": unreachable:"));
        assert!(msg(&Failure::Dispatch).contains(": unreachable:"));
        let m = msg(&svc(Some("InvalidParameterException"), Some(400)));
        assert_eq!(
            m,
            "reg.example: GetAuthorizationToken at the ECR API failed (InvalidParameterException)"
        );
        // Codes come from the network: a hostile one cannot break the line or grow it unbounded.
        let m = msg(&svc(Some("Bad\nCode <script>"), Some(400)));
        assert!(!m.contains('\n') && !m.contains('<'), "{m}");
        assert!(matches!(
            classify(
                "r",
                "ECR API",
                &record,
                &svc(Some("AccessDeniedException"), None),
                b
            ),
            Error::Rejected { .. }
        ));
    }

    #[test]
    fn ambient_failures_say_where_the_keys_were_looked_for() {
        let b = Duration::from_secs(3);
        let chain = Source::Ambient { profile: None };
        let named = Source::Ambient {
            profile: Some("ci\nrole".into()),
        };
        let msg = |src: &Source, f: &Failure| {
            classify("reg.example", "ECR API", src, f, b).protocol_message()
        };
        let m = msg(&chain, &Failure::NoCredentials);
        assert!(
            m.starts_with(
                "reg.example: access denied: no usable AWS credentials from the ambient chain"
            ),
            "{m}"
        );
        assert!(m.contains("nothing was sent"), "{m}");
        let m = msg(&named, &Failure::NoCredentials);
        assert!(m.contains("in profile cirole of ~/.aws/config"), "{m}");
        let m = msg(&chain, &Failure::CredentialsTimeout);
        assert!(
            m.starts_with(
                "reg.example: timeout: no answer from the ambient AWS credential chain within 3 s"
            ),
            "{m}"
        );
        let refused = Failure::Service {
            code: Some("UnrecognizedClientException".into()),
            status: Some(400),
        };
        assert!(msg(&chain, &refused).contains("refused the ambient AWS credentials"));
        let expired = Failure::Service {
            code: Some("ExpiredTokenException".into()),
            status: Some(400),
        };
        let m = msg(&chain, &expired);
        assert!(m.contains(": expired: the ambient AWS session"), "{m}");
    }

    #[test]
    fn ambient_cache_keys_name_the_profile_and_never_meet_stored_key_ones() {
        let key = |p, e| ambient_cache_key("ws", "reg", "us-east-1", p, e);
        let base = key(None, None);
        let variants = [
            ambient_cache_key("ws2", "reg", "us-east-1", None, None),
            ambient_cache_key("ws", "reg2", "us-east-1", None, None),
            ambient_cache_key("ws", "reg", "us-west-2", None, None),
            key(Some("dev"), None),
            key(None, Some("dev")),
            key(Some("prod"), None),
        ];
        for v in &variants {
            assert_ne!(&base, v);
        }
        assert_eq!(base, key(None, None), "stable");
        // The record's profile is used alone, so the environment's does not change the key.
        assert_eq!(key(Some("dev"), Some("other")), key(Some("dev"), None));
        assert_ne!(key(Some("dev"), None), key(None, Some("dev")));
        let (akid, secret) = (s("AKIA1"), s("secret1"));
        let stored = Keys {
            access_key_id: &akid,
            secret_access_key: &secret,
            session_token: None,
        };
        assert!(!variants.contains(&cache_key("ws", "reg", "us-east-1", &stored)));
        assert_ne!(base, cache_key("ws", "reg", "us-east-1", &stored));
    }

    #[test]
    fn endpoint_overrides() {
        let private = Api::Private {
            account: A.into(),
            fips: false,
            dual_stack: false,
        };
        let env = |pairs: &[(&str, &str)]| Settings::new(&Env::from_pairs(pairs.iter().copied()));
        let all = (env::AWS_ENDPOINT_URL, "http://all");
        let ecr = (env::AWS_ENDPOINT_URL_ECR, "http://ecr");
        let public = (env::AWS_ENDPOINT_URL_ECR_PUBLIC, "http://public");
        assert_eq!(endpoint_override(&env(&[]), &private), None);
        assert_eq!(
            endpoint_override(&env(&[all]), &private).as_deref(),
            Some("http://all")
        );
        assert_eq!(
            endpoint_override(&env(&[all, ecr]), &private).as_deref(),
            Some("http://ecr")
        );
        assert_eq!(
            endpoint_override(&env(&[all, ecr]), &Api::Public).as_deref(),
            Some("http://all")
        );
        assert_eq!(
            endpoint_override(&env(&[all, ecr, public]), &Api::Public).as_deref(),
            Some("http://public")
        );
        let ignore = (env::AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, "TRUE");
        assert_eq!(endpoint_override(&env(&[all, ecr, ignore]), &private), None);
        let no_ignore = (env::AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, "false");
        assert!(endpoint_override(&env(&[ecr, no_ignore]), &private).is_some());
        assert_eq!(url_authority("http://127.0.0.1:5000/x?y"), "127.0.0.1:5000");
        assert_eq!(
            url_authority("https://user:CANARY@api.example/"),
            "api.example"
        );
    }
}
