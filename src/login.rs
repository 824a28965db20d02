//! The two shapes a login takes in the core: what docker hands to `store` ([`NewLogin`]) and what
//! `get` answers ([`Login`]). Both hold secrets; their `Debug` is hand-written and redacted.

use secrecy::SecretString;
use std::fmt;

/// What `get` answers: a username and a secret. The username can be a token too (GHCR without a
/// username reuses the token), so both are redacted.
pub struct Login {
    pub username: SecretString,
    pub secret: SecretString,
}

impl Login {
    pub fn new(username: &str, secret: &SecretString) -> Login {
        Login {
            username: SecretString::from(username),
            secret: secret.clone(),
        }
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Login { username: [REDACTED], secret: [REDACTED] }")
    }
}

/// A login docker asks us to keep: the server URL as docker gave it, the username and secret.
pub struct NewLogin {
    pub server_url: String,
    pub username: String,
    pub secret: SecretString,
}

impl fmt::Debug for NewLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewLogin")
            .field("server_url", &self.server_url)
            .field("username", &"[REDACTED]")
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_is_redacted() {
        let login = Login::new("CANARY-user", &SecretString::from("CANARY-secret"));
        assert!(!format!("{login:?}").contains("CANARY"));
        let new = NewLogin {
            server_url: "ghcr.io".into(),
            username: "CANARY-u".into(),
            secret: SecretString::from("CANARY-s"),
        };
        let shown = format!("{new:?}");
        assert!(
            !shown.contains("CANARY") && shown.contains("ghcr.io"),
            "{shown}"
        );
    }
}
