//! The five protocol verbs as docker runs them: stdin bytes in, one [`Output`] out. A failure is
//! one stdout line (docker's callers parse stdout only) and status `Failed`; the edge exits 1.

use crate::actions;
use crate::context::Context;
use crate::env::Env;
use crate::error::Error;
use crate::output::{Output, Status};
use crate::protocol::{self, Verb};
use crate::secret::SecretBuf;
use std::io::{Read, Write};

/// Runs one protocol verb against `stdin`. Tests call this directly.
pub(crate) fn serve(verb: Verb, env: Env, workspace: Option<&str>, stdin: &mut dyn Read) -> Output {
    let mut notes = Vec::new();
    let result = answer(verb, env, workspace, stdin, &mut notes);
    let (stdout, status) = match result {
        Ok(bytes) => (bytes, Status::Success),
        Err(e) => (failure_line(&e.protocol_message()), Status::Failed),
    };
    Output {
        stdout,
        notes,
        error: None,
        status,
    }
}

/// The one stdout line of a failed verb.
pub(crate) fn failure_line(message: &str) -> SecretBuf {
    let mut b = SecretBuf::default();
    let _ = writeln!(b, "{message}");
    b
}

fn answer(
    verb: Verb,
    env: Env,
    workspace: Option<&str>,
    stdin: &mut dyn Read,
    notes: &mut Vec<String>,
) -> Result<SecretBuf, Error> {
    if verb == Verb::Version {
        return Ok(version());
    }
    let input = if verb.reads_stdin() {
        let mut r = stdin;
        SecretBuf::read_capped(&mut r, protocol::STDIN_LIMIT)
            .map_err(|e| Error::Invalid(format!("cannot read stdin: {e}")))?
            .map_err(|limit| Error::InputTooLarge { limit })?
    } else {
        SecretBuf::default()
    };
    let ctx = Context::from_env(env, workspace)?;
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
                Some(login) => Ok(protocol::login_json(&url, &login)),
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
        Verb::Version => Ok(version()),
    }
}

/// `version` needs no store: answered before a context exists.
fn version() -> SecretBuf {
    let mut b = SecretBuf::default();
    let _ = writeln!(b, "{}", protocol::version_line());
    b
}
