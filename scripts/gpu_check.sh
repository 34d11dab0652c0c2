#!/usr/bin/env bash
# On a GPU machine with a built tree: the gpu-labelled tests, then `kfoundry eval` of every
# examples/cuda seed. Logs go under ${OUT:-/tmp}/gpu_check/; the exit status is 1 when anything
# failed. Usage: scripts/gpu_check.sh [BUILD_DIR]   (default: build)
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
logs="${OUT:-/tmp}/gpu_check"
mkdir -p "$logs"
status=0

nvidia-smi > "$logs/nvidia-smi.txt" 2>&1 || echo "warning: nvidia-smi failed (see $logs/nvidia-smi.txt)"
"$build/kfoundry" devices > "$logs/devices.txt" 2>&1

if ctest --test-dir "$build" -L gpu --output-on-failure > "$logs/ctest-gpu.log" 2>&1; then
  echo "ctest -L gpu: passed ($(grep -c 'Passed' "$logs/ctest-gpu.log") tests)"
else
  echo "ctest -L gpu: FAILED (see $logs/ctest-gpu.log)"
  status=1
fi

for task in "$root"/examples/cuda/*/; do
  name="$(basename "$task")"
  for seed in "$task"seed*.cu; do
    log="$logs/eval-$name-$(basename "$seed" .cu).json"
    "$build/kfoundry" eval "$task" "$seed" --json > "$log" 2> "$log.stderr"
    rc=$?
    echo "kfoundry eval examples/cuda/$name $(basename "$seed"): exit $rc ($log)"
    [ "$rc" -eq 0 ] || status=1
  done
done
exit "$status"
