//! `kubelet`: answers the kubelet's image credential provider plugin API on stdin/stdout, so a
//! node pulls with the same store and minted tokens as docker.

use super::kubelet_install;
use super::outcome::{read_stdin, CmdResult};
use crate::actions::kubelet;
use crate::context::Context;
use crate::output::Output;
use std::io::Read;

pub(crate) const ABOUT: &str =
    "Kubelet image credential provider: CredentialProviderRequest in, Response out";
/// The packaged example config itself, so `--help` and packaging/ cannot differ (a test checks
/// its `matchImages` against [`kubelet::MATCH_IMAGES`]).
pub(crate) const EXAMPLES: &str = concat!(
    "Example config (packaging/credential-provider-config.yaml.example):\n",
    include_str!("../../packaging/credential-provider-config.yaml.example"),
    "By hand (paste as is):
  printf '%s' '{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",' \\
    '\"kind\":\"CredentialProviderRequest\",\"image\":\"ghcr.io/org/app:1\"}' \\
    | docker-credential-beta9 kubelet"
);

#[derive(clap::Args)]
pub(crate) struct KubeletArgs {
    /// Without one, answers a request on stdin (what the kubelet runs)
    #[command(subcommand)]
    pub action: Option<KubeletAction>,
}

#[derive(clap::Subcommand)]
pub(crate) enum KubeletAction {
    #[command(about = kubelet_install::ABOUT, after_help = kubelet_install::EXAMPLES)]
    Install(kubelet_install::InstallArgs),
}

pub(crate) fn run(ctx: &Context, _args: &KubeletArgs, stdin: &mut dyn Read) -> CmdResult {
    let input = read_stdin(stdin)?;
    let answer = kubelet::answer(ctx, input.as_slice())?;
    Ok(Output {
        stdout: answer,
        ..Output::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packaged example (and so `--help`) lists every family's pattern, in order, and then
    /// only the placeholder for the operator's own registry.
    #[test]
    fn the_packaged_example_matches_every_family_served() {
        let listed: Vec<&str> = EXAMPLES
            .lines()
            .skip_while(|l| l.trim() != "matchImages:")
            .skip(1)
            .take_while(|l| l.starts_with("      "))
            .filter_map(|l| l.trim().strip_prefix("- "))
            .map(|p| p.trim_matches('"'))
            .collect();
        assert_eq!(listed.last(), Some(&"registry.example.com:5000"));
        assert_eq!(&listed[..listed.len() - 1], kubelet::MATCH_IMAGES);
    }
}
