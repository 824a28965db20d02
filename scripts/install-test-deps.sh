#!/usr/bin/env bash
# Installs what the real-client interop tests (tests/it) need on Debian 12:
# a local registry (docker-registry), htpasswd (apache2-utils), skopeo, podman, buildah, hyperfine,
# the ECR credential helper, jq, the docker CLI, redis-server, Go with docker's credential-helper
# client library, and moto/docker/cryptography/kubernetes-validate for Python.
# Idempotent and non-interactive; fast when everything is already there.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

# Debian package -> a command it provides (empty: check with dpkg only).
declare -A PKG_CMD=(
    [docker-registry]=docker-registry
    [apache2-utils]=htpasswd
    [skopeo]=skopeo
    [podman]=podman
    # The image tests run podman with runc: Debian 12's crun refuses a hybrid cgroup tree
    # (docs/image.md, "Running podman in tests").
    [runc]=runc
    # readelf: packaging/image.sh and the package check tell a static binary by its headers.
    [binutils]=readelf
    [buildah]=buildah
    [hyperfine]=hyperfine
    [amazon-ecr-credential-helper]=docker-credential-ecr-login
    [jq]=jq
    # The shared-store tests start their own server (tests/it/postgres.rs); initdb is not on PATH.
    [postgresql]=""
    [postgresql-client]=psql
    # The shared token cache tests start their own servers (tests/it/redis.rs), TLS ones with a
    # CA made by openssl; redis-server's package brings redis-cli (redis-tools).
    [redis-server]=redis-server
    [openssl]=openssl
    [strace]=strace
    [ca-certificates]=""
    [dbus]=dbus-run-session
    [gnome-keyring]=gnome-keyring-daemon
    [strace]=strace
    [dpkg-dev]=dpkg-shlibdeps
    [rpm]=rpm
    [rpm2cpio]=rpm2cpio
    [cpio]=cpio
    # The Go client-library test (tests/it/goclient.rs) builds in GOPATH mode against Debian's
    # sources in /usr/share/gocode; the library imports golang.org/x/sys/execabs, which its
    # package does not depend on (docs/worker.md, "The Go client library").
    [golang-go]=go
    [golang-github-docker-docker-credential-helpers-dev]=""
    [golang-golang-x-sys-dev]=""
)

missing=()
for pkg in "${!PKG_CMD[@]}"; do
    cmd="${PKG_CMD[$pkg]}"
    if [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; then
        continue
    fi
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        continue
    fi
    missing+=("$pkg")
done

# The docker CLI: only if no `docker` is on PATH already (e.g. /usr/local/bin/docker).
if ! command -v docker >/dev/null 2>&1; then
    missing+=(docker.io)
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3-pip)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-test-deps: apt-get install ${missing[*]}" >&2
    # Keep package maintainer scripts from starting daemons (docker.io, docker-registry):
    # there may be no init system here, and no daemon is wanted anyway.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod 755 "$policy"
        created_policy=1
    fi
    cleanup() {
        if [ "$created_policy" -eq 1 ]; then
            $SUDO rm -f "$policy"
        fi
    }
    trap cleanup EXIT
    $SUDO apt-get update -qq
    # A maintainer script failing because a service can't start must not fail the run:
    # retry once with --fix-broken, then check the commands themselves below.
    if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
        echo "install-test-deps: apt-get install reported an error; checking what got installed" >&2
        $SUDO apt-get install -y -qq --no-install-recommends -f || true
        $SUDO dpkg --configure -a || true
    fi
    cleanup
    trap - EXIT
fi

# A docker-registry package post-install may have started a registry on :5000; the tests
# start their own, so stop a system one if systemd/sysv started it (ignore failures).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now docker-registry >/dev/null 2>&1 || true
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "install-test-deps: PostgreSQL's initdb is still missing after install" >&2
    exit 1
fi

for src in github.com/docker/docker-credential-helpers/client golang.org/x/sys/execabs; do
    if [ ! -d "/usr/share/gocode/src/$src" ]; then
        echo "install-test-deps: Go sources of $src are still missing after install" >&2
        exit 1
    fi
done

for cmd in docker-registry htpasswd skopeo podman buildah hyperfine docker-credential-ecr-login jq docker dbus-run-session gnome-keyring-daemon strace redis-server redis-cli openssl go; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        echo "install-test-deps: '$cmd' is still missing after install" >&2
        exit 1
    fi
done

# Python tools (moto server for a fake ECR, docker SDK, cryptography, and kubernetes-validate with
# the Kubernetes API schemas bundled, for packaging/kubernetes/ offline; it brings PyYAML).
if ! python3 - <<'PY' >/dev/null 2>&1
import importlib.metadata as m, sys
import docker, cryptography, flask, moto.server, kubernetes_validate, yaml  # noqa: F401  (flask comes with moto[server])
sys.exit(0 if m.version("moto").split(".")[0] == "5" else 1)
PY
then
    pip_args=(--quiet --disable-pip-version-check 'moto[server]==5.*' docker cryptography 'kubernetes-validate==1.*' pyyaml)
    if ! python3 -m pip install "${pip_args[@]}" 2>/tmp/install-test-deps-pip.err; then
        if grep -q externally-managed /tmp/install-test-deps-pip.err; then
            # Debian's own python3 (PEP 668): allowed here, this is a throwaway test machine.
            python3 -m pip install --break-system-packages "${pip_args[@]}"
        else
            cat /tmp/install-test-deps-pip.err >&2
            exit 1
        fi
    fi
    rm -f /tmp/install-test-deps-pip.err
fi

echo "install-test-deps: ok" >&2
