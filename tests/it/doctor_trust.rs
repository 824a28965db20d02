//! `doctor` against the real `docker-registry` serving https with a certificate from a private CA
//! the test makes with the openssl CLI: doctor must trust what each client family trusts (docker's
//! and the containers tools' `certs.d`, the system store) and name a certificate problem as one.
//! skopeo runs beside it in the same place and must agree.
//!
//! The machine's `/etc/docker` and `/etc/containers` are never written: every doctor and skopeo
//! run happens inside a private mount namespace (`unshare --mount`) where those two directories
//! are bind mounts of the test's own copies (docs/clients.md, "Registry certificates").

use crate::doctor::line;
use crate::registry_env::{self as kit, tools_present, Registry};
use crate::support::{tool_missing, Out, Sandbox, CANARY};
use std::fs;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const USER: &str = "beta9-tester";
const REPO: &str = "beta9/tiny";
const TAG: &str = "v1";
const OTHER_NAME: &str = "registry.other.test";

/// A CA and three server certificates signed by it: `good` (for 127.0.0.1), `other` (for
/// another name only) and `expired` (for 127.0.0.1, past its notAfter).
fn make_certs(dir: &Path) -> Result<(), String> {
    crate::support::make_test_certs(
        dir,
        "beta9 test registry CA",
        "beta9 test registry",
        &[
            ("good", "IP:127.0.0.1", "2"),
            ("other", "DNS:registry.other.test", "2"),
            // Valid until a day before it was made: expired from the start.
            ("expired", "IP:127.0.0.1", "-1"),
        ],
    )
}

/// The test's stand-ins for the machine's `/etc/docker` and `/etc/containers` (a copy of the
/// latter, so skopeo finds its policy and registries.conf).
struct Etc {
    dir: tempfile::TempDir,
}

impl Etc {
    fn new() -> Etc {
        let dir = tempfile::Builder::new()
            .prefix("beta9-etc-")
            .tempdir()
            .unwrap();
        fs::create_dir(dir.path().join("docker")).unwrap();
        let o = Command::new("cp")
            .args(["-a", "/etc/containers/."])
            .arg(dir.path().join("containers"))
            .output()
            .unwrap();
        assert!(o.status.success(), "cp /etc/containers: {o:?}");
        Etc { dir }
    }

    fn docker(&self) -> PathBuf {
        self.dir.path().join("docker")
    }

    fn containers(&self) -> PathBuf {
        self.dir.path().join("containers")
    }

    /// Puts `ca` at `<root>/certs.d/<host>/ca.crt` (root: the stand-in for /etc/docker or
    /// /etc/containers).
    fn ca(&self, root: &Path, host: &str, ca: &Path) {
        let d = root.join("certs.d").join(host);
        fs::create_dir_all(&d).unwrap();
        fs::copy(ca, d.join("ca.crt")).unwrap();
    }

    /// `c` inside a private mount namespace with the stand-ins bound over the machine's
    /// directories. `c` carries its whole environment (built with `env_clear`).
    fn wrap(&self, c: &Command) -> Command {
        const SCRIPT: &str =
            "mount -n --bind \"$0\" /etc/docker && mount -n --bind \"$1\" /etc/containers \
                              && shift && exec \"$@\"";
        kit::in_private_mounts(SCRIPT, [self.docker(), self.containers()], c)
    }
}

fn bounded(mut c: Command) -> Out {
    let o = kit::run_bounded(&mut c, Duration::from_secs(60));
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// Everything a test needs, or `None` after reporting what is missing.
fn ready(t: &str) -> Option<tempfile::TempDir> {
    if !tools_present(
        t,
        &[
            "docker-registry",
            "htpasswd",
            "skopeo",
            "openssl",
            "unshare",
        ],
    ) {
        return None;
    }
    let root = fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root && tool_missing(t, "root", "a private mount namespace needs root here") {
        return None;
    }
    for d in ["/etc/docker", "/etc/containers"] {
        if !Path::new(d).is_dir()
            && tool_missing(t, d, "needed as a mount point for the test's stand-in")
        {
            return None;
        }
    }
    let certs = tempfile::tempdir().unwrap();
    if let Err(e) = make_certs(certs.path()) {
        tool_missing(t, "openssl (a test CA)", &e);
        return None;
    }
    Some(certs)
}

/// The registry serving `name`'s certificate, holding `REPO:TAG`, and a plaintext auth file
/// for skopeo (in the registry's directory, outside the sandbox doctor looks at).
fn registry(certs: &Path, name: &str) -> (Registry, PathBuf) {
    let reg = Registry::start_tls(
        USER,
        CANARY,
        &certs.join(format!("{name}.pem")),
        &certs.join(format!("{name}.key")),
    );
    let auth = reg.dir().join("skopeo-auth.json");
    kit::write_plain_auth_file(&auth, &reg.host, USER, CANARY);
    kit::push_tiny_image(&reg, REPO, TAG, &auth);
    (reg, auth)
}

/// A machine with the login stored and routed for docker and the containers tools.
fn machine(host: &str) -> Sandbox {
    let mut s = Sandbox::new();
    let run = s.path().join("run");
    fs::create_dir_all(&run).unwrap();
    s.set_env("XDG_RUNTIME_DIR", &run.to_string_lossy());
    s.set_env("BETA9_TIMEOUT", "5");
    s.store(host, USER, CANARY).assert_ok();
    s.run(&["configure-docker", host, "--containers"], b"")
        .assert_ok();
    s
}

fn doctor(s: &Sandbox, etc: &Etc, host: &str) -> Out {
    doctor_env(s, etc, host, &[])
}

fn doctor_env(s: &Sandbox, etc: &Etc, host: &str, env: &[(&str, &Path)]) -> Out {
    let mut c = s.cmd(&["doctor", &format!("{host}/{REPO}:{TAG}")]);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = bounded(etc.wrap(&c));
    assert!(
        !o.stdout.contains(CANARY) && !o.stderr.contains(CANARY),
        "doctor printed the secret: {o:?}"
    );
    o
}

/// `skopeo inspect` of the image in the same namespace, with the sandbox's HOME (whose
/// `.config/containers/certs.d` it reads).
fn skopeo(s: &Sandbox, etc: &Etc, host: &str, auth: &Path) -> Out {
    skopeo_env(s, etc, host, auth, &[])
}

fn skopeo_env(s: &Sandbox, etc: &Etc, host: &str, auth: &Path, env: &[(&str, &Path)]) -> Out {
    let mut c = kit::containers_tool("skopeo", s.path());
    c.args(["inspect", "--authfile"])
        .arg(auth)
        .arg(format!("docker://{host}/{REPO}:{TAG}"))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", s.home())
        .current_dir(s.path());
    for (k, v) in env {
        c.env(k, v);
    }
    bounded(etc.wrap(&c))
}

/// What doctor says to do: after `to fix:` on the step's line (a warning) or the result line (a
/// failure).
fn fix_of<'a>(o: &'a Out, step: &str) -> &'a str {
    let result = o.stdout.lines().last().unwrap_or_default();
    [line(o, step), result]
        .into_iter()
        .find_map(|l| l.split_once("; to fix: ").map(|(_, f)| f))
        .unwrap_or_else(|| panic!("no fix for {step}: {o:?}"))
}

fn assert_connect_fails(o: &Out, words: &str) {
    assert_eq!(o.code, 1, "{o:?}");
    let l = line(o, "connect");
    assert!(l.starts_with("FAIL "), "{o:?}");
    assert!(l.contains(words), "connect line lacks {words:?}: {o:?}");
    assert!(!o.stdout.contains("not a registry v2 API"), "{o:?}");
    let result = o.stdout.lines().last().unwrap_or_default();
    assert!(result.starts_with("result: FAIL at connect: "), "{o:?}");
}

#[test]
fn a_private_ca_in_docker_certs_d_is_trusted_by_doctor_as_by_the_clients() {
    let t = "doctor_trust::a_private_ca_in_docker_certs_d_is_trusted_by_doctor_as_by_the_clients";
    let Some(certs) = ready(t) else { return };
    let (reg, auth) = registry(certs.path(), "good");
    let s = machine(&reg.host);
    let etc = Etc::new();
    etc.ca(&etc.docker(), &reg.host, &certs.path().join("ca.pem"));
    let o = doctor(&s, &etc, &reg.host);
    assert_eq!(o.code, 0, "{o:?}");
    let connect = line(&o, "connect");
    assert!(
        connect.contains(&format!("GET https://{}/v2/ answered 401", reg.host)),
        "{o:?}"
    );
    assert!(
        connect.contains(&format!(
            "docker (and docker-py) without verifying it (a registry on 127.0.0.0/8 is insecure to docker's daemon by default); skopeo, podman, buildah through /etc/docker/certs.d/{}/ca.crt (docker's: no containers certs.d directory exists for the host)",
            reg.host
        )),
        "{o:?}"
    );
    // crane reads the system store only: doctor says so, as a warning.
    assert!(
        connect.contains("refused by go-containerregistry (crane) (the certificate is signed by an unknown authority"),
        "{o:?}"
    );
    assert!(line(&o, "manifest").starts_with("ok "), "{o:?}");
    assert!(
        o.stdout.lines().last().unwrap().starts_with("result: ok"),
        "{o:?}"
    );
    let sk = skopeo(&s, &etc, &reg.host, &auth);
    assert_eq!(sk.code, 0, "skopeo disagrees: {sk:?}");
}

#[test]
fn a_ca_nowhere_is_named_an_unknown_authority_with_the_file_to_create() {
    let t = "doctor_trust::a_ca_nowhere_is_named_an_unknown_authority_with_the_file_to_create";
    let Some(certs) = ready(t) else { return };
    let (reg, auth) = registry(certs.path(), "good");
    let s = machine(&reg.host);
    let etc = Etc::new();
    let o = doctor(&s, &etc, &reg.host);
    assert_connect_fails(&o, "the certificate is signed by an unknown authority");
    let fix = fix_of(&o, "connect");
    assert!(
        fix.contains(&format!("/etc/docker/certs.d/{}/ca.crt", reg.host)),
        "{o:?}"
    );
    let sk = skopeo(&s, &etc, &reg.host, &auth);
    assert_ne!(sk.code, 0, "{sk:?}");
    assert!(
        sk.stderr
            .contains("x509: certificate signed by unknown authority"),
        "{sk:?}"
    );
}

#[test]
fn a_certificate_for_another_name_is_named_a_wrong_name() {
    let t = "doctor_trust::a_certificate_for_another_name_is_named_a_wrong_name";
    let Some(certs) = ready(t) else { return };
    let (reg, auth) = registry(certs.path(), "other");
    let s = machine(&reg.host);
    let etc = Etc::new();
    etc.ca(&etc.docker(), &reg.host, &certs.path().join("ca.pem"));
    let o = doctor(&s, &etc, &reg.host);
    assert_connect_fails(
        &o,
        &format!("the certificate is for another name ({OTHER_NAME})"),
    );
    assert!(
        fix_of(&o, "connect").contains(
            "issue the registry a certificate with 127.0.0.1 among its subject alternative names"
        ),
        "{o:?}"
    );
    let sk = skopeo(&s, &etc, &reg.host, &auth);
    assert_ne!(sk.code, 0, "{sk:?}");
    // Go's words for an IP address the certificate does not name.
    assert!(
        sk.stderr
            .contains("x509: cannot validate certificate for 127.0.0.1"),
        "{sk:?}"
    );
}

#[test]
fn an_expired_certificate_is_named_expired() {
    let t = "doctor_trust::an_expired_certificate_is_named_expired";
    let Some(certs) = ready(t) else { return };
    let (reg, auth) = registry(certs.path(), "expired");
    let s = machine(&reg.host);
    let etc = Etc::new();
    etc.ca(&etc.docker(), &reg.host, &certs.path().join("ca.pem"));
    let o = doctor(&s, &etc, &reg.host);
    assert_connect_fails(&o, "the certificate has expired");
    assert!(fix_of(&o, "connect").contains("renew"), "{o:?}");
    let sk = skopeo(&s, &etc, &reg.host, &auth);
    assert_ne!(sk.code, 0, "{sk:?}");
    assert!(
        sk.stderr
            .contains("x509: certificate has expired or is not yet valid"),
        "{sk:?}"
    );
}

/// containers/image reads only the first existing of its certs.d directories: an empty
/// /etc/containers/certs.d/HOST hides docker's, and skopeo refuses what docker trusts.
#[test]
fn a_containers_certs_d_directory_hides_dockers_from_the_containers_tools() {
    let t = "doctor_trust::a_containers_certs_d_directory_hides_dockers_from_the_containers_tools";
    let Some(certs) = ready(t) else { return };
    let (reg, auth) = registry(certs.path(), "good");
    let s = machine(&reg.host);
    let etc = Etc::new();
    etc.ca(&etc.docker(), &reg.host, &certs.path().join("ca.pem"));
    fs::create_dir_all(etc.containers().join("certs.d").join(&reg.host)).unwrap();
    let o = doctor(&s, &etc, &reg.host);
    let connect = line(&o, "connect");
    assert!(connect.starts_with("warn "), "{o:?}");
    assert!(
        connect.contains(&format!(
            "refused by skopeo, podman, buildah (the certificate is signed by an unknown authority; they read /etc/containers/certs.d/{} (no *.crt in it))",
            reg.host
        )),
        "{o:?}"
    );
    assert!(
        fix_of(&o, "connect").contains(&format!(
            "copy /etc/docker/certs.d/{0}/ca.crt to /etc/containers/certs.d/{0}/ca.crt",
            reg.host
        )),
        "{o:?}"
    );
    let sk = skopeo(&s, &etc, &reg.host, &auth);
    assert_ne!(sk.code, 0, "skopeo trusted it after all: {sk:?}");
    assert!(sk.stderr.contains("unknown authority"), "{sk:?}");
}

/// `SSL_CERT_FILE` replaces the system store for Go's clients and for the helper alike: a bundle
/// holding the CA is enough for every family, with no certs.d at all.
#[test]
fn a_ca_in_ssl_cert_file_is_trusted_by_doctor_as_by_skopeo() {
    let t = "doctor_trust::a_ca_in_ssl_cert_file_is_trusted_by_doctor_as_by_skopeo";
    let Some(certs) = ready(t) else { return };
    let (reg, auth) = registry(certs.path(), "good");
    let s = machine(&reg.host);
    let etc = Etc::new();
    let bundle = certs.path().join("ca.pem");
    let env = [("SSL_CERT_FILE", bundle.as_path())];
    let o = doctor_env(&s, &etc, &reg.host, &env);
    assert_eq!(o.code, 0, "{o:?}");
    let connect = line(&o, "connect");
    assert!(connect.starts_with("ok "), "{o:?}");
    assert!(
        connect.contains(&format!("GET https://{}/v2/ answered 401", reg.host)),
        "{o:?}"
    );
    let sk = skopeo_env(&s, &etc, &reg.host, &auth, &env);
    assert_eq!(sk.code, 0, "skopeo disagrees: {sk:?}");
    // Without it, both refuse.
    let o = doctor(&s, &etc, &reg.host);
    assert_connect_fails(&o, "the certificate is signed by an unknown authority");
}
