#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests talk to (a real registry,
# skopeo, the docker CLI, moto, docker-py; scripts/install-test-deps.sh), checks formatting and
# lints, then runs every unit and integration test with the real-client tests required (a missing
# tool fails the run instead of skipping).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
export BETA9_REQUIRE_TOOLS=1 BETA9_REQUIRE_MOTO=1
cargo test --all-targets --locked
# The keyring backend needs a session bus and a Secret Service: run its tests inside one.
scripts/with-keyring.sh cargo test --locked --test it keyring::
