#!/usr/bin/env bash
# Long property-based run of the hostile-input tests (tests/it/fuzz.rs): every parser the helper
# exposes gets PROPTEST_CASES generated inputs per property (default 1,000,000), in release mode.
# CI runs the same properties with 2,000 cases each as part of scripts/test.sh.
#   scripts/fuzz.sh            # 1,000,000 cases per property
#   PROPTEST_CASES=50000 scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${PROPTEST_CASES:-1000000}"
start=$(date +%s)
cargo test --release --locked --test it fuzz:: -- --test-threads=2
echo "fuzz: ${PROPTEST_CASES} cases per property in $(( $(date +%s) - start )) s"
