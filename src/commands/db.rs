//! `db schema`: the SQL of the shared store's tables (docs/postgres.md, "The shared store's
//! tables"), for a DBA when the helper's role may not create them itself.

use super::outcome::CmdResult;
use crate::actions::schema;
use crate::output::Output;

pub(crate) const ABOUT: &str = "The shared PostgreSQL store (BETA9_STORE_URL): print its schema";
pub(crate) const EXAMPLES: &str = "\
Example (a DBA creates the tables once, then grants the helper's role):
  docker-credential-beta9 db schema | psql \"$ADMIN_URL\"";
pub(crate) const SCHEMA_ABOUT: &str = "Print the SQL that creates the shared store's tables";

#[derive(clap::Args)]
pub(crate) struct DbArgs {
    #[command(subcommand)]
    pub command: DbCommand,
}

#[derive(clap::Subcommand)]
pub(crate) enum DbCommand {
    #[command(about = SCHEMA_ABOUT, after_help = EXAMPLES)]
    Schema,
}

pub(crate) fn run(args: &DbArgs) -> CmdResult {
    match args.command {
        DbCommand::Schema => {
            let mut out = Output::default();
            out.println(schema::shared_store_sql().trim_end());
            Ok(out)
        }
    }
}
