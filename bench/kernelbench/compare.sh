#!/usr/bin/env bash
# The same candidates judged by KernelBench's own evaluation and by kfoundry, on a GPU host:
#   bench/kernelbench/compare.sh KERNELBENCH_CHECKOUT [BUILD_DIR]
# Candidates: bench/kernelbench/candidates/level1/NNN_name.py (hand-written; one is wrong on
# purpose). Both sides start cold: kfoundry with an empty cache directory, KernelBench with fresh
# build directories. Prints both wall times and every problem's two verdicts; exits 1 when a
# verdict differs (kfoundry's wrong_value, wrong_shape, runtime_error and timeout are
# KernelBench's "incorrect"). Logs and CSVs under ${OUT:-/tmp}/kernelbench_compare.
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
"$build/kfoundry" eval-suite "$logs/suite" "$candidates" --csv "$logs/kfoundry.csv" > "$logs/kfoundry.txt" || true
kf_s=$SECONDS

SECONDS=0
python3 "$root/bench/kernelbench/kernelbench_eval.py" "$kb" "$candidates" "$logs/kernelbench.csv" > "$logs/kernelbench.txt" 2>&1
kb_s=$SECONDS

echo "kfoundry eval-suite (cold cache): ${kf_s} s"
echo "KernelBench eval_kernel_against_ref + baselines: ${kb_s} s"
python3 - "$logs/kfoundry.csv" "$logs/kernelbench.csv" <<'PY'
import csv, sys
kf = {r["task"]: r for r in csv.DictReader(open(sys.argv[1]))}
kb = {r["task"]: r for r in csv.DictReader(open(sys.argv[2]))}
same = {"passed": "passed", "compile_error": "compile_error", "wrong_value": "incorrect",
        "wrong_shape": "incorrect", "runtime_error": "incorrect", "timeout": "incorrect"}
differ = 0
print("%-48s %-15s %-14s %9s %9s" % ("task", "kfoundry", "KernelBench", "kf x", "KB x"))
for task in sorted(set(kf) | set(kb)):
    a, b = kf.get(task, {}), kb.get(task, {})
    verdict_a, verdict_b = a.get("status", "-"), b.get("verdict", "-")
    ok = same.get(verdict_a) == verdict_b
    differ += not ok
    print("%-48s %-15s %-14s %9s %9s%s" % (task, verdict_a, verdict_b, (a.get("speedup") or "-")[:6],
                                           str(b.get("speedup") or "-")[:6], "" if ok else "  <- differs"))
print("verdicts differ on %d of %d problems" % (differ, len(set(kf) | set(kb))))
sys.exit(1 if differ else 0)
PY
