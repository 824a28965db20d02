//! The kubelet image credential provider plugin API (`credentialprovider.kubelet.k8s.io/v1`,
//! docs/kubelet.md): a `CredentialProviderRequest` naming an image on stdin, a
//! `CredentialProviderResponse` with `auth` for it on stdout. Lets a node's kubelet pull with the
//! same encrypted store and minted ECR/Google tokens as docker, instead of a separate plugin per
//! cloud. The wire format is here; which login answers is [`actions::image_login`].

use crate::actions::{self, Scope};
use crate::context::Context;
use crate::credential_type::CredentialType;
use crate::error::{Error, Result};
use crate::login::Login;
use crate::secret::SecretBuf;
use secrecy::ExposeSecret;
use serde::ser::{SerializeMap, Serializer as _};
use serde::Deserialize;
use std::io::Write;

/// The versions kubelet speaks; the response echoes the request's.
const API_VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];

/// The `matchImages` patterns of every registry family a record type serves (kubelet's glob
/// language, docs/kubelet.md "Match keys"): one `*` per DNS label, equal label counts. The
/// packaged example config and `kubelet --help` show exactly these; a registry of your own is
/// added by name.
pub(crate) const MATCH_IMAGES: &[&str] = &[
    "docker.io",
    "registry-1.docker.io",
    "ghcr.io",
    "nvcr.io",
    "gcr.io",
    "*.gcr.io",
    "*-docker.pkg.dev",
    "docker.*.rep.pkg.dev",
    "*.dkr.ecr.*.amazonaws.com",
    "*.dkr.ecr-fips.*.amazonaws.com",
    "*.dkr.ecr.*.amazonaws.com.cn",
    "*.dkr-ecr.*.on.aws",
    "*.dkr-ecr-fips.*.on.aws",
    "public.ecr.aws",
    "*.azurecr.io",
    "*.azurecr.cn",
    "*.azurecr.us",
    "*.*.geo.azurecr.io",
    "*.*.geo.azurecr.cn",
    "*.*.geo.azurecr.us",
];

/// How long kubelet may reuse an answer. Static logins change only when someone stores new ones;
/// minted tokens are cached by us anyway, so kubelet asking again each minute costs a cache hit.
pub(crate) const STATIC_CACHE: &str = "5m0s";
pub(crate) const TOKEN_CACHE: &str = "1m0s";

#[derive(Deserialize)]
struct Request {
    #[serde(rename = "apiVersion", default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    image: String,
}

/// Answers one request. Nothing stored is not an error: `auth` is null and nothing is cached.
pub(crate) fn answer(ctx: &Context, input: &[u8]) -> Result<SecretBuf> {
    // Go's `EOF` is the protocol's text for an empty `store`; kubelet's operator gets words.
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Invalid(
            "empty stdin: expected a CredentialProviderRequest (JSON) naming an image".into(),
        ));
    }
    let req: Request = serde_json::from_slice(input).map_err(|e| Error::from_json(&e))?;
    let api = API_VERSIONS
        .iter()
        .find(|v| **v == req.api_version)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "unsupported apiVersion (expected {})",
                API_VERSIONS[0]
            ))
        })?;
    if req.kind != "CredentialProviderRequest" {
        return Err(Error::Invalid(
            "kind must be CredentialProviderRequest".into(),
        ));
    }
    let image = req.image.trim();
    if image.is_empty() {
        return Err(Error::Invalid("the request names no image".into()));
    }
    let Some(hit) = actions::image_login(ctx, image)? else {
        return Ok(response_json(api, "Image", "0s", None));
    };
    let duration = match hit.kind {
        CredentialType::Aws | CredentialType::Gcp => TOKEN_CACHE,
        _ => STATIC_CACHE,
    };
    // An expiring entry is never cached past its expiry (docs/storage.md, "Entry lifecycle").
    let capped;
    let duration = match hit.expires_at {
        Some(t) if t.saturating_sub(ctx.now()) < cache_secs(duration) => {
            capped = format!("{}s", t.saturating_sub(ctx.now()));
            capped.as_str()
        }
        _ => duration,
    };
    // Always `Image`, keyed by the image's repository: kubelet reuses a `Registry` answer for
    // every image of that registry before asking again, so a registry login would shadow an
    // entry stored for another repository for the whole cache duration (docs/kubelet.md,
    // "kubelet's cache").
    let key = match (hit.scope, repository_key(image)) {
        (Scope::Registry, Some(repo)) => repo,
        _ => hit.key.as_str().to_string(),
    };
    Ok(response_json(
        api,
        "Image",
        duration,
        Some((&key, &hit.login)),
    ))
}

/// Seconds of one of our two cache durations (`5m0s`, `1m0s`).
fn cache_secs(d: &str) -> u64 {
    if d == STATIC_CACHE {
        300
    } else {
        60
    }
}

/// `<registry>/<repository>` of an image: the most specific key kubelet matches it with.
fn repository_key(image: &str) -> Option<String> {
    let registry = actions::registry_arg(image).ok()?;
    let repo = crate::registry::repository(image)?;
    Some(format!("{}/{repo}", registry.as_str()))
}

/// A `CredentialProviderResponse`: `auth` maps the match key to the login, or is `null` when
/// nothing is stored. One of the few places a secret is exposed, straight into a zeroizing buffer.
pub(crate) fn response_json(
    api_version: &str,
    cache_key_type: &str,
    cache_duration: &str,
    auth: Option<(&str, &Login)>,
) -> SecretBuf {
    let size = auth.map_or(0, |(_, l)| {
        l.username.expose_secret().len() + l.secret.expose_secret().len()
    });
    let mut out = SecretBuf::with_capacity(size * 2 + 256);
    let mut ser = serde_json::Serializer::new(&mut out);
    let write = (|| {
        let mut map = ser.serialize_map(Some(5))?;
        map.serialize_entry("apiVersion", api_version)?;
        map.serialize_entry("kind", "CredentialProviderResponse")?;
        map.serialize_entry("cacheKeyType", cache_key_type)?;
        map.serialize_entry("cacheDuration", cache_duration)?;
        match auth {
            Some((key, login)) => map.serialize_entry("auth", &Auth(key, login))?,
            None => map.serialize_entry("auth", &())?,
        }
        map.end()
    })();
    debug_assert!(write.is_ok());
    let _ = out.write_all(b"\n");
    out
}

struct Auth<'a>(&'a str, &'a Login);

impl serde::Serialize for Auth<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut outer = s.serialize_map(Some(1))?;
        let mut inner = std::collections::BTreeMap::new();
        inner.insert("username", self.1.username.expose_secret());
        inner.insert("password", self.1.secret.expose_secret());
        outer.serialize_entry(self.0, &inner)?;
        outer.end()
    }
}
