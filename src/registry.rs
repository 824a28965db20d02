//! Registry identity: the one canonical string per entry, and the secret name derived from it.
//!
//! Two entry points, because callers speak two dialects (docs/registry-identity.md): docker and friends send a
//! *server URL* on the protocol (`https://index.docker.io/v1/`, `ghcr.io`, `host:443`), people and the
//! platform's SDK give an *image reference* (`myuser/img:tag`, `docker://ghcr.io/org/img`).

use crate::error::{Error, Result};
use crate::secret_name::SecretName;
use std::fmt;

/// Docker Hub's canonical registry string (the design documents' and beta9's `registry`).
pub(crate) const DOCKER_HUB: &str = "docker.io";
/// The key docker and BuildKit use for Hub, and the one `list` must report for it.
pub(crate) const DOCKER_HUB_SERVER_URL: &str = "https://index.docker.io/v1/";
/// Docker CLI 27+ stores Hub OAuth tokens under these keys; folded into Hub they would overwrite
/// the PAT, so they stay separate entries, verbatim.
const HUB_OAUTH_KEYS: [&str; 2] = [
    "https://index.docker.io/v1/access-token",
    "https://index.docker.io/v1/refresh-token",
];
const HUB_ALIASES: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// A canonical registry: lower-case host, no scheme, no default port, Hub folded to `docker.io`,
/// possibly followed by a repository path (an exact-match key such as ggcr's `ghcr.io/org/img`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Registry(String);

impl Registry {
    /// A registry *named* as such: a protocol server URL (`get`/`store`/`erase`), a `--registry`
    /// value or a record's `registry` field. Any host is that host, a single label included
    /// (`artifactory`, `registry:5000`); a path after it is kept as an exact-match key.
    pub fn from_server_url(input: &str) -> Result<Registry> {
        let trimmed = input.trim();
        let lower = trimmed.to_ascii_lowercase();
        let no_slash = lower.trim_end_matches('/');
        if let Some(key) = HUB_OAUTH_KEYS.iter().find(|k| **k == no_slash) {
            return Ok(Registry((*key).to_string()));
        }
        // Slashes and whitespace are trimmed together so the canonical form is a fixed point.
        let edge = |c: char| c == '/' || c.is_whitespace();
        let rest = strip_scheme(trimmed).trim_matches(edge);
        let (host, path) = match rest.split_once('/') {
            Some((h, p)) => (h.trim_matches(edge), p.trim_matches(edge)),
            None => (rest, ""),
        };
        let host = canonical_host(host)?;
        if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(not_a_registry(
                "the path after the host has spaces or control characters",
            ));
        }
        if host == DOCKER_HUB && matches!(path, "" | "v1" | "v2") {
            return Ok(Registry(host));
        }
        Ok(if path.is_empty() {
            Registry(host)
        } else {
            Registry(format!("{host}/{path}"))
        })
    }

    /// The registry an image reference pulls from (`add`, `remove`, `show`, `export` arguments),
    /// by docker's rule: strip `docker://`/`oci://`/a scheme; with a `/`, the first component is
    /// the registry iff it contains `.` or `:` or is `localhost`, else the image is on Docker Hub
    /// (`myuser/img`). A single component is a registry when it is a host: it has a dot, is
    /// `localhost`, or ends in a numeric port (`registry:5000`); otherwise it is a Hub image
    /// (`ubuntu`, `ubuntu:22.04`, `img@sha256:…`). See docs/registry-identity.md, "Table of forms".
    ///
    /// A URL (`http://` or `https://`) names a registry whatever its host looks like:
    /// `https://myregistry` is the registry `myregistry`, as the protocol's `store` reads it, never
    /// the Hub image `library/myregistry`.
    pub fn from_reference(reference: &str) -> Result<Registry> {
        ImageRef::parse(reference).map(|i| i.registry)
    }

    /// Wraps a string already in canonical form (a stored record's `registry`).
    pub(crate) fn from_canonical(s: &str) -> Registry {
        Registry(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Only the host part (no repository path).
    pub(crate) fn host(&self) -> &str {
        if self.0.starts_with("https://") {
            return "index.docker.io";
        }
        self.0.split('/').next().unwrap_or(&self.0)
    }

    /// The host without its port, for pattern matching (ECR, Google).
    pub(crate) fn hostname(&self) -> &str {
        let host = self.host();
        if host.starts_with('[') {
            return host.split(']').next().map_or(host, |h| &h[1..]);
        }
        host.split(':').next().unwrap_or(host)
    }

    pub(crate) fn is_docker_hub(&self) -> bool {
        self.0 == DOCKER_HUB
    }

    pub(crate) fn has_path(&self) -> bool {
        !self.0.starts_with("https://") && self.0.contains('/')
    }

    /// The key `list` reports for an entry made by `add`/`import` (docs/clients.md, "Docker Hub keys").
    pub(crate) fn list_key(&self) -> String {
        if self.is_docker_hub() {
            DOCKER_HUB_SERVER_URL.to_string()
        } else {
            self.0.clone()
        }
    }

    pub fn secret_name(&self) -> SecretName {
        SecretName::derive(&self.0)
    }
}

impl fmt::Display for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The repository path of an image reference, without registry, tag or digest (Hub's single
/// names get `library/`); `None` for a bare registry host.
pub(crate) fn repository(image: &str) -> Option<String> {
    ImageRef::parse(image).ok()?.repository
}

/// A tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reference {
    Tag(String),
    Digest(String),
}

impl Reference {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Reference::Tag(t) | Reference::Digest(t) => t,
        }
    }
}

/// An image reference, split once into what every caller asks of it (docs/registry-identity.md,
/// "Table of forms"). The transport prefix (`docker://`, `oci://`) and a scheme are matched
/// without regard to case everywhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ImageRef {
    /// The registry it pulls from ([`Registry::from_reference`]).
    pub registry: Registry,
    /// The host component as typed (`GHCR.io:443`), when the reference names one: the clients
    /// match `credHelpers` keys byte for byte against it.
    pub host: Option<String>,
    /// The repository path (Hub's single names get `library/`); `None` for a bare registry host.
    pub repository: Option<String>,
    /// The tag as typed, if any.
    pub tag: Option<String>,
    /// The digest as typed (everything after the first `@`), if any.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `reference` by docker's rule (see [`Registry::from_reference`]).
    pub(crate) fn parse(reference: &str) -> Result<ImageRef> {
        let r = reference.trim();
        if r.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(not_a_registry("it has spaces or control characters"));
        }
        if let Some((host, path)) = url_parts(r) {
            let registry = Registry(canonical_host(host)?);
            // A URL's first component is its host, whatever its shape.
            let (path, digest) = split_digest(path);
            return Ok(ImageRef::with(
                registry,
                Some(host),
                Some(path.trim_end_matches('/')),
                digest,
            ));
        }
        let stripped = strip_transport(r);
        let t = stripped.trim_end_matches('/');
        if t.is_empty() {
            return Err(not_a_registry("it is empty"));
        }
        let (registry, host) = match t.split_once('/') {
            Some((first, rest)) if looks_like_host_in_path(first) => {
                if rest.is_empty() {
                    return Err(not_a_registry("the repository after the host is empty"));
                }
                (Registry(canonical_host(first)?), Some(first))
            }
            Some((first, _)) => {
                hub_name(first)?;
                (Registry(DOCKER_HUB.to_string()), None)
            }
            None if looks_like_bare_host(t) => (Registry(canonical_host(t)?), Some(t)),
            None => {
                // `name[:tag]` or `name@digest`: a Hub image.
                let name = t.split(['@', ':']).next().unwrap_or_default();
                hub_name(name)?;
                (Registry(DOCKER_HUB.to_string()), None)
            }
        };
        let (without_digest, digest) = split_digest(stripped);
        let rest = match without_digest.split_once('/') {
            Some((f, rest)) if looks_like_host_in_path(f) => Some(rest),
            Some(_) => Some(without_digest),
            // A bare host (`ghcr.io`, `localhost:5000`) names a registry, not a repository.
            None if !registry.is_docker_hub() => None,
            None => Some(without_digest),
        };
        Ok(ImageRef::with(registry, host, rest, digest))
    }

    fn with(
        registry: Registry,
        host: Option<&str>,
        rest: Option<&str>,
        digest: Option<&str>,
    ) -> ImageRef {
        let (repo, tag) = match rest.map(|r| (r, r.rsplit_once(':'))) {
            Some((_, Some((path, tag)))) if !tag.contains('/') => (Some(path), Some(tag)),
            Some((r, _)) => (Some(r), None),
            None => (None, None),
        };
        let repository = repo.filter(|r| !r.is_empty()).map(|r| {
            if registry.is_docker_hub() && !r.contains('/') {
                format!("library/{r}")
            } else {
                r.to_string()
            }
        });
        ImageRef {
            registry,
            host: host.map(str::to_string),
            repository,
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        }
    }

    /// Whether the repository is one a registry accepts in a URL path: lower-case letters,
    /// digits, `._-`, components joined by `/`.
    pub(crate) fn repository_is_valid(&self) -> bool {
        self.repository.as_deref().is_some_and(|repo| {
            repo.split('/').all(|c| {
                !c.is_empty()
                    && c.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'.' | b'_' | b'-')
                    })
            })
        })
    }

    /// What a pull asks for: the digest when one is given, else the tag (`latest` when none),
    /// checked against the registry API's grammar before it goes into a URL path.
    pub(crate) fn reference(&self) -> std::result::Result<Reference, &'static str> {
        if let Some(d) = &self.digest {
            let ok = d.split_once(':').is_some_and(|(alg, hex)| {
                !alg.is_empty()
                    && !hex.is_empty()
                    && alg.bytes().all(|b| {
                        b.is_ascii_lowercase()
                            || b.is_ascii_digit()
                            || matches!(b, b'+' | b'.' | b'_' | b'-')
                    })
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
            });
            return if ok {
                Ok(Reference::Digest(d.clone()))
            } else {
                Err("the digest is not algorithm:hex (sha256:…)")
            };
        }
        let tag = self.tag.as_deref().unwrap_or("latest");
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Reference::Tag(tag.to_string()))
        } else {
            Err("the tag has characters a registry does not allow")
        }
    }
}

/// `name@digest` into the name and the digest (everything after the first `@`).
fn split_digest(s: &str) -> (&str, Option<&str>) {
    match s.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (s, None),
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// An image reference without skopeo's and containerd's transport prefix (`docker://`, `oci://`),
/// which says how to pull, not where: `docker://ubuntu` is still the Hub image.
fn strip_transport(s: &str) -> &str {
    strip_prefix_ci(s, "docker://")
        .or_else(|| strip_prefix_ci(s, "oci://"))
        .unwrap_or(s)
}

/// The host and the path (no leading `/`) of input with an explicit `http://` or `https://`
/// scheme; `None` without one. The host is whatever stands before the first `/`, empty included,
/// for [`canonical_host`] to judge.
fn url_parts(s: &str) -> Option<(&str, &str)> {
    let rest = strip_prefix_ci(s, "https://").or_else(|| strip_prefix_ci(s, "http://"))?;
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

fn strip_scheme(s: &str) -> &str {
    strip_prefix_ci(s, "https://")
        .or_else(|| strip_prefix_ci(s, "http://"))
        .unwrap_or(s)
}

fn not_a_registry(why: &str) -> Error {
    Error::Invalid(format!(
        "not a registry or image reference: {why} (give a host such as ghcr.io, registry.example.com:5000 or localhost, or an image such as ghcr.io/org/app:1)"
    ))
}

/// A Hub repository component: lower-case letters, digits and `._-` (docker's rule).
fn hub_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(not_a_registry(
            "the image name is empty or has characters docker does not allow",
        ))
    }
}

/// Validates `host[:port]` and puts it in canonical form: lower case, the default `:443` dropped,
/// Hub's aliases folded. A host is letters, digits, `.`, `-`, `_` (or a bracketed IPv6 literal);
/// a port is 1 to 65535.
fn canonical_host(host: &str) -> Result<String> {
    let h = host.to_ascii_lowercase();
    let (name, port) = if let Some(rest) = h.strip_prefix('[') {
        let (literal, after) = rest
            .split_once(']')
            .ok_or_else(|| not_a_registry("an IPv6 address has no closing ]"))?;
        if literal.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(not_a_registry("the IPv6 address is not valid"));
        }
        match after {
            "" => (format!("[{literal}]"), None),
            p => match p.strip_prefix(':') {
                Some(port) => (format!("[{literal}]"), Some(port)),
                None => return Err(not_a_registry("text after the IPv6 address")),
            },
        }
    } else {
        match h.rsplit_once(':') {
            Some((n, p)) => (n.to_string(), Some(p)),
            None => (h.clone(), None),
        }
    };
    let plain =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_');
    if name.is_empty() {
        return Err(not_a_registry("the host is empty"));
    }
    if !name.starts_with('[')
        && (!name.bytes().all(plain) || name.starts_with(['.', '-']) || name.ends_with(['.', '-']))
    {
        return Err(not_a_registry(
            "the host has characters a host name cannot have",
        ));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(not_a_registry("the port is not a number from 1 to 65535")),
        },
    };
    let canonical = match port {
        None | Some(443) => name,
        Some(p) => format!("{name}:{p}"),
    };
    if HUB_ALIASES.contains(&canonical.as_str()) {
        return Ok(DOCKER_HUB.to_string());
    }
    Ok(canonical)
}

fn looks_like_host_in_path(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// A single component is a host when it is an IPv6 literal, has a numeric port
/// (`registry:5000`), has a dot or is `localhost`; `ubuntu`, `ubuntu:22.04` and
/// `img@sha256:...` are Hub images.
fn looks_like_bare_host(s: &str) -> bool {
    if s.contains('@') {
        return false;
    }
    if s.starts_with('[') {
        return true;
    }
    match s.rsplit_once(':') {
        Some((_, port)) => !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()),
        None => s.contains('.') || s.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> String {
        Registry::from_server_url(s).unwrap().as_str().to_string()
    }
    fn reference(s: &str) -> String {
        Registry::from_reference(s).unwrap().as_str().to_string()
    }

    #[test]
    fn secret_name_vectors_from_compat() {
        let cases = [
            ("docker.io", "oci-creds-3530c4415dd857fb"),
            ("ghcr.io", "oci-creds-0fd460f0568e29c1"),
            ("nvcr.io", "oci-creds-0bf8a811d2e271e8"),
            ("gcr.io", "oci-creds-70cca582c4895337"),
            (
                "111111111111.dkr.ecr.us-east-1.amazonaws.com",
                "oci-creds-0ef590795080606c",
            ),
            ("registry.example.com:5000", "oci-creds-9f402d6e87b52f3f"),
        ];
        for (reg, name) in cases {
            assert_eq!(Registry::from_canonical(reg).secret_name().as_str(), name);
        }
        assert_eq!(
            Registry::from_canonical("https://index.docker.io/v1/")
                .secret_name()
                .as_str(),
            "oci-creds-79618eba999b5824"
        );
    }

    #[test]
    fn hub_aliases_are_one_registry() {
        for s in [
            "https://index.docker.io/v1/",
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
            "https://registry-1.docker.io/v2/",
            "HTTPS://Index.Docker.IO/v1/",
            "docker.io:443",
        ] {
            assert_eq!(url(s), "docker.io", "{s}");
        }
    }

    #[test]
    fn hub_oauth_keys_stay_separate() {
        assert_eq!(
            url("https://index.docker.io/v1/access-token"),
            "https://index.docker.io/v1/access-token"
        );
        assert_eq!(
            url("https://index.docker.io/v1/refresh-token"),
            "https://index.docker.io/v1/refresh-token"
        );
        assert_ne!(
            Registry::from_server_url("https://index.docker.io/v1/access-token")
                .unwrap()
                .secret_name(),
            Registry::from_server_url("https://index.docker.io/v1/")
                .unwrap()
                .secret_name()
        );
    }

    #[test]
    fn server_urls_normalise_scheme_slash_and_default_port() {
        assert_eq!(url("https://ghcr.io/"), "ghcr.io");
        assert_eq!(url("http://ghcr.io"), "ghcr.io");
        assert_eq!(url("GHCR.IO:443"), "ghcr.io");
        assert_eq!(url("  ghcr.io\r\n"), "ghcr.io");
        assert_eq!(url("localhost:5000"), "localhost:5000");
        assert_ne!(url("localhost:5000"), url("localhost"));
        assert_eq!(
            url("https://registry.example.com:8443/"),
            "registry.example.com:8443"
        );
        assert_ne!(url("gcr.io"), url("us.gcr.io"));
    }

    #[test]
    fn repository_paths_are_exact_keys() {
        assert_eq!(url("ghcr.io/org/img"), "ghcr.io/org/img");
        assert_eq!(
            url("index.docker.io/library/ubuntu"),
            "docker.io/library/ubuntu"
        );
        assert!(Registry::from_server_url("ghcr.io/org/img")
            .unwrap()
            .has_path());
        assert!(!Registry::from_server_url("https://index.docker.io/v1/")
            .unwrap()
            .has_path());
    }

    #[test]
    fn image_references_map_to_their_registry() {
        assert_eq!(reference("myuser/img:tag"), "docker.io");
        assert_eq!(reference("ubuntu"), "docker.io");
        assert_eq!(reference("ubuntu:22.04"), "docker.io");
        assert_eq!(reference("library/ubuntu@sha256:abc"), "docker.io");
        assert_eq!(reference("ghcr.io/org/img@sha256:0123"), "ghcr.io");
        assert_eq!(reference("docker://ghcr.io/org/img:1"), "ghcr.io");
        assert_eq!(reference("oci://nvcr.io/nvidia/pytorch:24.01"), "nvcr.io");
        assert_eq!(reference("localhost/img"), "localhost");
        assert_eq!(reference("localhost:5000/img:1"), "localhost:5000");
        assert_eq!(reference("registry:5000/img"), "registry:5000");
        assert_eq!(
            reference("111111111111.dkr.ecr.us-east-1.amazonaws.com/my-image:latest"),
            "111111111111.dkr.ecr.us-east-1.amazonaws.com"
        );
        assert_eq!(reference("index.docker.io/library/ubuntu"), "docker.io");
        assert_eq!(reference("https://index.docker.io/v1/"), "docker.io");
    }

    #[test]
    fn bare_hosts_are_registries() {
        // docs/registry-identity.md: not `library/ghcr.io` on Hub.
        for h in [
            "ghcr.io",
            "nvcr.io",
            "gcr.io",
            "registry.example.com:5000",
            "localhost:5000",
            "localhost",
        ] {
            assert_eq!(reference(h), h);
        }
        assert_eq!(reference("ghcr.io:443"), "ghcr.io");
        assert_eq!(reference("docker.io"), "docker.io");
    }

    #[test]
    fn the_table_of_forms() {
        // REF arguments: docker's image-reference rules, plus bare hosts.
        for (input, want) in [
            ("registry:5000", "registry:5000"),
            ("nexus:8082", "nexus:8082"),
            ("registry:5000/img:1", "registry:5000"),
            ("localhost", "localhost"),
            ("myregistry", "docker.io"),
            ("ubuntu:22.04", "docker.io"),
            ("myuser/img", "docker.io"),
            ("img@sha256:0123", "docker.io"),
            ("[::1]:5000", "[::1]:5000"),
            ("Registry.Example.com:443/x", "registry.example.com"),
        ] {
            assert_eq!(reference(input), want, "{input}");
        }
        // Names (ServerURL, --registry, a record's field): any host is that host.
        for (input, want) in [
            ("myregistry", "myregistry"),
            ("artifactory", "artifactory"),
            ("registry:5000", "registry:5000"),
            ("http://nexus:8082/", "nexus:8082"),
        ] {
            assert_eq!(url(input), want, "{input}");
        }
        // Input that names nothing is refused, in both dialects.
        for bad in [
            ":",
            "@",
            "https://",
            ":443",
            "",
            " ",
            "host:0",
            "host:99999",
            "a b",
            "-x.io",
            "[zz]:1",
            "ho\u{1b}st",
        ] {
            assert!(Registry::from_reference(bad).is_err(), "reference {bad:?}");
            assert!(Registry::from_server_url(bad).is_err(), "name {bad:?}");
        }
        assert!(Registry::from_reference("UPPER/img").is_err());
        assert!(Registry::from_server_url("ubuntu:22.04").is_err());
        assert!(Registry::from_server_url("img@sha256:0").is_err());
    }

    #[test]
    fn repositories_drop_registry_tag_and_digest() {
        assert_eq!(repository("ghcr.io/org/img:1").as_deref(), Some("org/img"));
        assert_eq!(
            repository("ghcr.io/org/img@sha256:ab").as_deref(),
            Some("org/img")
        );
        assert_eq!(repository("localhost:5000/a/b").as_deref(), Some("a/b"));
        assert_eq!(repository("nginx").as_deref(), Some("library/nginx"));
        assert_eq!(repository("nginx:1.25").as_deref(), Some("library/nginx"));
        assert_eq!(repository("me/app:2").as_deref(), Some("me/app"));
        assert_eq!(repository("ghcr.io").as_deref(), None);
    }

    #[test]
    fn a_url_names_a_registry_whatever_its_host_looks_like() {
        // docs/registry-identity.md, "Table of forms": a scheme makes it a name.
        for (input, want) in [
            ("https://myregistry", "myregistry"),
            ("http://myregistry/", "myregistry"),
            ("HTTPS://MyRegistry:443", "myregistry"),
            ("https://myregistry/team/img:1", "myregistry"),
            ("http://artifactory:8081/v2/", "artifactory:8081"),
            ("https://ghcr.io/org/img", "ghcr.io"),
            ("https://index.docker.io/v1/", "docker.io"),
        ] {
            assert_eq!(reference(input), want, "{input}");
        }
        // Transports are not schemes: the image is still on Hub.
        assert_eq!(reference("docker://myregistry/img"), "docker.io");
        assert_eq!(reference("oci://ubuntu"), "docker.io");
        for bad in [
            "https://",
            "http:///img",
            "https://ubuntu:22.04",
            "https://a b",
        ] {
            assert!(Registry::from_reference(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            repository("https://myregistry/team/img:1").as_deref(),
            Some("team/img")
        );
        assert_eq!(repository("https://myregistry").as_deref(), None);
    }

    #[test]
    fn hostname_drops_port() {
        assert_eq!(
            Registry::from_canonical("localhost:5000").hostname(),
            "localhost"
        );
        assert_eq!(
            Registry::from_canonical("ghcr.io/org/x").hostname(),
            "ghcr.io"
        );
        assert_eq!(Registry::from_canonical("[::1]:5000").hostname(), "::1");
    }

    #[test]
    fn image_refs_split_once_whatever_the_transport_prefix_case() {
        let want = ImageRef {
            registry: Registry::from_canonical("ghcr.io"),
            host: Some("GHCR.io:443".into()),
            repository: Some("org/app".into()),
            tag: Some("1".into()),
            digest: None,
        };
        for prefix in ["", "docker://", "DOCKER://", "Oci://"] {
            let i = ImageRef::parse(&format!("{prefix}GHCR.io:443/org/app:1")).unwrap();
            assert_eq!(i, want, "{prefix}");
            assert_eq!(i.reference(), Ok(Reference::Tag("1".into())));
        }
        let i = ImageRef::parse("DOCKER://nginx@sha256:abc").unwrap();
        assert_eq!(i.registry.as_str(), DOCKER_HUB);
        assert_eq!(
            (i.host.as_deref(), i.repository.as_deref()),
            (None, Some("library/nginx"))
        );
        assert_eq!(i.reference(), Ok(Reference::Digest("sha256:abc".into())));
        let i = ImageRef::parse("https://localhost:5000/team/app").unwrap();
        assert_eq!(i.host.as_deref(), Some("localhost:5000"));
        assert_eq!(i.reference(), Ok(Reference::Tag("latest".into())));
        assert_eq!(ImageRef::parse("ghcr.io").unwrap().repository, None);
        assert!(!ImageRef::parse("ghcr.io/O/a")
            .unwrap()
            .repository_is_valid());
        assert!(ImageRef::parse("ghcr.io/o/a@nodigest")
            .unwrap()
            .reference()
            .is_err());
    }
}
