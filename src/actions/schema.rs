//! `db schema`: the SQL of the shared store's tables (docs/postgres.md, "The shared store's
//! tables"), as the store defines them.

use crate::store::postgres;

/// The statements that create the shared store's tables, for a DBA to run.
pub(crate) fn shared_store_sql() -> String {
    postgres::schema_sql()
}
