#!/usr/bin/env bash
# The cost of encryption at rest: an insecure 3-node demo with plain stores and one with
# encrypted stores (`atoll demo --encrypt`), one after the other, same settings: the time of
# `pgbench -i`, pgbench select-only and TPC-B, and kvbench puts and linearizable gets
# (../shared/bench/kv-bench.sh, needs ../shared/bench/install.sh once). TLS is off in both, so
# only encryption differs. The order alternates with MODES="encrypted plain".
#
# Env: SCALE (10), CLIENTS (8), THREADS (2), SECS (20), CONCS ("64"), MODES ("plain encrypted"),
#      BASE_PORT (26000), SKIP_KV (0).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench}
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
SECS=${SECS:-20}
cargo build --release --locked --quiet
atoll="${CARGO_TARGET_DIR:-target}"/release/atoll
base=${BASE_PORT:-26000}
port=$(( base + 13 ))
export PGUSER=atoll
unset PGSSLMODE PGSSLROOTCERT PGSSLCERT PGSSLKEY
for mode in ${MODES:-plain encrypted}; do
  log=$(mktemp)
  flag=""; [ "$mode" = encrypted ] && flag="--encrypt"
  "$atoll" demo --insecure $flag --no-shell --base-port "$base" >"$log" 2>/dev/null &
  demo=$!
  trap 'kill -TERM $demo 2>/dev/null || true; wait $demo 2>/dev/null || true; rm -f "$log"' EXIT
  for _ in $(seq 1 600); do grep -q '^sql:' "$log" && break; sleep 0.1; done
  grep -q '^sql:' "$log" || { echo "demo did not start" >&2; exit 1; }
  echo "== $mode pgbench -i -s $SCALE"
  start=$(date +%s.%N)
  pgbench -h 127.0.0.1 -p "$port" -i -s "$SCALE" postgres >/dev/null 2>&1
  echo "seconds $(echo "$(date +%s.%N) - $start" | bc)"
  echo "== $mode select-only"
  pgbench -h 127.0.0.1 -p "$port" -S -c "$CLIENTS" -j "$THREADS" -T "$SECS" postgres 2>/dev/null | grep -E "^tps|latency average"
  echo "== $mode tpcb"
  pgbench -h 127.0.0.1 -p "$port" -c "$CLIENTS" -j "$THREADS" -T "$SECS" postgres 2>/dev/null | grep -E "^tps|latency average|failed"
  if [ "${SKIP_KV:-0}" != 1 ]; then
    endpoints=$(sed -n 's/^etcd endpoints: //p' "$log")
    pids=$(sed -n 's/^node [0-9]* pid=\([0-9]*\).*/\1/p' "$log" | tr '\n' ' ')
    echo "== $mode kvbench"
    NAME="atoll-$mode" SERVER_PIDS="$pids" CONCS="${CONCS:-64}" SECS=10 SGET=0 FSYNC=0 \
      "$BENCH/kv-bench.sh" endpoints "$endpoints" 2>&1 | grep -vE "^$|^#" || true
  fi
  kill -TERM $demo 2>/dev/null; wait $demo 2>/dev/null || true
  rm -f "$log"
done
