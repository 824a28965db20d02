//! Reliability under load and crashes: many processes at once, and `store`s killed with SIGKILL at
//! random points. Sizes are bounded for CI; `BETA9_STRESS_SECONDS` / `BETA9_CRASH_RUNS` raise them.

use crate::support::Sandbox;
use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[allow(clippy::disallowed_methods)]
fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A seeded generator is enough to vary the operation mix.
struct Rng(fastrand::Rng);
impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(fastrand::Rng::with_seed(seed))
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0.u64(..n)
    }
}

fn registry(i: u64) -> String {
    format!("r{i}.stress.example")
}

#[test]
fn sixty_four_processes_of_random_operations_keep_every_acknowledged_write() {
    const WORKERS: u64 = 64;
    const REGISTRIES: u64 = 200;
    let seconds = knob("BETA9_STRESS_SECONDS", 4);
    let s = Sandbox::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    // Registry i is written only by worker i % 64, so "the last acknowledged write" is defined;
    // every worker reads every registry.
    let finals: Vec<HashMap<u64, Option<String>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let s = &s;
                scope.spawn(move || {
                    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ ((w + 1) * 0x1000_0001));
                    let mine: Vec<u64> = (0..REGISTRIES).filter(|r| r % WORKERS == w).collect();
                    let mut expect: HashMap<u64, Option<String>> =
                        mine.iter().map(|r| (*r, None)).collect();
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        n += 1;
                        match rng.below(10) {
                            0..=2 => {
                                let r = mine[rng.below(mine.len() as u64) as usize];
                                let v =
                                    format!("w{w}-n{n}-{}", "x".repeat(rng.below(300) as usize));
                                let o = s.store(&registry(r), "u", &v);
                                assert_eq!(o.code, 0, "store: {o:?}");
                                expect.insert(r, Some(v));
                            }
                            3 => {
                                let r = mine[rng.below(mine.len() as u64) as usize];
                                let o = s.erase(&registry(r));
                                assert_eq!(o.code, 0, "erase: {o:?}");
                                expect.insert(r, None);
                            }
                            4 => {
                                let o = s.list();
                                assert_eq!(o.code, 0, "list: {o:?}");
                                assert!(o.stderr.is_empty(), "list noted damage: {}", o.stderr);
                                o.json();
                            }
                            5..=6 => {
                                // Read-your-writes on an own registry.
                                let r = mine[rng.below(mine.len() as u64) as usize];
                                let o = s.get(&registry(r));
                                match &expect[&r] {
                                    Some(v) => assert_eq!(o.json()["Secret"], v.as_str()),
                                    None => assert_eq!(o.code, 1),
                                }
                            }
                            _ => {
                                // Anyone's registry: a whole value or not-found, never an error.
                                let r = rng.below(REGISTRIES);
                                let o = s.get(&registry(r));
                                if o.code == 0 {
                                    assert!(o.json()["Secret"].as_str().unwrap().starts_with('w'));
                                } else {
                                    assert_eq!(
                                        o.stdout,
                                        "credentials not found in native keychain\n"
                                    );
                                }
                            }
                        }
                    }
                    expect
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut checked = 0;
    for expect in finals {
        for (r, v) in expect {
            let o = s.get(&registry(r));
            match v {
                Some(v) => assert_eq!(o.json()["Secret"], v.as_str(), "{}", registry(r)),
                None => assert_eq!(o.code, 1, "{}: {o:?}", registry(r)),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, REGISTRIES);
    let temps = s.temp_files();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}

/// When to SIGKILL a `store`.
enum Kill {
    /// After this many microseconds.
    After(u64),
    /// As soon as its temp file appears in `dir`: inside the write (seal done, rename not yet).
    InWrite(std::path::PathBuf),
}

#[test]
fn store_killed_at_random_points_leaves_old_or_new_value_never_neither() {
    let runs = knob("BETA9_CRASH_RUNS", 200);
    let s = Sandbox::new();
    s.store("crash.example", "u", "v-initial").assert_ok();
    s.store("bystander.example", "u", "untouched").assert_ok();
    let mut rng = Rng::new(0xC0FF_EE00_D15E_A5E5);
    // How long one whole store takes (measured, not assumed: a loaded machine is slower).
    let big = format!("v-cal-{}", "y".repeat(192 * 1024));
    let started = Instant::now();
    for _ in 0..5 {
        s.store("calibrate.example", "u", &big).assert_ok();
    }
    let span_us = (started.elapsed().as_micros() as u64 / 5).max(1000) * 3 / 2;
    let mut current = "v-initial".to_string();
    // One store of a large value (it stretches the write), killed as `kill` says; then the entry
    // must hold the old or the new value, and the new one if the store finished. Returns whether
    // it finished first, and whether the kill left a temp file.
    let mut attempt = |i: u64, kill: Kill, rng: &mut Rng| -> (bool, bool) {
        let new = format!(
            "v-{i}-{}",
            "y".repeat(64 * 1024 + rng.below(256 * 1024) as usize)
        );
        let body = serde_json::json!({"ServerURL":"crash.example","Username":"u","Secret":new})
            .to_string();
        let mut child = s
            .cmd(&["store"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            let _ = stdin.write_all(body.as_bytes());
        }
        match kill {
            Kill::After(us) => std::thread::sleep(Duration::from_micros(us)),
            Kill::InWrite(dir) => {
                let deadline = Instant::now() + Duration::from_secs(30);
                while Instant::now() < deadline && child.try_wait().unwrap().is_none() {
                    let writing = std::fs::read_dir(&dir)
                        .unwrap()
                        .flatten()
                        .any(|e| e.file_name().to_string_lossy().starts_with(".tmp-"));
                    if writing {
                        break;
                    }
                }
            }
        }
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        // Evidence that the kill landed inside the write: its temp file is still there (the next
        // completed write sweeps it). A kill before or after the write leaves none.
        let evidence = !status.success() && !s.temp_files().is_empty();
        let o = s.get("crash.example");
        assert_eq!(o.code, 0, "run {i}: entry unreadable after a kill: {o:?}");
        let got = o.json()["Secret"].as_str().unwrap().to_string();
        assert!(
            got == current || got == new,
            "run {i}: neither old nor new value"
        );
        if status.success() {
            assert_eq!(got, new, "run {i}: acknowledged write lost");
        }
        current = got;
        (status.success(), evidence)
    };
    let (mut killed, mut finished, mut mid_write) = (0, 0, 0);
    let mut count = |(done, evidence): (bool, bool)| {
        if done {
            finished += 1;
        } else {
            killed += 1;
        }
        mid_write += u64::from(evidence);
        mid_write
    };
    // Kills anywhere: before, inside or after the write.
    let mut random_hits = 0;
    for i in 0..runs {
        random_hits = count(attempt(i, Kill::After(rng.below(span_us)), &mut rng));
    }
    // Kills aimed inside the write, until a few left their evidence.
    let mut hits = random_hits;
    for i in runs..runs + 200 {
        if hits >= random_hits + 3 {
            break;
        }
        hits = count(attempt(i, Kill::InWrite(s.entries_dir()), &mut rng));
    }
    assert_eq!(s.get("bystander.example").json()["Secret"], "untouched");
    let l = s.list();
    assert_eq!(l.code, 0);
    assert!(l.stderr.is_empty(), "{}", l.stderr);
    eprintln!(
        "crash test: {killed} killed ({mid_write} inside the write, {random_hits} of them at random), {finished} finished first (random delays 0..{span_us} us)"
    );
    assert!(
        mid_write > random_hits,
        "no aimed kill landed inside a write (no temp file was ever left): the test proved nothing"
    );
    // The next completed write sweeps temp files that killed writers left behind.
    s.store("crash.example", "u", "final").assert_ok();
    let temps = s.temp_files();
    assert!(temps.is_empty(), "{temps:?}");
}
