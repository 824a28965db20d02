//! The scripted CLI: clap subcommands for operators and CI jobs (`add`, `import`,
//! `configure-docker`, ...). The five protocol verbs never come here: `cli` matches them on
//! argv[1] first, so a `get` never builds this parser.
//!
//! A command returns an [`Output`] (stdout bytes written once, notes for stderr, a status) or a
//! [`Failure`]; [`dispatch`] folds both into one [`Output`] and the edge (`cli`) prints it and
//! picks the exit status (0 ok, 1 user error, 2 internal or clap usage error). Values of secrets
//! only ever come from the environment snapshot or stdin.

use crate::context::Context;
use crate::env::Env;
use crate::output::{Output, Status};
use crate::protocol::NAME;
use clap::{CommandFactory, Parser, Subcommand};
use std::io::Read;

pub(crate) mod add;
pub(crate) mod checks;
pub(crate) mod configure_docker;
pub(crate) mod db;
pub(crate) mod diff;
pub(crate) mod docs;
pub(crate) mod doctor;
pub(crate) mod entries;
pub(crate) mod import;
pub(crate) mod jsonfile;
pub(crate) mod kubelet;
pub(crate) mod kubelet_install;
pub(crate) mod lifecycle;
pub(crate) mod outcome;
pub(crate) mod refresh;
pub(crate) mod rekey;
pub(crate) mod sync;
pub(crate) mod verbs;

use outcome::{CmdResult, Failure};

/// First arguments that belong to this parser rather than the protocol fast path.
const SUBCOMMANDS: &[&str] = &[
    "add",
    "remove",
    "ls",
    "show",
    "secret-name",
    "import",
    "export",
    "configure-docker",
    "doctor",
    "completions",
    "man",
    "rekey",
    "refresh",
    "kubelet",
    "db",
    "prune",
    "help",
];

/// Does `cli` hand this first argument to [`run`]? Subcommands and the global `--workspace` flag
/// (`cli` also sends a lone `-h`/`--help`). Anything else stays an unknown action (docs/protocol.md).
pub(crate) fn handles(first: &str) -> bool {
    SUBCOMMANDS.contains(&first) || first == "--workspace" || first.starts_with("--workspace=")
}

/// A stderr line for a person who ran the bare command or mistyped a command: the protocol's own
/// stdout line and status stay byte-exact (docs/protocol.md), this only adds words. Only known
/// command names are ever printed, never what was typed.
pub(crate) fn hint(first: Option<&str>) -> Option<String> {
    let Some(typed) = first else {
        return Some(format!(
            "the verbs above are docker's; the commands for people are {} (`docker-credential-beta9 --help`)",
            SUBCOMMANDS.join(", ")
        ));
    };
    SUBCOMMANDS
        .iter()
        .map(|n| (strsim::levenshtein(typed, n), *n))
        .filter(|(d, n)| *d <= 2 && *d < n.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| format!("did you mean `docker-credential-beta9 {n}`?"))
}

const USAGE: &str = "docker-credential-beta9 <store|get|erase|list|version>\n       \
                     docker-credential-beta9 [--workspace <W>] <COMMAND> [ARGS]";

const TEMPLATE: &str = "{usage-heading} {usage}\n\n{about-with-newline}\n{all-args}{after-help}";

const ABOUT: &str = "A docker credential helper over an encrypted local store";

const AFTER: &str = "\
Docker runs it with one verb (store, get, erase, list, version): request on stdin, answer on
stdout. Route registries to it with `configure-docker`, or by hand in ~/.docker/config.json as
\"credHelpers\": {\"<registry>\": \"beta9\"}. The commands above are for people and scripts.
Diagnostics: BETA9_LOG=debug. Store: BETA9_CREDENTIALS_DIR. Workspace: BETA9_WORKSPACE.
Proxy (token minting, doctor): HTTPS_PROXY, HTTP_PROXY, NO_PROXY.

Example (paste the token at the prompt, then Enter):
  read -rs GITHUB_TOKEN && export GITHUB_TOKEN GITHUB_USERNAME=octocat
  docker-credential-beta9 add ghcr.io";

#[derive(Parser)]
#[command(
    name = NAME,
    bin_name = NAME,
    version = env!("CARGO_PKG_VERSION"),
    about = ABOUT,
    override_usage = USAGE,
    help_template = TEMPLATE,
    after_help = AFTER,
    disable_version_flag = true,
    subcommand_required = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Store namespace (default: $BETA9_WORKSPACE, else "default")
    #[arg(long, global = true, value_name = "W")]
    pub workspace: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    #[command(about = add::ABOUT, after_help = add::EXAMPLES)]
    Add(add::AddArgs),
    #[command(about = entries::REMOVE_ABOUT, after_help = entries::REMOVE_EXAMPLES)]
    Remove(entries::RemoveArgs),
    #[command(about = entries::LS_ABOUT, after_help = entries::LS_EXAMPLES)]
    Ls(entries::LsArgs),
    #[command(about = entries::SHOW_ABOUT, after_help = entries::SHOW_EXAMPLES)]
    Show(entries::ShowArgs),
    #[command(about = entries::SECRET_NAME_ABOUT, after_help = entries::SECRET_NAME_EXAMPLES)]
    SecretName(entries::SecretNameArgs),
    #[command(about = import::ABOUT, after_help = import::EXAMPLES)]
    Import(import::ImportArgs),
    #[command(about = entries::EXPORT_ABOUT, after_help = entries::EXPORT_EXAMPLES)]
    Export(entries::ExportArgs),
    #[command(about = configure_docker::ABOUT, after_help = configure_docker::EXAMPLES)]
    ConfigureDocker(configure_docker::ConfigureArgs),
    #[command(about = doctor::ABOUT, after_help = doctor::EXAMPLES)]
    Doctor(doctor::DoctorArgs),
    #[command(about = docs::COMPLETIONS_ABOUT, after_help = docs::COMPLETIONS_EXAMPLES)]
    Completions(docs::CompletionsArgs),
    #[command(about = docs::MAN_ABOUT, after_help = docs::MAN_EXAMPLES)]
    Man(docs::ManArgs),
    #[command(about = rekey::ABOUT, after_help = rekey::EXAMPLES)]
    Rekey(rekey::RekeyArgs),
    #[command(about = kubelet::ABOUT, after_help = kubelet::EXAMPLES)]
    Kubelet(kubelet::KubeletArgs),
    #[command(about = refresh::ABOUT, after_help = refresh::EXAMPLES)]
    Refresh(refresh::RefreshArgs),
    #[command(about = db::ABOUT, after_help = db::EXAMPLES)]
    Db(db::DbArgs),
    #[command(about = lifecycle::PRUNE_ABOUT, after_help = lifecycle::PRUNE_EXAMPLES)]
    Prune(lifecycle::PruneArgs),
}

impl Command {
    /// Does this command read stdin? (The edge refuses to wait on a terminal for it.)
    pub(crate) fn reads_stdin(&self) -> bool {
        match self {
            Command::Import(a) => a.from_beta9.is_none(),
            Command::Kubelet(a) => a.action.is_none(),
            Command::Add(a) => a.json,
            _ => false,
        }
    }
}

/// Runs a parsed command. Tests may call this with their own env and stdin. A command whose
/// steps take long (`doctor`) hands `progress` its lines as they are ready, before the returned
/// output, which holds the rest.
pub(crate) fn dispatch(
    cli: Cli,
    env: Env,
    stdin: &mut dyn Read,
    progress: &mut dyn FnMut(Output),
) -> Output {
    let mut notes = Vec::new();
    let result = run(cli, env, stdin, &mut notes, progress);
    finish(result, notes)
}

/// A command's result as the one [`Output`] the edge prints.
pub(crate) fn finish(result: CmdResult, mut notes: Vec<String>) -> Output {
    match result {
        Ok(mut out) => {
            notes.append(&mut out.notes);
            out.notes = notes;
            out
        }
        Err(Failure::User(m)) => Output::failure(Status::Failed, m, notes),
        Err(Failure::Internal(m)) => Output::failure(Status::Internal, m, notes),
    }
}

fn run(
    cli: Cli,
    env: Env,
    stdin: &mut dyn Read,
    notes: &mut Vec<String>,
    progress: &mut dyn FnMut(Output),
) -> CmdResult {
    let ws = cli.workspace.as_deref();
    match cli.command {
        // These need no store: nothing is opened or created.
        Command::SecretName(a) => entries::secret_name(&a),
        Command::Completions(a) => docs::completions(&a, Cli::command()),
        Command::Man(a) => docs::man(&a, Cli::command()),
        Command::Db(a) => db::run(&a),
        Command::Rekey(a) => {
            if ws.is_some() {
                return Err(Failure::user(
                    "rekey covers every workspace; drop --workspace",
                ));
            }
            rekey::run(&env, &a)
        }
        Command::ConfigureDocker(a) => {
            with_ctx(env, ws, notes, |ctx| configure_docker::run(ctx, &a))
        }
        Command::Doctor(a) => with_ctx(env, ws, notes, |ctx| doctor::run(ctx, &a, progress)),
        Command::Add(a) => with_ctx(env, ws, notes, |ctx| add::run(ctx, &a, stdin)),
        Command::Import(a) => with_ctx(env, ws, notes, |ctx| import::run(ctx, &a, stdin)),
        Command::Remove(a) => with_ctx(env, ws, notes, |ctx| entries::remove(ctx, &a)),
        Command::Ls(a) => with_ctx(env, ws, notes, |ctx| entries::ls(ctx, &a)),
        Command::Show(a) => with_ctx(env, ws, notes, |ctx| entries::show(ctx, &a)),
        Command::Export(a) => with_ctx(env, ws, notes, |ctx| entries::export(ctx, &a)),
        // Installing touches the node's files, never the store.
        Command::Kubelet(kubelet::KubeletArgs {
            action: Some(kubelet::KubeletAction::Install(a)),
        }) => {
            if ws.is_some() {
                return Err(Failure::user(
                    "kubelet install takes no --workspace (the plugin uses the default one)",
                ));
            }
            kubelet_install::run(&a)
        }
        Command::Kubelet(a) => with_ctx(env, ws, notes, |ctx| kubelet::run(ctx, &a, stdin)),
        Command::Prune(a) => lifecycle::prune(env, ws, &a, notes),
        // Every workspace unless one is named; `--every` loops in the edge (`cli`).
        Command::Refresh(_) => refresh::run(&env, ws),
    }
}

/// Opens the workspace's store, runs `f`, and keeps the notes the actions left.
fn with_ctx(
    env: Env,
    workspace: Option<&str>,
    notes: &mut Vec<String>,
    f: impl FnOnce(&Context) -> CmdResult,
) -> CmdResult {
    let ctx = Context::from_env(env, workspace)?;
    let result = f(&ctx);
    notes.extend(ctx.take_notes());
    result
}

/// A clap usage error in words that never repeat a value typed on the command line: only names
/// the parser itself defines (`--type <TYPE>`, `<REF>`, the possible values) are shown.
pub(crate) fn usage_error(e: &clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let defined = |kind: ContextKind| -> Option<String> {
        match e.get(kind)? {
            ContextValue::String(s) => Some(s.clone()),
            ContextValue::Strings(v) => Some(v.join(", ")),
            _ => None,
        }
    };
    let usage = e
        .get(ContextKind::Usage)
        .map(|u| format!("; {}", u.to_string().trim().replace('\n', " ")))
        .unwrap_or_default();
    let hint = "see --help";
    let what = match e.kind() {
        ErrorKind::UnknownArgument => format!(
            "unexpected argument (not repeated here, in case it is a secret: values come from the environment or stdin){}",
            defined(ContextKind::SuggestedArg)
                .map(|s| format!("; did you mean {s}?"))
                .unwrap_or_default()
        ),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => format!(
            "invalid value for {} (not repeated here){}",
            defined(ContextKind::InvalidArg).unwrap_or_else(|| "an argument".into()),
            defined(ContextKind::ValidValue)
                .map(|v| format!("; possible values: {v}"))
                // A value parser's own message (ours, e.g. `parse_type`'s) names no value.
                .or_else(|| std::error::Error::source(e).map(|s| format!("; {s}")))
                .unwrap_or_default()
        ),
        ErrorKind::MissingRequiredArgument => format!(
            "missing {}",
            defined(ContextKind::InvalidArg).unwrap_or_else(|| "a required argument".into())
        ),
        ErrorKind::ArgumentConflict => format!(
            "{} cannot be used with {}",
            defined(ContextKind::InvalidArg).unwrap_or_else(|| "an argument".into()),
            defined(ContextKind::PriorArg).unwrap_or_else(|| "another one".into())
        ),
        ErrorKind::InvalidSubcommand => "unknown command (not repeated here)".to_string(),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            "a command is required".to_string()
        }
        ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
            "wrong number of values (not repeated here)".to_string()
        }
        _ => "invalid usage (not repeated here)".to_string(),
    };
    format!("{what}{usage}; {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(args: &[&str]) -> String {
        let argv = std::iter::once(NAME).chain(args.iter().copied());
        match Cli::try_parse_from(argv) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(e) => usage_error(&e),
        }
    }

    #[test]
    fn usage_errors_never_repeat_what_was_typed() {
        for args in [
            &["remove", "ghcr.io", "ghp_SEKRIT"][..],
            &["add", "ghcr.io", "--type", "SEKRIT"],
            &["add", "ghcr.io", "--SEKRIT"],
            &["ls", "SEKRIT"],
            &["--workspace", "w", "SEKRIT"],
        ] {
            let msg = parse_error(args);
            assert!(!msg.contains("SEKRIT"), "{args:?}: {msg}");
            assert!(!msg.contains('\n'), "{args:?}: {msg}");
        }
        let msg = parse_error(&["add", "ghcr.io", "--type", "x"]);
        assert!(msg.contains("expected one of: aws"), "{msg}");
        assert!(parse_error(&["remove"]).contains("<REF>"));
    }

    /// clap wraps help at 100 columns; an example that it wrapped could not be pasted. Every line
    /// of every subcommand's examples must come out of `--help` unchanged.
    #[test]
    fn every_help_example_is_printed_as_written() {
        let mut cli = Cli::command();
        cli.build();
        for sub in cli.get_subcommands_mut() {
            let Some(after) = sub.get_after_help().map(|h| h.to_string()) else {
                continue;
            };
            let shown = sub.clone().term_width(100).render_help().to_string();
            for line in after.lines() {
                assert!(
                    shown.lines().any(|l| l.trim_end() == line.trim_end()),
                    "{}: wrapped or changed: {line:?}",
                    sub.get_name()
                );
            }
        }
    }
}
