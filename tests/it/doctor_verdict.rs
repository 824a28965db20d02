//! Doctor's verdict is a prediction of the pull per client family (docs/clients.md, "The client
//! families"), checked against the real registry (`registry_env`: Debian's docker-registry with
//! htpasswd): the two false "ok"s of issue 21. (a) Under `credHelpers` every client asks the host
//! only, so a right repository entry does not save a wrong registry entry; (b) a right login that
//! nothing on the machine routes is an anonymous pull for every client. skopeo, the real client,
//! is run on the same machine to show what the pull does.

use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{Sandbox, CANARY};
use std::fs;

// The registry holding `REPO:TAG` and the sandbox are doctor.rs's: one world for both files.
use crate::doctor::{bounded_no_canary, line, sandbox, world, REPO, TAG, USER, WRONG};

/// `skopeo inspect` of the image as this sandbox's machine is configured, with the helper found
/// on PATH: whether it got the manifest.
fn skopeo_pulls(s: &Sandbox, reg: &Registry) -> bool {
    let bin_dir = crate::support::bin().parent().unwrap().to_path_buf();
    let helper_dir = s.path().join("helper-bin");
    fs::create_dir_all(&helper_dir).unwrap();
    let link = helper_dir.join("docker-credential-beta9");
    if !link.exists() {
        std::os::unix::fs::symlink(bin_dir.join("docker-credential-beta9"), &link).unwrap();
    }
    let mut c = kit::containers_tool("skopeo", s.path());
    c.env_clear()
        .env("PATH", kit::path_with(&helper_dir))
        .env("HOME", s.home())
        .env("BETA9_CREDENTIALS_DIR", s.store_base())
        .env("XDG_RUNTIME_DIR", s.path().join("run"))
        .args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{}/{REPO}:{TAG}", reg.host),
        ]);
    kit::run_bounded(&mut c, kit::CMD_TIMEOUT).status.success()
}

#[test]
fn a_right_repository_entry_beside_a_wrong_registry_entry_is_not_ok_under_credhelpers() {
    let t = "doctor_verdict::a_right_repository_entry_beside_a_wrong_registry_entry_is_not_ok_under_credhelpers";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = world();
    let s = sandbox();
    s.store(&reg.host, USER, WRONG).assert_ok();
    s.store(&format!("{}/{REPO}", reg.host), USER, CANARY)
        .assert_ok();
    s.run(&["configure-docker", &reg.host, "--containers"], b"")
        .assert_ok();
    let image = format!("{}/{REPO}:{TAG}", reg.host);
    let o = bounded_no_canary(&s, &["doctor", &image]);
    assert_eq!(o.code, 1, "{o:?}");
    for family in ["docker", "containers", "ggcr"] {
        let l = line(&o, &format!("pull.{family}"));
        assert!(l.starts_with("FAIL "), "{l}");
        assert!(
            l.contains(&format!("and get the entry {}", reg.host)),
            "{l}"
        );
    }
    let result = o.stdout.lines().last().unwrap();
    assert!(
        result.starts_with("result: FAIL at pull.docker: docker CLI, docker-py: ask"),
        "{result}"
    );
    // What the real client does: it asks the host, gets the wrong login, and is refused.
    assert!(
        !skopeo_pulls(&s, &reg),
        "skopeo pulled with the wrong registry entry"
    );
    // kubelet asks with the image and gets the repository's entry: its pull works.
    let o = bounded_no_canary(&s, &["doctor", &image, "--client", "kubelet"]);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(line(&o, "pull.kubelet").starts_with("ok "), "{o:?}");
}

#[test]
fn a_right_login_that_nothing_routes_is_not_ok() {
    let t = "doctor_verdict::a_right_login_that_nothing_routes_is_not_ok";
    if !tools_present(t, &["docker-registry", "htpasswd", "skopeo"]) {
        return;
    }
    let reg = world();
    let s = sandbox();
    s.store(&reg.host, USER, CANARY).assert_ok();
    let image = format!("{}/{REPO}:{TAG}", reg.host);
    let o = bounded_no_canary(&s, &["doctor", &image]);
    assert_eq!(o.code, 1, "{o:?}");
    let result = o.stdout.lines().last().unwrap();
    assert!(
        result.starts_with(&format!(
            "result: FAIL at routing: nothing on this machine routes {} to docker-credential-beta9",
            reg.host
        )),
        "{result}"
    );
    assert!(result.contains("configure-docker"), "{result}");
    // The real client pulls anonymously, and is refused.
    assert!(!skopeo_pulls(&s, &reg), "skopeo pulled with nothing routed");
    // Routed, the same machine pulls, and doctor says ok.
    s.run(&["configure-docker", &reg.host, "--containers"], b"")
        .assert_ok();
    assert!(skopeo_pulls(&s, &reg), "skopeo did not pull once routed");
    let o = bounded_no_canary(&s, &["doctor", &image]);
    assert_eq!(o.code, 0, "{o:?}");
    for family in ["docker", "containers", "ggcr"] {
        assert!(
            line(&o, &format!("pull.{family}")).starts_with("ok "),
            "{o:?}"
        );
    }
}
