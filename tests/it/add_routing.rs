//! After `add` or `import`, one note when nothing on this machine routes that registry to the
//! helper (the entry is stored but no pull would ask for it), naming `configure-docker`; no note
//! once a client family's config routes it. Only the sandbox's own config files are read.

use crate::support::{Sandbox, CANARY};
use std::fs;

const NOTE: &str = "nothing on this machine routes";

/// A sandbox whose containers primary file is its own (`XDG_RUNTIME_DIR` inside it).
fn sandbox() -> Sandbox {
    let mut s = Sandbox::new();
    let run = s.path().join("run");
    fs::create_dir_all(&run).unwrap();
    s.set_env("XDG_RUNTIME_DIR", &run.to_string_lossy());
    s
}

fn add(s: &Sandbox, host: &str) -> crate::support::Out {
    let o = s.run_env(
        &["add", host, "GITHUB_USERNAME", "GITHUB_TOKEN"],
        b"",
        &[("GITHUB_USERNAME", "octo"), ("GITHUB_TOKEN", CANARY)],
    );
    o.assert_ok();
    assert!(!o.stderr.contains(CANARY), "{o:?}");
    o
}

#[test]
fn add_says_when_nothing_routes_the_registry_here() {
    let s = sandbox();
    assert!(!s.home().join(".docker/config.json").exists());
    let o = add(&s, "registry.example.com");
    let notes: Vec<&str> = o.stderr.lines().filter(|l| l.contains(NOTE)).collect();
    assert_eq!(notes.len(), 1, "{o:?}");
    assert!(
        notes[0].contains("docker-credential-beta9 configure-docker registry.example.com"),
        "{o:?}"
    );

    // import of the same kind of record says it too.
    let o = s.run(
        &["import", "--registry", "other.example.com"],
        br#"{"USERNAME":"octo","PASSWORD":"CANARY-7f3e9b1c-never-leak"}"#,
    );
    o.assert_ok();
    assert!(
        o.stderr
            .contains(&format!("{NOTE} other.example.com to this helper")),
        "{o:?}"
    );
}

#[test]
fn add_is_quiet_about_routing_once_cred_helpers_route_the_registry() {
    let s = sandbox();
    let docker = s.home().join(".docker");
    fs::create_dir_all(&docker).unwrap();
    fs::write(
        docker.join("config.json"),
        r#"{"credHelpers":{"registry.example.com":"beta9"}}"#,
    )
    .unwrap();
    let o = add(&s, "registry.example.com");
    assert!(!o.stderr.contains(NOTE), "{o:?}");
    // Another registry in the same file is still unrouted.
    let o = add(&s, "other.example.com");
    assert!(o.stderr.contains(NOTE), "{o:?}");
    // Go's key rules: `CredHelpers` routes as well (docs/clients.md).
    fs::write(
        docker.join("config.json"),
        r#"{"CredHelpers":{"other.example.com":"beta9"}}"#,
    )
    .unwrap();
    let o = add(&s, "other.example.com");
    assert!(!o.stderr.contains(NOTE), "{o:?}");
}
