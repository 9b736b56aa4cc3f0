"""The original report's MLP, layer for layer (Keras: Dense 256 relu, Dense 256 relu, Dense 10 softmax).

    x [B, 3, 32, 32] in [0, 1]  ->  flatten [B, 3072]
    h1 = relu(x W1 + b1)          [B, 256]     3072*256 + 256 = 786,688 parameters
    h2 = relu(h1 W2 + b2)         [B, 256]      256*256 + 256 =  65,792
    logits = h2 W3 + b3           [B, 10]        256*10 + 10  =   2,570
                                                          total  855,050
The softmax is folded into the cross-entropy loss (log-softmax + NLL), which is numerically the
same as Keras' softmax output with categorical cross-entropy.
"""

from __future__ import annotations

import torch
from torch import nn

PARAMETERS = 855_050


class MLP(nn.Module):
    def __init__(self, in_features: int = 3 * 32 * 32, hidden: int = 256, num_classes: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, num_classes)
        for layer in (self.fc1, self.fc2, self.fc3):  # Keras defaults: Glorot-uniform weights, zero bias
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)  # [B, 3072]
        x = torch.relu(self.fc1(x))  # [B, 256]
        x = torch.relu(self.fc2(x))  # [B, 256]
        return self.fc3(x)  # [B, 10] logits


def summary(model: MLP) -> list[list]:
    """Rows (layer, output shape, parameters) like Keras' model.summary()."""
    rows = []
    for name, layer in (
        ("dense_1 (Dense, relu)", model.fc1),
        ("dense_2 (Dense, relu)", model.fc2),
        ("dense_3 (Dense, softmax)", model.fc3),
    ):
        rows.append([name, f"(None, {layer.out_features})", sum(p.numel() for p in layer.parameters())])
    return rows
