//! The Google credential files a `gcp` record can hold in `GOOGLE_APPLICATION_CREDENTIALS_JSON`
//! (docs/google.md, "Credential files"): a service-account key (JWT-bearer grant,
//! [`super::jwt`]), the `authorized_user` file `gcloud auth application-default login`
//! writes (refresh-token grant, RFC 6749 §6), or an `external_account` file (workload identity
//! federation, [`super::external`]). The first two are one form POST at the file's token
//! endpoint; what differs is the form body and what identifies the credential.

use super::external::ExternalAccount;
use super::http::form_field as field;
pub(crate) use super::jwt::GoogleKeyError;
use super::jwt::{self, check_token_uri, ServiceAccountKey, DEFAULT_TOKEN_URI};
use crate::token::{self, ShareKey};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::fmt;
use zeroize::Zeroizing;

/// A credential file that can mint access tokens.
#[derive(Debug)]
pub(crate) enum GoogleKey {
    ServiceAccount(ServiceAccountKey),
    AuthorizedUser(AuthorizedUser),
    /// The machine's own identity from another provider, exchanged at Google's STS.
    External(ExternalAccount),
}

/// gcloud's application-default credentials for a user account: an OAuth client and the user's
/// refresh token for it.
pub(crate) struct AuthorizedUser {
    /// The OAuth client's id (public: it is in every consent URL).
    pub client_id: String,
    pub client_secret: SecretString,
    pub refresh_token: SecretString,
    pub token_uri: String,
}

impl fmt::Debug for AuthorizedUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizedUser")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("refresh_token", &"[REDACTED]")
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

#[derive(Deserialize)]
struct Kind {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct RawUser {
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<SecretString>,
    #[serde(default)]
    refresh_token: Option<SecretString>,
    #[serde(default)]
    token_uri: Option<String>,
}

impl GoogleKey {
    /// Reads the file by its `type`. Errors are reasons for a `BadRecord`: they name what is
    /// wrong, never any of the content.
    pub(crate) fn parse(json: &str) -> Result<GoogleKey, GoogleKeyError> {
        let kind: Kind = serde_json::from_str(json)
            .map_err(|e| GoogleKeyError::malformed("a Google credential JSON", &e))?;
        match kind.kind.as_deref() {
            Some("authorized_user") => AuthorizedUser::parse(json).map(GoogleKey::AuthorizedUser),
            Some("external_account") => ExternalAccount::parse(json).map(GoogleKey::External),
            // Everything else, a missing type included, is read as a service-account key, which
            // refuses the types it cannot sign for (external_account, impersonated, ...).
            _ => ServiceAccountKey::parse(json).map(GoogleKey::ServiceAccount),
        }
    }

    pub(crate) fn token_uri(&self) -> &str {
        match self {
            GoogleKey::ServiceAccount(k) => &k.token_uri,
            GoogleKey::AuthorizedUser(u) => &u.token_uri,
            GoogleKey::External(x) => &x.token_url,
        }
    }

    /// For messages and logs: which grant this file uses.
    pub(crate) fn grant(&self) -> &'static str {
        match self {
            GoogleKey::ServiceAccount(_) => "JWT bearer",
            GoogleKey::AuthorizedUser(_) => "refresh token",
            GoogleKey::External(_) => "token exchange",
        }
    }

    /// The local token cache key: the token belongs to the credential, not to a registry, so
    /// every Google registry host using this file shares one cached token, and any change of the
    /// file gives a new key at once.
    pub(crate) fn cache_key(&self) -> String {
        match self {
            GoogleKey::ServiceAccount(k) => k.cache_key(),
            GoogleKey::AuthorizedUser(u) => {
                let digest = token::digest_parts(&[
                    u.client_id.as_bytes(),
                    u.client_secret.expose_secret().as_bytes(),
                    u.refresh_token.expose_secret().as_bytes(),
                    u.token_uri.as_bytes(),
                ]);
                format!("gcp-user\0{digest}")
            }
            GoogleKey::External(x) => x.cache_key(),
        }
    }

    /// The fleet's key (docs/fleet.md, "What is shared"): derived from the whole credential and
    /// bound to the token endpoint, so exactly the machines holding this file can open the token.
    /// `None` for an `external_account`: its subject token is this machine's identity.
    pub(crate) fn share_key(&self) -> Option<ShareKey> {
        Some(match self {
            GoogleKey::External(_) => return None,
            GoogleKey::ServiceAccount(k) => ShareKey::derive(
                "gcp-sa",
                &[k.token_uri.as_bytes()],
                &[
                    k.private_key.expose_secret().as_bytes(),
                    k.private_key_id.as_deref().unwrap_or_default().as_bytes(),
                    k.client_email.as_bytes(),
                ],
            ),
            GoogleKey::AuthorizedUser(u) => ShareKey::derive(
                "gcp-user",
                &[u.token_uri.as_bytes()],
                &[
                    u.refresh_token.expose_secret().as_bytes(),
                    u.client_secret.expose_secret().as_bytes(),
                    u.client_id.as_bytes(),
                ],
            ),
        })
    }

    /// The `application/x-www-form-urlencoded` body of the token request at `now` (the one
    /// request of the two single-request grants; an `external_account` has its own steps).
    pub(crate) fn form(&self, now: u64) -> Result<Zeroizing<Vec<u8>>, GoogleKeyError> {
        let mut body = Zeroizing::new(Vec::with_capacity(1024));
        match self {
            GoogleKey::ServiceAccount(k) => {
                let assertion = k.assertion(now)?;
                field(&mut body, "grant_type", jwt::GRANT_TYPE);
                field(&mut body, "assertion", assertion.expose_secret());
            }
            GoogleKey::AuthorizedUser(u) => {
                // golang/oauth2 sends the client's credentials in the body for Google's endpoint
                // (AuthStyleInParams); no scope: the refresh token carries the consented ones.
                field(&mut body, "grant_type", "refresh_token");
                field(&mut body, "client_id", &u.client_id);
                field(&mut body, "client_secret", u.client_secret.expose_secret());
                field(&mut body, "refresh_token", u.refresh_token.expose_secret());
            }
            GoogleKey::External(_) => return Err(GoogleKeyError::NotOneForm),
        }
        Ok(body)
    }

    /// What a refusal by the token endpoint most likely means for this credential.
    pub(crate) fn refused_hint(&self) -> &'static str {
        match self {
            GoogleKey::ServiceAccount(_) => {
                "; the service-account key is unknown, disabled or deleted, or the clock is off"
            }
            GoogleKey::AuthorizedUser(_) => {
                "; the refresh token was revoked or has expired: run `gcloud auth application-default login` and store the new file"
            }
            // Its steps carry their own hints (google/mod.rs, `federate`).
            GoogleKey::External(_) => "",
        }
    }
}

impl AuthorizedUser {
    fn parse(json: &str) -> Result<AuthorizedUser, GoogleKeyError> {
        let raw: RawUser = serde_json::from_str(json)
            .map_err(|e| GoogleKeyError::malformed("an authorized_user credential", &e))?;
        let missing = |field| GoogleKeyError::Missing {
            kind: Some("authorized_user"),
            field,
        };
        let client_id = raw
            .client_id
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("client_id"))?;
        let client_secret = raw
            .client_secret
            .filter(|s| !s.expose_secret().is_empty())
            .ok_or_else(|| missing("client_secret"))?;
        let refresh_token = raw
            .refresh_token
            .filter(|s| !s.expose_secret().is_empty())
            .ok_or_else(|| missing("refresh_token"))?;
        let token_uri = raw
            .token_uri
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
        check_token_uri(&token_uri)?;
        Ok(AuthorizedUser {
            client_id,
            client_secret,
            refresh_token,
            token_uri,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = r#"{"account":"","client_id":"764086051850-x.apps.googleusercontent.com","client_secret":"CLIENT-SECRET-CANARY","quota_project_id":"p","refresh_token":"1//0gREFRESH+/=CANARY","type":"authorized_user","universe_domain":"googleapis.com"}"#;

    #[test]
    fn gclouds_application_default_file_is_an_authorized_user() {
        let key = GoogleKey::parse(USER).unwrap();
        assert_eq!(key.grant(), "refresh token");
        assert_eq!(key.token_uri(), DEFAULT_TOKEN_URI);
        let body = key.form(0).unwrap();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            "grant_type=refresh_token&client_id=764086051850-x.apps.googleusercontent.com\
             &client_secret=CLIENT-SECRET-CANARY&refresh_token=1%2F%2F0gREFRESH%2B%2F%3DCANARY"
        );
        let shown = format!("{key:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
    }

    #[test]
    fn each_credential_has_its_own_cache_and_share_keys() {
        let a = GoogleKey::parse(USER).unwrap();
        let b = GoogleKey::parse(&USER.replace("1//0gREFRESH", "1//0gOTHER")).unwrap();
        assert_ne!(a.cache_key(), b.cache_key());
        assert!(a.cache_key().starts_with("gcp-user\0"));
        assert!(!a.cache_key().contains("CANARY"));
        assert_ne!(a.share_key().unwrap().name(), b.share_key().unwrap().name());
    }

    #[test]
    fn a_missing_field_is_named_never_a_value() {
        for field in ["client_id", "client_secret", "refresh_token"] {
            let mut v: serde_json::Value = serde_json::from_str(USER).unwrap();
            v.as_object_mut().unwrap().remove(field);
            let e = GoogleKey::parse(&v.to_string()).unwrap_err().to_string();
            assert!(e.contains(field) && !e.contains("CANARY"), "{e}");
        }
        let e = GoogleKey::parse(&USER.replace(
            r#""type":"authorized_user""#,
            r#""type":"authorized_user","token_uri":"http://evil.example/token""#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("https"), "{e}");
    }

    #[test]
    fn other_types_are_still_refused_by_name() {
        let e = GoogleKey::parse(r#"{"type":"external_account","audience":"CANARY"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("external_account") && !e.contains("CANARY"),
            "{e}"
        );
    }

    #[test]
    fn google_key_errors_are_typed_and_worded_once() {
        let e = GoogleKey::parse("{x").unwrap_err();
        assert!(matches!(
            e,
            GoogleKeyError::Malformed {
                what: "a Google credential JSON",
                line: 1,
                ..
            }
        ));
        let e = GoogleKey::parse(&USER.replace("\"client_id\"", "\"other\"")).unwrap_err();
        assert_eq!(
            (&e, e.to_string().as_str()),
            (
                &GoogleKeyError::Missing {
                    kind: Some("authorized_user"),
                    field: "client_id"
                },
                "GOOGLE_APPLICATION_CREDENTIALS_JSON (authorized_user) has no client_id"
            )
        );
        let e = GoogleKey::parse(r#"{"type":"service_account","private_key":"k"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "GOOGLE_APPLICATION_CREDENTIALS_JSON has no client_email"
        );
    }
}
