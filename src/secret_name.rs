//! The key type of every store: `oci-creds-` + 16 lower-case hex characters, the first 8 bytes of
//! SHA-256 over the canonical registry (docs/registry-identity.md, "Secret names").

use sha2::{Digest, Sha256};
use std::fmt;

pub(crate) const SECRET_PREFIX: &str = "oci-creds-";

/// The name of one stored secret.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// The name for a canonical registry string.
    pub fn derive(canonical_registry: &str) -> SecretName {
        let digest = Sha256::digest(canonical_registry.as_bytes());
        SecretName(format!("{SECRET_PREFIX}{}", hex::encode(&digest[..8])))
    }

    /// Accepts only well-formed names, so a stray file in a store is never read as an entry.
    pub(crate) fn parse(s: &str) -> Option<SecretName> {
        let hexpart = s.strip_prefix(SECRET_PREFIX)?;
        let ok = hexpart.len() == 16
            && hexpart
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| SecretName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_strictly() {
        assert!(SecretName::parse("oci-creds-0fd460f0568e29c1").is_some());
        assert!(SecretName::parse("oci-creds-0FD460F0568E29C1").is_none());
        assert!(SecretName::parse("oci-creds-0fd460f0568e29c").is_none());
        assert!(SecretName::parse(".tmp-oci-creds-0fd460f0568e29c1").is_none());
        assert_eq!(
            SecretName::derive("ghcr.io").as_str(),
            "oci-creds-0fd460f0568e29c1"
        );
    }
}
