#!/usr/bin/env bash
# Searchers against the exhaustive optimum on real parameter spaces, and the tuned kernels'
# achieved bandwidth beside their untuned seeds. Rerunnable:
#
#   bench/tune_searchers.sh [BUILD_DIR] [OUT_DIR] [TASK_DIR...]
#
# Default tasks: the cpu examples under examples/tuned; on a GPU host pass the cuda ones too.
# Per task: (1) `kfoundry tune --searcher exhaustive` times every allowed configuration once
# (they land in the tuning cache, so a rerun times nothing new); (2) kf_bench_tune replays the
# default searcher, the model and random search over those measurements, 10 seeds at 20% of the
# space; (3) `kfoundry eval` on the best configuration and on the seed as written (its default
# configuration): median, achieved GB/s and fraction of the device's measured copy bandwidth.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
OUT="${2:-$(mktemp -d)}"
shift $(( $# > 2 ? 2 : $# ))
TASKS=("$@")
if [ ${#TASKS[@]} -eq 0 ]; then TASKS=("$ROOT/examples/tuned/matmul_cpu" "$ROOT/examples/tuned/row_reduce_cpu"); fi
mkdir -p "$OUT"
summary() {  # the verdict's per-shape figures from `kfoundry eval --json`
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print("    %s: %s" % (sys.argv[2], r["status"]))
for t in r.get("timings", []):
    print("      %-28s median %.4g ms  %.4g GB/s  %.1f%% of copy bandwidth  speedup %.2fx" % (
        t["shape_label"], t["median_ms"], t.get("achieved_gbps", 0), 100 * t.get("bandwidth_fraction", 0), t["speedup"]))
' "$1" "$2"
}
for task in "${TASKS[@]}"; do
  name="$(basename "$task")"
  seed="$(ls "$task"/seed.* | head -1)"
  ext="${seed##*.}"
  echo "== $name ($seed)"
  start=$(date +%s)
  # TUNE_TIME (seconds) bounds the exhaustive tune on a slow host; the record then covers part
  # of the space and kf_bench_tune says how much.
  "$BUILD/kfoundry" tune "$task" "$seed" --searcher exhaustive ${TUNE_TIME:+--time "$TUNE_TIME"} --json "$OUT/$name.json" \
      --header "$OUT/${name}_tuned.h" --best "$OUT/${name}_best.$ext" | tee "$OUT/$name.tune.txt"
  echo "   exhaustive tune: $(( $(date +%s) - start )) s"
  "$BUILD/bench/kf_bench_tune" "$task" "$seed" "$OUT/$name.json" --fraction 0.2 --seeds 10 | tee "$OUT/$name.searchers.txt"
  "$BUILD/kfoundry" eval "$task" "$OUT/${name}_best.$ext" --json > "$OUT/${name}_best.eval.json" || true
  "$BUILD/kfoundry" eval "$task" "$seed" --json > "$OUT/${name}_seed.eval.json" || true
  summary "$OUT/${name}_best.eval.json" "tuned (best over the shapes)"
  summary "$OUT/${name}_seed.eval.json" "untuned seed (default configuration)"
done
echo "outputs in $OUT"
