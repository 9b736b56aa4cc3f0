"""A small convolutional network for CIFAR-10, sized for a 2-core CPU (Part 2-3's CNN baseline).

Three stages, each halving the resolution, after a 3x3 stem; widths (w0, w1, w2, w3):

    x [B, 3, 32, 32]
    stem:    conv3x3 3 -> w0, BN, GELU                            [B, w0, 32, 32]
    stage k: conv3x3 -> max-pool 2 -> BN, GELU -> conv3x3, BN, GELU   32 -> 16 -> 8 -> 4
    head:    global max-pool, linear w3 -> 10 (no bias)            [B, 10] logits

What makes it learn fast is its inductive bias: every layer is local and shares its weights across
positions, and pooling builds translation invariance in. The convolutions have no bias (the batch
norm that follows has one).
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(c_in: int, c_out: int, pool: bool = False) -> list[nn.Module]:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2))  # pool before the norm: the norm sees 4x fewer positions
    return layers + [nn.BatchNorm2d(c_out), nn.GELU()]


class ConvStage(nn.Sequential):
    """Two 3x3 convolutions; the first changes the width and halves the resolution."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(*conv_bn(c_in, c_out, pool=True), *conv_bn(c_out, c_out))


class CNN(nn.Module):
    def __init__(self, widths: tuple[int, int, int, int] = (24, 48, 96, 192), num_classes: int = 10):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.stem = nn.Sequential(*conv_bn(3, w0))
        self.stages = nn.Sequential(ConvStage(w0, w1), ConvStage(w1, w2), ConvStage(w2, w3))
        self.head = nn.Linear(w3, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))  # [B, w3, 4, 4]
        return self.head(x.amax(dim=(2, 3)))  # global max-pool -> [B, 10]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
