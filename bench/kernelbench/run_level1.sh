#!/usr/bin/env bash
# The real KernelBench level-1 problems that have a hand-written CUDA candidate in
# bench/kernelbench/candidates/level1 (one of them wrong on purpose), on a GPU host:
#   bench/kernelbench/run_level1.sh KERNELBENCH_CHECKOUT [BUILD_DIR]
# Imports the problems from the user's KernelBench checkout (never shipped with kfoundry), then
# runs `kfoundry eval-suite` twice (cold and warm cache), printing the table, the wall times and
# each harness child's wall time in the cold pass.
# Logs under ${OUT:-/tmp}/kernelbench_level1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
kb="${1:?usage: $0 KERNELBENCH_CHECKOUT [BUILD_DIR]}"
build="${2:-$root/build}"
logs="${OUT:-/tmp}/kernelbench_level1"
mkdir -p "$logs"
suite="$logs/suite"
problems=$(ls "$root/bench/kernelbench/candidates/level1" | sed -n 's/^0*\([0-9][0-9]*\)_.*\.py$/\1/p' | paste -sd, -)
"$build/kfoundry" import-kernelbench "$kb" "$suite" --level 1 --problems "$problems"
for pass in cold warm; do
  start=$(date +%s)
  # KF_LOG=debug: the log has every harness child's wall time (probe, baseline, build, run, check).
  KF_LOG=debug "$build/kfoundry" eval-suite "$suite" "$root/bench/kernelbench/candidates" --csv "$logs/$pass.csv" \
    > "$logs/$pass.txt" 2> "$logs/$pass.log"
  echo "eval-suite ($pass cache): $(( $(date +%s) - start )) s"
done
cat "$logs/warm.txt"
grep ' child ' "$logs/cold.log"
