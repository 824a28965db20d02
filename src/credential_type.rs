//! The credential types and their tables: which variable names each holds, which pair a docker
//! `store` fills, what `get` needs. Six types are the design documents' (docs/records.md,
//! "Types and variables"); the seventh, `azure`, is the platform's shipped type for Azure
//! Container Registry (docs/records.md, "Static registries"); the extra names are ours
//! (docs/records.md, "Google names").

use std::fmt;

/// The six types of the integration guide's table, plus `azure` (a service principal for ACR).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CredentialType {
    Aws,
    Gcp,
    Azure,
    Dockerhub,
    Ghcr,
    Ngc,
    Generic,
}

/// An aws record's opt-in to the ambient AWS credential chain instead of stored keys (see
/// `resolve::ecr`); its only accepted value is [`AMBIENT`].
pub(crate) const AWS_CREDENTIALS_SOURCE: &str = "AWS_CREDENTIALS_SOURCE";
pub(crate) const AMBIENT: &str = "ambient";
/// With the opt-in only: the shared-config profile to take the keys from.
pub(crate) const AWS_PROFILE: &str = "AWS_PROFILE";
/// A Google credential file (service-account key or gcloud's `authorized_user` file) given by path
/// (or inline JSON); `add` and `import` turn it into
/// [`GOOGLE_JSON`] (docs/records.md, "Google names"). Never stored under this name.
pub(crate) const GOOGLE_PATH: &str = "GOOGLE_APPLICATION_CREDENTIALS";
pub(crate) const GOOGLE_JSON: &str = "GOOGLE_APPLICATION_CREDENTIALS_JSON";
/// An azure record's service principal: the application (client) id is ACR's username, the
/// client secret its password; the tenant id is kept (the platform ships it) but `get` needs none.
pub(crate) const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";
pub(crate) const AZURE_CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
pub(crate) const AZURE_TENANT_ID: &str = "AZURE_TENANT_ID";

impl CredentialType {
    pub(crate) const ALL: [CredentialType; 7] = [
        CredentialType::Aws,
        CredentialType::Gcp,
        CredentialType::Azure,
        CredentialType::Dockerhub,
        CredentialType::Ghcr,
        CredentialType::Ngc,
        CredentialType::Generic,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CredentialType::Aws => "aws",
            CredentialType::Gcp => "gcp",
            CredentialType::Azure => "azure",
            CredentialType::Dockerhub => "dockerhub",
            CredentialType::Ghcr => "ghcr",
            CredentialType::Ngc => "ngc",
            CredentialType::Generic => "generic",
        }
    }

    /// "a" or "an" before the type's name in a message ("an azure record needs ...").
    pub(crate) fn article(self) -> &'static str {
        match self {
            CredentialType::Aws | CredentialType::Azure => "an",
            _ => "a",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<CredentialType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The variable names a record of this type may hold.
    pub(crate) fn names(self) -> &'static [&'static str] {
        match self {
            CredentialType::Aws => &[
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_REGION",
                "AWS_SESSION_TOKEN",
                AWS_CREDENTIALS_SOURCE,
                AWS_PROFILE,
            ],
            CredentialType::Gcp => &[
                "GCP_ACCESS_TOKEN",
                "GCP_ACCESS_TOKEN_EXPIRY",
                GOOGLE_JSON,
                "GCP_METADATA",
                "GCP_PROJECT_ID",
            ],
            CredentialType::Azure => &[AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID],
            CredentialType::Dockerhub => &[
                "DOCKERHUB_USERNAME",
                "DOCKERHUB_PASSWORD",
                "DOCKERHUB_TOKEN",
            ],
            CredentialType::Ghcr => &["GITHUB_USERNAME", "GITHUB_TOKEN"],
            CredentialType::Ngc => &["NGC_API_KEY"],
            CredentialType::Generic => &["USERNAME", "PASSWORD"],
        }
    }

    /// The user/secret names a docker `store` fills for this type, if it has a pair. `azure` has
    /// none: a `docker login` to an ACR host is kept as a `generic` login (docs/records.md, "Logins
    /// stored by docker"), whatever its username is.
    pub(crate) fn login_names(self) -> Option<(&'static str, &'static str)> {
        match self {
            CredentialType::Dockerhub => Some(("DOCKERHUB_USERNAME", "DOCKERHUB_PASSWORD")),
            CredentialType::Ghcr => Some(("GITHUB_USERNAME", "GITHUB_TOKEN")),
            CredentialType::Generic => Some(("USERNAME", "PASSWORD")),
            _ => None,
        }
    }

    /// The first name `get` needs that `has` lacks, if any.
    pub(crate) fn missing(self, has: &dyn Fn(&str) -> bool) -> Option<&'static str> {
        let need: &[&str] = match self {
            // The opt-in form names no keys: they come from the ambient chain at `get` time.
            CredentialType::Aws if has(AWS_CREDENTIALS_SOURCE) => &[],
            CredentialType::Aws => &["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
            CredentialType::Gcp => {
                let forms = ["GCP_ACCESS_TOKEN", GOOGLE_JSON, "GCP_METADATA"];
                return (!forms.iter().any(|n| has(n))).then_some(
                    "GCP_ACCESS_TOKEN (or GOOGLE_APPLICATION_CREDENTIALS_JSON, or GCP_METADATA=1)",
                );
            }
            CredentialType::Dockerhub => {
                if !has("DOCKERHUB_PASSWORD") && !has("DOCKERHUB_TOKEN") {
                    return Some("DOCKERHUB_PASSWORD (or DOCKERHUB_TOKEN)");
                }
                &["DOCKERHUB_USERNAME"]
            }
            CredentialType::Azure => &[AZURE_CLIENT_ID, AZURE_CLIENT_SECRET],
            CredentialType::Ghcr => &["GITHUB_TOKEN"],
            CredentialType::Ngc => &["NGC_API_KEY"],
            CredentialType::Generic => &["USERNAME", "PASSWORD"],
        };
        need.iter().copied().find(|n| !has(n))
    }
}

/// Every credential variable name some type accepts, plus [`GOOGLE_PATH`]: the only names `add`
/// reads from the environment.
pub(crate) fn all_names() -> impl Iterator<Item = &'static str> {
    CredentialType::ALL
        .into_iter()
        .flat_map(|t| t.names().iter().copied())
        .chain([GOOGLE_PATH])
}

/// A name some type accepts (or the Google path form `add` and `import` rewrite).
pub(crate) fn is_known_name(name: &str) -> bool {
    all_names().any(|n| n == name)
}

impl fmt::Display for CredentialType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_tables_agree() {
        for t in CredentialType::ALL {
            assert_eq!(CredentialType::parse(t.as_str()), Some(t));
            if let Some((u, s)) = t.login_names() {
                assert!(t.names().contains(&u) && t.names().contains(&s));
            }
        }
        assert_eq!(CredentialType::parse("basic"), None);
        assert!(is_known_name(GOOGLE_PATH) && is_known_name("NGC_API_KEY"));
        assert!(!is_known_name("ghp_x"));
    }

    #[test]
    fn missing_names_what_get_needs() {
        let has = |names: &'static [&'static str]| move |n: &str| names.contains(&n);
        assert_eq!(
            CredentialType::Aws.missing(&has(&[AWS_CREDENTIALS_SOURCE])),
            None
        );
        assert_eq!(
            CredentialType::Aws.missing(&has(&["AWS_ACCESS_KEY_ID"])),
            Some("AWS_SECRET_ACCESS_KEY")
        );
        assert_eq!(
            CredentialType::Dockerhub.missing(&has(&["DOCKERHUB_TOKEN"])),
            Some("DOCKERHUB_USERNAME")
        );
        assert!(CredentialType::Gcp.missing(&has(&[])).is_some());
        assert_eq!(
            CredentialType::Azure.missing(&has(&[AZURE_CLIENT_ID, AZURE_TENANT_ID])),
            Some(AZURE_CLIENT_SECRET)
        );
        assert_eq!(
            CredentialType::Azure.missing(&has(&[AZURE_CLIENT_SECRET])),
            Some(AZURE_CLIENT_ID)
        );
        // The tenant is optional: ACR takes the client id and secret alone.
        assert_eq!(
            CredentialType::Azure.missing(&has(&[AZURE_CLIENT_ID, AZURE_CLIENT_SECRET])),
            None
        );
    }

    #[test]
    fn azure_is_the_seventh_type_host_bound_with_no_login_pair() {
        assert_eq!(CredentialType::ALL.len(), 7);
        assert_eq!(CredentialType::parse("azure"), Some(CredentialType::Azure));
        assert_eq!(CredentialType::Azure.to_string(), "azure");
        assert_eq!(
            CredentialType::Azure.names(),
            &[AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID]
        );
        for n in [AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_TENANT_ID] {
            assert!(is_known_name(n), "{n}");
        }
        // A docker `store` never makes an azure record: no pair to fill.
        assert_eq!(CredentialType::Azure.login_names(), None);
        // No name belongs to two types (detection and validation rely on it).
        for a in CredentialType::ALL {
            for b in CredentialType::ALL.into_iter().filter(|b| *b != a) {
                assert!(
                    !a.names().iter().any(|n| b.names().contains(n)),
                    "{a} and {b} share a name"
                );
            }
        }
    }
}
