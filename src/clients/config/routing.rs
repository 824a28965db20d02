//! What a family's config files route for one key (docs/clients.md, "Which file answers"): a
//! helper, a plaintext entry, or nothing.

use super::locations::{containers_files, docker_config_path, ggcr_file, real_uid};
use super::parsing::{read, ConfigFile};
use crate::registry::{Registry, DOCKER_HUB, DOCKER_HUB_SERVER_URL};
use crate::settings::Settings;
use std::path::PathBuf;

/// docker runs `docker-credential-<name>`: the value `credHelpers` entries must hold.
pub const HELPER: &str = "beta9";

/// How one family reaches (or does not reach) a credential for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// A helper answers: `credHelpers` or `credsStore` in `file` names it.
    Helper {
        helper: String,
        via: &'static str,
        file: PathBuf,
    },
    /// A plaintext `auths` entry answers, from `file`.
    Plaintext { key: String, file: PathBuf },
    /// Nothing: the client pulls anonymously.
    Unrouted,
}

impl Route {
    pub fn is_ours(&self) -> bool {
        matches!(self, Route::Helper { helper, .. } if helper == HELPER)
    }
}

/// docker CLI and docker-py: `credHelpers[key]`, else `credsStore`, else `auths`
/// (docker/cli `configfile.GetCredentialsStore`).
pub fn docker_route(file: &ConfigFile, key: &str, registry: &Registry) -> Route {
    let Some(p) = file.parsed() else {
        return Route::Unrouted;
    };
    if let Some(h) = file.helper_for(key) {
        return Route::Helper {
            helper: h.to_string(),
            via: "credHelpers",
            file: file.path.clone(),
        };
    }
    if let Some(s) = &p.creds_store {
        return Route::Helper {
            helper: s.clone(),
            via: "credsStore",
            file: file.path.clone(),
        };
    }
    match file.plaintext_for(registry).first() {
        Some(a) => Route::Plaintext {
            key: a.key.clone(),
            file: file.path.clone(),
        },
        None => Route::Unrouted,
    }
}

/// containers/image: the files in order; in each, `credHelpers[registry key]` first, then an
/// `auths` entry for the repository's namespaces or the registry. The first file that answers
/// wins (`credsStore` is not read: containers/skopeo #1083).
pub fn containers_route(files: &[ConfigFile], key: &str, registry: &Registry, repo: &str) -> Route {
    let host = registry.host();
    for file in files {
        if file.parsed().is_none() {
            continue;
        }
        if let Some(h) = file.helper_for(key) {
            return Route::Helper {
                helper: h.to_string(),
                via: "credHelpers",
                file: file.path.clone(),
            };
        }
        // Namespaced logins (`podman login host/ns`), most specific first.
        let parts: Vec<&str> = repo.split('/').collect();
        for n in (1..=parts.len()).rev() {
            let ns = format!("{host}/{}", parts[..n].join("/"));
            if let Some(a) = file.plaintext_exact(&ns) {
                return Route::Plaintext {
                    key: a.key.clone(),
                    file: file.path.clone(),
                };
            }
        }
        if let Some(a) = file.plaintext_for(registry).first() {
            return Route::Plaintext {
                key: a.key.clone(),
                file: file.path.clone(),
            };
        }
    }
    Route::Unrouted
}

/// Does some client family's config on this machine route `registry` (an entry's key: a
/// registry, or a repository for go-containerregistry's repository key) to this helper? Reads the
/// same files, with the same rules, as doctor's routing steps; nothing else.
pub fn routed_here(settings: &Settings, registry: &Registry) -> bool {
    let hub = registry.is_docker_hub();
    let host = registry.host().to_string();
    let docker_key = if hub {
        DOCKER_HUB_SERVER_URL.into()
    } else {
        host.clone()
    };
    let containers_key = if hub { DOCKER_HUB.into() } else { host };
    let repo_key = if registry.has_path() {
        registry.as_str().to_string()
    } else {
        docker_key.clone()
    };
    let docker = || {
        docker_config_path(settings)
            .is_some_and(|p| docker_route(&read(&p, false), &docker_key, registry).is_ours())
    };
    let containers = || {
        let files: Vec<ConfigFile> = containers_files(settings, real_uid())
            .into_iter()
            .map(|a| read(&a.path, a.legacy))
            .collect();
        containers_route(&files, &containers_key, registry, "").is_ours()
    };
    let ggcr = || {
        ggcr_file(settings).is_some_and(|p| {
            let keys = [repo_key.clone(), docker_key.clone()];
            ggcr_routes(&read(&p, false), &keys, registry)
                .iter()
                .any(Route::is_ours)
        })
    };
    docker() || containers() || ggcr()
}

/// go-containerregistry: docker's lookup for the repository key, then for the registry key.
/// Returns both routes; the first that answers wins.
pub fn ggcr_routes(file: &ConfigFile, keys: &[String; 2], registry: &Registry) -> [Route; 2] {
    let repo = match file.parsed() {
        None => Route::Unrouted,
        Some(p) => {
            if let Some(h) = file.helper_for(&keys[0]) {
                Route::Helper {
                    helper: h.to_string(),
                    via: "credHelpers",
                    file: file.path.clone(),
                }
            } else if let Some(s) = &p.creds_store {
                Route::Helper {
                    helper: s.clone(),
                    via: "credsStore",
                    file: file.path.clone(),
                }
            } else if let Some(a) = file.plaintext_exact(&keys[0]) {
                Route::Plaintext {
                    key: a.key.clone(),
                    file: file.path.clone(),
                }
            } else {
                Route::Unrouted
            }
        }
    };
    [repo, docker_route(file, &keys[1], registry)]
}
