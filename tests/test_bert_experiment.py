"""The BERT experiment: corpus, split, WordPiece, MLM/NSP batches, scores, and a smoke run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import hw1
from conftest import without_timing
from hw1 import config as C
from hw1.data import text_corpus as tc
from hw1.errors import ConfigError
from hw1.experiments import bert as E
from hw1.experiments import bert_attention as A
from hw1.experiments import bert_pretraining as P
from hw1.models.bert import BertConfig, BertForPreTraining

SRC = Path(hw1.__file__).resolve().parents[1]


def python(code: str, hash_seed: int, *args: str) -> subprocess.Popen:
    """A fresh Python process running `code` (hw1 importable), with its own PYTHONHASHSEED."""
    env = {
        **os.environ,
        "PYTHONHASHSEED": str(hash_seed),
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out


FRACTIONS = {"heldout": 0.1, "validation": 0.1}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bert-cache")


@pytest.fixture(scope="module")
def texts(cache) -> dict[str, str]:
    return tc.load_texts(cache)[0]


@pytest.fixture(scope="module")
def data(cache):
    return tc.prepare(vocab_size=500, fractions=FRACTIONS, split_seed=0, cache_dir=cache, max_documents=80)


def test_corpus_is_the_documentation_deterministic_and_cached(cache, texts):
    """Help topics and module docstrings, several hundred thousand words; the extraction in a
    fresh process gives the same text byte for byte, and the fingerprint is its hash."""
    from hw1.data import sources, stdlib_docs

    assert any(k.startswith("topic:") for k in texts) and {"json", "email.message", "builtins"} <= set(texts)
    assert not any(
        stdlib_docs.denied(k) or not stdlib_docs.public(k) for k in texts if not k.startswith("topic:")
    )
    assert sum(len(t.split()) for t in texts.values()) > 200_000
    again = stdlib_docs.extracted(None)  # no cache: a second child process
    assert again["sha256"] == stdlib_docs.digest(texts) and again["documents"] == texts
    # the input fingerprint: the topics file and the Python version, which fixes the stdlib's docstrings
    fp = sources.fingerprint(["pydoc_corpus"], Path("."), cache)["pydoc_corpus"]
    assert (
        fp["name"] == "pydoc_data.topics"
        and fp["python"] == sys.version.split()[0]
        and len(fp["sha256"]) == 64
    )


def test_clean_paragraphs_keeps_prose_only():
    text = (
        "Heading\n*******\n\nThe statement is used to raise an exception in a block.\n\n"
        '   assert_stmt ::= "assert" expression\n\n   >>> x = 1\n   >>> x\n\n'
        "   for i in range(10): print(i)\n\n[1] A footnote that explains something else.\n"
    )
    paragraphs = tc.clean_paragraphs(text)
    assert paragraphs == [
        "The statement is used to raise an exception in a block.",
        "A footnote that explains something else.",
    ]


def test_split_is_by_module_deterministic_and_disjoint(texts):
    split = tc.build_documents(texts, FRACTIONS, seed=0)
    again = tc.build_documents(dict(reversed(list(texts.items()))), FRACTIONS, seed=0)  # any input order
    assert {s: [d.name for d in docs] for s, docs in split.items()} == {
        s: [d.name for d in docs] for s, docs in again.items()
    }
    names = {s: {d.name for d in docs} for s, docs in split.items()}
    for a, b in (("train", "heldout"), ("train", "validation"), ("validation", "heldout")):
        assert not names[a] & names[b], (a, b)  # no module on two sides
        assert not {tc.family(n) for n in names[a]} & {tc.family(n) for n in names[b]}  # nor a package
    train_sentences = {s for d in split["train"] for s in d.sentences}
    for side in ("heldout", "validation"):
        assert not any(s in train_sentences for d in split[side] for s in d.sentences if len(s.split()) > 8)
        fraction = sum(d.words for d in split[side]) / sum(d.words for docs in split.values() for d in docs)
        assert 0.08 < fraction < 0.2
    assert [d.name for d in tc.build_documents(texts, FRACTIONS, seed=1)["heldout"]] != [
        d.name for d in split["heldout"]
    ]


def test_wordpiece_special_tokens_and_canonical_ids(data):
    tok = data.tokenizer
    assert [tok.id_to_token(i) for i in range(5)] == tc.SPECIAL_TOKENS
    rest = [tok.id_to_token(i) for i in range(5, tok.get_vocab_size())]
    assert rest == sorted(rest) and tok.get_vocab_size() == 500
    assert tc.train_wordpiece(data.train_docs, 500).get_vocab() == tok.get_vocab()
    # the same algorithm as tokenizers' trainer: the vocabularies differ in tied merges only
    theirs = set(tc.train_wordpiece_hf(data.train_docs, 500).get_vocab())
    assert len(theirs & set(tok.get_vocab())) >= 0.97 * 500
    pieces = tok.encode("The exception is raised.").tokens
    assert pieces[0] == "the" and pieces[-1] == "."


def test_wordpiece_vocab_merges_the_most_frequent_pair_and_breaks_ties_stably():
    n = len(tc.SPECIAL_TOKENS)
    # the alphabet (every character), then the characters that continue a word; "xy" is the most
    # frequent pair
    counts = {"ab": 2, "cd": 2, "xy": 3}
    alphabet = ["a", "b", "c", "d", "x", "y", "##b", "##d", "##y"]
    assert tc.wordpiece_vocab(counts, n + 9) == tc.SPECIAL_TOKENS + alphabet
    assert tc.wordpiece_vocab(counts, n + 10)[-1] == "xy"
    # "ab" and "cd" tie (2 each): the pair of older tokens ("a" before "c") is merged first,
    # whatever the order of the words
    assert tc.wordpiece_vocab(counts, n + 11)[-1] == "ab"
    assert tc.wordpiece_vocab({"cd": 2, "xy": 3, "ab": 2}, n + 11)[-1] == "ab"
    assert tc.wordpiece_vocab(counts, 100)[-3:] == ["xy", "ab", "cd"]
    assert tc.wordpiece_vocab({"ab": 1}, 100, min_frequency=2) == tc.SPECIAL_TOKENS + ["a", "b", "##b"]
    # merges inside longer words: "abab" -> a ##b ##a ##b -> ab ##ab -> abab
    assert tc.wordpiece_vocab({"abab": 5}, 100)[-3:] == ["ab", "##ab", "abab"]


def _position_stream(sentence_lengths: list[list[int]]) -> tc.TokenStream:
    """A stream whose token ids are their own positions (+ 5): batches reveal where tokens came from."""
    starts, sent_doc = [], []
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
    return tc.TokenStream(
        torch.arange(pos) + 5,
        sent_start,
        torch.tensor(sent_doc),
        first,
        count,
        doc_end,
        torch.cat([sent_start, torch.tensor([pos])]),
        [f"d{i}" for i in range(len(count))],
    )


def test_nsp_batch_layout_and_labels():
    stream = _position_stream([[7, 9, 4, 12, 6], [5, 5, 30, 8], [10, 3, 9], [25, 6]])
    gen = torch.Generator().manual_seed(0)
    b = tc.nsp_batch(stream, 400, 32, gen)
    ids, types, mask, label = (
        b["input_ids"],
        b["token_type_ids"],
        b["attention_mask"],
        b["next_sentence_label"],
    )
    assert 0.4 < label.float().mean() < 0.6
    doc_of = torch.searchsorted(stream.doc_end, ids - 5, right=True)  # document of each token
    starts = set((stream.sent_start + 5).tolist())
    for r in range(len(ids)):
        row = ids[r][mask[r].bool()].tolist()
        assert row[0] == tc.CLS and row[-1] == tc.SEP and row.count(tc.SEP) == 2 and tc.PAD not in row
        assert mask[r].sum() <= 32 and (ids[r][~mask[r].bool()] == tc.PAD).all()
        sep = row.index(tc.SEP)
        a, bb = row[1:sep], row[sep + 1 : -1]
        assert a and bb and a[0] in starts and bb[0] in starts  # segments start at sentences
        assert a == list(range(a[0], a[0] + len(a))) and bb == list(range(bb[0], bb[0] + len(bb)))
        assert types[r, : sep + 1].eq(0).all() and types[r, sep + 1 : len(row)].eq(1).all()
        doc_a, doc_b = doc_of[r, 1], doc_of[r, sep + 1]
        assert doc_of[r, 1:sep].eq(doc_a).all() and doc_of[r, sep + 1 : len(row) - 1].eq(doc_b).all()
        if label[r] == 0:  # B is what follows A: the next sentence boundary after A's end
            assert doc_a == doc_b and a[-1] < bb[0] <= min(s for s in starts if s > a[-1])
        else:
            assert doc_a != doc_b


def test_nsp_same_document_negatives_come_from_the_same_document():
    stream = _position_stream([[7, 9, 4, 12, 6], [5, 5, 30, 8], [10, 3, 9], [25, 6], [4, 4]])
    b = tc.nsp_batch(stream, 600, 32, torch.Generator().manual_seed(0), negatives="same")
    ids, mask, label = b["input_ids"], b["attention_mask"], b["next_sentence_label"]
    assert 0.4 < label.float().mean() < 0.6
    doc_of = torch.searchsorted(stream.doc_end, ids - 5, right=True)
    starts = sorted((stream.sent_start + 5).tolist())
    for r in range(len(ids)):
        row = ids[r][mask[r].bool()].tolist()
        sep = row.index(tc.SEP)
        a, bb = row[1:sep], row[sep + 1 : -1]
        assert doc_of[r, 1] == doc_of[r, sep + 1] != 4  # same document; [4, 4] is too short for A + 2
        true_next = min(s for s in starts if s > a[-1])
        assert (bb[0] == true_next) == (label[r] == 0)  # a negative never starts at the true next
        assert not set(a) & set(bb)  # nor overlaps A
    with pytest.raises(ValueError, match="negatives"):
        tc.nsp_batch(stream, 4, 32, torch.Generator(), negatives="others")


def test_verdicts_count_the_seeds_the_evaluation_set_and_chance():
    from hw1.experiments.bert_verdicts import at_chance, compare, summary

    s = summary([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["std"] == pytest.approx(1.0) and s["values"] == [1.0, 2.0, 3.0]
    n = 10_000  # evaluation predictions: binomial se ~0.005 at p 0.5
    assert compare([0.90, 0.91, 0.92], [0.60, 0.61, 0.62], 0.5, n)["verdict"] == "variant_worse"
    assert compare([0.60, 0.61, 0.62], [0.90, 0.91, 0.92], 0.5, n)["verdict"] == "variant_better"
    # a difference smaller than the spread between seeds is no difference, even if every seed moved
    assert compare([0.6, 0.7, 0.8], [0.62, 0.72, 0.82], 0.5, n)["verdict"] == "no_difference"
    # seeds that all agree exactly: the finite evaluation set still bounds what counts as a difference
    c = compare([0.80] * 5, [0.81] * 5, 0.5, 100)
    assert (
        c["standard_error"] == pytest.approx((2 * 0.805 * 0.195 / 100) ** 0.5)
        and c["verdict"] == "no_difference"
    )
    assert compare([1.0] * 5, [0.9] * 5, 0.5, 10_000)["verdict"] == "variant_worse"
    # no verdict from a baseline at chance: "cannot tell", whatever the variant does
    assert at_chance([0.49, 0.51, 0.50], 0.5, 512) and not at_chance([0.60, 0.61], 0.5, 512)
    assert compare([0.49, 0.51, 0.50], [0.30, 0.31, 0.29], 0.5, 512)["verdict"] == "cannot_tell"


def test_controlled_tasks_are_built_as_described():
    from hw1.experiments import bert_controlled as B

    cfg = B.ControlledConfig(
        seeds=2,
        num_tokens=8,
        length=16,
        segment_lengths=[3, 10],
        hidden_size=16,
        num_heads=2,
        num_layers=1,
        batch_size=4,
        lr=1e-3,
        warmup_steps=1,
        eval_every=1,
        eval_examples=8,
        target_accuracy=0.9,
        steps=2,
        scale_hidden_size=16,
        lookup_offsets=[-2, -1, 1, 2],
        lookup_tokens=4,
    )
    gen = torch.Generator().manual_seed(0)
    h = B.heads_batch(cfg, 64, gen)
    x = h["input_ids"][:, 1:] - B.FIRST_TOKEN
    t = 5  # a query position (0-based in x)
    assert torch.equal(
        h["labels"][:, 1 + t], x[:, t - 2] + 4 * x[:, t - 1] + 16 * x[:, t + 1] + 64 * x[:, t + 2]
    )
    assert (h["labels"][:, :3] == -100).all() and (h["labels"][:, -2:] == -100).all()
    o = B.order_batch(cfg, 256, gen)
    first, last = o["input_ids"][:, 1], o["input_ids"][:, -1]
    assert (first != last).all() and torch.equal(o["label"], (first > last).long())
    assert 0.35 < o["label"].float().mean() < 0.65
    s = B.segment_batch(cfg, 256, gen)
    ids, types = s["input_ids"], s["token_type_ids"]
    assert ((ids == B.MARKER).sum(1) == 1).all() and ((ids == B.SEP).sum(1) == 2).all()
    marker_type = types[ids == B.MARKER]
    assert torch.equal(marker_type, s["label"])  # the marker is in B exactly when the label says so
    assert torch.equal(ids == B.PAD, s["attention_mask"] == 0)
    p = B.previous_token_batch(cfg, 8, gen)
    assert torch.equal(p["labels"][:, 2:], p["input_ids"][:, 1:-1] - B.FIRST_TOKEN)


def test_without_scale_the_softmax_saturates_at_initialisation():
    """Unit-variance queries and keys: q.k has variance d_k, so without 1/sqrt(d_k) the largest
    weight of a row is near 1 at initialisation; with it, far from 1."""
    from hw1.experiments import bert_controlled as B

    cfg = B.ControlledConfig(
        seeds=2,
        num_tokens=8,
        length=16,
        segment_lengths=[3, 10],
        hidden_size=16,
        num_heads=2,
        num_layers=1,
        batch_size=4,
        lr=1e-3,
        warmup_steps=1,
        eval_every=1,
        eval_examples=8,
        target_accuracy=0.9,
        steps=2,
        scale_hidden_size=128,
        lookup_offsets=[-1, 1],
        lookup_tokens=4,
    )
    batch = B.previous_token_batch(cfg, 64, torch.Generator().manual_seed(0))
    top = {}
    for variant, changes in B.TASKS["scale"].variants.items():
        torch.manual_seed(0)
        model = B.Probe(B.bert_config(cfg, "scale", changes), 8).eval()
        B.unit_variance_qk(model)
        top[variant] = B.saturation(model, batch)["mean_max_weight"]
    assert top["unscaled"] > 0.8 and top["scaled"] < 0.5


def test_mask_tokens_80_10_10():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (400, 100), generator=gen)
    ids[:, 0], ids[:, 50], ids[:, 90:] = tc.CLS, tc.SEP, tc.PAD
    attention = (ids != tc.PAD).long()
    masked, labels = tc.mask_tokens(ids, attention, 1000, gen)
    chosen = labels != -100
    special = ids < 5
    assert not chosen[special].any() and torch.equal(labels[chosen], ids[chosen])
    assert abs(chosen.sum() / (~special).sum() - 0.15) < 0.01
    frac_mask = (masked[chosen] == tc.MASK).float().mean()
    frac_same = (masked[chosen] == ids[chosen]).float().mean()
    assert abs(frac_mask - 0.8) < 0.02 and 0.09 < frac_same < 0.12  # 10 % kept (+ random hits)
    assert torch.equal(masked[~chosen], ids[~chosen])


def test_pretraining_losses_match_the_model_forward(data):
    torch.manual_seed(0)
    model = BertForPreTraining(
        BertConfig(
            vocab_size=data.vocab_size,
            hidden_size=32,
            num_layers=1,
            num_heads=2,
            intermediate_size=64,
            max_position=32,
        )
    ).eval()
    batch = tc.pretraining_batch(data.train, 8, 32, data.vocab_size, torch.Generator().manual_seed(1))
    ours = P.pretraining_losses(model, batch)
    full = model(
        batch["input_ids"],
        batch["attention_mask"],
        batch["token_type_ids"],
        mlm_labels=batch["mlm_labels"],
        nsp_labels=batch["next_sentence_label"],
    )
    assert torch.allclose(ours["mlm_loss"], full.mlm_loss, atol=1e-5)
    assert torch.allclose(ours["nsp_loss"], full.nsp_loss, atol=1e-6)


def test_head_scores_find_planted_patterns():
    T = 6
    eye = torch.eye(T)
    prev = torch.roll(eye, -1, dims=1)  # row t attends to t-1 (row 0 wraps to T-1)
    cls = torch.zeros(T, T)
    cls[:, 0] = 1
    attn = torch.stack([eye, prev, cls])[None]  # (1 layer, 3 heads, T, T)
    scores, base = A.head_scores(attn, ["[CLS]", "a", "b", "[SEP]", "c", "[SEP]"])
    assert scores["self"][0].tolist() == pytest.approx([1, 0, 1 / T])  # [CLS] row attends to itself
    assert scores["previous"][0].tolist() == pytest.approx([0, 1, 1 / (T - 1)])  # row 1 -> [CLS]
    assert scores["cls"][0].tolist() == pytest.approx([1 / T, 1 / T, 1])
    assert scores["sep"][0, 0] == pytest.approx(2 / T) and base["sep"] == pytest.approx(2 / T)


def test_without_position_embeddings_the_encoder_is_permutation_equivariant():
    torch.manual_seed(0)
    ids = torch.randint(5, 100, (1, 12))
    diffs = {}
    for use in (False, True):
        model = BertForPreTraining(
            BertConfig(
                vocab_size=100,
                hidden_size=32,
                num_layers=2,
                num_heads=4,
                intermediate_size=64,
                max_position=16,
                use_position_embeddings=use,
            )
        ).eval()
        diffs[use] = P.permutation_difference(model.bert, ids, seed=0)["max_abs_diff"]
    assert diffs[False] < 1e-5 and diffs[True] > 1e-2


def smoke_config(**changes) -> E.Config:
    src = C.read("bert", "smoke")
    src.values.update(changes)
    return C.build(E.Config, src)


def test_config_rules_name_the_key():
    with pytest.raises(ConfigError, match="early_steps: must be >= 0 and < steps"):
        smoke_config(early_steps=12)
    with pytest.raises(ConfigError, match="short_len: must be <= max_len"):
        smoke_config(short_len=64)
    with pytest.raises(ConfigError, match="num_heads: must divide hidden_size"):
        smoke_config(num_heads=3)
    with pytest.raises(
        ConfigError, match="controlled_tasks\\[0\\]: expected one of heads, position, segment, scale"
    ):
        smoke_config(controlled_tasks=["head"])
    with pytest.raises(ConfigError, match="controlled.seeds"):
        smoke_config(controlled={**C.read("bert", "smoke").values["controlled"], "seeds": 1})


def test_examples_are_short_for_early_steps_then_long(data):
    config = smoke_config()
    lengths = [P.example_length(config, s) for s in (1, config.early_steps, config.early_steps + 1, None)]
    assert lengths == [config.short_len, config.short_len, config.max_len, config.max_len]
    next_batch = P.batch_maker(data.train, config, data.vocab_size, 0, "cpu")
    assert next_batch(1)["input_ids"].shape[1] <= config.short_len
    assert max(next_batch(config.steps)["input_ids"].shape[1] for _ in range(20)) > config.short_len


SMOKE_CODE = """
import sys
from pathlib import Path
import torch
from hw1 import config as C
from hw1.experiments import bert
from hw1.experiments.base import Context, write_json
out = Path(sys.argv[1])
cfg = C.build(bert.Config, C.read("bert", "smoke"))
torch.set_num_threads(cfg.threads)          # what the runner does before run()
torch.manual_seed(cfg.seed)
ctx = Context(name="bert", profile="smoke", out_dir=out, data_root=Path("."), device="cpu", seed=cfg.seed,
              cache_dir=out / "cache", precision="fp32", interactive=False)
write_json(out / "metrics.json", bert.run(cfg, ctx))
data = bert.prepare_data(cfg, out / "cache")   # the vocabulary, for a precise message if it differs
write_json(out / "vocab.json", sorted(data.tokenizer.get_vocab().items()))
"""


def test_smoke_run_twice_gives_identical_results(tmp_path):
    """Two smoke runs in two processes (different hash seeds): the same vocabulary (tokenizers'
    trainer gave a different one in each process: ties in hash order), the same metrics (timing
    aside), the same tables and data files, byte for byte."""
    runs = [tmp_path / "a", tmp_path / "b"]
    for proc in [python(SMOKE_CODE, seed, str(out)) for seed, out in zip((1, 2), runs)]:
        finish(proc)
    vocab = [(out / "vocab.json").read_text() for out in runs]
    assert vocab[0] == vocab[1] and len(json.loads(vocab[0])) == 400
    metrics = [json.loads((out / "metrics.json").read_text()) for out in runs]
    assert without_timing(metrics[0]) == without_timing(metrics[1])
    for kind in ("tables", "data"):
        names = sorted(p.name for p in (runs[0] / kind).iterdir())
        assert names and names == sorted(p.name for p in (runs[1] / kind).iterdir())
        for name in names:
            assert (runs[0] / kind / name).read_bytes() == (runs[1] / kind / name).read_bytes(), name
    check_smoke_outputs(metrics[0], runs[0])


def check_smoke_outputs(metrics: dict, out: Path) -> None:
    assert metrics["pretraining"]["heldout"]["mlm_top5"] >= metrics["pretraining"]["heldout"]["mlm_top1"]
    assert metrics["pretraining"]["timing"]["train_s"] > 0 and metrics["timing"]["total_s"] > 0
    controlled = metrics["controlled"]
    assert set(controlled) == {"heads", "position", "segment", "scale"}
    heads = controlled["heads"]["variants"]
    assert heads["multi_head"]["parameters"] == heads["single_head"]["parameters"]  # the same count
    for task in controlled.values():
        for v in task["variants"].values():
            assert len(v["values"]) == len(task["seeds"]) == 2 and isinstance(v["at_chance"], bool)
        for c in task["comparisons"].values():
            assert c["verdict"] in ("no_difference", "variant_better", "variant_worse", "cannot_tell")
    perm = controlled["position"]["variants"]
    assert (
        perm["without_position"]["permutation_max_abs_diff"]
        < 1e-4
        < perm["with_position"]["permutation_max_abs_diff"]
    )
    assert (
        controlled["scale"]["variants"]["unscaled"]["initial_saturation"]["mean"]
        > controlled["scale"]["variants"]["scaled"]["initial_saturation"]["mean"]
    )
    p = metrics["pretraining"]
    assert p["topic_matching"]["heldout"] == p["heldout"]["nsp_accuracy"] - p["heldout_same"]["nsp_accuracy"]
    ours = metrics["attention_ours"]
    assert ours["examples"] == 8 and set(ours["top_heads"]) == set(A.PATTERNS)
    assert metrics["equivalence"]["minilm"]["max_abs_diff"] < 1e-3
    assert "benchmark" not in metrics and "timings_s" not in metrics
    att = json.loads((out / "data" / "attention.json").read_text())
    assert (out / "data" / "attention.json").stat().st_size < 1.5e6
    first = att["sentences"][0]
    T = len(first["tokens"])
    assert len(first["attention"]) == att["layers"] and len(first["attention"][0][0]) == T
    assert abs(sum(first["attention"][0][0][0]) - 1) < 0.01
    for name in (
        "pretraining_curves",
        "controlled_curves",
        "attention_head_scores",
        "attention_selected_heads",
        "attention_ours_head_scores",
    ):
        assert all((out / "figures" / f"{name}.{lang}.svg").is_file() for lang in ("fa", "en"))
    for name in (
        "pretraining_summary",
        "masked_predictions",
        "equivalence",
        "attention_heads",
        "attention_ours_heads",
    ):
        assert json.loads((out / "tables" / f"{name}.json").read_text())["rows"]
