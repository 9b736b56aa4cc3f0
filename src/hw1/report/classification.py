"""Part 3's values, derived from results/classification (see hw1.report).

    train_pool              the training images before the split into training and validation
    mlp.recall, beit.recall the hardest and the easiest class on the test set: {"hardest": [class,
                            recall], "easiest": [class, recall]} (ties in the order of the classes)
    beit.train_minutes      BEiT's training time in minutes
    beit.low_res_grid       the token grid of the low-resolution steps (None without them)
    beit.phases             the image sizes BEiT trained at, in order: phase ("first", "remaining" or
                            "all"), size, steps, images_per_s
    beit.phase_table(rows, label, cell)  the page's rows, then one row per phase: [label(phase),
                            cell(phase)] (the words and the formatting are the page's)
    cnn                     the CNN (None in results without it): recall extremes, train_minutes,
                            slowdown (its training seconds over airbench94's on an A100, given as
                            `airbench_seconds`), points_below(accuracy): percentage points of test
                            accuracy below `accuracy`
    ranking                 the three models by test accuracy, best first: [name, accuracy]
    cnn_against.<model>     BEiT's or the MLP's parameters and training time as multiples of the
                            CNN's, and the CNN's test accuracy minus theirs (None without a CNN)
Two functions need no results, only the values the page cites or a profile's configuration:
grid(image_size, patch_size) and mlp_parameters(image_size, channels, hidden, classes); the site
gives them to the pages as `report.classification`.
"""

from __future__ import annotations


def grid(image_size: int, patch_size: int) -> dict:
    """The grid of patches of a square image: its side and its number of tokens."""
    side = image_size // patch_size
    return {"side": side, "tokens": side * side}


def mlp_parameters(image_size: int, channels: int, hidden: int, classes: int) -> dict:
    """The original's MLP (two hidden layers of `hidden` units) on flattened images: its inputs, the
    weights of the first layer, all its parameters (weights and biases) and the first layer's share."""
    inputs = image_size * image_size * channels
    first = inputs * hidden
    total = first + hidden + hidden * hidden + hidden + hidden * classes + classes
    return {"inputs": inputs, "first_layer": first, "total": total, "first_share": first / total}


def recall_extremes(recall: dict) -> dict:
    ranked = sorted(recall.items(), key=lambda item: item[1])
    return {"hardest": list(ranked[0]), "easiest": list(ranked[-1])}


def phases(b: dict) -> list[dict]:
    """The image sizes of BEiT's training: the low-resolution steps first, if any, then the full size
    (absent when every step was at low resolution)."""

    def phase(name: str, size: int) -> dict:
        return {
            "phase": name,
            "size": size,
            "steps": b["steps_by_size"][str(size)],
            "images_per_s": b["timing"]["images_per_s_by_size"][str(size)],
        }

    low = b.get("low_res_size")
    out = [phase("first", low)] if low else []
    if not low or b["low_res_steps"] < b["steps"]:
        out.append(phase("remaining" if low else "all", b["image_size"]))
    return out


def phase_table(shown: list[dict]):
    return lambda rows, label, cell: list(rows) + [[str(label(p["phase"])), str(cell(p))] for p in shown]


def beit(b: dict) -> dict:
    low = b.get("low_res_size")
    shown = phases(b)
    return {
        "recall": recall_extremes(b["test"]["per_class"]["recall"]),
        "train_minutes": b["timing"]["train_s"] / 60,
        "low_res_grid": grid(low, b["patch_size"]) if low else None,
        "phases": shown,
        "phase_table": phase_table(shown),
    }


def cnn(c: dict | None) -> dict | None:
    if not c:
        return None
    return {
        "recall": recall_extremes(c["test"]["per_class"]["recall"]),
        "train_minutes": c["timing"]["train_s"] / 60,
        "slowdown": lambda airbench_seconds: c["timing"]["train_s"] / float(airbench_seconds),
        "points_below": lambda accuracy: (float(accuracy) - c["test"]["accuracy"]) * 100,
    }


def ranking(metrics: dict) -> list[list]:
    """The three models by test accuracy, best first ([] in results without the CNN)."""
    if "cnn" not in metrics:
        return []
    return sorted(([n, metrics[n]["test"]["accuracy"]] for n in ("mlp", "cnn", "beit")), key=lambda r: -r[1])


def against(c: dict | None, other: dict) -> dict | None:
    """The CNN against another model: the other's parameters and training time as multiples of the
    CNN's, and the difference of test accuracy (CNN minus the other)."""
    if not c:
        return None
    return {
        "parameters": other["parameters"] / c["parameters"],
        "time": other["timing"]["train_s"] / c["timing"]["train_s"],
        "accuracy_difference": c["test"]["accuracy"] - other["test"]["accuracy"],
        "points_ahead": (c["test"]["accuracy"] - other["test"]["accuracy"]) * 100,
        "points_behind": (other["test"]["accuracy"] - c["test"]["accuracy"]) * 100,
    }


def derive(metrics: dict, config: dict) -> dict:
    data = metrics["data"]
    c = metrics.get("cnn")
    return {
        "train_pool": data["train"] + data["val"],
        "mlp": {"recall": recall_extremes(metrics["mlp"]["test"]["per_class"]["recall"])},
        "cnn": cnn(c),
        "ranking": ranking(metrics),
        "cnn_against": {"beit": against(c, metrics["beit"]), "mlp": against(c, metrics["mlp"])},
        "beit": beit(metrics["beit"]),
    }
