//! `docker-credential-beta9`: a docker credential helper over an encrypted local store of the
//! beta9 design documents' credential records.
//!
//! Design in one paragraph: `cli` (the only module that touches argv, streams and exit codes)
//! matches the protocol verb on argv before any other set-up and prints the [`output::Output`]
//! every command returns; `protocol` turns stdin bytes into typed requests and answers back into
//! docker's exact bytes; `actions` does the work over a [`context::Context`] (env snapshot,
//! workspace, sealed store, token cache, clock); `registry` gives each entry one canonical registry
//! and its `oci-creds-<16 hex>` secret name; `record` is the versioned record JSON;
//! `resolve` turns a record into a login (static types without I/O, ECR and Google tokens through
//! the `token` cache); `store` keeps sealed bytes behind the `Store` trait (files today), sealed
//! with XChaCha20-Poly1305 under a master key from a key file, the OS keyring or a generated file.
//! The docs/ directory holds the facts the code relies on.

// One exception, in `process`: the static build's single call into glibc's name-service switch
// (docs/image.md, "The static binary"). Everything else is safe code.
#![deny(unsafe_code)]

pub mod actions;
pub mod cli;
pub(crate) mod clients;
pub(crate) mod clock;
pub(crate) mod commands;
pub mod context;
pub mod credential_type;
pub(crate) mod detect;
pub(crate) mod doctor;
pub mod duration;
pub mod env;
pub mod error;
pub(crate) mod fsutil;
pub(crate) mod guard;
pub(crate) mod hosts;
pub(crate) mod http;
pub(crate) mod log;
pub mod login;
pub(crate) mod net;
pub(crate) mod output;
pub mod paths;
pub mod pg;
pub mod process;
pub mod protocol;
pub(crate) mod provider_config;
pub mod record;
pub mod registry;
pub(crate) mod resolve;
pub(crate) mod rfc3339;
pub mod seal;
pub mod secret;
pub mod secret_name;
pub mod settings;
pub(crate) mod signals;
pub mod store;
pub mod timeout;
pub mod token;
