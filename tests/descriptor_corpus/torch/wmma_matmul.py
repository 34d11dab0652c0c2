# expect: memory_opt=3 compute_opt=3 parallelism_opt=3
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cuda_src = '''
#include <torch/extension.h>
#include <mma.h>
#include <cuda_fp16.h>
using namespace nvcuda;

// 64x64 block tile, 8 warps in a 4x2 grid, each warp owning a 16x32 slice (two wmma tiles).
__global__ void hgemm_kernel(const half* a, const half* b, float* c, int m, int n, int k) {
  const int warp_id = threadIdx.x / warpSize;
  const int warp_m = warp_id / 2, warp_n = warp_id % 2;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::row_major> fb[2];
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2];
  for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[j], 0.0f);
  const int row = blockIdx.y * 64 + warp_m * 16;
  const int col = blockIdx.x * 64 + warp_n * 32;
  for (int kk = 0; kk < k; kk += 16) {
    wmma::load_matrix_sync(fa, a + row * k + kk, k);
    for (int j = 0; j < 2; ++j) {
      wmma::load_matrix_sync(fb[j], b + kk * n + col + 16 * j, n);
      wmma::mma_sync(acc[j], fa, fb[j], acc[j]);
    }
  }
  for (int j = 0; j < 2; ++j) wmma::store_matrix_sync(c + row * n + col + 16 * j, acc[j], n, wmma::mem_row_major);
}

torch::Tensor hgemm(torch::Tensor a, torch::Tensor b) {
  auto c = torch::empty({a.size(0), b.size(1)}, a.options().dtype(torch::kFloat));
  dim3 grid(b.size(1) / 64, a.size(0) / 64);
  hgemm_kernel<<<grid, 256>>>(reinterpret_cast<const half*>(a.data_ptr<at::Half>()),
                              reinterpret_cast<const half*>(b.data_ptr<at::Half>()), c.data_ptr<float>(),
                              a.size(0), b.size(1), a.size(1));
  return c;
}
'''

ext = load_inline("corpus_hgemm", cpp_sources="torch::Tensor hgemm(torch::Tensor a, torch::Tensor b);",
                  cuda_sources=cuda_src, functions=["hgemm"], extra_cuda_cflags=["-arch=sm_80"])


class ModelNew(nn.Module):
    def forward(self, a, b):
        return ext.hgemm(a.half().contiguous(), b.half().contiguous())
