"""Part 1-1: what dividing the attention scores by sqrt(d_k) does to the softmax.

For q, k with independent N(0, 1) entries, q . k has mean 0 and variance d_k. Without the scale the
scores spread further as d_k grows, the softmax approaches a one-hot vector and its gradient
vanishes. Measured on random queries and keys, with and without the scale.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import torch

from hw1.experiments.base import Context


@dataclass
class Config:
    dims: list[int]  # d_k values
    num_keys: int  # keys per query
    num_queries: int  # random queries per d_k
    seed: int = 0
    threads: int | None = None  # set by the runner (torch.set_num_threads)
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # unused: this computes in fp32 throughout


def softmax_statistics(scores: torch.Tensor) -> dict:
    """Entropy (nats), largest weight and gradient size of softmax over the last dimension."""
    weights = scores.softmax(-1)
    entropy = -(weights * weights.clamp_min(1e-30).log()).sum(-1)
    # d softmax / d scores for an upstream gradient of ones on a random coordinate: use the
    # Jacobian's Frobenius norm per query, J = diag(p) - p p^T, ||J||_F^2 = sum p^2 - 2 sum p^3 + (sum p^2)^2
    p2, p3 = (weights**2).sum(-1), (weights**3).sum(-1)
    jacobian_norm = (p2 - 2 * p3 + p2**2).clamp_min(0).sqrt()
    return {
        "score_std": float(scores.std()),
        "entropy": float(entropy.mean()),
        "max_weight": float(weights.max(-1).values.mean()),
        "jacobian_norm": float(jacobian_norm.mean()),
    }


def run(config: Config, ctx: Context) -> dict:
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(config.seed)
    rows, curves = [], {"unscaled": [], "scaled": []}
    for d in ctx.progress(config.dims, desc="dimensions"):
        q = torch.randn(config.num_queries, 1, d, generator=generator)
        k = torch.randn(config.num_queries, config.num_keys, d, generator=generator)
        scores = (q @ k.transpose(1, 2)).squeeze(1)  # [queries, keys]
        for name, s in (("unscaled", scores), ("scaled", scores / math.sqrt(d))):
            stats = softmax_statistics(s)
            curves[name].append(stats)
            rows.append(
                [d, name, stats["score_std"], stats["entropy"], stats["max_weight"], stats["jacobian_norm"]]
            )
    ctx.save_table(
        "softmax_by_dim", ["d_k", "scores", "score_std", "entropy", "max_weight", "jacobian_norm"], rows
    )

    ctx.save_figure("softmax_by_dim", lambda w: softmax_figure(w, config, curves))

    largest = config.dims[-1]
    return {
        "num_keys": config.num_keys,
        "uniform_entropy": math.log(config.num_keys),
        "largest_dim": largest,
        "unscaled": {str(d): c for d, c in zip(config.dims, curves["unscaled"])},
        "scaled": {str(d): c for d, c in zip(config.dims, curves["scaled"])},
        "timing": {"total_s": round(time.perf_counter() - start, 2)},
    }


def softmax_figure(w, config: Config, curves: dict):
    from hw1 import plots
    from hw1.experiments.bert_words import Words

    w = Words(w)  # d_k typeset: words of text/figures_part1.yaml

    fig, axes = plots.pyplot().subplots(1, 3, figsize=(10.5, 3.3))
    for name, style in (("unscaled", "o-"), ("scaled", "s--")):
        for ax, key in zip(axes, ("entropy", "max_weight", "jacobian_norm")):
            ax.plot(config.dims, [c[key] for c in curves[name]], style, label=w(f"scores {name} (typeset)"))
    for ax, title in zip(
        axes, ("softmax entropy (nats)", "largest attention weight", "softmax Jacobian norm")
    ):
        ax.set_xscale("log", base=2)
        ax.set_xticks(config.dims, [w.digits(d) for d in config.dims])
        ax.minorticks_off()
        ax.set_xlabel(w("key dimension (typeset)"))
        ax.set_title(w(title))
        ax.grid(alpha=0.3)
    axes[0].axhline(math.log(config.num_keys), color="gray", lw=0.8, ls=":")
    w.legend(axes[0])
    fig.tight_layout()
    return fig
