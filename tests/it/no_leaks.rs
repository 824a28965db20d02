//! The canary: one secret driven through every verb and failure path at every log level. It may
//! appear only in a successful `get` answer, in `export`'s output, and encrypted on disk: never on
//! stderr, never in an error line, never in plaintext in any file the helper writes.
//!
//! Absence alone proves nothing if every step silently failed (a broken key backend would make
//! the canary vanish everywhere), so each step also states its outcome and is checked against it:
//! the stores succeed, `get` and `export` print the canary, each failure step fails.

use crate::support::{Out, Sandbox, CANARY};

const LEVELS: [&str; 6] = ["", "error", "warn", "info", "debug", "trace"];

/// What a step must do, besides not leaking.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Exit 0, canary nowhere.
    Succeeds,
    /// Exit non-zero, canary nowhere.
    Fails,
    /// Exit 0 and the canary on stdout (the only place it may be).
    Answers,
}

struct Step {
    what: String,
    out: Out,
    expect: Expect,
}

/// Runs `f` against a fresh sandbox at every log level and checks each run's streams.
fn at_every_level(f: impl Fn(&Sandbox) -> Vec<Step>) {
    for level in LEVELS {
        let mut s = Sandbox::new();
        if !level.is_empty() {
            s.set_env("BETA9_LOG", level);
        }
        let steps = f(&s);
        assert!(
            steps.iter().any(|st| st.expect == Expect::Answers),
            "no positive control"
        );
        for Step { what, out, expect } in steps {
            assert!(
                !out.stderr.contains(CANARY),
                "BETA9_LOG={level:?} {what}: canary on stderr:\n{}",
                out.stderr
            );
            match expect {
                Expect::Answers => assert!(
                    out.code == 0 && out.stdout.contains(CANARY),
                    "BETA9_LOG={level:?} {what}: should answer with the canary: {out:?}"
                ),
                Expect::Succeeds => assert_eq!(
                    out.code, 0,
                    "BETA9_LOG={level:?} {what}: should succeed: {out:?}"
                ),
                Expect::Fails => assert_ne!(
                    out.code, 0,
                    "BETA9_LOG={level:?} {what}: should fail: {out:?}"
                ),
            }
            if expect != Expect::Answers {
                assert!(
                    !out.stdout.contains(CANARY),
                    "BETA9_LOG={level:?} {what}: canary on stdout: {}",
                    out.stdout
                );
            }
        }
        s.assert_not_on_disk(CANARY);
    }
}

fn step(what: &str, out: Out, expect: Expect) -> Step {
    Step {
        what: what.to_string(),
        out,
        expect,
    }
}

#[test]
fn protocol_verbs_and_their_failures_never_leak() {
    at_every_level(|s| {
        let mut steps = vec![
            step(
                "store",
                s.store("ghcr.io", "octo", CANARY),
                Expect::Succeeds,
            ),
            step("get", s.get("ghcr.io"), Expect::Answers),
            step("list", s.list(), Expect::Succeeds),
            step("get path probe", s.get("ghcr.io/org/img"), Expect::Fails),
        ];
        let body = format!(r#"{{"ServerURL":"x.example","Username":"u","Secret":{CANARY}}}"#);
        steps.push(step(
            "store malformed",
            s.run(&["store"], body.as_bytes()),
            Expect::Fails,
        ));
        let huge = format!(
            r#"{{"ServerURL":"x","Username":"u","Secret":"{CANARY}{}"}}"#,
            "a".repeat(1 << 20)
        );
        steps.push(step(
            "store oversized",
            s.run(&["store"], huge.as_bytes()),
            Expect::Fails,
        ));
        let nourl = format!(r#"{{"ServerURL":"","Username":"u","Secret":"{CANARY}"}}"#);
        steps.push(step(
            "store without URL",
            s.run(&["store"], nourl.as_bytes()),
            Expect::Fails,
        ));
        // A damaged entry and a wrong key.
        let entry = s.entries_dir().join("oci-creds-0fd460f0568e29c1");
        let mut bytes = std::fs::read(&entry).unwrap();
        let keep = bytes.clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&entry, &bytes).unwrap();
        steps.push(step("get damaged", s.get("ghcr.io"), Expect::Fails));
        steps.push(step("list damaged", s.list(), Expect::Succeeds));
        steps.push(step("erase damaged", s.erase("ghcr.io"), Expect::Fails));
        std::fs::write(&entry, &keep).unwrap();
        let other_key = s.path().join("other.key");
        std::fs::write(&other_key, "ab".repeat(32)).unwrap();
        steps.push(step(
            "get wrong key",
            s.run_env(
                &["get"],
                b"ghcr.io",
                &[("BETA9_CREDENTIALS_KEY_FILE", other_key.to_str().unwrap())],
            ),
            Expect::Fails,
        ));
        steps.push(step("erase", s.erase("ghcr.io"), Expect::Succeeds));
        steps.push(step("get after erase", s.get("ghcr.io"), Expect::Fails));
        steps
    });
}

#[test]
fn scripted_commands_never_leak_except_export() {
    at_every_level(|s| {
        let env = [("GITHUB_TOKEN", CANARY), ("GITHUB_USERNAME", "octo")];
        let mut steps = vec![
            step(
                "add",
                s.run_env(
                    &["add", "ghcr.io", "GITHUB_USERNAME", "GITHUB_TOKEN"],
                    b"",
                    &env,
                ),
                Expect::Succeeds,
            ),
            step("ls", s.run(&["ls"], b""), Expect::Succeeds),
            step("ls --json", s.run(&["ls", "--json"], b""), Expect::Succeeds),
            step("show", s.run(&["show", "ghcr.io"], b""), Expect::Succeeds),
            step(
                "show --json",
                s.run(&["show", "ghcr.io", "--json"], b""),
                Expect::Succeeds,
            ),
            step(
                "export",
                s.run(&["export", "ghcr.io"], b""),
                Expect::Answers,
            ),
            step("get", s.get("ghcr.io"), Expect::Answers),
        ];
        // A secret typed where a variable name belongs is refused without being echoed.
        steps.push(step(
            "add secret as NAME",
            s.run(&["add", "ghcr.io", CANARY], b""),
            Expect::Fails,
        ));
        let bad = format!(
            r#"{{"registry":"nvcr.io","type":"ngc","credentials":{{"NGC_API_KEY":{CANARY}}}}}"#
        );
        steps.push(step(
            "import malformed",
            s.run(&["import"], bad.as_bytes()),
            Expect::Fails,
        ));
        let foreign =
            format!(r#"{{"version":1,"registry":"nvcr.io","type":"{CANARY}","credentials":{{}}}}"#);
        steps.push(step(
            "import bad type",
            s.run(&["import"], foreign.as_bytes()),
            Expect::Fails,
        ));
        let json = format!(r#"{{"USERNAME":"u","PASSWORD":"{CANARY}","EXTRA":"{CANARY}"}}"#);
        steps.push(step(
            "add --json foreign name",
            s.run(&["add", "r.example", "--json"], json.as_bytes()),
            Expect::Fails,
        ));
        let gcp = format!(
            r#"{{"version":1,"registry":"us-docker.pkg.dev","type":"gcp","credentials":{{"GOOGLE_APPLICATION_CREDENTIALS_JSON":"{{\"type\":\"service_account\",\"private_key\":\"{CANARY}\"}}"}}}}"#
        );
        steps.push(step(
            "import bad google key",
            s.run(&["import"], gcp.as_bytes()),
            Expect::Fails,
        ));
        steps.push(step(
            "get bad google key",
            s.get("us-docker.pkg.dev"),
            Expect::Fails,
        ));
        steps.push(step("rekey", s.run(&["rekey"], b""), Expect::Succeeds));
        steps.push(step("get after rekey", s.get("ghcr.io"), Expect::Answers));
        steps.push(step(
            "remove",
            s.run(&["remove", "ghcr.io"], b""),
            Expect::Succeeds,
        ));
        steps
    });
}

/// Secrets never travel in argv: the helper never starts another program (so no child's argv or
/// environment can carry one). strace counts every `execve` of a run and its threads.
#[test]
fn the_helper_never_starts_another_program() {
    if !crate::support::strace_usable("no_leaks::the_helper_never_starts_another_program") {
        return;
    }
    let s = Sandbox::new();
    let traced = |args: &[&str], stdin: &[u8], env: &[(&str, &str)]| {
        let (out, text) = s.run_traced("execve,execveat", args, stdin, env);
        let execs = text.lines().filter(|l| l.contains("execve")).count();
        assert_eq!(
            execs, 1,
            "{args:?} started another program: {text}\n{out:?}"
        );
        assert!(!text.contains(CANARY));
    };
    let body = format!(r#"{{"ServerURL":"ghcr.io","Username":"u","Secret":"{CANARY}"}}"#);
    traced(&["store"], body.as_bytes(), &[]);
    traced(&["get"], b"ghcr.io", &[]);
    traced(&["list"], b"", &[]);
    traced(
        &["add", "nvcr.io", "NGC_API_KEY"],
        b"",
        &[("NGC_API_KEY", CANARY)],
    );
    traced(&["export", "nvcr.io"], b"", &[]);
    traced(&["rekey"], b"", &[]);
    traced(&["erase"], b"ghcr.io", &[]);
}
