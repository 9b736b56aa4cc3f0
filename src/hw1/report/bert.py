"""Part 1's values and verdicts, derived from results/bert (see hw1.report).

Every sentence of the Part 1 page that could become false is chosen by a key computed here:
    pretraining.nsp            "learnt" | "chance"           (held-out, negatives from other modules)
    pretraining.nsp_same       "learnt" | "chance"           (negatives from the same module)
    pretraining.topic          "topic_only" | "topic_and_order" | "none"
    pretraining.nsp_loss_trend "overfits" | "falls"           (held-out NSP loss after its lowest point)
    pretraining.targets.*      True | False
    controlled.<task>.*        see `controlled`
"A metric is at chance" means within two standard errors of it, by the one rule of
hw1.experiments.bert_verdicts, which also decides the controlled experiments' verdicts.
"""

from __future__ import annotations

import statistics

from hw1.experiments.bert_verdicts import at_chance

LOSS_RISE = 0.01  # nats: a held-out loss this far above its lowest point has risen
CLEAR = 0.5  # a head with more than half of its weight on one pattern has that pattern
SATURATED = 0.9  # a softmax whose rows put this much on one key, on average, is saturated


def above_chance(accuracy: float, chance: float, n: int) -> bool:
    """One run's accuracy over n predictions (only the evaluation set's standard error counts)."""
    return accuracy > chance and not at_chance([accuracy], chance, n)


def pretraining(p: dict) -> dict:
    chance, n = p["chance"]["nsp_accuracy"], p["heldout"]["nsp_examples"]
    other, same = p["heldout"]["nsp_accuracy"], p["heldout_same"]["nsp_accuracy"]
    nsp = "learnt" if above_chance(other, chance, n) else "chance"
    nsp_same = "learnt" if above_chance(same, chance, p["heldout_same"]["nsp_examples"]) else "chance"
    topic = "none" if nsp == "chance" else ("topic_only" if nsp_same == "chance" else "topic_and_order")
    curve = p["curve"]
    # NSP "takes off" at the first evaluation above chance from which it stays above chance
    above = [above_chance(c["heldout_nsp_accuracy"], chance, n) for c in curve]
    takeoff = next((c["step"] for k, c in enumerate(curve) if all(above[k:])), None)
    lowest = min(curve, key=lambda c: c["heldout_nsp_loss"])
    last = curve[-1]
    overfits = last["heldout_nsp_loss"] - lowest["heldout_nsp_loss"] > LOSS_RISE
    targets = {
        "mlm_top1": p["heldout"]["mlm_top1"] >= p["targets"]["mlm_top1"],
        "nsp_accuracy": other >= p["targets"]["nsp_accuracy"],
    }
    return {
        "nsp": nsp,
        "nsp_same": nsp_same,
        "topic": topic,
        # of the accuracy above chance, the part that the same-module negatives take away
        "topic_share": (other - same) / (other - chance) if nsp == "learnt" else None,
        "nsp_takeoff_step": takeoff,
        # whether that was after the switch to long examples
        "nsp_takeoff_long": takeoff is not None and takeoff > p["phases"]["early_steps"],
        "nsp_loss_trend": "overfits" if overfits else "falls",
        # fixed training batches against held-out ones: how much of NSP is the training pairs themselves
        "nsp_train_accuracy": p["train"]["nsp_accuracy"],
        "memorises": not at_chance([p["train"]["nsp_accuracy"]], other, p["train"]["nsp_examples"])
        and p["train"]["nsp_accuracy"] > other,
        "nsp_loss_lowest": {"step": lowest["step"], "value": lowest["heldout_nsp_loss"]},
        "nsp_loss_last": last["heldout_nsp_loss"],
        "nsp_train_loss_last": last["train_nsp_loss"],
        "long_steps": p["steps"] - p["phases"]["early_steps"],
        "targets": targets,
        "all_targets": all(targets.values()),
    }


def _steps(values: list) -> dict:
    """Steps to the target accuracy over the seeds: the median of those that reached it."""
    reached = [v for v in values if v is not None]
    median = statistics.median(reached) if reached else None
    return {
        "reached": len(reached),
        "median": int(median) if median is not None and float(median).is_integer() else median,
    }


def controlled(c: dict, config: dict) -> dict:
    out = {}
    for task, r in c.items():
        out[task] = {
            "seeds": len(r["seeds"]),
            "steps": r["steps"],
            "variants": {
                name: {
                    "mean": x["mean"],
                    "std": x["std"],
                    "at_chance": x["at_chance"],
                    "steps_to_target": _steps(x["steps_to_target"]),
                }
                for name, x in r["variants"].items()
            },
        }
    if "heads" in c:
        out["heads"]["verdict"] = c["heads"]["comparisons"]["multi_head_vs_single_head"]["verdict"]
        out["heads"]["num_heads"] = config["num_heads"]
        out["heads"]["classes"] = round(1 / c["heads"]["chance"])
    if "position" in c:
        v = c["position"]["variants"]
        out["position"]["verdict"] = (
            "cannot_tell"
            if v["with_position"]["at_chance"]
            else "necessary"
            if v["without_position"]["at_chance"]
            else "not_necessary"
        )
    if "segment" in c:
        v = c["segment"]["variants"]
        learns = {k: not x["at_chance"] for k, x in v.items()}
        out["segment"]["verdict"] = (
            "cannot_tell"
            if not learns["both"]
            else "necessary_without_position"
            if not learns["neither"] and learns["segment_only"]
            else "not_necessary"
        )
        steps = {k: out["segment"]["variants"][k]["steps_to_target"]["median"] for k in v}
        out["segment"]["position_only_slowdown"] = (
            steps["position_only"] / steps["both"] if steps["position_only"] and steps["both"] else None
        )
        out["segment"]["position_only_slower"] = bool(
            steps["position_only"] and steps["both"] and steps["position_only"] > steps["both"]
        )
    if "scale" in c:
        out["scale"]["verdict"] = c["scale"]["comparisons"]["scaled_vs_unscaled"]["verdict"]
        saturation = c["scale"]["variants"]["unscaled"]["initial_saturation"]["mean"]
        out["scale"]["initially_saturated"] = saturation > SATURATED
        s = out["scale"]["variants"]
        scaled, unscaled = (s[k]["steps_to_target"]["median"] for k in ("scaled", "unscaled"))
        out["scale"]["unscaled_slower"] = scaled is not None and (unscaled is None or scaled < unscaled)
    return out


# labels of table cells, looked up in text/glossary.yaml by the site
TASK_LABELS = {
    "heads": "task: four lookups at once",
    "position": "task: first token greater than last?",
    "segment": "task: is the marker in A or in B?",
    "scale": "task: copy the previous token",
}
VARIANT_LABELS = {
    "multi_head": "several heads",
    "single_head": "one head (same parameters)",
    "with_position": "with position embeddings",
    "without_position": "without position embeddings",
    "both": "segment and position embeddings",
    "segment_only": "segment embeddings only",
    "position_only": "position embeddings only",
    "neither": "neither embedding",
    "scaled": "scaled by 1/sqrt(d_k)",
    "unscaled": "not scaled",
}


def controlled_rows(derived: dict) -> list[list]:
    """One row per task and variant (the task named on its first row) of `controlled`'s values:
    accuracy mean and std over the seeds, at chance or not, median steps to the target accuracy,
    how many runs reached it."""
    return [
        [
            TASK_LABELS[task] if k == 0 else "",
            VARIANT_LABELS[name],
            v["mean"],
            v["std"],
            v["at_chance"],
            v["steps_to_target"]["median"],
            v["steps_to_target"]["reached"],
        ]
        for task, r in derived.items()
        for k, (name, v) in enumerate(r["variants"].items())
    ]


# hw1.experiments.bert_attention's labels (that module imports torch, which the site never does)
PATTERN_LABELS = {
    "cls": "attention to [CLS]",
    "sep": "attention to [SEP]",
    "previous": "previous token",
    "next": "next token",
    "self": "same token",
}


def attention_rows(minilm: dict, ours: dict) -> list[list]:
    """Per pattern: the strongest head of MiniLM and of our model, with the score of uniform attention."""
    return [
        [
            label,
            minilm["top_heads"][p]["layer"],
            minilm["top_heads"][p]["head"],
            minilm["top_heads"][p]["score"],
            ours["top_heads"][p]["layer"],
            ours["top_heads"][p]["head"],
            ours["top_heads"][p]["score"],
            ours["uniform_baseline"][p],
        ]
        for p, label in PATTERN_LABELS.items()
    ]


def derive(metrics: dict, config: dict) -> dict:
    out = {}
    if "pretraining" in metrics:
        out["pretraining"] = pretraining(metrics["pretraining"])
        # the home page's headline table: what it takes to read MLM top-1 (a uniform guess)
        out["mlm_uniform"] = 1 / metrics["pretraining"]["model"]["vocab_size"]
    if "controlled" in metrics:
        out["controlled"] = controlled(metrics["controlled"], config.get("controlled", {}))
        out["controlled_rows"] = controlled_rows(out["controlled"])
    if "attention" in metrics:
        minilm = metrics["attention"]
        out["minilm_heads"] = minilm["layers"] * minilm["heads"]
        out["attention_grids"] = list(range(1, minilm["sentences"] + 1))  # figures attention_grid_<n>
    if "attention_ours" in metrics and "attention" in metrics:
        ours = metrics["attention_ours"]
        out["attention_rows"] = attention_rows(metrics["attention"], ours)
        clear = [p for p, h in ours["top_heads"].items() if h["score"] > CLEAR]
        out["attention_ours_clear"] = [PATTERN_LABELS[p] for p in clear]
        # of those, the patterns that MiniLM has clear heads for too
        out["attention_shared"] = [
            PATTERN_LABELS[p] for p in clear if metrics["attention"]["top_heads"][p]["score"] > CLEAR
        ]
    return out
