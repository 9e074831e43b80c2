#!/usr/bin/env bash
# KV benchmark: a 3-node Atoll (release build, real processes via `atoll demo`) and a 3-member
# etcd cluster, driven by the same kvbench workload in one run (../shared/bench).
# Needs the peers installed once: ../shared/bench/install.sh (and Debian's libprotobuf-dev for
# the kvbench build). Results: $BENCH_DIR/results (default /tmp/atoll-bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench}
cargo build --release --locked --quiet
out=$(mktemp)
"${CARGO_TARGET_DIR:-target}"/release/atoll demo --insecure --no-shell --base-port "${BASE_PORT:-24000}" >"$out" 2>/dev/null &
demo=$!
trap 'kill -TERM $demo 2>/dev/null; wait $demo 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 1 600); do grep -q '^etcd endpoints:' "$out" && break; sleep 0.1; done
grep -q '^etcd endpoints:' "$out" || { echo "demo did not start" >&2; exit 1; }
endpoints=$(sed -n 's/^etcd endpoints: //p' "$out")
pids=$(sed -n 's/^node [0-9]* pid=\([0-9]*\).*/\1/p' "$out" | tr '\n' ' ')
data=$(sed -n 's/^node 1 .* data=\(.*\)$/\1/p' "$out")
echo "atoll endpoints $endpoints pids $pids"
ENDPOINTS=$endpoints NAME=atoll SERVER_PIDS="$pids" FSYNC_DIR="$data" SERVER_DESC="atoll 3 nodes (release)" \
  SKIP="${SKIP:-pg}" "$BENCH/run-all.sh"
"$BENCH/summarize.py"
