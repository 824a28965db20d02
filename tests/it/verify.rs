//! `add … --verify` and `import --verify` against real registries: Debian's `docker-registry` with
//! htpasswd (Basic), the same registry behind the token server (Bearer, per-repository rights:
//! tests/support/registry_token_server.py), a port nothing listens on, and moto for ECR. A
//! refused or unreachable check is one stderr line, exit 1, and nothing in the store; an accepted
//! one stores the record as `add`/`import` always did. Runs are bounded by `BETA9_TIMEOUT` and a
//! 60 s kill; nothing is timed.

use crate::doctor::{token_world_with_image, USER};
use crate::moto_env::Moto;
use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{free_port, Out, Sandbox, CANARY};
use std::time::Duration;

const WRONG: &str = "not-the-password";
const REPO: &str = "beta9/tiny";
const TAG: &str = "v1";

fn sandbox() -> Sandbox {
    let mut s = Sandbox::new();
    s.set_env("BETA9_TIMEOUT", "5");
    s
}

/// The helper with `env` added, killed after 60 s.
fn bounded(s: &Sandbox, args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Out {
    let mut c = s.cmd(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = kit::run_bounded_stdin(&mut c, Some(stdin), Duration::from_secs(60));
    let o = Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    };
    for secret in [CANARY, WRONG] {
        assert!(
            !o.stdout.contains(secret) && !o.stderr.contains(secret),
            "a password was printed: {o:?}"
        );
    }
    o
}

/// `add REF USERNAME PASSWORD --verify` with the values in add's environment only.
fn add(s: &Sandbox, reference: &str, password: &str, extra: &[&str]) -> Out {
    let mut args = vec!["add", reference, "USERNAME", "PASSWORD"];
    args.extend_from_slice(extra);
    bounded(s, &args, &[("USERNAME", USER), ("PASSWORD", password)], b"")
}

/// Exit 1, nothing on stdout, one `error: …` line holding `words`.
fn refused(o: &Out, words: &str) {
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout, "", "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    assert!(o.stderr.starts_with("error: "), "{o:?}");
    assert!(o.stderr.contains(words), "lacks {words:?}: {o:?}");
    assert!(o.stderr.contains("nothing was stored"), "{o:?}");
}

fn stored(s: &Sandbox) -> serde_json::Value {
    s.list().json()
}

fn nothing_stored(s: &Sandbox) {
    assert_eq!(stored(s), serde_json::json!({}), "something was stored");
}

/// An htpasswd registry holding `REPO:TAG`.
fn basic_world() -> Registry {
    let reg = Registry::start(USER, CANARY);
    let auth = reg.dir().join("push-auth.json");
    kit::write_plain_auth_file(&auth, &reg.host, USER, CANARY);
    kit::push_tiny_image(&reg, REPO, TAG, &auth);
    std::fs::remove_file(&auth).unwrap();
    reg
}

#[test]
fn add_verify_stores_nothing_when_the_registry_rejects_the_password() {
    let t = "verify::add_verify_stores_nothing_when_the_registry_rejects_the_password";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = basic_world();
    let s = sandbox();
    let o = add(&s, &reg.host, WRONG, &["--verify"]);
    refused(
        &o,
        &format!("{} rejected the login: 401 UNAUTHORIZED", reg.host),
    );
    nothing_stored(&s);

    // The right password is checked, then stored.
    let o = add(&s, &reg.host, CANARY, &["--verify"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr
            .contains(&format!("verified: {} accepted the login", reg.host)),
        "{o:?}"
    );
    assert_eq!(stored(&s), serde_json::json!({ &reg.host: USER }));
    let got = s.get(&reg.host);
    got.assert_ok();
    assert_eq!(got.json()["Secret"], CANARY);

    // A wrong password over the stored one is refused and leaves the stored one as it was.
    let o = add(&s, &reg.host, WRONG, &["--verify"]);
    refused(&o, "rejected the login: 401 UNAUTHORIZED");
    assert_eq!(s.get(&reg.host).json()["Secret"], CANARY);

    // At trace level neither password appears anywhere (`bounded` checks both streams).
    for pw in [WRONG, CANARY] {
        let o = bounded(
            &s,
            &["add", &reg.host, "USERNAME", "PASSWORD", "--verify"],
            &[("USERNAME", USER), ("PASSWORD", pw), ("BETA9_LOG", "trace")],
            b"",
        );
        assert_eq!(o.code, if pw == WRONG { 1 } else { 0 }, "{o:?}");
    }

    // Without --verify nothing changes from before: the registry is not asked.
    let o = add(&s, &reg.host, WRONG, &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!o.stderr.contains("verified"), "{o:?}");
}

#[test]
fn add_verify_of_an_image_checks_a_pull_of_its_manifest() {
    let t = "verify::add_verify_of_an_image_checks_a_pull_of_its_manifest";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = basic_world();
    let s = sandbox();
    let missing = format!("{}/beta9/missing:{TAG}", reg.host);
    let o = add(&s, &missing, CANARY, &["--verify"]);
    refused(
        &o,
        &format!(
            "{} accepted the login but has no beta9/missing:{TAG}: 404",
            reg.host
        ),
    );
    nothing_stored(&s);
    let image = format!("{}/{REPO}:{TAG}", reg.host);
    let o = add(&s, &image, CANARY, &["--verify"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains(&format!(
            "verified: {} accepted the login and a pull of {REPO}:{TAG}",
            reg.host
        )),
        "{o:?}"
    );
    assert_eq!(stored(&s), serde_json::json!({ &reg.host: USER }));
}

/// The token registry: the login is judged by the token endpoint, the pull by the scope it grants.
#[test]
fn add_verify_over_token_auth_checks_the_login_and_the_repositorys_pull_rights() {
    let t = "verify::add_verify_over_token_auth_checks_the_login_and_the_repositorys_pull_rights";
    let Some((_w, host)) = token_world_with_image(t) else {
        return;
    };
    let s = sandbox();

    // The login alone (a bare host): the token endpoint without a scope, as `docker login` asks.
    let o = add(&s, &host, WRONG, &["--verify"]);
    refused(&o, &format!("{host} rejected the login: 401 UNAUTHORIZED"));
    nothing_stored(&s);

    // An image the account may not pull: the token endpoint refuses that scope.
    let secret_image = format!("{host}/beta9/secret:{TAG}");
    let o = add(&s, &secret_image, CANARY, &["--verify"]);
    refused(
        &o,
        &format!("{host} refused a pull of beta9/secret:{TAG} with this login: 403 DENIED"),
    );
    nothing_stored(&s);

    // A wrong password with the image form is the login's failure.
    let image = format!("{host}/{REPO}:{TAG}");
    let o = add(&s, &image, WRONG, &["--verify"]);
    refused(&o, &format!("{host} rejected the login: 401 UNAUTHORIZED"));
    nothing_stored(&s);

    // The image it may pull: stored.
    let o = add(&s, &image, CANARY, &["--verify"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr.contains(&format!(
            "verified: {host} accepted the login and a pull of {REPO}:{TAG}"
        )),
        "{o:?}"
    );
    assert_eq!(stored(&s), serde_json::json!({ &host: USER }));

    // The bare host with the right password.
    let s = sandbox();
    let o = add(&s, &host, CANARY, &["--verify"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(stored(&s), serde_json::json!({ &host: USER }));
}

#[test]
fn add_verify_with_nothing_listening_is_one_line_and_stores_nothing() {
    let host = format!("127.0.0.1:{}", free_port());
    let s = sandbox();
    for form in [host.clone(), format!("{host}/{REPO}:{TAG}")] {
        let o = add(&s, &form, CANARY, &["--verify"]);
        refused(
            &o,
            &format!("cannot verify the login: cannot reach {host}: https: "),
        );
        assert!(o.stderr.contains("http: connection refused"), "{o:?}");
        nothing_stored(&s);
    }
    // --plain-http: straight to http, no https attempt.
    let o = add(&s, &host, CANARY, &["--verify", "--plain-http"]);
    refused(
        &o,
        &format!("cannot reach {host}: http: connection refused"),
    );
    assert!(!o.stderr.contains("https:"), "{o:?}");
    nothing_stored(&s);
    // --plain-http belongs to --verify.
    let o = add(&s, &host, CANARY, &["--plain-http"]);
    assert_eq!(o.code, 2, "{o:?}");
    nothing_stored(&s);
    // Without --verify the registry is not asked: stored as before.
    add(&s, &host, CANARY, &[]).assert_ok();
    assert_eq!(stored(&s), serde_json::json!({ &host: USER }));
}

#[test]
fn import_verify_stores_a_record_only_when_the_registry_accepts_it() {
    let t = "verify::import_verify_stores_a_record_only_when_the_registry_accepts_it";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = basic_world();
    let s = sandbox();
    let record = |password: &str| {
        serde_json::json!({
            "registry": reg.host,
            "type": "basic",
            "credentials": {"USERNAME": USER, "PASSWORD": password},
        })
        .to_string()
    };
    // A loopback registry is the operator's to open (docs/records.md, "Verify targets").
    let allow = format!("verify-host:{}", reg.host);
    let allow = [("BETA9_IMPORT_ALLOW", allow.as_str())];
    let o = bounded(
        &s,
        &["import", "--verify"],
        &allow,
        record(WRONG).as_bytes(),
    );
    refused(
        &o,
        &format!("{} rejected the login: 401 UNAUTHORIZED", reg.host),
    );
    nothing_stored(&s);
    // The scheduler's wrapped ImageCredentials too.
    let wrapped = serde_json::json!({ "ImageCredentials": record(CANARY) }).to_string();
    let o = bounded(&s, &["import", "--verify"], &allow, wrapped.as_bytes());
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stderr.contains("verified: "), "{o:?}");
    assert_eq!(stored(&s), serde_json::json!({ &reg.host: USER }));
    // Unreachable: one line, nothing stored.
    let s = sandbox();
    let gone = format!("127.0.0.1:{}", free_port());
    let rec = serde_json::json!({"registry": gone, "type": "basic", "credentials": {"USERNAME": USER, "PASSWORD": CANARY}}).to_string();
    let o = bounded(
        &s,
        &["import", "--verify"],
        &[("BETA9_IMPORT_ALLOW", &format!("verify-host:{gone}"))],
        rec.as_bytes(),
    );
    refused(&o, &format!("cannot reach {gone}"));
    nothing_stored(&s);
}

// ---------------------------------------------------------------------------------------------
// ECR (moto): the check is one mint.

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

fn add_keys(s: &Sandbox, akid: &str, secret: &str) -> Out {
    bounded(
        s,
        &[
            "add",
            ECR,
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "--verify",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", akid),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ],
        b"",
    )
}

#[test]
fn add_verify_of_ecr_keys_mints_once_and_stores_only_accepted_keys() {
    let Some(moto) = Moto::start() else { return };
    let mut s = sandbox();
    s.set_env("AWS_ENDPOINT_URL_ECR", &moto.endpoint);

    // A new store (no key yet): the check mints without caching and creates nothing.
    moto.set_mode("deny");
    let o = add_keys(&s, "AKIABETA9VERIFY00001", CANARY);
    refused(&o, &format!("{ECR}: access denied"));
    assert!(!o.stderr.contains("AKIABETA9VERIFY00001"), "{o:?}");
    nothing_stored(&s);
    assert_eq!(moto.count(), 1, "one mint, no retry of a refusal");

    moto.set_mode("normal");
    let o = add_keys(&s, "AKIABETA9VERIFY00001", CANARY);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stderr
            .contains("verified: the aws token service accepted the keys"),
        "{o:?}"
    );
    assert_eq!(stored(&s), serde_json::json!({ ECR: "AWS" }));
    assert_eq!(moto.count(), 2);
    s.get(ECR).assert_ok();
    assert_eq!(moto.count(), 3, "the first store had no key to cache with");

    // Rotated keys into a store that has its key: the check's token is the one `get` answers.
    let o = add_keys(&s, "AKIABETA9VERIFY00002", CANARY);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(moto.count(), 4);
    assert_eq!(moto.last_akid(), "AKIABETA9VERIFY00002");
    let got = s.get(ECR);
    got.assert_ok();
    assert_eq!(got.json()["Username"], "AWS");
    assert_eq!(moto.count(), 4, "the check's token is reused");

    // Rejected keys over a stored record leave the stored one in place.
    moto.set_mode("accessdenied");
    let o = add_keys(&s, "AKIABETA9VERIFY00003", CANARY);
    refused(&o, &format!("{ECR}: access denied"));
    moto.set_mode("normal");
    s.get(ECR).assert_ok();
    assert_eq!(moto.count(), 5, "the stored keys' token is still cached");
    s.assert_not_on_disk(CANARY);
}
