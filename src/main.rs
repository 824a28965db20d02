#![forbid(unsafe_code)]

use std::process::ExitCode;

// The edge: the panic hook writes its fixed line to stderr itself.
#[allow(clippy::disallowed_macros, clippy::print_stderr)]
fn main() -> ExitCode {
    // First, before any thread or lookup: the static build resolves names with glibc's own
    // `files` and `dns` only, never a host's NSS module.
    docker_credential_beta9::process::pin_name_services();
    // Before any secret is read: a crash must not write one to a core file.
    docker_credential_beta9::process::forbid_core_dumps();
    // Before anything is created: the modes the helper asks for, whatever the caller's umask.
    docker_credential_beta9::process::private_umask();
    // A panic message can carry data from the code that failed: print a fixed line, never the payload.
    std::panic::set_hook(Box::new(|_| {
        eprintln!("docker-credential-beta9: internal error (panic); rerun with BETA9_LOG=debug and report it");
    }));
    docker_credential_beta9::cli::main()
}
