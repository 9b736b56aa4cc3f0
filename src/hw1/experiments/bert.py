"""Part 1: BERT from scratch — attention maps, pre-training, controlled experiments, equivalence.

  1. attention   hw1.experiments.bert_attention: the real pretrained all-MiniLM-L6-v2, its weights
                 copied into OUR BertModel; every layer and head on a few sentences, and the heads
                 with a clear pattern ([CLS], [SEP], previous / next token, itself); the same head
                 scores of our own pre-trained model on held-out pairs
  2. pretraining hw1.experiments.bert_pretraining: a small BERT trained from scratch with MLM + NSP
                 on the CPython documentation (hw1.data.text_corpus), split by module into train,
                 validation (for choosing the settings) and held-out (reported): most steps on short
                 examples, the last ones on long examples (BERT's own recipe); loss curves, MLM
                 top-1/top-5, NSP accuracy with negatives from other documents and from the same
                 document (what topic matching explains), masked-word predictions
  3. controlled  hw1.experiments.bert_controlled: synthetic tasks in which one mechanism (several
                 heads, position embeddings, segment embeddings, the 1/sqrt(d_k) scale) is necessary
                 or clearly helps, several seeds each, verdicts from hw1.experiments.bert_verdicts
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

from hw1 import plots
from hw1.config import Check, Invalid
from hw1.data import text_corpus as tc
from hw1.experiments import bert_attention, bert_controlled
from hw1.experiments.base import Context
from hw1.experiments.bert_controlled import ControlledConfig
from hw1.experiments.bert_pretraining import (
    EVAL_KEYS,
    EVAL_SETS,
    count_parameters,
    eval_sets,
    masked_word_predictions,
    pretrain,
)
from hw1.models.bert import BertConfig, BertForPreTraining
from hw1.train.loop import History

SPLIT_LABELS = {"train": "training batches", "heldout": "held-out topics"}  # labels in text/glossary.yaml
QUANTITY_LABELS = {
    "last_hidden_state": "last hidden state",
    "pooled_output": "pooled output",
    "hidden_states": "all hidden states",
    "attentions": "attention weights",
    "mlm_logits": "MLM logits",
    "nsp_logits": "NSP logits",
    "loss": "MLM + NSP loss",
    "grad_max_abs_diff": "gradients of all parameters",
    "fast_path_last_hidden_state": "last hidden state (fused attention kernel)",
    "sentence_embedding": "sentence embedding",
}

Count = Annotated[int, Check(min=1)]
Fraction = Annotated[float, Check(min=0, max=1)]


@dataclass
class Config:
    seed: int
    threads: int | None  # set by the runner
    precision: Literal["fp32"]  # BERT trains in fp32
    # corpus and batches
    vocab_size: Count
    min_frequency: Count  # of a pair, to be merged into a WordPiece token
    max_len: Annotated[int, Check(min=8)]  # tokens per [CLS] A [SEP] B [SEP] example (the last steps)
    short_len: Annotated[int, Check(min=8)]  # ... of the first early_steps steps
    split_seed: int  # the split into train / validation / held-out modules
    heldout_fraction: Fraction  # of the words, in held-out modules (reported)
    validation_fraction: Fraction  # of the words, in validation modules (for choosing settings)
    max_group_fraction: Fraction  # largest group of related modules that may be held out
    max_documents: int | None  # smoke: only the first documents in sorted order
    mask_prob: Fraction  # of the tokens chosen for prediction in training batches
    eval_mask_prob: Fraction  # the same in the fixed evaluation batches (the reported MLM top-1)
    random_next_prob: Fraction
    # the small BERT
    hidden_size: Count
    num_layers: Count
    num_heads: Count
    intermediate_size: Count
    dropout: Fraction
    # training: the learning rate depends on the step only (warm-up, then 1/sqrt decay)
    batch_size: Count
    steps: Count
    early_steps: int  # the first steps, on examples of short_len tokens
    nsp_weight: Annotated[float, Check(min=0)]  # loss = MLM + nsp_weight * NSP
    lr: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    target_mlm_top1: Fraction  # the targets of the report (issue #13), held out
    target_nsp_accuracy: Fraction
    eval_every: Count
    eval_batches: Count  # fixed held-out batches of batch_size each
    train_eval_batches: Count  # fixed training batches, evaluated the same way
    attention_examples: Count  # held-out pairs on which our model's heads are scored
    controlled_tasks: list[Literal["heads", "position", "segment", "scale"]]
    controlled: ControlledConfig
    # masked-word predictions: held-out sentences of [min, max] tokens, a word of >= min letters
    num_masked_examples: int
    masked_sentence_tokens: Annotated[list[int], Check("[min, max] tokens", length=2, min=1)]
    masked_word_min_letters: Count
    permutation_min_words: Count  # the held-out sentence of the permutation check
    # attention maps of the pretrained MiniLM: a sentence, or [sentence A, sentence B]
    attention_sentences: list[str | list[str]]
    equivalence: bool  # with Hugging Face's BERT

    def check(self) -> None:
        if not 0 <= self.early_steps < self.steps:
            raise Invalid("early_steps", f"must be >= 0 and < steps ({self.steps}), got {self.early_steps}")
        if self.short_len > self.max_len:
            raise Invalid("short_len", f"must be <= max_len ({self.max_len}), got {self.short_len}")
        if self.hidden_size % self.num_heads:
            raise Invalid("num_heads", f"must divide hidden_size ({self.hidden_size}), got {self.num_heads}")
        if self.heldout_fraction + self.validation_fraction >= 1:
            raise Invalid("validation_fraction", "heldout_fraction + validation_fraction must be < 1")
        if self.max_len > 512:
            raise Invalid("max_len", f"expected at most 512 tokens, got {self.max_len}")


# ----- figures ---------------------------------------------------------------------------------
def curves_figure(w, history: History, early_steps: int):
    """Losses and held-out accuracies against the step; a dotted line where the examples get long.
    Legends below the panels, where they cover no curve and no tick label."""
    evals = history.evals
    steps = [e["step"] for e in evals]
    fig, axes = plots.pyplot().subplots(1, 3, figsize=(10.5, 4.6))
    for ax, task in zip(axes[:2], ("mlm", "nsp")):
        ax.plot(
            steps,
            [e[f"train_{task}_loss"] for e in evals],
            color="0.6",
            lw=1,
            label=w("training batches (mean since the previous point)"),
        )
        for split, style in (("train", "-o"), ("heldout", "-s")):
            ax.plot(
                steps,
                [e[split][f"{task}_loss"] for e in evals],
                style,
                ms=3,
                label=w(f"{split} (fixed batches, eval mode)"),
            )
        ax.set_title(w(f"{task} loss"))
    ax = axes[2]
    for split, key in (
        ("heldout", "mlm_top1"),
        ("heldout", "mlm_top5"),
        ("heldout", "nsp_accuracy"),
        ("heldout_same", "nsp_accuracy"),
    ):
        ax.plot(steps, [e[split][key] for e in evals], "-o", ms=3, label=w(f"{split} {key}"))
    ax.set_ylim(0, 1)
    ax.set_title(w("held-out accuracy"))
    for ax in axes:
        ax.set_xlabel(w("step"))
        if 0 < early_steps < steps[-1]:
            ax.axvline(early_steps, color="0.4", ls=":", lw=1)
        w.legend(ax, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    fig.tight_layout()
    return fig


# ----- the parts -------------------------------------------------------------------------------
def prepare_data(config: Config, cache_dir) -> tc.PretrainingData:
    return tc.prepare(
        config.vocab_size,
        {"heldout": config.heldout_fraction, "validation": config.validation_fraction},
        config.split_seed,
        cache_dir,
        config.max_documents,
        config.min_frequency,
        config.max_group_fraction,
    )


def corpus_metrics(data: tc.PretrainingData) -> dict:
    def split_metrics(docs: list[tc.Document], stream: tc.TokenStream) -> dict:
        return {
            "documents": len(docs),
            "topics": sum(d.name.startswith("topic:") for d in docs),
            "modules": sum(not d.name.startswith("topic:") for d in docs),
            "sentences": sum(len(d.sentences) for d in docs),
            "words": sum(d.words for d in docs),
            "tokens": stream.num_tokens,
        }

    splits = {s: split_metrics(data.docs[s], data.streams[s]) for s in tc.SPLITS}
    return {
        "source": "CPython documentation: pydoc_data.topics and the standard library's docstrings",
        "python": data.source["python"],
        "sha256": data.source["sha256"],
        "extracted_documents": data.source["documents"],
        "vocab_size": data.vocab_size,
        **splits,
        "total": {k: sum(splits[s][k] for s in tc.SPLITS) for k in splits["train"]},
        "heldout_names": [d.name for d in data.heldout_docs],
        "validation_names": [d.name for d in data.docs["validation"]],
        "timing": {"extraction_s": data.source["extraction_s"]},
    }


def pretraining(
    config: Config, data: tc.PretrainingData, base_cfg: BertConfig, eval_sets: dict, ctx: Context
) -> tuple[BertForPreTraining, History, dict]:
    model, history = pretrain(base_cfg, data, config, eval_sets, ctx, "pre-training", config.steps)
    last, first = history.last(), history.evals[0]
    metrics = {
        "model": {
            **{k: v for k, v in asdict(base_cfg).items() if k not in ("layer_norm_eps", "pad_token_id")},
            "parameters": count_parameters(model),
        },
        "steps": config.steps,
        "batch_size": config.batch_size,
        "max_len": config.max_len,
        "phases": {
            "early_steps": config.early_steps,
            "short_len": config.short_len,
            "long_len": config.max_len,
        },
        "nsp_weight": config.nsp_weight,
        # at most this many (examples are cut at whole sentences, so most are a little shorter)
        "epochs_of_train_tokens": config.batch_size
        * (config.early_steps * config.short_len + (config.steps - config.early_steps) * config.max_len)
        / data.train.num_tokens,
        **{name: last[name] for name in EVAL_SETS},
        # how much of NSP is topic matching: accuracy with other-document negatives minus same-document
        "topic_matching": {
            split: last[split]["nsp_accuracy"] - last[f"{split}_same"]["nsp_accuracy"]
            for split in ("validation", "heldout")
        },
        "targets": {"mlm_top1": config.target_mlm_top1, "nsp_accuracy": config.target_nsp_accuracy},
        "initial": {"heldout": first["heldout"], "step": first["step"]},
        "curve": [
            {
                "step": e["step"],
                "train_nsp_loss": e["train_nsp_loss"],
                "heldout_nsp_loss": e["heldout"]["nsp_loss"],
                "heldout_nsp_accuracy": e["heldout"]["nsp_accuracy"],
                "heldout_same_nsp_accuracy": e["heldout_same"]["nsp_accuracy"],
                "heldout_mlm_top1": e["heldout"]["mlm_top1"],
            }
            for e in history.evals
        ],
        "chance": {
            "mlm_loss_uniform": math.log(data.vocab_size),
            "nsp_accuracy": max(config.random_next_prob, 1 - config.random_next_prob),
            "nsp_loss": math.log(2),
        },
        "masking": {
            "mask_prob": config.mask_prob,
            "eval_mask_prob": config.eval_mask_prob,
            "random_next_prob": config.random_next_prob,
            "mask_token": tc.MASK_TOKEN_FRACTION,
            "random_token": tc.RANDOM_TOKEN_FRACTION,
            "unchanged": 1 - tc.MASK_TOKEN_FRACTION - tc.RANDOM_TOKEN_FRACTION,
        },
        "timing": history.timing,
    }
    ctx.save_figure("pretraining_curves", lambda w: curves_figure(w, history, config.early_steps))
    ctx.save_table(
        "pretraining_summary",
        ["split", *EVAL_KEYS],
        [[SPLIT_LABELS[split], *(last[split][k] for k in EVAL_KEYS)] for split in SPLIT_LABELS],
    )
    masked = masked_word_predictions(model, data, config, ctx.device)
    ctx.save_table(
        "masked_predictions", ["input", "truth", "top5", "rank_of_truth", "top1_probability"], masked
    )
    metrics["masked_examples"] = {
        "count": len(masked),
        "top1_correct": sum(r[3] == 1 for r in masked),
        "top5_correct": sum(r[3] <= 5 for r in masked),
    }
    return model, history, metrics


def equivalence(config: Config, ctx: Context) -> dict:
    """hw1.models.bert_equivalence on a random HF BertForPreTraining and on the real MiniLM."""
    from hw1.models import bert_equivalence as eq

    random_model = eq.random_pretraining_equivalence(seed=config.seed)
    minilm = eq.minilm_equivalence()
    rows = [
        ["random BertForPreTraining", QUANTITY_LABELS[key], random_model[key]]
        for key in (
            "last_hidden_state",
            "pooled_output",
            "hidden_states",
            "attentions",
            "mlm_logits",
            "nsp_logits",
            "loss",
            "grad_max_abs_diff",
        )
    ]
    rows += [
        [f"all-MiniLM-L6-v2 ({part})", QUANTITY_LABELS[key], minilm[part][key]]
        for part in ("sentences", "pairs")
        for key in ("last_hidden_state", "hidden_states", "attentions", "fast_path_last_hidden_state")
    ]
    rows += [
        ["all-MiniLM-L6-v2 (sentences)", QUANTITY_LABELS["sentence_embedding"], minilm["sentence_embedding"]]
    ]
    ctx.save_table("equivalence", ["model", "quantity", "max_abs_diff"], rows)
    return {"random_pretraining": random_model, "minilm": minilm}


# ----- the experiment -------------------------------------------------------------------------
def run(config: Config, ctx: Context) -> dict:
    metrics: dict = {}
    timing: dict = {}
    start = t = time.perf_counter()

    def lap(part: str) -> None:
        nonlocal t
        timing[f"{part}_s"], t = time.perf_counter() - t, time.perf_counter()

    if config.attention_sentences:  # 1. attention maps of the pretrained MiniLM, by our model
        metrics["attention"] = bert_attention.run(config.attention_sentences, ctx)
        lap("attention")

    # 2. pre-training from scratch
    data = prepare_data(config, ctx.cache_dir)
    metrics["corpus"] = corpus_metrics(data)
    lap("corpus")
    sets = eval_sets(data, config, ctx.device)
    base_cfg = BertConfig(
        vocab_size=data.vocab_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        num_heads=config.num_heads,
        intermediate_size=config.intermediate_size,
        max_position=config.max_len,
        dropout=config.dropout,
        pad_token_id=tc.PAD,
    )
    model, history, metrics["pretraining"] = pretraining(config, data, base_cfg, sets, ctx)
    lap("pretraining")

    metrics["attention_ours"] = bert_attention.ours(model, sets["heldout"], config.attention_examples, ctx)
    lap("attention_ours")

    if config.controlled_tasks:  # 3. controlled experiments on synthetic tasks
        metrics["controlled"] = bert_controlled.run(
            config.controlled, config.controlled_tasks, config.seed, ctx
        )
        lap("controlled")

    if config.equivalence:  # 4. equivalence with Hugging Face
        metrics["equivalence"] = equivalence(config, ctx)
        lap("equivalence")

    timing["total_s"] = time.perf_counter() - start
    metrics["timing"] = timing
    ctx.log(" ".join(f"{k.removesuffix('_s')}={v:.0f}s" for k, v in timing.items()))
    return metrics
