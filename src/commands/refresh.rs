//! `refresh`: pre-warms the token cache. For every ECR and Google entry of every workspace (or of
//! the one `--workspace`/`BETA9_WORKSPACE` names), the token `get` would answer is made fresh if
//! `get` would refresh it, through `get`'s own cache paths, so the next `get` is a local hit
//! (docs/fleet.md, "Pre-warming"). One line per token refreshed (registry, workspace, new
//! expiry; never the token), nothing for fresh ones, one stderr line per failure; exit 1 if any
//! failed. `--every` repeats it until SIGTERM or SIGINT; the edge supplies the streams and the
//! signal-aware wait.

use super::outcome::{CmdResult, Failure};
use crate::actions;
use crate::actions::tokens::{Jitter, Origin, Warmed};
use crate::context::Context;
use crate::duration::{parse_duration, whole_seconds};
use crate::env::Env;
use crate::output::{Output, Status};
use crate::rfc3339;
use std::time::Duration;

pub(crate) const ABOUT: &str =
    "Refresh the ECR and Google tokens that are due, so the next get needs no mint";
pub(crate) const EXAMPLES: &str = "\
Examples:
Once (a systemd timer, a cron job), every workspace:
  docker-credential-beta9 refresh
Only one workspace:
  docker-credential-beta9 --workspace team-a refresh
As a sidecar: every 2 minutes plus up to 30 s, until SIGTERM:
  docker-credential-beta9 refresh --every 2m --jitter 30s";

#[derive(clap::Args)]
pub(crate) struct RefreshArgs {
    /// Repeat every DURATION (seconds, or with s, m, h, d: 2m) until SIGTERM or SIGINT
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub every: Option<u64>,
    /// With --every: wait up to DURATION more, at random, each time (default: a tenth of --every)
    #[arg(long, value_name = "DURATION", value_parser = duration, requires = "every")]
    pub jitter: Option<u64>,
}

/// The project's duration grammar (as `BETA9_STORE_MAX_STALE`): seconds, or a number with `s`,
/// `m`, `h` or `d`.
// clap value parser: clap prints the String.
fn duration(raw: &str) -> Result<u64, String> {
    parse_duration(raw)
        .map(whole_seconds)
        .ok_or_else(|| "expected seconds, or a number with s, m, h or d".into())
}

/// One pass (no `--every`).
pub(crate) fn run(env: &Env, workspace: Option<&str>) -> CmdResult {
    pass(env, workspace, &mut || false)
}

/// `--every`: a pass, its output handed to `emit`, then a wait of `every` plus up to `jitter`
/// seconds, until `wait` reports a signal (it is also asked, with a zero duration, between
/// entries). A failed pass does not end the loop. What is left to print at the end.
pub(crate) fn every(
    env: &Env,
    workspace: Option<&str>,
    args: &RefreshArgs,
    emit: &mut dyn FnMut(Output),
    wait: &mut dyn FnMut(Duration) -> bool,
) -> Output {
    let every = args.every.unwrap_or(0);
    if every == 0 {
        return Output::failure(
            Status::Failed,
            "--every must be at least 1 s".into(),
            vec![],
        );
    }
    let jitter = args.jitter.unwrap_or(every / 10);
    let jitter_source = Jitter::new();
    loop {
        let result = pass(env, workspace, &mut || wait(Duration::ZERO));
        emit(match result {
            Ok(out) => out,
            Err(Failure::User(m)) => Output::failure(Status::Failed, m, Vec::new()),
            Err(Failure::Internal(m)) => Output::failure(Status::Internal, m, Vec::new()),
        });
        let pause = every.saturating_add(jitter_source.below(jitter.saturating_add(1)));
        if wait(Duration::from_secs(pause)) {
            return Output::default().note("refresh: stopped by a signal");
        }
    }
}

fn pass(env: &Env, workspace: Option<&str>, stop: &mut dyn FnMut() -> bool) -> CmdResult {
    let settings = crate::settings::Settings::new(env);
    let workspaces = match workspace.map_or_else(|| settings.env_workspace(), |w| Ok(Some(w)))? {
        Some(w) => vec![w.to_string()],
        None => actions::workspaces(&Context::from_env(env.clone(), None)?)?,
    };
    let mut out = Output::default();
    let (mut refreshed, mut fresh, mut failed) = (0usize, 0usize, 0usize);
    for ws in &workspaces {
        if stop() {
            break;
        }
        let ctx = match Context::from_env(env.clone(), Some(ws)) {
            Ok(ctx) => ctx,
            Err(e) => {
                failed += 1;
                out.notes
                    .push(format!("workspace {ws}: {}", e.protocol_message()));
                continue;
            }
        };
        let results = actions::prewarm(&ctx, stop);
        out.notes.extend(ctx.take_notes());
        let results = match results {
            Ok(r) => r,
            Err(e) => {
                failed += 1;
                out.notes
                    .push(format!("workspace {ws}: {}", e.protocol_message()));
                continue;
            }
        };
        for r in results {
            let registry = r.registry.to_string();
            match r.outcome {
                Ok(Warmed::Fresh(_)) => fresh += 1,
                Ok(Warmed::Refreshed(t)) => {
                    refreshed += 1;
                    let from = match t.origin {
                        Origin::Shared => " (from the shared token cache)",
                        Origin::Minted => "",
                    };
                    out.println(format!(
                        "refreshed {registry} in workspace {ws}: {} token expires {}{from}",
                        r.kind,
                        rfc3339::format(t.expires_at)
                    ));
                }
                Err(e) => {
                    failed += 1;
                    let msg = e.protocol_message();
                    // Most messages already begin with the registry.
                    let msg = msg.strip_prefix(&format!("{registry}: ")).unwrap_or(&msg);
                    out.notes.push(format!(
                        "{registry} in workspace {ws}: not refreshed: {msg}"
                    ));
                }
            }
        }
    }
    out.notes.push(format!(
        "refresh: {refreshed} refreshed, {fresh} already fresh, {failed} failed"
    ));
    if failed > 0 {
        let notes = std::mem::take(&mut out.notes);
        let mut failure = Output::failure(
            Status::Failed,
            format!(
                "{failed} token{} not refreshed",
                if failed == 1 { "" } else { "s" }
            ),
            notes,
        );
        failure.stdout = out.stdout;
        return Ok(failure);
    }
    Ok(out)
}
