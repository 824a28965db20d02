//! The fleet's shared token cache on a real Redis (Debian's `redis-server`, with `requirepass`,
//! started per test on a free loopback port or a unix socket) in front of the real emulators (moto
//! for ECR, the signature-verifying Google token stub). Each simulated machine is a `Sandbox`: its
//! own HOME, store and master key, the same credential stored in each, every `get` a separate
//! process, as on a fleet of workers.
//!
//! What is checked: one upstream call for a fleet's cold start; a SIGKILLed lock holder costs at
//! most one more call and never a hang; Redis refusing, stopped mid-run, or accepting but never
//! answering costs nothing but a note; nothing readable in Redis; other keys, other tokens; one
//! refresh call for a fleet entering the refresh window; throttling answered with the valid token
//! and a backoff. No timings are asserted (scripts/bench.sh measures them).

use crate::gcp_env::GcpStub;
use crate::harness::{Ready, Server, ServerSpec};
use crate::moto_env::Moto;
use crate::support::{current_test, free_port, strace_usable, tool_missing, Out, Sandbox};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "123456789012";
const HOST: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// moto's fixed password for ACCOUNT (docs/ecr.md, "Testing against moto").
const PASSWORD: &str = "123456789012-auth-token";
const AKID: &str = "AKIABETA9FLEET000001";
const SECRET: &str = "fleet-secret-key-0001";
/// Redis's `requirepass`: it is in every machine's BETA9_TOKEN_CACHE_URL and must never show.
const REDIS_PASSWORD: &str = "CANARY-redis-requirepass-5e1f";
const AR: &str = "us-docker.pkg.dev";
const GOOGLE_TOKEN: &str = "ya29.fleet-CANARY-google-token";

/// A `redis-server` of our own: loopback port, unix socket, password, no persistence. It runs
/// under a small `sh` that kills it when our end of its stdin closes (however this process dies);
/// `Drop` kills it by pid.
struct Redis {
    server: Option<Server>,
    pid: Option<i32>,
    port: u16,
    socket: PathBuf,
    /// TLS only (`rediss://`), with a server certificate signed by this CA (PEM).
    tls_ca: Option<PathBuf>,
    /// The port kept for this server across `stop` and `restart` (`start_held`).
    hold: Option<PortHold>,
}

/// A loopback port kept for one test: a socket bound to it with `SO_REUSEADDR` that never
/// listens, held by a small python process until this value drops (or this process ends). The
/// kernel gives the port to no one else, neither to a `bind` to port 0 (`free_port`) nor to an
/// outgoing connection, while redis-server (which sets `SO_REUSEADDR` too) can still listen on
/// it; with no server listening, a connection is refused.
struct PortHold {
    child: Child,
    port: u16,
}

impl PortHold {
    fn new() -> Result<PortHold, String> {
        const SCRIPT: &str = "import socket, sys\n\
            s = socket.socket()\n\
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
            s.bind(('127.0.0.1', 0))\n\
            print(s.getsockname()[1], flush=True)\n\
            sys.stdin.read()\n";
        let mut child = std::process::Command::new(crate::harness::python())
            .args(["-c", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("python3: {e}"))?;
        let mut line = String::new();
        let read = std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        );
        match (read, line.trim().parse()) {
            (Ok(_), Ok(port)) => Ok(PortHold { child, port }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err("the port holder printed no port".into())
            }
        }
    }
}

impl Drop for PortHold {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Redis {
    /// A fresh server, or `None` after `tool_missing` (no redis-server).
    fn start() -> Option<Redis> {
        let mut last = String::new();
        // A free port can be taken between the probe and the bind: a few tries.
        for _ in 0..3 {
            match Redis::start_on(free_port()) {
                Ok(r) => return Some(r),
                Err(e) => last = e,
            }
        }
        tool_missing(
            &current_test(),
            "redis-server (Debian's redis-server)",
            &last,
        );
        None
    }

    fn start_on(port: u16) -> Result<Redis, String> {
        Redis::start_with(port, None)
    }

    /// A fresh server on a port kept for it until it drops (`PortHold`), so that `stop` and
    /// `restart` find the port as they left it however long it stays closed; `None` after
    /// `tool_missing`.
    fn start_held() -> Option<Redis> {
        let started = PortHold::new().and_then(|hold| {
            let mut r = Redis::start_on(hold.port)?;
            r.hold = Some(hold);
            Ok(r)
        });
        match started {
            Ok(r) => Some(r),
            Err(e) => {
                tool_missing(&current_test(), "redis-server, python3", &e);
                None
            }
        }
    }

    /// Stops the server if it runs and starts a new one on the same port (and the same TLS).
    fn restart(&mut self) -> Result<(), String> {
        self.stop();
        let certs = self
            .tls_ca
            .as_ref()
            .and_then(|ca| ca.parent().map(PathBuf::from));
        let mut fresh = Redis::start_with(self.port, certs.as_deref())?;
        fresh.hold = self.hold.take();
        *self = fresh;
        Ok(())
    }

    /// `tls`: a directory holding `ca.pem`, `server.pem`, `server.key`: TLS on `port`, no plain
    /// port.
    fn start_with(port: u16, tls: Option<&std::path::Path>) -> Result<Redis, String> {
        let mut spec = ServerSpec::new("redis", "sh")?;
        let dir = spec.dir().to_path_buf();
        let socket = dir.join("redis.sock");
        let pid_file = dir.join("redis.pid");
        spec.arg("-c")
            .arg(
                "redis-server \"$@\" & r=$!; echo $r > \"$PIDFILE\"; \
                 cat >/dev/null; kill -9 $r 2>/dev/null",
            )
            .arg("sh")
            .args(["--bind", "127.0.0.1"]);
        match tls {
            None => {
                spec.args(["--port", &port.to_string()]);
            }
            Some(certs) => {
                spec.args(["--port", "0", "--tls-port", &port.to_string()])
                    .arg("--tls-cert-file")
                    .arg(certs.join("server.pem"))
                    .arg("--tls-key-file")
                    .arg(certs.join("server.key"))
                    .arg("--tls-ca-cert-file")
                    .arg(certs.join("ca.pem"))
                    .args(["--tls-auth-clients", "no"]);
            }
        }
        spec.arg("--unixsocket")
            .arg(&socket)
            .args(["--unixsocketperm", "700"])
            .args(["--requirepass", REDIS_PASSWORD])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .arg("--dir")
            .arg(&dir)
            .env("PIDFILE", &pid_file)
            .ready(Ready::Tcp(port))
            .timeout(Duration::from_secs(20));
        let server = spec.start()?;
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .ok_or("redis-server wrote no pid")?;
        let r = Redis {
            server: Some(server),
            pid: Some(pid),
            port,
            socket,
            tls_ca: tls.map(|d| d.join("ca.pem")),
            hold: None,
        };
        // Ready means listening; make sure it is a Redis that takes our password.
        let pong: String = redis::cmd("PING")
            .query(&mut r.client())
            .map_err(|e| format!("PING: {e}"))?;
        assert_eq!(pong, "PONG");
        Ok(r)
    }

    /// A server with TLS only, its certificate signed by a test CA (`ca.pem` in the returned
    /// directory); `None` after `tool_missing`.
    fn start_tls() -> Option<(Redis, tempfile::TempDir)> {
        let certs = tempfile::tempdir().unwrap();
        if let Err(e) = make_certs(certs.path()) {
            tool_missing(&current_test(), "openssl (a test CA)", &e);
            return None;
        }
        match Redis::start_with(free_port(), Some(certs.path())) {
            Ok(r) => Some((r, certs)),
            Err(e) => {
                tool_missing(&current_test(), "redis-server with TLS", &e);
                None
            }
        }
    }

    /// `redis://:PASSWORD@127.0.0.1:PORT/0` (`rediss://` with TLS)
    fn url(&self) -> String {
        let scheme = if self.tls_ca.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://:{REDIS_PASSWORD}@127.0.0.1:{}/0", self.port)
    }

    /// `redis+unix:///…/redis.sock?db=0&pass=PASSWORD`
    fn unix_url(&self) -> String {
        format!(
            "redis+unix://{}?db=0&pass={REDIS_PASSWORD}",
            self.socket.display()
        )
    }

    fn client(&self) -> redis::Connection {
        let client = match &self.tls_ca {
            None => redis::Client::open(self.url()).unwrap(),
            Some(ca) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let certs = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(std::fs::read(ca).unwrap()),
                };
                redis::Client::build_with_tls(self.url(), certs).unwrap()
            }
        };
        client
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    fn signal(&self, sig: rustix::process::Signal) {
        if let Some(pid) = self.pid.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, sig);
        }
    }

    /// SIGSTOP: the kernel still accepts connections, nothing answers.
    fn pause(&self) {
        self.signal(rustix::process::Signal::STOP);
    }

    fn resume(&self) {
        self.signal(rustix::process::Signal::CONT);
    }

    /// SIGKILL, and wait until the port refuses (nothing to do when already stopped).
    fn stop(&mut self) {
        if self.pid.is_none() && self.server.is_none() {
            return;
        }
        self.resume();
        self.signal(rustix::process::Signal::KILL);
        self.pid = None;
        if let Some(mut s) = self.server.take() {
            s.stop();
        }
        let end = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every key and value, the way someone with Redis access would read them: `SCAN`, then
    /// `DUMP` and, by type, `GET` / `HGETALL` / `LRANGE` / `SMEMBERS`.
    fn dump(&self) -> (Vec<String>, Vec<u8>) {
        let mut con = self.client();
        let mut names = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut con)
                .unwrap();
            names.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let mut bytes = Vec::new();
        for k in &names {
            bytes.extend_from_slice(k.as_bytes());
            let dumped: Option<Vec<u8>> = redis::cmd("DUMP").arg(k).query(&mut con).unwrap();
            bytes.extend(dumped.unwrap_or_default());
            let kind: String = redis::cmd("TYPE").arg(k).query(&mut con).unwrap();
            let values: Vec<Vec<u8>> = match kind.as_str() {
                "string" => vec![redis::cmd("GET").arg(k).query(&mut con).unwrap()],
                "hash" => redis::cmd("HGETALL").arg(k).query(&mut con).unwrap(),
                "list" => redis::cmd("LRANGE")
                    .arg(k)
                    .arg(0)
                    .arg(-1)
                    .query(&mut con)
                    .unwrap(),
                "set" => redis::cmd("SMEMBERS").arg(k).query(&mut con).unwrap(),
                _ => Vec::new(),
            };
            for v in values {
                bytes.extend(v);
            }
        }
        (names, bytes)
    }

    /// Fails if any of `needles` is in a key name or value.
    fn assert_nothing_readable(&self, needles: &[&str]) {
        let (names, bytes) = self.dump();
        assert!(!names.is_empty(), "nothing in Redis at all");
        for n in needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                "{n:?} readable in Redis; keys: {names:?}"
            );
            // Not even as the key material's lower/upper-case or base64 spelling.
            let b64 = base64_of(n);
            assert!(
                !bytes.windows(b64.len()).any(|w| w == b64.as_bytes()),
                "base64 of {n:?} in Redis"
            );
        }
        for k in &names {
            assert!(
                k.starts_with("beta9:token:{") && k.is_ascii(),
                "unexpected key {k}"
            );
        }
    }

    /// The token entries (not locks or backoff records).
    fn entries(&self) -> Vec<String> {
        self.dump()
            .0
            .into_iter()
            .filter(|k| k.ends_with('}'))
            .collect()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// One simulated machine: own HOME, store and key; the fleet's Redis; `extra` env.
fn machine(url: &str, extra: &[(&str, &str)]) -> Sandbox {
    let mut sb = Sandbox::new();
    sb.set_env("BETA9_TOKEN_CACHE_URL", url);
    // Generous: no fleet test is about the budget running out.
    sb.set_env("BETA9_TIMEOUT", "20");
    for (k, v) in extra {
        sb.set_env(k, v);
    }
    sb
}

fn ecr_machine(url: &str, moto: &Moto, akid: &str, secret: &str) -> Sandbox {
    let sb = machine(url, &[("AWS_ENDPOINT_URL_ECR", &moto.endpoint)]);
    sb.run_env(
        &["add", HOST, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        b"",
        &[
            ("AWS_ACCESS_KEY_ID", akid),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ],
    )
    .assert_ok();
    sb
}

fn ecr_fleet(n: usize, url: &str, moto: &Moto) -> Vec<Sandbox> {
    (0..n)
        .map(|_| ecr_machine(url, moto, AKID, SECRET))
        .collect()
}

/// A `gcp` record with `key_json` written through the library, as `import` writes it.
fn gcp_machine(url: &str, key_json: &str) -> Sandbox {
    let sb = machine(url, &[]);
    let json = serde_json::json!({
        "version": 1, "registry": AR, "type": "gcp",
        "credentials": {"GOOGLE_APPLICATION_CREDENTIALS_JSON": key_json}
    });
    sb.save_record(&json);
    sb
}

/// A `get` started and left running (stdin written and closed).
fn spawn_get(sb: &Sandbox, host: &str) -> Child {
    spawn_get_env(sb, host, &[])
}

/// `spawn_get` with `env` added to the machine's environment.
fn spawn_get_env(sb: &Sandbox, host: &str, env: &[(&str, &str)]) -> Child {
    let mut cmd = sb.cmd(&["get"]);
    cmd.envs(env.iter().copied());
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn get");
    let _ = child.stdin.take().unwrap().write_all(host.as_bytes());
    child
}

fn finish(child: Child) -> Out {
    let o = child.wait_with_output().expect("wait");
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// `per_machine` concurrent `get`s on every machine, all started before any is waited for.
fn gets_at_once(fleet: &[Sandbox], host: &str, per_machine: usize) -> Vec<Out> {
    gets_at_once_env(fleet, host, per_machine, &[])
}

/// `gets_at_once` with `env` added to every machine's environment.
fn gets_at_once_env(
    fleet: &[Sandbox],
    host: &str,
    per_machine: usize,
    env: &[(&str, &str)],
) -> Vec<Out> {
    let children: Vec<Child> = fleet
        .iter()
        .flat_map(|sb| (0..per_machine).map(move |_| spawn_get_env(sb, host, env)))
        .collect();
    children.into_iter().map(finish).collect()
}

fn ecr_answer() -> String {
    format!(r#"{{"ServerURL":"{HOST}","Username":"AWS","Secret":"{PASSWORD}"}}"#) + "\n"
}

fn google_answer() -> String {
    format!(r#"{{"ServerURL":"{AR}","Username":"oauth2accesstoken","Secret":"{GOOGLE_TOKEN}"}}"#)
        + "\n"
}

/// Every `get` answered exactly `answer`, exit 0; stderr at most one line per note and never the
/// Redis URL or password.
fn assert_all_answer(outs: &[Out], answer: &str) {
    for o in outs {
        assert_eq!((o.code, o.stdout.as_str()), (0, answer), "{o:?}");
        assert!(!o.stderr.contains(REDIS_PASSWORD), "password echoed: {o:?}");
        assert!(!o.stderr.contains("redis://"), "URL echoed: {o:?}");
    }
}

fn notes(outs: &[Out], what: &str) -> usize {
    outs.iter().filter(|o| o.stderr.contains(what)).count()
}

/// Waits (bounded) until `f` holds.
fn wait_for(what: &str, limit: Duration, f: impl Fn() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sleeps until `secs` after `t0`.
fn sleep_until(t0: Instant, secs: f64) {
    let at = t0 + Duration::from_secs_f64(secs);
    if let Some(d) = at.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

/// The debug build's clock override (docs/fleet.md, "Testing the windows").
const SHIFT: &str = "BETA9_TEST_CLOCK_SHIFT_MS";

/// A test's timeline on the binary's clock instead of sleeps: the `get`s of `at(s)` see the time
/// `s` seconds after `start` (or later, never earlier: real time keeps running, as it did past a
/// `sleep_until`). Time `0` is `base_ms` away from real time: 0 moves the clock forward only
/// (moto's `expiresAt` is on the real clock), a negative base keeps every time it gives in the
/// past (Google's stub refuses an assertion from its future).
struct Timeline {
    t0: Instant,
    base_ms: i64,
}

impl Timeline {
    fn start(base_ms: i64) -> Timeline {
        Timeline {
            t0: Instant::now(),
            base_ms,
        }
    }

    /// The `BETA9_TEST_CLOCK_SHIFT_MS` value for `get`s started now at `secs` on this timeline.
    fn at(&self, secs: f64) -> String {
        let want = (secs * 1000.0) as i64;
        let elapsed = self.t0.elapsed().as_millis() as i64;
        (self.base_ms + (want - elapsed).max(0)).to_string()
    }
}

/// The name of the entry a first machine publishes with its `get` (the only entry in `redis`).
fn published_entry(redis: &Redis, moto: &Moto) -> String {
    let a = ecr_machine(&redis.url(), moto, AKID, SECRET);
    assert_eq!(a.get(HOST).stdout, ecr_answer());
    redis.entries().pop().expect("a published entry")
}

/// Every machine of `fleet` holds a token that lives past `now + 40_000` s (the 12 h one a
/// refresh fetched, not the short one minted first).
fn assert_all_took_the_refreshed_token(fleet: &[Sandbox]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for sb in fleet {
        let t = token_json(sb);
        assert!(t["expires_at"].as_u64().unwrap() > now + 40_000, "{t}");
    }
}

/// `ls --json`'s token object for the first entry.
fn token_json(sb: &Sandbox) -> serde_json::Value {
    let ls = sb.run(&["ls", "--json"], b"");
    ls.assert_ok();
    ls.json()[0]["token"].clone()
}

#[test]
fn thirty_two_machines_times_four_cold_gets_make_one_ecr_call() {
    let Some(redis) = Redis::start() else { return };
    // The one mint lasts 4 s, longer than the 3 s lease: only lease renewal keeps the others
    // waiting instead of minting.
    let Some(moto) = Moto::start_with(&["--hang-seconds", "4"]) else {
        return;
    };
    moto.set_mode("hang");
    let fleet = ecr_fleet(32, &redis.url(), &moto);
    let outs = gets_at_once(&fleet, HOST, 4);
    assert_eq!(outs.len(), 128);
    assert_all_answer(&outs, &ecr_answer());
    assert_eq!(moto.count(), 1, "one GetAuthorizationToken for the fleet");
    assert_eq!(moto.last_akid(), AKID);
    assert_eq!(notes(&outs, "shared token cache"), 0, "no Redis trouble");

    // Every machine now answers from its own cache; exactly one says it minted the token.
    let sources: Vec<String> = fleet
        .iter()
        .map(|sb| {
            token_json(sb)["source"]
                .as_str()
                .unwrap_or("none")
                .to_string()
        })
        .collect();
    assert_eq!(
        sources.iter().filter(|s| *s == "local").count(),
        1,
        "{sources:?}"
    );
    assert_eq!(
        sources.iter().filter(|s| *s == "shared").count(),
        31,
        "{sources:?}"
    );
    let show = fleet[5].run(&["show", HOST], b"");
    show.assert_ok();
    assert!(
        show.stdout.contains("token:       ")
            && show
                .stdout
                .contains("sharing:     with the machines holding the same credential"),
        "{show:?}"
    );
    for o in [&show, &fleet[5].run(&["ls"], b"")] {
        assert!(!o.stdout.contains(PASSWORD) && !o.stdout.contains(REDIS_PASSWORD));
    }

    redis.assert_nothing_readable(&[
        PASSWORD,
        AKID,
        SECRET,
        HOST,
        ACCOUNT,
        "amazonaws",
        "us-east-1",
    ]);
    assert_eq!(redis.entries().len(), 1);
}

#[test]
fn a_lock_holder_killed_mid_mint_costs_at_most_one_more_call() {
    let Some(redis) = Redis::start() else { return };
    let Some(moto) = Moto::start_with(&["--hang-seconds", "30"]) else {
        return;
    };
    moto.set_mode("hang");
    let fleet = ecr_fleet(16, &redis.url(), &moto);
    let mut holder = spawn_get(&fleet[0], HOST);
    wait_for("the holder's call", Duration::from_secs(20), || {
        moto.count() == 1
    });
    let waiters: Vec<Child> = fleet[1..]
        .iter()
        .flat_map(|sb| [spawn_get(sb, HOST), spawn_get(sb, HOST)])
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    holder.kill().expect("SIGKILL the holder");
    let _ = holder.wait();
    moto.set_mode("normal");
    let outs: Vec<Out> = waiters.into_iter().map(finish).collect();
    assert_eq!(outs.len(), 30);
    assert_all_answer(&outs, &ecr_answer());
    assert!(moto.count() <= 2, "{} calls", moto.count());
    assert_eq!(
        moto.count(),
        2,
        "the lease lapsed and exactly one waiter minted"
    );
    // The killed machine itself answers at once (from the shared cache).
    let again = fleet[0].get(HOST);
    assert_eq!(again.stdout, ecr_answer(), "{again:?}");
    assert_eq!(moto.count(), 2);
}

#[test]
fn redis_refusing_stopped_mid_run_or_never_answering_costs_only_a_note() {
    // Its port is kept while it is down: another test's server or connection taking it then
    // would answer in its place, or keep it from coming back.
    let Some(mut redis) = Redis::start_held() else {
        return;
    };
    let Some(moto) = Moto::start_with(&["--hang-seconds", "2"]) else {
        return;
    };
    let url = redis.url();

    // Stopped before the run: every get answers by minting locally, with one note, and leaves the
    // skip marker (the next get does not try Redis at all).
    redis.stop();
    let fleet = ecr_fleet(4, &url, &moto);
    let outs = gets_at_once(&fleet, HOST, 2);
    assert_all_answer(&outs, &ecr_answer());
    for o in &outs {
        assert!(o.stderr.lines().count() <= 1, "{o:?}");
    }
    assert!(notes(&outs, "shared token cache unavailable (connection refused)") >= 4);
    let marker = |sb: &Sandbox| {
        sb.files()
            .into_iter()
            .find(|p| p.ends_with("shared-cache-unreachable"))
    };
    assert!(fleet.iter().all(|sb| marker(sb).is_some()));
    assert!(
        moto.count() <= 8,
        "at most one call per get, {}",
        moto.count()
    );

    // Back on the same port: sharing resumes (a fresh machine has no marker; the marker of an old
    // one is removed as if its 30 s had passed).
    redis.restart().expect("redis on the same port");
    let before = moto.count();
    let a = ecr_machine(&url, &moto, AKID, SECRET);
    assert_eq!(a.get(HOST).stdout, ecr_answer());
    let b = ecr_machine(&url, &moto, AKID, SECRET);
    let served = b.get(HOST);
    assert_eq!(
        (served.stdout.as_str(), served.stderr.as_str()),
        (ecr_answer().as_str(), "")
    );
    assert_eq!(moto.count(), before + 1, "b was served from Redis");
    std::fs::remove_file(marker(&fleet[0]).unwrap()).unwrap();
    assert_eq!(token_json(&fleet[0])["source"], "local");

    // Stopped in the middle of a run: the mint is slow, Redis dies while everyone waits.
    let run_url = url.clone();
    let _: () = redis::cmd("FLUSHALL").query(&mut redis.client()).unwrap();
    moto.set_mode("hang");
    let fleet = ecr_fleet(8, &run_url, &moto);
    let before = moto.count();
    let children: Vec<Child> = fleet
        .iter()
        .flat_map(|sb| [spawn_get(sb, HOST), spawn_get(sb, HOST)])
        .collect();
    wait_for("the holder's call", Duration::from_secs(20), || {
        moto.count() > before
    });
    redis.stop();
    moto.set_mode("normal");
    let outs: Vec<Out> = children.into_iter().map(finish).collect();
    assert_all_answer(&outs, &ecr_answer());
    assert!(
        moto.count() - before <= 16,
        "never more than one call per get: {}",
        moto.count() - before
    );

    // A Redis that accepts connections but never answers (SIGSTOPped): the 300 ms timeout, one
    // note, the local answer.
    redis.restart().expect("redis again");
    redis.pause();
    let fleet = ecr_fleet(4, &url, &moto);
    let outs = gets_at_once(&fleet, HOST, 2);
    assert_all_answer(&outs, &ecr_answer());
    assert!(notes(&outs, "no answer within 300 ms") >= 1, "{outs:?}");
    redis.resume();
    let fresh = ecr_machine(&url, &moto, AKID, SECRET);
    let before = moto.count();
    assert_eq!(fresh.get(HOST).stdout, ecr_answer());
    let other = ecr_machine(&url, &moto, AKID, SECRET);
    assert_eq!(other.get(HOST).stdout, ecr_answer());
    assert_eq!(moto.count(), before + 1, "sharing resumed");
}

#[test]
fn different_keys_for_one_registry_get_independent_tokens() {
    let Some(redis) = Redis::start() else { return };
    let Some(moto) = Moto::start() else { return };
    let a = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    let b = ecr_machine(
        &redis.url(),
        &moto,
        "AKIABETA9FLEETOTHER2",
        "other-secret-0002",
    );
    assert_eq!(a.get(HOST).stdout, ecr_answer());
    assert_eq!((moto.count(), moto.last_akid().as_str()), (1, AKID));
    // b's keys differ: it never reads a's token, it mints with its own keys.
    assert_eq!(b.get(HOST).stdout, ecr_answer());
    assert_eq!(
        (moto.count(), moto.last_akid().as_str()),
        (2, "AKIABETA9FLEETOTHER2")
    );
    assert_eq!(redis.entries().len(), 2, "two independent entries");
    // A third machine with a's keys is served a's token; one with b's keys, b's.
    let a2 = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    let b2 = ecr_machine(
        &redis.url(),
        &moto,
        "AKIABETA9FLEETOTHER2",
        "other-secret-0002",
    );
    assert_eq!(a2.get(HOST).stdout, ecr_answer());
    assert_eq!(b2.get(HOST).stdout, ecr_answer());
    assert_eq!(moto.count(), 2);
    // Same key id, another secret: another credential, another token.
    let c = ecr_machine(&redis.url(), &moto, AKID, "rotated-secret-0003");
    assert_eq!(c.get(HOST).stdout, ecr_answer());
    assert_eq!(moto.count(), 3);
    redis.assert_nothing_readable(&[AKID, SECRET, "AKIABETA9FLEETOTHER2", HOST, PASSWORD]);
}

#[test]
fn a_fleet_entering_the_refresh_window_makes_one_refresh_call() {
    let Some(redis) = Redis::start() else { return };
    // 70 s tokens: fresh for 10 s (ECR refreshes 60 s before the end at the latest), then in the
    // window; every process is due within 1.5 s of its start.
    let Some(moto) = Moto::start_with(&["--expires-in", "70"]) else {
        return;
    };
    let fleet = ecr_fleet(32, &redis.url(), &moto);
    let time = Timeline::start(0);
    let outs = gets_at_once_env(&fleet, HOST, 1, &[(SHIFT, &time.at(0.0))]);
    assert_all_answer(&outs, &ecr_answer());
    assert_eq!(moto.count(), 1);
    // The refreshed token lives 12 h: one refresh, not one per window.
    moto.set_expires_in(43_200);
    for at in [10.5, 12.0, 13.5, 15.0] {
        let outs = gets_at_once_env(&fleet, HOST, 1, &[(SHIFT, &time.at(at))]);
        assert_all_answer(&outs, &ecr_answer());
    }
    assert_eq!(moto.count(), 2, "one refresh call for 32 machines");
    // Everyone took the refreshed token.
    assert_all_took_the_refreshed_token(&fleet);
}

#[test]
fn a_throttled_refresh_serves_the_valid_token_and_backs_off() {
    let Some(redis) = Redis::start() else { return };
    let Some(moto) = Moto::start_with(&["--expires-in", "65"]) else {
        return;
    };
    let fleet = ecr_fleet(4, &redis.url(), &moto);
    let time = Timeline::start(0);
    let get =
        |sb: &Sandbox, at: f64| sb.run_env(&["get"], HOST.as_bytes(), &[(SHIFT, &time.at(at))]);
    assert_eq!(get(&fleet[0], 0.0).stdout, ecr_answer());
    assert_eq!(moto.count(), 1);
    // In the window (from 5 s) and past every jitter point (5 + 1.5 s).
    moto.set_mode("throttle");
    let mut outs = Vec::new();
    for i in 0..20 {
        outs.push(get(&fleet[i % 4], 7.0));
    }
    assert_all_answer(&outs, &ecr_answer());
    let calls = moto.count() - 1;
    assert!(calls >= 1, "the refresh was tried");
    // Without the backoff every get would call (and the SDK retries once): 20 to 40 calls.
    assert!(
        calls <= 10,
        "{calls} throttled calls for 20 gets: no backoff"
    );
    assert!(notes(&outs, "throttled") >= 1, "{outs:?}");
    let (names, _) = redis.dump();
    assert!(
        names.iter().any(|k| k.ends_with(":backoff")),
        "a backoff record: {names:?}"
    );
    redis.assert_nothing_readable(&[PASSWORD, AKID, SECRET, HOST]);
}

/// The one test that waits for a refresh window on the real clock (no `BETA9_TEST_CLOCK_SHIFT_MS`):
/// the others move the binary's clock instead (docs/fleet.md, "Testing the windows").
#[test]
fn a_fleet_crosses_the_refresh_window_on_the_real_clock() {
    let Some(redis) = Redis::start() else { return };
    // 62 s tokens: fresh for 2 s (ECR refreshes 60 s before the end at the latest), then in the
    // window; every process is due within 1 s of its start.
    let Some(moto) = Moto::start_with(&["--expires-in", "62"]) else {
        return;
    };
    let fleet = ecr_fleet(4, &redis.url(), &moto);
    let outs = gets_at_once(&fleet, HOST, 1);
    // After the mint: every process is due within 3 s of now.
    let minted = Instant::now();
    assert_all_answer(&outs, &ecr_answer());
    assert_eq!(moto.count(), 1);
    moto.set_expires_in(43_200);
    // Past every jitter point, with a second for the whole-second expiry and fetch times.
    sleep_until(minted, 4.0);
    let outs = gets_at_once(&fleet, HOST, 1);
    assert_all_answer(&outs, &ecr_answer());
    // Those that found the refresher's lease answered the old token; the next get adopts the new.
    let outs = gets_at_once(&fleet, HOST, 1);
    assert_all_answer(&outs, &ecr_answer());
    assert_eq!(moto.count(), 2, "one refresh call for 4 machines");
    assert_all_took_the_refreshed_token(&fleet);
}

#[test]
fn a_local_hit_opens_no_socket_with_the_shared_cache_on() {
    if !strace_usable("redis::a_local_hit_opens_no_socket_with_the_shared_cache_on") {
        return;
    }
    let Some(redis) = Redis::start() else { return };
    let Some(moto) = Moto::start() else { return };
    let a = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    let b = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    a.get(HOST).assert_ok();
    // b's first get is served from Redis (a socket), its second from its own cache (none).
    let (out, cold) = b.run_traced("network", &["get"], HOST.as_bytes(), &[]);
    assert_eq!(out.stdout, ecr_answer());
    assert!(
        cold.contains("socket("),
        "served from Redis without a socket?\n{cold}"
    );
    let (out, hot) = b.run_traced("network", &["get"], HOST.as_bytes(), &[]);
    assert_eq!(out.stdout, ecr_answer());
    assert!(
        !hot.contains("socket("),
        "a local hit opened a socket:\n{hot}"
    );
    assert_eq!(moto.count(), 1);
}

#[test]
fn a_malformed_url_is_never_echoed_and_changes_nothing() {
    let Some(moto) = Moto::start() else { return };
    for url in [
        format!("http://user:{REDIS_PASSWORD}@cache.example:6379"),
        format!("redis://:{REDIS_PASSWORD}@[::1"),
    ] {
        let sb = ecr_machine(&url, &moto, AKID, SECRET);
        let out = sb.get(HOST);
        assert_eq!(out.stdout, ecr_answer(), "{out:?}");
        assert!(
            out.stderr.contains("not using the shared token cache"),
            "{out:?}"
        );
        assert!(
            !out.stderr.contains(REDIS_PASSWORD) && !out.stderr.contains("cache.example"),
            "{out:?}"
        );
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, made with the openssl CLI.
fn make_certs(dir: &std::path::Path) -> Result<(), String> {
    crate::support::make_test_certs(
        dir,
        "beta9 test CA",
        "127.0.0.1",
        &[("server", "IP:127.0.0.1", "2")],
    )
}

#[test]
fn rediss_trusts_the_system_roots_plus_the_ca_file() {
    let Some((redis, certs)) = Redis::start_tls() else {
        return;
    };
    let Some(moto) = Moto::start() else { return };
    let ca = certs.path().join("ca.pem");
    let with_ca = |sb: &mut Sandbox| sb.set_env("BETA9_TOKEN_CACHE_CA_FILE", ca.to_str().unwrap());
    let mut a = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    let mut b = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    with_ca(&mut a);
    with_ca(&mut b);
    let out = a.get(HOST);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        (ecr_answer().as_str(), "")
    );
    let out = b.get(HOST);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        (ecr_answer().as_str(), "")
    );
    assert_eq!(moto.count(), 1, "b was served over TLS");
    // Without the CA file the server's certificate is not trusted: the local path, one note.
    let c = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    let out = c.get(HOST);
    assert_eq!(out.stdout, ecr_answer());
    assert!(
        out.stderr.contains("shared token cache unavailable"),
        "{out:?}"
    );
    assert!(!out.stderr.contains(REDIS_PASSWORD), "{out:?}");
    assert_eq!(moto.count(), 2);
    redis.assert_nothing_readable(&[PASSWORD, AKID, SECRET, HOST]);
}

#[test]
fn google_service_account_tokens_are_shared_over_a_unix_socket() {
    let Some(redis) = Redis::start() else { return };
    let Some(stub) = GcpStub::start(GOOGLE_TOKEN) else {
        return;
    };
    let key = stub.key_json();
    let fleet: Vec<Sandbox> = (0..32)
        .map(|_| gcp_machine(&redis.unix_url(), &key))
        .collect();
    let outs = gets_at_once(&fleet, AR, 4);
    assert_all_answer(&outs, &google_answer());
    assert_eq!(stub.count(), 1, "one token request for 128 gets");
    assert_eq!(stub.last_error(), "");
    let pem = stub.pem("key-pkcs8.pem");
    let pem_line = pem.lines().nth(5).unwrap().to_string();
    redis.assert_nothing_readable(&[
        GOOGLE_TOKEN,
        &pem_line,
        crate::gcp_env::CLIENT_EMAIL,
        crate::gcp_env::KEY_ID,
        "pkg.dev",
        "127.0.0.1",
    ]);

    // Another service account (another stub, another key pair): its own token.
    let Some(other) = GcpStub::start("ya29.other-CANARY-token") else {
        return;
    };
    let sb = gcp_machine(&redis.unix_url(), &other.key_json());
    let out = sb.get(AR);
    assert!(out.stdout.contains("ya29.other-CANARY-token"), "{out:?}");
    assert_eq!((stub.count(), other.count()), (1, 1));
    assert_eq!(redis.entries().len(), 2);
}

#[test]
fn google_refresh_window_and_throttling() {
    let Some(redis) = Redis::start() else { return };
    // 232 s tokens: fresh for 7 s (Google refreshes 225 s before the end at the latest); every
    // process is due within 10.75 s of the window's start.
    let Some(stub) = GcpStub::start_with(GOOGLE_TOKEN, &["--expires-in", "232"]) else {
        return;
    };
    let key = stub.key_json();
    let fleet: Vec<Sandbox> = (0..32).map(|_| gcp_machine(&redis.url(), &key)).collect();
    // 21 s in the past: the last batch runs on the real clock.
    let time = Timeline::start(-21_000);
    let outs = gets_at_once_env(&fleet, AR, 1, &[(SHIFT, &time.at(0.0))]);
    assert_all_answer(&outs, &google_answer());
    assert_eq!(stub.count(), 1);
    stub.set_expires_in(3599);
    for at in [8.0, 12.0, 16.0, 19.0, 21.0] {
        let outs = gets_at_once_env(&fleet, AR, 1, &[(SHIFT, &time.at(at))]);
        assert_all_answer(&outs, &google_answer());
    }
    assert_eq!(stub.count(), 2, "one refresh request for 32 machines");

    // Throttling: 30 s tokens are in the window at once (due within 1 s); the stub answers 429.
    let Some(slow) = GcpStub::start_with(GOOGLE_TOKEN, &["--expires-in", "30"]) else {
        return;
    };
    let key = slow.key_json();
    let fleet: Vec<Sandbox> = (0..4).map(|_| gcp_machine(&redis.url(), &key)).collect();
    let time = Timeline::start(-1_100);
    let get = |sb: &Sandbox, at: f64| sb.run_env(&["get"], AR.as_bytes(), &[(SHIFT, &time.at(at))]);
    assert_eq!(get(&fleet[0], 0.0).stdout, google_answer());
    slow.set_mode("throttle");
    let outs: Vec<Out> = (0..20).map(|i| get(&fleet[i % 4], 1.1)).collect();
    assert_all_answer(&outs, &google_answer());
    let calls = slow.count() - 1;
    assert!(
        (1..=5).contains(&calls),
        "{calls} throttled requests for 20 gets"
    );
    assert!(notes(&outs, "throttled") >= 1, "{outs:?}");
}

/// A loopback server that accepts every connection and answers each with one byte every 200 ms,
/// for ever: `+` and then `x`s, a simple-string reply that never ends. Every read the client makes
/// gets a byte within its socket timeout, so only a deadline on the whole exchange ends it. Stops
/// (and closes every connection) when dropped.
struct Dribbler {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Dribbler {
    fn start() -> Dribbler {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((mut sock, _)) => {
                        let flag = flag.clone();
                        std::thread::spawn(move || {
                            let mut byte = b"+";
                            while !flag.load(Ordering::SeqCst) && sock.write_all(byte).is_ok() {
                                byte = b"x";
                                std::thread::sleep(Duration::from_millis(200));
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Dribbler { port, stop }
    }
}

impl Drop for Dribbler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A `get` that must end by itself: killed after `cap`, which counts as a failure.
fn get_within(sb: &Sandbox, host: &str, cap: Duration) -> Out {
    let mut child = spawn_get(sb, host);
    let end = Instant::now() + cap;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() >= end {
            let _ = child.kill();
            let out = finish(child);
            panic!("get still running after {cap:?}: killed; {out:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    finish(child)
}

#[test]
fn a_redis_that_dribbles_bytes_costs_at_most_the_deadline_and_a_note() {
    let Some(moto) = Moto::start() else { return };
    let dribbler = Dribbler::start();
    // With a password the crate's AUTH reply dribbles; without one (no set-up round trip), the
    // MGET reply does.
    for url in [
        format!("redis://:{REDIS_PASSWORD}@127.0.0.1:{}/0", dribbler.port),
        format!("redis://127.0.0.1:{}", dribbler.port),
    ] {
        let sb = machine(
            &url,
            &[
                ("AWS_ENDPOINT_URL_ECR", &moto.endpoint),
                ("BETA9_TIMEOUT", "4"),
            ],
        );
        sb.run_env(
            &["add", HOST, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
            b"",
            &[
                ("AWS_ACCESS_KEY_ID", AKID),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
            ],
        )
        .assert_ok();
        // Three times the budget: generous, and still far from "for ever".
        let out = get_within(&sb, HOST, Duration::from_secs(12));
        assert_all_answer(std::slice::from_ref(&out), &ecr_answer());
        // 300 ms for a command, 1 s for an exchange that connects first (docs/fleet.md, "Timing").
        assert!(
            out.stderr
                .contains("shared token cache unavailable (no answer within "),
            "{out:?}"
        );
        assert_eq!(out.stderr.lines().count(), 1, "{out:?}");
    }
}

#[test]
fn a_lock_held_for_ever_costs_a_cold_machine_one_wait_not_one_per_get() {
    let Some(redis) = Redis::start() else { return };
    let Some(moto) = Moto::start() else { return };
    // A publishes, which tells us the entry's name; then a lock nobody will ever release is
    // planted on it (a huge TTL) and the entry removed.
    let entry = published_entry(&redis, &moto);
    let mut con = redis.client();
    let _: () = redis::cmd("SET")
        .arg(format!("{entry}:lock"))
        .arg("planted")
        .arg("EX")
        .arg(86_400)
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("DEL").arg(&entry).query(&mut con).unwrap();

    let mut b = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    b.set_env("BETA9_TIMEOUT", "2");
    let waited = "no token from the shared token cache within 1000 ms";
    let first = b.get(HOST);
    assert_eq!(first.stdout, ecr_answer(), "{first:?}");
    assert!(first.stderr.contains(waited), "{first:?}");
    let before = moto.count();
    // Cold again: B's local copy of the token is removed (a machine whose cache was cleared, or
    // the next credential with the same stuck lease).
    let local: Vec<PathBuf> = b
        .files()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("tok-"))
        })
        .collect();
    assert!(!local.is_empty(), "B cached its token");
    for p in &local {
        std::fs::remove_file(p).unwrap();
    }
    let second = b.get(HOST);
    assert_eq!(second.stdout, ecr_answer(), "{second:?}");
    assert!(
        !second.stderr.contains(waited),
        "the second cold get waited again: {second:?}"
    );
    assert_eq!(moto.count(), before + 1, "minted here without waiting");
    assert!(
        b.files().iter().any(|p| p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("shared-lease-held-"))),
        "a held-lease marker"
    );
    // The planted lock is untouched: only its holder may release it.
    let held: Option<String> = redis::cmd("GET")
        .arg(format!("{entry}:lock"))
        .query(&mut con)
        .unwrap();
    assert_eq!(held.as_deref(), Some("planted"));
}

/// The CA file comes from a ConfigMap or Secret the kubelet mounted: `ca.pem -> ..data/ca.pem`.
#[test]
fn rediss_reads_a_ca_file_mounted_by_the_kubelet() {
    let Some((redis, certs)) = Redis::start_tls() else {
        return;
    };
    let Some(moto) = Moto::start() else { return };
    let mount = tempfile::tempdir().unwrap();
    let pem = std::fs::read(certs.path().join("ca.pem")).unwrap();
    let ca = &crate::mounted_files::kubelet_volume(mount.path(), &[("ca.pem", &pem)])[0];
    let mut a = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    let mut b = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    for sb in [&mut a, &mut b] {
        sb.set_env("BETA9_TOKEN_CACHE_CA_FILE", ca.to_str().unwrap());
        let out = sb.get(HOST);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            (ecr_answer().as_str(), "")
        );
    }
    assert_eq!(moto.count(), 1, "b was served over TLS");
}

#[test]
fn an_oversized_value_in_redis_is_a_miss_and_is_never_read() {
    let Some(redis) = Redis::start() else { return };
    let Some(moto) = Moto::start() else { return };
    let entry = published_entry(&redis, &moto);
    // 250 MB under the entry's name, made by the server itself (nothing crosses the wire).
    let mut con = redis.client();
    let _: i64 = redis::cmd("SETRANGE")
        .arg(&entry)
        .arg((250 << 20) - 1)
        .arg("x")
        .query(&mut con)
        .unwrap();
    let b = ecr_machine(&redis.url(), &moto, AKID, SECRET);
    let (out, rss) = b.run_max_rss(&["get"], HOST.as_bytes(), &[]);
    let Some(rss) = rss else { return };
    eprintln!("peak RSS of a get facing a 250 MB Redis value: {rss} KiB");
    assert_all_answer(std::slice::from_ref(&out), &ecr_answer());
    assert_eq!(out.stderr, "", "a miss, not a failure: {out:?}");
    assert_eq!(moto.count(), 2, "b minted (a miss) ...");
    let len: u64 = redis::cmd("STRLEN").arg(&entry).query(&mut con).unwrap();
    assert!(len < 64 * 1024, "... and published over it ({len} bytes)");
    // Generous: reading the value whole took over 500 MB.
    assert!(rss < 150 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn two_refreshers_on_the_shared_cache_make_one_call_and_every_get_after_none() {
    let Some(redis) = Redis::start() else { return };
    // 58 s tokens: inside the refresh window as they arrive.
    let Some(moto) = Moto::start_with(&["--expires-in", "58"]) else {
        return;
    };
    let fleet = ecr_fleet(2, &redis.url(), &moto);
    assert_all_answer(&gets_at_once(&fleet, HOST, 1), &ecr_answer());
    assert_eq!(moto.count(), 1);
    moto.set_expires_in(43_200);
    // Both refreshers at once: one takes the lease and mints, the other waits for its publish.
    let children: Vec<Child> = fleet
        .iter()
        .map(|sb| {
            sb.cmd(&["refresh"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn refresh")
        })
        .collect();
    let outs: Vec<Out> = children.into_iter().map(finish).collect();
    for o in &outs {
        assert_eq!(o.code, 0, "{o:?}");
        assert!(o.stdout.starts_with(&format!("refreshed {HOST}")), "{o:?}");
        assert!(!o.stderr.contains(REDIS_PASSWORD) && !o.stdout.contains(PASSWORD));
    }
    assert_eq!(moto.count(), 2, "one call for two refreshers: {outs:?}");
    assert_eq!(
        outs.iter()
            .filter(|o| o.stdout.contains("from the shared token cache"))
            .count(),
        1,
        "{outs:?}"
    );
    // Every machine's next gets are local hits.
    assert_all_answer(&gets_at_once(&fleet, HOST, 16), &ecr_answer());
    assert_eq!(moto.count(), 2);
    redis.assert_nothing_readable(&[AKID, SECRET, HOST, PASSWORD]);
}

/// A test's Redis keeps its port while it is stopped: no other server can listen there (nor a
/// connection pick it) before `restart`, and meanwhile a connection is refused. A port given up
/// while the server was down was once taken under the whole suite's load, and the restarted
/// test's own client then reached someone else's server.
#[test]
fn a_stopped_redis_keeps_its_port_until_it_restarts() {
    let Some(mut redis) = Redis::start_held() else {
        return;
    };
    let port = redis.port;
    redis.stop();
    let refused = std::net::TcpStream::connect(("127.0.0.1", port));
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{refused:?}"
    );
    // In use for the kernel: a bind without SO_REUSEADDR is refused, and neither a bind to port
    // 0 nor an outgoing connection is given it.
    let plain_bind = std::process::Command::new(crate::harness::python())
        .arg("-c")
        .arg(format!(
            "import socket\nsocket.socket().bind(('127.0.0.1', {port}))"
        ))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(
        !plain_bind.success(),
        "the stopped Redis's port is free for anyone"
    );
    assert!((0..2000).all(|_| free_port() != port), "free_port gave it");
    redis.restart().expect("redis on the same port");
    let pong: String = redis::cmd("PING").query(&mut redis.client()).unwrap();
    assert_eq!((redis.port, pong.as_str()), (port, "PONG"));
}
