# expect: memory_opt=1 compute_opt=2 parallelism_opt=2
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

header = "#include <torch/extension.h>\n#include <cmath>\n"

kernel = """
// One warp per row; every lane keeps (max, sum) online, the warp merges them with shuffles.
__global__ void softmax_kernel(const float* __restrict__ x, float* __restrict__ y, int rows, int cols) {
  int row = blockIdx.x * 8 + threadIdx.y;
  int lane = threadIdx.x;
  if (row >= rows) return;
  const float* in = x + (size_t)row * cols;
  float running_max = -INFINITY, running_sum = 0.f;
  for (int c = lane; c < cols; c += 32) {
    float previous = running_max;
    running_max = fmaxf(running_max, in[c]);
    running_sum = running_sum * expf(previous - running_max) + expf(in[c] - running_max);
  }
  for (int o = 16; o > 0; o /= 2) {
    float other_max = __shfl_xor_sync(0xffffffff, running_max, o);
    float other_sum = __shfl_xor_sync(0xffffffff, running_sum, o);
    float merged = fmaxf(running_max, other_max);
    running_sum = running_sum * expf(running_max - merged) + other_sum * expf(other_max - merged);
    running_max = merged;
  }
  for (int c = lane; c < cols; c += 32) y[(size_t)row * cols + c] = expf(in[c] - running_max) / running_sum;
}
"""

wrapper = """
torch::Tensor softmax(torch::Tensor x) {
  auto y = torch::empty_like(x);
  int rows = x.size(0), cols = x.size(1);
  softmax_kernel<<<(rows + 7) / 8, dim3(32, 8)>>>(x.data_ptr<float>(), y.data_ptr<float>(), rows, cols);
  return y;
}
"""

ext = load_inline(name="corpus_softmax", cpp_sources="torch::Tensor softmax(torch::Tensor x);",
                  cuda_sources=header + kernel + wrapper, functions=["softmax"])


class ModelNew(nn.Module):
    def forward(self, x):
        return ext.softmax(x.contiguous())
