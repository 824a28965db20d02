//! The client families as a model: for one registry and image, which files each family reads (in
//! which order, with Go's key rules, `clients::config::Member`), which keys it asks a helper, and
//! what it does when the helper answers not-found (docs/clients.md, "The client families").
//!
//! Data and pure functions over parsed files: [`plan`] says what a family will try, in order;
//! [`walk`] follows that plan against what this helper holds and says what the client ends up
//! sending. `doctor` turns that into its per-family verdict; reading the files is the caller's.

pub(crate) mod config;

use crate::clients::config::{self as cc, ConfigFile, Family, Keys, HELPER};
use crate::registry::Registry;
use crate::settings::Settings;
use std::path::PathBuf;

/// The client config files on this machine, parsed (files that do not exist are left out).
#[derive(Clone, Debug, Default)]
pub(crate) struct Machine {
    /// docker's `config.json` (docker CLI, docker-py).
    pub docker: Option<ConfigFile>,
    /// The containers tools' auth files that exist, in their read order.
    pub containers: Vec<ConfigFile>,
    /// The one file go-containerregistry's `DefaultKeychain` reads.
    pub ggcr: Option<ConfigFile>,
}

impl Machine {
    /// Reads the files the settings point each family at.
    pub(crate) fn read(settings: &Settings) -> Machine {
        let present = |f: ConfigFile| f.exists().then_some(f);
        Machine {
            docker: cc::docker_config_path(settings).and_then(|p| present(cc::read(&p, false))),
            containers: cc::containers_files(settings, cc::real_uid())
                .into_iter()
                .filter_map(|a| present(cc::read(&a.path, a.legacy)))
                .collect(),
            ggcr: cc::ggcr_file(settings).and_then(|p| present(cc::read(&p, false))),
        }
    }
}

/// One thing a client tries, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    /// Runs `docker-credential-<helper> get` with `key`; on not-found it goes on to the next link
    /// (no next link: it pulls anonymously).
    Ask {
        helper: String,
        key: String,
        via: &'static str,
        file: PathBuf,
    },
    /// Sends the plaintext `auths` login stored under `key`; nothing after it is tried.
    Plaintext { key: String, file: PathBuf },
}

/// What a family will try for one image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub family: Family,
    /// Some file this family reads exists here (else it pulls anonymously, and counts only when
    /// asked about alone).
    pub reads_config: bool,
    pub chain: Vec<Link>,
    /// The docker family only: what docker-py tries, which differs from the CLI's chain: it
    /// reads the file with Python's key rules, and after the helper's not-found it sends the
    /// plaintext `auths` login where the CLI pulls anonymously.
    pub docker_py: Option<Vec<Link>>,
    /// A `credsStore` this family does not read (containers/image ignores it).
    pub ignored_store: Option<String>,
}

/// docker's per-key lookup (docker/cli `configfile.GetAuthConfig`): `credHelpers[key]`, else
/// `credsStore`, else a plaintext `auths` login. `exact`: only an `auths` key equal to `key`
/// (the repository key), else any spelling of the registry.
fn docker_link(file: &ConfigFile, key: &str, registry: &Registry, exact: bool) -> Option<Link> {
    let p = file.parsed()?;
    if let Some(h) = file.helper_for(key) {
        return Some(Link::Ask {
            helper: h.to_string(),
            key: key.to_string(),
            via: "credHelpers",
            file: file.path.clone(),
        });
    }
    if let Some(s) = &p.creds_store {
        return Some(Link::Ask {
            helper: s.clone(),
            key: key.to_string(),
            via: "credsStore",
            file: file.path.clone(),
        });
    }
    let plain = if exact {
        file.plaintext_exact(key)
    } else {
        file.plaintext_for(registry).first().copied()
    };
    plain.map(|a| Link::Plaintext {
        key: a.key.clone(),
        file: file.path.clone(),
    })
}

/// What `family` tries for the image whose keys are `keys` (registry `registry`, repository
/// `repo`), given the files on `m`.
pub(crate) fn plan(
    family: Family,
    m: &Machine,
    keys: &Keys,
    registry: &Registry,
    repo: &str,
) -> Plan {
    let mut out = Plan {
        family,
        reads_config: false,
        chain: Vec::new(),
        docker_py: None,
        ignored_store: None,
    };
    match family {
        // One file, one key; not-found is final for the CLI (the helper's store is picked for the
        // key and nothing else is read), docker-py falls back to `auths`.
        Family::Docker => {
            let Some(f) = &m.docker else { return out };
            out.reads_config = true;
            out.chain
                .extend(docker_link(f, &keys.docker, registry, false));
            let py = f.as_docker_py();
            let mut chain: Vec<Link> = docker_link(&py, &keys.docker, registry, false)
                .into_iter()
                .collect();
            if matches!(chain.first(), Some(Link::Ask { .. })) {
                chain.extend(py.plaintext_for(registry).first().map(|a| Link::Plaintext {
                    key: a.key.clone(),
                    file: py.path.clone(),
                }));
            }
            out.docker_py = Some(chain);
        }
        // Every file in order; in each, `credHelpers[registry]` (not-found: the next file), then
        // namespaced and registry `auths` logins. `credsStore` is never read.
        Family::Containers => {
            out.reads_config = !m.containers.is_empty();
            let host = registry.host();
            let parts: Vec<&str> = repo.split('/').filter(|p| !p.is_empty()).collect();
            for f in &m.containers {
                let Some(p) = f.parsed() else { continue };
                if out.ignored_store.is_none() {
                    out.ignored_store = p.creds_store.clone();
                }
                if let Some(h) = f.helper_for(&keys.containers) {
                    out.chain.push(Link::Ask {
                        helper: h.to_string(),
                        key: keys.containers.clone(),
                        via: "credHelpers",
                        file: f.path.clone(),
                    });
                    continue;
                }
                let ns = (1..=parts.len())
                    .rev()
                    .find_map(|n| f.plaintext_exact(&format!("{host}/{}", parts[..n].join("/"))));
                if let Some(a) = ns.or_else(|| f.plaintext_for(registry).first().copied()) {
                    out.chain.push(Link::Plaintext {
                        key: a.key.clone(),
                        file: f.path.clone(),
                    });
                    break;
                }
            }
        }
        // docker's lookup for the repository key, then for the registry key; each not-found (or
        // nothing found) moves on, and a helper is asked the repository key only when it is
        // routed for that very key (`credsStore`, or a credHelpers entry for `host/repo`).
        Family::Ggcr => {
            let Some(f) = &m.ggcr else { return out };
            out.reads_config = true;
            if let Some(link) = docker_link(f, &keys.ggcr[0], registry, true) {
                let last = matches!(link, Link::Plaintext { .. });
                out.chain.push(link);
                if last {
                    return out;
                }
            }
            out.chain
                .extend(docker_link(f, &keys.ggcr[1], registry, false));
        }
        // kubelet runs this helper's kubelet mode with the image (its CredentialProviderConfig
        // decides, and is not read here): the repository's entry, else the registry's.
        Family::Kubelet => {
            out.reads_config = true;
            for key in [
                format!("{}/{repo}", registry.as_str()),
                registry.as_str().to_string(),
            ] {
                out.chain.push(Link::Ask {
                    helper: HELPER.to_string(),
                    key,
                    via: "kubelet's CredentialProviderConfig",
                    file: PathBuf::new(),
                });
            }
        }
    }
    out
}

/// What a client ends up sending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Got {
    /// This helper answers with its entry under `key`.
    Entry { key: String, via: &'static str },
    /// Another helper is asked first; what it answers is not known here.
    OtherHelper { helper: String, key: String },
    /// A plaintext `auths` login.
    Plaintext { key: String, file: PathBuf },
    /// Nothing: an anonymous pull. `asked`: the keys this helper was asked and had nothing for.
    Anonymous { asked: Vec<String> },
}

/// Follows `plan` against this helper's entries: `has(key)` says whether `get key` answers.
pub(crate) fn walk(plan: &Plan, has: &dyn Fn(&str) -> bool) -> Got {
    walk_chain(&plan.chain, has)
}

/// [`walk`] over any chain (docker-py's, [`Plan::docker_py`]).
pub(crate) fn walk_chain(chain: &[Link], has: &dyn Fn(&str) -> bool) -> Got {
    let mut asked = Vec::new();
    for link in chain {
        match link {
            Link::Ask {
                helper, key, via, ..
            } if helper == HELPER => {
                if has(key) {
                    return Got::Entry {
                        key: key.clone(),
                        via,
                    };
                }
                asked.push(key.clone());
            }
            Link::Ask { helper, key, .. } => {
                return Got::OtherHelper {
                    helper: helper.clone(),
                    key: key.clone(),
                }
            }
            Link::Plaintext { key, file } => {
                return Got::Plaintext {
                    key: key.clone(),
                    file: file.clone(),
                }
            }
        }
    }
    Got::Anonymous { asked }
}

/// Does this family ask this helper at all for the image?
pub(crate) fn routes_here(plan: &Plan) -> bool {
    plan.chain
        .iter()
        .any(|l| matches!(l, Link::Ask { helper, .. } if helper == HELPER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::config::{parse, FileState};

    const HOST: &str = "r.io";
    const REPO: &str = "team/app";

    fn file(name: &str, text: &str) -> ConfigFile {
        ConfigFile {
            path: PathBuf::from(name),
            state: FileState::Parsed(parse(text.as_bytes(), false).unwrap()),
        }
    }

    fn keys() -> (Keys, Registry) {
        let image = format!("{HOST}/{REPO}:1");
        let r = Registry::from_reference(&image).unwrap();
        (cc::keys(&image, &r, REPO), r)
    }

    /// docker's config.json read by docker, the containers tools and go-containerregistry alike.
    fn one_config(text: &str) -> Machine {
        let f = file("/h/.docker/config.json", text);
        Machine {
            docker: Some(f.clone()),
            containers: vec![f.clone()],
            ggcr: Some(f),
        }
    }

    fn got(m: &Machine, family: Family, stored: &[&str]) -> Got {
        let (k, r) = keys();
        walk(&plan(family, m, &k, &r, REPO), &|key| stored.contains(&key))
    }

    fn entry(key: &str) -> Got {
        Got::Entry {
            key: key.into(),
            via: "credHelpers",
        }
    }

    #[test]
    fn under_credhelpers_every_family_asks_the_host_only() {
        let m = one_config(r#"{"credHelpers": {"r.io": "beta9"}}"#);
        let both = ["r.io", "r.io/team/app"];
        for family in [Family::Docker, Family::Containers, Family::Ggcr] {
            assert_eq!(got(&m, family, &both), entry(HOST), "{family:?}");
        }
        // A repository entry alone: nobody asks for it; not-found is an anonymous pull.
        for family in [Family::Docker, Family::Containers, Family::Ggcr] {
            assert_eq!(
                got(&m, family, &["r.io/team/app"]),
                Got::Anonymous {
                    asked: vec![HOST.into()]
                },
                "{family:?}"
            );
        }
        // kubelet asks with the image: the repository's entry first.
        assert_eq!(
            got(&m, Family::Kubelet, &both),
            Got::Entry {
                key: "r.io/team/app".into(),
                via: "kubelet's CredentialProviderConfig"
            }
        );
    }

    #[test]
    fn under_credsstore_ggcr_asks_the_repository_then_the_host_and_containers_ignore_it() {
        let m = one_config(r#"{"credsStore": "beta9"}"#);
        let repo_entry = Got::Entry {
            key: "r.io/team/app".into(),
            via: "credsStore",
        };
        assert_eq!(
            got(&m, Family::Ggcr, &["r.io/team/app", "r.io"]),
            repo_entry
        );
        assert_eq!(
            got(&m, Family::Ggcr, &["r.io"]),
            Got::Entry {
                key: HOST.into(),
                via: "credsStore"
            }
        );
        assert_eq!(
            got(&m, Family::Docker, &["r.io/team/app", "r.io"]),
            Got::Entry {
                key: HOST.into(),
                via: "credsStore"
            }
        );
        let (k, r) = keys();
        let p = plan(Family::Containers, &m, &k, &r, REPO);
        assert!(p.chain.is_empty() && p.reads_config);
        assert_eq!(p.ignored_store.as_deref(), Some("beta9"));
        assert_eq!(walk(&p, &|_| true), Got::Anonymous { asked: vec![] });
    }

    #[test]
    fn not_found_never_falls_back_to_plaintext_except_for_docker_py_and_the_next_containers_file() {
        let m = one_config(
            r#"{"credHelpers": {"r.io": "beta9"}, "auths": {"r.io": {"auth": "eDp5"}}}"#,
        );
        assert_eq!(
            got(&m, Family::Docker, &[]),
            Got::Anonymous {
                asked: vec![HOST.into()]
            }
        );
        assert_eq!(
            got(&m, Family::Ggcr, &[]),
            Got::Anonymous {
                asked: vec![HOST.into()]
            }
        );
        let (k, r) = keys();
        let p = plan(Family::Docker, &m, &k, &r, REPO);
        assert!(matches!(
            walk_chain(p.docker_py.as_deref().unwrap(), &|_| false),
            Got::Plaintext { ref key, .. } if key == HOST
        ));
        // docker-py reads exact member names only: "CredHelpers" routes nothing for it.
        let m = one_config(r#"{"CredHelpers": {"r.io": "beta9"}}"#);
        let p = plan(Family::Docker, &m, &k, &r, REPO);
        assert_eq!(walk(&p, &|_| true), entry(HOST));
        assert_eq!(
            walk_chain(p.docker_py.as_deref().unwrap(), &|_| true),
            Got::Anonymous { asked: vec![] }
        );
        // containers/image: a not-found moves on to the next file, whose plaintext answers.
        let m = Machine {
            containers: vec![
                file("/run/auth.json", r#"{"credHelpers": {"r.io": "beta9"}}"#),
                file(
                    "/h/.docker/config.json",
                    r#"{"auths": {"r.io": {"auth": "eDp5"}}}"#,
                ),
            ],
            ..Machine::default()
        };
        assert!(matches!(
            got(&m, Family::Containers, &[]),
            Got::Plaintext { ref key, .. } if key == HOST
        ));
        assert_eq!(got(&m, Family::Containers, &["r.io"]), entry(HOST));
    }

    #[test]
    fn nothing_read_nothing_routed_and_other_helpers() {
        let m = Machine::default();
        let (k, r) = keys();
        for family in [Family::Docker, Family::Containers, Family::Ggcr] {
            let p = plan(family, &m, &k, &r, REPO);
            assert!(!p.reads_config && !routes_here(&p), "{family:?}");
            assert_eq!(walk(&p, &|_| true), Got::Anonymous { asked: vec![] });
        }
        let m = one_config(r#"{"credHelpers": {"r.io": "desktop"}}"#);
        assert!(
            matches!(got(&m, Family::Docker, &["r.io"]), Got::OtherHelper { ref helper, .. } if helper == "desktop")
        );
        // Go's key rules: "CredHelpers" routes.
        let m = one_config(r#"{"CredHelpers": {"r.io": "beta9"}}"#);
        assert_eq!(got(&m, Family::Ggcr, &["r.io"]), entry(HOST));
        // A plaintext login for the repository key answers go-containerregistry first.
        let m = one_config(
            r#"{"credHelpers": {"r.io": "beta9"}, "auths": {"r.io/team/app": {"auth": "eDp5"}}}"#,
        );
        assert!(matches!(
            got(&m, Family::Ggcr, &["r.io"]),
            Got::Plaintext { .. }
        ));
    }
}
