"""The registry: every experiment that build_results.py knows, in the order it runs them.

Each entry names the module that implements `run(cfg, ctx) -> metrics` (see base.py), and the
inputs whose fingerprint joins the cache key (see hw1.data.sources). Configuration values live in
configs/<name>.yaml, one section per profile. Nothing here imports torch: a fully cached run must
finish in well under two seconds.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    module: str                  # implements run(cfg, ctx) -> dict
    inputs: tuple[str, ...] = ()  # names known to hw1.data.sources
    title: str = ""              # for the summary table and the provenance page


EXPERIMENTS: dict[str, ExperimentSpec] = {
    spec.name: spec
    for spec in [
        ExperimentSpec("attention_scaling", "hw1.experiments.attention_scaling", inputs=(),
                       title="Part 1-1: why attention scores are divided by sqrt(d_k)"),
        ExperimentSpec("bert", "hw1.experiments.bert", inputs=("minilm", "pydoc_corpus"),
                       title="Part 1: BERT from scratch"),
        ExperimentSpec("segmentation", "hw1.experiments.segmentation", inputs=("camvid",),
                       title="Part 2-2: CamVid segmentation"),
        ExperimentSpec("classification", "hw1.experiments.classification", inputs=("cifar10",),
                       title="Part 2-3: CIFAR-10 classification"),
    ]
}
