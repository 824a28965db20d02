#!/usr/bin/env bash
# Builds docker-credential-beta9 in release mode, installs it (binary, and shell completions and a
# man page when the binary can generate them), then proves it works with a store -> get -> erase
# round trip in a throwaway store. No root needed unless --prefix points somewhere that needs it.
#
#   ./install.sh                 # installs into ~/.local (binary in ~/.local/bin)
#   ./install.sh --prefix /usr/local
#   ./install.sh --uninstall [--prefix P]
#   ./install.sh --no-build      # install the binary packaging/static-build.sh built before
set -euo pipefail

NAME=docker-credential-beta9
PREFIX="${HOME}/.local"
MODE=install
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
        --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
        --uninstall) MODE=uninstall; shift ;;
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")"
BIN_DIR="$PREFIX/bin"
BASH_DIR="$PREFIX/share/bash-completion/completions"
ZSH_DIR="$PREFIX/share/zsh/site-functions"
FISH_DIR="$PREFIX/share/fish/vendor_completions.d"
MAN_DIR="$PREFIX/share/man/man1"
FILES=("$BIN_DIR/$NAME" "$BASH_DIR/$NAME" "$ZSH_DIR/_$NAME" "$FISH_DIR/$NAME.fish" "$MAN_DIR/$NAME.1")

if [ "$MODE" = uninstall ]; then
    for f in "${FILES[@]}"; do
        if [ -e "$f" ]; then rm -f "$f" && echo "removed $f"; fi
    done
    echo "uninstalled (stored credentials, if any, are kept in ~/.local/share/$NAME)"
    exit 0
fi

if [ "$BUILD" = 1 ]; then
    if ! command -v cargo >/dev/null 2>&1; then
        echo "install.sh: cargo not found; install a Rust toolchain (https://rustup.rs) and retry" >&2
        exit 1
    fi
    # The one release binary everything ships: static on Linux (packaging/static-build.sh).
    built=$(packaging/static-build.sh | tail -n 1)
else
    built=$(packaging/static-build.sh --no-build | tail -n 1)
fi

mkdir -p "$BIN_DIR"
# install(1) writes a new file and renames it: a running `get` never sees a half-written binary.
install -m 0755 "$built" "$BIN_DIR/$NAME"
echo "installed $BIN_DIR/$NAME"

# Completions and man page come from the clap definition, when this build has them.
gen() { "$BIN_DIR/$NAME" "$@" 2>/dev/null; }
if gen completions bash >/dev/null; then
    mkdir -p "$BASH_DIR" "$ZSH_DIR" "$FISH_DIR"
    gen completions bash >"$BASH_DIR/$NAME"
    gen completions zsh >"$ZSH_DIR/_$NAME"
    gen completions fish >"$FISH_DIR/$NAME.fish"
    echo "installed completions (bash, zsh, fish)"
fi
if gen man >/dev/null; then
    mkdir -p "$MAN_DIR"
    gen man >"$MAN_DIR/$NAME.1"
    echo "installed $MAN_DIR/$NAME.1"
fi

# Self-check against a throwaway store and key (the real store is not touched).
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
run() {
    env -i PATH="$PATH" HOME="$check/home" BETA9_CREDENTIALS_DIR="$check/store" \
        "$BIN_DIR/$NAME" "$@"
}
printf '{"ServerURL":"selfcheck.invalid","Username":"install-check","Secret":"s3lf-check"}' | run store
got=$(printf 'selfcheck.invalid' | run get)
expected='{"ServerURL":"selfcheck.invalid","Username":"install-check","Secret":"s3lf-check"}'
if [ "$got" != "$expected" ]; then
    echo "install.sh: self-check failed: get answered: $got" >&2
    exit 1
fi
printf 'selfcheck.invalid' | run erase
if printf 'selfcheck.invalid' | run get >/dev/null; then
    echo "install.sh: self-check failed: erase did not remove the entry" >&2
    exit 1
fi
echo "self-check passed: store -> get -> erase ($("$BIN_DIR/$NAME" version))"

case ":$PATH:" in
    *":$BIN_DIR:"*) ;;
    *) echo "note: $BIN_DIR is not on PATH; add it so docker can find $NAME" ;;
esac
