#!/usr/bin/env bash
# The same candidates judged by KernelBench's own evaluation and by kfoundry, on a GPU host:
#   bench/kernelbench/compare.sh KERNELBENCH_CHECKOUT [BUILD_DIR]
# Candidates: bench/kernelbench/candidates/level1/NNN_name.py (hand-written; one is wrong on
# purpose). Both sides start cold: kfoundry with an empty cache directory, KernelBench with fresh
# build directories. Prints both wall times and every problem's two verdicts; exits 1 when a
# verdict differs (kfoundry's wrong_value, wrong_shape, runtime_error and timeout are
# KernelBench's "incorrect"). Logs and CSVs under ${OUT:-/tmp}/kernelbench_compare; kfoundry's
# debug log (every harness child's wall time) is kfoundry.log there.
#
# KernelBench's side takes about 20 minutes on an H200 (it builds every candidate in turn and
# makes multi-GB inputs on the CPU). To split it over several sessions, run
#   python3 bench/kernelbench/kernelbench_eval.py KB CANDIDATES OUT.csv 1,4,5,...
# on disjoint subsets (each cold: fresh TORCHINDUCTOR_CACHE_DIR, TRITON_CACHE_DIR and
# TORCH_EXTENSIONS_DIR) and pass the CSVs as KERNELBENCH_CSV=a.csv,b.csv: KernelBench's wall time
# is then the sum of its per-candidate seconds (its one-time torch import not counted).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
kb="${1:?usage: $0 KERNELBENCH_CHECKOUT [BUILD_DIR]}"
build="${2:-$root/build}"
logs="${OUT:-/tmp}/kernelbench_compare"
candidates="$root/bench/kernelbench/candidates"
mkdir -p "$logs"
problems=$(ls "$candidates/level1" | sed -n 's/^0*\([0-9][0-9]*\)_.*\.py$/\1/p' | paste -sd, -)
"$build/kfoundry" import-kernelbench "$kb" "$logs/suite" --level 1 --problems "$problems" > /dev/null

export KF_CACHE_DIR="$logs/kfoundry-cache"
rm -rf "$KF_CACHE_DIR"
SECONDS=0
KF_LOG=debug "$build/kfoundry" eval-suite "$logs/suite" "$candidates" --csv "$logs/kfoundry.csv" \
  > "$logs/kfoundry.txt" 2> "$logs/kfoundry.log" || true
kf_s=$SECONDS
echo "kfoundry eval-suite (cold cache): ${kf_s} s"

kb_csv="${KERNELBENCH_CSV:-}"
if [ -z "$kb_csv" ]; then
  cold="$(mktemp -d)"
  SECONDS=0
  TORCHINDUCTOR_CACHE_DIR="$cold/inductor" TRITON_CACHE_DIR="$cold/triton" TORCH_EXTENSIONS_DIR="$cold/ext" \
    python3 "$root/bench/kernelbench/kernelbench_eval.py" "$kb" "$candidates" "$logs/kernelbench.csv" \
    > "$logs/kernelbench.txt" 2>&1
  echo "KernelBench eval_kernel_against_ref + baselines: ${SECONDS} s"
  kb_csv="$logs/kernelbench.csv"
fi
python3 - "$logs/kfoundry.csv" "$kb_csv" "$kf_s" <<'PY'
import csv, sys
kf = {r["task"]: r for r in csv.DictReader(open(sys.argv[1]))}
kb = {}
for path in sys.argv[2].split(","):
    kb.update({r["task"]: r for r in csv.DictReader(open(path))})
kb_s = sum(float(r["seconds"]) for r in kb.values())
print("KernelBench, sum of its per-candidate seconds: %.0f s; kfoundry: %s s; ratio %.1fx"
      % (kb_s, sys.argv[3], kb_s / max(float(sys.argv[3]), 1)))
same = {"passed": "passed", "compile_error": "compile_error", "wrong_value": "incorrect",
        "wrong_shape": "incorrect", "runtime_error": "incorrect", "timeout": "incorrect"}
differ = missing = 0
print("%-48s %-15s %-14s %9s %9s" % ("task", "kfoundry", "KernelBench", "kf x", "KB x"))
for task in sorted(set(kf) | set(kb)):
    a, b = kf.get(task, {}), kb.get(task, {})
    verdict_a, verdict_b = a.get("status", "-"), b.get("verdict", "(not run)")
    ok = same.get(verdict_a) == verdict_b or not b  # a KernelBench CSV may cover a subset
    missing += not b
    differ += not ok
    print("%-48s %-15s %-14s %9s %9s%s" % (task, verdict_a, verdict_b, (a.get("speedup") or "-")[:6],
                                           str(b.get("speedup") or "-")[:6], "" if ok else "  <- differs"))
print("verdicts differ on %d of %d problems (%d not run by KernelBench)" % (differ, len(set(kf) | set(kb)), missing))
sys.exit(1 if differ else 0)
PY
