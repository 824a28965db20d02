#!/usr/bin/env bash
# Runs a command with a private D-Bus session and an unlocked gnome-keyring Secret Service, so the
# keyring backend is tested for real on a headless machine (docs/storage.md, "Key sources"). Everything it starts
# belongs to the session and stops with it.
#   scripts/with-keyring.sh cargo test --test it keyring::
set -euo pipefail
if [ "${1:-}" != "--inside" ]; then
    exec dbus-run-session -- "$0" --inside "$@"
fi
shift
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
# gnome-keyring keeps its keyrings under XDG_DATA_HOME; a throwaway one leaves nothing behind.
export XDG_DATA_HOME="$data"
eval "$(printf 'beta9-test\n' | gnome-keyring-daemon --unlock --components=secrets --daemonize 2>/dev/null)"
export BETA9_KEYRING_TEST=1
"$@"
