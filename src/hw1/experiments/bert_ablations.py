"""Ablations of the BERT experiment: one change each, several seeds, a verdict from the spread.

For each seed s in `seeds` the baseline (the main model's config) and the variant are trained for
ablation_steps from the same initialisation seed and on the same batches (both drawn from s), so
a pair differs in the model only; the seeds differ in initialisation and batches. The baseline of
the first seed is the main run at ablation_steps (the learning rate depends on the step only, so
it is that run exactly). Every metric is evaluated on the same fixed held-out batches.

The verdict (`compare`): with the means m_b, m_v and the sample standard deviations s_b, s_v over
the seeds, the pooled standard deviation is sqrt((s_b^2 + s_v^2) / 2), and the variant differs
when |m_v - m_b| > sigmas * pooled; otherwise there is no difference at this number of seeds.
"""
from __future__ import annotations

import math
from dataclasses import asdict

import torch

from hw1 import plots
from hw1.data import text_corpus as tc
from hw1.experiments.base import Context
from hw1.experiments.bert_pretraining import at_step, count_parameters, permutation_difference, pretrain
from hw1.models.bert import BertConfig, BertForPreTraining
from hw1.train.loop import History

# each ablation: (baseline label, variant label), the change to BertConfig, the metric that judges it
ABLATIONS = {"segment": (("on", "off"), {"use_segment_embeddings": False}, "nsp_accuracy"),
             "heads": (("multi_head", "single_head"), {"num_heads": 1}, "mlm_loss"),
             "position": (("on", "off"), {"use_position_embeddings": False}, "mlm_loss")}
ABLATION_LABELS = {"segment": "segment embedding", "heads": "number of heads", "position": "position embedding",
                   "on": "on (baseline)", "off": "switched off", "multi_head": "several heads (baseline)",
                   "single_head": "one head"}
# metric -> (evaluation set, key): the other-document and the same-document NSP negatives
METRICS = {"mlm_loss": ("heldout", "mlm_loss"), "mlm_top1": ("heldout", "mlm_top1"),
           "nsp_accuracy": ("heldout", "nsp_accuracy"), "nsp_accuracy_same": ("heldout_same", "nsp_accuracy")}
LOWER_IS_BETTER = {"mlm_loss"}
SEED_STRIDE = 10     # run k uses seed config.seed + 10 k: its generators (seed + 1..6) never meet another run's


def summary(values: list[float]) -> dict:
    """Mean, sample standard deviation (n - 1) and the values."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "values": list(values)}


def compare(baseline: list[float], variant: list[float], sigmas: float, lower_is_better: bool = False) -> dict:
    """The variant against the baseline over seeds: difference of means, pooled standard deviation,
    and the verdict "no_difference", "variant_better" or "variant_worse" (see the module docstring)."""
    b, v = summary(baseline), summary(variant)
    pooled = math.sqrt((b["std"] ** 2 + v["std"] ** 2) / 2)
    diff = v["mean"] - b["mean"]
    if abs(diff) <= sigmas * pooled:
        verdict = "no_difference"
    else:
        verdict = "variant_better" if (diff < 0) == lower_is_better else "variant_worse"
    return {"baseline": b, "variant": v, "difference": diff, "pooled_std": pooled,
            "threshold": sigmas * pooled, "ratio": abs(diff) / pooled if pooled else None, "verdict": verdict}


def _values(points: list[dict], metric: str) -> list[float]:
    split, key = METRICS[metric]
    return [p[split][key] for p in points]


def _runs(config, data, base_cfg: BertConfig, eval_sets: dict, main: History, ctx: Context) -> dict:
    """{"baseline": [History per seed], <ablation>: ([History per seed], a trained model)}."""
    n, seeds = config.ablation_steps, [config.seed + SEED_STRIDE * k for k in range(config.ablation_seeds)]
    runs: dict = {"baseline": [main]}
    for s in seeds[1:]:
        runs["baseline"].append(pretrain(base_cfg, data, config, eval_sets, ctx, f"baseline, seed {s}", n, s)[1])
    for name in config.ablations:
        (_, label), change, _ = ABLATIONS[name]
        cfg = BertConfig(**{**asdict(base_cfg), **change})
        trained = [pretrain(cfg, data, config, eval_sets, ctx, f"ablation {name}: {label}, seed {s}", n, s)
                   for s in seeds]
        runs[name] = ([h for _, h in trained], trained[0][0])
    runs["seeds"] = seeds
    return runs


def ablation_figure(w, curves: dict[str, dict[str, list[list[dict]]]]):
    """curves: ablation -> variant -> eval points of each seed; the mean over seeds and its range."""
    panels = [(n, ABLATIONS[n][2]) for n in ("position", "heads", "segment") if n in curves]
    fig, axes = plots.pyplot().subplots(1, len(panels), figsize=(3.5 * len(panels), 3.5), squeeze=False)
    for ax, (name, metric) in zip(axes[0], panels):
        for variant, per_seed in curves[name].items():
            steps = [e["step"] for e in per_seed[0]]
            values = torch.tensor([_values(evals, metric) for evals in per_seed])   # (seeds, points)
            line, = ax.plot(steps, values.mean(0), "-o", ms=3,
                            label=w("{variant} (mean of {n} seeds)", variant=w(ABLATION_LABELS[variant]),
                                    n=len(per_seed)))
            ax.fill_between(steps, values.min(0).values, values.max(0).values, color=line.get_color(), alpha=0.2)
        ax.set_title(w("{ablation}: held-out {metric}", ablation=w(ABLATION_LABELS[name]), metric=w(metric)))
        ax.set_xlabel(w("step"))
        w.legend(ax, fontsize=8.5)
    fig.tight_layout()
    return fig


def _permutation(config, data: tc.PretrainingData, without: BertForPreTraining, with_: BertForPreTraining,
                 device) -> dict:
    """Permutation equivariance on a real held-out sentence, with and without position embeddings."""
    sentence = next(s for d in data.heldout_docs for s in d.sentences if len(s.split()) >= config.permutation_min_words)
    ids = [tc.CLS] + data.tokenizer.encode(sentence).ids[:config.max_len - 2] + [tc.SEP]
    ids = torch.tensor([ids], device=device)
    return {"sentence": sentence, "without_position": permutation_difference(without, ids, config.seed),
            "with_position": permutation_difference(with_, ids, config.seed)}


def ablations(config, data: tc.PretrainingData, base_cfg: BertConfig, eval_sets: dict,
              main: tuple[BertForPreTraining, History], ctx: Context) -> dict:
    n = config.ablation_steps
    model, history = main
    runs = _runs(config, data, base_cfg, eval_sets, history, ctx)
    base_points = [at_step(h, n) for h in runs["baseline"]]
    base_curves = [[e for e in h.evals if e["step"] <= n] for h in runs["baseline"]]
    metrics = {"steps": n, "seeds": runs["seeds"], "num_seeds": len(runs["seeds"]),
               "rule": {"sigmas": config.verdict_sigmas, "std": "sample (n - 1)",
                        "pooled_std": "sqrt((std_baseline^2 + std_variant^2) / 2)",
                        "difference_when": "|mean_variant - mean_baseline| > sigmas * pooled_std"}}
    curves, rows, trained = {}, [], {}
    for name in config.ablations:
        (base_label, label), _, judged = ABLATIONS[name]
        histories, trained[name] = runs[name]
        points = [at_step(h, n) for h in histories]
        curves[name] = {base_label: base_curves, label: [h.evals for h in histories]}
        params = {base_label: count_parameters(model), label: count_parameters(trained[name])}
        stats = {m: compare(_values(base_points, m), _values(points, m), config.verdict_sigmas, m in LOWER_IS_BETTER)
                 for m in METRICS}
        metrics[name] = {"baseline": base_label, "variant": label, "judged_by": judged,
                         "verdict": stats[judged]["verdict"], "parameters": params, "metrics": stats,
                         "timing": {"train_s": sum(h.timing["train_s"] for h in histories)}}
        for variant, side in ((base_label, "baseline"), (label, "variant")):
            rows.append([ABLATION_LABELS[name], ABLATION_LABELS[variant], params[variant],
                         *(stats[m][side][k] for m in ("mlm_loss", "mlm_top1", "nsp_accuracy", "nsp_accuracy_same")
                           for k in ("mean", "std"))])
    metrics["timing"] = {"baseline_train_s": sum(h.timing["train_s"] for h in runs["baseline"][1:])}
    if "heads" in metrics:
        h = metrics["heads"]
        h["same_parameter_count"] = h["parameters"]["multi_head"] == h["parameters"]["single_head"]
        h["num_heads"] = config.num_heads
    if "position" in trained:
        metrics["permutation"] = _permutation(config, data, trained["position"], model, ctx.device)
    ctx.save_table("ablations", ["ablation", "variant", "parameters", "mlm_loss_mean", "mlm_loss_std",
                                 "mlm_top1_mean", "mlm_top1_std", "nsp_accuracy_mean", "nsp_accuracy_std",
                                 "nsp_accuracy_same_mean", "nsp_accuracy_same_std"], rows)
    ctx.save_figure("ablation_curves", lambda w: ablation_figure(w, curves))
    return metrics
