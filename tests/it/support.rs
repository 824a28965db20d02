//! Shared test fixtures: a sandbox per test (its own HOME, store, key and cache, nothing from the
//! caller's environment), the real binary run as docker runs it, and the CANARY secret.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

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

    pub fn key_file(&self) -> PathBuf {
        self.home()
            .join(".config/docker-credential-beta9/master.key")
    }

    /// Adds an environment variable to every later run.
    pub fn set_env(&mut self, k: &str, v: &str) {
        self.extra_env.push((k.to_string(), v.to_string()));
    }

    /// The binary with a clean environment: PATH, HOME and the store, nothing inherited.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .env_clear()
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

    pub fn run_with(&self, mut c: Command, stdin: &[u8]) -> Out {
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
                    let path = e.path();
                    if path.is_dir() {
                        walk(&path, out);
                    } else {
                        out.push(path);
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

/// A free TCP port on 127.0.0.1 (bound then released; callers retry on a lost race).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The secret-name vector file format: `registry<TAB>oci-creds-...` per line.
pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}
