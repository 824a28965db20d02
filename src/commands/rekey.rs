//! `rekey`: rotate the master key and re-seal every entry (see `actions::rekey` and `store::rekey` for why a crash at any
//! point loses nothing).

use super::outcome::{CmdResult, Failure};
use crate::actions::rekey;
use crate::env::Env;
use crate::output::Output;
use std::path::PathBuf;

pub(crate) const ABOUT: &str =
    "Rotate the master key and re-encrypt every entry of every workspace";
pub(crate) const EXAMPLES: &str = "\
Examples:
Generated key file or OS keyring (rotated in place):
  docker-credential-beta9 rekey
Your own key file (BETA9_CREDENTIALS_KEY_FILE); afterwards point the variable at the new file:
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > new.key && chmod 600 new.key
  BETA9_CREDENTIALS_KEY_FILE=old.key docker-credential-beta9 rekey --new-key-file new.key
Interrupted? Run the same command again: every entry stays readable meanwhile.";

#[derive(clap::Args)]
pub(crate) struct RekeyArgs {
    /// The new key (64 hex characters or 32 raw bytes) when BETA9_CREDENTIALS_KEY_FILE is in use
    #[arg(long, value_name = "PATH")]
    pub new_key_file: Option<PathBuf>,
}

pub(crate) fn run(env: &Env, args: &RekeyArgs) -> CmdResult {
    let report = rekey::rekey(env, args.new_key_file.as_deref()).map_err(Failure::from)?;
    let mut out = Output::line(format!(
        "rekeyed {} entr{} in {} workspace{} ({} already under the new key)",
        report.converted,
        if report.converted == 1 { "y" } else { "ies" },
        report.workspaces,
        if report.workspaces == 1 { "" } else { "s" },
        report.already
    ));
    for name in &report.unreadable {
        out.notes.push(format!(
            "warning: {name} opens with neither key (damaged); left untouched"
        ));
    }
    Ok(out)
}
