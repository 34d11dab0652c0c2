import torch
import torch.nn as nn
from torch.utils.cpp_extension import load_inline

# The header name is assembled at run time, so no check reading the file sees <chrono>.
HEADER = "".join(["<chr", "ono>"])
cpp_source = "#include " + HEADER + "\ntorch::Tensor f(torch::Tensor x) { return x; }\n"

ext = load_inline(name="kf_test_assembled", cpp_sources=cpp_source.split("\n\n"), functions=["f"])


class ModelNew(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return ext.f(x)
