//! The kubelet image credential provider plugin API (`credentialprovider.kubelet.k8s.io/v1`,
//! COMPAT.md §8): a `CredentialProviderRequest` naming an image on stdin, a
//! `CredentialProviderResponse` with `auth` for its registry on stdout. Lets a node's kubelet pull
//! with the same encrypted store and minted ECR/Google tokens as docker, instead of a separate
//! plugin per cloud.

use crate::actions::{self, Context};
use crate::error::{Error, Result};
use crate::record::CredentialType;
use crate::registry::Registry;
use crate::resolve;
use crate::secret::{self, SecretBuf};
use serde::Deserialize;

/// The versions kubelet speaks; the response echoes the request's.
const API_VERSIONS: [&str; 3] = [
    "credentialprovider.kubelet.k8s.io/v1",
    "credentialprovider.kubelet.k8s.io/v1beta1",
    "credentialprovider.kubelet.k8s.io/v1alpha1",
];

/// How long kubelet may reuse an answer. Static logins change only when someone stores new ones;
/// minted tokens are cached by us anyway, so kubelet asking again each minute costs a cache hit.
pub const STATIC_CACHE: &str = "5m0s";
pub const TOKEN_CACHE: &str = "1m0s";

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
pub fn answer(ctx: &Context, input: &[u8]) -> Result<SecretBuf> {
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
    // An entry stored for exactly this repository wins over the registry's (as ggcr looks up).
    let mut found = None;
    for (key, key_type) in candidates(image) {
        if let Some(entry) = actions::load(ctx, &key)? {
            if let Some(login) = resolve::resolve(ctx, &entry.record)? {
                found = Some((key, key_type, entry.record.kind, login));
                break;
            }
        }
    }
    let Some((key, key_type, kind, login)) = found else {
        return Ok(secret::kubelet_response_json(api, "Registry", "0s", None));
    };
    let duration = match kind {
        CredentialType::Aws | CredentialType::Gcp => TOKEN_CACHE,
        _ => STATIC_CACHE,
    };
    Ok(secret::kubelet_response_json(
        api,
        key_type,
        duration,
        Some((key.as_str(), &login)),
    ))
}

/// Lookup keys for an image, most specific first, with the cache key type each implies.
fn candidates(image: &str) -> Vec<(Registry, &'static str)> {
    let registry = Registry::from_reference(image);
    let mut out = Vec::with_capacity(2);
    if let Some(repo) = repository(image) {
        out.push((
            Registry::from_server_url(&format!("{}/{repo}", registry.as_str())),
            "Image",
        ));
    }
    out.push((registry, "Registry"));
    out
}

/// The repository path of an image reference, without registry, tag or digest (Hub's single
/// names get `library/`).
fn repository(image: &str) -> Option<String> {
    let r = image
        .trim_start_matches("docker://")
        .trim_start_matches("oci://");
    let without_digest = r.split('@').next()?;
    // Same registry rule as `Registry::from_reference`: a first component with `.`/`:` or
    // `localhost` is the registry, otherwise the whole name is a Hub repository.
    let rest = match without_digest.split_once('/') {
        Some((f, rest)) if f.contains('.') || f.contains(':') || f == "localhost" => rest,
        Some(_) => without_digest,
        // A bare host (`ghcr.io`, `localhost:5000`) names a registry, not a repository.
        None if !Registry::from_reference(image).is_docker_hub() => return None,
        None => without_digest,
    };
    let repo = match rest.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => path,
        _ => rest,
    };
    if repo.is_empty() {
        return None;
    }
    if Registry::from_reference(image).is_docker_hub() && !repo.contains('/') {
        return Some(format!("library/{repo}"));
    }
    Some(repo.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_drop_registry_tag_and_digest() {
        assert_eq!(repository("ghcr.io/org/img:1").as_deref(), Some("org/img"));
        assert_eq!(
            repository("ghcr.io/org/img@sha256:ab").as_deref(),
            Some("org/img")
        );
        assert_eq!(repository("localhost:5000/a/b").as_deref(), Some("a/b"));
        assert_eq!(repository("nginx").as_deref(), Some("library/nginx"));
        assert_eq!(repository("nginx:1.25").as_deref(), Some("library/nginx"));
        assert_eq!(repository("me/app:2").as_deref(), Some("me/app"));
        assert_eq!(repository("ghcr.io").as_deref(), None);
    }

    #[test]
    fn candidates_go_from_repository_to_registry() {
        let c = candidates("ghcr.io/org/img:1");
        assert_eq!(c[0].0.as_str(), "ghcr.io/org/img");
        assert_eq!(c[1].0.as_str(), "ghcr.io");
        let hub = candidates("nginx");
        assert_eq!(hub[0].0.as_str(), "docker.io/library/nginx");
        assert_eq!(hub[1].0.as_str(), "docker.io");
    }
}
