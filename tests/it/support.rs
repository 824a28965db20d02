//! Shared test fixtures: a sandbox per test (its own HOME, store, key and cache, nothing from the
//! caller's environment), the real binary run as docker runs it, the CANARY secret, and the one
//! switch for tests that need an external tool (`tool_missing`).

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// A secret value that must never show up anywhere but a `get`/`export` answer and the encrypted
/// store. Tests grep stdout, stderr and every file for it.
pub const CANARY: &str = "CANARY-7f3e9b1c-never-leak";

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_docker-credential-beta9"))
}

/// What a run printed and how it ended.
#[derive(Debug)]
pub struct Out {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Out {
    fn from(o: Output) -> Out {
        Out {
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            code: o.status.code().unwrap_or(-1),
        }
    }

    /// Parsed JSON of stdout.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {:?}", self.stdout))
    }

    pub fn assert_ok(&self) -> &Out {
        assert_eq!(self.code, 0, "expected success: {self:?}");
        self
    }
}

/// One test's private world: HOME, XDG dirs, store and cache under one temp dir.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    extra_env: Vec<(String, String)>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("beta9-it-")
            .tempdir()
            .expect("tempdir");
        Sandbox {
            dir,
            extra_env: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// The explicit store base the binary is pointed at.
    pub fn store_base(&self) -> PathBuf {
        self.path().join("store")
    }

    /// The default workspace's entry directory.
    pub fn entries_dir(&self) -> PathBuf {
        self.store_base().join("workspaces/default")
    }

    /// The generated key of this sandbox's store base: each base has its own
    /// (`stores/<16 hex of SHA-256 over the base path>.key`, docs/storage.md, "Key sources").
    pub fn key_file(&self) -> PathBuf {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.store_base().as_os_str().as_encoded_bytes());
        self.home()
            .join(".config/docker-credential-beta9/stores")
            .join(format!("{}.key", hex::encode(&digest[..8])))
    }

    /// Evidence of a rotation in progress: the next key parked in the store base.
    pub fn rotation_parked(&self) -> bool {
        self.store_base().join("rotation.next").exists()
    }

    /// Writes the record `json` into this sandbox's store through the library, as `import`
    /// writes it.
    pub fn save_record(&self, json: &serde_json::Value) {
        use docker_credential_beta9::{actions, context::Context, env::Env, record::Record};
        let record = Record::decode(json.to_string().as_bytes(), None).unwrap();
        let (home, store) = (self.home(), self.store_base());
        let env = Env::from_pairs([
            ("HOME", home.to_str().unwrap()),
            ("BETA9_CREDENTIALS_DIR", store.to_str().unwrap()),
        ]);
        actions::save(&Context::from_env(env, None).unwrap(), &record, None).unwrap();
    }

    /// Adds an environment variable to every later run.
    pub fn set_env(&mut self, k: &str, v: &str) {
        self.extra_env.push((k.to_string(), v.to_string()));
    }

    /// The binary with a clean environment: PATH, HOME and the store, nothing inherited.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.command(bin());
        c.args(args);
        c
    }

    /// `program` with the environment `cmd` gives the binary.
    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", self.home())
            .env("BETA9_CREDENTIALS_DIR", self.store_base())
            .current_dir(self.path());
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Out {
        self.run_with(self.cmd(args), stdin)
    }

    pub fn run_env(&self, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Out {
        let mut c = self.cmd(args);
        for (k, v) in env {
            c.env(k, v);
        }
        self.run_with(c, stdin)
    }

    /// `lines` pasted into `shell` (`sh`, `bash`) as a person would: the binary's directory
    /// first on PATH, this sandbox's home and store, nothing else from the test's environment.
    pub fn pasted(&self, shell: &str, lines: &[&str], stdin: &[u8]) -> Out {
        let bin_dir = bin().parent().unwrap().to_path_buf();
        let mut c = Command::new(shell);
        c.arg("-c")
            .arg(lines.join("\n"))
            .env_clear()
            .env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display()))
            .env("HOME", self.home())
            .env("BETA9_CREDENTIALS_DIR", self.store_base());
        self.run_with(c, stdin)
    }

    pub fn run_with(&self, c: Command, stdin: &[u8]) -> Out {
        run_stdin(c, stdin)
    }

    /// Runs the binary as `run_env` does, under `strace -f -qq -e trace=FILTER` (e.g. `network`,
    /// `execve,execveat`): what it printed, and the trace. Check `strace_usable` first.
    pub fn run_traced(
        &self,
        filter: &str,
        args: &[&str],
        stdin: &[u8],
        env: &[(&str, &str)],
    ) -> (Out, String) {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let file = self.path().join(format!(
            "strace-{}.log",
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let mut c = self.command("strace");
        c.args(["-f", "-qq", "-e", &format!("trace={filter}"), "-o"])
            .arg(&file)
            .arg(bin())
            .args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = self.run_with(c, stdin);
        let trace = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("no strace output ({e}): {out:?}"));
        // Not left for `files()` / `assert_not_on_disk` to find.
        let _ = std::fs::remove_file(&file);
        (out, trace)
    }

    /// `store` as docker sends it.
    pub fn store(&self, url: &str, user: &str, secret: &str) -> Out {
        let body = serde_json::json!({"ServerURL": url, "Username": user, "Secret": secret});
        self.run(&["store"], body.to_string().as_bytes())
    }

    pub fn get(&self, url: &str) -> Out {
        self.run(&["get"], url.as_bytes())
    }

    pub fn erase(&self, url: &str) -> Out {
        self.run(&["erase"], url.as_bytes())
    }

    pub fn list(&self) -> Out {
        self.run(&["list"], b"")
    }

    /// Every regular file under the sandbox (store, key, cache, home).
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(p: &Path, out: &mut Vec<PathBuf>) {
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    // Links are not followed: a link to the helper binary (a PATH stand-in) is
                    // not data the test wrote, and reading it scanned 250 MB per call.
                    let Ok(kind) = e.file_type() else { continue };
                    if kind.is_dir() {
                        walk(&e.path(), out);
                    } else if kind.is_file() {
                        out.push(e.path());
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(self.path(), &mut out);
        out
    }

    /// In-flight temp files (`.tmp-*`) anywhere under the sandbox: leftovers of a write.
    pub fn temp_files(&self) -> Vec<PathBuf> {
        self.files()
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"))
            })
            .collect()
    }

    /// Fails if `needle` appears in the bytes of any file under the sandbox.
    pub fn assert_not_on_disk(&self, needle: &str) {
        for f in self.files() {
            let bytes = std::fs::read(&f).unwrap_or_default();
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} found in plaintext in {}",
                f.display()
            );
        }
    }
}

/// Runs `c` with `stdin` written to it (and closed), stdout and stderr captured.
pub fn run_stdin(mut c: Command, stdin: &[u8]) -> Out {
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn helper");
    {
        let mut si = child.stdin.take().expect("stdin");
        // The helper may exit before reading everything (e.g. `list`): ignore EPIPE.
        let _ = si.write_all(stdin);
    }
    Out::from(child.wait_with_output().expect("wait"))
}

/// A free TCP port on 127.0.0.1 (bound then released; callers retry on a lost race).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The test harness's own knobs (not the helper's environment, which src/env.rs owns).
#[allow(clippy::disallowed_methods)]
pub fn knob(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The one switch for external tools (moto, the Google stub's python cryptography, the keyring
/// session, strace, docker-registry, skopeo, the docker CLI, docker-py): `BETA9_REQUIRE_TOOLS=1`
/// (scripts/test.sh) makes a missing one a failure instead of a skip.
pub fn tools_required() -> bool {
    knob("BETA9_REQUIRE_TOOLS").as_deref() == Some("1")
}

/// `test` cannot run because `what` is missing or unusable (`reason`): panics under
/// `BETA9_REQUIRE_TOOLS=1`, otherwise prints `skipping: ...` on stderr and returns true, for
/// `if tool_missing(..) { return; }`.
pub fn tool_missing(test: &str, what: &str, reason: &str) -> bool {
    assert!(
        !tools_required(),
        "{test}: {what} is required (BETA9_REQUIRE_TOOLS=1) but unavailable: {reason}\n\
         (scripts/install-test-deps.sh installs the test tools; without BETA9_REQUIRE_TOOLS=1 \
         such a test skips)"
    );
    eprintln!("skipping: {test}: {what} unavailable: {reason}");
    true
}

/// The running test's name (libtest names each test's thread after it), for skip messages.
pub fn current_test() -> String {
    std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_string()
}

/// strace is installed and may trace here. Otherwise the test skips (false) or, under
/// `BETA9_REQUIRE_TOOLS=1`, fails.
pub fn strace_usable(test: &str) -> bool {
    let reason = match Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .output()
    {
        Ok(o) if o.status.success() => return true,
        Ok(o) => format!(
            "cannot trace here ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cannot run strace: {e}"),
    };
    !tool_missing(test, "strace", &reason)
}

impl Sandbox {
    /// Runs the binary as `run_env` does, under GNU time (`/usr/bin/time -f %M`): what it printed,
    /// and its peak resident set size in KiB, or `None` (after `tool_missing`) without GNU time.
    pub fn run_max_rss(
        &self,
        args: &[&str],
        stdin: &[u8],
        env: &[(&str, &str)],
    ) -> (Out, Option<u64>) {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let file = self
            .path()
            .join(format!("time-{}.txt", SEQ.fetch_add(1, Ordering::Relaxed)));
        let mut c = self.command("/usr/bin/time");
        c.args(["-f", "%M", "-o"]).arg(&file).arg(bin()).args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = self.run_with(c, stdin);
        let kib = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| t.lines().last()?.trim().parse().ok());
        let _ = std::fs::remove_file(&file);
        if kib.is_none() {
            tool_missing(&current_test(), "GNU time (/usr/bin/time)", "no %M output");
        }
        (out, kib)
    }
}

/// A test CA in `dir` (`ca.pem`, `ca.key`: EC P-256, subject `CN=ca_cn`, two days) and, per
/// `(name, subjectAltName, days)`, a server certificate it signs (`NAME.pem`, `NAME.key`, subject
/// `CN=server_cn`; negative `days` is expired from the start), made with the openssl CLI.
/// `Err(why)` when openssl fails.
pub fn make_test_certs(
    dir: &Path,
    ca_cn: &str,
    server_cn: &str,
    servers: &[(&str, &str, &str)],
) -> Result<(), String> {
    let run = |args: &[&str]| -> Result<(), String> {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("cannot run openssl: {e}"))?;
        if o.status.success() {
            Ok(())
        } else {
            Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            ))
        }
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca_subj = format!("/CN={ca_cn}");
    let ca = ["req", "-x509", "-days", "2", "-subj", &ca_subj];
    run(&[&ca[..], &["-keyout", "ca.key", "-out", "ca.pem"], &ec].concat())?;
    let server_subj = format!("/CN={server_cn}");
    for (name, san, days) in servers {
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        std::fs::write(
            dir.join(&ext),
            format!(
                "subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let req = ["req", "-subj", &server_subj, "-keyout", &key, "-out", &csr];
        run(&[&req[..], &ec].concat())?;
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            days,
            "-extfile",
            &ext,
            "-out",
            &pem,
        ])?;
    }
    Ok(())
}
