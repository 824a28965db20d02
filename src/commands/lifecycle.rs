//! How long entries live: the `--expires-in` flag of `add` and `import`, and `prune`
//! (docs/storage.md, "Entry lifecycle").

use super::outcome::{CmdResult, Failure};
use crate::actions::{self, Doomed, PruneRule};
use crate::context::Context;
use crate::env::Env;
use crate::error::printable;
use crate::output::Output;
use crate::rfc3339;

pub(crate) const PRUNE_ABOUT: &str =
    "Delete expired or unused entries and the tokens cached for them";
pub(crate) const PRUNE_EXAMPLES: &str = "\
Examples:
  docker-credential-beta9 prune --dry-run
  docker-credential-beta9 prune --all-workspaces
  docker-credential-beta9 prune --unused-for 30d --dry-run";

#[derive(clap::Args)]
pub(crate) struct PruneArgs {
    /// Print what would be deleted and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Every workspace of the store, not only the current one (cannot go with --workspace)
    #[arg(long)]
    pub all_workspaces: bool,
    /// Also delete entries neither written nor answered by `get` within this long (30d, 12h)
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true, value_parser = duration_arg)]
    pub unused_for: Option<u64>,
}

/// `prune`: the current workspace (`--workspace`, `BETA9_WORKSPACE`, else `default`), or every
/// workspace with `--all-workspaces`. Stdout has one line per entry: registry, secret name,
/// workspace and why, tab-separated.
pub(crate) fn prune(
    env: Env,
    workspace: Option<&str>,
    args: &PruneArgs,
    notes: &mut Vec<String>,
) -> CmdResult {
    if args.all_workspaces && workspace.is_some() {
        return Err(Failure::user(
            "--all-workspaces covers every workspace; drop --workspace",
        ));
    }
    let first = Context::from_env(env.clone(), workspace)?;
    if args.unused_for.is_some() && first.last_use().is_none() {
        notes.extend(first.take_notes());
        return Err(Failure::user(if first.settings.shared_store() {
            "--unused-for needs the local store: uses are recorded per machine, and the shared store's entries are used by other machines too (nothing was deleted)".to_string()
        } else {
            format!(
                "--unused-for needs last uses, which {}=0 turns off (nothing was deleted)",
                crate::env::LAST_USE_INTERVAL
            )
        }));
    }
    let rule = PruneRule {
        unused_for: args.unused_for,
    };
    let workspaces = if args.all_workspaces {
        first.store.backend().workspaces()?
    } else {
        vec![first.workspace.clone()]
    };
    let mut out = Output::default();
    let mut count = 0;
    for ws in &workspaces {
        let ctx = if *ws == first.workspace {
            None
        } else {
            Some(Context::from_env(env.clone(), Some(ws))?)
        };
        let ctx = ctx.as_ref().unwrap_or(&first);
        let result = actions::prune(ctx, rule, args.dry_run);
        notes.extend(ctx.take_notes());
        for p in result? {
            count += 1;
            let why = match p.why {
                Doomed::Expired { at } => format!("expired {}", rfc3339::format(at)),
                Doomed::Unused { since } => format!("unused since {}", rfc3339::format(since)),
            };
            let token = if p.token {
                " (and its cached token)"
            } else {
                ""
            };
            out.println(format!(
                "{}\t{}\t{}\t{why}{token}",
                printable(p.registry.as_str()),
                p.name,
                ctx.workspace
            ));
        }
    }
    let scope = if args.all_workspaces {
        format!("{} workspace(s)", workspaces.len())
    } else {
        format!("workspace {}", first.workspace)
    };
    let plural = if count == 1 { "entry" } else { "entries" };
    Ok(out.note(if args.dry_run {
        format!("dry run: {count} {plural} in {scope} would be deleted; nothing was changed")
    } else {
        format!("deleted {count} {plural} from {scope}")
    }))
}

/// `--expires-in`: a positive number with a unit, `90s`, `15m`, `2h`, `7d`, in the grammar of the
/// shared store's duration settings; a bare number (seconds or minutes?) is refused as ambiguous.
// clap value parser: clap prints the String.
pub(crate) fn duration_arg(s: &str) -> Result<u64, String> {
    let with_unit = s.trim_end().ends_with(['s', 'm', 'h', 'd']);
    match crate::duration::parse_duration(s).map(crate::duration::whole_seconds) {
        Some(secs) if with_unit && secs > 0 => Ok(secs),
        _ => Err("expected a positive number with s, m, h or d (90s, 15m, 2h, 7d)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_a_positive_number() {
        assert_eq!(duration_arg("90s"), Ok(90));
        assert_eq!(duration_arg("15m"), Ok(900));
        assert_eq!(duration_arg("2h"), Ok(7200));
        assert_eq!(duration_arg("7d"), Ok(604_800));
        for bad in [
            "",
            "90",
            "0s",
            "-5m",
            "1.5h",
            "2w",
            "h",
            "99999999999999999999d",
            "soon",
        ] {
            assert!(duration_arg(bad).is_err(), "{bad}");
        }
    }
}
