//! Test environment for real-client interop tests: a local `docker-registry` (distribution 2.8,
//! Debian package `docker-registry`) behind htpasswd basic auth on 127.0.0.1, a tiny OCI image
//! built by hand (no network), and bounded runs of `skopeo` / other clients.
//!
//! Needs: `docker-registry`, `htpasswd` (apache2-utils), `skopeo` — see
//! `scripts/install-test-deps.sh`. Tests check `have(...)` first and call
//! `support::tool_missing` for what is missing (a skip, or a failure under `BETA9_REQUIRE_TOOLS=1`).
//! The registry runs under `harness::ServerSpec`.
//!
//! Verified behaviour (skopeo 1.9.3 / containers-image 5.23, docker CLI 28.2):
//! - an auth.json `{"credHelpers":{"127.0.0.1:PORT":"NAME"}}` makes skopeo run
//!   `docker-credential-NAME get` from PATH with stdin `127.0.0.1:PORT` (no scheme, no newline);
//!   a helper answering "credentials not found in native keychain" (exit 1) means anonymous,
//!   so the registry answers `unauthorized: authentication required`.
//! - `skopeo copy` to `docker://` gzips uncompressed layers unless `--preserve-digests` is given;
//!   `push_tiny_image` passes it, so the pushed manifest digest equals the local one.

use crate::harness::{Ready, Server, ServerSpec};
use crate::support::free_port;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Where Debian's `docker-registry` package puts the binary.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// How long any one client command may run before it is killed.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the registry gets to answer `GET /v2/` with 401.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// True when `cmd` is an executable file on PATH (or, with a `/`, at that path).
/// True when every tool is here. Otherwise skips (false) or, under BETA9_REQUIRE_TOOLS=1, fails.
pub fn tools_present(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| match *t {
            "docker-registry" => !have(REGISTRY_BIN) && !have("docker-registry"),
            t => !have(t),
        })
        .collect();
    missing.is_empty()
        || !crate::support::tool_missing(test, &missing.join(", "), "not found on PATH")
}

pub fn have(cmd: &str) -> bool {
    if cmd.contains('/') {
        return is_executable(Path::new(cmd));
    }
    #[allow(clippy::disallowed_methods)] // test harness: PATH lookup, not configuration
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .any(|dir| is_executable(&dir.join(cmd)))
}

/// `DIR:$PATH`, for running a client that must find `docker-credential-*` in `dir` first.
pub fn path_with(dir: &Path) -> String {
    #[allow(clippy::disallowed_methods)] // test harness: PATH lookup, not configuration
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![dir.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    std::env::join_paths(dirs)
        .expect("PATH entries must not contain ':'")
        .to_string_lossy()
        .into_owned()
}

fn is_executable(p: &Path) -> bool {
    match fs::metadata(p) {
        Ok(m) if m.is_file() => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                m.permissions().mode() & 0o111 != 0
            }
            #[cfg(not(unix))]
            {
                true
            }
        }
        _ => false,
    }
}

fn registry_bin() -> String {
    if is_executable(Path::new(REGISTRY_BIN)) {
        REGISTRY_BIN.to_string()
    } else {
        "docker-registry".to_string()
    }
}

/// Writes `contents` to a new file readable only by the owner (it may hold a password).
fn write_private(path: &Path, contents: &[u8]) {
    let mut opts = OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(contents)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A `docker-registry serve` child on 127.0.0.1 with htpasswd auth and filesystem storage in its
/// temp dir. Killed, and its dir removed, on drop.
pub struct Registry {
    pub port: u16,
    /// `127.0.0.1:PORT`, the form clients use as the registry's server key.
    pub host: String,
    server: Server,
}

impl Registry {
    /// Starts a registry accepting `user`/`password` (bcrypt htpasswd). Panics with the registry
    /// log if it does not come up; retries on a fresh port up to 3 times (port races).
    pub fn start(user: &str, password: &str) -> Registry {
        assert!(
            !user.contains(':') && !user.contains('\n'),
            "htpasswd user must not hold ':' or newline"
        );
        assert!(
            !password.contains('\n'),
            "htpasswd -i reads one line: no newline in the password"
        );
        let mut last_err = String::new();
        for _attempt in 0..3 {
            match Self::try_start(user, password, None) {
                Ok(reg) => return reg,
                Err(e) => last_err = e,
            }
        }
        panic!("docker-registry did not start after 3 attempts: {last_err}");
    }

    /// [`Registry::start`] serving https with `cert` and `key` (PEM files) instead of plain http.
    pub fn start_tls(user: &str, password: &str, cert: &Path, key: &Path) -> Registry {
        let mut last_err = String::new();
        for _attempt in 0..3 {
            match Self::try_start(user, password, Some((cert, key))) {
                Ok(reg) => return reg,
                Err(e) => last_err = e,
            }
        }
        panic!("docker-registry (tls) did not start after 3 attempts: {last_err}");
    }

    fn try_start(
        user: &str,
        password: &str,
        tls: Option<(&Path, &Path)>,
    ) -> Result<Registry, String> {
        let mut spec = ServerSpec::new("registry", registry_bin())?;
        let dir = spec.dir().to_path_buf();
        let htpasswd_path = dir.join("htpasswd");
        let data_dir = dir.join("data");
        fs::create_dir(&data_dir).map_err(|e| format!("mkdir data: {e}"))?;

        // bcrypt entry; the password goes over stdin (-i), never argv.
        let mut child = Command::new("htpasswd")
            .args(["-n", "-i", "-B", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn htpasswd (apache2-utils installed?): {e}"))?;
        {
            let mut stdin = child.stdin.take().ok_or("htpasswd stdin")?;
            stdin
                .write_all(format!("{password}\n").as_bytes())
                .map_err(|e| format!("htpasswd stdin: {e}"))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("htpasswd: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let line = line.trim();
        if !line.starts_with(&format!("{user}:$2")) {
            return Err(format!("htpasswd gave an unexpected line: {line:?}"));
        }
        write_private(&htpasswd_path, format!("{line}\n").as_bytes());

        let port = free_port();
        let config_path = dir.join("config.yml");
        let tls_lines = tls.map_or_else(String::new, |(cert, key)| {
            format!(
                "  tls:\n    certificate: \"{}\"\n    key: \"{}\"\n",
                yaml_escape(&cert.to_string_lossy()),
                yaml_escape(&key.to_string_lossy())
            )
        });
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: false\n\
             storage:\n  filesystem:\n    rootdirectory: \"{data}\"\n  delete:\n    enabled: true\n\
             http:\n  addr: \"127.0.0.1:{port}\"\n{tls_lines}  headers:\n    X-Content-Type-Options: [nosniff]\n\
             auth:\n  htpasswd:\n    realm: beta9-test-realm\n    path: \"{htpasswd}\"\n\
             health:\n  storagedriver:\n    enabled: false\n",
            data = yaml_escape(&data_dir.to_string_lossy()),
            htpasswd = yaml_escape(&htpasswd_path.to_string_lossy()),
        );
        write_private(&config_path, config.as_bytes());

        spec.arg("serve")
            .arg(&config_path)
            .ready(Ready::Tcp(port))
            .timeout(READY_TIMEOUT);
        let server = spec
            .start()
            .map_err(|e| format!("{e} (docker-registry installed?)"))?;
        // Listening is not enough: another process may have taken the port first.
        // Over https, a plain-http request is answered 400 by Go's TLS server.
        let want = if tls.is_some() { 400 } else { 401 };
        match server.http().try_request("GET", "/v2/", &[], "") {
            Ok((status, _)) if status == want => Ok(Registry {
                port: server.port(),
                host: server.host(),
                server,
            }),
            Ok((other, _)) => Err(format!(
                "GET /v2/ answered {other}, want {want}; log:\n{}",
                server.log()
            )),
            Err(e) => Err(format!(
                "GET /v2/ on {} failed ({e}); log:\n{}",
                server.host(),
                server.log()
            )),
        }
    }

    /// The registry's temp dir (config, htpasswd, data, log).
    pub fn dir(&self) -> &Path {
        self.server.dir()
    }

    /// The registry's own log (stdout + stderr) so far.
    pub fn log(&self) -> String {
        self.server.log()
    }
}

fn yaml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Runs `cmd` with stdin closed, collecting stdout/stderr; kills it after `timeout`
/// (the returned status is then the kill signal and stderr ends with a note).
pub fn run_bounded(cmd: &mut Command, timeout: Duration) -> Output {
    run_bounded_stdin(cmd, None, timeout)
}

/// Like `run_bounded`, feeding `input` (if any) on stdin and then closing it, as a credential
/// helper's caller does (`echo host | docker-credential-x get`).
pub fn run_bounded_stdin(cmd: &mut Command, input: Option<&[u8]>, timeout: Duration) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {shown}: {e}"));
    let in_t = match (input, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => {
            let data = data.to_vec();
            // A thread, so a child that never reads cannot block us past the deadline.
            Some(thread::spawn(move || {
                let _ = pipe.write_all(&data);
            }))
        }
        _ => None,
    };
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status: ExitStatus = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().expect("wait after kill");
            }
            Err(e) => panic!("wait {shown}: {e}"),
        }
    };
    if let Some(t) = in_t {
        let _ = t.join();
    }
    let stdout = out_t.join().expect("stdout reader");
    let mut stderr = err_t.join().expect("stderr reader");
    if timed_out {
        stderr.extend_from_slice(
            format!("\n[registry_env: killed after {timeout:?}: {shown}]\n").as_bytes(),
        );
    }
    Output {
        status,
        stdout,
        stderr,
    }
}

/// `program` (skopeo, podman or buildah) as every test runs it: everything the tool writes by
/// default on the machine goes under `state` (a directory of the test's own) instead
/// (docs/clients.md, "The containers tools' own files"). Callers add the arguments and the
/// environment as for `Command::new(program)` (`env_clear` included): the moves are made by the
/// wrapper script, not by variables a caller could clear. A `TMPDIR` the caller sets is kept.
///
/// - storage (graph root, run root, driver vfs): a `storage.conf` named by
///   `CONTAINERS_STORAGE_CONF`;
/// - podman's temporary, static, volume and network directories, its events (none) and the
///   image-copy temporary directory: a `containers.conf` named by `CONTAINERS_CONF`;
/// - big temporary files: `TMPDIR`;
/// - as root, the blob-info cache (always `/var/lib/containers/cache`), the short-name alias
///   cache (`/var/cache/containers`), runc's state (`/run/runc`), the auth file without
///   `XDG_RUNTIME_DIR` (`/run/containers/0`) and whatever else lands in `/run`, `/var/tmp`,
///   `/var/cache` or `/var/lib/containers`: the tool runs in a private mount namespace
///   (`unshare --mount`) where those four are directories of `state` bound over the machine's
///   (`/var/lib/containers` over a tmpfs `/var/lib` where the machine has none); `machine_run` is
///   the one standing for `/run`.
pub fn containers_tool(program: &str, state: &Path) -> Command {
    assert!(
        matches!(program, "skopeo" | "podman" | "buildah"),
        "not a containers tool: {program}"
    );
    with_containers_state(program, state)
}

/// `program` (a script that runs the containers tools, like packaging/image.sh) with the moves
/// `containers_tool` makes.
pub fn with_containers_state(program: impl AsRef<std::ffi::OsStr>, state: &Path) -> Command {
    let d = containers_state(state);
    for sub in [
        "lib",
        "tmp",
        "run",
        "cache",
        "podman-tmp",
        "volumes",
        "networks",
    ] {
        fs::create_dir_all(d.join(sub)).expect("containers tool state dir");
    }
    let p = |sub: &str| toml_str(&d.join(sub).to_string_lossy());
    let storage = format!(
        "[storage]\ndriver = \"vfs\"\ngraphroot = {}\nrunroot = {}\n",
        p("lib/storage"),
        p("run/storage")
    );
    fs::write(d.join("storage.conf"), storage).expect("storage.conf");
    let containers = format!(
        "[engine]\ntmp_dir = {}\nstatic_dir = {}\nvolume_path = {}\nimage_copy_tmp_dir = {}\n\
         events_logger = \"none\"\ncgroup_manager = \"cgroupfs\"\n\n\
         [network]\nnetwork_config_dir = {}\n",
        p("podman-tmp"),
        p("lib/storage/libpod"),
        p("volumes"),
        p("tmp"),
        p("networks")
    );
    fs::write(d.join("containers.conf"), containers).expect("containers.conf");
    // $0: the state directory; then the tool and its arguments.
    const ENV: &str = "export TMPDIR=\"${TMPDIR:-$0/tmp}\" \
        CONTAINERS_STORAGE_CONF=\"$0/storage.conf\" CONTAINERS_CONF=\"$0/containers.conf\"";
    const MOUNT: &str = "mount -n --bind \"$0/run\" /run && mount -n --bind \"$0/tmp\" /var/tmp \
        && mount -n --bind \"$0/cache\" /var/cache \
        && { [ -d /var/lib/containers ] || { mount -n -t tmpfs -o mode=0755 beta9-test-lib \
        /var/lib && mkdir /var/lib/containers; }; } \
        && mount -n --bind \"$0/lib\" /var/lib/containers || exit 125";
    let mut c = if is_root() {
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(format!("{MOUNT}\n{ENV}\nexec \"$@\""));
        c
    } else {
        let mut c = Command::new("sh");
        c.arg("-c").arg(format!("{ENV}\nexec \"$@\""));
        c
    };
    c.arg(&d).arg(program);
    c
}

/// `program` for a client test: through `containers_tool` (with `state`) when it is one of the
/// containers tools, as it is otherwise.
pub fn client_command(program: &str, state: &Path) -> Command {
    match program {
        "skopeo" | "podman" | "buildah" => containers_tool(program, state),
        _ => Command::new(program),
    }
}

/// `c` inside a private mount namespace (`unshare --mount`, private propagation) set up by
/// `sh -c script`: the script gets `args` as `$0`, `$1`, … followed by `c`'s program and
/// arguments (it shifts its own away and runs `exec "$@"` or `"$@"`). `c`'s environment goes with
/// it: only what `c` sets when it sets `PATH` (commands built with `env_clear` do), otherwise the
/// test's as well. Namespaces nest: `c` may be such a command itself.
pub fn in_private_mounts<I, S>(script: &str, args: I, c: &Command) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut w = Command::new("unshare");
    w.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
    ])
    .args(args)
    .arg(c.get_program())
    .args(c.get_args());
    if c.get_envs().any(|(k, _)| k == "PATH") {
        w.env_clear();
    }
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => w.env(k, v),
            None => w.env_remove(k),
        };
    }
    if let Some(d) = c.get_current_dir() {
        w.current_dir(d);
    }
    w
}

/// Where `containers_tool` keeps what the tools write, under the test's `state`.
fn containers_state(state: &Path) -> PathBuf {
    state.join("containers-tool")
}

/// What a containers tool run as root with `state` sees as the machine's `/run`.
pub fn machine_run(state: &Path) -> PathBuf {
    containers_state(state).join("run")
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A TOML basic string for `s` (JSON's escapes are TOML's for what paths hold).
fn toml_str(s: &str) -> String {
    json_str(s)
}

/// `skopeo ARGS` with extra environment `env`, its files in `state`. The caller adds
/// `--tls-verify=false` / `--dest-tls-verify=false` and `--authfile` as the subcommand needs.
pub fn skopeo_command(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = containers_tool("skopeo", state);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `skopeo_command`, killed after 60 s.
pub fn skopeo(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    run_bounded(&mut skopeo_command(state, args, env), CMD_TIMEOUT)
}

/// The interpreter and site dir that have docker-py (found with the caller's environment).
pub fn docker_py() -> Option<(String, String)> {
    docker_py_with("docker.auth")
}

/// The interpreter and site dir that have docker-py's `module` (found with the caller's
/// environment: pyenv shims need it).
pub fn docker_py_with(module: &str) -> Option<(String, String)> {
    let probe = format!(
        "import os, sys, {module}\nprint(sys.executable)\nprint(os.path.dirname(os.path.dirname(docker.__file__)))\n"
    );
    let o = Command::new("python3").args(["-c", &probe]).output().ok()?;
    if !o.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut l = text.lines();
    Some((l.next()?.to_string(), l.next()?.to_string()))
}

/// Standard base64 (with padding), enough for `user:pass` in auth files.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if chunk.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if chunk.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

/// A JSON string literal (with quotes) for `s`.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Writes a containers/docker auth file `{"auths":{HOST:{"auth":base64(USER:PASS)}}}` (0600).
pub fn write_plain_auth_file(path: &Path, host: &str, user: &str, pass: &str) {
    let auth = base64(format!("{user}:{pass}").as_bytes());
    let body = format!(
        "{{\"auths\":{{{}:{{\"auth\":{}}}}}}}\n",
        json_str(host),
        json_str(&auth)
    );
    write_private(path, body.as_bytes());
}

/// Writes `{"credHelpers":{HOST:HELPER}}` (0600): clients then run `docker-credential-HELPER`
/// from PATH for HOST. Works both as a skopeo `--authfile` and as `$DOCKER_CONFIG/config.json`.
pub fn write_helper_auth_file(path: &Path, host: &str, helper_name: &str) {
    let body = format!(
        "{{\"credHelpers\":{{{}:{}}}}}\n",
        json_str(host),
        json_str(helper_name)
    );
    write_private(path, body.as_bytes());
}

fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A one-file ustar archive (`name` with `contents`), as an uncompressed OCI layer.
fn tar_one_file(name: &str, contents: &[u8]) -> Vec<u8> {
    assert!(name.len() < 100);
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let mut put =
        |off: usize, field: &str| h[off..off + field.len()].copy_from_slice(field.as_bytes());
    put(100, "0000644\0"); // mode
    put(108, "0000000\0"); // uid
    put(116, "0000000\0"); // gid
    put(124, &format!("{:011o}\0", contents.len())); // size
    put(136, "00000000000\0"); // mtime: 0, reproducible
    put(148, "        "); // checksum placeholder (spaces)
    put(156, "0"); // regular file
    put(257, "ustar\0"); // magic
    put(263, "00"); // version
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(contents);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]); // end-of-archive
    out
}

/// Builds an OCI image layout under `dir` with one tiny uncompressed layer, tagged `tag`.
/// Returns the manifest digest (`sha256:...`).
pub fn write_tiny_oci_layout(dir: &Path, tag: &str, payload: &str) -> String {
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).expect("create blobs dir");
    let put_blob = |data: &[u8]| -> (String, usize) {
        let digest = sha256_digest(data);
        let hex_part = digest.trim_start_matches("sha256:");
        let mut f = File::create(blobs.join(hex_part)).expect("create blob");
        f.write_all(data).expect("write blob");
        (digest, data.len())
    };

    let layer = tar_one_file("hello.txt", payload.as_bytes());
    let (layer_digest, layer_size) = put_blob(&layer);
    let config = format!(
        "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{}},\
         \"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{layer_digest}\"]}}}}"
    );
    let (config_digest, config_size) = put_blob(config.as_bytes());
    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"config\":{{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"{config_digest}\",\"size\":{config_size}}},\
         \"layers\":[{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"{layer_digest}\",\"size\":{layer_size}}}]}}"
    );
    let (manifest_digest, manifest_size) = put_blob(manifest.as_bytes());
    let index = format!(
        "{{\"schemaVersion\":2,\"manifests\":[{{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"digest\":\"{manifest_digest}\",\"size\":{manifest_size},\
         \"annotations\":{{\"org.opencontainers.image.ref.name\":{}}}}}]}}",
        json_str(tag)
    );
    let mut f = File::create(dir.join("index.json")).expect("create index.json");
    f.write_all(index.as_bytes()).expect("write index.json");
    let mut f = File::create(dir.join("oci-layout")).expect("create oci-layout");
    f.write_all(b"{\"imageLayoutVersion\":\"1.0.0\"}")
        .expect("write oci-layout");
    manifest_digest
}

/// Builds a tiny image locally (no network) and pushes it to `reg` as `repo:tag` with
/// `skopeo copy --preserve-digests`, authenticating through `auth_file` (see
/// `write_plain_auth_file` / `write_helper_auth_file`). Panics with skopeo's output on failure.
/// Returns the manifest digest, which is the same on the registry.
pub fn push_tiny_image(reg: &Registry, repo: &str, tag: &str, auth_file: &Path) -> String {
    let layout = tempfile::Builder::new()
        .prefix("beta9-oci-")
        .tempdir()
        .expect("tempdir for OCI layout");
    let digest = write_tiny_oci_layout(layout.path(), tag, &format!("hello from {repo}:{tag}\n"));
    let src = format!("oci:{}:{tag}", layout.path().display());
    let dst = format!("docker://{}/{repo}:{tag}", reg.host);
    let auth: PathBuf = auth_file.to_path_buf();
    let auth = auth.to_string_lossy();
    let out = skopeo(layout.path(), &push_args(&auth, &src, &dst), &[]);
    assert!(
        out.status.success(),
        "skopeo copy {src} {dst} failed ({}):\nstdout: {}\nstderr: {}\nregistry log tail:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tail(&reg.log(), 20),
    );
    digest
}

/// `skopeo` arguments that push `src` to `dst` as it is (`--preserve-digests`) with `auth`.
pub fn push_args<'a>(auth: &'a str, src: &'a str, dst: &'a str) -> [&'a str; 8] {
    [
        "copy",
        "--quiet",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--authfile",
        auth,
        src,
        dst,
    ]
}

/// Last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
