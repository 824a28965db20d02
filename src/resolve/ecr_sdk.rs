//! The one AWS SDK call `get` ever makes: GetAuthorizationToken (ECR or ECR Public), on a
//! single-threaded tokio runtime built for it and dropped right after. Only called when the token
//! cache misses, so a cache hit pays for none of this.
//!
//! The client config is built by hand (`Config::builder()`, not `aws_config::load`): no profile
//! files, no environment credentials, no IMDS, no region lookup. Credentials are the record's keys
//! as a static provider; the HTTP client is hyper + rustls with ring; the budget bounds connect,
//! each attempt, the whole operation (one retry at most), and the call itself.

use super::ecr::Keys;
use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::config::retry::RetryConfig;
use aws_sdk_ecr::config::timeout::TimeoutConfig;
use aws_sdk_ecr::config::{BehaviorVersion, Credentials, IdentityCache, Region, SharedHttpClient};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use secrecy::ExposeSecret;
use std::time::Duration;
use zeroize::Zeroizing;

/// Connecting takes at most this long (less when the whole budget is smaller).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Two attempts: one retry for a transient failure, still inside the budget.
const MAX_ATTEMPTS: u32 = 2;

/// What to ask and where.
pub(crate) struct Call<'a> {
    pub public: bool,
    pub region: &'a str,
    pub fips: bool,
    pub dual_stack: bool,
    pub endpoint: Option<&'a str>,
    pub keys: &'a Keys<'a>,
    pub budget: Duration,
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
}

pub(crate) fn get_authorization_token(call: &Call) -> Result<Reply, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|_| Failure::Setup("cannot start the async runtime"))?;
    let result = rt.block_on(async {
        // The SDK's own operation timeout should fire first; this is the hard stop.
        match tokio::time::timeout(call.budget, send(call)).await {
            Ok(r) => r,
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

fn common(call: &Call) -> Common {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let credentials = Credentials::new(
        call.keys.access_key_id.expose_secret(),
        call.keys.secret_access_key.expose_secret(),
        call.keys
            .session_token
            .map(|t| t.expose_secret().to_string()),
        None,
        "beta9-record",
    );
    let attempt = (call.budget / 2)
        .max(Duration::from_secs(1))
        .min(call.budget);
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(attempt))
        .operation_attempt_timeout(attempt)
        .operation_timeout(call.budget)
        .build();
    Common {
        http,
        credentials,
        timeouts,
        retry: RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS),
        region: Region::new(call.region.to_string()),
    }
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

async fn send(call: &Call<'_>) -> Result<Reply, Failure> {
    if call.public {
        let conf = configure!(aws_sdk_ecrpublic::Config::builder(), common(call), call);
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
        let conf = configure!(aws_sdk_ecr::Config::builder(), common(call), call);
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

/// An SDK error as a [`Failure`]: the kind, the service's error code and HTTP status, nothing of
/// the SDK's own text (it can quote requests).
fn failure<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> Failure {
    match e {
        SdkError::TimeoutError(_) => Failure::Timeout,
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
