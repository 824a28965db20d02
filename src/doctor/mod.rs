//! `doctor <image>`: every step between an image reference and a pull, checked in order, each
//! reported with what it found: the reference, the key each client family asks and whether its
//! config routes that key here, the entry that answers, the login it resolves to, and a live
//! check against the registry as a client pulls (docs/clients.md, "Registry v2 pull
//! authentication"). Plain functions returning a [`Report`]; `commands::doctor` prints it.
//!
//! Never a secret in a report: usernames may be shown, passwords, tokens and response bodies never.

pub(crate) mod leftovers;
mod live;
mod model;
pub(crate) mod probe;
mod routing;
pub(crate) mod trust;
mod verdict;
pub(crate) mod verify;
mod words;

use crate::actions;
use crate::clients::config::{self as cc, Family};
use crate::clients::{self, Plan};
use crate::context::Context;
use crate::error::printable;
use crate::login::Login;
use crate::record::Entry;
use crate::registry::{ImageRef, Registry};
use crate::rfc3339;
use live::{live, Target};
use model::{step, Outcome, Progress};
pub(crate) use model::{Cause, EntryInfo, Mark, Options, Reference, Report, Step};
use routing::routing;
use verdict::{nobody_routes, pull_step, Pulls};
use words::{add_hint, describe_entry, show_command, token_words, ws_flag};

/// Runs every step it can for `image`.
pub(crate) fn run(ctx: &Context, image: &str, opts: &Options) -> Report {
    run_shown(ctx, image, opts, &mut |_| {})
}

/// [`run`], giving `shown` each run of steps as soon as they are final; the [`Report`] still
/// holds every step (the caller prints those it was not yet given).
pub(crate) fn run_shown(
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
    let machine = clients::Machine::read(&ctx.settings);
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
                    .fix(format!("see `docker-credential-beta9 {}ls`; an entry that cannot be opened needs the key it was sealed with", ws_flag(&ctx.workspace))),
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
    entry_step(
        ctx,
        image,
        &registry,
        repo_key.as_ref(),
        (repo_entry.as_ref(), registry_entry.as_ref()),
        &mut report,
    );
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
    if let Some((detail, fix)) =
        leftovers::leftover(ctx, &registry, &stored, &ws_flag(&ctx.workspace))
    {
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

/// The `entry` step: the entry that answers (and, for a repository entry, what the clients that
/// ask the host get instead), or that nothing does and where one is.
fn entry_step(
    ctx: &Context,
    image: &str,
    registry: &Registry,
    repo_key: Option<&Registry>,
    (repo_entry, registry_entry): (Option<&Entry>, Option<&Entry>),
    report: &mut Report,
) {
    let answering = repo_entry.or(registry_entry);
    match answering {
        Some(e) => {
            let info = entry_info(ctx, e, repo_entry.is_some());
            let mut s = step("entry", Mark::Ok, describe_entry(&info));
            if repo_entry.is_some() {
                match registry_entry {
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
                        s.fix = Some(add_hint(&ctx.workspace, registry));
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
                    repo_key.map_or_else(|| "-".to_string(), |k| printable(k.as_str())),
                    ctx.workspace
                ),
            )
            .fix(add_hint(&ctx.workspace, registry));
            // Only another workspace has it: `get` here answers not found all the same.
            let keys: Vec<&Registry> = std::iter::once(registry).chain(repo_key).collect();
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
                    add_hint(&ctx.workspace, registry)
                ));
            }
            report.steps.push(s);
        }
    }
}

fn skip_rest(report: &mut Report, why: &str) {
    for name in ["login", "connect", "auth", "manifest"] {
        report.steps.push(step(name, Mark::Skip, why));
    }
}

/// Registry, repository and tag or digest of an image reference ([`ImageRef`]), each checked
/// before it goes into a URL path.
// A doctor step's detail or a refusal's text, shown as is: nothing branches on it.
pub(crate) fn parse_target(image: &str) -> Result<(Registry, String, Reference), String> {
    let parsed = ImageRef::parse(image).map_err(|e| e.protocol_message())?;
    let Some(repo) = parsed.repository.clone() else {
        return Err(format!(
            "{} names a registry, not an image: give a repository (and a tag), e.g. {}/team/app:1",
            printable(image.trim()),
            printable(parsed.registry.as_str())
        ));
    };
    if !parsed.repository_is_valid() {
        return Err("the repository has characters a registry does not allow (lower-case letters, digits, . _ - and /)".into());
    }
    let reference = parsed.reference().map_err(String::from)?;
    Ok((parsed.registry, repo, reference))
}

fn entry_info(ctx: &Context, e: &Entry, repository: bool) -> EntryInfo {
    EntryInfo {
        key: e.record.registry.as_str().to_string(),
        scope: if repository { "repository" } else { "registry" },
        secret_name: e.record.registry.secret_name().to_string(),
        kind: e.record.kind,
        workspace: ctx.workspace.clone(),
        updated_at: e.updated_at,
        username: actions::username(&e.record),
    }
}

fn login_step(ctx: &Context, e: &Entry, opts: &Options) -> (Step, Option<Login>) {
    let kind = e.record.kind;
    let show = show_command(&ctx.workspace, e);
    let before = match actions::tokens::login_kind(ctx, &e.record) {
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
            step("login", Mark::Ok, token_words(ctx.now(), kind, &before)),
            None,
        );
    }
    match actions::tokens::login(ctx, &e.record) {
        Ok(Some(login)) => {
            let after = actions::tokens::login_kind(ctx, &e.record).unwrap_or(before);
            (
                step("login", Mark::Ok, token_words(ctx.now(), kind, &after)),
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
}
