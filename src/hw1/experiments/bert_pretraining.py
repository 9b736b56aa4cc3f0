"""Pre-training of the BERT experiment: a small BERT trained from scratch with MLM + NSP.

    pretraining_losses  MLM + NSP losses, the MLM head on the masked positions only
    evaluate            losses, MLM top-1/top-5 and NSP accuracy on fixed batches (eval mode)
    batch_maker         the MLM + NSP batches of hw1.data.text_corpus, one generator per stream
    pretrain            hw1.train.loop.fit with AdamW and the inverse-sqrt schedule
    masked_word_predictions   the trained model's guesses for whole masked words
    permutation_difference    permutation equivariance of an encoder without position embeddings

`config` is hw1.experiments.bert.Config (not imported here: that module imports this one).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hw1.data import text_corpus as tc
from hw1.experiments.base import Context
from hw1.models.bert import BertConfig, BertForPreTraining, BertModel
from hw1.train.loop import History, fit
from hw1.train.optim import adamw, schedule

EVAL_KEYS = ("mlm_loss", "mlm_top1", "mlm_top5", "nsp_loss", "nsp_accuracy")
# generators of the random draws, offsets of a seed: training batches, the fixed evaluation sets
TRAIN_BATCHES, TRAIN_EVAL, HELDOUT_EVAL, HELDOUT_SAME_EVAL, VALIDATION_EVAL, VALIDATION_SAME_EVAL = (
    1,
    2,
    3,
    4,
    5,
    6,
)
# the fixed evaluation sets: name -> (split, NSP negatives, seed offset, config key of the batch count)
EVAL_SETS = {
    "train": ("train", "other", TRAIN_EVAL, "train_eval_batches"),
    "validation": ("validation", "other", VALIDATION_EVAL, "eval_batches"),
    "validation_same": ("validation", "same", VALIDATION_SAME_EVAL, "eval_batches"),
    "heldout": ("heldout", "other", HELDOUT_EVAL, "eval_batches"),
    "heldout_same": ("heldout", "same", HELDOUT_SAME_EVAL, "eval_batches"),
}


def pretraining_losses(model: BertForPreTraining, batch: dict) -> dict:
    """MLM and NSP losses and predictions. Same values as model(...).mlm_loss/.nsp_loss, but the MLM
    head runs only on the masked positions (15 % of the tokens), which saves a third of the time."""
    h = model.bert(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
    labels = batch["mlm_labels"]
    chosen = labels != -100  # (B, T)
    mlm_logits = model.mlm(h.last_hidden_state[chosen])  # (M, V)
    nsp_logits = model.nsp(h.pooled_output)  # (B, 2)
    mlm_loss = F.cross_entropy(mlm_logits, labels[chosen])
    nsp_loss = F.cross_entropy(nsp_logits, batch["next_sentence_label"])
    return {
        "mlm_loss": mlm_loss,
        "nsp_loss": nsp_loss,
        "mlm_logits": mlm_logits,
        "mlm_targets": labels[chosen],
        "nsp_logits": nsp_logits,
    }


@torch.no_grad()
def evaluate(model: BertForPreTraining, batches: list[dict]) -> dict:
    """Losses weighted by the number of predictions; MLM top-1/top-5 over every masked position."""
    sums = dict.fromkeys(EVAL_KEYS, 0.0)
    n_mlm = n_nsp = 0
    for batch in batches:
        out = pretraining_losses(model, batch)
        m, b = len(out["mlm_targets"]), len(out["nsp_logits"])
        hits = out["mlm_logits"].topk(5, dim=-1).indices == out["mlm_targets"][:, None]  # (M, 5)
        sums["mlm_loss"] += float(out["mlm_loss"]) * m
        sums["mlm_top1"] += float(hits[:, 0].sum())
        sums["mlm_top5"] += float(hits.any(-1).sum())
        sums["nsp_loss"] += float(out["nsp_loss"]) * b
        sums["nsp_accuracy"] += float((out["nsp_logits"].argmax(-1) == batch["next_sentence_label"]).sum())
        n_mlm, n_nsp = n_mlm + m, n_nsp + b
    out = {k: v / (n_nsp if k.startswith("nsp") else n_mlm) for k, v in sums.items()}
    acc = out["nsp_accuracy"]
    return {
        **out,
        "mlm_predictions": n_mlm,
        "nsp_examples": n_nsp,
        "nsp_accuracy_stderr": math.sqrt(acc * (1 - acc) / n_nsp),
    }


def example_length(config, step: int | None) -> int:
    """Tokens per example at a training step: short_len for the first early_steps steps, then max_len
    (BERT trained 90 % of its steps at 128 tokens and the rest at 512). Evaluation: max_len."""
    return config.short_len if step is not None and step <= config.early_steps else config.max_len


def batch_maker(
    stream: tc.TokenStream,
    config,
    vocab_size: int,
    seed: int,
    device,
    negatives: str = "other",
    mask_prob: float | None = None,
):
    """A function (step) -> the next MLM + NSP batch on the device, from its own generator. mask_prob:
    the share of tokens chosen for prediction, config.mask_prob (training) unless given."""
    gen = torch.Generator().manual_seed(seed)
    mask_prob = config.mask_prob if mask_prob is None else mask_prob

    def next_batch(step: int | None = None) -> dict:
        batch = tc.pretraining_batch(
            stream,
            config.batch_size,
            example_length(config, step),
            vocab_size,
            gen,
            mask_prob,
            config.random_next_prob,
            negatives,
        )
        return {k: v.to(device) for k, v in batch.items()}

    return next_batch


def fixed_batches(
    stream: tc.TokenStream, config, vocab_size: int, seed: int, count: int, device, negatives: str = "other"
) -> list[dict]:
    """Evaluation batches: config.eval_mask_prob of the tokens masked (BERT's 15 %), whatever the
    training rate, so that MLM top-1 is measured on the usual task."""
    next_batch = batch_maker(stream, config, vocab_size, seed, device, negatives, config.eval_mask_prob)
    return [next_batch() for _ in range(count)]


def eval_sets(data: tc.PretrainingData, config, device) -> dict[str, list[dict]]:
    """The fixed batches of EVAL_SETS, drawn with config.seed (the same for every run)."""
    return {
        name: fixed_batches(
            data.streams[split],
            config,
            data.vocab_size,
            config.seed + offset,
            getattr(config, count),
            device,
            negatives,
        )
        for name, (split, negatives, offset, count) in EVAL_SETS.items()
    }


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def pretrain(
    bert_cfg: BertConfig,
    data: tc.PretrainingData,
    config,
    eval_sets: dict,
    ctx: Context,
    desc: str,
    steps: int,
    seed: int | None = None,
) -> tuple[BertForPreTraining, History]:
    """AdamW, inverse-sqrt schedule, gradients clipped, loss MLM + nsp_weight * NSP; evaluated on
    `eval_sets` every eval_every steps. The init, the batches and the learning rate at each step
    depend only on the seed (config.seed unless given) and the step."""
    seed = config.seed if seed is None else seed
    torch.manual_seed(seed)
    model = BertForPreTraining(bert_cfg).to(ctx.device)
    optimizer = adamw(model, config.lr, config.weight_decay)
    scheduler = schedule(optimizer, "inverse_sqrt", steps, config.warmup_steps)

    def loss_fn(batch):
        out = pretraining_losses(model, batch)
        loss = out["mlm_loss"] + config.nsp_weight * out["nsp_loss"]
        return loss, {"mlm_loss": out["mlm_loss"].detach(), "nsp_loss": out["nsp_loss"].detach()}

    history = fit(
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        steps=steps,
        next_batch=batch_maker(data.train, config, data.vocab_size, seed + TRAIN_BATCHES, ctx.device),
        loss_fn=loss_fn,
        device=ctx.device,
        precision=ctx.precision,
        grad_clip=config.grad_clip,
        eval_every=config.eval_every,
        phase=lambda step: f"{example_length(config, step)} tokens",
        evaluate=lambda step: {name: evaluate(model, b) for name, b in eval_sets.items()},
        items_per_step=config.batch_size,
        progress=ctx.progress,
        desc=desc,
    )
    return model.eval(), history


# ----- masked-word predictions and permutation equivariance ------------------------------------
def maskable(pieces: list[str], min_letters: int) -> list[int]:
    """Positions of whole words made of one alphabetic WordPiece of >= min_letters letters."""
    return [
        k
        for k, p in enumerate(pieces)
        if p.isalpha()
        and len(p) >= min_letters
        and (k + 1 == len(pieces) or not pieces[k + 1].startswith("##"))
    ]


@torch.no_grad()
def masked_word_predictions(
    model: BertForPreTraining, data: tc.PretrainingData, config, device
) -> list[list]:
    """One whole word masked in each of num_masked_examples held-out sentences (in an order drawn
    with config.seed); the model's top-5 at that position and the rank of the truth."""
    tok = data.tokenizer
    vocab = {i: t for t, i in tok.get_vocab().items()}
    sentences = [s for d in data.heldout_docs for s in d.sentences]
    gen = torch.Generator().manual_seed(config.seed)
    lo, hi = config.masked_sentence_tokens
    rows = []
    for idx in torch.randperm(len(sentences), generator=gen).tolist():
        enc = tok.encode(sentences[idx], add_special_tokens=False)
        ids = enc.ids
        positions = maskable([vocab[i] for i in ids], config.masked_word_min_letters)
        if not lo <= len(ids) <= hi or not positions:
            continue
        k = positions[int(torch.randint(len(positions), (1,), generator=gen))]
        x = torch.tensor([[tc.CLS] + ids[:k] + [tc.MASK] + ids[k + 1 :] + [tc.SEP]], device=device)
        h = model.bert(x, torch.ones_like(x), torch.zeros_like(x)).last_hidden_state[0, k + 1]
        probs = model.mlm(h).softmax(-1)
        top = probs.topk(5)
        start, end = enc.offsets[k]  # characters of the word
        text = sentences[idx][:start] + "[MASK]" + sentences[idx][end:]
        rank = int((probs > probs[ids[k]]).sum()) + 1
        rows.append(
            [text, vocab[ids[k]], ", ".join(vocab[int(i)] for i in top.indices), rank, float(top.values[0])]
        )
        if len(rows) == config.num_masked_examples:
            break
    return rows


@torch.no_grad()
def permutation_difference(model: BertModel, ids: torch.Tensor, seed: int) -> dict:
    """max |f(x)[perm] - f(x[perm])| over the encoder's last hidden states, one segment, no padding.
    Without position embeddings every layer treats the tokens as a set, so it is ~1e-6."""
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(ids.shape[1], generator=gen).to(ids.device)
    ones, zeros = torch.ones_like(ids), torch.zeros_like(ids)
    out = model(ids, ones, zeros).last_hidden_state[0]
    out_perm = model(ids[:, perm], ones, zeros).last_hidden_state[0]
    return {
        "max_abs_diff": float((out[perm] - out_perm).abs().max()),
        "mean_abs_output": float(out.abs().mean()),
        "tokens": ids.shape[1],
    }
