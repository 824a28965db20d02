//! The modes of what the helper creates do not depend on the caller's umask (docs/storage.md,
//! "Files and modes"): a umask can take the owner's own bits away, and then a directory created
//! 0700 comes out 0500 and nothing can be created inside it.

use crate::support::{current_test, tool_missing, Out, Sandbox, CANARY};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// The unprivileged user a root test run drops to (root ignores modes, so it would hide the bug).
const NOBODY: u32 = 65534;

/// `args` of the binary run with umask `mask` by a user who is not root: the test's own user, or
/// when the tests run as root, uid/gid 65534 (via setpriv) owning the sandbox. `None` when that
/// cannot be arranged (the test skips, or fails under BETA9_REQUIRE_TOOLS=1).
fn with_umask(s: &Sandbox, mask: &str, args: &[&str]) -> Option<Command> {
    let base = s.cmd(args);
    let root = rustix::process::geteuid().is_root();
    let mut c = if root {
        if Command::new("setpriv").arg("--version").output().is_err() {
            tool_missing(&current_test(), "setpriv", "not installed");
            return None;
        }
        std::os::unix::fs::chown(s.path(), Some(NOBODY), Some(NOBODY)).unwrap();
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "sh",
        ]);
        c
    } else {
        Command::new("sh")
    };
    c.arg("-c")
        .arg(format!("umask {mask} && exec \"$0\" \"$@\""))
        .arg(base.get_program())
        .args(base.get_args())
        .env_clear()
        .current_dir(s.path());
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    Some(c)
}

fn run_umask(s: &Sandbox, mask: &str, args: &[&str], stdin: &[u8]) -> Option<Out> {
    let c = with_umask(s, mask, args)?;
    Some(s.run_with(c, stdin))
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn store_get_and_erase_work_under_a_umask_that_removes_owner_bits() {
    let s = Sandbox::new();
    let login = |user: &str| {
        serde_json::json!({"ServerURL": "r.example.com", "Username": user, "Secret": CANARY})
            .to_string()
    };
    let Some(o) = run_umask(&s, "0277", &["store"], login("first").as_bytes()) else {
        return;
    };
    o.assert_ok();
    // A second write opens the existing lock file for writing again.
    run_umask(&s, "0277", &["store"], login("second").as_bytes())
        .unwrap()
        .assert_ok();
    let got = run_umask(&s, "0277", &["get"], b"r.example.com").unwrap();
    got.assert_ok();
    assert_eq!(got.json()["Username"], "second");
    assert_eq!(got.json()["Secret"], CANARY);
    // Exact modes, as with any other umask.
    for dir in [
        s.store_base(),
        s.entries_dir(),
        s.key_file().parent().unwrap().into(),
    ] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    assert_eq!(mode(&s.key_file()), 0o600);
    assert_eq!(mode(&s.entries_dir().join(".lock")), 0o600);
    let entries: Vec<_> = std::fs::read_dir(s.entries_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("oci-creds-"))
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(mode(&entries[0].path()), 0o600);
    run_umask(&s, "0277", &["erase"], b"r.example.com")
        .unwrap()
        .assert_ok();
    let gone = run_umask(&s, "0277", &["get"], b"r.example.com").unwrap();
    assert_eq!(
        gone.stdout.trim(),
        "credentials not found in native keychain",
        "{gone:?}"
    );
}
