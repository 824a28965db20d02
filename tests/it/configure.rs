//! `configure-docker` as people run it, and the clients after it: podman, buildah and skopeo
//! `login` writing through the helper (primary auth file from `XDG_RUNTIME_DIR`, and from
//! `/run/containers/$UID` when it is unset), Docker Hub routed for the docker CLI, docker-py and
//! the containers tools from one run, `--migrate` moving plaintext logins into the store with a
//! `.bak` that holds none; and the file rules: secrets masked from the parsed document in a dry
//! run, owner and group kept, hard links and non-regular files refused in one line.

use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{bin, tool_missing, Out, Sandbox, CANARY};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const USER: &str = "beta9-tester";

fn is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn bounded(c: &mut Command) -> Out {
    let o = kit::run_bounded(c, Duration::from_secs(60));
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

fn put(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

fn plain_auth(user: &str, pass: &str) -> String {
    kit::base64(format!("{user}:{pass}").as_bytes())
}

/// Neither the secret nor its `auth` encoding is in `path`.
fn assert_no_plaintext(path: &Path) {
    let text = fs::read_to_string(path).unwrap_or_default();
    for needle in [CANARY.to_string(), plain_auth(USER, CANARY)] {
        assert!(
            !text.contains(&needle),
            "plaintext credential in {}: {text}",
            path.display()
        );
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Dry run: masked from the parsed document

#[test]
fn dry_run_masks_every_secret_bearing_value_from_the_parsed_document() {
    let s = Sandbox::new();
    let cfg = s.path().join("config.json");
    // Each secret here printed in clear with the old line-by-line mask: the change (credHelpers
    // appended at the end) puts the last members in the diff's context.
    let docs = [
        "{\n\t\"psFormat\": \"x\",\n\t\"auths\": {\n\t\t\"r.example\": {\n\t\t\t\"auth\":\n\t\t\t\t\"SECRET-NEXT-LINE\"\n\t\t},\n\t\t\"q.example\": {\"\\u0061uth\": \"SECRET-ESCAPED\", \"Password\": \"SECRET-UPPER\"}\n\t}\n}\n",
        "{\n\t\"auths\": {},\n\t\"HttpHeaders\": {\n\t\t\"Authorization\": \"Bearer SECRET-HEADER\"\n\t},\n\t\"proxies\": {\"default\": {\"httpsProxy\": \"http://me:SECRET-PROXY@proxy.example:3128\"}}\n}\n",
    ];
    for original in docs {
        serde_json::from_str::<serde_json::Value>(original).unwrap();
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
        assert!(o.stdout.contains("+\t\t\"ghcr.io\": \"beta9\""), "{o:?}");
        for secret in [
            "SECRET-NEXT-LINE",
            "SECRET-ESCAPED",
            "SECRET-UPPER",
            "SECRET-HEADER",
            "SECRET-PROXY",
        ] {
            assert!(
                !o.stdout.contains(secret) && !o.stderr.contains(secret),
                "{secret} printed: {o:?}"
            );
        }
        // The masked values are in the diff's context, as the mask.
        assert!(o.stdout.contains("\"********\""), "{o:?}");
        assert_eq!(fs::read_to_string(&cfg).unwrap(), original);
        assert!(!s.path().join("config.json.bak").exists());
    }
}

// ---------------------------------------------------------------------------------------------
// Owner, group, links, file types

#[test]
fn root_keeps_the_owner_and_group_of_another_users_config() {
    if !is_root()
        && tool_missing(
            &crate::support::current_test(),
            "root",
            "owning files as another user needs root",
        )
    {
        return;
    }
    let s = Sandbox::new();
    let dir = s.path().join("user-home/.docker");
    let cfg = dir.join("config.json");
    put(&cfg, b"{\"psFormat\": \"x\"}\n");
    fs::set_permissions(&cfg, fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(&cfg, Some(4242), Some(4243)).unwrap();
    let path = cfg.to_string_lossy().into_owned();
    s.run(&["configure-docker", "ghcr.io", "--config", &path], b"")
        .assert_ok();
    let m = fs::metadata(&cfg).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o777), (4242, 4243, 0o640));
    let bak = fs::metadata(dir.join("config.json.bak")).unwrap();
    assert_eq!(
        (bak.uid(), bak.gid(), bak.mode() & 0o777),
        (4242, 4243, 0o600)
    );
    assert_eq!(json(&cfg)["credHelpers"]["ghcr.io"], "beta9");

    // A new file in another user's directory is theirs, and so is a directory it creates.
    let home = s.path().join("other-home");
    fs::create_dir_all(&home).unwrap();
    std::os::unix::fs::chown(&home, Some(4242), Some(4243)).unwrap();
    let new = home.join(".docker/config.json");
    let path = new.to_string_lossy().into_owned();
    s.run(&["configure-docker", "ghcr.io", "--config", &path], b"")
        .assert_ok();
    for p in [new.clone(), home.join(".docker")] {
        let m = fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.gid()), (4242, 4243), "{}", p.display());
    }
    assert_eq!(fs::metadata(&new).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn a_hard_linked_config_is_refused_in_one_line() {
    let s = Sandbox::new();
    let cfg = s.path().join("config.json");
    let other = s.path().join("dotfiles-config.json");
    let original = b"{\"credHelpers\": {\"quay.io\": \"other\"}}\n";
    put(&cfg, original);
    fs::hard_link(&cfg, &other).unwrap();
    let path = cfg.to_string_lossy().into_owned();
    let o = s.run(&["configure-docker", "ghcr.io", "--config", &path], b"");
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    assert!(
        o.stderr.contains("2 hard links") && o.stderr.contains("left untouched"),
        "{o:?}"
    );
    assert_eq!(fs::read(&cfg).unwrap(), original);
    assert_eq!(fs::read(&other).unwrap(), original);
    assert_eq!(fs::metadata(&cfg).unwrap().nlink(), 2);
    assert!(!s.path().join("config.json.bak").exists());
}

#[test]
fn a_fifo_device_or_directory_is_refused_without_blocking() {
    let s = Sandbox::new();
    let fifo = s.path().join("fifo.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let dir = s.path().join("dir.json");
    fs::create_dir(&dir).unwrap();
    for target in [fifo.clone(), dir, PathBuf::from("/dev/null")] {
        let path = target.to_string_lossy().into_owned();
        // Killed after 60 s: a blocking open of the FIFO would fail the test, not hang it.
        let o = bounded(&mut s.cmd(&["configure-docker", "ghcr.io", "--config", &path]));
        assert_eq!(o.code, 1, "{path}: {o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{path}: {o:?}");
        assert!(o.stderr.contains("not a regular file"), "{path}: {o:?}");
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

// ---------------------------------------------------------------------------------------------
// Notes about the containers tools' primary file

#[test]
fn without_containers_it_says_their_logins_will_not_use_the_helper() {
    let s = Sandbox::new();
    let run = s.path().join("run");
    fs::create_dir_all(&run).unwrap();
    let run = run.to_string_lossy().into_owned();
    let o = s.run_env(
        &["configure-docker", "ghcr.io"],
        b"",
        &[("XDG_RUNTIME_DIR", &run)],
    );
    o.assert_ok();
    let note: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.contains("podman, buildah and skopeo logins will not go through beta9"))
        .collect();
    assert_eq!(note.len(), 1, "{o:?}");
    assert!(note[0].contains("--containers"), "{o:?}");
    // A missing XDG_RUNTIME_DIR directory is refused: the tools fail there too.
    let gone = s.path().join("gone").to_string_lossy().into_owned();
    let o = s.run_env(
        &["configure-docker", "ghcr.io", "--containers"],
        b"",
        &[("XDG_RUNTIME_DIR", &gone)],
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stderr.contains("does not exist"), "{o:?}");
}

#[test]
fn a_primary_file_on_tmpfs_gets_the_registry_auth_file_line() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir()
        && tool_missing(
            &crate::support::current_test(),
            "/dev/shm",
            "no /dev/shm tmpfs here",
        )
    {
        return;
    }
    let run = tempfile::Builder::new()
        .prefix("beta9-run-")
        .tempdir_in(shm)
        .unwrap();
    let s = Sandbox::new();
    let r = run.path().to_string_lossy().into_owned();
    let o = s.run_env(
        &["configure-docker", "ghcr.io", "--containers"],
        b"",
        &[("XDG_RUNTIME_DIR", &r)],
    );
    o.assert_ok();
    assert!(
        o.stderr.contains("tmpfs")
            && o.stderr
                .contains("export REGISTRY_AUTH_FILE=\"$HOME/.config/containers/auth.json\""),
        "{o:?}"
    );
    let auth = run.path().join("containers/auth.json");
    assert_eq!(fs::metadata(&auth).unwrap().mode() & 0o777, 0o600);
    assert_eq!(
        fs::metadata(auth.parent().unwrap()).unwrap().mode() & 0o777,
        0o700
    );
}

// ---------------------------------------------------------------------------------------------
// --migrate

#[test]
fn migrate_moves_plaintext_logins_into_the_store_and_the_backup_holds_none() {
    let s = Sandbox::new();
    let host = "registry.example.com:5000";
    let run = s.path().join("run");
    let primary = run.join("containers/auth.json");
    let docker = s.home().join(".docker/config.json");
    let auth = plain_auth(USER, CANARY);
    put(
        &docker,
        format!("{{\n\t\"auths\": {{\n\t\t\"{host}\": {{\n\t\t\t\"auth\": \"{auth}\"\n\t\t}},\n\t\t\"keep.example\": {{\"auth\": \"{}\"}}\n\t}},\n\t\"psFormat\": \"x\"\n}}\n", plain_auth("u", "other-registry-secret")).as_bytes(),
    );
    put(
        &primary,
        format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"{auth}\"}}}}}}").as_bytes(),
    );
    let r = run.to_string_lossy().into_owned();
    let env = [("XDG_RUNTIME_DIR", r.as_str())];

    // A different login stored, without --migrate: routing would switch the clients to the
    // store's login, so the registry stays unrouted, in one line naming both files and the way
    // out; the plaintext stays in the files but never reaches a backup.
    s.store(host, USER, "the-stored-one").assert_ok();
    let o = s.run_env(&["configure-docker", host, "--containers"], b"", &env);
    o.assert_ok();
    let warnings: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.contains(&format!("not routing {host}")))
        .collect();
    assert_eq!(warnings.len(), 1, "{o:?}");
    assert!(
        warnings[0].contains("--migrate")
            && warnings[0].contains(&docker.display().to_string())
            && warnings[0].contains(&primary.display().to_string()),
        "{o:?}"
    );
    assert!(
        !o.stderr.contains(CANARY) && !o.stderr.contains(&auth),
        "{o:?}"
    );
    assert!(fs::read_to_string(&docker).unwrap().contains(&auth));
    assert!(json(&docker)["credHelpers"].get(host).is_none());
    // Nothing else was asked for, so neither file was rewritten (and no backup made).
    for bak in [
        docker.with_extension("json.bak"),
        primary.with_extension("json.bak"),
    ] {
        assert!(!bak.exists(), "{}", bak.display());
    }
    s.run(&["remove", host], b"").assert_ok();

    // With --migrate: into the store, out of every file and backup.
    let o = s.run_env(
        &["configure-docker", host, "--containers", "--migrate"],
        b"",
        &env,
    );
    o.assert_ok();
    assert!(
        o.stderr.contains(&format!(
            "moved the plaintext login for {host} (username {USER})"
        )),
        "{o:?}"
    );
    let got = s.get(host);
    got.assert_ok();
    assert_eq!(got.json()["Username"], USER);
    assert_eq!(got.json()["Secret"], CANARY);
    for f in [
        docker.clone(),
        primary.clone(),
        docker.with_extension("json.bak"),
        primary.with_extension("json.bak"),
    ] {
        assert_no_plaintext(&f);
    }
    let d = json(&docker);
    assert_eq!(d["psFormat"], "x");
    assert_eq!(d["credHelpers"][host], "beta9");
    assert!(d["auths"].get(host).is_none(), "{d}");
    // A login for a registry that was not routed stays where it was.
    assert!(d["auths"]["keep.example"]["auth"].is_string(), "{d}");
    assert_eq!(json(&primary)["credHelpers"][host], "beta9");
    assert_eq!(s.list().json(), serde_json::json!({ host: USER }));

    // No registry named: every registry a plaintext login was found for is routed and moved.
    let o = s.run_env(
        &["configure-docker", "--containers", "--migrate"],
        b"",
        &env,
    );
    o.assert_ok();
    assert!(
        o.stderr
            .contains("moved the plaintext login for keep.example (username u)"),
        "{o:?}"
    );
    let d = json(&docker);
    assert_eq!(d["auths"], serde_json::json!({}), "{d}");
    assert_eq!(d["credHelpers"]["keep.example"], "beta9");
    assert!(!fs::read_to_string(docker.with_extension("json.bak"))
        .unwrap()
        .contains("other-registry-secret"));
    assert_eq!(
        s.get("keep.example").json()["Secret"],
        "other-registry-secret"
    );
}

// ---------------------------------------------------------------------------------------------
// The clients after configure-docker

/// `dir/docker-credential-beta9`: the binary under test, or a recorder that logs `VERB KEY`.
fn helper_dir(s: &Sandbox, record: bool) -> (PathBuf, PathBuf) {
    let dir = s.path().join("helper-bin");
    fs::create_dir_all(&dir).unwrap();
    let log = s.path().join("helper-calls.log");
    let target = dir.join("docker-credential-beta9");
    if record {
        let script = format!(
            "#!/bin/sh\ncase \"$1\" in\nget|erase)\n  printf '%s ' \"$1\" >>'{l}'\n  tee -a '{l}' | '{b}' \"$@\"\n  rc=$?\n  echo >>'{l}'\n  exit $rc ;;\n*)\n  echo \"$1\" >>'{l}'\n  exec '{b}' \"$@\" ;;\nesac\n",
            l = log.display(),
            b = bin().display()
        );
        fs::write(&target, script).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o755)).unwrap();
    } else {
        std::os::unix::fs::symlink(bin(), &target).unwrap();
    }
    (dir, log)
}

/// A client command with only the sandbox's environment and the helper first on PATH.
fn client(
    s: &Sandbox,
    helper: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Command {
    let mut c = kit::client_command(program, s.path());
    c.args(args)
        .env_clear()
        .env("PATH", kit::path_with(helper))
        .env("HOME", s.home())
        .env("BETA9_CREDENTIALS_DIR", s.store_base())
        .current_dir(s.path());
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn run_stdin(mut c: Command, stdin: &[u8]) -> Out {
    let o = kit::run_bounded_stdin(&mut c, Some(stdin), kit::CMD_TIMEOUT);
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// `c` run inside a private mount namespace whose `/run` is a fresh tmpfs with `rundir` bound at
/// `/run/containers`: what the containers tools and the helper see as the machine's
/// `/run/containers/$UID` is the test's own directory, and the machine's real one is never
/// touched (nor created). `c` must carry its whole environment (built with `env_clear`).
fn in_private_run(rundir: &Path, c: &Command) -> Command {
    const SCRIPT: &str =
        "mount -n -t tmpfs -o mode=0755 beta9-test-run /run && mkdir /run/containers \
                          && mount -n --bind \"$0\" /run/containers && exec \"$@\"";
    kit::in_private_mounts(SCRIPT, [rundir], c)
}

/// Where the primary auth file is: `XDG_RUNTIME_DIR` (the test's directory), or the machine's
/// `/run/containers/$UID`, which for the containers tools (`registry_env::containers_tool`) and
/// for `configure-docker` (in `in_private_run`) is a directory of the test's sandbox.
#[derive(Clone, Copy)]
enum Primary<'a> {
    Xdg(&'a Path),
    PrivateRun,
}

/// podman, buildah and skopeo `login`/`logout` after `configure-docker --containers`, with the
/// primary file from `XDG_RUNTIME_DIR` or from `/run/containers/$UID` (in a private namespace).
fn containers_logins(at: Primary<'_>) {
    let reg = Registry::start(USER, CANARY);
    for tool in ["podman", "buildah", "skopeo"] {
        let s = Sandbox::new();
        let (helper, _) = helper_dir(&s, false);
        fs::create_dir_all(s.home()).unwrap();
        let (primary, xdg_s, wrap) = match at {
            Primary::Xdg(p) => (
                p.join("containers/auth.json"),
                Some(p.to_string_lossy().into_owned()),
                None,
            ),
            Primary::PrivateRun => {
                let run = kit::machine_run(s.path()).join("containers");
                fs::create_dir_all(&run).unwrap();
                (run.join("0/auth.json"), None, Some(run))
            }
        };
        let primary = primary.as_path();
        let env: Vec<(&str, &str)> = xdg_s
            .as_deref()
            .map(|x| vec![("XDG_RUNTIME_DIR", x)])
            .unwrap_or_default();
        let _ = fs::remove_file(primary);
        let mut configure = s.cmd(&["configure-docker", &reg.host, "--containers"]);
        for (k, v) in &env {
            configure.env(k, v);
        }
        let configure = match &wrap {
            Some(run) => in_private_run(run, &configure),
            None => configure,
        };
        s.run_with(configure, b"").assert_ok();
        assert_eq!(json(primary)["credHelpers"][&reg.host], "beta9", "{tool}");
        let login = [
            "login",
            "--tls-verify=false",
            "-u",
            USER,
            "--password-stdin",
            &reg.host,
        ];
        let o = run_stdin(client(&s, &helper, tool, &login, &env), CANARY.as_bytes());
        assert_eq!(o.code, 0, "{tool} login: {o:?}");
        let got = s.get(&reg.host);
        got.assert_ok();
        assert_eq!(got.json()["Secret"], CANARY, "{tool}");
        assert_no_plaintext(primary);
        s.assert_not_on_disk(CANARY);
        s.assert_not_on_disk(&plain_auth(USER, CANARY));
        // Logout erases through the helper; a second one finds nothing and still succeeds
        // (erasing an absent login is not an error: docs/clients.md, "Erasing an absent login").
        for round in ["first", "second"] {
            let o = run_stdin(client(&s, &helper, tool, &["logout", &reg.host], &env), b"");
            assert_eq!(o.code, 0, "{tool} {round} logout: {o:?}");
        }
        assert_eq!(
            s.get(&reg.host).code,
            1,
            "{tool}: still stored after logout"
        );
        let _ = fs::remove_file(primary);
    }
}

#[test]
fn podman_buildah_skopeo_logins_go_through_the_helper_with_xdg_runtime_dir() {
    let t = "configure::podman_buildah_skopeo_logins_go_through_the_helper_with_xdg_runtime_dir";
    if !tools_present(
        t,
        &["podman", "buildah", "skopeo", "docker-registry", "htpasswd"],
    ) {
        return;
    }
    let run = tempfile::Builder::new()
        .prefix("beta9-xdg-")
        .tempdir()
        .unwrap();
    fs::set_permissions(run.path(), fs::Permissions::from_mode(0o700)).unwrap();
    containers_logins(Primary::Xdg(run.path()));
}

#[test]
fn podman_buildah_skopeo_logins_go_through_the_helper_without_xdg_runtime_dir() {
    let t = "configure::podman_buildah_skopeo_logins_go_through_the_helper_without_xdg_runtime_dir";
    if !tools_present(
        t,
        &[
            "podman",
            "buildah",
            "skopeo",
            "docker-registry",
            "htpasswd",
            "unshare",
        ],
    ) {
        return;
    }
    if !is_root() && tool_missing(t, "root", "a private mount namespace needs root here") {
        return;
    }
    // The machine's /run/containers/0 is stood in for by a directory of each sandbox, seen only
    // inside the namespace each command runs in: nothing outside the test directory is written.
    let machine = Path::new("/run/containers/0/auth.json");
    let before = fs::read(machine).ok();
    containers_logins(Primary::PrivateRun);
    assert_eq!(
        fs::read(machine).ok(),
        before,
        "the machine's /run/containers/0/auth.json was written"
    );
}

#[test]
fn one_configure_docker_routes_docker_hub_for_every_client() {
    let t = "configure::one_configure_docker_routes_docker_hub_for_every_client";
    if !tools_present(t, &["docker", "skopeo", "podman"]) {
        return;
    }
    let Some((python, site)) = kit::docker_py() else {
        tool_missing(t, "python3 with docker-py", "`import docker.auth` failed");
        return;
    };
    let s = Sandbox::new();
    let (helper, log) = helper_dir(&s, true);
    let run = s.path().join("run");
    fs::create_dir_all(&run).unwrap();
    let r = run.to_string_lossy().into_owned();
    let env = [("XDG_RUNTIME_DIR", r.as_str())];
    s.store("https://index.docker.io/v1/", "hubuser", CANARY)
        .assert_ok();
    s.run_env(
        &["configure-docker", "docker.io", "--containers"],
        b"",
        &env,
    )
    .assert_ok();
    let docker_cfg = s.home().join(".docker/config.json");
    assert_eq!(
        json(&docker_cfg)["credHelpers"],
        serde_json::json!({"https://index.docker.io/v1/": "beta9", "docker.io": "beta9"})
    );
    assert_eq!(
        json(&run.join("containers/auth.json"))["credHelpers"],
        serde_json::json!({"docker.io": "beta9"})
    );
    let calls = || fs::read_to_string(&log).unwrap_or_default();

    // docker CLI: resolves Hub's login through the helper before it goes to the network; a proxy
    // that refuses every connection keeps the request (and the test login) off Docker Hub, so the
    // command itself fails right after the lookup.
    let _ = fs::remove_file(&log);
    let no_hub = [
        ("XDG_RUNTIME_DIR", r.as_str()),
        ("HTTPS_PROXY", "http://127.0.0.1:9"),
        ("HTTP_PROXY", "http://127.0.0.1:9"),
    ];
    let _ = run_stdin(
        client(
            &s,
            &helper,
            "docker",
            &["manifest", "inspect", "library/busybox:latest"],
            &no_hub,
        ),
        b"",
    );
    assert!(
        calls()
            .lines()
            .any(|l| l == "get https://index.docker.io/v1/"),
        "{}",
        calls()
    );

    // docker-py: its own config loader and credential-store client.
    let _ = fs::remove_file(&log);
    let script = "import json, docker.auth\n\
                  cfg = docker.auth.load_config()\n\
                  a = docker.auth.resolve_authconfig(cfg, 'docker.io')\n\
                  print(json.dumps((a or {}).get('Username')))\n";
    let o = run_stdin(
        client(
            &s,
            &helper,
            &python,
            &["-c", script],
            &[("PYTHONPATH", site.as_str())],
        ),
        b"",
    );
    assert_eq!((o.code, o.stdout.trim()), (0, "\"hubuser\""), "{o:?}");
    assert!(
        calls()
            .lines()
            .all(|l| l == "get https://index.docker.io/v1/"),
        "{}",
        calls()
    );

    // The containers tools: `docker.io`, from their primary file, and from docker's config.json
    // alone (which they read too).
    for tool in ["skopeo", "podman"] {
        let _ = fs::remove_file(&log);
        let o = run_stdin(
            client(
                &s,
                &helper,
                tool,
                &["login", "--get-login", "docker.io"],
                &env,
            ),
            b"",
        );
        assert_eq!((o.code, o.stdout.trim()), (0, "hubuser"), "{tool}: {o:?}");
        assert!(
            calls().lines().all(|l| l == "get docker.io"),
            "{tool}: {}",
            calls()
        );
    }
    let empty = s.path().join("empty-run");
    fs::create_dir_all(&empty).unwrap();
    let e = empty.to_string_lossy().into_owned();
    let o = run_stdin(
        client(
            &s,
            &helper,
            "skopeo",
            &["login", "--get-login", "docker.io"],
            &[("XDG_RUNTIME_DIR", &e)],
        ),
        b"",
    );
    assert_eq!(
        (o.code, o.stdout.trim()),
        (0, "hubuser"),
        "config.json only: {o:?}"
    );
    s.assert_not_on_disk(CANARY);
}

/// The packaged examples are what `configure-docker` writes for their registries.
#[test]
fn packaged_examples_match_what_configure_docker_writes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("packaging");
    let regs = [
        "docker.io",
        "ghcr.io",
        "nvcr.io",
        "111111111111.dkr.ecr.us-east-1.amazonaws.com",
        "us-docker.pkg.dev",
        "registry.example.com:5000",
    ];
    let s = Sandbox::new();
    let auth = s.path().join("auth.json");
    let a = auth.to_string_lossy().into_owned();
    let mut args = vec!["configure-docker", "--containers"];
    args.extend(regs);
    s.run_env(&args, b"", &[("REGISTRY_AUTH_FILE", &a)])
        .assert_ok();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v["credHelpers"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let written = json(&s.home().join(".docker/config.json"));
    assert_eq!(
        keys(&written),
        keys(&json(&root.join("config.json.example")))
    );
    assert_eq!(
        keys(&json(&auth)),
        keys(&json(&root.join("auth.json.example")))
    );
}

#[test]
fn migrate_never_replaces_a_different_stored_login() {
    let s = Sandbox::new();
    let host = "registry.example.com:5000";
    s.store(host, USER, "the-stored-one").assert_ok();
    let docker = s.home().join(".docker/config.json");
    let auth = plain_auth(USER, CANARY);
    put(
        &docker,
        format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"{auth}\"}}}}}}").as_bytes(),
    );
    let run = s.path().join("run");
    fs::create_dir_all(&run).unwrap();
    let r = run.to_string_lossy().into_owned();
    // Without --migrate the route stays off (the file's login keeps working) ...
    let o = s.run_env(&["configure-docker", host], b"", &[("XDG_RUNTIME_DIR", &r)]);
    o.assert_ok();
    assert!(o.stderr.contains(&format!("not routing {host}")), "{o:?}");
    assert!(json(&docker)["credHelpers"].get(host).is_none());
    // ... and --migrate says the store's wins.
    let o = s.run_env(
        &["configure-docker", host, "--migrate"],
        b"",
        &[("XDG_RUNTIME_DIR", &r)],
    );
    o.assert_ok();
    assert!(
        o.stderr
            .contains("differs from the one in the store and was left"),
        "{o:?}"
    );
    assert_eq!(json(&docker)["credHelpers"][host], "beta9");
    assert_eq!(s.get(host).json()["Secret"], "the-stored-one");
    assert!(fs::read_to_string(&docker).unwrap().contains(&auth));
    assert_no_plaintext(&docker.with_extension("json.bak"));
}

/// A plaintext docker login that pulled before `configure-docker` keeps working after it: docker
/// and go-containerregistry never fall back from a routed helper to `auths` (docs/clients.md,
/// "Routing and plaintext logins"), so the login the store lacks is moved into it, in one line.
#[test]
fn configure_docker_keeps_a_plaintext_login_working_by_moving_it_into_the_store() {
    let s = Sandbox::new();
    let host = "registry.example.com:5000";
    let docker = s.home().join(".docker/config.json");
    let auth = plain_auth(USER, CANARY);
    put(
        &docker,
        format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"{auth}\"}}}}}}").as_bytes(),
    );
    let run = s.path().join("run");
    fs::create_dir_all(&run).unwrap();
    let r = run.to_string_lossy().into_owned();
    let o = s.run_env(&["configure-docker", host], b"", &[("XDG_RUNTIME_DIR", &r)]);
    o.assert_ok();
    let moved: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| {
            l.contains(&format!(
                "moved the plaintext login for {host} (username {USER})"
            ))
        })
        .collect();
    assert_eq!(moved.len(), 1, "{o:?}");
    assert!(!o.stderr.contains(CANARY), "{o:?}");
    let d = json(&docker);
    assert_eq!(d["credHelpers"][host], "beta9");
    assert!(d["auths"].get(host).is_none(), "{d}");
    let got = s.get(host);
    got.assert_ok();
    assert_eq!(
        (got.json()["Username"].clone(), got.json()["Secret"].clone()),
        (serde_json::json!(USER), serde_json::json!(CANARY))
    );
    assert_no_plaintext(&docker);
    assert_no_plaintext(&docker.with_extension("json.bak"));
}
