//! `refresh` (pre-warming the token cache) against the real ECR emulator (moto): tokens inside
//! their refresh window (moto's short `--expires-in`, so no waiting and no clock to fake) or never
//! fetched are minted by `refresh`, in every workspace, and the `get`s after it make no call;
//! fresh tokens are left alone; one entry's failure is one line and a non-zero status, the others
//! are still refreshed; `--every` loops until SIGTERM and then exits 0.

use crate::moto_env::Moto;
use crate::support::{free_port, Out, Sandbox};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const OTHER: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
/// moto's fixed password for the account (docs/ecr.md, "Testing against moto").
const PASSWORD: &str = "123456789012-auth-token";
const AKID: &str = "AKIABETA9REFRESH0001";
const SECRET: &str = "refresh-secret-key-0001";

fn sandbox(moto: &Moto) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set_env("AWS_ENDPOINT_URL_ECR", &moto.endpoint);
    sb.set_env("BETA9_TIMEOUT", "10");
    sb
}

fn add_keys(sb: &Sandbox, workspace: &str, host: &str) {
    sb.run_env(
        &[
            "--workspace",
            workspace,
            "add",
            host,
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
        ],
        b"",
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    )
    .assert_ok();
}

fn get_in(sb: &Sandbox, workspace: &str, host: &str) -> Out {
    sb.run(&["--workspace", workspace, "get"], host.as_bytes())
}

fn answer(host: &str) -> String {
    format!(r#"{{"ServerURL":"{host}","Username":"AWS","Secret":"{PASSWORD}"}}"#) + "\n"
}

fn assert_no_secret(out: &Out) {
    for s in [PASSWORD, SECRET] {
        assert!(
            !out.stdout.contains(s) && !out.stderr.contains(s),
            "{s} shown: {out:?}"
        );
    }
}

/// A `gcp` record that mints from a metadata server nobody answers on: its refresh fails at once.
fn add_failing_google(sb: &Sandbox) {
    let json = serde_json::json!({
        "version": 1, "registry": "us-docker.pkg.dev", "type": "gcp",
        "credentials": {"GCP_METADATA": "1"}
    });
    sb.save_record(&json);
}

#[test]
fn refresh_warms_due_and_absent_tokens_of_every_workspace_so_32_gets_make_no_call() {
    // 58 s tokens: inside the refresh window as they arrive (max(58/12, 60) s before the end).
    let Some(moto) = Moto::start_with(&["--expires-in", "58"]) else {
        return;
    };
    let sb = sandbox(&moto);
    add_keys(&sb, "default", HOST);
    add_keys(&sb, "team-b", OTHER);
    sb.store("ghcr.io", "octo", "static-never-minted")
        .assert_ok();
    let first = get_in(&sb, "default", HOST);
    assert_eq!(first.stdout, answer(HOST), "{first:?}");
    assert_eq!(moto.count(), 1);
    // The next tokens live 12 h: once refreshed, they are fresh.
    moto.set_expires_in(43_200);

    let out = sb.run(&["refresh"], b"");
    out.assert_ok();
    assert_no_secret(&out);
    assert_eq!(moto.count(), 3, "one call per due or absent token: {out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{out:?}");
    assert!(
        lines.iter().any(|l| l.starts_with(&format!(
            "refreshed {HOST} in workspace default: aws token expires 2"
        ))),
        "{out:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("refreshed {OTHER} in workspace team-b:"))),
        "{out:?}"
    );
    assert!(
        out.stderr
            .contains("2 refreshed, 0 already fresh, 0 failed"),
        "{out:?}"
    );

    // Every `get` after it is a local hit: 32 at once, no call.
    let outs: Vec<Out> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|_| s.spawn(|| get_in(&sb, "default", HOST)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for o in &outs {
        assert_eq!(
            (o.code, o.stdout.as_str()),
            (0, answer(HOST).as_str()),
            "{o:?}"
        );
    }
    assert_eq!(get_in(&sb, "team-b", OTHER).stdout, answer(OTHER));
    assert_eq!(moto.count(), 3, "the gets after refresh made no call");

    // Fresh tokens are left alone: nothing printed on stdout, no call.
    let again = sb.run(&["refresh"], b"");
    again.assert_ok();
    assert_eq!(again.stdout, "", "{again:?}");
    assert!(
        again.stderr.contains("0 refreshed, 2 already fresh"),
        "{again:?}"
    );
    assert_eq!(moto.count(), 3);
}

#[test]
fn refresh_of_one_workspace_leaves_the_others_alone() {
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, "default", HOST);
    add_keys(&sb, "team-b", OTHER);
    let out = sb.run(&["--workspace", "team-b", "refresh"], b"");
    out.assert_ok();
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    assert!(out.stdout.contains("workspace team-b"), "{out:?}");
    assert_eq!(moto.count(), 1);
}

#[test]
fn a_failing_entry_is_one_line_and_exit_1_and_the_others_are_still_refreshed() {
    let Some(moto) = Moto::start() else { return };
    let mut sb = sandbox(&moto);
    // The metadata server of the Google record: a closed loopback port.
    sb.set_env("GCE_METADATA_HOST", &format!("127.0.0.1:{}", free_port()));
    add_failing_google(&sb);
    add_keys(&sb, "default", HOST);
    let out = sb.run(&["refresh"], b"");
    assert_eq!(out.code, 1, "{out:?}");
    assert_no_secret(&out);
    assert_eq!(
        out.stdout.lines().count(),
        1,
        "the ECR token still: {out:?}"
    );
    assert!(
        out.stdout.starts_with(&format!("refreshed {HOST}")),
        "{out:?}"
    );
    let failures: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains(": not refreshed:"))
        .collect();
    assert_eq!(failures.len(), 1, "{out:?}");
    assert!(
        failures[0].contains("us-docker.pkg.dev in workspace default"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("error: 1 token not refreshed"),
        "{out:?}"
    );
    assert_eq!(moto.count(), 1);
}

/// Lines of a child's stdout, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[test]
fn refresh_every_refreshes_then_exits_0_on_sigterm() {
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, "default", HOST);
    let mut child = sb
        .cmd(&["refresh", "--every", "1h", "--jitter", "5s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    // The first pass runs at once: wait (bounded) for its line.
    let line = lines
        .recv_timeout(Duration::from_secs(60))
        .expect("a first pass");
    assert!(line.starts_with(&format!("refreshed {HOST}")), "{line}");
    assert_eq!(moto.count(), 1);
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("still running 10 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
    assert!(!stderr.contains(PASSWORD) && !stderr.contains(SECRET));
}

/// `packaging/<name>`.
fn unit(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_systemd_timer_and_service_verify_and_their_exec_start_refreshes() {
    const SERVICE: &str = "docker-credential-beta9-refresh.service";
    const TIMER: &str = "docker-credential-beta9-refresh.timer";
    let service = unit(SERVICE);
    let timer = unit(TIMER);
    assert!(timer.contains(&format!("Unit={SERVICE}")), "{timer}");
    assert!(service.contains("Type=oneshot"), "{service}");
    let exec: Vec<&str> = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line")
        .split_whitespace()
        .collect();
    assert_eq!(
        exec[0], "/usr/bin/docker-credential-beta9",
        "where the packages install it"
    );

    // systemd's own checker (Debian's `systemd`), offline: the units as packaged, with
    // ExecStart pointing at the binary under test (verify also checks that it is executable).
    let dir = tempfile::tempdir().unwrap();
    let bin = crate::support::bin();
    let local = service.replace(exec[0], bin.to_str().unwrap());
    for (name, text) in [(SERVICE, local.as_str()), (TIMER, timer.as_str())] {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.path().join(name))
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
            .unwrap();
    }
    match std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path().join(SERVICE))
        .arg(dir.path().join(TIMER))
        .output()
    {
        Err(e) => {
            crate::support::tool_missing(
                &crate::support::current_test(),
                "systemd-analyze (Debian's systemd)",
                &e.to_string(),
            );
        }
        Ok(o) => {
            let said = String::from_utf8_lossy(&o.stderr).into_owned()
                + &String::from_utf8_lossy(&o.stdout);
            // Unknown keys are only warnings (status 0): any output at all is a failure.
            assert!(o.status.success() && said.trim().is_empty(), "{said}");
        }
    }

    // What ExecStart runs, run: it refreshes.
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, "default", HOST);
    let out = sb.run(&exec[1..], b"");
    out.assert_ok();
    assert!(
        out.stdout.starts_with(&format!("refreshed {HOST}")),
        "{out:?}"
    );
    assert_eq!(moto.count(), 1);
}

#[test]
fn the_readme_pre_warming_example_runs_as_pasted() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let section = readme
        .split("### Pre-warming tokens\n")
        .nth(1)
        .expect("the README's Pre-warming tokens section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("its first sh block");
    let Some(moto) = Moto::start() else { return };
    let sb = sandbox(&moto);
    add_keys(&sb, "default", HOST);
    let lines: Vec<&str> = block.lines().collect();
    let mut c = std::process::Command::new("sh");
    let bin_dir = crate::support::bin().parent().unwrap().to_path_buf();
    c.arg("-c")
        .arg(lines.join("\n"))
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
        .env("HOME", sb.home())
        .env("BETA9_CREDENTIALS_DIR", sb.store_base())
        .env("AWS_ENDPOINT_URL_ECR", &moto.endpoint);
    let out = sb.run_with(c, b"");
    out.assert_ok();
    assert!(
        out.stdout.starts_with(&format!("refreshed {HOST}")),
        "{out:?}"
    );
    assert_eq!(moto.count(), 1);
}

#[test]
fn refresh_at_trace_level_shows_no_key_and_no_token_refused_or_not() {
    let Some(moto) = Moto::start() else { return };
    let mut sb = sandbox(&moto);
    sb.set_env("BETA9_LOG", "trace");
    sb.run_env(
        &["add", HOST, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        b"",
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", crate::support::CANARY),
        ],
    )
    .assert_ok();
    moto.set_mode("deny");
    let refused = sb.run(&["refresh"], b"");
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(refused.stderr.contains("access denied"), "{refused:?}");
    moto.set_mode("normal");
    let ok = sb.run(&["refresh"], b"");
    ok.assert_ok();
    for out in [&refused, &ok] {
        for s in [crate::support::CANARY, PASSWORD] {
            assert!(
                !out.stdout.contains(s) && !out.stderr.contains(s),
                "{s}: {out:?}"
            );
        }
    }
    sb.assert_not_on_disk(crate::support::CANARY);
    sb.assert_not_on_disk(PASSWORD);
}
