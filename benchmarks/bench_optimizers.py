"""Timing of the optimizer implementations and of the segmentation prediction's class choice (not a test).

- AdamW over the cpu profile's SegFormer parameters (205 tensors): torch's per-tensor loop, foreach
  and fused (hw1.train.optim.adamw uses fused);
- the MLP's training step (batch 32, one thread) with SGD as a per-tensor loop and as foreach
  (hw1.train.optim.sgd uses foreach; both give the same numbers, which this checks);
- the class of highest probability over [16, 11, 360, 480]: argmax(1) against max(1).indices
  (hw1.experiments.segmentation uses the latter; the same first index on ties).

    .venv/bin/python benchmarks/bench_optimizers.py
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from hw1 import config
from hw1.experiments import segmentation as seg
from hw1.models.mlp import MLP
from hw1.models.segmentation import build_segmentation_model
from hw1.train.optim import param_groups


def per_call_ms(fn, n: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e3


def adamw_variants() -> None:
    torch.set_num_threads(2)
    spec = config.load(seg.Config, "segmentation", "cpu").models["segformer"]
    model = build_segmentation_model(
        "segformer", seg.NUM_CLASSES, spec.config, None, seg.CLASS_NAMES, seg.IGNORE_INDEX
    )
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    for name, kwargs in (
        ("per-tensor loop", {"foreach": False}),
        ("foreach", {"foreach": True}),
        ("fused", {"fused": True}),
    ):
        optimizer = torch.optim.AdamW(param_groups(model, 0.01), lr=1e-3, **kwargs)
        print(
            f"AdamW step, SegFormer ({len(list(model.parameters()))} tensors), {name}: "
            f"{per_call_ms(optimizer.step, 50):.1f} ms",
            flush=True,
        )


def sgd_variants() -> None:
    torch.set_num_threads(1)
    x, y = torch.rand(32, 3072), torch.randint(0, 10, (32,))
    final = {}
    for name, foreach in (("per-tensor loop", False), ("foreach", True)):
        torch.manual_seed(0)
        model = MLP()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, foreach=foreach)

        def step():
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        print(
            f"MLP training step (batch 32, 1 thread), SGD {name}: {per_call_ms(step, 500, 50):.2f} ms",
            flush=True,
        )
        final[name] = [p.detach().clone() for p in model.parameters()]
    same = all(torch.equal(a, b) for a, b in zip(*final.values()))
    print(f"SGD per-tensor loop and foreach give the same parameters: {same}")


def class_choice() -> None:
    torch.set_num_threads(2)
    probs = torch.randn(16, 11, 360, 480).softmax(1)
    for name, fn in (
        ("argmax(1)", lambda: probs.argmax(1)),
        ("max(1).indices", lambda: probs.max(1).indices),
    ):
        print(f"class of highest probability, [16, 11, 360, 480], {name}: {per_call_ms(fn, 5, 1):.0f} ms")
    print(f"the same classes: {torch.equal(probs.argmax(1), probs.max(1).indices)}")


if __name__ == "__main__":
    adamw_variants()
    sgd_variants()
    class_choice()
