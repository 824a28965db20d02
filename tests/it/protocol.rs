//! The docker credential-helper protocol, byte for byte, through the real binary.

use crate::support::{Sandbox, CANARY};
use std::process::Stdio;

const USAGE: &str = "Usage: docker-credential-beta9 <store|get|erase|list|version>\n";
const NOT_FOUND: &str = "credentials not found in native keychain\n";

#[test]
fn no_argument_prints_usage_and_exits_1() {
    let s = Sandbox::new();
    let o = s.run(&[], b"");
    assert_eq!((o.stdout.as_str(), o.code), (USAGE, 1));
}

#[test]
fn verb_with_extra_arguments_prints_usage_and_exits_1() {
    let s = Sandbox::new();
    for args in [
        &["get", "extra"][..],
        &["list", "a", "b"],
        &["version", "x"],
    ] {
        let o = s.run(args, b"ghcr.io");
        assert_eq!((o.stdout.as_str(), o.code), (USAGE, 1), "{args:?}");
    }
}

#[test]
fn version_forms_print_name_package_version() {
    let s = Sandbox::new();
    let want = format!(
        "docker-credential-beta9 (beta9) {}\n",
        env!("CARGO_PKG_VERSION")
    );
    for v in ["version", "-v", "--version"] {
        let o = s.run(&[v], b"");
        assert_eq!((o.stdout.as_str(), o.code), (want.as_str(), 0), "{v}");
    }
}

#[test]
fn help_starts_with_the_usage_line_and_exits_0() {
    let s = Sandbox::new();
    for h in ["-h", "--help"] {
        let o = s.run(&[h], b"");
        assert_eq!(o.code, 0);
        assert!(o.stdout.starts_with(USAGE), "{:?}", o.stdout);
    }
}

#[test]
fn unknown_action_is_one_stdout_line_exit_1() {
    let s = Sandbox::new();
    let o = s.run(&["frobnicate"], b"");
    assert_eq!(
        (o.stdout.as_str(), o.code),
        ("docker-credential-beta9: unknown action: frobnicate\n", 1)
    );
}

#[test]
fn get_of_unknown_registry_prints_not_found_exactly() {
    let s = Sandbox::new();
    let o = s.get("ghcr.io");
    assert_eq!(
        (o.stdout.as_str(), o.stderr.as_str(), o.code),
        (NOT_FOUND, "", 1)
    );
    // Nothing was created by a read.
    assert!(!s.store_base().exists());
}

#[test]
fn empty_server_url_is_dockers_missing_url_error() {
    let s = Sandbox::new();
    for verb in ["get", "erase"] {
        for input in [&b""[..], b"  \r\n"] {
            let o = s.run(&[verb], input);
            assert_eq!(
                (o.stdout.as_str(), o.code),
                ("no credentials server URL\n", 1),
                "{verb} {input:?}"
            );
        }
    }
}

#[test]
fn store_errors_match_docker_helpers() {
    let s = Sandbox::new();
    let cases: [(&[u8], &str); 4] = [
        (
            br#"{"Username":"u","Secret":"s"}"#,
            "no credentials server URL\n",
        ),
        (
            br#"{"ServerURL":"ghcr.io","Secret":"s"}"#,
            "no credentials username\n",
        ),
        (b"", "EOF\n"),
        (
            b"{not json",
            "malformed JSON on stdin at line 1, column 2\n",
        ),
    ];
    for (input, want) in cases {
        let o = s.run(&["store"], input);
        assert_eq!((o.stdout.as_str(), o.code), (want, 1), "{input:?}");
    }
    assert!(s.list().stdout == "{}\n");
}

#[test]
fn store_then_get_answers_exact_json_and_erase_removes() {
    let s = Sandbox::new();
    let o = s.store("ghcr.io", "octocat", "ghp_secret");
    assert_eq!((o.stdout.as_str(), o.code), ("", 0));
    let o = s.get("ghcr.io");
    assert_eq!(
        (o.stdout.as_str(), o.code),
        (
            "{\"ServerURL\":\"ghcr.io\",\"Username\":\"octocat\",\"Secret\":\"ghp_secret\"}\n",
            0
        )
    );
    let o = s.erase("ghcr.io");
    assert_eq!((o.stdout.as_str(), o.code), ("", 0));
    assert_eq!(s.get("ghcr.io").stdout, NOT_FOUND);
    // docker logout erases up to four keys: absent is success.
    for key in ["ghcr.io", "http://ghcr.io", "https://ghcr.io"] {
        let o = s.erase(key);
        assert_eq!((o.stdout.as_str(), o.code), ("", 0), "{key}");
    }
}

#[test]
fn get_echoes_the_trimmed_server_url_it_was_given() {
    let s = Sandbox::new();
    s.store("https://index.docker.io/v1/", "me", "pat")
        .assert_ok();
    let o = s.get("https://index.docker.io/v1/\r\n");
    assert_eq!(
        o.stdout,
        "{\"ServerURL\":\"https://index.docker.io/v1/\",\"Username\":\"me\",\"Secret\":\"pat\"}\n"
    );
}

#[test]
fn store_accepts_pretty_printed_lower_case_and_extra_fields() {
    let s = Sandbox::new();
    let body = b"{\n  \"serverurl\": \"registry.example.com:5000\",\n  \"username\": \"u\",\n  \"secret\": \"p\",\n  \"Extra\": [1, {\"x\": null}]\n}\n";
    s.run(&["store"], body).assert_ok();
    assert_eq!(s.get("registry.example.com:5000").json()["Secret"], "p");
}

#[test]
fn empty_secret_and_identity_token_round_trip() {
    let s = Sandbox::new();
    s.store("registry.example.com", "<token>", "").assert_ok();
    let o = s.get("registry.example.com");
    // Go's encoder escapes < and >; parsers see "<token>".
    assert!(o.stdout.contains("\\u003ctoken\\u003e"), "{}", o.stdout);
    assert_eq!(o.json()["Username"], "<token>");
    assert_eq!(o.json()["Secret"], "");
}

#[test]
fn docker_hub_aliases_share_one_entry_and_list_reports_the_index_url() {
    let s = Sandbox::new();
    s.store("https://index.docker.io/v1/", "hubuser", "hubpat")
        .assert_ok();
    for key in [
        "https://index.docker.io/v1/",
        "index.docker.io",
        "docker.io",
        "registry-1.docker.io",
    ] {
        let o = s.get(key);
        assert_eq!(o.code, 0, "{key}: {o:?}");
        assert_eq!(o.json()["Secret"], "hubpat", "{key}");
        assert_eq!(o.json()["ServerURL"], key, "{key}");
    }
    assert_eq!(
        s.list().stdout,
        "{\"https://index.docker.io/v1/\":\"hubuser\"}\n"
    );
}

#[test]
fn docker_hub_oauth_keys_do_not_overwrite_the_pat() {
    let s = Sandbox::new();
    s.store("https://index.docker.io/v1/", "me", "pat")
        .assert_ok();
    s.store("https://index.docker.io/v1/access-token", "me", "jwt")
        .assert_ok();
    s.store(
        "https://index.docker.io/v1/refresh-token",
        "me",
        "refresh..client",
    )
    .assert_ok();
    assert_eq!(s.get("docker.io").json()["Secret"], "pat");
    assert_eq!(
        s.get("https://index.docker.io/v1/access-token").json()["Secret"],
        "jwt"
    );
    assert_eq!(s.list().json().as_object().map(|m| m.len()), Some(3));
}

#[test]
fn ports_and_hosts_are_distinct_but_default_port_and_scheme_are_not() {
    let s = Sandbox::new();
    s.store("localhost:5000", "a", "5000").assert_ok();
    s.store("https://registry.example.com:443/", "b", "443")
        .assert_ok();
    assert_eq!(s.get("localhost").stdout, NOT_FOUND);
    assert_eq!(s.get("localhost:5000").json()["Secret"], "5000");
    assert_eq!(s.get("registry.example.com").json()["Secret"], "443");
    assert_eq!(
        s.get("http://registry.example.com/").json()["Secret"],
        "443"
    );
}

#[test]
fn repository_path_probe_is_not_found_unless_stored_exactly() {
    let s = Sandbox::new();
    s.store("ghcr.io", "u", "host-secret").assert_ok();
    assert_eq!(s.get("ghcr.io/org/img").stdout, NOT_FOUND);
    s.store("ghcr.io/org/img", "u", "repo-secret").assert_ok();
    assert_eq!(s.get("ghcr.io/org/img").json()["Secret"], "repo-secret");
    assert_eq!(s.get("ghcr.io").json()["Secret"], "host-secret");
}

#[test]
fn list_is_empty_object_never_reads_stdin_and_shows_no_secret() {
    let s = Sandbox::new();
    let mut c = s.cmd(&["list"]);
    c.stdin(Stdio::null());
    let o = s.run_with(c, b"");
    assert_eq!((o.stdout.as_str(), o.code), ("{}\n", 0));
    s.store("ghcr.io", "octo", CANARY).assert_ok();
    s.store("localhost:5000", "local", CANARY).assert_ok();
    // A terminal-attached stdin that never closes would hang a helper that reads it: `list` with
    // an open, silent pipe must still answer.
    let mut child = s
        .cmd(&["list"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _keep_open = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "{\"ghcr.io\":\"octo\",\"localhost:5000\":\"local\"}\n"
    );
    assert!(!text.contains(CANARY));
}

#[test]
fn large_secrets_round_trip_and_oversized_input_is_refused() {
    let s = Sandbox::new();
    let big: String = "x".repeat(100 * 1024);
    s.store("registry.example.com", "u", &big).assert_ok();
    assert_eq!(s.get("registry.example.com").json()["Secret"], big.as_str());
    let huge = vec![b' '; (1 << 20) + 10];
    let o = s.run(&["store"], &huge);
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout, "input on stdin exceeds the 1048576-byte limit\n");
    // The earlier entry is untouched.
    assert_eq!(s.get("registry.example.com").json()["Secret"], big.as_str());
}

#[test]
fn unicode_quotes_and_newlines_in_secrets_round_trip() {
    let s = Sandbox::new();
    let nasty = "pä\"ss\\wörd\n\r\t\u{2028}😀 & <x> '$(rm)'";
    s.store("registry.example.com", "üser \"q\"", nasty)
        .assert_ok();
    let o = s.get("registry.example.com");
    assert_eq!(
        o.stdout.matches('\n').count(),
        1,
        "one line: {:?}",
        o.stdout
    );
    assert_eq!(o.json()["Secret"], nasty);
    assert_eq!(o.json()["Username"], "üser \"q\"");
}

#[test]
fn stored_files_are_private_and_encrypted() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::new();
    s.store("ghcr.io", "octo", CANARY).assert_ok();
    s.assert_not_on_disk(CANARY);
    s.assert_not_on_disk("octo");
    s.assert_not_on_disk("ghcr.io");
    for f in s.files() {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
    for d in [
        s.store_base(),
        s.entries_dir(),
        s.key_file().parent().unwrap().to_path_buf(),
    ] {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
    }
    let name = s.entries_dir().join("oci-creds-0fd460f0568e29c1");
    assert!(
        name.exists(),
        "entry is named oci-creds-<sha256(ghcr.io)[:16]>"
    );
}

#[test]
fn canary_never_reaches_stderr_or_errors_even_at_trace() {
    let mut s = Sandbox::new();
    s.set_env("BETA9_LOG", "trace");
    s.store("ghcr.io", "octo", CANARY).assert_ok();
    let o = s.get("ghcr.io");
    assert!(o.stdout.contains(CANARY));
    assert!(!o.stderr.contains(CANARY), "{}", o.stderr);
    for (args, input) in [
        (
            &["store"][..],
            format!("{{\"ServerURL\":\"x\",\"Username\":\"u\",\"Secret\":{CANARY}}}"),
        ),
        (
            &["store"],
            format!("{{\"ServerURL\":\"\",\"Username\":\"u\",\"Secret\":\"{CANARY}\"}}"),
        ),
        (
            &["store"],
            format!("{{\"ServerURL\":\"x\",\"Username\":\"\",\"Secret\":\"{CANARY}\"}}"),
        ),
        (&["get"], "nvcr.io".to_string()),
        (&["get"], "ghcr.io/org/img".to_string()),
        (&["list"], String::new()),
        (&["erase"], "ghcr.io".to_string()),
    ] {
        let o = s.run(args, input.as_bytes());
        assert!(!o.stderr.contains(CANARY), "{args:?}: {}", o.stderr);
        assert!(!o.stdout.contains(CANARY), "{args:?}: {}", o.stdout);
    }
    s.assert_not_on_disk(CANARY);
}

#[test]
fn wrong_key_is_a_one_line_error_naming_the_entry_and_loses_nothing() {
    let s = Sandbox::new();
    let key_a = s.path().join("a.key");
    let key_b = s.path().join("b.key");
    std::fs::create_dir_all(s.path()).unwrap();
    write_key(&key_a, &"11".repeat(32));
    write_key(&key_b, &"22".repeat(32));
    let a = [("BETA9_CREDENTIALS_KEY_FILE", key_a.to_str().unwrap())];
    let b = [("BETA9_CREDENTIALS_KEY_FILE", key_b.to_str().unwrap())];
    let body =
        serde_json::json!({"ServerURL":"ghcr.io","Username":"u","Secret":CANARY}).to_string();
    s.run_env(&["store"], body.as_bytes(), &a).assert_ok();
    let file = s.entries_dir().join("oci-creds-0fd460f0568e29c1");
    let before = std::fs::read(&file).unwrap();
    let o = s.run_env(&["get"], b"ghcr.io", &b);
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout.lines().count(), 1, "{:?}", o.stdout);
    assert!(
        o.stdout.contains("oci-creds-0fd460f0568e29c1"),
        "{}",
        o.stdout
    );
    // The key check tells a wrong key from a damaged file, and says what to restore.
    assert!(
        o.stdout.contains("wrong key") && o.stdout.contains("restore the key"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains(CANARY) && !o.stderr.contains(CANARY));
    // erase with the wrong key refuses rather than deleting what it cannot read.
    let o = s.run_env(&["erase"], b"ghcr.io", &b);
    assert_eq!(o.code, 1);
    assert_eq!(std::fs::read(&file).unwrap(), before, "bytes untouched");
    let o = s.run_env(&["get"], b"ghcr.io", &a);
    assert_eq!(o.json()["Secret"], CANARY);
    // A malformed key file is a clear error too.
    let bad = s.path().join("bad.key");
    write_key(&bad, "not a key");
    let o = s.run_env(
        &["get"],
        b"ghcr.io",
        &[("BETA9_CREDENTIALS_KEY_FILE", bad.to_str().unwrap())],
    );
    assert_eq!(o.code, 1);
    assert!(
        o.stdout
            .contains("64 hex characters or exactly 32 raw bytes"),
        "{}",
        o.stdout
    );
}

fn write_key(path: &std::path::Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn corrupt_entry_fails_alone_and_other_entries_keep_working() {
    let s = Sandbox::new();
    s.store("ghcr.io", "g", "gs").assert_ok();
    s.store("nvcr.io", "n", "ns").assert_ok();
    let ghcr = s.entries_dir().join("oci-creds-0fd460f0568e29c1");
    let mut bytes = std::fs::read(&ghcr).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    overwrite(&ghcr, &bytes);
    let o = s.get("ghcr.io");
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout.lines().count(), 1);
    assert!(o.stdout.contains("oci-creds-0fd460f0568e29c1"));
    assert_eq!(s.get("nvcr.io").json()["Secret"], "ns");
    let l = s.list();
    assert_eq!((l.stdout.as_str(), l.code), ("{\"nvcr.io\":\"n\"}\n", 0));
    assert!(
        l.stderr.contains("skipping oci-creds-0fd460f0568e29c1"),
        "{}",
        l.stderr
    );
    // Truncated to nothing and a foreign file in the store directory.
    overwrite(&ghcr, b"");
    assert_eq!(s.get("ghcr.io").code, 1);
    overwrite(&s.entries_dir().join("README"), b"not ours");
    assert_eq!(s.get("nvcr.io").json()["Secret"], "ns");
    assert_eq!(s.list().stdout, "{\"nvcr.io\":\"n\"}\n");
    // No write replaces what it cannot open (docker login included): one line, nothing changed;
    // `remove --force` deletes it, then a login stores again.
    let o = s.store("ghcr.io", "g", "gs2");
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("remove --force"), "{o:?}");
    s.run(&["remove", "--force", "ghcr.io"], b"").assert_ok();
    s.store("ghcr.io", "g", "gs2").assert_ok();
    assert_eq!(s.get("ghcr.io").json()["Secret"], "gs2");
}

#[test]
fn a_file_renamed_onto_another_entry_is_detected() {
    let s = Sandbox::new();
    s.store("ghcr.io", "g", "gs").assert_ok();
    s.store("nvcr.io", "n", "ns").assert_ok();
    let ghcr = s.entries_dir().join("oci-creds-0fd460f0568e29c1");
    let nvcr = s.entries_dir().join("oci-creds-0bf8a811d2e271e8");
    std::fs::copy(&ghcr, &nvcr).unwrap();
    let o = s.get("nvcr.io");
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("oci-creds-0bf8a811d2e271e8"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("gs"));
    assert_eq!(s.get("ghcr.io").json()["Secret"], "gs");
}

fn overwrite(path: &std::path::Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn workspaces_are_isolated() {
    let s = Sandbox::new();
    s.run_env(
        &["store"],
        br#"{"ServerURL":"ghcr.io","Username":"a","Secret":"team-a"}"#,
        &[("BETA9_WORKSPACE", "team-a")],
    )
    .assert_ok();
    assert_eq!(s.get("ghcr.io").stdout, NOT_FOUND);
    let o = s.run_env(&["get"], b"ghcr.io", &[("BETA9_WORKSPACE", "team-a")]);
    assert_eq!(o.json()["Secret"], "team-a");
    let o = s.run_env(&["get"], b"ghcr.io", &[("BETA9_WORKSPACE", "../x")]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout
            .starts_with("BETA9_WORKSPACE: invalid workspace name"),
        "{}",
        o.stdout
    );
    // A file copied into another workspace's directory does not open there.
    std::fs::create_dir_all(s.entries_dir()).unwrap();
    std::fs::copy(
        s.store_base()
            .join("workspaces/team-a/oci-creds-0fd460f0568e29c1"),
        s.entries_dir().join("oci-creds-0fd460f0568e29c1"),
    )
    .unwrap();
    let o = s.get("ghcr.io");
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("wrong key or corrupted file"),
        "{}",
        o.stdout
    );
}

#[test]
fn concurrent_gets_and_stores_never_see_partial_entries() {
    let s = Sandbox::new();
    s.store("ghcr.io", "u", "v0").assert_ok();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for i in 0..8 {
            let s = &s;
            handles.push(scope.spawn(move || {
                let o = s.store("ghcr.io", "u", &format!("v{}", i + 1));
                assert_eq!(o.code, 0, "{o:?}");
                let o = s.store(&format!("r{i}.example.com"), "u", &format!("own{i}"));
                assert_eq!(o.code, 0, "{o:?}");
            }));
        }
        for _ in 0..32 {
            let s = &s;
            handles.push(scope.spawn(move || {
                let o = s.get("ghcr.io");
                assert_eq!(o.code, 0, "{o:?}");
                let secret = o.json()["Secret"].as_str().unwrap().to_string();
                assert!(secret.starts_with('v'), "{secret}");
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
    });
    for i in 0..8 {
        assert_eq!(
            s.get(&format!("r{i}.example.com")).json()["Secret"],
            format!("own{i}")
        );
    }
    let leftovers = s.temp_files();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn first_writes_racing_agree_on_one_generated_key() {
    let s = Sandbox::new();
    std::thread::scope(|scope| {
        for i in 0..16 {
            let s = &s;
            scope.spawn(move || {
                s.store(&format!("r{i}.example.com"), "u", "p")
                    .assert_ok()
                    .code
            });
        }
    });
    for i in 0..16 {
        assert_eq!(s.get(&format!("r{i}.example.com")).code, 0, "r{i}");
    }
}

#[test]
fn loose_key_and_store_permissions_are_warned_about_on_stderr() {
    use std::os::unix::fs::PermissionsExt;
    let s = Sandbox::new();
    s.store("ghcr.io", "u", "p").assert_ok();
    let quiet = s.get("ghcr.io");
    assert_eq!((quiet.code, quiet.stderr.as_str()), (0, ""));
    std::fs::set_permissions(s.key_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(s.entries_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = s.get("ghcr.io");
    // Still answers (a Kubernetes secret volume is 0644 by default), but says how to fix it.
    assert_eq!(o.json()["Secret"], "p");
    assert!(o.stderr.contains("chmod 600"), "{}", o.stderr);
    assert!(o.stderr.contains("chmod 700"), "{}", o.stderr);
    assert_eq!(o.stderr.lines().count(), 2);
}

#[test]
fn missing_key_with_existing_entries_is_a_clear_error() {
    let s = Sandbox::new();
    s.store("ghcr.io", "u", "p").assert_ok();
    std::fs::remove_file(s.key_file()).unwrap();
    let o = s.get("ghcr.io");
    assert_eq!(o.code, 1);
    assert!(
        o.stdout
            .starts_with("master key unavailable: entries exist in"),
        "{}",
        o.stdout
    );
    assert_eq!(o.stdout.lines().count(), 1);
    // And no second key is minted beside entries sealed with the lost one.
    let o = s.store("nvcr.io", "u", "p");
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("restore it"), "{}", o.stdout);
    assert!(!s.key_file().exists());
}
