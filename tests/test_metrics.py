"""Confusion matrix, precision/recall/F1 and macro averages against hand-computed cases."""

import pytest
import torch

from hw1.metrics import classification_report, confusion_matrix


def test_confusion_matrix_counts_true_rows_predicted_columns():
    target = torch.tensor([0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 0, 1, 1, 2, 2])
    c = confusion_matrix(pred, target, 3)
    assert c.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert c.dtype == torch.int64


def test_confusion_matrix_ignore_index_and_range_check():
    target = torch.tensor([0, 255, 1, 255])
    pred = torch.tensor([1, 0, 1, 1])
    assert confusion_matrix(pred, target, 2, ignore_index=255).tolist() == [[0, 1], [0, 1]]
    with pytest.raises(ValueError):
        confusion_matrix(torch.tensor([0]), torch.tensor([3]), 3)


def test_report_by_hand():
    # precision = TP / column sum = [2/2, 1/2, 1/2]; recall = TP / row sum = [2/3, 1/2, 1/1]
    # F1 = 2PR / (P + R) = [0.8, 0.5, 2/3]; macro-F1 = their mean; accuracy = 4/6
    c = torch.tensor([[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    r = classification_report(c)
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["per_class"]["precision"] == pytest.approx([1.0, 0.5, 0.5])
    assert r["per_class"]["recall"] == pytest.approx([2 / 3, 0.5, 1.0])
    assert r["per_class"]["f1"] == pytest.approx([0.8, 0.5, 2 / 3])
    assert r["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert r["macro_precision"] == pytest.approx(2 / 3)
    assert r["macro_recall"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)


def test_class_never_predicted_has_zero_precision_and_f1_not_nan():
    c = torch.tensor([[3, 0], [2, 0]])  # class 1 occurs twice and is never predicted
    r = classification_report(c)
    assert r["per_class"]["precision"] == pytest.approx([0.6, 0.0])
    assert r["per_class"]["f1"] == pytest.approx([0.75, 0.0])
    assert r["macro_f1"] == pytest.approx(0.375)


def test_micro_f1_equals_accuracy_but_macro_does_not():
    """Summed over classes, FP = FN = number of errors, so micro P = micro R = micro F1 = accuracy."""
    c = torch.tensor([[50, 0, 0], [10, 30, 10], [0, 0, 50]])
    tp, fp, fn = c.diag().sum(), c.sum() - c.diag().sum(), c.sum() - c.diag().sum()
    micro_f1 = float(2 * tp / (2 * tp + fp + fn))
    r = classification_report(c)
    assert micro_f1 == pytest.approx(r["accuracy"]) == pytest.approx(130 / 150)
    assert r["macro_f1"] != pytest.approx(r["accuracy"])


def test_f1_when_precision_plus_recall_is_below_one():
    """P = 1/4, R = 1/5: F1 = 2PR / (P + R) = 2/9 (a denominator below 1 must not be clamped)."""
    c = torch.tensor(
        [
            [1, 4, 0],  # class 0: TP 1, actual 5 -> R = 1/5
            [3, 6, 0],  # class 0 predicted 4 times -> P = 1/4
            [0, 0, 2],
        ]
    )
    r = classification_report(c)
    assert r["per_class"]["precision"][0] == pytest.approx(0.25)
    assert r["per_class"]["recall"][0] == pytest.approx(0.2)
    assert r["per_class"]["f1"][0] == pytest.approx(2 / 9)
