//! What a subcommand returns: an [`Output`] or a [`Failure`] (user error or internal), and the
//! capped stdin reader the commands that take input share. A leaf: the command modules and the
//! dispatcher import it, it imports none of them.

use crate::error::Error;
use crate::output::Output;
use crate::protocol;
use crate::secret::SecretBuf;
use std::io::Read;

/// Stdin cap for `add --json` and `import`: the protocol's cap (a record is far smaller).
pub(crate) const STDIN_LIMIT: usize = protocol::STDIN_LIMIT;

/// Why a command failed. `User` is something the caller can fix (exit 1); `Internal` is the
/// store, the key or the machine (exit 2). Messages are one line and never hold a secret value.
#[derive(Debug)]
pub(crate) enum Failure {
    User(String),
    Internal(String),
}

impl Failure {
    pub(crate) fn user(msg: impl Into<String>) -> Failure {
        Failure::User(msg.into())
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        let msg = e.protocol_message();
        match e {
            Error::Other(_)
            | Error::KeyUnavailable(_)
            | Error::Timeout { of_key: true, .. }
            | Error::WrongKey { .. }
            | Error::Undecryptable { .. }
            | Error::StoreFormat { .. } => Failure::Internal(msg),
            _ => Failure::User(msg),
        }
    }
}

pub(crate) type CmdResult = Result<Output, Failure>;

/// Reads stdin to EOF into a zeroizing buffer, capped at [`STDIN_LIMIT`].
pub(crate) fn read_stdin(stdin: &mut dyn Read) -> Result<SecretBuf, Failure> {
    let mut r = stdin;
    SecretBuf::read_capped(&mut r, STDIN_LIMIT)
        .map_err(|e| Failure::user(format!("cannot read stdin: {e}")))?
        .map_err(|limit| Failure::user(format!("input on stdin exceeds the {limit}-byte limit")))
}
