#!/usr/bin/env bash
# Three real KernelBench level-1 problems (1 square matmul, 12 diagonal matmul, 88 MinGPT GELU)
# with the hand-written CUDA candidates in bench/kernelbench/candidates, on a GPU host:
#   bench/kernelbench/run_level1.sh KERNELBENCH_CHECKOUT [BUILD_DIR]
# Imports the problems from the user's KernelBench checkout (never shipped with kfoundry), then
# runs `kfoundry eval-suite` twice (cold and warm cache), printing the table and the wall times.
# Logs under ${OUT:-/tmp}/kernelbench_level1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
kb="${1:?usage: $0 KERNELBENCH_CHECKOUT [BUILD_DIR]}"
build="${2:-$root/build}"
logs="${OUT:-/tmp}/kernelbench_level1"
mkdir -p "$logs"
suite="$logs/suite"
"$build/kfoundry" import-kernelbench "$kb" "$suite" --level 1 --problems 1,12,88
for pass in cold warm; do
  start=$(date +%s)
  "$build/kfoundry" eval-suite "$suite" "$root/bench/kernelbench/candidates" --csv "$logs/$pass.csv" > "$logs/$pass.txt"
  echo "eval-suite ($pass cache): $(( $(date +%s) - start )) s"
done
cat "$logs/warm.txt"
