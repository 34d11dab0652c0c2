import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

# One CUDA extension shared by the GPU cases (identical source: one build): y = relu(x W^T + b)
# for the first `rows` rows of x; the other rows of y are left as allocated.
cuda_source = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

__global__ void linear_relu_kernel(const float* x, const float* w, const float* b, float* y,
                                   int64_t rows, int64_t inner, int64_t cols) {
  const int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  const int64_t i = blockIdx.y;
  if (i >= rows || j >= cols) return;
  float acc = b[j];
  for (int64_t k = 0; k < inner; ++k) acc += x[i * inner + k] * w[j * inner + k];
  y[i * cols + j] = acc > 0.0f ? acc : 0.0f;
}

torch::Tensor linear_relu_rows(torch::Tensor x, torch::Tensor w, torch::Tensor b, int64_t rows) {
  TORCH_CHECK(x.is_cuda() && x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1));
  TORCH_CHECK(x.is_contiguous() && w.is_contiguous() && b.is_contiguous());
  auto y = torch::empty({x.size(0), w.size(0)}, x.options());
  const int64_t cols = w.size(0);
  if (rows > 0 && cols > 0) {
    const dim3 block(128);
    const dim3 grid(static_cast<unsigned>((cols + 127) / 128), static_cast<unsigned>(rows));
    linear_relu_kernel<<<grid, block, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<float>(), w.data_ptr<float>(), b.data_ptr<float>(), y.data_ptr<float>(), rows, x.size(1), cols);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return y;
}
"""

cpp_source = "torch::Tensor linear_relu_rows(torch::Tensor x, torch::Tensor w, torch::Tensor b, int64_t rows);"

ext = load_inline(name="kf_test_linear_relu_cuda", cpp_sources=[cpp_source], cuda_sources=[cuda_source],
                  functions=["linear_relu_rows"], extra_cuda_cflags=["-O2"], verbose=False)


class ModelNew(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        # Holds the parameters only, created as Model creates them (same seed, same values).
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        # The right values, on the wrong device.
        return ext.linear_relu_rows(x.contiguous(), self.linear.weight, self.linear.bias, x.shape[0]).cpu()
