"""AdamW with one rule for weight decay, and learning-rate schedules that are functions of the step.

No weight decay on: biases and every other 1-d tensor (norm scales and shifts, LayerScale's
lambdas), position tables (absolute embeddings, relative-position-bias tables) and the [CLS] /
mask tokens. Decaying those pulls them towards zero for no regularising benefit.
"""

from __future__ import annotations

import math

import torch

NO_DECAY_NAMES = ("position", "cls_token", "mask_token")


def decays(name: str, parameter: torch.Tensor) -> bool:
    return parameter.ndim >= 2 and not any(part in name for part in NO_DECAY_NAMES)


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (decay if decays(name, p) else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def adamw(model: torch.nn.Module, lr: float, weight_decay: float, betas=(0.9, 0.999)) -> torch.optim.AdamW:
    # fused: one kernel over all tensors (CPU and CUDA); on the CPU 3.8x faster than the per-tensor
    # loop (SegFormer's 205 tensors: 25 -> 6.6 ms a step, benchmarks/bench_optimizers.py)
    return torch.optim.AdamW(param_groups(model, weight_decay), lr=lr, betas=tuple(betas), fused=True)


def sgd(
    model: torch.nn.Module,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> torch.optim.SGD:
    # foreach: the same numbers as the per-tensor loop, which on the CPU allocates a new tensor per
    # parameter and step (the MLP's step at batch 32: 7.0 -> 4.7 ms and 6.5 -> 6.2 ms in two runs of
    # benchmarks/bench_optimizers.py). Weight decay follows the same rule as AdamW's (param_groups).
    params = param_groups(model, weight_decay) if weight_decay else model.parameters()
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov, foreach=True)


SCHEDULES = ("cosine", "polynomial", "inverse_sqrt", "keras_time_decay")


def schedule(
    optimizer,
    kind: str,
    steps: int,
    warmup_steps: int = 0,
    *,
    min_lr_ratio: float = 0.0,
    power: float = 1.0,
    decay: float = 0.0,
):
    """The learning rate at step s as a pure function of s (transformers' schedules where they exist):

    cosine            linear warm-up, then cosine from lr down to min_lr_ratio * lr at `steps`
    polynomial        linear warm-up, then (1 - progress)^power down to ~0 at `steps`
    inverse_sqrt      linear warm-up, then lr * sqrt(warmup / s) (does not depend on `steps`)
    keras_time_decay  lr / (1 + decay * s), Keras' SGD `decay` argument
    """
    import transformers

    if kind == "cosine":
        return transformers.get_cosine_with_min_lr_schedule_with_warmup(
            optimizer, warmup_steps, steps, min_lr_rate=min_lr_ratio
        )
    if kind == "polynomial":
        lr = optimizer.defaults["lr"]
        return transformers.get_polynomial_decay_schedule_with_warmup(
            optimizer, warmup_steps, steps, lr_end=lr * 1e-6, power=power
        )
    if kind == "inverse_sqrt":
        return transformers.get_inverse_sqrt_schedule(optimizer, max(1, warmup_steps))
    if kind == "keras_time_decay":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 / (1.0 + decay * s))
    raise ValueError(f"unknown schedule {kind!r} (known: {', '.join(SCHEDULES)})")


def cosine_value(step: int, steps: int, warmup: int, min_ratio: float) -> float:
    """The cosine schedule's factor at `step`, for tests and plots."""
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, steps - warmup)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
