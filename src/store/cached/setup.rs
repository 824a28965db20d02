//! How the local copies in front of the shared store are set up from the settings: the database
//! `BETA9_STORE_URL` names, the freshness and staleness windows, and where this machine keeps the
//! copies (src/store/cached.rs has the policy).

use crate::clock::{self, Clock};
use crate::error::Result;
use crate::paths;
use crate::settings::Settings;
use crate::store::postgres::{self, PgStore};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// What the cached store is built from: the database, the copies' directory, the two windows.
pub(super) struct Setup {
    pub(super) pg: PgStore,
    pub(super) dir: PathBuf,
    pub(super) ttl: u64,
    pub(super) max_stale: u64,
    pub(super) clock: Box<dyn Clock>,
    /// Why copies cannot be kept at all, when they cannot.
    pub(super) unusable: Option<String>,
}

/// The shared store `BETA9_STORE_URL` names, and where this machine keeps its copies.
pub(super) fn from_settings(settings: &Settings) -> Result<Setup> {
    let pg = postgres::from_settings(settings, settings.timeout())?;
    let ttl = settings.store_cache_ttl();
    let max_stale = settings.store_max_stale();
    // No place for copies (a kubelet under systemd with no HOME): every read asks the database.
    let (dir, unusable) = match copies_dir(settings, &pg) {
        Ok(dir) => (dir, None),
        Err(e) => (PathBuf::new(), Some(e.protocol_message())),
    };
    Ok(Setup {
        pg,
        dir,
        ttl,
        max_stale,
        clock: clock::for_process(settings),
        unusable,
    })
}

/// Removes this machine's copies of the shared store (after a rotation re-sealed every row).
pub fn clear_copies(settings: &Settings, pg: &PgStore) {
    if let Ok(dir) = copies_dir(settings, pg) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn copies_dir(settings: &Settings, pg: &PgStore) -> Result<PathBuf> {
    let who = format!("{}\0{}", pg.target().place(), pg.target().user());
    let id = hex::encode(&Sha256::digest(who.as_bytes())[..8]);
    paths::shared_store_copies(settings.dirs(), &id)
}
