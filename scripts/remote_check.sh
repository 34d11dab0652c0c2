#!/usr/bin/env bash
# End-to-end check of remote evaluation on this machine's hardware: a redis-server on a free
# loopback port, one `kfoundry worker` on it, `kfoundry workers`, then `kfoundry run TASK` through
# the redis executor; then the same run through a spool directory served by a worker. Run it on
# a GPU host with a cuda task to see a GPU worker serve a run. Usage:
#
#   scripts/remote_check.sh [BUILD_DIR] [OUT_DIR] [TASK_DIR] [BUDGET]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
OUT="${2:-$(mktemp -d)}"
TASK="${3:-$ROOT/examples/tuned/matmul_cpu}"
BUDGET="${4:-6}"
K="$BUILD/kfoundry"
mkdir -p "$OUT"
SCRATCH="$(mktemp -d)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="redis://127.0.0.1:$PORT"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$SCRATCH"; }
trap cleanup EXIT

redis-server --port "$PORT" --bind 127.0.0.1 --dir "$SCRATCH" --appendonly yes --save '' --daemonize no \
    --logfile "$OUT/redis.log" &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done

"$K" worker --executor "$URL" --name check-worker > "$OUT/redis_worker.log" 2>&1 &
pids+=($!)
for _ in $(seq 600); do "$K" workers --executor "$URL" 2>/dev/null | grep -q check-worker && break; sleep 0.5; done
echo "== kfoundry workers --executor $URL"
"$K" workers --executor "$URL" | tee "$OUT/workers.txt"

echo "== kfoundry run $(basename "$TASK") --executor redis (budget $BUDGET)"
start=$SECONDS
"$K" run "$TASK" --executor "$URL" --budget "$BUDGET" --run-dir "$SCRATCH/run_redis" 2>&1 | tee "$OUT/run_redis.txt" | tail -15
echo "   $((SECONDS - start)) s"

echo "== kfoundry run $(basename "$TASK") --executor spool:DIR (budget $BUDGET)"
mkdir -p "$SCRATCH/spool"
"$K" worker --spool "$SCRATCH/spool" --name spool-worker > "$OUT/spool_worker.log" 2>&1 &
pids+=($!)
start=$SECONDS
"$K" run "$TASK" --executor "spool:$SCRATCH/spool" --budget "$BUDGET" --run-dir "$SCRATCH/run_spool" 2>&1 | tee "$OUT/run_spool.txt" | tail -15
echo "   $((SECONDS - start)) s"
echo "outputs in $OUT"
