//! The error type callers branch on, and its one-line rendering.
//!
//! Messages say where (a registry, an entry name, a path, a line and column), never what: no
//! secret, no input excerpt. `serde_json` errors quote input, so only their position is kept.

use std::time::Duration;

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Docker's fixed texts (docs/protocol.md). Callers compare
/// stdout against them, so they are consts checked as literals in the protocol case files.
pub(crate) const NOT_FOUND: &str = "credentials not found in native keychain";
pub(crate) const MISSING_SERVER_URL: &str = "no credentials server URL";
pub(crate) const MISSING_USERNAME: &str = "no credentials username";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing stored for that key: docker's fixed text, so callers fall back to the next key.
    #[error("{NOT_FOUND}")]
    NotFound,
    #[error("{MISSING_SERVER_URL}")]
    MissingServerUrl,
    #[error("{MISSING_USERNAME}")]
    MissingUsername,
    /// Go's decoder says `EOF` for empty `store` input; keep the byte-exact text.
    #[error("EOF")]
    EmptyInput,
    #[error("malformed JSON on stdin at line {line}, column {column}")]
    BadRequest { line: usize, column: usize },
    /// A one-off message about operator input that nothing branches on.
    #[error("{0}")]
    Invalid(String),
    /// A variable the helper reads (docs/configuration.md) is set to something it cannot use:
    /// the message begins with the variable's name.
    #[error("{name}{reason}")]
    Setting { name: String, reason: SettingReason },
    /// `WHERE: why`: what the operator named (a PostgreSQL URL's variable or flag, a password or
    /// root-certificate file, a database, an endpoint override) and why it cannot be used.
    #[error("{place}: {why}")]
    At { place: String, why: String },
    /// `rekey` refused to start or to resume (docs/storage.md, "Key ownership and rotation").
    #[error(transparent)]
    Rekey(#[from] RekeyRefusal),
    #[error("input on stdin exceeds the {limit}-byte limit")]
    InputTooLarge { limit: usize },
    #[error("cannot decrypt {entry} in {location}: wrong key or corrupted file; other entries are unaffected")]
    Undecryptable { entry: String, location: String },
    #[error("stored entry {entry} is in format {version}, newer than this helper understands")]
    StoreFormat { entry: String, version: u8 },
    #[error("stored entry {entry} is not a valid credential record: {reason}")]
    BadRecord { entry: String, reason: String },
    #[error("master key unavailable: {0}")]
    KeyUnavailable(String),
    /// The key at hand did not seal this store (docs/storage.md, "Key ownership and rotation").
    #[error("{}", wrong_key(entry.as_deref(), key, location))]
    WrongKey {
        /// The entry that would not open, when a read found out.
        entry: Option<String>,
        key: String,
        location: String,
    },
    #[error("{registry}: access denied: {detail}")]
    Rejected { registry: String, detail: String },
    #[error("{registry}: unreachable: {detail}")]
    Unreachable { registry: String, detail: String },
    /// Something that gave no answer within `BETA9_TIMEOUT` (a database, a token endpoint, the
    /// AWS credential chain, the OS keyring): one class for every timeout, built by
    /// [`Error::timeout`]. `of_key` marks the key source, whose failures keep the exit status of
    /// a key failure (docs/configuration.md, "Timeouts").
    #[error("{place}: timeout: {detail}")]
    Timeout {
        place: String,
        detail: String,
        of_key: bool,
    },
    #[error("{registry}: throttled: {detail}")]
    Throttled { registry: String, detail: String },
    #[error("{registry}: expired: {detail}")]
    Expired { registry: String, detail: String },
    #[error("{registry}: {detail}")]
    Unsupported { registry: String, detail: String },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A JSON document that must be an object and is not: its position only (config files hold
/// secrets). The one wording for every config file the helper reads or edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON object (error at line {line}, column {column})")]
pub struct NotJsonObject {
    pub line: usize,
    pub column: usize,
}

impl NotJsonObject {
    pub(crate) fn at(e: &serde_json::Error) -> NotJsonObject {
        NotJsonObject {
            line: e.line(),
            column: e.column(),
        }
    }
}

/// What is wrong with a setting; each renders after the variable's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingReason {
    #[error(" is set but is not valid UTF-8 text; fix or unset it")]
    NotUtf8,
    #[error(" is not set")]
    Unset,
    /// The form the value must have.
    #[error(" must be {0}")]
    MustBe(&'static str),
    /// A value outside a fixed set (the value is a word from that set's domain, never a secret).
    #[error("={value:?} is not {what}: use {choices}")]
    NotOneOf {
        value: String,
        what: &'static str,
        choices: &'static str,
    },
    /// What the value lacks or names that cannot be used.
    #[error(" {0}")]
    Says(String),
    /// Why the value was refused, from the check that refused it.
    #[error(": {0}")]
    Because(String),
}

/// Why `rekey` did not start or resume; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekeyRefusal {
    #[error("the new key file is the current one")]
    SameKeyFile,
    #[error("the new key is the current one")]
    SameKey,
    #[error("--new-key-file only applies with BETA9_CREDENTIALS_KEY_FILE; the generated and keyring keys are rotated in place")]
    NewKeyFileNotApplicable,
    #[error("BETA9_CREDENTIALS_KEY_FILE is managed by you: pass --new-key-file NEW, then point the variable at NEW")]
    NewKeyFileNeeded,
    /// The key at hand is the one a parked rotation moves to.
    #[error("a rotation to this key is in progress: finish it with BETA9_CREDENTIALS_KEY_FILE naming the key it started from and --new-key-file naming this one")]
    InProgressToThisKey,
    #[error("a rotation to another key is in progress: finish it first with --new-key-file naming the key it started with")]
    InProgressToAnotherKey,
    /// Another `rekey` holds the rotation lock of `store`.
    #[error("another rotation of {store} has held its lock for {secs} s; try again later")]
    Busy { store: String, secs: u64 },
}

impl Error {
    /// [`Error::Setting`].
    pub(crate) fn setting(name: impl Into<String>, reason: SettingReason) -> Error {
        Error::Setting {
            name: name.into(),
            reason,
        }
    }

    /// [`Error::At`].
    pub(crate) fn at(place: impl Into<String>, why: impl Into<String>) -> Error {
        Error::At {
            place: place.into(),
            why: why.into(),
        }
    }

    /// The one timeout: `PLACE: timeout: no answer from WHAT within N s (BETA9_TIMEOUT)`, `N`
    /// the budget that ran out.
    pub(crate) fn timeout(place: impl Into<String>, what: &str, budget: Duration) -> Error {
        Error::Timeout {
            place: place.into(),
            detail: format!(
                "no answer from {what} within {} s (BETA9_TIMEOUT)",
                crate::duration::secs(budget)
            ),
            of_key: false,
        }
    }

    /// [`Error::timeout`] of the master key's source (the OS keyring).
    pub(crate) fn key_timeout(place: impl Into<String>, what: &str, budget: Duration) -> Error {
        match Error::timeout(place, what, budget) {
            Error::Timeout { place, detail, .. } => Error::Timeout {
                place,
                detail,
                of_key: true,
            },
            other => other,
        }
    }

    /// The single stdout line of a failed protocol verb: the whole cause chain, newlines folded, so
    /// the caller's quoted `out:` stays one line.
    pub fn protocol_message(&self) -> String {
        let text = match self {
            Error::Other(e) => format!("{e:#}"),
            other => other.to_string(),
        };
        one_line(&text)
    }

    pub(crate) fn from_json(e: &serde_json::Error) -> Error {
        if e.is_eof() && e.line() <= 1 && e.column() == 0 {
            return Error::EmptyInput;
        }
        Error::BadRequest {
            line: e.line(),
            column: e.column(),
        }
    }
}

fn wrong_key(entry: Option<&str>, key: &str, location: &str) -> String {
    let what = entry.map_or(String::new(), |e| format!("cannot decrypt {e}: "));
    format!(
        "{what}wrong key: the {key} did not seal the store in {location}; restore the key its entries were sealed with, or point BETA9_CREDENTIALS_KEY_FILE at it (after `rekey --new-key-file NEW`, at NEW); nothing was changed"
    )
}

/// Folds any line breaks so one error is always one line, and escapes what a terminal would act
/// on (see [`printable`]).
pub(crate) fn one_line(text: &str) -> String {
    let folded = text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    printable(&folded)
}

/// Text from outside (a registry name from a docker `store` or an imported record) made safe to
/// show people: control characters (escape sequences, carriage returns, forged line breaks) and
/// bidirectional overrides are written as `\u{..}` escapes instead of reaching the terminal raw.
pub(crate) fn printable(text: &str) -> String {
    let risky = |c: char| {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(risky) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if risky(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_texts_are_dockers() {
        assert_eq!(
            Error::MissingServerUrl.protocol_message(),
            "no credentials server URL"
        );
        assert_eq!(
            Error::MissingUsername.protocol_message(),
            "no credentials username"
        );
        assert_eq!(NOT_FOUND, "credentials not found in native keychain");
    }

    #[test]
    fn chains_are_folded_into_one_line() {
        let e = Error::Other(anyhow::anyhow!("inner\nsecond").context("outer"));
        assert_eq!(e.protocol_message(), "outer: inner second");
    }

    #[test]
    fn terminal_controls_are_escaped_for_people() {
        assert_eq!(printable("ghcr.io"), "ghcr.io");
        assert_eq!(printable("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(printable("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(
            one_line("evil\u{1b}]0;t\u{7}\nnext"),
            "evil\\u{1b}]0;t\\u{7} next"
        );
    }

    #[test]
    fn every_timeout_has_one_wording() {
        let b = Duration::from_millis(2500);
        let e = Error::timeout("PostgreSQL store db:5432/x", "the server", b);
        assert_eq!(
            e.protocol_message(),
            "PostgreSQL store db:5432/x: timeout: no answer from the server within 2.5 s (BETA9_TIMEOUT)"
        );
        assert!(matches!(e, Error::Timeout { of_key: false, .. }));
        let k = Error::key_timeout("OS keyring", "the Secret Service", Duration::from_secs(1));
        assert_eq!(
            k.protocol_message(),
            "OS keyring: timeout: no answer from the Secret Service within 1 s (BETA9_TIMEOUT)"
        );
        assert!(matches!(k, Error::Timeout { of_key: true, .. }));
    }

    #[test]
    fn json_errors_keep_position_not_input() {
        let err = serde_json::from_str::<serde_json::Value>("{\"a\": sekrit}").unwrap_err();
        let msg = Error::from_json(&err).protocol_message();
        assert!(!msg.contains("sekrit"), "{msg}");
        assert!(msg.contains("line 1"), "{msg}");
    }
}
