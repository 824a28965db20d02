#!/usr/bin/env bash
# Builds the OCI image of docker-credential-beta9 with buildah, FROM scratch (nothing is pulled):
# the static release binary at /usr/local/bin/docker-credential-beta9 as the entrypoint, the build
# machine's CA bundle at /etc/ssl/certs/ca-certificates.crt (for ECR and Google over TLS), OCI
# labels, user 65532. Written as an oci-archive file; its path is printed last on stdout.
#
#   packaging/image.sh [OUT]             # builds the binary (packaging/static-build.sh) first
#   packaging/image.sh --no-build [OUT]  # uses the binary built now
#
# OUT defaults to target/image/docker-credential-beta9-<version>-<arch>.oci.tar. Load it with
# `podman load -i OUT` or `skopeo copy oci-archive:OUT docker://REGISTRY/…`; run it directly with
# `podman run --rm oci-archive:OUT version`. The image's creation time is the last commit's, so
# the same commit builds the same layers. Labels: IMAGE_SOURCE overrides the source label (by
# default the git remote `origin`). buildah's storage lives in a temporary directory under
# target/, removed on exit. One file outside it remains: containers/image's blob-info cache
# (/var/lib/containers/cache as root, ~/.local/share/containers/cache otherwise; docs/image.md).
set -euo pipefail

NAME=docker-credential-beta9
BUILD=1
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "packaging/image.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) [ -z "$OUT" ] || { echo "packaging/image.sh: one OUT path only" >&2; exit 2; }; OUT="$1"; shift ;;
    esac
done

cd "$(dirname "$0")/.."
ROOT="$PWD"
command -v buildah >/dev/null 2>&1 || {
    echo "packaging/image.sh: buildah not found; install it (apt-get install buildah)" >&2
    exit 1
}

if [ "$BUILD" = 1 ]; then
    BIN=$(packaging/static-build.sh | tail -n 1)
else
    BIN=$(packaging/static-build.sh --no-build | tail -n 1)
fi
# The image has no loader and no libraries: a dynamically linked binary would not start there.
if readelf -l "$BIN" | grep -q 'INTERP'; then
    echo "packaging/image.sh: $BIN is dynamically linked; an image FROM scratch needs the static build" >&2
    exit 1
fi

VERSION=$("$BIN" version | awk '{print $NF}')
case "$(uname -m)" in
    x86_64) ARCH=amd64 ;;
    aarch64) ARCH=arm64 ;;
    *) ARCH=$(uname -m) ;;
esac
[ -n "$OUT" ] || OUT="$ROOT/target/image/$NAME-$VERSION-$ARCH.oci.tar"
case "$OUT" in /*) ;; *) OUT="$PWD/$OUT" ;; esac
mkdir -p "$(dirname "$OUT")"

REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
CREATED=$(git log -1 --format=%ct 2>/dev/null || date +%s)
SOURCE="${IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null || echo unknown)}"
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
[ -s "$CA_BUNDLE" ] || {
    echo "packaging/image.sh: $CA_BUNDLE is missing; install ca-certificates (the image needs roots for ECR and Google)" >&2
    exit 1
}

mkdir -p "$ROOT/target"
STORE=$(mktemp -d "$ROOT/target/image-storage.XXXXXX")
B=(buildah --root "$STORE/root" --runroot "$STORE/run" --storage-driver vfs)
ctr=""
cleanup() {
    [ -z "$ctr" ] || "${B[@]}" rm "$ctr" >/dev/null 2>&1 || true
    rm -rf "$STORE"
}
trap cleanup EXIT

ctr=$("${B[@]}" from scratch)
"${B[@]}" copy --chmod 0755 "$ctr" "$BIN" "/usr/local/bin/$NAME" >/dev/null
"${B[@]}" copy --chmod 0644 "$ctr" "$CA_BUNDLE" /etc/ssl/certs/ca-certificates.crt >/dev/null
"${B[@]}" config \
    --arch "$ARCH" --os linux \
    --entrypoint "[\"/usr/local/bin/$NAME\"]" \
    --cmd '["version"]' \
    --user 65532:65532 \
    --workingdir / \
    --label "org.opencontainers.image.title=$NAME" \
    --label "org.opencontainers.image.description=Docker credential helper and kubelet credential provider for private registries" \
    --label "org.opencontainers.image.version=$VERSION" \
    --label "org.opencontainers.image.revision=$REVISION" \
    --label "org.opencontainers.image.source=$SOURCE" \
    --label "org.opencontainers.image.licenses=Apache-2.0" \
    "$ctr"
rm -f "$OUT"
"${B[@]}" commit --quiet --format oci --disable-compression=false --timestamp "$CREATED" --omit-history "$ctr" "oci-archive:$OUT:$NAME:$VERSION" >/dev/null
echo "packaging/image.sh: $(du -h "$OUT" | cut -f1) image, binary $(du -h "$BIN" | cut -f1)" >&2
echo "$OUT"
