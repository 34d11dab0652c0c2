import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

# y = A x for A [M, K] (K = 1M): one block per row streams the row with float4 loads, each
# thread keeps a float partial sum, then a warp-shuffle and shared-memory reduction.
cuda_source = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

__global__ void gemv_kernel(const float4* __restrict__ a, const float4* __restrict__ x, float* __restrict__ y,
                            int64_t k4) {
  const float4* row = a + blockIdx.x * k4;
  float acc = 0.f;
  for (int64_t i = threadIdx.x; i < k4; i += blockDim.x) {
    const float4 u = row[i];
    const float4 v = x[i];
    acc += u.x * v.x + u.y * v.y + u.z * v.z + u.w * v.w;
  }
  for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
  __shared__ float warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = acc;
  __syncthreads();
  if (warp == 0) {
    acc = lane < (int)(blockDim.x >> 5) ? warp_sums[lane] : 0.f;
    for (int off = 16; off > 0; off >>= 1) acc += __shfl_down_sync(0xffffffffu, acc, off);
    if (lane == 0) y[blockIdx.x] = acc;
  }
}

torch::Tensor gemv(torch::Tensor a, torch::Tensor x) {
  TORCH_CHECK(a.is_cuda() && a.is_contiguous() && x.is_contiguous() && a.scalar_type() == torch::kFloat);
  const int64_t m = a.size(0), k = a.size(1);
  TORCH_CHECK(k % 4 == 0 && x.numel() == k);
  auto y = torch::empty({m, 1}, a.options());
  gemv_kernel<<<(unsigned)m, 512, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const float4*>(a.data_ptr<float>()), reinterpret_cast<const float4*>(x.data_ptr<float>()),
      y.data_ptr<float>(), k / 4);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return y;
}
"""

ext = load_inline(name="kb4_gemv", cpp_sources=["torch::Tensor gemv(torch::Tensor a, torch::Tensor x);"],
                  cuda_sources=[cuda_source], functions=["gemv"], extra_cuda_cflags=["-O3"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, A, B):
        return ext.gemv(A.contiguous(), B.contiguous())
