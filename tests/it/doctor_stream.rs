//! `doctor` writes each step when it is final, not all at the end: against a registry that
//! accepts the connection and never answers, the steps before the live check (reference, routing,
//! entry, login) are on stdout while the helper still waits for the registry, and the whole
//! streamed text is the report `--json` gives, line for line, with the same exit status.

use crate::support::{Sandbox, CANARY};
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// A loopback listener that accepts every connection and never writes a byte; it stops when
/// dropped or after 60 s.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Silent {
    fn start() -> Silent {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(60);
            let mut held = Vec::new();
            while !flag.load(Ordering::Relaxed) && Instant::now() < end {
                match l.accept() {
                    Ok((c, _)) => held.push(c),
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Silent { port, stop }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The text form rebuilt from `--json`: one line per step (a fix on every failing or warning step
/// but the first failure, whose fix is on the result line), then the result line.
fn text_from_json(v: &serde_json::Value) -> String {
    let mut failed = false;
    let mut out = String::new();
    for s in v["steps"].as_array().unwrap() {
        let status = s["status"].as_str().unwrap();
        let label = if status == "fail" { "FAIL" } else { status };
        let first = status == "fail" && !failed;
        failed |= status == "fail";
        let fix = match (s["fix"].as_str(), status, first) {
            (Some(f), "warn" | "fail", false) => format!("; to fix: {f}"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{:<5} {:<19} {}{fix}\n",
            label,
            s["name"].as_str().unwrap(),
            s["detail"].as_str().unwrap()
        ));
    }
    out.push_str(&format!("result: {}\n", v["result"].as_str().unwrap()));
    out
}

#[test]
fn doctor_prints_each_step_before_a_silent_registry_times_out() {
    let silent = Silent::start();
    let host = format!("127.0.0.1:{}", silent.port);
    let mut s = Sandbox::new();
    let run = s.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    s.set_env("XDG_RUNTIME_DIR", &run.to_string_lossy());
    s.set_env("BETA9_TIMEOUT", "2");
    s.store(&host, "beta9-tester", CANARY).assert_ok();
    s.run(&["configure-docker", &host, "--containers"], b"")
        .assert_ok();
    let image = format!("{host}/team/app:1");

    let mut child = s
        .cmd(&["doctor", &image])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut streamed = String::new();
    let mut early = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "stdout ended before the login line: {streamed}"
        );
        streamed.push_str(&line);
        let name = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        if name == "entry" || name == "login" {
            // The helper is still waiting for the registry (2 s): the line came before the end.
            assert!(
                child.try_wait().unwrap().is_none(),
                "the {name} line came only when doctor had finished: {streamed}"
            );
        }
        early.push(name.clone());
        if name == "login" {
            break;
        }
    }
    assert_eq!(
        early,
        [
            "reference",
            "routing.docker",
            "routing.containers",
            "routing.ggcr",
            "routing.kubelet",
            "entry",
            "login"
        ],
        "{streamed}"
    );
    reader.read_to_string(&mut streamed).unwrap();
    let status = child.wait().unwrap();
    assert!(!streamed.contains(CANARY), "{streamed}");
    assert!(
        streamed.contains("FAIL  connect"),
        "the silent registry should fail the connect step: {streamed}"
    );

    let whole = s.run(&["doctor", &image, "--json"], b"");
    assert_eq!(streamed, text_from_json(&whole.json()), "{whole:?}");
    assert_eq!(status.code(), Some(1));
    assert_eq!(whole.code, 1, "{whole:?}");
}
