//! What every command produces, protocol verbs and subcommands alike: the bytes for stdout
//! (written once, at the end), one-line notes for stderr, and how it ended. Only `cli` turns an
//! [`Output`] into writes and an exit code.

use crate::secret::SecretBuf;
use std::io::Write;

/// How a command ended; `cli` maps it to an exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Success,
    /// Something the caller can fix (a protocol failure, whose line is already on stdout, or a
    /// subcommand's user error).
    Failed,
    /// The store, the key or the machine (subcommands only; the protocol knows only 0 and 1).
    Internal,
}

#[derive(Debug)]
pub(crate) struct Output {
    pub stdout: SecretBuf,
    /// Hints and warnings for people, one line each.
    pub notes: Vec<String>,
    /// A subcommand's error line (`error: …` on stderr). Protocol failures put theirs on stdout.
    pub error: Option<String>,
    pub status: Status,
}

impl Default for Output {
    fn default() -> Output {
        Output {
            stdout: SecretBuf::default(),
            notes: Vec::new(),
            error: None,
            status: Status::Success,
        }
    }
}

impl Output {
    /// Success with one line on stdout.
    pub(crate) fn line(text: impl AsRef<str>) -> Output {
        let mut o = Output::default();
        o.println(text);
        o
    }

    pub(crate) fn println(&mut self, text: impl AsRef<str>) {
        let _ = writeln!(self.stdout, "{}", text.as_ref());
    }

    pub(crate) fn note(mut self, text: impl Into<String>) -> Output {
        self.notes.push(text.into());
        self
    }

    /// A subcommand's failure: nothing on stdout, the line on stderr.
    pub(crate) fn failure(status: Status, message: String, notes: Vec<String>) -> Output {
        Output {
            stdout: SecretBuf::default(),
            notes,
            error: Some(message),
            status,
        }
    }
}
