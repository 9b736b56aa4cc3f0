"""Question 2's values and verdicts, derived from results/conv_attention (see hw1.report).

verdict        "variant_better" | "variant_worse" | "no_difference" | "cannot_tell": local attention's
               test accuracy against the convolution's, by hw1.experiments.bert_verdicts.compare
               (recorded in metrics.json's `comparison`)
attention_at_chance  True when the attention variant's accuracy is within two standard errors of chance
*_ratio        attention / convolution: parameters, multiply-adds, inference time per image, training time
slower         "slower" | "faster": attention's inference time per image against the convolution's
time_follows_macs  True when the time ratio is within a factor FOLLOWS of the multiply-add ratio
fewer_multiply_adds  True when attention needs fewer multiply-adds per image than the convolution
rows           one row per variant for the page's table
"""

from __future__ import annotations

VARIANTS = ("conv", "attention")
NARROW = 3.0  # a difference of fewer standard errors than this (but more than two) is called narrow
FOLLOWS = 1.5  # a time ratio within this factor of the multiply-add ratio "follows" the count


def row(name: str, v: dict) -> dict:
    return {
        "variant": name,
        "width": v["width"],
        "parameters": v["parameters"],
        "multiply_adds": v["multiply_adds"]["total"],
        "mixing_multiply_adds": v["multiply_adds"]["mixing"],
        "accuracy_mean": v["test_accuracy"]["mean"],
        "accuracy_std": v["test_accuracy"]["std"],
        "accuracy_per_seed": v["test_accuracy"]["values"],
        "ms_per_image": v["timing"]["inference_s_per_image"] * 1e3,
        "train_s": v["timing"]["train_s_mean"],
    }


def derive(metrics: dict, config: dict) -> dict:
    if "variants" not in metrics:
        return {}
    v = metrics["variants"]
    conv, attention = v["conv"], v["attention"]
    rows = [row(name, v[name]) for name in VARIANTS]
    time_ratio = rows[1]["ms_per_image"] / rows[0]["ms_per_image"]
    return {
        "rows": rows,
        "verdict": metrics["comparison"]["verdict"],
        "difference": metrics["comparison"]["difference"],
        "threshold": metrics["comparison"]["threshold"],
        "threshold_points": 100 * metrics["comparison"]["threshold"],  # in percentage points
        "standard_errors": metrics["comparison"]["ratio"],
        "narrow": metrics["comparison"]["verdict"] in ("variant_better", "variant_worse")
        and metrics["comparison"]["ratio"] < NARROW,
        "attention_at_chance": attention["at_chance"],
        "seeds": len(metrics["seeds"]),
        "epochs": metrics["steps"] * metrics["batch_size"] / metrics["train_images"]
        if metrics.get("train_images")
        else None,
        "parameter_ratio": attention["parameters"] / conv["parameters"],
        "parameter_gap": abs(attention["parameters"] - conv["parameters"]) / conv["parameters"],
        "mac_ratio": attention["multiply_adds"]["total"] / conv["multiply_adds"]["total"],
        "mixing_mac_ratio": attention["multiply_adds"]["mixing"] / conv["multiply_adds"]["mixing"],
        "time_ratio": time_ratio,
        "slower": "slower" if time_ratio > 1 else "faster",
        "train_time_ratio": rows[1]["train_s"] / rows[0]["train_s"],
        "time_follows_macs": 1 / FOLLOWS
        <= time_ratio / (attention["multiply_adds"]["total"] / conv["multiply_adds"]["total"])
        <= FOLLOWS,
        "fewer_multiply_adds": attention["multiply_adds"]["total"] < conv["multiply_adds"]["total"],
    }
