//! Stderr diagnostics, off unless `BETA9_LOG` asks (`debug`, `trace`, or `target=level,...`).
//! Nothing is installed otherwise, so a quiet `get` pays nothing for logging.

use crate::env::{self, Env};
use std::io::IsTerminal;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

pub fn init(env: &Env) {
    let Some(spec) = env.get(env::LOG) else {
        return;
    };
    let spec = match spec {
        "1" | "true" | "yes" => "debug",
        s => s,
    };
    let filter: Targets = match spec.parse() {
        Ok(f) => f,
        Err(_) => {
            // An unreadable filter should not cost the user the answer; fall back to debug.
            "debug".parse().unwrap_or_default()
        }
    };
    // The SDK and HTTP stack are chatty at debug and can log request details: cap them at warn.
    let filter = filter
        .with_target("aws_config", tracing::Level::WARN)
        .with_target("aws_smithy_runtime", tracing::Level::WARN)
        .with_target("aws_sdk_ecr", tracing::Level::WARN)
        .with_target("aws_sdk_ecrpublic", tracing::Level::WARN)
        // SigV4 traces the canonical request, which holds the session token: never below warn.
        .with_target("aws_sigv4", tracing::Level::WARN)
        .with_target("aws_runtime", tracing::Level::WARN)
        .with_target("aws_smithy_http_client", tracing::Level::WARN)
        .with_target("hyper", tracing::Level::WARN)
        .with_target("hyper_util", tracing::Level::WARN)
        .with_target("rustls", tracing::Level::WARN);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}
