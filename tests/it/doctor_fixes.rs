//! Every helper command doctor's "to fix" texts name runs as written: in a non-default workspace,
//! for an entry whose login fails, an entry that is missing and a registry nothing routes, each
//! `docker-credential-beta9 …` command in a fix is run against the binary (with the variables an
//! `add` names set) and must succeed. The registry is never reached: an `HTTPS_PROXY` on a closed
//! loopback port refuses at once.

use crate::support::{free_port, Sandbox, CANARY};
use std::fs;

const PROG: &str = "docker-credential-beta9 ";

/// The helper commands in one fix text: each backquoted one, or the whole text when it is one.
fn commands(fix: &str) -> Vec<String> {
    if fix.starts_with(PROG) && !fix.contains('`') {
        return vec![fix.to_string()];
    }
    fix.split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| c.starts_with(PROG))
        .map(str::to_string)
        .collect()
}

fn fixes(s: &Sandbox, args: &[&str]) -> Vec<String> {
    let o = s.run(args, b"");
    let v = o.json();
    v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|st| st["fix"].as_str())
        .flat_map(commands)
        .collect()
}

#[test]
fn every_command_doctor_names_in_a_fix_runs() {
    let mut s = Sandbox::new();
    let run = s.path().join("run");
    fs::create_dir_all(&run).unwrap();
    s.set_env("XDG_RUNTIME_DIR", &run.to_string_lossy());
    s.set_env("BETA9_TIMEOUT", "2");
    s.set_env("HTTPS_PROXY", &format!("http://127.0.0.1:{}", free_port()));
    // A Google token past its expiry: the login step fails.
    s.run_env(
        &[
            "--workspace",
            "w2",
            "add",
            "gcr.io",
            "GCP_ACCESS_TOKEN",
            "GCP_ACCESS_TOKEN_EXPIRY",
        ],
        b"",
        &[
            ("GCP_ACCESS_TOKEN", CANARY),
            ("GCP_ACCESS_TOKEN_EXPIRY", "2000-01-01T00:00:00Z"),
        ],
    )
    .assert_ok();

    // A docker config that routes nothing: the routing steps fail and name configure-docker.
    fs::create_dir_all(s.home().join(".docker")).unwrap();
    fs::write(s.home().join(".docker/config.json"), "{}").unwrap();
    let mut all = fixes(
        &s,
        &["--workspace", "w2", "doctor", "gcr.io/p/app:1", "--json"],
    );
    all.extend(fixes(
        &s,
        &[
            "--workspace",
            "w2",
            "doctor",
            "registry.example.com/team/app:1",
            "--json",
        ],
    ));
    for verb in ["show", "add", "configure-docker"] {
        assert!(
            all.iter().any(|c| c.split_whitespace().any(|w| w == verb)),
            "no fix names {verb}: {all:?}"
        );
    }
    for c in &all {
        let words: Vec<&str> = c.split_whitespace().skip(1).collect();
        // `add` reads the values of the names it is given from the environment.
        let env: Vec<(&str, &str)> = words
            .iter()
            .filter(|w| w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
            .map(|w| (*w, "fix-check-value"))
            .collect();
        let o = s.run_env(&words, b"", &env);
        assert_eq!(o.code, 0, "the fix command `{c}` fails: {o:?}");
    }
}
