//! The per-family verdict: what each family sends for the image (the model's walk over its plan,
//! docs/clients.md, "The client families") and whether the registry takes it, each credential
//! checked live once.

use super::live::{live, Target};
use super::model::{step, Mark, Options, Outcome, Reference, Step};
use super::words::{add_command, add_hint, configure_cmd, shown};
use crate::actions;
use crate::clients::config::{Family, HELPER};
use crate::clients::{self, Got, Plan};
use crate::context::Context;
use crate::error::printable;
use crate::login::Login;
use crate::registry::Registry;

/// Live outcomes per credential (an entry's key, or `None`: anonymous), each checked once.
pub(super) struct Pulls {
    pub(super) known: Vec<(Option<String>, Outcome)>,
    /// `None`: --no-network, nothing is asked.
    pub(super) target: Option<(Registry, String, Reference)>,
}

impl Pulls {
    pub(super) fn offline() -> Pulls {
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
// A verdict's detail, shown as is: nothing branches on it.
fn entry_login(ctx: &Context, key: &str) -> Result<Login, String> {
    let r = Registry::from_server_url(key).map_err(|e| e.protocol_message())?;
    let e = actions::load_live(ctx, &r)
        .map_err(|e| e.protocol_message())?
        .ok_or_else(|| format!("nothing stored under {}", printable(key)))?;
    actions::tokens::login(ctx, &e.record)
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
pub(super) fn counted(opts: &Options, p: &Plan) -> bool {
    opts.client.is_some() || (p.reads_config && p.family != Family::Kubelet)
}

/// `routing` fails when no family that counts routes the registry to this helper at all (and no
/// routing step already said why): every client pulls anonymously, whatever is stored.
pub(super) fn nobody_routes(
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
pub(super) fn pull_step(
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
                    .map(|r| add_command(&ctx.workspace, &r))
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
                add_hint(&ctx.workspace, registry)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::config::{self as cc, ConfigFile};
    use crate::doctor::parse_target;
    use crate::env::Env;

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
