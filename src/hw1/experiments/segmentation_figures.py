"""Part 2-2's figures: sample rows (image, ground truth, predictions), per-class IoU and the validation
curves, each drawn in both languages (hw1.plots)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from hw1 import plots
from hw1.data.camvid import CLASS_NAMES, NUM_CLASSES, Split, overlay

if TYPE_CHECKING:
    from hw1.experiments.base import Context
    from hw1.experiments.segmentation import Config

DISPLAY = {"segformer": "SegFormer", "beit": "BEiT", "segformer_beit_schedule": "SegFormer, BEiT's schedule"}


def _row(tiles: torch.Tensor, gap: int = 4) -> np.ndarray:
    """uint8 [K, h, w, 3] -> one image [h, K*w + (K-1)*gap, 3] with white gaps."""
    k, h, w, _ = tiles.shape
    out = torch.full((h, k * w + (k - 1) * gap, 3), 255, dtype=torch.uint8)
    for i in range(k):
        out[:, i * (w + gap) : i * (w + gap) + w] = tiles[i]
    return out.numpy()


def _small(images: torch.Tensor, width: int) -> torch.Tensor:
    h, w = images.shape[-2:]
    size = (round(h * width / w), width)
    return (
        F.interpolate(images.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
        .round()
        .clamp(0, 255)
        .to(torch.uint8)
    )


def _small_masks(masks: torch.Tensor, width: int) -> torch.Tensor:
    h, w = masks.shape[-2:]
    size = (round(h * width / w), width)
    return F.interpolate(masks[:, None].float(), size=size, mode="nearest")[:, 0].long()


def save_figures(
    ctx: Context,
    cfg: Config,
    test: Split,
    sample_idx: torch.Tensor,
    sample_preds: dict[str, torch.Tensor],
    reports: dict,
    histories: dict,
) -> None:
    images = _small(test.images[sample_idx], cfg.sample_width)  # [K, 3, h, w]
    ctx.save_image(_row(images.permute(0, 2, 3, 1)), "samples_images")
    # the ground truth and each model's prediction drawn the same way: class colours over the image
    for name, masks in {"ground_truth": test.masks[sample_idx], **sample_preds}.items():
        ctx.save_image(_row(overlay(images, _small_masks(masks, cfg.sample_width))), f"samples_{name}")

    ctx.save_figure("per_class_iou", lambda w: per_class_iou_figure(w, reports))
    ctx.save_figure("val_miou", lambda w: val_miou_figure(w, histories))


def per_class_iou_figure(w, reports: dict):
    names = list(reports)
    fig, ax = plots.pyplot().subplots(figsize=(8, 3.6))
    width = 0.8 / max(len(names), 1)
    xs = np.arange(NUM_CLASSES)
    for k, name in enumerate(names):
        ax.bar(
            xs + (k - (len(names) - 1) / 2) * width,
            reports[name]["per_class_iou"],
            width,
            label=w(
                "{model} (mIoU {miou})", model=DISPLAY.get(name, name), miou=w.num(reports[name]["miou"])
            ),
        )
    ax.set_xticks(xs, [w.get(c) for c in CLASS_NAMES], rotation=30, ha="right", rotation_mode="anchor")
    ax.set_ylabel(w("IoU (test)"))
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    w.legend(ax, frameon=False)
    return fig


def val_miou_figure(w, histories: dict):
    fig, ax = plots.pyplot().subplots(figsize=(6, 3.5))
    for name, h in histories.items():
        ax.plot(
            [e["images"] for e in h.evals],
            [e["val_miou"] for e in h.evals],
            marker="o",
            ms=3,
            label=w.get(DISPLAY.get(name, name)),
        )
    ax.set_xlabel(w("training crops seen"))
    ax.set_ylabel(w("validation mIoU"))
    ax.grid(alpha=0.3)
    w.legend(ax, frameon=False)
    return fig
