//! Every environment variable the helper reads, named once and read in one place.
//!
//! The rest of the crate works from an [`Env`] snapshot, so tests inject values instead of
//! mutating the process environment (which is racy in a multi-threaded test binary).

use crate::error::{Error, SettingReason};
use secrecy::SecretString;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

/// Base directory of the encrypted store (overrides the XDG data dir).
pub(crate) const CREDENTIALS_DIR: &str = "BETA9_CREDENTIALS_DIR";
/// A file holding the master key: 64 hex characters or 32 raw bytes (docs/storage.md, "Key file shape").
pub(crate) const CREDENTIALS_KEY_FILE: &str = "BETA9_CREDENTIALS_KEY_FILE";
/// `file` or `keyring`: where the master key lives when no key file is named.
pub(crate) const KEY_BACKEND: &str = "BETA9_KEY_BACKEND";
/// Namespace of the design documents' workspace scoping; default `default`.
pub(crate) const WORKSPACE: &str = "BETA9_WORKSPACE";
/// Turns on stderr diagnostics: `debug`, `trace`, or `target=level,...`.
pub(crate) const LOG: &str = "BETA9_LOG";
/// Total time budget for one network exchange, in seconds.
pub(crate) const TIMEOUT: &str = "BETA9_TIMEOUT";
/// Where short-lived tokens are cached (overrides the XDG cache dir).
pub(crate) const CACHE_DIR: &str = "BETA9_CACHE_DIR";
/// The fleet's shared token cache: `redis://`, `rediss://` or `redis+unix://` (may hold a
/// password: never echoed). Unset: per-machine cache only.
pub(crate) const TOKEN_CACHE_URL: &str = "BETA9_TOKEN_CACHE_URL";
/// Extra CA certificates (PEM) trusted for a `rediss://` shared token cache, beside the system's.
pub(crate) const TOKEN_CACHE_CA_FILE: &str = "BETA9_TOKEN_CACHE_CA_FILE";
/// The fleet's shared store: a `postgres://` or `postgresql://` URL (may hold a password: never
/// echoed). Unset: the local file store.
pub(crate) const STORE_URL: &str = "BETA9_STORE_URL";
/// A file holding the shared store's password (a mounted secret), when the URL holds none.
pub(crate) const STORE_PASSWORD_FILE: &str = "BETA9_STORE_PASSWORD_FILE";
/// Seconds a local copy of a shared-store entry answers without asking the database (default 60).
pub(crate) const STORE_CACHE_TTL: &str = "BETA9_STORE_CACHE_TTL";
/// How long after the database last confirmed it a local copy may answer while the database is
/// unreachable (default 24 h).
pub(crate) const STORE_MAX_STALE: &str = "BETA9_STORE_MAX_STALE";
/// How often at most `get` records an entry's last use (default 1 h; `0` turns recording off).
pub(crate) const LAST_USE_INTERVAL: &str = "BETA9_LAST_USE_INTERVAL";

/// Tests only: signed milliseconds added to the clock that decides whether a token is fresh, so a
/// test moves `get`s through a refresh window instead of sleeping. Read and honoured only by debug
/// builds; a release build never reads it (docs/fleet.md, "Testing the windows").
#[cfg(debug_assertions)]
pub(crate) const TEST_CLOCK_SHIFT_MS: &str = "BETA9_TEST_CLOCK_SHIFT_MS";

pub(crate) const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
pub(crate) const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
pub(crate) const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
pub(crate) const HOME: &str = "HOME";

/// Endpoint overrides honoured for ECR (AWS SDKs reference guide, "Service-specific endpoints").
pub(crate) const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
pub(crate) const AWS_ENDPOINT_URL_ECR: &str = "AWS_ENDPOINT_URL_ECR";
pub(crate) const AWS_ENDPOINT_URL_ECR_PUBLIC: &str = "AWS_ENDPOINT_URL_ECR_PUBLIC";
pub(crate) const AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";
/// Only for an aws record with `AWS_CREDENTIALS_SOURCE=ambient` and no profile of its own: part
/// of the token cache key, as the profile aws-config's chain will read.
pub(crate) const AWS_PROFILE: &str = "AWS_PROFILE";
/// Replaces `metadata.google.internal` (google-cloud-go `compute/metadata`).
pub(crate) const GCE_METADATA_HOST: &str = "GCE_METADATA_HOST";
/// An origin standing in for Google's API hosts, with the same pinned paths
/// (docs/google.md, "Pinned endpoints"): a Private Service Connect endpoint, or a test stub.
pub(crate) const GOOGLE_ENDPOINT_ORIGIN: &str = "BETA9_GOOGLE_ENDPOINT_ORIGIN";
/// What an imported record may use of this machine (docs/records.md, "Import policy").
pub(crate) const IMPORT_ALLOW: &str = "BETA9_IMPORT_ALLOW";
/// docker's config directory (`configure-docker`); default `~/.docker`.
pub(crate) const DOCKER_CONFIG: &str = "DOCKER_CONFIG";
/// containers' auth file (`configure-docker --containers`), then `$XDG_RUNTIME_DIR/containers/auth.json`.
pub(crate) const REGISTRY_AUTH_FILE: &str = "REGISTRY_AUTH_FILE";
pub(crate) const XDG_RUNTIME_DIR: &str = "XDG_RUNTIME_DIR";
/// The system CA store's overrides, as Go and rustls-native-certs read them: `doctor` names them
/// when it says what a registry's certificate is checked against (src/doctor/trust.rs).
pub(crate) const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
pub(crate) const SSL_CERT_DIR: &str = "SSL_CERT_DIR";

/// The standard proxy variables (docs/proxies.md), upper case first as curl reads them. Read only
/// on a path that uses the network, so a mangled one never breaks a static `get`.
pub(crate) const HTTPS_PROXY: &str = "HTTPS_PROXY";
pub(crate) const HTTPS_PROXY_LOWER: &str = "https_proxy";
pub(crate) const HTTP_PROXY: &str = "HTTP_PROXY";
pub(crate) const HTTP_PROXY_LOWER: &str = "http_proxy";
pub(crate) const ALL_PROXY: &str = "ALL_PROXY";
pub(crate) const ALL_PROXY_LOWER: &str = "all_proxy";
pub(crate) const NO_PROXY: &str = "NO_PROXY";
pub(crate) const NO_PROXY_LOWER: &str = "no_proxy";

/// Text read only when needed: set but not UTF-8 is an error then ([`Env::text`]), not at start.
const LAZY_TEXT: &[&str] = &[
    HTTPS_PROXY,
    HTTPS_PROXY_LOWER,
    HTTP_PROXY,
    HTTP_PROXY_LOWER,
    ALL_PROXY,
    ALL_PROXY_LOWER,
    NO_PROXY,
    NO_PROXY_LOWER,
];

/// The names the helper itself reads, as text it interprets: a value that is not UTF-8 is an
/// error, never "unset" (a mangled `BETA9_WORKSPACE` must not silently mean `default`).
/// Credential variable names (AWS_ACCESS_KEY_ID, ...) are read only for `add`, through
/// [`Env::with_credentials`], because their values are secrets.
const TEXT: &[&str] = &[
    WORKSPACE,
    KEY_BACKEND,
    LOG,
    TIMEOUT,
    AWS_ENDPOINT_URL,
    AWS_ENDPOINT_URL_ECR,
    AWS_ENDPOINT_URL_ECR_PUBLIC,
    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS,
    AWS_PROFILE,
    GCE_METADATA_HOST,
    GOOGLE_ENDPOINT_ORIGIN,
    IMPORT_ALLOW,
    STORE_URL,
    STORE_CACHE_TTL,
    STORE_MAX_STALE,
    LAST_USE_INTERVAL,
    TOKEN_CACHE_URL,
];

/// The names the helper reads as paths (any bytes).
const PATHS: &[&str] = &[
    CREDENTIALS_DIR,
    CREDENTIALS_KEY_FILE,
    CACHE_DIR,
    STORE_PASSWORD_FILE,
    TOKEN_CACHE_CA_FILE,
    XDG_DATA_HOME,
    XDG_CONFIG_HOME,
    XDG_CACHE_HOME,
    HOME,
    DOCKER_CONFIG,
    REGISTRY_AUTH_FILE,
    XDG_RUNTIME_DIR,
    SSL_CERT_FILE,
    SSL_CERT_DIR,
];

/// Names only a debug build reads: none in a release build, so no value of them can change what a
/// release build does.
#[cfg(debug_assertions)]
const TEST_ONLY: &[&str] = &[TEST_CLOCK_SHIFT_MS];
#[cfg(not(debug_assertions))]
const TEST_ONLY: &[&str] = &[];

fn known() -> impl Iterator<Item = &'static str> {
    TEXT.iter()
        .chain(PATHS)
        .chain(LAZY_TEXT)
        .chain(TEST_ONLY)
        .copied()
}

/// A snapshot of the variables above. Empty values count as unset, as in most CLI tools.
/// Credential variables (`AWS_SECRET_ACCESS_KEY`, ...) are in the snapshot only when the caller
/// asked for them ([`Env::with_credentials`], for `add`): a `get` never reads a secret from the
/// environment.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<&'static str, OsString>,
    credentials: BTreeMap<String, SecretString>,
    unreadable: Vec<String>,
}

impl std::fmt::Debug for Env {
    // Names only: credential values are secrets, and paths need not be printed wholesale.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.vars.keys())
            .entries(self.credentials.keys())
            .finish()
    }
}

impl Env {
    /// Reads the process environment. The only place that does.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn from_process() -> Env {
        let mut vars = BTreeMap::new();
        for name in known() {
            if let Some(v) = std::env::var_os(name) {
                if !v.is_empty() {
                    vars.insert(name, v);
                }
            }
        }
        Env {
            vars,
            ..Env::default()
        }
    }

    /// Fails, naming the variable, when one the helper reads as text is set but not UTF-8.
    pub(crate) fn validate(&self) -> crate::error::Result<()> {
        match TEXT
            .iter()
            .find(|n| self.vars.get(**n).is_some_and(|v| v.to_str().is_none()))
        {
            Some(name) => Err(Error::setting(*name, SettingReason::NotUtf8)),
            #[cfg(debug_assertions)]
            None => self.test_clock_shift_ms().map(|_| ()),
            #[cfg(not(debug_assertions))]
            None => Ok(()),
        }
    }

    /// `BETA9_TEST_CLOCK_SHIFT_MS`: whole milliseconds, either sign; anything else is an error
    /// naming the variable (docs/fleet.md, "Testing the windows").
    #[cfg(debug_assertions)]
    pub(crate) fn test_clock_shift_ms(&self) -> crate::error::Result<Option<i64>> {
        match self.text(TEST_CLOCK_SHIFT_MS)? {
            None => Ok(None),
            Some(v) => v.trim().parse().map(Some).map_err(|_| {
                Error::setting(
                    TEST_CLOCK_SHIFT_MS,
                    SettingReason::MustBe("a whole number of milliseconds"),
                )
            }),
        }
    }

    /// Adds the credential variables among `names` that are set (empty ones included, so `add`
    /// can say "is empty"). A value that is not UTF-8 is kept as unreadable, so `add` says so
    /// instead of "is not set".
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn with_credentials<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Env {
        for name in names {
            match std::env::var(name) {
                Ok(v) => {
                    self.credentials
                        .insert(name.to_string(), SecretString::from(v));
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    self.unreadable.push(name.to_string());
                }
                Err(std::env::VarError::NotPresent) => {}
            }
        }
        self
    }

    /// Is this credential variable set to something that is not UTF-8?
    pub(crate) fn credential_unreadable(&self, name: &str) -> bool {
        self.unreadable.iter().any(|n| n == name)
    }

    /// An environment for tests: only the given pairs are set. Names the helper reads for itself
    /// go to the snapshot's settings; any other name is a credential variable.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        let mut env = Env::default();
        for (k, v) in pairs {
            match known().find(|n| *n == k) {
                Some(name) if !v.is_empty() => {
                    env.vars.insert(name, OsString::from(v));
                }
                Some(_) => {}
                None => {
                    env.credentials.insert(k.to_string(), SecretString::from(v));
                }
            }
        }
        env
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).and_then(|v| v.to_str())
    }

    /// A variable read as text when it is needed: `None` when unset or empty, an error naming it
    /// when it is set but not UTF-8 (never "unset").
    pub(crate) fn text(&self, name: &str) -> crate::error::Result<Option<&str>> {
        match self.vars.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(Some)
                .ok_or_else(|| Error::setting(name, SettingReason::NotUtf8)),
        }
    }

    pub(crate) fn path(&self, name: &str) -> Option<PathBuf> {
        self.vars.get(name).map(PathBuf::from)
    }

    /// The variables alone, without credential values: what the settings keep.
    pub(crate) fn variables(&self) -> Env {
        Env {
            vars: self.vars.clone(),
            ..Env::default()
        }
    }

    /// A credential value from the snapshot, for `add NAME...`. Values never pass through argv.
    pub(crate) fn credential(&self, name: &str) -> Option<&SecretString> {
        self.credentials.get(name)
    }
}

/// The running binary's path (`kubelet install` copies it): process state like argv, so it is read
/// here only, never on a protocol verb's path.
#[allow(clippy::disallowed_methods)]
pub(crate) fn current_exe() -> std::io::Result<PathBuf> {
    std::env::current_exe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn text_variables_that_are_not_utf8_are_errors_not_unset() {
        use std::os::unix::ffi::OsStringExt;
        let mut env = Env::from_pairs([("HOME", "/h")]);
        assert!(env.validate().is_ok());
        env.vars
            .insert(WORKSPACE, OsString::from_vec(vec![b't', 0xff]));
        let err = env.validate().unwrap_err().to_string();
        assert!(
            err.contains("BETA9_WORKSPACE") && err.contains("UTF-8"),
            "{err}"
        );
        // A path may be any bytes.
        let mut env = Env::from_pairs([]);
        env.vars
            .insert(CREDENTIALS_DIR, OsString::from_vec(vec![b'/', 0xff]));
        assert!(env.validate().is_ok());
    }

    #[test]
    fn the_test_clock_shift_is_whole_milliseconds_either_way() {
        let env = |v: &str| Env::from_pairs([(TEST_CLOCK_SHIFT_MS, v)]);
        assert_eq!(env("").test_clock_shift_ms().unwrap(), None);
        assert_eq!(env("10500").test_clock_shift_ms().unwrap(), Some(10_500));
        assert_eq!(env("-21000").test_clock_shift_ms().unwrap(), Some(-21_000));
        for bad in ["1.5", "10s", "9223372036854775808"] {
            let e = env(bad).validate().unwrap_err().to_string();
            assert!(e.contains(TEST_CLOCK_SHIFT_MS) && !e.contains(bad), "{e}");
        }
    }
}
