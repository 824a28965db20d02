//! Tests never write the machine's paths. The containers tools (skopeo, podman, buildah) write
//! theirs by default: as root the blob-info cache in `/var/lib/containers/cache` (no flag or
//! variable moves it), storage in `/var/lib/containers/storage` and `/run/containers/storage`,
//! podman's state in `/run/libpod`, the short-name alias cache in `/var/cache/containers`, big
//! temporary files in `/var/tmp`; rootless, the same under
//! `$XDG_DATA_HOME` / `$HOME` (docs/clients.md, "The containers tools' own files"). Every test
//! runs them through `registry_env::containers_tool`, which moves all of that into the test's own
//! directory; these tests run that helper where every write below the machine's directories
//! lands in an overlay of the test's (`/run`: an empty tmpfs) and check that nothing was written,
//! and that no test builds such a command by itself.

use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{tool_missing, CANARY};
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const USER: &str = "beta9-tester";

/// The machine's directories watched: every write below them lands in an overlay's upper
/// directory (a tmpfs of the watching namespace), `/run` is an empty tmpfs; so even a tool that
/// writes them writes nothing of the machine, and what it wrote can be listed.
const WATCHED: &[&str] = &[
    "/etc", "/root", "/var", "/usr", "/opt", "/home", "/srv", "/run",
];

/// `c` run in a private mount namespace where the `WATCHED` directories are stand-ins; after it
/// ends, every path written below them is listed in `found` (one a line; outside `work`).
/// `c` carries its whole environment (built with `env_clear`) or inherits the test's.
fn watched(c: &Command, work: &Path, found: &Path) -> Command {
    // $0: the work dir (a tmpfs in the namespace: the overlays' upper and work directories),
    // $1: the file of what appeared.
    const SCRIPT: &str = "w=$0; found=$1; shift
        dirs='etc root var usr opt home srv'
        mount -n -t tmpfs beta9-watch \"$w\" || exit 125
        for d in $dirs; do
            [ -d \"/$d\" ] || continue
            mkdir \"$w/$d-up\" \"$w/$d-work\" || exit 125
            mount -n -t overlay beta9-watch \
                -o \"lowerdir=/$d,upperdir=$w/$d-up,workdir=$w/$d-work\" \"/$d\" || exit 125
        done
        mount -n -t tmpfs beta9-watch /run || exit 125
        \"$@\"; rc=$?
        for d in $dirs; do
            [ -d \"$w/$d-up\" ] && (cd \"$w/$d-up\" && find . -mindepth 1 | sed \"s|^[.]|/$d|\")
        done >\"$found\"
        find /run -mindepth 1 >>\"$found\"
        exit $rc";
    kit::in_private_mounts(SCRIPT, [work, found], c)
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs `c` watched; panics unless it succeeded and wrote nothing in the watched directories.
fn assert_writes_nothing_of_the_machine(what: &str, c: &Command, work: &Path) {
    fs::create_dir_all(work).unwrap();
    let found = work.with_extension("appeared");
    let o = kit::run_bounded(&mut watched(c, work, &found), kit::CMD_TIMEOUT);
    let appeared = fs::read_to_string(&found).unwrap_or_default();
    assert!(
        o.status.success(),
        "{what} failed ({}): {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        appeared,
        "",
        "{what} wrote the machine's directories ({}):\n{appeared}",
        WATCHED.join(", ")
    );
}

/// The shared skopeo push (`registry_env::push_tiny_image`'s), a podman pull and a buildah pull
/// of the image, each as the tests run them, leave every machine directory as it was.
#[test]
fn the_containers_tools_as_tests_run_them_write_nothing_of_the_machine() {
    let t = "machine_paths::the_containers_tools_as_tests_run_them_write_nothing_of_the_machine";
    if !tools_present(
        t,
        &[
            "docker-registry",
            "htpasswd",
            "skopeo",
            "podman",
            "buildah",
            "unshare",
        ],
    ) {
        return;
    }
    if !is_root() && tool_missing(t, "root", "the watching mount namespace needs root here") {
        return;
    }
    let reg = Registry::start(USER, CANARY);
    let dir = tempfile::Builder::new()
        .prefix("beta9-machine-")
        .tempdir()
        .unwrap();
    let auth = dir.path().join("auth.json");
    kit::write_plain_auth_file(&auth, &reg.host, USER, CANARY);
    let layout = dir.path().join("layout");
    fs::create_dir_all(&layout).unwrap();
    kit::write_tiny_oci_layout(&layout, "v1", "hello, machine paths\n");
    let a = auth.to_string_lossy().into_owned();
    let src = format!("oci:{}:v1", layout.display());
    let image = format!("{}/beta9/tiny:v1", reg.host);
    let dst = format!("docker://{image}");

    let state = dir.path().join("skopeo");
    fs::create_dir_all(&state).unwrap();
    let push = kit::skopeo_command(&state, &kit::push_args(&a, &src, &dst), &[]);
    assert_writes_nothing_of_the_machine("skopeo copy", &push, &dir.path().join("w-skopeo"));

    for tool in ["podman", "buildah"] {
        let state = dir.path().join(tool);
        fs::create_dir_all(&state).unwrap();
        let mut c = kit::containers_tool(tool, &state);
        c.args([
            "pull",
            "--quiet",
            "--tls-verify=false",
            "--authfile",
            &a,
            &image,
        ]);
        assert_writes_nothing_of_the_machine(
            &format!("{tool} pull"),
            &c,
            &dir.path().join(format!("w-{tool}")),
        );
    }
    // A short name (no registry) is resolved through the short-name alias cache, which root's
    // podman and buildah lock in /var/cache/containers.
    let state = dir.path().join("podman");
    for (i, args) in [["tag", &image, "tiny:v1"], ["image", "exists", "tiny:v1"]]
        .iter()
        .enumerate()
    {
        let mut c = kit::containers_tool("podman", &state);
        c.args(args);
        assert_writes_nothing_of_the_machine(
            &format!("podman {}", args.join(" ")),
            &c,
            &dir.path().join(format!("w-short-{i}")),
        );
    }
}

/// The test sources, for the guard below.
fn test_sources() -> Vec<(PathBuf, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let mut out: Vec<(PathBuf, String)> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    out.sort();
    out
}

/// Where `text` builds a skopeo, podman or buildah command itself (`Command::new("skopeo")`,
/// with or without `std::process::`): `file:line` for each.
fn own_commands(name: &str, text: &str) -> Vec<String> {
    let mut hits = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let squeezed: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        for tool in ["skopeo", "podman", "buildah"] {
            if squeezed.contains(&format!("Command::new(\"{tool}\"")) {
                hits.push(format!("{name}:{}", i + 1));
            }
        }
    }
    hits
}

/// Only `registry_env::containers_tool` builds a containers tool's command; every other test
/// goes through it (so through its isolation).
#[test]
fn no_test_runs_a_containers_tool_outside_the_shared_helper() {
    let mut hits = Vec::new();
    for (path, text) in test_sources() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        hits.extend(own_commands(&name, &text));
    }
    assert!(
        hits.is_empty(),
        "a test builds skopeo/podman/buildah itself instead of using \
         registry_env::containers_tool: {hits:?}"
    );
}

/// The guard sees the forms a test would write.
#[test]
fn the_guard_finds_a_planted_command() {
    let planted = "fn f() {\n    let c = std::process::Command::new( \"podman\" );\n}\n\
                   fn g() { Command::new(\"skopeo\").arg(\"x\"); }\n";
    assert_eq!(
        own_commands("x.rs", planted),
        vec!["x.rs:2".to_string(), "x.rs:4".to_string()]
    );
    assert!(own_commands("y.rs", "Command::new(\"docker\")").is_empty());
}
