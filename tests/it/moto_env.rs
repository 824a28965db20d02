//! A real AWS API emulator for the ECR tests: moto's server app run in-process by
//! `tests/support/moto_ecr.py`, with a middleware that counts GetAuthorizationToken calls, rewrites
//! `expiresAt` to now + 12 h, records the caller's access key id, answers ECR Public (moto has no
//! ecr-public backend) and injects failures on demand. Started with `harness::ServerSpec`.
//!
//! `Moto::start()` gives `None` when python3 or `moto[server]` is missing, after
//! `support::tool_missing` said so (a skip, or a failure under `BETA9_REQUIRE_TOOLS=1`).
//! Other knobs: `BETA9_PYTHON` (interpreter, default `python3`), `BETA9_MOTO_VERBOSE=1` (moto's
//! per-request log goes to this process's stderr instead of a log file).
//!
//! The emulator never outlives the tests: its stdin is a pipe held by the harness (EOF when this
//! process dies, however it dies), it watches our pid, and `Drop` kills it.

use crate::harness::{python, Http, Server, ServerSpec};
use crate::support::{current_test, knob, tool_missing};
use std::path::Path;
use std::time::Duration;

/// The X-Amz-Target of ECR Public's GetAuthorizationToken (answered by the middleware).
pub const ECR_PUBLIC_TARGET: &str = "SpencerFrontendService.GetAuthorizationToken";

pub struct Moto {
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_ECR`.
    pub endpoint: String,
    server: Server,
    http: Http,
}

impl Moto {
    /// Starts a fresh emulator on a free port of 127.0.0.1 and waits until it answers.
    pub fn start() -> Option<Moto> {
        Self::start_with(&[])
    }

    /// Like `start`, with extra arguments for moto_ecr.py (e.g. `["--expires-in", "60"]`,
    /// `["--hang-seconds", "5"]`).
    pub fn start_with(extra_args: &[&str]) -> Option<Moto> {
        match Self::try_start(extra_args) {
            Ok(m) => Some(m),
            Err(reason) => {
                tool_missing(&current_test(), "moto (python3 with moto[server])", &reason);
                None
            }
        }
    }

    fn try_start(extra_args: &[&str]) -> Result<Moto, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_ecr.py");
        let verbose = knob("BETA9_MOTO_VERBOSE").as_deref() == Some("1");
        let mut spec = ServerSpec::new("moto", python())?;
        let port_file = spec.dir().join("port");
        spec.arg(script)
            .args(["--port", "0", "--port-file"])
            .arg(port_file)
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            .args(extra_args)
            .env("PYTHONUNBUFFERED", "1")
            // moto usually needs well under 2 s.
            .timeout(Duration::from_secs(60))
            .log_to_stderr(verbose)
            .exit_hint(3, "moto[server] is not installed");
        if !verbose {
            spec.arg("--quiet");
        }
        let server = spec.start()?;
        let http = server.http();
        match http.try_request("GET", "/__health", &[], "") {
            Ok((200, _)) => Ok(Moto {
                endpoint: server.url(),
                server,
                http,
            }),
            Ok((code, body)) => Err(format!("health check answered {code}: {body}")),
            Err(e) => Err(format!("health check failed: {e}; log:\n{}", server.log())),
        }
    }

    /// GetAuthorizationToken calls (ECR and ECR Public, failed ones too) since start.
    pub fn count(&self) -> u64 {
        let body = self.http.control("GET", "/__count");
        body.trim()
            .parse()
            .unwrap_or_else(|e| panic!("moto /__count answered {body:?}: {e}"))
    }

    /// Mode for subsequent GetAuthorizationToken calls: `normal`, `deny` (400
    /// UnrecognizedClientException), `accessdenied` (400 AccessDeniedException), `throttle` (400
    /// ThrottlingException), `fail500` (500 InternalFailure), `hang` (sleep 30 s, then answer).
    pub fn set_mode(&self, mode: &str) {
        self.http.control("POST", &format!("/__mode/{mode}"));
    }

    /// Lifetime (seconds) of the tokens handed out from now on (the start's `--expires-in` until
    /// then).
    pub fn set_expires_in(&self, secs: u64) {
        self.http.control("POST", &format!("/__expires_in/{secs}"));
    }

    /// Access key id of the last GetAuthorizationToken call's SigV4 header ("" if none).
    pub fn last_akid(&self) -> String {
        self.http.control("GET", "/__last_akid")
    }

    /// X-Amz-Target of the last GetAuthorizationToken call ("" if none): tells ECR from ECR Public.
    pub fn last_target(&self) -> String {
        self.http.control("GET", "/__last_target")
    }

    /// Kills the emulator and waits for it: afterwards the port refuses connections.
    pub fn stop(&mut self) {
        self.server.stop();
    }
}
