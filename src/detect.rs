//! Credential type detection, as the integration guide orders it: variable names first, then
//! registry patterns (docs/records.md, "Detection").

use crate::credential_type::CredentialType;
use crate::hosts;
use crate::registry::Registry;

/// The type a set of credential names implies for a registry, if any.
pub fn detect(registry: &Registry, names: &[&str]) -> Option<CredentialType> {
    by_names(names).or_else(|| by_registry(registry))
}

/// 1. Variable names (highest priority).
pub fn by_names(names: &[&str]) -> Option<CredentialType> {
    let has = |n: &str| names.contains(&n);
    let any_prefix = |p: &str| names.iter().any(|n| n.starts_with(p));
    if has("AWS_ACCESS_KEY_ID") {
        Some(CredentialType::Aws)
    } else if has("GCP_ACCESS_TOKEN")
        || has("GOOGLE_APPLICATION_CREDENTIALS_JSON")
        || has("GOOGLE_APPLICATION_CREDENTIALS")
        || has("GCP_METADATA")
    {
        Some(CredentialType::Gcp)
    } else if has("NGC_API_KEY") {
        Some(CredentialType::Ngc)
    } else if any_prefix("GITHUB_") {
        Some(CredentialType::Ghcr)
    } else if any_prefix("DOCKERHUB_") {
        Some(CredentialType::Dockerhub)
    } else if has("USERNAME") || has("PASSWORD") {
        Some(CredentialType::Generic)
    } else {
        None
    }
}

/// 2. Registry patterns, anchored (see `hosts`).
pub fn by_registry(registry: &Registry) -> Option<CredentialType> {
    let host = registry.hostname();
    if hosts::ecr_host(host).is_some() || hosts::is_ecr_public(host) {
        Some(CredentialType::Aws)
    } else if hosts::is_google_host(host) {
        Some(CredentialType::Gcp)
    } else if hosts::is_ghcr(host) {
        Some(CredentialType::Ghcr)
    } else if hosts::is_ngc(host) {
        Some(CredentialType::Ngc)
    } else if registry.is_docker_hub() {
        Some(CredentialType::Dockerhub)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> Registry {
        Registry::from_reference(s).unwrap()
    }

    #[test]
    fn names_win_over_registry() {
        assert_eq!(
            detect(
                &reg("ghcr.io"),
                &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
            ),
            Some(CredentialType::Aws)
        );
        assert_eq!(
            detect(&reg("myuser/img"), &["USERNAME", "PASSWORD"]),
            Some(CredentialType::Generic)
        );
        assert_eq!(
            detect(&reg("nvcr.io"), &["NGC_API_KEY"]),
            Some(CredentialType::Ngc)
        );
        assert_eq!(
            detect(&reg("x.example"), &["GITHUB_USERNAME", "GITHUB_TOKEN"]),
            Some(CredentialType::Ghcr)
        );
        assert_eq!(
            detect(&reg("x.example"), &["DOCKERHUB_USERNAME"]),
            Some(CredentialType::Dockerhub)
        );
        assert_eq!(
            detect(&reg("x.example"), &["GCP_ACCESS_TOKEN"]),
            Some(CredentialType::Gcp)
        );
    }

    #[test]
    fn registry_patterns_follow_the_guide() {
        let cases = [
            (
                "111111111111.dkr.ecr.us-east-1.amazonaws.com/img",
                Some(CredentialType::Aws),
            ),
            ("public.ecr.aws/x/y", Some(CredentialType::Aws)),
            ("gcr.io/p/i", Some(CredentialType::Gcp)),
            ("us-docker.pkg.dev/p/r/i", Some(CredentialType::Gcp)),
            ("ghcr.io/org/img", Some(CredentialType::Ghcr)),
            ("nvcr.io/nvidia/pytorch", Some(CredentialType::Ngc)),
            (
                "myuser/private-image:latest",
                Some(CredentialType::Dockerhub),
            ),
            ("registry.example.com:5000/x", None),
            ("secret-registry.io/x", None),
        ];
        for (r, want) in cases {
            assert_eq!(detect(&reg(r), &[]), want, "{r}");
        }
    }
}
