"""Part 2's values, derived from results/segmentation (see hw1.report).

    small_classes_share   the share of the training pixels of the four small classes (SMALL)
    models.<model>        per model: early_share (the share of the steps on small crops, None without
                          them), small_crop_time (a small-crop step's time over a full-crop one's, None
                          without small crops), train_minutes, eval_scales (the scales the test split
                          was evaluated at)
    eval_scale_rows       the candidate sets of evaluation scales: [model, scales, validation mIoU, chosen]
    eval_scale_table(shown)  those rows with the scales as `shown` (the page's macro) writes them
    iou_rows              mIoU, then each class: [class, SegFormer val, test, BEiT val, test]
    val_test_gaps         the classes that lose most IoU from validation to test (SegFormer), largest first
    beit_architecture     BEiT's architecture as run (older results keep it in the settings' config)
    curve(evals, back)    the last evaluation of a history and the one `back` evaluations before it
                          (data/history_<model>.json is not in metrics.json: the page passes it in)
    equal_schedule        SegFormer and BEiT on BEiT's schedule (None in results without it): steps,
                          warmup_steps, train_size, end (the last common evaluation: step, images,
                          segformer, beit), minutes (SegFormer's and BEiT's training on it)
Whether a curve still rises, or one model is above another, is chosen by the page with compare()
and a rule of text/references.yaml, which the page then cites.
"""

from __future__ import annotations

MODELS = {"segformer": "SegFormer", "beit": "BEiT"}
SMALL = ("pole", "sign_symbol", "pedestrian", "bicyclist")  # the classes the page names as small
GAPS_SHOWN = 3


def model(m: dict) -> dict:
    timing = m["timing"]
    early = timing.get("early_images_per_second")
    return {
        "early_share": m["early_steps"] / m["steps"] if m["early_steps"] else None,
        # images per second are inverse times: late / early is a small-crop step's share of a full one's
        "small_crop_time": timing["late_images_per_second"] / early if early else None,
        "train_minutes": timing["train_s"] / 60,
        "eval_scales": list(m["settings"]["eval_scales"]),
    }


def eval_scale_rows(metrics: dict) -> list[list]:
    """One row per candidate set of evaluation scales of each model (none for a model without candidates)."""
    return [
        [label, list(c["scales"]), c["val_miou"], list(c["scales"]) == list(m["settings"]["eval_scales"])]
        for name, label in MODELS.items()
        for m in [metrics[name]]
        for c in m.get("eval_scale_choice") or []
    ]


def scale_table(rows: list[list]):
    """eval_scale_table: the rows of the evaluation scales' table, each set of scales written by the
    page's own function (numbers and separators are the page's, in its language)."""
    return lambda shown: [[label, str(shown(scales)), miou, chosen] for label, scales, miou, chosen in rows]


def iou_rows(metrics: dict) -> list[list]:
    sf, be = metrics["segformer"], metrics["beit"]
    return [["mIoU", sf["val"]["miou"], sf["test"]["miou"], be["val"]["miou"], be["test"]["miou"]]] + [
        [
            c,
            sf["val"]["per_class"][c],
            sf["test"]["per_class"][c],
            be["val"]["per_class"][c],
            be["test"]["per_class"][c],
        ]
        for c in metrics["classes"]
    ]


def val_test_gaps(m: dict, classes: list, shown: int = GAPS_SHOWN) -> list[dict]:
    """The classes whose IoU falls most from the validation to the test split, largest fall first
    (ties in the order of the classes)."""
    rows = [
        {
            "class": c,
            "val": m["val"]["per_class"][c],
            "test": m["test"]["per_class"][c],
            "gap": m["val"]["per_class"][c] - m["test"]["per_class"][c],
        }
        for c in classes
    ]
    return sorted(rows, key=lambda r: r["gap"], reverse=True)[:shown]


def curve(evals: list, back: int) -> dict:
    """The last evaluation of a history, the one `back` evaluations before it (the first when the
    history is shorter), and how many evaluations there are."""
    evals = list(evals)
    return {"last": evals[-1], "before": evals[-min(back, len(evals))], "points": len(evals)}


def equal_schedule(e: dict | None) -> dict | None:
    if not e or not e.get("curve"):
        return None
    return {
        "steps": e["steps"],
        "warmup_steps": e["warmup_steps"],
        "train_size": e["train_size"],
        "end": e["curve"][-1],
        "points": len(e["curve"]),
        "minutes": {
            "segformer": e["timing"]["segformer_train_s"] / 60,
            "beit": e["timing"]["beit_train_s"] / 60,
        },
    }


def derive(metrics: dict, config: dict) -> dict:
    share = metrics["data"]["train_class_share"]
    beit = metrics["beit"]
    scale_rows = eval_scale_rows(metrics)
    return {
        "small_classes_share": sum(share[c] for c in SMALL),
        "models": {name: model(metrics[name]) for name in MODELS},
        "eval_scale_rows": scale_rows,
        "eval_scale_table": scale_table(scale_rows),
        "iou_rows": iou_rows(metrics),
        "val_test_gaps": val_test_gaps(metrics["segformer"], metrics["classes"]),
        "beit_architecture": beit["architecture"] if "architecture" in beit else beit["settings"]["config"],
        "curve": curve,
        "equal_schedule": equal_schedule(metrics.get("equal_schedule")),
    }
