//! `kubelet`: answers the kubelet's image credential provider plugin API on stdin/stdout, so a
//! node pulls with the same store and minted tokens as docker.

use super::outcome::{read_stdin, CmdResult};
use crate::context::Context;
use crate::kubelet;
use crate::output::Output;
use std::io::Read;

pub const ABOUT: &str =
    "Kubelet image credential provider: CredentialProviderRequest in, Response out";
pub const EXAMPLES: &str = "\
Example (kubelet --image-credential-provider-config=/etc/kubernetes/credential-providers.yaml
and --image-credential-provider-bin-dir=/usr/bin; kubelet under systemd has no HOME, so env
names the store and its key):
  apiVersion: kubelet.config.k8s.io/v1
  kind: CredentialProviderConfig
  providers:
    - name: docker-credential-beta9
      apiVersion: credentialprovider.kubelet.k8s.io/v1
      defaultCacheDuration: 5m
      args: [kubelet]
      env:
        - {name: BETA9_CREDENTIALS_DIR, value: /var/lib/docker-credential-beta9}
        - {name: BETA9_CREDENTIALS_KEY_FILE, value: /etc/docker-credential-beta9/master.key}
      matchImages:
        - docker.io
        - registry-1.docker.io
        - ghcr.io
        - nvcr.io
        - gcr.io
        - \"*.gcr.io\"
        - \"*-docker.pkg.dev\"
        - \"*.dkr.ecr.*.amazonaws.com\"
        - \"*.dkr.ecr-fips.*.amazonaws.com\"
        - \"*.dkr.ecr.*.amazonaws.com.cn\"
        - \"*.dkr-ecr.*.on.aws\"
        - public.ecr.aws
        - registry.example.com:5000
By hand (paste as is):
  printf '%s' '{\"apiVersion\":\"credentialprovider.kubelet.k8s.io/v1\",' \\
    '\"kind\":\"CredentialProviderRequest\",\"image\":\"ghcr.io/org/app:1\"}' \\
    | docker-credential-beta9 kubelet";

#[derive(clap::Args)]
pub struct KubeletArgs {}

pub fn run(ctx: &Context, _args: &KubeletArgs, stdin: &mut dyn Read) -> CmdResult {
    let input = read_stdin(stdin)?;
    let answer = kubelet::answer(ctx, input.as_slice())?;
    Ok(Output {
        stdout: answer,
        ..Output::default()
    })
}
