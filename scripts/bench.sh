#!/usr/bin/env bash
# Benchmarks of docker-credential-beta9 (issues 5 and 7), side by side with hyperfine, in one run:
#   - /bin/true, a static `get`, a cached ECR `get`, Debian's docker-credential-ecr-login answering a
#     cached ECR `get` (its pre-filled cache, docs/ecr.md, "ecr-login's cache key versions"), a cached
#     Google `get` (a token minted once from a service-account key against
#     tests/support/gcp_token_server.py), a cold ECR `get` against moto,
#     `get` with 10 and with 10,000 stored entries, `list` with 10 and with 10,000 entries;
#   - 64 concurrent cold ECR `get`s -> GetAuthorizationToken calls seen by moto (3 trials);
#   - peak RSS (/usr/bin/time %M), syscall counts (strace -c -f), sockets opened by a cached `get`
#     (strace -e trace=network), instruction counts (valgrind callgrind, stable under load);
#   - stripped binary size and release build time (incremental unless --build-time);
#   - the fleet's shared token cache (issue 13, Debian's redis-server on loopback): 100 simulated
#     machines cold-starting at once -> GetAuthorizationToken calls (3 trials); a `get` served from
#     Redis with a cold local cache vs a local hit vs a cold mint (p50/p99); what a refused Redis,
#     a Redis that never answers, and the skip marker add to a cold `get`;
#   - the shared store (issue 14, Debian's PostgreSQL on loopback, scram-sha-256): `get` through the
#     database with TTL 0 (plain and verify-full TLS), `get` answered by a fresh local copy, and
#     `list` of the big store's 10,000 entries copied into the table byte for byte.
# Prints a table with every goal, writes target/bench/results.{json,csv} (raw hyperfine JSON in
# target/bench/raw/) and the plot benches/results/latency.png (+ a copy of results.json there).
#
# Usage: scripts/bench.sh [--runs N] [--rounds R] [--entries N] [--build-time]
#                         [--wait-quiet SECONDS] [--no-install] [--bin PATH]
#   --runs N          hyperfine runs per hot case per round (default 200; cold ECR N/10, list-10k N/20)
#   --rounds R        alternating rounds (default 3); the p50 is taken over all rounds' runs
#   --entries N       size of the big store (default 10000)
#   --build-time      also time a from-scratch release build into target/bench-build (minutes)
#   --wait-quiet S    before measuring, wait up to S seconds for the 1-min load average < 1.0
#   --no-install      do not apt-get/cargo/pip install missing tools (skip what is missing)
#   --bin PATH        measure this prebuilt binary instead of building the shipped one (no build
#                     time; results and plot stay in target/bench/, benches/results/ is untouched)
# Needs: cargo, python3. Installs if missing: hyperfine >= 1.16 with --input (else
# `cargo install hyperfine@1.20.0 --locked --root target/bench-tools`), amazon-ecr-credential-helper,
# gnuplot-nox, strace, time, valgrind, redis-server, postgresql (Debian), moto[server] 5.x and
# cryptography (pip).
set -euo pipefail

RUNS=200
ROUNDS=3
ENTRIES=10000
BUILD_TIME=0
QUIET_WAIT=0
INSTALL=1
PREBUILT=""
CONC=64
CONC_TRIALS=3
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) RUNS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --entries) ENTRIES="$2"; shift 2 ;;
        --build-time) BUILD_TIME=1; shift ;;
        --wait-quiet) QUIET_WAIT="$2"; shift 2 ;;
        --no-install) INSTALL=0; shift ;;
        --bin) PREBUILT=$(realpath "$2"); shift 2 ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
COLD_RUNS=$(( RUNS / 10 > 10 ? RUNS / 10 : 10 ))
LIST_RUNS=$(( RUNS / 20 > 5 ? RUNS / 20 : 5 ))

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# The helper runs with a sandbox HOME below; cargo and rustup keep finding theirs.
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
OUT="$ROOT/target/bench"
RAW="$OUT/raw"
PUBLISH="$ROOT/benches/results"
if [ -n "$PREBUILT" ]; then
    PUBLISH="$OUT"
fi
rm -rf "$RAW"
mkdir -p "$RAW" "$PUBLISH"

log() { echo "bench: $*" >&2; }
now() { date +%s.%N; }
elapsed_ms() { python3 -c "import sys; print('%.1f' % ((float(sys.argv[2]) - float(sys.argv[1])) * 1000))" "$1" "$2"; }

# --- tools ----------------------------------------------------------------------------------
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo -n"
fi
APT_UPDATED=0
apt_install() {
    if [ "$INSTALL" = 0 ]; then
        log "missing Debian package(s) $*; --no-install given"
        return 1
    fi
    if [ "$APT_UPDATED" = 0 ]; then
        $SUDO apt-get update -qq >&2 || true
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >&2
}
# need CMD PACKAGE: install PACKAGE when CMD is missing; false if it is still missing.
need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] && return 0
    apt_install "$2" || true
    command -v "$1" >/dev/null 2>&1 || [ -x "$1" ]
}

command -v cargo >/dev/null || { log "cargo is required"; exit 1; }
command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
need curl curl || { log "curl is required"; exit 1; }
HAVE_TIME=0; need /usr/bin/time time && HAVE_TIME=1
HAVE_STRACE=0; need strace strace && HAVE_STRACE=1
HAVE_VALGRIND=0; need valgrind valgrind && HAVE_VALGRIND=1
HAVE_GNUPLOT=0; need gnuplot gnuplot-nox && HAVE_GNUPLOT=1
need docker-credential-ecr-login amazon-ecr-credential-helper || true
HAVE_REDIS=0; need redis-server redis-server && HAVE_REDIS=1

# hyperfine with --input (1.16+): runs the command without a shell, stdin from a file.
pick_hyperfine() {
    local h
    for h in "${HYPERFINE:-}" "$ROOT/target/bench-tools/bin/hyperfine" "$(command -v hyperfine || true)"; do
        if [ -n "$h" ] && [ -x "$h" ] && "$h" --help 2>/dev/null | grep -q -- '--input'; then
            echo "$h"
            return 0
        fi
    done
    return 1
}
if ! HF=$(pick_hyperfine); then
    if [ "$INSTALL" = 0 ]; then
        log "no hyperfine with --input (>= 1.16) found; --no-install given"
        exit 1
    fi
    log "cargo install hyperfine@1.20.0 --locked --root target/bench-tools (system one lacks --input)"
    cargo install hyperfine@1.20.0 --locked --quiet --root "$ROOT/target/bench-tools" >&2
    HF=$(pick_hyperfine)
fi

# pip_need MODULES SPEC: pip install SPEC when python3 cannot import MODULES.
pip_need() {
    python3 -c "import $1" 2>/dev/null && return 0
    if [ "$INSTALL" = 0 ]; then
        log "$2 missing; --no-install given"
        exit 1
    fi
    python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    log "pip install $2"
    python3 -m pip install --quiet --disable-pip-version-check "$2" >&2 2>/dev/null \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$2" >&2
}
pip_need 'moto.server, werkzeug' 'moto[server]==5.*'
# The Google token stub (tests/support/gcp_token_server.py) signs nothing but verifies RS256.
pip_need cryptography cryptography

# --- build ----------------------------------------------------------------------------------
BUILD_INCR_MS=0
if [ -z "$PREBUILT" ]; then
    log "building the shipped (static) release binary (incremental)"
    t0=$(now)
    PREBUILT=$("$ROOT/packaging/static-build.sh" 2>/dev/null | tail -n 1)
    t1=$(now)
    BUILD_INCR_MS=$(elapsed_ms "$t0" "$t1")
fi

WORK=$(mktemp -d /tmp/beta9-bench.XXXXXX)
MOTO_PID=""
GCP_PID=""
REDIS_PID=""
PG_PID=""
cleanup() {
    exec 3>&- 2>/dev/null || true
    local pid
    for pid in $MOTO_PID $GCP_PID $REDIS_PID $PG_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
    if [ -n "${PGROOT:-}" ]; then
        rm -rf "$PGROOT"
    fi
}
trap cleanup EXIT

# A private copy: other builds of the tree must not swap the binary under the benchmark.
mkdir -p "$WORK/bin"
cp "$PREBUILT" "$WORK/bin/docker-credential-beta9"
BIN="$WORK/bin/docker-credential-beta9"
BIN_BYTES=$(stat -c %s "$BIN")
if file "$BIN" 2>/dev/null | grep -q ', stripped'; then BIN_STRIPPED=true; else BIN_STRIPPED=false; fi
# Relocations the dynamic loader applies at every start (relative, and by symbol).
RELOCS="? ?"
if command -v readelf >/dev/null 2>&1; then
    RELOCS="$(readelf -rW "$BIN" | grep -c '_RELATIVE' || true) $(readelf -rW "$BIN" | grep -cE '_(GLOB_DAT|JUMP_SLOT|64) ' || true)"
fi

# Waits up to 30 s for a server started in the background to write its port file.
wait_for_port_file() { # <port file> <pid> <what> <log>
    for _ in $(seq 300); do
        [ -s "$1" ] && return 0
        if ! kill -0 "$2" 2>/dev/null; then
            log "$3 did not start:"
            cat "$4" >&2
            exit 1
        fi
        sleep 0.1
    done
    log "$3 did not start within 30 s"
    exit 1
}

# --- moto on a free loopback port -----------------------------------------------------------
python3 tests/support/moto_ecr.py --port 0 --port-file "$WORK/port" --parent-pid $$ \
    --ignore-stdin --quiet 2>"$WORK/moto.log" &
MOTO_PID=$!
wait_for_port_file "$WORK/port" "$MOTO_PID" moto "$WORK/moto.log"
ENDPOINT="http://127.0.0.1:$(cat "$WORK/port")"
moto_count() { curl -fsS "$ENDPOINT/__count"; }
moto_reset() { curl -fsS -X POST "$ENDPOINT/__reset" >/dev/null; }

# --- the Google token endpoint stub on a free loopback port -------------------------------------
# It generates a key pair into its state dir, then writes `port` (docstring of the script). Its
# tokens live 12 h like ECR's (Google's live 1 h), so no refresh falls inside a long run.
GCP_STATE="$WORK/gcp-stub"
GCP_EMAIL=beta9-bench@beta9-bench.iam.gserviceaccount.com
GCP_KID=0123456789abcdef0123456789abcdef01234567
mkdir -p "$GCP_STATE"
python3 tests/support/gcp_token_server.py --state-dir "$GCP_STATE" --ignore-stdin \
    --token ya29.beta9-bench-token --expires-in 43200 --client-email "$GCP_EMAIL" --key-id "$GCP_KID" \
    2>"$WORK/gcp-stub.log" &
GCP_PID=$!
wait_for_port_file "$GCP_STATE/port" "$GCP_PID" "the Google token stub" "$WORK/gcp-stub.log"
GCP_ENDPOINT="http://127.0.0.1:$(cat "$GCP_STATE/port")"
gcp_count() { curl -fsS "$GCP_ENDPOINT/__count"; }
# A service-account key JSON for the stub's key pair, as Google issues them (PKCS#8 PEM), whose
# token_uri is the stub: the helper mints from it like from a real key.
GCP_KEY="$WORK/gcp-key.json"
python3 - "$GCP_STATE/key-pkcs8.pem" "$GCP_ENDPOINT/token" "$GCP_EMAIL" "$GCP_KID" >"$GCP_KEY" <<'PY'
import json, sys
pem, token_uri, email, kid = sys.argv[1:5]
json.dump({
    "type": "service_account",
    "project_id": "beta9-bench",
    "private_key_id": kid,
    "private_key": open(pem).read(),
    "client_email": email,
    "client_id": "100000000000000000001",
    "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    "token_uri": token_uri,
    "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    "universe_domain": "googleapis.com",
}, sys.stdout)
PY
chmod 600 "$GCP_KEY"

# --- the helper's sandbox: a 10-entry store and a big one, same key -------------------------
for v in $(env | sed -n 's/^\(BETA9_[A-Z_]*\|AWS_[A-Z_]*\|XDG_[A-Z_]*\)=.*/\1/p'); do
    unset "$v"
done
export HOME="$WORK/home"
export AWS_ENDPOINT_URL_ECR="$ENDPOINT"
S10="$WORK/store10"
SBIG="$WORK/store-big"
export BETA9_CREDENTIALS_DIR="$S10"
mkdir -p "$HOME"
STATIC=registry.example.com
HOST=123456789012.dkr.ecr.us-east-1.amazonaws.com
COLD_HOST=123456789012.dkr.ecr.us-west-2.amazonaws.com
GCP_HOST=us-docker.pkg.dev
AKID=AKIABETA9BENCH000001
store_static() { # STORE_DIR REGISTRY
    printf '{"ServerURL":"%s","Username":"bench","Secret":"bench-secret"}' "$2" \
        | BETA9_CREDENTIALS_DIR="$1" "$BIN" store
}
add_aws() { # REGISTRY
    AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=bench-secret-key \
        "$BIN" add "$1" AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY >/dev/null 2>&1
}
store_static "$S10" "$STATIC"
add_aws "$HOST"
add_aws "$COLD_HOST"
# The Google record: the key file's JSON, read by `add` from the path in its environment.
GOOGLE_APPLICATION_CREDENTIALS="$GCP_KEY" "$BIN" add "$GCP_HOST" GOOGLE_APPLICATION_CREDENTIALS \
    >/dev/null 2>"$WORK/gcp-add.err" || { log "add $GCP_HOST failed: $(head -c 300 "$WORK/gcp-add.err")"; exit 1; }
for i in $(seq 1 6); do
    store_static "$S10" "filler$i.bench.example"
done
IN_STATIC="$WORK/in.static"; printf '%s' "$STATIC" >"$IN_STATIC"
IN_ECR="$WORK/in.ecr"; printf '%s' "$HOST" >"$IN_ECR"
IN_GCP="$WORK/in.gcp"; printf '%s' "$GCP_HOST" >"$IN_GCP"
IN_COLD="$WORK/in.cold"; printf '%s' "$COLD_HOST" >"$IN_COLD"
: >"$WORK/in.empty"

# The big store: ENTRIES entries (the static one + fillers), filled with `store` over xargs -P.
log "filling a store with $ENTRIES entries (xargs -P $(nproc) over \`store\`)"
store_static "$SBIG" "$STATIC"
t0=$(now)
# shellcheck disable=SC2016 # the inner script expands its own variables
seq 2 "$ENTRIES" | BIN="$BIN" SBIG="$SBIG" xargs -P "$(nproc)" -n 250 sh -c '
    for i; do
        printf "{\"ServerURL\":\"r%06d.bench.example\",\"Username\":\"u%d\",\"Secret\":\"s%d\"}" "$i" "$i" "$i" \
            | BETA9_CREDENTIALS_DIR="$SBIG" "$BIN" store || exit 255
    done' sh
t1=$(now)
FILL_MS=$(elapsed_ms "$t0" "$t1")

# Check every answer once; warm the ECR cache (one GetAuthorizationToken call) and the Google one
# (one token request, the only one the stub should see until the socket probe below).
expect() { # WHAT PATTERN CMD...
    local what=$1 pat=$2 out
    shift 2
    if ! out=$("$@" 2>"$WORK/expect.err") || [[ "$out" != *$pat* ]]; then
        log "$what failed: $(head -c 300 "$WORK/expect.err")"
        exit 1
    fi
}
expect "static get" '"Username":"bench"' "$BIN" get <"$IN_STATIC"
expect "ECR get (warm-up)" '"Username":"AWS"' "$BIN" get <"$IN_ECR"
expect "Google get (mints)" '"Secret":"ya29.beta9-bench-token"' "$BIN" get <"$IN_GCP"
expect "Google get (cached)" '"Username":"oauth2accesstoken"' "$BIN" get <"$IN_GCP"
if [ "$(gcp_count)" != 1 ]; then
    log "the Google token stub saw $(gcp_count) token requests after a minting and a cached get, expected 1"
    exit 1
fi
expect "static get, big store" '"Username":"bench"' env BETA9_CREDENTIALS_DIR="$SBIG" "$BIN" get <"$IN_STATIC"
BIG_COUNT=$(BETA9_CREDENTIALS_DIR="$SBIG" "$BIN" list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
S10_COUNT=$("$BIN" list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
if [ "$BIG_COUNT" != "$ENTRIES" ] || [ "$S10_COUNT" != 10 ]; then
    log "store sizes are $S10_COUNT and $BIG_COUNT, expected 10 and $ENTRIES"
    exit 1
fi

# --- the peer: ecr-login with a pre-filled cache (docs/ecr.md, "ecr-login's cache key versions") --------------------------
# Debian's 0.6.x ignores AWS_ENDPOINT_URL*, so it cannot be pointed at moto: only its cached
# path is measured, from a cache.json it would have written itself, with no network.
PEER=""
PEER_VERSION=""
PEER_ENV=(env -i PATH=/usr/bin:/bin HOME="$WORK/peer-home" AWS_ECR_CACHE_DIR="$WORK/ecr-cache"
    AWS_ACCESS_KEY_ID="$AKID" AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_EC2_METADATA_DISABLED=true)
if command -v docker-credential-ecr-login >/dev/null 2>&1; then
    PEER=$(command -v docker-credential-ecr-login)
    PEER_VERSION="Debian $(dpkg-query -W -f='${Version}' amazon-ecr-credential-helper 2>/dev/null || echo '?'),"
    PEER_VERSION="$PEER_VERSION \`version\` says $(timeout 10 "$PEER" version 2>/dev/null || echo '?')"
    mkdir -p "$WORK/ecr-cache" "$WORK/peer-home"
    python3 - "$WORK/ecr-cache/cache.json" "$AKID" "$HOST" <<'PY'
import base64, datetime, hashlib, json, sys
path, akid, host = sys.argv[1:4]
account, region = host.split(".")[0], host.split(".")[3]
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
ts = lambda t: t.isoformat().replace("+00:00", "Z")
# 0.6.x keys entries by base64(access key id bytes + md5("")): that version's `hash.Sum(b)` slip.
key = "%s-%s-%s" % (region, base64.b64encode(akid.encode() + hashlib.md5().digest()).decode(), account)
entry = {
    "AuthorizationToken": base64.b64encode(b"AWS:%s-auth-token" % account.encode()).decode(),
    "RequestedAt": ts(now),
    "ExpiresAt": ts(now + datetime.timedelta(hours=12)),
    "ProxyEndpoint": "https://" + host,
    "Service": "ecr",
}
json.dump({"Registries": {key: entry}, "Version": "1.0"}, open(path, "w"))
PY
    # It must answer from the cache (a miss would go to the real AWS and fail or hang).
    if ! out=$(timeout 20 "${PEER_ENV[@]}" "$PEER" get <"$IN_ECR" 2>/dev/null) \
        || [[ "$out" != *123456789012-auth-token* ]]; then
        log "ecr-login did not answer from its pre-filled cache; skipping the peer"
        PEER=""
    fi
else
    log "docker-credential-ecr-login not installed; skipping the peer"
fi

# --- the fleet: Redis on a free loopback port and FLEET_N simulated machines -------------------
# Each machine has its own HOME and store (so its own generated master key) and the same AWS keys
# stored; every `get` is a separate process, as on a fleet of workers.
FLEET_N=100
FLEET_TRIALS=3
FLEET_COLD_RUNS=$(( RUNS / 4 > 10 ? RUNS / 4 : 10 ))
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if [ "$HAVE_REDIS" = 1 ]; then
    REDIS_PORT=$(free_port)
    REDIS_PW="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --requirepass "$REDIS_PW" --save "" \
        --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" -a "$REDIS_PW" --no-auth-warning "$@"; }
    for _ in $(seq 100); do
        [ "$(rcli PING 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done
    [ "$(rcli PING 2>/dev/null)" = PONG ] || { log "redis-server did not start:"; cat "$WORK/redis.log" >&2; exit 1; }
    RURL="redis://:$REDIS_PW@127.0.0.1:$REDIS_PORT/0"
    # Nothing listens here: a refused connection.
    DEAD_PORT=$(free_port)
    DEAD_URL="redis://:$REDIS_PW@127.0.0.1:$DEAD_PORT/0"
    FLEET="$WORK/fleet"
    log "making $FLEET_N simulated machines"
    for i in $(seq "$FLEET_N"); do
        mkdir -p "$FLEET/m$i/home"
        HOME="$FLEET/m$i/home" BETA9_CREDENTIALS_DIR="$FLEET/m$i/store" add_aws "$HOST"
    done
    # Prepare scripts for hyperfine (it runs them without a shell): a cold local cache, with or
    # without the skip marker (docs/fleet.md, "Failure behaviour"), or a cold Redis too.
    FCOLD="$WORK/fleet-cold"
    printf 'rm -rf %s\n' "$FCOLD" >"$WORK/prep-cold.sh"
    printf 'rm -rf %s\nmkdir -p %s/default\necho $(( $(date +%%s) + 86400 )) >%s/default/shared-cache-unreachable\n' \
        "$FCOLD" "$FCOLD" "$FCOLD" >"$WORK/prep-marker.sh"
    printf 'rm -rf %s\nredis-cli -h 127.0.0.1 -p %s -a %s --no-auth-warning FLUSHALL >/dev/null\n' \
        "$FCOLD" "$REDIS_PORT" "$REDIS_PW" >"$WORK/prep-flush.sh"
    # Redis holds the token for $HOST (one mint through it), and the main store's cache too.
    expect "get through Redis (mints, publishes)" '"Username":"AWS"' \
        env BETA9_TOKEN_CACHE_URL="$RURL" BETA9_CACHE_DIR="$FCOLD" "$BIN" get <"$IN_ECR"
    rm -rf "$FCOLD"
    expect "get served from Redis" '"Username":"AWS"' \
        env BETA9_TOKEN_CACHE_URL="$RURL" BETA9_CACHE_DIR="$FCOLD" "$BIN" get <"$IN_ECR"
    [ "$(rcli --scan | wc -l)" = 1 ] || { log "expected one key in Redis, found: $(rcli --scan)"; exit 1; }
else
    log "redis-server missing: skipping the fleet cases"
fi

# --- the shared store: PostgreSQL on a free loopback port (issue 14) ---------------------------
# Debian's server in $WORK (initdb, and the server, as the `postgres` user when root: initdb refuses
# root), scram-sha-256 passwords, TLS from a CA made here. The table holds the big local store's
# entries byte for byte (rows are the local entry format) and its key check, so the helper opens
# them with that store's generated key.
HAVE_PG=0
PG_COUNT=0
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
PG_BIN=$(pg_bin || true)
if [ -z "$PG_BIN" ] && apt_install postgresql postgresql-client; then
    PG_BIN=$(pg_bin || true)
fi
if [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ]; then
    # Its own dir: $WORK is 0700 root's, which the postgres user may not enter.
    PGROOT=$(mktemp -d /tmp/beta9-bench-pg.XXXXXX)
    mkdir -p "$PGROOT/sock" "$PGROOT/tls"
    AS_PG=()
    EXEC_PG=()
    if [ "$(id -u)" = 0 ]; then
        AS_PG=(runuser -u postgres --)
        # setpriv execs the server, so $PG_PID is the server itself (runuser would stay between).
        EXEC_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)
    fi
    PG_SUPER_PW="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    PG_PW="bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    printf '%s\n' "$PG_SUPER_PW" >"$PGROOT/pw"
    python3 "$ROOT/tests/support/pg_tls.py" "$PGROOT/tls"
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres "$PGROOT"
    fi
    "${AS_PG[@]}" "$PG_BIN/initdb" -D "$PGROOT/data" -U postgres --auth=scram-sha-256 \
        --pwfile="$PGROOT/pw" -N -E UTF8 --locale=C >"$PGROOT/initdb.log" 2>&1 \
        || { log "initdb failed:"; cat "$PGROOT/initdb.log" >&2; exit 1; }
    PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "${EXEC_PG[@]}" "$PG_BIN/postgres" -D "$PGROOT/data" -p "$PG_PORT" -k "$PGROOT/sock" \
        -c listen_addresses=127.0.0.1 -c ssl=on -c "ssl_cert_file=$PGROOT/tls/server.crt" \
        -c "ssl_key_file=$PGROOT/tls/server.key" >"$PGROOT/server.log" 2>&1 &
    PG_PID=$!
    pg_sql() {
        PGPASSWORD="$PG_SUPER_PW" "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PGROOT/sock" \
            -p "$PG_PORT" -U postgres "$@"
    }
    for _ in $(seq 100); do
        pg_sql -d postgres -c 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.1
    done
    pg_sql -d postgres -c 'SELECT 1' >/dev/null || { log "postgres did not start:"; cat "$PGROOT/server.log" >&2; exit 1; }
    pg_sql -d postgres -c "CREATE ROLE beta9 LOGIN PASSWORD '$PG_PW'" -c "CREATE DATABASE creds OWNER beta9"
    "$BIN" db schema | pg_sql -d creds -f - >/dev/null
    pg_sql -d creds -c "ALTER TABLE beta9_credentials OWNER TO beta9" \
        -c "ALTER TABLE beta9_credentials_base OWNER TO beta9"
    python3 - "$SBIG" <<'PY' | pg_sql -d creds -c "COPY beta9_credentials (workspace, name, sealed) FROM STDIN"
import os, sys
d = os.path.join(sys.argv[1], "workspaces", "default")
for n in sorted(os.listdir(d)):
    if n.startswith("oci-creds-"):
        sys.stdout.write("default\t%s\t\\\\x%s\n" % (n, open(os.path.join(d, n), "rb").read().hex()))
PY
    KEYCHECK_HEX=$(python3 -c 'import sys; print(open(sys.argv[1], "rb").read().hex())' "$SBIG/keycheck")
    pg_sql -d creds -c "INSERT INTO beta9_credentials_base (name, sealed) VALUES ('keycheck', '\\x$KEYCHECK_HEX')"
    # The big store's own generated key (docs/storage.md, "Key sources": one per store base).
    BIGKEY="$HOME/.config/docker-credential-beta9/stores/$(python3 -c 'import hashlib, sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:16])' "$SBIG").key"
    [ -f "$BIGKEY" ] || { log "the big store's key $BIGKEY is missing"; exit 1; }
    PG_URL="postgres://beta9:$PG_PW@127.0.0.1:$PG_PORT/creds?sslmode=disable"
    PG_URL_TLS="postgres://beta9:$PG_PW@127.0.0.1:$PG_PORT/creds?sslmode=verify-full&sslrootcert=$PGROOT/tls/ca.pem"
    PG_ENV=(BETA9_STORE_URL="$PG_URL" BETA9_CREDENTIALS_KEY_FILE="$BIGKEY")
    expect "shared-store get, TTL 0" '"Username":"bench"' env "${PG_ENV[@]}" BETA9_STORE_CACHE_TTL=0 "$BIN" get <"$IN_STATIC"
    expect "shared-store get, TTL 0, TLS" '"Username":"bench"' \
        env BETA9_STORE_URL="$PG_URL_TLS" BETA9_CREDENTIALS_KEY_FILE="$BIGKEY" BETA9_STORE_CACHE_TTL=0 "$BIN" get <"$IN_STATIC"
    PG_COUNT=$(env "${PG_ENV[@]}" "$BIN" list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    if [ "$PG_COUNT" != "$ENTRIES" ]; then
        log "the shared store lists $PG_COUNT entries, expected $ENTRIES"
        exit 1
    fi
    HAVE_PG=1
else
    log "PostgreSQL missing: skipping the shared-store cases"
fi

# --- wait for a quiet machine -----------------------------------------------------------------
load1() { cut -d' ' -f1 /proc/loadavg; }
quiet() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 1.0 else 1)" "$(load1)"; }
waited=0
while ! quiet && [ "$waited" -lt "$QUIET_WAIT" ]; do
    log "load average $(load1) >= 1.0; waiting (${waited}s of ${QUIET_WAIT}s)"
    sleep 30
    waited=$(( waited + 30 ))
done
LOAD_START=$(load1)
quiet || log "measuring with load average $LOAD_START (>= 1.0): expect noise"

# --- latency: hyperfine, alternating rounds ---------------------------------------------------
# hf NAME RUNS INPUT PREPARE WRAP... -- CMD...: hyperfine runs CMD (no shell, stdin from INPUT)
# under the environment WRAP sets up for hyperfine itself (so no `env` process is timed).
hf() {
    local name=$1 runs=$2 input=$3 prepare=$4
    shift 4
    local wrap=()
    while [ "$1" != "--" ]; do wrap+=("$1"); shift; done
    shift
    local args=(--style basic --warmup 5 --runs "$runs" -N --input "$input"
        --export-json "$RAW/$name.json" -n "$name")
    if [ -n "$prepare" ]; then
        args+=(--prepare "$prepare")
    fi
    "${wrap[@]}" "$HF" "${args[@]}" "$*" >>"$RAW/hyperfine.log" 2>&1 \
        || { log "hyperfine $name failed:"; tail -20 "$RAW/hyperfine.log" >&2; exit 1; }
}
COLD_CACHE="$WORK/cold-cache"
moto_reset
for r in $(seq "$ROUNDS"); do
    log "round $r of $ROUNDS"
    hf "true.$r" "$RUNS" "$WORK/in.empty" "" env -- /bin/true
    hf "static.$r" "$RUNS" "$IN_STATIC" "" env -- "$BIN" get
    hf "static-big.$r" "$RUNS" "$IN_STATIC" "" env BETA9_CREDENTIALS_DIR="$SBIG" -- "$BIN" get
    hf "ecr-cached.$r" "$RUNS" "$IN_ECR" "" env -- "$BIN" get
    if [ -n "$PEER" ]; then
        hf "peer-cached.$r" "$RUNS" "$IN_ECR" "" "${PEER_ENV[@]}" -- "$PEER" get
    fi
    hf "gcp-cached.$r" "$RUNS" "$IN_GCP" "" env -- "$BIN" get
    hf "ecr-cold.$r" "$COLD_RUNS" "$IN_COLD" "rm -rf $COLD_CACHE" \
        env BETA9_CACHE_DIR="$COLD_CACHE" -- "$BIN" get
    hf "list.$r" "$RUNS" "$WORK/in.empty" "" env -- "$BIN" list
    hf "list-big.$r" "$LIST_RUNS" "$WORK/in.empty" "" env BETA9_CREDENTIALS_DIR="$SBIG" -- "$BIN" list
    if [ "$HAVE_PG" = 1 ]; then
        hf "pg-ttl0.$r" "$RUNS" "$IN_STATIC" "" env "${PG_ENV[@]}" BETA9_STORE_CACHE_TTL=0 -- "$BIN" get
        hf "pg-ttl0-tls.$r" "$RUNS" "$IN_STATIC" "" env BETA9_STORE_URL="$PG_URL_TLS" \
            BETA9_CREDENTIALS_KEY_FILE="$BIGKEY" BETA9_STORE_CACHE_TTL=0 -- "$BIN" get
        hf "pg-hot.$r" "$RUNS" "$IN_STATIC" "" env "${PG_ENV[@]}" BETA9_STORE_CACHE_TTL=86400 -- "$BIN" get
        hf "pg-list-big.$r" "$LIST_RUNS" "$WORK/in.empty" "" env "${PG_ENV[@]}" -- "$BIN" list
    fi
    if [ "$HAVE_REDIS" = 1 ]; then
        hf "fleet-local-hit.$r" "$RUNS" "$IN_ECR" "" env BETA9_TOKEN_CACHE_URL="$RURL" -- "$BIN" get
        hf "fleet-redis.$r" "$RUNS" "$IN_ECR" "sh $WORK/prep-cold.sh" \
            env BETA9_TOKEN_CACHE_URL="$RURL" BETA9_CACHE_DIR="$FCOLD" -- "$BIN" get
        hf "fleet-mint.$r" "$FLEET_COLD_RUNS" "$IN_ECR" "sh $WORK/prep-flush.sh" \
            env BETA9_TOKEN_CACHE_URL="$RURL" BETA9_CACHE_DIR="$FCOLD" -- "$BIN" get
        hf "fleet-no-redis.$r" "$FLEET_COLD_RUNS" "$IN_ECR" "sh $WORK/prep-cold.sh" \
            env BETA9_CACHE_DIR="$FCOLD" -- "$BIN" get
        hf "fleet-refused.$r" "$FLEET_COLD_RUNS" "$IN_ECR" "sh $WORK/prep-cold.sh" \
            env BETA9_TOKEN_CACHE_URL="$DEAD_URL" BETA9_CACHE_DIR="$FCOLD" -- "$BIN" get
        hf "fleet-skipped.$r" "$FLEET_COLD_RUNS" "$IN_ECR" "sh $WORK/prep-marker.sh" \
            env BETA9_TOKEN_CACHE_URL="$DEAD_URL" BETA9_CACHE_DIR="$FCOLD" -- "$BIN" get
    fi
done
LOAD_END=$(load1)
# Every cold run (and its warm-ups) must have made exactly one GetAuthorizationToken call.
COLD_CALLS="$(moto_count) of $(( ROUNDS * (COLD_RUNS + 5) ))"
# Every cached Google get must have answered from the cache: still the one minting request.
GCP_CALLS="$(gcp_count) for $(( ROUNDS * (RUNS + 5) + 2 )) gets"

# --- 64 concurrent cold gets -> GetAuthorizationToken calls -------------------------------------
# All CONC processes wait on one pipe, then a single write of CONC newlines releases them at once.
conc_trial() { # N -> "calls ok wall_ms"
    local t=$1
    local dir="$WORK/conc.$t" i pids=() rc ok=0 ref=""
    mkdir -p "$dir"
    mkfifo "$dir/go"
    exec 3<>"$dir/go"
    moto_reset
    for i in $(seq "$CONC"); do
        (
            read -r _ <&3
            exec 3>&-
            BETA9_CACHE_DIR="$dir/cache" exec "$BIN" get <"$IN_COLD" >"$dir/out.$i" 2>"$dir/err.$i"
        ) &
        pids+=($!)
    done
    sleep 1
    local s
    s=$(now)
    printf "%${CONC}s" "" | tr ' ' '\n' >&3
    for i in "${!pids[@]}"; do
        rc=0
        wait "${pids[$i]}" || rc=$?
        if [ "$rc" = 0 ] && [ -s "$dir/out.$((i + 1))" ]; then
            ref=${ref:-$(cat "$dir/out.$((i + 1))")}
            [ "$(cat "$dir/out.$((i + 1))")" = "$ref" ] && ok=$(( ok + 1 ))
        fi
    done
    local e
    e=$(now)
    exec 3>&-
    echo "$(moto_count) $ok $(elapsed_ms "$s" "$e")"
}
CONC_RESULTS=()
for t in $(seq "$CONC_TRIALS"); do
    CONC_RESULTS+=("$(conc_trial "$t")")
    log "concurrent trial $t: calls, identical answers, wall ms = ${CONC_RESULTS[-1]}"
done

# --- the fleet: FLEET_N machines cold-starting at once -> GetAuthorizationToken calls ------------
# Fresh local caches and an empty Redis each trial; released together as above.
fleet_trial() { # N -> "calls identical_answers wall_ms"
    local t=$1
    local dir="$WORK/fleet-trial.$t" i pids=() rc ok=0 ref=""
    mkdir -p "$dir"
    mkfifo "$dir/go"
    exec 3<>"$dir/go"
    rcli FLUSHALL >/dev/null
    moto_reset
    for i in $(seq "$FLEET_N"); do
        (
            read -r _ <&3
            exec 3>&-
            HOME="$FLEET/m$i/home" BETA9_CREDENTIALS_DIR="$FLEET/m$i/store" BETA9_CACHE_DIR="$dir/cache.$i" \
                BETA9_TOKEN_CACHE_URL="$RURL" exec "$BIN" get <"$IN_ECR" >"$dir/out.$i" 2>"$dir/err.$i"
        ) &
        pids+=($!)
    done
    sleep 1
    local s
    s=$(now)
    printf "%${FLEET_N}s" "" | tr ' ' '\n' >&3
    for i in "${!pids[@]}"; do
        rc=0
        wait "${pids[$i]}" || rc=$?
        if [ "$rc" = 0 ] && [ -s "$dir/out.$((i + 1))" ]; then
            ref=${ref:-$(cat "$dir/out.$((i + 1))")}
            [ "$(cat "$dir/out.$((i + 1))")" = "$ref" ] && ok=$(( ok + 1 ))
        fi
    done
    local e
    e=$(now)
    exec 3>&-
    echo "$(moto_count) $ok $(elapsed_ms "$s" "$e")"
}
FLEET_RESULTS=()
if [ "$HAVE_REDIS" = 1 ]; then
    for t in $(seq "$FLEET_TRIALS"); do
        FLEET_RESULTS+=("$(fleet_trial "$t")")
        log "fleet trial $t: calls, identical answers, wall ms = ${FLEET_RESULTS[-1]}"
    done
    # A Redis that accepts connections but never answers (SIGSTOP): the read timeout, then the
    # local path; the marker then spares the next gets (cold caches here, so each pays it).
    kill -STOP "$REDIS_PID"
    hf "fleet-paused.1" 10 "$IN_ECR" "sh $WORK/prep-cold.sh" \
        env BETA9_TOKEN_CACHE_URL="$RURL" BETA9_CACHE_DIR="$FCOLD" -- "$BIN" get
    kill -CONT "$REDIS_PID"
fi

# The probes below take NAME INPUT [WRAP... --] CMD...: WRAP (e.g. `env -i ...`) sets up the
# environment for the probe itself, so only CMD is measured, never an `env` process.
split_wrap() {
    WRAP=()
    CMD=("$@")
    local i
    for i in "${!CMD[@]}"; do
        if [ "${CMD[$i]}" = "--" ]; then
            WRAP=("${CMD[@]:0:$i}")
            CMD=("${CMD[@]:$((i + 1))}")
            return 0
        fi
    done
}

# --- peak RSS (20 runs each, KiB) ---------------------------------------------------------------
rss() {
    local name=$1 input=$2
    shift 2
    [ "$HAVE_TIME" = 1 ] || return 0
    split_wrap "$@"
    for _ in $(seq 20); do
        "${WRAP[@]}" /usr/bin/time -f %M -o "$RAW/rss.tmp" "${CMD[@]}" <"$input" >/dev/null 2>&1
        cat "$RAW/rss.tmp" >>"$RAW/rss.$name"
    done
}
rss true "$WORK/in.empty" /bin/true
rss static "$IN_STATIC" "$BIN" get
rss ecr-cached "$IN_ECR" "$BIN" get
rss gcp-cached "$IN_GCP" "$BIN" get
rss list-big "$WORK/in.empty" env BETA9_CREDENTIALS_DIR="$SBIG" -- "$BIN" list
if [ -n "$PEER" ]; then
    rss peer-cached "$IN_ECR" "${PEER_ENV[@]}" -- "$PEER" get
fi

# --- syscalls and sockets (strace) --------------------------------------------------------------
sys_count() { # total syscalls of one run, all threads
    local name=$1 input=$2
    shift 2
    [ "$HAVE_STRACE" = 1 ] || return 0
    split_wrap "$@"
    "${WRAP[@]}" strace -f -c -o "$RAW/strace-c.$name" "${CMD[@]}" <"$input" >/dev/null 2>&1 || true
}
net_count() { # socket() calls of one run
    local name=$1 input=$2
    shift 2
    [ "$HAVE_STRACE" = 1 ] || return 0
    split_wrap "$@"
    "${WRAP[@]}" strace -f -e trace=network -o "$RAW/strace-net.$name" "${CMD[@]}" <"$input" \
        >/dev/null 2>&1 || true
}
sys_count true "$WORK/in.empty" /bin/true
sys_count static "$IN_STATIC" "$BIN" get
sys_count ecr-cached "$IN_ECR" "$BIN" get
sys_count gcp-cached "$IN_GCP" "$BIN" get
if [ -n "$PEER" ]; then
    sys_count peer-cached "$IN_ECR" "${PEER_ENV[@]}" -- "$PEER" get
fi
net_count static "$IN_STATIC" "$BIN" get
net_count ecr-cached "$IN_ECR" "$BIN" get
net_count gcp-cached "$IN_GCP" "$BIN" get
rm -rf "$WORK/strace-cold"
net_count ecr-cold "$IN_COLD" env BETA9_CACHE_DIR="$WORK/strace-cold" -- "$BIN" get
rm -rf "$WORK/strace-cold"
net_count gcp-cold "$IN_GCP" env BETA9_CACHE_DIR="$WORK/strace-cold" -- "$BIN" get
if [ "$HAVE_PG" = 1 ]; then
    # A fresh local copy answers without the database; TTL 0 opens one connection.
    net_count pg-hot "$IN_STATIC" env "${PG_ENV[@]}" BETA9_STORE_CACHE_TTL=86400 -- "$BIN" get
    net_count pg-ttl0 "$IN_STATIC" env "${PG_ENV[@]}" BETA9_STORE_CACHE_TTL=0 -- "$BIN" get
    rss pg-ttl0 "$IN_STATIC" env "${PG_ENV[@]}" BETA9_STORE_CACHE_TTL=0 -- "$BIN" get
fi
if [ "$HAVE_REDIS" = 1 ]; then
    # With the shared cache on: a local hit opens no socket, a Redis-served get one (Redis), and a
    # cold get while the marker holds only the mint's.
    net_count fleet-local-hit "$IN_ECR" env BETA9_TOKEN_CACHE_URL="$RURL" -- "$BIN" get
    sys_count fleet-local-hit "$IN_ECR" env BETA9_TOKEN_CACHE_URL="$RURL" -- "$BIN" get
    for c in redis:cold no-redis:cold skipped:marker refused:cold; do
        name=${c%%:*}
        case $name in
            redis) url=$RURL ;; no-redis) url="" ;; *) url=$DEAD_URL ;;
        esac
        sh "$WORK/prep-${c##*:}.sh"
        net_count "fleet-$name" "$IN_ECR" env ${url:+BETA9_TOKEN_CACHE_URL="$url"} BETA9_CACHE_DIR="$FCOLD" -- "$BIN" get
        sh "$WORK/prep-${c##*:}.sh"
        sys_count "fleet-$name" "$IN_ECR" env ${url:+BETA9_TOKEN_CACHE_URL="$url"} BETA9_CACHE_DIR="$FCOLD" -- "$BIN" get
    done
    # What Redis itself costs inside a cold get, from strace timestamps (an upper bound: strace
    # slows every syscall): refused, from the socket() towards Redis to the skip marker's rename();
    # marker holding, from the marker's openat() to its close(). 20 runs each, microseconds.
    for c in refused:cold marker:marker; do
        for _ in $(seq 20); do
            sh "$WORK/prep-${c##*:}.sh"
            strace -f -ttt -T -o "$RAW/strace-span.tmp" env BETA9_TOKEN_CACHE_URL="$DEAD_URL" \
                BETA9_CACHE_DIR="$FCOLD" "$BIN" get <"$IN_ECR" >/dev/null 2>&1 || true
            python3 - "$RAW/strace-span.tmp" "${c%%:*}" "$DEAD_PORT" >>"$RAW/fleet-span.${c%%:*}" <<'PY'
import re, sys
path, kind, port = sys.argv[1:4]
calls = []
for line in open(path):
    m = re.match(r"\d+\s+(\d+\.\d+) (.*) <(\d+\.\d+)>$", line.rstrip())
    if m:
        calls.append((float(m.group(1)), m.group(2), float(m.group(3))))
start = end = None
marker_fd = None
for i, (ts, call, dur) in enumerate(calls):
    if kind == "refused":
        if start is None and call.startswith("connect(") and "htons(%s)" % port in call:
            start = next((t for t, c, _ in reversed(calls[:i]) if c.startswith("socket(")), ts)
        if start is not None and call.startswith("rename(") and "shared-cache-unreachable" in call:
            end = ts + dur
            break
    else:
        if start is None and call.startswith("openat(") and "shared-cache-unreachable" in call:
            start = ts
            marker_fd = call.rsplit("= ", 1)[-1].strip()
        elif start is not None and call.startswith("close(%s)" % marker_fd):
            end = ts + dur
            break
if start is not None and end is not None:
    print(round((end - start) * 1e6))
PY
        done
    done
fi

# --- instruction counts (callgrind; independent of machine load) --------------------------------
ir_count() {
    local name=$1 input=$2
    shift 2
    [ "$HAVE_VALGRIND" = 1 ] || return 0
    split_wrap "$@"
    "${WRAP[@]}" valgrind --tool=callgrind --callgrind-out-file="$RAW/callgrind.$name" "${CMD[@]}" \
        <"$input" >/dev/null 2>"$RAW/valgrind.$name" || true
    callgrind_annotate --inclusive=yes "$RAW/callgrind.$name" >"$RAW/callgrind-annotate.$name" 2>/dev/null || true
}
ir_count true "$WORK/in.empty" /bin/true
ir_count static "$IN_STATIC" "$BIN" get
ir_count static-big "$IN_STATIC" env BETA9_CREDENTIALS_DIR="$SBIG" -- "$BIN" get
ir_count ecr-cached "$IN_ECR" "$BIN" get
ir_count gcp-cached "$IN_GCP" "$BIN" get

# --- build time -------------------------------------------------------------------------------
BUILD_KIND=incremental
BUILD_MS=$BUILD_INCR_MS
BUILD_LOAD=""
[ "$PUBLISH" = "$OUT" ] && BUILD_KIND=skipped
if [ "$BUILD_TIME" = 1 ]; then
    log "timing a from-scratch release build into target/bench-build (takes minutes)"
    rm -rf "$ROOT/target/bench-build"
    BUILD_LOAD=$(load1)
    t0=$(now)
    CARGO_TARGET_DIR="$ROOT/target/bench-build" cargo build --release --locked --quiet
    t1=$(now)
    BUILD_MS=$(elapsed_ms "$t0" "$t1")
    BUILD_KIND=scratch
    rm -rf "$ROOT/target/bench-build"
fi

# --- summary, files, plot ------------------------------------------------------------------------
export BENCH_HF="$HF" BENCH_PEER="$PEER" BENCH_PEER_VERSION="$PEER_VERSION" BENCH_ENTRIES="$ENTRIES"
export BENCH_FILL_MS="$FILL_MS" BENCH_BIN_BYTES="$BIN_BYTES" BENCH_BIN_STRIPPED="$BIN_STRIPPED"
export BENCH_BUILD_MS="$BUILD_MS" BENCH_BUILD_KIND="$BUILD_KIND" BENCH_LOAD_START="$LOAD_START"
export BENCH_BUILD_LOAD="$BUILD_LOAD" BENCH_LOAD_END="$LOAD_END" BENCH_RUNS="$RUNS" BENCH_ROUNDS="$ROUNDS" BENCH_CONC="$CONC"
export BENCH_CONC_RESULTS="${CONC_RESULTS[*]}" BENCH_COLD_CALLS="$COLD_CALLS" BENCH_RELOCS="$RELOCS"
export BENCH_GCP_CALLS="$GCP_CALLS" BENCH_FLEET_N="$FLEET_N" BENCH_FLEET_RESULTS="${FLEET_RESULTS[*]}"
export BENCH_PG_ROWS="$PG_COUNT"
python3 "$ROOT/scripts/bench-report.py" "$RAW" "$OUT" "$PUBLISH"
if [ "$HAVE_GNUPLOT" = 1 ]; then
    gnuplot -e "datafile='$OUT/plot.dat'; outfile='$PUBLISH/latency.png'" "$ROOT/scripts/bench-plot.gp"
    log "plot: benches/results/latency.png ($(stat -c %s "$PUBLISH/latency.png") bytes)"
else
    log "gnuplot missing: no plot"
fi
