"""Part 1's report layer (hw1.report.bert) and the sentences the Part 1 pages choose from it: every
outcome (NSP at chance or learnt, topic only or more, overfitting or not; a controlled experiment
with a difference, none, or that cannot tell) renders a page that says what is true of it."""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from hw1 import report
from hw1.report import bert as B
from hw1.site import cited, hook

ROOT = Path(__file__).resolve().parents[1]


def pretraining(other=0.85, same=0.55, n=512, losses=(0.69, 0.60, 0.50, 0.45), rise=0.0, train=0.9) -> dict:
    curve = [
        {
            "step": 500 * (k + 1),
            "train_nsp_loss": loss,
            "heldout_nsp_loss": loss + (rise if k == 3 else 0),
            "heldout_nsp_accuracy": [0.5, 0.6, 0.8, other][k],
            "heldout_same_nsp_accuracy": same,
            "heldout_mlm_top1": 0.3,
        }
        for k, loss in enumerate(losses)
    ]
    return {
        "chance": {"nsp_accuracy": 0.5, "nsp_loss": 0.693, "mlm_loss_uniform": 7.6},
        "heldout": {"nsp_accuracy": other, "nsp_examples": n, "mlm_top1": 0.31},
        "heldout_same": {"nsp_accuracy": same, "nsp_examples": n},
        "train": {"nsp_accuracy": train, "nsp_examples": 128},
        "targets": {"mlm_top1": 0.30, "nsp_accuracy": 0.80},
        "steps": 2000,
        "phases": {"early_steps": 800, "short_len": 48, "long_len": 128},
        "curve": curve,
    }


def test_nsp_verdicts_come_from_the_standard_error_of_chance():
    assert B.pretraining(pretraining(other=0.52, same=0.49))["nsp"] == "chance"  # 0.02 < 2 * 0.022
    d = B.pretraining(pretraining(other=0.85, same=0.51))
    assert (d["nsp"], d["nsp_same"], d["topic"]) == ("learnt", "chance", "topic_only")
    d = B.pretraining(pretraining(other=0.85, same=0.65))
    assert d["topic"] == "topic_and_order" and d["topic_share"] == pytest.approx(0.2 / 0.35)
    assert B.pretraining(pretraining(other=0.52))["topic"] == "none"
    assert d["targets"] == {"mlm_top1": True, "nsp_accuracy": True} and d["all_targets"]
    assert not B.pretraining(pretraining(other=0.75))["all_targets"]


def test_takeoff_is_the_first_step_nsp_stays_above_chance():
    d = B.pretraining(pretraining())  # accuracies 0.5, 0.6, 0.8, 0.85 at steps 500..2000
    assert d["nsp_takeoff_step"] == 1000 and d["nsp_takeoff_long"]  # after the switch at step 800
    assert B.pretraining(pretraining(other=0.52))["nsp_takeoff_step"] is None


def test_overfitting_is_a_held_out_loss_that_rose_from_its_lowest_point():
    assert B.pretraining(pretraining())["nsp_loss_trend"] == "falls"
    d = B.pretraining(pretraining(rise=0.2))  # last held-out loss 0.65, lowest 0.50 at step 1500
    assert d["nsp_loss_trend"] == "overfits" and d["nsp_loss_lowest"] == {"step": 1500, "value": 0.50}


# ----- the pages, rendered for each outcome ------------------------------------------------------
CONFIG = json.loads((ROOT / "results" / "bert" / "provenance.json").read_text(encoding="utf-8"))["config"]


def committed_metrics() -> dict:
    return json.loads((ROOT / "results" / "bert" / "metrics.json").read_text(encoding="utf-8"))


def render(tmp_path: Path, metrics: dict, lang: str) -> str:
    results = tmp_path / "results"
    if not results.exists():
        shutil.copytree(ROOT / "results" / "bert", results / "bert")
    (results / "bert" / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    renderer = hook.PageRenderer(
        hook.Results(results),
        hook.load_yaml(ROOT / "text" / "glossary.yaml"),
        {},
        lang,
        "part1-bert/",
        hook.make_env(),
        cited.load(ROOT / "text" / "references.yaml"),
    )
    text = renderer.render((ROOT / "docs" / f"part1-bert.{lang}.md").read_text(encoding="utf-8"), "part1")
    return re.sub(r"\s+", " ", text)


def set_nsp(m: dict, other: float, same: float) -> dict:
    m = copy.deepcopy(m)
    p = m["pretraining"]
    p["heldout"]["nsp_accuracy"], p["heldout_same"]["nsp_accuracy"] = other, same
    p["curve"][-1]["heldout_nsp_accuracy"] = other
    return m


@pytest.mark.parametrize(
    "lang, sentences",
    [
        (
            "en",
            {
                "chance": "the model has not learnt NSP",
                "topic_only": "what it learnt is topic matching",
                "topic_and_order": "most of what the model learnt is topic matching",
            },
        ),
        (
            "fa",
            {
                "chance": "مدل NSP را نیاموخته است",
                "topic_only": "آنچه آموخته تطبیق موضوع است",
                "topic_and_order": "بیشترِ آنچه مدل آموخته تطبیق موضوع است",
            },
        ),
    ],
)
def test_the_nsp_paragraph_follows_the_outcome(tmp_path, lang, sentences):
    base = committed_metrics()
    for key, (other, same) in {
        "chance": (0.51, 0.5),
        "topic_only": (0.85, 0.51),
        "topic_and_order": (0.85, 0.7),
    }.items():
        page = render(tmp_path, set_nsp(base, other, same), lang)
        assert sentences[key] in page, key
        assert all(s not in page for k, s in sentences.items() if k != key), key


def set_verdict(m: dict, task: str, comparison: str, verdict: str) -> dict:
    m = copy.deepcopy(m)
    m["controlled"][task]["comparisons"][comparison]["verdict"] = verdict
    return m


@pytest.mark.parametrize(
    "lang, sentences",
    [
        (
            "en",
            {
                "variant_worse": "does **worse**",
                "no_difference": "does as well as",
                "variant_better": "does **better**",
                "cannot_tell": "the experiment cannot tell",
            },
        ),
        (
            "fa",
            {
                "variant_worse": "**بدتر** است",
                "no_difference": "به خوبیِ",
                "variant_better": "**بهتر** است",
                "cannot_tell": "این آزمایش نمی‌تواند داوری کند",
            },
        ),
    ],
)
def test_the_heads_sentence_follows_the_verdict(tmp_path, lang, sentences):
    base = committed_metrics()
    for verdict, sentence in sentences.items():
        page = render(tmp_path, set_verdict(base, "heads", "multi_head_vs_single_head", verdict), lang)
        assert sentence in page, (verdict, lang)


def test_position_and_segment_verdicts(tmp_path):
    m = copy.deepcopy(committed_metrics())
    v = m["controlled"]["position"]["variants"]
    v["without_position"]["at_chance"], v["with_position"]["at_chance"] = True, False
    assert report.derive("bert", m, CONFIG)["controlled"]["position"]["verdict"] == "necessary"
    assert "stays **at chance**" in render(tmp_path, m, "en")
    v["with_position"]["at_chance"] = True
    assert report.derive("bert", m, CONFIG)["controlled"]["position"]["verdict"] == "cannot_tell"
    assert "Even with them the model stays at chance" in render(tmp_path, m, "en")
    s = m["controlled"]["segment"]["variants"]
    for name, at in (("both", False), ("segment_only", False), ("position_only", False), ("neither", True)):
        s[name]["at_chance"] = at
    assert (
        report.derive("bert", m, CONFIG)["controlled"]["segment"]["verdict"] == "necessary_without_position"
    )
    s["neither"]["at_chance"] = False
    assert report.derive("bert", m, CONFIG)["controlled"]["segment"]["verdict"] == "not_necessary"
    assert "Even without both embeddings the model is above chance" in render(tmp_path, m, "en")
