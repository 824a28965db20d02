//! Registry names the user types: input with an explicit `http://` or `https://` scheme names a
//! registry whatever its host looks like (docs/registry-identity.md, "Table of forms"), so no
//! command reads it as a Docker Hub image.

use crate::support::{Sandbox, CANARY};

const HUB_PAT: &str = "hub-pat-must-stay";

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

/// Spellings of the single-label registry `myregistry` with a scheme.
const SCHEMED: [&str; 4] = [
    "https://myregistry",
    "http://myregistry/",
    "HTTPS://MyRegistry:443",
    "https://myregistry/team/img:1",
];

#[test]
fn add_with_a_scheme_stores_that_registry_not_docker_hub() {
    let s = with_hub_login();
    let env = [("USERNAME", "ci"), ("PASSWORD", CANARY)];
    for reg in SCHEMED {
        let o = s.run_env(&["add", reg, "USERNAME", "PASSWORD"], b"", &env);
        o.assert_ok();
        assert!(o.stderr.contains("for myregistry "), "{reg}: {o:?}");
        assert_eq!(hub_secret(&s), HUB_PAT, "{reg}: add replaced the Hub login");
        // What docker's `store` and `get` call the same registry.
        assert_eq!(s.get("https://myregistry").json()["Secret"], CANARY);
        assert_eq!(s.get("myregistry").json()["Secret"], CANARY);
    }
    let o = s.run(&["secret-name", "https://myregistry"], b"");
    let n = s.run(&["secret-name", "http://myregistry:443/"], b"");
    assert_eq!(o.stdout, n.stdout);
    assert_ne!(
        o.stdout.trim(),
        "oci-creds-3530c4415dd857fb",
        "the name of docker.io"
    );
}

#[test]
fn remove_with_a_scheme_never_removes_the_docker_hub_login() {
    let s = with_hub_login();
    for reg in SCHEMED {
        let o = s.run(&["remove", reg], b"");
        o.assert_ok();
        assert!(
            o.stderr.contains("nothing stored for myregistry "),
            "{reg}: {o:?}"
        );
        assert_eq!(
            hub_secret(&s),
            HUB_PAT,
            "{reg}: remove deleted the Hub login"
        );
    }
    // The registry's own entry, stored by docker under the URL, is the one removed.
    s.store("https://myregistry", "ci", CANARY).assert_ok();
    let o = s.run(&["remove", "https://myregistry/"], b"");
    o.assert_ok();
    assert!(o.stderr.contains("removed myregistry "), "{o:?}");
    assert_eq!(s.get("myregistry").code, 1);
    assert_eq!(hub_secret(&s), HUB_PAT);
}

#[test]
fn export_and_show_with_a_scheme_never_print_the_docker_hub_login() {
    let s = with_hub_login();
    for reg in SCHEMED {
        for verb in ["export", "show"] {
            let o = s.run(&[verb, reg], b"");
            assert_eq!(o.code, 1, "{verb} {reg}: {o:?}");
            assert!(!o.stdout.contains(HUB_PAT), "{verb} {reg}: {o:?}");
            assert!(!o.stdout.contains("docker.io"), "{verb} {reg}: {o:?}");
            assert!(
                o.stderr.contains("nothing stored for myregistry "),
                "{verb} {reg}: {o:?}"
            );
        }
    }
    s.store("https://myregistry", "ci", CANARY).assert_ok();
    let e = s.run(&["export", "HTTPS://MyRegistry"], b"");
    e.assert_ok();
    assert_eq!(e.json()["registry"], "myregistry");
    let sh = s.run(&["show", "https://myregistry/"], b"");
    sh.assert_ok();
    assert!(sh.stdout.contains("registry:    myregistry"), "{sh:?}");
}

#[test]
fn configure_docker_with_a_scheme_routes_that_registry_not_docker_hub() {
    let s = with_hub_login();
    for reg in SCHEMED {
        let c = s.run(&["configure-docker", "--dry-run", reg], b"");
        c.assert_ok();
        assert!(
            c.stdout.contains("\"myregistry\": \"beta9\""),
            "{reg}: {c:?}"
        );
        assert!(!c.stdout.contains("index.docker.io"), "{reg}: {c:?}");
    }
}
