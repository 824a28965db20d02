//! Every setting with a grammar of its own, given a bad value, is reported in exactly one line
//! that names the variable (docs/configuration.md, "Variables"): a note when a default takes
//! over, the error otherwise. Against the binary, on the path that reads the variable.

use crate::support::{free_port, Sandbox};

const ECR: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
const GCP: &str = "us-docker.pkg.dev";

/// What a case's `get` asks for: a static login, an ECR token (its API on a closed loopback
/// port), a Google token from the metadata server (none listening), or a static login from a
/// shared store that is not listening.
#[derive(Clone, Copy, Debug)]
enum Path {
    Static,
    Ecr,
    Metadata,
    Shared,
}

const CASES: &[(&str, &str, Path)] = &[
    ("BETA9_TIMEOUT", "soon", Path::Static),
    ("BETA9_TIMEOUT", "0", Path::Ecr),
    ("BETA9_TIMEOUT", "-5s", Path::Shared),
    ("BETA9_LAST_USE_INTERVAL", "hourly", Path::Static),
    ("BETA9_STORE_CACHE_TTL", "1.5h", Path::Shared),
    ("BETA9_STORE_MAX_STALE", "a day", Path::Shared),
    ("BETA9_WORKSPACE", "a/b", Path::Static),
    ("BETA9_KEY_BACKEND", "vault", Path::Static),
    ("BETA9_STORE_URL", "ftp://db.example", Path::Shared),
    ("BETA9_TOKEN_CACHE_URL", "memcached://x", Path::Ecr),
    ("HTTPS_PROXY", "http://[::", Path::Ecr),
    ("AWS_ENDPOINT_URL_ECR", "ecr.example", Path::Ecr),
    ("GCE_METADATA_HOST", "evil.example/x", Path::Metadata),
    ("BETA9_TIMEOUT", "ten", Path::Metadata),
    #[cfg(debug_assertions)]
    ("BETA9_TEST_CLOCK_SHIFT_MS", "soon", Path::Static),
];

#[test]
fn a_bad_value_of_each_setting_gives_one_line_naming_it() {
    let mut s = Sandbox::new();
    let key = s.path().join("master.key");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&key)
            .unwrap();
        f.write_all("ab".repeat(32).as_bytes()).unwrap();
    }
    s.set_env("BETA9_CACHE_DIR", s.path().join("cache").to_str().unwrap());
    s.store("ghcr.io", "u", "static-secret").assert_ok();
    s.run_env(
        &["add", ECR, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        b"",
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDSETTINGS00000001"),
            ("AWS_SECRET_ACCESS_KEY", "settings-secret"),
        ],
    )
    .assert_ok();
    s.run_env(&["add", GCP, "GCP_METADATA"], b"", &[("GCP_METADATA", "1")])
        .assert_ok();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let metadata = format!("127.0.0.1:{}", free_port());
    let db = format!("postgres://u@127.0.0.1:{}/x", free_port());
    let key = key.to_str().unwrap();

    let mut failures = Vec::new();
    for &(name, bad, path) in CASES {
        let (host, mut env): (&str, Vec<(&str, &str)>) = match path {
            Path::Static => ("ghcr.io", vec![]),
            Path::Ecr => (ECR, vec![("AWS_ENDPOINT_URL_ECR", &closed)]),
            Path::Metadata => (GCP, vec![("GCE_METADATA_HOST", &metadata)]),
            Path::Shared => (
                "ghcr.io",
                vec![
                    ("BETA9_STORE_URL", &db),
                    ("BETA9_CREDENTIALS_KEY_FILE", key),
                ],
            ),
        };
        env.push((name, bad));
        let out = s.run_env(&["get"], host.as_bytes(), &env);
        let naming = out
            .stdout
            .lines()
            .chain(out.stderr.lines())
            .filter(|l| l.contains(name))
            .count();
        if naming != 1 {
            failures.push(format!(
                "{name}={bad:?} ({path:?}): {naming} lines name it: {out:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
