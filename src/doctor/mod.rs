//! `doctor <image>`: every step between an image reference and a pull, checked in order, each
//! reported with what it found: the reference, the key each client family asks and whether its
//! config routes that key here, the entry that answers, the login it resolves to, and a live
//! check against the registry as a client pulls (docs/clients.md, "Registry v2 pull
//! authentication"). Plain functions returning a [`Report`]; `commands::doctor` prints it.
//!
//! Never a secret in a report: usernames may be shown, passwords, tokens and response bodies never.

pub mod leftovers;
pub mod probe;
pub mod trust;
pub mod verify;

use crate::actions;
use crate::client_config::{self as cc, ConfigFile, Family, Route, HELPER};
use crate::clients::{self, Got, Plan};
use crate::context::Context;
use crate::credential_type::CredentialType;
use crate::detect;
use crate::error::printable;
use crate::login::Login;
use crate::net::NetError;
use crate::record::Entry;
use crate::registry::Registry;
use crate::resolve::{self, LoginKind};
use crate::rfc3339;
use crate::url::Url;
use probe::{Answer, Client, Method, Scheme};
use secrecy::ExposeSecret;
use std::path::Path;
use zeroize::Zeroizing;

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Ok,
    Fail,
    /// Works, but something is worth fixing; does not fail the run.
    Warn,
    /// Not run (nothing to check, or an earlier step made it pointless).
    Skip,
}

impl Mark {
    pub fn label(self) -> &'static str {
        match self {
            Mark::Ok => "ok",
            Mark::Fail => "FAIL",
            Mark::Warn => "warn",
            Mark::Skip => "skip",
        }
    }
}

/// One line of the report. `fix` says what to do about a failure or warning; `cause` classifies
/// a failed live step for callers that act on it (`add`/`import --verify`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub mark: Mark,
    pub detail: String,
    pub fix: Option<String>,
    pub cause: Option<Cause>,
}

/// Why a live step failed, in what the registry said: a status and a registry error code (a
/// fixed vocabulary), never a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// No answer: connection, TLS, proxy, the time budget.
    Unreachable(String),
    /// The registry or its token endpoint refused the login (`401 UNAUTHORIZED`).
    Rejected(String),
    /// The login is accepted but may not pull the repository (`403 DENIED`).
    NoPull(String),
    /// The repository or tag is not there (`404 MANIFEST_UNKNOWN`).
    Missing(String),
    /// Anything else (not a registry, no usable challenge, throttled): the step's detail says.
    Other,
}

fn step(name: &str, mark: Mark, detail: impl Into<String>) -> Step {
    Step {
        name: name.to_string(),
        mark,
        detail: detail.into(),
        fix: None,
        cause: None,
    }
}

impl Step {
    fn fix(mut self, fix: impl Into<String>) -> Step {
        self.fix = Some(fix.into());
        self
    }

    fn cause(mut self, cause: Cause) -> Step {
        self.cause = Some(cause);
        self
    }
}

/// `401 UNAUTHORIZED`: the status and, when the body names one, the registry's error code.
fn said(a: &Answer) -> String {
    match probe::error_code(&a.body) {
        Some(code) => format!("{} {code}", a.status),
        None => a.status.to_string(),
    }
}

/// The entry that answers, as far as it may be shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryInfo {
    /// The key it is stored under (`ghcr.io` or `ghcr.io/org/app`).
    pub key: String,
    /// `repository` or `registry`.
    pub scope: &'static str,
    pub secret_name: String,
    pub kind: CredentialType,
    pub workspace: String,
    pub updated_at: u64,
    pub username: String,
}

/// A tag or a digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(String),
}

impl Reference {
    pub fn as_str(&self) -> &str {
        match self {
            Reference::Tag(t) | Reference::Digest(t) => t,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Talk plain http to the registry (and a plain-http token endpoint).
    pub plain_http: bool,
    /// Stop after the login step: no request to the registry or a token service.
    pub no_network: bool,
    /// Predict the pull of this family only (`--client`); `None`: every family this machine's
    /// configuration is read by.
    pub client: Option<Family>,
}

#[derive(Clone, Debug)]
pub struct Report {
    pub image: String,
    pub registry: Option<Registry>,
    pub repository: Option<String>,
    pub reference: Option<Reference>,
    pub entry: Option<EntryInfo>,
    pub steps: Vec<Step>,
}

impl Report {
    /// No step failed.
    pub fn ok(&self) -> bool {
        self.first_failure().is_none()
    }

    pub fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.mark == Mark::Fail)
    }
}

/// Runs every step it can for `image`.
pub fn run(ctx: &Context, image: &str, opts: &Options) -> Report {
    run_shown(ctx, image, opts, &mut |_| {})
}

/// Hands steps to a caller as soon as they are final, in order and each once (the registry may
/// take the whole time budget to answer). A step a later one may still change is held back, and
/// so is everything after it.
struct Progress<'a> {
    shown: usize,
    held: Option<usize>,
    sink: &'a mut dyn FnMut(&[Step]),
}

impl Progress<'_> {
    fn flush(&mut self, steps: &[Step]) {
        let end = self.held.unwrap_or(steps.len()).min(steps.len());
        if end > self.shown {
            (self.sink)(&steps[self.shown..end]);
            self.shown = end;
        }
    }
}

/// [`run`], giving `shown` each run of steps as soon as they are final; the [`Report`] still
/// holds every step (the caller prints those it was not yet given).
pub fn run_shown(
    ctx: &Context,
    image: &str,
    opts: &Options,
    shown: &mut dyn FnMut(&[Step]),
) -> Report {
    let mut progress = Progress {
        shown: 0,
        held: None,
        sink: shown,
    };
    let mut report = Report {
        image: image.to_string(),
        registry: None,
        repository: None,
        reference: None,
        entry: None,
        steps: Vec::new(),
    };
    let (registry, repo, reference) = match parse_target(image) {
        Ok(t) => t,
        Err(why) => {
            report.steps.push(
                step("reference", Mark::Fail, why)
                    .fix("give an image reference such as ghcr.io/org/app:1, registry.example.com:5000/team/app@sha256:…, or nginx"),
            );
            return report;
        }
    };
    report.steps.push(step(
        "reference",
        Mark::Ok,
        format!(
            "registry {}, repository {repo}, {}",
            printable(registry.as_str()),
            match &reference {
                Reference::Tag(t) => format!("tag {t}"),
                Reference::Digest(d) => format!("digest {d}"),
            }
        ),
    ));
    progress.flush(&report.steps);
    report.registry = Some(registry.clone());
    report.repository = Some(repo.clone());
    report.reference = Some(reference.clone());

    let keys = cc::keys(image, &registry, &repo);
    let families: Vec<Family> = match opts.client {
        Some(f) => vec![f],
        None => Family::ALL.to_vec(),
    };
    for family in &families {
        report
            .steps
            .push(routing(ctx, *family, &keys, &registry, &repo));
        progress.flush(&report.steps);
    }
    // What each family will try (docs/clients.md, "The client families").
    let machine = clients::Machine::read(&ctx.env);
    let plans: Vec<Plan> = families
        .iter()
        .map(|f| clients::plan(*f, &machine, &keys, &registry, &repo))
        .collect();
    if let Some(s) = nobody_routes(opts, &plans, &registry, &report.steps) {
        report.steps.push(s);
        progress.flush(&report.steps);
    }

    // The entry: a repository entry answers kubelet, and go-containerregistry under credsStore,
    // first; everyone else asks the registry key only (docs/clients.md, "The client families").
    let repo_key = Registry::from_server_url(&format!("{}/{repo}", registry.as_str())).ok();
    let loaded = repo_key
        .as_ref()
        .map(|k| actions::load(ctx, k))
        .transpose()
        .map(Option::flatten)
        .and_then(|repo_entry| Ok((repo_entry, actions::load(ctx, &registry)?)));
    let (repo_entry, registry_entry) = match loaded {
        Ok(pair) => pair,
        Err(e) => {
            report.steps.push(
                step("entry", Mark::Fail, e.protocol_message())
                    .fix(format!("see `docker-credential-beta9 {}ls`; an entry that cannot be opened needs the key it was sealed with", ws_flag(ctx))),
            );
            skip_rest(&mut report, "the entry could not be read");
            return report;
        }
    };
    let answering = repo_entry.as_ref().or(registry_entry.as_ref());
    // Past its expiry an entry answers as absent (docs/storage.md, "Entry lifecycle").
    if let Some((e, at)) = answering.and_then(|e| Some((e, e.life.expires_at?))) {
        if e.expired(ctx.now()) {
            report.steps.push(
                step(
                    "entry",
                    Mark::Fail,
                    format!(
                        "the entry for {} expired at {} (--expires-in): get answers not found",
                        printable(e.record.registry.as_str()),
                        rfc3339::format(at)
                    ),
                )
                .fix("import or add it again; `prune` deletes expired entries"),
            );
            skip_rest(&mut report, "the entry expired");
            return report;
        }
    }
    let entry_index = report.steps.len();
    match answering {
        Some(e) => {
            let info = entry_info(ctx, e, repo_entry.is_some());
            let mut s = step("entry", Mark::Ok, describe_entry(&info));
            if repo_entry.is_some() {
                match &registry_entry {
                    Some(_) => {
                        s.detail.push_str(&format!(
                            "; docker, the containers tools and go-containerregistry under credHelpers ask {} and get the registry's entry instead",
                            registry.host()
                        ));
                    }
                    None => {
                        s.mark = Mark::Warn;
                        s.detail.push_str(&format!(
                            "; it answers kubelet, and go-containerregistry under credsStore, only: docker, the containers tools and go-containerregistry under credHelpers ask {} and find nothing",
                            registry.host()
                        ));
                        s.fix = Some(add_hint(ctx, &registry));
                    }
                }
            }
            report.entry = Some(info);
            report.steps.push(s);
        }
        None => {
            let mut s = step(
                "entry",
                Mark::Fail,
                format!(
                    "nothing stored for {} (nor for the repository key {}) in workspace {}",
                    printable(registry.as_str()),
                    repo_key
                        .as_ref()
                        .map_or_else(|| "-".to_string(), |k| printable(k.as_str())),
                    ctx.workspace
                ),
            )
            .fix(add_hint(ctx, &registry));
            // Only another workspace has it: `get` here answers not found all the same.
            let keys: Vec<&Registry> = std::iter::once(&registry)
                .chain(repo_key.as_ref())
                .collect();
            let others = leftovers::other_workspaces(ctx, &keys);
            if !others.is_empty() {
                s.detail.push_str(&format!(
                    "; workspace {} holds one, which a helper started with BETA9_WORKSPACE={} (or --workspace {}) answers",
                    others.join(", "),
                    others[0],
                    others[0]
                ));
                s.fix = Some(format!(
                    "run the clients' helper in that workspace (BETA9_WORKSPACE={0}; check it with `docker-credential-beta9 --workspace {0} doctor {1}`), or store the login in workspace {2}: {3}",
                    others[0],
                    printable(image),
                    ctx.workspace,
                    add_hint(ctx, &registry)
                ));
            }
            report.steps.push(s);
        }
    }
    // Nothing stored: the live check may still find that none is needed (below).
    if answering.is_none() && !opts.no_network {
        progress.held = Some(entry_index);
    }
    progress.flush(&report.steps);

    // The login.
    let login = match answering {
        None => {
            report
                .steps
                .push(step("login", Mark::Skip, "no entry, so no login"));
            None
        }
        Some(e) => {
            let (s, login) = login_step(ctx, e, opts);
            report.steps.push(s);
            login
        }
    };
    // A plaintext login left beside the store (docs/clients.md, "Leftover plaintext logins").
    let stored = leftovers::stored(ctx, registry_entry.as_ref());
    if let Some((detail, fix)) = leftovers::leftover(ctx, &registry, &stored, &ws_flag(ctx)) {
        report
            .steps
            .push(step("plaintext", Mark::Warn, detail).fix(fix));
    }
    progress.flush(&report.steps);
    if opts.no_network {
        for name in ["connect", "auth", "manifest"] {
            report.steps.push(step(
                name,
                Mark::Skip,
                "--no-network: the registry was not asked",
            ));
        }
        let mut pulls = Pulls::offline();
        for p in &plans {
            report.steps.push(pull_step(
                ctx, p, &registry, &repo, &reference, opts, &mut pulls,
            ));
        }
        return report;
    }
    let target = Target {
        registry: &registry,
        image: Some((&repo, &reference)),
    };
    let live_from = report.steps.len();
    let anonymous_ok = live(
        ctx,
        &target,
        login.as_ref(),
        opts,
        &mut report.steps,
        &mut |steps| progress.flush(steps),
    );
    // The live check answers for the entry it used; every other credential a family would send
    // is checked the same way, once (docs/clients.md, "The client families").
    // It went anonymous when the entry gave no login: then it says nothing about the entry.
    let probed = match (answering, &login) {
        (None, _) => Some(None),
        (Some(e), Some(_)) => Some(Some(e.record.registry.as_str().to_string())),
        (Some(_), None) => None,
    };
    let mut pulls = Pulls {
        known: probed
            .map(|k| (k, Outcome::of(&report.steps[live_from..])))
            .into_iter()
            .collect(),
        target: Some((registry.clone(), repo.clone(), reference.clone())),
    };
    for p in &plans {
        let s = pull_step(ctx, p, &registry, &repo, &reference, opts, &mut pulls);
        report.steps.push(s);
    }
    // Nothing stored but nothing needed: a public image pulls anonymously.
    if answering.is_none() && anonymous_ok {
        let s = &mut report.steps[entry_index];
        s.mark = Mark::Ok;
        s.detail
            .push_str(", and none is needed: the registry serves it anonymously");
        s.fix = None;
    }
    report
}

fn skip_rest(report: &mut Report, why: &str) {
    for name in ["login", "connect", "auth", "manifest"] {
        report.steps.push(step(name, Mark::Skip, why));
    }
}

/// Registry, repository and tag or digest of an image reference, each checked before it goes
/// into a URL path.
pub fn parse_target(image: &str) -> Result<(Registry, String, Reference), String> {
    let registry = Registry::from_reference(image).map_err(|e| e.protocol_message())?;
    let repo = crate::registry::repository(image).ok_or_else(|| {
        format!(
            "{} names a registry, not an image: give a repository (and a tag), e.g. {}/team/app:1",
            printable(image.trim()),
            printable(registry.as_str())
        )
    })?;
    let repo_ok = !repo.is_empty()
        && repo.split('/').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        });
    if !repo_ok {
        return Err("the repository has characters a registry does not allow (lower-case letters, digits, . _ - and /)".into());
    }
    let r = image.trim();
    let r = ["docker://", "oci://"]
        .iter()
        .find_map(|p| r.strip_prefix(p))
        .unwrap_or(r);
    let reference = match r.split_once('@') {
        Some((_, d)) => {
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
            if !ok {
                return Err("the digest is not algorithm:hex (sha256:…)".into());
            }
            Reference::Digest(d.to_string())
        }
        None => {
            let last = r.rsplit('/').next().unwrap_or(r);
            let tag = last.rsplit_once(':').map_or("latest", |(_, t)| t);
            let ok = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            if !ok {
                return Err("the tag has characters a registry does not allow".into());
            }
            Reference::Tag(tag.to_string())
        }
    };
    Ok((registry, repo, reference))
}

fn configure_cmd(registry: &Registry, containers: bool, migrate: bool) -> String {
    format!(
        "docker-credential-beta9 configure-docker {}{}{}",
        registry.as_str(),
        if containers { " --containers" } else { "" },
        if migrate { " --migrate" } else { "" }
    )
}

fn shown(p: &Path) -> String {
    printable(&p.display().to_string())
}

/// What a route means, in words, and how to fix it when it is not this helper.
fn route_words(route: &Route) -> String {
    match route {
        Route::Helper { helper, via, file } => {
            format!("{via} in {} → docker-credential-{helper}", shown(file))
        }
        Route::Plaintext { key, file } => format!(
            "a plaintext login in auths ({}) of {} answers",
            printable(key),
            shown(file)
        ),
        Route::Unrouted => "nothing routes it".into(),
    }
}

/// One family's routing step.
fn routing(
    ctx: &Context,
    family: Family,
    keys: &cc::Keys,
    registry: &Registry,
    repo: &str,
) -> Step {
    let name = format!("routing.{}", family.name());
    let who = family.clients();
    let env = &ctx.env;
    let unreadable = |f: &ConfigFile| match &f.state {
        cc::FileState::Unreadable(why) => Some(
            step(
                &name,
                Mark::Fail,
                format!("{who}: {} {why}", shown(&f.path)),
            )
            .fix(format!(
                "fix or move {} (the clients fail on it too)",
                shown(&f.path)
            )),
        ),
        _ => None,
    };
    match family {
        Family::Docker => {
            let Some(path) = cc::docker_config_path(env) else {
                return step(&name, Mark::Skip, format!("{who}: HOME and DOCKER_CONFIG are unset: no config file"));
            };
            let file = cc::read(&path, false);
            if !file.exists() {
                return step(
                    &name,
                    Mark::Skip,
                    format!("{who} ask \"{}\"; {} does not exist: not counted", keys.docker, shown(&path)),
                );
            }
            if let Some(s) = unreadable(&file) {
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
                        &name,
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
                return step(&name, Mark::Ok, head);
            }
            let migrate = matches!(route, Route::Plaintext { .. });
            step(&name, Mark::Fail, not_ours(&head, &route)).fix(configure_cmd(registry, false, migrate))
        }
        Family::Containers => {
            let uid = cc::real_uid();
            let primary = cc::containers_primary(env, uid);
            let files: Vec<ConfigFile> = cc::containers_files(env, uid)
                .into_iter()
                .map(|a| cc::read(&a.path, a.legacy))
                .collect();
            if !files.iter().any(ConfigFile::exists) {
                return step(
                    &name,
                    Mark::Skip,
                    format!(
                        "{who} ask \"{}\"; none of their auth files exists ({}, …): not counted",
                        printable(&keys.containers),
                        shown(&primary.path)
                    ),
                );
            }
            if let Some(s) = files.iter().find_map(unreadable) {
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
                return step(&name, Mark::Fail, not_ours(&head, &route))
                    .fix(configure_cmd(registry, true, migrate));
            }
            if let Some(dir) = cc::missing_runtime_dir(env) {
                return step(
                    &name,
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
            let primary_routes = files
                .first()
                .and_then(|f| f.helper_for(&keys.containers))
                == Some(HELPER);
            if !primary_routes {
                return step(
                    &name,
                    Mark::Warn,
                    format!(
                        "{head}; but their primary file {} does not route it, so `podman login` would store the password there in plaintext",
                        shown(&primary.path)
                    ),
                )
                .fix(configure_cmd(registry, true, false));
            }
            step(&name, Mark::Ok, head)
        }
        Family::Ggcr => {
            let Some(path) = cc::ggcr_file(env) else {
                return step(
                    &name,
                    Mark::Skip,
                    format!("{who} ask \"{}\" then \"{}\"; no docker config.json or containers auth file: not counted", printable(&keys.ggcr[0]), printable(&keys.ggcr[1])),
                );
            };
            let file = cc::read(&path, false);
            if let Some(s) = unreadable(&file) {
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
                    &name,
                    Mark::Fail,
                    format!(
                        "{head}; but a plaintext login for the repository key ({}) in {} answers first",
                        printable(key),
                        shown(&path)
                    ),
                )
                .fix(format!("remove auths[\"{}\"] from {}", printable(key), shown(&path)));
            }
            if !second.is_ours() {
                let migrate = matches!(second, Route::Plaintext { .. });
                return step(&name, Mark::Fail, not_ours(&head, &second))
                    .fix(configure_cmd(registry, false, migrate));
            }
            if let Route::Helper { helper, .. } = &first {
                if helper != HELPER {
                    return step(
                        &name,
                        Mark::Warn,
                        format!("{head}; docker-credential-{helper} is asked for the repository key first"),
                    );
                }
            }
            step(&name, Mark::Ok, head)
        }
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

/// Whether a pull with one credential works, and why not.
#[derive(Clone, Debug)]
struct Outcome {
    /// The manifest was served.
    works: bool,
    /// The registry was not reached at all: nothing is known about any credential.
    unreached: bool,
    /// The first failing live step, in its words.
    why: String,
}

impl Outcome {
    /// From the live steps (connect, auth, manifest) of one run.
    fn of(steps: &[Step]) -> Outcome {
        let failed = steps.iter().find(|s| s.mark == Mark::Fail);
        Outcome {
            works: steps
                .iter()
                .any(|s| s.name == "manifest" && matches!(s.mark, Mark::Ok | Mark::Warn)),
            unreached: steps
                .iter()
                .any(|s| s.name == "connect" && s.mark == Mark::Fail),
            why: failed.map_or_else(String::new, |s| s.detail.clone()),
        }
    }
}

/// Live outcomes per credential (an entry's key, or `None`: anonymous), each checked once.
struct Pulls {
    known: Vec<(Option<String>, Outcome)>,
    /// `None`: --no-network, nothing is asked.
    target: Option<(Registry, String, Reference)>,
}

impl Pulls {
    fn offline() -> Pulls {
        Pulls {
            known: Vec::new(),
            target: None,
        }
    }

    /// How a pull with the entry under `key` (`None`: no credential) goes.
    fn outcome(&mut self, ctx: &Context, key: Option<&str>, opts: &Options) -> Option<Outcome> {
        let (registry, repo, reference) = self.target.clone()?;
        // One entry has many spellings (Hub's above all): compared as the store names it.
        let norm = |k: &str| {
            Registry::from_server_url(k).map_or_else(|_| k.to_string(), |r| r.as_str().to_string())
        };
        // A registry that was not reached is not asked again (each try may take the budget).
        if let Some((_, o)) = self
            .known
            .iter()
            .find(|(k, o)| o.unreached || k.as_deref().map(norm) == key.map(norm))
        {
            return Some(o.clone());
        }
        let login = match key.map(|k| entry_login(ctx, k)) {
            None => None,
            Some(Ok(l)) => Some(l),
            Some(Err(why)) => {
                let o = Outcome {
                    works: false,
                    unreached: false,
                    why,
                };
                self.known.push((key.map(String::from), o.clone()));
                return Some(o);
            }
        };
        let mut steps = Vec::new();
        let target = Target {
            registry: &registry,
            image: Some((&repo, &reference)),
        };
        live(ctx, &target, login.as_ref(), opts, &mut steps, &mut |_| {});
        let o = Outcome::of(&steps);
        self.known.push((key.map(String::from), o.clone()));
        Some(o)
    }
}

/// The login `get key` answers with, or why there is none.
fn entry_login(ctx: &Context, key: &str) -> Result<Login, String> {
    let r = Registry::from_server_url(key).map_err(|e| e.protocol_message())?;
    let e = actions::load_live(ctx, &r)
        .map_err(|e| e.protocol_message())?
        .ok_or_else(|| format!("nothing stored under {}", printable(key)))?;
    resolve::resolve(ctx, &e.record)
        .map_err(|e| e.protocol_message())?
        .ok_or_else(|| format!("the {} record cannot serve a login yet", e.record.kind))
}

/// `get key` answers (an entry that has not expired).
fn stored(ctx: &Context, key: &str) -> bool {
    Registry::from_server_url(key)
        .ok()
        .and_then(|r| actions::load_live(ctx, &r).ok().flatten())
        .is_some()
}

/// The families a verdict counts: the one asked about, else every one that reads a file here.
fn counted(opts: &Options, p: &Plan) -> bool {
    opts.client.is_some() || (p.reads_config && p.family != Family::Kubelet)
}

/// `routing` fails when no family that counts routes the registry to this helper at all (and no
/// routing step already said why): every client pulls anonymously, whatever is stored.
fn nobody_routes(
    opts: &Options,
    plans: &[Plan],
    registry: &Registry,
    steps: &[Step],
) -> Option<Step> {
    let routed = plans
        .iter()
        .any(|p| counted(opts, p) && (p.family == Family::Kubelet || clients::routes_here(p)));
    let said = steps
        .iter()
        .any(|s| s.name.starts_with("routing.") && s.mark == Mark::Fail);
    if routed || said {
        return None;
    }
    let who: Vec<&str> = plans
        .iter()
        .filter(|p| opts.client.is_some() || p.family != Family::Kubelet)
        .map(|p| p.family.clients())
        .collect();
    Some(
        step(
            "routing",
            Mark::Fail,
            format!(
                "nothing on this machine routes {} to docker-credential-{HELPER} (no client config file names it): {} pull anonymously",
                printable(registry.as_str()),
                who.join("; ")
            ),
        )
        .fix(configure_cmd(
            registry,
            opts.client.is_none_or(|f| f == Family::Containers),
            false,
        )),
    )
}

/// One family's predicted pull: what it sends (the model's walk over its plan) and whether the
/// registry accepts that for this image. The docker family is judged for the CLI and docker-py
/// apart when the two would send different things.
fn pull_step(
    ctx: &Context,
    p: &Plan,
    registry: &Registry,
    repo: &str,
    reference: &Reference,
    opts: &Options,
    pulls: &mut Pulls,
) -> Step {
    let name = format!("pull.{}", p.family.name());
    let who = p.family.clients();
    if !counted(opts, p) {
        let why = if p.family == Family::Kubelet {
            "kubelet's own config decides; `doctor --client kubelet` predicts its pull"
        } else {
            "they read no client config file here: not counted"
        };
        return step(&name, Mark::Skip, format!("{who}: {why}"));
    }
    let has = |k: &str| stored(ctx, k);
    let got = clients::walk(p, &has);
    let mut parts = vec![(who, got.clone())];
    if let Some(py) = &p.docker_py {
        let py = clients::walk_chain(py, &has);
        if py != got {
            parts = vec![("docker CLI", got), ("docker-py", py)];
        }
    }
    let target = PullTarget {
        registry,
        repo,
        reference,
    };
    let judged: Vec<(Mark, String, Option<String>)> = parts
        .into_iter()
        .map(|(who, got)| judge(ctx, p, who, &got, &target, opts, pulls))
        .collect();
    let mark = [Mark::Fail, Mark::Skip]
        .into_iter()
        .find(|m| judged.iter().any(|(j, _, _)| j == m))
        .unwrap_or(Mark::Ok);
    let detail = judged
        .iter()
        .map(|(_, d, _)| d.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let fix = judged
        .into_iter()
        .find(|(m, _, _)| *m == Mark::Fail)
        .and_then(|(_, _, f)| f);
    let mut s = step(&name, mark, detail);
    s.fix = fix;
    s
}

struct PullTarget<'a> {
    registry: &'a Registry,
    repo: &'a str,
    reference: &'a Reference,
}

/// What one client (group) sends and how the registry takes it: mark, words, fix.
fn judge(
    ctx: &Context,
    p: &Plan,
    who: &str,
    got: &Got,
    t: &PullTarget,
    opts: &Options,
    pulls: &mut Pulls,
) -> (Mark, String, Option<String>) {
    let (registry, repo) = (t.registry, t.repo);
    let what = match t.reference {
        Reference::Tag(tag) => format!("{repo}:{tag}"),
        Reference::Digest(d) => format!("{repo}@{d}"),
    };
    let containers = p.family == Family::Containers;
    let (sent, key, fix) = match got {
        Got::Entry { key, via } => (
            format!(
                "ask \"{}\" ({via}) and get the entry {}",
                printable(key),
                printable(key)
            ),
            Some(key.clone()),
            format!(
                "store the login that may pull {repo} under {}: {}",
                printable(key),
                Registry::from_server_url(key)
                    .map(|r| add_command(ctx, &r))
                    .unwrap_or_default()
            ),
        ),
        Got::OtherHelper { helper, key } => {
            return (
                Mark::Fail,
                format!(
                    "{who}: ask docker-credential-{} for \"{}\", not this helper: not checked",
                    printable(helper),
                    printable(key)
                ),
                Some(configure_cmd(registry, containers, false)),
            )
        }
        Got::Plaintext { key, file } => {
            return (
                Mark::Fail,
                format!(
                    "{who}: send the plaintext login auths[\"{}\"] of {}, not this helper's: not checked",
                    printable(key),
                    shown(file)
                ),
                Some(configure_cmd(registry, containers, true)),
            )
        }
        Got::Anonymous { asked } => {
            let why = if !p.reads_config {
                "they read no client config file here".to_string()
            } else if let (true, Some(store)) = (containers, &p.ignored_store) {
                format!(
                    "credsStore (docker-credential-{}) is not read by containers/image",
                    printable(store)
                )
            } else if asked.is_empty() {
                format!(
                    "nothing routes {} to this helper",
                    printable(registry.as_str())
                )
            } else {
                format!(
                    "this helper has nothing under {}",
                    asked
                        .iter()
                        .map(|k| format!("\"{}\"", printable(k)))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            };
            let fix = if asked.is_empty() {
                configure_cmd(registry, containers, false)
            } else {
                add_hint(ctx, registry)
            };
            (format!("{why}; they pull anonymously"), None, fix)
        }
    };
    let Some(o) = pulls.outcome(ctx, key.as_deref(), opts) else {
        return (
            Mark::Skip,
            format!("{who}: {sent}; --no-network: not checked"),
            None,
        );
    };
    if o.unreached {
        return (
            Mark::Skip,
            format!("{who}: {sent}; the registry was not reached"),
            None,
        );
    }
    if o.works {
        let how = if key.is_some() {
            format!("the registry accepts it for {what}")
        } else {
            format!("the registry serves {what} anonymously")
        };
        return (Mark::Ok, format!("{who}: {sent}: {how}"), None);
    }
    (Mark::Fail, format!("{who}: {sent}: {}", o.why), Some(fix))
}

fn not_ours(head: &str, route: &Route) -> String {
    match route {
        Route::Helper { .. } => format!("{head}, not {HELPER}"),
        Route::Plaintext { .. } => format!("{head} instead of {HELPER}"),
        Route::Unrouted => format!("{head}: the pull goes anonymous"),
    }
}

fn entry_info(ctx: &Context, e: &Entry, repository: bool) -> EntryInfo {
    EntryInfo {
        key: e.record.registry.as_str().to_string(),
        scope: if repository { "repository" } else { "registry" },
        secret_name: e.record.registry.secret_name().to_string(),
        kind: e.record.kind,
        workspace: ctx.workspace.clone(),
        updated_at: e.updated_at,
        username: resolve::list_username(&e.record),
    }
}

fn describe_entry(i: &EntryInfo) -> String {
    let user = if i.username.is_empty() {
        String::new()
    } else {
        format!(", username {}", printable(&i.username))
    };
    format!(
        "{} ({} entry {}, type {}, workspace {}, updated {}{user})",
        i.secret_name,
        i.scope,
        printable(&i.key),
        i.kind,
        i.workspace,
        rfc3339::format(i.updated_at)
    )
}

/// What to run to store a login for `registry`, or to have docker store one.
fn add_hint(ctx: &Context, registry: &Registry) -> String {
    format!(
        "{} (or `docker login` once docker routes it here)",
        add_command(ctx, registry)
    )
}

/// `export NAMES and run `docker-credential-beta9 add REGISTRY NAMES``: the type's variable
/// names, whose values `add` reads from the environment.
fn add_command(ctx: &Context, registry: &Registry) -> String {
    let kind = detect::by_registry(registry).unwrap_or(CredentialType::Generic);
    let names: Vec<&str> = match kind.login_names() {
        Some((u, s)) => vec![u, s],
        None => match kind {
            CredentialType::Aws => vec!["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
            CredentialType::Gcp => vec!["GOOGLE_APPLICATION_CREDENTIALS_JSON"],
            CredentialType::Azure => vec!["AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"],
            _ => vec!["NGC_API_KEY"],
        },
    };
    let ws = if ctx.workspace == crate::paths::DEFAULT_WORKSPACE {
        String::new()
    } else {
        format!("--workspace {} ", ctx.workspace)
    };
    format!(
        "export {} and run `docker-credential-beta9 {ws}add {} {}`",
        names.join(", "),
        registry.as_str(),
        names.join(" ")
    )
}

fn token_words(ctx: &Context, kind: CredentialType, cached: &LoginKind) -> String {
    let now = ctx.now();
    match cached {
        LoginKind::Static => format!("static {kind} login, answered as stored"),
        LoginKind::Token { cached: None, .. } => {
            format!("token minted from the {kind} record on each get (none cached)")
        }
        LoginKind::Token {
            cached: Some(t), ..
        } if t.expires_at > now => format!(
            "token minted from the {kind} record; cached one ({}) fetched {} ago, expires in {} ({})",
            t.origin.as_str(),
            crate::duration::human(now.saturating_sub(t.fetched_at)),
            crate::duration::human(t.expires_at - now),
            rfc3339::format(t.expires_at)
        ),
        LoginKind::Token {
            cached: Some(t), ..
        } => format!(
            "token minted from the {kind} record; the cached one expired {} ago, the next get mints a new one",
            crate::duration::human(now.saturating_sub(t.expires_at))
        ),
    }
}

/// `--workspace W ` when the run is not in the default workspace: commands named in a fix act on
/// the same entries doctor looked at.
fn ws_flag(ctx: &Context) -> String {
    if ctx.workspace == crate::paths::DEFAULT_WORKSPACE {
        String::new()
    } else {
        format!("--workspace {} ", ctx.workspace)
    }
}

/// `docker-credential-beta9 [--workspace W] show KEY`: the entry's record, as `show` takes it.
fn show_command(ctx: &Context, e: &Entry) -> String {
    let ws = ws_flag(ctx);
    format!(
        "`docker-credential-beta9 {ws}show {}`",
        printable(e.record.registry.as_str())
    )
}

fn login_step(ctx: &Context, e: &Entry, opts: &Options) -> (Step, Option<Login>) {
    let kind = e.record.kind;
    let show = show_command(ctx, e);
    let before = match resolve::login_kind(ctx, &e.record) {
        Ok(k) => k,
        Err(err) => {
            return (
                step("login", Mark::Fail, err.protocol_message())
                    .fix(format!("see {show} for the record")),
                None,
            )
        }
    };
    if opts.no_network {
        return (
            step("login", Mark::Ok, token_words(ctx, kind, &before)),
            None,
        );
    }
    match resolve::resolve(ctx, &e.record) {
        Ok(Some(login)) => {
            let after = resolve::login_kind(ctx, &e.record).unwrap_or(before);
            (
                step("login", Mark::Ok, token_words(ctx, kind, &after)),
                Some(login),
            )
        }
        Ok(None) => (
            step(
                "login",
                Mark::Fail,
                format!("the {kind} record cannot serve a login yet"),
            )
            .fix(format!("see {show}")),
            None,
        ),
        Err(err) => (
            step("login", Mark::Fail, err.protocol_message()).fix(format!(
                "fix the record's credentials ({show}, then `add` or `import` it again)"
            )),
            None,
        ),
    }
}

struct Target<'a> {
    registry: &'a Registry,
    /// The repository and tag or digest to pull; `None` checks the login only (`add HOST
    /// --verify`): the token endpoint is asked without a scope, as `docker login` asks it.
    image: Option<(&'a str, &'a Reference)>,
}

/// The host a client talks to for a registry (Hub's API is on registry-1.docker.io).
fn api_host(registry: &Registry) -> String {
    if registry.is_docker_hub() {
        "registry-1.docker.io".into()
    } else {
        registry.host().to_string()
    }
}

fn is_loopback(host: &str) -> bool {
    Url::parse(&format!("http://{host}/")).is_some_and(|u| u.is_loopback())
}

/// `Basic base64(user:secret)`.
fn basic(login: &Login) -> Zeroizing<String> {
    use base64::Engine as _;
    let pair = Zeroizing::new(format!(
        "{}:{}",
        login.username.expose_secret(),
        login.secret.expose_secret()
    ));
    Zeroizing::new(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair.as_bytes())
    ))
}

/// docker's marker for an identity (refresh) token in place of a password.
fn is_identity_token(login: &Login) -> bool {
    login.username.expose_secret() == "<token>"
}

/// The live check: connect (challenge), auth, manifest. Returns whether the manifest was found
/// without any login.
fn live(
    ctx: &Context,
    t: &Target,
    login: Option<&Login>,
    opts: &Options,
    steps: &mut Vec<Step>,
    answered: &mut dyn FnMut(&[Step]),
) -> bool {
    let host = api_host(t.registry);
    let proxies = match ctx.proxies() {
        Ok(p) => p,
        Err(e) => {
            steps.push(
                step("connect", Mark::Fail, e.to_string())
                    .fix("fix or unset that proxy variable (docs/proxies.md)".to_string())
                    .cause(Cause::Other),
            );
            steps.push(step("auth", Mark::Skip, "the registry was not reached"));
            steps.push(step("manifest", Mark::Skip, "the registry was not reached"));
            return false;
        }
    };
    let loopback = is_loopback(&host);
    // What each client family trusts for this host (docs/clients.md, "Registry certificates").
    let trust = trust::Trust::for_host(&ctx.env, &host);
    let client = Client::new(ctx.budget(), proxies).with_roots(trust.union());
    let budget = client.budget();
    let schemes: &[Scheme] = if opts.plain_http {
        &[Scheme::Http]
    } else if loopback {
        &[Scheme::Https, Scheme::Http]
    } else {
        &[Scheme::Https]
    };
    let mut failed: Vec<String> = Vec::new();
    let mut found: Option<(Scheme, Answer)> = None;
    for scheme in schemes {
        let url = format!("{}://{host}/v2/", scheme.as_str());
        match client.request(Method::Get, &url, None, None) {
            Ok(a) => {
                found = Some((*scheme, a));
                break;
            }
            Err(NetError::Timeout) => {
                failed.push(format!(
                    "{}: {}",
                    scheme.as_str(),
                    NetError::Timeout.describe(budget)
                ));
                break;
            }
            // The registry speaks TLS but its certificate is refused: plain http on that port
            // answers 400, which says nothing (docs/clients.md, "Registry certificates").
            Err(NetError::Certificate(p)) => {
                let (detail, fix) = trust::refused(&trust, &p, loopback);
                steps.push(
                    step("connect", Mark::Fail, detail.clone())
                        .fix(fix)
                        .cause(Cause::Unreachable(detail)),
                );
                steps.push(step("auth", Mark::Skip, "the registry was not reached"));
                steps.push(step("manifest", Mark::Skip, "the registry was not reached"));
                return false;
            }
            Err(e) => failed.push(format!("{}: {}", scheme.as_str(), e.describe(budget))),
        }
    }
    let proxied = |scheme: Scheme| {
        client
            .via(&format!("{}://{host}/v2/", scheme.as_str()))
            .map_or_else(String::new, |v| format!(" {v}"))
    };
    let Some((scheme, ping)) = found else {
        let fix = if loopback || opts.plain_http {
            format!("start the registry or check the address {host}")
        } else {
            format!("check that {host} is reachable from here (DNS, firewall, VPN); a registry on plain http needs --plain-http")
        };
        let through = schemes.first().map_or_else(String::new, |s| proxied(*s));
        let detail = format!("cannot reach {host}{through}: {}", failed.join("; "));
        steps.push(
            step("connect", Mark::Fail, detail.clone())
                .fix(fix)
                .cause(Cause::Unreachable(detail)),
        );
        steps.push(step("auth", Mark::Skip, "the registry was not reached"));
        steps.push(step("manifest", Mark::Skip, "the registry was not reached"));
        return false;
    };
    let base = format!("{}://{host}", scheme.as_str());
    let via = if scheme == Scheme::Http && !opts.plain_http {
        format!(
            " over plain http ({}; allowed because the registry is on loopback, as docker treats 127.0.0.0/8)",
            failed.join("; ")
        )
    } else {
        proxied(scheme)
    };
    let challenge = ping
        .challenges
        .iter()
        .find(|c| c.scheme == "bearer")
        .or_else(|| ping.challenges.iter().find(|c| c.scheme == "basic"))
        .cloned();
    let challenge_words = |c: &probe::Challenge| match c.scheme.as_str() {
        "bearer" => format!(
            "Bearer realm {}{}",
            c.param("realm")
                .map_or_else(|| "(none)".into(), probe::shown_url),
            c.param("service")
                .map(|s| format!(", service {}", printable(s)))
                .unwrap_or_default()
        ),
        _ => format!(
            "Basic realm \"{}\"",
            printable(c.param("realm").unwrap_or_default())
        ),
    };
    match (ping.status, &challenge) {
        (401, Some(c)) => steps.push(step(
            "connect",
            Mark::Ok,
            format!(
                "GET {base}/v2/ answered 401 with {}{via}",
                challenge_words(c)
            ),
        )),
        (200, _) => steps.push(step(
            "connect",
            Mark::Ok,
            format!("GET {base}/v2/ answered 200: no credential asked at /v2/{via}"),
        )),
        (401, None) => {
            steps.push(
                step(
                    "connect",
                    Mark::Fail,
                    format!("GET {base}/v2/ answered 401 without a Basic or Bearer challenge"),
                )
                .fix("the registry's auth is not something docker clients can use")
                .cause(Cause::Other),
            );
            steps.push(step("auth", Mark::Skip, "no challenge to answer"));
            steps.push(step("manifest", Mark::Skip, "no challenge to answer"));
            return false;
        }
        (status, _) => {
            steps.push(
                step(
                    "connect",
                    Mark::Fail,
                    format!("GET {base}/v2/ answered {status}: not a registry v2 API there"),
                )
                .fix(format!("check the registry address {host}"))
                .cause(Cause::Other),
            );
            steps.push(step("auth", Mark::Skip, "no registry API"));
            steps.push(step("manifest", Mark::Skip, "no registry API"));
            return false;
        }
    }
    if scheme == Scheme::Https {
        let url = format!("{base}/v2/");
        let ping = |roots: &[_]| client.ping_trusting(&url, roots);
        if let (Some((words, fix)), Some(s)) =
            (trust::families(&trust, loopback, &ping), steps.last_mut())
        {
            s.detail.push_str(&words);
            // Some family refuses the certificate: the pull works for the others.
            if fix.is_some() {
                s.mark = Mark::Warn;
                s.fix = fix;
            }
        }
    }
    answered(steps);
    let scope = t.image.map(|(repo, _)| format!("repository:{repo}:pull"));
    // What the manifest request carries.
    let authorization: Option<Zeroizing<String>> = match (&challenge, login) {
        (None, _) => {
            steps.push(step(
                "auth",
                Mark::Skip,
                "the registry asked for no credential",
            ));
            None
        }
        (Some(c), Some(l)) if c.scheme == "basic" => {
            if is_identity_token(l) {
                steps.push(
                    step("auth", Mark::Fail, "the stored login is an identity token, which a Basic challenge cannot take")
                        .fix("store a username and password for this registry")
                        .cause(Cause::Other),
                );
                steps.push(step("manifest", Mark::Skip, "no accepted login"));
                return false;
            }
            let header = basic(l);
            match client.request(Method::Get, &format!("{base}/v2/"), Some(&header), None) {
                Ok(a) if a.status == 200 => {
                    steps.push(step(
                        "auth",
                        Mark::Ok,
                        format!(
                            "GET {base}/v2/ with the stored login: 200, the registry accepts it"
                        ),
                    ));
                    Some(header)
                }
                Ok(a) if a.status == 401 => {
                    steps.push(
                        step(
                            "auth",
                            Mark::Fail,
                            "401 at /v2/ with the stored login: the registry rejects it",
                        )
                        .fix(format!(
                            "store the right password: `docker login {}` (routed here), or {}",
                            t.registry.host(),
                            add_command(ctx, t.registry)
                        ))
                        .cause(Cause::Rejected(said(&a))),
                    );
                    steps.push(step("manifest", Mark::Skip, "no accepted login"));
                    return false;
                }
                Ok(a) => {
                    steps.push(
                        step(
                            "auth",
                            Mark::Fail,
                            format!("GET /v2/ with the stored login answered {}", a.status),
                        )
                        .fix("check the registry's logs")
                        .cause(if a.status == 403 {
                            Cause::Rejected(said(&a))
                        } else {
                            Cause::Other
                        }),
                    );
                    steps.push(step("manifest", Mark::Skip, "no accepted login"));
                    return false;
                }
                Err(e) => {
                    steps.push(
                        step(
                            "auth",
                            Mark::Fail,
                            format!("GET /v2/ with the stored login: {}", e.describe(budget)),
                        )
                        .cause(Cause::Unreachable(e.describe(budget))),
                    );
                    steps.push(step("manifest", Mark::Skip, "no accepted login"));
                    return false;
                }
            }
        }
        (Some(c), login) if c.scheme == "bearer" => {
            match bearer(&client, c, scope.as_deref(), login, opts, steps) {
                Some(h) => Some(h),
                None => {
                    steps.push(step("manifest", Mark::Skip, "no token"));
                    return false;
                }
            }
        }
        (Some(_), _) => {
            steps.push(step("auth", Mark::Skip, "no login to try"));
            None
        }
    };
    let Some((repo, reference)) = t.image else {
        steps.push(step(
            "manifest",
            Mark::Skip,
            "no image named: the login only was checked",
        ));
        return false;
    };
    let url = format!("{base}/v2/{repo}/manifests/{}", reference.as_str());
    let what = match reference {
        Reference::Tag(tag) => format!("{repo}:{tag}"),
        Reference::Digest(d) => format!("{repo}@{d}"),
    };
    let with_login = login.is_some() && authorization.is_some();
    match client.request(
        Method::Head,
        &url,
        authorization.as_ref().map(|h| h.as_str()),
        Some(probe::MANIFEST_ACCEPT),
    ) {
        Ok(a) if a.status == 200 => {
            let digest = a
                .digest
                .map(|d| format!(" {}", printable(&d)))
                .unwrap_or_default();
            let media = a
                .content_type
                .map(|m| format!(" ({})", printable(&m)))
                .unwrap_or_default();
            let detail = format!(
                "HEAD /v2/{repo}/manifests/{}: 200,{digest}{media}",
                reference.as_str()
            );
            steps.push(match a.rate_limit {
                // The manifest is there, but the next pull's GET would be refused.
                Some(r) if r.remaining == 0 => step(
                    "manifest",
                    Mark::Warn,
                    format!(
                        "{detail}; {}: the next pull fails with 429 toomanyrequests",
                        allowance(&r)
                    ),
                )
                .fix(rate_limit_fix(ctx, t, with_login)),
                Some(r) => step("manifest", Mark::Ok, format!("{detail}; {}", allowance(&r))),
                None => step("manifest", Mark::Ok, detail),
            });
            !with_login
        }
        Ok(a) if a.status == 429 => {
            let whose = if with_login {
                "this account's"
            } else {
                "anonymous (per address)"
            };
            let detail = match a.rate_limit {
                Some(r) if r.remaining > 0 => format!(
                    "manifest 429 toomanyrequests: the registry is throttling requests ({}, {whose} allowance)",
                    allowance(&r)
                ),
                Some(r) => format!(
                    "manifest 429 toomanyrequests: {whose} pull rate limit is used up ({})",
                    allowance(&r)
                ),
                None => format!(
                    "manifest 429 toomanyrequests: {whose} pull rate limit is used up or the registry is throttling requests"
                ),
            };
            steps.push(
                step("manifest", Mark::Fail, detail)
                    .fix(rate_limit_fix(ctx, t, with_login))
                    .cause(Cause::Other),
            );
            false
        }
        Ok(a) if a.status == 404 => {
            let detail = if with_login {
                format!("manifest 404: the credential works but {what} does not exist (no such tag or repository)")
            } else {
                format!("manifest 404: {what} does not exist (or is hidden from anonymous pulls)")
            };
            steps.push(
                step("manifest", Mark::Fail, detail)
                    .fix(format!(
                        "check the name and tag: `skopeo list-tags docker://{}/{repo}` shows the tags",
                        t.registry.host(),
                    ))
                    .cause(Cause::Missing(said(&a))),
            );
            false
        }
        Ok(a) if matches!(a.status, 401 | 403) => {
            let detail = if with_login {
                format!("manifest {}: the account cannot pull {repo}", a.status)
            } else {
                format!("manifest {} without a login: {repo} needs one", a.status)
            };
            let fix = if with_login {
                format!("grant the account pull access to {repo}, or store a login that has it")
            } else {
                add_hint(ctx, t.registry)
            };
            steps.push(
                step("manifest", Mark::Fail, detail)
                    .fix(fix)
                    .cause(Cause::NoPull(said(&a))),
            );
            false
        }
        Ok(a) => {
            steps.push(
                step(
                    "manifest",
                    Mark::Fail,
                    format!("HEAD of the manifest answered {}", a.status),
                )
                .fix("check the registry's logs")
                .cause(Cause::Other),
            );
            false
        }
        Err(e) => {
            steps.push(
                step(
                    "manifest",
                    Mark::Fail,
                    format!("HEAD of the manifest: {}", e.describe(budget)),
                )
                .cause(Cause::Unreachable(e.describe(budget))),
            );
            false
        }
    }
}

/// `76 of 100 pulls left in this 6 h window`.
fn allowance(r: &probe::RateLimit) -> String {
    let window = match r.window {
        Some(w) => format!(" in this {} window", crate::duration::human(w)),
        None => String::new(),
    };
    format!(
        "rate limit: {} of {} pulls left{window}",
        r.remaining, r.limit
    )
}

/// Anonymous pulls share one allowance per address; an account has its own, larger one.
fn rate_limit_fix(ctx: &Context, t: &Target, with_login: bool) -> String {
    if with_login {
        "wait for the window to pass, or store a login whose plan allows more pulls".into()
    } else {
        format!(
            "pulls without a login share the address's small allowance: {}",
            add_hint(ctx, t.registry)
        )
    }
}

/// The token endpoint for a Bearer challenge: `GET realm?service=…&scope=…` with the login as
/// Basic auth (anonymous without one), or the OAuth2 refresh-token POST for an identity token.
/// Without a scope (the login only) the endpoint judges the login alone, as for `docker login`.
/// Pushes the `auth` step; the manifest's `Authorization` on success.
fn bearer(
    client: &Client,
    c: &probe::Challenge,
    scope: Option<&str>,
    login: Option<&Login>,
    opts: &Options,
    steps: &mut Vec<Step>,
) -> Option<Zeroizing<String>> {
    let budget = client.budget();
    let Some(realm) = c.param("realm").filter(|r| !r.is_empty()) else {
        steps.push(
            step(
                "auth",
                Mark::Fail,
                "the Bearer challenge names no realm (token endpoint)",
            )
            .cause(Cause::Other),
        );
        return None;
    };
    let shown_realm = probe::shown_url(realm);
    let Some(u) = Url::parse(realm).filter(|u| u.scheme == "https" || u.scheme == "http") else {
        steps.push(
            step("auth", Mark::Fail, "the Bearer realm is not an http(s) URL").cause(Cause::Other),
        );
        return None;
    };
    if u.scheme == "http" && !u.is_loopback() && !opts.plain_http {
        steps.push(
            step(
                "auth",
                Mark::Fail,
                format!(
                    "the token endpoint {shown_realm} is plain http: the login is not sent over it"
                ),
            )
            .fix("pass --plain-http if that is really intended")
            .cause(Cause::Other),
        );
        return None;
    }
    let service = c.param("service").unwrap_or_default();
    let mut query: Vec<String> = Vec::new();
    if !service.is_empty() {
        query.push(format!("service={}", probe::encode(service)));
    }
    if let Some(scope) = scope {
        query.push(format!("scope={}", probe::encode(scope)));
    }
    let query = query.join("&");
    let for_scope = scope.map_or_else(String::new, |s| format!(" for scope {s}"));
    let anonymous = login.is_none();
    let answer = match login {
        Some(l) if is_identity_token(l) => {
            let sep = if query.is_empty() { "" } else { "&" };
            let body = Zeroizing::new(format!(
                "grant_type=refresh_token&client_id=docker-credential-beta9{sep}{query}&refresh_token={}",
                probe::encode(l.secret.expose_secret())
            ));
            client.request(
                Method::Form(body.as_bytes()),
                realm,
                None,
                Some("application/json"),
            )
        }
        _ => {
            let sep = match (query.is_empty(), realm.contains('?')) {
                (true, _) => "",
                (false, true) => "&",
                (false, false) => "?",
            };
            let url = format!("{realm}{sep}{query}");
            let header = login.map(basic);
            client.request(
                Method::Get,
                &url,
                header.as_ref().map(|h| h.as_str()),
                Some("application/json"),
            )
        }
    };
    let who = if anonymous {
        "anonymously"
    } else {
        "with the stored login"
    };
    match answer {
        Ok(a) if a.status == 200 => match probe::token_reply(&a.body) {
            Some(tok) => {
                let exp = tok
                    .expires_in
                    .map(|e| format!(", expires in {e}s"))
                    .unwrap_or_default();
                steps.push(step(
                    "auth",
                    Mark::Ok,
                    match scope {
                        Some(scope) => format!(
                            "token endpoint {shown_realm} issued a token for {scope} {who}{exp}"
                        ),
                        None => format!("token endpoint {shown_realm} issued a token {who}{exp}"),
                    },
                ));
                Some(Zeroizing::new(format!(
                    "Bearer {}",
                    tok.token.expose_secret()
                )))
            }
            None => {
                steps.push(
                    step(
                        "auth",
                        Mark::Fail,
                        format!("token endpoint {shown_realm} answered 200 without a token"),
                    )
                    .cause(Cause::Other),
                );
                None
            }
        },
        Ok(a) if a.status == 401 => {
            steps.push(
                step(
                    "auth",
                    Mark::Fail,
                    if anonymous {
                        format!("token endpoint 401{for_scope} without a login: it needs one")
                    } else {
                        format!("token endpoint 401{for_scope}: the registry rejects the stored login")
                    },
                )
                .fix("store the right login for this registry (`docker login`, routed here, or `docker-credential-beta9 add`)")
                .cause(Cause::Rejected(said(&a))),
            );
            None
        }
        Ok(a) if a.status == 403 => {
            let Some(scope) = scope else {
                steps.push(
                    step(
                        "auth",
                        Mark::Fail,
                        "token endpoint 403: the registry refuses the stored login",
                    )
                    .cause(Cause::Rejected(said(&a))),
                );
                return None;
            };
            let repo = scope
                .strip_prefix("repository:")
                .and_then(|s| s.strip_suffix(":pull"))
                .unwrap_or(scope);
            steps.push(
                step(
                    "auth",
                    Mark::Fail,
                    format!("token endpoint 403 for scope {scope}: the account cannot pull {repo}"),
                )
                .fix(format!(
                    "grant the account pull access to {repo}, or store a login that has it"
                ))
                .cause(Cause::NoPull(said(&a))),
            );
            None
        }
        Ok(a) => {
            let code = probe::error_code(&a.body)
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            steps.push(
                step(
                    "auth",
                    Mark::Fail,
                    format!("token endpoint {shown_realm} answered {}{code}", a.status),
                )
                .cause(Cause::Other),
            );
            None
        }
        Err(e) => {
            steps.push(
                step(
                    "auth",
                    Mark::Fail,
                    format!("token endpoint {shown_realm}: {}", e.describe(budget)),
                )
                .fix("check that the token service is reachable from here")
                .cause(Cause::Unreachable(format!(
                    "token endpoint {shown_realm}: {}",
                    e.describe(budget)
                ))),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;

    #[test]
    fn targets_parse_registry_repository_and_reference() {
        let (r, repo, reference) = parse_target("nginx").unwrap();
        assert_eq!((r.as_str(), repo.as_str()), ("docker.io", "library/nginx"));
        assert_eq!(reference, Reference::Tag("latest".into()));
        let (r, repo, reference) = parse_target("127.0.0.1:5000/beta9/tiny:v1").unwrap();
        assert_eq!(
            (r.as_str(), repo.as_str()),
            ("127.0.0.1:5000", "beta9/tiny")
        );
        assert_eq!(reference, Reference::Tag("v1".into()));
        let (_, _, reference) = parse_target("ghcr.io/o/a:1@sha256:0123abcd").unwrap();
        assert_eq!(reference, Reference::Digest("sha256:0123abcd".into()));
        let (_, repo, reference) = parse_target("localhost:5000/img").unwrap();
        assert_eq!((repo.as_str(), reference.as_str()), ("img", "latest"));
        for bad in [
            "ghcr.io",
            "",
            ":",
            "ghcr.io/o/a@nodigest",
            "ghcr.io/o/a:t%2f",
            "ghcr.io/O/a",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_entry_names_the_add_command_and_stops_short_offline() {
        let ctx = Context::in_memory(Env::from_pairs([
            ("HOME", "/nonexistent-home"),
            ("XDG_RUNTIME_DIR", "/nonexistent-run"),
        ]));
        let r = run(
            &ctx,
            "registry.example.com:5000/team/app:1",
            &Options {
                plain_http: false,
                no_network: true,
                client: None,
            },
        );
        // Nothing routes it on this machine: that comes first, then the missing entry.
        let f = r.first_failure().unwrap();
        assert_eq!(f.name, "routing");
        let entry = r.steps.iter().find(|s| s.name == "entry").unwrap();
        assert_eq!(entry.mark, Mark::Fail);
        assert!(
            entry
                .fix
                .as_deref()
                .unwrap()
                .contains("add registry.example.com:5000 USERNAME PASSWORD"),
            "{entry:?}"
        );
        let names: Vec<_> = r.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "reference",
                "routing.docker",
                "routing.containers",
                "routing.ggcr",
                "routing.kubelet",
                "routing",
                "entry",
                "login",
                "connect",
                "auth",
                "manifest",
                "pull.docker",
                "pull.containers",
                "pull.ggcr",
                "pull.kubelet"
            ]
        );
        assert!(r.steps[8..].iter().all(|s| s.mark == Mark::Skip));
    }

    // The verdict's decisions, each from canned inputs: parsed config text, an in-memory store,
    // and live outcomes given per credential (no network).

    const HOST: &str = "r.io";
    const REPO: &str = "team/app";

    fn outcome(works: bool, why: &str) -> Outcome {
        Outcome {
            works,
            unreached: false,
            why: why.into(),
        }
    }

    /// A machine whose only file is docker's config.json with `text` (read by every family).
    fn machine(text: &str) -> clients::Machine {
        let f = ConfigFile {
            path: "/h/.docker/config.json".into(),
            state: cc::FileState::Parsed(cc::parse(text.as_bytes(), false).unwrap()),
        };
        clients::Machine {
            docker: Some(f.clone()),
            containers: vec![f.clone()],
            ggcr: Some(f),
        }
    }

    fn with_entries(keys: &[(&str, &str)]) -> Context {
        let ctx = Context::in_memory(Env::from_pairs([("HOME", "/nonexistent-home")]));
        for (key, user) in keys {
            actions::store(
                &ctx,
                crate::login::NewLogin {
                    server_url: key.to_string(),
                    username: user.to_string(),
                    secret: "s".to_string().into(),
                },
            )
            .unwrap();
        }
        ctx
    }

    /// Each family's pull step, given the live outcome per credential (`None`: anonymous).
    fn verdict(
        ctx: &Context,
        m: &clients::Machine,
        client: Option<Family>,
        known: Vec<(Option<&str>, Outcome)>,
    ) -> Vec<Step> {
        let image = format!("{HOST}/{REPO}:1");
        let (registry, repo, reference) = parse_target(&image).unwrap();
        let keys = cc::keys(&image, &registry, &repo);
        let opts = Options {
            client,
            ..Options::default()
        };
        let mut pulls = Pulls {
            known: known
                .into_iter()
                .map(|(k, o)| (k.map(String::from), o))
                .collect(),
            target: Some((registry.clone(), repo.clone(), reference.clone())),
        };
        let families = client.map_or_else(|| Family::ALL.to_vec(), |f| vec![f]);
        let plans: Vec<Plan> = families
            .iter()
            .map(|f| clients::plan(*f, m, &keys, &registry, &repo))
            .collect();
        let mut out: Vec<Step> = nobody_routes(&opts, &plans, &registry, &[])
            .into_iter()
            .collect();
        for p in &plans {
            out.push(pull_step(
                ctx, p, &registry, &repo, &reference, &opts, &mut pulls,
            ));
        }
        out
    }

    fn get<'a>(steps: &'a [Step], name: &str) -> &'a Step {
        steps.iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn a_right_repository_entry_does_not_save_a_wrong_registry_entry_under_credhelpers() {
        let ctx = with_entries(&[(HOST, "wrong"), ("r.io/team/app", "right")]);
        let m = machine(r#"{"credHelpers": {"r.io": "beta9"}}"#);
        let steps = verdict(
            &ctx,
            &m,
            None,
            vec![
                (Some("r.io/team/app"), outcome(true, "")),
                (
                    Some(HOST),
                    outcome(false, "401 at /v2/ with the stored login"),
                ),
            ],
        );
        for name in ["pull.docker", "pull.containers", "pull.ggcr"] {
            let s = get(&steps, name);
            assert_eq!(s.mark, Mark::Fail, "{s:?}");
            assert!(
                s.detail
                    .contains("ask \"r.io\" (credHelpers) and get the entry r.io: 401"),
                "{s:?}"
            );
        }
        assert_eq!(get(&steps, "pull.kubelet").mark, Mark::Skip);
        // kubelet, asked alone, gets the repository's entry, which works.
        let steps = verdict(
            &ctx,
            &m,
            Some(Family::Kubelet),
            vec![(Some("r.io/team/app"), outcome(true, ""))],
        );
        assert_eq!(get(&steps, "pull.kubelet").mark, Mark::Ok);
        assert_eq!(steps.len(), 1);
    }

    #[test]
    fn under_credsstore_ggcr_gets_the_repository_entry_and_containers_pull_anonymously() {
        let ctx = with_entries(&[(HOST, "wrong"), ("r.io/team/app", "right")]);
        let m = machine(r#"{"credsStore": "beta9"}"#);
        let steps = verdict(
            &ctx,
            &m,
            None,
            vec![
                (Some("r.io/team/app"), outcome(true, "")),
                (Some(HOST), outcome(false, "401")),
                (None, outcome(false, "manifest 401 without a login")),
            ],
        );
        assert_eq!(get(&steps, "pull.ggcr").mark, Mark::Ok);
        assert_eq!(get(&steps, "pull.docker").mark, Mark::Fail);
        let c = get(&steps, "pull.containers");
        assert_eq!(c.mark, Mark::Fail);
        assert!(
            c.detail.starts_with("podman, buildah, skopeo: credsStore (docker-credential-beta9) is not read by containers/image; they pull anonymously: manifest 401"),
            "{c:?}"
        );
    }

    #[test]
    fn nothing_routed_fails_and_only_families_that_read_a_file_count() {
        let ctx = with_entries(&[(HOST, "right")]);
        let none = clients::Machine::default();
        let steps = verdict(&ctx, &none, None, vec![(None, outcome(false, "401"))]);
        let r = get(&steps, "routing");
        assert_eq!(r.mark, Mark::Fail);
        assert!(
            r.detail.contains("nothing on this machine routes r.io"),
            "{r:?}"
        );
        for name in [
            "pull.docker",
            "pull.containers",
            "pull.ggcr",
            "pull.kubelet",
        ] {
            assert_eq!(get(&steps, name).mark, Mark::Skip, "{name}");
        }
        // Asked about one family, it counts: it pulls anonymously.
        let steps = verdict(
            &ctx,
            &none,
            Some(Family::Docker),
            vec![(None, outcome(false, "401"))],
        );
        let d = get(&steps, "pull.docker");
        assert_eq!(d.mark, Mark::Fail);
        assert!(
            d.detail
                .contains("they read no client config file here; they pull anonymously"),
            "{d:?}"
        );
        // One routed family is enough for routing; the others are judged on their pulls.
        let m = machine(r#"{"credHelpers": {"r.io": "beta9"}}"#);
        let steps = verdict(&ctx, &m, None, vec![(Some(HOST), outcome(true, ""))]);
        assert!(steps.iter().all(|s| s.name != "routing"));
        assert!(
            steps
                .iter()
                .all(|s| matches!(s.mark, Mark::Ok | Mark::Skip)),
            "{steps:?}"
        );
    }

    #[test]
    fn not_found_under_credhelpers_is_an_anonymous_pull_and_docker_py_is_named() {
        let ctx = with_entries(&[("r.io/team/app", "right")]);
        let m =
            machine(r#"{"credHelpers": {"r.io": "beta9"}, "auths": {"r.io": {"auth": "dTpw"}}}"#);
        let steps = verdict(
            &ctx,
            &m,
            Some(Family::Docker),
            vec![(None, outcome(false, "manifest 401 without a login"))],
        );
        let d = get(&steps, "pull.docker");
        assert_eq!(d.mark, Mark::Fail);
        assert!(d.detail.starts_with("docker CLI: this helper has nothing under \"r.io\"; they pull anonymously: manifest 401"), "{d:?}");
        assert!(
            d.detail.contains(
                "; docker-py: send the plaintext login auths[\"r.io\"] of /h/.docker/config.json"
            ),
            "{d:?}"
        );
        // A public image: the anonymous pull works.
        let m = machine(r#"{"credHelpers": {"r.io": "beta9"}}"#);
        let steps = verdict(
            &ctx,
            &m,
            Some(Family::Docker),
            vec![(None, outcome(true, ""))],
        );
        assert_eq!(get(&steps, "pull.docker").mark, Mark::Ok);
        // "CredHelpers" routes the docker CLI, not docker-py (Python reads exact names).
        let ctx = with_entries(&[(HOST, "right")]);
        let m = machine(r#"{"CredHelpers": {"r.io": "beta9"}}"#);
        let steps = verdict(
            &ctx,
            &m,
            Some(Family::Docker),
            vec![
                (Some(HOST), outcome(true, "")),
                (None, outcome(false, "manifest 401")),
            ],
        );
        let d = get(&steps, "pull.docker");
        assert_eq!(d.mark, Mark::Fail);
        assert!(d.detail.starts_with("docker CLI: ask \"r.io\" (credHelpers) and get the entry r.io: the registry accepts it"), "{d:?}");
        assert!(d.detail.contains("; docker-py: nothing routes r.io to this helper; they pull anonymously: manifest 401"), "{d:?}");
    }

    #[test]
    fn an_unreached_registry_or_no_network_predicts_without_judging() {
        let ctx = with_entries(&[(HOST, "right")]);
        let m = machine(r#"{"credHelpers": {"r.io": "beta9"}}"#);
        let unreached = Outcome {
            works: false,
            unreached: true,
            why: "cannot reach".into(),
        };
        let steps = verdict(
            &ctx,
            &m,
            Some(Family::Ggcr),
            vec![(Some(HOST), unreached.clone())],
        );
        let g = get(&steps, "pull.ggcr");
        assert_eq!(g.mark, Mark::Skip);
        assert!(g.detail.contains("the registry was not reached"), "{g:?}");
        // Unreached once: no other credential is tried (each try may take the whole budget).
        let image = format!("{HOST}/{REPO}:1");
        let mut pulls = Pulls {
            known: vec![(None, unreached)],
            target: Some(parse_target(&image).unwrap()),
        };
        let o = pulls
            .outcome(&ctx, Some(HOST), &Options::default())
            .unwrap();
        assert!(o.unreached && pulls.known.len() == 1);
        let mut pulls = Pulls::offline();
        let image = format!("{HOST}/{REPO}:1");
        let (registry, repo, reference) = parse_target(&image).unwrap();
        let keys = cc::keys(&image, &registry, &repo);
        let p = clients::plan(Family::Ggcr, &m, &keys, &registry, &repo);
        let s = pull_step(
            &ctx,
            &p,
            &registry,
            &repo,
            &reference,
            &Options::default(),
            &mut pulls,
        );
        assert_eq!(s.mark, Mark::Skip);
        assert!(s.detail.contains("--no-network"), "{s:?}");
    }
}
