//! `import`: one record on stdin, in any shape the platform produces, stored as a version-1
//! record (docs/records.md):
//! - the design documents' record (`"version": 1`),
//! - beta9's shipped record (no version; types public/basic/aws/gcp/azure/token/unknown), which is
//!   also the scheduler's `ImageCredentials` value, bare or wrapped as `{"ImageCredentials": "<json>"}`,
//! - a flat `{"NAME": "value"}` map or a legacy `user:pass` line, both with `--registry`.
//!
//! `--from-beta9 URL --beta9-workspace ID` reads the platform's own database instead: every
//! registry secret of one workspace, decrypted as the platform does, all of them or none.

use super::checks::{self, ImportCheck};
use super::outcome::{CmdResult, Failure};
use super::sync::PlatformRecord;
use crate::actions::import_policy::Policy;
use crate::actions::{self, platform};
use crate::context::Context;
use crate::credential_type::CredentialType;
use crate::detect;
use crate::error::printable;
use crate::output::Output;
use crate::record::{Credentials, Lifecycle, Record};
use crate::registry::Registry;
use secrecy::{ExposeSecret, SecretString};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::io::{Read, Write as _};
use std::path::PathBuf;

pub(crate) const ABOUT: &str =
    "Store a record from stdin (v1, beta9, ImageCredentials, NAME map, user:pass)";
pub(crate) const EXAMPLES: &str = "\
Examples:
  docker-credential-beta9 export ghcr.io | docker-credential-beta9 --workspace ci import
  printf '%s' \"$IMAGE_CREDENTIALS\" | docker-credential-beta9 import
  printf 'user:%s' \"$PASSWORD\" | docker-credential-beta9 import --registry registry.example.com:5000
A container request's record, checked against its registry, gone after an hour:
  printf '%s' \"$IMAGE_CREDENTIALS\" | docker-credential-beta9 import --verify --expires-in 1h
Every registry secret of a platform workspace, from the platform's database:
  docker-credential-beta9 import --from-beta9 postgres://reader@db.internal/beta9 \\
    --beta9-workspace 6f1d0c9e-... --beta9-password-file /run/secrets/db --dry-run
Kept in step from a timer (adds, replaces, removes only what it imported):
  docker-credential-beta9 import --from-beta9 postgres://reader@db.internal/beta9 \\
    --beta9-workspace 6f1d0c9e-... --beta9-password-file /run/secrets/db --sync";

#[derive(clap::Args)]
pub(crate) struct ImportArgs {
    /// The registry, for input that names none (NAME map, user:pass); must match one that does.
    /// A registry name: `myregistry` is that host, not Docker Hub
    #[arg(long, value_name = "REGISTRY", conflicts_with = "from_beta9")]
    pub registry: Option<String>,
    /// Import every registry secret of a platform workspace from the platform's PostgreSQL
    /// database (read-only; the URL must not hold a password: see --beta9-password-file)
    #[arg(long, value_name = "POSTGRES_URL", requires = "beta9_workspace")]
    pub from_beta9: Option<String>,
    /// The platform workspace's external id, with --from-beta9
    #[arg(long, value_name = "EXTERNAL_ID", requires = "from_beta9")]
    pub beta9_workspace: Option<String>,
    /// A file holding the platform database's password, with --from-beta9
    #[arg(long, value_name = "PATH", requires = "from_beta9")]
    pub beta9_password_file: Option<PathBuf>,
    /// With --from-beta9: list the registries and types that would be imported (never values)
    #[arg(long, requires = "from_beta9")]
    pub dry_run: bool,
    /// Check each login against its registry first; store nothing if one fails
    #[arg(long)]
    pub verify: bool,
    /// With --verify: talk plain http to the registries (loopback falls back to it by itself)
    #[arg(long, requires = "verify")]
    pub plain_http: bool,
    /// With --from-beta9: mirror the platform workspace (add new, replace changed, remove what an
    /// earlier import of it wrote and the platform no longer has); other entries are untouched
    #[arg(long, requires = "from_beta9")]
    pub sync: bool,
    /// Answer only for this long (90s, 15m, 2h, 7d), then as if absent; default: permanent
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true,
          value_parser = super::lifecycle::duration_arg)]
    pub expires_in: Option<u64>,
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

pub(crate) fn run(ctx: &Context, args: &ImportArgs, stdin: &mut dyn Read) -> CmdResult {
    if let Some(url) = &args.from_beta9 {
        return from_beta9(ctx, args, url);
    }
    let policy = Policy::from_settings(&ctx.settings)?;
    let buf = super::outcome::read_stdin(stdin)?;
    let given = args
        .registry
        .as_deref()
        .map(Registry::from_server_url)
        .transpose()?;
    let (record, format) = decode(trim(buf.as_slice()), given.as_ref(), true)?;
    let (record, dropped) =
        prepare(ctx, &policy, record).map_err(|f| add_to_message(f, "; nothing was stored"))?;
    let verified = match args.verify {
        // A refused target is refused as the import policy refuses a record.
        true => Some(
            checks::verify_imported(ctx, &record, args.plain_http, &policy).map_err(
                |c| match c {
                    ImportCheck::Refused(m) | ImportCheck::Failed(m) => {
                        Failure::user(m + "; nothing was stored")
                    }
                },
            )?,
        ),
        false => None,
    };
    let life = Lifecycle::new("import", args.expires_in, ctx.now());
    let saved = actions::save_as(ctx, &record, None, &life)?;
    let mut out = Output::line(saved.name.as_str());
    if let Some(v) = verified {
        out = out.note(v);
    }
    out = out.note(format!(
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
    if let Some(n) = checks::unrouted_note(ctx, &record.registry) {
        out = out.note(n);
    }
    Ok(out)
}

/// The checks every imported record passes (the same for stdin and the platform's secrets),
/// the import policy last (docs/records.md, "Import policy").
fn prepare(
    ctx: &Context,
    policy: &Policy,
    record: Record,
) -> Result<(Record, Vec<String>), Failure> {
    let (credentials, dropped) = checks::drop_empty(record.credentials);
    let credentials = checks::inline_google_key(credentials, false, &ctx.settings)?;
    let record = Record {
        credentials,
        ..record
    };
    checks::check_record(&record, "credential names")?;
    policy
        .check(&record)
        .map_err(|e| Failure::User(e.to_string()))?;
    Ok((record, dropped))
}

fn add_to_message(f: Failure, more: &str) -> Failure {
    match f {
        Failure::User(m) => Failure::User(m + more),
        Failure::Internal(m) => Failure::Internal(m + more),
    }
}

/// `import --from-beta9`: every `oci-registry-…`/`oci-creds-…` secret of one platform workspace,
/// read in a read-only transaction, decrypted (AES-256-GCM under the workspace's signing key) and
/// checked before anything is stored: one that fails names itself and nothing is imported.
fn from_beta9(ctx: &Context, args: &ImportArgs, url: &str) -> CmdResult {
    let external = args
        .beta9_workspace
        .as_deref()
        .ok_or_else(|| Failure::user("--from-beta9 needs --beta9-workspace EXTERNAL_ID"))?;
    // Before the database is asked: a malformed policy is the operator's to fix first.
    let policy = Policy::from_settings(&ctx.settings)?;
    let home = ctx.settings.home();
    let secrets = platform::read_workspace(
        url,
        args.beta9_password_file.clone(),
        home.as_deref(),
        external,
        ctx.budget(),
    )?;
    let workspace = printable(external);
    let mut records: Vec<PlatformRecord> = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let name = printable(&secret.name);
        let all_or_nothing = |why: String| {
            Failure::user(format!(
                "platform secret {name} of workspace {workspace}: {why}; nothing was imported"
            ))
        };
        let plain = secret.opened.map_err(|why| all_or_nothing(why.into()))?;
        let (record, _) = decode(trim(plain.as_slice()), None, true).map_err(|f| match f {
            Failure::User(m) | Failure::Internal(m) => all_or_nothing(m),
        })?;
        let (record, _) = prepare(ctx, &policy, record).map_err(|f| match f {
            Failure::User(m) | Failure::Internal(m) => all_or_nothing(m),
        })?;
        records.push(PlatformRecord {
            secret: name,
            record,
        });
    }
    let mut out = Output::default();
    // Two secrets for one registry: the later (most recently updated) one is what the platform
    // would hand out last; the earlier is named and skipped.
    let mut skipped = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Some(prev) = seen.insert(r.record.registry.clone(), i) {
            skipped.push(prev);
        }
    }
    for i in &skipped {
        let r = &records[*i];
        out.notes.push(format!(
            "skipping platform secret {}: a later one holds {} too",
            r.secret, r.record.registry
        ));
    }
    let chosen: Vec<&PlatformRecord> = records
        .iter()
        .enumerate()
        .filter(|(i, _)| !skipped.contains(i))
        .map(|(_, r)| r)
        .collect();
    // Every record is checked before any is stored: one refusal, nothing imported.
    if args.verify {
        for r in &chosen {
            let v =
                checks::verify_imported(ctx, &r.record, args.plain_http, &policy).map_err(|c| {
                    // A refused target is worded as the policy's refusal of a secret above.
                    let whose = match &c {
                        ImportCheck::Refused(_) => format!("{} of workspace {workspace}", r.secret),
                        ImportCheck::Failed(_) => r.secret.clone(),
                    };
                    let (ImportCheck::Refused(m) | ImportCheck::Failed(m)) = c;
                    Failure::user(format!(
                        "platform secret {whose}: {m}; nothing was imported"
                    ))
                })?;
            out.notes.push(format!("platform secret {}: {v}", r.secret));
        }
    }
    let origin = format!("beta9:{workspace}");
    if args.sync {
        return super::sync::run(ctx, &origin, &chosen, args.expires_in, args.dry_run, out);
    }
    if args.dry_run {
        for r in &chosen {
            let _ = writeln!(
                out.stdout,
                "{}\t{}\t{}",
                r.record.registry, r.record.kind, r.secret
            );
        }
        out.notes.push(format!(
            "dry run: {} record{} of platform workspace {workspace} would be imported into workspace {}; nothing was stored",
            chosen.len(),
            if chosen.len() == 1 { "" } else { "s" },
            ctx.workspace
        ));
        return Ok(out);
    }
    let life = Lifecycle::new(&origin, args.expires_in, ctx.now());
    for (done, r) in chosen.iter().enumerate() {
        let saved = actions::save_as(ctx, &r.record, None, &life).map_err(|e| {
            let f = Failure::from(e);
            let more = format!(
                " (after importing {done} of {}: run the import again, it replaces what it stored)",
                chosen.len()
            );
            match f {
                Failure::User(m) => Failure::User(m + &more),
                Failure::Internal(m) => Failure::Internal(m + &more),
            }
        })?;
        out.println(saved.name.as_str());
        out.notes.push(format!(
            "{} {} credentials for {} in workspace {} (from platform secret {})",
            if saved.replaced {
                "replaced"
            } else {
                "imported"
            },
            r.record.kind,
            r.record.registry,
            ctx.workspace,
            r.secret
        ));
    }
    if chosen.is_empty() {
        out.notes.push(format!(
            "platform workspace {workspace} holds no registry secrets (oci-registry-…, oci-creds-…)"
        ));
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

    /// docs/records.md, "The platform's workspace secrets": the plaintext of the vector the
    /// platform's cipher opens (`actions::platform`) is a beta9 record.
    #[test]
    fn the_platforms_vector_decodes_as_a_beta9_record() {
        let plain = br#"{"credentials":{"PASSWORD":"p","USERNAME":"u"},"registry":"example.com","type":"basic"}"#;
        let (record, format) = decode(plain, None, true).unwrap();
        assert_eq!(
            (record.kind, format),
            (CredentialType::Generic, "a beta9 record")
        );
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
