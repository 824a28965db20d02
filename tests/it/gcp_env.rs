//! A Google OAuth token endpoint and GCE metadata server on 127.0.0.1 for the gcp tests:
//! `tests/support/gcp_token_server.py` (python3 stdlib + `cryptography`), started with
//! `harness::ServerSpec`. It VERIFIES each JWT-bearer assertion (RS256 signature against the key
//! pair it generated at start, `kid`, `iss`, `scope`, `aud` == its own URL, the `iat`/`exp` window)
//! before it hands out a token, counts requests, injects failures on demand, and serves the
//! metadata token path only with `Metadata-Flavor: Google`.
//!
//! `GcpStub::start()` gives `None` when python3 or `cryptography` is missing, after
//! `support::tool_missing` said so (a skip, or a failure under `BETA9_REQUIRE_TOOLS=1`).
//! `BETA9_PYTHON` picks the interpreter (default `python3`).
//!
//! The stub never outlives the tests: its stdin is a pipe held by the harness (EOF when this
//! process dies, however it dies) and `Drop` kills it and removes its temp dir (which holds the
//! generated keys).

use crate::harness::{python, Http, Server, ServerSpec};
use crate::support::{current_test, tool_missing};
use std::fs;
use std::path::Path;

/// The service account the stub accepts as `iss`.
pub const CLIENT_EMAIL: &str = "beta9-test@beta9-test.iam.gserviceaccount.com";
/// The `kid` the stub expects in the assertion header.
pub const KEY_ID: &str = "0123456789abcdef0123456789abcdef01234567";

pub struct GcpStub {
    /// `http://127.0.0.1:PORT/token`: the `token_uri` (and `aud`) the stub accepts.
    pub token_uri: String,
    /// `127.0.0.1:PORT`, for `GCE_METADATA_HOST`.
    pub metadata_host: String,
    server: Server,
    http: Http,
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
                tool_missing(
                    &current_test(),
                    "the Google token stub (python3 with cryptography)",
                    &reason,
                );
                None
            }
        }
    }

    fn try_start(token: &str, extra: &[&str]) -> Result<GcpStub, String> {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/gcp_token_server.py");
        let mut spec = ServerSpec::new("gcp-stub", python())?;
        let dir = spec.dir().to_path_buf();
        spec.arg(script)
            .arg("--state-dir")
            .arg(dir)
            .args([
                "--token",
                token,
                "--client-email",
                CLIENT_EMAIL,
                "--key-id",
                KEY_ID,
            ])
            .args(extra)
            .env("PYTHONUNBUFFERED", "1")
            .exit_hint(3, "the cryptography package is missing");
        let server = spec.start()?;
        Ok(GcpStub {
            token_uri: format!("{}/token", server.url()),
            metadata_host: server.host(),
            http: server.http(),
            server,
        })
    }

    /// A service-account key JSON for the key pair the stub knows (PKCS#8 PEM, as Google issues).
    pub fn key_json(&self) -> String {
        self.key_json_from("key-pkcs8.pem")
    }

    /// A key JSON whose private key is the stub's `file` (`key-pkcs8.pem`, `key-pkcs1.pem`, or
    /// `unknown-pkcs8.pem`, a key pair the stub does not know).
    pub fn key_json_from(&self, file: &str) -> String {
        let pem = fs::read_to_string(self.server.dir().join(file))
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

    /// The stub's base URL, `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        self.server.url()
    }

    /// The subject token file the stub's STS accepts (workload identity federation).
    pub fn subject_path(&self) -> std::path::PathBuf {
        self.server.dir().join("subject-token")
    }

    /// An `external_account` file for this stub: its STS, IAM Credentials when `impersonate`,
    /// and `source` as the credential_source.
    pub fn external_json(&self, source: serde_json::Value, impersonate: bool) -> String {
        let mut v = serde_json::json!({
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/beta9/providers/test",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("{}/v1/token", self.base()),
            "credential_source": source,
        });
        if impersonate {
            v["service_account_impersonation_url"] = serde_json::json!(format!(
                "{}/v1/projects/-/serviceAccounts/{CLIENT_EMAIL}:generateAccessToken",
                self.base()
            ));
        }
        v.to_string()
    }

    /// gcloud's `authorized_user` file for this stub (its `token_uri` is the stub's).
    pub fn user_json(&self) -> String {
        fs::read_to_string(self.server.dir().join("user.json")).unwrap()
    }

    /// The private key PEM of `file`, to check it never leaks.
    pub fn pem(&self, file: &str) -> String {
        fs::read_to_string(self.server.dir().join(file)).unwrap_or_default()
    }

    /// Token and metadata requests so far (refused ones too).
    pub fn count(&self) -> u64 {
        let body = self.http.control("GET", "/__count");
        body.trim()
            .parse()
            .unwrap_or_else(|e| panic!("/__count answered {body:?}: {e}"))
    }

    /// Why the stub refused the last assertion ("" if it accepted it or saw none).
    pub fn last_error(&self) -> String {
        self.http.control("GET", "/__last_error")
    }

    /// The `Metadata-Flavor` header of the last metadata request ("" if none).
    pub fn last_flavor(&self) -> String {
        self.http.control("GET", "/__last_flavor")
    }

    /// `normal`, `invalid_grant` (400), `throttle` (429), `fail500`, `fail500once`, `hang`.
    pub fn set_mode(&self, mode: &str) {
        self.http.control("POST", &format!("/__mode/{mode}"));
    }

    /// `expires_in` of the tokens handed out from now on.
    pub fn set_expires_in(&self, secs: u64) {
        self.http.control("POST", &format!("/__expires_in/{secs}"));
    }

    /// The `aud` the stub requires from now on (it is reached under another URL).
    pub fn set_audience(&self, url: &str) {
        self.http.request("POST", "/__audience", &[], url);
    }

    /// A raw GET to the stub: (status, body).
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
        self.http.request("GET", path, headers, "")
    }

    /// Kills the stub; afterwards its port refuses connections.
    pub fn stop(&mut self) {
        self.server.stop();
    }
}
