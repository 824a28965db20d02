//! The shared PostgreSQL store (BETA9_STORE_URL) and `import --from-beta9`, against Debian's real
//! PostgreSQL: each test starts its own server in a temp dir (initdb and pg_ctl as the `postgres`
//! user when the tests run as root, as initdb refuses root), on a free loopback port and a Unix
//! socket in that dir, with scram-sha-256 passwords and TLS from a CA made for the test.
//! "Machines" are sandboxes with their own HOME and local copies, sharing one key file.

use crate::harness::{python, Ready, Server, ServerSpec};
use crate::support::{free_port, tool_missing, Out, Sandbox, CANARY};
use docker_credential_beta9::secret_name::SecretName;
use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SUPERUSER_PW: &str = "super-pw-1d2c";
const ROLE: &str = "beta9";
const ROLE_PW: &str = "role-pw-77f0";

/// A PostgreSQL server of one test: data, socket and TLS material in `root`, stopped (and the
/// dir removed) on drop.
struct Pg {
    server: Option<Server>,
    root: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_root: bool,
}

/// Debian's PostgreSQL programs: on PATH, else the newest /usr/lib/postgresql/N/bin.
fn pg_bin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(d) = dirs.pop() {
        return Some(d);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn id_of(flag: &str) -> Option<u32> {
    let o = Command::new("id").args([flag, "postgres"]).output().ok()?;
    String::from_utf8(o.stdout).ok()?.trim().parse().ok()
}

impl Pg {
    /// A running server, or `None` when PostgreSQL is not installed (a skip, or a failure under
    /// BETA9_REQUIRE_TOOLS=1).
    fn start(test: &str) -> Option<Pg> {
        let Some(bin) = pg_bin() else {
            tool_missing(test, "PostgreSQL", "no initdb (apt-get install postgresql)");
            return None;
        };
        let as_root = is_root();
        let owner = if as_root {
            match (id_of("-u"), id_of("-g")) {
                (Some(u), Some(g)) => Some((u, g)),
                _ => {
                    tool_missing(test, "the postgres user", "initdb refuses root");
                    return None;
                }
            }
        } else {
            None
        };
        let root = tempfile::Builder::new()
            .prefix("beta9-pg-")
            .tempdir()
            .unwrap();
        let tls = root.path().join("tls");
        std::fs::create_dir(&tls).unwrap();
        let made = Command::new(python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/support/pg_tls.py"
            ))
            .arg(&tls)
            .output();
        match made {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                tool_missing(
                    test,
                    "python3 cryptography",
                    &String::from_utf8_lossy(&o.stderr),
                );
                return None;
            }
            Err(e) => {
                tool_missing(test, "python3", &e.to_string());
                return None;
            }
        }
        std::fs::create_dir(root.path().join("sock")).unwrap();
        std::fs::write(root.path().join("superuser.pw"), SUPERUSER_PW).unwrap();
        if let Some((uid, gid)) = owner {
            for p in [
                root.path().to_path_buf(),
                root.path().join("sock"),
                root.path().join("superuser.pw"),
                tls.clone(),
                tls.join("server.key"),
                tls.join("server.crt"),
            ] {
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
            }
        }
        let mut pg = Pg {
            server: None,
            root,
            bin,
            port: 0,
            as_root,
        };
        let data = pg.root.path().join("data");
        let pwfile = pg.root.path().join("superuser.pw");
        let out = pg
            .as_postgres("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=scram-sha-256", "-N", "-E", "UTF8"])
            .args(["--locale=C"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg.run();
        Some(pg)
    }

    /// A one-shot PostgreSQL program, as the `postgres` user when we are root.
    fn as_postgres(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// Starts the server (again), on the same port after a stop. The server process itself is
    /// the harness's child (setpriv execs it as `postgres`; runuser would stay in between and a
    /// kill would miss the server).
    fn run(&mut self) {
        let mut last = String::new();
        for _ in 0..3 {
            let port = if self.port == 0 {
                free_port()
            } else {
                self.port
            };
            let program = if self.as_root {
                "setpriv".to_string()
            } else {
                self.bin.join("postgres").display().to_string()
            };
            let mut spec = ServerSpec::new("postgres", &program).unwrap();
            if self.as_root {
                spec.args([
                    "--reuid=postgres",
                    "--regid=postgres",
                    "--init-groups",
                    "--",
                ])
                .arg(self.bin.join("postgres"));
            }
            let r = self.root.path();
            spec.arg("-D")
                .arg(r.join("data"))
                .args(["-p", &port.to_string()])
                .arg("-k")
                .arg(r.join("sock"))
                .args(["-c", "listen_addresses=127.0.0.1,127.0.0.2"])
                .args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!(
                    "ssl_cert_file={}",
                    r.join("tls/server.crt").display()
                ))
                .arg("-c")
                .arg(format!(
                    "ssl_key_file={}",
                    r.join("tls/server.key").display()
                ))
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
                .args([
                    "-c",
                    "shared_buffers=32MB",
                    "-c",
                    "log_min_messages=warning",
                ])
                .ready(Ready::Tcp(port));
            match spec.start() {
                Ok(server) => {
                    self.server = Some(server);
                    self.port = port;
                    self.wait_ready();
                    return;
                }
                Err(e) => last = e,
            }
        }
        panic!("postgres did not start: {last}");
    }

    /// The port answers before the server accepts sessions: wait for a query to work.
    fn wait_ready(&self) {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let o = self.psql_cmd("postgres", "SELECT 1").output().unwrap();
            if o.status.success() {
                return;
            }
            assert!(
                Instant::now() < end,
                "postgres not ready: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (fast shutdown) and waits: afterwards its port refuses connections.
    fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = self
                .as_postgres("pg_ctl")
                .arg("-D")
                .arg(self.root.path().join("data"))
                .args(["-m", "fast", "-w", "-t", "30", "stop"])
                .output();
            server.stop();
        }
    }

    fn psql_cmd(&self, db: &str, sql: &str) -> Command {
        let mut c = Command::new(self.bin.join("psql"));
        c.args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.root.path().join("sock"))
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-c", sql])
            .env("PGPASSWORD", SUPERUSER_PW)
            .env("PGCONNECT_TIMEOUT", "5");
        c
    }

    /// Runs SQL as the superuser; panics on failure; the output (unaligned, tuples only).
    fn psql(&self, db: &str, sql: &str) -> String {
        let o = self.psql_cmd(db, sql).output().unwrap();
        assert!(
            o.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A database owned by the helper's role (created with it on first use).
    fn database(&self, name: &str) -> String {
        let exists = self.psql(
            "postgres",
            &format!("SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'"),
        );
        if exists.trim().is_empty() {
            self.psql(
                "postgres",
                &format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE_PW}'"),
            );
        }
        self.psql("postgres", &format!("CREATE DATABASE {name} OWNER {ROLE}"));
        name.to_string()
    }

    fn ca(&self) -> PathBuf {
        self.root.path().join("tls/ca.pem")
    }

    fn other_ca(&self) -> PathBuf {
        self.root.path().join("tls/other-ca.pem")
    }

    /// `postgres://beta9:PW@127.0.0.1:PORT/DB?sslmode=verify-full&sslrootcert=CA`
    fn url(&self, db: &str) -> String {
        format!(
            "postgres://{ROLE}:{ROLE_PW}@127.0.0.1:{}/{db}?sslmode=verify-full&sslrootcert={}",
            self.port,
            self.ca().display()
        )
    }

    /// Everything `pg_dump` sees of a database.
    fn dump(&self, db: &str) -> String {
        let o = Command::new(self.bin.join("pg_dump"))
            .arg("-h")
            .arg(self.root.path().join("sock"))
            .args(["-p", &self.port.to_string(), "-U", "postgres", db])
            .env("PGPASSWORD", SUPERUSER_PW)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = self
                .as_postgres("pg_ctl")
                .arg("-D")
                .arg(self.root.path().join("data"))
                .args(["-m", "immediate", "-w", "-t", "10", "stop"])
                .output();
            server.stop();
        }
    }
}

/// A shared master key file (the mounted secret every machine has).
fn key_file(dir: &Path, name: &str, byte: u8) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, hex::encode([byte; 32])).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    p
}

/// A machine: its own HOME, store dir and local copies; the shared store and key.
fn machine(url: &str, key: &Path) -> Sandbox {
    let mut s = Sandbox::new();
    s.set_env("BETA9_STORE_URL", url);
    s.set_env("BETA9_CREDENTIALS_KEY_FILE", key.to_str().unwrap());
    s
}

fn login(o: &Out) -> (String, String) {
    assert_eq!(o.code, 0, "expected a login: {o:?}");
    let v = o.json();
    (
        v["Username"].as_str().unwrap().to_string(),
        v["Secret"].as_str().unwrap().to_string(),
    )
}

/// A protocol verb's failure: exit 1, one stdout line holding every `needle`.
fn verb_error(o: &Out, needles: &[&str]) {
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout.lines().count(), 1, "one line: {o:?}");
    for n in needles {
        assert!(o.stdout.contains(n), "{n:?} not in {o:?}");
    }
}

/// A command's failure: non-zero exit, one stderr line holding every `needle`.
fn command_error(o: &Out, needles: &[&str]) {
    assert_ne!(o.code, 0, "{o:?}");
    let errors: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.starts_with("error"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {o:?}");
    for n in needles {
        assert!(errors[0].contains(n), "{n:?} not in {o:?}");
    }
}

fn not_found(o: &Out) {
    verb_error(o, &["credentials not found in native keychain"]);
}

fn name_of(registry: &str) -> String {
    SecretName::derive(registry).to_string()
}

#[test]
fn two_machines_share_one_store() {
    let Some(pg) = Pg::start("two_machines_share_one_store") else {
        return;
    };
    let db = pg.database("creds");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "master.key", 0x11);
    let url = pg.url(&db);
    let a = machine(&url, &key);
    // B takes its password from a file, as from a mounted secret.
    let pwfile = keys.path().join("db.pw");
    std::fs::write(&pwfile, format!("{ROLE_PW}\n")).unwrap();
    let mut b = machine(&url.replace(&format!(":{ROLE_PW}@"), "@"), &key);
    b.set_env("BETA9_STORE_PASSWORD_FILE", pwfile.to_str().unwrap());

    // `add` on A (the table is created by this first write), `get` on B.
    let added = a.run_env(
        &["add", "ghcr.io", "GITHUB_USERNAME", "GITHUB_TOKEN"],
        b"",
        &[("GITHUB_USERNAME", "octo"), ("GITHUB_TOKEN", CANARY)],
    );
    added.assert_ok();
    assert_eq!(login(&b.get("ghcr.io")), ("octo".into(), CANARY.into()));

    // Rotated on A: B answers from its fresh local copy until its TTL runs out ...
    let rotate = |secret: &str| {
        a.run_env(
            &["add", "ghcr.io", "GITHUB_USERNAME", "GITHUB_TOKEN"],
            b"",
            &[("GITHUB_USERNAME", "octo"), ("GITHUB_TOKEN", secret)],
        )
        .assert_ok();
    };
    rotate("rotated-1");
    assert_eq!(login(&b.get("ghcr.io")).1, CANARY, "within B's 60 s TTL");
    // ... at once with TTL 0 ...
    let ttl0 = [("BETA9_STORE_CACHE_TTL", "0")];
    assert_eq!(
        login(&b.run_env(&["get"], b"ghcr.io", &ttl0)).1,
        "rotated-1"
    );
    // ... and after a 1 s TTL has passed (on B's clock, moved on instead of waited for:
    // docs/fleet.md, "Testing the windows").
    rotate("rotated-2");
    let ttl1 = [
        ("BETA9_STORE_CACHE_TTL", "1"),
        ("BETA9_TEST_CLOCK_SHIFT_MS", "1100"),
    ];
    assert_eq!(
        login(&b.run_env(&["get"], b"ghcr.io", &ttl1)).1,
        "rotated-2"
    );

    // Workspaces stay apart in the one table.
    a.run_env(
        &["--workspace", "team", "add", "nvcr.io", "NGC_API_KEY"],
        b"",
        &[("NGC_API_KEY", "team-key")],
    )
    .assert_ok();
    not_found(&b.run_env(&["get"], b"nvcr.io", &ttl0));
    let team = [("BETA9_WORKSPACE", "team"), ("BETA9_STORE_CACHE_TTL", "0")];
    assert_eq!(
        login(&b.run_env(&["get"], b"nvcr.io", &team)),
        ("$oauthtoken".into(), "team-key".into())
    );

    // Erased on A: not found on B (asking the database), and gone from B's list.
    a.erase("ghcr.io").assert_ok();
    a.erase("ghcr.io").assert_ok();
    not_found(&b.run_env(&["get"], b"ghcr.io", &ttl0));
    let listed = b.list();
    listed.assert_ok();
    assert_eq!(listed.json(), serde_json::json!({}));
    b.store("registry.example.com:5000", "me", "from-b")
        .assert_ok();
    assert_eq!(a.list().json()["registry.example.com:5000"], "me");

    // The scripted commands work against the shared store too.
    let ls = a.run(&["ls"], b"");
    ls.assert_ok();
    assert!(ls.stdout.contains("registry.example.com:5000"), "{ls:?}");
    assert!(a
        .run(&["show", "registry.example.com:5000"], b"")
        .stdout
        .contains("generic"));
    let exported = a.run(&["export", "registry.example.com:5000"], b"");
    exported.assert_ok();
    b.run(&["remove", "registry.example.com:5000"], b"")
        .assert_ok();
    not_found(&a.run_env(&["get"], b"registry.example.com:5000", &ttl0));
    a.run(&["import"], exported.stdout.as_bytes()).assert_ok();

    // A machine with another key is refused in one line and changes nothing.
    let other_key = key_file(keys.path(), "other.key", 0x22);
    let c = machine(&url, &other_key);
    let o = c.store("ghcr.io", "x", "y");
    verb_error(
        &o,
        &[
            "wrong key",
            "did not seal the store",
            "PostgreSQL store 127.0.0.1",
        ],
    );
    verb_error(&c.get("registry.example.com:5000"), &["wrong key"]);
    assert_eq!(login(&a.get("registry.example.com:5000")).1, "from-b");
    not_found(&a.get("ghcr.io"));

    // Neither the database nor the machines' copies hold a credential in clear.
    let dump = pg.dump(&db);
    assert!(dump.contains("beta9_credentials"), "the dump has the table");
    for secret in [CANARY, "rotated-2", "from-b", "team-key"] {
        assert!(!dump.contains(secret), "{secret} in pg_dump");
    }
    for m in [&a, &b, &c] {
        m.assert_not_on_disk(CANARY);
        m.assert_not_on_disk("rotated-2");
        // The store URL's password never reaches stdout, stderr or a file.
        m.assert_not_on_disk(ROLE_PW);
    }
    for o in [&added, &listed] {
        assert!(!o.stdout.contains(ROLE_PW) && !o.stderr.contains(ROLE_PW));
    }
}

#[test]
fn tls_and_authentication_failures_are_one_line() {
    let Some(pg) = Pg::start("tls_and_authentication_failures_are_one_line") else {
        return;
    };
    let db = pg.database("creds");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "master.key", 0x33);
    let a = machine(&pg.url(&db), &key);
    a.store("ghcr.io", "u", "s").assert_ok();
    let base = format!("postgres://{ROLE}:{ROLE_PW}@127.0.0.1:{}/{db}", pg.port);
    let with = |url: String| {
        let o = machine(&url, &key).get("ghcr.io");
        assert!(
            !o.stdout.contains(ROLE_PW) && !o.stderr.contains(ROLE_PW),
            "{o:?}"
        );
        o
    };
    let ca = pg.ca().display().to_string();

    // Passes: verify-full with the right CA (above), verify-ca for a name the certificate does
    // not cover, require without a CA (encrypted, unverified), disable, the Unix socket.
    let on_127_0_0_2 = base.replace("127.0.0.1", "127.0.0.2");
    assert_eq!(
        login(&with(format!(
            "{on_127_0_0_2}?sslmode=verify-ca&sslrootcert={ca}"
        )))
        .1,
        "s"
    );
    assert_eq!(login(&with(format!("{base}?sslmode=require"))).1, "s");
    assert_eq!(login(&with(format!("{base}?sslmode=disable"))).1, "s");
    let sock = pg
        .root
        .path()
        .join("sock")
        .display()
        .to_string()
        .replace('/', "%2F");
    assert_eq!(
        login(&with(format!(
            "postgresql://{ROLE}:{ROLE_PW}@{sock}:{}/{db}",
            pg.port
        )))
        .1,
        "s"
    );

    // Refused, each in one line naming the cause.
    let other = pg.other_ca().display().to_string();
    verb_error(
        &with(format!("{base}?sslmode=verify-full&sslrootcert={other}")),
        &["access denied", "certificate", "other-ca.pem"],
    );
    verb_error(
        &with(format!(
            "{on_127_0_0_2}?sslmode=verify-full&sslrootcert={ca}"
        )),
        &["access denied", "certificate"],
    );
    verb_error(
        &with(base.replace(ROLE_PW, "wrong-password")),
        &["access denied", "password authentication failed"],
    );
    // Port 1: nothing listens there, and no other test's server can take it.
    let closed = 1;
    verb_error(
        &with(format!(
            "postgres://{ROLE}:{ROLE_PW}@127.0.0.1:{closed}/{db}"
        )),
        &["unreachable", &format!("127.0.0.1:{closed}/{db}")],
    );
    // A server that accepts and never answers: the BETA9_TIMEOUT budget, then "timeout".
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let hole_port = hole.local_addr().unwrap().port();
    let m = machine(
        &format!("postgres://{ROLE}:{ROLE_PW}@127.0.0.1:{hole_port}/{db}?sslmode=disable"),
        &key,
    );
    verb_error(
        &m.run_env(&["get"], b"ghcr.io", &[("BETA9_TIMEOUT", "1")]),
        &["timeout", "BETA9_TIMEOUT"],
    );
    drop(hole);
    // Bad URLs and settings: one line, the URL never repeated.
    verb_error(
        &with(format!("{base}?sslmode=verify-sometimes")),
        &["BETA9_STORE_URL", "sslmode must be"],
    );
    let mut no_key = Sandbox::new();
    no_key.set_env("BETA9_STORE_URL", &pg.url(&db));
    verb_error(&no_key.get("ghcr.io"), &["BETA9_CREDENTIALS_KEY_FILE"]);
}

#[test]
fn a_role_that_may_not_create_the_table_is_told_what_to_run() {
    let Some(pg) = Pg::start("a_role_that_may_not_create_the_table_is_told_what_to_run") else {
        return;
    };
    // A database the role does not own: since PostgreSQL 15 it may not create tables in `public`.
    pg.psql(
        "postgres",
        &format!("CREATE ROLE {ROLE} LOGIN PASSWORD '{ROLE_PW}'"),
    );
    pg.psql("postgres", "CREATE DATABASE shared");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "master.key", 0x44);
    let a = machine(&pg.url("shared"), &key);
    not_found(&a.get("ghcr.io"));
    verb_error(
        &a.store("ghcr.io", "u", "s"),
        &["access denied", "db schema", "beta9_credentials"],
    );
    // The DBA runs what `db schema` prints, and grants the role.
    let schema = a.run(&["db", "schema"], b"");
    schema.assert_ok();
    assert!(schema
        .stdout
        .contains("CREATE TABLE IF NOT EXISTS beta9_credentials ("));
    pg.psql("shared", &schema.stdout);
    pg.psql(
        "shared",
        &format!("GRANT SELECT, INSERT, UPDATE, DELETE ON beta9_credentials, beta9_credentials_base TO {ROLE}"),
    );
    a.store("ghcr.io", "u", "s").assert_ok();
    assert_eq!(login(&a.get("ghcr.io")).1, "s");
    // Running the schema again is harmless.
    pg.psql("shared", &schema.stdout);
    assert!(a.run(&["db", "--help"], b"").stdout.contains("Example"));
}

/// One operation of the concurrency test, as the machine saw it.
struct Op {
    registry: usize,
    /// `Some(value)` for a store, `None` for an erase.
    write: Option<String>,
    start: Instant,
    end: Instant,
}

#[test]
fn concurrent_machines_end_with_the_last_acknowledged_write() {
    let Some(pg) = Pg::start("concurrent_machines_end_with_the_last_acknowledged_write") else {
        return;
    };
    let db = pg.database("creds");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "master.key", 0x55);
    let url = pg.url(&db);
    // The table exists before the race (its creation is covered elsewhere).
    machine(&url, &key)
        .store("warmup.example", "u", "p")
        .assert_ok();
    const MACHINES: usize = 16;
    const REGISTRIES: usize = 50;
    let run_for = Duration::from_secs(8);
    let registry = |i: usize| format!("r{i}.example");
    let writes: Arc<Mutex<Vec<Op>>> = Arc::default();
    let stored: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let gets = Arc::new(Mutex::new(0usize));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for m in 0..MACHINES {
            let (writes, stored, gets, url, key) = (
                writes.clone(),
                stored.clone(),
                gets.clone(),
                url.clone(),
                key.clone(),
            );
            scope.spawn(move || {
                let mut box_ = machine(&url, &key);
                box_.set_env("BETA9_STORE_CACHE_TTL", "0");
                let mut rng =
                    0x9e37_79b9_7f4a_7c15u64 ^ (m as u64 + 1).wrapping_mul(0xa076_1d64_78bd_642f);
                let mut next = || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                let mut n = 0;
                while start.elapsed() < run_for {
                    let r = (next() % REGISTRIES as u64) as usize;
                    let host = registry(r);
                    let t0 = Instant::now();
                    match next() % 10 {
                        0..=4 => {
                            let value = format!("m{m}-n{n}");
                            stored.lock().unwrap().insert(value.clone());
                            let o = box_.store(&host, "u", &value);
                            assert_eq!(o.code, 0, "store {host}: {o:?}");
                            writes.lock().unwrap().push(Op {
                                registry: r,
                                write: Some(value),
                                start: t0,
                                end: Instant::now(),
                            });
                        }
                        5..=7 => {
                            let o = box_.get(&host);
                            *gets.lock().unwrap() += 1;
                            if o.code == 0 {
                                let (user, secret) = login(&o);
                                assert_eq!(user, "u");
                                assert!(
                                    stored.lock().unwrap().contains(&secret),
                                    "{host} answered {secret:?}, which nobody stored"
                                );
                            } else {
                                not_found(&o);
                            }
                        }
                        _ => {
                            let o = box_.erase(&host);
                            assert_eq!(o.code, 0, "erase {host}: {o:?}");
                            writes.lock().unwrap().push(Op {
                                registry: r,
                                write: None,
                                start: t0,
                                end: Instant::now(),
                            });
                        }
                    }
                    n += 1;
                }
            });
        }
    });
    let writes = writes.lock().unwrap();
    let checker = machine(&url, &key);
    let mut by_registry: BTreeMap<usize, Vec<&Op>> = BTreeMap::new();
    for w in writes.iter() {
        by_registry.entry(w.registry).or_default().push(w);
    }
    for r in 0..REGISTRIES {
        let o = checker.get(&registry(r));
        let last = if o.code == 0 {
            Some(login(&o).1)
        } else {
            not_found(&o);
            None
        };
        let ops = by_registry.get(&r).cloned().unwrap_or_default();
        if ops.is_empty() {
            assert_eq!(last, None, "{}: nobody wrote it", registry(r));
            continue;
        }
        // The final row is the write of some acknowledged operation that no other operation
        // started after (a later-starting one would have been ordered after it).
        let candidates: Vec<&&Op> = ops
            .iter()
            .filter(|w| !ops.iter().any(|o| o.start > w.end))
            .collect();
        assert!(
            candidates.iter().any(|w| w.write == last),
            "{}: the row holds {last:?}, not one of the last acknowledged writes {:?}",
            registry(r),
            candidates.iter().map(|w| &w.write).collect::<Vec<_>>()
        );
    }
    // Nothing corrupt: every row opens.
    let listed = checker.list();
    listed.assert_ok();
    assert!(!listed.stderr.contains("skipping"), "{listed:?}");
    eprintln!(
        "concurrency: {} writes and {} gets by {MACHINES} machines on {REGISTRIES} registries in {:?}",
        writes.len(),
        gets.lock().unwrap(),
        start.elapsed()
    );
    assert!(writes.len() >= MACHINES, "every machine wrote");
}

#[test]
fn an_outage_is_bridged_by_local_copies_within_max_stale() {
    let Some(mut pg) = Pg::start("an_outage_is_bridged_by_local_copies_within_max_stale") else {
        return;
    };
    let db = pg.database("creds");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "master.key", 0x66);
    let mut a = machine(&pg.url(&db), &key);
    a.set_env("BETA9_STORE_CACHE_TTL", "0");
    for i in 0..3 {
        a.store(&format!("r{i}.example"), "u", &format!("s{i}"))
            .assert_ok();
    }
    let b = machine(&pg.url(&db), &key);
    assert_eq!(login(&b.get("r0.example")).1, "s0");

    pg.stop();
    // Reads: from the local copy, with one note naming the cause.
    let o = a.get("r1.example");
    assert_eq!(login(&o).1, "s1");
    let notes: Vec<&str> = o.stderr.lines().collect();
    assert_eq!(notes.len(), 1, "{o:?}");
    assert!(
        notes[0].contains("unreachable") && notes[0].contains("local copy"),
        "{o:?}"
    );
    assert_eq!(
        login(&b.get("r0.example")).1,
        "s0",
        "B's copy is fresh: no note"
    );
    // Never read on this machine: nothing to answer with.
    verb_error(&b.get("r2.example"), &["unreachable"]);
    // Writes: refused in one line, nothing changed.
    verb_error(&a.store("r3.example", "u", "s3"), &["unreachable"]);
    verb_error(&a.erase("r0.example"), &["unreachable"]);
    command_error(
        &a.run_env(
            &["add", "r4.example", "USERNAME", "PASSWORD"],
            b"",
            &[("USERNAME", "u"), ("PASSWORD", "p")],
        ),
        &["unreachable"],
    );
    // Past BETA9_STORE_MAX_STALE (on A's clock, moved on instead of waited for): refused, naming
    // the cause and the limit.
    verb_error(
        &a.run_env(
            &["get"],
            b"r1.example",
            &[
                ("BETA9_STORE_MAX_STALE", "1"),
                ("BETA9_TEST_CLOCK_SHIFT_MS", "2100"),
            ],
        ),
        &["unreachable", "BETA9_STORE_MAX_STALE"],
    );

    // The database is back: writes work, nothing was lost.
    pg.run();
    a.store("r3.example", "u", "s3").assert_ok();
    for i in 0..4 {
        assert_eq!(login(&a.get(&format!("r{i}.example"))).1, format!("s{i}"));
    }
    a.erase("r0.example").assert_ok();
    not_found(&a.get("r0.example"));
}

#[test]
fn rows_hold_no_credential_and_tampered_rows_fail_alone() {
    let Some(pg) = Pg::start("rows_hold_no_credential_and_tampered_rows_fail_alone") else {
        return;
    };
    let db = pg.database("creds");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "master.key", 0x77);
    let mut a = machine(&pg.url(&db), &key);
    a.set_env("BETA9_STORE_CACHE_TTL", "0");
    let regs = [
        "flip.example",
        "swapped.example",
        "source.example",
        "moved.example",
        "fine.example",
    ];
    for r in regs {
        a.store(r, "u", &format!("{CANARY}-{r}")).assert_ok();
    }
    let team = [("BETA9_WORKSPACE", "team")];
    let o = a.run_env(
        &["store"],
        br#"{"ServerURL":"team.example","Username":"t","Secret":"team-CANARY-x"}"#,
        &team,
    );
    o.assert_ok();

    let dump = pg.dump(&db);
    assert!(
        !dump.contains(CANARY) && !dump.contains("CANARY"),
        "a credential in pg_dump"
    );
    let hex_rows = pg.psql(&db, "SELECT encode(sealed, 'hex') FROM beta9_credentials");
    assert!(!hex_rows.contains(&hex::encode("CANARY")));

    // A flipped byte, one entry's bytes under another name, an entry moved to another workspace.
    let t = "beta9_credentials";
    pg.psql(
        &db,
        &format!(
            "UPDATE {t} SET sealed = set_byte(sealed, 40, get_byte(sealed, 40) # 1) WHERE name = '{}'",
            name_of("flip.example")
        ),
    );
    pg.psql(
        &db,
        &format!(
            "UPDATE {t} SET sealed = (SELECT sealed FROM {t} WHERE name = '{}' AND workspace = 'default') WHERE name = '{}'",
            name_of("source.example"),
            name_of("swapped.example")
        ),
    );
    pg.psql(
        &db,
        &format!(
            "UPDATE {t} SET workspace = 'team' WHERE name = '{}'",
            name_of("moved.example")
        ),
    );
    let b = machine(&pg.url(&db), &key);
    for r in ["flip.example", "swapped.example"] {
        let o = b.get(r);
        verb_error(&o, &[&name_of(r), "cannot decrypt"]);
        assert!(!o.stdout.contains(CANARY));
    }
    for r in ["source.example", "fine.example"] {
        assert_eq!(login(&b.get(r)).1, format!("{CANARY}-{r}"));
    }
    not_found(&b.get("moved.example"));
    let o = b.run_env(&["get"], b"moved.example", &team);
    verb_error(&o, &[&name_of("moved.example"), "cannot decrypt"]);
    assert_eq!(
        login(&b.run_env(&["get"], b"team.example", &team)).1,
        "team-CANARY-x"
    );
    // `list` names what it skips and answers the rest.
    let listed = b.list();
    listed.assert_ok();
    let keys_listed: Vec<String> = listed.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys_listed, vec!["fine.example", "source.example"]);
    assert!(
        listed.stderr.contains(&name_of("flip.example")),
        "{listed:?}"
    );
    // A damaged row is never replaced blindly.
    verb_error(&b.store("flip.example", "u", "new"), &["remove --force"]);
}

/// The platform's tables as its migrations create them (docs/records.md, "The platform's
/// workspace secrets"), the workspace rows, and a read-only role.
fn platform_db(pg: &Pg) -> String {
    pg.psql("postgres", "CREATE DATABASE platform");
    for sql in [
        "CREATE TABLE token (id SERIAL PRIMARY KEY)",
        "CREATE TABLE workspace (id SERIAL PRIMARY KEY, external_id UUID DEFAULT gen_random_uuid() UNIQUE NOT NULL, \
         name VARCHAR(255) NOT NULL, created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, \
         updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, signing_key VARCHAR(256))",
        "CREATE TABLE workspace_secret (id SERIAL PRIMARY KEY, external_id UUID DEFAULT gen_random_uuid() UNIQUE NOT NULL, \
         created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, \
         name TEXT NOT NULL, value TEXT NOT NULL, workspace_id INT REFERENCES workspace(id) ON DELETE CASCADE NOT NULL, \
         last_updated_by INT REFERENCES token(id) ON DELETE SET NULL, version INT DEFAULT 1)",
        "ALTER TABLE workspace_secret ADD CONSTRAINT workspace_secret_workspace_id_name_unique UNIQUE (workspace_id, name)",
        "CREATE ROLE platform_reader LOGIN PASSWORD 'reader-pw-9e1'",
        "GRANT SELECT ON workspace, workspace_secret TO platform_reader",
    ] {
        pg.psql("platform", sql);
    }
    "platform".into()
}

/// A `creds` database and the two key files of a rotation (`k1`: 0x01 bytes, `k2`: 0x02): the
/// database, the files' directory (keep it while they are used), the files, the database's URL.
fn rotation_setup(pg: &Pg) -> (String, tempfile::TempDir, PathBuf, PathBuf, String) {
    let db = pg.database("creds");
    let keys_dir = tempfile::tempdir().unwrap();
    let k1 = key_file(keys_dir.path(), "k1", 0x01);
    let k2 = key_file(keys_dir.path(), "k2", 0x02);
    let url = pg.url(&db);
    (db, keys_dir, k1, k2, url)
}

/// Moves the default workspace's entries of `regs` from `old` to `new`, as a rotation moves rows:
/// each opened with the old master key's entry key and sealed again with the new one's.
fn reseal_entries(
    store: &impl docker_credential_beta9::store::Store,
    regs: &[String],
    old: &docker_credential_beta9::seal::Key,
    new: &docker_credential_beta9::seal::Key,
) {
    use docker_credential_beta9::seal::{self, Purpose};
    use docker_credential_beta9::store::Change;
    let (o, n) = (
        old.derive("default", Purpose::Entry),
        new.derive("default", Purpose::Entry),
    );
    for r in regs {
        let name = SecretName::derive(r);
        store
            .update("default", &name, &mut |cur| {
                let plain =
                    seal::open(&o, Purpose::Entry, "default", name.as_str(), cur.unwrap()).unwrap();
                let sealed = seal::seal(
                    &n,
                    Purpose::Entry,
                    "default",
                    name.as_str(),
                    plain.as_slice(),
                )
                .unwrap();
                Ok(Change::Put(sealed))
            })
            .unwrap();
    }
}

/// `import --from-beta9 URL --beta9-workspace WS --beta9-password-file PW`, for more arguments
/// after it.
fn import_args<'a>(url: &'a str, ws: &'a str, pw: &'a Path) -> Vec<&'a str> {
    vec![
        "import",
        "--from-beta9",
        url,
        "--beta9-workspace",
        ws,
        "--beta9-password-file",
        pw.to_str().unwrap(),
    ]
}

/// The platform's record of a GitHub token for ghcr.io (secret `{CANARY}-ghcr`), without a version
/// field, as older platform rows are.
fn ghcr_record() -> String {
    format!(
        r#"{{"credentials":{{"GITHUB_TOKEN":"{CANARY}-ghcr","GITHUB_USERNAME":"octo"}},"registry":"ghcr.io","type":"token"}}"#
    )
}

/// The platform's read-only role as `import --from-beta9` is given it: a directory holding its
/// password file (keep it while the file is used), the file, and the URL without the password.
fn platform_reader(pg: &Pg, platform: &str) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("reader.pw");
    std::fs::write(&pw, "reader-pw-9e1\n").unwrap();
    let url = format!(
        "postgres://platform_reader@127.0.0.1:{}/{platform}?sslmode=verify-full&sslrootcert={}",
        pg.port,
        pg.ca().display()
    );
    (dir, pw, url)
}

/// Seals `secrets` with the platform's cipher (tests/support/beta9_secrets.py, Python
/// `cryptography`) and inserts them for a new workspace; returns its external id and signing key.
fn platform_workspace(
    pg: &Pg,
    name: &str,
    seal_key: Option<&str>,
    secrets: &[(&str, &str)],
) -> (String, String) {
    let req = serde_json::json!({
        "signing_key": seal_key,
        "secrets": secrets.iter().map(|(n, v)| (n.to_string(), serde_json::Value::from(*v))).collect::<serde_json::Map<_, _>>(),
    });
    let sealed = platform_cipher(&req);
    let signing_key = sealed
        .get("__signing_key")
        .and_then(|v| v.as_str())
        .or(seal_key)
        .unwrap()
        .to_string();
    let ext = pg
        .psql(
            "platform",
            &format!("INSERT INTO workspace (name, signing_key) VALUES ('{name}', '{signing_key}') RETURNING external_id"),
        )
        .trim()
        .to_string();
    for (n, _) in secrets {
        let v = sealed[*n].as_str().unwrap();
        pg.psql(
            "platform",
            &format!(
                "INSERT INTO workspace_secret (name, value, workspace_id) \
                 SELECT '{n}', '{v}', id FROM workspace WHERE external_id = '{ext}'"
            ),
        );
    }
    (ext, signing_key)
}

#[test]
fn import_from_beta9_reads_the_platforms_secrets() {
    let Some(pg) = Pg::start("import_from_beta9_reads_the_platforms_secrets") else {
        return;
    };
    let platform = platform_db(&pg);
    let ngc_v1 = format!(
        r#"{{"version":1,"registry":"nvcr.io","type":"ngc","credentials":{{"NGC_API_KEY":"{CANARY}-ngc"}}}}"#
    );
    let ghcr = ghcr_record();
    let basic = format!(
        r#"{{"credentials":{{"PASSWORD":"{CANARY}-basic","USERNAME":"u"}},"registry":"registry.example.com:5000","type":"basic"}}"#
    );
    let (good, _) = platform_workspace(
        &pg,
        "good",
        None,
        &[
            ("oci-registry-ghcr-io", &ghcr),
            ("oci-registry-registry-example-com-5000", &basic),
            (&name_of("nvcr.io"), &ngc_v1),
            ("OPENAI_API_KEY", "not-a-registry-secret"),
        ],
    );
    // A workspace whose secret was sealed under some other key than its signing_key.
    let (bad, _) = platform_workspace(
        &pg,
        "bad",
        Some("sk_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        &[
            ("oci-registry-docker-io", &basic),
            ("oci-registry-ghcr-io", &ghcr),
        ],
    );
    pg.psql(
        "platform",
        &format!("UPDATE workspace SET signing_key = 'sk_AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=' WHERE external_id = '{bad}'"),
    );
    let before = pg.psql(
        "platform",
        "SELECT name, value, updated_at FROM workspace_secret ORDER BY id",
    );

    let (_reader, pw, url) = platform_reader(&pg, &platform);
    let import = |s: &Sandbox, ws: &str, extra: &[&str]| {
        let mut args = import_args(&url, ws, &pw);
        args.extend_from_slice(extra);
        let o = s.run(&args, b"");
        assert!(
            !o.stdout.contains(CANARY) && !o.stderr.contains(CANARY),
            "{o:?}"
        );
        o
    };

    let s = Sandbox::new();
    // --dry-run: registries and types, never values; nothing stored.
    let o = import(&s, &good, &["--dry-run"]);
    o.assert_ok();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{o:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ghcr.io\tghcr\toci-registry-ghcr-io")),
        "{o:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("registry.example.com:5000\tgeneric\t")),
        "{o:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("nvcr.io\tngc\toci-creds-")),
        "{o:?}"
    );
    assert!(o.stderr.contains("dry run"), "{o:?}");
    assert!(s.run(&["ls"], b"").stdout.trim().is_empty());

    // A wrong signing key: one line naming the secret, nothing imported.
    let o = import(&s, &bad, &[]);
    command_error(
        &o,
        &["oci-registry-", "wrong signing key", "nothing was imported"],
    );
    assert!(
        s.run(&["ls"], b"").stdout.trim().is_empty(),
        "nothing imported half-way"
    );
    command_error(
        &import(&s, "00000000-0000-0000-0000-000000000000", &[]),
        &["no workspace"],
    );
    // A password on argv is refused before anything is read (and not repeated).
    let o = s.run(
        &[
            "import",
            "--from-beta9",
            &url.replace("platform_reader@", "platform_reader:reader-pw-9e1@"),
            "--beta9-workspace",
            &good,
        ],
        b"",
    );
    command_error(&o, &["--beta9-password-file"]);
    assert!(!o.stderr.contains("reader-pw-9e1"));

    // The real import, into the local store; every record answers.
    import(&s, &good, &[]).assert_ok();
    assert_eq!(
        login(&s.get("ghcr.io")),
        ("octo".into(), format!("{CANARY}-ghcr"))
    );
    assert_eq!(
        login(&s.get("registry.example.com:5000")),
        ("u".into(), format!("{CANARY}-basic"))
    );
    assert_eq!(
        login(&s.get("nvcr.io")),
        ("$oauthtoken".into(), format!("{CANARY}-ngc"))
    );
    // And into the shared store, which another machine then answers from.
    let db = pg.database("creds");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "master.key", 0x88);
    let m1 = machine(&pg.url(&db), &key);
    import(&m1, &good, &[]).assert_ok();
    let m2 = machine(&pg.url(&db), &key);
    assert_eq!(login(&m2.get("ghcr.io")).1, format!("{CANARY}-ghcr"));
    assert!(!pg.dump(&db).contains(CANARY));
    // The platform's tables were only read.
    assert_eq!(
        pg.psql(
            "platform",
            "SELECT name, value, updated_at FROM workspace_secret ORDER BY id"
        ),
        before
    );
}

#[test]
fn rekey_over_postgres_survives_an_interruption() {
    use docker_credential_beta9::env::Env;
    use docker_credential_beta9::seal::Key;
    use docker_credential_beta9::store::keys;
    use docker_credential_beta9::store::postgres;

    let Some(pg) = Pg::start("rekey_over_postgres_survives_an_interruption") else {
        return;
    };
    let (db, _keys_dir, k1, k2, url) = rotation_setup(&pg);
    let a1 = machine(&url, &k1);
    let regs: Vec<String> = (0..6).map(|i| format!("r{i}.example")).collect();
    for r in &regs {
        a1.store(r, "u", &format!("v-{r}")).assert_ok();
    }
    // B read everything with the old key: its local copies are sealed under k1.
    let mut b = machine(&url, &k1);
    for r in &regs {
        assert_eq!(login(&b.get(r)).1, format!("v-{r}"));
    }

    // Interrupted rotation, as a crash would leave it: both keys parked, the key check marked,
    // half the rows re-sealed.
    let env = Env::from_pairs([
        ("BETA9_STORE_URL", url.as_str()),
        ("BETA9_CREDENTIALS_KEY_FILE", k1.to_str().unwrap()),
    ]);
    let store = postgres::from_env(&env, docker_credential_beta9::timeout::DEFAULT).unwrap();
    let (old, new) = (Key::from_bytes([0x01; 32]), Key::from_bytes([0x02; 32]));
    let source = docker_credential_beta9::store::key::KeySource::File(k1.clone());
    assert_eq!(
        keys::start_rotation(&store, &source, &old, &new).unwrap(),
        1
    );
    reseal_entries(&store, &regs[..3], &old, &new);
    drop(store);
    // Mid-rotation, every row opens with either key, and writes seal with the next one.
    let a2 = machine(&url, &k2);
    for (m, ttl) in [(&a1, "0"), (&a2, "0")] {
        for r in &regs {
            let out = m.run_env(&["get"], r.as_bytes(), &[("BETA9_STORE_CACHE_TTL", ttl)]);
            assert_eq!(login(&out).1, format!("v-{r}"));
        }
    }
    a1.store("late.example", "u", "v-late").assert_ok();

    // The rerun finishes the same rotation.
    let o = a1.run(&["rekey", "--new-key-file", k2.to_str().unwrap()], b"");
    o.assert_ok();
    assert!(o.stdout.contains("rekeyed 3 entries"), "{o:?}");
    assert!(o.stdout.contains("(4 already under the new key)"), "{o:?}");
    // Every machine now needs k2: B switched its key file and still holds k1-sealed copies
    // within its TTL; they no longer open, so it asks the database again.
    b.set_env("BETA9_CREDENTIALS_KEY_FILE", k2.to_str().unwrap());
    for r in regs
        .iter()
        .chain(std::iter::once(&"late.example".to_string()))
    {
        assert_eq!(
            login(&b.get(r)).1,
            format!("v-{r}").replace("v-late.example", "v-late")
        );
    }
    verb_error(&a1.store("x.example", "u", "p"), &["wrong key"]);
    a2.store("x.example", "u", "p").assert_ok();
    assert!(
        pg.psql(&db, "SELECT count(*) FROM beta9_credentials_base")
            .trim()
            == "1"
    );
}

/// Everything a pod gets from Kubernetes Secrets (the master key, the store's password, the
/// server's CA, the platform reader's password) is a `name -> ..data/name` link the kubelet wrote.
#[test]
fn files_mounted_by_the_kubelet_serve_the_store_and_the_platform_import() {
    let Some(pg) =
        Pg::start("files_mounted_by_the_kubelet_serve_the_store_and_the_platform_import")
    else {
        return;
    };
    let db = pg.database("creds");
    let platform = platform_db(&pg);
    let ghcr = ghcr_record();
    let (ws, _) = platform_workspace(&pg, "mounted", None, &[("oci-registry-ghcr-io", &ghcr)]);
    let mounts = tempfile::tempdir().unwrap();
    let ca = std::fs::read(pg.ca()).unwrap();
    let files = crate::mounted_files::kubelet_volume(
        &mounts.path().join("beta9"),
        &[
            ("master.key", hex::encode([0x33; 32]).as_bytes()),
            ("db.pw", format!("{ROLE_PW}\n").as_bytes()),
            ("ca.pem", &ca),
            ("reader.pw", b"reader-pw-9e1\n"),
        ],
    );
    let [key, pw, ca, reader_pw] = [0, 1, 2, 3].map(|i| files[i].to_str().unwrap().to_string());
    let url = format!(
        "postgres://{ROLE}@127.0.0.1:{}/{db}?sslmode=verify-full&sslrootcert={ca}",
        pg.port
    );
    let mut s = machine(&url, Path::new(&key));
    s.set_env("BETA9_STORE_PASSWORD_FILE", &pw);
    s.store("registry.example.com", "ci", CANARY).assert_ok();
    assert_eq!(
        login(&s.get("registry.example.com")),
        ("ci".to_string(), CANARY.to_string())
    );
    let from = format!(
        "postgres://platform_reader@127.0.0.1:{}/{platform}?sslmode=verify-full&sslrootcert={ca}",
        pg.port
    );
    let o = s.run(
        &[
            "import",
            "--from-beta9",
            &from,
            "--beta9-workspace",
            &ws,
            "--beta9-password-file",
            &reader_pw,
        ],
        b"",
    );
    o.assert_ok();
    assert_eq!(login(&s.get("ghcr.io")).1, format!("{CANARY}-ghcr"));
}

/// Retired keys stay retired on the shared store (docs/postgres.md, "What a replay can and cannot
/// do"): a reader of the database saw every base row the rotation wrote; after it finished, they
/// hold the old key, put rows back and forge the entry under it. A machine on the new key answers
/// the forgery in no case (one line, exit 1), and no later `rekey` re-seals it.
#[test]
fn base_rows_saved_during_a_rotation_and_put_back_never_bring_the_old_key_back() {
    use docker_credential_beta9::seal::{self, Key, Purpose};

    let Some(pg) = Pg::start("base_rows_saved_during_a_rotation_and_put_back") else {
        return;
    };
    let db = pg.database("creds");
    let keys_dir = tempfile::tempdir().unwrap();
    let k1 = key_file(keys_dir.path(), "k1", 0x01);
    let k2 = key_file(keys_dir.path(), "k2", 0x02);
    let k3 = key_file(keys_dir.path(), "k3", 0x03);
    let url = pg.url(&db);
    let a1 = machine(&url, &k1);
    a1.store("ghcr.io", "u", "genuine").assert_ok();
    let name = name_of("ghcr.io");
    // The spy: every base row written from now on, in order, after the rows there already are.
    pg.psql(
        &db,
        "CREATE TABLE spy (seq bigserial, name text, sealed bytea);\
         INSERT INTO spy (name, sealed) SELECT name, sealed FROM beta9_credentials_base;\
         CREATE TABLE old_rows AS SELECT workspace, name, sealed FROM beta9_credentials;\
         CREATE FUNCTION spy() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN \
           INSERT INTO spy (name, sealed) VALUES (NEW.name, NEW.sealed); RETURN NEW; END $$;\
         CREATE TRIGGER spy AFTER INSERT OR UPDATE ON beta9_credentials_base \
           FOR EACH ROW EXECUTE FUNCTION spy();",
    );
    a1.run(&["rekey", "--new-key-file", k2.to_str().unwrap()], b"")
        .assert_ok();
    pg.psql(
        &db,
        "CREATE TABLE final AS SELECT name, sealed FROM beta9_credentials_base;\
         CREATE TABLE final_rows AS SELECT workspace, name, sealed FROM beta9_credentials;",
    );
    let mut a2 = machine(&url, &k2);
    a2.set_env("BETA9_STORE_CACHE_TTL", "0");
    assert_eq!(login(&a2.get("ghcr.io")).1, "genuine");

    // The forgery: the old row opened with the old key, another secret sealed under it.
    let old_row = hex::decode(
        pg.psql(&db, "SELECT encode(sealed, 'hex') FROM old_rows")
            .trim(),
    )
    .unwrap();
    let k = Key::from_bytes([0x01; 32]).derive("default", Purpose::Entry);
    let plain = seal::open(&k, Purpose::Entry, "default", &name, &old_row).unwrap();
    let text = String::from_utf8(plain.as_slice().to_vec()).unwrap();
    let forged = seal::seal(
        &k,
        Purpose::Entry,
        "default",
        &name,
        text.replace("genuine", "FORGED").as_bytes(),
    )
    .unwrap();
    let row = || {
        pg.psql(
            &db,
            &format!("SELECT encode(sealed, 'hex') FROM beta9_credentials WHERE name = '{name}'"),
        )
        .trim()
        .to_string()
    };
    let put_row = |hex_bytes: &str| {
        pg.psql(
            &db,
            &format!(
                "UPDATE beta9_credentials SET sealed = decode('{hex_bytes}', 'hex') WHERE name = '{name}'"
            ),
        );
    };
    // Resets the base rows to what the rotation left, runs `put_back`, forges the entry.
    let attack = |what: &str, put_back: &str| {
        pg.psql(
            &db,
            &format!(
                "DELETE FROM beta9_credentials_base;\
                 INSERT INTO beta9_credentials_base (name, sealed) SELECT name, sealed FROM final;\
                 {put_back}"
            ),
        );
        put_row(&hex::encode(&forged));
        let o = a2.get("ghcr.io");
        verb_error(&o, &["cannot decrypt", &name]);
        assert!(!o.stdout.contains("FORGED"), "{what}: {o:?}");
        // A `rekey` on the new key (resuming what looks like a rotation, or refusing) leaves
        // the forged row as it is.
        let before = row();
        let o = a2.run(&["rekey"], b"");
        assert_eq!(row(), before, "{what}: rekey re-sealed the forgery: {o:?}");
        verb_error(&a2.get("ghcr.io"), &["cannot decrypt"]);
    };
    let first = |record: &str| {
        format!(
            "DELETE FROM beta9_credentials_base WHERE name = '{record}';\
             INSERT INTO beta9_credentials_base (name, sealed) \
               SELECT name, sealed FROM spy WHERE name = '{record}' ORDER BY seq LIMIT 1;"
        )
    };
    attack("the parked old key", &first("rotation.prev"));
    attack(
        "the key check from before the rotation, with the parked keys",
        &format!(
            "{}{}{}",
            first("keycheck"),
            first("rotation.prev"),
            first("rotation.next")
        ),
    );
    // The key check from before the rotation alone: machines on the new key still read, and
    // refuse writes; it never makes them accept the old key.
    pg.psql(
        &db,
        &format!(
            "DELETE FROM beta9_credentials_base;\
             INSERT INTO beta9_credentials_base (name, sealed) SELECT name, sealed FROM final;\
             UPDATE beta9_credentials SET sealed = (SELECT sealed FROM final_rows) WHERE name = '{name}';\
             {}",
            first("keycheck")
        ),
    );
    assert_eq!(login(&a2.get("ghcr.io")).1, "genuine");
    verb_error(&a2.store("x.example", "u", "p"), &["wrong key"]);
    // An old row put back (a genuine one, sealed under the old key) does not open either.
    pg.psql(
        &db,
        "DELETE FROM beta9_credentials_base;\
         INSERT INTO beta9_credentials_base (name, sealed) SELECT name, sealed FROM final;",
    );
    put_row(&hex::encode(&old_row));
    verb_error(&a2.get("ghcr.io"), &["cannot decrypt", &name]);
    // The next real rotation leaves the row it cannot open untouched and names it.
    put_row(&hex::encode(&forged));
    let before = row();
    let o = a2.run(&["rekey", "--new-key-file", k3.to_str().unwrap()], b"");
    o.assert_ok();
    assert!(o.stderr.contains("opens with neither key"), "{o:?}");
    assert_eq!(row(), before);
}

/// A rotation an earlier version started and did not finish (records bound to their names only,
/// a key check without a generation) still finishes over PostgreSQL: machines on the old key read
/// every row meanwhile, the rerun with the old key moves the rest, and the key check then holds
/// generation 1 (docs/storage.md, "Key ownership and rotation").
#[test]
fn a_rotation_an_earlier_version_left_unfinished_finishes_over_postgres() {
    use docker_credential_beta9::env::Env;
    use docker_credential_beta9::seal::{self, Key, Purpose};
    use docker_credential_beta9::store::keys;
    use docker_credential_beta9::store::{postgres, Change, Meta, Store};

    let Some(pg) = Pg::start("a_rotation_an_earlier_version_left_unfinished") else {
        return;
    };
    let (db, _keys_dir, k1, k2, url) = rotation_setup(&pg);
    let mut a1 = machine(&url, &k1);
    a1.set_env("BETA9_STORE_CACHE_TTL", "0");
    let regs: Vec<String> = (0..4).map(|i| format!("r{i}.example")).collect();
    for r in &regs {
        a1.store(r, "u", &format!("v-{r}")).assert_ok();
    }
    let env = Env::from_pairs([
        ("BETA9_STORE_URL", url.as_str()),
        ("BETA9_CREDENTIALS_KEY_FILE", k1.to_str().unwrap()),
    ]);
    let store = postgres::from_env(&env, docker_credential_beta9::timeout::DEFAULT).unwrap();
    let (old, new) = (Key::from_bytes([0x01; 32]), Key::from_bytes([0x02; 32]));
    // What the earlier version left: its key check (label and random hex only) under the old key,
    // both keys parked by name, half the rows moved.
    let mut plain = b"docker-credential-beta9 key check v1\n".to_vec();
    plain.extend_from_slice(&[b'0'; 32]);
    let check = seal::seal(
        &old.derive("", Purpose::KeyCheck),
        Purpose::KeyCheck,
        "",
        "keycheck",
        &plain,
    )
    .unwrap();
    for (meta, sealed) in [
        (Meta::KeyCheck, check),
        (
            Meta::RotationPrev,
            keys::seal_parked_legacy(Meta::RotationPrev, &old, &new).unwrap(),
        ),
        (
            Meta::RotationNext,
            keys::seal_parked_legacy(Meta::RotationNext, &new, &old).unwrap(),
        ),
    ] {
        store
            .update_meta(meta, &mut |_| Ok(Change::Put(sealed.clone())))
            .unwrap();
    }
    reseal_entries(&store, &regs[..2], &old, &new);
    drop(store);
    for r in &regs {
        assert_eq!(login(&a1.get(r)).1, format!("v-{r}"));
    }
    // The machine on the new key is not handed the old key by a record bound to nothing but its
    // name: it reads the moved rows only, until the rotation is finished.
    let mut a2 = machine(&url, &k2);
    a2.set_env("BETA9_STORE_CACHE_TTL", "0");
    assert_eq!(login(&a2.get(&regs[0])).1, format!("v-{}", regs[0]));
    verb_error(&a2.get(&regs[3]), &["cannot decrypt"]);
    let o = a1.run(&["rekey", "--new-key-file", k2.to_str().unwrap()], b"");
    o.assert_ok();
    assert!(o.stdout.contains("rekeyed 2 entries"), "{o:?}");
    for r in &regs {
        assert_eq!(login(&a2.get(r)).1, format!("v-{r}"));
    }
    let check = hex::decode(
        pg.psql(
            &db,
            "SELECT encode(sealed, 'hex') FROM beta9_credentials_base WHERE name = 'keycheck'",
        )
        .trim(),
    )
    .unwrap();
    assert_eq!(keys::open_check(&new, &check), Some(keys::Check::Steady(1)));
    assert_eq!(
        pg.psql(&db, "SELECT count(*) FROM beta9_credentials_base")
            .trim(),
        "1"
    );
}

/// The import policy (docs/records.md, "Import policy") for `--from-beta9`: a tenant's secret
/// that selects the worker's own AWS identity refuses the whole batch, in one line naming the
/// secret and the setting, before anything is written; the operator's allowance lets it through.
#[test]
fn import_from_beta9_refuses_a_batch_holding_a_record_that_uses_the_machine() {
    let Some(pg) =
        Pg::start("import_from_beta9_refuses_a_batch_holding_a_record_that_uses_the_machine")
    else {
        return;
    };
    let platform = platform_db(&pg);
    let ghcr = ghcr_record();
    let ecr = "111111111111.dkr.ecr.us-east-1.amazonaws.com";
    let ambient = format!(
        r#"{{"credentials":{{"AWS_CREDENTIALS_SOURCE":"ambient"}},"registry":"{ecr}","type":"aws"}}"#
    );
    let (ws, _) = platform_workspace(
        &pg,
        "tenant",
        None,
        &[
            ("oci-registry-ghcr-io", &ghcr),
            ("oci-registry-ecr", &ambient),
        ],
    );
    let (_reader, pw, url) = platform_reader(&pg, &platform);
    let args = import_args(&url, &ws, &pw);
    let s = Sandbox::new();
    for extra in [&[][..], &["--dry-run"][..]] {
        let all: Vec<&str> = args.iter().copied().chain(extra.iter().copied()).collect();
        let o = s.run(&all, b"");
        assert_eq!(o.code, 1, "{o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
        for words in [
            "platform secret oci-registry-ecr",
            &format!("refusing to import the record for {ecr}"),
            "add aws-ambient to BETA9_IMPORT_ALLOW",
            "nothing was imported",
        ] {
            assert!(o.stderr.contains(words), "{words}: {o:?}");
        }
        assert!(
            !o.stderr.contains(CANARY) && !o.stdout.contains(CANARY),
            "{o:?}"
        );
        assert_eq!(s.list().stdout, "{}\n", "nothing stored, ghcr.io neither");
    }
    let o = s.run_env(&args, b"", &[("BETA9_IMPORT_ALLOW", "aws-ambient")]);
    o.assert_ok();
    let listed = s.list().json();
    assert_eq!(listed.as_object().unwrap().len(), 2, "{listed}");
}

/// Every file under the sandbox larger than `bytes`.
fn files_larger_than(s: &Sandbox, bytes: u64) -> Vec<PathBuf> {
    s.files()
        .into_iter()
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > bytes))
        .collect()
}

#[test]
fn oversized_rows_are_refused_by_the_database_and_never_copied() {
    let Some(pg) = Pg::start("oversized_rows_are_refused_by_the_database_and_never_copied") else {
        return;
    };
    let db = pg.database("creds");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "master.key", 0x99);
    let a = machine(&pg.url(&db), &key);
    for r in ["big.example", "fine.example"] {
        a.store(r, "u", &format!("{CANARY}-{r}")).assert_ok();
    }
    // 200 MB appended to one row.
    pg.psql(
        &db,
        &format!(
            "UPDATE beta9_credentials SET sealed = sealed || convert_to(repeat('x', 200 * 1024 * 1024), 'SQL_ASCII') WHERE name = '{}'",
            name_of("big.example")
        ),
    );
    let b = machine(&pg.url(&db), &key);
    let (o, rss) = b.run_max_rss(&["get"], b"big.example", &[]);
    let Some(rss) = rss else { return };
    eprintln!("peak RSS of a get facing a 200 MB sealed row: {rss} KiB");
    verb_error(&o, &[&name_of("big.example"), "more than", "not read"]);
    assert!(
        files_larger_than(&b, 1 << 20).is_empty(),
        "a local copy of the oversized row: {:?}",
        files_larger_than(&b, 1 << 20)
    );
    // Generous: reading the row whole took over 800 MB.
    assert!(rss < 150 * 1024, "peak RSS {rss} KiB");
    // The other rows still answer, and `list` names the oversized one.
    assert_eq!(
        login(&b.get("fine.example")).1,
        format!("{CANARY}-fine.example")
    );
    let listed = b.list();
    assert!(
        !listed.stdout.contains(CANARY) || listed.code == 0,
        "{listed:?}"
    );
}

#[test]
fn an_oversized_platform_secret_is_refused_by_the_database() {
    let Some(pg) = Pg::start("an_oversized_platform_secret_is_refused_by_the_database") else {
        return;
    };
    let platform = platform_db(&pg);
    let ghcr = ghcr_record();
    let (ws, _) = platform_workspace(&pg, "big", None, &[("oci-registry-ghcr-io", &ghcr)]);
    pg.psql(
        "platform",
        "UPDATE workspace_secret SET value = value || repeat('A', 200 * 1024 * 1024)",
    );
    let (_reader, pw, url) = platform_reader(&pg, &platform);
    let s = Sandbox::new();
    let (o, rss) = s.run_max_rss(&import_args(&url, &ws, &pw), b"", &[]);
    let Some(rss) = rss else { return };
    eprintln!("peak RSS of an import facing a 200 MB platform secret: {rss} KiB");
    command_error(
        &o,
        &["oci-registry-ghcr-io", "more than", "nothing was imported"],
    );
    assert!(s.run(&["ls"], b"").stdout.trim().is_empty());
    // Generous: reading the value whole took over 500 MB.
    assert!(rss < 150 * 1024, "peak RSS {rss} KiB");
}

#[test]
fn import_from_beta9_verify_checks_every_record_before_storing_any() {
    let t = "postgres::import_from_beta9_verify_checks_every_record_before_storing_any";
    let Some(pg) = Pg::start(t) else {
        return;
    };
    if !crate::registry_env::tools_present(t, &["docker-registry", "htpasswd"]) {
        return;
    }
    let platform = platform_db(&pg);
    let good = crate::registry_env::Registry::start("verify-user", CANARY);
    let other_pw = format!("{CANARY}-other");
    let other = crate::registry_env::Registry::start("verify-user", &other_pw);
    let record = |host: &str, pw: &str| {
        serde_json::json!({"registry": host, "type": "basic", "credentials": {"USERNAME": "verify-user", "PASSWORD": pw}}).to_string()
    };
    let (one_wrong, _) = platform_workspace(
        &pg,
        "one-wrong",
        None,
        &[
            ("oci-registry-good", &record(&good.host, CANARY)),
            ("oci-registry-other", &record(&other.host, CANARY)),
        ],
    );
    let (all_right, _) = platform_workspace(
        &pg,
        "all-right",
        None,
        &[
            ("oci-registry-good", &record(&good.host, CANARY)),
            ("oci-registry-other", &record(&other.host, &other_pw)),
        ],
    );
    let (_reader, pw, url) = platform_reader(&pg, &platform);
    let import = |s: &Sandbox, ws: &str, extra: &[&str]| {
        let mut args = import_args(&url, ws, &pw);
        args.push("--verify");
        args.extend_from_slice(extra);
        let o = s.run(&args, b"");
        assert!(
            !o.stdout.contains(CANARY) && !o.stderr.contains(CANARY),
            "{o:?}"
        );
        o
    };
    let mut s = Sandbox::new();
    s.set_env("BETA9_TIMEOUT", "5");
    // Loopback registries are the operator's to open (docs/records.md, "Verify targets"): until
    // then the first secret is refused as the import policy refuses one, and nothing is imported.
    let o = import(&s, &all_right, &[]);
    assert_eq!((o.code, o.stderr.lines().count()), (1, 1), "{o:?}");
    for words in [
        &format!("error: platform secret oci-registry-good of workspace {all_right}: refusing to import the record for {}: ", good.host),
        "a loopback address",
        "nothing was imported",
    ] {
        assert!(o.stderr.contains(words), "{words}: {o:?}");
    }
    assert_eq!(s.list().stdout, "{}\n");
    s.set_env("BETA9_IMPORT_ALLOW", "verify-host:127.0.0.1");
    // The good record is checked first and passes; the second is refused: nothing is imported.
    for extra in [&[][..], &["--dry-run"][..]] {
        let o = import(&s, &one_wrong, extra);
        assert_eq!(o.code, 1, "{o:?}");
        assert_eq!(o.stderr.lines().count(), 1, "{o:?}");
        for words in [
            "error: platform secret oci-registry-other: ",
            &format!("{} rejected the login: 401 UNAUTHORIZED", other.host),
            "nothing was imported",
        ] {
            assert!(o.stderr.contains(words), "{words}: {o:?}");
        }
        assert_eq!(
            s.list().stdout,
            "{}\n",
            "nothing stored, the good one neither"
        );
    }
    let o = import(&s, &all_right, &[]);
    o.assert_ok();
    assert_eq!(o.stderr.matches("verified: ").count(), 2, "{o:?}");
    assert_eq!(
        s.list().json(),
        serde_json::json!({ &good.host: "verify-user", &other.host: "verify-user" })
    );
}

/// An expiring entry in the shared store: its expiry is in the sealed row, so every machine sees
/// it expire, and `prune` on any machine deletes the row.
#[test]
fn prune_removes_expired_rows_from_the_shared_store() {
    let Some(pg) = Pg::start("prune_removes_expired_rows_from_the_shared_store") else {
        return;
    };
    let db = pg.database("creds");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "master.key", 0x5a);
    let mut a = machine(&pg.url(&db), &key);
    a.set_env("BETA9_STORE_CACHE_TTL", "0");
    let mut b = machine(&pg.url(&db), &key);
    b.set_env("BETA9_STORE_CACHE_TTL", "0");
    let record = |registry: &str| {
        serde_json::json!({"version": 1, "registry": registry, "type": "generic",
            "credentials": {"USERNAME": "u", "PASSWORD": CANARY}})
        .to_string()
    };
    a.run(&["import"], record("kept.example").as_bytes())
        .assert_ok();
    a.run(
        &["import", "--expires-in", "2s"],
        record("brief.example").as_bytes(),
    )
    .assert_ok();
    assert_eq!(login(&b.get("brief.example")).1, CANARY);
    let start = std::time::Instant::now();
    while b.get("brief.example").code == 0 {
        assert!(start.elapsed() < Duration::from_secs(15), "never expired");
        std::thread::sleep(Duration::from_millis(100));
    }
    not_found(&a.get("brief.example"));
    let rows = || pg.psql(&db, "SELECT name FROM beta9_credentials ORDER BY name");
    assert!(rows().contains(&name_of("brief.example")));
    let dry = b.run(&["prune", "--dry-run"], b"");
    assert!(dry.assert_ok().stdout.contains("brief.example"), "{dry:?}");
    assert!(
        rows().contains(&name_of("brief.example")),
        "dry run kept the row"
    );
    let done = a.run(&["prune"], b"");
    assert!(done.assert_ok().stdout.starts_with(&format!(
        "brief.example\t{}\tdefault\texpired ",
        name_of("brief.example")
    )));
    assert!(
        !rows().contains(&name_of("brief.example")),
        "the row is gone"
    );
    assert!(rows().contains(&name_of("kept.example")));
    assert_eq!(login(&b.get("kept.example")).1, CANARY);
}

/// Seals one value with a platform workspace's signing key, as the platform would.
fn platform_seal(signing_key: &str, name: &str, plain: &str) -> String {
    let req = serde_json::json!({"signing_key": signing_key, "secrets": {name: plain}});
    platform_cipher(&req)[name].as_str().unwrap().to_string()
}

/// The platform's cipher (tests/support/beta9_secrets.py, Python `cryptography`) on `req`
/// (`{"signing_key": …, "secrets": {name: plain}}`): the sealed values by name, and
/// `__signing_key` when it made one.
fn platform_cipher(req: &serde_json::Value) -> serde_json::Value {
    let mut c = Command::new(python());
    c.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/beta9_secrets.py"
    ));
    let out = crate::support::run_stdin(c, req.to_string().as_bytes());
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

/// `import --from-beta9 … --sync`: the workspace follows the platform (add, change, delete on the
/// platform side), and entries the sync did not write survive, even for a registry it has.
#[test]
fn import_sync_mirrors_the_platform_workspace_and_leaves_other_entries_alone() {
    let Some(pg) =
        Pg::start("import_sync_mirrors_the_platform_workspace_and_leaves_other_entries_alone")
    else {
        return;
    };
    let platform = platform_db(&pg);
    let generic = |registry: &str, password: &str| {
        format!(
            r#"{{"version":1,"registry":"{registry}","type":"generic","credentials":{{"USERNAME":"u","PASSWORD":"{password}"}}}}"#
        )
    };
    let (ws, signing_key) = platform_workspace(
        &pg,
        "synced",
        None,
        &[
            (
                "oci-registry-a",
                &generic("a.example.com", &format!("{CANARY}-a1")),
            ),
            (
                "oci-registry-b",
                &generic("b.example.com", &format!("{CANARY}-b1")),
            ),
            (
                "oci-registry-hand",
                &generic("hand.example.com", "platform-hand"),
            ),
        ],
    );
    let (_reader, pw, url) = platform_reader(&pg, &platform);
    let s = Sandbox::new();
    let sync = |extra: &[&str]| {
        let mut args = import_args(&url, &ws, &pw);
        args.push("--sync");
        args.extend_from_slice(extra);
        let o = s.run(&args, b"");
        o.assert_ok();
        assert!(
            !o.stdout.contains(CANARY) && !o.stderr.contains(CANARY),
            "{o:?}"
        );
        let mut lines: Vec<String> = o
            .stdout
            .lines()
            .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
            .collect();
        lines.sort();
        lines
    };
    // Entries the sync must never touch: one by hand for a registry the platform also has, one
    // imported from stdin.
    s.run_env(
        &["add", "hand.example.com", "USERNAME", "PASSWORD"],
        b"",
        &[("USERNAME", "me"), ("PASSWORD", "by-hand")],
    )
    .assert_ok();
    s.run(
        &["import"],
        generic("other.example.com", "from-stdin").as_bytes(),
    )
    .assert_ok();

    assert_eq!(
        sync(&["--dry-run"]),
        [
            "add a.example.com",
            "add b.example.com",
            "skip hand.example.com"
        ]
    );
    not_found(&s.get("a.example.com"));
    assert_eq!(
        sync(&[]),
        [
            "add a.example.com",
            "add b.example.com",
            "skip hand.example.com"
        ]
    );
    assert_eq!(login(&s.get("a.example.com")).1, format!("{CANARY}-a1"));
    let ls = s.run(&["ls", "--json"], b"").json();
    let origin = |r: &str| {
        ls.as_array()
            .unwrap()
            .iter()
            .find(|e| e["registry"] == r)
            .map(|e| e["origin"].clone())
            .unwrap()
    };
    assert_eq!(origin("a.example.com"), format!("beta9:{ws}").as_str());
    assert_eq!(origin("hand.example.com"), "add");
    assert_eq!(origin("other.example.com"), "import");

    // On the platform: a changed, b deleted, c added.
    let a2 = platform_seal(
        &signing_key,
        "oci-registry-a",
        &generic("a.example.com", &format!("{CANARY}-a2")),
    );
    pg.psql(
        "platform",
        &format!("UPDATE workspace_secret SET value = '{a2}' WHERE name = 'oci-registry-a'"),
    );
    pg.psql(
        "platform",
        "DELETE FROM workspace_secret WHERE name = 'oci-registry-b'",
    );
    let c = platform_seal(
        &signing_key,
        "oci-registry-c",
        &generic("c.example.com", &format!("{CANARY}-c1")),
    );
    pg.psql(
        "platform",
        &format!(
            "INSERT INTO workspace_secret (name, value, workspace_id) \
             SELECT 'oci-registry-c', '{c}', id FROM workspace WHERE external_id = '{ws}'"
        ),
    );
    let plan = [
        "add c.example.com",
        "remove b.example.com",
        "replace a.example.com",
        "skip hand.example.com",
    ];
    assert_eq!(sync(&["--dry-run"]), plan);
    assert_eq!(
        login(&s.get("a.example.com")).1,
        format!("{CANARY}-a1"),
        "dry run"
    );
    assert_eq!(sync(&[]), plan);
    assert_eq!(login(&s.get("a.example.com")).1, format!("{CANARY}-a2"));
    assert_eq!(login(&s.get("c.example.com")).1, format!("{CANARY}-c1"));
    not_found(&s.get("b.example.com"));
    assert_eq!(login(&s.get("hand.example.com")).1, "by-hand");
    assert_eq!(login(&s.get("other.example.com")).1, "from-stdin");
    // Nothing changed on the platform: nothing to do.
    assert_eq!(
        sync(&[]),
        [
            "skip hand.example.com",
            "unchanged a.example.com",
            "unchanged c.example.com"
        ]
    );
}

#[test]
fn refresh_on_a_new_machine_covers_every_workspace_of_the_shared_store() {
    let Some(pg) = Pg::start("refresh_on_a_new_machine_covers_every_workspace_of_the_shared_store")
    else {
        return;
    };
    let Some(moto) = crate::moto_env::Moto::start() else {
        return;
    };
    let db = pg.database("creds");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path(), "master.key", 0x33);
    let url = pg.url(&db);
    let a = machine(&url, &key);
    let hosts = [
        ("default", "123456789012.dkr.ecr.us-east-1.amazonaws.com"),
        ("team-b", "123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
    ];
    for (ws, host) in hosts {
        a.run_env(
            &[
                "--workspace",
                ws,
                "add",
                host,
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
            ],
            b"",
            &[
                ("AWS_ACCESS_KEY_ID", "AKIABETA9PGREFRESH01"),
                ("AWS_SECRET_ACCESS_KEY", CANARY),
            ],
        )
        .assert_ok();
    }
    // A machine that has never seen the store: its workspaces come from the database.
    let mut b = machine(&url, &key);
    b.set_env("AWS_ENDPOINT_URL_ECR", &moto.endpoint);
    let out = b.run(&["refresh"], b"");
    out.assert_ok();
    assert!(!out.stdout.contains(CANARY) && !out.stderr.contains(CANARY));
    for (ws, host) in hosts {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(&format!("refreshed {host} in workspace {ws}:"))),
            "{out:?}"
        );
        b.run(&["--workspace", ws, "get"], host.as_bytes())
            .assert_ok();
    }
    assert_eq!(moto.count(), 2, "the gets after refresh made no call");
}
