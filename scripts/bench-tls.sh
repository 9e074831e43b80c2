#!/usr/bin/env bash
# The cost of TLS: pgbench select-only and TPC-B against a secure 3-node demo (TLS, root's client
# certificate, sslmode=verify-full) and an insecure one (`--insecure`), one after the other, same
# settings. The order alternates with MODES="insecure secure".
#
# Env: SCALE (1), CLIENTS (8), THREADS (2), SECS (20), MODES ("secure insecure"), BASE_PORT (26000).
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-1}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
SECS=${SECS:-20}
cargo build --release --locked --quiet
atoll="${CARGO_TARGET_DIR:-target}"/release/atoll
port=$(( ${BASE_PORT:-26000} + 13 ))
for mode in ${MODES:-secure insecure}; do
  log=$(mktemp)
  flag=""; [ "$mode" = insecure ] && flag="--insecure"
  "$atoll" demo $flag --no-shell --base-port "${BASE_PORT:-26000}" >"$log" 2>/dev/null &
  demo=$!
  trap 'kill -TERM $demo 2>/dev/null || true; wait $demo 2>/dev/null || true; rm -f "$log"' EXIT
  for _ in $(seq 1 600); do grep -q '^sql:' "$log" && break; sleep 0.1; done
  grep -q '^sql:' "$log" || { echo "demo did not start" >&2; exit 1; }
  if [ "$mode" = secure ]; then
    certs=$(sed -n 's/^certificates: \([^ ]*\).*/\1/p' "$log")
    export PGSSLMODE=verify-full PGSSLROOTCERT=$certs/ca.crt PGSSLCERT=$certs/client.root.crt PGSSLKEY=$certs/client.root.key PGUSER=root
  else
    unset PGSSLMODE PGSSLROOTCERT PGSSLCERT PGSSLKEY
    export PGUSER=atoll
  fi
  pgbench -h 127.0.0.1 -p "$port" -i -s "$SCALE" postgres >/dev/null 2>&1
  echo "== $mode select-only"
  pgbench -h 127.0.0.1 -p "$port" -S -c "$CLIENTS" -j "$THREADS" -T "$SECS" postgres 2>/dev/null | grep -E "^tps|latency average"
  echo "== $mode tpcb"
  pgbench -h 127.0.0.1 -p "$port" -c "$CLIENTS" -j "$THREADS" -T "$SECS" postgres 2>/dev/null | grep -E "^tps|latency average|failed"
  kill -TERM $demo 2>/dev/null; wait $demo 2>/dev/null || true
  rm -f "$log"
done
