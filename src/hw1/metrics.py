"""Classification and segmentation metrics, all from one confusion matrix.

confusion[i, j] counts samples (or pixels) of true class i predicted as class j.
"""

from __future__ import annotations

import torch


def confusion_matrix(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int | None = None
) -> torch.Tensor:
    """int64 [num_classes, num_classes], accumulated with one bincount (no Python loop)."""
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    if target.numel() and (int(target.max()) >= num_classes or int(target.min()) < 0):
        raise ValueError(f"target holds class ids outside [0, {num_classes})")
    index = target * num_classes + pred.clamp(0, num_classes - 1)
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    return torch.where(denominator > 0, numerator / denominator.clamp(min=1), torch.zeros_like(numerator))


def classification_report(confusion: torch.Tensor) -> dict:
    """Accuracy, per-class precision/recall/F1, and their macro averages (each class counts once)."""
    c = confusion.double()
    true_positive = c.diag()
    predicted = c.sum(0)  # column sums: how often each class was predicted
    actual = c.sum(1)  # row sums: how often each class occurs
    precision = _safe_divide(true_positive, predicted)
    recall = _safe_divide(true_positive, actual)
    # F1 = 2PR / (P + R) = 2 TP / (predicted + actual): counts only, so the safe division's
    # clamp(min=1) never touches a non-zero denominator (P + R can be below 1).
    f1 = _safe_divide(2 * true_positive, predicted + actual)
    return {
        "accuracy": float(true_positive.sum() / c.sum().clamp(min=1)),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "per_class": {"precision": precision.tolist(), "recall": recall.tolist(), "f1": f1.tolist()},
    }


def segmentation_report(confusion: torch.Tensor) -> dict:
    """Pixel accuracy, per-class IoU = TP / (TP + FP + FN), and mIoU over classes that occur."""
    c = confusion.double()
    true_positive = c.diag()
    union = c.sum(0) + c.sum(1) - true_positive
    iou = _safe_divide(true_positive, union)
    present = union > 0
    return {
        "pixel_accuracy": float(true_positive.sum() / c.sum().clamp(min=1)),
        "miou": float(iou[present].mean()) if bool(present.any()) else 0.0,
        "per_class_iou": iou.tolist(),
    }
