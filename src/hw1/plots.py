"""The figures that several experiments draw: training curves and confusion matrices.

Curves read the training core's History (as JSON: {"step", "train_loss", "evals": [...]}) so that
every experiment's curves look alike. Figures are returned, saved by Context.save_figure.
"""
from __future__ import annotations

import numpy as np


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves(evals: list[dict], panels: list[tuple[str, list[tuple[str, str]]]], x_key: str = "step",
           x_label: str = "step", title: str = "", x_scale: float = 1.0):
    """One panel per (y label, [(eval key, legend)]), the eval points against x_key."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.4), squeeze=False)
    xs = [e[x_key] * x_scale for e in evals]
    for ax, (y_label, series) in zip(axes[0], panels):
        for (key, legend), marker in zip(series, "osd^v"):
            ax.plot(xs, [e.get(key) for e in evals], f"{marker}-", ms=3, label=legend)
        ax.set(xlabel=x_label, ylabel=y_label, title=f"{title}: {y_label}" if title else y_label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def confusion(matrix, labels: list[str], title: str, x_label: str = "predicted class",
              y_label: str = "true class", normalise: bool = False):
    """A labelled confusion matrix with counts (or row fractions) in the cells."""
    plt = pyplot()
    c = np.asarray(matrix, dtype=float)
    shown = c / np.maximum(c.sum(1, keepdims=True), 1) if normalise else c
    k = len(labels)
    fig, ax = plt.subplots(figsize=(0.55 * k + 1.2, 0.5 * k + 1.1))
    ax.imshow(shown, cmap="Blues", vmin=0)
    ax.set_xticks(range(k), labels, rotation=45, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set(xlabel=x_label, ylabel=y_label, title=title)
    for i in range(k):
        for j in range(k):
            text = f"{shown[i, j]:.2f}" if normalise else str(int(c[i, j]))
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if shown[i, j] > shown.max() / 2 else "black")
    fig.tight_layout()
    return fig


def against_time(histories: dict, key: str, y_label: str, title: str):
    """An eval metric of several runs (label -> History) against measured training minutes: each
    point at its step times the run's mean measured seconds per step."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for (label, h), marker in zip(histories.items(), "osd^v"):
        seconds_per_step = h.timing["train_s"] / max(len(h.step), 1)
        ax.plot([e["step"] * seconds_per_step / 60 for e in h.evals], [e[key] for e in h.evals],
                f"{marker}-", ms=3, label=label)
    ax.set(xlabel="training time (minutes, measured)", ylabel=y_label, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
