#!/usr/bin/env bash
# Builds the one release binary everything ships (install.sh, the .deb and .rpm, the OCI image)
# and prints its path last on stdout. On Linux it is statically linked (glibc with crt-static, not
# position-independent: no loader, no shared libraries, no self-relocation, so it runs in an empty
# root file system and starts faster; docs/image.md, "The static binary"); elsewhere it is the
# platform's normal release build.
#
#   packaging/static-build.sh             # cargo build --release for the host triple, then the path
#   packaging/static-build.sh --no-build  # the path of what is built now (fails if nothing is)
#
# crt-static goes into RUSTFLAGS for an explicit --target only: without --target, cargo would apply
# it to build scripts and proc-macros too, which cannot link statically.
set -euo pipefail

NAME=docker-credential-beta9
BUILD=1
case "${1:-}" in
    --no-build) BUILD=0 ;;
    "") ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "packaging/static-build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
command -v cargo >/dev/null 2>&1 || {
    echo "packaging/static-build.sh: cargo not found; install a Rust toolchain (https://rustup.rs)" >&2
    exit 1
}
triple=$(rustc -vV | sed -n 's/^host: //p')
case "$triple" in
    # Not position-independent: a static-pie relocates itself at every start (26,000 relocations,
    # a third of a hot `get`) and carries 0.5 MiB of relocation records (docs/image.md).
    *-linux-gnu) export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static -C relocation-model=static" ;;
esac
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
if [ "$BUILD" = 1 ]; then
    cargo build --release --locked --target "$triple" --bin "$NAME" >&2
fi
bin="$target_dir/$triple/release/$NAME"
[ -x "$bin" ] || { echo "packaging/static-build.sh: $bin is missing (build failed?)" >&2; exit 1; }
echo "$bin"
