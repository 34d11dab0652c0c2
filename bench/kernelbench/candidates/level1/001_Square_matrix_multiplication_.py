import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cuda_source = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

// 64x64 tiles per block of 16x16 threads, 4x4 outputs per thread, k-tiles of 16 in shared memory.
constexpr int TM = 64, TN = 64, TK = 16;
__global__ void sgemm_kernel(const float* __restrict__ A, const float* __restrict__ B, float* __restrict__ C, int n) {
  __shared__ float As[TK][TM + 1];
  __shared__ float Bs[TK][TN];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int row0 = blockIdx.y * TM, col0 = blockIdx.x * TN;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < n; k0 += TK) {
    for (int e = threadIdx.x; e < TM * TK; e += 256) {
      const int r = e / TK, k = e % TK;
      const int gr = row0 + r, gk = k0 + k;
      As[k][r] = (gr < n && gk < n) ? A[(size_t)gr * n + gk] : 0.0f;
    }
    for (int e = threadIdx.x; e < TK * TN; e += 256) {
      const int k = e / TN, c = e % TN;
      const int gk = k0 + k, gc = col0 + c;
      Bs[k][c] = (gk < n && gc < n) ? B[(size_t)gk * n + gc] : 0.0f;
    }
    __syncthreads();
    #pragma unroll
    for (int k = 0; k < TK; ++k) {
      float a[4], b[4];
      #pragma unroll
      for (int i = 0; i < 4; ++i) a[i] = As[k][ty * 4 + i];
      #pragma unroll
      for (int j = 0; j < 4; ++j) b[j] = Bs[k][tx * 4 + j];
      #pragma unroll
      for (int i = 0; i < 4; ++i)
        #pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  #pragma unroll
  for (int i = 0; i < 4; ++i)
    #pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int r = row0 + ty * 4 + i, c = col0 + tx * 4 + j;
      if (r < n && c < n) C[(size_t)r * n + c] = acc[i][j];
    }
}

torch::Tensor square_matmul(torch::Tensor a, torch::Tensor b) {
  TORCH_CHECK(a.is_cuda() && b.is_cuda() && a.dim() == 2 && a.sizes() == b.sizes() && a.size(0) == a.size(1));
  const int n = (int)a.size(0);
  auto c = torch::empty_like(a);
  const dim3 grid((n + TN - 1) / TN, (n + TM - 1) / TM);
  sgemm_kernel<<<grid, 256, 0, at::cuda::getCurrentCUDAStream()>>>(a.data_ptr<float>(), b.data_ptr<float>(),
                                                                   c.data_ptr<float>(), n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return c;
}
"""

ext = load_inline(name="kb1_square_matmul", cpp_sources=["torch::Tensor square_matmul(torch::Tensor a, torch::Tensor b);"],
                  cuda_sources=[cuda_source], functions=["square_matmul"], extra_cuda_cflags=["-O3"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, A, B):
        return ext.square_matmul(A.contiguous(), B.contiguous())
