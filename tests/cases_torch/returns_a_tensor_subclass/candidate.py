import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

# One extension shared by most of kfoundry's torch test cases (identical source: one build):
# linear_relu computes y = max(v, slope * v) with v = x W^T + b (slope 0: relu),
# linear_relu_out writes into a tensor it is given, linear_relu_backward gives the gradients
# of x, W and b for relu, and linear_relu_aten computes with PyTorch's own operators inside the
# extension (the runtime op audit must see through it).
cpp_source = r"""
#include <torch/extension.h>

torch::Tensor linear_relu_out(torch::Tensor x, torch::Tensor w, torch::Tensor b, double slope,
                              torch::Tensor y) {
  TORCH_CHECK(x.dim() == 2 && w.dim() == 2 && b.dim() == 1 && x.size(1) == w.size(1));
  TORCH_CHECK(x.is_contiguous() && w.is_contiguous() && b.is_contiguous() && y.is_contiguous());
  const int64_t rows = x.size(0), inner = x.size(1), cols = w.size(0);
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  const float* bp = b.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      float acc = bp[j];
      for (int64_t k = 0; k < inner; ++k) acc += xp[i * inner + k] * wp[j * inner + k];
      yp[i * cols + j] = acc > 0.0f ? acc : static_cast<float>(slope) * acc;
    }
  }
  return y;
}

torch::Tensor linear_relu(torch::Tensor x, torch::Tensor w, torch::Tensor b, double slope) {
  auto y = torch::empty({x.size(0), w.size(0)}, x.options());
  return linear_relu_out(x, w, b, slope, y);
}

std::vector<torch::Tensor> linear_relu_backward(torch::Tensor x, torch::Tensor w, torch::Tensor y,
                                                torch::Tensor gy) {
  TORCH_CHECK(x.is_contiguous() && w.is_contiguous() && y.is_contiguous() && gy.is_contiguous());
  const int64_t rows = x.size(0), inner = x.size(1), cols = w.size(0);
  auto gx = torch::zeros_like(x);
  auto gw = torch::zeros_like(w);
  auto gb = torch::zeros({cols}, w.options());
  const float* xp = x.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  const float* yp = y.data_ptr<float>();
  const float* gyp = gy.data_ptr<float>();
  float* gxp = gx.data_ptr<float>();
  float* gwp = gw.data_ptr<float>();
  float* gbp = gb.data_ptr<float>();
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const float gv = yp[i * cols + j] > 0.0f ? gyp[i * cols + j] : 0.0f;
      gbp[j] += gv;
      for (int64_t k = 0; k < inner; ++k) {
        gxp[i * inner + k] += gv * wp[j * inner + k];
        gwp[j * inner + k] += gv * xp[i * inner + k];
      }
    }
  }
  return {gx, gw, gb};
}

torch::Tensor linear_relu_aten(torch::Tensor x, torch::Tensor w, torch::Tensor b) {
  return at::relu(at::matmul(x, w.t()) + b);
}
"""

ext = load_inline(name="kf_test_linear_relu", cpp_sources=[cpp_source],
                  functions=["linear_relu", "linear_relu_out", "linear_relu_backward", "linear_relu_aten"],
                  extra_cflags=["-O2"], verbose=False)


class Deferred(torch.Tensor):
    """A tensor subclass: PyTorch would run its methods when the harness reads the result, so
    work could hide there, outside the timed call and the op audit."""


class ModelNew(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        # Holds the parameters only, created as Model creates them (same seed, same values).
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        y = ext.linear_relu(x.contiguous(), self.linear.weight, self.linear.bias, 0.0)
        return torch.Tensor._make_subclass(Deferred, y)
