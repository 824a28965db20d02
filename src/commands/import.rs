//! `import`: one record on stdin, in any shape the platform produces, stored as a version-1
//! record (docs/records.md):
//! - the design documents' record (`"version": 1`),
//! - beta9's shipped record (no version; types public/basic/aws/gcp/azure/token/unknown), which is
//!   also the scheduler's `ImageCredentials` value, bare or wrapped as `{"ImageCredentials": "<json>"}`,
//! - a flat `{"NAME": "value"}` map or a legacy `user:pass` line, both with `--registry`.

use super::checks;
use super::outcome::{CmdResult, Failure};
use crate::actions;
use crate::context::Context;
use crate::credential_type::CredentialType;
use crate::detect;
use crate::output::Output;
use crate::record::{Credentials, Record};
use crate::registry::Registry;
use secrecy::{ExposeSecret, SecretString};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::io::Read;

pub const ABOUT: &str =
    "Store a record from stdin (v1, beta9, ImageCredentials, NAME map, user:pass)";
pub const EXAMPLES: &str = "\
Examples:
  docker-credential-beta9 export ghcr.io | docker-credential-beta9 --workspace ci import
  printf '%s' \"$IMAGE_CREDENTIALS\" | docker-credential-beta9 import
  printf 'user:%s' \"$PASSWORD\" | docker-credential-beta9 import --registry registry.example.com:5000";

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The registry, for input that names none (NAME map, user:pass); must match one that does.
    /// A registry name: `myregistry` is that host, not Docker Hub
    #[arg(long, value_name = "REGISTRY")]
    pub registry: Option<String>,
}

/// Which keys the top-level object has; values are skipped unread, except a wrapped record.
#[derive(Deserialize)]
struct Shape {
    #[serde(default)]
    version: Option<IgnoredAny>,
    #[serde(default)]
    registry: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<IgnoredAny>,
    #[serde(default)]
    credentials: Option<IgnoredAny>,
    #[serde(
        rename = "ImageCredentials",
        alias = "image_credentials",
        alias = "imageCredentials",
        default
    )]
    wrapped: Option<SecretString>,
}

pub fn run(ctx: &Context, args: &ImportArgs, stdin: &mut dyn Read) -> CmdResult {
    let buf = super::outcome::read_stdin(stdin)?;
    let given = args
        .registry
        .as_deref()
        .map(Registry::from_server_url)
        .transpose()?;
    let (record, format) = decode(trim(buf.as_slice()), given.as_ref(), true)?;
    let (credentials, dropped) = checks::drop_empty(record.credentials);
    let credentials = checks::inline_google_key(credentials, false)?;
    let record = Record {
        credentials,
        ..record
    };
    checks::check_record(&record, "credential names")?;
    let saved = actions::save(ctx, &record, None)?;
    let mut out = Output::line(saved.name.as_str()).note(format!(
        "{} {} credentials for {} in workspace {} (from {format})",
        if saved.replaced {
            "replaced"
        } else {
            "imported"
        },
        record.kind,
        record.registry,
        ctx.workspace
    ));
    if !dropped.is_empty() {
        out = out.note(format!("dropped empty values: {}", dropped.join(", ")));
    }
    Ok(out)
}

fn decode(
    text: &[u8],
    given: Option<&Registry>,
    may_unwrap: bool,
) -> Result<(Record, &'static str), Failure> {
    if text.is_empty() {
        return Err(Failure::user(
            "nothing on stdin: pipe a record in (docker-credential-beta9 export REF | ... import)",
        ));
    }
    if text[0] != b'{' {
        return user_pass(text, given);
    }
    let shape: Shape = serde_json::from_slice(text).map_err(|e| {
        Failure::user(format!(
            "stdin is not a JSON object (error at line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    if let (Some(inner), None, true) = (&shape.wrapped, &shape.credentials, may_unwrap) {
        let (record, _) = decode(trim(inner.expose_secret().as_bytes()), given, false)?;
        return Ok((record, "a wrapped ImageCredentials value"));
    }
    let is_record = shape.credentials.is_some() || shape.kind.is_some() || shape.version.is_some();
    if !is_record {
        return flat_map(text, given);
    }
    if let (Some(json), Some(arg)) = (&shape.registry, given) {
        let named = Registry::from_server_url(json)?;
        if named != *arg {
            return Err(Failure::user(format!(
                "the record is for {named} but --registry says {arg}; credentials only go to the registry they were made for"
            )));
        }
    }
    // The record's registry is read as a registry name, as on the protocol side, so Hub's OAuth
    // keys (an exported `docker login` token entry) stay apart from the Hub PAT entry
    // (docs/registry-identity.md, "Server URLs").
    let record =
        Record::decode(text, given).map_err(|e| Failure::user(format!("cannot import: {e}")))?;
    let format = if shape.version.is_some() {
        "a version-1 record"
    } else {
        "a beta9 record"
    };
    Ok((record, format))
}

/// `{"NAME": "value", ...}` with no registry inside: `--registry` names it, the names the type.
fn flat_map(text: &[u8], given: Option<&Registry>) -> Result<(Record, &'static str), Failure> {
    let registry = given.cloned().ok_or_else(|| {
        Failure::user("a NAME→value map names no registry: pass --registry REGISTRY")
    })?;
    let credentials: Credentials = serde_json::from_slice(text).map_err(|e| {
        Failure::user(format!(
            "a NAME→value map must hold string values only (error at line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let names: Vec<&str> = credentials.names().collect();
    let kind = detect::detect(&registry, &names).ok_or_else(|| {
        Failure::user(format!(
            "cannot tell the credential type of this map for {registry}: use the names of one type (see `add --help`)"
        ))
    })?;
    Ok((
        Record {
            registry,
            kind,
            credentials,
        },
        "a NAME→value map",
    ))
}

/// Legacy `user:pass` (beta9 workers split at the first `:`): a generic record.
fn user_pass(text: &[u8], given: Option<&Registry>) -> Result<(Record, &'static str), Failure> {
    let registry = given.cloned().ok_or_else(|| {
        Failure::user("stdin is neither JSON nor user:pass with --registry: a user:pass line needs --registry REGISTRY")
    })?;
    let text = std::str::from_utf8(text).map_err(|_| Failure::user("stdin is not UTF-8 text"))?;
    let Some((user, pass)) = text.split_once(':') else {
        return Err(Failure::user(
            "stdin is neither JSON nor user:pass (no ':' found)",
        ));
    };
    if user.is_empty() || pass.is_empty() || text.contains('\n') {
        return Err(Failure::user(
            "a user:pass line needs a non-empty user and password on one line",
        ));
    }
    let mut credentials = Credentials::new();
    credentials.insert("USERNAME", SecretString::from(user));
    credentials.insert("PASSWORD", SecretString::from(pass));
    Ok((
        Record {
            registry,
            kind: CredentialType::Generic,
            credentials,
        },
        "a user:pass line",
    ))
}

/// Surrounding whitespace (a trailing newline from `echo`) is not part of any format.
fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(json: &str, given: Option<&str>) -> Result<(Record, &'static str), Failure> {
        let g = given.map(|r| Registry::from_server_url(r).unwrap());
        decode(trim(json.as_bytes()), g.as_ref(), true)
    }

    #[test]
    fn each_format_is_recognised() {
        let (r, f) = dec(
            r#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t"}}"#,
            None,
        )
        .unwrap();
        assert_eq!((r.kind, f), (CredentialType::Ghcr, "a version-1 record"));
        let (r, f) = dec(
            r#"{"credentials":{"NGC_API_KEY":"k"},"registry":"nvcr.io","type":"token"}"#,
            None,
        )
        .unwrap();
        assert_eq!((r.kind, f), (CredentialType::Ngc, "a beta9 record"));
        let inner = r#"{"credentials":{"USERNAME":"u","PASSWORD":"p"},"registry":"r.example:5000","type":"basic"}"#;
        let wrapped = serde_json::json!({ "ImageCredentials": inner }).to_string();
        let (r, f) = dec(&wrapped, None).unwrap();
        assert_eq!(
            (r.kind, r.registry.as_str(), f),
            (
                CredentialType::Generic,
                "r.example:5000",
                "a wrapped ImageCredentials value"
            )
        );
        let (r, _) = dec(
            r#"{"DOCKERHUB_USERNAME":"u","DOCKERHUB_TOKEN":"t"}"#,
            Some("docker.io"),
        )
        .unwrap();
        assert_eq!(r.kind, CredentialType::Dockerhub);
        let (r, f) = dec("me:pa:ss\n", Some("localhost:5000")).unwrap();
        assert_eq!((r.kind, f), (CredentialType::Generic, "a user:pass line"));
        assert_eq!(
            r.credentials.get("PASSWORD").unwrap().expose_secret(),
            "pa:ss"
        );
    }

    #[test]
    fn registry_is_required_or_must_agree() {
        assert!(dec(r#"{"USERNAME":"u","PASSWORD":"p"}"#, None).is_err());
        assert!(dec("u:p", None).is_err());
        let err = dec(
            r#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t"}}"#,
            Some("evil.example"),
        )
        .unwrap_err();
        assert!(format!("{err:?}").contains("--registry says evil.example"));
    }

    #[test]
    fn errors_never_quote_input() {
        for bad in [
            r#"{"credentials":{"X":SEKRIT}}"#,
            r#"{"USERNAME":SEKRIT}"#,
            "SEKRIT",
            "{SEKRIT",
        ] {
            let err = format!("{:?}", dec(bad, Some("r.example")).unwrap_err());
            assert!(!err.contains("SEKRIT"), "{err}");
        }
    }
}
