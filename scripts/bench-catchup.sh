#!/usr/bin/env bash
# Catch-up benchmark: a follower paused through a pgbench load and a TPC-B run falls behind the
# leader's log, then catches up by a streamed snapshot while pgbench keeps running. Reports the
# catch-up time, the clients' latency (p50/p99/max) during the catch-up, whether the term moved,
# the peak memory (VmHWM) of every node, and the snapshot bytes from the metrics.
#
# Env: SCALE (10), CLIENTS (8), THREADS (2), LOAD_SECS (25: the TPC-B run while paused),
# BASE_PORT (24100), KEEP (set: keep the cluster's data and node logs). Run it in the
# foreground of a shell that stays alive: a stopped process in an orphaned process group gets
# SIGHUP from the kernel, which ends node 3.
set -euo pipefail
cd "$(dirname "$0")/.."
SCALE=${SCALE:-10}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
LOAD_SECS=${LOAD_SECS:-25}
RESULTS=${BENCH_DIR:-/tmp/atoll-bench}/results
mkdir -p "$RESULTS"
out_file=$RESULTS/atoll-catchup-$(date +%Y%m%d-%H%M%S).txt

cargo build --release --locked --quiet
log=$(mktemp)
work=$(mktemp -d)
atoll="${CARGO_TARGET_DIR:-target}"/release/atoll
"$atoll" demo --insecure --no-shell --base-port "${BASE_PORT:-24100}" ${KEEP:+--keep} >"$log" 2>/dev/null &
demo=$!
trap 'kill -CONT $pid3 2>/dev/null; kill -TERM $demo 2>/dev/null; wait $demo 2>/dev/null; rm -rf "$log" "$work"' EXIT
for _ in $(seq 1 600); do grep -q '^sql:' "$log" && break; sleep 0.1; done
grep -q '^sql:' "$log" || { echo "demo did not start" >&2; exit 1; }
field() { sed -n "s/^node $1 .* $2=\([^ ]*\).*/\1/p" "$log"; }
addr=$(field 1 sql); peer1=$(field 1 peer); peer3=$(field 3 peer)
pid3=$(sed -n 's/^node 3 pid=\([0-9]*\).*/\1/p' "$log")
pids=$(sed -n 's/^node [0-9]* pid=\([0-9]*\).*/\1/p' "$log" | tr '\n' ' ')
host=${addr%:*}; port=${addr#*:}
PGB=(pgbench -h "$host" -p "$port" -U atoll)
# `range ls` columns: id, span (two words), replicas, leader, term, applied, ...
applied() { "$atoll" range ls --host "$1" 2>/dev/null | awk 'NR==2 {print $7}'; }
term() {
  for _ in 1 2 3 4 5; do "$atoll" range ls --host "$1" 2>/dev/null | awk 'NR==2 {print $6}' | grep . && return; sleep 1; done
}
metric() { curl -s "http://$(field "$1" http | sed 's#http://##')/metrics" | awk -v m="$2" '$1==m {print $2}'; }
{
  echo "# $(date -Is) atoll 3 nodes (release) at $(git rev-parse --short HEAD); node 3 paused during the load; host load: $(cat /proc/loadavg)"
  if [[ -n ${KEEP:-} ]]; then sed -n 's/^atoll demo: .* up in \(.*\)/cluster data and logs (kept): \1/p' "$log"; fi
  psql -h "$host" -p "$port" -U atoll -d postgres -qc "CREATE DATABASE bench"
  kill -STOP "$pid3"
  echo "## node 3 paused; pgbench -i -s $SCALE, then pgbench -c $CLIENTS -j $THREADS -T $LOAD_SECS"
  "${PGB[@]}" -i -s "$SCALE" bench 2>&1 | tail -1
  "${PGB[@]}" -c "$CLIENTS" -j "$THREADS" -T "$LOAD_SECS" bench 2>&1 | grep -E "transactions actually|^tps"
  "$atoll" range ls --host "$peer1"
  before=$(term "$peer1")
  echo "## node 3 resumed with pgbench running (-c $CLIENTS, latency log)"
  (cd "$work" && "${PGB[@]}" -c "$CLIENTS" -j "$THREADS" -T 600 -l bench >/dev/null 2>&1) &
  bench=$!
  sleep 2
  # Peak memory from here on: clear_refs 5 resets VmHWM.
  for pid in $pids; do echo 5 >"/proc/$pid/clear_refs"; done
  start=$(date +%s.%N)
  kill -CONT "$pid3"
  log_peak=0
  while true; do
    log_bytes=$(metric 1 atoll_raft_log_bytes); log_peak=$(( ${log_bytes:-0} > log_peak ? ${log_bytes:-0} : log_peak ))
    # A status call may time out under load: try again.
    a1=$(applied "$peer1" || true); a3=$(applied "$peer3" || true)
    if [[ -n $a1 && -n $a3 && $a3 -ge $a1 ]]; then break; fi
    kill -0 "$pid3" 2>/dev/null || { echo "node 3 exited" >&2; exit 1; }
    if (( $(echo "$(date +%s.%N) - $start > 900" | bc) )); then echo "no catch-up within 15 min" >&2; exit 1; fi
    "$atoll" node status --host "$peer1" 2>/dev/null | grep "snapshot of" || true
    sleep 1
  done
  end=$(date +%s.%N)
  kill -INT $bench 2>/dev/null; wait $bench 2>/dev/null || true
  echo "catch-up: $(echo "$end - $start" | bc) s; term before $before, after $(term "$peer1" || true);" \
    "leader's Raft log in memory: peak $((log_peak / 1048576)) MiB (sampled each second)"
  # pgbench -l: one line per transaction, field 3 = latency in microseconds, 5/6 = end time.
  cat "$work"/pgbench_log.* | awk -v s="$start" -v e="$end" '$5+$6/1e6 >= s && $5+$6/1e6 <= e {print $3}' | sort -n >"$work/lat"
  n=$(wc -l <"$work/lat")
  echo "transactions during catch-up: $n; latency p50 $(awk -v n="$n" 'NR==int(n*0.5)+1 {print $1/1000}' "$work/lat") ms," \
    "p99 $(awk -v n="$n" 'NR==int(n*0.99)+1 {print $1/1000}' "$work/lat") ms, max $(tail -1 "$work/lat" | awk '{print $1/1000}') ms"
  for i in 1 2 3; do
    pid=$(sed -n "s/^node $i pid=\([0-9]*\).*/\1/p" "$log")
    echo "node $i: VmHWM since the resume $(awk '/VmHWM/ {print $2/1024 " MiB"}' /proc/$pid/status), VmRSS $(awk '/VmRSS/ {print $2/1024 " MiB"}' /proc/$pid/status)," \
      "snapshot bytes sent $(metric $i atoll_snapshot_bytes_sent_total), received $(metric $i atoll_snapshot_bytes_received_total)," \
      "applied $(metric $i atoll_snapshot_bytes_applied_total)"
  done
  echo "## rows and balances through each node (each reads its own replica after a ReadIndex)"
  for i in 1 2 3; do
    a=$(field $i sql)
    psql -h "${a%:*}" -p "${a#*:}" -U atoll -d bench -Atc "SELECT count(*), sum(abalance) FROM pgbench_accounts"
  done
} | tee "$out_file"
echo "saved $out_file (pids: $pids)"
