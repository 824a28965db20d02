//! One integration-test binary (faster to build and link than one per file). Each module runs
//! the real `docker-credential-beta9` as docker, skopeo, docker-py and operators do.

// Test code may unwrap (a panic is the failure report), write fixtures with fs::write and read
// CI knobs from the environment; the production rules in clippy.toml are for src/.
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::disallowed_macros,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod harness;
mod support;

mod add_routing;
mod azure;
mod cli;
mod client_matrix;
mod config_keys;
mod config_table;
mod configure;
mod configure_links;
mod docs;
mod doctor;
mod doctor_fixes;
mod doctor_leftovers;
mod doctor_stream;
mod doctor_trust;
mod doctor_verdict;
mod durations;
mod ecr;
mod file_modes;
mod fuzz;
mod gcp;
mod gcp_env;
mod goclient;
mod google_endpoints;
mod hardening;
mod image;
mod import_policy;
mod import_verify_guard;
mod interop;
mod keyring;
mod kubelet;
mod kubelet_install;
mod kubernetes_manifests;
mod layout;
mod lifecycle;
mod machine_paths;
mod moto_env;
mod mounted_files;
mod names;
mod no_leaks;
mod pg_auth;
mod pg_errors;
mod postgres;
mod protocol;
mod proxy;
mod redis;
mod refresh;
mod registry_env;
mod rekey;
mod retired_keys;
mod settings;
mod stress;
mod verify;
