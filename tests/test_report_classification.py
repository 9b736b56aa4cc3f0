"""Part 3's report layer (hw1.report.classification) on small synthetic results, and both Part 3
pages rendered from the committed results."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hw1 import report
from hw1.report import classification as C
from hw1.site import cited, hook

ROOT = Path(__file__).resolve().parents[1]


def beit(low_res_size=24, low_res_steps=30, steps=100, recall=None) -> dict:
    sizes = [s for s in (low_res_size, 32) if s]
    return {
        "image_size": 32,
        "patch_size": 4,
        "steps": steps,
        "low_res_size": low_res_size,
        "low_res_steps": low_res_steps,
        "steps_by_size": {str(s): 10 * s for s in sizes},
        "timing": {"train_s": 90.0, "images_per_s_by_size": {str(s): 1000.0 / s for s in sizes}},
        "test": {"per_class": {"recall": recall or {"cat": 0.4, "ship": 0.9, "dog": 0.5}}},
    }


def metrics(**b) -> dict:
    return {
        "data": {"train": 45, "val": 5, "test": 10},
        "mlp": {"test": {"per_class": {"recall": {"cat": 0.3, "frog": 0.3, "truck": 0.7}}}},
        "beit": beit(**b),
    }


def test_counts_and_the_hardest_and_easiest_class():
    d = C.derive(metrics(), {})
    assert d["train_pool"] == 50 and d["beit"]["train_minutes"] == 1.5
    assert d["beit"]["recall"] == {"hardest": ["cat", 0.4], "easiest": ["ship", 0.9]}
    assert d["mlp"]["recall"]["hardest"] == ["cat", 0.3]  # a tie: the first class
    d = C.derive(metrics(recall={"cat": 0.95, "ship": 0.1}), {})
    assert d["beit"]["recall"] == {"hardest": ["ship", 0.1], "easiest": ["cat", 0.95]}


def test_the_phases_of_progressive_resizing():
    assert [(p["phase"], p["size"]) for p in C.phases(beit())] == [("first", 24), ("remaining", 32)]
    assert [p["phase"] for p in C.phases(beit(low_res_steps=100))] == ["first"]  # all at low resolution
    assert [p["phase"] for p in C.phases(beit(low_res_size=None))] == ["all"]
    d = C.derive(metrics(), {})["beit"]
    assert d["low_res_grid"] == {"side": 6, "tokens": 36}
    assert C.derive(metrics(low_res_size=None), {})["beit"]["low_res_grid"] is None
    rows = d["phase_table"]([["a", "b"]], lambda phase: phase, lambda p: p["steps"])
    assert rows == [["a", "b"], ["first", "240"], ["remaining", "320"]]


def test_the_original_mlp_parameters():
    p = C.mlp_parameters(32, 3, 256, 10)
    assert (p["inputs"], p["first_layer"], p["total"]) == (3072, 786432, 855050)  # Keras' summary
    assert p["first_share"] == pytest.approx(786432 / 855050)
    assert C.grid(32, 4) == {"side": 8, "tokens": 64}


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_the_pages_render_from_the_committed_results(lang):
    results = hook.Results(ROOT / "results")
    original = hook.load_yaml(ROOT / "text" / "original_report.yaml")
    original = {k: hook.Reported(v) for k, v in original.items()}
    renderer = hook.PageRenderer(
        results,
        hook.load_yaml(ROOT / "text" / "glossary.yaml"),
        original,
        lang,
        "part3-classification/",
        hook.make_env(),
        cited.load(ROOT / "text" / "references.yaml"),
    )
    source = (ROOT / "docs" / f"part3-classification.{lang}.md").read_text(encoding="utf-8")
    page = re.sub(r"\s+", " ", renderer.render(source, "part3"))
    d = report.derive("classification", results.metrics("classification").raw())
    assert renderer.t(d["beit"]["recall"]["easiest"][0]) in page
    assert renderer.int_(d["train_pool"]) in page
    assert renderer.int_(786432) in page  # the first layer's weights


def with_cnn(cnn_accuracy: float) -> dict:
    m = metrics()
    m["mlp"].update(parameters=855_050, timing={"train_s": 120.0})
    m["mlp"]["test"]["accuracy"] = 0.48
    m["beit"].update(parameters=1_300_000)
    m["beit"]["test"]["accuracy"] = 0.66
    m["cnn"] = {
        "parameters": 650_000,
        "timing": {"train_s": 30.0},
        "test": {"accuracy": cnn_accuracy, "per_class": {"recall": {"cat": 0.7, "ship": 0.95}}},
    }
    return m


def test_the_cnn_against_the_others_and_the_ranking():
    d = C.derive(with_cnn(0.86), {})
    assert [name for name, _ in d["ranking"]] == ["cnn", "beit", "mlp"]
    vb = d["cnn_against"]["beit"]
    assert vb["parameters"] == pytest.approx(2.0) and vb["time"] == pytest.approx(3.0)
    assert vb["points_ahead"] == pytest.approx(20.0) and vb["points_behind"] == pytest.approx(-20.0)
    assert d["cnn"]["slowdown"](3.0) == pytest.approx(10.0) and d["cnn"]["points_below"](
        0.94
    ) == pytest.approx(8.0)
    d = C.derive(with_cnn(0.60), {})  # the ranking follows the numbers
    assert [name for name, _ in d["ranking"]] == ["beit", "cnn", "mlp"]
    assert C.derive(metrics(), {})["cnn"] is None and C.derive(metrics(), {})["ranking"] == []
