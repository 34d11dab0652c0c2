import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cuda_source = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

__global__ void scale_kernel(const float4* __restrict__ a, float4* __restrict__ c, float s, int64_t n4) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n4; i += (int64_t)gridDim.x * blockDim.x) {
    float4 v = a[i];
    v.x *= s;
    v.y *= s;
    v.z *= s;
    v.w *= s;
    c[i] = v;
  }
}

torch::Tensor scale(torch::Tensor a, double s) {
  TORCH_CHECK(a.is_cuda() && a.is_contiguous() && a.scalar_type() == torch::kFloat && a.numel() % 4 == 0);
  auto c = torch::empty_like(a);
  const int64_t n4 = a.numel() / 4;
  const int threads = 256;
  const int blocks = (int)std::min<int64_t>((n4 + threads - 1) / threads, 132 * 16);
  scale_kernel<<<blocks, threads, 0, at::cuda::getCurrentCUDAStream()>>>(
      reinterpret_cast<const float4*>(a.data_ptr<float>()), reinterpret_cast<float4*>(c.data_ptr<float>()),
      (float)s, n4);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return c;
}
"""

ext = load_inline(name="kb5_scale", cpp_sources=["torch::Tensor scale(torch::Tensor a, double s);"],
                  cuda_sources=[cuda_source], functions=["scale"], extra_cuda_cflags=["-O3"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, A, s):
        return ext.scale(A.contiguous(), float(s))
