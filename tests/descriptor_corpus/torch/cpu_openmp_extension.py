# expect: memory_opt=1 compute_opt=1 parallelism_opt=2
# A C++ (CPU) extension: no CUDA kernel, so the CPU vocabulary applies.
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

cpp_source = r"""
#include <torch/extension.h>
#include <cmath>

torch::Tensor scaled_add(torch::Tensor a, torch::Tensor b, double alpha) {
  auto out = torch::empty_like(a);
  const float* __restrict pa = a.data_ptr<float>();
  const float* __restrict pb = b.data_ptr<float>();
  float* __restrict po = out.data_ptr<float>();
  const int64_t n = a.numel();
  const float s = static_cast<float>(alpha);
  const int64_t chunk = 4096;
  #pragma omp parallel for schedule(static)
  for (int64_t start = 0; start < n; start += chunk) {
    const int64_t end = std::min(start + chunk, n);
    #pragma omp simd
    for (int64_t i = start; i < end; ++i) po[i] = std::fma(s, pa[i], pb[i]);
  }
  return out;
}
"""

ext = load_inline(name="corpus_scaled_add", cpp_sources=[cpp_source], functions=["scaled_add"],
                  extra_cflags=["-O3", "-fopenmp"], extra_ldflags=["-fopenmp"])


class ModelNew(nn.Module):
    def __init__(self, alpha=0.5):
        super().__init__()
        self.alpha = alpha

    def forward(self, a, b):
        return ext.scaled_add(a.contiguous(), b.contiguous(), self.alpha)
