"""Question 2: a 3x3 convolution against local self-attention over the same 3x3 neighbourhood, at
matched parameters, on CIFAR-10 (hw1.models.local_mixing).

The two variants share everything but the mixing layer; the attention variant is wider so that the
parameter counts agree within `max_parameter_gap` (checked before any training). Each variant is
trained with `seeds` seeds (seed, seed + 1, ...) for `steps` steps in hw1.train.loop; for a given
seed both variants see the same batches and augmentations. Validation accuracy is measured during
training, the test set once at the end. The verdict on test accuracy (attention against the
convolution) is hw1.experiments.bert_verdicts.compare's: two standard errors, seeds and the finite
test set both counted, "cannot_tell" when the convolution is at chance.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Annotated, Literal

import torch
import torch.nn.functional as F

from hw1.config import Check, Invalid
from hw1.data import augment, cifar10
from hw1.errors import ConfigError
from hw1.experiments.base import Context, round_floats
from hw1.experiments.bert_verdicts import at_chance, compare, summary
from hw1.models.local_mixing import Backbone, count_parameters
from hw1.train.batches import batch_indices, step_generator
from hw1.train.loop import fit, log_estimate
from hw1.train.optim import adamw, schedule
from hw1.train.precision import autocast

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
VARIANTS = ("conv", "attention")  # baseline first
CHANCE = 0.1
Positive = Annotated[int, Check(min=1)]


@dataclass
class Config:
    seed: int = 0
    seeds: Annotated[int, Check(min=2)] = 3  # runs per variant: seed, seed + 1, ...
    threads: int | None = 2
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    split_seed: int = 0
    n_val: Positive = 5000
    synthetic: bool = False  # smoke: tiny generated data, no files needed
    synthetic_sizes: dict[str, int] = field(default_factory=lambda: {"train": 400, "test": 200})
    conv_width: Positive = 64  # channels of the convolution variant
    attention_width: Positive = 80  # channels of the attention variant (wider: 4C^2 < 9C^2)
    heads: Positive = 4  # attention heads
    stem_width: Positive = 32  # channels of the stem's first conv (both variants)
    depth: Positive = 4  # residual blocks
    mlp_ratio: Positive = 2
    max_parameter_gap: float = 0.02  # |attention - conv| / conv parameters, at most
    steps: Positive = 500  # optimizer steps per run
    batch_size: Positive = 128
    lr: float = 2e-3
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    warmup_steps: Annotated[int, Check(min=0)] = 50
    label_smoothing: float = 0.1
    crop_padding: Annotated[int, Check(min=0)] = 0
    flip: bool = True
    grad_clip: float = 1.0
    eval_every: Positive = 125
    eval_batch_size: Positive = 500
    timing_batch: Positive = 256  # inference time: one batch of this size ...
    timing_repeats: Positive = 5  # ... the median of this many forward passes

    def check(self):
        if self.attention_width % self.heads:
            raise Invalid("heads", f"must divide attention_width={self.attention_width}, got {self.heads}")


def build(config: Config, variant: str) -> Backbone:
    width = config.conv_width if variant == "conv" else config.attention_width
    return Backbone(variant, width, config.depth, config.heads, config.mlp_ratio, config.stem_width)


def parameter_counts(config: Config) -> dict[str, int]:
    counts = {v: count_parameters(build(config, v)) for v in VARIANTS}
    gap = abs(counts["attention"] - counts["conv"]) / counts["conv"]
    if gap > config.max_parameter_gap:
        raise ConfigError(
            f"conv_attention: attention_width: the parameter counts differ by {gap:.1%} (conv {counts['conv']:,}, "
            f"attention {counts['attention']:,}), more than max_parameter_gap="
            f"{config.max_parameter_gap:.1%}"
        )
    return counts


def normalise(x_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float, (x / 255 - mean) / std per channel."""
    m = torch.tensor(CIFAR_MEAN, device=x_u8.device).view(1, 3, 1, 1)
    s = torch.tensor(CIFAR_STD, device=x_u8.device).view(1, 3, 1, 1)
    return (x_u8.float() / 255 - m) / s


@torch.no_grad()
def accuracy(forward, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    correct = 0
    for i in range(0, len(y), batch_size):
        correct += int((forward(x[i : i + batch_size]).argmax(1).cpu() == y[i : i + batch_size]).sum())
    return correct / max(len(y), 1)


@torch.no_grad()
def seconds_per_image(forward, x: torch.Tensor, repeats: int) -> float:
    """Inference time per image: the median of `repeats` forward passes of one batch, after a warm-up."""
    forward(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        forward(x)
        if str(x.device).startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / len(x)


def plan(config: Config, variant: str, seed: int, train: cifar10.Split, val: cifar10.Split, ctx: Context):
    """(forward, the keyword arguments of fit()) for one variant and seed."""
    torch.manual_seed(seed)  # the initial weights
    model = build(config, variant).to(ctx.device)
    device, precision = ctx.device, ctx.precision

    def forward(x_u8: torch.Tensor) -> torch.Tensor:
        with autocast(device, precision):
            return model(normalise(x_u8.to(device, non_blocking=True))).float()

    optimizer = adamw(model, config.lr, config.weight_decay)
    scheduler = schedule(
        optimizer, "cosine", config.steps, config.warmup_steps, min_lr_ratio=config.min_lr / config.lr
    )
    n, bs = len(train.y), config.batch_size

    def next_batch(step: int):  # the same batches for both variants of a seed
        idx = batch_indices(step, n, bs, seed)
        x = augment.augment(train.x[idx], config.crop_padding, config.flip, step_generator(step, seed))
        return x, train.y[idx].to(device)

    def loss_fn(batch):
        xb, yb = batch
        logits = forward(xb)
        loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
        return loss, {"accuracy": (logits.detach().argmax(1) == yb).float().mean()}

    def evaluate(step: int) -> dict:
        return {"val_accuracy": accuracy(forward, val.x, val.y, config.eval_batch_size)}

    return forward, {
        "model": model,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "steps": config.steps,
        "next_batch": next_batch,
        "loss_fn": loss_fn,
        "device": device,
        "precision": "fp32",
        "grad_clip": config.grad_clip,
        "eval_every": config.eval_every,
        "evaluate": evaluate,
        "items_per_step": bs,
        "threads": config.threads,
        "progress": ctx.progress,
        "desc": f"{variant}, seed {seed}",
    }


def run(config: Config, ctx: Context) -> dict:
    counts = parameter_counts(config)  # before any data or training: a mismatch fails now
    if config.synthetic:
        data = cifar10.synthetic(
            config.synthetic_sizes.get("train", 400), config.synthetic_sizes.get("test", 200), config.seed
        )
    else:
        data = cifar10.load(ctx.data_root, ctx.cache_dir)
    train, val = cifar10.train_val_split(data, config.n_val, config.split_seed)
    ctx.log(
        f"data: {data.source}, {len(train.y)} train / {len(val.y)} validation / {len(data.y_test)} test; "
        f"parameters: conv {counts['conv']:,}, attention {counts['attention']:,}"
    )
    seeds = [config.seed + k for k in range(config.seeds)]
    labels = {v: f"{v} x {len(seeds)}" for v in VARIANTS}
    test_passes = len(data.y_test) / max(len(val.y), 1)  # the test set, once a run, in validation passes
    estimates = log_estimate(
        ctx,
        {labels[v]: plan(config, v, seeds[0], train, val, ctx)[1] for v in VARIANTS},
        {label: test_passes for label in labels.values()},
        {label: len(seeds) for label in labels.values()},
    )
    timing_x = data.x_test[: config.timing_batch]
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for seed in seeds:
        for variant in VARIANTS:
            forward, kwargs = plan(config, variant, seed, train, val, ctx)
            history = fit(**kwargs)
            model = kwargs["model"].eval()
            test = accuracy(forward, data.x_test, data.y_test, config.eval_batch_size)
            per_image = seconds_per_image(forward, timing_x, config.timing_repeats)
            ctx.log(
                f"{variant}, seed {seed}: test accuracy {test:.4f}, {history.timing['train_s']:.0f} s "
                f"training, {per_image * 1e3:.3f} ms per image (inference)"
            )
            runs[variant].append(
                {
                    "seed": seed,
                    "test_accuracy": test,
                    "curve": [[e["step"], e["val_accuracy"]] for e in history.evals],
                    "timing": {
                        "train_s": history.timing["train_s"],
                        "images_per_s": history.timing["items_per_s"],
                        "inference_s_per_image": per_image,
                    },
                }
            )
            del model
    metrics = summarise(config, ctx, counts, runs, len(data.y_test), len(val.y), len(train.y))
    metrics["timing"] = {"estimate_s": estimates}
    return metrics


def summarise(
    config: Config, ctx: Context, counts: dict, runs: dict, n_test: int, n_val: int, n_train: int
) -> dict:
    """metrics.json, the comparison table and the figure."""
    variants = {}
    for v in VARIANTS:
        model = build(config, v)
        acc = summary([r["test_accuracy"] for r in runs[v]])
        train_s = [r["timing"]["train_s"] for r in runs[v]]
        per_image = [r["timing"]["inference_s_per_image"] for r in runs[v]]
        variants[v] = {
            "width": model.width,
            "parameters": counts[v],
            "multiply_adds": model.multiply_adds(),
            "test_accuracy": {"mean": acc["mean"], "std": acc["std"], "values": acc["values"]},
            "at_chance": at_chance(acc["values"], CHANCE, n_test),
            "per_seed": [{"seed": r["seed"], "test_accuracy": r["test_accuracy"]} for r in runs[v]],
            "curves": [r["curve"] for r in runs[v]],
            "timing": {
                "train_s": train_s,
                "train_s_mean": statistics.mean(train_s),
                "images_per_s": [r["timing"]["images_per_s"] for r in runs[v]],
                "inference_s_per_image": statistics.median(per_image),
            },
        }
    verdict = compare(
        variants["conv"]["test_accuracy"]["values"],
        variants["attention"]["test_accuracy"]["values"],
        CHANCE,
        n_test,
        baseline_at_chance=variants["conv"]["at_chance"],
    )
    ctx.save_table(
        "comparison",
        [
            "variant",
            "parameters",
            "multiply-adds",
            "accuracy mean",
            "accuracy std",
            "accuracy per seed",
        ],
        round_floats(
            [
                [
                    v,
                    x["parameters"],
                    x["multiply_adds"]["total"],
                    x["test_accuracy"]["mean"],
                    x["test_accuracy"]["std"],
                    x["test_accuracy"]["values"],
                ]
                for v, x in variants.items()
            ]
        ),
    )
    # measured times apart (tables named timing* are the only ones that differ on a rerun)
    ctx.save_table(
        "timing",
        ["variant", "ms per image (inference)", "training s per run"],
        [
            [v, x["timing"]["inference_s_per_image"] * 1e3, x["timing"]["train_s_mean"]]
            for v, x in variants.items()
        ],
    )
    save_curves(ctx, variants)
    return round_floats(
        {
            "seeds": [r["seed"] for r in runs["conv"]],
            "steps": config.steps,
            "batch_size": config.batch_size,
            "depth": config.depth,
            "heads": config.heads,
            "mlp_ratio": config.mlp_ratio,
            "chance": CHANCE,
            "test_images": n_test,
            "val_images": n_val,
            "train_images": n_train,
            "precision": ctx.precision,
            "threads": config.threads,
            "timing_batch": config.timing_batch,
            "variants": variants,
            "comparison": verdict,
        }
    )


def save_curves(ctx: Context, variants: dict) -> None:
    colours = {"conv": "tab:blue", "attention": "tab:orange"}

    def draw(w):
        from hw1.plots import pyplot

        fig, ax = pyplot().subplots(figsize=(7, 4.2))
        for v, x in variants.items():
            curves = torch.tensor(x["curves"], dtype=torch.float64)  # [seeds, points, 2]
            for c in curves:
                ax.plot(c[:, 0], c[:, 1], color=colours[v], linewidth=0.8, alpha=0.45)
            mean = curves.mean(0)
            ax.plot(
                mean[:, 0],
                mean[:, 1],
                color=colours[v],
                linewidth=2.4,
                label=w(f"conv_attention: {v}", width=x["width"]),
            )
        ax.axhline(CHANCE, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(w("step"))
        ax.set_ylabel(w("validation accuracy"))
        ax.set_title(w("conv_attention: title"))
        w.legend(ax, loc="lower right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return fig

    ctx.save_figure("validation_accuracy", draw)
