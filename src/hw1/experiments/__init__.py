"""The registry: every experiment that build_results.py knows, in the order it runs them.

Each entry names the module that implements `run(config, ctx) -> metrics` (see base.py), the
inputs whose fingerprint joins the cache key (see hw1.data.sources), and the headline metrics that
`build_results.py --verify` compares: dotted paths into metrics.json, equal on a rerun on the same
machine (tolerance 0), within `tolerance_across` on another machine, precision or library
version. Configuration values live in configs/<name>.yaml, one section per profile. Nothing here imports torch: a fully cached run must
finish in well under two seconds.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    module: str  # implements run(cfg, ctx) -> dict
    inputs: tuple[str, ...] = ()  # names known to hw1.data.sources
    title: str = ""  # for the summary table and the provenance page
    headline: tuple[str, ...] = ()  # dotted metric paths compared by --verify
    tolerance_across: float = 0.0  # their largest |difference| across machines or precisions


EXPERIMENTS: dict[str, ExperimentSpec] = {
    spec.name: spec
    for spec in [
        ExperimentSpec(
            "attention_scaling",
            "hw1.experiments.attention_scaling",
            inputs=(),
            title="Part 1-1: why attention scores are divided by sqrt(d_k)",
            headline=("unscaled.1024.max_weight", "unscaled.1024.entropy", "scaled.1024.jacobian_norm"),
            tolerance_across=1e-6,
        ),
        ExperimentSpec(
            "bert",
            "hw1.experiments.bert",
            inputs=("minilm", "pydoc_corpus"),
            title="Part 1: BERT from scratch",
            headline=(
                "pretraining.heldout.mlm_top1",
                "pretraining.heldout.nsp_accuracy",
                "pretraining.heldout.mlm_loss",
            ),
            tolerance_across=0.02,
        ),
        ExperimentSpec(
            "segmentation",
            "hw1.experiments.segmentation",
            inputs=("camvid",),
            title="Part 2-2: CamVid segmentation",
            headline=("segformer.test.miou", "beit.test.miou"),
            tolerance_across=0.03,
        ),
        ExperimentSpec(
            "classification",
            "hw1.experiments.classification",
            inputs=("cifar10",),
            title="Part 2-3: CIFAR-10 classification",
            headline=("mlp.test.accuracy", "beit.test.accuracy"),
            tolerance_across=0.02,
        ),
        ExperimentSpec(
            "conv_attention",
            "hw1.experiments.conv_attention",
            inputs=("cifar10",),
            title="Question 2: 3x3 convolution against local self-attention",
            headline=("variants.conv.test_accuracy.mean", "variants.attention.test_accuracy.mean"),
            tolerance_across=0.02,
        ),
    ]
}
