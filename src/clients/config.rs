//! The clients' own config files: where each client family looks for credentials, and what those
//! files route for one key (docs/clients.md, "Config files" and "Which file answers").
//!
//! Read only, and never a secret kept: an `auths` entry is reduced to its key and whether it holds
//! a secret. `configure-docker` writes these files (through `commands::jsonfile`); `doctor`
//! reads them here.
//!
//! This file has the families and their keys; `client_config/locations.rs` where each family
//! looks, `client_config/parsing.rs` how a file is read, `client_config/routing.rs` what it routes.

use crate::registry::{ImageRef, Registry, DOCKER_HUB, DOCKER_HUB_SERVER_URL};

mod locations;
mod parsing;
mod routing;

pub(crate) use locations::{
    containers_files, containers_primary, docker_config_path, ggcr_file, missing_runtime_dir,
    on_tmpfs, real_uid, PrimarySource,
};
#[cfg(test)]
pub(crate) use parsing::parse;
pub(crate) use parsing::{
    go_name_eq, merge_object, read, ConfigFile, FileState, Member, CONFIG_LIMIT, SECRET_FIELDS,
};
pub(crate) use routing::{containers_route, docker_route, ggcr_routes, routed_here, Route, HELPER};

/// The families of clients that ask a credential helper, each with its own keys and files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// docker CLI, docker-py, BuildKit: `$DOCKER_CONFIG/config.json`.
    Docker,
    /// podman, buildah, skopeo (containers/image): the auth files, in order.
    Containers,
    /// go-containerregistry (crane, ko, CLIP): docker's config.json, else the containers file.
    Ggcr,
    /// The kubelet credential provider plugin: asked with the image itself.
    Kubelet,
}

impl Family {
    pub(crate) const ALL: [Family; 4] = [
        Family::Docker,
        Family::Containers,
        Family::Ggcr,
        Family::Kubelet,
    ];

    /// Who they are, for people.
    pub(crate) fn clients(self) -> &'static str {
        match self {
            Family::Docker => "docker CLI, docker-py",
            Family::Containers => "podman, buildah, skopeo",
            Family::Ggcr => "go-containerregistry (crane, CLIP)",
            Family::Kubelet => "kubelet plugin",
        }
    }

    /// The short name used in step names (`routing.docker`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Family::Docker => "docker",
            Family::Containers => "containers",
            Family::Ggcr => "ggcr",
            Family::Kubelet => "kubelet",
        }
    }
}

/// The keys one image is asked under, per family (docs/clients.md, "Callers and the keys they ask").
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    /// docker CLI and docker-py: `https://index.docker.io/v1/` for Hub, else `host[:port]`.
    pub(crate) docker: String,
    /// containers/image: `docker.io` for Hub, else `host[:port]`.
    pub(crate) containers: String,
    /// go-containerregistry: the repository key first, then the registry key.
    pub(crate) ggcr: [String; 2],
    /// kubelet: the image as the pod spec names it.
    pub(crate) kubelet: String,
}

/// The keys each family computes for `image` (whose registry is `registry`, repository `repo`).
pub(crate) fn keys(image: &str, registry: &Registry, repo: &str) -> Keys {
    if registry.is_docker_hub() {
        return Keys {
            docker: DOCKER_HUB_SERVER_URL.into(),
            containers: DOCKER_HUB.into(),
            ggcr: [
                format!("index.docker.io/{repo}"),
                DOCKER_HUB_SERVER_URL.into(),
            ],
            kubelet: image.trim().to_string(),
        };
    }
    // The host as written: `credHelpers` keys are matched byte for byte.
    let host = ImageRef::parse(image)
        .ok()
        .and_then(|i| i.host)
        .unwrap_or_else(|| registry.host().to_string());
    Keys {
        docker: host.clone(),
        containers: host.clone(),
        ggcr: [format!("{host}/{repo}"), host],
        kubelet: image.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::settings::Settings;
    use std::path::PathBuf;

    fn file(text: &str) -> ConfigFile {
        ConfigFile {
            path: PathBuf::from("/c.json"),
            state: FileState::Parsed(parse(text.as_bytes(), false).unwrap()),
        }
    }

    #[test]
    fn keys_per_family() {
        let hub = Registry::from_reference("nginx:1.25").unwrap();
        let k = keys("nginx:1.25", &hub, "library/nginx");
        assert_eq!(k.docker, "https://index.docker.io/v1/");
        assert_eq!(k.containers, "docker.io");
        assert_eq!(
            k.ggcr,
            [
                "index.docker.io/library/nginx".to_string(),
                "https://index.docker.io/v1/".to_string()
            ]
        );
        let r = Registry::from_reference("localhost:5000/a/b:1").unwrap();
        let k = keys("localhost:5000/a/b:1", &r, "a/b");
        assert_eq!(
            (k.docker.as_str(), k.containers.as_str()),
            ("localhost:5000", "localhost:5000")
        );
        assert_eq!(k.ggcr[0], "localhost:5000/a/b");
    }

    #[test]
    fn parsing_keeps_no_values_and_reads_names_without_case() {
        let p = parse(
            br#"{"CredHelpers":{"a.io":"beta9"},"credsStore":"desktop","auths":{"b.io":{"auth":"SEKRIT"},"c.io":{},"d.io":{"\u0061uth":"x"},"e.io":null}}"#,
            false,
        )
        .unwrap();
        assert_eq!(p.cred_helpers, vec![("a.io".into(), "beta9".into())]);
        assert_eq!(p.creds_store.as_deref(), Some("desktop"));
        let secret: Vec<_> = p.auths.iter().map(|a| (a.key.as_str(), a.secret)).collect();
        assert_eq!(
            secret,
            vec![
                ("b.io", true),
                ("c.io", false),
                ("d.io", true),
                ("e.io", false)
            ]
        );
        assert!(!format!("{p:?}").contains("SEKRIT"));
        let e = parse(b"{\"auths\": SEKRIT}", false)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SEKRIT") && e.contains("line"), "{e}");
        let legacy = parse(
            br#"{"https://index.docker.io/v1/":{"auth":"x","email":"e"}}"#,
            true,
        )
        .unwrap();
        assert!(legacy.auths[0].secret);
    }

    /// Go's encoding/json rules (checked against go1.19): names in any case, later members win
    /// per key, objects merge, `null` empties an object and leaves a string.
    #[test]
    fn members_follow_go_rules() {
        let p = parse(
            br#"{"credHelpers":{"a":"x","b":"x"},"CredHelpers":{"b":"y","c":"y"},"credsStore":"s1","CREDSSTORE":"s2","credsStore":null}"#,
            false,
        )
        .unwrap();
        assert_eq!(
            p.cred_helpers,
            [("a", "x"), ("b", "y"), ("c", "y")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(p.creds_store.as_deref(), Some("s2"));
        let p = parse(br#"{"credHelpers":{"a":"x"},"credHelpers":null}"#, false).unwrap();
        assert!(p.cred_helpers.is_empty());
        let p = parse("{\"credHelper\u{17f}\":{\"a\":\"x\"}}".as_bytes(), false).unwrap();
        assert_eq!(p.cred_helpers.len(), 1);
        let p = parse(
            br#"{"auths":{"r":{"auth":"x"}},"Auths":{"r":{"username":"u"},"s":{"Auth":"x","auth":""}}}"#,
            false,
        )
        .unwrap();
        let secret: Vec<_> = p.auths.iter().map(|a| (a.key.as_str(), a.secret)).collect();
        assert_eq!(secret, [("r", false), ("s", false)]);
        assert!(go_name_eq("CREDSSTORE", "credsStore"));
        assert!(!go_name_eq("credsStores", "credsStore"));
        assert_eq!(Member::of("AUTHS"), Some(Member::Auths));
        assert_eq!(Member::of("auth"), None);
    }

    #[test]
    fn docker_routing_order() {
        let reg = Registry::from_server_url("r.io").unwrap();
        let f = file(
            r#"{"credHelpers":{"r.io":"beta9"},"credsStore":"x","auths":{"r.io":{"auth":"a"}}}"#,
        );
        assert!(docker_route(&f, "r.io", &reg).is_ours());
        let f = file(r#"{"credsStore":"desktop"}"#);
        assert!(
            matches!(docker_route(&f, "r.io", &reg), Route::Helper { ref helper, via: "credsStore", .. } if helper == "desktop")
        );
        let f = file(r#"{"auths":{"https://r.io/":{"auth":"a"}}}"#);
        assert!(
            matches!(docker_route(&f, "r.io", &reg), Route::Plaintext { ref key, .. } if key == "https://r.io/")
        );
        assert_eq!(docker_route(&file("{}"), "r.io", &reg), Route::Unrouted);
    }

    #[test]
    fn containers_first_file_wins_and_plaintext_shadows() {
        let reg = Registry::from_server_url("r.io").unwrap();
        let plain = file(r#"{"auths":{"r.io":{"auth":"a"}}}"#);
        let helper = file(r#"{"credHelpers":{"r.io":"beta9"}}"#);
        let r = containers_route(&[plain.clone(), helper.clone()], "r.io", &reg, "x/y");
        assert!(matches!(r, Route::Plaintext { .. }));
        let r = containers_route(&[helper, plain], "r.io", &reg, "x/y");
        assert!(r.is_ours());
        let ns = file(r#"{"auths":{"r.io/x":{"auth":"a"}},"credHelpers":{"r.io":"beta9"}}"#);
        assert!(containers_route(std::slice::from_ref(&ns), "r.io", &reg, "x/y").is_ours());
        let ns = file(r#"{"auths":{"r.io/x":{"auth":"a"}}}"#);
        assert!(
            matches!(containers_route(&[ns], "r.io", &reg, "x/y"), Route::Plaintext { ref key, .. } if key == "r.io/x")
        );
        // Hub: docker.io in credHelpers; any spelling in auths.
        let hub = Registry::from_reference("nginx").unwrap();
        let f = file(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"a"}}}"#);
        assert!(matches!(
            containers_route(&[f], "docker.io", &hub, "library/nginx"),
            Route::Plaintext { .. }
        ));
    }

    #[test]
    fn primary_file_order() {
        let env = Settings::new(&Env::from_pairs([
            ("REGISTRY_AUTH_FILE", "/a.json"),
            ("XDG_RUNTIME_DIR", "/run/user/7"),
        ]));
        assert_eq!(containers_primary(&env, 7).path, PathBuf::from("/a.json"));
        let env = Settings::new(&Env::from_pairs([
            ("XDG_RUNTIME_DIR", "/run/user/7"),
            ("HOME", "/h"),
        ]));
        assert_eq!(
            containers_primary(&env, 7).path,
            PathBuf::from("/run/user/7/containers/auth.json")
        );
        let env = Settings::new(&Env::from_pairs([("HOME", "/h")]));
        let p = containers_primary(&env, 7);
        assert_eq!(p.path, PathBuf::from("/run/containers/7/auth.json"));
        let files: Vec<_> = containers_files(&env, 7)
            .into_iter()
            .map(|a| a.path)
            .collect();
        assert_eq!(
            files,
            [
                "/run/containers/7/auth.json",
                "/h/.config/containers/auth.json",
                "/h/.docker/config.json",
                "/h/.dockercfg"
            ]
            .map(PathBuf::from)
        );
    }
}
