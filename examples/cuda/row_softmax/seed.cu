#include <cstdint>

// One block per row: three passes (max, sum, normalize) with shared-memory tree reductions.
__global__ void row_softmax_kernel(const float* x, float* y, int32_t cols) {
  __shared__ float partial[256];
  const float* in = x + static_cast<int64_t>(blockIdx.x) * cols;
  float* out = y + static_cast<int64_t>(blockIdx.x) * cols;
  float m = -INFINITY;
  for (int32_t c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, in[c]);
  partial[threadIdx.x] = m;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) partial[threadIdx.x] = fmaxf(partial[threadIdx.x], partial[threadIdx.x + s]);
    __syncthreads();
  }
  m = partial[0];
  __syncthreads();
  float sum = 0.0f;
  for (int32_t c = threadIdx.x; c < cols; c += blockDim.x) sum += expf(in[c] - m);
  partial[threadIdx.x] = sum;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  const float inv = 1.0f / partial[0];
  for (int32_t c = threadIdx.x; c < cols; c += blockDim.x) out[c] = expf(in[c] - m) * inv;
}

void row_softmax(const float* x, float* y, int32_t rows, int32_t cols) {
  row_softmax_kernel<<<rows, 256>>>(x, y, cols);
}
