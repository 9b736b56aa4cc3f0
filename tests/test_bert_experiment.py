"""The BERT experiment: corpus, split, WordPiece, MLM/NSP batches, scores, and a smoke run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hw1.data import text_corpus as tc
from hw1.experiments import bert as E
from hw1.experiments.base import Context
from hw1.models.bert import BertConfig, BertForPreTraining


@pytest.fixture(scope="module")
def data():
    return tc.prepare(vocab_size=500, heldout_fraction=0.12, seed=0, max_topics=30)


def test_clean_paragraphs_keeps_prose_only():
    text = ("Heading\n*******\n\nThe statement is used to raise an exception in a block.\n\n"
            "   assert_stmt ::= \"assert\" expression\n\n   >>> x = 1\n   >>> x\n\n"
            "   for i in range(10): print(i)\n\n[1] A footnote that explains something else.\n")
    paragraphs = tc.clean_paragraphs(text)
    assert paragraphs == ["The statement is used to raise an exception in a block.",
                          "A footnote that explains something else."]


def test_split_is_by_topic_deterministic_and_disjoint():
    topics = tc.load_topics()
    train, held = tc.build_documents(topics, 0.12, seed=0)
    train2, held2 = tc.build_documents(topics, 0.12, seed=0)
    assert [d.name for d in held] == [d.name for d in held2]
    assert not {d.name for d in train} & {d.name for d in held}
    train_sentences = {s for d in train for s in d.sentences}
    assert not any(s in train_sentences for d in held for s in d.sentences if len(s.split()) > 8)
    fraction = sum(d.words for d in held) / sum(d.words for d in train + held)
    assert 0.08 < fraction < 0.25
    assert [d.name for d in tc.build_documents(topics, 0.12, seed=1)[1]] != [d.name for d in held]


def test_wordpiece_special_tokens_and_canonical_ids(data):
    tok = data.tokenizer
    assert [tok.id_to_token(i) for i in range(5)] == tc.SPECIAL_TOKENS
    rest = [tok.id_to_token(i) for i in range(5, tok.get_vocab_size())]
    assert rest == sorted(rest) and tok.get_vocab_size() == 500
    again = set(tc.train_wordpiece(data.train_docs, 500).get_vocab())
    assert len(again & set(tok.get_vocab())) >= 0.97 * 500        # ties may differ, little else
    pieces = tok.encode("The exception is raised.").tokens
    assert pieces[0] == "the" and pieces[-1] == "."


def _position_stream(sentence_lengths: list[list[int]]) -> tc.TokenStream:
    """A stream whose token ids are their own positions (+ 5): batches reveal where tokens came from."""
    docs, ids, starts, sent_doc = [], [], [], []
    pos = 0
    for d, lengths in enumerate(sentence_lengths):
        for n in lengths:
            starts.append(pos)
            sent_doc.append(d)
            pos += n
    count = torch.tensor([len(x) for x in sentence_lengths])
    first = torch.cumsum(count, 0) - count
    sent_start = torch.tensor(starts)
    doc_end = torch.cat([sent_start[first[1:]], torch.tensor([pos])])
    return tc.TokenStream(torch.arange(pos) + 5, sent_start, torch.tensor(sent_doc), first, count, doc_end,
                          torch.cat([sent_start, torch.tensor([pos])]), [f"d{i}" for i in range(len(count))])


def test_nsp_batch_layout_and_labels():
    stream = _position_stream([[7, 9, 4, 12, 6], [5, 5, 30, 8], [10, 3, 9], [25, 6]])
    gen = torch.Generator().manual_seed(0)
    b = tc.nsp_batch(stream, 400, 32, gen)
    ids, types, mask, label = b["input_ids"], b["token_type_ids"], b["attention_mask"], b["next_sentence_label"]
    assert 0.4 < label.float().mean() < 0.6
    doc_of = torch.searchsorted(stream.doc_end, ids - 5, right=True)          # document of each token
    starts = set((stream.sent_start + 5).tolist())
    for r in range(len(ids)):
        row = ids[r][mask[r].bool()].tolist()
        assert row[0] == tc.CLS and row[-1] == tc.SEP and row.count(tc.SEP) == 2 and tc.PAD not in row
        assert mask[r].sum() <= 32 and (ids[r][~mask[r].bool()] == tc.PAD).all()
        sep = row.index(tc.SEP)
        a, bb = row[1:sep], row[sep + 1:-1]
        assert a and bb and a[0] in starts and bb[0] in starts                 # segments start at sentences
        assert a == list(range(a[0], a[0] + len(a))) and bb == list(range(bb[0], bb[0] + len(bb)))
        assert types[r, :sep + 1].eq(0).all() and types[r, sep + 1:len(row)].eq(1).all()
        doc_a, doc_b = doc_of[r, 1], doc_of[r, sep + 1]
        assert doc_of[r, 1:sep].eq(doc_a).all() and doc_of[r, sep + 1:len(row) - 1].eq(doc_b).all()
        if label[r] == 0:   # B is what follows A: the next sentence boundary after A's end
            assert doc_a == doc_b and a[-1] < bb[0] <= min(s for s in starts if s > a[-1])
        else:
            assert doc_a != doc_b


def test_mask_tokens_80_10_10():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (400, 100), generator=gen)
    ids[:, 0], ids[:, 50], ids[:, 90:] = tc.CLS, tc.SEP, tc.PAD
    attention = (ids != tc.PAD).long()
    masked, labels = tc.mask_tokens(ids, attention, 1000, gen)
    chosen = labels != -100
    special = (ids < 5)
    assert not chosen[special].any() and torch.equal(labels[chosen], ids[chosen])
    assert abs(chosen.sum() / (~special).sum() - 0.15) < 0.01
    frac_mask = (masked[chosen] == tc.MASK).float().mean()
    frac_same = (masked[chosen] == ids[chosen]).float().mean()
    assert abs(frac_mask - 0.8) < 0.02 and 0.09 < frac_same < 0.12           # 10 % kept (+ random hits)
    assert torch.equal(masked[~chosen], ids[~chosen])


def test_pretraining_losses_match_the_model_forward(data):
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(vocab_size=data.vocab_size, hidden_size=32, num_layers=1,
                                          num_heads=2, intermediate_size=64, max_position=32)).eval()
    batch = tc.pretraining_batch(data.train, 8, 32, data.vocab_size, torch.Generator().manual_seed(1))
    ours = E.pretraining_losses(model, batch)
    full = model(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                 mlm_labels=batch["mlm_labels"], nsp_labels=batch["next_sentence_label"])
    assert torch.allclose(ours["mlm_loss"], full.mlm_loss, atol=1e-5)
    assert torch.allclose(ours["nsp_loss"], full.nsp_loss, atol=1e-6)


def test_head_scores_find_planted_patterns():
    T = 6
    eye = torch.eye(T)
    prev = torch.roll(eye, -1, dims=1)          # row t attends to t-1 (row 0 wraps to T-1)
    cls = torch.zeros(T, T)
    cls[:, 0] = 1
    attn = torch.stack([eye, prev, cls])[None]  # (1 layer, 3 heads, T, T)
    scores, base = E.head_scores(attn, ["[CLS]", "a", "b", "[SEP]", "c", "[SEP]"])
    assert scores["self"][0].tolist() == pytest.approx([1, 0, 1 / T])        # [CLS] row attends to itself
    assert scores["previous"][0].tolist() == pytest.approx([0, 1, 1 / (T - 1)])  # row 1 -> [CLS]
    assert scores["cls"][0].tolist() == pytest.approx([1 / T, 1 / T, 1])
    assert scores["sep"][0, 0] == pytest.approx(2 / T) and base["sep"] == pytest.approx(2 / T)


def test_without_position_embeddings_the_encoder_is_permutation_equivariant():
    torch.manual_seed(0)
    ids = torch.randint(5, 100, (1, 12))
    diffs = {}
    for use in (False, True):
        model = BertForPreTraining(BertConfig(vocab_size=100, hidden_size=32, num_layers=2, num_heads=4,
                                              intermediate_size=64, max_position=16,
                                              use_position_embeddings=use)).eval()
        diffs[use] = E.permutation_difference(model, ids, seed=0)["max_abs_diff"]
    assert diffs[False] < 1e-5 and diffs[True] > 1e-2


def test_smoke_run(tmp_path):
    from hw1.runner import load_config

    cfg = load_config("bert", "smoke")
    ctx = Context("bert", "smoke", tmp_path, Path("."), "cpu", 0, tmp_path / "cache", interactive=False)
    metrics = E.run(cfg, ctx)
    assert metrics["pretraining"]["heldout"]["mlm_top5"] >= metrics["pretraining"]["heldout"]["mlm_top1"]
    assert metrics["ablations"]["heads"]["same_parameter_count"] is True
    perm = metrics["ablations"]["permutation"]
    assert perm["without_position"]["max_abs_diff"] < 1e-4 < perm["with_position"]["max_abs_diff"]
    assert metrics["equivalence"]["minilm"]["max_abs_diff"] < 1e-3
    assert metrics["benchmark"]["speedup_vs_hf"] > 0
    att = json.loads((tmp_path / "data" / "attention.json").read_text())
    assert (tmp_path / "data" / "attention.json").stat().st_size < 1.5e6
    first = att["sentences"][0]
    T = len(first["tokens"])
    assert len(first["attention"]) == att["layers"] and len(first["attention"][0][0]) == T
    assert abs(sum(first["attention"][0][0][0]) - 1) < 0.01
    for name in ("pretraining_curves", "ablation_curves", "attention_head_scores", "attention_selected_heads"):
        assert (tmp_path / "figures" / f"{name}.svg").is_file()
    for name in ("pretraining_summary", "masked_predictions", "ablations", "equivalence", "attention_heads"):
        assert json.loads((tmp_path / "tables" / f"{name}.json").read_text())["rows"]
