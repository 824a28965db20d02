//! Google Artifact Registry / GCR on `get`, against a local token endpoint that verifies the
//! RS256 assertion (tests/it/gcp_env.rs): minting with a service-account key, the token cache, the
//! metadata server, the static forms, and the one-line errors. Records go into the store through
//! the library's own store code (`actions::save`), as `import` will write them.

use crate::gcp_env::GcpStub;
use crate::support::{strace_usable, Sandbox, CANARY};
use docker_credential_beta9::actions;
use docker_credential_beta9::context::Context;
use docker_credential_beta9::credential_type::CredentialType;
use docker_credential_beta9::env::Env;
use docker_credential_beta9::record::{Credentials, Record};
use docker_credential_beta9::registry::Registry;
use secrecy::SecretString;

const AR: &str = "us-docker.pkg.dev";

/// The access token the stub hands out: the CANARY, so the cache is checked for plaintext.
fn token() -> String {
    format!("ya29.{CANARY}")
}

/// Writes a `gcp` record for `registry` with these credentials into the sandbox's store.
fn put_gcp(sb: &Sandbox, registry: &str, creds: &[(&str, &str)]) {
    let mut credentials = Credentials::new();
    for (k, v) in creds {
        credentials.insert(k, SecretString::from(*v));
    }
    let record = Record {
        registry: Registry::from_server_url(registry).unwrap(),
        kind: CredentialType::Gcp,
        credentials,
    };
    let home = sb.home();
    let store = sb.store_base();
    let env = Env::from_pairs([
        ("HOME", home.to_str().expect("utf-8 path")),
        ("BETA9_CREDENTIALS_DIR", store.to_str().expect("utf-8 path")),
    ]);
    let ctx = Context::from_env(env, None).expect("context");
    actions::save(&ctx, &record, None).expect("save record");
}

/// A sandbox holding a `gcp` record for `AR` with the stub's service-account key.
fn sandbox_with_key(stub: &GcpStub) -> Sandbox {
    let sb = Sandbox::new();
    put_gcp(
        &sb,
        AR,
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &stub.key_json())],
    );
    sb
}

/// Through the design documents' record JSON, as `import` takes it.
fn put_record_json(sb: &Sandbox, json: &serde_json::Value) {
    let record = Record::decode(json.to_string().as_bytes(), None).expect("record decodes");
    record.validate().expect("record is valid");
    let home = sb.home();
    let store = sb.store_base();
    let env = Env::from_pairs([
        ("HOME", home.to_str().expect("utf-8 path")),
        ("BETA9_CREDENTIALS_DIR", store.to_str().expect("utf-8 path")),
    ]);
    let ctx = Context::from_env(env, None).expect("context");
    actions::save(&ctx, &record, None).expect("save record");
}

fn get(sb: &Sandbox, registry: &str, env: &[(&str, &str)]) -> crate::support::Out {
    sb.run_env(&["get"], registry.as_bytes(), env)
}

fn assert_login(out: &crate::support::Out, server_url: &str, user: &str, secret: &str) {
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.json(),
        serde_json::json!({"ServerURL": server_url, "Username": user, "Secret": secret}),
        "{out:?}"
    );
}

/// One line on stdout, exit 1, starting with `prefix`, and no secret anywhere in the output.
fn assert_error_line<S: AsRef<str>>(out: &crate::support::Out, prefix: &str, secrets: &[S]) {
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(
        out.stdout.starts_with(prefix),
        "expected {prefix:?}: {out:?}"
    );
    for s in secrets.iter().map(AsRef::as_ref).filter(|s| !s.is_empty()) {
        assert!(
            !out.stdout.contains(s) && !out.stderr.contains(s),
            "leak: {out:?}"
        );
    }
}

fn key_secrets(stub: &GcpStub) -> Vec<String> {
    let pem = stub.pem("key-pkcs8.pem");
    // A line from the middle of the PEM body: any excerpt of the key would contain such a run.
    let body_line = pem.lines().nth(5).unwrap_or_default().to_string();
    vec![CANARY.to_string(), body_line]
}

#[test]
fn get_with_a_service_account_key_mints_a_token_and_answers_oauth2accesstoken() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = sandbox_with_key(&stub);

    let out = get(&sb, AR, &[]);
    assert_login(&out, AR, "oauth2accesstoken", &token());
    assert_eq!(out.stderr, "");
    assert_eq!(stub.count(), 1);
    assert_eq!(stub.last_error(), "", "the stub accepted the assertion");

    // Cached: the second get makes no request.
    let out = get(&sb, AR, &[]);
    assert_login(&out, AR, "oauth2accesstoken", &token());
    assert_eq!(
        stub.count(),
        1,
        "a cache hit must not contact the token endpoint"
    );

    // The cached token is encrypted at rest, like the key that minted it.
    sb.assert_not_on_disk(CANARY);
    for secret in key_secrets(&stub) {
        sb.assert_not_on_disk(&secret);
    }
}

#[test]
fn every_google_registry_with_the_same_key_shares_one_token() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = Sandbox::new();
    let key = stub.key_json();
    for host in [
        AR,
        "europe-west1-docker.pkg.dev",
        "gcr.io",
        "docker.us-central1.rep.pkg.dev",
    ] {
        put_gcp(&sb, host, &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &key)]);
    }
    for host in [
        AR,
        "europe-west1-docker.pkg.dev",
        "gcr.io",
        "docker.us-central1.rep.pkg.dev",
    ] {
        assert_login(&get(&sb, host, &[]), host, "oauth2accesstoken", &token());
    }
    assert_eq!(stub.count(), 1, "one service account, one token");
}

#[test]
fn concurrent_cold_gets_mint_one_token() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = sandbox_with_key(&stub);
    let outs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| get(&sb, AR, &[]))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("get thread"))
            .collect()
    });
    for out in &outs {
        assert_login(out, AR, "oauth2accesstoken", &token());
    }
    assert_eq!(stub.count(), 1, "the per-key lock lets one process mint");
}

#[test]
fn pkcs1_private_keys_sign_too() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = Sandbox::new();
    put_gcp(
        &sb,
        AR,
        &[(
            "GOOGLE_APPLICATION_CREDENTIALS_JSON",
            &stub.key_json_from("key-pkcs1.pem"),
        )],
    );
    assert_login(&get(&sb, AR, &[]), AR, "oauth2accesstoken", &token());
    assert_eq!(stub.last_error(), "");
}

#[test]
fn a_record_imported_as_json_mints_the_same_way() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = Sandbox::new();
    put_record_json(
        &sb,
        &serde_json::json!({
            "version": 1,
            "registry": "us-docker.pkg.dev",
            "type": "gcp",
            "credentials": {"GOOGLE_APPLICATION_CREDENTIALS_JSON": stub.key_json()},
        }),
    );
    assert_login(
        &get(&sb, "https://us-docker.pkg.dev", &[]),
        "https://us-docker.pkg.dev",
        "oauth2accesstoken",
        &token(),
    );
}

#[test]
fn get_with_a_key_the_endpoint_does_not_know_prints_access_denied() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = Sandbox::new();
    let key = stub.key_json_from("unknown-pkcs8.pem");
    put_gcp(&sb, AR, &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &key)]);

    let out = get(&sb, AR, &[]);
    let unknown_pem = stub.pem("unknown-pkcs8.pem");
    let pem_line = unknown_pem.lines().nth(5).unwrap_or_default();
    assert_error_line(
        &out,
        "us-docker.pkg.dev: access denied: ",
        &[CANARY, pem_line],
    );
    assert!(out.stdout.contains(": invalid_grant;"), "{out:?}");
    // The stub's error_description is never quoted.
    assert!(!out.stdout.contains("Signature"), "{out:?}");
    assert_eq!(
        stub.last_error(),
        "Invalid JWT Signature.",
        "refused for its signature"
    );
    assert_eq!(stub.count(), 1, "a refusal is not retried");
}

#[test]
fn throttled_token_endpoint_prints_throttled() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = sandbox_with_key(&stub);
    stub.set_mode("throttle");
    let out = get(&sb, AR, &[]);
    assert_error_line(&out, "us-docker.pkg.dev: throttled: ", &key_secrets(&stub));
    assert_eq!(stub.count(), 1);
}

#[test]
fn a_token_endpoint_500_is_retried_once() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = sandbox_with_key(&stub);
    stub.set_mode("fail500once");
    assert_login(&get(&sb, AR, &[]), AR, "oauth2accesstoken", &token());
    assert_eq!(stub.count(), 2);

    let sb = sandbox_with_key(&stub);
    stub.set_mode("fail500");
    let out = get(&sb, AR, &[]);
    assert_error_line(
        &out,
        "us-docker.pkg.dev: unreachable: ",
        &key_secrets(&stub),
    );
    assert!(out.stdout.contains("HTTP 500"), "{out:?}");
    assert_eq!(stub.count(), 4, "one retry, no more");
}

#[test]
fn a_token_endpoint_that_hangs_gives_one_unreachable_line() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = sandbox_with_key(&stub);
    stub.set_mode("hang");
    let out = get(&sb, AR, &[("BETA9_TIMEOUT", "2")]);
    assert_error_line(&out, "us-docker.pkg.dev: timeout: ", &key_secrets(&stub));
    assert!(
        out.stdout.contains("timeout: no answer from the "),
        "{out:?}"
    );
    assert!(
        out.stdout.contains(" within 2 s (BETA9_TIMEOUT)"),
        "{out:?}"
    );
}

#[test]
fn a_token_endpoint_that_is_down_gives_one_unreachable_line() {
    let Some(mut stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = sandbox_with_key(&stub);
    let secrets = key_secrets(&stub);
    stub.stop();
    let out = get(&sb, AR, &[("BETA9_TIMEOUT", "2")]);
    assert_error_line(
        &out,
        "us-docker.pkg.dev: unreachable: token endpoint 127.0.0.1:",
        &secrets,
    );
    assert!(out.stdout.contains("connection refused"), "{out:?}");
}

#[test]
fn a_nearly_expired_cached_token_is_refreshed_and_used_if_refreshing_fails() {
    // 200 s tokens are inside the 300 s refresh margin at once, but usable.
    let Some(stub) = GcpStub::start_with(&token(), &["--expires-in", "200"]) else {
        return;
    };
    let sb = sandbox_with_key(&stub);
    assert_login(&get(&sb, AR, &[]), AR, "oauth2accesstoken", &token());
    assert_login(&get(&sb, AR, &[]), AR, "oauth2accesstoken", &token());
    assert_eq!(stub.count(), 2, "a stale token is refreshed");

    stub.set_mode("invalid_grant");
    let out = get(&sb, AR, &[]);
    assert_login(&out, AR, "oauth2accesstoken", &token());
    assert!(out.stderr.contains("using the cached token"), "{out:?}");
    assert!(!out.stderr.contains(CANARY), "{out:?}");
}

#[test]
fn a_token_handed_out_nearly_dead_is_refused() {
    let Some(stub) = GcpStub::start_with(&token(), &["--expires-in", "5"]) else {
        return;
    };
    let sb = sandbox_with_key(&stub);
    let out = get(&sb, AR, &[]);
    assert_error_line(&out, "us-docker.pkg.dev: expired: ", &[CANARY]);
}

#[test]
fn a_malformed_key_is_a_bad_record_error_naming_the_entry_not_the_content() {
    let sb = Sandbox::new();
    put_gcp(
        &sb,
        AR,
        &[(
            "GOOGLE_APPLICATION_CREDENTIALS_JSON",
            &format!("{{\"private_key\": {CANARY}"),
        )],
    );
    let out = get(&sb, AR, &[]);
    let name = Registry::from_server_url(AR)
        .unwrap()
        .secret_name()
        .to_string();
    assert_error_line(
        &out,
        &format!("stored entry {name} is not a valid credential record: "),
        &[CANARY],
    );
    assert!(
        out.stdout.contains("GOOGLE_APPLICATION_CREDENTIALS_JSON"),
        "{out:?}"
    );

    let sb = Sandbox::new();
    let key = serde_json::json!({
        "type": "service_account",
        "client_email": "x@y",
        "private_key": format!("-----BEGIN PRIVATE KEY-----\n{CANARY}\n-----END PRIVATE KEY-----\n"),
        "token_uri": "http://127.0.0.1:9/token",
    });
    put_gcp(
        &sb,
        AR,
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &key.to_string())],
    );
    let out = get(&sb, AR, &[]);
    assert_error_line(&out, &format!("stored entry {name} "), &[CANARY]);
    assert!(out.stdout.contains("not an RSA private key"), "{out:?}");
}

#[test]
fn a_key_whose_token_uri_is_plain_http_to_another_host_is_refused_before_sending() {
    let sb = Sandbox::new();
    let key = serde_json::json!({
        "type": "service_account",
        "client_email": "x@y",
        "private_key": "unused",
        "token_uri": "http://oauth2.googleapis.com/token",
    });
    put_gcp(
        &sb,
        AR,
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &key.to_string())],
    );
    let out = get(&sb, AR, &[]);
    assert_error_line(&out, "stored entry ", &[CANARY]);
    assert!(out.stdout.contains("must be an https URL"), "{out:?}");
}

#[test]
fn get_through_the_metadata_server_sends_metadata_flavor_and_caches() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = Sandbox::new();
    put_gcp(&sb, AR, &[("GCP_METADATA", "1")]);
    let env = [("GCE_METADATA_HOST", stub.metadata_host.as_str())];
    let out = get(&sb, AR, &env);
    assert_login(&out, AR, "oauth2accesstoken", &token());
    assert_eq!(stub.last_flavor(), "Google");
    assert_eq!(stub.count(), 1);
    assert_login(&get(&sb, AR, &env), AR, "oauth2accesstoken", &token());
    assert_eq!(
        stub.count(),
        1,
        "a cache hit must not contact the metadata server"
    );
    sb.assert_not_on_disk(CANARY);
}

#[test]
fn the_metadata_stub_refuses_requests_without_metadata_flavor() {
    // The kit itself: without the header there is no token, so the test above proves we send it.
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let path = "/computeMetadata/v1/instance/service-accounts/default/token";
    let (code, body) = stub.get(path, &[]);
    assert_eq!(code, 403);
    assert!(!body.contains(CANARY));
    let (code, body) = stub.get(path, &[("Metadata-Flavor", "Google")]);
    assert_eq!(code, 200);
    assert!(body.contains(CANARY));
}

#[test]
fn a_metadata_server_that_is_down_gives_one_unreachable_line() {
    let Some(mut stub) = GcpStub::start(&token()) else {
        return;
    };
    let host = stub.metadata_host.clone();
    stub.stop();
    let sb = Sandbox::new();
    put_gcp(&sb, AR, &[("GCP_METADATA", "1")]);
    let out = get(
        &sb,
        AR,
        &[("GCE_METADATA_HOST", &host), ("BETA9_TIMEOUT", "2")],
    );
    assert_error_line(
        &out,
        &format!("us-docker.pkg.dev: unreachable: metadata server {host}: "),
        &[CANARY],
    );
}

#[test]
fn the_metadata_server_is_never_asked_unless_the_record_says_so() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let env = [("GCE_METADATA_HOST", stub.metadata_host.as_str())];

    let sb = Sandbox::new();
    put_gcp(&sb, AR, &[("GCP_ACCESS_TOKEN", "ya29.static")]);
    assert_login(&get(&sb, AR, &env), AR, "oauth2accesstoken", "ya29.static");

    let sb = Sandbox::new();
    put_gcp(&sb, AR, &[("GCP_METADATA", "0")]);
    let out = get(&sb, AR, &env);
    assert_error_line(&out, "stored entry ", &[CANARY]);
    assert!(out.stdout.contains("GCP_METADATA=1"), "{out:?}");

    assert_eq!(stub.count(), 0);
}

#[test]
fn a_non_google_host_never_gets_a_google_token() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = Sandbox::new();
    let key = stub.key_json();
    for host in [
        "registry.example.com",
        "notgcr.io",
        "us-docker.pkg.dev.evil.example",
    ] {
        put_gcp(&sb, host, &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &key)]);
        let out = get(&sb, host, &[]);
        assert_error_line(&out, &format!("{host}: "), &key_secrets(&stub));
        assert!(out.stdout.contains("nothing was sent"), "{out:?}");
    }
    let sb = Sandbox::new();
    put_gcp(&sb, "registry.example.com", &[("GCP_METADATA", "1")]);
    let out = get(
        &sb,
        "registry.example.com",
        &[("GCE_METADATA_HOST", &stub.metadata_host)],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        stub.count(),
        0,
        "neither the token endpoint nor the metadata server was contacted"
    );
}

#[test]
fn a_stored_access_token_is_answered_and_refused_once_expired() {
    let sb = Sandbox::new();
    put_gcp(
        &sb,
        AR,
        &[
            ("GCP_ACCESS_TOKEN", CANARY),
            ("GCP_ACCESS_TOKEN_EXPIRY", "2999-01-01T00:00:00Z"),
        ],
    );
    assert_login(&get(&sb, AR, &[]), AR, "oauth2accesstoken", CANARY);

    let sb = Sandbox::new();
    put_gcp(
        &sb,
        AR,
        &[
            ("GCP_ACCESS_TOKEN", CANARY),
            ("GCP_ACCESS_TOKEN_EXPIRY", "1700000000"),
        ],
    );
    let out = get(&sb, AR, &[]);
    assert_error_line(&out, "us-docker.pkg.dev: expired: ", &[CANARY]);
}

#[test]
fn json_key_logins_from_docker_login_come_back_as_stored() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = Sandbox::new();
    let key = stub.key_json();
    sb.store("https://us-docker.pkg.dev", "_json_key", &key)
        .assert_ok();
    assert_login(
        &get(&sb, "https://us-docker.pkg.dev", &[]),
        "https://us-docker.pkg.dev",
        "_json_key",
        &key,
    );

    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
    sb.store("gcr.io", "_json_key_base64", &b64).assert_ok();
    assert_login(&get(&sb, "gcr.io", &[]), "gcr.io", "_json_key_base64", &b64);

    let list = sb.list();
    assert_eq!(list.json()["https://us-docker.pkg.dev"], "_json_key");
    assert_eq!(stub.count(), 0, "static logins mint nothing");
    for secret in key_secrets(&stub) {
        sb.assert_not_on_disk(&secret);
    }
}

/// Guarded like ecr::a_cached_get_opens_no_socket: under BETA9_REQUIRE_TOOLS=1 a missing or
/// unusable strace fails, and the cold (minting) get must show a socket, so the method sees them.
#[test]
fn a_cache_hit_opens_no_socket() {
    if !strace_usable("gcp::a_cache_hit_opens_no_socket") {
        return;
    }
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = sandbox_with_key(&stub);
    let (cold_out, cold) = sb.run_traced("network", &["get"], AR.as_bytes(), &[]);
    assert_login(&cold_out, AR, "oauth2accesstoken", &token());
    assert!(
        cold.contains("socket("),
        "the cold (minting) get opened no socket?\n{cold}"
    );
    assert_eq!(stub.count(), 1);

    let (hot_out, hot) = sb.run_traced("network", &["get"], AR.as_bytes(), &[]);
    assert_login(&hot_out, AR, "oauth2accesstoken", &token());
    assert!(
        !hot.contains("socket("),
        "a cache hit opened a socket:\n{hot}"
    );
    assert_eq!(stub.count(), 1);
}

#[test]
fn an_unusable_token_cache_costs_caching_not_the_answer() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = sandbox_with_key(&stub);
    // A cache directory that cannot exist (its parent is a file), as on a read-only or full disk.
    let env = [("BETA9_CACHE_DIR", "/dev/null/beta9-cache")];
    let out = get(&sb, AR, &env);
    assert_login(&out, AR, "oauth2accesstoken", &token());
    assert!(out.stderr.contains("token cache unavailable"), "{out:?}");
    assert!(!out.stderr.contains(&token()));
    let again = get(&sb, AR, &env);
    assert_login(&again, AR, "oauth2accesstoken", &token());
    assert_eq!(stub.count(), 2, "no cache, so every get asks");
}

/// The secrets of the stub's `authorized_user` file.
fn user_secrets(stub: &GcpStub) -> Vec<String> {
    let user: serde_json::Value = serde_json::from_str(&stub.user_json()).unwrap();
    vec![
        CANARY.to_string(),
        user["client_secret"].as_str().unwrap().to_string(),
        user["refresh_token"].as_str().unwrap().to_string(),
    ]
}

#[test]
fn a_gcloud_user_login_file_mints_tokens_with_its_refresh_token() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    // As a person stores it: the file gcloud wrote, named by GOOGLE_APPLICATION_CREDENTIALS and
    // read once by `add`.
    let sb = Sandbox::new();
    let file = sb.path().join("application_default_credentials.json");
    std::fs::write(&file, stub.user_json()).unwrap();
    let o = sb.run_env(
        &["add", AR, "GOOGLE_APPLICATION_CREDENTIALS"],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS", file.to_str().unwrap())],
    );
    o.assert_ok();
    std::fs::remove_file(&file).unwrap();
    let shown = sb.run(&["show", AR, "--json"], b"").json();
    assert_eq!(shown["type"], "gcp", "{shown}");

    let out = get(&sb, AR, &[]);
    assert_login(&out, AR, "oauth2accesstoken", &token());
    assert_eq!(
        stub.last_error(),
        "",
        "the stub accepted the refresh-token grant"
    );
    assert_eq!(stub.count(), 1);
    // Cached, and shared by every Google registry using the same file.
    sb.run_env(
        &["add", "gcr.io", "GOOGLE_APPLICATION_CREDENTIALS_JSON"],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &stub.user_json())],
    )
    .assert_ok();
    assert_login(&get(&sb, AR, &[]), AR, "oauth2accesstoken", &token());
    assert_login(
        &get(&sb, "gcr.io", &[]),
        "gcr.io",
        "oauth2accesstoken",
        &token(),
    );
    assert_eq!(stub.count(), 1);
    for secret in user_secrets(&stub) {
        sb.assert_not_on_disk(&secret);
    }
}

#[test]
fn a_revoked_refresh_token_says_to_log_in_again() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let sb = Sandbox::new();
    // Another refresh token than the one the endpoint issued: what a revoked one looks like.
    let mut user: serde_json::Value = serde_json::from_str(&stub.user_json()).unwrap();
    user["refresh_token"] = serde_json::json!(format!("1//0gREVOKED-{CANARY}"));
    put_gcp(
        &sb,
        AR,
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &user.to_string())],
    );
    let out = get(&sb, AR, &[]);
    let mut secrets = user_secrets(&stub);
    secrets.push(user["refresh_token"].as_str().unwrap().to_string());
    assert_error_line(&out, "us-docker.pkg.dev: access denied: ", &secrets);
    assert!(out.stdout.contains("invalid_grant"), "{out:?}");
    assert!(
        out.stdout.contains("gcloud auth application-default login"),
        "{out:?}"
    );
    assert_eq!(stub.last_error(), "wrong refresh_token");
}

#[test]
fn credential_files_that_cannot_mint_are_refused_by_add() {
    let sb = Sandbox::new();
    for (json, words) in [
        (
            format!(r#"{{"type":"external_account","audience":"{CANARY}"}}"#),
            "external_account",
        ),
        (
            format!(r#"{{"type":"authorized_user","client_id":"c","client_secret":"{CANARY}"}}"#),
            "refresh_token",
        ),
    ] {
        let o = sb.run_env(
            &["add", AR, "GOOGLE_APPLICATION_CREDENTIALS_JSON"],
            b"",
            &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &json)],
        );
        assert_eq!(o.code, 1, "{o:?}");
        assert!(o.stderr.contains(words), "{o:?}");
        assert!(
            !o.stderr.contains(CANARY) && !o.stdout.contains(CANARY),
            "{o:?}"
        );
    }
    assert_eq!(sb.list().stdout, "{}\n");
}

#[test]
fn workload_identity_federation_from_a_token_file_impersonates_the_service_account() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let mut sb = Sandbox::new();
    // The stub stands in for Google's hosts: the operator's setting, never the record's.
    sb.set_env("BETA9_GOOGLE_ENDPOINT_ORIGIN", &stub.base());
    // As on a Kubernetes node outside Google: a projected service-account token in a file.
    let config = stub.external_json(
        serde_json::json!({"file": stub.subject_path(), "format": {"type": "text"}}),
        true,
    );
    sb.run_env(
        &["add", AR, "GOOGLE_APPLICATION_CREDENTIALS_JSON"],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &config)],
    )
    .assert_ok();
    // With every diagnostic asked for, even from the HTTP client's crates.
    let out = get(
        &sb,
        AR,
        &[(
            "BETA9_LOG",
            "trace,ureq=trace,ureq_proto=trace,rustls=trace",
        )],
    );
    assert_login(&out, AR, "oauth2accesstoken", &token());
    assert!(
        out.stderr.contains("Google's STS"),
        "logging is on: {out:?}"
    );
    assert_eq!(stub.last_error(), "", "STS and IAM Credentials accepted");
    assert_eq!(
        stub.count(),
        2,
        "one exchange at the STS, one impersonation"
    );
    // Neither the subject token, the federated token nor the final one reaches stderr.
    assert!(
        !out.stderr.contains("sts-") && !out.stderr.contains(CANARY),
        "{out:?}"
    );
    // Cached like any minted token.
    assert_login(&get(&sb, AR, &[]), AR, "oauth2accesstoken", &token());
    assert_eq!(stub.count(), 2);
    let subject = std::fs::read_to_string(stub.subject_path()).unwrap();
    assert!(!out.stderr.contains(&subject));
    sb.assert_not_on_disk(&subject);
    sb.assert_not_on_disk(CANARY);
}

#[test]
fn workload_identity_federation_from_a_local_url_uses_the_federated_token() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let mut sb = Sandbox::new();
    sb.set_env("BETA9_GOOGLE_ENDPOINT_ORIGIN", &stub.base());
    // As on an Azure VM: the subject token from the instance's identity endpoint, JSON format;
    // no impersonation, so the federated token itself is the answer.
    let config = stub.external_json(
        serde_json::json!({
            "url": format!("{}/subject", stub.base()),
            "headers": {"Metadata": "True"},
            "format": {"type": "json", "subject_token_field_name": "access_token"},
        }),
        false,
    );
    put_gcp(&sb, AR, &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &config)]);
    let out = get(&sb, AR, &[]);
    assert_eq!(out.code, 0, "{out:?}");
    let secret = out.json()["Secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("sts-"), "the federated token: {out:?}");
    assert_eq!(stub.count(), 1);
    assert_eq!(stub.last_error(), "");
}

#[test]
fn workload_identity_federation_failures_are_one_line_and_never_leave_google() {
    let Some(stub) = GcpStub::start(&token()) else {
        return;
    };
    let mut sb = Sandbox::new();
    sb.set_env("BETA9_GOOGLE_ENDPOINT_ORIGIN", &stub.base());
    // The subject token file is missing: one line naming it.
    let gone = sb.path().join("no-such-token");
    let config = stub.external_json(serde_json::json!({"file": gone}), true);
    put_gcp(&sb, AR, &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &config)]);
    let out = get(&sb, AR, &[]);
    assert_error_line(&out, "us-docker.pkg.dev: access denied: ", &[CANARY]);
    assert!(
        out.stdout.contains("no-such-token does not exist"),
        "{out:?}"
    );
    assert_eq!(stub.count(), 0);

    // A subject token the pool does not accept: the STS refusal, with what it most likely means.
    let wrong = sb.path().join("wrong-token");
    std::fs::write(&wrong, format!("eyJ.{CANARY}")).unwrap();
    let config = stub.external_json(serde_json::json!({"file": wrong}), true);
    put_gcp(&sb, AR, &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &config)]);
    let out = get(&sb, AR, &[]);
    assert_error_line(
        &out,
        "us-docker.pkg.dev: access denied: Google STS ",
        &[CANARY],
    );
    assert!(out.stdout.contains("invalid_grant"), "{out:?}");
    assert!(out.stdout.contains("subject token"), "{out:?}");
    assert_eq!(stub.last_error(), "wrong subject_token");

    // A file that would send this machine's identity anywhere but Google is refused by `add`.
    let mut evil: serde_json::Value = serde_json::from_str(
        &stub.external_json(serde_json::json!({"file": stub.subject_path()}), false),
    )
    .unwrap();
    evil["token_url"] = serde_json::json!("https://sts.evil.example/v1/token");
    let o = sb.run_env(
        &["add", "gcr.io", "GOOGLE_APPLICATION_CREDENTIALS_JSON"],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS_JSON", &evil.to_string())],
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("googleapis.com"), "{o:?}");
}
