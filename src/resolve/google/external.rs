//! Workload identity federation: `external_account` credential files (docs/google.md, "Workload
//! identity federation"). The machine holds a token from another identity provider (a
//! Kubernetes service-account token, an Azure managed identity, a CI job's OIDC token) in a file
//! or at a local URL; Google's STS exchanges it for a federated access token, optionally traded
//! for a service account's token through IAM Credentials. This module holds the formats; the
//! requests are made by `google/mod.rs` over `http`.
//!
//! The subject token is this machine's identity, so its tokens are never shared across the fleet,
//! and it is only ever sent to Google's STS and IAM Credentials at their pinned hosts and paths
//! ([`super::endpoints`]): a record cannot redirect it.

use super::endpoints::{check, Api, Origin};
use super::jwt::GoogleKeyError;
use crate::fsutil;
use crate::net::url::Url;
use crate::token;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use zeroize::Zeroizing;

const NAME: &str = "GOOGLE_APPLICATION_CREDENTIALS_JSON";
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub(crate) const REQUESTED_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// A subject token file larger than this is not a token.
const SUBJECT_LIMIT: u64 = 64 * 1024;
/// IAM Credentials' default and bounds for an impersonated token's lifetime, in seconds.
const LIFETIME_DEFAULT: u64 = 3600;
const LIFETIME_MIN: u64 = 600;
const LIFETIME_MAX: u64 = 43200;

/// A parsed `external_account` file.
#[derive(Debug)]
pub(crate) struct ExternalAccount {
    /// The workload identity pool provider, `//iam.googleapis.com/projects/…/providers/…`.
    pub audience: String,
    pub subject_token_type: String,
    pub token_url: String,
    pub impersonation_url: Option<String>,
    pub lifetime: u64,
    pub source: Source,
}

/// Where the subject token comes from.
pub(crate) enum Source {
    File {
        path: PathBuf,
        format: Format,
    },
    Url {
        url: String,
        /// Usually configuration (`Metadata: True`), but a value could be a credential: `Debug`
        /// shows names only.
        headers: Vec<(String, String)>,
        format: Format,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File { path, format } => f
                .debug_struct("File")
                .field("path", path)
                .field("format", format)
                .finish(),
            Source::Url {
                url,
                headers,
                format,
            } => f
                .debug_struct("Url")
                .field(
                    "url",
                    &Url::parse(url).map_or_else(String::new, |u| u.to_string()),
                )
                .field(
                    "headers",
                    &headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
                )
                .field("format", format)
                .finish(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Json { field: String },
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    subject_token_type: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    service_account_impersonation_url: Option<String>,
    #[serde(default)]
    service_account_impersonation: Option<RawImpersonation>,
    #[serde(default)]
    credential_source: Option<RawSource>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    client_secret: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    workforce_pool_user_project: Option<String>,
}

#[derive(Deserialize)]
struct RawImpersonation {
    #[serde(default)]
    token_lifetime_seconds: Option<u64>,
}

#[derive(Deserialize)]
struct RawSource {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    format: Option<RawFormat>,
    #[serde(default)]
    environment_id: Option<String>,
    #[serde(default)]
    executable: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct RawFormat {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    subject_token_field_name: Option<String>,
}

impl ExternalAccount {
    /// Reads an `external_account` file. Errors name what is wrong, never a value.
    pub(crate) fn parse(json: &str) -> Result<ExternalAccount, GoogleKeyError> {
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| GoogleKeyError::malformed("an external_account credential", &e))?;
        let kind = "external_account";
        let missing = |field| GoogleKeyError::Missing {
            kind: Some(kind),
            field,
        };
        let unsupported = |what: &str| GoogleKeyError::Unsupported {
            kind,
            what: what.to_string(),
        };
        let rule = |rule: &str| GoogleKeyError::Field {
            kind,
            rule: rule.to_string(),
        };
        if raw.client_id.is_some() || raw.client_secret.is_some() {
            return Err(unsupported(
                "names an OAuth client (client_id/client_secret): not supported",
            ));
        }
        if raw.workforce_pool_user_project.is_some() {
            return Err(unsupported(
                "is for a workforce pool (people, not machines): not supported",
            ));
        }
        let audience = raw
            .audience
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("audience"))?;
        let subject_token_type = raw
            .subject_token_type
            .filter(|s| !s.is_empty())
            .ok_or_else(|| missing("subject_token_type"))?;
        let token_url = raw
            .token_url
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "https://sts.googleapis.com/v1/token".into());
        google_endpoint(&token_url, "token_url")?;
        let impersonation_url = raw
            .service_account_impersonation_url
            .filter(|s| !s.is_empty());
        if let Some(u) = &impersonation_url {
            google_endpoint(u, "service_account_impersonation_url")?;
        }
        let lifetime = raw
            .service_account_impersonation
            .and_then(|i| i.token_lifetime_seconds)
            .unwrap_or(LIFETIME_DEFAULT);
        if !(LIFETIME_MIN..=LIFETIME_MAX).contains(&lifetime) {
            return Err(rule(&format!(
                "token_lifetime_seconds must be between {LIFETIME_MIN} and {LIFETIME_MAX}"
            )));
        }
        let src = raw
            .credential_source
            .ok_or_else(|| missing("credential_source"))?;
        if let Some(env) = src.environment_id.as_deref() {
            let shown = if env.starts_with("aws") {
                "aws"
            } else {
                "an environment_id"
            };
            return Err(unsupported(&format!(
                "takes its subject token from {shown}: only file and url sources are supported"
            )));
        }
        if src.executable.is_some() {
            return Err(unsupported(
                "takes its subject token from an executable: only file and url sources are supported",
            ));
        }
        let format = match src.format {
            None => Format::Text,
            Some(f) => match f.kind.as_deref() {
                None | Some("text") => Format::Text,
                Some("json") => Format::Json {
                    field: f
                        .subject_token_field_name
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| {
                            missing("credential_source.format.subject_token_field_name")
                        })?,
                },
                Some(_) => return Err(rule("credential_source.format.type must be text or json")),
            },
        };
        let source = match (src.file, src.url) {
            (Some(file), None) if !file.is_empty() => Source::File {
                path: PathBuf::from(file),
                format,
            },
            (None, Some(url)) if !url.is_empty() => {
                let ok = Url::parse(&url).is_some_and(|u| {
                    !u.has_userinfo && (u.scheme == "http" || u.scheme == "https")
                });
                if !ok {
                    return Err(rule("credential_source.url must be an http(s) URL"));
                }
                Source::Url {
                    url,
                    headers: src.headers.unwrap_or_default().into_iter().collect(),
                    format,
                }
            }
            _ => return Err(rule("credential_source needs exactly one of file or url")),
        };
        Ok(ExternalAccount {
            audience,
            subject_token_type,
            token_url,
            impersonation_url,
            lifetime,
            source,
        })
    }

    /// The STS and IAM Credentials URLs are Google's, at their pinned paths, or the same paths
    /// under the operator's `origin` (docs/google.md, "Pinned endpoints"). Checked before any
    /// request, by `add`, `import` and `get`.
    pub(crate) fn check_endpoints(&self, origin: Option<&Origin>) -> Result<(), GoogleKeyError> {
        let field = |f: &str| format!("{NAME} (external_account): {f}");
        check(Api::Sts, &self.token_url, &field("token_url"), origin)?;
        if let Some(u) = &self.impersonation_url {
            check(
                Api::IamCredentials,
                u,
                &field("service_account_impersonation_url"),
                origin,
            )?;
        }
        Ok(())
    }

    /// The local cache key: the whole configuration (not the subject token, which rotates while
    /// the identity stays the same).
    pub(crate) fn cache_key(&self) -> String {
        let (kind, place, format) = match &self.source {
            Source::File { path, format } => ("file", path.to_string_lossy().into_owned(), format),
            Source::Url { url, format, .. } => ("url", url.clone(), format),
        };
        let field = match format {
            Format::Text => String::new(),
            Format::Json { field } => field.clone(),
        };
        let digest = token::digest_parts(&[
            self.audience.as_bytes(),
            self.subject_token_type.as_bytes(),
            self.token_url.as_bytes(),
            self.impersonation_url.as_deref().unwrap_or("").as_bytes(),
            kind.as_bytes(),
            place.as_bytes(),
            field.as_bytes(),
        ]);
        format!("gcp-ext\0{digest}")
    }

    /// For messages: where the subject token comes from (a path or a URL's host, never a token).
    pub(crate) fn source_name(&self) -> String {
        match &self.source {
            Source::File { path, .. } => format!("the subject token file {}", path.display()),
            Source::Url { url, .. } => format!(
                "the subject token URL at {}",
                Url::parse(url).map_or_else(String::new, |u| u.to_string())
            ),
        }
    }

    /// The subject token from its file. `Err` is a reason naming the file, never its content.
    pub(crate) fn subject_from_file(&self) -> Result<SecretString, GoogleKeyError> {
        let Source::File { path, format } = &self.source else {
            return Err(GoogleKeyError::NotFileSource);
        };
        let bytes = fsutil::read_operator_file(path, SUBJECT_LIMIT)
            .map_err(|e| GoogleKeyError::SubjectUnreadable {
                source_name: self.source_name(),
                why: e.to_string(),
            })?
            .ok_or_else(|| self.subject_error("does not exist"))?;
        self.subject_from(&bytes, format)
    }

    /// The subject token from a source's bytes (a file, or the URL's reply body).
    pub(crate) fn subject_from(
        &self,
        bytes: &[u8],
        format: &Format,
    ) -> Result<SecretString, GoogleKeyError> {
        let token = match format {
            Format::Text => std::str::from_utf8(bytes)
                .map_err(|_| self.subject_error("is not text"))?
                .trim()
                .to_string(),
            Format::Json { field } => {
                let v: serde_json::Value =
                    serde_json::from_slice(bytes).map_err(|_| self.subject_error("is not JSON"))?;
                v.get(field)
                    .and_then(|t| t.as_str())
                    .map(|t| t.trim().to_string())
                    .ok_or_else(|| self.subject_error(&format!("has no string field {field}")))?
            }
        };
        if token.is_empty() {
            return Err(self.subject_error("is empty"));
        }
        Ok(SecretString::from(token))
    }

    /// [`GoogleKeyError::Subject`] for this account's source.
    pub(crate) fn subject_error(&self, problem: &str) -> GoogleKeyError {
        GoogleKeyError::Subject {
            source_name: self.source_name(),
            problem: problem.to_string(),
        }
    }

    /// The STS token-exchange form (RFC 8693), scope cloud-platform.
    pub(crate) fn sts_form(&self, subject: &SecretString) -> Zeroizing<Vec<u8>> {
        let mut body = Zeroizing::new(Vec::with_capacity(2048));
        for (name, value) in [
            ("grant_type", GRANT_TYPE),
            ("audience", &self.audience),
            ("scope", super::jwt::SCOPE),
            ("requested_token_type", REQUESTED_TOKEN_TYPE),
            ("subject_token", subject.expose_secret()),
            ("subject_token_type", &self.subject_token_type),
        ] {
            super::http::form_field(&mut body, name, value);
        }
        body
    }

    /// IAM Credentials' `generateAccessToken` request body.
    pub(crate) fn impersonation_body(&self) -> Vec<u8> {
        serde_json::json!({
            "scope": [super::jwt::SCOPE],
            "lifetime": format!("{}s", self.lifetime),
        })
        .to_string()
        .into_bytes()
    }
}

/// IAM Credentials' answer: `{"accessToken", "expireTime": RFC 3339}`.
pub(crate) fn impersonated(body: &[u8], now: u64) -> Option<(SecretString, u64)> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Reply {
        access_token: SecretString,
        expire_time: String,
    }
    let r: Reply = serde_json::from_slice(body).ok()?;
    let at = crate::rfc3339::parse(&r.expire_time)?;
    Some((r.access_token, at.saturating_sub(now)))
}

/// The subject token goes only to Google: https to `*.googleapis.com` (plain http and any name
/// only on loopback, for local test endpoints).
fn google_endpoint(url: &str, field: &str) -> Result<(), GoogleKeyError> {
    let ok = Url::parse(url).is_some_and(|u| {
        !u.has_userinfo
            && ((u.scheme == "https" && u.host.to_ascii_lowercase().ends_with(".googleapis.com"))
                || ((u.scheme == "http" || u.scheme == "https") && u.is_loopback()))
    });
    if ok {
        Ok(())
    } else {
        Err(GoogleKeyError::Field {
            kind: "external_account",
            rule: format!("{field} must be an https://….googleapis.com URL"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(source: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": "https://sts.googleapis.com/v1/token",
            "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/puller@p.iam.gserviceaccount.com:generateAccessToken",
            "credential_source": source,
        })
    }

    #[test]
    fn a_kubernetes_token_file_and_an_azure_url_source() {
        let x = ExternalAccount::parse(
            &config(serde_json::json!({"file": "/var/run/secrets/tokens/gcp", "format": {"type": "text"}}))
                .to_string(),
        )
        .unwrap();
        assert!(matches!(x.source, Source::File { ref format, .. } if *format == Format::Text));
        assert_eq!(x.lifetime, 3600);
        let form = x.sts_form(&SecretString::from("eyJ.SUBJECT/+=".to_string()));
        let form = std::str::from_utf8(&form).unwrap();
        assert!(form.starts_with(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&audience=%2F%2Fiam.googleapis.com%2F"
        ), "{form}");
        assert!(
            form.contains("&subject_token=eyJ.SUBJECT%2F%2B%3D&"),
            "{form}"
        );
        let y = ExternalAccount::parse(
            &config(serde_json::json!({
                "url": "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01",
                "headers": {"Metadata": "True"},
                "format": {"type": "json", "subject_token_field_name": "access_token"}
            }))
            .to_string(),
        )
        .unwrap();
        assert!(
            matches!(y.source, Source::Url { ref headers, .. } if headers == &[("Metadata".to_string(), "True".to_string())])
        );
        let shown = format!("{y:?}");
        assert!(
            shown.contains("Metadata") && !shown.contains("True"),
            "{shown}"
        );
        assert_ne!(x.cache_key(), y.cache_key());
        let t = y
            .subject_from(
                br#"{"access_token":"  tok  "}"#,
                &Format::Json {
                    field: "access_token".into(),
                },
            )
            .unwrap();
        assert_eq!(t.expose_secret(), "tok");
    }

    #[test]
    fn the_subject_token_only_ever_goes_to_google() {
        for (field, url) in [
            ("token_url", "https://sts.evil.example/v1/token"),
            ("token_url", "https://googleapis.com.evil.example/token"),
            ("token_url", "http://sts.googleapis.com/v1/token"),
            (
                "service_account_impersonation_url",
                "https://evil.example/x",
            ),
        ] {
            let mut c = config(serde_json::json!({"file": "/t"}));
            c[field] = serde_json::json!(url);
            let e = ExternalAccount::parse(&c.to_string())
                .unwrap_err()
                .to_string();
            assert!(e.contains(field) && e.contains("googleapis.com"), "{e}");
        }
        let mut c = config(serde_json::json!({"file": "/t"}));
        c["token_url"] = serde_json::json!("http://127.0.0.1:8080/v1/token");
        assert!(ExternalAccount::parse(&c.to_string()).is_ok());
    }

    #[test]
    fn sources_it_cannot_use_are_named() {
        for (source, words) in [
            (
                serde_json::json!({"environment_id": "aws1", "region_url": "x"}),
                "aws",
            ),
            (
                serde_json::json!({"executable": {"command": "x"}}),
                "executable",
            ),
            (
                serde_json::json!({"file": "/a", "url": "http://b"}),
                "exactly one",
            ),
            (
                serde_json::json!({"file": "/a", "format": {"type": "json"}}),
                "subject_token_field_name",
            ),
        ] {
            let e = ExternalAccount::parse(&config(source).to_string())
                .unwrap_err()
                .to_string();
            assert!(e.contains(words), "{e}");
        }
        let mut c = config(serde_json::json!({"file": "/t"}));
        c["client_secret"] = serde_json::json!("CANARY");
        let e = ExternalAccount::parse(&c.to_string())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("client_id/client_secret") && !e.contains("CANARY"),
            "{e}"
        );
    }

    #[test]
    fn impersonation_replies_carry_an_rfc3339_expiry() {
        let (t, left) = impersonated(
            br#"{"accessToken":"ya29.x","expireTime":"2026-11-30T11:00:00Z"}"#,
            crate::rfc3339::parse("2026-11-30T10:00:00Z").unwrap(),
        )
        .unwrap();
        assert_eq!((t.expose_secret(), left), ("ya29.x", 3600));
        assert!(impersonated(b"{}", 0).is_none());
    }
}
