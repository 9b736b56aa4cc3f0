"""Our BERT (hw1.models.bert) against Hugging Face's, and the properties attention must have."""

import pytest
import torch
import transformers
from torch.testing import assert_close

from hw1.errors import ConfigError, DataError
from hw1.models.bert import (
    BertConfig,
    BertForPreTraining,
    BertModel,
    MultiHeadSelfAttention,
    from_hf_state_dict,
    key_padding_mask,
    load_hf_bert,
    scaled_dot_product_attention,
)
from hw1.models.bert_equivalence import (
    gradient_diffs,
    hf_gradients,
    random_batch,
    random_pretraining_equivalence,
    small_hf_config,
)

TOL = dict(atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def pair():
    """A randomly initialised HF BertForPreTraining (eager attention) and ours with its weights."""
    torch.manual_seed(0)
    hf_cfg = small_hf_config()
    hf = transformers.BertForPreTraining(hf_cfg).eval()
    ours = BertForPreTraining(BertConfig.from_hf(hf_cfg)).eval()
    from_hf_state_dict(ours, hf.state_dict())
    return hf, ours


@pytest.fixture(scope="module")
def batch():
    b = random_batch(211, batch=4, seq=24, seed=1)
    assert (b["attention_mask"] == 0).any() and (b["token_type_ids"] == 1).any()  # padding, 2 segments
    return b


def test_forward_matches_hf(pair, batch):
    hf, ours = pair
    ids, mask, types = batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]
    with torch.no_grad():
        a = hf(
            input_ids=ids,
            attention_mask=mask,
            token_type_ids=types,
            output_attentions=True,
            output_hidden_states=True,
        )
        a_base = hf.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)
        b = ours(ids, mask, types, output_attentions=True, output_hidden_states=True)
        fast = ours(ids, mask, types)  # torch's fused attention kernel
    assert_close(b.last_hidden_state, a_base.last_hidden_state, **TOL)
    assert_close(b.pooled_output, a_base.pooler_output, **TOL)
    assert len(b.attentions) == len(a.attentions) == 3
    for mine, theirs in zip(b.attentions, a.attentions):
        assert_close(mine, theirs, **TOL)
    for mine, theirs in zip(b.hidden_states, a.hidden_states):
        assert_close(mine, theirs, **TOL)
    assert_close(b.mlm_logits, a.prediction_logits, **TOL)
    assert_close(b.nsp_logits, a.seq_relationship_logits, **TOL)
    assert_close(fast.mlm_logits, a.prediction_logits, **TOL)
    assert fast.attentions is None


def test_gradients_match_hf(pair, batch):
    hf, ours = pair
    g = torch.Generator().manual_seed(2)
    chosen = (torch.rand(batch["input_ids"].shape, generator=g) < 0.3) & batch["attention_mask"].bool()
    mlm_labels = torch.where(chosen, batch["input_ids"], -100)
    nsp_labels = torch.tensor([0, 1, 1, 0])
    diffs = gradient_diffs(hf, ours, batch, mlm_labels, nsp_labels)
    assert diffs["loss"] < 1e-5
    theirs = hf_gradients(hf, ours)
    for name, p in ours.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, name
        assert_close(p.grad, theirs[name], **TOL, msg=lambda m: f"{name}: {m}")
    ours.zero_grad(), hf.zero_grad()


def test_equivalence_summary_is_small():
    result = random_pretraining_equivalence(seed=3)
    for key in (
        "last_hidden_state",
        "pooled_output",
        "attentions",
        "mlm_logits",
        "nsp_logits",
        "fast_path_last_hidden_state",
        "loss",
        "grad_max_abs_diff",
    ):
        assert result[key] < 1e-5, (key, result[key])


def test_multi_head_equals_per_head_loop():
    """The batched layer computes Concat(head_1..head_h) W^O with head_i = Attn(XW_i^Q, XW_i^K, XW_i^V)."""
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=10,
        hidden_size=12,
        num_layers=1,
        num_heads=3,
        intermediate_size=8,
        max_position=16,
        dropout=0.0,
    )
    mha = MultiHeadSelfAttention(cfg).eval()
    x = torch.randn(2, 5, 12)
    Wq, Wk, Wv = mha.qkv.weight.split(12)  # each (C, C); rows [i*d, (i+1)*d) belong to head i
    bq, bk, bv = mha.qkv.bias.split(12)
    heads = []
    for i in range(3):
        s = slice(4 * i, 4 * (i + 1))
        q, k, v = x @ Wq[s].T + bq[s], x @ Wk[s].T + bk[s], x @ Wv[s].T + bv[s]
        heads.append(torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1) @ v)  # sqrt(d) = 2
    expected = mha.out(torch.cat(heads, dim=-1))
    y, w = mha(x, need_weights=True)
    assert_close(y, expected, **TOL)
    assert w.shape == (2, 3, 5, 5)


def test_attention_rows_sum_to_one_and_padding_gets_zero_weight():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 3, 7, 4).unbind(0)  # each (B=2, h=3, T=7, d=4)
    am = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])[:, None, None, :].bool()
    out, w = scaled_dot_product_attention(q, k, v, am, need_weights=True)
    assert_close(w.sum(-1), torch.ones(2, 3, 7))
    assert torch.all(w[1, :, :, 4:] == 0)
    assert torch.all(w[1, :, :, :4] > 0)
    fast, none = scaled_dot_product_attention(q, k, v, am)  # fused kernel, same equation
    assert none is None
    assert_close(fast, out, **TOL)


def test_model_attention_properties(pair, batch):
    _, ours = pair
    with torch.no_grad():
        out = ours.bert(
            batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], output_attentions=True
        )
    pad = batch["attention_mask"] == 0  # (B, T)
    for w in out.attentions:
        assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
        assert w.masked_select(pad[:, None, None, :].expand_as(w)).abs().max() == 0


def test_key_padding_mask():
    assert key_padding_mask(None) is None
    assert key_padding_mask(torch.ones(2, 3, dtype=torch.long)) is None  # nothing to hide
    m = key_padding_mask(torch.tensor([[1, 1, 0]]))
    assert m.shape == (1, 1, 1, 3) and m.dtype == torch.bool and m.tolist() == [[[[True, True, False]]]]


@pytest.mark.parametrize("positions", [False, True])
def test_permutation_equivariance_without_position_embeddings(positions):
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_layers=2,
        num_heads=4,
        intermediate_size=64,
        max_position=16,
        dropout=0.0,
        use_position_embeddings=positions,
    )
    model = BertModel(cfg).eval()
    ids = torch.randint(1, 50, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, 7:] = 0
    types = torch.randint(0, 2, (2, 10))
    perm = torch.randperm(10)
    with torch.no_grad():
        h = model(ids, mask, types).last_hidden_state
        hp = model(ids[:, perm], mask[:, perm], types[:, perm]).last_hidden_state
    equivariant = torch.allclose(hp, h[:, perm], atol=1e-5, rtol=0)
    assert equivariant != positions  # positions are exactly what breaks the symmetry


def test_no_segment_embeddings_ignores_token_types():
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_layers=1,
        num_heads=2,
        intermediate_size=32,
        max_position=16,
        dropout=0.0,
        use_segment_embeddings=False,
    )
    model = BertModel(cfg).eval()
    assert model.embeddings.segment is None
    ids = torch.randint(1, 50, (2, 6))
    with torch.no_grad():
        assert_close(
            model(ids, token_type_ids=torch.ones_like(ids)).last_hidden_state, model(ids).last_hidden_state
        )


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_layers=1,
        num_heads=2,
        intermediate_size=32,
        max_position=16,
        dropout=0.5,
    )
    model = BertModel(cfg)
    ids = torch.randint(1, 50, (2, 6))
    assert not torch.allclose(model(ids).last_hidden_state, model(ids).last_hidden_state)
    model.eval()
    assert torch.equal(model(ids).last_hidden_state, model(ids).last_hidden_state)


def test_mlm_decoder_is_tied_to_token_embedding():
    model = BertForPreTraining(
        BertConfig(
            vocab_size=30, hidden_size=8, num_layers=1, num_heads=2, intermediate_size=16, max_position=8
        )
    )
    assert model.mlm.decoder.weight is model.bert.embeddings.token.weight


# ----- loading ---------------------------------------------------------------------------------


@pytest.fixture()
def hf_state(pair):
    return dict(pair[0].state_dict())


def _fresh(pair):
    return BertForPreTraining(pair[1].config)


def test_loading_missing_key_is_named(pair, hf_state):
    del hf_state["bert.encoder.layer.1.attention.self.key.bias"]
    with pytest.raises(DataError, match=r"missing key 'bert\.encoder\.layer\.1\.attention\.self\.key\.bias'"):
        from_hf_state_dict(_fresh(pair), hf_state)


def test_loading_extra_key_is_named(pair, hf_state):
    hf_state["bert.encoder.layer.7.output.dense.weight"] = torch.zeros(3)
    with pytest.raises(DataError, match=r"unexpected key 'bert\.encoder\.layer\.7\.output\.dense\.weight'"):
        from_hf_state_dict(_fresh(pair), hf_state)


def test_loading_wrong_shape_is_named(pair, hf_state):
    hf_state["bert.pooler.dense.weight"] = torch.zeros(64, 63)
    with pytest.raises(DataError, match=r"shape mismatch for bert\.pooler\.dense\.weight \(64, 63\)"):
        from_hf_state_dict(_fresh(pair), hf_state)
    hf_state["bert.pooler.dense.weight"] = torch.zeros(64, 64)
    hf_state["bert.encoder.layer.0.attention.self.value.weight"] = torch.zeros(60, 64)
    with pytest.raises(DataError, match=r"attention\.self\.value\.weight \(60, 64\)"):
        from_hf_state_dict(_fresh(pair), hf_state)


def test_loading_untied_decoder_is_refused(pair, hf_state):
    hf_state["cls.predictions.decoder.weight"] = hf_state["cls.predictions.decoder.weight"] + 1
    with pytest.raises(DataError, match=r"cls\.predictions\.decoder\.weight"):
        from_hf_state_dict(_fresh(pair), hf_state)


def test_loading_into_a_model_without_positions_needs_explicit_ignore(pair, hf_state):
    cfg = BertConfig(**{**pair[1].config.__dict__, "use_position_embeddings": False})
    model = BertForPreTraining(cfg)
    with pytest.raises(DataError, match="position_embeddings"):
        from_hf_state_dict(model, hf_state)
    from_hf_state_dict(model, hf_state, ignore=["bert.embeddings.position_embeddings.weight"])


def test_loading_pretraining_state_into_base_model(pair, hf_state):
    model = BertModel(pair[1].config)
    with pytest.raises(DataError, match="unexpected key 'cls"):
        from_hf_state_dict(model, hf_state)
    from_hf_state_dict(model, hf_state, ignore=[k for k in hf_state if k.startswith("cls.")])
    assert torch.equal(model.pooler.weight, hf_state["bert.pooler.dense.weight"])


def test_unsupported_hf_config_is_refused():
    with pytest.raises(ConfigError, match="hidden_act"):
        BertConfig.from_hf(transformers.BertConfig(hidden_act="relu"))
    with pytest.raises(ConfigError, match="num_heads"):
        BertConfig(hidden_size=10, num_heads=3)


def test_load_hf_bert_from_a_local_folder(tmp_path, pair, batch):
    """The hub-loading path, offline: save_pretrained to a folder, load it back through ours."""
    hf, _ = pair
    hf.save_pretrained(tmp_path)
    ours = load_hf_bert(tmp_path, pretraining=True)
    base = load_hf_bert(tmp_path)
    with torch.no_grad():
        expected = hf(**batch).prediction_logits
        assert_close(ours(**batch).mlm_logits, expected, **TOL)
        assert_close(base(**batch).last_hidden_state, hf.bert(**batch).last_hidden_state, **TOL)


def test_inference_path_equals_autograd_path(pair, batch):
    """Without autograd the feed-forward applies GELU in place; the numbers must not change."""
    _, ours = pair
    with_grad = ours(**batch)
    with torch.inference_mode():
        without = ours(**batch)
    assert torch.equal(with_grad.mlm_logits, without.mlm_logits)
    assert torch.equal(with_grad.pooled_output, without.pooled_output)
