#include <cstdint>

__global__ void scale_kernel(const float* x, float* y, int32_t n) {
  const int32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = 2.5f * x[i];
}

// Work on a private non-blocking stream, returned without a sync: the default-stream events
// would not see it.
void vec_scale(const float* x, float* y, int32_t n) {
  static cudaStream_t stream = nullptr;
  if (stream == nullptr) cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  scale_kernel<<<(n + 127) / 128, 128, 0, stream>>>(x, y, n);
}
