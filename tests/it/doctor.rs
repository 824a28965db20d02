//! `doctor <image>` against real registries: Debian's `docker-registry` with htpasswd (Basic), and
//! the same registry with token auth (Bearer) backed by a small token server this test runs
//! (tests/support/registry_token_server.py: python3 + `cryptography`, RS256 JWTs with an `x5c`
//! certificate the registry trusts through `rootcertbundle`). No mocks: the registry verifies
//! every login and token itself. Docker Hub's pull-rate-limit headers come from a small edge in
//! front of the real registry (tests/support/ratelimit_front.py), because Hub cannot run here.
//!
//! Each failure case asserts the failing step's line, the result line naming it, and exit 1. Runs
//! are bounded by `BETA9_TIMEOUT` (given to the helper) and a 60 s kill (the test's own bound);
//! nothing is timed.

use crate::harness::{python, Ready, Server, ServerSpec};
use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{free_port, tool_missing, Out, Sandbox, CANARY};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub(crate) const USER: &str = "beta9-tester";
pub(crate) const WRONG: &str = "not-the-password";
pub(crate) const REPO: &str = "beta9/tiny";
pub(crate) const TAG: &str = "v1";
/// What the helper may spend on the registry in one doctor run.
const BUDGET: &str = "5";

/// An htpasswd registry holding `REPO:TAG`.
pub(crate) fn world() -> Registry {
    let reg = Registry::start(USER, CANARY);
    let push = reg.dir().join("push-auth.json");
    kit::write_plain_auth_file(&push, &reg.host, USER, CANARY);
    kit::push_tiny_image(&reg, REPO, TAG, &push);
    fs::remove_file(&push).unwrap();
    reg
}

/// A sandbox whose containers primary file is its own (`XDG_RUNTIME_DIR` inside it), so nothing
/// on the machine (`/run/containers/$UID`) changes what doctor sees.
pub(crate) fn sandbox() -> Sandbox {
    let mut s = Sandbox::new();
    let run = s.path().join("run");
    fs::create_dir_all(&run).unwrap();
    let run = run.to_string_lossy().into_owned();
    s.set_env("XDG_RUNTIME_DIR", &run);
    s.set_env("BETA9_TIMEOUT", BUDGET);
    s
}

/// The helper, killed after 60 s (a hang fails the test instead of blocking it).
fn bounded(s: &Sandbox, args: &[&str]) -> Out {
    let o = kit::run_bounded(&mut s.cmd(args), Duration::from_secs(60));
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// `bounded`, and the CANARY appears in neither stream.
pub(crate) fn bounded_no_canary(s: &Sandbox, args: &[&str]) -> Out {
    let o = bounded(s, args);
    assert!(
        !o.stdout.contains(CANARY) && !o.stderr.contains(CANARY),
        "doctor printed the secret: {o:?}"
    );
    o
}

fn doctor(s: &Sandbox, image: &str, extra: &[&str]) -> Out {
    let mut args = vec!["doctor", image];
    args.extend_from_slice(extra);
    let o = bounded_no_canary(s, &args);
    assert!(
        !o.stdout.contains(WRONG),
        "doctor printed a password: {o:?}"
    );
    o
}

/// A machine with `USER`'s login for `host` stored and routed for every client.
fn logged_in(host: &str) -> Sandbox {
    let s = sandbox();
    s.store(host, USER, CANARY).assert_ok();
    routed(&s, host);
    s
}

fn routed(s: &Sandbox, host: &str) {
    s.run(&["configure-docker", host, "--containers"], b"")
        .assert_ok();
}

/// The line of `step`.
/// The line of doctor's `step` (its second word).
pub(crate) fn line<'a>(o: &'a Out, step: &str) -> &'a str {
    o.stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(step))
        .unwrap_or_else(|| panic!("no {step} line: {o:?}"))
}

fn assert_failed_at(o: &Out, step: &str, words: &str) {
    assert_eq!(o.code, 1, "{o:?}");
    let l = line(o, step);
    assert!(l.starts_with("FAIL "), "{l}");
    assert!(l.contains(words), "{step} line lacks {words:?}: {l}");
    let result = o.stdout.lines().last().unwrap_or_default();
    assert!(
        result.starts_with(&format!("result: FAIL at {step}: ")),
        "{result}"
    );
    // Every step before it passed, warned or was skipped.
    for l in o
        .stdout
        .lines()
        .take_while(|l| !l.contains(&format!(" {step} ")))
    {
        assert!(!l.starts_with("FAIL"), "an earlier step failed: {o:?}");
    }
}

fn image(host: &str, tag: &str) -> String {
    format!("{host}/{REPO}:{tag}")
}

#[test]
fn right_credential_passes_every_step() {
    let t = "doctor::right_credential_passes_every_step";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = world();
    let s = logged_in(&reg.host);
    let o = doctor(&s, &image(&reg.host, TAG), &[]);
    assert_eq!(o.code, 0, "{o:?}");
    for step in [
        "reference",
        "routing.docker",
        "routing.containers",
        "routing.ggcr",
        "entry",
        "login",
        "connect",
        "auth",
        "manifest",
    ] {
        assert!(line(&o, step).starts_with("ok "), "{step}: {o:?}");
    }
    assert!(
        line(&o, "entry").contains(&format!("username {USER}")),
        "{o:?}"
    );
    assert!(line(&o, "connect").contains("Basic realm"), "{o:?}");
    assert!(line(&o, "manifest").contains("sha256:"), "{o:?}");
    assert!(o
        .stdout
        .lines()
        .last()
        .unwrap()
        .starts_with("result: ok: a pull of"));

    let j = doctor(&s, &image(&reg.host, TAG), &["--json"]);
    assert_eq!(j.code, 0, "{j:?}");
    let v = j.json();
    assert_eq!(v["image"], image(&reg.host, TAG));
    assert_eq!(v["registry"], reg.host.as_str());
    assert_eq!(v["repository"], REPO);
    assert_eq!(v["ok"], true);
    assert_eq!(v["entry"]["type"], "generic");
    assert_eq!(
        v["entry"]["secret_name"],
        s.run(&["secret-name", &reg.host], b"").stdout.trim()
    );
    let steps = v["steps"].as_array().unwrap();
    assert!(steps
        .iter()
        .all(|st| st["name"].is_string() && st["detail"].is_string()));
    let kubelet = steps
        .iter()
        .find(|st| st["name"] == "routing.kubelet")
        .unwrap();
    assert!(kubelet["ok"].is_null(), "{kubelet}");
    assert!(steps
        .iter()
        .filter(|st| st["name"] != "routing.kubelet" && st["name"] != "pull.kubelet")
        .all(|st| st["ok"] == true));
    // One prediction per family.
    for family in ["docker", "containers", "ggcr"] {
        assert_eq!(v["families"][family]["status"], "ok", "{v}");
    }
    assert_eq!(v["families"]["kubelet"]["status"], "skip", "{v}");
}

#[test]
fn wrong_password_fails_at_the_v2_401() {
    let t = "doctor::wrong_password_fails_at_the_v2_401";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = world();
    let s = sandbox();
    s.store(&reg.host, USER, WRONG).assert_ok();
    routed(&s, &reg.host);
    let o = doctor(&s, &image(&reg.host, TAG), &[]);
    assert_failed_at(
        &o,
        "auth",
        "401 at /v2/ with the stored login: the registry rejects it",
    );
    assert!(line(&o, "manifest").starts_with("skip"), "{o:?}");
}

#[test]
fn no_entry_names_the_entry_step_and_the_add_command() {
    let t = "doctor::no_entry_names_the_entry_step_and_the_add_command";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = world();
    let s = sandbox();
    routed(&s, &reg.host);
    let o = doctor(&s, &image(&reg.host, TAG), &[]);
    assert_failed_at(&o, "entry", &format!("nothing stored for {}", reg.host));
    let result = o.stdout.lines().last().unwrap();
    assert!(
        result.contains(&format!(
            "docker-credential-beta9 add {} USERNAME PASSWORD",
            reg.host
        )),
        "{result}"
    );
    // The anonymous pull is refused too, and said so.
    assert!(line(&o, "manifest").contains("without a login"), "{o:?}");
}

#[test]
fn missing_tag_names_the_manifest_step() {
    let t = "doctor::missing_tag_names_the_manifest_step";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = world();
    let s = logged_in(&reg.host);
    let o = doctor(&s, &image(&reg.host, "no-such-tag"), &[]);
    assert_failed_at(
        &o,
        "manifest",
        "manifest 404: the credential works but beta9/tiny:no-such-tag does not exist",
    );
    assert!(line(&o, "auth").starts_with("ok "), "{o:?}");
}

#[test]
fn registry_down_names_the_connection_step() {
    // Nothing listens there: a port taken and released.
    let host = format!("127.0.0.1:{}", free_port());
    let s = logged_in(&host);
    let o = doctor(&s, &image(&host, TAG), &[]);
    assert_failed_at(&o, "connect", &format!("cannot reach {host}"));
    assert!(line(&o, "connect").contains("https:"), "{o:?}");
    assert!(
        line(&o, "connect").contains("http:"),
        "loopback falls back to http: {o:?}"
    );
    assert!(line(&o, "auth").starts_with("skip"), "{o:?}");
}

#[test]
fn an_unrouted_config_names_the_routing_step_even_with_the_entry() {
    let t = "doctor::an_unrouted_config_names_the_routing_step_even_with_the_entry";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = world();
    let s = sandbox();
    s.store(&reg.host, USER, CANARY).assert_ok();
    let cfg = s.home().join(".docker/config.json");
    fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    fs::write(&cfg, r#"{"credHelpers": {"other.example": "beta9"}}"#).unwrap();
    let o = doctor(&s, &image(&reg.host, TAG), &[]);
    assert_failed_at(&o, "routing.docker", "the pull goes anonymous");
    assert!(
        o.stdout
            .lines()
            .last()
            .unwrap()
            .contains(&format!("configure-docker {}", reg.host)),
        "{o:?}"
    );
    // The rest of the chain works: only the routing is wrong.
    for step in ["entry", "login", "connect", "auth", "manifest"] {
        assert!(line(&o, step).starts_with("ok "), "{step}: {o:?}");
    }
}

#[test]
fn hub_routed_for_docker_only_fails_the_containers_routing() {
    // docker's config.json with only docker's Hub key: the containers tools (which read that
    // file too) ask `docker.io` and are not routed. No network: --no-network.
    let s = sandbox();
    s.store("https://index.docker.io/v1/", "hubuser", CANARY)
        .assert_ok();
    let cfg = s.home().join(".docker/config.json");
    fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    fs::write(
        &cfg,
        r#"{"credHelpers": {"https://index.docker.io/v1/": "beta9"}}"#,
    )
    .unwrap();
    let o = doctor(&s, "nginx:1.25", &["--no-network"]);
    assert_failed_at(&o, "routing.containers", "ask \"docker.io\"");
    assert!(line(&o, "routing.docker").starts_with("ok "), "{o:?}");
    assert!(line(&o, "connect").starts_with("skip"), "{o:?}");
    // One configure-docker routes both.
    s.run(&["configure-docker", "docker.io", "--containers"], b"")
        .assert_ok();
    let o = doctor(&s, "nginx:1.25", &["--no-network"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        line(&o, "login").contains("static dockerhub login"),
        "{o:?}"
    );
}

#[test]
fn a_plaintext_login_in_the_primary_file_shadows_the_helper() {
    let s = sandbox();
    let host = "registry.example.com:5000";
    s.store(host, USER, CANARY).assert_ok();
    routed(&s, host);
    // `podman login` before configure-docker --containers: plaintext in the primary file.
    let primary = s.path().join("run/containers/auth.json");
    kit::write_plain_auth_file(&primary, host, USER, CANARY);
    let o = doctor(&s, &format!("{host}/team/app:1"), &["--no-network"]);
    assert_failed_at(&o, "routing.containers", "a plaintext login in auths");
    assert!(
        o.stdout.lines().last().unwrap().contains("--migrate"),
        "{o:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Token auth (Bearer)

/// The token server and a registry that trusts it.
pub(crate) struct TokenWorld {
    _tokens: Server,
    registry: Server,
}

impl TokenWorld {
    pub(crate) fn host(&self) -> String {
        self.registry.host()
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/registry_token_server.py")
}

/// `USER` with password `CANARY`, denied `beta9/secret` (the token endpoint answers 403).
pub(crate) fn start_token_world() -> Result<TokenWorld, String> {
    let mut spec = ServerSpec::new("regtoken", python())?;
    let config = serde_json::json!({
        "service": "beta9-test-registry",
        "issuer": "beta9-test-issuer",
        "users": {USER: {"password": CANARY, "deny": ["beta9/secret"]}},
    });
    let dir = spec.dir().to_path_buf();
    write_private(&dir.join("config.json"), config.to_string().as_bytes());
    spec.arg(script())
        .arg("--state-dir")
        .arg(&dir)
        .ready(Ready::PortFile("port"))
        .exit_hint(3, "python3 `cryptography` is missing");
    let tokens = spec.start()?;
    let cert = tokens.dir().join("cert.pem");

    let mut last = String::new();
    for _ in 0..3 {
        let mut reg = ServerSpec::new("registry-token", kit_registry_bin())?;
        let rdir = reg.dir().to_path_buf();
        let port = free_port();
        let yml = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: \"{data}\"\n\
             http:\n  addr: \"127.0.0.1:{port}\"\n\
             auth:\n  token:\n    realm: \"http://{realm}/token\"\n    service: beta9-test-registry\n    issuer: beta9-test-issuer\n    rootcertbundle: \"{cert}\"\n",
            data = rdir.join("data").display(),
            realm = tokens.host(),
            cert = cert.display(),
        );
        write_private(&rdir.join("config.yml"), yml.as_bytes());
        reg.arg("serve")
            .arg(rdir.join("config.yml"))
            .ready(Ready::Tcp(port))
            .timeout(Duration::from_secs(10));
        match reg.start() {
            Ok(r) => match r.http().try_request("GET", "/v2/", &[], "") {
                Ok((401, _)) => {
                    return Ok(TokenWorld {
                        _tokens: tokens,
                        registry: r,
                    })
                }
                other => last = format!("GET /v2/: {other:?}; log:\n{}", r.log()),
            },
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn kit_registry_bin() -> String {
    if kit::have(kit::REGISTRY_BIN) {
        kit::REGISTRY_BIN.to_string()
    } else {
        "docker-registry".to_string()
    }
}

fn write_private(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Pushes `REPO:TAG` with skopeo, which goes through the token server (push+pull scope).
/// The token registry holding `REPO:TAG` and its host, when its tools are there (`None` after
/// `tool_missing` said why). Keep the world alive while the host is used.
pub(crate) fn token_world_with_image(t: &str) -> Option<(TokenWorld, String)> {
    if !tools_present(t, &["docker-registry", "skopeo"]) {
        return None;
    }
    let probe = Command::new(python())
        .args(["-c", "import cryptography"])
        .output();
    if !probe.is_ok_and(|o| o.status.success())
        && tool_missing(t, "python3 cryptography", "`import cryptography` failed")
    {
        return None;
    }
    let w = start_token_world().unwrap_or_else(|e| panic!("token registry: {e}"));
    let host = w.host();
    push(&host, REPO);
    Some((w, host))
}

pub(crate) fn push(host: &str, repo: &str) {
    let layout = tempfile::tempdir().unwrap();
    kit::write_tiny_oci_layout(layout.path(), TAG, "hello over token auth\n");
    let auth = layout.path().join("auth.json");
    kit::write_plain_auth_file(&auth, host, USER, CANARY);
    let out = kit::skopeo(
        layout.path(),
        &[
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--authfile",
            &auth.to_string_lossy(),
            &format!("oci:{}:{TAG}", layout.path().display()),
            &format!("docker://{host}/{repo}:{TAG}"),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "skopeo push over token auth failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bearer_token_auth_is_followed_through_the_token_endpoint() {
    let t = "doctor::bearer_token_auth_is_followed_through_the_token_endpoint";
    let Some((_w, host)) = token_world_with_image(t) else {
        return;
    };

    let s = logged_in(&host);
    let o = doctor(&s, &image(&host, TAG), &[]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        line(&o, "connect").contains("Bearer realm http://127.0.0.1:"),
        "{o:?}"
    );
    assert!(
        line(&o, "auth").contains(&format!(
            "issued a token for repository:{REPO}:pull with the stored login"
        )),
        "{o:?}"
    );
    assert!(line(&o, "manifest").starts_with("ok "), "{o:?}");

    // A repository the account may not pull: the token endpoint says 403.
    let o = doctor(&s, &format!("{host}/beta9/secret:{TAG}"), &[]);
    assert_failed_at(
        &o,
        "auth",
        "token endpoint 403 for scope repository:beta9/secret:pull: the account cannot pull beta9/secret",
    );

    // A wrong password: the token endpoint says 401.
    s.store(&host, USER, WRONG).assert_ok();
    let o = doctor(&s, &image(&host, TAG), &[]);
    assert_failed_at(
        &o,
        "auth",
        &format!("token endpoint 401 for scope repository:{REPO}:pull: the registry rejects the stored login"),
    );
}

/// Docker Hub's rate-limit edge (tests/support/ratelimit_front.py: Hub cannot run here) in front
/// of the real registry: `limit` pulls per 6 h window, `remaining` left.
fn rate_limited(reg: &Registry, limit: u32, remaining: u32, throttle: bool) -> Server {
    let mut spec = ServerSpec::new("ratelimit", python()).unwrap();
    let dir = spec.dir().to_path_buf();
    spec.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ratelimit_front.py"))
        .arg("--state-dir")
        .arg(dir)
        .args(["--upstream", &reg.port.to_string()])
        .args(["--limit", &limit.to_string()])
        .args(["--remaining", &remaining.to_string()])
        .ready(Ready::PortFile("port"));
    if throttle {
        spec.arg("--throttle");
    }
    spec.start().unwrap()
}

#[test]
fn a_pull_rate_limit_is_reported_and_a_used_up_one_named() {
    let t = "doctor::a_pull_rate_limit_is_reported_and_a_used_up_one_named";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = world();

    // A machine whose login for the edge is stored and routed, asking doctor about the image.
    let check = |remaining: u32, throttle: bool| {
        let front = rate_limited(&reg, 100, remaining, throttle);
        let s = logged_in(&front.host());
        doctor(&s, &image(&front.host(), TAG), &[])
    };

    // Allowance left: the manifest step says how much.
    let o = check(76, false);
    assert_eq!(o.code, 0, "{o:?}");
    let l = line(&o, "manifest");
    assert!(l.starts_with("ok "), "{l}");
    assert!(
        l.contains("rate limit: 76 of 100 pulls left in this 6 h window"),
        "{l}"
    );

    // Used up: HEAD still answers (it does not count), but the pull's GET would get 429.
    let o = check(0, false);
    let l = line(&o, "manifest");
    assert!(l.starts_with("warn "), "{o:?}");
    assert!(l.contains("0 of 100 pulls left"), "{l}");
    assert!(
        l.contains("the next pull fails with 429 toomanyrequests"),
        "{l}"
    );

    // Throttled outright: the manifest step fails, naming the limit and what to do.
    let o = check(0, true);
    assert_failed_at(
        &o,
        "manifest",
        "429 toomanyrequests: this account's pull rate limit",
    );
    let result = o.stdout.lines().last().unwrap();
    assert!(result.contains("wait for the window to pass"), "{result}");
}

/// Under a host's `credHelpers` entry go-containerregistry asks the helper for the host only; the
/// repository key reaches it only under `credsStore` (docs/clients.md,
/// "go-containerregistry `DefaultKeychain`"). Doctor's line names exactly the keys the helper
/// will be asked.
#[test]
fn the_ggcr_line_names_only_the_keys_that_reach_the_helper() {
    let s = sandbox();
    let host = "registry.example.com:5000";
    let cfg = s.home().join(".docker/config.json");
    for (config, asked) in [
        (
            format!(r#"{{"credHelpers": {{"{host}": "beta9"}}}}"#),
            format!("ask \"{host}\":"),
        ),
        (
            r#"{"credsStore": "beta9"}"#.to_string(),
            format!("ask \"{host}/{REPO}\" then \"{host}\":"),
        ),
    ] {
        fs::create_dir_all(cfg.parent().unwrap()).unwrap();
        fs::write(&cfg, config).unwrap();
        let o = doctor(&s, &image(host, TAG), &["--no-network"]);
        assert!(line(&o, "routing.ggcr").contains(&asked), "{asked}: {o:?}");
    }
}

/// skopeo's transport prefix says how to pull, not where, in any case (`DOCKER://`, `Oci://`):
/// every client family is asked the same keys as for the reference without it
/// (docs/registry-identity.md, "Table of forms").
#[test]
fn a_transport_prefix_in_any_case_asks_the_same_keys() {
    let s = sandbox();
    let host = "registry.example.com:5000";
    s.store(host, USER, CANARY).assert_ok();
    routed(&s, host);
    let plain = doctor(&s, &image(host, TAG), &["--no-network"]);
    assert_eq!(plain.code, 0, "{plain:?}");
    for prefix in ["docker://", "DOCKER://", "Oci://"] {
        let o = doctor(
            &s,
            &format!("{prefix}{}", image(host, TAG)),
            &["--no-network"],
        );
        assert_eq!(o.code, 0, "{prefix}: {o:?}");
        for step in [
            "reference",
            "routing.docker",
            "routing.containers",
            "routing.ggcr",
            "entry",
            "login",
        ] {
            assert_eq!(line(&o, step), line(&plain, step), "{prefix}: {o:?}");
        }
    }
}
