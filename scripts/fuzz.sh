#!/usr/bin/env bash
# Coverage-guided fuzzing of Atoll's input paths with cargo fuzz (libFuzzer), on the pinned
# stable toolchain (cargo fuzz passes nightly -Z flags: RUSTC_BOOTSTRAP=1 allows them, since the
# machines have one toolchain). Installs cargo-fuzz from crates.io when it is missing.
#
# usage: scripts/fuzz.sh [SECONDS per target, default 60] [TARGET...]   (targets: kv_apply, sql_input, pgwire_decode, peer_input, etcd_request)
# A crash leaves its input in fuzz/artifacts/<target>/ and makes the script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(kv_apply sql_input pgwire_decode peer_input etcd_request)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz@0.13.2
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${ATOLL_FUZZ_TARGET_DIR:-$HOME/.cache/atoll/fuzz-target}"
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  # Sanitizers off: the targets are safe Rust, and libFuzzer's coverage is what finds paths.
  cargo fuzz run --sanitizer none "$target" "corpus/$target" -- -max_total_time="$secs" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1
done
