#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests talk to (a real registry,
# skopeo, the docker CLI, moto, docker-py; scripts/install-test-deps.sh), checks formatting and
# lints, then runs every unit and integration test with the real-client tests required (a missing
# tool fails the run instead of skipping), the keyring tests on a private D-Bus session, and the
# package build and check.
set -euo pipefail
cd "$(dirname "$0")/.."

# Where the time goes: each step's start, in seconds since the run began, on stderr
# (the last step's length is the total minus its start).
step() { echo "test.sh: [+${SECONDS}s] $*" >&2; }

step install-test-deps
scripts/install-test-deps.sh
step fmt
cargo fmt --all -- --check
step clippy
cargo clippy --all-targets --locked -- -D warnings
# One after the other: side by side on 2 cores the two builds only shared the cores (the whole run
# took 14.2 min either way), and in turn a failure's output is not interleaved with the other's.
step release build
packaging/static-build.sh >/dev/null
step test build
cargo test --all-targets --locked --no-run
step packages
# Packages: the .deb and the .rpm of that binary, and checks the unpacked .deb answers.
packaging/test-deb.sh
step install.sh
# The README's first command, into a throwaway prefix: install, self-check, uninstall.
prefix=$(mktemp -d)
./install.sh --prefix "$prefix"
./install.sh --uninstall --prefix "$prefix"
[ -z "$(find "$prefix" -type f)" ] || { echo "install.sh --uninstall left files in $prefix" >&2; exit 1; }
rm -rf "$prefix"
# One switch: every test that needs an external tool (moto, the Google stub's python cryptography,
# the keyring session, strace, docker-registry, skopeo, the docker CLI, docker-py) fails without it.
export BETA9_REQUIRE_TOOLS=1
# The keyring backend needs a session bus and a Secret Service: run its tests inside one.
step keyring tests
scripts/with-keyring.sh cargo test --locked --test it keyring::
# Everything else, without the keyring tests (they ran above; outside the session they would fail).
# Last, so the run closes on the full suite's summary.
step cargo test
cargo test --all-targets --locked -- --skip keyring::
