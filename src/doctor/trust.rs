//! Whose trust a registry's certificate has: doctor trusts what each client family trusts and
//! says which family would refuse the certificate (docs/clients.md, "Registry certificates").
//!
//! - docker's daemon: the system store plus every `*.crt` in `/etc/docker/certs.d/HOST[:PORT]/`;
//!   a registry on 127.0.0.0/8 is "insecure" by default and its certificate is not verified.
//! - containers/image (skopeo, podman, buildah): the system store plus every `*.crt` in the
//!   *first existing* of `$HOME/.config/containers/certs.d/HOST[:PORT]/`,
//!   `/etc/containers/certs.d/HOST[:PORT]/`, `/etc/docker/certs.d/HOST[:PORT]/`.
//! - go-containerregistry (crane): the system store only.
//!
//! The system store is the one src/net/tls.rs loads (`SSL_CERT_FILE` / `SSL_CERT_DIR` override it, as
//! they do for Go). The `certs.d` roots are fixed paths; tests stand in for them with a private
//! mount namespace, never an environment variable.

use crate::error::printable;
use crate::net::tls::CertProblem;
use crate::net::NetError;
use crate::settings::Settings;
use rustls_pki_types::CertificateDer;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// docker's per-registry certificate directories (docs/clients.md, "Registry certificates").
pub(crate) const DOCKER_CERTS_D: &str = "/etc/docker/certs.d";
/// The containers tools' system-wide ones.
pub(crate) const CONTAINERS_CERTS_D: &str = "/etc/containers/certs.d";
/// The containers tools' per-user ones, under `$HOME`.
pub(crate) const CONTAINERS_USER_CERTS_D: &str = ".config/containers/certs.d";

/// A CA file is a few certificates; anything larger is not one.
const CA_FILE_LIMIT: u64 = 1024 * 1024;

/// One `certs.d/HOST` directory and the CA certificates (`*.crt`) in it.
#[derive(Debug, Clone)]
pub(crate) struct Dir {
    pub path: PathBuf,
    pub exists: bool,
    /// The `*.crt` files that hold at least one certificate, in name order.
    pub files: Vec<PathBuf>,
    certs: Vec<CertificateDer<'static>>,
}

impl Dir {
    fn read(path: PathBuf) -> Dir {
        let mut dir = Dir {
            exists: path.is_dir(),
            path,
            files: Vec::new(),
            certs: Vec::new(),
        };
        let Ok(entries) = std::fs::read_dir(&dir.path) else {
            return dir;
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "crt"))
            .collect();
        names.sort();
        for p in names {
            let mut bytes = Vec::new();
            let read =
                std::fs::File::open(&p).and_then(|f| f.take(CA_FILE_LIMIT).read_to_end(&mut bytes));
            let certs = match read {
                Ok(_) => crate::net::tls::pem_certs(&bytes),
                Err(_) => Vec::new(),
            };
            if !certs.is_empty() {
                dir.files.push(p);
                dir.certs.extend(certs);
            }
        }
        dir
    }

    fn shown(&self) -> String {
        printable(&self.path.display().to_string())
    }

    /// `/etc/docker/certs.d/H/ca.crt` or `/etc/docker/certs.d/H (absent)`.
    fn words(&self) -> String {
        if !self.files.is_empty() {
            self.files
                .iter()
                .map(|f| printable(&f.display().to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        } else if self.exists {
            format!("{} (no *.crt in it)", self.shown())
        } else {
            format!("{} (absent)", self.shown())
        }
    }
}

/// What each family trusts for one registry host.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    pub host: String,
    /// `/etc/docker/certs.d/HOST`.
    pub docker: Dir,
    /// The directory the containers tools read: the first existing candidate, else the system-wide
    /// one (where a CA would go).
    pub containers: Dir,
    /// The candidates in their order, for the message.
    pub candidates: Vec<PathBuf>,
    /// `SSL_CERT_FILE` / `SSL_CERT_DIR`, when set: they replace the system store.
    pub system: Vec<(&'static str, PathBuf)>,
}

impl Trust {
    /// Reads the directories for `host` (`host[:port]`, as clients name the directory).
    pub(crate) fn for_host(s: &Settings, host: &str) -> Trust {
        // A host never holds a path separator (src/registry.rs); refuse to look elsewhere if so.
        let safe = !host.is_empty() && !host.contains(['/', '\\']) && host != "..";
        let under = |root: &Path| root.join(if safe { host } else { "-" });
        let mut candidates = Vec::new();
        if let Some(home) = s.home() {
            candidates.push(under(&home.join(CONTAINERS_USER_CERTS_D)));
        }
        candidates.push(under(Path::new(CONTAINERS_CERTS_D)));
        candidates.push(under(Path::new(DOCKER_CERTS_D)));
        let docker = Dir::read(under(Path::new(DOCKER_CERTS_D)));
        let containers = match candidates.iter().find(|p| p.is_dir()) {
            Some(p) if *p == docker.path => docker.clone(),
            Some(p) => Dir::read(p.clone()),
            None => Dir::read(under(Path::new(CONTAINERS_CERTS_D))),
        };
        let system = s.ssl_cert_overrides();
        Trust {
            host: host.to_string(),
            docker,
            containers,
            candidates,
            system,
        }
    }

    /// Every CA some family trusts beside the system store: what doctor's own requests trust.
    pub(crate) fn union(&self) -> Vec<CertificateDer<'static>> {
        let mut all = self.docker.certs.clone();
        for c in &self.containers.certs {
            if !all.contains(c) {
                all.push(c.clone());
            }
        }
        all
    }

    fn system_words(&self) -> String {
        if self.system.is_empty() {
            "the system store".into()
        } else {
            format!(
                "the system store as {}",
                self.system
                    .iter()
                    .map(|(n, p)| format!("{n}={}", printable(&p.display().to_string())))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        }
    }

    /// Why the containers tools read the directory they read.
    fn containers_words(&self) -> String {
        if self.containers.exists && self.containers.path == self.docker.path {
            format!(
                "{} (docker's: no containers certs.d directory exists for the host)",
                self.containers.words()
            )
        } else {
            self.containers.words()
        }
    }
}

/// Whether a client with one set of anchors got an answer: the certificate problem when it was
/// refused, `None` for any other failure.
type Verdict = Result<(), Option<CertProblem>>;

/// Families as a message names them.
const DOCKER: &str = "docker (and docker-py)";
const CONTAINERS: &str = "skopeo, podman, buildah";
const GGCR: &str = "go-containerregistry (crane)";

/// The `connect` failure for a certificate every family refuses (doctor trusts the union of what
/// they trust, so a refusal there is a refusal for each): the problem, what was consulted, and
/// the file that fixes it. `loopback`: docker's daemon does not verify such a registry.
pub(crate) fn refused(t: &Trust, p: &CertProblem, loopback: bool) -> (String, String) {
    let host = printable(&t.host);
    let who = if loopback {
        format!("{CONTAINERS} and {GGCR} refuse it (docker's daemon does not verify a registry on 127.0.0.0/8, an insecure registry by default)")
    } else {
        format!("{DOCKER}, {CONTAINERS} and {GGCR} refuse it")
    };
    let detail = format!(
        "https://{host}/v2/: {}: {who}; trusted here: {}, docker's {}, the containers tools' {}",
        p.describe(),
        t.system_words(),
        t.docker.words(),
        t.containers_words(),
    );
    let docker_ca = t.docker.path.join("ca.crt");
    let fix = match p {
        CertProblem::UnknownAuthority => {
            let containers = if t.containers.path == t.docker.path || !t.containers.exists {
                format!("{CONTAINERS} read it too while no {} exists", shown_list(&t.candidates[..t.candidates.len().saturating_sub(1)]))
            } else {
                format!(
                    "{CONTAINERS} read {} instead: put it there too",
                    t.containers.shown()
                )
            };
            format!(
                "put the CA certificate that signed the registry's certificate (PEM) in {}: {DOCKER} read it, and {containers}; {GGCR} reads only the system store (add it there with update-ca-certificates, or name a bundle in SSL_CERT_FILE)",
                printable(&docker_ca.display().to_string())
            )
        }
        CertProblem::WrongName { .. } => format!(
            "no CA file fixes this: issue the registry a certificate with {} among its subject alternative names, or pull by a name it has",
            printable(name_of(&t.host))
        ),
        CertProblem::Expired { .. } => {
            "renew the registry's certificate (no CA file fixes an expired one)".to_string()
        }
        CertProblem::NotYetValid { .. } => {
            "check this machine's clock, or the certificate's notBefore".to_string()
        }
        CertProblem::Other(_) => format!(
            "check the registry's certificate chain (`openssl s_client -connect {host} -showcerts`)"
        ),
    };
    (detail, fix)
}

/// The name a certificate must carry for `host[:port]`: the host without the port or brackets.
fn name_of(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn shown_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| printable(&p.display().to_string()))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// After doctor's own https request succeeded: whether each family, with only what it trusts,
/// gets there too. `None` when no `certs.d` CA is involved (every family uses the system store,
/// which doctor's request just used). Otherwise the words to add to the `connect` step and, when
/// some family refuses the certificate, what fixes that.
pub(crate) fn families(
    t: &Trust,
    loopback: bool,
    ping: &dyn Fn(&[CertificateDer<'static>]) -> Result<u16, NetError>,
) -> Option<(String, Option<String>)> {
    if t.docker.certs.is_empty() && t.containers.certs.is_empty() {
        return None;
    }
    let union = t.union();
    let mut memo: Vec<(Vec<CertificateDer<'static>>, Verdict)> = vec![(union, Ok(()))];
    let mut check = |set: &[CertificateDer<'static>]| -> Verdict {
        if let Some((_, r)) = memo.iter().find(|(s, _)| s.as_slice() == set) {
            return r.clone();
        }
        let r = match ping(set) {
            Ok(_) => Ok(()),
            Err(NetError::Certificate(p)) => Err(Some(p)),
            Err(_) => Err(None),
        };
        memo.push((set.to_vec(), r.clone()));
        r
    };
    let docker = if loopback {
        None
    } else {
        Some(check(&t.docker.certs))
    };
    let containers = check(&t.containers.certs);
    let ggcr = check(&[]);
    let mut trusted: Vec<String> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    let word = |r: &Verdict| match r {
        Err(Some(p)) => p.describe(),
        _ => "no answer".to_string(),
    };
    match &docker {
        None => trusted.push(format!("{DOCKER} without verifying it (a registry on 127.0.0.0/8 is insecure to docker's daemon by default)")),
        Some(Ok(())) => trusted.push(format!("{DOCKER} through {}", t.docker.words())),
        Some(r) => refused.push(format!("{DOCKER} ({}; it reads {})", word(r), t.docker.words())),
    }
    match &containers {
        Ok(()) => trusted.push(format!("{CONTAINERS} through {}", t.containers_words())),
        r => refused.push(format!(
            "{CONTAINERS} ({}; they read {})",
            word(r),
            t.containers_words()
        )),
    }
    match &ggcr {
        Ok(()) => trusted.push(format!("{GGCR} through {}", t.system_words())),
        r => refused.push(format!(
            "{GGCR} ({}; it reads only {})",
            word(r),
            t.system_words()
        )),
    }
    let mut words = format!("; the certificate is trusted by {}", trusted.join("; "));
    if refused.is_empty() {
        return Some((words, None));
    }
    words.push_str(&format!("; refused by {}", refused.join("; ")));
    let mut fixes: Vec<String> = Vec::new();
    let ca = t
        .docker
        .files
        .first()
        .or(t.containers.files.first())
        .map(|f| printable(&f.display().to_string()))
        .unwrap_or_else(|| "the CA file".into());
    if matches!(docker, Some(Err(_))) {
        fixes.push(format!(
            "copy {ca} to {}",
            printable(&t.docker.path.join("ca.crt").display().to_string())
        ));
    }
    if containers.is_err() {
        fixes.push(format!(
            "copy {ca} to {}",
            printable(&t.containers.path.join("ca.crt").display().to_string())
        ));
    }
    if ggcr.is_err() {
        fixes.push(format!(
            "for {GGCR}, add {ca} to the system store (update-ca-certificates) or name a bundle holding it in SSL_CERT_FILE"
        ));
    }
    Some((words, Some(fixes.join("; "))))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_name_a_certificate_must_carry_has_no_port() {
        use super::name_of;
        assert_eq!(name_of("127.0.0.1:5000"), "127.0.0.1");
        assert_eq!(name_of("registry.example"), "registry.example");
        assert_eq!(name_of("[::1]:5000"), "::1");
        assert_eq!(name_of("[fe80::1]"), "fe80::1");
    }
}
