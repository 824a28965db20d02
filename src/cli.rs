//! The edge: argv, stdin, stdout, stderr and exit codes, and nothing else. Every other module
//! returns values; this one reads the process's inputs, writes an [`Output`] and picks the status.
//! clippy.toml forbids the stream, argv and exit functions everywhere else.
//!
//! The five protocol verbs are matched on `argv[1]` before anything else is set up, so a `get`
//! never builds a CLI parser and never reads a credential variable from the environment.

#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use crate::commands::{self, verbs};
use crate::credential_type;
use crate::env::Env;
use crate::error;
use crate::output::{Output, Status};
use crate::protocol::{self, Verb, NAME};
use clap::Parser;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
    let Some(first) = first else {
        hint(None);
        return say(&protocol::usage(), 1);
    };
    if let Some(verb) = Verb::parse(&first) {
        if args.len() != 2 {
            return say(&protocol::usage(), 1);
        }
        return run_protocol(verb, None);
    }
    // `--workspace W <verb>` (or `--workspace=W <verb>`): a protocol verb in that workspace, for
    // scripts; same fast path, same protocol answers.
    if let Some((workspace, verb)) = workspace_verb(&args) {
        return match workspace {
            Some(w) => run_protocol(verb, Some(w)),
            None => say("error: --workspace needs a UTF-8 name", 1),
        };
    }
    // Subcommands and global flags go to clap; anything else stays an unknown action
    // (docs/protocol.md).
    if commands::handles(&first) {
        return run_command(args);
    }
    match (first.as_str(), args.len()) {
        ("-v" | "--version", 2) => say(&protocol::version_line(), 0),
        // clap's top-level help, which starts with the protocol usage line.
        ("-h" | "--help", 2) => run_command(args),
        ("-v" | "--version" | "-h" | "--help", _) => say(&protocol::usage(), 1),
        (other, _) => {
            hint(Some(other));
            say(&protocol::unknown_action(other), 1)
        }
    }
}

/// A person's hint on stderr (a bare command, a mistyped one); docker reads only stdout.
fn hint(first: Option<&str>) {
    if let Some(line) = commands::hint(first) {
        let _ = writeln!(std::io::stderr().lock(), "{NAME}: {line}");
    }
}

/// One line on stdout, then the status. Used for usage, version and unknown actions.
fn say(line: &str, code: u8) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    ExitCode::from(code)
}

fn init_log(env: &Env) {
    let settings = crate::settings::Settings::new(env);
    crate::log::init(&settings, std::io::stderr, std::io::stderr().is_terminal());
}

/// `[prog, --workspace, W, verb]` or `[prog, --workspace=W, verb]`: the workspace (`None` when it
/// is not UTF-8) and the verb. Anything else is not this form.
fn workspace_verb(args: &[OsString]) -> Option<(Option<String>, Verb)> {
    let text = |a: &OsString| a.to_str().map(str::to_string);
    let (workspace, verb) = match args {
        [_, flag, w, verb] if flag == "--workspace" => (text(w), verb),
        [_, flag, verb] => {
            let w = flag
                .as_encoded_bytes()
                .strip_prefix(b"--workspace=")
                .map(|w| std::str::from_utf8(w).ok().map(str::to_string))?;
            (w, verb)
        }
        _ => return None,
    };
    let verb = Verb::parse(verb.to_str()?)?;
    Some((workspace, verb))
}

fn run_protocol(verb: Verb, workspace: Option<String>) -> ExitCode {
    let env = Env::from_process();
    init_log(&env);
    let stdin = std::io::stdin();
    // A panic must still give docker one line and exit 1; the hook in main.rs printed no payload.
    let output = std::panic::catch_unwind(|| {
        verbs::serve(verb, env, workspace.as_deref(), &mut stdin.lock())
    })
    .unwrap_or_else(|_| Output {
        stdout: verbs::failure_line(&format!(
            "{NAME}: internal error; rerun with BETA9_LOG=debug and report it"
        )),
        notes: Vec::new(),
        error: None,
        status: Status::Failed,
    });
    emit(output, Edge::Protocol)
}

fn run_command(args: Vec<OsString>) -> ExitCode {
    let cli = match commands::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    // `add` reads credential values from the environment; only the names it knows are taken.
    let env = Env::from_process().with_credentials(credential_type::all_names());
    init_log(&env);
    let stdin = std::io::stdin();
    // A command that reads stdin would sit waiting on a terminal: say what it expects instead.
    if cli.command.reads_stdin() && stdin.is_terminal() {
        let hint = "this command reads stdin: pipe the input in (see --help for an example)";
        return emit(
            Output::failure(Status::Failed, hint.into(), Vec::new()),
            Edge::Command,
        );
    }
    if let commands::Command::Refresh(a) = &cli.command {
        if a.every.is_some() {
            return refresh_loop(&env, cli.workspace.as_deref(), a);
        }
    }
    // Lines a command has ready before it ends (`doctor`'s steps) are written as they come; the
    // exit status still follows the final output alone.
    let last = commands::dispatch(cli, env, &mut stdin.lock(), &mut |out| {
        write(&out);
    });
    emit(last, Edge::Command)
}

/// `refresh --every`: each pass's output written when the pass ends; SIGTERM or SIGINT ends the
/// loop at its next wait or entry, and the process with status 0 (a sidecar's or a DaemonSet's
/// normal stop).
fn refresh_loop(
    env: &Env,
    workspace: Option<&str>,
    args: &commands::refresh::RefreshArgs,
) -> ExitCode {
    let mut stop = match crate::signals::Stop::install() {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("cannot watch for SIGTERM: {e}");
            return emit(
                Output::failure(Status::Internal, msg, Vec::new()),
                Edge::Command,
            );
        }
    };
    let last = commands::refresh::every(
        env,
        workspace,
        args,
        &mut |out| {
            write(&out);
        },
        &mut |d| stop.wait(d),
    );
    emit(last, Edge::Command)
}

/// Help and version go to stdout with status 0; usage errors to stderr with status 2, in words
/// that never repeat what was typed (a misplaced secret, `remove ghcr.io ghp_…`, must not reach
/// the terminal or a CI log).
fn clap_error(e: &clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {}", commands::usage_error(e));
    ExitCode::from(2)
}

/// Which side of the binary is answering: the protocol knows only exit 0 and 1.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edge {
    Protocol,
    Command,
}

/// Notes and the error line to stderr, then stdout written once from a finished buffer, then the
/// status: 0, 1 (the caller can fix it; every protocol failure) or 2 (the store, the key or the
/// machine; subcommands only, including an unwritable stdout).
fn emit(output: Output, edge: Edge) -> ExitCode {
    let written = write(&output);
    let code = match (edge, output.status, written) {
        (_, Status::Success, true) => 0,
        (Edge::Protocol, _, _) => 1,
        (Edge::Command, Status::Failed, _) => 1,
        (Edge::Command, _, _) => 2,
    };
    ExitCode::from(code)
}

/// [`emit`]'s writes: notes and the error line to stderr, then stdout from the finished buffer;
/// false when stdout could not be written.
fn write(output: &Output) -> bool {
    let mut err = std::io::stderr().lock();
    for note in &output.notes {
        let _ = writeln!(err, "{NAME}: {}", error::one_line(note));
    }
    if let Some(message) = &output.error {
        let _ = writeln!(err, "error: {}", error::one_line(message));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(output.stdout.as_slice())
        .and_then(|()| out.flush())
        .is_ok()
}
