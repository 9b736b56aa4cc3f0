"""Batched image augmentation on tensors (no per-sample Python).

Both functions take a batch [B, C, H, W] of any dtype and return a new batch of the same shape.
"""

from __future__ import annotations

import torch


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Pad by `padding` zeros on every side, then cut a random HxW window per image."""
    if padding <= 0:
        return x
    b, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))  # [B, C, H+2p, W+2p]
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)  # per-image offsets
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]  # [B, H, 1]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]  # [B, 1, W]
    batch = torch.arange(b)[:, None, None]  # [B, 1, 1]
    # advanced indexing on dims 0, 2, 3 moves the channel dim last: [B, H, W, C]
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_flip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror each image left-right with probability p."""
    flip = torch.rand(x.shape[0], generator=generator) < p
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def augment(
    x: torch.Tensor, padding: int = 4, flip: bool = True, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random crop with zero padding, then a random horizontal flip (the standard CIFAR recipe)."""
    x = random_crop(x, padding, generator)
    return random_flip(x, 0.5, generator) if flip else x
