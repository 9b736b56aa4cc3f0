"""Controlled experiments of Part 1: small synthetic tasks in which one mechanism of BERT is
necessary, or clearly helps. Each is trained from scratch with OUR BertModel (hw1.models.bert) and
the one training loop, in seconds, over several seeds; a verdict is computed from the spread.

  heads     each token must name the token just before it AND the token just after it (one of
            K*K ordered pairs): two lookups at once. Several heads against one head of the same
            width, which is the same parameter count (the heads split W^Q, W^K, W^V; they add none).
  position  [CLS] x_1 ... x_T: is x_1 greater than x_T? Reordering the tokens changes the answer;
            without position embeddings the encoder is permutation-equivariant, [CLS] sees a set of
            tokens, and the accuracy must sit at chance.
  segment   [CLS] A [SEP] B [SEP], of random lengths, with one marker token in A or in B: which?
            Segment and position embeddings each on or off (2 x 2). Without both the side cannot
            be told: [SEP] is among the tokens, but a set has no sides.
  scale     each token must name the token before it; one head with d_k = hidden size, its queries
            and keys of unit-variance components at initialisation (the assumption of Vaswani et
            al.'s argument): with and without the 1/sqrt(d_k) scale, and how saturated the softmax
            is at initialisation.

The inputs of a step are drawn from (seed, step) alone; every variant of a seed sees the same
batches and starts from the same generator state, so a pair differs in the model only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from hw1 import plots
from hw1.config import Check
from hw1.experiments.base import Context
from hw1.experiments.bert_pretraining import permutation_difference
from hw1.experiments.bert_verdicts import at_chance, compare, summary
from hw1.experiments.bert_words import Words
from hw1.models.bert import BertConfig, BertModel
from hw1.train.loop import History, fit
from hw1.train.optim import adamw, schedule

Count = Annotated[int, Check(min=1)]
PAD, CLS, SEP, MARKER, FIRST_TOKEN = 0, 1, 2, 3, 4  # special ids; ordinary tokens from FIRST_TOKEN on


@dataclass
class ControlledConfig:
    """Shared by the four tasks (the steps per task, below)."""

    seeds: Annotated[int, Check(min=2)]  # runs per variant
    num_tokens: Count  # K ordinary tokens
    length: Annotated[int, Check(min=4)]  # tokens after [CLS] (heads, position, scale)
    segment_lengths: Annotated[list[int], Check("[min, max] tokens of A and of B", length=2, min=1)]
    hidden_size: Count
    num_heads: Count  # of the multi-head variant
    num_layers: Count
    batch_size: Count
    lr: float
    warmup_steps: int
    eval_every: Count
    eval_examples: Count  # one fixed evaluation set per task
    target_accuracy: Annotated[float, Check(min=0, max=1)]  # "steps to reach" this accuracy
    steps: Count  # of every run
    scale_hidden_size: Count  # d_k of the single head of the scale task
    lookup_offsets: list[int]  # heads task: the positions each token must name ...
    lookup_tokens: Count  # ... among K kinds of token (K ** len(offsets) classes)


# ----- the tasks: a batch of inputs and labels from a generator ----------------------------------
def heads_batch(cfg: ControlledConfig, n: int, gen: torch.Generator) -> dict:
    """Token t must name the tokens at t + o for every offset o of cfg.lookup_offsets, in order:
    the class sum_i x_{t+o_i} K^i (positions with every offset inside the sequence)."""
    K, T, offsets = cfg.lookup_tokens, cfg.length, cfg.lookup_offsets
    x = torch.randint(K, (n, T), generator=gen)
    ids = torch.cat([torch.full((n, 1), CLS), x + FIRST_TOKEN], 1)
    lo, hi = -min(offsets), T - max(offsets)  # query positions (0-based in x)
    label = sum(x[:, lo + o : hi + o] * K**i for i, o in enumerate(offsets))
    labels = torch.full((n, T + 1), -100)
    labels[:, 1 + lo : 1 + hi] = label
    return {"input_ids": ids, "labels": labels}


def previous_token_batch(cfg: ControlledConfig, n: int, gen: torch.Generator) -> dict:
    x = torch.randint(cfg.num_tokens, (n, cfg.length), generator=gen)
    ids = torch.cat([torch.full((n, 1), CLS), x + FIRST_TOKEN], 1)
    labels = torch.full_like(ids, -100)
    labels[:, 2:] = x[:, :-1]
    return {"input_ids": ids, "labels": labels}


def order_batch(cfg: ControlledConfig, n: int, gen: torch.Generator) -> dict:
    """Distinct first and last tokens: exactly half of the orderings of a set say "greater"."""
    K, T = cfg.num_tokens, cfg.length
    x = torch.randint(K, (n, T), generator=gen)
    x[:, -1] = (x[:, 0] + torch.randint(1, K, (n,), generator=gen)) % K
    return {
        "input_ids": torch.cat([torch.full((n, 1), CLS), x + FIRST_TOKEN], 1),
        "label": (x[:, 0] > x[:, -1]).long(),
    }


def segment_batch(cfg: ControlledConfig, n: int, gen: torch.Generator) -> dict:
    """[CLS] A [SEP] B [SEP] [PAD]..., A and B of random lengths, the marker at a random place of
    A (label 0) or B (label 1). Padding is masked out of attention."""
    lo, hi = cfg.segment_lengths
    la = torch.randint(lo, hi + 1, (n,), generator=gen)
    lb = torch.randint(lo, hi + 1, (n,), generator=gen)
    T = 2 * hi + 3
    t = torch.arange(T)[None, :]
    la_, lb_ = la[:, None], lb[:, None]
    ids = torch.randint(cfg.num_tokens, (n, T), generator=gen) + FIRST_TOKEN
    ids = torch.where(t == 0, CLS, torch.where((t == la_ + 1) | (t == la_ + lb_ + 2), SEP, ids))
    label = (torch.rand(n, generator=gen) < 0.5).long()
    offset = (torch.rand(n, generator=gen) * torch.where(label == 1, lb, la)).long()
    where = torch.where(label == 1, la + 2 + offset, 1 + offset)
    ids[torch.arange(n), where] = MARKER
    attention_mask = (t <= la_ + lb_ + 2).long()
    return {
        "input_ids": torch.where(attention_mask > 0, ids, PAD),
        "attention_mask": attention_mask,
        "token_type_ids": ((t >= la_ + 2) & (attention_mask > 0)).long(),
        "label": label,
    }


# ----- the model: our BertModel and a linear read-out --------------------------------------------
class Probe(nn.Module):
    """BertModel -> a linear classifier on every token (`labels`) or on [CLS] (`label`)."""

    def __init__(self, cfg: BertConfig, classes: int):
        super().__init__()
        self.bert = BertModel(cfg)
        self.head = nn.Linear(cfg.hidden_size, classes)

    def forward(self, batch: dict) -> torch.Tensor:
        h = self.bert(
            batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids")
        ).last_hidden_state
        return self.head(h if "labels" in batch else h[:, 0])  # (B, T, classes) or (B, classes)


def loss_and_hits(model: Probe, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy, and whether each prediction is right (over the labelled positions)."""
    logits = model(batch)
    target = batch["labels"] if "labels" in batch else batch["label"]
    chosen = target != -100
    logits, target = logits[chosen], target[chosen]
    return F.cross_entropy(logits, target), logits.argmax(-1) == target


@dataclass(frozen=True)
class Task:
    batch: callable  # (cfg, n, gen) -> batch
    classes: callable  # cfg -> number of classes
    chance: callable  # cfg -> accuracy of the best guess that ignores the input
    variants: dict  # name -> BertConfig changes; the first is the baseline
    # comparisons: (baseline, variant) pairs, judged by final accuracy
    comparisons: tuple


TASKS = {
    "heads": Task(
        heads_batch,
        lambda c: c.lookup_tokens ** len(c.lookup_offsets),
        lambda c: c.lookup_tokens ** -len(c.lookup_offsets),
        {"multi_head": {}, "single_head": {"num_heads": 1}},
        (("multi_head", "single_head"),),
    ),
    "position": Task(
        order_batch,
        lambda c: 2,
        lambda c: 0.5,
        {"with_position": {}, "without_position": {"use_position_embeddings": False}},
        (("with_position", "without_position"),),
    ),
    "segment": Task(
        segment_batch,
        lambda c: 2,
        lambda c: 0.5,
        {
            "both": {},
            "segment_only": {"use_position_embeddings": False},
            "position_only": {"use_segment_embeddings": False},
            "neither": {"use_position_embeddings": False, "use_segment_embeddings": False},
        },
        (("both", "position_only"), ("both", "segment_only"), ("both", "neither")),
    ),
    "scale": Task(
        previous_token_batch,
        lambda c: c.num_tokens,
        lambda c: 1 / c.num_tokens,
        {"scaled": {"num_heads": 1}, "unscaled": {"num_heads": 1, "scale_attention": False}},
        (("scaled", "unscaled"),),
    ),
}


def bert_config(cfg: ControlledConfig, task: str, changes: dict) -> BertConfig:
    hidden = cfg.scale_hidden_size if task == "scale" else cfg.hidden_size
    base = BertConfig(
        vocab_size=FIRST_TOKEN + cfg.num_tokens,
        hidden_size=hidden,
        num_layers=cfg.num_layers,
        num_heads=cfg.num_heads,
        intermediate_size=4 * hidden,
        max_position=max(cfg.length + 1, 2 * cfg.segment_lengths[1] + 3),
        dropout=0.0,
        pad_token_id=PAD,
    )
    return replace(base, **changes)


def unit_variance_qk(model: Probe) -> None:
    """W^Q, W^K ~ N(0, 1/C): with LayerNorm-ed inputs every query and key component has variance
    about 1, so q.k has variance d_k, the assumption of the 1/sqrt(d_k) argument (BERT's own
    N(0, 0.02) initialisation makes q.k tiny at the start, whatever the scale)."""
    for layer in model.bert.encoder.layers:
        C = layer.attn.out.in_features
        nn.init.normal_(layer.attn.qkv.weight[: 2 * C], std=C**-0.5)


@torch.no_grad()
def saturation(model: Probe, batch: dict) -> dict:
    """How saturated the first layer's softmax is: mean largest weight per row, and the share of
    rows whose largest weight is above 0.99."""
    out = model.bert(
        batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"), output_attentions=True
    )
    top = out.attentions[0].max(-1).values  # (B, h, T)
    return {"mean_max_weight": float(top.mean()), "share_above_0.99": float((top > 0.99).float().mean())}


def train_one(
    cfg: ControlledConfig, task: str, variant: str, seed: int, eval_set: dict, ctx: Context
) -> dict:
    spec = TASKS[task]
    steps = cfg.steps
    torch.manual_seed(seed)
    model = Probe(bert_config(cfg, task, spec.variants[variant]), spec.classes(cfg)).to(ctx.device)
    if task == "scale":
        unit_variance_qk(model)
    initial = saturation(model, eval_set) if task == "scale" else None
    optimizer = adamw(model, cfg.lr, 0.0)
    scheduler = schedule(optimizer, "cosine", steps, cfg.warmup_steps)
    gen = torch.Generator().manual_seed(seed)  # the same batches for every variant of a seed

    def next_batch(_step):
        return {k: v.to(ctx.device) for k, v in spec.batch(cfg, cfg.batch_size, gen).items()}

    def evaluate(_step) -> dict:
        loss, hits = loss_and_hits(model, eval_set)
        return {"loss": float(loss), "accuracy": float(hits.float().mean())}

    history: History = fit(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        steps=steps,
        next_batch=next_batch,
        loss_fn=lambda b: loss_and_hits(model, b)[0],
        device=ctx.device,
        precision="fp32",
        grad_clip=1.0,
        eval_every=cfg.eval_every,
        evaluate=evaluate,
    )
    curve = [[e["step"], e["accuracy"]] for e in history.evals]
    reached = next((s for s, a in curve if a >= cfg.target_accuracy), None)
    permutation = (
        permutation_difference(model.bert.eval(), eval_set["input_ids"][:1], seed)["max_abs_diff"]
        if task == "position"
        else None
    )
    return {
        "accuracy": curve[-1][1],
        "curve": curve,
        "steps_to_target": reached,
        "initial_saturation": initial,
        "permutation_max_abs_diff": permutation,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_s": history.timing["train_s"],
    }


def run_task(cfg: ControlledConfig, task: str, base_seed: int, ctx: Context) -> dict:
    """Every variant of one task over cfg.seeds seeds; verdicts of its comparisons."""
    spec = TASKS[task]
    eval_set = spec.batch(cfg, cfg.eval_examples, torch.Generator().manual_seed(base_seed + 99_991))
    eval_set = {k: v.to(ctx.device) for k, v in eval_set.items()}
    n_eval = int((eval_set["labels"] != -100).sum()) if "labels" in eval_set else cfg.eval_examples
    seeds = [base_seed + k for k in range(cfg.seeds)]
    chance = spec.chance(cfg)
    runs = {
        v: [train_one(cfg, task, v, s, eval_set, ctx) for s in ctx.progress(seeds, desc=f"{task}: {v}")]
        for v in spec.variants
    }
    variants = {}
    for v, per_seed in runs.items():
        acc = [r["accuracy"] for r in per_seed]
        reached = [r["steps_to_target"] for r in per_seed]
        variants[v] = {
            "values": acc,
            **summary(acc),
            "at_chance": at_chance(acc, chance, n_eval),
            "steps_to_target": reached,
            "parameters": per_seed[0]["parameters"],
            "curves": [r["curve"] for r in per_seed],
            **(
                {
                    "initial_saturation": summary(
                        [r["initial_saturation"]["mean_max_weight"] for r in per_seed]
                    ),
                    "initial_share_above_0.99": summary(
                        [r["initial_saturation"]["share_above_0.99"] for r in per_seed]
                    ),
                }
                if per_seed[0]["initial_saturation"]
                else {}
            ),
            **(
                {"permutation_max_abs_diff": max(r["permutation_max_abs_diff"] for r in per_seed)}
                if task == "position"
                else {}
            ),
        }
    comparisons = {
        f"{b}_vs_{v}": compare(
            variants[b]["values"],
            variants[v]["values"],
            chance,
            n_eval,
            baseline_at_chance=variants[b]["at_chance"],
        )
        for b, v in spec.comparisons
    }
    return {
        "seeds": seeds,
        "steps": cfg.steps,
        "chance": chance,
        "eval_predictions": n_eval,
        "target_accuracy": cfg.target_accuracy,
        "variants": variants,
        "comparisons": comparisons,
        "timing": {"train_s": sum(r["train_s"] for rs in runs.values() for r in rs)},
    }


def curves_figure(w, results: dict):
    """Accuracy against steps for every task and variant: the mean over seeds and its range."""
    tasks = list(results)
    fig, axes = plots.pyplot().subplots(1, len(tasks), figsize=(2.65 * len(tasks), 4.4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        r = results[task]
        for variant, v in r["variants"].items():
            values = torch.tensor([[a for _, a in c] for c in v["curves"]])  # (seeds, points)
            steps = [s for s, _ in v["curves"][0]]
            (line,) = ax.plot(steps, values.mean(0), "-", lw=1.5, label=w(variant))
            ax.fill_between(
                steps, values.min(0).values, values.max(0).values, color=line.get_color(), alpha=0.2
            )
        ax.axhline(r["chance"], color="0.5", ls=":", lw=1, label=w("chance"))
        ax.set_ylim(0, 1.02)
        ax.set_title(w(f"task {task}"))
        ax.set_xlabel(w("step"))
        # below the panel, where it covers no curve
        w.legend(ax, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), frameon=False)
    first = axes[0][0]  # on Persian pages the right-most panel: its label on the outer side
    first.yaxis.set_label_position("right" if w.rtl else "left")
    first.set_ylabel(w("accuracy"))
    fig.tight_layout()
    return fig


def run(cfg: ControlledConfig, tasks: list[str], seed: int, ctx: Context) -> dict:
    results = {task: run_task(cfg, task, seed + 1000 * (i + 1), ctx) for i, task in enumerate(tasks)}
    ctx.save_figure("controlled_curves", lambda w: curves_figure(Words(w), results))
    for r in results.values():  # the curves are in the figure and data/controlled.json
        for v in r["variants"].values():
            v.pop("curves")
    return results
