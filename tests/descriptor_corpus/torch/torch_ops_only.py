# expect: memory_opt=0 compute_opt=0 parallelism_opt=0
# No extension at all: PyTorch operators only. The f-string and the docstring mention CUDA
# code, which is not compiled anywhere.
import torch
import torch.nn as nn
import torch.nn.functional as F


class ModelNew(nn.Module):
    """Fused in spirit: would use __shared__ tiles and __shfl_down_sync in a kernel."""

    def __init__(self, dim):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.label = f"kernel<<<{dim}, 256>>> with __syncthreads()"

    def forward(self, x):
        return F.gelu(self.proj(x))
