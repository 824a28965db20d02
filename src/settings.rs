//! The helper's settings: every environment variable the helper reads is read here, once per
//! process, and handed down as a typed value (docs/configuration.md, "Variables"): a path, a
//! parsed duration or choice, or the text of a variable whose grammar belongs to its one consumer
//! higher up (each such accessor says so). Nothing else reads the environment's variables.
//!
//! Values are parsed when first asked for, so a static `get` does no work for a setting it never
//! uses. A malformed duration is noted once (one line naming the variable) and its default used:
//! a typo must not stop pulls. A malformed choice or name is an error naming the variable.

use crate::duration::{human, parse_duration, whole_seconds};
use crate::env::{self, Env};
use crate::error::{Error, Result, SettingReason};
use crate::paths::{self, Dirs};
use crate::timeout;
use std::cell::{OnceCell, RefCell};
use std::path::PathBuf;
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
    /// The snapshot's variables, without credential values: the raw text, read once.
    raw: Env,
    parsed: Parsed,
    notes: RefCell<Vec<String>>,
}

#[derive(Debug, Default)]
struct Parsed {
    timeout: OnceCell<Duration>,
    store_cache_ttl: OnceCell<u64>,
    store_max_stale: OnceCell<u64>,
    last_use_interval: OnceCell<u64>,
    dirs: OnceCell<Dirs>,
}

impl Settings {
    /// Takes the raw text of the variables (no parsing yet; no credential value).
    pub(crate) fn new(env: &Env) -> Settings {
        Settings {
            raw: env.variables(),
            ..Settings::default()
        }
    }

    /// `BETA9_TIMEOUT`: the budget of one network exchange, clamped to [`timeout::MAX`]; default
    /// [`timeout::DEFAULT`].
    pub(crate) fn timeout(&self) -> Duration {
        *self.parsed.timeout.get_or_init(|| {
            let parsed = self.raw.get(env::TIMEOUT).map(|raw| {
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
        *self
            .parsed
            .store_cache_ttl
            .get_or_init(|| self.seconds(env::STORE_CACHE_TTL, DEFAULT_STORE_CACHE_TTL))
    }

    /// `BETA9_STORE_MAX_STALE`, in whole seconds.
    pub(crate) fn store_max_stale(&self) -> u64 {
        *self
            .parsed
            .store_max_stale
            .get_or_init(|| self.seconds(env::STORE_MAX_STALE, DEFAULT_STORE_MAX_STALE))
    }

    /// `BETA9_LAST_USE_INTERVAL`, in whole seconds (`0`: last uses are not recorded).
    pub(crate) fn last_use_interval(&self) -> u64 {
        *self
            .parsed
            .last_use_interval
            .get_or_init(|| self.seconds(env::LAST_USE_INTERVAL, DEFAULT_LAST_USE_INTERVAL))
    }

    /// `BETA9_KEY_BACKEND`: `None` when unset (the platform's default applies).
    pub(crate) fn key_backend(&self) -> Result<Option<KeyBackend>> {
        match self.raw.get(env::KEY_BACKEND) {
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
        match self.raw.get(env::WORKSPACE) {
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
            .raw
            .get(env::GCE_METADATA_HOST)
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
        self.store_url().is_some()
    }

    /// `BETA9_STORE_URL`: the shared store's URL text (may hold a password: never echoed); its
    /// grammar is the PostgreSQL connection's (src/pg/), parsed where the store is opened.
    pub(crate) fn store_url(&self) -> Option<&str> {
        self.raw.get(env::STORE_URL)
    }

    /// `BETA9_STORE_PASSWORD_FILE`: a file holding the shared store's password.
    pub(crate) fn store_password_file(&self) -> Option<PathBuf> {
        self.raw.path(env::STORE_PASSWORD_FILE)
    }

    /// The variables that place the store, the generated key and the token cache
    /// (`BETA9_CREDENTIALS_DIR`, `BETA9_CACHE_DIR`, `XDG_DATA_HOME`, `XDG_CONFIG_HOME`,
    /// `XDG_CACHE_HOME`, `HOME`); src/paths.rs owns the order of the fallbacks.
    pub(crate) fn dirs(&self) -> &Dirs {
        self.parsed.dirs.get_or_init(|| Dirs {
            credentials_dir: self.raw.path(env::CREDENTIALS_DIR),
            cache_dir: self.raw.path(env::CACHE_DIR),
            xdg_data_home: self.raw.path(env::XDG_DATA_HOME),
            xdg_config_home: self.raw.path(env::XDG_CONFIG_HOME),
            xdg_cache_home: self.raw.path(env::XDG_CACHE_HOME),
            home: self.raw.path(env::HOME),
        })
    }

    /// `HOME`.
    pub(crate) fn home(&self) -> Option<PathBuf> {
        self.raw.path(env::HOME)
    }

    /// `XDG_CONFIG_HOME`, as set (each client family decides whether a relative one counts).
    pub(crate) fn xdg_config_home(&self) -> Option<PathBuf> {
        self.raw.path(env::XDG_CONFIG_HOME)
    }

    /// `BETA9_CREDENTIALS_KEY_FILE`: the operator's master key file.
    pub(crate) fn credentials_key_file(&self) -> Option<PathBuf> {
        self.raw.path(env::CREDENTIALS_KEY_FILE)
    }

    /// `BETA9_LOG`: the diagnostics' directives, as text; their grammar is tracing's, applied in
    /// src/log.rs (which caps the noisy crates).
    pub(crate) fn log(&self) -> Option<&str> {
        self.raw.get(env::LOG)
    }

    /// `BETA9_TOKEN_CACHE_URL`: the shared token cache's URL text (may hold a password: never
    /// echoed); its grammar is the Redis client's, parsed in src/token/redis.rs.
    pub(crate) fn token_cache_url(&self) -> Option<&str> {
        self.raw.get(env::TOKEN_CACHE_URL)
    }

    /// `BETA9_TOKEN_CACHE_CA_FILE`: extra CA certificates for a `rediss://` token cache.
    pub(crate) fn token_cache_ca_file(&self) -> Option<PathBuf> {
        self.raw.path(env::TOKEN_CACHE_CA_FILE)
    }

    /// `AWS_PROFILE`, as aws-config's chain will read it (part of an ambient record's cache key).
    pub(crate) fn aws_profile(&self) -> Option<&str> {
        self.raw.get(env::AWS_PROFILE)
    }

    /// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`: `true` in any case, spaces around allowed, turns the
    /// endpoint variables off (AWS SDKs reference guide, "Service-specific endpoints").
    pub(crate) fn aws_ignore_configured_endpoint_urls(&self) -> bool {
        self.raw
            .get(env::AWS_IGNORE_CONFIGURED_ENDPOINT_URLS)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_ECR` and `AWS_ENDPOINT_URL_ECR_PUBLIC` in that order,
    /// each trimmed, `None` when unset or blank; which one applies is the ECR resolver's choice
    /// (src/resolve/ecr/).
    pub(crate) fn aws_endpoint_urls(&self) -> [Option<&str>; 3] {
        [
            env::AWS_ENDPOINT_URL,
            env::AWS_ENDPOINT_URL_ECR,
            env::AWS_ENDPOINT_URL_ECR_PUBLIC,
        ]
        .map(|name| self.raw.get(name).map(str::trim).filter(|v| !v.is_empty()))
    }

    /// `BETA9_GOOGLE_ENDPOINT_ORIGIN`, as text: its grammar is the pinned endpoints'
    /// (src/resolve/google/endpoints.rs, a higher layer), which parse it.
    pub(crate) fn google_endpoint_origin(&self) -> Option<&str> {
        self.raw.get(env::GOOGLE_ENDPOINT_ORIGIN)
    }

    /// `BETA9_IMPORT_ALLOW`, as text: its grammar is the import policy's
    /// (src/actions/import_policy.rs, a higher layer), which parses it.
    pub(crate) fn import_allow(&self) -> Option<&str> {
        self.raw.get(env::IMPORT_ALLOW)
    }

    /// `DOCKER_CONFIG`: docker's config directory.
    pub(crate) fn docker_config(&self) -> Option<PathBuf> {
        self.raw.path(env::DOCKER_CONFIG)
    }

    /// `REGISTRY_AUTH_FILE`: the containers tools' primary auth file.
    pub(crate) fn registry_auth_file(&self) -> Option<PathBuf> {
        self.raw.path(env::REGISTRY_AUTH_FILE)
    }

    /// `XDG_RUNTIME_DIR`.
    pub(crate) fn xdg_runtime_dir(&self) -> Option<PathBuf> {
        self.raw.path(env::XDG_RUNTIME_DIR)
    }

    /// `SSL_CERT_FILE` and `SSL_CERT_DIR`, the set ones with their names, in that order.
    pub(crate) fn ssl_cert_overrides(&self) -> Vec<(&'static str, PathBuf)> {
        [env::SSL_CERT_FILE, env::SSL_CERT_DIR]
            .into_iter()
            .filter_map(|n| self.raw.path(n).map(|p| (n, p)))
            .collect()
    }

    /// `ALL_PROXY`, else `all_proxy`: the name set and its text (a secret: it may hold a
    /// password). Read only on a path that uses the network: a value that is not UTF-8 is an
    /// error naming the variable then. The proxy grammar is src/net/proxy.rs's.
    pub(crate) fn all_proxy(&self) -> Result<Option<(&'static str, &str)>> {
        self.first(&[env::ALL_PROXY, env::ALL_PROXY_LOWER])
    }

    /// `HTTP_PROXY`, else `http_proxy` (as [`Settings::all_proxy`]).
    pub(crate) fn http_proxy(&self) -> Result<Option<(&'static str, &str)>> {
        self.first(&[env::HTTP_PROXY, env::HTTP_PROXY_LOWER])
    }

    /// `HTTPS_PROXY`, else `https_proxy` (as [`Settings::all_proxy`]).
    pub(crate) fn https_proxy(&self) -> Result<Option<(&'static str, &str)>> {
        self.first(&[env::HTTPS_PROXY, env::HTTPS_PROXY_LOWER])
    }

    /// `NO_PROXY`, else `no_proxy` (as [`Settings::all_proxy`]).
    pub(crate) fn no_proxy(&self) -> Result<Option<(&'static str, &str)>> {
        self.first(&[env::NO_PROXY, env::NO_PROXY_LOWER])
    }

    /// `BETA9_TEST_CLOCK_SHIFT_MS` (debug builds only); a malformed one was refused by
    /// [`Env::validate`] before anything ran, and counts as none here.
    #[cfg(debug_assertions)]
    pub(crate) fn test_clock_shift_ms(&self) -> Option<i64> {
        self.raw.test_clock_shift_ms().ok().flatten()
    }

    fn first(&self, names: &[&'static str]) -> Result<Option<(&'static str, &str)>> {
        for name in names {
            if let Some(v) = self.raw.text(name)? {
                return Ok(Some((name, v)));
            }
        }
        Ok(None)
    }

    /// The lines noted so far about malformed values (each once).
    pub(crate) fn take_notes(&self) -> Vec<String> {
        std::mem::take(&mut self.notes.borrow_mut())
    }

    fn seconds(&self, name: &str, default: u64) -> u64 {
        let parsed = self
            .raw
            .get(name)
            .map(|r| parse_duration(r).map(whole_seconds));
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

    #[test]
    fn each_variable_is_handed_down_typed_and_nothing_is_parsed_before_it_is_asked_for() {
        let s = settings(&[
            (env::HOME, "/h"),
            (env::CREDENTIALS_DIR, "/s"),
            (env::AWS_ENDPOINT_URL, " http://all "),
            (env::AWS_ENDPOINT_URL_ECR, "  "),
            (env::AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, " True "),
            (env::HTTP_PROXY_LOWER, "p:1"),
            (env::HTTP_PROXY, "q:2"),
            (env::NO_PROXY_LOWER, "x"),
            ("AWS_SECRET_ACCESS_KEY", "CANARY"),
        ]);
        assert!(s.parsed.dirs.get().is_none() && s.parsed.timeout.get().is_none());
        assert!(s.raw.credential("AWS_SECRET_ACCESS_KEY").is_none());
        assert!(!format!("{s:?}").contains("CANARY"));
        assert_eq!(s.home(), Some(PathBuf::from("/h")));
        assert_eq!(s.dirs().credentials_dir, Some(PathBuf::from("/s")));
        assert_eq!(s.dirs().cache_dir, None);
        assert_eq!(s.aws_endpoint_urls(), [Some("http://all"), None, None]);
        assert!(s.aws_ignore_configured_endpoint_urls());
        assert_eq!(s.http_proxy().unwrap(), Some((env::HTTP_PROXY, "q:2")));
        assert_eq!(s.no_proxy().unwrap(), Some((env::NO_PROXY_LOWER, "x")));
        assert_eq!(s.https_proxy().unwrap(), None);
        assert_eq!((s.store_url(), s.shared_store()), (None, false));
        assert!(
            !settings(&[(env::AWS_IGNORE_CONFIGURED_ENDPOINT_URLS, "1")])
                .aws_ignore_configured_endpoint_urls()
        );
    }
}
