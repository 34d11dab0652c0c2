import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cuda_source = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

// C[i, j] = A[i] * B[i, j]: one row per block, float4 along the row.
__global__ void diag_scale_kernel(const float* __restrict__ a, const float4* __restrict__ b, float4* __restrict__ c,
                                  int64_t m4) {
  const int64_t row = blockIdx.x;
  const float s = a[row];
  for (int64_t j = threadIdx.x; j < m4; j += blockDim.x) {
    float4 v = b[row * m4 + j];
    v.x *= s; v.y *= s; v.z *= s; v.w *= s;
    c[row * m4 + j] = v;
  }
}

torch::Tensor diag_matmul(torch::Tensor a, torch::Tensor b) {
  TORCH_CHECK(a.is_cuda() && b.is_cuda() && b.dim() == 2 && a.size(0) == b.size(0) && b.size(1) % 4 == 0);
  auto c = torch::empty_like(b);
  const int64_t m4 = b.size(1) / 4;
  diag_scale_kernel<<<(unsigned)b.size(0), 256, 0, at::cuda::getCurrentCUDAStream()>>>(
      a.data_ptr<float>(), reinterpret_cast<const float4*>(b.data_ptr<float>()),
      reinterpret_cast<float4*>(c.data_ptr<float>()), m4);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return c;
}
"""

ext = load_inline(name="kb12_diag_matmul", cpp_sources=["torch::Tensor diag_matmul(torch::Tensor a, torch::Tensor b);"],
                  cuda_sources=[cuda_source], functions=["diag_matmul"], extra_cuda_cflags=["-O3"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, A, B):
        return ext.diag_matmul(A.contiguous(), B.contiguous())
