//! The OCI image, as operators use it (README "Worker images", docs/image.md): built by
//! `packaging/image.sh` from the static release binary, then run with podman straight from the
//! archive: `version`; a `store`/`get` round trip in a store directory mounted in; an ECR token
//! minted from moto on the host's loopback, its host name known only to the container's
//! `/etc/hosts` (`--add-host`), which shows the static binary resolves names with no libc or NSS
//! modules in the image (and ignores an nsswitch.conf naming modules it must not load); and `kubelet install` run from the image against a fake node root.
//!
//! podman runs as root with its own storage, run and tmp directories inside the test's sandbox
//! (vfs driver, host network, no cgroups manager needed beyond cgroupfs): nothing is written to
//! /var/lib/containers or /run. It needs the static binary built (packaging/static-build.sh,
//! which scripts/test.sh runs in its packages step); without it, or without buildah, podman or
//! runc, the tests skip (a failure under BETA9_REQUIRE_TOOLS=1).

use crate::kubelet_install::{run_as_kubelet, yaml_to_json};
use crate::moto_env::Moto;
use crate::support::{current_test, tool_missing, Out, Sandbox, CANARY};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const NAME: &str = "docker-credential-beta9";
const KEY_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn out(o: std::process::Output) -> Out {
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// An image archive built for one test, and a podman whose every directory is in the sandbox.
struct Image {
    archive: PathBuf,
    root: PathBuf,
}

impl Image {
    /// Builds the image with `packaging/image.sh --no-build` into the sandbox; `None` after
    /// `tool_missing` when a tool or the static binary is not there.
    fn build(s: &Sandbox) -> Option<Image> {
        let test = current_test();
        for tool in ["buildah", "podman", "runc", "readelf"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if !found && tool_missing(&test, tool, "not on PATH") {
                return None;
            }
        }
        let built = Command::new(repo().join("packaging/static-build.sh"))
            .arg("--no-build")
            .output()
            .expect("packaging/static-build.sh runs");
        if !built.status.success()
            && tool_missing(
                &test,
                "the static release binary",
                "run packaging/static-build.sh first",
            )
        {
            return None;
        }
        let archive = s.path().join("image.oci.tar");
        // image.sh runs buildah: as root its blob-info cache would be the machine's.
        let o = out(crate::registry_env::with_containers_state(
            repo().join("packaging/image.sh"),
            s.path(),
        )
        .arg("--no-build")
        .arg(&archive)
        .stdin(Stdio::null())
        .output()
        .expect("packaging/image.sh runs"));
        assert_eq!(o.code, 0, "packaging/image.sh: {o:?}");
        assert_eq!(
            o.stdout.lines().last(),
            Some(archive.to_str().unwrap()),
            "the archive's path is the last line: {o:?}"
        );
        let root = s.path().join("podman");
        Some(Image { archive, root })
    }

    /// podman or buildah with every directory of theirs in the sandbox.
    fn tool(&self, program: &str) -> Command {
        let mut c = crate::registry_env::containers_tool(program, &self.root);
        c.arg("--root")
            .arg(self.root.join("storage"))
            .arg("--runroot")
            .arg(self.root.join("run"))
            .args(["--storage-driver", "vfs"])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", self.root.join("home"))
            .env("TMPDIR", self.root.join("tmp"));
        if program == "podman" {
            c.arg("--tmpdir").arg(self.root.join("tmp")).args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "none",
            ]);
        }
        std::fs::create_dir_all(self.root.join("tmp")).unwrap();
        c
    }

    /// `podman run --rm` of the archive with `opts` before the image and `args` after it.
    fn run(&self, opts: &[&str], args: &[&str], stdin: &[u8]) -> Out {
        let archive = format!("oci-archive:{}", self.archive.display());
        self.run_image(&archive, opts, args, stdin)
    }

    fn run_image(&self, image: &str, opts: &[&str], args: &[&str], stdin: &[u8]) -> Out {
        let mut c = self.tool("podman");
        c.args([
            "--log-level",
            "error",
            "run",
            "--rm",
            "-i",
            // runc: this machine's crun refuses a hybrid cgroup tree. The limits: a root
            // without CAP_SYS_RESOURCE cannot raise them to podman's defaults
            // (docs/image.md, "Running podman in tests").
            "--runtime",
            "runc",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            "--network",
            "host",
        ])
        .args(opts)
        .arg(image)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().expect("podman starts");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        out(child.wait_with_output().unwrap())
    }
}

/// An empty store directory and a directory holding a master key, to mount into the image.
fn store_and_key(s: &Sandbox) -> (PathBuf, PathBuf) {
    let (store, keys) = (s.path().join("store"), s.path().join("keys"));
    std::fs::create_dir_all(&store).unwrap();
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("master.key"), format!("{KEY_HEX}\n")).unwrap();
    (store, keys)
}

/// `-v host:container` for podman.
fn vol(host: &Path, at: &str, mode: &str) -> String {
    format!("{}:{at}:{mode}", host.display())
}

#[test]
fn the_image_is_static_labelled_and_answers_version() {
    let s = Sandbox::new();
    let Some(img) = Image::build(&s) else { return };
    let bin = String::from_utf8(
        Command::new(repo().join("packaging/static-build.sh"))
            .arg("--no-build")
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let headers = Command::new("readelf")
        .args(["-l", bin.trim()])
        .output()
        .unwrap();
    let headers = String::from_utf8_lossy(&headers.stdout);
    assert!(headers.contains("LOAD"), "{headers}");
    assert!(
        !headers.contains("INTERP"),
        "the shipped binary asks for a loader:\n{headers}"
    );

    let o = img.run(&[], &["version"], b"");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, s.run(&["version"], b"").stdout);
    assert!(o
        .stdout
        .ends_with(&format!(" {}\n", env!("CARGO_PKG_VERSION"))));
    // The image's defaults: no command given still answers version, as a non-root user.
    let o = img.run(&[], &[], b"");
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with(NAME), "{o:?}");

    // Labels and entrypoint, read from the archive by skopeo as a registry would see them.
    let cfg = crate::registry_env::containers_tool("skopeo", s.path())
        .args(["inspect", "--config"])
        .arg(format!("oci-archive:{}", img.archive.display()))
        .output()
        .unwrap();
    if !cfg.status.success() && tool_missing(&current_test(), "skopeo", "inspect failed") {
        return;
    }
    let cfg: serde_json::Value = serde_json::from_slice(&cfg.stdout).unwrap();
    let c = &cfg["config"];
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!([format!("/usr/local/bin/{NAME}")])
    );
    assert_eq!(c["User"], "65532:65532");
    let labels = &c["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.version"],
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(labels["org.opencontainers.image.licenses"], "Apache-2.0");
    assert!(labels["org.opencontainers.image.source"].is_string(), "{c}");
    assert_eq!(cfg["os"], "linux");
}

#[test]
fn a_store_mounted_into_the_image_round_trips_and_the_host_reads_it() {
    let s = Sandbox::new();
    let Some(img) = Image::build(&s) else { return };
    let (store, keys) = store_and_key(&s);
    let opts = [
        "--user",
        "0:0",
        "-v",
        &vol(&store, "/store", "rw"),
        "-v",
        &vol(&keys, "/keys", "ro"),
        "-e",
        "BETA9_CREDENTIALS_DIR=/store",
        "-e",
        "BETA9_CREDENTIALS_KEY_FILE=/keys/master.key",
    ];
    let record =
        format!(r#"{{"ServerURL":"registry.example.com","Username":"ci","Secret":"{CANARY}"}}"#);
    let o = img.run(&opts, &["store"], record.as_bytes());
    assert_eq!(o.code, 0, "{o:?}");
    let o = img.run(&opts, &["get"], b"registry.example.com");
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, record + "\n");
    assert!(!o.stderr.contains(CANARY));
    // The same store, read by the binary on the host with the same key: one format everywhere.
    let host = s.run_env(
        &["get"],
        b"registry.example.com",
        &[
            ("BETA9_CREDENTIALS_DIR", store.to_str().unwrap()),
            (
                "BETA9_CREDENTIALS_KEY_FILE",
                keys.join("master.key").to_str().unwrap(),
            ),
        ],
    );
    assert_eq!(host.code, 0, "{host:?}");
    assert!(host.stdout.contains(CANARY));
    // Unknown registry: the protocol's not-found line and exit 1, from inside the image too.
    let o = img.run(&opts, &["get"], b"other.example.com");
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout, "credentials not found in native keychain\n");
}

#[test]
fn an_ecr_get_in_the_image_mints_from_moto_by_a_name_only_its_etc_hosts_knows() {
    let Some(moto) = Moto::start() else { return };
    let s = Sandbox::new();
    let Some(img) = Image::build(&s) else { return };
    let (store, keys) = store_and_key(&s);
    // A machine whose nsswitch.conf names a module that is not there: a static glibc that
    // followed it would find no host at all (docs/image.md, "The static binary").
    let nsswitch = s.path().join("nsswitch.conf");
    std::fs::write(
        &nsswitch,
        "hosts: beta9none\npasswd: beta9none\ngroup: beta9none\n",
    )
    .unwrap();
    // moto's endpoint with its address replaced by a name the host cannot resolve.
    let port = moto.endpoint.rsplit(':').next().unwrap();
    let endpoint = format!("http://moto.beta9-test.invalid:{port}");
    let host = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
    let mut opts: Vec<String> = [
        "--user",
        "0:0",
        "--add-host",
        "moto.beta9-test.invalid:127.0.0.1",
        "-e",
        "BETA9_CREDENTIALS_DIR=/store",
        "-e",
        "BETA9_CREDENTIALS_KEY_FILE=/keys/master.key",
        "-e",
        "AWS_EC2_METADATA_DISABLED=true",
        // A fresh token cache in every container: each `get` below must reach moto.
        "--tmpfs",
        "/cache:mode=0700",
        "-e",
        "BETA9_CACHE_DIR=/cache",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    opts.extend([
        "-v".into(),
        vol(&store, "/store", "rw"),
        "-v".into(),
        vol(&keys, "/keys", "ro"),
        "-v".into(),
        vol(&nsswitch, "/etc/nsswitch.conf", "ro"),
        "-e".into(),
        format!("AWS_ENDPOINT_URL_ECR={endpoint}"),
    ]);
    let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
    let mut add = opts.clone();
    add.extend([
        "-e",
        "AWS_ACCESS_KEY_ID=AKIABETA9RECORD00001",
        "-e",
        "AWS_SECRET_ACCESS_KEY=record-secret-key-0001",
    ]);
    let o = img.run(
        &add,
        &["add", host, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
        b"",
    );
    assert_eq!(o.code, 0, "{o:?}");
    let o = img.run(&opts, &["get"], host.as_bytes());
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(
        o.json(),
        serde_json::json!({"ServerURL": host, "Username": "AWS", "Secret": "123456789012-auth-token"})
    );
    assert_eq!(
        moto.count(),
        1,
        "one GetAuthorizationToken through the name"
    );
    assert_eq!(moto.last_akid(), "AKIABETA9RECORD00001");

    // Control: without the --add-host line the same name does not resolve, so the answer above
    // came through the container's /etc/hosts and nothing else.
    let bare: Vec<&str> = opts
        .iter()
        .copied()
        .filter(|o| *o != "--add-host" && !o.starts_with("moto.beta9-test.invalid"))
        .collect();
    let o = img.run(&bare, &["get"], host.as_bytes());
    assert_eq!(o.code, 1, "{o:?}");
    assert_eq!(o.stdout.lines().count(), 1, "{o:?}");
    assert_eq!(moto.count(), 1, "{o:?}");
}

#[test]
fn kubelet_install_from_the_image_twice_then_the_kubelet_runs_the_installed_plugin() {
    let s = Sandbox::new();
    let Some(img) = Image::build(&s) else { return };
    let node = s.path().join("node");
    for d in [
        "bin",
        "etc/kubernetes",
        "secret",
        "var/lib/docker-credential-beta9",
    ] {
        std::fs::create_dir_all(node.join(d)).unwrap();
    }
    let other = "\
apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: ecr-credential-provider # the cloud's plugin
    matchImages: [\"*.dkr.ecr.*.amazonaws.com\"]
    defaultCacheDuration: \"12h\"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
";
    let config = node.join("etc/kubernetes/credential-providers.yaml");
    std::fs::write(&config, other).unwrap();
    std::fs::write(node.join("secret/master.key"), format!("{KEY_HEX}\n")).unwrap();
    // The node's store holds a login for ghcr.io, sealed with the key the Secret carries.
    let store = node.join("var/lib/docker-credential-beta9");
    s.run_env(
        &["store"],
        format!(r#"{{"ServerURL":"ghcr.io","Username":"octo","Secret":"{CANARY}"}}"#).as_bytes(),
        &[
            ("BETA9_CREDENTIALS_DIR", store.to_str().unwrap()),
            (
                "BETA9_CREDENTIALS_KEY_FILE",
                node.join("secret/master.key").to_str().unwrap(),
            ),
        ],
    )
    .assert_ok();

    // As the DaemonSet mounts the node: each host path at the same path in the container.
    let n = node.to_str().unwrap();
    let opts = ["--user", "0:0", "--read-only", "-v", &format!("{n}:{n}:rw")];
    let args = [
        "kubelet",
        "install",
        &format!("--bin-dir={n}/bin"),
        &format!("--config={}", config.display()),
        &format!("--store-dir={n}/var/lib/docker-credential-beta9"),
        &format!("--key-file={n}/etc/docker-credential-beta9/master.key"),
        &format!("--key-from={n}/secret/master.key"),
    ];
    let first = img.run(&opts, &args, b"");
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.stdout.contains("binary: installed "), "{first:?}");
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.starts_with(other), "{written}");
    let second = img.run(&opts, &args, b"");
    assert_eq!(second.code, 0, "{second:?}");
    for line in [
        "key: unchanged ",
        "binary: unchanged ",
        "config: unchanged ",
    ] {
        assert!(second.stdout.contains(line), "{line}: {second:?}");
    }
    assert_eq!(std::fs::read_to_string(&config).unwrap(), written);

    // The kubelet, on the node: the installed plugin, the config's args and env only.
    let Some(cfg) = yaml_to_json(&current_test(), &config) else {
        return;
    };
    let ours = &cfg["providers"][1];
    assert_eq!(ours["name"], NAME);
    let o = run_as_kubelet(&node.join("bin"), ours, "ghcr.io/org/app:1");
    assert_eq!(o.json()["auth"]["ghcr.io/org/app"]["password"], CANARY);
    assert!(!o.stderr.contains(CANARY));
}

#[test]
fn the_readme_worker_image_takes_the_binary_with_copy_from() {
    let s = Sandbox::new();
    let Some(img) = Image::build(&s) else { return };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Worker images\n")
        .nth(1)
        .and_then(|r| r.split("\n## ").next())
        .expect("README has a Worker images section");
    let dockerfile = section
        .split("```dockerfile\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a dockerfile block");
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        dockerfile.contains(&format!(
            "COPY --from={NAME}:{version} /usr/local/bin/{NAME} /usr/local/bin/"
        )),
        "{dockerfile}"
    );
    // As the README loads it: `podman load -i ARCHIVE` names it localhost/NAME:VERSION.
    let o = out(img
        .tool("podman")
        .arg("load")
        .arg("-i")
        .arg(&img.archive)
        .output()
        .unwrap());
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.contains(&format!("localhost/{NAME}:{version}")),
        "{o:?}"
    );
    // The worker's base is pulled from a registry in real life; nothing is pulled here, so the
    // first FROM becomes scratch and the rest of the block is built as written.
    let first = dockerfile.lines().next().unwrap();
    assert!(first.starts_with("FROM "), "{dockerfile}");
    let ctx = s.path().join("worker");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Containerfile"),
        dockerfile.replacen(first, "FROM scratch", 1),
    )
    .unwrap();
    let o = out(img
        .tool("buildah")
        .args(["bud", "--quiet", "--pull-never", "-t", "worker:test", "-f"])
        .arg(ctx.join("Containerfile"))
        .arg(&ctx)
        .output()
        .unwrap());
    assert_eq!(o.code, 0, "{o:?}");
    let o = img.run_image(
        "localhost/worker:test",
        &[],
        &[&format!("/usr/local/bin/{NAME}"), "version"],
        b"",
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(o.stdout, s.run(&["version"], b"").stdout);
}
