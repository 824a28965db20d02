//! Service-account keys and the signed assertion of the OAuth 2.0 JWT-bearer grant (RFC 7523), as
//! golang/oauth2 `jwt/jwt.go`, `jws/jws.go` and `google/google.go` build it (docs/google.md, "Service-account JWT bearer").
//!
//! Signing is RSASSA-PKCS1-v1_5 with SHA-256 (RS256) by `ring`, which rustls already compiles in for
//! the HTTPS clients: constant-time, blinded RSA with no extra dependency, and no ambient-credential
//! lookups (unlike `gcp_auth`/`yup-oauth2`, which also bring an async runtime and their own HTTP
//! stacks to a process that lives for one `get`). RustCrypto `rsa` was the first choice but carries
//! RUSTSEC-2023-0071 (Marvin timing side channel); it remains only a dev-dependency for tests.

use super::endpoints::EndpointError;
use crate::net::url::Url;
use crate::token;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::PrivateKeyDer;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::fmt;
use zeroize::Zeroizing;

/// The one scope registries need (docker-credential-gcr asks for cloud-platform too).
const NAME: &str = "GOOGLE_APPLICATION_CREDENTIALS_JSON";

/// Why a Google credential file (any of its three kinds: `key` reads the type, this module and
/// `external` the rest; here because both import this module) or its subject token cannot be used: each reason worded once, naming a
/// field, a path or a URL's host, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum GoogleKeyError {
    /// Not JSON of the shape `what` ("a Google credential JSON", "an external_account
    /// credential", ...): the position only.
    #[error("{NAME} is not {what} (line {line}, column {column})")]
    Malformed {
        what: &'static str,
        line: usize,
        column: usize,
    },
    /// A field the file needs; `kind` is named for the kinds read by their type.
    #[error("{NAME}{} has no {field}", kind.map(|k| format!(" ({k})")).unwrap_or_default())]
    Missing {
        kind: Option<&'static str>,
        field: &'static str,
    },
    /// A file of a type that cannot mint tokens (the type only when it is a plain word).
    #[error("{NAME} holds a {0} credential; only service_account keys and authorized_user files can mint tokens")]
    OtherType(String),
    /// A feature of the file this helper does not support: `{NAME} (kind) what`.
    #[error("{NAME} ({kind}) {what}")]
    Unsupported { kind: &'static str, what: String },
    /// A field whose value breaks a rule: `{NAME} (kind): rule`.
    #[error("{NAME} ({kind}): {rule}")]
    Field { kind: &'static str, rule: String },
    #[error("the token_uri of {NAME} must be an https URL (plain http only to a loopback host)")]
    TokenUri,
    #[error("the private_key of {NAME} is not an RSA private key (2048-4096 bits) in PEM (PKCS#8 or PKCS#1)")]
    NotRsa,
    #[error("the private_key cannot sign (RSA signing failed)")]
    CannotSign,
    #[error("an external_account is exchanged in steps, not one form")]
    NotOneForm,
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// A gcp record's `GCP_METADATA` opt-in that is neither yes nor no.
    #[error("GCP_METADATA must be 1 (use the metadata server) or 0")]
    MetadataFlag,
    #[error("not a file source")]
    NotFileSource,
    /// The subject token's file could not be read.
    #[error("cannot read {source_name}: {why}")]
    SubjectUnreadable { source_name: String, why: String },
    /// The subject token's source (a file or a URL's reply) `does not exist`, `is not text`, ...
    #[error("{source_name} {problem}")]
    Subject {
        source_name: String,
        problem: String,
    },
}

impl GoogleKeyError {
    /// [`GoogleKeyError::Malformed`] at the JSON error's position.
    pub(crate) fn malformed(what: &'static str, e: &serde_json::Error) -> GoogleKeyError {
        GoogleKeyError::Malformed {
            what,
            line: e.line(),
            column: e.column(),
        }
    }
}

pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Used when the key JSON has no `token_uri`.
pub(crate) const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The longest assertion lifetime Google accepts.
pub(crate) const ASSERTION_LIFETIME: u64 = 3600;
/// golang/oauth2 backdates `iat` by 10 s against clock skew.
const IAT_BACKDATE: u64 = 10;

/// The parts of a service-account key JSON that minting needs.
pub(crate) struct ServiceAccountKey {
    pub client_email: String,
    /// The key's id in IAM (public: it names the key, the `kid` of the assertion).
    pub private_key_id: Option<String>,
    pub private_key: SecretString,
    pub token_uri: String,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("private_key", &"[REDACTED]")
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

#[derive(Deserialize)]
struct RawKey {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    client_email: Option<String>,
    #[serde(default)]
    private_key: Option<SecretString>,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

impl ServiceAccountKey {
    /// Reads the key JSON (the value of `GOOGLE_APPLICATION_CREDENTIALS_JSON`). The error is a
    /// reason for a `BadRecord`: it names what is wrong, never any of the content.
    pub(crate) fn parse(json: &str) -> Result<ServiceAccountKey, GoogleKeyError> {
        let raw: RawKey = serde_json::from_str(json)
            .map_err(|e| GoogleKeyError::malformed("a service-account key JSON", &e))?;
        if let Some(kind) = raw.kind.as_deref().filter(|k| *k != "service_account") {
            // The type is a fixed word such as `external_account`; anything odd is not echoed.
            let shown =
                if kind.len() <= 40 && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    kind
                } else {
                    "another type"
                };
            return Err(GoogleKeyError::OtherType(shown.to_string()));
        }
        let client_email =
            raw.client_email
                .filter(|s| !s.is_empty())
                .ok_or(GoogleKeyError::Missing {
                    kind: None,
                    field: "client_email",
                })?;
        let private_key = raw
            .private_key
            .filter(|s| !s.expose_secret().trim().is_empty())
            .ok_or(GoogleKeyError::Missing {
                kind: None,
                field: "private_key",
            })?;
        let token_uri = raw
            .token_uri
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
        check_token_uri(&token_uri)?;
        Ok(ServiceAccountKey {
            client_email,
            private_key_id: raw.private_key_id.filter(|s| !s.is_empty()),
            private_key,
            token_uri,
        })
    }

    /// The token cache key. Access tokens belong to the service account, not to a registry, so
    /// every Google registry host that uses this key shares one cached token. Any change of the
    /// key (rotation, another `token_uri`) gives a new cache key at once.
    pub(crate) fn cache_key(&self) -> String {
        let digest = token::digest_parts(&[
            self.client_email.as_bytes(),
            self.private_key_id.as_deref().unwrap_or("").as_bytes(),
            self.private_key.expose_secret().as_bytes(),
            self.token_uri.as_bytes(),
        ]);
        format!("gcp-sa\0{digest}")
    }

    /// The signed assertion `header.claims.signature` for `now` (Unix seconds).
    pub(crate) fn assertion(&self, now: u64) -> Result<SecretString, GoogleKeyError> {
        let key = self.rsa_key()?;
        let iat = now.saturating_sub(IAT_BACKDATE);
        // golang/oauth2's `kid` is omitempty.
        let header = match &self.private_key_id {
            Some(kid) => serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
            None => serde_json::json!({"alg": "RS256", "typ": "JWT"}),
        };
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME,
        });
        let mut jwt = Zeroizing::new(String::with_capacity(1024));
        jwt.push_str(&b64url(header.to_string().as_bytes()));
        jwt.push('.');
        jwt.push_str(&b64url(claims.to_string().as_bytes()));
        let mut signature = vec![0u8; key.public().modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            jwt.as_bytes(),
            &mut signature,
        )
        .map_err(|_| GoogleKeyError::CannotSign)?;
        jwt.push('.');
        jwt.push_str(&b64url(&signature));
        Ok(SecretString::from(jwt.as_str()))
    }

    /// The RSA key from `private_key`: PEM, PKCS#8 (`BEGIN PRIVATE KEY`, what Google issues) or
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`, what `openssl genrsa` used to write). `ring` takes keys of
    /// 2048 to 4096 bits, which covers every key Google issues (2048).
    fn rsa_key(&self) -> Result<RsaKeyPair, GoogleKeyError> {
        let bad = || GoogleKeyError::NotRsa;
        // RFC 7468 PEM through rustls' own parser; the DER is wiped when it is dropped.
        let pem = self.private_key.expose_secret().as_bytes();
        let der = Zeroizing::new(PrivateKeyDer::from_pem_slice(pem).map_err(|_| bad())?);
        match &*der {
            PrivateKeyDer::Pkcs8(k) => RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(bad()),
        }
        .map_err(|_| bad())
    }
}

/// `token_uri` must be https: the assertion is a bearer credential for up to an hour. Plain http
/// is allowed only to a loopback host (`127.0.0.1`, `[::1]`, `localhost`), which is what the
/// tests' local token endpoint uses; nothing on the wire leaves the machine then.
pub(crate) fn check_token_uri(uri: &str) -> Result<(), GoogleKeyError> {
    let ok = Url::parse(uri).is_some_and(|u| {
        !u.has_userinfo && (u.scheme == "https" || (u.scheme == "http" && u.is_loopback()))
    });
    if ok {
        Ok(())
    } else {
        Err(GoogleKeyError::TokenUri)
    }
}

/// Unpadded base64url (RFC 7515 §2).
fn b64url(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::RsaPrivateKey;
    // `rsa` 0.9 is built on the older RustCrypto generation: its own hash and OS randomness.
    use rsa::rand_core::OsRng;
    use rsa::sha2::Sha256;

    #[test]
    fn token_uri_must_be_https_or_loopback_http() {
        for ok in [
            "https://oauth2.googleapis.com/token",
            "HTTPS://oauth2.googleapis.com:443/token",
            "http://127.0.0.1:8080/token",
            "http://localhost/token",
            "http://[::1]:9/token",
        ] {
            assert!(check_token_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://oauth2.googleapis.com/token",
            "http://127.0.0.1.evil.example/token",
            "http://localhost.evil.example/",
            "http://127.0.0.1@evil.example/",
            "http://[::1].evil/",
            "ftp://127.0.0.1/",
            "oauth2.googleapis.com/token",
            "https:///token",
        ] {
            assert!(check_token_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_errors_name_the_problem_not_the_content() {
        let e = ServiceAccountKey::parse("{\"private_key\": CANARY}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1") && !e.contains("CANARY"), "{e}");
        let e = ServiceAccountKey::parse(r#"{"type":"external_account","audience":"CANARY"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("external_account") && !e.contains("CANARY"),
            "{e}"
        );
        let e = ServiceAccountKey::parse(r#"{"type":"CANARY is here","client_email":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("CANARY"), "{e}");
        let e = ServiceAccountKey::parse(r#"{"client_email":"a@b","private_key":""}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("private_key"), "{e}");
        let key = ServiceAccountKey::parse(
            r#"{"type":"service_account","client_email":"a@b","private_key":"CANARY","private_key_id":"k"}"#,
        )
        .unwrap();
        assert_eq!(key.token_uri, DEFAULT_TOKEN_URI);
        assert!(!format!("{key:?}").contains("CANARY"));
        let e = key.assertion(1_700_000_000).unwrap_err().to_string();
        assert!(e.contains("PKCS#8") && !e.contains("CANARY"), "{e}");
    }

    #[test]
    fn cache_key_changes_with_every_part() {
        let base = r#"{"client_email":"a@b","private_key":"P","private_key_id":"k","token_uri":"https://t/"}"#;
        let k = |s: &str| ServiceAccountKey::parse(s).unwrap().cache_key();
        let a = k(base);
        assert!(a.starts_with("gcp-sa\0"));
        assert_eq!(a.len(), "gcp-sa\0".len() + 64);
        assert_ne!(a, k(&base.replace("a@b", "c@b")));
        assert_ne!(a, k(&base.replace("\"P\"", "\"Q\"")));
        assert_ne!(a, k(&base.replace("\"k\"", "\"j\"")));
        assert_ne!(a, k(&base.replace("https://t/", "https://u/")));
    }

    #[test]
    fn assertion_is_rs256_over_the_claims_golang_oauth2_sends() {
        use base64::Engine as _;
        use rsa::pkcs1v15::{Signature, VerifyingKey};
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        use rsa::signature::Verifier;
        let private = RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let pem = private.to_pkcs8_pem(LineEnding::LF).unwrap();
        let json = serde_json::json!({
            "type": "service_account",
            "client_email": "sa@p.iam.gserviceaccount.com",
            "private_key_id": "kid1",
            "private_key": pem.as_str(),
            "token_uri": "http://127.0.0.1:1/token",
        });
        let key = ServiceAccountKey::parse(&json.to_string()).unwrap();
        let jwt = key.assertion(1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.expose_secret().split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(!jwt.expose_secret().contains('='));
        let dec = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let header: serde_json::Value = serde_json::from_slice(&dec(parts[0])).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "kid1"})
        );
        let claims: serde_json::Value = serde_json::from_slice(&dec(parts[1])).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({
                "iss": "sa@p.iam.gserviceaccount.com",
                "scope": SCOPE,
                "aud": "http://127.0.0.1:1/token",
                "iat": 1_699_999_990u64,
                "exp": 1_699_999_990u64 + 3600,
            })
        );
        let verifying = VerifyingKey::<Sha256>::new(private.to_public_key());
        let sig = Signature::try_from(dec(parts[2]).as_slice()).unwrap();
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifying.verify(signed.as_bytes(), &sig).unwrap();
    }
}
