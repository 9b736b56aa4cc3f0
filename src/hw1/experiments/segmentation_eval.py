"""Part 2-2's evaluation: multi-scale, mirrored prediction at the full 480x360, and the choice of the
evaluation scales on the validation split (src/hw1/experiments/segmentation.py trains the models)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from hw1.data.camvid import IGNORE_INDEX, NUM_CLASSES, Split, resize_images
from hw1.metrics import confusion_matrix, segmentation_report
from hw1.models.segmentation import segmentation_logits
from hw1.train.precision import autocast

if TYPE_CHECKING:
    from hw1.experiments.base import Context
    from hw1.experiments.segmentation import Config, ModelSpec


def scaled_size(size: list[int], scale: float, multiple: int = 8) -> tuple[int, int]:
    """[h, w] * scale, rounded to a multiple of `multiple` (BEiT's patch grid needs whole patches)."""
    return tuple(max(multiple, int(v * scale / multiple + 0.5) * multiple) for v in size)


@torch.no_grad()
def predict_each(
    model,
    images: torch.Tensor,
    spec: ModelSpec,
    cfg: Config,
    device: str,
    precision: str,
    candidates: list[list[float]],
    out_size: tuple[int, int] | None = None,
) -> list[torch.Tensor]:
    """uint8 [N, 3, H, W] -> class ids long [N, H, W], one per candidate list of scales.

    For each scale the image is resized to eval_size * scale (and mirrored when cfg.flip_test); each
    pass's logits are upsampled to the full size and turned into probabilities, and a candidate's
    prediction is the class of highest mean probability over its scales. A scale shared by several
    candidates is run once.
    """
    model.eval()
    out_size = out_size or tuple(images.shape[-2:])
    preds: list[list[torch.Tensor]] = [[] for _ in candidates]
    for i in range(0, len(images), cfg.eval_batch_size):
        batch = images[i : i + cfg.eval_batch_size].to(device)
        probs = {}  # scale -> summed probabilities [B, C, H, W]
        for scale in dict.fromkeys(s for c in candidates for s in c):
            x = resize_images(batch, scaled_size(spec.eval_size, scale))
            probs[scale] = 0.0
            for flipped in (False, True) if cfg.flip_test else (False,):
                with autocast(device, precision):
                    logits = segmentation_logits(model, x.flip(-1) if flipped else x).float()
                logits = logits.flip(-1) if flipped else logits
                logits = F.interpolate(logits, size=out_size, mode="bilinear", align_corners=False)
                probs[scale] = probs[scale] + logits.softmax(1)
        for k, scales in enumerate(candidates):
            # max(1).indices, not argmax(1): the same first-index choice, 8x faster on a channel dim
            preds[k].append(sum(probs[s] for s in scales).max(1).indices.cpu())
    return [torch.cat(p) for p in preds]


def predict(
    model, images: torch.Tensor, spec: ModelSpec, cfg: Config, device: str, precision: str
) -> torch.Tensor:
    """Class ids [N, H, W] with the model's evaluation scales (spec.eval_scales)."""
    return predict_each(model, images, spec, cfg, device, precision, [spec.eval_scales])[0]


def evaluate_each(
    model,
    split: Split,
    spec: ModelSpec,
    cfg: Config,
    device: str,
    precision: str,
    candidates: list[list[float]],
) -> list[tuple[dict, torch.Tensor, float]]:
    """Per candidate list of scales: the report over the split (from one confusion matrix), the
    confusion matrix, and images/s (the split's images over the time of all candidates)."""
    start = time.perf_counter()
    confusions = [torch.zeros(NUM_CLASSES, NUM_CLASSES, dtype=torch.long) for _ in candidates]
    chunk = cfg.eval_batch_size * 4
    for i in range(0, len(split), chunk):
        preds = predict_each(model, split.images[i : i + chunk], spec, cfg, device, precision, candidates)
        for confusion, pred in zip(confusions, preds):
            confusion += confusion_matrix(pred, split.masks[i : i + chunk], NUM_CLASSES, IGNORE_INDEX)
    speed = len(split) / (time.perf_counter() - start)
    return [(segmentation_report(c), c, speed) for c in confusions]


def evaluate(
    model, split: Split, spec: ModelSpec, cfg: Config, device: str, precision: str, scales: list[float]
) -> tuple[dict, torch.Tensor, float]:
    return evaluate_each(model, split, spec, cfg, device, precision, [scales])[0]


def choose_eval_scales(model, val: Split, spec: ModelSpec, config: Config, ctx: Context):
    """(scales, their validation evaluation, each candidate's validation mIoU): the candidate of
    spec.eval_scale_candidates with the best validation mIoU (the first on a tie), or spec.eval_scales."""
    candidates = spec.eval_scale_candidates or [spec.eval_scales]
    evaluated = dict(
        zip(
            map(tuple, candidates),
            evaluate_each(model, val, spec, config, ctx.device, ctx.precision, candidates),
        )
    )
    best = max(evaluated, key=lambda c: evaluated[c][0]["miou"])  # max keeps the first of equal values
    tried = [{"scales": list(c), "val_miou": e[0]["miou"]} for c, e in evaluated.items()]
    if spec.eval_scale_candidates:
        ctx.log(
            "evaluation scales on validation: "
            + ", ".join(f"{t['scales']} {t['val_miou']:.3f}" for t in tried)
            + f"; chosen {list(best)}"
        )
    return list(best), evaluated[best], tried if spec.eval_scale_candidates else []
