//! `completions` and `man`: generated from the clap definition, for install.sh and packages.

use super::outcome::{CmdResult, Failure};
use crate::output::Output;
use crate::protocol::NAME;

pub(crate) const COMPLETIONS_ABOUT: &str = "Print a shell completion script";
pub(crate) const COMPLETIONS_EXAMPLES: &str = "\
Example:
  mkdir -p ~/.local/share/bash-completion/completions
  docker-credential-beta9 completions bash \\
    > ~/.local/share/bash-completion/completions/docker-credential-beta9";
pub(crate) const MAN_ABOUT: &str = "Print the man page (roff) on stdout";
pub(crate) const MAN_EXAMPLES: &str = "\
Example:
  docker-credential-beta9 man > ~/.local/share/man/man1/docker-credential-beta9.1";

#[derive(clap::Args)]
pub(crate) struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args)]
pub(crate) struct ManArgs {}

pub(crate) fn completions(args: &CompletionsArgs, mut cmd: clap::Command) -> CmdResult {
    let mut out = Output::default();
    clap_complete::generate(args.shell, &mut cmd, NAME, &mut out.stdout);
    Ok(out)
}

pub(crate) fn man(_args: &ManArgs, cmd: clap::Command) -> CmdResult {
    let mut out = Output::default();
    clap_mangen::Man::new(cmd)
        .render(&mut out.stdout)
        .map_err(|e| Failure::Internal(format!("cannot render the man page: {e}")))?;
    Ok(out)
}
