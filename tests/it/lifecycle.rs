//! The worker's lifecycle of an entry through the real binary: per-request credentials that
//! expire (`--expires-in`), `prune`, last use, origin (docs/storage.md, "Entry lifecycle").
//!
//! The binary has no test-only clock (time is injected only into the library's unit tests,
//! which cover the boundary second by second), so these tests use a 2 s expiry and wait for it by
//! polling `get` against a deadline: the poll ends as soon as the entry has expired.

use crate::support::{Out, Sandbox, CANARY};
use std::time::{Duration, Instant};

fn record(registry: &str, password: &str) -> Vec<u8> {
    serde_json::json!({
        "version": 1,
        "registry": registry,
        "type": "generic",
        "credentials": {"USERNAME": "worker", "PASSWORD": password},
    })
    .to_string()
    .into_bytes()
}

/// Polls `get` until it stops answering, at most `limit`.
fn until_not_found(s: &Sandbox, url: &str, limit: Duration) -> Out {
    let start = Instant::now();
    loop {
        let o = s.get(url);
        if o.code != 0 || start.elapsed() > limit {
            return o;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ls_json(s: &Sandbox) -> Vec<serde_json::Value> {
    let v = s.run(&["ls", "--json"], b"").assert_ok().json();
    v.as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [serde_json::Value], registry: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| r["registry"] == registry)
        .unwrap_or_else(|| panic!("{registry} not in {rows:?}"))
}

#[test]
fn an_imported_entry_with_an_expiry_answers_until_then_and_not_found_after() {
    let s = Sandbox::new();
    s.run(
        &["import", "--expires-in", "2s"],
        &record("registry.example.com:5000", CANARY),
    )
    .assert_ok();
    s.run(&["import"], &record("other.example.com", "permanent"))
        .assert_ok();
    let o = s
        .get("registry.example.com:5000")
        .assert_ok()
        .stdout
        .clone();
    assert!(o.contains(CANARY), "{o}");

    let rows = ls_json(&s);
    let expiring = row(&rows, "registry.example.com:5000");
    let at = expiring["expires_at"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.len() == 20, "{at}");
    assert_eq!(expiring["expired"], false);
    assert_eq!(expiring["origin"], "import");
    assert!(row(&rows, "other.example.com").get("expires_at").is_none());
    let show = s.run(&["show", "registry.example.com:5000"], b"");
    assert!(
        show.assert_ok()
            .stdout
            .contains(&format!("expires:     {at}")),
        "{show:?}"
    );
    let table = s.run(&["ls"], b"").assert_ok().stdout.clone();
    assert!(table.lines().next().unwrap().contains("EXPIRES"), "{table}");
    assert!(table.contains(at), "{table}");

    let o = until_not_found(&s, "registry.example.com:5000", Duration::from_secs(15));
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout, "credentials not found in native keychain\n");
    assert!(!o.stderr.contains(CANARY));
    // docker's list and kubelet agree with get; the unrelated entry is untouched.
    let list = s.list().assert_ok().json();
    assert!(list.get("registry.example.com:5000").is_none(), "{list}");
    assert!(list.get("other.example.com").is_some(), "{list}");
    let kubelet = s.run(
        &["kubelet"],
        serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderRequest",
            "image": "registry.example.com:5000/app:1",
        })
        .to_string()
        .as_bytes(),
    );
    assert_eq!(kubelet.assert_ok().json()["auth"], serde_json::Value::Null);
    assert!(s
        .get("other.example.com")
        .assert_ok()
        .stdout
        .contains("permanent"));
    assert_eq!(
        row(&ls_json(&s), "registry.example.com:5000")["expired"],
        true
    );
    let doctor = s.run(
        &["doctor", "registry.example.com:5000/app:1", "--no-network"],
        b"",
    );
    assert_eq!(doctor.code, 1, "{doctor:?}");
    assert!(doctor.stdout.contains("FAIL  entry"), "{doctor:?}");
    assert!(doctor.stdout.contains("expired at"), "{doctor:?}");
    let export = s.run(&["export", "registry.example.com:5000"], b"");
    assert_eq!(export.code, 1, "{export:?}");
    assert!(!export.stdout.contains(CANARY) && !export.stderr.contains(CANARY));

    // A later import without --expires-in makes it permanent again.
    s.run(&["import"], &record("registry.example.com:5000", CANARY))
        .assert_ok();
    assert!(s
        .get("registry.example.com:5000")
        .assert_ok()
        .stdout
        .contains(CANARY));
    assert!(row(&ls_json(&s), "registry.example.com:5000")
        .get("expires_at")
        .is_none());
}

/// The expiry is inside the sealed plaintext: any edit of the file (to push the expiry out) makes
/// the entry fail to open; it never answers longer.
#[test]
fn an_edited_expiring_entry_does_not_open() {
    let s = Sandbox::new();
    let name = s
        .run(
            &["import", "--expires-in", "1h"],
            &record("edit.example.com", CANARY),
        )
        .assert_ok()
        .stdout
        .trim()
        .to_string();
    let path = s.entries_dir().join(&name);
    let sealed = std::fs::read(&path).unwrap();
    for at in [29, sealed.len() / 2, sealed.len() - 1] {
        let mut edited = sealed.clone();
        edited[at] ^= 0x01;
        std::fs::write(&path, &edited).unwrap();
        let o = s.get("edit.example.com");
        assert_eq!(o.code, 1, "{o:?}");
        assert!(!o.stdout.contains(CANARY), "{o:?}");
        assert_ne!(
            o.stdout, "credentials not found in native keychain\n",
            "{o:?}"
        );
    }
    std::fs::write(&path, &sealed).unwrap();
    assert!(s
        .get("edit.example.com")
        .assert_ok()
        .stdout
        .contains(CANARY));
}

#[test]
fn add_takes_an_expiry_and_a_bad_duration_stores_nothing() {
    let s = Sandbox::new();
    let env = [("USERNAME", "ci"), ("PASSWORD", CANARY)];
    for bad in ["90", "0s", "2w", "1.5h", "tomorrow", "-1m"] {
        let o = s.run_env(
            &[
                "add",
                "registry.example.com",
                "USERNAME",
                "PASSWORD",
                "--expires-in",
                bad,
            ],
            b"",
            &env,
        );
        assert_ne!(o.code, 0, "{bad}: {o:?}");
        assert_eq!(o.stderr.trim_end().lines().count(), 1, "{bad}: {o:?}");
        assert!(o.stderr.contains("--expires-in"), "{bad}: {o:?}");
        assert!(o.stdout.is_empty(), "{bad}: {o:?}");
        let imported = s.run(
            &["import", "--expires-in", bad],
            &record("r.example.com", CANARY),
        );
        assert_ne!(imported.code, 0, "{bad}: {imported:?}");
        assert!(
            imported.stderr.contains("--expires-in"),
            "{bad}: {imported:?}"
        );
    }
    assert!(
        !s.entries_dir().exists()
            || std::fs::read_dir(s.entries_dir()).unwrap().all(|e| {
                !e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("oci-creds-")
            }),
        "a bad duration stored something"
    );
    s.run_env(
        &[
            "add",
            "registry.example.com",
            "USERNAME",
            "PASSWORD",
            "--expires-in",
            "7d",
        ],
        b"",
        &env,
    )
    .assert_ok();
    let rows = ls_json(&s);
    let r = row(&rows, "registry.example.com");
    assert_eq!(r["origin"], "add");
    assert_eq!(r["expired"], false);
    let updated = r["updated_at"].as_u64().unwrap();
    let expires = r["expires_at"].as_str().unwrap();
    assert_eq!(
        expires,
        aws_time(updated + 7 * 86400),
        "expires 7 days after the write"
    );
    // kubelet never caches an answer past the entry's expiry.
    let kubelet = |image: &str| {
        let req = serde_json::json!({
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderRequest",
            "image": image,
        });
        s.run(&["kubelet"], req.to_string().as_bytes())
            .assert_ok()
            .json()["cacheDuration"]
            .clone()
    };
    assert_eq!(kubelet("registry.example.com/app"), "5m0s");
    s.run_env(
        &[
            "add",
            "short.example.com",
            "USERNAME",
            "PASSWORD",
            "--expires-in",
            "2m",
        ],
        b"",
        &env,
    )
    .assert_ok();
    let d = kubelet("short.example.com/app");
    assert!(d == "120s" || d == "119s", "{d}");
}

/// RFC 3339 in the binary's format (`YYYY-MM-DDTHH:MM:SSZ`), computed independently.
fn aws_time(unix: u64) -> String {
    let days = (unix / 86400) as i64;
    let secs = unix % 86400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The entries and cached tokens of a sandbox's workspace, by file name.
fn files_in(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(prefix) && !n.contains('.'))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn prune_deletes_expired_entries_and_their_cached_tokens_and_nothing_else() {
    let Some(moto) = crate::moto_env::Moto::start() else {
        return;
    };
    let mut s = Sandbox::new();
    s.set_env("AWS_ENDPOINT_URL_ECR", &moto.endpoint);
    let host = "111111111111.dkr.ecr.us-east-1.amazonaws.com";
    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKIAPRUNEEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", CANARY),
    ];
    let add = |extra: &[&str]| {
        let mut args = vec!["add", host, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
        args.extend_from_slice(extra);
        s.run_env(&args, b"", &keys).assert_ok();
    };
    // Mint and cache a token first, then give the same keys a 2 s expiry (same token-cache key).
    add(&[]);
    s.get(host).assert_ok();
    let cache = s.store_base().join("cache/default");
    assert_eq!(files_in(&cache, "tok-").len(), 1, "a cached token");
    add(&["--expires-in", "2s"]);
    s.run(&["import"], &record("keep.example.com", "kept"))
        .assert_ok();
    let o = until_not_found(&s, host, Duration::from_secs(15));
    assert_eq!(o.code, 1, "{o:?}");

    let entry = s
        .entries_dir()
        .join(s.run(&["secret-name", host], b"").assert_ok().stdout.trim());
    let dry = s.run(&["prune", "--dry-run"], b"");
    dry.assert_ok();
    let line = format!(
        "{host}\t{}\tdefault\texpired ",
        entry.file_name().unwrap().to_string_lossy()
    );
    assert_eq!(dry.stdout.lines().count(), 1, "{dry:?}");
    assert!(dry.stdout.starts_with(&line), "{dry:?}");
    assert!(dry.stdout.contains("(and its cached token)"), "{dry:?}");
    assert!(dry.stderr.contains("dry run"), "{dry:?}");
    assert!(
        entry.exists() && files_in(&cache, "tok-").len() == 1,
        "dry run changed something"
    );

    let done = s.run(&["prune"], b"");
    done.assert_ok();
    assert_eq!(done.stdout, dry.stdout, "the same lines");
    assert!(!entry.exists(), "the entry file is gone");
    assert!(
        files_in(&cache, "tok-").is_empty(),
        "its cached token is gone"
    );
    for out in [&dry, &done] {
        assert!(!out.stdout.contains(CANARY) && !out.stderr.contains(CANARY));
        assert!(!out.stdout.contains("AKIAPRUNEEXAMPLE"));
    }
    assert!(s
        .get("keep.example.com")
        .assert_ok()
        .stdout
        .contains("kept"));
    let again = s.run(&["prune"], b"");
    assert!(again.assert_ok().stdout.is_empty(), "{again:?}");
}

#[test]
fn prune_covers_the_current_workspace_unless_told_all_workspaces() {
    let s = Sandbox::new();
    for ws in ["team-a", "team-b"] {
        s.run(
            &["--workspace", ws, "import", "--expires-in", "2s"],
            &record("registry.example.com", CANARY),
        )
        .assert_ok();
    }
    let start = Instant::now();
    while s
        .run(&["--workspace", "team-b", "get"], b"registry.example.com")
        .code
        == 0
    {
        assert!(start.elapsed() < Duration::from_secs(15), "never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = s.run(&["--workspace", "team-a", "prune"], b"");
    assert_eq!(o.assert_ok().stdout.lines().count(), 1, "{o:?}");
    assert!(o.stdout.contains("\tteam-a\t"), "{o:?}");
    let team_b = s.store_base().join("workspaces/team-b");
    assert_eq!(files_in(&team_b, "oci-creds-").len(), 1, "team-b untouched");
    let both = s.run(&["--workspace", "team-a", "prune", "--all-workspaces"], b"");
    assert_ne!(both.code, 0, "{both:?}");
    assert!(both.stderr.contains("--all-workspaces"), "{both:?}");
    let all = s.run(&["prune", "--all-workspaces"], b"");
    assert_eq!(all.assert_ok().stdout.lines().count(), 1, "{all:?}");
    assert!(all.stdout.contains("\tteam-b\t"), "{all:?}");
    assert!(files_in(&team_b, "oci-creds-").is_empty());
}

#[test]
fn get_records_last_use_beside_the_entry_and_prune_unused_for_spares_what_is_used() {
    let mut s = Sandbox::new();
    // One recorded use per second at most, so the test sees uses within seconds.
    s.set_env("BETA9_LAST_USE_INTERVAL", "1s");
    s.run(&["import"], &record("busy.example.com", CANARY))
        .assert_ok();
    s.run(&["import"], &record("idle.example.com", CANARY))
        .assert_ok();
    let name = |r: &str| s.run(&["secret-name", r], b"").stdout.trim().to_string();
    let (busy, idle) = (name("busy.example.com"), name("idle.example.com"));
    let sealed = std::fs::read(s.entries_dir().join(&busy)).unwrap();
    s.get("busy.example.com").assert_ok();

    let marker = s.entries_dir().join(format!(".used-{busy}"));
    let meta = std::fs::symlink_metadata(&marker).unwrap();
    assert!(meta.is_file() && meta.len() == 0);
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let rows = ls_json(&s);
    assert!(
        row(&rows, "busy.example.com")["last_used"].is_string(),
        "{rows:?}"
    );
    assert!(row(&rows, "idle.example.com").get("last_used").is_none());
    let show = s.run(&["show", "busy.example.com"], b"");
    assert!(
        show.assert_ok().stdout.contains("last used:   20"),
        "{show:?}"
    );

    // Keep using one entry until the other has gone unused for 3 s.
    let start = Instant::now();
    let dry = loop {
        s.get("busy.example.com").assert_ok();
        let dry = s.run(&["prune", "--unused-for", "3s", "--dry-run"], b"");
        dry.assert_ok();
        assert!(!dry.stdout.contains("busy.example.com"), "{dry:?}");
        if !dry.stdout.is_empty() {
            break dry;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never unused");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        dry.stdout
            .starts_with(&format!("idle.example.com\t{idle}\tdefault\tunused since ")),
        "{dry:?}"
    );
    assert!(s.entries_dir().join(&idle).exists(), "dry run");
    assert_eq!(
        std::fs::read(s.entries_dir().join(&busy)).unwrap(),
        sealed,
        "gets never rewrite the sealed entry"
    );

    let off = s.run_env(
        &["prune", "--unused-for", "3s"],
        b"",
        &[("BETA9_LAST_USE_INTERVAL", "0")],
    );
    assert_eq!(off.code, 1, "{off:?}");
    assert!(off.stderr.contains("BETA9_LAST_USE_INTERVAL"), "{off:?}");
    assert!(s.entries_dir().join(&idle).exists());

    s.get("busy.example.com").assert_ok();
    let done = s.run(&["prune", "--unused-for", "3s"], b"");
    assert_eq!(done.assert_ok().stdout.lines().count(), 1, "{done:?}");
    assert!(done.stdout.starts_with("idle.example.com\t"), "{done:?}");
    assert!(!s.entries_dir().join(&idle).exists());
    assert!(s
        .get("busy.example.com")
        .assert_ok()
        .stdout
        .contains(CANARY));
}
