//! Credential type detection, as the integration guide orders it: variable names first, then
//! registry patterns (docs/records.md, "Detection").

use crate::credential_type::{CredentialType, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET};
use crate::hosts;
use crate::registry::Registry;

/// The type a set of credential names implies for a registry, if any.
pub(crate) fn detect(registry: &Registry, names: &[&str]) -> Option<CredentialType> {
    by_names(names).or_else(|| by_registry(registry))
}

/// 1. Variable names (highest priority).
pub(crate) fn by_names(names: &[&str]) -> Option<CredentialType> {
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
    } else if has(AZURE_CLIENT_ID) && has(AZURE_CLIENT_SECRET) {
        // The pair, as beta9 detects `azure`; AZURE_TENANT_ID is optional and alone decides nothing.
        Some(CredentialType::Azure)
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
pub(crate) fn by_registry(registry: &Registry) -> Option<CredentialType> {
    let host = registry.hostname();
    if hosts::ecr_host(host).is_some() || hosts::is_ecr_public(host) {
        Some(CredentialType::Aws)
    } else if hosts::is_google_host(host) {
        Some(CredentialType::Gcp)
    } else if hosts::is_acr_host(host) {
        Some(CredentialType::Azure)
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
    fn azure_names_need_the_client_id_and_secret() {
        let sp = ["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID"];
        // Names first: the pair detects azure on any host (add/import then refuse a non-ACR one).
        assert_eq!(detect(&reg("x.example"), &sp), Some(CredentialType::Azure));
        assert_eq!(
            detect(&reg("ghcr.io"), &sp[..2]),
            Some(CredentialType::Azure)
        );
        // One of the pair alone is not azure by name; an ACR host still is by registry.
        assert_eq!(by_names(&["AZURE_CLIENT_ID"]), None);
        assert_eq!(by_names(&["AZURE_TENANT_ID"]), None);
        assert_eq!(
            detect(&reg("myacr.azurecr.io"), &["AZURE_CLIENT_ID"]),
            Some(CredentialType::Azure)
        );
        // A plain login on an ACR host (the admin user, a token) stays generic.
        assert_eq!(
            detect(&reg("myacr.azurecr.io"), &["USERNAME", "PASSWORD"]),
            Some(CredentialType::Generic)
        );
        // AWS keys beside Azure names: the guide's order puts aws first.
        assert_eq!(
            by_names(&[
                "AWS_ACCESS_KEY_ID",
                "AZURE_CLIENT_ID",
                "AZURE_CLIENT_SECRET"
            ]),
            Some(CredentialType::Aws)
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
            ("myacr.azurecr.io/team/app:1", Some(CredentialType::Azure)),
            ("myacr.azurecr.cn/x", Some(CredentialType::Azure)),
            ("myacr.azurecr.us/x", Some(CredentialType::Azure)),
            ("myacr-abc123.azurecr.io/x", Some(CredentialType::Azure)),
            (
                "myacr.eastus2.geo.azurecr.io/x",
                Some(CredentialType::Azure),
            ),
            ("myacr.eastus2.data.azurecr.io/x", None),
            ("myacr.azurecr.io.evil.example/x", None),
            ("my_acr.azurecr.io/x", None),
            ("azurecr.io/x", None),
            ("registry.example.com:5000/x", None),
            ("secret-registry.io/x", None),
        ];
        for (r, want) in cases {
            assert_eq!(detect(&reg(r), &[]), want, "{r}");
        }
    }
}
