//! What `doctor` says about logins beside the entry that answers: a plaintext login left in a
//! file the clients read that differs from the store's, an entry that only another workspace
//! holds, and what `podman logout --all` / `skopeo logout --all` do to the routing (observed with
//! the real tools on the test's own `REGISTRY_AUTH_FILE`; docs/clients.md, "Logging out of every
//! registry").

use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{bin, Out, Sandbox, CANARY};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const USER: &str = "beta9-tester";
const OLD: &str = "an-older-password";
const HOST: &str = "registry.example.com:5000";
const NOT_FOUND: &str = "credentials not found in native keychain\n";

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

fn write_json(path: &Path, v: &serde_json::Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

/// A sandbox whose containers primary file is its own (`XDG_RUNTIME_DIR` inside it).
fn sandbox() -> Sandbox {
    let mut s = Sandbox::new();
    let run = s.path().join("run");
    fs::create_dir_all(&run).unwrap();
    s.set_env("XDG_RUNTIME_DIR", &run.to_string_lossy());
    s.set_env("BETA9_TIMEOUT", "5");
    fs::create_dir_all(s.home()).unwrap();
    s
}

fn docker_config(s: &Sandbox) -> PathBuf {
    s.home().join(".docker/config.json")
}

/// Adds `auths[key]` with `user:password` to the JSON file at `path` (created if absent).
fn add_plaintext(path: &Path, key: &str, user: &str, password: &str) {
    let mut v = if path.exists() {
        json(path)
    } else {
        serde_json::json!({})
    };
    v["auths"][key] = serde_json::json!({
        "auth": kit::base64(format!("{user}:{password}").as_bytes())
    });
    write_json(path, &v);
}

fn doctor(s: &Sandbox, image: &str) -> Out {
    let o = s.run(&["doctor", image, "--no-network"], b"");
    for secret in [CANARY, OLD] {
        assert!(
            !o.stdout.contains(secret) && !o.stderr.contains(secret),
            "doctor printed a password: {o:?}"
        );
    }
    o
}

fn line<'a>(o: &'a Out, step: &str) -> Option<&'a str> {
    o.stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(step))
}

#[test]
fn a_plaintext_login_left_beside_the_store_is_named_with_what_it_means() {
    let s = sandbox();
    s.store(HOST, USER, CANARY).assert_ok();
    s.run(&["configure-docker", HOST, "--containers"], b"")
        .assert_ok();
    // What `configure-docker --migrate` leaves (with a warning) when the store holds another one.
    let config = docker_config(&s);
    add_plaintext(&config, HOST, USER, OLD);
    let o = doctor(&s, &format!("{HOST}/team/app:1"));
    let l = line(&o, "plaintext").unwrap_or_else(|| panic!("no plaintext line: {o:?}"));
    assert!(l.starts_with("warn "), "{o:?}");
    for words in [
        format!("{} auths[\"{HOST}\"] (username {USER})", config.display()),
        "that differs from the stored one".into(),
        "docker-py falls back to it".into(),
        "`podman logout --all` and `skopeo logout --all` erase the stored logins and empty the containers tools' auth file, routing included".into(),
        format!("to fix: if the stored login is the right one (`docker-credential-beta9 show {HOST}`), delete auths[\"{HOST}\"] from {}", config.display()),
    ] {
        assert!(l.contains(&words), "lacks {words:?}: {l}");
    }

    // The same login in plaintext as in the store changes nothing a client sends: no line.
    add_plaintext(&config, HOST, USER, CANARY);
    let o = doctor(&s, &format!("{HOST}/team/app:1"));
    assert!(line(&o, "plaintext").is_none(), "{o:?}");

    // After a logout erased the store's login, a plaintext one in a containers auth file is
    // named too, with the command that moves it into the store.
    s.erase(HOST).assert_ok();
    let user_file = s.home().join(".config/containers/auth.json");
    add_plaintext(&user_file, HOST, "someone-else", OLD);
    let o = doctor(&s, &format!("{HOST}/team/app:1"));
    let l = line(&o, "plaintext").unwrap_or_else(|| panic!("no plaintext line: {o:?}"));
    assert!(
        l.contains(&format!(
            "{} auths[\"{HOST}\"] (username {USER}), {} auths[\"{HOST}\"] (username someone-else) while the store holds none for it",
            config.display(),
            user_file.display()
        )),
        "{l}"
    );
    assert!(
        l.contains(&format!(
            "to fix: `docker-credential-beta9 configure-docker {HOST} --migrate` moves it into the store"
        )),
        "{l}"
    );
}

#[test]
fn an_entry_only_in_another_workspace_is_named_by_doctor_and_get_stays_byte_exact() {
    let s = sandbox();
    let stored = s.run_env(
        &["store"],
        format!(r#"{{"ServerURL":"{HOST}","Username":"{USER}","Secret":"{CANARY}"}}"#).as_bytes(),
        &[("BETA9_WORKSPACE", "team-b")],
    );
    stored.assert_ok();
    // Routed, so the first thing doctor finds wrong is the entry, not the routing.
    s.run(&["configure-docker", HOST], b"").assert_ok();
    let got = s.get(HOST);
    assert_eq!((got.code, got.stdout.as_str()), (1, NOT_FOUND), "{got:?}");
    let o = doctor(&s, &format!("{HOST}/team/app:1"));
    let l = line(&o, "entry").unwrap();
    assert!(l.starts_with("FAIL "), "{o:?}");
    assert!(
        l.contains("in workspace default; workspace team-b holds one, which a helper started with BETA9_WORKSPACE=team-b (or --workspace team-b) answers"),
        "{o:?}"
    );
    let result = o.stdout.lines().last().unwrap();
    assert!(
        result.contains(&format!(
            "to fix: run the clients' helper in that workspace (BETA9_WORKSPACE=team-b; check it with `docker-credential-beta9 --workspace team-b doctor {HOST}/team/app:1`)"
        )),
        "{result}"
    );
    // In that workspace, doctor finds it.
    let o = s.run_env(
        &["doctor", &format!("{HOST}/team/app:1"), "--no-network"],
        b"",
        &[("BETA9_WORKSPACE", "team-b")],
    );
    assert!(line(&o, "entry").unwrap().starts_with("ok "), "{o:?}");
}

/// The helper first on PATH, as the clients find it.
fn helper_dir(s: &Sandbox) -> PathBuf {
    let dir = s.path().join("helper-bin");
    fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(bin(), dir.join("docker-credential-beta9")).unwrap();
    dir
}

fn tool(s: &Sandbox, helper: &Path, auth: &Path, args: &[&str], stdin: &[u8]) -> Out {
    let mut c = kit::client_command(args[0], s.path());
    c.args(&args[1..])
        .env_clear()
        .env("PATH", kit::path_with(helper))
        .env("HOME", s.home())
        .env("BETA9_CREDENTIALS_DIR", s.store_base())
        .env("XDG_RUNTIME_DIR", s.path().join("run"))
        .env("REGISTRY_AUTH_FILE", auth)
        .current_dir(s.path());
    let o = kit::run_bounded_stdin(&mut c, Some(stdin), Duration::from_secs(60));
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// `logout --all` erases every routed registry through the helper and then rewrites the auth
/// file as `{"auths": {}}`: the routing is gone, so the next `login` stores the password in
/// plaintext; `configure-docker --containers --migrate` moves it back and routes again.
#[test]
fn logout_all_drops_the_routing_and_migrate_restores_it() {
    let t = "doctor_leftovers::logout_all_drops_the_routing_and_migrate_restores_it";
    if !tools_present(t, &["skopeo", "podman", "docker-registry", "htpasswd"]) {
        return;
    }
    let reg = Registry::start(USER, CANARY);
    for client in ["skopeo", "podman"] {
        let mut s = sandbox();
        let auth = s.path().join("auth.json");
        s.set_env("REGISTRY_AUTH_FILE", &auth.to_string_lossy());
        let helper = helper_dir(&s);
        s.store(&reg.host, USER, CANARY).assert_ok();
        s.store(HOST, USER, OLD).assert_ok();
        s.run(&["configure-docker", &reg.host, HOST, "--containers"], b"")
            .assert_ok();
        assert_eq!(json(&auth)["credHelpers"][&reg.host], "beta9", "{client}");

        let o = tool(&s, &helper, &auth, &[client, "logout", "--all"], b"");
        assert_eq!(o.code, 0, "{client} logout --all: {o:?}");
        // Every routed registry was erased through the helper...
        for host in [reg.host.as_str(), HOST] {
            assert_eq!(
                s.get(host).stdout,
                NOT_FOUND,
                "{client}: {host} still stored"
            );
        }
        // ...and the file, routing included, is rewritten empty.
        assert_eq!(
            json(&auth),
            serde_json::json!({"auths": {}}),
            "{client} left: {}",
            fs::read_to_string(&auth).unwrap()
        );

        // The next login lands in plaintext.
        let login = [
            client,
            "login",
            "--tls-verify=false",
            "-u",
            USER,
            "--password-stdin",
            &reg.host,
        ];
        let o = tool(&s, &helper, &auth, &login, CANARY.as_bytes());
        assert_eq!(o.code, 0, "{client} login: {o:?}");
        assert_eq!(
            json(&auth)["auths"][&reg.host]["auth"],
            kit::base64(format!("{USER}:{CANARY}").as_bytes()),
            "{client}"
        );
        assert_eq!(s.get(&reg.host).stdout, NOT_FOUND, "{client}");
        // doctor names it, and the command that moves it back.
        let o = doctor(&s, &format!("{}/beta9/tiny:v1", reg.host));
        let l = line(&o, "plaintext").unwrap_or_else(|| panic!("{client}: {o:?}"));
        assert!(l.contains("while the store holds none for it"), "{l}");

        // Re-routing after it: --migrate moves the login into the store and routes again.
        s.run(
            &["configure-docker", &reg.host, "--containers", "--migrate"],
            b"",
        )
        .assert_ok();
        let v = json(&auth);
        assert_eq!(v["credHelpers"][&reg.host], "beta9", "{client}: {v}");
        assert!(v["auths"].get(&reg.host).is_none(), "{client}: {v}");
        let got = s.get(&reg.host);
        got.assert_ok();
        assert_eq!(got.json()["Secret"], CANARY, "{client}");
        s.assert_not_on_disk(CANARY);
    }
}
