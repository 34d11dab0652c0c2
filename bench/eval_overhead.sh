#!/usr/bin/env bash
# Framework overhead of one evaluation with a warm cache: what `kfoundry eval` spends beyond
# compiling and running the kernel itself.
#
#   bench/eval_overhead.sh [KFOUNDRY] [TASK_DIR] [KERNEL] [RUNS]
#     KFOUNDRY  default build/kfoundry (this script builds nothing)
#     TASK_DIR  default examples/gelu;  KERNEL default TASK_DIR/seed.cpp;  RUNS default 10
#
# Runs once against an empty cache (cold: compiles candidate and reference, runs the
# reference), then RUNS times warm. Per run: overhead = total_ms - compile_ms - kernel_ms.
# Cache flushing before timed trials is reported on its own line (it is part of a trustworthy
# measurement, priced by the size of the kernel's buffers). Target: median overhead under 50 ms
# for a small kernel.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
kfoundry=${1:-$root/build/kfoundry}
task=${2:-$root/examples/gelu}
kernel=${3:-$task/seed.cpp}
runs=${4:-10}

if [[ ! -x $kfoundry ]]; then
  echo "eval_overhead: $kfoundry is not an executable; build the kfoundry target or pass its path" >&2
  exit 2
fi
for f in "$task/task.yaml" "$kernel"; do
  [[ -f $f ]] || { echo "eval_overhead: $f does not exist" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "eval_overhead: python3 is needed to summarize" >&2; exit 2; }

cache=$(mktemp -d "${TMPDIR:-/tmp}/kf-bench-cache.XXXXXX")
out=$(mktemp -d "${TMPDIR:-/tmp}/kf-bench-out.XXXXXX")
trap 'rm -rf "$cache" "$out"' EXIT
export KF_CACHE_DIR=$cache KF_LOG=warn

evaluate() {  # evaluate NAME: one `kfoundry eval --json` into $out/NAME.json, wall ms into NAME.wall
  local start end rc=0
  start=$(date +%s%N)
  "$kfoundry" eval "$task" "$kernel" --json >"$out/$1.json" 2>"$out/$1.err" || rc=$?
  end=$(date +%s%N)
  echo $(( (end - start) / 1000000 )) >"$out/$1.wall"
  if ! grep -q '"status": *"passed"' "$out/$1.json"; then
    echo "eval_overhead: run $1 did not pass (exit $rc); the benchmark needs a correct kernel:" >&2
    cat "$out/$1.json" "$out/$1.err" >&2
    exit 1
  fi
}

evaluate cold
for i in $(seq 1 "$runs"); do evaluate "warm$i"; done

python3 - "$out" "$runs" "$task" "$kernel" <<'PY'
import json, statistics, sys
out, runs, task, kernel = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def load(name):
    with open(f"{out}/{name}.json") as f:
        r = json.load(f)
    with open(f"{out}/{name}.wall") as f:
        r["wall_ms"] = float(f.read())
    return r
cold = load("cold")
warm = [load(f"warm{i}") for i in range(1, runs + 1)]
def phase(r, k): return r["phases"][k]
over = [phase(r, "total_ms") - phase(r, "compile_ms") - phase(r, "kernel_ms") - phase(r, "flush_ms") for r in warm]
print(f"task {task}, kernel {kernel}, {runs} warm runs")
print(f"cold compile_ms           {phase(cold, 'compile_ms'):9.1f}  (cached={phase(cold, 'compile_cached')})")
print(f"warm compile_ms  median   {statistics.median(phase(r, 'compile_ms') for r in warm):9.2f}  "
      f"(cached in {sum(phase(r, 'compile_cached') for r in warm)}/{runs} runs)")
print(f"kernel_ms        median   {statistics.median(phase(r, 'kernel_ms') for r in warm):9.2f}")
print(f"flush_ms         median   {statistics.median(phase(r, 'flush_ms') for r in warm):9.2f}")
print(f"total_ms         median   {statistics.median(phase(r, 'total_ms') for r in warm):9.2f}")
print(f"overhead_ms      median   {statistics.median(over):9.2f}   max {max(over):.2f}   "
      f"(total - compile - kernel - flush)")
print(f"process wall_ms  median   {statistics.median(r['wall_ms'] for r in warm):9.1f}   "
      f"(whole `kfoundry eval`: start-up, task load, toolchain probe)")
if not all(phase(r, "compile_cached") for r in warm):
    print("FAIL: a warm run compiled"); sys.exit(1)
print("target overhead < 50 ms:", "met" if statistics.median(over) < 50 else "NOT met")
PY
