//! A worker mounting images for many workspaces from one Go process, through the real
//! `github.com/docker/docker-credential-helpers/client` library (docs/worker.md, "The Go client
//! library"): tests/support/goclient/ is built in GOPATH mode against Debian's packages
//! (`golang-go`, `golang-github-docker-docker-credential-helpers-dev`, `golang-golang-x-sys-dev`;
//! scripts/install-test-deps.sh), with no module download and no network, into the test's temp
//! dir, then run against the real binary.

use crate::support::{bin, current_test, tool_missing, Sandbox, CANARY};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where Debian's `-dev` packages put Go sources for GOPATH builds.
const GOCODE: &str = "/usr/share/gocode";
/// The registry every workspace logs in to, with its own login.
const SERVER: &str = "registry.example.com:5000";
const WORKSPACES: [&str; 3] = ["team-a", "team-b", "team-c"];
/// The worker's own `BETA9_WORKSPACE`: a per-call workspace must win over it.
const DECOY: &str = "worker-own";

fn support_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/goclient")
}

/// The example of docs/worker.md, "Example: authn.Helper per workspace".
fn example_file() -> PathBuf {
    support_dir().join("beta9auth/beta9auth.go")
}

/// `go` and the library are there, or the test skips (a failure under `BETA9_REQUIRE_TOOLS=1`).
fn toolchain_missing() -> bool {
    let test = current_test();
    match Command::new("go").arg("version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => return tool_missing(&test, "go", &format!("`go version`: {}", o.status)),
        Err(e) => return tool_missing(&test, "go (Debian golang-go)", &e.to_string()),
    }
    for (pkg, dir) in [
        (
            "golang-github-docker-docker-credential-helpers-dev",
            "github.com/docker/docker-credential-helpers/client",
        ),
        // The library imports it; Debian's package does not depend on it (docs/worker.md,
        // "The Go client library").
        ("golang-golang-x-sys-dev", "golang.org/x/sys/execabs"),
    ] {
        let path = Path::new(GOCODE).join("src").join(dir);
        if !path.is_dir() {
            return tool_missing(&test, pkg, &format!("{} is missing", path.display()));
        }
    }
    false
}

/// Builds tests/support/goclient/ under `dir` (its own GOPATH and build cache) and returns the
/// program. GOPATH mode, Debian's sources only: nothing is downloaded.
fn build(dir: &Path) -> PathBuf {
    let gopath = dir.join("gopath");
    for (pkg, file) in [
        ("beta9auth", example_file()),
        ("goclient", support_dir().join("main.go")),
    ] {
        let to = gopath.join("src").join(pkg);
        std::fs::create_dir_all(&to).unwrap();
        std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
    }
    let program = dir.join("goclient");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&program)
        .arg("goclient")
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir.join("home"))
        .env("GO111MODULE", "off")
        .env(
            "GOPATH",
            format!("{}:{GOCODE}", gopath.display()), // first entry: ours; then Debian's
        )
        .env("GOCACHE", dir.join("gocache"))
        .env("GOENV", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("CGO_ENABLED", "0")
        .current_dir(dir)
        .output()
        .expect("run go build");
    assert!(
        out.status.success(),
        "go build failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    program
}

fn username(ws: &str) -> String {
    format!("user-{ws}")
}

fn secret(ws: &str) -> String {
    format!("{CANARY}-{ws}")
}

/// The record a container request hands the worker for `ws` (a version-1 generic login).
fn record(ws: &str) -> String {
    json!({"version": 1, "registry": SERVER, "type": "generic",
           "credentials": {"USERNAME": username(ws), "PASSWORD": secret(ws)}})
    .to_string()
}

/// A sandbox whose three workspaces, and the worker's own, hold different logins for SERVER.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    for ws in WORKSPACES.iter().chain([&DECOY]) {
        sb.run(&["--workspace", ws, "import"], record(ws).as_bytes())
            .assert_ok();
    }
    sb
}

/// Runs the Go program on `spec` as the worker would run: the sandbox's store, and its own
/// `BETA9_WORKSPACE` naming DECOY. Returns the report; the run must leak no secret.
fn run(sb: &Sandbox, program: &Path, spec: &Value) -> Value {
    let mut child = Command::new(program)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", sb.home())
        .env("BETA9_CREDENTIALS_DIR", sb.store_base())
        .env("BETA9_WORKSPACE", DECOY)
        .current_dir(sb.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Go program");
    // The records (and their secrets) go in on stdin, never argv.
    serde_json::to_writer(child.stdin.take().unwrap(), spec).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "Go program: {}: {stderr}", out.status);
    assert!(
        !stdout.contains(CANARY) && !stderr.contains(CANARY),
        "a secret in the Go program's output: {stdout} {stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("report ({e}): {stdout}"))
}

fn spec(calls: usize, rounds: usize, probes: Value) -> Value {
    let workspaces: Vec<Value> = WORKSPACES
        .iter()
        .map(|ws| {
            json!({"name": ws, "username": username(ws), "secret": secret(ws),
                   "record": record(ws)})
        })
        .collect();
    let others = json!([{"name": DECOY, "username": username(DECOY), "secret": secret(DECOY)}]);
    json!({"program": bin(), "server": SERVER, "workspaces": workspaces, "others": others,
           "calls": calls, "rounds": rounds, "imports_during_gets": 2, "probes": probes})
}

#[test]
fn go_client_gets_each_workspaces_own_login_while_records_are_reimported() {
    if toolchain_missing() {
        return;
    }
    let sb = sandbox();
    let program = build(&sb.path().join("go"));
    // 48 goroutines, each asking three times: environment, `--workspace`, environment.
    let report = run(&sb, &program, &spec(48, 3, json!([])));

    assert_eq!(report["failed"], json!([]), "{report}");
    assert_eq!(report["wrong"], json!([]), "{report}");
    assert_eq!(report["import_errors"], json!([]), "{report}");
    let gets = report["gets"].as_u64().unwrap();
    assert!(gets >= 144, "{report}");
    assert_eq!(report["right"].as_u64(), Some(gets), "{report}");
    assert!(report["gets_via_env"].as_u64().unwrap() >= 96, "{report}");
    assert!(report["gets_via_args"].as_u64().unwrap() >= 48, "{report}");
    for ws in WORKSPACES {
        let during = report["imports_during_gets"][ws].as_u64().unwrap_or(0);
        assert!(
            during >= 2,
            "{ws} re-imported {during} times during the gets: {report}"
        );
        // Still its own login afterwards, and the worker's own workspace untouched.
        let out = sb.run_env(&["get"], SERVER.as_bytes(), &[("BETA9_WORKSPACE", ws)]);
        assert_eq!(out.assert_ok().json()["Secret"], json!(secret(ws)));
    }
    let out = sb.run_env(&["get"], SERVER.as_bytes(), &[("BETA9_WORKSPACE", DECOY)]);
    assert_eq!(out.assert_ok().json()["Secret"], json!(secret(DECOY)));
    // Nothing of the Go side (sources, build cache, program) holds a secret.
    sb.assert_not_on_disk(CANARY);
}

#[test]
fn go_client_sees_a_missing_entry_as_the_librarys_not_found() {
    if toolchain_missing() {
        return;
    }
    let sb = sandbox();
    let program = build(&sb.path().join("go"));
    let probes = json!([
        {"workspace": "team-a", "server": "other.example.com"},
        {"workspace": "never-written", "server": SERVER},
        {"workspace": "bad/name", "server": SERVER},
        {"workspace": "", "server": SERVER},
    ]);
    let report = run(&sb, &program, &spec(3, 1, probes));
    assert_eq!(report["failed"], json!([]), "{report}");
    let probes = report["probes"].as_array().unwrap();
    let result = |ws: &str| probes.iter().find(|p| p["workspace"] == ws).unwrap();

    // Absent from the workspace, and a workspace nobody wrote: IsErrCredentialsNotFound.
    for ws in ["team-a", "never-written"] {
        let p = result(ws);
        assert_eq!(p["not_found"], json!(true), "{p}");
        assert_eq!(
            p["error"], "credentials not found in native keychain",
            "{p}"
        );
    }
    // A failure is not a miss: the helper's one-line error, quoted by the library.
    let p = result("bad/name");
    assert_eq!(p["not_found"], json!(false), "{p}");
    assert!(
        p["error"]
            .as_str()
            .unwrap()
            .contains("invalid workspace name"),
        "{p}"
    );
    // No workspace is refused by the example, never read as `default`.
    let p = result("");
    assert_eq!(p["not_found"], json!(false), "{p}");
    assert_eq!(p["error"], "beta9auth: no workspace", "{p}");
}

/// docs/worker.md's example is the file the tests build, byte for byte.
#[test]
fn worker_doc_example_is_the_built_go_code() {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("docs")
            .join("worker.md"),
    )
    .unwrap();
    let section = doc
        .split("\n## Example: authn.Helper per workspace\n")
        .nth(1)
        .expect("docs/worker.md has the example section");
    let block = section
        .split("```go\n")
        .nth(1)
        .and_then(|b| b.split("\n```\n").next())
        .expect("a ```go block in the example section");
    let file = std::fs::read_to_string(example_file()).unwrap();
    assert_eq!(
        format!("{block}\n"),
        file,
        "docs/worker.md's example differs from {}",
        example_file().display()
    );
}
