//! `docker-credential-beta9`: a docker credential helper over an encrypted local store of the
//! beta9 design documents' credential records.
//!
//! Design in one paragraph: `cli` matches the protocol verb on argv before any other set-up;
//! `protocol` turns stdin bytes into typed requests and answers back into docker's exact bytes;
//! `actions` does the work over a [`actions::Context`] (env snapshot, workspace, store, clock);
//! `registry` gives each entry one canonical registry and its `oci-creds-<16 hex>` secret name;
//! `record` is the versioned record JSON; `resolve` turns a record into a login (static types
//! without I/O); `store` keeps one XChaCha20-Poly1305-sealed file per secret, written atomically
//! under a lock, with the master key from a key file, the OS keyring or a generated 0600 file.

#![forbid(unsafe_code)]

pub mod actions;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod detect;
pub mod env;
pub mod error;
pub mod fsutil;
pub mod hosts;
pub mod kubelet;
pub mod log;
pub mod paths;
pub mod protocol;
pub mod record;
pub mod registry;
pub mod resolve;
pub mod secret;
pub mod store;
pub mod timeout;
