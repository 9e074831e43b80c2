#!/usr/bin/env bash
# The long chaos run (not part of CI): RUNS runs of WORKLOAD (default registers) of SECS seconds
# each with mixed faults (kill -9, pause, isolate a node, isolate the leader, bridge, degraded
# links), seeds FIRST_SEED.., then the durability loop with KILL_CYCLES kill -9 cycles (0: none).
# Prints one line per run and a summary; exits non-zero if any run found a violation. Logs of
# every run go to OUT (default /tmp/atoll-chaos-long).
#   RUNS=20 SECS=300 KILL_CYCLES=100 ./scripts/chaos-long.sh      # the documented full run
#   WORKLOAD=sql-bank RUNS=5 SECS=120 KILL_CYCLES=0 ./scripts/chaos-long.sh
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
SECS=${SECS:-300}
KILL_CYCLES=${KILL_CYCLES:-100}
WORKLOAD=${WORKLOAD:-registers}
FIRST_SEED=${FIRST_SEED:-1000}
OUT=${OUT:-/tmp/atoll-chaos-long}
mkdir -p "$OUT"
cargo build --release --locked --quiet || exit 1
atoll="${CARGO_TARGET_DIR:-target}"/release/atoll
failures=0
for i in $(seq 0 $((RUNS - 1))); do
  seed=$((FIRST_SEED + i))
  log=$OUT/$WORKLOAD-$seed.log
  flags=""; [ "$WORKLOAD" = sql-hostile ] && flags="--insecure"
  if "$atoll" chaos --workload "$WORKLOAD" $flags --duration-secs "$SECS" --seed "$seed" >"$log" 2>&1; then status=ok; else status=FAIL; failures=$((failures + 1)); fi
  ops=$(sed -n 's/^\(operations\|transfers\): //p' "$log")
  faults=$(sed -n 's/^faults injected: //p' "$log")
  verdict=$(sed -n 's/^verdict: //p' "$log" | head -1)
  echo "$WORKLOAD seed=$seed secs=$SECS $status faults=$faults ops=[$ops] verdict=[$verdict]"
done
if [ "$KILL_CYCLES" -eq 0 ]; then
  echo "total: $((RUNS - failures)) passed, $failures failed"
  [ "$failures" -eq 0 ]
  exit
fi
seed=$((FIRST_SEED + RUNS))
log=$OUT/durability-$seed.log
if "$atoll" chaos --workload durability --kill-cycles "$KILL_CYCLES" --seed "$seed" >"$log" 2>&1; then status=ok; else status=FAIL; failures=$((failures + 1)); fi
echo "durability seed=$seed cycles=$KILL_CYCLES $status $(grep -E '^(acknowledged|replicas converged|verdict)' "$log" | tr '\n' ' ')"
echo "total: $((RUNS + 1 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
