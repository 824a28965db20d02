//! The one AWS SDK call `get` ever makes: GetAuthorizationToken (ECR or ECR Public), on a
//! single-threaded tokio runtime built for it and dropped right after. Only called when the token
//! cache misses, so a cache hit pays for none of this.
//!
//! The client config is built by hand (`Config::builder()`, not `aws_config::load`): no profile
//! files, no environment credentials, no IMDS, no region lookup. Credentials are the record's keys
//! as a static provider; the HTTP client is hyper + rustls with ring; the budget bounds connect,
//! each attempt, the whole operation (one retry at most), and the call itself.
//!
//! Only for a record with `AWS_CREDENTIALS_SOURCE=ambient` are credentials first resolved through
//! aws-config ([`ambient_credentials`]), with the same HTTP client, the host's region (no region
//! lookup, so no instance-metadata call for it) and a bounded instance-metadata client; the
//! resolved keys then go to the client as the same static provider.

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::imds;
use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::config::retry::RetryConfig;
use aws_sdk_ecr::config::timeout::TimeoutConfig;
use aws_sdk_ecr::config::{
    BehaviorVersion, Credentials, IdentityCache, ProvideCredentials, Region, SharedHttpClient,
};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use secrecy::{ExposeSecret, SecretString};
use std::cell::Cell;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Connecting takes at most this long (less when the whole budget is smaller).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Two attempts: one retry for a transient failure, still inside the budget.
const MAX_ATTEMPTS: u32 = 2;
/// Instance metadata is link-local: off EC2 it never answers, so it gets one short attempt to
/// connect and one to answer (aws-config's default is 1 s each with 4 attempts; ecr-login's
/// minute-long waits on IMDS are awslabs/amazon-ecr-credential-helper #137, #351).
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);

/// Where the keys for GetAuthorizationToken come from.
pub(crate) enum Source<'a> {
    /// The record's own keys: the default, and the only form that never looks elsewhere.
    Record(Keys<'a>),
    /// `AWS_CREDENTIALS_SOURCE=ambient`: aws-config's chain, or exactly the record's profile.
    Ambient { profile: Option<String> },
}

impl Source<'_> {
    /// How error lines name the keys that were used.
    pub(crate) fn keys_name(&self) -> &'static str {
        match self {
            Source::Record(_) => "the record's AWS keys",
            Source::Ambient { .. } => "the ambient AWS credentials",
        }
    }
}

/// The record's key material.
pub(crate) struct Keys<'a> {
    pub access_key_id: &'a SecretString,
    pub secret_access_key: &'a SecretString,
    pub session_token: Option<&'a SecretString>,
}

/// What to ask and where.
pub(crate) struct Call<'a> {
    pub public: bool,
    pub region: &'a str,
    pub fips: bool,
    pub dual_stack: bool,
    pub endpoint: Option<&'a str>,
    pub source: &'a Source<'a>,
    pub budget: Duration,
    /// The proxy for every request of this call (docs/proxies.md): one proxy URL, `NO_PROXY`
    /// and the always-direct destinations applied per request; disabled when none is set.
    pub proxy: ProxyConfig,
}

/// The raw answer: base64 of `AWS:<password>` and the expiry in Unix seconds.
pub(crate) struct Reply {
    pub token: Zeroizing<String>,
    pub expires_at: Option<u64>,
}

/// Why the call failed, reduced to what an error line may say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The budget ran out.
    Timeout,
    /// No connection (refused, unreachable, connect timeout).
    Connect,
    /// The proxy refused the https request's `CONNECT` with 407 (its credentials are wrong).
    ProxyRefused,
    /// Failed before an HTTP answer for another reason (DNS, TLS, protocol).
    Dispatch,
    /// The API answered with an error.
    Service {
        code: Option<String>,
        status: Option<u16>,
    },
    /// The API answered 200 with something unusable.
    BadReply(&'static str),
    /// The request could not be built or the runtime not started.
    Setup(&'static str),
    /// Ambient opt-in: the credential chain (or the record's profile) gave no usable keys.
    NoCredentials,
    /// Ambient opt-in: the budget ran out while resolving credentials.
    CredentialsTimeout,
}

/// Which step the budget was spent in, for the timeout's message.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Credentials,
    Api,
}

pub(crate) fn get_authorization_token(call: &Call) -> Result<Reply, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|_| Failure::Setup("cannot start the async runtime"))?;
    let step = Cell::new(Step::Credentials);
    let result = rt.block_on(async {
        // The SDK's own operation timeout should fire first; this is the hard stop.
        match tokio::time::timeout(call.budget, run(call, &step)).await {
            Ok(r) => r,
            Err(_) if step.get() == Step::Credentials => Err(Failure::CredentialsTimeout),
            Err(_) => Err(Failure::Timeout),
        }
    });
    // Do not wait for a DNS lookup stuck in a blocking thread: the answer is decided.
    rt.shutdown_background();
    result
}

/// The settings both SDK crates share (same underlying smithy types).
struct Common {
    http: SharedHttpClient,
    credentials: Credentials,
    timeouts: TimeoutConfig,
    retry: RetryConfig,
    region: Region,
}

/// Credentials first (no I/O for the record's keys), then the API call with what is left of the
/// budget.
async fn run(call: &Call<'_>, step: &Cell<Step>) -> Result<Reply, Failure> {
    let start = Instant::now();
    let http = http_client(call.proxy.clone());
    let credentials = match call.source {
        Source::Record(keys) => record_credentials(keys),
        Source::Ambient { profile } => {
            ambient_credentials(http.clone(), call, profile.as_deref()).await?
        }
    };
    step.set(Step::Api);
    let left = call.budget.saturating_sub(start.elapsed());
    if left.is_zero() {
        return Err(Failure::Timeout);
    }
    let common = Common {
        http,
        credentials,
        timeouts: timeouts(left),
        retry: RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS),
        region: Region::new(call.region.to_string()),
    };
    send(call, common).await
}

/// hyper + rustls (ring) with the SDK's connect/read timeouts and sleep, through `proxy` when one
/// is configured (the SDK's HTTP client builder has no proxy setting; its connector does). A
/// request to this machine or its link goes to a connector without a proxy, decided on its parsed
/// address by [`crate::net::proxy::always_direct`] (docs/proxies.md, "Never proxied").
fn http_client(proxy: ProxyConfig) -> SharedHttpClient {
    http_client_fn(move |settings, components| {
        let connector = |proxy: ProxyConfig| {
            let mut builder = aws_smithy_http_client::Connector::builder()
                .connector_settings(settings.clone())
                .proxy_config(proxy);
            builder.set_sleep_impl(components.sleep_impl());
            SharedHttpConnector::new(
                builder
                    .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
                    .build(),
            )
        };
        if proxy.is_disabled() {
            return connector(proxy.clone());
        }
        SharedHttpConnector::new(LocalDirect {
            direct: connector(ProxyConfig::disabled()),
            proxied: connector(proxy.clone()),
        })
    })
}

/// Sends requests for local destinations directly, the rest through the proxy connector.
#[derive(Debug)]
struct LocalDirect {
    direct: SharedHttpConnector,
    proxied: SharedHttpConnector,
}

impl HttpConnector for LocalDirect {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let local = request
            .uri()
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.host().map(crate::net::proxy::always_direct))
            .unwrap_or(false);
        if local {
            self.direct.call(request)
        } else {
            self.proxied.call(request)
        }
    }
}

fn record_credentials(keys: &Keys) -> Credentials {
    Credentials::new(
        keys.access_key_id.expose_secret(),
        keys.secret_access_key.expose_secret(),
        keys.session_token.map(|t| t.expose_secret().to_string()),
        None,
        "beta9-record",
    )
}

/// Connect, per attempt (half the budget: room for the one retry) and whole operation.
fn timeouts(budget: Duration) -> TimeoutConfig {
    let attempt = (budget / 2).max(Duration::from_secs(1)).min(budget);
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(attempt))
        .operation_attempt_timeout(attempt)
        .operation_timeout(budget)
        .build()
}

/// `AWS_CREDENTIALS_SOURCE=ambient`: keys from aws-config, read from this process's environment
/// and files. With a profile named in the record, exactly that profile (a missing profile must not
/// fall through to the environment or the instance's role); without, the default chain. Any
/// instance-metadata lookup, the chain's own or a profile's `credential_source =
/// Ec2InstanceMetadata`, uses the bounded client. The error is reduced to [`Failure::NoCredentials`]:
/// its text can name files and profiles and is not ours to print (`BETA9_LOG` shows aws-config's
/// warnings).
async fn ambient_credentials(
    http: SharedHttpClient,
    call: &Call<'_>,
    profile: Option<&str>,
) -> Result<Credentials, Failure> {
    let region = Region::new(call.region.to_string());
    let conf = ProviderConfig::without_region()
        .with_http_client(http)
        .with_region(Some(region.clone()))
        // For the STS / container-credential calls some sources make.
        .with_timeout_config(timeouts(call.budget))
        .with_retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS));
    let imds_client = imds::Client::builder()
        .configure(&conf)
        .connect_timeout(IMDS_TIMEOUT)
        .read_timeout(IMDS_TIMEOUT)
        .operation_attempt_timeout(IMDS_TIMEOUT * 2)
        .operation_timeout(IMDS_TIMEOUT * 2)
        .max_attempts(1)
        .build();
    let imds_provider = || {
        ImdsCredentialsProvider::builder()
            .configure(&conf)
            .imds_client(imds_client.clone())
            .build()
    };
    let result = match profile {
        Some(name) => {
            ProfileFileCredentialsProvider::builder()
                .configure(&conf)
                .profile_name(name)
                .with_custom_provider("Ec2InstanceMetadata", imds_provider())
                .build()
                .provide_credentials()
                .await
        }
        None => {
            DefaultCredentialsChain::builder()
                .configure(conf.clone())
                .region(region)
                .imds_client(imds_client.clone())
                .with_custom_credential_source("Ec2InstanceMetadata", imds_provider())
                .build()
                .await
                .provide_credentials()
                .await
        }
    };
    result.map_err(|e| {
        // Display only: a fixed text per kind ("the credential provider was not enabled", ...).
        tracing::debug!(kind = %e, "the ambient AWS credential chain gave no credentials");
        Failure::NoCredentials
    })
}

/// Applies [`Common`] and the endpoint flags to either crate's config builder.
macro_rules! configure {
    ($builder:expr, $common:expr, $call:expr) => {{
        let c = $common;
        let mut b = $builder
            .behavior_version(BehaviorVersion::latest())
            .http_client(c.http)
            .credentials_provider(c.credentials)
            .identity_cache(IdentityCache::no_cache())
            .region(c.region)
            .timeout_config(c.timeouts)
            .retry_config(c.retry)
            .use_fips($call.fips)
            .use_dual_stack($call.dual_stack);
        if let Some(e) = $call.endpoint {
            b = b.endpoint_url(e);
        }
        b.build()
    }};
}

async fn send(call: &Call<'_>, common: Common) -> Result<Reply, Failure> {
    if call.public {
        let conf = configure!(aws_sdk_ecrpublic::Config::builder(), common, call);
        let client = aws_sdk_ecrpublic::Client::from_conf(conf);
        let out = client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| failure(&e))?;
        let data = out
            .authorization_data
            .ok_or(Failure::BadReply("has no authorizationData"))?;
        reply(data.authorization_token, data.expires_at)
    } else {
        let conf = configure!(aws_sdk_ecr::Config::builder(), common, call);
        let client = aws_sdk_ecr::Client::from_conf(conf);
        // No registryIds: deprecated, and the token works for every registry the keys may use.
        let out = client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| failure(&e))?;
        let data = out
            .authorization_data
            .and_then(|d| d.into_iter().next())
            .ok_or(Failure::BadReply("has no authorizationData"))?;
        reply(data.authorization_token, data.expires_at)
    }
}

fn reply(
    token: Option<String>,
    expires_at: Option<aws_sdk_ecr::primitives::DateTime>,
) -> Result<Reply, Failure> {
    let token = Zeroizing::new(token.ok_or(Failure::BadReply("has no authorizationToken"))?);
    let expires_at = expires_at.and_then(|t| u64::try_from(t.secs()).ok());
    Ok(Reply { token, expires_at })
}

/// Did the proxy answer the `CONNECT` of an https request with 407? hyper-util's tunnel error,
/// which the SDK's connector boxes, is not a public type: it is known by its fixed text (its
/// `Display`, which holds no request data), anywhere in the error's chain.
fn proxy_refused(e: &aws_smithy_runtime_api::client::result::ConnectorError) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.to_string() == "tunnel error: proxy authorization required" {
            return true;
        }
        cur = err.source();
    }
    false
}

/// An SDK error as a [`Failure`]: the kind, the service's error code and HTTP status, nothing of
/// the SDK's own text (it can quote requests).
fn failure<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Failure {
    match e {
        SdkError::TimeoutError(_) => Failure::Timeout,
        SdkError::DispatchFailure(d) if d.as_connector_error().is_some_and(proxy_refused) => {
            Failure::ProxyRefused
        }
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() || d.is_io() {
                Failure::Connect
            } else {
                Failure::Dispatch
            }
        }
        SdkError::ServiceError(_) => Failure::Service {
            code: e.code().map(str::to_string),
            status: e.raw_response().map(|r| r.status().as_u16()),
        },
        SdkError::ResponseError(_) => Failure::BadReply("could not be read"),
        SdkError::ConstructionFailure(_) => {
            Failure::Setup("the request could not be built (check the AWS endpoint override)")
        }
        _ => Failure::Dispatch,
    }
}
