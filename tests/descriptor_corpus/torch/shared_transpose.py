# expect: memory_opt=2 compute_opt=0 parallelism_opt=1
import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

# 32x32 tiles through shared memory (padded by one column), so both the read and the write
# are coalesced. The source is built from adjacent string literals.
cuda_source = (
    "#include <torch/extension.h>\n"
    "#define TILE 32\n"
    "__global__ void transpose_kernel(const float* in, float* out, int rows, int cols) {\n"
    "  __shared__ float tile[TILE][TILE + 1];\n"
    "  int x = blockIdx.x * TILE + threadIdx.x, y = blockIdx.y * TILE + threadIdx.y;\n"
    "  if (x < cols && y < rows) tile[threadIdx.y][threadIdx.x] = in[y * cols + x];\n"
    "  __syncthreads();\n"
    "  x = blockIdx.y * TILE + threadIdx.x; y = blockIdx.x * TILE + threadIdx.y;\n"
    "  if (x < rows && y < cols) out[y * rows + x] = tile[threadIdx.x][threadIdx.y];\n"
    "}\n"
    "torch::Tensor transpose(torch::Tensor in) {\n"
    "  auto out = torch::empty({in.size(1), in.size(0)}, in.options());\n"
    "  dim3 block(TILE, TILE), grid((in.size(1) + TILE - 1) / TILE, (in.size(0) + TILE - 1) / TILE);\n"
    "  transpose_kernel<<<grid, block>>>(in.data_ptr<float>(), out.data_ptr<float>(), in.size(0), in.size(1));\n"
    "  return out;\n"
    "}\n"
)

ext = load_inline(name="corpus_transpose", cpp_sources="torch::Tensor transpose(torch::Tensor in);",
                  cuda_sources=cuda_source, functions=["transpose"])


class ModelNew(nn.Module):
    def forward(self, x):
        return ext.transpose(x.contiguous())
