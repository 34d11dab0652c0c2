import torch
import torch.nn as nn


class ModelNew(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        # Holds the parameters only, created as Model creates them (same seed, same values).
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return torch.relu(x @ self.linear.weight.t() + self.linear.bias)
