//! The scripted CLI through the real binary: `add`, `remove`, `ls`, `show`, `secret-name`,
//! `import`, `export`, `configure-docker`, `--workspace`, and the dispatch that keeps the
//! protocol's answers for everything else.

use crate::support::{Out, Sandbox, CANARY};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const NOT_FOUND: &str = "credentials not found in native keychain\n";
const USAGE: &str = "Usage: docker-credential-beta9 <store|get|erase|list|version>\n";
const ECR: &str = "111111111111.dkr.ecr.us-east-1.amazonaws.com";

fn put(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::File::create(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `get` answered with exactly this username and secret.
fn assert_login(o: &Out, user: &str, secret: &str) {
    o.assert_ok();
    let v = o.json();
    assert_eq!(
        (v["Username"].as_str(), v["Secret"].as_str()),
        (Some(user), Some(secret)),
        "{o:?}"
    );
}

/// A user error: exit 1, nothing on stdout, one `error: ...` line without a trailing period.
fn assert_user_error(o: &Out, needle: &str) {
    assert_eq!((o.code, o.stdout.as_str()), (1, ""), "{o:?}");
    let last = o.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: "), "{o:?}");
    assert!(!last.ends_with('.'), "{last}");
    assert!(
        o.stderr.contains(needle),
        "{needle:?} not in {:?}",
        o.stderr
    );
}

fn assert_nothing_stored(s: &Sandbox) {
    assert_eq!(s.list().stdout, "{}\n");
}

/// reference, NAMEs, env, `get` key, expected username, secret name.
type AddCase<'a> = (
    &'a str,
    &'a [&'a str],
    &'a [(&'a str, &'a str)],
    &'a str,
    &'a str,
    &'a str,
);

#[test]
fn add_then_get_round_trips_for_each_static_type() {
    let s = Sandbox::new();
    let cases: &[AddCase] = &[
        (
            "ghcr.io/org/app:1",
            &["GITHUB_USERNAME", "GITHUB_TOKEN"],
            &[("GITHUB_USERNAME", "octo"), ("GITHUB_TOKEN", CANARY)],
            "ghcr.io",
            "octo",
            "oci-creds-0fd460f0568e29c1",
        ),
        (
            "myuser/private:latest",
            &["DOCKERHUB_USERNAME", "DOCKERHUB_PASSWORD"],
            &[("DOCKERHUB_USERNAME", "me"), ("DOCKERHUB_PASSWORD", CANARY)],
            "https://index.docker.io/v1/",
            "me",
            "oci-creds-3530c4415dd857fb",
        ),
        (
            "nvcr.io",
            &["NGC_API_KEY"],
            &[("NGC_API_KEY", CANARY)],
            "nvcr.io",
            "$oauthtoken",
            "oci-creds-0bf8a811d2e271e8",
        ),
        (
            "registry.example.com:5000",
            &["USERNAME", "PASSWORD"],
            &[("USERNAME", "ci"), ("PASSWORD", CANARY)],
            "registry.example.com:5000",
            "ci",
            "oci-creds-9f402d6e87b52f3f",
        ),
        (
            "gcr.io/project/img",
            &["GCP_ACCESS_TOKEN"],
            &[("GCP_ACCESS_TOKEN", CANARY)],
            "gcr.io",
            "oauth2accesstoken",
            "oci-creds-70cca582c4895337",
        ),
    ];
    for (reference, names, env, server, user, secret_name) in cases {
        let mut args = vec!["add", reference];
        args.extend_from_slice(names);
        let o = s.run_env(&args, b"", env);
        o.assert_ok();
        assert_eq!(o.stdout, format!("{secret_name}\n"), "{reference}");
        assert!(
            !o.stderr.contains(CANARY) && o.stderr.contains("stored"),
            "{o:?}"
        );
        assert_login(&s.get(server), user, CANARY);
    }
    s.assert_not_on_disk(CANARY);
}

#[test]
fn add_without_names_reads_the_types_variables() {
    let s = Sandbox::new();
    let o = s.run_env(
        &["add", "ghcr.io"],
        b"",
        &[("GITHUB_TOKEN", CANARY), ("GITHUB_USERNAME", "")],
    );
    o.assert_ok();
    // An empty optional variable is skipped; GHCR then reuses the token as the username (CLIP).
    assert_login(&s.get("ghcr.io"), CANARY, CANARY);
    let o = s.run(&["add", "registry.example.com"], b"");
    assert_user_error(
        &o,
        "cannot tell which credential type registry.example.com uses",
    );
}

#[test]
fn aws_keys_are_stored_for_ecr_and_refused_for_a_lookalike_host() {
    let s = Sandbox::new();
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", CANARY),
        ("AWS_REGION", "us-east-1"),
    ];
    let names = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"];
    let evil = "111111111111.dkr.ecr.us-east-1.amazonaws.com.evil.example";
    let mut args = vec!["add", evil];
    args.extend(names);
    let o = s.run_env(&args, b"", &env);
    assert_user_error(&o, "not an ECR host");
    assert!(!o.stderr.contains(CANARY));
    assert_nothing_stored(&s);

    let mut args = vec!["add", ECR];
    args.extend(names);
    let o = s.run_env(&args, b"", &env);
    o.assert_ok();
    assert_eq!(o.stdout, "oci-creds-0ef590795080606c\n");
    let shown = s.run(&["show", ECR, "--json"], b"").json();
    assert_eq!(shown["type"], "aws");
    s.assert_not_on_disk(CANARY);
}

#[test]
fn google_credentials_are_refused_for_a_non_google_host() {
    let s = Sandbox::new();
    let o = s.run_env(
        &["add", "notgcr.io", "GCP_ACCESS_TOKEN"],
        b"",
        &[("GCP_ACCESS_TOKEN", CANARY)],
    );
    assert_user_error(&o, "not a Google registry host");
    assert!(!o.stderr.contains(CANARY));
    assert_nothing_stored(&s);
}

#[test]
fn missing_variable_is_named_with_how_to_set_it_and_nothing_is_stored() {
    let s = Sandbox::new();
    let o = s.run_env(
        &["add", "ghcr.io", "GITHUB_USERNAME", "GITHUB_TOKEN"],
        b"",
        &[("GITHUB_USERNAME", "octo")],
    );
    assert_user_error(&o, "GITHUB_TOKEN is not set: export GITHUB_TOKEN=... first");
    assert_nothing_stored(&s);
    assert!(!s.entries_dir().exists() || std::fs::read_dir(s.entries_dir()).unwrap().count() == 0);

    let o = s.run_env(
        &["add", "ghcr.io", "GITHUB_TOKEN"],
        b"",
        &[("GITHUB_TOKEN", "")],
    );
    assert_user_error(&o, "GITHUB_TOKEN is empty");
    let o = s.run_env(
        &["add", "ghcr.io", "GITHUB_USERNAME"],
        b"",
        &[("GITHUB_USERNAME", "octo")],
    );
    assert_user_error(&o, "a ghcr record needs GITHUB_TOKEN");
    assert_nothing_stored(&s);
}

#[test]
fn names_foreign_to_the_type_are_refused_and_values_in_argv_are_not_echoed() {
    let s = Sandbox::new();
    let o = s.run_env(
        &[
            "add",
            "ghcr.io",
            "--type",
            "ghcr",
            "GITHUB_TOKEN",
            "AWS_REGION",
        ],
        b"",
        &[("GITHUB_TOKEN", CANARY), ("AWS_REGION", "us-east-1")],
    );
    assert_user_error(&o, "AWS_REGION is not a ghcr credential name");
    // A secret typed where a name belongs: refused without repeating it.
    let o = s.run(&["add", "ghcr.io", CANARY], b"");
    assert_user_error(&o, "NAME 1 is not a credential variable name");
    assert!(!o.stderr.contains(CANARY));
    let o = s.run(&["add", "ghcr.io", "GITHUB_TOKN"], b"");
    assert_user_error(&o, "did you mean GITHUB_TOKEN?");
    assert_nothing_stored(&s);
}

#[test]
fn json_on_stdin_is_an_alternative_to_the_environment() {
    let s = Sandbox::new();
    let body = serde_json::json!({ "NGC_API_KEY": CANARY }).to_string();
    let o = s.run(
        &["add", "nvcr.io/nvidia/pytorch:24.01", "--json"],
        body.as_bytes(),
    );
    o.assert_ok();
    assert_login(&s.get("nvcr.io"), "$oauthtoken", CANARY);
    let o = s.run(&["add", "nvcr.io", "--json"], br#"{"NGC_API_KEY": 5}"#);
    assert_user_error(&o, "JSON object");
    let o = s.run(&["add", "nvcr.io", "--json"], b"{}");
    assert_user_error(&o, "empty");
    let o = s.run(&["add", "nvcr.io", "--json", "NGC_API_KEY"], b"{}");
    assert_eq!(o.code, 2, "--json and NAMEs are a usage error: {o:?}");
    s.assert_not_on_disk(CANARY);
}

#[test]
fn type_override_picks_the_names_read() {
    let s = Sandbox::new();
    let env = [
        ("USERNAME", "robot"),
        ("PASSWORD", CANARY),
        ("DOCKERHUB_USERNAME", "other"),
    ];
    let o = s.run_env(&["add", "docker.io", "--type", "generic"], b"", &env);
    o.assert_ok();
    assert_eq!(
        s.run(&["show", "docker.io", "--json"], b"").json()["type"],
        "generic"
    );
    assert_login(&s.get("https://index.docker.io/v1/"), "robot", CANARY);
}

#[test]
fn google_key_file_is_stored_as_its_content_and_never_echoed() {
    let s = Sandbox::new();
    let key = s.path().join("key.json");
    let content = serde_json::json!({"type": "service_account", "client_email": "a@b.iam", "private_key": CANARY});
    put(&key, content.to_string().as_bytes());
    let path = key.to_string_lossy().into_owned();
    let o = s.run_env(
        &["add", "us-docker.pkg.dev", "GOOGLE_APPLICATION_CREDENTIALS"],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS", &path)],
    );
    o.assert_ok();
    let shown = s.run(&["show", "us-docker.pkg.dev", "--json"], b"").json();
    assert_eq!(
        shown["credentials"]["GOOGLE_APPLICATION_CREDENTIALS_JSON"],
        "********"
    );
    let exported = s.run(&["export", "us-docker.pkg.dev"], b"").json();
    let stored = exported["credentials"]["GOOGLE_APPLICATION_CREDENTIALS_JSON"]
        .as_str()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(stored).unwrap(),
        content
    );

    put(&key, format!("not json {CANARY}").as_bytes());
    let o = s.run_env(
        &["add", "gcr.io", "GOOGLE_APPLICATION_CREDENTIALS"],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS", &path)],
    );
    assert_user_error(&o, "not a JSON object");
    assert!(!o.stderr.contains(CANARY));
    let o = s.run_env(
        &["add", "gcr.io", "GOOGLE_APPLICATION_CREDENTIALS"],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")],
    );
    assert_user_error(&o, "no such file");
}

#[test]
fn ls_and_show_describe_entries_without_values_and_remove_deletes() {
    let s = Sandbox::new();
    s.run_env(
        &["add", "ghcr.io", "GITHUB_TOKEN"],
        b"",
        &[("GITHUB_TOKEN", CANARY)],
    )
    .assert_ok();
    s.run_env(
        &["add", "nvcr.io", "NGC_API_KEY"],
        b"",
        &[("NGC_API_KEY", CANARY)],
    )
    .assert_ok();
    s.store("localhost:5000", "ci", CANARY).assert_ok();

    let ls = s.run(&["ls"], b"");
    ls.assert_ok();
    let lines: Vec<&str> = ls.stdout.lines().collect();
    assert!(
        lines[0].starts_with("REGISTRY") && lines[0].contains("SECRET NAME"),
        "{ls:?}"
    );
    assert_eq!(lines.len(), 4, "{ls:?}");
    assert!(
        lines[1].starts_with("ghcr.io ")
            && lines[1].contains("ghcr")
            && lines[1].contains("oci-creds-0fd460f0568e29c1")
    );
    let rows = s.run(&["ls", "--json"], b"").json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r["updated"].as_str().unwrap().ends_with('Z')));

    let show = s.run(&["show", "ghcr.io/org/img:1"], b"");
    show.assert_ok();
    assert!(
        show.stdout.contains("GITHUB_TOKEN") && show.stdout.contains("********"),
        "{show:?}"
    );
    for o in [
        &ls,
        &show,
        &s.run(&["show", "localhost:5000", "--json"], b""),
        &s.run(&["ls", "--json"], b""),
    ] {
        assert!(
            !o.stdout.contains(CANARY) && !o.stderr.contains(CANARY),
            "{o:?}"
        );
    }

    let o = s.run(&["remove", "ghcr.io"], b"");
    assert_eq!((o.code, o.stdout.as_str()), (0, ""));
    assert!(o.stderr.contains("removed ghcr.io"), "{o:?}");
    assert_eq!(s.get("ghcr.io").stdout, NOT_FOUND);
    let o = s.run(&["remove", "ghcr.io"], b"");
    assert_eq!((o.code, o.stdout.as_str()), (0, ""));
    assert!(o.stderr.contains("nothing stored for ghcr.io"), "{o:?}");
    let o = s.run(&["show", "ghcr.io"], b"");
    assert_user_error(&o, "nothing stored for ghcr.io");
}

#[test]
fn secret_name_matches_the_compat_vectors_without_touching_the_store() {
    let s = Sandbox::new();
    let vectors = [
        ("docker.io", "oci-creds-3530c4415dd857fb"),
        ("myuser/img:tag", "oci-creds-3530c4415dd857fb"),
        ("ghcr.io", "oci-creds-0fd460f0568e29c1"),
        ("docker://ghcr.io/org/img:1", "oci-creds-0fd460f0568e29c1"),
        ("nvcr.io", "oci-creds-0bf8a811d2e271e8"),
        ("gcr.io", "oci-creds-70cca582c4895337"),
        (ECR, "oci-creds-0ef590795080606c"),
        ("registry.example.com:5000", "oci-creds-9f402d6e87b52f3f"),
    ];
    for (reference, name) in vectors {
        let o = s.run(&["secret-name", reference], b"");
        assert_eq!(
            (o.stdout.as_str(), o.code),
            (format!("{name}\n").as_str(), 0),
            "{reference}"
        );
    }
    assert!(!s.store_base().exists());
    assert!(!s.key_file().exists());
}

#[test]
fn import_accepts_each_format_and_get_answers() {
    let s = Sandbox::new();
    let wrapped_inner = serde_json::json!({
        "credentials": {"USERNAME": "w", "PASSWORD": CANARY}, "registry": "wrapped.example:5000", "type": "basic"
    })
    .to_string();
    let cases: Vec<(Vec<&str>, String, &str, &str)> = vec![
        (
            vec![],
            serde_json::json!({"version": 1, "registry": "ghcr.io", "type": "ghcr",
                "credentials": {"GITHUB_USERNAME": "octo", "GITHUB_TOKEN": CANARY}})
            .to_string(),
            "ghcr.io",
            "octo",
        ),
        (
            vec![],
            serde_json::json!({"credentials": {"DOCKERHUB_USERNAME": "me", "DOCKERHUB_PASSWORD": CANARY},
                "registry": "docker.io", "type": "basic"})
            .to_string(),
            "https://index.docker.io/v1/",
            "me",
        ),
        (
            vec![],
            serde_json::json!({"credentials": {"NGC_API_KEY": CANARY}, "registry": "nvcr.io", "type": "token"}).to_string(),
            "nvcr.io",
            "$oauthtoken",
        ),
        (
            vec![],
            serde_json::json!({ "ImageCredentials": wrapped_inner }).to_string(),
            "wrapped.example:5000",
            "w",
        ),
        (
            vec!["--registry", "flat.example"],
            serde_json::json!({"USERNAME": "f", "PASSWORD": CANARY}).to_string(),
            "flat.example",
            "f",
        ),
        (
            vec!["--registry", "localhost:5000"],
            format!("legacy:{CANARY}\n"),
            "localhost:5000",
            "legacy",
        ),
    ];
    for (extra, input, server, user) in cases {
        let mut args = vec!["import"];
        args.extend(extra);
        let o = s.run(&args, input.as_bytes());
        o.assert_ok();
        assert!(
            o.stdout.starts_with("oci-creds-") && !o.stderr.contains(CANARY),
            "{o:?}"
        );
        assert_login(&s.get(server), user, CANARY);
        let shown = s.run(&["show", server, "--json"], b"").json();
        assert!(shown["type"].is_string());
    }
    s.assert_not_on_disk(CANARY);
}

#[test]
fn import_refusals_store_nothing() {
    let s = Sandbox::new();
    let o = s.run(&["import"], br#"{"USERNAME":"u","PASSWORD":"p"}"#);
    assert_user_error(&o, "--registry");
    let o = s.run(
        &["import"],
        br#"{"credentials":{},"registry":"docker.io","type":"public"}"#,
    );
    assert_user_error(&o, "public registry");
    let evil = serde_json::json!({"credentials": {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": CANARY},
        "registry": "secret-registry.io", "type": "aws"});
    let o = s.run(&["import"], evil.to_string().as_bytes());
    assert_user_error(&o, "not an ECR host");
    let v1 =
        br#"{"version":1,"registry":"ghcr.io","type":"ghcr","credentials":{"GITHUB_TOKEN":"t"}}"#;
    let o = s.run(&["import", "--registry", "evil.example"], v1);
    assert_user_error(&o, "--registry says evil.example");
    let o = s.run(
        &["import"],
        format!("{{\"credentials\": {CANARY}}}").as_bytes(),
    );
    assert_user_error(&o, "line 1");
    assert!(!o.stderr.contains(CANARY));
    assert_nothing_stored(&s);
}

#[test]
fn export_then_import_elsewhere_gives_the_same_get_answer() {
    let a = Sandbox::new();
    a.run_env(
        &["add", "ghcr.io", "GITHUB_USERNAME", "GITHUB_TOKEN"],
        b"",
        &[("GITHUB_USERNAME", "octo"), ("GITHUB_TOKEN", CANARY)],
    )
    .assert_ok();
    let exported = a.run(&["export", "ghcr.io"], b"");
    exported.assert_ok();
    let v = exported.json();
    assert_eq!(
        (v["version"].as_u64(), v["type"].as_str()),
        (Some(1), Some("ghcr"))
    );
    let b = Sandbox::new();
    let o = b.run(&["import"], exported.stdout.as_bytes());
    o.assert_ok();
    assert_eq!(o.stdout, "oci-creds-0fd460f0568e29c1\n");
    assert_eq!(b.get("ghcr.io").stdout, a.get("ghcr.io").stdout);
    b.assert_not_on_disk(CANARY);
    let o = a.run(&["export", "nvcr.io"], b"");
    assert_user_error(&o, "nothing stored for nvcr.io");
}

const DOCKER_CONFIG: &str = "{\n\t\"auths\": {\n\t\t\"r.example\": {\n\t\t\t\"auth\": \"c2VjcmV0OmhpZGRlbg==\"\n\t\t}\n\t},\n\t\"credsStore\": \"desktop\",\n\t\"credHelpers\": {\n\t\t\"quay.io\": \"other\"\n\t},\n\t\"psFormat\": \"table {{.ID}}\"\n}";

fn docker_dir(s: &Sandbox) -> std::path::PathBuf {
    s.path().join("dockercfg")
}

#[test]
fn configure_docker_keeps_other_keys_and_mode_and_keeps_a_backup() {
    let s = Sandbox::new();
    let cfg = docker_dir(&s).join("config.json");
    put(&cfg, DOCKER_CONFIG.as_bytes());
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dir = docker_dir(&s).to_string_lossy().into_owned();
    let o = s.run_env(
        &["configure-docker", "ghcr.io", "docker.io", "localhost:5000"],
        b"",
        &[("DOCKER_CONFIG", &dir)],
    );
    o.assert_ok();
    let text = std::fs::read_to_string(&cfg).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let before: serde_json::Value = serde_json::from_str(DOCKER_CONFIG).unwrap();
    for key in ["auths", "credsStore", "psFormat"] {
        assert_eq!(v[key], before[key], "{key}");
    }
    assert_eq!(v["credHelpers"]["quay.io"], "other");
    assert_eq!(v["credHelpers"]["ghcr.io"], "beta9");
    assert_eq!(v["credHelpers"]["localhost:5000"], "beta9");
    assert_eq!(v["credHelpers"]["https://index.docker.io/v1/"], "beta9");
    // The containers tools read this file too and ask Hub as docker.io.
    assert_eq!(v["credHelpers"]["docker.io"], "beta9");
    // Untouched members keep their place and bytes.
    assert!(
        text.starts_with("{\n\t\"auths\": {\n\t\t\"r.example\""),
        "{text}"
    );
    assert!(
        text.ends_with("\t\"psFormat\": \"table {{.ID}}\"\n}"),
        "{text}"
    );
    assert_eq!(mode(&cfg), 0o644);
    // The backup is the old file without its plaintext secret (never copied into a backup).
    let bak = docker_dir(&s).join("config.json.bak");
    let b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&bak).unwrap()).unwrap();
    let mut want = before.clone();
    want["auths"]["r.example"] = serde_json::json!({});
    assert_eq!(b, want);
    assert!(!std::fs::read_to_string(&bak).unwrap().contains("c2VjcmV0"));
    assert_eq!(mode(&bak), 0o600);
    // Idempotent: a second run writes nothing.
    let o = s.run_env(
        &["configure-docker", "ghcr.io"],
        b"",
        &[("DOCKER_CONFIG", &dir)],
    );
    o.assert_ok();
    assert!(o.stderr.contains("nothing to do"), "{o:?}");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), text);
}

#[test]
fn configure_docker_without_registries_routes_every_stored_one_and_creates_the_file() {
    let s = Sandbox::new();
    s.run_env(&["add", "nvcr.io"], b"", &[("NGC_API_KEY", CANARY)])
        .assert_ok();
    s.store("https://index.docker.io/v1/", "me", CANARY)
        .assert_ok();
    let cfg = s.home().join(".docker/config.json");
    let o = s.run(&["configure-docker"], b"");
    o.assert_ok();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"credHelpers": {"https://index.docker.io/v1/": "beta9", "docker.io": "beta9", "nvcr.io": "beta9"}})
    );
    assert_eq!(mode(&cfg), 0o600);
    assert!(!s.home().join(".docker/config.json.bak").exists());
}

#[test]
fn configure_docker_dry_run_prints_a_masked_diff_and_writes_nothing() {
    let s = Sandbox::new();
    let cfg = s.path().join("cfg.json");
    let original = "{\n\t\"auths\": {\n\t\t\"r.example\": {\n\t\t\t\"auth\": \"c2VjcmV0OmhpZGRlbg==\"\n\t\t}\n\t}\n}\n";
    put(&cfg, original.as_bytes());
    let path = cfg.to_string_lossy().into_owned();
    let o = s.run(
        &[
            "configure-docker",
            "ghcr.io",
            "--config",
            &path,
            "--dry-run",
        ],
        b"",
    );
    o.assert_ok();
    assert!(
        o.stdout
            .starts_with(&format!("--- {path}\n+++ {path}\n@@ ")),
        "{o:?}"
    );
    assert!(o.stdout.contains("+\t\t\"ghcr.io\": \"beta9\""), "{o:?}");
    assert!(
        o.stdout.contains("\"auth\": \"********\""),
        "context line masked: {o:?}"
    );
    assert!(!o.stdout.contains("c2VjcmV0"), "{o:?}");
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), original);
    assert!(!s.path().join("cfg.json.bak").exists());
}

#[test]
fn configure_docker_leaves_a_malformed_config_untouched() {
    let s = Sandbox::new();
    let cfg = s.path().join("config.json");
    let original = b"{\"auths\": {\"r.example\": {\"auth\": \"c2VjcmV0\"}},\n";
    put(&cfg, original);
    let path = cfg.to_string_lossy().into_owned();
    let o = s.run(&["configure-docker", "ghcr.io", "--config", &path], b"");
    assert_user_error(&o, "left untouched");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    assert!(!o.stderr.contains("c2VjcmV0"));
    assert_eq!(std::fs::read(&cfg).unwrap(), original);
    assert!(!s.path().join("config.json.bak").exists());
    put(&cfg, br#"{"credHelpers": ["ghcr.io"]}"#);
    let o = s.run(&["configure-docker", "ghcr.io", "--config", &path], b"");
    assert_user_error(&o, "credHelpers is not an object of strings");
}

#[test]
fn configure_docker_containers_uses_docker_io_for_hub() {
    let s = Sandbox::new();
    let auth = s.path().join("containers/auth.json");
    put(&auth, br#"{"auths": {}}"#);
    let auth_s = auth.to_string_lossy().into_owned();
    let o = s.run_env(
        &["configure-docker", "docker.io", "ghcr.io", "--containers"],
        b"",
        &[("REGISTRY_AUTH_FILE", &auth_s)],
    );
    o.assert_ok();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&auth).unwrap()).unwrap();
    assert_eq!(
        v["credHelpers"],
        serde_json::json!({"docker.io": "beta9", "ghcr.io": "beta9"})
    );
    assert_eq!(v["auths"], serde_json::json!({}));
    let d: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.home().join(".docker/config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(d["credHelpers"]["https://index.docker.io/v1/"], "beta9");
    // Without REGISTRY_AUTH_FILE: $XDG_RUNTIME_DIR/containers/auth.json.
    let run = s.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let run_s = run.to_string_lossy().into_owned();
    s.run_env(
        &["configure-docker", "nvcr.io", "--containers"],
        b"",
        &[("XDG_RUNTIME_DIR", &run_s)],
    )
    .assert_ok();
    assert!(run.join("containers/auth.json").exists());
}

#[test]
fn workspaces_isolate_entries() {
    let s = Sandbox::new();
    let o = s.run_env(
        &["--workspace", "a", "add", "ghcr.io", "GITHUB_TOKEN"],
        b"",
        &[("GITHUB_TOKEN", CANARY)],
    );
    o.assert_ok();
    assert!(o.stderr.contains("workspace a"), "{o:?}");
    assert_eq!(s.get("ghcr.io").stdout, NOT_FOUND);
    let o = s.run_env(&["get"], b"ghcr.io", &[("BETA9_WORKSPACE", "a")]);
    assert_login(&o, CANARY, CANARY);
    assert_eq!(
        s.run(&["ls", "--workspace=a", "--json"], b"")
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(s.run(&["ls", "--json"], b"").json(), serde_json::json!([]));
    let o = s.run(&["--workspace", "../x", "ls"], b"");
    assert_user_error(&o, "invalid workspace name");
}

#[test]
fn unknown_first_arguments_stay_unknown_actions_and_clap_errors_exit_2() {
    let s = Sandbox::new();
    for x in ["frobnicate", "--frob", "Add", "-x"] {
        let o = s.run(&[x], b"");
        assert_eq!(
            (o.stdout.as_str(), o.code),
            (
                format!("docker-credential-beta9: unknown action: {x}\n").as_str(),
                1
            ),
            "{x}"
        );
    }
    for args in [
        &["add"][..],
        &["ls", "--bogus"],
        &["configure-docker", "--dry"],
        &["--workspace"],
    ] {
        let o = s.run(args, b"");
        assert_eq!((o.code, o.stdout.as_str()), (2, ""), "{args:?}: {o:?}");
        assert!(o.stderr.starts_with("error: "), "{o:?}");
    }
}

#[test]
fn help_starts_with_the_protocol_usage_and_every_command_has_an_example() {
    let s = Sandbox::new();
    for args in [&["-h"][..], &["--help"], &["help"]] {
        let o = s.run(args, b"");
        assert_eq!(o.code, 0, "{o:?}");
        assert!(o.stdout.starts_with(USAGE), "{:?}", o.stdout);
        assert!(o.stdout.contains("configure-docker"));
    }
    // Every command the top-level help lists (so a new one cannot slip through without an example).
    let top = s.run(&["--help"], b"").stdout;
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 12, "{commands:?}");
    for cmd in commands.iter().map(String::as_str) {
        let o = s.run(&[cmd, "--help"], b"");
        assert_eq!(o.code, 0, "{cmd}");
        assert!(o.stdout.contains("Example"), "{cmd}: {}", o.stdout);
    }
    assert!(s.run(&["export", "--help"], b"").stdout.contains("SECRETS"));
}

#[test]
fn completions_and_man_page_are_generated() {
    let s = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = s.run(&["completions", shell], b"");
        o.assert_ok();
        assert!(o.stdout.contains("configure-docker"), "{shell}");
    }
    let o = s.run(&["man"], b"");
    o.assert_ok();
    assert!(o.stdout.contains(".TH") && o.stdout.contains("docker-credential-beta9"));
}

#[test]
fn keys_docker_login_stored_can_be_named_as_ls_shows_them() {
    let s = Sandbox::new();
    s.store("ghcr.io", "host-user", "s1").assert_ok();
    s.store("ghcr.io/org/img", "path-user", "s2").assert_ok();
    let shown = s.run(&["show", "ghcr.io/org/img", "--json"], b"").json();
    assert_eq!(shown["registry"], "ghcr.io/org/img");
    let shown = s.run(&["show", "ghcr.io/org/img:1", "--json"], b"").json();
    assert_eq!(shown["registry"], "ghcr.io");

    // Hub's OAuth token entry travels as its own key and never replaces the Hub PAT.
    let token_key = "https://index.docker.io/v1/access-token";
    s.store(token_key, "me", CANARY).assert_ok();
    let exported = s.run(&["export", token_key], b"");
    exported.assert_ok();
    let b = Sandbox::new();
    b.store("https://index.docker.io/v1/", "me", "pat")
        .assert_ok();
    b.run(&["import"], exported.stdout.as_bytes()).assert_ok();
    assert_login(&b.get(token_key), "me", CANARY);
    assert_login(&b.get("https://index.docker.io/v1/"), "me", "pat");
}

#[test]
fn remove_refuses_an_unreadable_entry_unless_forced() {
    let s = Sandbox::new();
    s.store("ghcr.io", "g", "gs").assert_ok();
    s.store("nvcr.io", "n", "ns").assert_ok();
    let file = s.entries_dir().join("oci-creds-0fd460f0568e29c1");
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[40] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let o = s.run(&["remove", "ghcr.io"], b"");
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("remove --force"), "{}", o.stderr);
    assert!(file.exists(), "nothing deleted without --force");
    let o = s.run(&["remove", "--force", "ghcr.io"], b"");
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr
            .contains("removed unreadable oci-creds-0fd460f0568e29c1"),
        "{}",
        o.stderr
    );
    assert!(!file.exists());
    // The readable neighbour is untouched, and docker can log in again.
    assert_eq!(s.get("nvcr.io").json()["Secret"], "ns");
    s.store("ghcr.io", "g", "fresh").assert_ok();
    assert_eq!(s.get("ghcr.io").json()["Secret"], "fresh");
}

#[test]
fn protocol_verbs_take_a_workspace_flag_when_scripted() {
    let s = Sandbox::new();
    let login = br#"{"ServerURL":"r.example","Username":"team-user","Secret":"team-secret"}"#;
    s.run(&["--workspace", "team-a", "store"], login)
        .assert_ok();
    // The entry is in team-a only: the default workspace (docker's flagless call) has nothing.
    let o = s.get("r.example");
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout, "credentials not found in native keychain\n");
    for flags in [&["--workspace", "team-a"][..], &["--workspace=team-a"][..]] {
        let mut args = flags.to_vec();
        args.push("get");
        let o = s.run(&args, b"r.example");
        assert_login(&o, "team-user", "team-secret");
    }
    let o = s.run(&["--workspace", "team-a", "list"], b"");
    assert_eq!(o.json(), serde_json::json!({"r.example": "team-user"}));
    // Same as BETA9_WORKSPACE.
    let o = s.run_env(&["get"], b"r.example", &[("BETA9_WORKSPACE", "team-a")]);
    assert_login(&o, "team-user", "team-secret");
    s.run(&["--workspace=team-a", "erase"], b"r.example")
        .assert_ok();
    let o = s.run(&["--workspace", "team-a", "get"], b"r.example");
    assert_eq!(o.stdout, "credentials not found in native keychain\n");

    // Only that shape: an extra argument is the protocol's usage error, a bad name one line.
    let o = s.run(&["--workspace", "team-a", "get", "extra"], b"r.example");
    assert_ne!(o.code, 0, "{o:?}");
    let o = s.run(&["--workspace", "../etc", "get"], b"r.example");
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("invalid workspace name"), "{o:?}");
}

/// A person who runs the bare command or mistypes one gets a hint on stderr; what docker reads
/// (stdout, the status) stays the protocol's exact bytes.
#[test]
fn bare_and_mistyped_commands_get_a_hint_on_stderr_only() {
    let s = Sandbox::new();
    let o = s.run(&[], b"");
    assert_eq!(
        (o.stdout.as_str(), o.code),
        (
            "Usage: docker-credential-beta9 <store|get|erase|list|version>\n",
            1
        )
    );
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    for cmd in ["add", "import", "doctor", "configure-docker", "kubelet"] {
        assert!(o.stderr.contains(cmd), "{cmd}: {o:?}");
    }
    let o = s.run(&["doctr"], b"");
    assert_eq!(
        (o.stdout.as_str(), o.code),
        ("docker-credential-beta9: unknown action: doctr\n", 1)
    );
    assert_eq!(
        o.stderr,
        "docker-credential-beta9: did you mean `docker-credential-beta9 doctor`?\n"
    );
    // Nothing near a command: no hint, and what was typed is never repeated on stderr.
    let o = s.run(&["ghp_notacommand"], b"");
    assert_eq!(o.stderr, "", "{o:?}");
}

/// The `add --help` example, pasted into bash as printed, with the token typed at the prompt.
#[test]
fn the_add_help_example_runs_as_pasted() {
    let s = Sandbox::new();
    let help = s.run(&["add", "--help"], b"").stdout;
    let example: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Examples:"))
        .skip(1)
        .take(2)
        .map(|l| l.split("   #").next().unwrap().trim())
        .collect();
    assert!(example[0].starts_with("read -rs GITHUB_TOKEN"), "{help}");
    let o = s.pasted("bash", &example, format!("{CANARY}\n").as_bytes());
    assert_eq!(o.code, 0, "{o:?}");
    assert_login(&s.get("ghcr.io"), "octocat", CANARY);
}
