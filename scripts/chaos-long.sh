#!/usr/bin/env bash
# The long chaos run (not part of CI): RUNS register runs of SECS seconds each with mixed faults
# (kill -9, pause, isolate a node, isolate the leader), seeds FIRST_SEED.., then the durability
# loop with KILL_CYCLES kill -9 cycles. Prints one line per run and a summary; exits non-zero if
# any run found a violation. Logs of every run go to OUT (default /tmp/atoll-chaos-long).
#   RUNS=20 SECS=300 KILL_CYCLES=100 ./scripts/chaos-long.sh      # the documented full run
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
SECS=${SECS:-300}
KILL_CYCLES=${KILL_CYCLES:-100}
FIRST_SEED=${FIRST_SEED:-1000}
OUT=${OUT:-/tmp/atoll-chaos-long}
mkdir -p "$OUT"
cargo build --release --locked --quiet || exit 1
atoll=./target/release/atoll
failures=0
for i in $(seq 0 $((RUNS - 1))); do
  seed=$((FIRST_SEED + i))
  log=$OUT/registers-$seed.log
  if "$atoll" chaos --workload registers --duration-secs "$SECS" --seed "$seed" >"$log" 2>&1; then status=ok; else status=FAIL; failures=$((failures + 1)); fi
  ops=$(sed -n 's/^operations: //p' "$log")
  faults=$(sed -n 's/^faults injected: //p' "$log")
  verdict=$(sed -n 's/^verdict: //p' "$log" | head -1)
  echo "registers seed=$seed secs=$SECS $status faults=$faults ops=[$ops] verdict=[$verdict]"
done
seed=$((FIRST_SEED + RUNS))
log=$OUT/durability-$seed.log
if "$atoll" chaos --workload durability --kill-cycles "$KILL_CYCLES" --seed "$seed" >"$log" 2>&1; then status=ok; else status=FAIL; failures=$((failures + 1)); fi
echo "durability seed=$seed cycles=$KILL_CYCLES $status $(grep -E '^(acknowledged|replicas converged|verdict)' "$log" | tr '\n' ' ')"
echo "total: $((RUNS + 1 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
