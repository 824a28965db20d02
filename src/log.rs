//! Stderr diagnostics, off unless `BETA9_LOG` asks (`debug`, `trace`, or `target=level,...`).
//! Nothing is installed otherwise, so a quiet `get` pays nothing for logging. The edge hands in
//! the writer; this module never opens a stream itself.

use crate::settings::Settings;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Crates that see request details (the SDK, SigV4's canonical request with the session token,
/// the HTTP and TLS stacks): never logged below `warn`, whatever the directives say.
const CAPPED: [&str; 11] = [
    "aws_config",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_sdk_ecr",
    "aws_sdk_ecrpublic",
    "aws_sigv4",
    "aws_runtime",
    "aws_smithy_http_client",
    "hyper",
    "hyper_util",
    "rustls",
];

pub(crate) fn init<W>(settings: &Settings, writer: W, ansi: bool)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let Some(spec) = settings.log() else {
        return;
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi)
        .with_target(false);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter(spec)))
        .try_init();
}

/// The user's directives with every capped crate (and any module inside it) held at `warn` or
/// quieter: a more specific directive such as `aws_smithy_runtime::client::orchestrator=trace`
/// would otherwise outrank a crate-level cap.
fn filter(spec: &str) -> Targets {
    let spec = match spec {
        "1" | "true" | "yes" => "debug",
        s => s,
    };
    // An unreadable filter should not cost the user the answer; fall back to debug.
    let user: Targets = spec
        .parse()
        .unwrap_or_else(|_| Targets::new().with_default(LevelFilter::DEBUG));
    let capped = |target: &str| {
        CAPPED.iter().any(|c| {
            target == *c
                || target
                    .strip_prefix(c)
                    .is_some_and(|rest| rest.starts_with("::"))
        })
    };
    let mut out = Targets::new();
    if let Some(level) = user.default_level() {
        out = out.with_default(level);
    }
    for (target, level) in user.iter() {
        let level = if capped(target) {
            level.min(LevelFilter::WARN)
        } else {
            level
        };
        out = out.with_target(target, level);
    }
    for c in CAPPED {
        if !user.iter().any(|(t, _)| t == c) {
            out = out.with_target(c, LevelFilter::WARN);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn no_directive_lowers_the_caps() {
        let f = filter("debug,aws_smithy_runtime::client::orchestrator=trace,aws_sigv4=trace");
        for target in [
            "aws_smithy_runtime::client::orchestrator",
            "aws_smithy_runtime::client::orchestrator::auth",
            "aws_sigv4::http_request",
            "hyper_util::client",
            "rustls",
        ] {
            assert!(!f.would_enable(target, &Level::DEBUG), "{target}");
            assert!(f.would_enable(target, &Level::WARN), "{target}");
        }
        assert!(f.would_enable("docker_credential_beta9::actions", &Level::DEBUG));
        assert!(!filter("aws_sigv4=off").would_enable("aws_sigv4", &Level::ERROR));
    }
}
