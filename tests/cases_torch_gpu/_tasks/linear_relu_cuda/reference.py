# y = relu(x W^T + b): a small torch task for kfoundry's own tests (robust-kbench style: the
# sizes come from the configuration's keyword arguments).
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return torch.relu(self.linear(x))


def get_inputs(batch_size=64, in_features=96):
    return [torch.randn(batch_size, in_features)]


def get_init_inputs(in_features=96, out_features=64):
    return [in_features, out_features]
