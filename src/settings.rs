//! The helper's settings: every environment variable with a grammar of its own (a duration, a
//! choice, a name) is interpreted here, once per process, and handed down as a typed value
//! (docs/configuration.md, "Variables"). Nothing else parses these variables' text.
//!
//! Values are parsed when first asked for, so a static `get` does no work for a setting it never
//! uses. A malformed duration is noted once (one line naming the variable) and its default used:
//! a typo must not stop pulls. A malformed choice or name is an error naming the variable.

use crate::duration::{human, parse_duration, whole_seconds};
use crate::env::{self, Env};
use crate::error::{Error, Result, SettingReason};
use crate::paths;
use crate::timeout;
use std::cell::{OnceCell, RefCell};
use std::time::Duration;

/// `BETA9_STORE_CACHE_TTL` when unset: seconds a local copy of a shared-store entry answers.
pub const DEFAULT_STORE_CACHE_TTL: u64 = 60;
/// `BETA9_STORE_MAX_STALE` when unset: 24 h.
pub const DEFAULT_STORE_MAX_STALE: u64 = 24 * 3600;
/// `BETA9_LAST_USE_INTERVAL` when unset: 1 h.
pub const DEFAULT_LAST_USE_INTERVAL: u64 = 3600;

/// `GCE_METADATA_HOST` when unset: the Google metadata server's name (google-cloud-go
/// `compute/metadata`).
pub(crate) const DEFAULT_GCE_METADATA_HOST: &str = "metadata.google.internal";

/// Where the master key lives when no key file is named (`BETA9_KEY_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyBackend {
    File,
    Keyring,
}

/// The settings of one process, read from an [`Env`] snapshot.
#[derive(Debug, Default)]
pub struct Settings {
    timeout: Option<String>,
    store_cache_ttl: Option<String>,
    store_max_stale: Option<String>,
    last_use_interval: Option<String>,
    key_backend: Option<String>,
    workspace: Option<String>,
    gce_metadata_host: Option<String>,
    store_url: bool,
    parsed: Parsed,
    notes: RefCell<Vec<String>>,
}

#[derive(Debug, Default)]
struct Parsed {
    timeout: OnceCell<Duration>,
    store_cache_ttl: OnceCell<u64>,
    store_max_stale: OnceCell<u64>,
    last_use_interval: OnceCell<u64>,
}

impl Settings {
    /// Takes the raw text of the variables it interprets (no parsing yet; nothing secret).
    pub(crate) fn new(env: &Env) -> Settings {
        let text = |name| env.get(name).map(str::to_string);
        Settings {
            timeout: text(env::TIMEOUT),
            store_cache_ttl: text(env::STORE_CACHE_TTL),
            store_max_stale: text(env::STORE_MAX_STALE),
            last_use_interval: text(env::LAST_USE_INTERVAL),
            key_backend: text(env::KEY_BACKEND),
            workspace: text(env::WORKSPACE),
            gce_metadata_host: text(env::GCE_METADATA_HOST),
            store_url: env.get(env::STORE_URL).is_some(),
            ..Settings::default()
        }
    }

    /// `BETA9_TIMEOUT`: the budget of one network exchange, clamped to [`timeout::MAX`]; default
    /// [`timeout::DEFAULT`].
    pub(crate) fn timeout(&self) -> Duration {
        *self.parsed.timeout.get_or_init(|| {
            let parsed = self.timeout.as_deref().map(|raw| {
                parse_duration(raw)
                    .filter(|d| !d.is_zero())
                    .map(|d| d.min(timeout::MAX))
            });
            self.or_default(
                env::TIMEOUT,
                parsed,
                timeout::DEFAULT,
                "is not a positive duration",
            )
        })
    }

    /// `BETA9_STORE_CACHE_TTL`, in whole seconds (`0`: ask the database every time).
    pub(crate) fn store_cache_ttl(&self) -> u64 {
        *self.parsed.store_cache_ttl.get_or_init(|| {
            self.seconds(
                env::STORE_CACHE_TTL,
                &self.store_cache_ttl,
                DEFAULT_STORE_CACHE_TTL,
            )
        })
    }

    /// `BETA9_STORE_MAX_STALE`, in whole seconds.
    pub(crate) fn store_max_stale(&self) -> u64 {
        *self.parsed.store_max_stale.get_or_init(|| {
            self.seconds(
                env::STORE_MAX_STALE,
                &self.store_max_stale,
                DEFAULT_STORE_MAX_STALE,
            )
        })
    }

    /// `BETA9_LAST_USE_INTERVAL`, in whole seconds (`0`: last uses are not recorded).
    pub(crate) fn last_use_interval(&self) -> u64 {
        *self.parsed.last_use_interval.get_or_init(|| {
            self.seconds(
                env::LAST_USE_INTERVAL,
                &self.last_use_interval,
                DEFAULT_LAST_USE_INTERVAL,
            )
        })
    }

    /// `BETA9_KEY_BACKEND`: `None` when unset (the platform's default applies).
    pub(crate) fn key_backend(&self) -> Result<Option<KeyBackend>> {
        match self.key_backend.as_deref() {
            None => Ok(None),
            Some("file") => Ok(Some(KeyBackend::File)),
            Some("keyring") => Ok(Some(KeyBackend::Keyring)),
            Some(other) => Err(Error::setting(
                env::KEY_BACKEND,
                SettingReason::NotOneOf {
                    value: other.to_string(),
                    what: "a key backend",
                    choices: "'file' or 'keyring'",
                },
            )),
        }
    }

    /// The workspace `BETA9_WORKSPACE` names, checked; `None` when unset.
    pub(crate) fn env_workspace(&self) -> Result<Option<&str>> {
        match self.workspace.as_deref() {
            None => Ok(None),
            Some(w) => match paths::validate_workspace(w) {
                Ok(()) => Ok(Some(w)),
                Err(e) => Err(Error::setting(
                    env::WORKSPACE,
                    SettingReason::Because(e.protocol_message()),
                )),
            },
        }
    }

    /// The workspace to use: the one given on the command line, else `BETA9_WORKSPACE`, else
    /// `default`; checked either way, an error naming where a bad name came from.
    pub(crate) fn workspace(&self, explicit: Option<&str>) -> Result<String> {
        let name = match explicit {
            Some(w) => {
                paths::validate_workspace(w)?;
                w
            }
            None => self.env_workspace()?.unwrap_or(paths::DEFAULT_WORKSPACE),
        };
        Ok(name.to_string())
    }

    /// `GCE_METADATA_HOST`: `host[:port]` of the metadata server, checked (nothing that could
    /// turn into a path, user info, a query or a second word).
    pub(crate) fn gce_metadata_host(&self) -> Result<&str> {
        let host = self
            .gce_metadata_host
            .as_deref()
            .unwrap_or(DEFAULT_GCE_METADATA_HOST);
        if host.contains(['/', '@', '?', '#']) || host.contains(char::is_whitespace) {
            return Err(Error::setting(
                env::GCE_METADATA_HOST,
                SettingReason::MustBe("host[:port]"),
            ));
        }
        Ok(host)
    }

    /// Whether `BETA9_STORE_URL` names a shared store.
    pub(crate) fn shared_store(&self) -> bool {
        self.store_url
    }

    /// The lines noted so far about malformed values (each once).
    pub(crate) fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut self.notes.borrow_mut())
    }

    fn seconds(&self, name: &str, raw: &Option<String>, default: u64) -> u64 {
        let parsed = raw.as_deref().map(|r| parse_duration(r).map(whole_seconds));
        self.or_default(name, parsed, default, "is not a duration")
    }

    /// The parsed value; the default when unset; the default and one note when malformed.
    fn or_default<T: Copy + Into<Shown>>(
        &self,
        name: &str,
        parsed: Option<Option<T>>,
        default: T,
        problem: &str,
    ) -> T {
        match parsed {
            None => default,
            Some(Some(v)) => v,
            Some(None) => {
                self.notes.borrow_mut().push(format!(
                    "{name} {problem} (seconds, or a number with s, m, h or d); using {}",
                    default.into().0
                ));
                default
            }
        }
    }
}

/// A default as the notes show it.
struct Shown(String);

impl From<u64> for Shown {
    fn from(s: u64) -> Shown {
        Shown(human(s))
    }
}

impl From<Duration> for Shown {
    fn from(d: Duration) -> Shown {
        Shown(human(whole_seconds(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn timeout_values() {
        let t = |v: &str| settings(&[(env::TIMEOUT, v)]).timeout();
        assert_eq!(t("2"), Duration::from_secs(2));
        assert_eq!(t(" 0.5 "), Duration::from_millis(500));
        assert_eq!(t("1m"), Duration::from_secs(60));
        assert_eq!(t("100000"), timeout::MAX);
        for bad in ["0", "-1", "ten", "NaN", "inf"] {
            let s = settings(&[(env::TIMEOUT, bad)]);
            assert_eq!(s.timeout(), timeout::DEFAULT, "{bad}");
            let notes = s.take_notes();
            assert_eq!(notes.len(), 1, "{notes:?}");
            assert!(notes[0].starts_with("BETA9_TIMEOUT ") && notes[0].ends_with("using 10 s"));
        }
        assert_eq!(settings(&[]).timeout(), timeout::DEFAULT);
    }

    #[test]
    fn a_malformed_value_is_noted_once_however_often_it_is_read() {
        let s = settings(&[
            (env::TIMEOUT, "soon"),
            (env::STORE_CACHE_TTL, "x"),
            (env::STORE_MAX_STALE, "1.2.3"),
            (env::LAST_USE_INTERVAL, "-1"),
        ]);
        for _ in 0..3 {
            assert_eq!(s.timeout(), timeout::DEFAULT);
            assert_eq!(s.store_cache_ttl(), DEFAULT_STORE_CACHE_TTL);
            assert_eq!(s.store_max_stale(), DEFAULT_STORE_MAX_STALE);
            assert_eq!(s.last_use_interval(), DEFAULT_LAST_USE_INTERVAL);
        }
        let notes = s.take_notes();
        assert_eq!(notes.len(), 4, "{notes:?}");
        for (note, name) in notes.iter().zip([
            env::TIMEOUT,
            env::STORE_CACHE_TTL,
            env::STORE_MAX_STALE,
            env::LAST_USE_INTERVAL,
        ]) {
            assert!(note.starts_with(&format!("{name} ")), "{note}");
        }
        assert!(notes[2].ends_with("using 24 h"), "{notes:?}");
    }

    #[test]
    fn durations_in_whole_seconds_round_up() {
        let s = settings(&[
            (env::STORE_CACHE_TTL, "0"),
            (env::STORE_MAX_STALE, "90m"),
            (env::LAST_USE_INTERVAL, "0.2"),
        ]);
        assert_eq!(s.store_cache_ttl(), 0);
        assert_eq!(s.store_max_stale(), 5400);
        assert_eq!(s.last_use_interval(), 1, "a fraction is not 'off'");
        assert!(s.take_notes().is_empty());
    }

    #[test]
    fn choices_and_names_name_their_variable() {
        assert_eq!(settings(&[]).key_backend().unwrap(), None);
        assert_eq!(
            settings(&[(env::KEY_BACKEND, "keyring")])
                .key_backend()
                .unwrap(),
            Some(KeyBackend::Keyring)
        );
        let e = settings(&[(env::KEY_BACKEND, "vault")])
            .key_backend()
            .unwrap_err();
        assert!(e.to_string().contains("BETA9_KEY_BACKEND"), "{e}");

        assert_eq!(
            settings(&[]).gce_metadata_host().unwrap(),
            "metadata.google.internal"
        );
        let e = settings(&[(env::GCE_METADATA_HOST, "evil/x")])
            .gce_metadata_host()
            .unwrap_err();
        assert_eq!(e.to_string(), "GCE_METADATA_HOST must be host[:port]");

        assert_eq!(settings(&[]).workspace(None).unwrap(), "default");
        let s = settings(&[(env::WORKSPACE, "a/b")]);
        let e = s.workspace(None).unwrap_err().to_string();
        assert!(
            e.starts_with("BETA9_WORKSPACE: invalid workspace name"),
            "{e}"
        );
        assert_eq!(s.workspace(Some("team")).unwrap(), "team", "the flag wins");
        let e = s.workspace(Some("x y")).unwrap_err().to_string();
        assert!(!e.contains("BETA9_WORKSPACE"), "{e}");
    }

    #[test]
    fn a_bad_setting_is_typed_by_its_name_and_worded_as_before() {
        let named = |e: Error| match e {
            Error::Setting { ref name, .. } => (name.clone(), e.to_string()),
            other => panic!("not a setting error: {other:?}"),
        };
        let s = settings(&[(env::KEY_BACKEND, "vault")]);
        assert_eq!(
            named(s.key_backend().unwrap_err()),
            (
                env::KEY_BACKEND.to_string(),
                "BETA9_KEY_BACKEND=\"vault\" is not a key backend: use 'file' or 'keyring'".into()
            )
        );
        let s = settings(&[(env::GCE_METADATA_HOST, "a/b")]);
        assert_eq!(
            named(s.gce_metadata_host().unwrap_err()),
            (
                env::GCE_METADATA_HOST.to_string(),
                "GCE_METADATA_HOST must be host[:port]".into()
            )
        );
        let s = settings(&[(env::WORKSPACE, "../x")]);
        let (name, text) = named(s.workspace(None).unwrap_err());
        assert_eq!(name, env::WORKSPACE);
        assert_eq!(
            text,
            "BETA9_WORKSPACE: invalid workspace name \"../x\": use 1-64 letters, digits, '-', '_' or '.'"
        );
    }
}
