//! The PostgreSQL backend (`BETA9_STORE_URL`): one store base shared by many machines, as two
//! tables of sealed bytes (docs/postgres.md, "The shared store's tables"). Rows hold exactly what the
//! file backend would write to an entry's file, sealed on the client, so the database never sees a
//! credential and a row moved to another name or workspace fails to open.
//!
//! Every update is a short transaction: a shared "write barrier" lock, the row read `FOR UPDATE`,
//! the decision, and a compare-and-swap statement on the bytes the decision saw (retried on a
//! conflict), so the last acknowledged write wins and nothing lands between a decision and its
//! change. Writing a base record (a rotation's parked keys, the key check that marks it) takes the
//! barrier exclusively: every write either committed before the key check said "rotating" (and a
//! rotation's pass over the rows sees it) or reads it and seals with the next key. The rotation
//! lock is a session-level advisory lock, released when its guard drops or the session ends.

use super::{Change, Decide, Meta, Store};
use crate::env::{self, Env};
use crate::error::{Error, RekeyRefusal, Result, SettingReason};
use crate::fsutil;
use crate::guard::Guard;
use crate::paths;
use crate::pg::{Conn, Param, PgError, PgResult, SqlType, Target};
use crate::secret_name::SecretName;
use crate::settings::Settings;
use crate::timeout::Deadline;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;

/// The entries table: one row per workspace and secret name.
pub(crate) const ENTRIES: &str = "beta9_credentials";
/// The base's own records (key check, parked rotation keys).
pub(crate) const BASE: &str = "beta9_credentials_base";

/// Advisory lock keys ("b9cr" + purpose): the rotation lock and the write barrier.
const ROTATION_LOCK: i64 = 0x6239_6372_0000_0001;
const WRITE_BARRIER: i64 = 0x6239_6372_0000_0002;

/// How often one update retries after a concurrent writer changed its row, or the server chose it
/// as a deadlock or serialization victim.
const ATTEMPTS: usize = 16;

/// The tables, for `db schema` and for the first write of a role that may create them.
pub(crate) fn schema_sql() -> String {
    format!(
        "-- docker-credential-beta9 shared store (docs/postgres.md, \"The shared store's tables\").\n\
         -- Rows hold sealed bytes only: XChaCha20-Poly1305 under the machines' master key.\n\
         CREATE TABLE IF NOT EXISTS {ENTRIES} (\n    \
             workspace  text        NOT NULL CHECK (workspace ~ '^[A-Za-z0-9_-][A-Za-z0-9_.-]{{0,63}}$'),\n    \
             name       text        NOT NULL CHECK (name ~ '^oci-creds-[0-9a-f]{{16}}$'),\n    \
             sealed     bytea       NOT NULL,\n    \
             updated_at timestamptz NOT NULL DEFAULT now(),\n    \
             PRIMARY KEY (workspace, name)\n\
         );\n\
         CREATE TABLE IF NOT EXISTS {BASE} (\n    \
             name       text        PRIMARY KEY CHECK (name IN ('keycheck', 'rotation.next', 'rotation.prev')),\n    \
             sealed     bytea       NOT NULL,\n    \
             updated_at timestamptz NOT NULL DEFAULT now()\n\
         );\n\
         -- The helper's role needs:\n\
         -- GRANT SELECT, INSERT, UPDATE, DELETE ON {ENTRIES}, {BASE} TO <role>;\n"
    )
}

/// The store the `BETA9_STORE_URL` of `env` names (tests and tools outside the crate).
pub fn from_env(env: &Env, budget: Duration) -> Result<PgStore> {
    from_settings(&Settings::new(env), budget)
}

/// The store a `BETA9_STORE_URL` names (nothing is connected until the first query).
/// `budget` is `BETA9_TIMEOUT`, from the settings.
pub(crate) fn from_settings(settings: &Settings, budget: Duration) -> Result<PgStore> {
    let url = settings
        .store_url()
        .ok_or_else(|| Error::setting(env::STORE_URL, SettingReason::Unset))?;
    let home = settings.home();
    let target = Target::parse(
        url,
        env::STORE_URL,
        settings.store_password_file(),
        home.as_deref(),
    )?;
    Ok(PgStore::new(target, budget))
}

/// The connection, shared with the rotation lock's guard (which must unlock on the same session).
type Slot = Rc<RefCell<Option<Conn>>>;

pub struct PgStore {
    target: Target,
    budget: Duration,
    conn: Slot,
    /// The deadline of the store call in progress: nested calls (a decision reading the base's
    /// records) share it, so one call costs at most `BETA9_TIMEOUT`.
    deadline: Cell<Option<Deadline>>,
    /// A transaction is open on the connection: nested updates join it.
    in_txn: Cell<bool>,
    /// Session-level locks held: the connection must not be silently replaced while they are.
    session_locks: Rc<Cell<u32>>,
    /// The SQLSTATE of the last statement that failed, for a transaction deciding to retry.
    last_code: RefCell<Option<SqlState>>,
}

/// Which table a record lives in.
#[derive(Clone, Copy)]
enum Row<'a> {
    Entry(&'a str, &'a str),
    Base(&'a str),
}

/// The largest `sealed` value read from an entry row: what the file backend reads from an entry's
/// file, less room for the local copy's header, so a value that is read can also be kept and read
/// back (docs/postgres.md, "Size caps").
const ENTRY_CAP: u64 = fsutil::ENTRY_LIMIT - 64;
/// The largest `sealed` value read from a base row (what the file backend reads from one).
const BASE_CAP: u64 = fsutil::META_LIMIT;

/// `sealed` when it is at most `cap` bytes (else NULL), then its length: the database checks the
/// size, so an oversized value never crosses the wire or reaches memory here.
fn sealed_capped(cap: u64) -> String {
    format!("CASE WHEN octet_length(sealed) <= {cap} THEN sealed END, octet_length(sealed)")
}

/// The capped value of column `at` (its length at `at + 1`), or the one-line error naming the row.
fn capped_value(
    row: &tokio_postgres::Row,
    at: usize,
    name: &str,
    cap: u64,
    place: &str,
) -> Result<Vec<u8>> {
    match row.get::<_, Option<Vec<u8>>>(at) {
        Some(v) => Ok(v),
        None => Err(Error::BadRecord {
            entry: name.to_string(),
            reason: format!(
                "its row in {place} holds {} bytes, more than the {cap} a record may have; not read",
                row.get::<_, i32>(at + 1)
            ),
        }),
    }
}

/// What one compare-and-swap did.
enum Applied {
    Done(bool),
    Conflict,
}

impl PgStore {
    pub(crate) fn new(target: Target, budget: Duration) -> PgStore {
        PgStore {
            target,
            budget,
            conn: Rc::new(RefCell::new(None)),
            deadline: Cell::new(None),
            in_txn: Cell::new(false),
            session_locks: Rc::new(Cell::new(0)),
            last_code: RefCell::new(None),
        }
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// Runs one store call under one deadline (nested calls share the outer one).
    fn op<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        if self.deadline.get().is_some() {
            return f();
        }
        self.deadline.set(Some(Deadline::start(self.budget)));
        let r = f();
        self.deadline.set(None);
        r
    }

    fn deadline(&self) -> Deadline {
        self.deadline
            .get()
            .unwrap_or_else(|| Deadline::start(self.budget))
    }

    /// One statement on the connection, opening it first if needed. A connection left in an
    /// unknown state (a timeout, a lost socket) is dropped, to be reopened by the next call, unless
    /// a session lock lives on it.
    fn query(&self, sql: &str, params: &[Param<'_>]) -> PgResult<Vec<tokio_postgres::Row>> {
        self.with_conn(|c, d| c.query(d, sql, params))
    }

    fn batch(&self, sql: &str) -> PgResult<()> {
        self.with_conn(|c, d| c.batch(d, sql))
    }

    fn with_conn<T>(&self, f: impl FnOnce(&Conn, Deadline) -> PgResult<T>) -> PgResult<T> {
        let deadline = self.deadline();
        let mut slot = self.conn.borrow_mut();
        if slot.is_none() {
            if self.session_locks.get() > 0 || self.in_txn.get() {
                return Err(lost(self.target.label()));
            }
            *slot = Some(self.target.connect(deadline).map_err(|error| PgError {
                code: None,
                broken: true,
                error,
            })?);
        }
        let conn = slot
            .as_ref()
            .unwrap_or_else(|| unreachable!("connected above"));
        let result = f(conn, deadline);
        if conn.is_broken() {
            *slot = None;
        }
        if let Err(e) = &result {
            self.last_code.replace(e.code.clone());
        }
        result
    }

    /// The sealed bytes of one record; a table that does not exist yet holds nothing.
    fn select(&self, row: Row<'_>, for_update: bool) -> PgResult<Option<Vec<u8>>> {
        let lock = if for_update { " FOR UPDATE" } else { "" };
        let (rows, name, cap) = match row {
            Row::Entry(ws, name) => (
                self.query(
                    &format!(
                        "SELECT {} FROM {ENTRIES} WHERE workspace = $1 AND name = $2{lock}",
                        sealed_capped(ENTRY_CAP)
                    ),
                    &[(&ws, SqlType::TEXT), (&name, SqlType::TEXT)],
                ),
                name,
                ENTRY_CAP,
            ),
            Row::Base(name) => (
                self.query(
                    &format!(
                        "SELECT {} FROM {BASE} WHERE name = $1{lock}",
                        sealed_capped(BASE_CAP)
                    ),
                    &[(&name, SqlType::TEXT)],
                ),
                name,
                BASE_CAP,
            ),
        };
        match rows {
            Ok(rows) => match rows.first() {
                None => Ok(None),
                Some(r) => capped_value(r, 0, name, cap, &self.target.label())
                    .map(Some)
                    .map_err(|error| PgError {
                        code: None,
                        broken: false,
                        error,
                    }),
            },
            Err(e) if missing_table(&e) && !self.in_txn.get() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Applies `change` if the record still holds `seen`.
    fn swap(&self, row: Row<'_>, seen: Option<&[u8]>, change: Change) -> PgResult<Applied> {
        let (table, keys): (&str, Vec<(&str, &str)>) = match row {
            Row::Entry(ws, name) => (ENTRIES, vec![("workspace", ws), ("name", name)]),
            Row::Base(name) => (BASE, vec![("name", name)]),
        };
        let n = keys.len();
        let key_cols: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let key_match: Vec<String> = key_cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = ${}", i + 1))
            .collect();
        let key_match = key_match.join(" AND ");
        let mut params: Vec<Param<'_>> = keys
            .iter()
            .map(|k| {
                (
                    &k.1 as &(dyn tokio_postgres::types::ToSql + Sync),
                    SqlType::TEXT,
                )
            })
            .collect();
        let (sql, bytes) = match (&change, seen) {
            (Change::Keep, _) | (Change::Delete, None) => return Ok(Applied::Done(false)),
            (Change::Put(new), None) => {
                let placeholders: Vec<String> = (1..=n + 1).map(|i| format!("${i}")).collect();
                (
                    format!(
                        "INSERT INTO {table} ({}, sealed, updated_at) VALUES ({}, now()) \
                         ON CONFLICT DO NOTHING RETURNING 1",
                        key_cols.join(", "),
                        placeholders.join(", ")
                    ),
                    vec![new.as_slice()],
                )
            }
            (Change::Put(new), Some(old)) => (
                format!(
                    "UPDATE {table} SET sealed = ${}, updated_at = now() \
                     WHERE {key_match} AND sealed = ${} RETURNING 1",
                    n + 1,
                    n + 2
                ),
                vec![new.as_slice(), old],
            ),
            (Change::Delete, Some(old)) => (
                format!(
                    "DELETE FROM {table} WHERE {key_match} AND sealed = ${} RETURNING 1",
                    n + 1
                ),
                vec![old],
            ),
        };
        let bytes: Vec<&[u8]> = bytes;
        for b in &bytes {
            params.push((b, SqlType::BYTEA));
        }
        let rows = self.query(&sql, &params)?;
        Ok(if rows.is_empty() {
            Applied::Conflict
        } else {
            Applied::Done(true)
        })
    }

    /// Read, decide, compare-and-swap, until the swap lands (inside the caller's transaction).
    fn decide_and_swap(&self, row: Row<'_>, decide: &mut Decide) -> Result<bool> {
        for _ in 0..ATTEMPTS {
            let seen = self.select(row, true)?;
            let change = decide(seen.as_deref())?;
            if let Applied::Done(changed) = self.swap(row, seen.as_deref(), change)? {
                return Ok(changed);
            }
        }
        Err(self.busy())
    }

    fn busy(&self) -> Error {
        Error::Unreachable {
            registry: self.target.label(),
            detail: format!(
                "the record kept changing under {ATTEMPTS} attempts (too many concurrent writers?); nothing was changed"
            ),
        }
    }

    /// Runs `body` in a transaction holding the write barrier (exclusively to park rotation keys),
    /// retried as a whole when the server aborts it (deadlock, serialization failure) and once
    /// after creating the tables a first write found missing. Nested calls join the transaction.
    fn write_txn<T>(&self, exclusive: bool, mut body: impl FnMut() -> Result<T>) -> Result<T> {
        if self.in_txn.get() {
            return body();
        }
        let mut created = false;
        let mut last = None;
        for _ in 0..ATTEMPTS {
            self.last_code.take();
            let result = self.attempt(exclusive, &mut body);
            let code = self.last_code.take();
            match (result, code) {
                (Ok(v), _) => return Ok(v),
                (Err(_), Some(c)) if c == SqlState::UNDEFINED_TABLE && !created => {
                    self.create_schema()?;
                    created = true;
                }
                (Err(e), Some(c))
                    if c == SqlState::T_R_DEADLOCK_DETECTED
                        || c == SqlState::T_R_SERIALIZATION_FAILURE =>
                {
                    last = Some(e)
                }
                (Err(e), _) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| self.busy()))
    }

    fn attempt<T>(&self, exclusive: bool, body: &mut impl FnMut() -> Result<T>) -> Result<T> {
        self.batch("BEGIN")?;
        self.in_txn.set(true);
        let lock = if exclusive {
            "pg_advisory_xact_lock"
        } else {
            "pg_advisory_xact_lock_shared"
        };
        let result = self
            .query(
                &format!("SELECT {lock}($1)::text"),
                &[(&WRITE_BARRIER, SqlType::INT8)],
            )
            .map_err(Error::from)
            .and_then(|_| body());
        self.in_txn.set(false);
        match result {
            Ok(v) => {
                self.batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                // The failing statement's code, not ROLLBACK's, decides what happens next.
                let code = self.last_code.take();
                if self.conn.borrow().is_some() {
                    let _ = self.batch("ROLLBACK");
                }
                self.last_code.replace(code);
                Err(e)
            }
        }
    }

    /// Creates the tables (first write to an empty database), or says in one line what to run.
    fn create_schema(&self) -> Result<()> {
        match self.batch(&schema_sql()) {
            Ok(()) => Ok(()),
            // Another machine created them at the same moment.
            Err(e)
                if matches!(
                    e.code,
                    Some(SqlState::UNIQUE_VIOLATION | SqlState::DUPLICATE_TABLE | SqlState::DUPLICATE_OBJECT)
                ) =>
            {
                Ok(())
            }
            Err(e) if e.code == Some(SqlState::INSUFFICIENT_PRIVILEGE) => Err(Error::Rejected {
                registry: self.target.label(),
                detail: format!(
                    "table {ENTRIES} does not exist and role {} may not create it; have it created with the SQL `docker-credential-beta9 db schema` prints",
                    self.target.user()
                ),
            }),
            Err(e) => Err(e.error),
        }
    }

    /// One entry and every base record, in one round trip (what a local copy is refreshed from).
    pub(crate) fn snapshot(&self, entry: Option<(&str, &SecretName)>) -> Result<Snapshot> {
        self.op(|| {
            let (ws, name) = entry.map_or(("", ""), |(w, n)| (w, n.as_str()));
            let rows = self.query(
                &format!(
                    "SELECT 'e', name, {} FROM {ENTRIES} WHERE workspace = $1 AND name = $2 \
                     UNION ALL SELECT 'm', name, {} FROM {BASE}",
                    sealed_capped(ENTRY_CAP),
                    sealed_capped(BASE_CAP)
                ),
                &[(&ws, SqlType::TEXT), (&name, SqlType::TEXT)],
            );
            let rows = match rows {
                Ok(r) => r,
                Err(e) if missing_table(&e) => Vec::new(),
                Err(e) => return Err(e.error),
            };
            let mut snap = Snapshot::default();
            for row in rows {
                let kind: &str = row.get(0);
                let name: &str = row.get(1);
                let cap = if kind == "e" { ENTRY_CAP } else { BASE_CAP };
                let sealed = capped_value(&row, 2, name, cap, &self.target.label())?;
                if kind == "e" {
                    snap.entry = Some(sealed);
                } else if let Some(m) = meta_named(name) {
                    snap.base.push((m, sealed));
                }
            }
            Ok(snap)
        })
    }

    /// Every entry of a workspace with its bytes, sorted by name, in one round trip.
    pub(crate) fn entries(&self, workspace: &str) -> Result<Vec<(SecretName, Vec<u8>)>> {
        paths::validate_workspace(workspace)?;
        self.op(|| {
            let rows = match self.query(
                &format!(
                    "SELECT name, {} FROM {ENTRIES} WHERE workspace = $1",
                    sealed_capped(ENTRY_CAP)
                ),
                &[(&workspace, SqlType::TEXT)],
            ) {
                Ok(r) => r,
                Err(e) if missing_table(&e) && !self.in_txn.get() => Vec::new(),
                Err(e) => return Err(e.error),
            };
            let mut out: Vec<(SecretName, Vec<u8>)> = Vec::with_capacity(rows.len());
            for r in &rows {
                if let Some(name) = SecretName::parse(r.get(0)) {
                    let sealed =
                        capped_value(r, 1, name.as_str(), ENTRY_CAP, &self.target.label())?;
                    out.push((name, sealed));
                }
            }
            out.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
    }
}

/// What [`PgStore::snapshot`] read: the entry (if asked and present) and the base records present.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub entry: Option<Vec<u8>>,
    pub base: Vec<(Meta, Vec<u8>)>,
}

/// Every base record.
pub(crate) const METAS: [Meta; 3] = [Meta::KeyCheck, Meta::RotationNext, Meta::RotationPrev];

fn meta_named(name: &str) -> Option<Meta> {
    METAS.into_iter().find(|m| m.name() == name)
}

fn missing_table(e: &PgError) -> bool {
    e.code == Some(SqlState::UNDEFINED_TABLE)
}

fn lost(label: String) -> PgError {
    PgError {
        code: None,
        broken: true,
        error: Error::Unreachable {
            registry: label,
            detail: "the connection was lost while a lock or transaction was held on it; nothing after that point was applied, run the command again".into(),
        },
    }
}

impl Store for PgStore {
    fn location(&self) -> String {
        self.target.label()
    }

    fn workspaces(&self) -> Result<Vec<String>> {
        self.op(|| {
            let rows = match self.query(&format!("SELECT DISTINCT workspace FROM {ENTRIES}"), &[]) {
                Ok(r) => r,
                Err(e) if missing_table(&e) && !self.in_txn.get() => Vec::new(),
                Err(e) => return Err(e.error),
            };
            let mut out: Vec<String> = rows
                .iter()
                .map(|r| r.get::<_, String>(0))
                .filter(|w| paths::validate_workspace(w).is_ok())
                .collect();
            out.sort();
            Ok(out)
        })
    }

    fn read(&self, workspace: &str, name: &SecretName) -> Result<Option<Vec<u8>>> {
        paths::validate_workspace(workspace)?;
        self.op(|| Ok(self.select(Row::Entry(workspace, name.as_str()), false)?))
    }

    fn names(&self, workspace: &str) -> Result<Vec<SecretName>> {
        Ok(self.entries(workspace)?.into_iter().map(|e| e.0).collect())
    }

    fn update(&self, workspace: &str, name: &SecretName, decide: &mut Decide) -> Result<bool> {
        paths::validate_workspace(workspace)?;
        self.op(|| {
            self.write_txn(false, || {
                self.decide_and_swap(Row::Entry(workspace, name.as_str()), decide)
            })
        })
    }

    fn read_meta(&self, meta: Meta) -> Result<Option<Vec<u8>>> {
        self.op(|| Ok(self.select(Row::Base(meta.name()), false)?))
    }

    fn update_meta(&self, meta: Meta, decide: &mut Decide) -> Result<bool> {
        // Every base record (the key check marking a rotation, a parked key) waits for writes in
        // flight and holds new ones back until it commits (see the module notes).
        let exclusive = true;
        self.op(|| {
            self.write_txn(exclusive, || {
                self.decide_and_swap(Row::Base(meta.name()), decide)
            })
        })
    }

    fn lock_rotation(&self) -> Result<Guard> {
        // Another rotation may take a while (every row re-sealed): wait longer than a `get`.
        let wait = self.budget.max(Duration::from_secs(60));
        let end = Instant::now() + wait;
        loop {
            let got = self.op(|| {
                let rows = self.query(
                    "SELECT pg_try_advisory_lock($1)",
                    &[(&ROTATION_LOCK, SqlType::INT8)],
                )?;
                Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
            })?;
            if got {
                self.session_locks.set(self.session_locks.get() + 1);
                return Ok(Guard::new(RotationLock {
                    conn: self.conn.clone(),
                    locks: self.session_locks.clone(),
                    budget: self.budget,
                }));
            }
            if Instant::now() >= end {
                return Err(RekeyRefusal::Busy {
                    store: self.target.label(),
                    secs: wait.as_secs(),
                }
                .into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The session-level rotation lock, unlocked on drop (or by the server when the session ends).
struct RotationLock {
    conn: Slot,
    locks: Rc<Cell<u32>>,
    budget: Duration,
}

impl Drop for RotationLock {
    fn drop(&mut self) {
        self.locks.set(self.locks.get().saturating_sub(1));
        if let Some(conn) = self.conn.borrow().as_ref() {
            let _ = conn.query(
                Deadline::start(self.budget),
                "SELECT pg_advisory_unlock($1)",
                &[(&ROTATION_LOCK, SqlType::INT8)],
            );
        }
    }
}
