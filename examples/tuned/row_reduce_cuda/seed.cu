// Tunable row sum, y[r] = sum over c of x[r, c]: TPR threads cooperate on each row.
//
// Parameters (the tuner turns each `// @param` line into a #define):
//   BLOCK   threads per block; a block reduces BLOCK / TPR rows.
//   TPR     threads per row: a row's threads read consecutive vectors (coalesced) and combine
//           their partial sums with warp shuffles (and shared memory when TPR > 32).
//   VEC     floats per load: 1 (float), 2 (float2) or 4 (float4, 16-byte loads). A row starts
//           wherever r * cols puts it, so its first few floats up to a VEC-aligned address
//           and its last few are read as scalars.
//   UNROLL  independent vector loads each thread issues before adding any of them: the bytes
//           in flight per thread, which a memory-bound kernel needs to cover DRAM latency.
//   LOAD    the load instruction: 0 plain, 1 __ldg (read-only path), 2 __ldcs (streaming,
//           evict-first: x is read once).
// @param BLOCK: 256, 128, 512, 1024
// @param TPR: 32, 4, 64, 256, 1024
// @param VEC: 1, 4
// @param UNROLL: 1, 2, 4, 8
// @param LOAD: 0, 2
// @threads BLOCK
// @shared_bytes BLOCK / 32 * 4
// A block holds whole rows.
// @constraint TPR <= BLOCK
// The loads in flight per thread stay within registers: at most 16 floats.
// @constraint VEC * UNROLL <= 16
#include <cstdint>

namespace {

template <int V>
struct VecOf;
template <>
struct VecOf<1> {
  using type = float;
};
template <>
struct VecOf<2> {
  using type = float2;
};
template <>
struct VecOf<4> {
  using type = float4;
};
using Vec = VecOf<VEC>::type;

__device__ __forceinline__ float Lanes(Vec v) {
#if VEC == 1
  return v;
#elif VEC == 2
  return v.x + v.y;
#else
  return (v.x + v.y) + (v.z + v.w);
#endif
}

template <typename T>
__device__ __forceinline__ T LoadFrom(const T* p) {
#if LOAD == 1
  return __ldg(p);
#elif LOAD == 2
  return __ldcs(p);
#else
  return *p;
#endif
}

constexpr int kRowsPerBlock = BLOCK / TPR;

static_assert(BLOCK % 32 == 0 && BLOCK % TPR == 0, "a block holds whole warps and whole rows");
static_assert(TPR >= VEC, "a row's threads cover its unaligned head and tail (fewer than VEC floats each)");

__global__ void __launch_bounds__(BLOCK)
    row_reduce_kernel(const float* __restrict__ x, float* __restrict__ y, int32_t rows, int32_t cols) {
  const int lane = threadIdx.x % TPR;   // this thread's index within its row's group
  const int group = threadIdx.x / TPR;  // the row's index within the block
  const int32_t r = blockIdx.x * kRowsPerBlock + group;
  float sum = 0.0f;
  if (r < rows) {
    const float* row = x + static_cast<int64_t>(r) * cols;
    // Floats before the first VEC-aligned address (0 when VEC is 1), then whole vectors,
    // then the fewer than VEC floats left over.
    int32_t head = static_cast<int32_t>((VEC - (reinterpret_cast<uintptr_t>(row) / sizeof(float)) % VEC) % VEC);
    if (head > cols) head = cols;
    const int32_t nvec = (cols - head) / VEC;
    const int32_t tail = head + nvec * VEC;
    if (lane < head) sum += LoadFrom(row + lane);
    if (lane < cols - tail) sum += LoadFrom(row + tail + lane);
    const Vec* v = reinterpret_cast<const Vec*>(row + head);
    float part[UNROLL];
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) part[u] = 0.0f;
    int32_t i = lane;
    for (; i + (UNROLL - 1) * TPR < nvec; i += UNROLL * TPR) {
      Vec t[UNROLL];
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) t[u] = LoadFrom(v + i + u * TPR);
#pragma unroll
      for (int u = 0; u < UNROLL; ++u) part[u] += Lanes(t[u]);
    }
    for (; i < nvec; i += TPR) part[0] += Lanes(LoadFrom(v + i));
#pragma unroll
    for (int u = 0; u < UNROLL; ++u) sum += part[u];
  }
  // Every thread of the block gets here (no early exit), so full-warp shuffles and the
  // barrier are safe. XOR offsets below TPR stay within a row's aligned group of lanes.
#pragma unroll
  for (int offset = (TPR < 32 ? TPR : 32) / 2; offset > 0; offset /= 2) {
    sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  }
#if TPR <= 32
  if (lane == 0 && r < rows) y[r] = sum;
#else
  constexpr int kWarpsPerRow = TPR / 32;
  __shared__ float warp_sums[BLOCK / 32];
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  if (lane == 0 && r < rows) {
    float s = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarpsPerRow; ++w) s += warp_sums[group * kWarpsPerRow + w];
    y[r] = s;
  }
#endif
}

}  // namespace

void row_reduce(const float* x, float* y, int32_t rows, int32_t cols) {
  if (rows <= 0) return;
  row_reduce_kernel<<<(rows + kRowsPerBlock - 1) / kRowsPerBlock, BLOCK>>>(x, y, rows, cols);
}
