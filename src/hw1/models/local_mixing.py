"""A small backbone whose spatial mixing layer is a 3x3 convolution or local self-attention over the
same 3x3 neighbourhood (Question 2: how a convolution differs from a local-attention layer).

    x [B, 3, 32, 32]
    stem: conv 3x3 stride 2 (3 -> S), norm, GELU, conv 3x3 stride 2 (S -> C)     [B, C, 8, 8]
    depth x:  x = x + mix(norm(x))                                            [B, C, 8, 8]
              x = x + mlp(norm(x))      mlp: 1x1 conv C -> rC, GELU, 1x1 conv rC -> C
    norm, global average pool, linear head                                    [B, 10]

`mix` is one of
    Conv3x3Mixing      y_i = sum_delta W_delta x_{i+delta} + b            9 C^2 + C parameters
    LocalAttention3x3  y_i = W_O sum_{j in N(i)} softmax_j(q_i.k_j / sqrt(d) + B_{j-i}) v_j
                       per head, N(i) the 3x3 neighbourhood (positions outside the map masked out),
                       B a learned bias per head and offset                4 C^2 + 4 C + 9 h parameters

Everything else is the same, so the attention variant is made wider to match the parameter count.
Multiply-adds are counted analytically per layer (`multiply_adds`); norms, activations, softmax and
additions are not counted (they are a few per element, against C per element for a projection).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MIXINGS = ("conv", "attention")
OFFSETS = 9  # a 3x3 neighbourhood


def neighbours(x: torch.Tensor) -> torch.Tensor:
    """The 3x3 neighbourhood of every position, zeros outside the map: [B, C, H, W] -> [B, C, 9, H, W],
    offset o = 3 (dy + 1) + (dx + 1) holding x[..., i + dy, j + dx] (as F.unfold orders them; nine
    slices of the padded map are much faster than unfold's im2col/col2im on the CPU)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1))  # [B, C, H+2, W+2]
    return torch.stack([padded[..., dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)], dim=2)


class Conv3x3Mixing(nn.Module):
    """A 3x3 convolution C -> C, zero padding: [B, C, H, W] -> [B, C, H, W]."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)

    def multiply_adds(self, h: int, w: int) -> int:
        c = self.conv.in_channels
        return OFFSETS * c * c * h * w


class LocalAttention3x3(nn.Module):
    """Multi-head self-attention of each position over its 3x3 neighbourhood:
    [B, C, H, W] -> [B, C, H, W]. Neighbours outside the map (zero padding) are masked out; a learned
    bias per head and offset (row-major over dy, dx in -1, 0, 1) is added to the logits."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        assert channels % heads == 0, f"{heads} heads do not divide {channels} channels"
        self.heads, self.head_dim = heads, channels // heads
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)  # W_Q, W_K, W_V as one 1x1 conv
        self.out = nn.Conv2d(channels, channels, 1)  # W_O
        self.position_bias = nn.Parameter(torch.zeros(heads, OFFSETS))  # B: [h, 9]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        nh, d, n = self.heads, self.head_dim, h * w
        q, k, v = self.qkv(x).chunk(3, dim=1)  # each [B, C, H, W]
        q = q.reshape(b, nh, d, 1, n)  # [B, h, d, 1, HW]
        k = neighbours(k).reshape(b, nh, d, OFFSETS, n)  # [B, h, d, 9, HW]
        v = neighbours(v).reshape(b, nh, d, OFFSETS, n)  # [B, h, d, 9, HW]
        logits = (q * k).sum(2) / math.sqrt(d)  # [B, h, 9, HW]
        logits = logits + self.position_bias.to(logits.dtype)[None, :, :, None]
        inside = neighbours(x.new_ones(1, 1, h, w)).reshape(1, OFFSETS, n) > 0  # [1, 9, HW]
        logits = logits.masked_fill(~inside[:, None], float("-inf"))
        weights = logits.softmax(dim=2)  # [B, h, 9, HW], sums to 1 over 9
        y = (weights[:, :, None] * v).sum(3)  # [B, h, d, HW]
        return self.out(y.reshape(b, c, h, w))

    def multiply_adds(self, h: int, w: int) -> int:
        c = self.heads * self.head_dim
        projections = 4 * c * c * h * w  # W_Q, W_K, W_V, W_O
        scores = OFFSETS * c * h * w  # q.k over d, for every head and offset
        weighted_sum = OFFSETS * c * h * w  # sum_j a_ij v_j
        return projections + scores + weighted_sum


class Block(nn.Module):
    def __init__(self, channels: int, mixing: str, heads: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(channels)
        self.mix = Conv3x3Mixing(channels) if mixing == "conv" else LocalAttention3x3(channels, heads)
        self.norm2 = nn.BatchNorm2d(channels)
        hidden = mlp_ratio * channels
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.GELU(), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mix(self.norm1(x))  # [B, C, H, W]
        return x + self.mlp(self.norm2(x))  # [B, C, H, W]


class Backbone(nn.Module):
    def __init__(
        self,
        mixing: str,
        width: int,
        depth: int,
        heads: int = 1,
        mlp_ratio: int = 2,
        stem_width: int = 32,
        num_classes: int = 10,
        image_size: int = 32,
    ):
        super().__init__()
        assert mixing in MIXINGS, f"mixing must be one of {MIXINGS}, got {mixing!r}"
        self.mixing, self.width, self.image_size = mixing, width, image_size
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_width, 3, stride=2, padding=1),
            nn.BatchNorm2d(stem_width),
            nn.GELU(),
            nn.Conv2d(stem_width, width, 3, stride=2, padding=1),
        )
        self.blocks = nn.ModuleList(Block(width, mixing, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.BatchNorm2d(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # [B, C, H/4, W/4]
        for block in self.blocks:
            x = block(x)  # [B, C, H/4, W/4]
        x = self.norm(x).mean(dim=(2, 3))  # [B, C]
        return self.head(x)  # [B, classes]

    def multiply_adds(self) -> dict[str, int]:
        """Multiply-adds per image, per kind of layer (see the module docstring)."""
        s = self.image_size
        h1, h2 = -(-s // 2), -(-s // 4)  # after each stride-2 conv
        conv1, conv2 = self.stem[0], self.stem[3]
        stem = (
            9 * conv1.in_channels * conv1.out_channels * h1 * h1
            + 9 * conv2.in_channels * conv2.out_channels * h2 * h2
        )
        mix = sum(b.mix.multiply_adds(h2, h2) for b in self.blocks)
        mlp = sum(2 * b.mlp[0].in_channels * b.mlp[0].out_channels * h2 * h2 for b in self.blocks)
        head = self.head.in_features * self.head.out_features
        return {"stem": stem, "mixing": mix, "mlp": mlp, "head": head, "total": stem + mix + mlp + head}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
