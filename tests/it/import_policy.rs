//! The import policy (docs/records.md, "Import policy") and Google's pinned endpoints
//! (docs/google.md, "Pinned endpoints"), through the real binary: a record that arrives by
//! `import` (stdin in each shape, `ImageCredentials`) may not select this machine's identity, its
//! files or URLs it picks unless `BETA9_IMPORT_ALLOW` says so; refused means one line naming the
//! registry and the setting, and nothing stored. `add` stays the operator's. An imported
//! Google key may only name Google's token endpoint.

use crate::support::{Out, Sandbox, CANARY};

const ECR: &str = "111111111111.dkr.ecr.us-east-1.amazonaws.com";
pub(crate) const AR: &str = "us-docker.pkg.dev";
const STS: &str = "https://sts.googleapis.com/v1/token";
const IAM: &str = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/puller@p.iam.gserviceaccount.com:generateAccessToken";

/// An `external_account` file with Google's own endpoints and this subject-token source.
pub(crate) fn external(source: serde_json::Value) -> String {
    serde_json::json!({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k8s",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": STS,
        "service_account_impersonation_url": IAM,
        "credential_source": source,
    })
    .to_string()
}

/// A file on the machine a tenant would like to read (it holds the CANARY).
fn machine_file(sb: &Sandbox) -> String {
    let dir = sb.path().join("tokens");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("node-identity");
    std::fs::write(&p, format!("eyJ.{CANARY}")).unwrap();
    p.to_str().unwrap().to_string()
}

/// Each kind of record that uses the machine's resources: (what, registry, type, credentials,
/// the `BETA9_IMPORT_ALLOW` item that lets it through).
fn refused_kinds(
    sb: &Sandbox,
) -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    serde_json::Value,
    String,
)> {
    let file = machine_file(sb);
    let dir = std::path::Path::new(&file)
        .parent()
        .unwrap()
        .display()
        .to_string();
    vec![
        (
            "ambient AWS",
            ECR,
            "aws",
            serde_json::json!({"AWS_CREDENTIALS_SOURCE": "ambient"}),
            "aws-ambient".into(),
        ),
        (
            "ambient AWS with a profile",
            ECR,
            "aws",
            serde_json::json!({"AWS_CREDENTIALS_SOURCE": "AMBIENT", "AWS_PROFILE": "node"}),
            "aws-ambient".into(),
        ),
        (
            "the metadata server",
            AR,
            "gcp",
            serde_json::json!({"GCP_METADATA": "1"}),
            "gcp-metadata".into(),
        ),
        (
            "an external_account file source",
            AR,
            "gcp",
            serde_json::json!({"GOOGLE_APPLICATION_CREDENTIALS_JSON": external(serde_json::json!({"file": file}))}),
            format!("external-account-file:{dir}/"),
        ),
        (
            "an external_account url source",
            AR,
            "gcp",
            serde_json::json!({"GOOGLE_APPLICATION_CREDENTIALS_JSON": external(serde_json::json!({
                "url": "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/identity?audience=x",
                "headers": {"Metadata-Flavor": "Google"},
            }))}),
            "external-account-url:http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/identity".into(),
        ),
    ]
}

/// The record in the shapes `import` reads from stdin: version 1, beta9's shipped record, and
/// the scheduler's wrapped `ImageCredentials`.
fn shapes(registry: &str, kind: &str, creds: &serde_json::Value) -> Vec<(&'static str, String)> {
    let shipped = serde_json::json!({"registry": registry, "type": kind, "credentials": creds});
    vec![
        (
            "version 1",
            serde_json::json!({"version": 1, "registry": registry, "type": kind, "credentials": creds})
                .to_string(),
        ),
        ("beta9 record", shipped.to_string()),
        (
            "ImageCredentials",
            serde_json::json!({"ImageCredentials": shipped.to_string()}).to_string(),
        ),
    ]
}

fn assert_refused(out: &Out, registry: &str, allow: &str, what: &str) {
    assert_eq!(out.code, 1, "{what}: {out:?}");
    assert_eq!(out.stdout, "", "{what}: {out:?}");
    assert_eq!(out.stderr.lines().count(), 1, "{what}: one line: {out:?}");
    let line = out.stderr.trim_end();
    assert!(
        line.starts_with(&format!(
            "error: refusing to import the record for {registry}: "
        )),
        "{what}: {line}"
    );
    assert!(
        line.contains("BETA9_IMPORT_ALLOW") && line.contains(allow.split(':').next().unwrap()),
        "{what}: names the setting: {line}"
    );
    assert!(line.contains("nothing was stored"), "{what}: {line}");
    assert!(!line.contains(CANARY), "{what}: {line}");
}

fn assert_nothing_stored(sb: &Sandbox, what: &str) {
    let listed = sb.list();
    assert_eq!(listed.stdout, "{}\n", "{what}: {listed:?}");
}

#[test]
fn imported_records_may_not_use_the_machines_identity_files_or_urls() {
    let sb = Sandbox::new();
    for (what, registry, kind, creds, allow) in refused_kinds(&sb) {
        for (shape, json) in shapes(registry, kind, &creds) {
            let out = sb.run(&["import"], json.as_bytes());
            assert_refused(&out, registry, &allow, &format!("{what} as {shape}"));
            assert_nothing_stored(&sb, what);
        }
    }
    // A NAME map with --registry is an import too.
    let out = sb.run(
        &["import", "--registry", ECR],
        br#"{"AWS_CREDENTIALS_SOURCE":"ambient","AWS_REGION":"us-east-1"}"#,
    );
    assert_refused(&out, ECR, "aws-ambient", "NAME map");
    assert_nothing_stored(&sb, "NAME map");
}

#[test]
fn the_operators_allow_list_lets_each_kind_through_and_nothing_else() {
    let sb = Sandbox::new();
    let kinds = refused_kinds(&sb);
    let everything: Vec<String> = kinds.iter().map(|k| k.4.clone()).collect();
    for (what, registry, kind, creds, allow) in &kinds {
        let (_, json) = shapes(registry, kind, creds).remove(2);
        // Its own item lets it in.
        let out = sb.run_env(
            &["import"],
            json.as_bytes(),
            &[("BETA9_IMPORT_ALLOW", allow)],
        );
        assert_eq!(out.code, 0, "{what} with {allow}: {out:?}");
        assert!(sb.list().stdout.contains(registry), "{what}");
        sb.run(&["remove", registry], b"").assert_ok();
        // Every other item does not.
        let others: Vec<&str> = everything
            .iter()
            .filter(|a| a.split(':').next() != allow.split(':').next())
            .map(String::as_str)
            .collect();
        let out = sb.run_env(
            &["import"],
            json.as_bytes(),
            &[("BETA9_IMPORT_ALLOW", &others.join(","))],
        );
        assert_refused(&out, registry, allow, what);
        assert_nothing_stored(&sb, what);
    }
    // A file or URL outside the allowed prefix stays refused.
    let outside = serde_json::json!({"GOOGLE_APPLICATION_CREDENTIALS_JSON": external(serde_json::json!({"file": "/etc/shadow"}))});
    let (_, json) = shapes(AR, "gcp", &outside).remove(0);
    let out = sb.run_env(
        &["import"],
        json.as_bytes(),
        &[("BETA9_IMPORT_ALLOW", &everything.join(","))],
    );
    assert_refused(
        &out,
        AR,
        "external-account-file",
        "a file outside the prefix",
    );
    let dotted = format!("{}/../../../etc/shadow", sb.path().join("tokens").display());
    let outside = serde_json::json!({"GOOGLE_APPLICATION_CREDENTIALS_JSON": external(serde_json::json!({"file": dotted}))});
    let (_, json) = shapes(AR, "gcp", &outside).remove(0);
    let out = sb.run_env(
        &["import"],
        json.as_bytes(),
        &[("BETA9_IMPORT_ALLOW", &everything.join(","))],
    );
    assert_refused(&out, AR, "external-account-file", "a .. path");
    assert_nothing_stored(&sb, "outside");
}

#[test]
fn a_malformed_allow_list_is_one_line_naming_the_variable_and_stores_nothing() {
    let sb = Sandbox::new();
    let json =
        r#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t"}}"#;
    for bad in [
        "aws",
        "aws-ambient,external-account-file:relative/dir",
        "external-account-url:ftp://x/",
    ] {
        let out = sb.run_env(&["import"], json.as_bytes(), &[("BETA9_IMPORT_ALLOW", bad)]);
        assert_eq!(out.code, 1, "{bad}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        assert!(
            out.stderr.starts_with("error: BETA9_IMPORT_ALLOW: item "),
            "{out:?}"
        );
        assert_nothing_stored(&sb, bad);
    }
    let out = sb.run_env(
        &["import"],
        json.as_bytes(),
        &[("BETA9_GOOGLE_ENDPOINT_ORIGIN", "http://sts.example.com")],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with("error: BETA9_GOOGLE_ENDPOINT_ORIGIN must be"),
        "{out:?}"
    );
    // A static record needs no allowance.
    sb.run(&["import"], json.as_bytes()).assert_ok();
}

#[test]
fn add_is_the_operators_and_keeps_using_the_machine() {
    let sb = Sandbox::new();
    sb.run_env(&["add", ECR], b"", &[("AWS_CREDENTIALS_SOURCE", "ambient")])
        .assert_ok();
    sb.run_env(&["add", AR], b"", &[("GCP_METADATA", "1")])
        .assert_ok();
    let file = machine_file(&sb);
    sb.run_env(
        &["add", "gcr.io", "GOOGLE_APPLICATION_CREDENTIALS_JSON"],
        b"",
        &[(
            "GOOGLE_APPLICATION_CREDENTIALS_JSON",
            &external(serde_json::json!({"file": file})),
        )],
    )
    .assert_ok();
    let listed = sb.list().json();
    for r in [ECR, AR, "gcr.io"] {
        assert!(
            listed.as_object().unwrap().keys().any(|k| k.contains(r)),
            "{r}: {listed}"
        );
    }
}

#[test]
fn an_imported_key_names_googles_token_endpoint_only() {
    let sb = Sandbox::new();
    let user = |uri: &str| {
        serde_json::json!({"type": "authorized_user", "client_id": "c.apps.googleusercontent.com",
            "client_secret": CANARY, "refresh_token": CANARY, "token_uri": uri})
        .to_string()
    };
    for uri in [
        "https://evil.example/token",
        "https://storage.googleapis.com/upload/storage/v1/b/tenant/o",
        "http://127.0.0.1:6379/token",
    ] {
        let record = serde_json::json!({"version": 1, "registry": AR, "type": "gcp",
            "credentials": {"GOOGLE_APPLICATION_CREDENTIALS_JSON": user(uri)}});
        let out = sb.run(&["import"], record.to_string().as_bytes());
        assert_eq!(out.code, 1, "{uri}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
        assert!(
            out.stderr.contains("token_uri") && out.stderr.contains("BETA9_GOOGLE_ENDPOINT_ORIGIN"),
            "{out:?}"
        );
        assert!(
            !out.stderr.contains(CANARY) && !out.stderr.contains("evil"),
            "{out:?}"
        );
        assert_nothing_stored(&sb, uri);
    }
    let record = serde_json::json!({"version": 1, "registry": AR, "type": "gcp",
        "credentials": {"GOOGLE_APPLICATION_CREDENTIALS_JSON": user("https://oauth2.googleapis.com/token")}});
    sb.run(&["import"], record.to_string().as_bytes())
        .assert_ok();
}
