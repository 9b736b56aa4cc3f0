"""Which examples a step sees, and its random augmentation, as functions of (seed, epoch or step).

Any step of a run can be replayed without replaying the steps before it, and no generator state
is carried across steps: the run is the same whatever else happens in between (an estimate, an
evaluation, a resumed run).
"""

from __future__ import annotations

import functools

import torch

_STRIDE = 1_000_003  # a prime: seeds of different (seed, index) pairs do not collide in practice


@functools.lru_cache(maxsize=4)  # every step of an epoch reads it: drawn once (0.45 ms for 45,000)
def epoch_order(n: int, epoch: int, seed: int) -> torch.Tensor:
    """The shuffled order of the n examples in epoch `epoch` (0-based); read-only (cached)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * _STRIDE + epoch))


def batch_indices(step: int, n: int, batch_size: int, seed: int, keep_last: bool = False) -> torch.Tensor:
    """The examples of step `step` (1-based): consecutive slices of each epoch's order. keep_last:
    an epoch ends with its smaller last batch (as Keras does); otherwise it is dropped (one shape)."""
    per_epoch = -(-n // batch_size) if keep_last else max(n // batch_size, 1)
    epoch, b = divmod(step - 1, per_epoch)
    return epoch_order(n, epoch, seed)[b * batch_size : (b + 1) * batch_size]


def step_generator(step: int, seed: int) -> torch.Generator:
    """The random generator of step `step`'s augmentation."""
    return torch.Generator().manual_seed(seed * _STRIDE + step)
