"""A small English corpus for BERT pre-training: the documentation that ships with CPython.

hw1.data.stdlib_docs extracts it (the ~80 help topics of pydoc_data.topics and the docstrings of
the standard library's modules, several hundred thousand words); this module turns it into
  1. documents of prose sentences (one per module or help topic; headings, grammar, code, tables
     removed, each sentence kept once),
  2. a train / validation / held-out split by module: whole families of documents (a top-level
     package with its submodules; help topics that share paragraphs) on one side,
  3. a WordPiece vocabulary learnt on the training split only (hw1.data.wordpiece),
  4. token streams (all sentences of a split concatenated into one tensor), from which
  5. MLM + NSP batches are cut with batched tensor operations (no per-token Python).

Batch layout (HF convention):  [CLS] A ... [SEP] B ... [SEP] [PAD] ...
  token_type_ids 0 for [CLS], A and the first [SEP]; 1 for B and the second [SEP]
  next_sentence_label 0 = B really follows A, 1 = B is a random segment: of another document
  (negatives="other", BERT's recipe, used for training) or of the same document, neither A nor
  the text that follows it (negatives="same": no topic cue, for evaluation)
  mlm_labels = original id at the selected positions, -100 elsewhere
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hw1.data import stdlib_docs
from hw1.data.wordpiece import SPECIAL_TOKENS, train_wordpiece, train_wordpiece_hf, wordpiece_vocab  # noqa: F401
from hw1.errors import DataError

PAD, UNK, CLS, SEP, MASK = range(len(SPECIAL_TOKENS))
SPLITS = ("train", "validation", "heldout")
NEGATIVES = ("other", "same")
MASK_TOKEN_FRACTION, RANDOM_TOKEN_FRACTION = 0.8, 0.1  # of the chosen tokens (BERT); the rest unchanged

_UNDERLINE = re.compile(r"^\s*([*=\-~^\"#+])\1{2,}\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“(*])")
_CODE_CHARS = set("()[]{}=:;<>+*/\\|_#@%`'\"")


# ----- 1. documents -------------------------------------------------------------------------
def _normalise(paragraph: str) -> str:
    return " ".join(paragraph.split())


def clean_paragraphs(text: str) -> list[str]:
    """Prose paragraphs of one topic, whitespace-normalised; headings, grammar, code, tables dropped."""
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [ln for ln in block.splitlines() if ln.strip() and not _UNDERLINE.match(ln)]
        if not lines:
            continue
        body = "\n".join(lines)
        if "::=" in body or ">>>" in body or body.lstrip().startswith(("-[", "+", "|")):
            continue
        if all(ln.startswith("   ") for ln in lines) and not re.search(
            r"[a-z]{3,} [a-z]{3,} [a-z]{3,}", body
        ):
            continue  # an indented code block
        paragraph = _normalise(re.sub(r"^\s*\[\d+\]\s*", "", body))  # footnote markers "[1] "
        chars = [c for c in paragraph if not c.isspace()]
        if len(paragraph.split()) < 4 or sum(c in _CODE_CHARS for c in chars) > 0.12 * len(chars):
            continue
        out.append(paragraph)
    return out


def split_sentences(paragraph: str, min_words: int = 3) -> list[str]:
    return [s for s in _SENTENCE_END.split(paragraph) if len(s.split()) >= min_words]


@dataclass
class Document:
    name: str
    sentences: list[str]

    @property
    def words(self) -> int:
        return sum(len(s.split()) for s in self.sentences)


def family(name: str) -> str:
    """Documents that are held out together: a module with its package's other modules."""
    return name if name.startswith("topic:") else name.split(".")[0]


def _groups(paragraphs: dict[str, list[str]]) -> list[list[str]]:
    """Families of documents, joined when they share a paragraph (e.g. 'specialnames' contains
    'customization'); each group sorted, groups in order of their first name."""
    parent = {name: family(name) for name in paragraphs}
    parent.update({f: f for f in set(parent.values())})

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_owner: dict[str, str] = {}
    for name, paras in paragraphs.items():
        for p in paras:
            if p in first_owner:
                a, b = root(name), root(first_owner[p])
                parent[max(a, b)] = min(a, b)
            else:
                first_owner[p] = name
    groups: dict[str, list[str]] = {}
    for name in paragraphs:
        groups.setdefault(root(name), []).append(name)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def build_documents(
    texts: dict[str, str], fractions: dict[str, float], seed: int, max_group_fraction: float = 0.05
) -> dict[str, list[Document]]:
    """{split: documents}. Whole groups (`_groups`) are drawn in an order shuffled with `seed`,
    among groups smaller than max_group_fraction of the corpus, into each split of `fractions`
    (e.g. {"heldout": 0.1, "validation": 0.1}) until it holds that fraction of the words; the rest
    is "train". Each sentence is kept once (in its first document in sorted order), so that no
    held-out sentence occurs in training."""
    paragraphs = {name: clean_paragraphs(texts[name]) for name in sorted(texts)}
    seen: set[str] = set()
    docs: dict[str, Document] = {}
    for name, paras in paragraphs.items():
        sentences = list(dict.fromkeys(s for p in paras for s in split_sentences(p) if s not in seen))
        seen.update(sentences)
        if len(sentences) >= 2:
            docs[name] = Document(name, sentences)
    total = sum(d.words for d in docs.values())
    groups = [g for g in ([n for n in g if n in docs] for g in _groups(paragraphs)) if g]
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    side: dict[str, str] = {}
    targets = list(fractions.items())
    filled = dict.fromkeys(fractions, 0)
    for gi in order:
        words = sum(docs[n].words for n in groups[gi])
        open_ = [s for s, f in targets if filled[s] < f * total]
        if not open_:
            break
        if words <= max_group_fraction * total:
            side.update(dict.fromkeys(groups[gi], open_[0]))
            filled[open_[0]] += words
    split = {s: [docs[n] for n in docs if side.get(n, "train") == s] for s in ("train", *fractions)}
    if not split["train"] or any(len(split[s]) < 2 for s in fractions):
        raise DataError(f"the corpus gave too little prose for a split ({len(docs)} documents)")
    return split


# ----- 3. token streams ------------------------------------------------------------------------
@dataclass
class TokenStream:
    """All sentences of a split, concatenated; documents are contiguous."""

    ids: torch.Tensor  # [N]  token ids
    sent_start: torch.Tensor  # [S]  first token of each sentence
    sent_doc: torch.Tensor  # [S]  document of each sentence
    doc_first: torch.Tensor  # [D]  first sentence of each document
    doc_count: torch.Tensor  # [D]  number of sentences
    doc_end: torch.Tensor  # [D]  one past the last token
    boundaries: torch.Tensor  # [S+1] sentence starts and the final end, ascending
    doc_names: list[str]

    @property
    def num_tokens(self) -> int:
        return int(self.ids.numel())


def encode_documents(tokenizer, documents: list[Document], max_sentence_tokens: int = 200) -> TokenStream:
    sentences = [s for d in documents for s in d.sentences]
    encodings = tokenizer.encode_batch(sentences, add_special_tokens=False)
    pieces = [torch.tensor(e.ids[:max_sentence_tokens] or [UNK], dtype=torch.long) for e in encodings]
    lengths = torch.tensor([len(p) for p in pieces])
    sent_start = torch.cumsum(lengths, 0) - lengths
    doc_count = torch.tensor([len(d.sentences) for d in documents])
    doc_first = torch.cumsum(doc_count, 0) - doc_count
    sent_doc = torch.repeat_interleave(torch.arange(len(documents)), doc_count)
    n = int(lengths.sum())
    doc_end = torch.cat([sent_start[doc_first[1:]], torch.tensor([n])])
    return TokenStream(
        torch.cat(pieces),
        sent_start,
        sent_doc,
        doc_first,
        doc_count,
        doc_end,
        torch.cat([sent_start, torch.tensor([n])]),
        [d.name for d in documents],
    )


# ----- 4. MLM + NSP batches --------------------------------------------------------------------


# ----- 4. MLM + NSP batches --------------------------------------------------------------------
def _segment_end(
    stream: TokenStream, start: torch.Tensor, budget: torch.Tensor, limit: torch.Tensor
) -> torch.Tensor:
    """End of a segment from `start`: the last sentence boundary within `budget` tokens and not
    after `limit`; a first sentence longer than the budget is cut at the budget."""
    k = torch.searchsorted(stream.boundaries, start + budget, right=True) - 1
    end = torch.minimum(stream.boundaries[k], limit)
    return torch.where(end > start, end, torch.minimum(start + budget, limit))


def _segments_a(stream: TokenStream, max_len: int) -> dict[str, torch.Tensor]:
    """For every sentence as the start of segment A: A's end (whole sentences within (max_len-3)//2
    tokens, not into the document's last sentence), the start of the text that really follows,
    and the number of sentences of the document outside A and that next sentence."""
    doc = stream.sent_doc
    last_start = stream.sent_start[stream.doc_first + stream.doc_count - 1][doc]
    start = stream.sent_start
    end = _segment_end(stream, start, torch.full_like(start, (max_len - 3) // 2), last_start)
    next_b = stream.boundaries[torch.searchsorted(stream.boundaries, end)]
    next_sentence = torch.searchsorted(stream.boundaries, next_b)  # index of that sentence
    span = next_sentence - torch.arange(len(start)) + 1  # sentences of A and next B
    return {
        "start": start,
        "end": end,
        "next_b": next_b,
        "has_next": start < last_start,
        "free": stream.doc_count[doc] - span,
        "span": span,
    }


def nsp_batch(
    stream: TokenStream,
    batch_size: int,
    max_len: int,
    gen: torch.Generator,
    random_next_prob: float = 0.5,
    negatives: str = "other",
) -> dict[str, torch.Tensor]:
    """Sentence-pair inputs for NSP, unmasked. Segment A: whole sentences from a random sentence
    (`_segments_a`); B is the text that follows A, or (with random_next_prob) a segment from a
    random sentence of a random other document (negatives="other") or of the same document, not
    A nor its next sentence, and ending before A when it starts before it (negatives="same");
    B is filled with whole sentences up to max_len."""
    if negatives not in NEGATIVES:
        raise ValueError(f"negatives must be one of {NEGATIVES}, got {negatives!r}")
    seg = _segments_a(stream, max_len)
    ok = seg["has_next"] & ((seg["free"] >= 1) if negatives == "same" else True)
    starts = torch.nonzero(ok).squeeze(1)
    if starts.numel() == 0 or len(stream.doc_names) < 2:
        raise DataError("NSP needs at least two documents and one with enough sentences")
    i = starts[torch.randint(len(starts), (batch_size,), generator=gen)]
    doc, start_a, end_a = stream.sent_doc[i], seg["start"][i], seg["end"][i]
    r = torch.rand(batch_size, generator=gen)
    if negatives == "other":
        n_docs = len(stream.doc_names)
        other = (doc + torch.randint(1, n_docs, (batch_size,), generator=gen)) % n_docs
        j = stream.doc_first[other] + (r * stream.doc_count[other]).long()
        random_limit = stream.doc_end[other]
    else:  # a sentence of the document outside A and its next sentence
        j = stream.doc_first[doc] + (r * seg["free"][i]).long()
        j = torch.where(j >= i, j + seg["span"][i], j)
        random_limit = torch.where(j < i, start_a, stream.doc_end[doc])
    is_random = torch.rand(batch_size, generator=gen) < random_next_prob
    start_b = torch.where(is_random, stream.sent_start[j], seg["next_b"][i])
    b_limit = torch.where(is_random, random_limit, stream.doc_end[doc])
    la = end_a - start_a
    end_b = _segment_end(stream, start_b, max_len - 3 - la, b_limit)
    return _pair_tensors(stream, start_a, la, start_b, end_b - start_b, is_random)


def _pair_tensors(stream: TokenStream, start_a, la, start_b, lb, is_random) -> dict[str, torch.Tensor]:
    """[CLS] A [SEP] B [SEP] PAD..., gathered from the stream, trimmed to the longest example."""
    length = int((la + lb).max()) + 3
    ar = torch.arange(length)[None, :]
    la, lb = la[:, None], lb[:, None]
    in_a = (ar >= 1) & (ar <= la)
    in_b = (ar >= la + 2) & (ar <= la + lb + 1)
    src = torch.where(in_a, start_a[:, None] + ar - 1, torch.where(in_b, start_b[:, None] + ar - la - 2, 0))
    ids = torch.where(in_a | in_b, stream.ids[src], PAD)
    ids = torch.where((ar == 0), CLS, ids)
    ids = torch.where((ar == la + 1) | (ar == la + lb + 2), SEP, ids)
    return {
        "input_ids": ids,
        "token_type_ids": ((ar >= la + 2) & (ar <= la + lb + 2)).long(),
        "attention_mask": (ar <= la + lb + 2).long(),
        "next_sentence_label": is_random.long(),
    }


def mask_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    vocab_size: int,
    gen: torch.Generator,
    mask_prob: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: choose mask_prob of the real (non-special) tokens; of those 80 % -> [MASK],
    10 % -> a random token, 10 % unchanged. Returns (masked ids, labels with -100 elsewhere)."""
    candidate = (attention_mask > 0) & (input_ids >= len(SPECIAL_TOKENS))
    chosen = candidate & (torch.rand(input_ids.shape, generator=gen) < mask_prob)
    r = torch.rand(input_ids.shape, generator=gen)
    random_ids = torch.randint(len(SPECIAL_TOKENS), vocab_size, input_ids.shape, generator=gen)
    lo, hi = MASK_TOKEN_FRACTION, MASK_TOKEN_FRACTION + RANDOM_TOKEN_FRACTION
    masked = torch.where(chosen & (r < lo), MASK, input_ids)
    masked = torch.where(chosen & (r >= lo) & (r < hi), random_ids, masked)
    labels = torch.where(chosen, input_ids, -100)
    return masked, labels


def pretraining_batch(
    stream: TokenStream,
    batch_size: int,
    max_len: int,
    vocab_size: int,
    gen: torch.Generator,
    mask_prob: float = 0.15,
    random_next_prob: float = 0.5,
    negatives: str = "other",
) -> dict[str, torch.Tensor]:
    batch = nsp_batch(stream, batch_size, max_len, gen, random_next_prob, negatives)
    batch["input_ids"], batch["mlm_labels"] = mask_tokens(
        batch["input_ids"], batch["attention_mask"], vocab_size, gen, mask_prob
    )
    return batch


# ----- 5. everything at once -------------------------------------------------------------------
@dataclass
class PretrainingData:
    tokenizer: object
    docs: dict[str, list[Document]]  # split -> documents
    streams: dict[str, TokenStream]  # split -> its token stream
    source: dict = field(default_factory=dict)  # python, sha256, extraction seconds, documents

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    # the two splits most code reads
    train_docs = property(lambda self: self.docs["train"])
    heldout_docs = property(lambda self: self.docs["heldout"])
    train = property(lambda self: self.streams["train"])
    heldout = property(lambda self: self.streams["heldout"])


def load_texts(cache_dir: Path | None, max_documents: int | None = None) -> tuple[dict[str, str], dict]:
    """{document name: raw text} of this Python's documentation (hw1.data.stdlib_docs; the first
    max_documents in sorted order for the smoke profile), and where it came from."""
    found = stdlib_docs.extracted(cache_dir)
    texts = found["documents"]
    if max_documents is not None:
        texts = {k: texts[k] for k in sorted(texts)[:max_documents]}
    return texts, {
        "python": found["python"],
        "sha256": found["sha256"],
        "documents": len(found["documents"]),
        "extraction_s": found["seconds"],
    }


def prepare(
    vocab_size: int,
    fractions: dict[str, float],
    split_seed: int,
    cache_dir: Path | None = None,
    max_documents: int | None = None,
    min_frequency: int = 2,
    max_group_fraction: float = 0.05,
) -> PretrainingData:
    """Corpus -> split -> tokenizer (learnt on the training split) -> token streams."""
    texts, source = load_texts(cache_dir, max_documents)
    docs = build_documents(texts, fractions, split_seed, max_group_fraction)
    tokenizer = train_wordpiece(docs["train"], vocab_size, min_frequency)
    return PretrainingData(
        tokenizer, docs, {s: encode_documents(tokenizer, d) for s, d in docs.items()}, source
    )
