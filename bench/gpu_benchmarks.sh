#!/usr/bin/env bash
# The GPU benchmarks of the GPU-backends issue, on an H100/H200 host with a built tree.
#   bench/gpu_benchmarks.sh [BUILD_DIR]   (default build); logs under ${OUT:-/tmp}/gpu_bench
# 1. Timing fidelity: a memory-bound kernel moving 1 GiB per call and a compute-bound one, each
#    evaluated 10 times; kfoundry's median vs Nsight Compute's gpu__time_duration of one call
#    (profiled at unlocked clocks), and the CV of the medians across the 10 evaluations.
# 2. Throughput: 32 distinct small CUDA kernels evaluated end to end (cold compile cache).
# 3. The memory-bound seed as a fraction of the measured copy bandwidth (printed by 1).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
logs="${OUT:-/tmp}/gpu_bench"
mkdir -p "$logs"
export KF_LOG=warn

for t in cuda_stream_1g cuda_fma_chain; do
  for i in $(seq 1 10); do
    flags=""
    [ "$i" = 1 ] && flags="--profile"
    "$build/kfoundry" eval "$root/bench/tasks/$t" "$root/bench/tasks/$t/seed.cu" --json $flags > "$logs/$t.$i.json"
  done
done
python3 - "$logs" <<'PY'
import json, statistics, sys
logs = sys.argv[1]
print("timing fidelity (10 evaluations each; Nsight Compute on the first)")
for t in ["cuda_stream_1g", "cuda_fma_chain"]:
    runs = [json.load(open(f"{logs}/{t}.{i}.json")) for i in range(1, 11)]
    assert all(r["status"] == "passed" for r in runs), [r["message"] for r in runs]
    medians = [r["timings"][0]["median_ms"] for r in runs]
    med = statistics.median(medians)
    cv = statistics.pstdev(medians) / statistics.mean(medians)
    ncu_ms = sum(k["duration_us"] for k in runs[0]["profile"]) / 1000
    t0 = runs[0]["timings"][0]
    print(f"  {t}: kfoundry median {med:.4f} ms, ncu gpu__time_duration {ncu_ms:.4f} ms, "
          f"difference {100 * (med - ncu_ms) / ncu_ms:+.1f}%, CV of medians over 10 evaluations {100 * cv:.2f}%")
    print(f"    achieved {t0.get('achieved_gbps', 0):.0f} GB/s = {100 * t0.get('bandwidth_fraction', 0):.1f}% of the measured copy "
          f"ceiling; {t0.get('achieved_gflops', 0):.0f} GFLOP/s = {100 * t0.get('compute_fraction', 0):.1f}% of the FMA ceiling")
PY

# Throughput: 32 distinct kernels (block size x unroll), cold compile cache.
kernels="$(mktemp -d)"
for block in 64 128 256 512; do
  for unroll in 1 2 3 4 5 6 7 8; do
    cat > "$kernels/k_${block}_${unroll}.cu" <<CU
#include <cstdint>
__global__ void scale_kernel(const float* x, float* y, int32_t n) {
  const int32_t base = (blockIdx.x * blockDim.x + threadIdx.x) * ${unroll};
#pragma unroll
  for (int32_t u = 0; u < ${unroll}; ++u) {
    const int32_t i = base + u;
    if (i < n) y[i] = 2.5f * x[i];
  }
}
void vec_scale(const float* x, float* y, int32_t n) {
  const int32_t per_block = ${block} * ${unroll};
  scale_kernel<<<(n + per_block - 1) / per_block, ${block}>>>(x, y, n);
}
CU
  done
done
KF_CACHE_DIR="$(mktemp -d)" "$build/bench/kf_bench_throughput" "$root/tests/cases_cuda/_tasks/vec_scale" "$kernels" | tee "$logs/throughput.txt"
