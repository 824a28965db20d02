//! A Google OAuth token endpoint and GCE metadata server on 127.0.0.1 for the gcp tests:
//! `tests/support/gcp_token_server.py` (python3 stdlib + `cryptography`). It VERIFIES each
//! JWT-bearer assertion (RS256 signature against the key pair it generated at start, `kid`, `iss`,
//! `scope`, `aud` == its own URL, the `iat`/`exp` window) before it hands out a token, counts
//! requests, injects failures on demand, and serves the metadata token path only with
//! `Metadata-Flavor: Google`.
//!
//! `GcpStub::start()` gives `None` (with the reason on stderr) when python3 or `cryptography` is
//! missing, so the test skips; `BETA9_REQUIRE_TOOLS=1` (set by scripts/test.sh) makes that a panic.
//! `BETA9_PYTHON` picks the interpreter (default `python3`).
//!
//! The stub never outlives the tests: its stdin is a pipe held here (EOF when this process dies,
//! however it dies) and `Drop` kills it and removes its temp dir (which holds the generated keys).

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The service account the stub accepts as `iss`.
pub const CLIENT_EMAIL: &str = "beta9-test@beta9-test.iam.gserviceaccount.com";
/// The `kid` the stub expects in the assertion header.
pub const KEY_ID: &str = "0123456789abcdef0123456789abcdef01234567";

/// How long the stub may take to generate its keys and listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct GcpStub {
    pub port: u16,
    /// `http://127.0.0.1:PORT/token`: the `token_uri` (and `aud`) the stub accepts.
    pub token_uri: String,
    /// `127.0.0.1:PORT`, for `GCE_METADATA_HOST`.
    pub metadata_host: String,
    /// The access token it hands out.
    pub token: String,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl GcpStub {
    /// A stub answering `token` with `expires_in` 3599.
    pub fn start(token: &str) -> Option<GcpStub> {
        Self::start_with(token, &[])
    }

    /// With extra arguments for gcp_token_server.py (e.g. `["--expires-in", "200"]`).
    pub fn start_with(token: &str, extra: &[&str]) -> Option<GcpStub> {
        match Self::try_start(token, extra) {
            Ok(s) => Some(s),
            Err(reason) => {
                if env("BETA9_REQUIRE_TOOLS").as_deref() == Some("1") {
                    panic!("the gcp token stub is required (BETA9_REQUIRE_TOOLS=1) but unavailable: {reason}");
                }
                eprintln!("gcp_env: skipping, token stub unavailable: {reason}");
                None
            }
        }
    }

    fn try_start(token: &str, extra: &[&str]) -> Result<GcpStub, String> {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/gcp_token_server.py");
        let python = env("BETA9_PYTHON").unwrap_or_else(|| "python3".to_string());
        let dir = tempfile::Builder::new()
            .prefix("beta9-gcp-stub-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let log = fs::File::create(dir.path().join("stub.log")).map_err(|e| format!("log: {e}"))?;
        let child = Command::new(&python)
            .arg(&script)
            .arg("--state-dir")
            .arg(dir.path())
            .args([
                "--token",
                token,
                "--client-email",
                CLIENT_EMAIL,
                "--key-id",
                KEY_ID,
            ])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        let mut stub = GcpStub {
            port: 0,
            token_uri: String::new(),
            metadata_host: String::new(),
            token: token.to_string(),
            child: Some(child),
            dir,
        };
        let port_file = stub.dir.path().join("port");
        let deadline = Instant::now() + START_TIMEOUT;
        let port = loop {
            if let Some(p) = fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.trim().parse::<u16>().ok())
            {
                break p;
            }
            if let Some(status) = stub
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let hint = if status.code() == Some(3) {
                    " (the cryptography package is missing)"
                } else {
                    ""
                };
                return Err(format!(
                    "stub exited with {status}{hint}; log:\n{}",
                    stub.log()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "stub not ready after {START_TIMEOUT:?}; log:\n{}",
                    stub.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        stub.port = port;
        stub.token_uri = format!("http://127.0.0.1:{port}/token");
        stub.metadata_host = format!("127.0.0.1:{port}");
        Ok(stub)
    }

    /// A service-account key JSON for the key pair the stub knows (PKCS#8 PEM, as Google issues).
    pub fn key_json(&self) -> String {
        self.key_json_from("key-pkcs8.pem")
    }

    /// A key JSON whose private key is the stub's `file` (`key-pkcs8.pem`, `key-pkcs1.pem`, or
    /// `unknown-pkcs8.pem`, a key pair the stub does not know).
    pub fn key_json_from(&self, file: &str) -> String {
        let pem = fs::read_to_string(self.dir.path().join(file))
            .unwrap_or_else(|e| panic!("read {file}: {e}"));
        serde_json::json!({
            "type": "service_account",
            "project_id": "beta9-test",
            "private_key_id": KEY_ID,
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        })
        .to_string()
    }

    /// The private key PEM of `file`, to check it never leaks.
    pub fn pem(&self, file: &str) -> String {
        fs::read_to_string(self.dir.path().join(file)).unwrap_or_default()
    }

    /// Token and metadata requests so far (refused ones too).
    pub fn count(&self) -> u64 {
        let body = self.control("GET", "/__count", &[]);
        body.trim()
            .parse()
            .unwrap_or_else(|e| panic!("/__count answered {body:?}: {e}"))
    }

    /// Why the stub refused the last assertion ("" if it accepted it or saw none).
    pub fn last_error(&self) -> String {
        self.control("GET", "/__last_error", &[])
    }

    /// The `Metadata-Flavor` header of the last metadata request ("" if none).
    pub fn last_flavor(&self) -> String {
        self.control("GET", "/__last_flavor", &[])
    }

    /// `normal`, `invalid_grant` (400), `throttle` (429), `fail500`, `fail500once`, `hang`.
    pub fn set_mode(&self, mode: &str) {
        self.control("POST", &format!("/__mode/{mode}"), &[]);
    }

    /// A raw request to the stub: (status, body).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        http(self.port, method, path, headers).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("stub.log")).unwrap_or_default()
    }

    /// Kills the stub; afterwards its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn control(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> String {
        let (code, body) = self.request(method, path, headers);
        assert_eq!(code, 200, "stub {method} {path} answered {code}: {body}");
        body
    }
}

impl Drop for GcpStub {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One HTTP/1.1 request over a fresh connection, read to EOF.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_string()))
}

/// The harness's own knobs (not the helper's environment, which src/env.rs owns).
#[allow(clippy::disallowed_methods)]
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
