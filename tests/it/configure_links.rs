//! `configure-docker` run by root on another user's config: a symbolic link the user made (the
//! file or its directory) is written through only into what that user owns, never into a
//! root-owned file such as a copy of `/etc/docker/daemon.json` (docs/clients.md, "Links and
//! owners").

use crate::support::{current_test, tool_missing, Sandbox};
use std::fs;
use std::os::unix::fs::{lchown, symlink, MetadataExt};
use std::path::Path;

/// `nobody`: a uid other than root's that the test can give files to.
const USER_UID: u32 = 65534;

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn owned_by_user(path: &Path) {
    std::os::unix::fs::chown(path, Some(USER_UID), Some(USER_UID)).unwrap();
}

const DAEMON_JSON: &str = "{\n\t\"log-driver\": \"journald\"\n}\n";

fn configure(s: &Sandbox, config: &Path) -> crate::support::Out {
    let path = config.to_string_lossy().into_owned();
    s.run(&["configure-docker", "ghcr.io", "--config", &path], b"")
}

#[test]
fn root_never_writes_through_a_users_link_into_a_root_owned_file() {
    if !is_root()
        && tool_missing(
            &current_test(),
            "root",
            "files must be given to another uid",
        )
    {
        return;
    }
    let s = Sandbox::new();
    // A root-owned file the user can name but not write.
    let etc = s.path().join("etc-docker");
    fs::create_dir_all(&etc).unwrap();
    let daemon = etc.join("daemon.json");
    fs::write(&daemon, DAEMON_JSON).unwrap();
    // The user's config dir, theirs, with config.json a link they made to that file.
    let dot = s.path().join("user-home/.docker");
    fs::create_dir_all(&dot).unwrap();
    owned_by_user(&s.path().join("user-home"));
    owned_by_user(&dot);
    let cfg = dot.join("config.json");
    symlink(&daemon, &cfg).unwrap();
    lchown(&cfg, Some(USER_UID), Some(USER_UID)).unwrap();

    let o = configure(&s, &cfg);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
    assert!(o.stderr.contains("left untouched"), "{o:?}");
    assert_eq!(fs::read_to_string(&daemon).unwrap(), DAEMON_JSON);
    assert!(!etc.join("daemon.json.bak").exists());
    assert!(fs::symlink_metadata(&cfg).unwrap().file_type().is_symlink());

    // The same through a linked directory: `~/.docker` -> a root-owned directory, with and
    // without a config.json there.
    let home2 = s.path().join("user2-home");
    fs::create_dir_all(&home2).unwrap();
    owned_by_user(&home2);
    let dot2 = home2.join(".docker");
    symlink(&etc, &dot2).unwrap();
    lchown(&dot2, Some(USER_UID), Some(USER_UID)).unwrap();
    for name in ["daemon.json", "config.json"] {
        let o = configure(&s, &dot2.join(name));
        assert_eq!(o.code, 1, "{name}: {o:?}");
        assert!(o.stderr.contains("left untouched"), "{name}: {o:?}");
    }
    assert_eq!(fs::read_to_string(&daemon).unwrap(), DAEMON_JSON);
    let mut left: Vec<_> = fs::read_dir(&etc)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["daemon.json"],
        "root wrote into the linked directory"
    );
}

#[test]
fn root_writes_through_a_users_link_into_a_file_the_user_owns() {
    if !is_root()
        && tool_missing(
            &current_test(),
            "root",
            "files must be given to another uid",
        )
    {
        return;
    }
    let s = Sandbox::new();
    let home = s.path().join("user-home");
    let dotfiles = home.join("dotfiles");
    let dot = home.join(".docker");
    fs::create_dir_all(&dotfiles).unwrap();
    fs::create_dir_all(&dot).unwrap();
    for d in [&home, &dotfiles, &dot] {
        owned_by_user(d);
    }
    let target = dotfiles.join("docker-config.json");
    fs::write(&target, "{}\n").unwrap();
    owned_by_user(&target);
    let cfg = dot.join("config.json");
    symlink(&target, &cfg).unwrap();
    lchown(&cfg, Some(USER_UID), Some(USER_UID)).unwrap();

    configure(&s, &cfg).assert_ok();
    assert!(fs::symlink_metadata(&cfg).unwrap().file_type().is_symlink());
    let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&target).unwrap()).unwrap();
    assert_eq!(v["credHelpers"]["ghcr.io"], "beta9");
    assert_eq!(fs::metadata(&target).unwrap().uid(), USER_UID);
}

// --- Another tool writing the file while configure-docker rewrites it ------------------------

/// What `docker login` does to config.json (docker/cli `configfile.Save`): read it, add a login
/// under `auths`, write a temp file in the same directory and rename it over the file; no lock.
fn docker_style_login(cfg: &Path, key: &str) {
    let text = fs::read_to_string(cfg).unwrap_or_default();
    let mut v: serde_json::Value = if text.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_str(&text).unwrap()
    };
    let obj = v.as_object_mut().unwrap();
    let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
    // `u:p`, not a secret of any test.
    auths[key] = serde_json::json!({"auth": "dTpw"});
    let tmp = cfg.with_file_name(format!("config.json{}", std::process::id()));
    fs::write(&tmp, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    fs::rename(&tmp, cfg).unwrap();
}

#[test]
fn a_login_written_while_configure_docker_rewrites_the_file_is_never_lost() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    const RUNS: usize = 12;
    let s = Sandbox::new();
    let dir = s.path().join("home/.docker");
    fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.json");
    fs::write(&cfg, "{}\n").unwrap();
    let bak = dir.join("config.json.bak");

    // The other tool writes one login per run, at the worst moment: right after configure-docker
    // has read the file and written its backup, before it replaces the file.
    let armed = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (armed, stop, written, cfg, bak) = (
            armed.clone(),
            stop.clone(),
            written.clone(),
            cfg.clone(),
            bak.clone(),
        );
        std::thread::spawn(move || {
            let inode = |p: &Path| fs::metadata(p).map(|m| m.ino()).ok();
            let mut seen = inode(&bak);
            while !stop.load(Ordering::SeqCst) {
                let now = inode(&bak);
                if now != seen {
                    seen = now;
                    if armed.swap(false, Ordering::SeqCst) {
                        let n = written.load(Ordering::SeqCst);
                        docker_style_login(&cfg, &format!("w{n}.example"));
                        written.fetch_add(1, Ordering::SeqCst);
                    }
                }
                std::thread::yield_now();
            }
        })
    };
    let path = cfg.to_string_lossy().into_owned();
    for run in 0..RUNS {
        armed.store(true, Ordering::SeqCst);
        let reg = format!("r{run}.example");
        let o = s.run(&["configure-docker", &reg, "--config", &path], b"");
        assert_eq!(o.code, 0, "run {run}: {o:?}");
        armed.store(false, Ordering::SeqCst);
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();

    let n = written.load(Ordering::SeqCst);
    assert!(
        n > 0,
        "the other tool never wrote while configure-docker ran"
    );
    let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&cfg).unwrap()).unwrap();
    let lost: Vec<String> = (0..n)
        .map(|i| format!("w{i}.example"))
        .filter(|k| v["auths"].get(k).is_none())
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {n} logins lost: {lost:?}",
        lost.len()
    );
    // A run whose write the other tool's rename replaced lost its routing (that is the other
    // tool's race, docs/clients.md, "Concurrent writers"); one more run puts it back.
    let regs: Vec<String> = (0..RUNS).map(|r| format!("r{r}.example")).collect();
    let mut args = vec!["configure-docker", "--config", &path];
    args.extend(regs.iter().map(String::as_str));
    s.run(&args, b"").assert_ok();
    let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&cfg).unwrap()).unwrap();
    for r in &regs {
        assert_eq!(v["credHelpers"][r], "beta9", "{r}");
    }
    assert_eq!(v["auths"].as_object().unwrap().len(), n);
}
