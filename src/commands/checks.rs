//! Checks a record must pass before `add` or `import` stores it, and the one rewrite both do:
//! a Google key named by path becomes its JSON content (docs/records.md, "Google names").

use super::outcome::Failure;
use crate::actions::google::KeyCheck;
use crate::actions::import_policy::Policy;
use crate::context::Context;
use crate::credential_type::{self, CredentialType, GOOGLE_JSON, GOOGLE_PATH};
use crate::env::Env;
use crate::hosts;
use crate::record::{Credentials, Record};
use crate::registry::Registry;
use crate::settings::Settings;
use secrecy::{ExposeSecret, SecretString};
/// A Google credential file is a few KiB; anything past this is not one.
const KEY_FILE_LIMIT: u64 = 1 << 20;

/// The known name a typo most likely meant (edit distance at most 2), for "did you mean".
/// Only a known name is ever printed, never the argument itself.
pub(crate) fn suggest(typed: &str) -> Option<&'static str> {
    let typed = typed.to_ascii_uppercase();
    credential_type::all_names()
        .map(|n| (strsim::levenshtein(&typed, n), n))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Everything `validate` checks, with two additions: a name no type knows is never echoed (it may
/// be a value typed where a name belongs), and cloud keys are refused for hosts that fail the
/// anchored patterns (docs/records.md, "Cloud records on other hosts").
pub(crate) fn check_record(record: &Record, what: &str) -> Result<(), Failure> {
    let unknown = record
        .credentials
        .names()
        .filter(|n| !credential_type::is_known_name(n))
        .count();
    if unknown > 0 {
        return Err(Failure::user(format!(
            "{unknown} of the {what} {} not a credential variable name this helper knows (not echoed, in case it is a value); {} {} record takes: {}",
            if unknown == 1 { "is" } else { "are" },
            record.kind.article(),
            record.kind,
            record.kind.names().join(", ")
        )));
    }
    record
        .validate()
        .map_err(|e| Failure::User(e.to_string()))?;
    check_cloud_host(record)
}

/// AWS keys only for ECR hosts, Google credentials only for Google hosts, an Azure service
/// principal only for ACR hosts (docs/records.md, "Cloud records on other hosts").
pub(crate) fn check_cloud_host(record: &Record) -> Result<(), Failure> {
    let host = record.registry.hostname();
    match record.kind {
        CredentialType::Aws if hosts::ecr_host(host).is_none() && !hosts::is_ecr_public(host) => {
            Err(Failure::user(format!(
                "refusing to store AWS keys for {}: not an ECR host (<account>.dkr.ecr.<region>.amazonaws.com, public.ecr.aws); for a fixed password use --type generic with USERNAME PASSWORD",
                record.registry
            )))
        }
        CredentialType::Gcp if !hosts::is_google_host(host) => Err(Failure::user(format!(
            "refusing to store Google credentials for {}: not a Google registry host (gcr.io, *.gcr.io, <location>-docker.pkg.dev); for a _json_key login use --type generic with USERNAME PASSWORD",
            record.registry
        ))),
        CredentialType::Azure if !hosts::is_acr_host(host) => Err(Failure::user(format!(
            "refusing to store Azure service-principal credentials for {}: not an Azure Container Registry host (<name>.azurecr.io, <name>.azurecr.cn, <name>.azurecr.us); for a fixed password use --type generic with USERNAME PASSWORD",
            record.registry
        ))),
        _ => Ok(()),
    }
}

/// Empty values are dropped (beta9's records carry empty optional fields); returns their names.
pub(crate) fn drop_empty(creds: Credentials) -> (Credentials, Vec<String>) {
    let mut kept = Credentials::new();
    let mut dropped = Vec::new();
    for (name, value) in creds.iter() {
        if value.expose_secret().is_empty() {
            dropped.push(name.to_string());
        } else {
            kept.insert(name, value.clone());
        }
    }
    (kept, dropped)
}

/// Replaces `GOOGLE_APPLICATION_CREDENTIALS` by `GOOGLE_APPLICATION_CREDENTIALS_JSON`. Its value is
/// the key JSON itself when it starts with `{`; otherwise a path, read now if `read_paths` (for
/// `add`: the file is on this machine) and refused otherwise (an imported record naming a path on
/// some other machine is useless). No message ever quotes the value or the file. Google's
/// endpoints in an `external_account` file are checked against their pins (docs/google.md,
/// "Pinned endpoints"), with the operator's stand-in origin from the settings.
pub(crate) fn inline_google_key(
    creds: Credentials,
    read_paths: bool,
    settings: &Settings,
) -> Result<Credentials, Failure> {
    let keys = KeyCheck::from_settings(settings)?;
    let Some(value) = creds.get(GOOGLE_PATH) else {
        if let Some(v) = creds.get(GOOGLE_JSON) {
            check_key_json(v.expose_secret().as_bytes(), GOOGLE_JSON, &keys)?;
        }
        return Ok(creds);
    };
    if creds.contains(GOOGLE_JSON) {
        return Err(Failure::user(format!(
            "give {GOOGLE_PATH} or {GOOGLE_JSON}, not both"
        )));
    }
    let content = if value.expose_secret().trim_start().starts_with('{') {
        value.clone()
    } else if read_paths {
        read_key_file(value)?
    } else {
        return Err(Failure::user(format!(
            "{GOOGLE_PATH} in an imported record must hold the key JSON, not a file path; put the content under {GOOGLE_JSON}"
        )));
    };
    check_key_json(content.expose_secret().as_bytes(), GOOGLE_PATH, &keys)?;
    let mut out = Credentials::new();
    for (name, v) in creds.iter() {
        if name != GOOGLE_PATH {
            out.insert(name, v.clone());
        }
    }
    out.insert(GOOGLE_JSON, content);
    Ok(out)
}

fn read_key_file(path: &SecretString) -> Result<SecretString, Failure> {
    let cannot = |why: String| {
        Failure::user(format!(
            "cannot read the key file {GOOGLE_PATH} names: {why}; export {GOOGLE_PATH}=/path/to/key.json (or the JSON itself)"
        ))
    };
    // A file the operator names: through links (a mounted secret), but never a FIFO or device.
    let buf = crate::fsutil::read_operator_file(
        std::path::Path::new(path.expose_secret()),
        KEY_FILE_LIMIT,
    )
    .map_err(|e| match e.kind() {
        // The reader's own reasons (not a regular file, too large) name neither path nor content.
        std::io::ErrorKind::Other => cannot(e.to_string()),
        _ => cannot(io_reason(&e)),
    })?
    .ok_or_else(|| cannot("no such file".into()))?;
    let text = std::str::from_utf8(buf.as_slice()).map_err(|_| cannot("not UTF-8 text".into()))?;
    Ok(SecretString::from(text))
}

/// The kind of an I/O error, without the OS message's path (the path may be a misplaced value).
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "it is a directory".into(),
        k => format!("{k}"),
    }
}

/// The key must be a JSON object; errors give a position, never content.
fn check_key_json(bytes: &[u8], name: &str, keys: &KeyCheck) -> Result<(), Failure> {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(rename = "type", default)]
        _kind: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Shape>(bytes).map_err(|e| {
        Failure::user(format!(
            "the Google key from {name} is not a JSON object (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    // A key `get` could never sign with is refused now rather than on every pull. The parser's
    // messages name the problem, never the content.
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Failure::user(format!("the Google key from {name} is not UTF-8")))?;
    keys.check(text)
        .map_err(|reason| Failure::user(format!("the Google key from {name}: {reason}")))
}

/// Reads one credential variable for `add`, with errors that say what to do.
pub(crate) fn env_value(env: &Env, name: &str) -> Result<SecretString, Failure> {
    match env.credential(name) {
        None if env.credential_unreadable(name) => Err(Failure::user(format!(
            "{name} is set but is not valid UTF-8 text; export it again"
        ))),
        None => Err(Failure::user(format!(
            "{name} is not set: export {name}=... first (values come from the environment or stdin, never from arguments)"
        ))),
        Some(v) if v.expose_secret().is_empty() => Err(Failure::user(format!(
            "{name} is empty: export a non-empty value first"
        ))),
        Some(v) => Ok(v.clone()),
    }
}

/// REF when it names an image (`ghcr.io/org/app:1`, `nginx`) rather than only its registry
/// (`ghcr.io`, `docker.io`, `https://index.docker.io/v1/`): `add REF --verify` then checks a pull
/// of it.
pub(crate) fn image_of<'a>(reference: &'a str, registry: &Registry) -> Option<&'a str> {
    let names_repository = crate::registry::repository(reference).is_some();
    let only_registry = Registry::from_server_url(reference).is_ok_and(|r| r == *registry);
    (names_repository && !only_registry).then_some(reference)
}

/// `--verify`: the record checked against its registry before it is stored (docs/clients.md,
/// "Verifying before storing"); the error is the one line naming what the registry said.
// Both sides are lines for the edge to print: the caller adds a suffix and never branches.
pub(crate) fn verify(
    ctx: &Context,
    record: &Record,
    image: Option<&str>,
    plain_http: bool,
) -> Result<String, String> {
    crate::doctor::verify::verify(ctx, record, image, plain_http)
        .map_err(|r| r.message().to_string())
}

/// Why `import --verify` did not pass a record.
pub(crate) enum ImportCheck {
    /// The import policy refused where the check would have sent requests (docs/records.md,
    /// "Verify targets"): refused as the policy refuses a record.
    Refused(String),
    /// The check ran and failed, as for `add --verify`.
    Failed(String),
}

/// `import --verify`: [`verify`] for a record from outside this machine, its registry and token
/// endpoint held to `policy` (docs/records.md, "Verify targets") before any request.
pub(crate) fn verify_imported(
    ctx: &Context,
    record: &Record,
    plain_http: bool,
    policy: &Policy,
) -> Result<String, ImportCheck> {
    use crate::doctor::verify::Refusal;
    crate::doctor::verify::verify_guarded(ctx, record, plain_http, policy.verify_allow()).map_err(
        |r| match r {
            Refusal::Denied { to, denied, .. } => {
                ImportCheck::Refused(Policy::verify_refusal(record, to, &denied))
            }
            r => ImportCheck::Failed(r.message().to_string()),
        },
    )
}

/// After `add`/`import`: one line when no client family's config on this machine routes the
/// entry's registry to this helper (the entry is stored, but no pull asks for it), with the
/// command that routes it. Reads config files only.
pub(crate) fn unrouted_note(ctx: &Context, registry: &Registry) -> Option<String> {
    if crate::clients::config::routed_here(&ctx.settings, registry) {
        return None;
    }
    let host = if registry.is_docker_hub() {
        registry.as_str()
    } else {
        registry.host()
    };
    Some(format!(
        "nothing on this machine routes {host} to this helper yet: run `docker-credential-beta9 configure-docker {host}` (add --containers for podman, buildah, skopeo)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_checks_a_pull_only_for_references_that_name_an_image() {
        for (reference, image) in [
            ("ghcr.io", false),
            ("docker.io", false),
            ("https://index.docker.io/v1/", false),
            ("localhost:5000", false),
            ("ghcr.io/org/app:1", true),
            ("nginx", true),
            ("127.0.0.1:5000/team/app@sha256:0123", true),
        ] {
            let registry = Registry::from_reference(reference).unwrap();
            assert_eq!(
                image_of(reference, &registry).is_some(),
                image,
                "{reference}"
            );
        }
    }

    fn put(p: &std::path::Path, bytes: &[u8]) {
        crate::fsutil::write_atomic(
            p.parent().unwrap(),
            p.file_name().unwrap().to_str().unwrap(),
            bytes,
        )
        .unwrap();
    }

    fn record(registry: &str, kind: CredentialType, pairs: &[(&str, &str)]) -> Record {
        let mut credentials = Credentials::new();
        for (k, v) in pairs {
            credentials.insert(k, SecretString::from(*v));
        }
        Record {
            registry: Registry::from_reference(registry).unwrap(),
            kind,
            credentials,
        }
    }

    #[test]
    fn cloud_keys_only_for_their_hosts() {
        let aws = [("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")];
        let ok = record(
            "111111111111.dkr.ecr.us-east-1.amazonaws.com",
            CredentialType::Aws,
            &aws,
        );
        assert!(check_record(&ok, "names").is_ok());
        assert!(check_record(
            &record("public.ecr.aws", CredentialType::Aws, &aws),
            "names"
        )
        .is_ok());
        let evil = record(
            "111111111111.dkr.ecr.us-east-1.amazonaws.com.evil.example",
            CredentialType::Aws,
            &aws,
        );
        let err = format!("{:?}", check_record(&evil, "names").unwrap_err());
        assert!(err.contains("not an ECR host"), "{err}");
        let gcp = [("GCP_ACCESS_TOKEN", "ya29")];
        assert!(check_record(
            &record("us-docker.pkg.dev", CredentialType::Gcp, &gcp),
            "names"
        )
        .is_ok());
        assert!(check_record(&record("notgcr.io", CredentialType::Gcp, &gcp), "names").is_err());
    }

    #[test]
    fn azure_service_principals_only_for_acr_hosts() {
        let sp = [
            ("AZURE_CLIENT_ID", "00000000-1111-2222-3333-444444444444"),
            ("AZURE_CLIENT_SECRET", "CANARY-azure"),
            ("AZURE_TENANT_ID", "t"),
        ];
        for host in [
            "myacr.azurecr.io",
            "myacr.azurecr.cn",
            "myacr.azurecr.us/team/app",
        ] {
            assert!(
                check_record(&record(host, CredentialType::Azure, &sp), "names").is_ok(),
                "{host}"
            );
        }
        // Without the tenant too.
        assert!(check_record(
            &record("myacr.azurecr.io", CredentialType::Azure, &sp[..2]),
            "names"
        )
        .is_ok());
        for host in [
            "ghcr.io",
            "myacr.azurecr.io.evil.example",
            "azurecr.io",
            "my_acr.azurecr.io",
            "registry.example.com:5000",
        ] {
            let err = format!(
                "{:?}",
                check_record(&record(host, CredentialType::Azure, &sp), "names").unwrap_err()
            );
            assert!(
                err.contains("not an Azure Container Registry host"),
                "{err}"
            );
            assert!(!err.contains("CANARY"), "{err}");
        }
        // Missing secret is named; the value never is.
        let half = record("myacr.azurecr.io", CredentialType::Azure, &sp[..1]);
        let err = format!("{:?}", check_record(&half, "names").unwrap_err());
        assert!(
            err.contains("an azure record needs AZURE_CLIENT_SECRET"),
            "{err}"
        );
        // A plain login for an ACR host is fine as generic.
        assert!(check_record(
            &record(
                "myacr.azurecr.io",
                CredentialType::Generic,
                &[("USERNAME", "u"), ("PASSWORD", "p")]
            ),
            "names"
        )
        .is_ok());
    }

    #[test]
    fn a_google_key_that_could_never_sign_is_refused_without_echoing_it() {
        let mut c = Credentials::new();
        c.insert(
            GOOGLE_JSON,
            SecretString::from(r#"{"type":"service_account","private_key":"SEKRIT"}"#),
        );
        let err = format!(
            "{:?}",
            inline_google_key(c, false, &Settings::default()).unwrap_err()
        );
        assert!(
            err.contains("client_email") && !err.contains("SEKRIT"),
            "{err}"
        );
    }

    #[test]
    fn typos_get_a_known_name_and_values_get_none() {
        assert_eq!(suggest("GITHUB_TOKN"), Some("GITHUB_TOKEN"));
        assert_eq!(suggest("ngc_api_key"), Some("NGC_API_KEY"));
        assert_eq!(suggest("ghp_0123456789abcdef"), None);
    }

    #[test]
    fn unknown_names_are_counted_not_echoed() {
        let r = record(
            "ghcr.io",
            CredentialType::Ghcr,
            &[("ghp_SEKRIT", "x"), ("GITHUB_TOKEN", "t")],
        );
        let err = format!("{:?}", check_record(&r, "names").unwrap_err());
        assert!(!err.contains("SEKRIT"), "{err}");
        assert!(err.contains("GITHUB_TOKEN"), "{err}");
    }

    #[test]
    fn google_key_content_is_inlined_and_paths_are_read_only_when_allowed() {
        let mut c = Credentials::new();
        c.insert(
            GOOGLE_PATH,
            SecretString::from(
                r#"{"type":"service_account","client_email":"a@b","private_key":"k"}"#,
            ),
        );
        let out = inline_google_key(c, false, &Settings::default()).unwrap();
        assert!(out.contains(GOOGLE_JSON) && !out.contains(GOOGLE_PATH));

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.json");
        put(
            &p,
            br#"{"type":"service_account","client_email":"a@b","private_key":"SEKRIT"}"#,
        );
        let mut c = Credentials::new();
        c.insert(
            GOOGLE_PATH,
            SecretString::from(p.to_string_lossy().into_owned()),
        );
        assert!(inline_google_key(c, false, &Settings::default()).is_err());
        let mut c = Credentials::new();
        c.insert(
            GOOGLE_PATH,
            SecretString::from(p.to_string_lossy().into_owned()),
        );
        let out = inline_google_key(c, true, &Settings::default()).unwrap();
        assert!(out
            .get(GOOGLE_JSON)
            .unwrap()
            .expose_secret()
            .contains("SEKRIT"));

        put(&p, b"not json SEKRIT");
        let mut c = Credentials::new();
        c.insert(
            GOOGLE_PATH,
            SecretString::from(p.to_string_lossy().into_owned()),
        );
        let err = format!(
            "{:?}",
            inline_google_key(c, true, &Settings::default()).unwrap_err()
        );
        assert!(!err.contains("SEKRIT") && err.contains("line 1"), "{err}");
    }
}
