//! Each client family's routing step: which key the family asks, and whether its configuration
//! sends that key to this helper (docs/clients.md, "The client families").

use super::model::{step, Mark, Step};
use super::words::{configure_cmd, not_ours, route_words, shown};
use crate::clients::config::{self as cc, ConfigFile, Family, Route, HELPER};
use crate::context::Context;
use crate::error::printable;
use crate::registry::Registry;
use crate::settings::Settings;

/// One family's routing step.
pub(super) fn routing(
    ctx: &Context,
    family: Family,
    keys: &cc::Keys,
    registry: &Registry,
    repo: &str,
) -> Step {
    let name = format!("routing.{}", family.name());
    let who = family.clients();
    let settings = &ctx.settings;
    match family {
        Family::Docker => docker(settings, &name, who, keys, registry),
        Family::Containers => containers(settings, &name, who, keys, registry, repo),
        Family::Ggcr => ggcr(settings, &name, who, keys, registry),
        Family::Kubelet => step(
            &name,
            Mark::Skip,
            format!(
                "{who} asks with the image \"{}\"; kubelet's CredentialProviderConfig (matchImages) decides, not checked here",
                printable(&keys.kubelet)
            ),
        ),
    }
}

/// A config file the family cannot read fails its routing step.
fn unreadable(name: &str, who: &str, f: &ConfigFile) -> Option<Step> {
    match &f.state {
        cc::FileState::Unreadable(why) => Some(
            step(name, Mark::Fail, format!("{who}: {} {why}", shown(&f.path))).fix(format!(
                "fix or move {} (the clients fail on it too)",
                shown(&f.path)
            )),
        ),
        _ => None,
    }
}

/// docker CLI and docker-py: `config.json`'s `credHelpers`, then `credsStore`.
fn docker(
    settings: &Settings,
    name: &str,
    who: &str,
    keys: &cc::Keys,
    registry: &Registry,
) -> Step {
    let Some(path) = cc::docker_config_path(settings) else {
        return step(
            name,
            Mark::Skip,
            format!("{who}: HOME and DOCKER_CONFIG are unset: no config file"),
        );
    };
    let file = cc::read(&path, false);
    if !file.exists() {
        return step(
            name,
            Mark::Skip,
            format!(
                "{who} ask \"{}\"; {} does not exist: not counted",
                keys.docker,
                shown(&path)
            ),
        );
    }
    if let Some(s) = unreadable(name, who, &file) {
        return s;
    }
    let route = cc::docker_route(&file, &keys.docker, registry);
    let words = match route {
        Route::Unrouted => format!(
            "{} has no credHelpers entry for it and no credsStore",
            shown(&path)
        ),
        _ => route_words(&route),
    };
    let head = format!("{who} ask \"{}\": {words}", printable(&keys.docker));
    if route.is_ours() {
        let plain = file.plaintext_for(registry);
        if let Some(a) = plain.first() {
            return step(
                name,
                Mark::Warn,
                format!(
                    "{head}; but auths also holds a plaintext login ({}), which docker-py falls back to",
                    printable(&a.key)
                ),
            )
            // --migrate removes only a copy of the stored login; a different one is left
            // (and named by the plaintext step, with what to keep).
            .fix(format!(
                "`{}` removes it when it is a copy of the stored login; a different one is left, and the plaintext step says which to keep",
                configure_cmd(registry, false, true)
            ));
        }
        return step(name, Mark::Ok, head);
    }
    let migrate = matches!(route, Route::Plaintext { .. });
    step(name, Mark::Fail, not_ours(&head, &route)).fix(configure_cmd(registry, false, migrate))
}

/// The containers tools: their auth files in order, `credHelpers` only.
fn containers(
    settings: &Settings,
    name: &str,
    who: &str,
    keys: &cc::Keys,
    registry: &Registry,
    repo: &str,
) -> Step {
    let uid = cc::real_uid();
    let primary = cc::containers_primary(settings, uid);
    let files: Vec<ConfigFile> = cc::containers_files(settings, uid)
        .into_iter()
        .map(|a| cc::read(&a.path, a.legacy))
        .collect();
    if !files.iter().any(ConfigFile::exists) {
        return step(
            name,
            Mark::Skip,
            format!(
                "{who} ask \"{}\"; none of their auth files exists ({}, …): not counted",
                printable(&keys.containers),
                shown(&primary.path)
            ),
        );
    }
    if let Some(s) = files.iter().find_map(|f| unreadable(name, who, f)) {
        return s;
    }
    let route = cc::containers_route(&files, &keys.containers, registry, repo);
    let ignored = files
        .iter()
        .find_map(|f| f.parsed().and_then(|p| p.creds_store.clone()));
    let words = match (&route, ignored) {
        (Route::Unrouted, Some(store)) => format!(
            "credsStore (docker-credential-{}) is not read by containers/image, and no credHelpers entry of their auth files routes it",
            printable(&store)
        ),
        (Route::Unrouted, None) => format!(
            "none of their auth files ({}) routes it",
            files
                .iter()
                .filter(|f| f.exists())
                .map(|f| shown(&f.path))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => route_words(&route),
    };
    let head = format!("{who} ask \"{}\": {words}", printable(&keys.containers));
    if !route.is_ours() {
        let migrate = matches!(route, Route::Plaintext { .. });
        return step(name, Mark::Fail, not_ours(&head, &route))
            .fix(configure_cmd(registry, true, migrate));
    }
    if let Some(dir) = cc::missing_runtime_dir(settings) {
        return step(
            name,
            Mark::Warn,
            format!(
                "{head}; but XDG_RUNTIME_DIR names {}, which does not exist: their login and logout fail",
                shown(&dir)
            ),
        )
        .fix(format!(
            "create that directory or unset XDG_RUNTIME_DIR, then rerun {}",
            configure_cmd(registry, true, false)
        ));
    }
    let primary_routes = files.first().and_then(|f| f.helper_for(&keys.containers)) == Some(HELPER);
    if !primary_routes {
        return step(
            name,
            Mark::Warn,
            format!(
                "{head}; but their primary file {} does not route it, so `podman login` would store the password there in plaintext",
                shown(&primary.path)
            ),
        )
        .fix(configure_cmd(registry, true, false));
    }
    step(name, Mark::Ok, head)
}

/// go-containerregistry: the repository key, then the host (its `DefaultKeychain`).
fn ggcr(settings: &Settings, name: &str, who: &str, keys: &cc::Keys, registry: &Registry) -> Step {
    let Some(path) = cc::ggcr_file(settings) else {
        return step(
            name,
            Mark::Skip,
            format!("{who} ask \"{}\" then \"{}\"; no docker config.json or containers auth file: not counted", printable(&keys.ggcr[0]), printable(&keys.ggcr[1])),
        );
    };
    let file = cc::read(&path, false);
    if let Some(s) = unreadable(name, who, &file) {
        return s;
    }
    let [first, second] = cc::ggcr_routes(&file, &keys.ggcr, registry);
    // The repository key reaches a helper only through `credsStore` (or a credHelpers
    // entry for that very key); under a host's credHelpers entry only the host is asked
    // (docs/clients.md, "go-containerregistry `DefaultKeychain`").
    let asked = match &first {
        Route::Helper { .. } => format!(
            "ask \"{}\" then \"{}\"",
            printable(&keys.ggcr[0]),
            printable(&keys.ggcr[1])
        ),
        _ => format!("ask \"{}\"", printable(&keys.ggcr[1])),
    };
    let head = format!(
        "{who} {asked}: {}",
        match second {
            Route::Unrouted => format!(
                "{} has no credHelpers entry for either and no credsStore",
                shown(&path)
            ),
            _ => route_words(&second),
        }
    );
    if let Route::Plaintext { key, .. } = &first {
        return step(
            name,
            Mark::Fail,
            format!(
                "{head}; but a plaintext login for the repository key ({}) in {} answers first",
                printable(key),
                shown(&path)
            ),
        )
        .fix(format!(
            "remove auths[\"{}\"] from {}",
            printable(key),
            shown(&path)
        ));
    }
    if !second.is_ours() {
        let migrate = matches!(second, Route::Plaintext { .. });
        return step(name, Mark::Fail, not_ours(&head, &second))
            .fix(configure_cmd(registry, false, migrate));
    }
    if let Route::Helper { helper, .. } = &first {
        if helper != HELPER {
            return step(
                name,
                Mark::Warn,
                format!("{head}; docker-credential-{helper} is asked for the repository key first"),
            );
        }
    }
    step(name, Mark::Ok, head)
}
