//! `doctor <image>`: prints the steps `crate::doctor` checked, one line each, then a result line
//! naming the first failing step and what to do (or one JSON object). Exit 1 when a step failed.

use super::outcome::CmdResult;
use crate::clients::config::Family;
use crate::context::Context;
use crate::doctor::{self, Mark, Report, Step};
use crate::error::printable;
use crate::output::{Output, Status};
use crate::rfc3339;

pub(crate) const ABOUT: &str = "Check every step a pull needs: routing, entry, login, registry";
pub(crate) const EXAMPLES: &str = "\
Examples:
  docker-credential-beta9 doctor ghcr.io/org/app:1
  docker-credential-beta9 doctor localhost:5000/team/app --plain-http --json
  docker-credential-beta9 doctor nvcr.io/nvidia/pytorch:24.01-py3 --no-network
  docker-credential-beta9 doctor ghcr.io/org/app:1 --client containers";

#[derive(clap::Args)]
pub(crate) struct DoctorArgs {
    /// The image a client would pull (Docker Hub short names, host:port/..., @sha256:... digests)
    #[arg(value_name = "IMAGE")]
    pub image: String,
    /// One JSON object instead of lines
    #[arg(long)]
    pub json: bool,
    /// Talk plain http to the registry (loopback registries fall back to it by themselves)
    #[arg(long)]
    pub plain_http: bool,
    /// Stop after the login step: nothing is sent to the registry or a token service
    #[arg(long)]
    pub no_network: bool,
    /// Predict the pull of one client family only (docker: docker CLI and docker-py;
    /// containers: skopeo, podman, buildah; ggcr: go-containerregistry, crane; kubelet)
    #[arg(long, value_enum, value_name = "FAMILY")]
    pub client: Option<ClientArg>,
}

/// `--client`: the client families of docs/clients.md, "The client families".
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub(crate) enum ClientArg {
    Docker,
    Containers,
    Ggcr,
    Kubelet,
}

impl ClientArg {
    fn family(self) -> Family {
        match self {
            ClientArg::Docker => Family::Docker,
            ClientArg::Containers => Family::Containers,
            ClientArg::Ggcr => Family::Ggcr,
            ClientArg::Kubelet => Family::Kubelet,
        }
    }
}

/// Runs doctor. Lines: each step goes to `progress` as soon as it is final (a registry that never
/// answers holds only the live steps back), and the returned output has the rest and the result
/// line; together they are [`text`] of the report. `--json`: one object, returned whole.
pub(crate) fn run(ctx: &Context, args: &DoctorArgs, progress: &mut dyn FnMut(Output)) -> CmdResult {
    let opts = doctor::Options {
        plain_http: args.plain_http,
        no_network: args.no_network,
        client: args.client.map(ClientArg::family),
    };
    let mut out = Output::default();
    if args.json {
        let report = doctor::run(ctx, &args.image, &opts);
        out.println(serde_json::to_string_pretty(&json(&report)).unwrap_or_default());
        if !report.ok() {
            out.status = Status::Failed;
        }
        return Ok(out);
    }
    let mut printed = 0;
    let mut failed = false;
    let report = doctor::run_shown(ctx, &args.image, &opts, &mut |steps| {
        let lines = lines(steps, &mut failed);
        printed += steps.len();
        progress(Output::line(lines.join("\n")));
    });
    let mut rest = lines(
        &report.steps[printed.min(report.steps.len())..],
        &mut failed,
    );
    rest.push(format!("result: {}", result_line(&report)));
    out.println(rest.join("\n"));
    if !report.ok() {
        out.status = Status::Failed;
    }
    Ok(out)
}

/// The result line: the first failure and its fix, or what works.
pub(crate) fn result_line(r: &Report) -> String {
    match r.first_failure() {
        Some(f) => format!(
            "FAIL at {}: {}{}",
            f.name,
            f.detail,
            f.fix
                .as_ref()
                .map(|x| format!("; to fix: {x}"))
                .unwrap_or_default()
        ),
        None => {
            let warnings = r.steps.iter().filter(|s| s.mark == Mark::Warn).count();
            let live = r
                .steps
                .iter()
                .any(|s| s.name == "manifest" && s.mark == Mark::Ok);
            let what = if live {
                format!("a pull of {} works", printable(&r.image))
            } else {
                format!(
                    "nothing fails for {} (the registry was not asked)",
                    printable(&r.image)
                )
            };
            match warnings {
                0 => format!("ok: {what}"),
                n => format!(
                    "ok: {what}; {n} warning{} above",
                    if n == 1 { "" } else { "s" }
                ),
            }
        }
    }
}

fn line(s: &Step, first_failure: bool) -> String {
    let fix = match (&s.fix, s.mark, first_failure) {
        (Some(f), Mark::Warn | Mark::Fail, false) => format!("; to fix: {f}"),
        _ => String::new(),
    };
    format!("{:<5} {:<19} {}{fix}", s.mark.label(), s.name, s.detail)
}

/// The lines of `steps`, which follow earlier ones; `failed`: a step before them failed (the
/// first failure's fix is on the result line, not on its own).
fn lines(steps: &[Step], failed: &mut bool) -> Vec<String> {
    steps
        .iter()
        .map(|s| {
            let first = s.mark == Mark::Fail && !*failed;
            *failed |= s.mark == Mark::Fail;
            line(s, first)
        })
        .collect()
}

/// `{"image", "registry", "repository", "reference", "ok", "entry", "steps", "result"}`.
pub(crate) fn json(r: &Report) -> serde_json::Value {
    use serde_json::json;
    let entry = r.entry.as_ref().map(|e| {
        json!({
            "secret_name": e.secret_name,
            "type": e.kind.as_str(),
            "key": e.key,
            "scope": e.scope,
            "workspace": e.workspace,
            "updated": rfc3339::format(e.updated_at),
            "username": e.username,
        })
    });
    let steps: Vec<serde_json::Value> = r
        .steps
        .iter()
        .map(|s| {
            let ok = match s.mark {
                Mark::Ok | Mark::Warn => json!(true),
                Mark::Fail => json!(false),
                Mark::Skip => serde_json::Value::Null,
            };
            let mut v = json!({
                "name": s.name,
                "ok": ok,
                "status": s.mark.label().to_ascii_lowercase(),
                "detail": s.detail,
            });
            if let Some(f) = &s.fix {
                v["fix"] = json!(f);
            }
            v
        })
        .collect();
    // One line per family: what its pull will do.
    let families: serde_json::Map<String, serde_json::Value> = r
        .steps
        .iter()
        .filter_map(|s| {
            let family = s.name.strip_prefix("pull.")?;
            Some((
                family.to_string(),
                json!({"status": s.mark.label().to_ascii_lowercase(), "detail": s.detail}),
            ))
        })
        .collect();
    json!({
        "image": r.image,
        "families": families,
        "registry": r.registry.as_ref().map(|x| x.as_str()),
        "repository": r.repository,
        "reference": r.reference.as_ref().map(|x| x.as_str()),
        "ok": r.ok(),
        "entry": entry,
        "steps": steps,
        "failed_step": r.first_failure().map(|f| f.name.clone()),
        "result": result_line(r),
    })
}
