import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

# mean((p - t)^2) over 2^30 elements: float partial sums per thread, a block reduction, then one
# double atomic per block so the total keeps its precision; a last kernel writes the mean.
cuda_source = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

__device__ float block_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  __shared__ float warp_sums[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = 0.f;
  if (warp == 0) {
    v = lane < (int)(blockDim.x >> 5) ? warp_sums[lane] : 0.f;
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  }
  return v;
}

__global__ void mse_kernel(const float4* __restrict__ p, const float4* __restrict__ t, double* __restrict__ total,
                           int64_t n4) {
  float acc = 0.f;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
    const float4 a = p[i], b = t[i];
    const float dx = a.x - b.x, dy = a.y - b.y, dz = a.z - b.z, dw = a.w - b.w;
    acc += dx * dx + dy * dy + dz * dz + dw * dw;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) atomicAdd(total, (double)acc);
}

__global__ void mean_kernel(const double* __restrict__ total, float* __restrict__ out, double n) {
  *out = (float)(*total / n);
}

torch::Tensor mse(torch::Tensor p, torch::Tensor t) {
  TORCH_CHECK(p.is_cuda() && p.is_contiguous() && t.is_contiguous() && p.sizes() == t.sizes());
  TORCH_CHECK(p.scalar_type() == torch::kFloat && p.numel() % 4 == 0);
  auto total = torch::zeros({1}, p.options().dtype(torch::kFloat64));
  auto out = torch::empty(std::vector<int64_t>{}, p.options());  // a 0-dim tensor, as torch.mean returns
  auto stream = at::cuda::getCurrentCUDAStream();
  const int64_t n4 = p.numel() / 4;
  mse_kernel<<<132 * 8, 256, 0, stream>>>(reinterpret_cast<const float4*>(p.data_ptr<float>()),
                                          reinterpret_cast<const float4*>(t.data_ptr<float>()),
                                          total.data_ptr<double>(), n4);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  mean_kernel<<<1, 1, 0, stream>>>(total.data_ptr<double>(), out.data_ptr<float>(), (double)p.numel());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}
"""

ext = load_inline(name="kb94_mse", cpp_sources=["torch::Tensor mse(torch::Tensor p, torch::Tensor t);"],
                  cuda_sources=[cuda_source], functions=["mse"], extra_cuda_cflags=["-O3"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, predictions, targets):
        return ext.mse(predictions.contiguous(), targets.contiguous())
