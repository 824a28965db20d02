//! Hardening, second pass: no credential misrouted by a registry name, no key minted or rotated
//! in a way that loses entries, no file trusted or deleted blindly. Each test names the class it
//! guards; each failed before its fix.

use crate::support::{Sandbox, CANARY};

const HUB_PAT: &str = "hub-pat-must-stay";

/// A sandbox with a Docker Hub login stored the way `docker login` stores it.
fn with_hub_login() -> Sandbox {
    let s = Sandbox::new();
    s.store("https://index.docker.io/v1/", "hubuser", HUB_PAT)
        .assert_ok();
    s
}

fn hub_secret(s: &Sandbox) -> String {
    let o = s.get("https://index.docker.io/v1/");
    o.assert_ok();
    o.json()["Secret"].as_str().unwrap().to_string()
}

// --- Credentials only go to the registry they were made for ---------------------------------

#[test]
fn host_port_and_single_label_registries_never_touch_the_docker_hub_entry() {
    let s = with_hub_login();
    let env = [("USERNAME", "ci"), ("PASSWORD", CANARY)];
    for reg in ["registry:5000", "nexus:8082"] {
        let o = s.run_env(&["add", reg, "USERNAME", "PASSWORD"], b"", &env);
        o.assert_ok();
        assert!(o.stderr.contains(&format!("for {reg} ")), "{o:?}");
        // docker asks for exactly that key and gets the private registry's login.
        assert_eq!(s.get(reg).json()["Secret"], CANARY);
    }
    assert_eq!(hub_secret(&s), HUB_PAT, "add replaced the Hub login");
    // export / show name the private registry, never Hub.
    let e = s.run(&["export", "registry:5000"], b"");
    e.assert_ok();
    assert_eq!(e.json()["registry"], "registry:5000");
    assert!(!e.stdout.contains(HUB_PAT));
    let sh = s.run(&["show", "nexus:8082"], b"");
    assert!(sh.stdout.contains("registry:    nexus:8082"), "{sh:?}");
    // import with --registry naming a single-label host, and a record naming one.
    let o = s.run(
        &["import", "--registry", "myregistry"],
        format!("ci:{CANARY}").as_bytes(),
    );
    o.assert_ok();
    assert_eq!(s.get("myregistry").json()["Secret"], CANARY);
    let rec = format!(
        r#"{{"credentials":{{"USERNAME":"a","PASSWORD":"{CANARY}"}},"registry":"artifactory","type":"basic"}}"#
    );
    s.run(&["import"], rec.as_bytes()).assert_ok();
    assert_eq!(s.get("artifactory").json()["Secret"], CANARY);
    assert_eq!(hub_secret(&s), HUB_PAT, "import replaced the Hub login");
    // remove names exactly those registries.
    for reg in ["nexus:8082", "registry:5000", "artifactory"] {
        let o = s.run(&["remove", reg], b"");
        o.assert_ok();
        assert!(o.stderr.contains(&format!("removed {reg} ")), "{o:?}");
    }
    assert_eq!(hub_secret(&s), HUB_PAT, "remove deleted the Hub login");
    // configure-docker routes the host:port key, not Hub.
    let c = s.run(&["configure-docker", "--dry-run", "registry:5000"], b"");
    c.assert_ok();
    assert!(c.stdout.contains("\"registry:5000\": \"beta9\""), "{c:?}");
    assert!(!c.stdout.contains("index.docker.io"), "{c:?}");
}

#[test]
fn input_that_names_no_registry_is_refused_in_one_line() {
    let s = with_hub_login();
    for bad in [":", "@", "https://", ":443"] {
        for args in [
            vec!["add", bad, "USERNAME", "PASSWORD"],
            vec!["remove", bad],
            vec!["show", bad],
            vec!["export", bad],
            vec!["secret-name", bad],
        ] {
            let o = s.run_env(&args, b"", &[("USERNAME", "u"), ("PASSWORD", "p")]);
            assert_eq!(o.code, 1, "{args:?}: {o:?}");
            assert!(o.stdout.is_empty(), "{args:?}: {o:?}");
            assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {o:?}");
            assert!(o.stderr.contains("not a registry"), "{args:?}: {o:?}");
        }
        // The protocol: one stdout line, exit 1, nothing stored or erased.
        for o in [s.get(bad), s.erase(bad), s.store(bad, "u", CANARY)] {
            assert_eq!(o.code, 1, "{bad:?}: {o:?}");
            assert_eq!(o.stdout.lines().count(), 1, "{bad:?}: {o:?}");
            assert!(o.stdout.contains("not a registry"), "{bad:?}: {o:?}");
        }
        let o = s.run(&["import", "--registry", bad], b"u:p");
        assert_eq!(o.code, 1, "{bad:?}: {o:?}");
    }
    assert_eq!(hub_secret(&s), HUB_PAT);
    assert_eq!(s.list().json().as_object().unwrap().len(), 1);
}

#[test]
fn image_references_keep_dockers_rules() {
    let s = Sandbox::new();
    for (reference, want) in [
        ("myuser/img:1", "oci-creds-3530c4415dd857fb"),
        ("ubuntu", "oci-creds-3530c4415dd857fb"),
        (
            "registry.example.com:5000/team/img",
            "oci-creds-9f402d6e87b52f3f",
        ),
        ("ghcr.io", "oci-creds-0fd460f0568e29c1"),
    ] {
        let o = s.run(&["secret-name", reference], b"");
        assert_eq!(o.stdout.trim(), want, "{reference}: {o:?}");
    }
}

// --- The master key: never rotated, minted or mixed in a way that loses entries ------------

/// A key file as an operator would mount it: 64 hex characters, 0600.
fn write_key(path: &std::path::Path, byte: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    std::io::Write::write_all(&mut f, byte.repeat(32).as_bytes()).unwrap();
}

fn with_base(
    s: &Sandbox,
    base: &std::path::Path,
    args: &[&str],
    stdin: &[u8],
) -> crate::support::Out {
    let mut c = s.cmd(args);
    c.env("BETA9_CREDENTIALS_DIR", base);
    s.run_with(c, stdin)
}

#[test]
fn rekey_of_one_store_base_never_touches_another_bases_key() {
    let s = Sandbox::new();
    s.store("ghcr.io", "u", CANARY).assert_ok();
    // An empty scratch base: nothing to rotate, and the real store is untouched.
    let scratch = s.path().join("scratch");
    let o = with_base(&s, &scratch, &["rekey"], b"");
    o.assert_ok();
    assert_eq!(s.get("ghcr.io").json()["Secret"], CANARY, "{o:?}");
    // A second base with entries of its own rotates its own key only.
    let other = s.path().join("other");
    let login = br#"{"ServerURL":"nvcr.io","Username":"$oauthtoken","Secret":"nk"}"#;
    with_base(&s, &other, &["store"], login).assert_ok();
    let key_before = std::fs::read(s.key_file()).unwrap();
    with_base(&s, &other, &["rekey"], b"").assert_ok();
    assert_eq!(std::fs::read(s.key_file()).unwrap(), key_before);
    assert_eq!(s.get("ghcr.io").json()["Secret"], CANARY);
    let o = with_base(&s, &other, &["get"], b"nvcr.io");
    assert_eq!(o.json()["Secret"], "nk", "{o:?}");
    // And rotating the first base leaves the second readable.
    s.run(&["rekey"], b"").assert_ok();
    assert_eq!(
        with_base(&s, &other, &["get"], b"nvcr.io").json()["Secret"],
        "nk"
    );
}

#[test]
fn a_missing_key_is_noticed_in_every_workspace_and_never_replaced() {
    let s = Sandbox::new();
    s.store("ghcr.io", "u", "p").assert_ok();
    std::fs::remove_file(s.key_file()).unwrap();
    for ws in ["default", "team"] {
        let o = s.run_env(
            &["store"],
            br#"{"ServerURL":"nvcr.io","Username":"u","Secret":"p"}"#,
            &[("BETA9_WORKSPACE", ws)],
        );
        assert_eq!(o.code, 1, "{ws}: {o:?}");
        assert!(o.stdout.contains("restore it"), "{ws}: {o:?}");
        assert!(!s.key_file().exists(), "{ws}: a new key was minted");
    }
}

#[test]
fn a_key_that_did_not_seal_the_store_is_refused_for_every_write() {
    let s = Sandbox::new();
    let (a, b) = (s.path().join("a.key"), s.path().join("b.key"));
    write_key(&a, "11");
    write_key(&b, "22");
    let key = |p: &std::path::Path| {
        vec![(
            "BETA9_CREDENTIALS_KEY_FILE",
            p.to_str().unwrap().to_string(),
        )]
    };
    let (ka, kb) = (key(&a), key(&b));
    fn env<'a>(k: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        k.iter().map(|(n, v)| (*n, v.as_str())).collect()
    }
    s.run_env(
        &["store"],
        br#"{"ServerURL":"ghcr.io","Username":"u","Secret":"a"}"#,
        &env(&ka),
    )
    .assert_ok();
    // Another node's key file, used for new writes: refused, with what to restore.
    let o = s.run_env(
        &["store"],
        br#"{"ServerURL":"nvcr.io","Username":"u","Secret":"b"}"#,
        &env(&kb),
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert!(
        o.stdout.contains("wrong key") && o.stdout.contains("restore"),
        "{o:?}"
    );
    let mut add_env = env(&kb);
    add_env.push(("NGC_API_KEY", "nk"));
    let o = s.run_env(&["add", "nvcr.io", "NGC_API_KEY"], b"", &add_env);
    assert_eq!(o.code, 2, "{o:?}");
    let o = s.run_env(&["import", "--registry", "r.example"], b"u:p", &env(&kb));
    assert_ne!(o.code, 0, "{o:?}");
    assert_ne!(s.run_env(&["rekey"], b"", &env(&kb)).code, 0);
    // Nothing was written: the store holds one entry, readable with its own key.
    let l = s.run_env(&["list"], b"", &env(&ka));
    assert_eq!(l.json().as_object().unwrap().len(), 1, "{l:?}");
    assert_eq!(
        s.run_env(&["get"], b"ghcr.io", &env(&ka)).json()["Secret"],
        "a"
    );
}

fn fill(s: &Sandbox, n: usize, env: &[(&str, &str)]) {
    for i in 0..n {
        let body = serde_json::json!({"ServerURL": format!("r{i}.rot.example"), "Username": "u", "Secret": format!("s{i}")});
        s.run_env(&["store"], body.to_string().as_bytes(), env)
            .assert_ok();
    }
}

fn all_open(s: &Sandbox, n: usize, env: &[(&str, &str)]) -> Result<(), String> {
    let l = s.run_env(&["list"], b"", env);
    if l.code != 0 || !l.stderr.is_empty() {
        return Err(format!("list: {l:?}"));
    }
    for i in 0..n {
        let o = s.run_env(&["get"], format!("r{i}.rot.example").as_bytes(), env);
        if o.code != 0 || o.json()["Secret"] != format!("s{i}") {
            return Err(format!("r{i}: {o:?}"));
        }
    }
    Ok(())
}

#[test]
fn an_operator_key_rotation_killed_anywhere_stays_readable_under_either_key_and_finishes() {
    const N: usize = 60;
    let s = Sandbox::new();
    let (k1, k2) = (s.path().join("k1"), s.path().join("k2"));
    write_key(&k1, "11");
    write_key(&k2, "22");
    let e1 = [("BETA9_CREDENTIALS_KEY_FILE", k1.to_str().unwrap())];
    let e2 = [("BETA9_CREDENTIALS_KEY_FILE", k2.to_str().unwrap())];
    fill(&s, N, &e1);
    let rotate = || {
        let mut c = s.cmd(&["rekey", "--new-key-file", k2.to_str().unwrap()]);
        c.env("BETA9_CREDENTIALS_KEY_FILE", &k1);
        c
    };
    // Calibrate on a rotation that is then undone by rotating back (k2 -> k1).
    let started = std::time::Instant::now();
    s.run_with(rotate(), b"").assert_ok();
    let span = started.elapsed().as_micros().max(2000) as u64;
    let mut back = s.cmd(&["rekey", "--new-key-file", k1.to_str().unwrap()]);
    back.env("BETA9_CREDENTIALS_KEY_FILE", &k2);
    s.run_with(back, b"").assert_ok();
    all_open(&s, N, &e1).unwrap();
    let mut mid = 0;
    let mut rng = fastrand::Rng::with_seed(0x9E37_79B9);
    for _ in 0..12 {
        let mut child = rotate()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(rng.u64(..span)));
        let _ = child.kill();
        let finished = child.wait().unwrap().success();
        if finished || !s.rotation_parked() {
            // Killed before parking or after finishing: start again from k1.
            if finished {
                let mut back = s.cmd(&["rekey", "--new-key-file", k1.to_str().unwrap()]);
                back.env("BETA9_CREDENTIALS_KEY_FILE", &k2);
                s.run_with(back, b"").assert_ok();
            }
            continue;
        }
        mid += 1;
        // Mid-rotation: readers on the old key open every entry. Readers on the new key do too
        // once the key check (sealed under it) says the rotation is in progress; killed between
        // parking the keys and marking the check, no entry was moved yet and the new key's holder
        // is not given the old key (docs/storage.md, "Key ownership and rotation").
        all_open(&s, N, &e1).unwrap();
        let check = std::fs::read(s.store_base().join("keycheck")).unwrap();
        let new_key = docker_credential_beta9::seal::Key::from_bytes([0x22; 32]);
        if docker_credential_beta9::store::keys::open_check(&new_key, &check).is_some() {
            all_open(&s, N, &e2).unwrap();
        }
        // The rerun finishes the same rotation; then the old key is refused in one line.
        s.run_with(rotate(), b"").assert_ok();
        assert!(!s.rotation_parked());
        all_open(&s, N, &e2).unwrap();
        let o = s.run_env(&["get"], b"r0.rot.example", &e1);
        assert_eq!(o.code, 1);
        assert!(o.stdout.contains("wrong key"), "{o:?}");
        let mut back = s.cmd(&["rekey", "--new-key-file", k1.to_str().unwrap()]);
        back.env("BETA9_CREDENTIALS_KEY_FILE", &k2);
        s.run_with(back, b"").assert_ok();
    }
    eprintln!(
        "operator rotation: {mid} of 12 runs killed with the next key parked (span {span} us)"
    );
    assert!(
        mid > 0,
        "no rotation was killed mid-way: the test proved nothing"
    );
}

#[test]
fn concurrent_gets_never_fail_during_a_rekey_loop_and_overlapping_rotations_lose_nothing() {
    const N: usize = 30;
    let s = Sandbox::new();
    fill(&s, N, &[]);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (gets, failures) = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..4)
            .map(|t| {
                let (s, stop) = (&s, &stop);
                scope.spawn(move || {
                    let (mut gets, mut failures) = (0u64, Vec::new());
                    let mut i = t;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let o = s.get(&format!("r{}.rot.example", i % N));
                        gets += 1;
                        if o.code != 0 {
                            failures.push(format!("{o:?}"));
                        }
                        i += 7;
                    }
                    (gets, failures)
                })
            })
            .collect();
        // Rotations back to back, two at a time (they must serialise, never interleave).
        for _ in 0..6 {
            let a = scope.spawn(|| s.run(&["rekey"], b""));
            let b = s.run(&["rekey"], b"");
            b.assert_ok();
            a.join().unwrap().assert_ok();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        readers.into_iter().map(|r| r.join().unwrap()).fold(
            (0, Vec::new()),
            |(g, mut f), (g2, f2)| {
                f.extend(f2);
                (g + g2, f)
            },
        )
    });
    eprintln!("{gets} gets during 12 rotations, {} failed", failures.len());
    assert!(gets > 50, "too few gets to mean anything: {gets}");
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    assert!(!s.rotation_parked());
    all_open(&s, N, &[]).unwrap();
}

#[test]
fn rekey_deletes_only_the_token_files_the_cache_names() {
    let mut s = Sandbox::new();
    let cache = s.home().join(".cache");
    let pip = cache.join("pip");
    std::fs::create_dir_all(pip.join("wheels")).unwrap();
    std::fs::write(pip.join("wheels/keep.whl"), b"x").unwrap();
    s.set_env("BETA9_CACHE_DIR", cache.to_str().unwrap());
    s.run_env(
        &["store"],
        br#"{"ServerURL":"ghcr.io","Username":"u","Secret":"p"}"#,
        &[("BETA9_WORKSPACE", "pip")],
    )
    .assert_ok();
    s.run(&["rekey"], b"").assert_ok();
    assert!(
        pip.join("wheels/keep.whl").exists(),
        "rekey deleted ~/.cache/pip"
    );
    // Pointed at the store itself, rekey deletes no entry.
    let mut c = s.cmd(&["rekey"]);
    c.env("BETA9_CACHE_DIR", s.store_base().join("workspaces"));
    s.run_with(c, b"").assert_ok();
    let o = s.run_env(&["get"], b"ghcr.io", &[("BETA9_WORKSPACE", "pip")]);
    assert_eq!(o.json()["Secret"], "p", "{o:?}");
}

#[test]
#[cfg(unix)]
fn a_set_but_unreadable_setting_is_an_error_never_the_default() {
    use std::os::unix::ffi::OsStringExt;
    let s = Sandbox::new();
    s.store("ghcr.io", "u", "default-ws").assert_ok();
    for var in ["BETA9_WORKSPACE", "BETA9_KEY_BACKEND"] {
        let mut c = s.cmd(&["store"]);
        c.env(var, std::ffi::OsString::from_vec(vec![b't', 0xff]));
        let o = s.run_with(
            c,
            br#"{"ServerURL":"ghcr.io","Username":"u","Secret":"other"}"#,
        );
        assert_eq!(o.code, 1, "{var}: {o:?}");
        assert!(
            o.stdout.contains(var) && o.stdout.contains("UTF-8"),
            "{var}: {o:?}"
        );
    }
    assert_eq!(s.get("ghcr.io").json()["Secret"], "default-ws");
}

// --- Files: regular only, of sane size, never followed through links ------------------------

/// Runs a command that must finish on its own; a hang fails the test instead of the suite.
fn bounded(s: &Sandbox, c: std::process::Command, stdin: &[u8]) -> crate::support::Out {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let _ = tx.send(s.run_with(c, stdin));
        });
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the helper hung (killed by the test's guard)"))
    })
}

#[test]
#[cfg(unix)]
fn fifos_devices_huge_files_and_planted_links_are_refused_never_waited_on() {
    let s = Sandbox::new();
    s.store("nvcr.io", "u", "p").assert_ok();
    let entry = s.entries_dir().join("oci-creds-0fd460f0568e29c1");
    let mkfifo = |p: &std::path::Path| {
        let ok = std::process::Command::new("mkfifo")
            .arg(p)
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    // An entry that is a FIFO: get and list answer at once.
    mkfifo(&entry);
    let o = bounded(&s, s.cmd(&["get"]), b"ghcr.io");
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("not a regular file"), "{o:?}");
    let l = bounded(&s, s.cmd(&["list"]), b"");
    assert_eq!(l.json()["nvcr.io"], "u", "{l:?}");
    std::fs::remove_file(&entry).unwrap();
    // A 20 GB sparse entry costs nothing to refuse.
    let f = std::fs::File::create(&entry).unwrap();
    f.set_len(20 << 30).unwrap();
    let o = bounded(&s, s.cmd(&["get"]), b"ghcr.io");
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("larger than"), "{o:?}");
    std::fs::remove_file(&entry).unwrap();
    // A key file that is /dev/zero or a FIFO.
    let fifo_key = s.path().join("key.fifo");
    mkfifo(&fifo_key);
    for key in ["/dev/zero", fifo_key.to_str().unwrap()] {
        let mut c = s.cmd(&["get"]);
        c.env("BETA9_CREDENTIALS_KEY_FILE", key);
        let o = bounded(&s, c, b"nvcr.io");
        assert_eq!(o.code, 1, "{key}: {o:?}");
        assert!(o.stdout.contains("not a regular file"), "{key}: {o:?}");
    }
    // A planted `.lock` link never makes the helper create a file where it points.
    let victim = s.path().join("victim");
    let _ = std::fs::remove_file(s.entries_dir().join(".lock"));
    std::os::unix::fs::symlink(&victim, s.entries_dir().join(".lock")).unwrap();
    let o = bounded(
        &s,
        s.cmd(&["store"]),
        br#"{"ServerURL":"ghcr.io","Username":"u","Secret":"x"}"#,
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("symbolic link"), "{o:?}");
    assert!(
        !victim.exists(),
        "a file was created through the planted link"
    );
    assert_eq!(s.get("nvcr.io").json()["Secret"], "p");
}

#[test]
#[cfg(target_os = "linux")]
fn the_helper_runs_with_core_dumps_off() {
    let s = Sandbox::new();
    let mut child = s
        .cmd(&["store"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // It is waiting on stdin now: read its limits before it holds anything.
    let limits_path = format!("/proc/{}/limits", child.id());
    let mut limits = String::new();
    for _ in 0..100 {
        limits = std::fs::read_to_string(&limits_path).unwrap_or_default();
        let zero = |l: &str| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 5 && f[4] == "0" && f[5] == "0"
        };
        if limits
            .lines()
            .any(|l| l.starts_with("Max core file size") && zero(l))
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(child.stdin.take());
    let _ = child.wait();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no core limit in {limits}"));
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!((fields[4], fields[5]), ("0", "0"), "{core}");
}

#[test]
fn a_keyring_that_never_answers_costs_one_line_within_the_budget() {
    let s = Sandbox::new();
    // A D-Bus "peer" that accepts connections and never says a word.
    let sock = s.path().join("bus.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(4).flatten() {
            conns.push(c);
        }
        std::thread::sleep(std::time::Duration::from_secs(20));
    });
    let mut c = s.cmd(&["store"]);
    c.env("BETA9_KEY_BACKEND", "keyring")
        .env("BETA9_TIMEOUT", "1")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", sock.display()),
        );
    let o = bounded(
        &s,
        c,
        br#"{"ServerURL":"ghcr.io","Username":"u","Secret":"p"}"#,
    );
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout.lines().count(), 1, "{o:?}");
    assert!(
        o.stdout
            .contains("timeout: no answer from the Secret Service within 1 s (BETA9_TIMEOUT)"),
        "{o:?}"
    );
    drop(held);
}

// --- Output for people ----------------------------------------------------------------------

#[test]
fn terminal_controls_in_registry_names_are_escaped_for_people() {
    use docker_credential_beta9::{actions, context::Context, env::Env, record::Record};
    let s = Sandbox::new();
    let env = Env::from_pairs([
        ("HOME", s.home().to_str().unwrap()),
        ("BETA9_CREDENTIALS_DIR", s.store_base().to_str().unwrap()),
    ]);
    let ctx = Context::from_env(env, None).unwrap();
    // An entry planted by an older version or by hand: its registry carries an escape sequence.
    let rec = Record::decode_stored(
        br#"{"version":1,"registry":"evil\u001b[2J\u001b]0;owned\u0007.example","type":"generic","credentials":{"USERNAME":"u","PASSWORD":"p"}}"#,
    )
    .unwrap();
    actions::save(&ctx, &rec, None).unwrap();
    for args in [&["ls"][..], &["ls", "--json"]] {
        let o = s.run(args, b"");
        o.assert_ok();
        assert!(
            !o.stdout.contains('\u{1b}') && !o.stdout.contains('\u{7}'),
            "{args:?}: {o:?}"
        );
        assert!(o.stdout.contains("evil"), "{args:?}: {o:?}");
    }
}

#[test]
fn usage_errors_never_echo_a_misplaced_value() {
    let s = Sandbox::new();
    for args in [
        &["remove", "ghcr.io", CANARY][..],
        &["add", "ghcr.io", "--type", CANARY],
        &["ls", CANARY],
    ] {
        let o = s.run(args, b"");
        assert_eq!(o.code, 2, "{args:?}: {o:?}");
        assert!(
            !o.stderr.contains(CANARY) && !o.stdout.contains(CANARY),
            "{args:?}: {o:?}"
        );
        assert_eq!(o.stderr.lines().count(), 1, "{args:?}: {o:?}");
    }
}

/// `BETA9_LOG` with a directive more specific than a crate's cap (the SDK's orchestrator logs
/// response bodies at trace) must not lower the cap on crates that see secrets.
#[test]
fn no_log_directive_lowers_the_caps_on_crates_that_see_secrets() {
    let Some(moto) = crate::moto_env::Moto::start() else {
        return;
    };
    let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let mut s = Sandbox::new();
    s.set_env("AWS_ENDPOINT_URL_ECR", &moto.endpoint);
    s.run_env(
        &["add", host, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        b"",
        &[
            ("AWS_ACCESS_KEY_ID", "AKIABETA9LOGCAPS0001"),
            ("AWS_SECRET_ACCESS_KEY", CANARY),
        ],
    )
    .assert_ok();
    let directives = "trace,aws_smithy_runtime::client::orchestrator=trace,aws_sigv4::http_request=trace,hyper_util::client=trace,aws_smithy_http_client=trace";
    let o = s.run_env(&["get"], host.as_bytes(), &[("BETA9_LOG", directives)]);
    o.assert_ok();
    let password = "123456789012-auth-token";
    assert_eq!(o.json()["Secret"], password);
    // Positive control: the helper's own logging is on (and the call was made).
    assert!(o.stderr.contains("GetAuthorizationToken"), "{o:?}");
    assert_eq!(moto.count(), 1);
    // moto's token is base64("AWS:<password>"); neither form, nor the key, may appear.
    let token_b64 = "QVdTOjEyMzQ1Njc4OTAxMi1hdXRoLXRva2Vu";
    for needle in [password, token_b64, CANARY, "AKIABETA9LOGCAPS0001"] {
        assert!(
            !o.stderr.contains(needle),
            "{needle} on stderr:\n{}",
            o.stderr
        );
    }
}

/// A token-cache directory others can write to (a shared BETA9_CACHE_DIR on a node) is not used:
/// a note, and every get still answers, minting without caching.
#[test]
#[cfg(unix)]
fn an_untrusted_token_cache_directory_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let token = format!("ya29.{CANARY}");
    let Some(stub) = crate::gcp_env::GcpStub::start(&token) else {
        return;
    };
    let mut s = Sandbox::new();
    let shared = s.path().join("shared-cache");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    s.set_env("BETA9_CACHE_DIR", shared.to_str().unwrap());
    let key = s.path().join("sa.json");
    std::fs::write(&key, stub.key_json()).unwrap();
    s.run_env(
        &["add", "us-docker.pkg.dev", "GOOGLE_APPLICATION_CREDENTIALS"],
        b"",
        &[("GOOGLE_APPLICATION_CREDENTIALS", key.to_str().unwrap())],
    )
    .assert_ok();
    for n in 1..=2 {
        let o = s.get("us-docker.pkg.dev");
        assert_eq!(o.json()["Secret"], token, "{o:?}");
        assert!(
            o.stderr.contains("not using the token cache") && o.stderr.contains("others can write"),
            "{o:?}"
        );
        assert_eq!(stub.count(), n, "minted without caching");
    }
    assert_eq!(
        std::fs::read_dir(&shared).unwrap().count(),
        0,
        "nothing written there"
    );
}

/// A keyring that never answers is a timeout like any other (one wording) and, for a
/// subcommand, still a key failure: exit 2 (docs/configuration.md, "Timeouts").
#[test]
fn a_keyring_timeout_keeps_the_exit_status_of_a_key_failure() {
    let s = Sandbox::new();
    let sock = s.path().join("bus.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let held = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((c, _)) = listener.accept() {
                    conns.push(c);
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    };
    let mut c = s.cmd(&["add", "ghcr.io", "GITHUB_TOKEN"]);
    c.env("BETA9_KEY_BACKEND", "keyring")
        .env("BETA9_TIMEOUT", "1")
        .env("GITHUB_TOKEN", "ghp_not_a_real_token")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", sock.display()),
        );
    let o = bounded(&s, c, b"");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    held.join().unwrap();
    assert_eq!(o.code, 2, "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    assert!(
        o.stderr
            .contains("timeout: no answer from the Secret Service within 1 s (BETA9_TIMEOUT)"),
        "{o:?}"
    );
}
