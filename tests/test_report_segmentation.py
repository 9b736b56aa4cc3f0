"""Part 2's report layer (hw1.report.segmentation) on small synthetic results, and both Part 2 pages
rendered from the committed results."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hw1 import report
from hw1.report import segmentation as S
from hw1.site import cited, hook

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["sky", "road", "pole"]


def model(val: dict, test: dict, early_steps=0, steps=100, early_ips=None, scales=(1.0,), choice=()) -> dict:
    return {
        "early_steps": early_steps,
        "steps": steps,
        "timing": {"train_s": 120.0, "early_images_per_second": early_ips, "late_images_per_second": 10.0},
        "settings": {"eval_scales": list(scales), "config": {"out_layers": [1, 2]}},
        "eval_scale_choice": [{"scales": list(s), "val_miou": v} for s, v in choice],
        "val": {"miou": sum(val.values()) / 3, "per_class": val},
        "test": {"miou": sum(test.values()) / 3, "per_class": test},
    }


def metrics(**segformer) -> dict:
    share = {"pole": 0.01, "sign_symbol": 0.02, "pedestrian": 0.03, "bicyclist": 0.04, "road": 0.9}
    sf = model({"sky": 0.9, "road": 0.8, "pole": 0.3}, {"sky": 0.85, "road": 0.5, "pole": 0.2}, **segformer)
    be = model({"sky": 0.7, "road": 0.6, "pole": 0.1}, {"sky": 0.7, "road": 0.6, "pole": 0.1})
    be["architecture"] = {"out_layers": [3, 6]}
    return {"data": {"train_class_share": share}, "classes": CLASSES, "segformer": sf, "beit": be}


def test_small_classes_and_small_crops():
    d = S.derive(metrics(early_steps=25, early_ips=40.0), {})
    assert d["small_classes_share"] == pytest.approx(0.10)
    sf = d["models"]["segformer"]
    assert sf["early_share"] == 0.25 and sf["small_crop_time"] == 0.25 and sf["train_minutes"] == 2.0
    assert d["models"]["beit"]["early_share"] is None and d["models"]["beit"]["small_crop_time"] is None
    assert d["beit_architecture"] == {"out_layers": [3, 6]}  # the architecture as run, when recorded


def test_the_classes_that_lose_most_come_first():
    d = S.derive(metrics(), {})
    assert [g["class"] for g in d["val_test_gaps"]] == ["road", "pole", "sky"]  # 0.3, 0.1, 0.05
    m = metrics()
    m["segformer"]["test"]["per_class"]["sky"] = 0.1  # now sky loses 0.8
    assert S.derive(m, {})["val_test_gaps"][0] == {
        "class": "sky",
        "val": 0.9,
        "test": 0.1,
        "gap": pytest.approx(0.8),
    }
    assert len(S.val_test_gaps(m["segformer"], CLASSES, shown=2)) == 2


def test_iou_rows_and_the_chosen_scales():
    m = metrics(scales=(1.0, 1.25), choice=[((1.0,), 0.5), ((1.0, 1.25), 0.55)])
    d = S.derive(m, {})
    assert d["iou_rows"][0][0] == "mIoU" and [r[0] for r in d["iou_rows"][1:]] == CLASSES
    assert d["iou_rows"][2] == ["road", 0.8, 0.5, 0.6, 0.6]
    assert [r[3] for r in d["eval_scale_rows"]] == [False, True]  # the set evaluated on test
    table = d["eval_scale_table"](lambda xs: "+".join(map(str, xs)))
    assert table[1] == ["SegFormer", "1.0+1.25", 0.55, True]
    assert S.derive(metrics(), {})["eval_scale_rows"] == []


def test_curve_ends():
    evals = [{"step": k, "val_miou": 0.1 * k} for k in range(1, 6)]
    c = S.curve(evals, 3)
    assert (c["last"]["step"], c["before"]["step"], c["points"]) == (5, 3, 5)
    assert S.curve(evals[:2], 3)["before"]["step"] == 1  # shorter history: its first point
    assert S.curve(evals[:1], 2)["points"] == 1


@pytest.mark.parametrize("lang", ["en", "fa"])
def test_the_pages_render_from_the_committed_results(lang):
    results = hook.Results(ROOT / "results")
    renderer = hook.PageRenderer(
        results,
        hook.load_yaml(ROOT / "text" / "glossary.yaml"),
        {},
        lang,
        "part2-segmentation/",
        hook.make_env(),
        cited.load(ROOT / "text" / "references.yaml"),
    )
    source = (ROOT / "docs" / f"part2-segmentation.{lang}.md").read_text(encoding="utf-8")
    page = re.sub(r"\s+", " ", renderer.render(source, "part2"))
    d = report.derive("segmentation", results.metrics("segmentation").raw())
    assert renderer.t(d["val_test_gaps"][0]["class"]) in page
    assert renderer.pct(d["small_classes_share"], 1) in page
