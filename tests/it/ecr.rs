//! Amazon ECR `get` against a real AWS API emulator (moto, via `moto_env`): what docker gets, how
//! often the API is called, what happens when it is down, refuses, or throttles. Each test has its
//! own emulator and sandbox. Without python3/moto the tests skip (BETA9_REQUIRE_TOOLS=1 fails them).

use crate::moto_env::Moto;
use crate::support::{free_port, strace_usable, Out, Sandbox, CANARY};
use docker_credential_beta9::actions;
use docker_credential_beta9::context::Context;
use docker_credential_beta9::env::Env;
use docker_credential_beta9::record::Record;

const ACCOUNT: &str = "123456789012";
const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// moto's fixed password for ACCOUNT (docs/ecr.md, "Testing against moto").
const PASSWORD: &str = "123456789012-auth-token";
const AKID: &str = "AKIABETA9RECORD00001";
const SECRET: &str = "record-secret-key-0001";

/// A sandbox whose ECR calls go to `moto`.
fn sandbox(moto: &Moto) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", &moto.endpoint);
    sb
}

/// `add HOST AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY` with the values in add's environment only.
fn add_keys(sb: &Sandbox, host: &str, akid: &str, secret: &str) {
    sb.run_env(
        &["add", host, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        b"",
        &[
            ("AWS_ACCESS_KEY_ID", akid),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ],
    )
    .assert_ok();
}

fn expected(host: &str, password: &str) -> serde_json::Value {
    serde_json::json!({"ServerURL": host, "Username": "AWS", "Secret": password})
}

/// One failed `get`: exit 1, exactly one stdout line naming the registry.
fn assert_one_line_failure(out: &Out, registry: &str, class: &str) {
    assert_eq!(out.code, 1, "{out:?}");
    let line = out.stdout.trim_end_matches('\n');
    assert!(!line.contains('\n'), "more than one line: {out:?}");
    assert!(
        line.starts_with(registry),
        "does not name {registry}: {out:?}"
    );
    assert!(line.contains(class), "no `{class}`: {out:?}");
}

fn assert_no_keys(out: &Out, keys: &[&str]) {
    for k in keys {
        assert!(!out.stdout.contains(k), "{k} on stdout: {out:?}");
        assert!(!out.stderr.contains(k), "{k} on stderr: {out:?}");
    }
}

#[test]
fn get_answers_the_ecr_password_and_reuses_it_without_calling_again() {
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, HOST, AKID, SECRET);

    let first = sb.get(HOST);
    first.assert_ok();
    assert_eq!(first.json(), expected(HOST, PASSWORD));
    // Byte-exact as docker's own helpers print it.
    assert_eq!(
        first.stdout,
        format!(r#"{{"ServerURL":"{HOST}","Username":"AWS","Secret":"{PASSWORD}"}}"#) + "\n"
    );
    assert_eq!(moto.count(), 1);
    assert_eq!(moto.last_akid(), AKID, "signed with the record's key id");

    let second = sb.get(HOST);
    second.assert_ok();
    assert_eq!(second.stdout, first.stdout);
    assert_eq!(moto.count(), 1, "a cached token makes no API call");
    assert_no_keys(&second, &[SECRET]);
    sb.assert_not_on_disk(SECRET);
    sb.assert_not_on_disk(PASSWORD);
}

#[test]
#[allow(clippy::disallowed_methods)] // decoy AWS profile files in the sandbox, nothing real
fn ambient_aws_credentials_are_never_used() {
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, HOST, AKID, SECRET);
    // A profile file and env keys that an SDK's default chain would pick up first.
    let aws_dir = sb.home().join(".aws");
    std::fs::create_dir_all(&aws_dir).unwrap();
    std::fs::write(
        aws_dir.join("credentials"),
        "[default]\naws_access_key_id = AKIAPROFILE000000001\naws_secret_access_key = p\n",
    )
    .unwrap();
    std::fs::write(aws_dir.join("config"), "[default]\nregion = eu-west-1\n").unwrap();
    let out = sb.run_env(
        &["get"],
        HOST.as_bytes(),
        &[
            ("AWS_ACCESS_KEY_ID", "AKIAAMBIENT000000001"),
            ("AWS_SECRET_ACCESS_KEY", "ambient"),
            ("AWS_SESSION_TOKEN", "ambient-session"),
            ("AWS_PROFILE", "default"),
            ("AWS_REGION", "eu-west-1"),
        ],
    );
    out.assert_ok();
    assert_eq!(out.json(), expected(HOST, PASSWORD));
    assert_eq!(moto.count(), 1);
    assert_eq!(moto.last_akid(), AKID);
}

/// Keys an SDK's environment provider would find, for the ambient opt-in tests.
const AMBIENT_AKID: &str = "AKIDAMBIENT000000001";
const AMBIENT_SECRET: &str = "ambient-secret-key-0001";

/// A sandbox for ambient records: ECR calls go to moto, and instance metadata to a closed loopback
/// port (never a real IMDS, whatever machine runs the tests).
fn ambient_sandbox(moto: &Moto) -> Sandbox {
    let mut sb = sandbox(moto);
    sb.set_env(
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        &format!("http://127.0.0.1:{}", free_port()),
    );
    sb
}

/// `add HOST AWS_CREDENTIALS_SOURCE [AWS_PROFILE]` with the values in add's environment only.
fn add_ambient(sb: &Sandbox, host: &str, profile: Option<&str>) {
    let mut args = vec!["add", host, "AWS_CREDENTIALS_SOURCE"];
    let mut env = vec![("AWS_CREDENTIALS_SOURCE", "ambient")];
    if let Some(p) = profile {
        args.push("AWS_PROFILE");
        env.push(("AWS_PROFILE", p));
    }
    sb.run_env(&args, b"", &env).assert_ok();
}

#[test]
fn an_ambient_record_signs_with_the_environment_keys_and_a_cache_hit_needs_none() {
    let Some(moto) = Moto::start() else { return };
    let sb = ambient_sandbox(&moto);
    add_ambient(&sb, HOST, None);
    let out = sb.run_env(
        &["get"],
        HOST.as_bytes(),
        &[
            ("AWS_ACCESS_KEY_ID", AMBIENT_AKID),
            ("AWS_SECRET_ACCESS_KEY", AMBIENT_SECRET),
        ],
    );
    out.assert_ok();
    assert_eq!(out.json(), expected(HOST, PASSWORD));
    assert_eq!(moto.count(), 1);
    assert_eq!(
        moto.last_akid(),
        AMBIENT_AKID,
        "signed with the ambient key id"
    );
    assert_no_keys(&out, &[AMBIENT_SECRET]);
    // The second get has no credentials anywhere: only a cache hit that resolves nothing answers.
    let cached = sb.get(HOST);
    cached.assert_ok();
    assert_eq!(cached.stdout, out.stdout);
    assert_eq!(moto.count(), 1, "a cached token makes no API call");
    sb.assert_not_on_disk(AMBIENT_SECRET);
    sb.assert_not_on_disk(PASSWORD);
}

#[test]
#[allow(clippy::disallowed_methods)] // decoy AWS profile files in the sandbox, nothing real
fn an_ambient_record_with_a_profile_uses_exactly_that_profile() {
    let Some(moto) = Moto::start() else { return };
    let mut sb = ambient_sandbox(&moto);
    sb.set_env("BETA9_TIMEOUT", "3");
    let aws_dir = sb.home().join(".aws");
    std::fs::create_dir_all(&aws_dir).unwrap();
    std::fs::write(
        aws_dir.join("credentials"),
        "[default]\naws_access_key_id = AKIDPROFILEDEFAULT01\naws_secret_access_key = d\n\
         [ci]\naws_access_key_id = AKIDPROFILECI0000001\naws_secret_access_key = c\n",
    )
    .unwrap();
    add_ambient(&sb, HOST, Some("ci"));
    // Environment keys would win in the default chain; the record's profile wins over them.
    let env_keys = [
        ("AWS_ACCESS_KEY_ID", AMBIENT_AKID),
        ("AWS_SECRET_ACCESS_KEY", AMBIENT_SECRET),
        ("AWS_PROFILE", "default"),
    ];
    let out = sb.run_env(&["get"], HOST.as_bytes(), &env_keys);
    out.assert_ok();
    assert_eq!(out.json(), expected(HOST, PASSWORD));
    assert_eq!(moto.last_akid(), "AKIDPROFILECI0000001");

    // A profile that does not exist fails; it never falls through to the environment's keys.
    let other = format!("{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com");
    add_ambient(&sb, &other, Some("missing"));
    let out = sb.run_env(&["get"], other.as_bytes(), &env_keys);
    assert_one_line_failure(&out, &other, "access denied");
    assert!(out.stdout.contains("profile missing"), "{out:?}");
    assert_eq!(moto.count(), 1, "nothing was sent");
}

#[test]
#[allow(clippy::disallowed_methods)] // a profile and its credential_process script in the sandbox
fn an_ambient_profile_with_a_credential_process_signs_with_what_it_prints() {
    let Some(moto) = Moto::start() else { return };
    let mut sb = ambient_sandbox(&moto);
    sb.set_env("BETA9_TIMEOUT", "5");
    let aws_dir = sb.home().join(".aws");
    std::fs::create_dir_all(&aws_dir).unwrap();
    // What aws-vault or a company's tool does: keys as JSON on stdout.
    let script = sb.path().join("issue-keys.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho 'issue-keys: a note on stderr' >&2\n\
             printf '%s' '{{\"Version\":1,\"AccessKeyId\":\"AKIDPROCESS000000001\",\"SecretAccessKey\":\"{CANARY}\"}}'\n"
        ),
    )
    .unwrap();
    let failing = sb.path().join("fail.sh");
    std::fs::write(
        &failing,
        format!("#!/bin/sh\necho 'refused: {CANARY}' >&2\nexit 3\n"),
    )
    .unwrap();
    for f in [&script, &failing] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::fs::write(
        aws_dir.join("config"),
        format!(
            "[profile vault]\ncredential_process = {}\n[profile broken]\ncredential_process = {}\n",
            script.display(),
            failing.display()
        ),
    )
    .unwrap();
    add_ambient(&sb, HOST, Some("vault"));
    let out = sb.get(HOST);
    out.assert_ok();
    assert_eq!(out.json(), expected(HOST, PASSWORD));
    assert_eq!(moto.last_akid(), "AKIDPROCESS000000001");
    assert_no_keys(&out, &[CANARY, "a note on stderr"]);

    // A process that fails: one line, nothing of what it printed, nothing sent.
    let other = format!("{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com");
    add_ambient(&sb, &other, Some("broken"));
    let out = sb.get(&other);
    assert_one_line_failure(&out, &other, "access denied");
    assert!(out.stdout.contains("profile broken"), "{out:?}");
    assert_no_keys(&out, &[CANARY, "refused"]);
    assert_eq!(moto.count(), 1);
    // The scripts hold the canary themselves; nothing the helper wrote does.
    std::fs::remove_file(&script).unwrap();
    std::fs::remove_file(&failing).unwrap();
    sb.assert_not_on_disk(CANARY);
}

#[test]
fn an_ambient_record_without_any_credentials_fails_in_one_line() {
    // No env keys, a HOME without ~/.aws, instance metadata refused (closed port) or disabled:
    // the chain runs dry inside the 3 s budget (no timing assertion; a hang would fail the
    // harness, not this check).
    let Some(moto) = Moto::start() else { return };
    let mut sb = ambient_sandbox(&moto);
    sb.set_env("BETA9_TIMEOUT", "3");
    add_ambient(&sb, HOST, None);
    for extra in [&[][..], &[("AWS_EC2_METADATA_DISABLED", "true")][..]] {
        let out = sb.run_env(&["get"], HOST.as_bytes(), extra);
        assert_one_line_failure(&out, HOST, "access denied");
        assert!(
            out.stdout
                .contains("no usable AWS credentials from the ambient chain"),
            "{out:?}"
        );
    }
    assert_eq!(moto.count(), 0, "nothing was sent");
}

#[test]
fn keys_next_to_the_ambient_opt_in_are_refused_by_add_and_by_get() {
    let Some(moto) = Moto::start() else { return };
    let sb = ambient_sandbox(&moto);
    let out = sb.run_env(
        &[
            "add",
            HOST,
            "AWS_CREDENTIALS_SOURCE",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ],
        b"",
        &[
            ("AWS_CREDENTIALS_SOURCE", "ambient"),
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", CANARY),
        ],
    );
    assert_eq!((out.code, out.stdout.as_str()), (1, ""), "{out:?}");
    assert!(out.stderr.contains("conflict"), "{out:?}");
    assert_no_keys(&out, &[CANARY]);
    let out = sb.run_env(
        &["add", HOST, "AWS_CREDENTIALS_SOURCE"],
        b"",
        &[("AWS_CREDENTIALS_SOURCE", "instance-SEKRIT")],
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("must be ambient"), "{out:?}");
    assert!(!out.stderr.contains("SEKRIT"), "{out:?}");
    assert_eq!(
        sb.get(HOST).stdout.trim(),
        "credentials not found in native keychain",
        "nothing was stored"
    );

    // Such a record can still arrive by other means; get refuses it and sends nothing.
    let ctx = Context::from_env(
        Env::from_pairs([
            ("HOME", sb.home().to_str().unwrap()),
            ("BETA9_CREDENTIALS_DIR", sb.store_base().to_str().unwrap()),
        ]),
        None,
    )
    .unwrap();
    let json = serde_json::json!({
        "version": 1, "registry": HOST, "type": "aws",
        "credentials": {"AWS_CREDENTIALS_SOURCE": "ambient",
                        "AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": CANARY}
    });
    let record = Record::decode(json.to_string().as_bytes(), None).unwrap();
    actions::save(&ctx, &record, None).unwrap();
    let out = sb.get(HOST);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(out.stdout.contains("conflict"), "{out:?}");
    assert_no_keys(&out, &[CANARY, AKID]);
    assert_eq!(moto.count(), 0);
}

#[test]
fn add_without_names_takes_the_opt_in_and_profile_from_the_environment_and_ignores_a_stray_profile()
{
    let Some(moto) = Moto::start() else { return };
    let sb = ambient_sandbox(&moto);
    // Stored keys plus an everyday AWS_PROFILE in the shell: the keys are stored, the profile not.
    sb.run_env(
        &["add", HOST],
        b"",
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_PROFILE", "dev"),
        ],
    )
    .assert_ok();
    sb.get(HOST).assert_ok();
    assert_eq!(moto.last_akid(), AKID);
    // The opt-in from the environment.
    let other = format!("{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com");
    sb.run_env(
        &["add", &other],
        b"",
        &[("AWS_CREDENTIALS_SOURCE", "ambient")],
    )
    .assert_ok();
    let out = sb.run_env(
        &["get"],
        other.as_bytes(),
        &[
            ("AWS_ACCESS_KEY_ID", AMBIENT_AKID),
            ("AWS_SECRET_ACCESS_KEY", AMBIENT_SECRET),
        ],
    );
    out.assert_ok();
    assert_eq!(moto.last_akid(), AMBIENT_AKID);
}

#[test]
fn session_keys_work_and_trace_logging_shows_no_secret() {
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    let secret = format!("{CANARY}-secret");
    let session = format!("{CANARY}-session");
    sb.run_env(
        &[
            "add",
            HOST,
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
        ],
        b"",
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", &secret),
            ("AWS_SESSION_TOKEN", &session),
        ],
    )
    .assert_ok();
    let out = sb.run_env(&["get"], HOST.as_bytes(), &[("BETA9_LOG", "trace")]);
    out.assert_ok();
    assert_eq!(out.json(), expected(HOST, PASSWORD));
    assert_eq!(moto.last_akid(), AKID);
    assert!(!out.stderr.contains(CANARY), "{}", out.stderr);
    sb.assert_not_on_disk(CANARY);
}

#[test]
fn ecr_public_goes_through_the_ecr_public_api() {
    let Some(moto) = Moto::start() else { return };
    let mut sb = Sandbox::new();
    // The generic override: ECR Public has no AWS_ENDPOINT_URL_ECR_PUBLIC here.
    sb.set_env("AWS_ENDPOINT_URL", &moto.endpoint);
    add_keys(&sb, "public.ecr.aws", AKID, SECRET);
    let out = sb.get("public.ecr.aws");
    out.assert_ok();
    assert_eq!(
        out.json(),
        expected("public.ecr.aws", "ecr-public-auth-token")
    );
    assert_eq!(moto.last_target(), crate::moto_env::ECR_PUBLIC_TARGET);
    assert_eq!(moto.last_akid(), AKID);
}

#[test]
fn sixty_four_concurrent_cold_gets_make_one_api_call() {
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, HOST, AKID, SECRET);
    let outs: Vec<Out> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64).map(|_| s.spawn(|| sb.get(HOST))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in &outs {
        out.assert_ok();
        assert_eq!(out.stdout, outs[0].stdout);
    }
    assert_eq!(outs[0].json(), expected(HOST, PASSWORD));
    assert_eq!(moto.count(), 1, "single flight across 64 processes");
}

#[test]
fn with_the_api_down_a_cached_token_still_works_and_an_uncached_registry_fails_in_one_line() {
    let Some(mut moto) = Moto::start() else {
        return;
    };
    let mut sb = sandbox(&moto);
    sb.set_env("BETA9_TIMEOUT", "3");
    let other = format!("{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com");
    add_keys(&sb, HOST, AKID, CANARY);
    add_keys(&sb, &other, AKID, CANARY);
    sb.get(HOST).assert_ok();
    moto.stop();

    let cached = sb.get(HOST);
    cached.assert_ok();
    assert_eq!(cached.json(), expected(HOST, PASSWORD));

    let out = sb.get(&other);
    assert_one_line_failure(&out, &other, "unreachable");
    assert_no_keys(&out, &[CANARY, AKID]);
}

#[test]
fn a_hanging_api_fails_within_the_timeout_in_one_line() {
    // moto answers only after 20 s; the 2 s budget must end the call first (no timing assertion:
    // an unbounded call would succeed and fail the test).
    let Some(moto) = Moto::start_with(&["--hang-seconds", "20"]) else {
        return;
    };
    let mut sb = sandbox(&moto);
    sb.set_env("BETA9_TIMEOUT", "2");
    add_keys(&sb, HOST, AKID, CANARY);
    moto.set_mode("hang");
    let out = sb.get(HOST);
    assert_one_line_failure(&out, HOST, "timeout");
    assert!(out.stdout.contains("within 2 s (BETA9_TIMEOUT)"), "{out:?}");
    assert_no_keys(&out, &[CANARY, AKID]);
}

#[test]
fn an_erased_record_is_not_found_even_with_a_cached_token() {
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, HOST, AKID, SECRET);
    sb.get(HOST).assert_ok();
    sb.erase(HOST).assert_ok();
    let out = sb.get(HOST);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        "credentials not found in native keychain"
    );
    assert_eq!(moto.count(), 1);
}

#[test]
fn refused_keys_say_access_denied_without_showing_any_key() {
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, HOST, AKID, CANARY);
    for mode in ["deny", "accessdenied"] {
        moto.set_mode(mode);
        let out = sb.get(HOST);
        assert_one_line_failure(&out, HOST, "access denied");
        assert_no_keys(&out, &[CANARY, AKID]);
    }
    sb.assert_not_on_disk(CANARY);
}

#[test]
fn a_throttled_api_says_throttled() {
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, HOST, AKID, CANARY);
    moto.set_mode("throttle");
    let out = sb.get(HOST);
    assert_one_line_failure(&out, HOST, "throttled");
    assert_no_keys(&out, &[CANARY, AKID]);
    // Bounded retry: one retry at most.
    assert!(moto.count() <= 2, "{} calls", moto.count());
}

#[test]
fn rotated_keys_fetch_a_new_token_at_once() {
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, HOST, AKID, SECRET);
    sb.get(HOST).assert_ok();
    assert_eq!(moto.count(), 1);
    // Same key id, new secret: moto's password never changes (docs/ecr.md, "Testing against moto"), so the proof is the
    // new API call.
    add_keys(&sb, HOST, AKID, "rotated-secret-key-0002");
    let out = sb.get(HOST);
    out.assert_ok();
    assert_eq!(out.json(), expected(HOST, PASSWORD));
    assert_eq!(moto.count(), 2, "a changed secret key is a new cache key");
    // A new key id: a new call, signed with it.
    add_keys(&sb, HOST, "AKIABETA9ROTATED0003", "rotated-secret-key-0003");
    sb.get(HOST).assert_ok();
    assert_eq!(moto.count(), 3);
    assert_eq!(moto.last_akid(), "AKIABETA9ROTATED0003");
}

#[test]
fn a_failed_refresh_serves_the_still_valid_token_with_a_warning() {
    // 58 s tokens: due for refresh at once (margin max(58/12, 60) s), dead 30 s before the end.
    let Some(mut moto) = Moto::start_with(&["--expires-in", "58"]) else {
        return;
    };
    let mut sb = sandbox(&moto);
    sb.set_env("BETA9_TIMEOUT", "3");
    add_keys(&sb, HOST, AKID, SECRET);
    sb.get(HOST).assert_ok();
    assert_eq!(moto.count(), 1);
    sb.get(HOST).assert_ok();
    assert_eq!(moto.count(), 2, "a token due for refresh is refreshed");
    moto.stop();
    let out = sb.get(HOST);
    out.assert_ok();
    assert_eq!(out.json(), expected(HOST, PASSWORD));
    assert!(
        out.stderr.contains("refresh failed") && out.stderr.contains("unreachable"),
        "{out:?}"
    );
}

#[test]
fn an_expired_cached_token_is_never_served() {
    // 20 s tokens are already inside the 30 s safety margin when they arrive.
    let Some(mut moto) = Moto::start_with(&["--expires-in", "20"]) else {
        return;
    };
    let mut sb = sandbox(&moto);
    sb.set_env("BETA9_TIMEOUT", "3");
    add_keys(&sb, HOST, AKID, SECRET);
    sb.get(HOST).assert_ok();
    moto.stop();
    let out = sb.get(HOST);
    assert_one_line_failure(&out, HOST, "unreachable");
}

#[test]
fn aws_keys_for_a_spoofed_ecr_host_are_never_sent() {
    let Some(moto) = Moto::start() else { return };
    let mut sb = sandbox(&moto);
    sb.set_env("AWS_ENDPOINT_URL", &moto.endpoint);
    let spoof = format!("{HOST}.evil.example");
    // `add` refuses such a host; a record can still arrive by other means (import, old stores).
    let home = sb.home();
    let store = sb.store_base();
    let env = Env::from_pairs([
        ("HOME", home.to_str().unwrap()),
        ("BETA9_CREDENTIALS_DIR", store.to_str().unwrap()),
    ]);
    let ctx = Context::from_env(env, None).unwrap();
    let json = serde_json::json!({
        "version": 1, "registry": spoof, "type": "aws",
        "credentials": {"AWS_ACCESS_KEY_ID": AKID, "AWS_SECRET_ACCESS_KEY": CANARY}
    });
    let record = Record::decode(json.to_string().as_bytes(), None).unwrap();
    actions::save(&ctx, &record, None).unwrap();

    let out = sb.get(&spoof);
    assert_one_line_failure(&out, &spoof, "nothing was sent");
    assert_no_keys(&out, &[CANARY, AKID]);
    assert_eq!(moto.count(), 0);
    // `list` still answers without any network.
    let list = sb.list();
    list.assert_ok();
    assert_eq!(list.json()[&spoof], "AWS");
}

#[test]
fn a_cached_get_opens_no_socket() {
    if !strace_usable("ecr::a_cached_get_opens_no_socket") {
        return;
    }
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, HOST, AKID, SECRET);
    let trace = || -> String {
        let (out, trace) = sb.run_traced("network", &["get"], HOST.as_bytes(), &[]);
        out.assert_ok();
        assert_eq!(out.json(), expected(HOST, PASSWORD));
        trace
    };
    // The cold get shows the method sees sockets at all.
    let cold = trace();
    assert!(
        cold.contains("socket("),
        "cold get opened no socket?\n{cold}"
    );
    let hot = trace();
    assert!(
        !hot.contains("socket("),
        "cached get opened a socket:\n{hot}"
    );
    assert_eq!(moto.count(), 1);
}
