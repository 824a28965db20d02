//! The edge: argv, stdin, stdout, stderr and exit codes, and nothing else.
//!
//! The five protocol verbs are matched on `argv[1]` before anything else is set up, so a `get`
//! never builds a CLI parser. This is the only module that picks a stream or an exit status.

use crate::actions::{self, Context};
use crate::env::Env;
use crate::error::{self, Error};
use crate::protocol::{self, Verb};
use crate::secret::SecretBuf;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::ExitCode;

/// What a protocol verb produced: the bytes for stdout, whether it succeeded, hints for stderr.
pub struct Outcome {
    pub stdout: SecretBuf,
    pub success: bool,
    pub notes: Vec<String>,
}

pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
    let Some(first) = first else {
        return say(&protocol::usage(), 1);
    };
    if let Some(verb) = Verb::parse(&first) {
        if args.len() != 2 {
            return say(&protocol::usage(), 1);
        }
        return run_protocol(verb);
    }
    // Subcommands and global flags go to clap; anything else stays an unknown action (§10.2).
    if crate::commands::handles(&first) {
        return crate::commands::run(args);
    }
    match (first.as_str(), args.len()) {
        ("-v" | "--version", 2) => say(&protocol::version_line(), 0),
        // clap's top-level help, which starts with the protocol usage line.
        ("-h" | "--help", 2) => crate::commands::run(args),
        ("-v" | "--version" | "-h" | "--help", _) => say(&protocol::usage(), 1),
        (other, _) => say(&protocol::unknown_action(other), 1),
    }
}

/// One line on stdout, then the status. Used for usage, version and unknown actions.
#[allow(clippy::print_stdout)]
fn say(line: &str, code: u8) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
    ExitCode::from(code)
}

fn run_protocol(verb: Verb) -> ExitCode {
    let env = Env::from_process();
    crate::log::init(&env);
    let stdin = std::io::stdin();
    // A panic must still give docker one line and exit 1; the hook in main.rs printed no payload.
    let outcome =
        std::panic::catch_unwind(|| serve(verb, env, stdin.lock())).unwrap_or_else(|_| {
            let mut stdout = SecretBuf::default();
            let _ = writeln!(
                stdout,
                "{}: internal error; rerun with BETA9_LOG=debug and report it",
                protocol::NAME
            );
            Outcome {
                stdout,
                success: false,
                notes: Vec::new(),
            }
        });
    emit(outcome)
}

/// Notes to stderr, then stdout written once from a finished buffer.
fn emit(outcome: Outcome) -> ExitCode {
    let mut err = std::io::stderr().lock();
    for note in &outcome.notes {
        let _ = writeln!(err, "{}: {}", protocol::NAME, error::one_line(note));
    }
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(outcome.stdout.as_slice())
        .and_then(|()| out.flush());
    if outcome.success && written.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs one protocol verb against `stdin` and returns what to print. Tests call this directly.
pub fn serve(verb: Verb, env: Env, mut stdin: impl Read) -> Outcome {
    let mut notes = Vec::new();
    let result = answer(verb, env, &mut stdin, &mut notes);
    let (stdout, success) = match result {
        Ok(bytes) => (bytes, true),
        Err(e) => {
            let mut b = SecretBuf::default();
            let _ = writeln!(b, "{}", e.protocol_message());
            (b, false)
        }
    };
    Outcome {
        stdout,
        success,
        notes,
    }
}

fn answer(
    verb: Verb,
    env: Env,
    stdin: &mut impl Read,
    notes: &mut Vec<String>,
) -> Result<SecretBuf, Error> {
    let input = if verb.reads_stdin() {
        SecretBuf::read_capped(stdin, protocol::STDIN_LIMIT)
            .map_err(|e| Error::Invalid(format!("cannot read stdin: {e}")))?
            .map_err(|limit| Error::InputTooLarge { limit })?
    } else {
        SecretBuf::default()
    };
    if verb == Verb::Version {
        return run_verb(
            verb,
            &Context::with_store(env, "", Box::new(crate::store::MemoryStore::default())),
            &[],
        );
    }
    let ctx = Context::from_env(env, None)?;
    let result = run_verb(verb, &ctx, input.as_slice());
    notes.extend(ctx.take_notes());
    result
}

fn run_verb(verb: Verb, ctx: &Context, input: &[u8]) -> Result<SecretBuf, Error> {
    match verb {
        Verb::Store => {
            actions::store(ctx, protocol::parse_store(input)?)?;
            Ok(SecretBuf::default())
        }
        Verb::Get => {
            let url = protocol::parse_server_url(input)?;
            let span = tracing::debug_span!("get", registry = %url);
            let _g = span.enter();
            match actions::get(ctx, &url)? {
                Some(login) => Ok(crate::secret::login_json(&url, &login)),
                None => {
                    tracing::debug!("not found");
                    Err(Error::NotFound)
                }
            }
        }
        Verb::Erase => {
            actions::erase(ctx, &protocol::parse_server_url(input)?)?;
            Ok(SecretBuf::default())
        }
        Verb::List => {
            let accounts = actions::list(ctx)?;
            let mut b = SecretBuf::default();
            let _ = b.write_all(&protocol::list_json(&accounts));
            Ok(b)
        }
        Verb::Version => {
            let mut b = SecretBuf::default();
            let _ = writeln!(b, "{}", protocol::version_line());
            Ok(b)
        }
    }
}
