"""Verdicts of Part 1's experiments over several seeds, decided here and nowhere else.

A run is summarised by the mean and the sample standard deviation (n - 1) of its metric over the
seeds. Two sources of noise are counted: the spread between seeds, and the finite evaluation set
(a binomial standard error, p (1 - p) / n_eval, for an accuracy over n_eval predictions).

    at_chance  the mean is within `sigmas` standard errors of chance, with
               se = sqrt(std^2 / seeds + chance (1 - chance) / n_eval)
    compare    "cannot_tell" when the baseline is at chance (nothing to compare a variant with);
               else the variant differs when |mean_v - mean_b| > sigmas * se_diff, with
               se_diff = sqrt((std_b^2 + std_v^2) / seeds + 2 p (1 - p) / n_eval), p the mean of
               the two accuracies: "variant_better", "variant_worse" or "no_difference"
"""

from __future__ import annotations

import math

SIGMAS = 2.0
VERDICTS = ("variant_better", "variant_worse", "no_difference", "cannot_tell")


def summary(values: list[float]) -> dict:
    """Mean, sample standard deviation (n - 1) and the values."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "values": list(values)}


def at_chance(values: list[float], chance: float, n_eval: int, sigmas: float = SIGMAS) -> bool:
    s = summary(values)
    se = math.sqrt(s["std"] ** 2 / len(values) + chance * (1 - chance) / n_eval)
    return abs(s["mean"] - chance) <= sigmas * se


def compare(
    baseline: list[float],
    variant: list[float],
    chance: float,
    n_eval: int,
    sigmas: float = SIGMAS,
    baseline_at_chance: bool | None = None,
) -> dict:
    """The variant's accuracy against the baseline's over the same seeds (see the module docstring)."""
    b, v = summary(baseline), summary(variant)
    if baseline_at_chance is None:
        baseline_at_chance = at_chance(baseline, chance, n_eval, sigmas)
    p = (b["mean"] + v["mean"]) / 2
    se = math.sqrt((b["std"] ** 2 + v["std"] ** 2) / len(baseline) + 2 * p * (1 - p) / n_eval)
    diff = v["mean"] - b["mean"]
    if baseline_at_chance:
        verdict = "cannot_tell"
    elif abs(diff) <= sigmas * se:
        verdict = "no_difference"
    else:
        verdict = "variant_better" if diff > 0 else "variant_worse"
    return {
        "difference": diff,
        "standard_error": se,
        "threshold": sigmas * se,
        "ratio": abs(diff) / se if se else None,
        "verdict": verdict,
    }
