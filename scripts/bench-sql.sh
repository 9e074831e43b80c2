#!/usr/bin/env bash
# SQL benchmark: pgbench against a 3-node Atoll (release build, real processes via `atoll demo`)
# and against single-node PostgreSQL 15 (../shared/bench/pg.sh), in one run, same settings.
# Needs PostgreSQL installed once (../shared/bench/install.sh). Run as root (pg.sh needs it).
#
# Env: SCALE (1), CLIENTS (8), THREADS (2), SECS (20), MAX_TRIES (1, pgbench's default: no retry; N: pgbench retries
# serialization failures, 40001, up to this many times per transaction), SKIP_PG=1.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${BENCH:-../shared/bench}
SCALE=${SCALE:-1}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
SECS=${SECS:-20}
MAX_TRIES=${MAX_TRIES:-1}
RESULTS=${BENCH_DIR:-/tmp/atoll-bench}/results
mkdir -p "$RESULTS"
out_file=$RESULTS/atoll-pgbench-$(date +%Y%m%d-%H%M%S).txt

cargo build --release --locked --quiet
log=$(mktemp)
atoll="${CARGO_TARGET_DIR:-target}"/release/atoll
"$atoll" demo --insecure --no-shell --base-port "${BASE_PORT:-24000}" >"$log" 2>/dev/null &
demo=$!
trap 'kill -TERM $demo 2>/dev/null; wait $demo 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 1 600); do grep -q '^sql:' "$log" && break; sleep 0.1; done
grep -q '^sql:' "$log" || { echo "demo did not start" >&2; exit 1; }
addr=$(sed -n 's/^node 1 .* sql=\([^ ]*\) .*/\1/p' "$log")
peer=$(sed -n 's/^node 1 .* peer=\([^ ]*\) .*/\1/p' "$log")
pids=$(sed -n 's/^node [0-9]* pid=\([0-9]*\).*/\1/p' "$log" | tr '\n' ' ')
host=${addr%:*}
port=${addr#*:}
PGB=(pgbench -h "$host" -p "$port" -U atoll)
{
  echo "# $(date -Is) atoll 3 nodes (release), pgbench against node 1 at $addr; host load: $(cat /proc/loadavg)"
  psql -h "$host" -p "$port" -U atoll -d postgres -qc "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
  echo "## pgbench -i -s $SCALE"
  "${PGB[@]}" -i -s "$SCALE" bench 2>&1 | tail -3
  # Which node leads decides whether node 1 serves reads under its own lease or asks a leader.
  echo "## ranges after the load (node 1 is the gateway)"
  for _ in 1 2 3 4 5; do "$atoll" range ls --host "$peer" 2>/dev/null && break; sleep 2; done
  echo; echo "## TPC-B-like: pgbench -c $CLIENTS -j $THREADS -T $SECS --max-tries $MAX_TRIES"
  "${PGB[@]}" -c "$CLIENTS" -j "$THREADS" -T "$SECS" --max-tries "$MAX_TRIES" bench 2>&1 | grep -v "^progress"
  # (pgbench truncates pgbench_history before each run, so check right after the TPC-B run)
  echo "## balances agree: sum of branches, tellers, accounts, history deltas"
  psql -h "$host" -p "$port" -U atoll -d bench -Atc \
    "SELECT (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(delta) FROM pgbench_history)"
  echo; echo "## select-only: pgbench -S -c $CLIENTS -j $THREADS -T $SECS"
  "${PGB[@]}" -S -c "$CLIENTS" -j "$THREADS" -T "$SECS" bench 2>&1 | grep -v "^progress"
  echo; echo "## select-only, prepared: pgbench -S -M prepared -c $CLIENTS -j $THREADS -T $SECS"
  "${PGB[@]}" -S -M prepared -c "$CLIENTS" -j "$THREADS" -T "$SECS" bench 2>&1 | grep -v "^progress"
  # Per-statement cost of the two paths: the same point read, one client, prepared; the server
  # CPU per statement comes from the three node processes' CPU time over the run.
  for path in fast datafusion; do
    echo; echo "## per-statement overhead, $path path: pgbench -n -M prepared -c 1 -T $SECS -f scripts/pgbench/point-$path.sql"
    cpu0=$(for p in $pids; do awk '{print $14+$15}' "/proc/$p/stat"; done | awk '{s+=$1} END {print s}')
    "${PGB[@]}" -n -M prepared -c 1 -T "$SECS" -f "scripts/pgbench/point-$path.sql" bench 2>&1 | grep -E "processed|latency average|tps"
    cpu1=$(for p in $pids; do awk '{print $14+$15}' "/proc/$p/stat"; done | awk '{s+=$1} END {print s}')
    echo "server CPU: $(( (cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) )) ms over the run"
  done
} | tee "$out_file"
echo "saved $out_file"
kill -TERM $demo 2>/dev/null; wait $demo 2>/dev/null || true
if [[ ${SKIP_PG:-0} != 1 ]]; then
  SCALE=$SCALE CLIENTS=$CLIENTS THREADS=$THREADS SECS=$SECS "$BENCH/pg.sh" bench
  "$BENCH/pg.sh" stop
fi
