//! Everything an action may use: the environment snapshot, the workspace, the sealed store, the
//! token cache, the clock, and the notes it leaves for stderr. Built once per process by the edge
//! (or by a test, with in-memory parts); no module below it reads the process's state directly.

use crate::clock::{self, Clock};
use crate::env::{self, Env};
use crate::error::{Error, Result, SettingReason};
use crate::paths;
use crate::seal::{Key, Purpose};
use crate::settings::Settings as EnvSettings;
use crate::store::file::FileStore;
use crate::store::key::KeySource;
use crate::store::sealed::SealedStore;
use crate::store::{cached, MemoryStore, Store};
use crate::token::file::FileTokenCache;
use crate::token::workspace;
use crate::token::{MemoryTokenCache, NoTokenCache, TokenCache};
use std::cell::{OnceCell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub struct Context {
    /// The snapshot, for the credential values `add` reads; every variable is read through
    /// `settings`.
    pub env: Env,
    /// The environment's settings, each parsed once, on first use.
    pub settings: EnvSettings,
    pub workspace: String,
    pub store: SealedStore,
    /// Opened on first use: it needs the master key, which a static `get` never loads.
    tokens: OnceCell<Box<dyn TokenCache>>,
    clock: Box<dyn Clock>,
    notes: RefCell<Vec<String>>,
    /// The local store's entry directory, where last uses are recorded; `None` for the shared
    /// store and in-memory stores (docs/storage.md, "Last use").
    uses: Option<PathBuf>,
}

impl Context {
    /// The real context: the workspace's file store (or, with `BETA9_STORE_URL`, the shared
    /// PostgreSQL store behind this machine's local copies), the key from the configured source.
    pub fn from_env(env: Env, workspace: Option<&str>) -> Result<Context> {
        env.validate()?;
        let settings = EnvSettings::new(&env);
        let workspace = settings.workspace(workspace)?;
        let keys = KeySource::from_settings(&settings)?;
        let mut uses = None;
        let backend: Box<dyn Store> = if shared_store(&settings, &keys)? {
            Box::new(cached::open(&settings)?)
        } else {
            let base = paths::data_base(settings.dirs())?;
            let files = FileStore::new(base, settings.timeout());
            uses = Some(files.dir(&workspace)?);
            Box::new(files)
        };
        let store = SealedStore::new(backend, &workspace, keys);
        let mut ctx = Context::with_settings(env, settings, store);
        ctx.uses = uses;
        Ok(ctx)
    }

    pub(crate) fn new(env: Env, store: SealedStore) -> Context {
        let settings = EnvSettings::new(&env);
        Context::with_settings(env, settings, store)
    }

    fn with_settings(env: Env, settings: EnvSettings, store: SealedStore) -> Context {
        let clock = clock::for_process(&settings);
        Context {
            settings,
            env,
            workspace: store.workspace().to_string(),
            store,
            tokens: OnceCell::new(),
            clock,
            notes: RefCell::new(Vec::new()),
            uses: None,
        }
    }

    /// A context over an in-memory store, key and token cache (tests, `version`).
    pub fn in_memory(env: Env) -> Context {
        let key = KeySource::Memory(Arc::new(Key::from_bytes([7; 32])));
        let store = SealedStore::new(
            Box::new(MemoryStore::default()),
            paths::DEFAULT_WORKSPACE,
            key,
        );
        Context::new(env, store).with_tokens(Box::new(MemoryTokenCache::default()))
    }

    #[cfg(test)]
    pub(crate) fn with_clock(mut self, clock: Box<dyn Clock>) -> Context {
        self.clock = clock;
        self
    }

    /// Records last uses in `dir` (tests of in-memory stores).
    #[cfg(test)]
    pub(crate) fn with_uses_dir(mut self, dir: PathBuf) -> Context {
        self.uses = Some(dir);
        self
    }

    /// Where last uses are recorded, and how often at most (`BETA9_LAST_USE_INTERVAL`); `None`
    /// when they are not (a shared or in-memory store, or the interval `0`). A malformed interval
    /// is noted and the default used.
    pub(crate) fn last_use(&self) -> Option<(&Path, u64)> {
        let dir = self.uses.as_deref()?;
        let interval = self.settings.last_use_interval();
        (interval > 0).then_some((dir, interval))
    }

    pub(crate) fn with_tokens(self, tokens: Box<dyn TokenCache>) -> Context {
        let _ = self.tokens.set(tokens);
        self
    }

    /// Unix seconds now, from the context's clock.
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    pub(crate) fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The token cache: the workspace's ([`workspace::open`]: its file cache, with the fleet's
    /// shared cache behind it when one is configured) unless one was injected.
    pub(crate) fn tokens(&self) -> Result<&dyn TokenCache> {
        if let Some(t) = self.tokens.get() {
            return Ok(t.as_ref());
        }
        let dir = paths::cache_dir(self.settings.dirs(), &self.workspace)?;
        let note = |line: String| self.note(line);
        let cache = workspace::open(
            &self.settings,
            dir,
            &self.workspace,
            || self.store.token_cache_key(),
            &note,
        )?;
        Ok(self.tokens.get_or_init(|| cache).as_ref())
    }

    /// Mint without caching when the store has no key yet (`add --verify` into a new store): the
    /// cache is sealed with a key derived from the store's, and a check must not create that key
    /// before anything is stored. A store with a key caches as always.
    pub(crate) fn uncached_tokens_without_a_key(&self) {
        if self.tokens.get().is_none() && self.store.token_cache_key().is_err() {
            let _ = self.tokens.set(Box::new(NoTokenCache));
        }
    }

    /// The HTTP proxies the environment names (docs/proxies.md); read only by paths that are
    /// about to use the network.
    pub(crate) fn proxies(&self) -> Result<crate::net::proxy::Proxies> {
        crate::net::proxy::Proxies::from_settings(&self.settings)
    }

    /// The network budget (`BETA9_TIMEOUT`); a malformed value is noted once.
    pub(crate) fn budget(&self) -> Duration {
        self.settings.timeout()
    }

    /// A one-line hint for stderr.
    pub(crate) fn note(&self, line: String) {
        self.notes.borrow_mut().push(line);
    }

    pub fn take_notes(&self) -> Vec<String> {
        let mut notes = self.settings.take_notes();
        notes.append(&mut self.store.take_warnings());
        notes.append(&mut self.notes.borrow_mut());
        notes
    }
}

/// Whether the environment names the shared store (`BETA9_STORE_URL`) rather than the local files;
/// every machine of a shared store seals with one key, so it needs an operator's key file
/// (docs/postgres.md, "Keys"). The one place both the context and `rekey` decide it.
pub(crate) fn shared_store(settings: &EnvSettings, keys: &KeySource) -> Result<bool> {
    if !settings.shared_store() {
        return Ok(false);
    }
    if !matches!(keys, KeySource::File(_)) {
        return Err(Error::setting(
            env::STORE_URL,
            SettingReason::Says(format!(
                "needs {}: every machine must seal with the same master key (e.g. a mounted secret)",
                env::CREDENTIALS_KEY_FILE
            )),
        ));
    }
    Ok(true)
}

/// Empties the workspace's local token cache, the one [`Context::tokens`] opens, sealed under a
/// key derived from `master` (a rotation clears it: its files are sealed under the old key).
pub(crate) fn clear_local_tokens(
    settings: &EnvSettings,
    workspace: &str,
    master: &Key,
    budget: Duration,
) {
    if let Ok(dir) = paths::cache_dir(settings.dirs(), workspace) {
        let key = master.derive(workspace, Purpose::TokenCache);
        let _ = FileTokenCache::new(dir, workspace, key, budget).clear();
    }
}
