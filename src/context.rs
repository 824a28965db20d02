//! Everything an action may use: the environment snapshot, the workspace, the sealed store, the
//! token cache, the clock, and the notes it leaves for stderr. Built once per process by the edge
//! (or by a test, with in-memory parts); no module below it reads the process's state directly.

use crate::clock::{Clock, SystemClock};
use crate::env::{self, Env};
use crate::error::Result;
use crate::paths;
use crate::store::crypt::Key;
use crate::store::file::FileStore;
use crate::store::key::KeySource;
use crate::store::sealed::SealedStore;
use crate::store::MemoryStore;
use crate::timeout;
use crate::token::file::FileTokenCache;
use crate::token::{MemoryTokenCache, TokenCache};
use std::cell::{OnceCell, RefCell};
use std::sync::Arc;
use std::time::Duration;

pub struct Context {
    pub env: Env,
    pub workspace: String,
    pub store: SealedStore,
    /// Opened on first use: it needs the master key, which a static `get` never loads.
    tokens: OnceCell<Box<dyn TokenCache>>,
    clock: Box<dyn Clock>,
    notes: RefCell<Vec<String>>,
}

impl Context {
    /// The real context: the workspace's file store, the key from the configured source.
    pub fn from_env(env: Env, workspace: Option<&str>) -> Result<Context> {
        let workspace = workspace
            .or_else(|| env.get(env::WORKSPACE))
            .unwrap_or(paths::DEFAULT_WORKSPACE)
            .to_string();
        paths::validate_workspace(&workspace)?;
        let dir = paths::store_dir(&env, &workspace)?;
        let keys = KeySource::from_env(&env)?;
        let store = SealedStore::new(Box::new(FileStore::new(dir)), &workspace, keys);
        Ok(Context::new(env, store))
    }

    pub fn new(env: Env, store: SealedStore) -> Context {
        Context {
            env,
            workspace: store.workspace().to_string(),
            store,
            tokens: OnceCell::new(),
            clock: Box::new(SystemClock),
            notes: RefCell::new(Vec::new()),
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

    pub fn with_clock(mut self, clock: Box<dyn Clock>) -> Context {
        self.clock = clock;
        self
    }

    pub fn with_tokens(self, tokens: Box<dyn TokenCache>) -> Context {
        let _ = self.tokens.set(tokens);
        self
    }

    /// Unix seconds now, from the context's clock.
    pub fn now(&self) -> u64 {
        self.clock.now()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The token cache: the workspace's file cache unless one was injected.
    pub fn tokens(&self) -> Result<&dyn TokenCache> {
        if let Some(t) = self.tokens.get() {
            return Ok(t.as_ref());
        }
        let cache = FileTokenCache::new(
            paths::cache_dir(&self.env, &self.workspace)?,
            &self.workspace,
            self.store.token_cache_key()?,
        );
        Ok(self.tokens.get_or_init(|| Box::new(cache)).as_ref())
    }

    /// The network budget (`BETA9_TIMEOUT`); a malformed value is noted once per call.
    pub fn budget(&self) -> Duration {
        let (budget, note) = timeout::budget(&self.env);
        if let Some(n) = note {
            self.note(n);
        }
        budget
    }

    /// A one-line hint for stderr.
    pub fn note(&self, line: String) {
        self.notes.borrow_mut().push(line);
    }

    pub fn take_notes(&self) -> Vec<String> {
        let mut notes = self.store.take_warnings();
        notes.append(&mut self.notes.borrow_mut());
        notes
    }
}
