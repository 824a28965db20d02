//! The OS keyring backend (`BETA9_KEY_BACKEND=keyring`) against a real Secret Service:
//! gnome-keyring on a private D-Bus session. `scripts/test.sh` runs these inside
//! `scripts/with-keyring.sh` (which sets `BETA9_KEYRING_TEST=1`) and skips them in its full run.
//! Elsewhere the session tests skip, or fail under `BETA9_REQUIRE_TOOLS=1`.

use crate::support::{knob, tool_missing, Sandbox, CANARY};

/// The session bus address to hand to the helper, when this run has one prepared for us.
fn session_bus(test: &str) -> Option<String> {
    if knob("BETA9_KEYRING_TEST").as_deref() != Some("1") {
        tool_missing(
            test,
            "a Secret Service session",
            "BETA9_KEYRING_TEST is not 1: run under scripts/with-keyring.sh, as scripts/test.sh does",
        );
        return None;
    }
    Some(knob("DBUS_SESSION_BUS_ADDRESS").expect("BETA9_KEYRING_TEST=1 without a session bus"))
}

fn keyring_sandbox(bus: &str) -> Sandbox {
    let mut s = Sandbox::new();
    s.set_env("BETA9_KEY_BACKEND", "keyring");
    s.set_env("DBUS_SESSION_BUS_ADDRESS", bus);
    s
}

#[test]
fn master_key_lives_in_the_secret_service_not_on_disk() {
    let Some(bus) = session_bus("keyring::master_key_lives_in_the_secret_service_not_on_disk")
    else {
        return;
    };
    let s = keyring_sandbox(&bus);
    s.store("ghcr.io", "octo", CANARY).assert_ok();
    let o = s.get("ghcr.io");
    assert_eq!(o.json()["Secret"], CANARY, "{o:?}");
    assert!(
        !s.key_file().exists(),
        "no key file with the keyring backend"
    );
    s.assert_not_on_disk(CANARY);
    // The same keyring item serves a second store (another sandbox, same session).
    let t = keyring_sandbox(&bus);
    t.store("nvcr.io", "n", "x").assert_ok();
    assert_eq!(t.get("nvcr.io").json()["Secret"], "x");
}

#[test]
fn keyring_backend_without_a_session_bus_is_a_one_line_error() {
    // Runs everywhere: an unreachable bus must fail fast and clearly, never hang.
    let mut s = Sandbox::new();
    s.set_env("BETA9_KEY_BACKEND", "keyring");
    s.set_env(
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/beta9-test-bus",
    );
    let o = s.store("ghcr.io", "u", CANARY);
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout.lines().count(), 1);
    assert!(
        o.stdout.starts_with("master key unavailable: OS keyring"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains(CANARY) && !o.stderr.contains(CANARY));
    // Nothing was written without a key.
    assert!(s.files().is_empty() || !s.entries_dir().join("oci-creds-0fd460f0568e29c1").exists());
}
