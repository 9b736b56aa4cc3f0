"""Timing of the segmentation experiment's SegFormer training step (not a test).

The cpu profile's SegFormer (configs/segmentation.yaml) against the variants its choices were made
from: decoder width (the profile's against b0's 256), precision (bf16 autocast against fp32: bf16
pays only where the CPU has AMX or AVX512-BF16), crop size (the profile's early_train_size against
train_size), the attention kernel (segmentation_logits' math kernel against SDPA's flash default)
and, with --compile, torch.compile against eager. Each variant is a fresh model on random data with bf16 autocast (unless marked fp32) and the loss at the logits' resolution; the
variants take turns for --rounds rounds and the best images/s of each is kept, so that load from
other processes hurts all alike. Run it alone on the machine:

    .venv/bin/python benchmarks/bench_segmentation.py --rounds 2
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch

from hw1 import config
from hw1.experiments import segmentation as seg
from hw1.models.segmentation import build_segmentation_model, segmentation_logits


def make_step(
    config: dict, size: list[int], batch: int, compiled: bool, bf16: bool = True, flash: bool = False
):
    torch.manual_seed(0)
    model = build_segmentation_model(
        "segformer", seg.NUM_CLASSES, config, None, seg.CLASS_NAMES, seg.IGNORE_INDEX
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, *size)
    y = torch.randint(0, seg.NUM_CLASSES, (batch, *size))

    def forward(images):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if flash:  # SDPA's default choice (the flash kernel) instead of segmentation_logits' math kernel
                return model(pixel_values=images).logits
            return segmentation_logits(model, images)

    forward_fn = torch.compile(forward, dynamic=False) if compiled else forward

    def step():
        loss = seg.pixel_loss(forward_fn(x).float(), y, None, "logits")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile (minutes of compilation)"
    )
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    spec = config.load(seg.Config, "segmentation", "cpu").models["segformer"]
    ours, b0 = spec.config, {**copy.deepcopy(spec.config), "decoder_hidden_size": 256}
    full, early, batch = spec.train_size, spec.early_train_size or spec.train_size, spec.batch_size
    width = ours["decoder_hidden_size"]
    # (model config, crop, torch.compile, bf16 autocast, flash attention kernel); bf16 pays only with
    # AMX/AVX512-BF16
    variants = {
        f"decoder 256, crop {full[0]}x{full[1]}": (b0, full, False, True, False),
        f"decoder {width}, crop {full[0]}x{full[1]}": (ours, full, False, True, False),
        f"decoder {width}, crop {full[0]}x{full[1]}, flash attention": (ours, full, False, True, True),
        f"decoder {width}, crop {full[0]}x{full[1]}, fp32": (ours, full, False, False, False),
        f"decoder {width}, crop {early[0]}x{early[1]}": (ours, early, False, True, False),
        f"decoder {width}, crop {early[0]}x{early[1]}, flash attention": (ours, early, False, True, True),
    }
    if args.compile:
        variants[f"decoder {width}, crop {full[0]}x{full[1]}, compiled"] = (ours, full, True, True, False)
    steps, best, first = {}, dict.fromkeys(variants, 0.0), {}
    for name, (model_config, size, compiled, bf16, flash) in variants.items():
        steps[name] = make_step(model_config, size, batch, compiled, bf16, flash)
        t = time.perf_counter()
        steps[name]()  # warm-up (and compilation)
        first[name] = time.perf_counter() - t
    for _ in range(args.rounds):
        for name, step in steps.items():
            t = time.perf_counter()
            for _ in range(args.steps):
                step()
            best[name] = max(best[name], args.steps * batch / (time.perf_counter() - t))
    base = best[next(iter(variants))]
    for name in variants:
        print(
            f"SegFormer training, {name}: {best[name]:.1f} images/s ({best[name] / base:.2f}x the first; "
            f"first step {first[name]:.1f} s)",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps({"images_per_s": best, "first_step_s": first}, indent=1) + "\n")


if __name__ == "__main__":
    main()
