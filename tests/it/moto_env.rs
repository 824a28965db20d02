//! A real AWS API emulator for the ECR tests: moto's server app run in-process by
//! `tests/support/moto_ecr.py`, with a middleware that counts GetAuthorizationToken calls, rewrites
//! `expiresAt` to now + 12 h, records the caller's access key id, answers ECR Public (moto has no
//! ecr-public backend) and injects failures on demand. Std only: HTTP over a raw `TcpStream`.
//!
//! `Moto::start()` gives `None` (with the reason on stderr) when python3 or `moto[server]` is
//! missing, so the caller decides to skip or fail; `BETA9_REQUIRE_MOTO=1` turns that into a panic.
//! Other knobs: `BETA9_PYTHON` (interpreter, default `python3`), `BETA9_MOTO_VERBOSE=1` (moto's
//! per-request log goes to this process's stderr instead of a log file).
//!
//! The emulator never outlives the tests: its stdin is a pipe held by `Moto` (EOF when this process
//! dies, however it dies), it watches our pid, and `Drop` kills it.

#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long moto may take to come up (it usually needs well under 2 s).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The X-Amz-Target of ECR's GetAuthorizationToken (AWS JSON 1.1).
pub const ECR_TARGET: &str = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken";
/// The X-Amz-Target of ECR Public's GetAuthorizationToken (answered by the middleware).
pub const ECR_PUBLIC_TARGET: &str = "SpencerFrontendService.GetAuthorizationToken";

pub struct Moto {
    pub port: u16,
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_ECR`.
    pub endpoint: String,
    /// The emulator; its stdin pipe stays open as long as this is `Some`.
    child: Option<Child>,
    tempdir: PathBuf,
}

impl Moto {
    /// Starts a fresh emulator on a free port of 127.0.0.1 and waits until it answers.
    pub fn start() -> Option<Moto> {
        Self::start_with(&[])
    }

    /// Like `start`, with extra arguments for moto_ecr.py (e.g. `["--expires-in", "60"]`,
    /// `["--expires-style", "sci"]`, `["--hang-seconds", "5"]`).
    pub fn start_with(extra_args: &[&str]) -> Option<Moto> {
        match Self::try_start(extra_args) {
            Ok(m) => Some(m),
            Err(reason) => {
                if env("BETA9_REQUIRE_MOTO").as_deref() == Some("1") {
                    panic!("moto is required (BETA9_REQUIRE_MOTO=1) but unavailable: {reason}");
                }
                eprintln!("moto_env: moto unavailable: {reason}");
                None
            }
        }
    }

    fn try_start(extra_args: &[&str]) -> Result<Moto, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_ecr.py");
        if !script.is_file() {
            return Err(format!("{} not found", script.display()));
        }
        let python = env("BETA9_PYTHON").unwrap_or_else(|| "python3".to_string());
        let verbose = env("BETA9_MOTO_VERBOSE").as_deref() == Some("1");
        let tempdir = make_tempdir().map_err(|e| format!("cannot create a temp dir: {e}"))?;
        let port_file = tempdir.join("port");
        let log_file = tempdir.join("moto.log");

        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .arg("--port")
            .arg("0")
            .arg("--port-file")
            .arg(&port_file)
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .args(extra_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        if verbose {
            cmd.stderr(Stdio::inherit());
        } else {
            cmd.arg("--quiet");
            let log = fs::File::create(&log_file)
                .map_err(|e| format!("cannot create {}: {e}", log_file.display()))?;
            cmd.stderr(Stdio::from(log));
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = fs::remove_dir_all(&tempdir);
                return Err(format!("cannot run {python}: {e}"));
            }
        };
        // From here on, dropping `moto` kills the child and removes the temp dir.
        let mut moto = Moto {
            port: 0,
            endpoint: String::new(),
            child: Some(child),
            tempdir,
        };

        let deadline = Instant::now() + START_TIMEOUT;
        let port = loop {
            if let Ok(text) = fs::read_to_string(&port_file) {
                if let Ok(p) = text.trim().parse::<u16>() {
                    break p;
                }
            }
            let exited = moto
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                let hint = if status.code() == Some(3) {
                    " (moto[server] is not installed)"
                } else {
                    ""
                };
                return Err(format!(
                    "moto_ecr.py exited with {status}{hint}; log:\n{}",
                    moto.log()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "moto_ecr.py not ready after {START_TIMEOUT:?}; log:\n{}",
                    moto.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        moto.port = port;
        moto.endpoint = format!("http://127.0.0.1:{port}");
        match try_http("GET", port, "/__health", &[], "") {
            Ok((200, _)) => Ok(moto),
            Ok((code, body)) => Err(format!("health check answered {code}: {body}")),
            Err(e) => Err(format!("health check failed: {e}; log:\n{}", moto.log())),
        }
    }

    /// GetAuthorizationToken calls (ECR and ECR Public, failed ones too) since start or `reset`.
    pub fn count(&self) -> u64 {
        let (code, body) = self.control("GET", "/__count");
        body.trim()
            .parse()
            .unwrap_or_else(|e| panic!("moto /__count answered {code} {body:?}: {e}"))
    }

    /// Zeroes the count and forgets the last access key id and target; the mode is kept.
    pub fn reset(&self) {
        self.control("POST", "/__reset");
    }

    /// Mode for subsequent GetAuthorizationToken calls: `normal`, `deny` (400
    /// UnrecognizedClientException), `accessdenied` (400 AccessDeniedException), `throttle` (400
    /// ThrottlingException), `fail500` (500 InternalFailure), `hang` (sleep 30 s, then answer).
    pub fn set_mode(&self, mode: &str) {
        self.control("POST", &format!("/__mode/{mode}"));
    }

    /// Access key id of the last GetAuthorizationToken call's SigV4 header ("" if none).
    pub fn last_akid(&self) -> String {
        self.control("GET", "/__last_akid").1
    }

    /// X-Amz-Target of the last GetAuthorizationToken call ("" if none): tells ECR from ECR Public.
    pub fn last_target(&self) -> String {
        self.control("GET", "/__last_target").1
    }

    /// Calls GetAuthorizationToken the way an SDK would (status, body): for checking the kit.
    pub fn raw_get_authorization_token(
        &self,
        target: &str,
        akid: &str,
        body: &str,
    ) -> (u16, String) {
        let service = if target == ECR_PUBLIC_TARGET {
            "ecr-public"
        } else {
            "ecr"
        };
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={akid}/20240101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-target, Signature=0"
        );
        let headers = [
            ("X-Amz-Target", target),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Authorization", auth.as_str()),
        ];
        http_with("POST", self.port, "/", &headers, body)
    }

    /// What the emulator wrote to stderr (empty with BETA9_MOTO_VERBOSE=1).
    pub fn log(&self) -> String {
        fs::read_to_string(self.tempdir.join("moto.log")).unwrap_or_default()
    }

    /// Kills the emulator and waits for it: afterwards the port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn control(&self, method: &str, path: &str) -> (u16, String) {
        let (code, body) = http(method, self.port, path);
        assert_eq!(code, 200, "moto {method} {path} answered {code}: {body}");
        (code, body)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.tempdir);
    }
}

/// One HTTP/1.1 request without body to 127.0.0.1:`port`; panics if the connection fails.
pub fn http(method: &str, port: u16, path: &str) -> (u16, String) {
    http_with(method, port, path, &[], "")
}

/// One HTTP/1.1 request with headers and body; panics if the connection fails.
pub fn http_with(
    method: &str,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    try_http(method, port, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://127.0.0.1:{port}{path}: {e}"))
}

/// One request over a fresh connection (`Connection: close`, read to EOF); (status, body).
pub fn try_http(
    method: &str,
    port: u16,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        req.push_str(&format!("{name}: {value}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = |what: &str| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {text:?}"))
    };
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| bad("no status code"))?;
    Ok((code, body.to_string()))
}

/// The harness's own knobs (not the helper's environment, which src/env.rs owns).
#[allow(clippy::disallowed_methods)]
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn make_tempdir() -> std::io::Result<PathBuf> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "beta9-moto-{}-{}-{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir(&dir)?;
    Ok(dir)
}
