//! One way to run every server the tests talk to (the moto ECR emulator, the Google token stub,
//! docker-registry; later Redis and PostgreSQL): a child process in its own temp dir, up within a
//! deadline, gone with the test.
//!
//! - `ServerSpec::new(name, program)` makes the temp dir first, so arguments and config files can
//!   point into it (`spec.dir()`); then `arg`/`args`/`env` as on `Command` (the child inherits
//!   this process's environment plus those), a readiness probe (`Ready`), and `start()`.
//! - Ready is a port file the child writes into its dir (`Ready::PortFile`, for servers that pick
//!   their own port), or a TCP connect to the port the caller chose (`Ready::Tcp`).
//! - The child's stdout and stderr go to `NAME.log` in its dir (`Server::log()`, for failure
//!   messages); its stdin is a pipe held by `Server`, so a child that exits on EOF (both Python
//!   servers do) dies with this process however it dies. `Drop` kills the child, waits for it and
//!   removes the dir.
//! - `Server::http()` is an HTTP client (ureq, plain http) for its control endpoints.

use crate::support::knob;
use std::ffi::OsStr;
use std::fs;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The interpreter for the Python servers: `BETA9_PYTHON`, default `python3`.
pub fn python() -> String {
    knob("BETA9_PYTHON").unwrap_or_else(|| "python3".to_string())
}

/// How the harness knows a server is up.
pub enum Ready {
    /// The child writes its port (decimal text) to this file in its dir once it listens.
    PortFile(&'static str),
    /// The child listens on this port of 127.0.0.1 (the caller picked it): up once a TCP connect
    /// succeeds.
    Tcp(u16),
}

/// A server to start: command, arguments, environment, readiness probe, deadline.
pub struct ServerSpec {
    name: &'static str,
    dir: tempfile::TempDir,
    cmd: Command,
    ready: Ready,
    timeout: Duration,
    log_to_stderr: bool,
    exit_hints: Vec<(i32, &'static str)>,
}

impl ServerSpec {
    /// `program` (looked up on PATH) with a fresh temp dir `beta9-NAME-*`, ready by `port` file,
    /// 30 s to come up.
    pub fn new(name: &'static str, program: impl AsRef<OsStr>) -> Result<ServerSpec, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("beta9-{name}-"))
            .tempdir()
            .map_err(|e| format!("{name}: cannot create a temp dir: {e}"))?;
        Ok(ServerSpec {
            name,
            dir,
            cmd: Command::new(program),
            ready: Ready::PortFile("port"),
            timeout: Duration::from_secs(30),
            log_to_stderr: false,
            exit_hints: Vec::new(),
        })
    }

    /// The server's own directory (removed when the server is dropped).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.env(key, value);
        self
    }

    pub fn ready(&mut self, ready: Ready) -> &mut Self {
        self.ready = ready;
        self
    }

    /// How long the server may take to become ready.
    pub fn timeout(&mut self, timeout: Duration) -> &mut Self {
        self.timeout = timeout;
        self
    }

    /// The child's stderr goes to this process's stderr instead of the log file.
    pub fn log_to_stderr(&mut self, yes: bool) -> &mut Self {
        self.log_to_stderr = yes;
        self
    }

    /// What an early exit with `code` means (e.g. 3: "moto[server] is not installed").
    pub fn exit_hint(&mut self, code: i32, hint: &'static str) -> &mut Self {
        self.exit_hints.push((code, hint));
        self
    }

    /// Spawns the child and waits until the probe says it is ready. On failure the child is
    /// killed, the dir removed, and the reason comes with the server's log.
    pub fn start(self) -> Result<Server, String> {
        let ServerSpec {
            name,
            dir,
            mut cmd,
            ready,
            timeout,
            log_to_stderr,
            exit_hints,
        } = self;
        let log = dir.path().join(format!("{name}.log"));
        let out = fs::File::create(&log)
            .map_err(|e| format!("{name}: cannot create {}: {e}", log.display()))?;
        let err = if log_to_stderr {
            Stdio::inherit()
        } else {
            Stdio::from(
                out.try_clone()
                    .map_err(|e| format!("{name}: log file: {e}"))?,
            )
        };
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::from(out))
            .stderr(err);
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = cmd
            .spawn()
            .map_err(|e| format!("{name}: cannot run {program}: {e}"))?;
        // From here on, dropping `server` kills the child and removes the dir.
        let mut server = Server {
            name,
            port: 0,
            child: Some(child),
            dir,
            log,
        };
        let deadline = Instant::now() + timeout;
        loop {
            let port = match ready {
                Ready::PortFile(file) => fs::read_to_string(server.dir().join(file))
                    .ok()
                    .and_then(|t| t.trim().parse::<u16>().ok()),
                Ready::Tcp(port) => {
                    let addr = SocketAddr::from(([127, 0, 0, 1], port));
                    TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                        .ok()
                        .map(|_| port)
                }
            };
            if let Some(port) = port {
                server.port = port;
                return Ok(server);
            }
            let exited = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                let hint = exit_hints
                    .iter()
                    .find(|(code, _)| status.code() == Some(*code))
                    .map(|(_, hint)| format!(" ({hint})"))
                    .unwrap_or_default();
                return Err(format!(
                    "{name} exited with {status}{hint}; log:\n{}",
                    server.log()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{name} not ready after {timeout:?}; log:\n{}",
                    server.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running server. Dropping it kills the child and removes its dir.
pub struct Server {
    name: &'static str,
    port: u16,
    /// The child; its stdin pipe stays open as long as this is `Some`.
    child: Option<Child>,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl Server {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the server wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// An HTTP client for `url()`.
    pub fn http(&self) -> Http {
        Http::new(&self.url(), self.name)
    }

    /// Kills the server and waits for it: afterwards its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        // `dir` (TempDir) removes itself after this.
    }
}

/// A plain-http client for one server: any status is an answer (not an error), no proxy, a
/// fresh connection per request.
pub struct Http {
    agent: ureq::Agent,
    base: String,
    name: &'static str,
}

impl Http {
    pub fn new(base: &str, name: &'static str) -> Http {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .max_idle_connections(0)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Http {
            agent,
            base: base.trim_end_matches('/').to_string(),
            name,
        }
    }

    /// One request: (status, body).
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(u16, String), ureq::Error> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut resp = if body.is_empty() && method == "GET" {
            self.agent.run(req.body(())?)?
        } else {
            self.agent.run(req.body(body)?)?
        };
        let code = resp.status().as_u16();
        Ok((code, resp.body_mut().read_to_string()?))
    }

    /// Like `try_request`; panics if there is no answer.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{}: {method} {}{path}: {e}", self.name, self.base))
    }

    /// A control endpoint's answer; panics unless it is 200.
    pub fn control(&self, method: &str, path: &str) -> String {
        let (code, body) = self.request(method, path, &[], "");
        assert_eq!(
            code, 200,
            "{} {method} {path} answered {code}: {body}",
            self.name
        );
        body
    }
}
