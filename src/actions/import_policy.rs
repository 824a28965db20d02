//! What a record that arrives by `import` may use of this machine
//! (docs/records.md, "Import policy"). In the platform's flow the record is a tenant's: it may name a registry and hold that
//! registry's credentials, but it may not make the worker use the worker's own identity (ambient
//! AWS credentials, the Google metadata server), read the worker's files or fetch URLs it picks
//! (an `external_account` subject-token source), or send anything to a token endpoint other than
//! Google's own. The operator opens each of these in `BETA9_IMPORT_ALLOW`; `add` is the operator's
//! own command and never asks.

use crate::credential_type::{CredentialType, GOOGLE_JSON};
use crate::env;
use crate::error::{Error, Result, SettingReason};
use crate::net::addr::{Allow, Denied};
use crate::net::url::Url;
use crate::record::{self, Record};
use crate::resolve::google;
use crate::resolve::google::endpoints::{self, Api, Origin};
use crate::resolve::google::external::Source;
use crate::resolve::google::key::{GoogleKey, GoogleKeyError};
use crate::settings::Settings;
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};

const AWS_AMBIENT: &str = "aws-ambient";
const GCP_METADATA: &str = "gcp-metadata";
const EXTERNAL_FILE: &str = "external-account-file:";
const EXTERNAL_URL: &str = "external-account-url:";
const VERIFY_HOST: &str = "verify-host:";
const VERIFY_PRIVATE: &str = "verify-private";

/// The operator's allowances, from `BETA9_IMPORT_ALLOW`; nothing is allowed when it is unset.
#[derive(Debug, Default)]
pub(crate) struct Policy {
    aws_ambient: bool,
    gcp_metadata: bool,
    files: Vec<PathBuf>,
    urls: Vec<UrlPrefix>,
    origin: Option<Origin>,
    /// Where `import --verify` may send requests beyond public addresses.
    verify: Allow,
}

/// Why a record from outside this machine is not imported: one line naming the registry and the
/// setting to change, never a value of the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ImportRefusal {
    /// The record uses something of this machine's that `allow` in `BETA9_IMPORT_ALLOW` opens.
    #[error("refusing to import the record for {registry}: it {what}, which a record from outside this machine may not do unless the operator allows it: add {allow} to {}", env::IMPORT_ALLOW)]
    NotAllowed {
        registry: String,
        what: String,
        allow: String,
    },
    /// Its Google credential file cannot be used at all.
    #[error("cannot import the record for {registry}: {why}")]
    GoogleKey {
        registry: String,
        why: GoogleKeyError,
    },
    #[error("refusing to import the record for {registry}: its Google credential file names a token_uri other than Google's (https://oauth2.googleapis.com/token); an operator's stand-in is set in {}", env::GOOGLE_ENDPOINT_ORIGIN)]
    TokenUri { registry: String },
}

/// `scheme://host[:port]/path-prefix` of an allowed subject-token URL.
#[derive(Debug)]
struct UrlPrefix {
    scheme: String,
    host: String,
    port: Option<u16>,
    path: String,
}

impl Policy {
    /// The policy this environment sets; a malformed variable is one line naming it.
    pub(crate) fn from_settings(s: &Settings) -> Result<Policy> {
        let mut policy = Policy::parse(s.import_allow())?;
        policy.origin = Origin::from_settings(s)?;
        Ok(policy)
    }

    /// `BETA9_IMPORT_ALLOW`: a comma-separated list of `aws-ambient`, `gcp-metadata`,
    /// `external-account-file:/DIR/`, `external-account-url:URL-PREFIX`,
    /// `verify-host:HOST[:PORT]` and `verify-private`.
    pub(crate) fn parse(value: Option<&str>) -> Result<Policy> {
        let mut p = Policy::default();
        let Some(value) = value else {
            return Ok(p);
        };
        for (i, item) in value.split(',').map(str::trim).enumerate() {
            let bad = |why: &str| {
                Error::setting(
                    env::IMPORT_ALLOW,
                    SettingReason::Because(format!("item {} {why}", i + 1)),
                )
            };
            if item.is_empty() {
                continue;
            } else if item == AWS_AMBIENT {
                p.aws_ambient = true;
            } else if item == GCP_METADATA {
                p.gcp_metadata = true;
            } else if item == VERIFY_PRIVATE {
                p.verify.private = true;
            } else if let Some(host) = item.strip_prefix(VERIFY_HOST) {
                p.verify.hosts.push(Allow::parse_host(host).ok_or_else(|| {
                    bad("must name a host or IP address with an optional port (HOST[:PORT], IPv6 in brackets)")
                })?);
            } else if let Some(dir) = item.strip_prefix(EXTERNAL_FILE) {
                p.files.push(
                    plain_absolute(dir)
                        .ok_or_else(|| bad("must name an absolute path without . or .. parts"))?,
                );
            } else if let Some(url) = item.strip_prefix(EXTERNAL_URL) {
                p.urls.push(UrlPrefix::parse(url).ok_or_else(|| {
                    bad("must name an http(s) URL prefix with no user info, query or . or .. parts")
                })?);
            } else {
                return Err(bad(&format!(
                    "is not one of {AWS_AMBIENT}, {GCP_METADATA}, {EXTERNAL_FILE}/DIR/, {EXTERNAL_URL}URL, {VERIFY_HOST}HOST[:PORT], {VERIFY_PRIVATE}"
                )));
            }
        }
        Ok(p)
    }

    /// Refuses a record that uses what this policy does not allow. The message is one line naming
    /// the registry and the setting to change, never a value of the record.
    pub(crate) fn check(&self, record: &Record) -> std::result::Result<(), ImportRefusal> {
        let refuse = |what: &str, allow: &str| ImportRefusal::NotAllowed {
            registry: record.registry.to_string(),
            what: what.to_string(),
            allow: allow.to_string(),
        };
        let c = &record.credentials;
        match record.kind {
            CredentialType::Aws if !self.aws_ambient && record::aws_ambient(c).unwrap_or(true) => {
                return Err(refuse(
                    "selects this machine's own AWS credentials (AWS_CREDENTIALS_SOURCE=ambient)",
                    AWS_AMBIENT,
                ));
            }
            CredentialType::Gcp => {
                let metadata = c
                    .get("GCP_METADATA")
                    .is_some_and(|v| google::metadata_opt_in(v.expose_secret()) != Ok(false));
                if metadata && !self.gcp_metadata {
                    return Err(refuse(
                        "selects this machine's own Google identity (GCP_METADATA, the metadata server)",
                        GCP_METADATA,
                    ));
                }
                if let Some(json) = c.get(GOOGLE_JSON) {
                    self.check_google(record, json.expose_secret(), &refuse)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Where `import --verify` may send requests besides public addresses (docs/records.md,
    /// "Verify targets").
    pub(crate) fn verify_allow(&self) -> Allow {
        self.verify.clone()
    }

    /// The refusal of a record whose `--verify` would have sent requests to `to` (`its registry`,
    /// the token endpoint its registry names) where `denied` says: one line, as [`Policy::check`]'s.
    pub(crate) fn verify_refusal(record: &Record, to: &str, denied: &Denied) -> String {
        let item = match denied {
            Denied::Rule { rule, .. } if rule.private_network() => {
                format!("{VERIFY_HOST}{} (or {VERIFY_PRIVATE})", denied.target())
            }
            _ => format!("{VERIFY_HOST}{}", denied.target()),
        };
        format!(
            "refusing to import the record for {}: --verify would send requests to {to} at {}, which a record from outside this machine may not do unless the operator allows it: add {item} to {}",
            record.registry,
            denied.describe(),
            env::IMPORT_ALLOW
        )
    }

    fn check_google(
        &self,
        record: &Record,
        json: &str,
        refuse: &dyn Fn(&str, &str) -> ImportRefusal,
    ) -> std::result::Result<(), ImportRefusal> {
        let bad_key = |why| ImportRefusal::GoogleKey {
            registry: record.registry.to_string(),
            why,
        };
        let key = GoogleKey::parse(json).map_err(bad_key)?;
        match &key {
            GoogleKey::External(x) => {
                x.check_endpoints(self.origin.as_ref()).map_err(bad_key)?;
                match &x.source {
                    Source::File { path, .. } if !self.file_allowed(path) => Err(refuse(
                        "reads its subject token from a file on this machine (external_account credential_source.file)",
                        &format!("{EXTERNAL_FILE}/DIR/ for the directory that holds it"),
                    )),
                    Source::Url { url, .. } if !self.url_allowed(url) => Err(refuse(
                        "fetches its subject token from a URL it names (external_account credential_source.url)",
                        &format!("{EXTERNAL_URL}PREFIX for that URL"),
                    )),
                    _ => Ok(()),
                }
            }
            GoogleKey::ServiceAccount(_) | GoogleKey::AuthorizedUser(_) => {
                if endpoints::is_pinned(Api::OAuth, key.token_uri(), self.origin.as_ref()) {
                    Ok(())
                } else {
                    Err(ImportRefusal::TokenUri {
                        registry: record.registry.to_string(),
                    })
                }
            }
        }
    }

    fn file_allowed(&self, path: &Path) -> bool {
        let Some(path) = path.to_str().and_then(plain_absolute) else {
            return false;
        };
        self.files.iter().any(|dir| path.starts_with(dir))
    }

    fn url_allowed(&self, url: &str) -> bool {
        let Some(u) = UrlPrefix::parse(url) else {
            return false;
        };
        self.urls.iter().any(|p| p.covers(&u))
    }
}

/// An absolute path whose parts are all names: no `.` or `..` (checked on the text, since
/// `Path::components` drops inner `.` parts).
fn plain_absolute(s: &str) -> Option<PathBuf> {
    let ok = s.starts_with('/') && !s.split('/').any(|part| part == "." || part == "..");
    ok.then(|| PathBuf::from(s))
}

impl UrlPrefix {
    /// An http(s) URL with no user info; its path has no `.`/`..` segment (not even encoded), so a
    /// prefix match on the text is a match on what the server serves. A query is ignored here.
    fn parse(s: &str) -> Option<UrlPrefix> {
        let u = Url::parse(s)?;
        let uri: http::Uri = s.trim().parse().ok()?;
        let path = match uri.path() {
            "" => "/",
            p => p,
        };
        let dotted = path.split('/').any(|seg| {
            let seg = seg.to_ascii_lowercase().replace("%2e", ".");
            seg == "." || seg == ".."
        });
        if u.has_userinfo || dotted || !(u.scheme == "http" || u.scheme == "https") {
            return None;
        }
        Some(UrlPrefix {
            port: Some(u.port.unwrap_or(if u.scheme == "https" { 443 } else { 80 })),
            scheme: u.scheme,
            host: u.host,
            path: path.to_string(),
        })
    }

    /// Same scheme, host and port, and `other`'s path under this one's: `/a/` covers `/a/b`;
    /// `/a` covers `/a` and `/a/b`, not `/ab`.
    fn covers(&self, other: &UrlPrefix) -> bool {
        let under = if self.path.ends_with('/') {
            other.path.starts_with(&self.path)
        } else {
            other.path == self.path
                || other
                    .path
                    .strip_prefix(&self.path)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        self.scheme == other.scheme && self.host == other.host && self.port == other.port && under
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_and_its_one_line_errors() {
        let p = Policy::parse(Some(
            " aws-ambient,gcp-metadata,external-account-file:/var/run/secrets/tokens/,external-account-url:http://169.254.169.254/metadata/identity/ ,",
        ))
        .unwrap();
        assert!(p.aws_ambient && p.gcp_metadata);
        assert!(p.file_allowed(Path::new("/var/run/secrets/tokens/gcp")));
        assert!(!p.file_allowed(Path::new("/var/run/secrets/tokens/../../../etc/shadow")));
        assert!(!p.file_allowed(Path::new("/var/run/secrets/tokens2/gcp")));
        assert!(!p.file_allowed(Path::new("/etc/shadow")));
        assert!(!p.file_allowed(Path::new("gcp")));
        assert!(p.url_allowed(
            "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
        ));
        for bad in [
            "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token",
            "http://169.254.169.254/metadata/identity/../../computeMetadata/v1/x",
            "http://169.254.169.254/metadata/identity/%2E%2e/x",
            "http://169.254.169.254:81/metadata/identity/x",
            "https://169.254.169.254/metadata/identity/x",
            "http://169.254.169.254.evil.example/metadata/identity/x",
            "http://u@169.254.169.254/metadata/identity/x",
        ] {
            assert!(!p.url_allowed(bad), "{bad}");
        }
        let exact =
            Policy::parse(Some("external-account-url:http://127.0.0.1:8080/token")).unwrap();
        assert!(exact.url_allowed("http://127.0.0.1:8080/token"));
        assert!(exact.url_allowed("http://127.0.0.1:8080/token/x"));
        assert!(!exact.url_allowed("http://127.0.0.1:8080/tokens"));
        assert!(!Policy::parse(None).unwrap().aws_ambient);
        for (value, words) in [
            ("aws", "item 1 is not one of"),
            ("aws-ambient,GCP-METADATA", "item 2 is not one of"),
            (
                "external-account-file:relative/",
                "item 1 must name an absolute path",
            ),
            (
                "external-account-file:/a/../b/",
                "item 1 must name an absolute path",
            ),
            (
                "external-account-url:ftp://x/",
                "item 1 must name an http(s) URL",
            ),
            (
                "external-account-url:http://u:SEKRIT@x/",
                "item 1 must name an http(s) URL",
            ),
        ] {
            let e = Policy::parse(Some(value)).unwrap_err().to_string();
            assert!(
                e.starts_with("BETA9_IMPORT_ALLOW: ") && e.contains(words),
                "{e}"
            );
            assert!(!e.contains("SEKRIT") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn verify_items_open_hosts_and_the_private_ranges() {
        let p = Policy::parse(Some(
            "verify-host:127.0.0.1:5000, verify-host:Registry.Internal,verify-private",
        ))
        .unwrap();
        let a = p.verify_allow();
        assert!(a.private);
        assert!(a.host("127.0.0.1", 5000) && !a.host("127.0.0.1", 5001));
        assert!(a.host("registry.internal", 443) && a.host("registry.internal", 8443));
        assert!(!Policy::parse(None).unwrap().verify_allow().private);
        for bad in [
            "verify-host:",
            "verify-host:h/p",
            "verify-host:u@h",
            "verify-host:h:x",
        ] {
            let e = Policy::parse(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("item 1 must name a host"), "{bad}: {e}");
        }
        let e = Policy::parse(Some("verify-hosts:x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("verify-host:HOST[:PORT], verify-private"), "{e}");
    }

    #[test]
    fn refusals_are_typed_and_name_the_allowance() {
        let rec = Record::decode(
            br#"{"version":1,"registry":"123456789012.dkr.ecr.us-east-1.amazonaws.com","type":"aws","credentials":{"AWS_CREDENTIALS_SOURCE":"ambient"}}"#,
            None,
        )
        .unwrap();
        let e = Policy::parse(None).unwrap().check(&rec).unwrap_err();
        assert!(
            matches!(&e, ImportRefusal::NotAllowed { allow, .. } if allow == AWS_AMBIENT),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with(": add aws-ambient to BETA9_IMPORT_ALLOW"),
            "{e}"
        );
        assert!(Policy::parse(Some(AWS_AMBIENT))
            .unwrap()
            .check(&rec)
            .is_ok());
        let e = Policy::parse(Some("nope")).unwrap_err();
        assert!(
            matches!(&e, Error::Setting { name, .. } if name == env::IMPORT_ALLOW),
            "{e}"
        );
    }
}
