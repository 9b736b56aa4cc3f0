"""Question 2's experiment: the two mixing layers (shapes, local attention against a slow reference),
matched parameters, the multiply-add counter, the report's verdicts, and a smoke run end to end."""

from __future__ import annotations

import json
import math

import pytest
import torch

from hw1 import config as C
from hw1.experiments import conv_attention as exp
from hw1.experiments.base import Context
from hw1.models.local_mixing import (
    Backbone,
    Conv3x3Mixing,
    LocalAttention3x3,
    count_parameters,
)
from hw1.report import conv_attention as report


def test_mixing_layers_keep_shapes():
    x = torch.randn(2, 8, 5, 7)
    assert Conv3x3Mixing(8)(x).shape == x.shape
    assert LocalAttention3x3(8, 2)(x).shape == x.shape
    assert Backbone("attention", 8, 1, 2, stem_width=4)(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def slow_local_attention(layer: LocalAttention3x3, x: torch.Tensor) -> torch.Tensor:
    """Explicit loops over heads, positions and neighbours inside the map."""
    b, c, h, w = x.shape
    nh, d = layer.heads, layer.head_dim
    q, k, v = layer.qkv(x).chunk(3, dim=1)
    y = torch.zeros(b, c, h, w)
    for n in range(b):
        for head in range(nh):
            ch = slice(head * d, (head + 1) * d)
            for i in range(h):
                for j in range(w):
                    logits, values = [], []
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            if 0 <= i + dy < h and 0 <= j + dx < w:
                                offset = 3 * (dy + 1) + (dx + 1)
                                score = q[n, ch, i, j] @ k[n, ch, i + dy, j + dx] / math.sqrt(d)
                                logits.append(score + layer.position_bias[head, offset])
                                values.append(v[n, ch, i + dy, j + dx])
                    weights = torch.softmax(torch.stack(logits), 0)
                    y[n, ch, i, j] = (weights[:, None] * torch.stack(values)).sum(0)
    return layer.out(y)


def test_local_attention_equals_the_slow_reference():
    torch.manual_seed(0)
    layer = LocalAttention3x3(6, 2)
    with torch.no_grad():
        layer.position_bias.normal_()  # a bias that matters, different per head and offset
    x = torch.randn(2, 6, 4, 5)
    with torch.no_grad():
        assert torch.allclose(layer(x), slow_local_attention(layer, x), atol=1e-5)


def test_equal_logits_average_the_valid_neighbours():
    layer = LocalAttention3x3(4, 1)
    with torch.no_grad():
        layer.qkv.weight.zero_()
        layer.qkv.bias.zero_()
        layer.qkv.weight[8:, :, 0, 0] = torch.eye(4)  # q = k = 0 (all logits equal), v = x
        layer.out.weight[:, :, 0, 0] = torch.eye(4)
        layer.out.bias.zero_()
        x = torch.randn(1, 4, 3, 4)
        y = layer(x)
    mean = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    assert torch.allclose(y, mean, atol=1e-6)  # a corner averages 4 positions, an edge 6


def test_cpu_widths_match_parameters_within_two_percent():
    for profile in ("cpu", "smoke"):
        config = C.build(exp.Config, C.read("conv_attention", profile))
        counts = exp.parameter_counts(config)
        assert abs(counts["attention"] - counts["conv"]) / counts["conv"] <= 0.02
    config = C.build(exp.Config, C.read("conv_attention", "cpu"))
    assert count_parameters(exp.build(config, "conv")) == 235_274


def test_multiply_adds_by_hand():
    assert Conv3x3Mixing(4).multiply_adds(2, 3) == 9 * 4 * 4 * 6
    # projections 4 C^2 per position, q.k and the weighted sum 9 C each
    assert LocalAttention3x3(4, 2).multiply_adds(2, 3) == 6 * (4 * 16 + 9 * 4 + 9 * 4)
    m = Backbone("conv", 4, 1, mlp_ratio=2, stem_width=2, image_size=8).multiply_adds()
    stem = 9 * 3 * 2 * 4 * 4 + 9 * 2 * 4 * 2 * 2
    assert m == {
        "stem": stem,
        "mixing": 9 * 16 * 4,
        "mlp": 2 * 4 * 8 * 4,
        "head": 40,
        "total": stem + 9 * 16 * 4 + 2 * 4 * 8 * 4 + 40,
    }


def synthetic_metrics(conv: list[float], attention: list[float], at_chance: bool = False) -> dict:
    from hw1.experiments.bert_verdicts import compare

    def variant(values, width, macs, ms):
        return {
            "width": width,
            "parameters": 1000,
            "at_chance": False,
            "multiply_adds": {"total": macs, "mixing": macs // 2},
            "test_accuracy": {"mean": sum(values) / len(values), "std": 0.0, "values": values},
            "timing": {"inference_s_per_image": ms / 1e3, "train_s_mean": 10 * ms},
        }

    return {
        "seeds": [0, 1, 2],
        "steps": 10,
        "batch_size": 8,
        "variants": {"conv": variant(conv, 64, 100, 1.0), "attention": variant(attention, 80, 100, 3.0)},
        "comparison": compare(conv, attention, 0.1, 10_000, baseline_at_chance=at_chance),
    }


@pytest.mark.parametrize(
    "conv, attention, at_chance, verdict",
    [
        ([0.60, 0.61, 0.62], [0.70, 0.71, 0.72], False, "variant_better"),
        ([0.60, 0.61, 0.62], [0.50, 0.51, 0.52], False, "variant_worse"),
        ([0.60, 0.61, 0.62], [0.605, 0.615, 0.62], False, "no_difference"),
        ([0.10, 0.10, 0.11], [0.50, 0.51, 0.52], True, "cannot_tell"),
    ],
)
def test_report_picks_each_verdict(conv, attention, at_chance, verdict):
    d = report.derive(synthetic_metrics(conv, attention, at_chance), {})
    assert d["verdict"] == verdict
    assert not d["narrow"]  # the differences above are many standard errors, or none
    assert [r["variant"] for r in d["rows"]] == ["conv", "attention"]
    assert d["time_ratio"] == pytest.approx(3.0) and d["slower"] == "slower"
    assert d["mac_ratio"] == 1.0 and not d["time_follows_macs"] and not d["fewer_multiply_adds"]


def test_smoke_run_writes_everything(tmp_path):
    config = C.build(exp.Config, C.read("conv_attention", "smoke"))
    ctx = Context(
        "conv_attention", "smoke", tmp_path / "out", tmp_path, "cpu", 0, tmp_path / "cache", interactive=False
    )
    metrics = exp.run(config, ctx)
    out = tmp_path / "out"
    for v in exp.VARIANTS:
        x = metrics["variants"][v]
        assert len(x["test_accuracy"]["values"]) == config.seeds and 0 <= x["test_accuracy"]["mean"] <= 1
        assert x["multiply_adds"]["total"] > 0 and "inference_s_per_image" in x["timing"]
        assert [p[0] for p in x["curves"][0]] == [3, 6]
    assert metrics["comparison"]["verdict"] in (
        "variant_better",
        "variant_worse",
        "no_difference",
        "cannot_tell",
    )
    table = json.loads((out / "tables" / "comparison.json").read_text())
    assert [r[0] for r in table["rows"]] == ["conv", "attention"]
    assert all((out / "figures" / f"validation_accuracy.{lang}.svg").is_file() for lang in ("fa", "en"))
    assert report.derive(metrics, {})["verdict"] == metrics["comparison"]["verdict"]
