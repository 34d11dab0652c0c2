// expect: memory_opt=3 compute_opt=1 parallelism_opt=1
// Matrix-vector product with the vector streamed through two shared-memory stages: while the
// block works on one stage, cp.async fills the other (double buffering).
#include <cstdint>

#define CHUNK 256

__device__ __forceinline__ void cp_async4(float* smem, const float* gmem) {
  const unsigned addr = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(addr), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }

__global__ void matvec_kernel(const float* a, const float* x, float* y, int32_t rows, int32_t cols) {
  __shared__ float xs[2][CHUNK];
  const int32_t row = blockIdx.x * blockDim.x + threadIdx.x;
  const int32_t chunks = cols / CHUNK;
  int stage = 0;
  cp_async4(&xs[stage][threadIdx.x], &x[threadIdx.x]);
  cp_async_commit();
  float acc = 0.0f;
  for (int32_t ch = 0; ch < chunks; ++ch) {
    cp_async_wait_all();
    __syncthreads();
    if (ch + 1 < chunks) {
      cp_async4(&xs[stage ^ 1][threadIdx.x], &x[(ch + 1) * CHUNK + threadIdx.x]);
      cp_async_commit();
    }
    if (row < rows) {
      const float* a_row = a + static_cast<int64_t>(row) * cols + ch * CHUNK;
      for (int j = 0; j < CHUNK; ++j) acc = __fmaf_rn(a_row[j], xs[stage][j], acc);
    }
    stage ^= 1;
    __syncthreads();
  }
  if (row < rows) y[row] = acc;
}

// Assumes cols % 256 == 0.
void matvec(const float* a, const float* x, float* y, int32_t rows, int32_t cols) {
  matvec_kernel<<<(rows + CHUNK - 1) / CHUNK, CHUNK>>>(a, x, y, rows, cols);
}
