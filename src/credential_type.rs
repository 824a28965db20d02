//! The credential types and their tables: which variable names each holds, which pair a docker
//! `store` fills, what `get` needs. The six types are the design documents' (docs/records.md,
//! "Types and variables"); the extra names are ours (docs/records.md, "Google names").

use std::fmt;

/// The six types of the integration guide's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CredentialType {
    Aws,
    Gcp,
    Dockerhub,
    Ghcr,
    Ngc,
    Generic,
}

/// An aws record's opt-in to the ambient AWS credential chain instead of stored keys (see
/// `resolve::ecr`); its only accepted value is [`AMBIENT`].
pub const AWS_CREDENTIALS_SOURCE: &str = "AWS_CREDENTIALS_SOURCE";
pub const AMBIENT: &str = "ambient";
/// With the opt-in only: the shared-config profile to take the keys from.
pub const AWS_PROFILE: &str = "AWS_PROFILE";
/// A Google service-account key given by path (or inline JSON); `add` and `import` turn it into
/// [`GOOGLE_JSON`] (docs/records.md, "Google names"). Never stored under this name.
pub const GOOGLE_PATH: &str = "GOOGLE_APPLICATION_CREDENTIALS";
pub const GOOGLE_JSON: &str = "GOOGLE_APPLICATION_CREDENTIALS_JSON";

impl CredentialType {
    pub const ALL: [CredentialType; 6] = [
        CredentialType::Aws,
        CredentialType::Gcp,
        CredentialType::Dockerhub,
        CredentialType::Ghcr,
        CredentialType::Ngc,
        CredentialType::Generic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CredentialType::Aws => "aws",
            CredentialType::Gcp => "gcp",
            CredentialType::Dockerhub => "dockerhub",
            CredentialType::Ghcr => "ghcr",
            CredentialType::Ngc => "ngc",
            CredentialType::Generic => "generic",
        }
    }

    pub fn parse(s: &str) -> Option<CredentialType> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The variable names a record of this type may hold.
    pub fn names(self) -> &'static [&'static str] {
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

    /// The user/secret names a docker `store` fills for this type, if it has a pair.
    pub fn login_names(self) -> Option<(&'static str, &'static str)> {
        match self {
            CredentialType::Dockerhub => Some(("DOCKERHUB_USERNAME", "DOCKERHUB_PASSWORD")),
            CredentialType::Ghcr => Some(("GITHUB_USERNAME", "GITHUB_TOKEN")),
            CredentialType::Generic => Some(("USERNAME", "PASSWORD")),
            _ => None,
        }
    }

    /// The first name `get` needs that `has` lacks, if any.
    pub fn missing(self, has: &dyn Fn(&str) -> bool) -> Option<&'static str> {
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
            CredentialType::Ghcr => &["GITHUB_TOKEN"],
            CredentialType::Ngc => &["NGC_API_KEY"],
            CredentialType::Generic => &["USERNAME", "PASSWORD"],
        };
        need.iter().copied().find(|n| !has(n))
    }

    /// Does this type send key material to a cloud API (and so only to that cloud's hosts)?
    pub fn is_cloud(self) -> bool {
        matches!(self, CredentialType::Aws | CredentialType::Gcp)
    }
}

/// Every credential variable name some type accepts, plus [`GOOGLE_PATH`]: the only names `add`
/// reads from the environment.
pub fn all_names() -> impl Iterator<Item = &'static str> {
    CredentialType::ALL
        .into_iter()
        .flat_map(|t| t.names().iter().copied())
        .chain([GOOGLE_PATH])
}

/// A name some type accepts (or the Google path form `add` and `import` rewrite).
pub fn is_known_name(name: &str) -> bool {
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
    }
}
