"""Part 2-3's figures and samples: training curves and confusion matrices (both languages, hw1.plots),
CIFAR-10 tiles with the true class and each model's prediction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from hw1 import plots
from hw1.data import cifar10

if TYPE_CHECKING:
    from hw1.experiments.base import Context

CLASSES = list(cifar10.CLASSES)


def save_figures(ctx: Context, name: str, label: str, history, confusion) -> None:
    def curves(w):
        panels = [
            (w("cross-entropy loss"), [("train_loss", w("train")), ("val_loss", w("validation"))]),
            (w("accuracy"), [("train_accuracy", w("train")), ("val_accuracy", w("validation"))]),
        ]
        return plots.curves(w, history.evals, panels, "epoch", title=label)

    ctx.save_figure(f"{name}_curves", curves)
    ctx.save_figure(
        f"{name}_confusion",
        lambda w: plots.confusion(
            w, confusion, [w.get(c) for c in CLASSES], w("{model}: confusion matrix (test)", model=label)
        ),
    )


def save_tiles(ctx: Context, name: str, x: torch.Tensor, pick: list[int], px: int) -> list[str]:
    """The chosen uint8 images as px-wide PNG tiles figures/<name>_NN.png; their paths."""
    from PIL import Image

    paths = []
    for k, i in enumerate(pick):
        tile = Image.fromarray(x[i].permute(1, 2, 0).numpy()).resize((px, px), Image.NEAREST)
        paths.append(f"figures/{ctx.save_image(np.asarray(tile), f'{name}_{k:02d}').name}")
    return paths


def save_samples(
    ctx: Context, x: torch.Tensor, y: torch.Tensor, preds: dict, n: int, seed: int, px: int
) -> None:
    """n test images (fixed random choice) as px-wide PNG tiles, with each model's prediction."""
    pick = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n].tolist()
    ctx.save_json(
        "samples",
        [
            {
                "image": path,
                "true": CLASSES[int(y[i])],
                **{f"pred_{m}": CLASSES[int(p[i])] for m, p in preds.items()},
                "pred": CLASSES[int(preds["beit"][i])],
            }
            for path, i in zip(save_tiles(ctx, "sample", x, pick, px), pick)
        ],
    )


def save_dataset_samples(ctx: Context, train: cifar10.Split, per_class: int, seed: int, px: int) -> None:
    """The original's Figure 4: `per_class` training images of every class, with their labels."""
    order = torch.randperm(len(train.y), generator=torch.Generator().manual_seed(seed)).tolist()
    pick = [i for c in range(len(CLASSES)) for i in [j for j in order if int(train.y[j]) == c][:per_class]]
    ctx.save_json(
        "dataset_samples",
        [
            {"image": path, "true": CLASSES[int(train.y[i])]}
            for path, i in zip(save_tiles(ctx, "dataset", train.x, pick, px), pick)
        ],
    )
