"""IoU, mIoU and pixel accuracy on a case small enough to count by hand."""

from __future__ import annotations

import pytest
import torch

from hw1.metrics import confusion_matrix, segmentation_report


def test_iou_by_hand_with_ignored_pixels():
    # 3 classes, id 3 ignored. target / prediction on a 2x4 image:
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 3, 3]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 2, 0]])
    c = confusion_matrix(pred, target, num_classes=3, ignore_index=3)
    # counted pixels: the 6 labelled ones. rows = truth, columns = prediction
    assert c.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    r = segmentation_report(c)
    # class 0: TP 1, FP 1 (a 2 predicted as 0), FN 1 -> 1/3
    # class 1: TP 2, FP 1, FN 0 -> 2/3
    # class 2: TP 1, FP 0, FN 1 -> 1/2
    assert r["per_class_iou"] == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert r["miou"] == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert r["pixel_accuracy"] == pytest.approx(4 / 6)


def test_batches_accumulate_to_the_whole_split():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (6, 7, 9), generator=g)
    pred = torch.randint(0, 4, (6, 7, 9), generator=g)
    whole = confusion_matrix(pred, target, 4, ignore_index=4)
    parts = sum(
        confusion_matrix(pred[i : i + 2], target[i : i + 2], 4, ignore_index=4) for i in range(0, 6, 2)
    )
    assert torch.equal(whole, parts)
    assert int(whole.sum()) == int((target != 4).sum())


def test_absent_class_does_not_count_in_miou():
    target = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 0, 1, 0])
    r = segmentation_report(confusion_matrix(pred, target, num_classes=3))
    # class 2 never occurs nor is predicted: mIoU over classes 0 (2/3) and 1 (1/2)
    assert r["miou"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert r["per_class_iou"][2] == 0.0
