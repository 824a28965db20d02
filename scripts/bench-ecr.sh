#!/usr/bin/env bash
# Benchmark of `get` (not a test): p50 wall time of
#   1. a static `get` (generic record, no minting),
#   2. a cached ECR `get` (token in the encrypted cache, no network),
#   3. a cold ECR `get` against moto (cache removed before each run),
#   4. Debian's docker-credential-ecr-login 0.6.0 cached `get` from a pre-filled cache
#      (COMPAT.md §10.14; that version ignores AWS_ENDPOINT_URL*, so it cannot reach moto and
#      its cold `get` is not measured),
# and the ratio cached-ECR / static (goal: <= 1.2).
#
# Needs: cargo, python3 with moto[server] 5.x, hyperfine, python3 for the JSON; optional
# docker-credential-ecr-login. Uses a hyperfine with --input if one is found (HYPERFINE, then
# /tmp/hf/bin/hyperfine, then PATH); otherwise stdin comes from a shell redirect and hyperfine
# subtracts the shell's start-up time.
#
# Usage: scripts/bench-ecr.sh [--runs N]     (default 300 runs per command, 30 for the cold one)
set -euo pipefail

RUNS=300
COLD_RUNS=30
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS="$2"; COLD_RUNS=$(( $2 / 10 > 10 ? $2 / 10 : 10 )); shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "bench-ecr: unknown argument $1" >&2; exit 2 ;;
    esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

pick_hyperfine() {
    for h in "${HYPERFINE:-}" /tmp/hf/bin/hyperfine "$(command -v hyperfine || true)"; do
        if [ -n "$h" ] && [ -x "$h" ]; then
            echo "$h"
            return
        fi
    done
    echo "bench-ecr: hyperfine not found (apt-get install hyperfine, or cargo install hyperfine)" >&2
    exit 1
}
HF=$(pick_hyperfine)
if "$HF" --help | grep -q -- '--input'; then
    HAS_INPUT=1
else
    HAS_INPUT=0
fi

echo "bench-ecr: building release" >&2
cargo build --release --quiet
BIN="$ROOT/target/release/docker-credential-beta9"

WORK=$(mktemp -d /tmp/beta9-bench-ecr.XXXXXX)
MOTO_PID=""
cleanup() {
    if [ -n "$MOTO_PID" ]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- moto on a free loopback port ---------------------------------------------------------
python3 tests/support/moto_ecr.py --port 0 --port-file "$WORK/port" --parent-pid $$ \
    --ignore-stdin --quiet 2>"$WORK/moto.log" &
MOTO_PID=$!
for _ in $(seq 300); do
    [ -s "$WORK/port" ] && break
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
        echo "bench-ecr: moto did not start:" >&2
        cat "$WORK/moto.log" >&2
        exit 1
    fi
    sleep 0.1
done
PORT=$(cat "$WORK/port")
ENDPOINT="http://127.0.0.1:$PORT"

# --- the helper's sandbox -----------------------------------------------------------------
export HOME="$WORK/home"
export BETA9_CREDENTIALS_DIR="$WORK/store"
export AWS_ENDPOINT_URL_ECR="$ENDPOINT"
unset BETA9_CACHE_DIR BETA9_WORKSPACE BETA9_LOG XDG_CACHE_HOME AWS_ENDPOINT_URL \
    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS 2>/dev/null || true
mkdir -p "$HOME"
STATIC=registry.example.com
HOST=123456789012.dkr.ecr.us-east-1.amazonaws.com
COLD_HOST=123456789012.dkr.ecr.us-west-2.amazonaws.com
AKID=AKIABETA9BENCH000001
printf '{"ServerURL":"%s","Username":"bench","Secret":"bench-secret"}' "$STATIC" | "$BIN" store
AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=bench-secret-key \
    "$BIN" add "$HOST" AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY 2>/dev/null >/dev/null
AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=bench-secret-key \
    "$BIN" add "$COLD_HOST" AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY 2>/dev/null >/dev/null
for h in "$STATIC" "$HOST" "$COLD_HOST"; do
    printf '%s' "$h" >"$WORK/$h.in"
done
# Warm the ECR cache and check every answer once.
for h in "$STATIC" "$HOST"; do
    "$BIN" get <"$WORK/$h.in" >/dev/null || { echo "bench-ecr: get $h failed" >&2; exit 1; }
done
CACHE_DIR="$BETA9_CREDENTIALS_DIR/cache"

# --- the peer: ecr-login 0.6.0 with a pre-filled cache (COMPAT.md §10.14) ------------------
PEER=""
if command -v docker-credential-ecr-login >/dev/null 2>&1; then
    PEER=$(command -v docker-credential-ecr-login)
    mkdir -p "$WORK/ecr-cache"
    python3 - "$WORK/ecr-cache/cache.json" "$AKID" <<'PY'
import base64, datetime, hashlib, json, sys
path, akid = sys.argv[1], sys.argv[2]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
ts = lambda t: t.isoformat().replace("+00:00", "Z")
# 0.6.x: base64(access key id bytes + md5("")), the `hash.Sum(b)` slip.
key = "us-east-1-%s-123456789012" % base64.b64encode(akid.encode() + hashlib.md5().digest()).decode()
entry = {
    "AuthorizationToken": base64.b64encode(b"AWS:123456789012-auth-token").decode(),
    "RequestedAt": ts(now),
    "ExpiresAt": ts(now + datetime.timedelta(hours=12)),
    "ProxyEndpoint": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
    "Service": "ecr",
}
json.dump({"Registries": {key: entry}, "Version": "1.0"}, open(path, "w"))
PY
    PEER_ENV=(env -i PATH=/usr/bin:/bin HOME="$WORK/peer-home" AWS_ECR_CACHE_DIR="$WORK/ecr-cache"
        AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_EC2_METADATA_DISABLED=true)
    mkdir -p "$WORK/peer-home"
    # Must answer from the cache (a miss would go to the real AWS and fail or hang).
    if ! out=$(timeout 20 "${PEER_ENV[@]}" "$PEER" get <"$WORK/$HOST.in" 2>/dev/null) \
        || [[ "$out" != *123456789012-auth-token* ]]; then
        echo "bench-ecr: ecr-login did not answer from its pre-filled cache; skipping it" >&2
        PEER=""
    fi
else
    echo "bench-ecr: docker-credential-ecr-login not installed; skipping the peer" >&2
fi

# --- measure ----------------------------------------------------------------------------
# cmd_for NAME ENV... -- BIN INPUT: a hyperfine command line reading INPUT on stdin.
hf_run() {
    local name=$1 runs=$2 input=$3 prepare=$4
    shift 4
    local args=(--style basic --warmup 5 --runs "$runs" --export-json "$WORK/$name.json" -n "$name")
    if [ -n "$prepare" ]; then
        args+=(--prepare "$prepare")
    fi
    if [ "$HAS_INPUT" = 1 ]; then
        "$HF" "${args[@]}" -N --input "$input" "$*" >&2
    else
        "$HF" "${args[@]}" "$* <$input" >&2
    fi
}

hf_run static "$RUNS" "$WORK/$STATIC.in" "" "$BIN" get
hf_run ecr-cached "$RUNS" "$WORK/$HOST.in" "" "$BIN" get
hf_run ecr-cold "$COLD_RUNS" "$WORK/$COLD_HOST.in" "rm -rf $CACHE_DIR" "$BIN" get
if [ -n "$PEER" ]; then
    hf_run ecr-login-cached "$RUNS" "$WORK/$HOST.in" "" "${PEER_ENV[*]}" "$PEER" get
fi
calls=$(curl -s "$ENDPOINT/__count" 2>/dev/null || python3 -c "import urllib.request;print(urllib.request.urlopen('$ENDPOINT/__count').read().decode())")

python3 - "$WORK" "$HF" "$HAS_INPUT" "$calls" <<'PY'
import json, os, statistics, sys
work, hf, has_input, calls = sys.argv[1:5]
def p50(name):
    path = os.path.join(work, name + ".json")
    if not os.path.exists(path):
        return None
    times = json.load(open(path))["results"][0]["times"]
    return statistics.median(times) * 1000
rows = [("static get", "static"), ("cached ECR get", "ecr-cached"),
        ("cold ECR get (moto)", "ecr-cold"), ("ecr-login 0.6.0 cached get", "ecr-login-cached")]
print("p50 wall time per `get` (%s%s)" % (os.path.basename(hf), "" if has_input == "1" else ", shell redirect, shell start-up subtracted"))
for label, name in rows:
    v = p50(name)
    print("  %-28s %s" % (label, "n/a" if v is None else "%.2f ms" % v))
s, c = p50("static"), p50("ecr-cached")
print("  ratio cached-ECR / static   %.2f (goal <= 1.2)" % (c / s))
print("  GetAuthorizationToken calls seen by moto: %s (warm-up + cold runs)" % calls.strip())
PY
