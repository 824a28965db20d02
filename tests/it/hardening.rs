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
