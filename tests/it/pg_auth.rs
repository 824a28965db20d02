//! A password is never sent in a weak form to a PostgreSQL server that was not verified
//! (docs/postgres.md, "Passwords and unverified servers").
//!
//! This is a mock where nothing real can do it: a real PostgreSQL asks for a cleartext password
//! or an MD5 hash only when its own pg_hba.conf says so, while the attack is a machine in the
//! middle answering in its place (refusing TLS, or offering TLS with any certificate). So the
//! server here is tests/support/pg_fake_auth.py, which asks every client for its password in the
//! weak form the test picks and records whether a password message came back. That SCRAM keeps
//! working against a real server is checked by every test in postgres.rs.

use crate::harness::{python, Server, ServerSpec};
use crate::support::{current_test, tool_missing, Out, Sandbox};
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSWORD: &str = "CANARY-pg-password-41d9";

/// The fake server: `ask` is `cleartext`, `md5` or `scram`; with `tls`, a directory holding
/// `server.crt`/`server.key`, it answers an SSLRequest with TLS.
struct Fake {
    server: Server,
}

impl Fake {
    fn start(ask: &str, tls: Option<&Path>) -> Option<Fake> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/pg_fake_auth.py");
        let started = ServerSpec::new("pgfake", python()).and_then(|mut spec| {
            let dir = spec.dir().to_path_buf();
            spec.arg(script)
                .arg("--state-dir")
                .arg(dir)
                .args(["--ask", ask]);
            if let Some(t) = tls {
                spec.arg("--cert")
                    .arg(t.join("server.crt"))
                    .arg("--key")
                    .arg(t.join("server.key"));
            }
            spec.start()
        });
        match started {
            Ok(server) => Some(Fake { server }),
            Err(e) => {
                tool_missing(&current_test(), "python3 (the fake PostgreSQL server)", &e);
                None
            }
        }
    }

    fn port(&self) -> u16 {
        self.server.port()
    }

    /// What happened on the connection, one event a line (`asked …`, then `password`, `other`
    /// or `closed`), once the fake has seen how it ended: the client may exit before the fake's
    /// thread has written the last line. Waits up to 10 s for that line.
    fn events(&self) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let events = self.events_now();
            let ended = events
                .iter()
                .any(|e| e == "password" || e == "other" || e == "closed");
            if ended || std::time::Instant::now() > deadline {
                return events;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn events_now(&self) -> Vec<String> {
        std::fs::read_to_string(self.server.dir().join("events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// TLS material from tests/support/pg_tls.py.
fn certs() -> Option<tempfile::TempDir> {
    let dir = tempfile::tempdir().unwrap();
    let made = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/support/pg_tls.py"
        ))
        .arg(dir.path())
        .output();
    match made {
        Ok(o) if o.status.success() => Some(dir),
        Ok(o) => {
            tool_missing(
                &current_test(),
                "python3 cryptography",
                &String::from_utf8_lossy(&o.stderr),
            );
            None
        }
        Err(e) => {
            tool_missing(&current_test(), "python3", &e.to_string());
            None
        }
    }
}

/// A machine whose shared store is `query` on the fake's port, with the password in the URL.
fn machine(fake: &Fake, query: &str) -> (Sandbox, PathBuf) {
    let mut sb = Sandbox::new();
    let key = sb.path().join("master.key");
    std::fs::write(&key, hex::encode([0x42u8; 32])).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    sb.set_env(
        "BETA9_STORE_URL",
        &format!(
            "postgres://beta9:{PASSWORD}@127.0.0.1:{}/creds{query}",
            fake.port()
        ),
    );
    sb.set_env("BETA9_CREDENTIALS_KEY_FILE", key.to_str().unwrap());
    sb.set_env("BETA9_TIMEOUT", "8");
    (sb, key)
}

/// `get`'s one-line refusal naming `needles`, and no password sent.
fn refused(fake: &Fake, out: &Out, needles: &[&str]) {
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stdout.lines().count(), 1, "{out:?}");
    for n in needles {
        assert!(out.stdout.contains(n), "{n:?} not in {out:?}");
    }
    assert!(
        !out.stdout.contains(PASSWORD) && !out.stderr.contains(PASSWORD),
        "{out:?}"
    );
    let events = fake.events();
    assert!(events.iter().any(|e| e.starts_with("asked")), "{events:?}");
    assert!(
        !events.iter().any(|e| e == "password"),
        "the password was sent: {events:?}"
    );
}

#[test]
fn a_weak_password_request_from_an_unverified_server_is_refused() {
    // The default sslmode (prefer): the fake refuses TLS and asks for the cleartext password.
    let Some(fake) = Fake::start("cleartext", None) else {
        return;
    };
    let (sb, _) = machine(&fake, "");
    refused(
        &fake,
        &sb.get("registry.example"),
        &["cleartext password", "sslmode=prefer", "not sent"],
    );

    // sslmode=disable, an MD5 hash.
    let Some(fake) = Fake::start("md5", None) else {
        return;
    };
    let (sb, _) = machine(&fake, "?sslmode=disable");
    refused(
        &fake,
        &sb.get("registry.example"),
        &["MD5", "sslmode=disable"],
    );

    // sslmode=require without a root certificate: TLS with a certificate nobody checks.
    let Some(tls) = certs() else { return };
    let Some(fake) = Fake::start("cleartext", Some(tls.path())) else {
        return;
    };
    let (sb, _) = machine(&fake, "?sslmode=require");
    refused(
        &fake,
        &sb.get("registry.example"),
        &["cleartext password", "sslmode=require"],
    );

    // Over such TLS, SCRAM only with channel binding (the fake offers plain SCRAM-SHA-256).
    let Some(fake) = Fake::start("scram", Some(tls.path())) else {
        return;
    };
    let (sb, _) = machine(&fake, "?sslmode=require");
    refused(
        &fake,
        &sb.get("registry.example"),
        &["without channel binding", "sslmode=require"],
    );
}

#[test]
fn require_auth_in_the_url_is_honoured_both_ways() {
    // The operator allows a cleartext password: it is sent (which also shows the fake records
    // one when it arrives).
    let Some(fake) = Fake::start("cleartext", None) else {
        return;
    };
    let (sb, _) = machine(&fake, "?require_auth=password");
    let out = sb.get("registry.example");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(!out.stdout.contains(PASSWORD), "{out:?}");
    assert!(
        fake.events().iter().any(|e| e == "password"),
        "{:?}",
        fake.events()
    );

    // require_auth=scram-sha-256 refuses MD5 whatever the sslmode.
    let Some(fake) = Fake::start("md5", None) else {
        return;
    };
    let (sb, _) = machine(&fake, "?require_auth=scram-sha-256");
    refused(&fake, &sb.get("registry.example"), &["MD5", "require_auth"]);

    // A malformed list is one line naming the parameter, never the URL.
    let Some(fake) = Fake::start("md5", None) else {
        return;
    };
    let (sb, _) = machine(&fake, "?require_auth=password,!md5");
    let out = sb.get("registry.example");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("require_auth must list"), "{out:?}");
    assert!(!out.stdout.contains(PASSWORD), "{out:?}");
    assert!(fake.events_now().is_empty(), "{:?}", fake.events_now());
}
