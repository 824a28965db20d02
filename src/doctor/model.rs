//! The model of a doctor run: the steps, how each ended and why, the report, and the outcome of one
//! live check as the verdict reads it. Plain data and the decisions on it; no I/O, no words beyond
//! the marks' labels.

use crate::clients::config::Family;
use crate::credential_type::CredentialType;
pub(crate) use crate::registry::Reference;
use crate::registry::Registry;

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mark {
    Ok,
    Fail,
    /// Works, but something is worth fixing; does not fail the run.
    Warn,
    /// Not run (nothing to check, or an earlier step made it pointless).
    Skip,
}

impl Mark {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Mark::Ok => "ok",
            Mark::Fail => "FAIL",
            Mark::Warn => "warn",
            Mark::Skip => "skip",
        }
    }
}

/// One line of the report. `fix` says what to do about a failure or warning; `cause` classifies
/// a failed live step for callers that act on it (`add`/`import --verify`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub name: String,
    pub mark: Mark,
    pub detail: String,
    pub fix: Option<String>,
    pub cause: Option<Cause>,
}

/// Why a live step failed, in what the registry said: a status and a registry error code (a
/// fixed vocabulary), never a body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cause {
    /// No answer: connection, TLS, proxy, the time budget.
    Unreachable(String),
    /// The registry or its token endpoint refused the login (`401 UNAUTHORIZED`).
    Rejected(String),
    /// The login is accepted but may not pull the repository (`403 DENIED`).
    NoPull(String),
    /// The repository or tag is not there (`404 MANIFEST_UNKNOWN`).
    Missing(String),
    /// Anything else (not a registry, no usable challenge, throttled): the step's detail says.
    Other,
}

pub(super) fn step(name: &str, mark: Mark, detail: impl Into<String>) -> Step {
    Step {
        name: name.to_string(),
        mark,
        detail: detail.into(),
        fix: None,
        cause: None,
    }
}

impl Step {
    pub(super) fn fix(mut self, fix: impl Into<String>) -> Step {
        self.fix = Some(fix.into());
        self
    }

    pub(super) fn cause(mut self, cause: Cause) -> Step {
        self.cause = Some(cause);
        self
    }
}

/// The entry that answers, as far as it may be shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EntryInfo {
    /// The key it is stored under (`ghcr.io` or `ghcr.io/org/app`).
    pub key: String,
    /// `repository` or `registry`.
    pub scope: &'static str,
    pub secret_name: String,
    pub kind: CredentialType,
    pub workspace: String,
    pub updated_at: u64,
    pub username: String,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    /// Talk plain http to the registry (and a plain-http token endpoint).
    pub plain_http: bool,
    /// Stop after the login step: no request to the registry or a token service.
    pub no_network: bool,
    /// Predict the pull of this family only (`--client`); `None`: every family this machine's
    /// configuration is read by.
    pub client: Option<Family>,
}

#[derive(Clone, Debug)]
pub(crate) struct Report {
    pub image: String,
    pub registry: Option<Registry>,
    pub repository: Option<String>,
    pub reference: Option<Reference>,
    pub entry: Option<EntryInfo>,
    pub steps: Vec<Step>,
}

impl Report {
    /// No step failed.
    pub(crate) fn ok(&self) -> bool {
        self.first_failure().is_none()
    }

    pub(crate) fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.mark == Mark::Fail)
    }
}

/// Hands steps to a caller as soon as they are final, in order and each once (the registry may
/// take the whole time budget to answer). A step a later one may still change is held back, and
/// so is everything after it.
pub(super) struct Progress<'a> {
    pub(super) shown: usize,
    pub(super) held: Option<usize>,
    pub(super) sink: &'a mut dyn FnMut(&[Step]),
}

impl Progress<'_> {
    pub(super) fn flush(&mut self, steps: &[Step]) {
        let end = self.held.unwrap_or(steps.len()).min(steps.len());
        if end > self.shown {
            (self.sink)(&steps[self.shown..end]);
            self.shown = end;
        }
    }
}

/// Whether a pull with one credential works, and why not.
#[derive(Clone, Debug)]
pub(super) struct Outcome {
    /// The manifest was served.
    pub(super) works: bool,
    /// The registry was not reached at all: nothing is known about any credential.
    pub(super) unreached: bool,
    /// The first failing live step, in its words.
    pub(super) why: String,
}

impl Outcome {
    /// From the live steps (connect, auth, manifest) of one run.
    pub(super) fn of(steps: &[Step]) -> Outcome {
        let failed = steps.iter().find(|s| s.mark == Mark::Fail);
        Outcome {
            works: steps
                .iter()
                .any(|s| s.name == "manifest" && matches!(s.mark, Mark::Ok | Mark::Warn)),
            unreached: steps
                .iter()
                .any(|s| s.name == "connect" && s.mark == Mark::Fail),
            why: failed.map_or_else(String::new, |s| s.detail.clone()),
        }
    }
}
