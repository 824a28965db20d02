//! docker's config.json read with Go's `encoding/json` rules by doctor and `configure-docker`
//! alike (docs/clients.md, "Key rules of config.json"): a member named in any case routes, members
//! naming the same field merge with the later entry winning, and `configure-docker` edits the
//! member docker reads instead of adding a second one beside it.

use crate::support::{Out, Sandbox};
use std::fs;
use std::path::PathBuf;

const HOST: &str = "registry.example.com:5000";
const OTHER: &str = "other.example.com";

fn sandbox() -> (Sandbox, PathBuf) {
    let mut s = Sandbox::new();
    let run = s.path().join("run");
    fs::create_dir_all(&run).unwrap();
    s.set_env("XDG_RUNTIME_DIR", &run.to_string_lossy());
    s.store(HOST, "u", "p").assert_ok();
    let cfg = s.home().join(".docker/config.json");
    fs::create_dir_all(cfg.parent().unwrap()).unwrap();
    (s, cfg)
}

fn docker_line(o: &Out) -> String {
    o.stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("routing.docker"))
        .unwrap_or_else(|| panic!("no routing.docker line: {o:?}"))
        .to_string()
}

/// The top-level member names of a JSON object, in file order.
fn member_names(text: &str) -> Vec<String> {
    let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).unwrap();
    v.keys().cloned().collect()
}

#[test]
fn a_credhelpers_member_in_any_case_routes_for_doctor_and_configure_docker_edits_it() {
    let (s, cfg) = sandbox();
    let image = format!("{HOST}/team/app:1");
    fs::write(&cfg, format!(r#"{{"CredHelpers": {{"{HOST}": "beta9"}}}}"#)).unwrap();
    let o = s.run(&["doctor", &image, "--no-network"], b"");
    assert!(docker_line(&o).starts_with("ok "), "{o:?}");
    s.run(&["configure-docker", OTHER], b"").assert_ok();
    let text = fs::read_to_string(&cfg).unwrap();
    // One member, in its place, spelled as docker-py reads it too.
    assert_eq!(member_names(&text), ["credHelpers"], "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["credHelpers"][HOST], "beta9", "{text}");
    assert_eq!(v["credHelpers"][OTHER], "beta9", "{text}");
}

#[test]
fn members_differing_in_case_merge_and_the_later_entry_wins_for_both() {
    let (s, cfg) = sandbox();
    let image = format!("{HOST}/team/app:1");
    // Merged: the first member routes HOST, the second another registry; Go keeps both.
    fs::write(
        &cfg,
        format!(r#"{{"credHelpers": {{"{HOST}": "beta9"}}, "CredHelpers": {{"x.io": "beta9"}}}}"#),
    )
    .unwrap();
    let o = s.run(&["doctor", &image, "--no-network"], b"");
    assert!(docker_line(&o).starts_with("ok "), "{o:?}");
    // The later entry for the same key wins: HOST goes to another helper.
    fs::write(
        &cfg,
        format!(
            r#"{{"credHelpers": {{"{HOST}": "beta9"}}, "CREDHELPERS": {{"{HOST}": "desktop"}}}}"#
        ),
    )
    .unwrap();
    let o = s.run(&["doctor", &image, "--no-network"], b"");
    assert!(
        docker_line(&o).contains("docker-credential-desktop"),
        "{o:?}"
    );
    assert_eq!(o.code, 1, "{o:?}");
    // configure-docker sees the same: it routes HOST here, in the member docker reads (named
    // as docker-py reads it too), and the earlier member's entries move into it.
    s.run(&["configure-docker", HOST], b"").assert_ok();
    let text = fs::read_to_string(&cfg).unwrap();
    assert_eq!(member_names(&text), ["credHelpers"], "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["credHelpers"][HOST], "beta9", "{text}");
    let o = s.run(&["doctor", &image, "--no-network"], b"");
    assert!(docker_line(&o).starts_with("ok "), "{o:?}");
}
