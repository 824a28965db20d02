//! `rekey`: the master key rotates, every entry survives, and a rotation killed at any point leaves
//! every entry readable (and finishes when run again).

use crate::support::{Sandbox, CANARY};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn fill(s: &Sandbox, n: usize, big: usize) {
    for i in 0..n {
        let secret = format!("{CANARY}-{i}-{}", "z".repeat(big));
        s.store(&format!("r{i}.rekey.example"), "u", &secret)
            .assert_ok();
    }
}

fn all_readable(s: &Sandbox, n: usize, big: usize) {
    let l = s.list();
    assert_eq!(l.code, 0);
    assert!(
        l.stderr.is_empty(),
        "list could not read some entries: {}",
        l.stderr
    );
    assert_eq!(l.json().as_object().unwrap().len(), n);
    for i in (0..n).step_by(7) {
        let o = s.get(&format!("r{i}.rekey.example"));
        assert_eq!(o.code, 0, "r{i}: {o:?}");
        assert_eq!(
            o.json()["Secret"],
            format!("{CANARY}-{i}-{}", "z".repeat(big))
        );
    }
}

#[test]
fn rekey_rotates_the_generated_key_and_keeps_every_entry() {
    let s = Sandbox::new();
    fill(&s, 20, 10);
    s.run_env(
        &["store"],
        br#"{"ServerURL":"ghcr.io","Username":"t","Secret":"team"}"#,
        &[("BETA9_WORKSPACE", "team")],
    )
    .assert_ok();
    let before = std::fs::read(s.key_file()).unwrap();
    let o = s.run(&["rekey"], b"");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.stdout,
        "rekeyed 21 entries in 2 workspaces (0 already under the new key)\n"
    );
    assert_ne!(std::fs::read(s.key_file()).unwrap(), before, "key changed");
    assert!(!s.rotation_parked());
    all_readable(&s, 20, 10);
    let o = s.run_env(&["get"], b"ghcr.io", &[("BETA9_WORKSPACE", "team")]);
    assert_eq!(o.json()["Secret"], "team");
    s.assert_not_on_disk(CANARY);
    // Entries sealed under the old key no longer open with it: the old key is gone for good.
    let old = s.path().join("old.key");
    std::fs::write(&old, &before).unwrap();
    let o = s.run_env(
        &["get"],
        b"r1.rekey.example",
        &[("BETA9_CREDENTIALS_KEY_FILE", old.to_str().unwrap())],
    );
    assert_eq!(o.code, 1);
}

#[test]
fn rekey_killed_at_random_points_leaves_everything_readable() {
    const N: usize = 120;
    const BIG: usize = 8 * 1024;
    let s = Sandbox::new();
    fill(&s, N, BIG);
    // Calibrate on a full run, then kill later runs at random points inside that span.
    let started = Instant::now();
    s.run(&["rekey"], b"").assert_ok();
    let span = started.elapsed().as_micros().max(2000) as u64;
    let mut rng = fastrand::Rng::with_seed(0x5EED);
    let mut interrupted = 0;
    for round in 0..12 {
        let delay = rng.u64(..span);
        let mut child = s
            .cmd(&["rekey"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(delay));
        let _ = child.kill();
        // Evidence that the kill landed mid-rotation: the next key is still parked (it is promoted
        // only when every entry was converted). A kill before it was parked proves nothing.
        let finished = child.wait().unwrap().success();
        if !finished && s.rotation_parked() {
            interrupted += 1;
        }
        all_readable(&s, N, BIG);
        // A store during an interrupted rotation is readable too, now and after it finishes.
        s.store("late.rekey.example", "u", &format!("late-{round}"))
            .assert_ok();
        assert_eq!(
            s.get("late.rekey.example").json()["Secret"],
            format!("late-{round}")
        );
        s.erase("late.rekey.example").assert_ok();
    }
    eprintln!("rekey crash test: {interrupted} of 12 runs killed mid-rotation (span {span} us)");
    assert!(
        interrupted > 0,
        "no rekey was killed with its next key parked: the test proved nothing"
    );
    let o = s.run(&["rekey"], b"");
    assert_eq!(o.code, 0, "{o:?}");
    assert!(!s.rotation_parked());
    all_readable(&s, N, BIG);
}

#[test]
fn rekey_with_an_operator_key_file_needs_the_new_file() {
    let s = Sandbox::new();
    std::fs::create_dir_all(s.path()).unwrap();
    let k1 = s.path().join("k1");
    let k2 = s.path().join("k2");
    std::fs::write(&k1, "11".repeat(32)).unwrap();
    std::fs::write(&k2, "22".repeat(32)).unwrap();
    let with = |k: &std::path::Path| {
        vec![(
            "BETA9_CREDENTIALS_KEY_FILE",
            k.to_str().unwrap().to_string(),
        )]
    };
    let e1 = with(&k1);
    let e1: Vec<(&str, &str)> = e1.iter().map(|(a, b)| (*a, b.as_str())).collect();
    s.run_env(
        &["store"],
        br#"{"ServerURL":"ghcr.io","Username":"u","Secret":"p"}"#,
        &e1,
    )
    .assert_ok();
    let o = s.run_env(&["rekey"], b"", &e1);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--new-key-file"), "{}", o.stderr);
    let o = s.run_env(&["rekey", "--new-key-file", k2.to_str().unwrap()], b"", &e1);
    assert_eq!(o.code, 0, "{o:?}");
    let e2 = with(&k2);
    let e2: Vec<(&str, &str)> = e2.iter().map(|(a, b)| (*a, b.as_str())).collect();
    assert_eq!(s.run_env(&["get"], b"ghcr.io", &e2).json()["Secret"], "p");
    assert_eq!(s.run_env(&["get"], b"ghcr.io", &e1).code, 1);
}
