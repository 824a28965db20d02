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

# On 2 cores the run is bound by CPU, so nothing waits that could fill an idle core (the timings
# are in README's "Developing"). Lower-priority work (nice) takes only what the work in front of it
# leaves: the release build's last two minutes (our crate in one codegen unit, then fat LTO) use
# one core, and the suite mostly waits on the servers and clients it starts.
# - the release build, at full priority, beside the debug test build at nice 10;
# - the lints (in their own target dir: cargo locks one per build) and the packages at nice 19,
#   in the background, until after the suite; their output is shown when they fail.
logs=$(mktemp -d)
spawn() { # NAME NICE COMMAND...: in the background, output to $logs/NAME
    local name=$1 nice=$2; shift 2
    # Job control while it starts: its own process group, for the trap to end it whole, in this
    # session (a new session would be a new scheduler autogroup, where nice ranks nothing).
    set -m
    nice -n "$nice" "$@" >"$logs/$name" 2>&1 </dev/null &
    echo $! >"$logs/$name.pid"
    set +m
}
report() { # NAME: waits for that job; fails the run, with its output, when it failed
    local rc=0
    wait "$(cat "$logs/$1.pid")" || rc=$?
    [ "$rc" = 0 ] && return 0
    echo "test.sh: $1 failed (exit $rc):" >&2
    cat "$logs/$1" >&2
    exit 1
}
# A failing step ends the run: the background jobs' process groups go with it.
trap 'rc=$?; for f in "$logs"/*.pid; do [ -e "$f" ] && { kill -TERM -- "-$(cat "$f")" 2>/dev/null || true; }; done; rm -rf "$logs"; exit $rc' EXIT
step builds
CARGO_TARGET_DIR="$PWD/target/clippy" spawn clippy 19 \
    cargo clippy --all-targets --locked -- -D warnings
spawn release 0 packaging/static-build.sh
nice -n 10 cargo test --all-targets --locked --no-run
report release
step packages
# The .deb and the .rpm of that binary (first run: cargo-deb and cargo-generate-rpm installed),
# built in the background; they are checked after the suite, since CI=true installs the .deb.
spawn packages 19 packaging/build.sh
# One switch: every test that needs an external tool (moto, the Google stub's python cryptography,
# the keyring session, strace, docker-registry, skopeo, the docker CLI, docker-py) fails without it.
export BETA9_REQUIRE_TOOLS=1
# The keyring backend needs a session bus and a Secret Service: run its tests inside one.
step keyring tests
scripts/with-keyring.sh cargo test --locked --test it keyring::
# Everything else, without the keyring tests (they ran above; outside the session they would fail).
step cargo test
cargo test --all-targets --locked -- --skip keyring::
step lints and packages
report clippy
report packages
# The unpacked .deb answers, then the README's first command into a throwaway prefix: install,
# self-check, uninstall.
packaging/test-deb.sh --no-build
prefix=$(mktemp -d)
./install.sh --prefix "$prefix"
./install.sh --uninstall --prefix "$prefix"
[ -z "$(find "$prefix" -type f)" ] || { echo "install.sh --uninstall left files in $prefix" >&2; exit 1; }
rm -rf "$prefix"
step done
