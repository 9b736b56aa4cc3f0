"""Part 1: BERT from scratch — attention maps, pre-training, ablations, equivalence with Hugging Face.

  1. attention   hw1.experiments.bert_attention: the real pretrained all-MiniLM-L6-v2, its weights
                 copied into OUR BertModel; every layer and head on a few sentences, and the heads
                 with a clear pattern ([CLS], [SEP], previous / next token, itself)
  2. pretraining hw1.experiments.bert_pretraining: a small BERT trained from scratch with MLM + NSP
                 on the CPython documentation (hw1.data.text_corpus): loss curves, held-out MLM
                 top-1/top-5 and NSP accuracy, masked-word predictions on held-out sentences
  3. ablations   the same init seed, batches and learning rate at every step, one change each: no
                 segment embeddings (NSP), one head instead of several at the same parameter count
                 (MLM), no position embeddings (MLM) next to a permutation-equivariance check
  4. equivalence hw1.models.bert_equivalence: max |ours - HF| of every output and gradient
                 (the forward-time and memory comparison: benchmarks/bench_bert_forward.py)

Training is hw1.train.loop.fit for a fixed number of steps: a rerun gives the same numbers. Seconds
are reported under the keys named `timing` only.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Annotated, Literal

import torch

from hw1.config import Check, Invalid
from hw1.data import text_corpus as tc
from hw1.experiments import bert_attention
from hw1.experiments.base import Context
from hw1.experiments.bert_pretraining import (EVAL_KEYS, HELDOUT_EVAL, TRAIN_EVAL, at_step, count_parameters,
                                              fixed_batches, masked_word_predictions, permutation_difference,
                                              pretrain)
from hw1.models.bert import BertConfig, BertForPreTraining
from hw1.train.loop import History

SPLIT_LABELS = {"train": "training batches", "heldout": "held-out topics"}
ABLATION_LABELS = {"segment": "segment embedding", "heads": "number of heads", "position": "position embedding",
                   "on": "on (baseline)", "off": "switched off", "multi_head": "several heads (baseline)",
                   "single_head": "one head"}
# each ablation: (baseline label, changed label), the change to the model's BertConfig
ABLATIONS = {"segment": (("on", "off"), {"use_segment_embeddings": False}),
             "heads": (("multi_head", "single_head"), {"num_heads": 1}),
             "position": (("on", "off"), {"use_position_embeddings": False})}
QUANTITY_LABELS = {"last_hidden_state": "last hidden state", "pooled_output": "pooled output",
                   "hidden_states": "all hidden states", "attentions": "attention weights",
                   "mlm_logits": "MLM logits", "nsp_logits": "NSP logits", "loss": "MLM + NSP loss",
                   "grad_max_abs_diff": "gradients of all parameters",
                   "fast_path_last_hidden_state": "last hidden state (fused attention kernel)",
                   "sentence_embedding": "sentence embedding"}

Count = Annotated[int, Check(min=1)]
Fraction = Annotated[float, Check(min=0, max=1)]


@dataclass
class Config:
    seed: int
    threads: int | None                # set by the runner
    precision: Literal["fp32"]         # BERT trains in fp32
    # corpus and batches
    vocab_size: Count
    min_frequency: Count               # of a pair, to be merged into a WordPiece token
    max_len: Annotated[int, Check(min=8)]   # tokens per [CLS] A [SEP] B [SEP] example
    heldout_fraction: Fraction         # of the words, in held-out topics
    max_group_fraction: Fraction       # largest group of related topics that may be held out
    max_topics: int | None             # smoke: only the first topics
    mask_prob: Fraction
    random_next_prob: Fraction
    # the small BERT
    hidden_size: Count
    num_layers: Count
    num_heads: Count
    intermediate_size: Count
    dropout: Fraction
    # training. The learning rate depends on the step only (warm-up, then 1/sqrt decay), so the
    # main run at step `ablation_steps` is exactly the baseline of an ablation run that long.
    batch_size: Count
    steps: Count                       # the main run
    ablation_steps: Count              # each ablation run, and the main run's state it is compared to
    lr: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    eval_every: Count
    eval_batches: Count                # fixed held-out batches of batch_size each
    train_eval_batches: Count          # fixed training batches, evaluated the same way
    ablations: list[Literal["segment", "heads", "position"]]
    # masked-word predictions: held-out sentences of [min, max] tokens, a word of >= min letters
    num_masked_examples: int
    masked_sentence_tokens: Annotated[list[int], Check("[min, max] tokens", length=2, min=1)]
    masked_word_min_letters: Count
    permutation_min_words: Count       # the held-out sentence of the permutation check
    # attention maps of the pretrained MiniLM: a sentence, or [sentence A, sentence B]
    attention_sentences: list[str | list[str]]
    equivalence: bool                  # with Hugging Face's BERT

    def check(self) -> None:
        if self.ablation_steps > self.steps:
            raise Invalid("ablation_steps", f"must be <= steps ({self.steps}), got {self.ablation_steps}")
        if self.ablation_steps % self.eval_every:
            raise Invalid("ablation_steps", f"must be a multiple of eval_every ({self.eval_every}) so that "
                                            f"the main run is evaluated there, got {self.ablation_steps}")
        if self.hidden_size % self.num_heads:
            raise Invalid("num_heads", f"must divide hidden_size ({self.hidden_size}), got {self.num_heads}")
        if self.num_heads < 2 and "heads" in self.ablations:
            raise Invalid("num_heads", "must be >= 2 for the 'heads' ablation")
        if self.max_len > 512:
            raise Invalid("max_len", f"expected at most 512 tokens, got {self.max_len}")


# ----- figures ---------------------------------------------------------------------------------
def curves_figure(history: History, plt):
    evals = history.evals
    steps = [e["step"] for e in evals]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, task in zip(axes[:2], ("mlm", "nsp")):
        ax.plot(steps, [e[f"train_{task}_loss"] for e in evals], color="0.6", lw=1,
                label="training batches (mean since the previous point)")
        for split, style in (("train", "-o"), ("heldout", "-s")):
            ax.plot(steps, [e[split][f"{task}_loss"] for e in evals], style, ms=3,
                    label=f"{'train' if split == 'train' else 'held-out'} (fixed batches, eval mode)")
        ax.set_title(f"{task.upper()} loss")
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    ax = axes[2]
    for key, label in (("mlm_top1", "MLM top-1"), ("mlm_top5", "MLM top-5"), ("nsp_accuracy", "NSP accuracy")):
        ax.plot(steps, [e["heldout"][key] for e in evals], "-o", ms=3, label=label)
    ax.set_ylim(0, 1)
    ax.set_title("held-out accuracy")
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def ablation_figure(curves: dict[str, dict[str, list[dict]]], plt):
    """curves: ablation -> variant -> its eval points."""
    panels = [("position", "mlm_loss", "held-out MLM loss"), ("heads", "mlm_loss", "held-out MLM loss"),
              ("segment", "nsp_accuracy", "held-out NSP accuracy")]
    panels = [p for p in panels if p[0] in curves]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.3), squeeze=False)
    for ax, (name, key, label) in zip(axes[0], panels):
        for variant, evals in curves[name].items():
            ax.plot([e["step"] for e in evals], [e["heldout"][key] for e in evals], "-o", ms=3, label=variant)
        ax.set_title(f"{name}: {label}")
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----- the parts -------------------------------------------------------------------------------
def corpus_metrics(data: tc.PretrainingData) -> dict:
    return {
        "source": "pydoc_data.topics (CPython documentation)",
        "vocab_size": data.vocab_size,
        **{split: {"topics": len(docs), "sentences": sum(len(d.sentences) for d in docs),
                   "words": sum(d.words for d in docs), "tokens": stream.num_tokens}
           for split, docs, stream in (("train", data.train_docs, data.train),
                                       ("heldout", data.heldout_docs, data.heldout))},
        "heldout_topic_names": [d.name for d in data.heldout_docs],
    }


def pretraining(config: Config, data: tc.PretrainingData, base_cfg: BertConfig, eval_sets: dict,
                ctx: Context, plt) -> tuple[BertForPreTraining, History, dict]:
    model, history = pretrain(base_cfg, data, config, eval_sets, ctx, "pre-training", config.steps)
    last, first = history.last(), history.evals[0]
    metrics = {
        "model": {**{k: v for k, v in asdict(base_cfg).items() if k not in ("layer_norm_eps", "pad_token_id")},
                  "parameters": count_parameters(model)},
        "steps": config.steps, "batch_size": config.batch_size, "max_len": config.max_len,
        "epochs_of_train_tokens": config.steps * config.batch_size * config.max_len / data.train.num_tokens,
        "train": last["train"], "heldout": last["heldout"],
        "initial": {"heldout": first["heldout"], "step": first["step"]},
        "chance": {"mlm_loss_uniform": math.log(data.vocab_size), "nsp_accuracy": 0.5},
        "timing": history.timing,
    }
    ctx.save_figure(curves_figure(history, plt), "pretraining_curves")
    ctx.save_table("pretraining_summary", ["split", *EVAL_KEYS],
                   [[SPLIT_LABELS[split], *(last[split][k] for k in EVAL_KEYS)] for split in ("train", "heldout")])
    masked = masked_word_predictions(model, data, config, ctx.device)
    ctx.save_table("masked_predictions", ["input", "truth", "top5", "rank_of_truth", "top1_probability"], masked)
    metrics["masked_examples"] = {"count": len(masked), "top1_correct": sum(r[3] == 1 for r in masked),
                                  "top5_correct": sum(r[3] <= 5 for r in masked)}
    return model, history, metrics


def ablations(config: Config, data: tc.PretrainingData, base_cfg: BertConfig, eval_sets: dict,
              main: tuple[BertForPreTraining, History], ctx: Context, plt) -> dict:
    """One run of ablation_steps per ablation; the baseline is the main run at that step (the
    same init seed, batches and learning rates: identical up to there by construction)."""
    n = config.ablation_steps
    model, history = main
    baseline = [e for e in history.evals if e["step"] <= n]
    metrics, curves, rows, trained = {"steps": n}, {}, [], {}
    for name in config.ablations:
        (base_label, label), change = ABLATIONS[name]
        model_b, history_b = pretrain(BertConfig(**{**asdict(base_cfg), **change}), data, config, eval_sets,
                                      ctx, f"ablation {name}: {label}", n)
        trained[name] = model_b
        curves[name] = {base_label: baseline, label: history_b.evals}
        entry = {}
        for variant, point, params in ((base_label, at_step(history, n), count_parameters(model)),
                                       (label, at_step(history_b, n), count_parameters(model_b))):
            e = point["heldout"]
            entry[variant] = {**e, "parameters": params}
            rows.append([ABLATION_LABELS[name], ABLATION_LABELS[variant], params,
                         *(e[k] for k in ("mlm_loss", "mlm_top1", "nsp_loss", "nsp_accuracy"))])
        entry["difference"] = {k: entry[label][k] - entry[base_label][k] for k in EVAL_KEYS}
        entry["timing"] = history_b.timing
        metrics[name] = entry
    if "heads" in metrics:
        h = metrics["heads"]
        h["same_parameter_count"] = h["multi_head"]["parameters"] == h["single_head"]["parameters"]
        h["num_heads"] = config.num_heads
    if "position" in trained:      # permutation equivariance on a real held-out sentence
        sentence = next(s for d in data.heldout_docs for s in d.sentences
                        if len(s.split()) >= config.permutation_min_words)
        ids = [tc.CLS] + data.tokenizer.encode(sentence).ids[:config.max_len - 2] + [tc.SEP]
        ids = torch.tensor([ids], device=ctx.device)
        metrics["permutation"] = {"sentence": sentence,
                                  "without_position": permutation_difference(trained["position"], ids, config.seed),
                                  "with_position": permutation_difference(model, ids, config.seed)}
    ctx.save_table("ablations", ["ablation", "variant", "parameters", "mlm_loss", "mlm_top1",
                                 "nsp_loss", "nsp_accuracy"], rows)
    ctx.save_figure(ablation_figure(curves, plt), "ablation_curves")
    return metrics


def equivalence(config: Config, ctx: Context) -> dict:
    """hw1.models.bert_equivalence on a random HF BertForPreTraining and on the real MiniLM."""
    from hw1.models import bert_equivalence as eq

    random_model = eq.random_pretraining_equivalence(seed=config.seed)
    minilm = eq.minilm_equivalence()
    rows = [["random BertForPreTraining", QUANTITY_LABELS[key], random_model[key]] for key in
            ("last_hidden_state", "pooled_output", "hidden_states", "attentions", "mlm_logits", "nsp_logits",
             "loss", "grad_max_abs_diff")]
    rows += [[f"all-MiniLM-L6-v2 ({part})", QUANTITY_LABELS[key], minilm[part][key]] for part in ("sentences", "pairs")
             for key in ("last_hidden_state", "hidden_states", "attentions", "fast_path_last_hidden_state")]
    rows += [["all-MiniLM-L6-v2 (sentences)", QUANTITY_LABELS["sentence_embedding"], minilm["sentence_embedding"]]]
    ctx.save_table("equivalence", ["model", "quantity", "max_abs_diff"], rows)
    return {"random_pretraining": random_model, "minilm": minilm}


# ----- the experiment -------------------------------------------------------------------------
def run(config: Config, ctx: Context) -> dict:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics: dict = {}
    timing: dict = {}
    start = t = time.perf_counter()

    def lap(part: str) -> None:
        nonlocal t
        timing[f"{part}_s"], t = time.perf_counter() - t, time.perf_counter()

    if config.attention_sentences:        # 1. attention maps of the pretrained MiniLM, by our model
        metrics["attention"] = bert_attention.run(config.attention_sentences, ctx, plt)
        lap("attention")

    # 2. pre-training from scratch
    data = tc.prepare(config.vocab_size, config.heldout_fraction, config.seed, config.max_topics,
                      min_frequency=config.min_frequency, max_group_fraction=config.max_group_fraction)
    metrics["corpus"] = corpus_metrics(data)
    eval_sets = {"train": fixed_batches(data.train, config, data.vocab_size, config.seed + TRAIN_EVAL,
                                        config.train_eval_batches, ctx.device),
                 "heldout": fixed_batches(data.heldout, config, data.vocab_size, config.seed + HELDOUT_EVAL,
                                          config.eval_batches, ctx.device)}
    base_cfg = BertConfig(vocab_size=data.vocab_size, hidden_size=config.hidden_size,
                          num_layers=config.num_layers, num_heads=config.num_heads,
                          intermediate_size=config.intermediate_size, max_position=config.max_len,
                          dropout=config.dropout, pad_token_id=tc.PAD)
    model, history, metrics["pretraining"] = pretraining(config, data, base_cfg, eval_sets, ctx, plt)
    lap("pretraining")

    if config.ablations:                  # 3. ablations against the main run at ablation_steps
        metrics["ablations"] = ablations(config, data, base_cfg, eval_sets, (model, history), ctx, plt)
        lap("ablations")

    if config.equivalence:                # 4. equivalence with Hugging Face
        metrics["equivalence"] = equivalence(config, ctx)
        lap("equivalence")

    timing["total_s"] = time.perf_counter() - start
    metrics["timing"] = timing
    ctx.log(" ".join(f"{k.removesuffix('_s')}={v:.0f}s" for k, v in timing.items()))
    return metrics
