"""Timing of the classification experiment's training loops (not a test).

1. MLP: one epoch of hw1.experiments.classification.train_mlp (the shared training core,
   hw1.train.loop.fit) against a bare PyTorch loop over the same in-memory tensors (same model,
   optimiser, batch 32). Target: ours within 1.2x of the bare loop.
2. BEiT (the cpu profile's model from configs/classification.yaml): training images per second,
   fp32 against bf16 autocast, and bf16 with torch.compile (--no-compile skips it), for each thread
   count given; with the profile's progressive resizing, also compiled bf16 at beit.low_res_size.

The two variants of each pair are timed alternately and the best of --rounds kept, so that load
from other processes hurts both alike. Run it alone on the machine, e.g.

    flock /tmp/hw1-cpu.lock .venv/bin/python benchmarks/bench_classification.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hw1 import config
from hw1.data import augment
from hw1.experiments import classification as exp
from hw1.experiments.base import Context
from hw1.models import mlp as mlp_models


def bare_mlp_epoch(model, optimizer, x, y, batch_size):
    """The plainest loop: shuffled index slices, forward, loss, backward, step."""
    order = torch.randperm(len(y))
    for i in range(0, len(y), batch_size):
        idx = order[i : i + batch_size]
        loss = F.cross_entropy(model(x[idx]), y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def bench_mlp(n: int, rounds: int) -> dict:
    torch.set_num_threads(1)
    x_u8, y = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8), torch.randint(0, 10, (n,))
    x = x_u8.flatten(1).float() / 255
    train, val = exp.cifar10.Split(x_u8, y), exp.cifar10.Split(x_u8[:10], y[:10])
    ctx = Context(
        "bench",
        "cpu",
        Path("/tmp/bench-out"),
        Path("."),
        "cpu",
        0,
        Path("/tmp/bench-cache"),
        interactive=False,
    )
    ours, bare = [], []
    for _ in range(rounds):
        _, history, _ = exp.train_mlp(exp.MLPConfig(epochs=1), train, val, ctx)
        ours.append(history.timing["train_s"])  # the training steps, evaluation left out
        model = mlp_models.MLP()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
        t = time.perf_counter()
        bare_mlp_epoch(model, opt, x, y, 32)
        bare.append(time.perf_counter() - t)
    return {"images": n, "ours_s": min(ours), "bare_s": min(bare), "ratio": min(ours) / min(bare)}


def bench_beit(threads: int, batch: int, steps: int, rounds: int, compile_too: bool = True) -> dict:
    torch.set_num_threads(threads)
    c = config.load(exp.Config, "classification", "cpu").beit
    torch.manual_seed(0)
    model, mean, std = exp.build_beit(c)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x_u8 = torch.randint(0, 256, (batch, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (batch,))

    def forward(xb, bf16: bool):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return model(pixel_values=xb).logits

    compiled = torch.compile(forward, dynamic=False)  # one static graph per size, as in training

    def step(variant: str):
        xb = exp.normalise(augment.augment(x_u8, c.crop_padding, c.flip), mean, std)
        if variant == "bf16_compiled_low_res":
            xb = F.interpolate(xb, size=c.low_res_size, mode="bilinear", align_corners=False, antialias=True)
        logits = (compiled if variant.startswith("bf16_compiled") else forward)(xb, variant != "fp32")
        loss = F.cross_entropy(logits.float(), y, label_smoothing=c.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    variants = (
        ("fp32", "bf16")
        + (("bf16_compiled",) if compile_too else ())
        + (("bf16_compiled_low_res",) if compile_too and c.low_res_size else ())
    )
    best = dict.fromkeys(variants, 0.0)
    compile_s, compile_low_s = None, None
    for _ in range(rounds):
        for variant in variants:
            t = time.perf_counter()
            step(variant)  # warm-up (kernel selection, caches, compilation)
            if variant == "bf16_compiled" and compile_s is None:
                compile_s = time.perf_counter() - t
            if variant == "bf16_compiled_low_res" and compile_low_s is None:
                compile_low_s = time.perf_counter() - t
            t = time.perf_counter()
            for _ in range(steps):
                step(variant)
            best[variant] = max(best[variant], steps * batch / (time.perf_counter() - t))
    result = {
        "threads": threads,
        "batch": batch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "fp32_images_per_s": best["fp32"],
        "bf16_images_per_s": best["bf16"],
        "bf16_speedup": best["bf16"] / best["fp32"],
    }
    if compile_too:
        result.update(
            {
                "bf16_compiled_images_per_s": best["bf16_compiled"],
                "first_compiled_step_s": compile_s,
                "compile_speedup": best["bf16_compiled"] / best["bf16"],
            }
        )
    if "bf16_compiled_low_res" in best:
        result.update(
            {
                "low_res_size": c.low_res_size,
                "low_res_images_per_s": best["bf16_compiled_low_res"],
                "first_low_res_step_s": compile_low_s,
                "low_res_speedup": best["bf16_compiled_low_res"] / best["bf16_compiled"],
            }
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mlp-images", type=int, default=45_000)
    parser.add_argument("--beit-steps", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    parser.add_argument("--json", type=Path, help="also write the result to this file")
    args = parser.parse_args()

    mlp = bench_mlp(args.mlp_images, args.rounds)
    print(
        f"MLP epoch ({mlp['images']} images, batch 32, 1 thread): ours {mlp['ours_s']:.2f} s, "
        f"bare loop {mlp['bare_s']:.2f} s, ratio {mlp['ratio']:.2f} (target <= 1.2)",
        flush=True,
    )
    batch = config.load(exp.Config, "classification", "cpu").beit.batch_size
    beit = []
    for threads in args.threads:
        r = bench_beit(threads, batch, args.beit_steps, args.rounds, not args.no_compile)
        beit.append(r)
        print(
            f"BEiT training, {threads} thread(s), batch {batch}, {r['parameters']:,} parameters: "
            f"fp32 {r['fp32_images_per_s']:.0f} images/s, bf16 autocast {r['bf16_images_per_s']:.0f} "
            f"images/s ({r['bf16_speedup']:.2f}x)",
            flush=True,
        )
        if "compile_speedup" in r:
            print(
                f"  bf16 + torch.compile: {r['bf16_compiled_images_per_s']:.0f} images/s "
                f"({r['compile_speedup']:.2f}x bf16 eager; first step with compilation "
                f"{r['first_compiled_step_s']:.0f} s)",
                flush=True,
            )
        if "low_res_speedup" in r:
            print(
                f"  bf16 + torch.compile at {r['low_res_size']} px: {r['low_res_images_per_s']:.0f} images/s "
                f"({r['low_res_speedup']:.2f}x at 32 px; first step with compilation "
                f"{r['first_low_res_step_s']:.0f} s)",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps({"mlp": mlp, "beit": beit}, indent=1) + "\n")


if __name__ == "__main__":
    main()
