//! The helper under the clients people actually run, no mocks: skopeo and the docker CLI against
//! a real `docker-registry` with htpasswd auth on 127.0.0.1, and docker-py's own credential-store
//! client. Every client finds the binary under test on PATH as `docker-credential-beta9` (a
//! symlink to it, or a small recorder script that logs the verb and server key and then runs it
//! with the same stdin) and gets only the sandbox's environment.
//!
//! A missing tool skips a test with a note on stderr (`support::tool_missing`); with
//! `BETA9_REQUIRE_TOOLS=1` (set by scripts/test.sh) it fails it instead.
//! scripts/install-test-deps.sh installs them all.

use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{bin, tool_missing, Sandbox, CANARY};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The registry's htpasswd user. Passwords are CANARY (right) or WRONG_PASSWORD.
const USER: &str = "beta9-tester";
const WRONG_PASSWORD: &str = "not-the-password";
/// The `credHelpers` value: clients run `docker-credential-beta9`.
const HELPER: &str = "beta9";
const REPO: &str = "beta9/tiny";
const TAG: &str = "v1";
const NOT_FOUND: &str = "credentials not found in native keychain\n";

// ---------------------------------------------------------------------------------------------
// Fixtures

/// A registry on 127.0.0.1 accepting USER/`password`, holding one tiny image `REPO:TAG`.
struct World {
    reg: Registry,
    /// Manifest digest of the pushed image.
    digest: String,
}

impl World {
    fn start(password: &str) -> World {
        let reg = Registry::start(USER, password);
        // The push authenticates with a plain auth file outside the sandbox, removed at once:
        // afterwards only the helper (or nobody) knows the password on the client side.
        let push_auth = reg.dir().join("push-auth.json");
        kit::write_plain_auth_file(&push_auth, &reg.host, USER, password);
        let digest = kit::push_tiny_image(&reg, REPO, TAG, &push_auth);
        fs::remove_file(&push_auth).expect("remove push auth file");
        World { reg, digest }
    }

    fn host(&self) -> &str {
        &self.reg.host
    }

    /// `docker://127.0.0.1:PORT/beta9/tiny:v1` for skopeo.
    fn docker_ref(&self) -> String {
        format!("docker://{}/{REPO}:{TAG}", self.reg.host)
    }

    /// `127.0.0.1:PORT/beta9/tiny:v1` for the docker CLI.
    fn image(&self) -> String {
        format!("{}/{REPO}:{TAG}", self.reg.host)
    }
}

/// A directory with `docker-credential-beta9` in it, put first on the clients' PATH.
struct HelperOnPath {
    dir: PathBuf,
    /// Set for a recorder: one line per call, `store`/`list`, or `get KEY` / `erase KEY`.
    log: Option<PathBuf>,
}

impl HelperOnPath {
    fn dir_in(sb: &Sandbox) -> PathBuf {
        let dir = sb.path().join("helper-bin");
        fs::create_dir_all(&dir).expect("helper dir");
        fs::create_dir_all(sb.home()).expect("sandbox HOME");
        dir
    }

    /// `docker-credential-beta9` -> the binary under test.
    fn symlink(sb: &Sandbox) -> HelperOnPath {
        let dir = Self::dir_in(sb);
        std::os::unix::fs::symlink(bin(), dir.join("docker-credential-beta9"))
            .expect("symlink helper");
        HelperOnPath { dir, log: None }
    }

    /// A `/bin/sh` recorder named `docker-credential-beta9`: logs the verb, and for `get` and
    /// `erase` the server key (tee'd from stdin, byte for byte), then runs the binary under test
    /// with the same stdin and returns its status. `store` input holds the secret: not logged.
    fn recording(sb: &Sandbox) -> HelperOnPath {
        let dir = Self::dir_in(sb);
        let log = sb.path().join("helper-calls.log");
        let (b, l) = (bin(), log.clone());
        let (b, l) = (b.to_string_lossy(), l.to_string_lossy());
        assert!(
            !b.contains('\'') && !l.contains('\''),
            "paths must not hold quotes"
        );
        let script = format!(
            "#!/bin/sh\n\
             case \"$1\" in\n\
             get|erase)\n\
             \x20 printf '%s ' \"$1\" >>'{l}'\n\
             \x20 tee -a '{l}' | '{b}' \"$@\"\n\
             \x20 rc=$?\n\
             \x20 echo >>'{l}'\n\
             \x20 exit $rc ;;\n\
             *)\n\
             \x20 echo \"$1\" >>'{l}'\n\
             \x20 exec '{b}' \"$@\" ;;\n\
             esac\n"
        );
        let path = dir.join("docker-credential-beta9");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o700)
                .open(&path)
                .expect("create recorder");
            f.write_all(script.as_bytes()).expect("write recorder");
        }
        HelperOnPath {
            dir,
            log: Some(log),
        }
    }

    /// The calls recorded so far (recorder only).
    fn calls(&self) -> Vec<String> {
        let log = self.log.as_ref().expect("not a recording helper");
        fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Empties the record (recorder only).
    fn clear(&self) {
        let log = self.log.as_ref().expect("not a recording helper");
        let _ = fs::remove_file(log);
    }

    /// A client command with nothing from our environment but the helper first on PATH, the
    /// sandbox's HOME and store, and `extra`.
    fn client(
        &self,
        sb: &Sandbox,
        program: &str,
        args: &[&str],
        extra: &[(&str, &Path)],
    ) -> Command {
        let mut c = kit::client_command(program, sb.path());
        c.args(args)
            .env_clear()
            .env("PATH", kit::path_with(&self.dir))
            .env("HOME", sb.home())
            .env("BETA9_CREDENTIALS_DIR", sb.store_base())
            .current_dir(sb.path());
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    }
}

/// What a client printed and how it ended.
#[derive(Debug)]
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn of(o: Output) -> Ran {
        Ran {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    fn ok(self, what: &str) -> Ran {
        assert_eq!(self.code, 0, "{what} failed: {self:#?}");
        self
    }

    /// Failed, and the reason is the registry's 401 (the client went anonymous or sent a
    /// wrong password), not some other breakage.
    fn unauthorized(self, what: &str) -> Ran {
        assert_ne!(self.code, 0, "{what} should have failed: {self:#?}");
        // The registry's 401 body, as skopeo quotes it (`unauthorized: authentication
        // required`), or the docker CLI's wording for a 401 it had no credentials for.
        let e = &self.stderr;
        assert!(
            e.contains("unauthorized: authentication required")
                || e.contains("no basic auth credentials"),
            "{what} failed for another reason than the registry's 401: {self:#?}"
        );
        self
    }
}

fn run(mut c: Command, stdin: Option<&[u8]>) -> Ran {
    Ran::of(kit::run_bounded_stdin(&mut c, stdin, kit::CMD_TIMEOUT))
}

fn skopeo(h: &HelperOnPath, sb: &Sandbox, args: &[&str], stdin: Option<&[u8]>) -> Ran {
    run(h.client(sb, "skopeo", args, &[]), stdin)
}

/// `skopeo inspect` of the world's image through `authfile`; on success the digest matches.
fn skopeo_inspect(h: &HelperOnPath, sb: &Sandbox, w: &World, authfile: &Path) -> Ran {
    let a = authfile.to_string_lossy();
    skopeo(
        h,
        sb,
        &[
            "inspect",
            "--tls-verify=false",
            "--authfile",
            &a,
            &w.docker_ref(),
        ],
        None,
    )
}

/// `skopeo copy` of the world's image into a fresh OCI layout `dest` (a pull to disk).
fn skopeo_copy(h: &HelperOnPath, sb: &Sandbox, w: &World, authfile: &Path, dest: &Path) -> Ran {
    let a = authfile.to_string_lossy();
    let dst = format!("oci:{}:{TAG}", dest.display());
    skopeo(
        h,
        sb,
        &[
            "copy",
            "--quiet",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--authfile",
            &a,
            &w.docker_ref(),
            &dst,
        ],
        None,
    )
}

/// Inspect and copy both succeed and show the pushed image.
fn assert_skopeo_pulls(h: &HelperOnPath, sb: &Sandbox, w: &World, authfile: &Path) {
    let o = skopeo_inspect(h, sb, w, authfile).ok("skopeo inspect");
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("inspect prints JSON");
    assert_eq!(v["Digest"], w.digest.as_str(), "{}", o.stdout);

    let dest = sb.path().join(format!("pulled-{}", w.reg.port));
    skopeo_copy(h, sb, w, authfile, &dest).ok("skopeo copy");
    let index = fs::read_to_string(dest.join("index.json")).expect("copied index.json");
    assert!(index.contains(&w.digest), "copied index: {index}");
}

fn assert_skopeo_refused(h: &HelperOnPath, sb: &Sandbox, w: &World, authfile: &Path) {
    skopeo_inspect(h, sb, w, authfile).unauthorized("skopeo inspect");
    let dest = sb.path().join("refused-copy");
    skopeo_copy(h, sb, w, authfile, &dest).unauthorized("skopeo copy");
}

/// A containers auth file that sends `host` to the helper and holds no credential itself.
fn helper_auth_file(sb: &Sandbox, host: &str) -> PathBuf {
    let p = sb.path().join("auth.json");
    kit::write_helper_auth_file(&p, host, HELPER);
    p
}

/// The version-1 secret name for a canonical registry (docs/registry-identity.md).
fn secret_name(registry: &str) -> String {
    format!(
        "oci-creds-{}",
        &hex::encode(Sha256::digest(registry.as_bytes()))[..16]
    )
}

fn assert_get(sb: &Sandbox, url: &str, user: &str, secret: &str) {
    let o = sb.get(url);
    o.assert_ok();
    assert_eq!(
        o.json(),
        serde_json::json!({"ServerURL": url, "Username": user, "Secret": secret})
    );
}

fn assert_not_found(sb: &Sandbox, url: &str) {
    let o = sb.get(url);
    assert_eq!((o.stdout.as_str(), o.code), (NOT_FOUND, 1), "{o:?}");
}

// ---------------------------------------------------------------------------------------------
// skopeo (containers/image): credHelpers in an auth file

/// skopeo sends `get 127.0.0.1:PORT` (host:port, no scheme) and uses the answer for both the
/// manifest and the blobs. The login exists only in the helper's store, put there by `store`.
#[test]
fn skopeo_pulls_with_a_login_stored_only_in_the_helper() {
    let t = "skopeo_pulls_with_a_login_stored_only_in_the_helper";
    if !tools_present(t, &["skopeo", "docker-registry", "htpasswd"]) {
        return;
    }
    let w = World::start(CANARY);
    let sb = Sandbox::new();
    let h = HelperOnPath::symlink(&sb);
    sb.store(w.host(), USER, CANARY).assert_ok();
    let auth = helper_auth_file(&sb, w.host());

    assert_skopeo_pulls(&h, &sb, &w, &auth);
    // The auth file still names only the helper; the password is nowhere in plain text.
    let body = fs::read_to_string(&auth).expect("auth file");
    assert!(!body.contains("\"auth\""), "{body}");
    sb.assert_not_on_disk(CANARY);
}

#[test]
fn skopeo_without_a_stored_login_gets_the_registrys_401() {
    let t = "skopeo_without_a_stored_login_gets_the_registrys_401";
    if !tools_present(t, &["skopeo", "docker-registry", "htpasswd"]) {
        return;
    }
    let w = World::start(CANARY);
    let sb = Sandbox::new();
    let h = HelperOnPath::recording(&sb);
    let auth = helper_auth_file(&sb, w.host());

    assert_skopeo_refused(&h, &sb, &w, &auth);
    // skopeo did ask the helper, heard not-found, and went on anonymously.
    let want = format!("get {}", w.host());
    let calls = h.calls();
    assert!(
        !calls.is_empty() && calls.iter().all(|c| *c == want),
        "{calls:?}"
    );
}

#[test]
fn skopeo_with_a_wrong_stored_password_gets_the_registrys_401() {
    let t = "skopeo_with_a_wrong_stored_password_gets_the_registrys_401";
    if !tools_present(t, &["skopeo", "docker-registry", "htpasswd"]) {
        return;
    }
    let w = World::start(CANARY);
    let sb = Sandbox::new();
    let h = HelperOnPath::symlink(&sb);
    sb.store(w.host(), USER, WRONG_PASSWORD).assert_ok();
    let auth = helper_auth_file(&sb, w.host());

    assert_skopeo_refused(&h, &sb, &w, &auth);
}

/// `skopeo login`/`logout` with an auth file whose credHelpers name the helper write and erase
/// through it (containers/image: `get`, then `store`; logout: `erase`), never into the file.
#[test]
fn skopeo_login_and_logout_store_and_erase_through_the_helper() {
    let t = "skopeo_login_and_logout_store_and_erase_through_the_helper";
    if !tools_present(t, &["skopeo", "docker-registry", "htpasswd"]) {
        return;
    }
    let w = World::start(CANARY);
    let sb = Sandbox::new();
    let h = HelperOnPath::recording(&sb);
    let auth = helper_auth_file(&sb, w.host());
    let a = auth.to_string_lossy();
    let login = [
        "login",
        "--tls-verify=false",
        "--authfile",
        &a,
        "-u",
        USER,
        "--password-stdin",
        w.host(),
    ];
    let get_key = format!("get {}", w.host());
    let erase_key = format!("erase {}", w.host());

    // A wrong password: the registry refuses, nothing is stored.
    let o = skopeo(&h, &sb, &login, Some(WRONG_PASSWORD.as_bytes()));
    assert_ne!(o.code, 0, "{o:#?}");
    assert!(!h.calls().contains(&"store".to_string()), "{:?}", h.calls());
    assert_not_found(&sb, w.host());
    h.clear();

    let o = skopeo(&h, &sb, &login, Some(CANARY.as_bytes())).ok("skopeo login");
    assert!(o.stdout.contains("Login Succeeded"), "{o:#?}");
    let calls = h.calls();
    assert_eq!(calls.last().map(String::as_str), Some("store"), "{calls:?}");
    assert!(
        calls.iter().all(|c| c == "store" || *c == get_key),
        "{calls:?}"
    );
    assert_get(&sb, w.host(), USER, CANARY);
    assert_skopeo_pulls(&h, &sb, &w, &auth);
    sb.assert_not_on_disk(CANARY);

    h.clear();
    let logout = ["logout", "--authfile", &a, w.host()];
    skopeo(&h, &sb, &logout, None).ok("skopeo logout");
    assert_eq!(h.calls(), vec![erase_key.clone()]);
    assert_not_found(&sb, w.host());
    assert_skopeo_refused(&h, &sb, &w, &auth);
    // A second logout finds nothing and still succeeds (erase of an absent entry is exit 0).
    skopeo(&h, &sb, &logout, None).ok("second skopeo logout");
}

// ---------------------------------------------------------------------------------------------
// docker-py

/// The interpreter and site dir that have docker-py, found with the caller's environment (pyenv
/// shims need it); the script itself then runs with only the sandbox's.
fn docker_py() -> Option<(PathBuf, PathBuf)> {
    let (python, site) = kit::docker_py_with("docker.credentials")?;
    Some((python.into(), site.into()))
}

/// docker-py's `docker.credentials.Store('beta9')`: store/get/list/erase for a host:port, the Hub
/// key `https://index.docker.io/v1/` and an identity token (`<token>`); `CredentialsNotFound` for
/// a server never stored and after erase; erase of a missing server is fine.
#[test]
fn docker_py_store_get_list_erase_round_trip() {
    let t = "docker_py_store_get_list_erase_round_trip";
    let Some((python, site)) = docker_py() else {
        tool_missing(
            t,
            "python3 with docker-py",
            "`import docker.credentials` failed (pip install docker)",
        );
        return;
    };
    let sb = Sandbox::new();
    let h = HelperOnPath::symlink(&sb);
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/docker_py_roundtrip.py");
    let script = script.to_string_lossy();
    let python = python.to_string_lossy();
    let c = h.client(&sb, &python, &[&script], &[("PYTHONPATH", &site)]);
    let o = run(c, Some(CANARY.as_bytes())).ok("docker-py script");
    let r: serde_json::Value = serde_json::from_str(&o.stdout)
        .unwrap_or_else(|e| panic!("script output is not JSON ({e}): {o:#?}"));
    let servers = [
        ("registry.example.com:5000", "alice"),
        ("https://index.docker.io/v1/", "hubuser"),
        ("ghcr.io", "<token>"),
    ];

    let exe = r["exe"].as_str().unwrap_or_default();
    assert_eq!(Path::new(exe), h.dir.join("docker-credential-beta9"), "{r}");
    assert_eq!(r["warnings"], serde_json::json!([]), "{r}");
    for (s, u) in servers {
        assert_eq!(
            r["stored"][s],
            serde_json::json!({"ok": ""}),
            "store {s}: {r}"
        );
        assert_eq!(
            r["got"][s],
            serde_json::json!({"ok": {"ServerURL": s, "Username": u, "Secret": CANARY}}),
            "get {s}"
        );
        assert_eq!(
            r["erased"][s],
            serde_json::json!({"ok": null}),
            "erase {s}: {r}"
        );
        assert_eq!(
            r["after_erase"][s]["error"], "CredentialsNotFound",
            "get {s} after erase: {r}"
        );
    }
    let listed: serde_json::Map<String, serde_json::Value> = servers
        .iter()
        .map(|(s, u)| (s.to_string(), serde_json::json!(u)))
        .collect();
    assert_eq!(r["listed"], serde_json::json!({"ok": listed}), "{r}");
    assert_eq!(r["missing"]["error"], "CredentialsNotFound", "{r}");
    assert_eq!(r["erase_missing"], serde_json::json!({"ok": null}), "{r}");
    assert_eq!(
        r["listed_after_erase"],
        serde_json::json!({"ok": {}}),
        "{r}"
    );
    sb.assert_not_on_disk(CANARY);
}

// ---------------------------------------------------------------------------------------------
// The docker CLI, no daemon

/// docker's config dir naming the helper for the registry, nothing else.
fn docker_config(sb: &Sandbox, host: &str) -> PathBuf {
    let dir = sb.path().join("docker-config");
    fs::create_dir_all(&dir).expect("docker config dir");
    kit::write_helper_auth_file(&dir.join("config.json"), host, HELPER);
    dir
}

/// The docker CLI (client only, `DOCKER_CONFIG` with `credHelpers`): `docker login
/// --password-stdin` stores through the helper (a wrong password stores nothing), `docker
/// manifest inspect` authenticates with `get 127.0.0.1:PORT`, and `docker logout` erases,
/// twice without a warning. `docker pull` is not run: it needs a docker daemon (the CLI hands
/// the credential to dockerd), and this suite starts none; manifest inspect exercises the same
/// credHelpers lookup in the CLI.
#[test]
fn docker_cli_logs_in_inspects_and_logs_out_through_cred_helpers() {
    let t = "docker_cli_logs_in_inspects_and_logs_out_through_cred_helpers";
    if !tools_present(t, &["docker", "docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let w = World::start(CANARY);
    let sb = Sandbox::new();
    let h = HelperOnPath::recording(&sb);
    let cfg = docker_config(&sb, w.host());
    let docker = |args: &[&str], stdin: Option<&[u8]>| {
        run(
            h.client(&sb, "docker", args, &[("DOCKER_CONFIG", &cfg)]),
            stdin,
        )
    };
    let image = w.image();
    let inspect = ["manifest", "inspect", "--insecure", &image];
    let login = ["login", w.host(), "-u", USER, "--password-stdin"];
    let get_key = format!("get {}", w.host());
    let erase_keys = [
        format!("erase {}", w.host()),
        format!("erase http://{}", w.host()),
        format!("erase https://{}", w.host()),
    ];

    // Before any login: the helper answers not-found, docker goes anonymous, the registry 401s.
    let o = docker(&inspect, None).unauthorized("docker manifest inspect before login");
    assert!(o.stderr.contains("no basic auth credentials"), "{o:#?}");

    // A wrong password: refused, nothing stored.
    h.clear();
    let o = docker(&login, Some(WRONG_PASSWORD.as_bytes()));
    assert_ne!(o.code, 0, "{o:#?}");
    assert!(!h.calls().contains(&"store".to_string()), "{:?}", h.calls());
    assert_not_found(&sb, w.host());

    h.clear();
    let o = docker(&login, Some(CANARY.as_bytes())).ok("docker login");
    assert!(o.stdout.contains("Login Succeeded"), "{o:#?}");
    let calls = h.calls();
    assert!(calls.contains(&"store".to_string()), "{calls:?}");
    assert!(
        calls.iter().all(|c| c == "store" || *c == get_key),
        "{calls:?}"
    );
    assert_get(&sb, w.host(), USER, CANARY);
    // docker wrote no password into its config.
    sb.assert_not_on_disk(CANARY);

    h.clear();
    let o = docker(&inspect, None).ok("docker manifest inspect");
    let m: serde_json::Value = serde_json::from_str(&o.stdout).expect("manifest JSON");
    assert_eq!(m["schemaVersion"], 2, "{}", o.stdout);
    let calls = h.calls();
    assert!(
        !calls.is_empty() && calls.iter().all(|c| *c == get_key),
        "{calls:?}"
    );

    for round in ["first", "second"] {
        h.clear();
        let o = docker(&["logout", w.host()], None).ok(&format!("{round} docker logout"));
        assert!(!o.stderr.contains("WARNING"), "{round} logout: {o:#?}");
        assert!(!o.stdout.contains("WARNING"), "{round} logout: {o:#?}");
        let calls = h.calls();
        assert!(
            calls.contains(&erase_keys[0]) && calls.iter().all(|c| erase_keys.contains(c)),
            "{round} logout: {calls:?}"
        );
        assert_not_found(&sb, w.host());
    }

    // After logout the helper answers not-found again: docker goes anonymous and gets the 401.
    let o = docker(&inspect, None).unauthorized("docker manifest inspect after logout");
    assert!(o.stderr.contains("no basic auth credentials"), "{o:#?}");
}

// ---------------------------------------------------------------------------------------------
// Imported records, then a pull

/// `import` of `record` (stdin) prints the registry's secret name; then skopeo pulls with it.
fn import_then_pull(t: &str, record: impl Fn(&str) -> serde_json::Value) {
    if !tools_present(t, &["skopeo", "docker-registry", "htpasswd"]) {
        return;
    }
    let w = World::start(CANARY);
    let sb = Sandbox::new();
    let h = HelperOnPath::symlink(&sb);
    let auth = helper_auth_file(&sb, w.host());

    let o = sb.run(&["import"], record(w.host()).to_string().as_bytes());
    assert_eq!(o.code, 0, "import: {o:?}");
    // stdout is the secret name alone, so scripts can capture it.
    assert_eq!(
        o.stdout,
        format!("{}\n", secret_name(w.host())),
        "import: {o:?}"
    );
    assert!(
        !o.stdout.contains(CANARY) && !o.stderr.contains(CANARY),
        "{o:?}"
    );
    assert_get(&sb, w.host(), USER, CANARY);
    // Listed under its registry, with the username and never the secret (docs/clients.md, "Docker Hub keys").
    assert_eq!(sb.list().json(), serde_json::json!({ w.host(): USER }));
    assert_skopeo_pulls(&h, &sb, &w, &auth);
    sb.assert_not_on_disk(CANARY);
}

/// The format beta9 ships (pkg/registry/credentials.go): no `version`, type `basic`.
#[test]
fn imported_beta9_record_lets_skopeo_pull() {
    import_then_pull("imported_beta9_record_lets_skopeo_pull", |host| {
        serde_json::json!({
            "credentials": {"USERNAME": USER, "PASSWORD": CANARY},
            "registry": host,
            "type": "basic",
        })
    });
}

/// The design documents' format: version 1, type `generic`.
#[test]
fn imported_design_document_record_lets_skopeo_pull() {
    import_then_pull("imported_design_document_record_lets_skopeo_pull", |host| {
        serde_json::json!({
            "version": 1,
            "registry": host,
            "type": "generic",
            "credentials": {"USERNAME": USER, "PASSWORD": CANARY},
        })
    });
}
