"""A small English corpus for BERT pre-training: the documentation that ships with CPython.

`pydoc_data.topics.topics` maps ~80 help topics ("exceptions", "compound", ...) to their text
(about 65k words). This module turns it into
  1. documents of prose sentences (headings, grammar, code and tables removed),
  2. a train / held-out split by topic (topics that share paragraphs are kept on the same side,
     and no paragraph occurs twice),
  3. a WordPiece vocabulary learnt on the training split only (the algorithm of HF `tokenizers`'
     trainer, with a stable tie-break: the same vocabulary in every process),
  4. token streams (all sentences of a split concatenated into one tensor), from which
  5. MLM + NSP batches are cut with batched tensor operations (no per-token Python).

Batch layout (HF convention):  [CLS] A ... [SEP] B ... [SEP] [PAD] ...
  token_type_ids 0 for [CLS], A and the first [SEP]; 1 for B and the second [SEP]
  next_sentence_label 0 = B really follows A, 1 = B is a random segment of another topic
  mlm_labels = original id at the selected positions, -100 elsewhere
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

import torch

from hw1.errors import DataError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP, MASK = range(len(SPECIAL_TOKENS))

_UNDERLINE = re.compile(r"^\s*([*=\-~^\"#+])\1{2,}\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“(*])")
_CODE_CHARS = set("()[]{}=:;<>+*/\\|_#@%`'\"")


# ----- 1. documents -------------------------------------------------------------------------
def load_topics() -> dict[str, str]:
    """The raw help topics of this Python (name -> text)."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise DataError("the corpus module pydoc_data.topics is missing from this Python "
                        "(it is part of the standard library; some distributions split it off)") from None
    if not isinstance(topics, dict) or len(topics) < 10:
        raise DataError("pydoc_data.topics.topics is not a dict of at least 10 help topics")
    return dict(topics)


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
        if all(ln.startswith("   ") for ln in lines) and not re.search(r"[a-z]{3,} [a-z]{3,} [a-z]{3,}", body):
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


def _groups_sharing_paragraphs(paragraphs: dict[str, list[str]]) -> list[list[str]]:
    """Topics linked by a shared paragraph (e.g. 'specialnames' contains 'customization')."""
    parent = {name: name for name in paragraphs}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_owner: dict[str, str] = {}
    for name, paras in paragraphs.items():
        for p in paras:
            if p in first_owner:
                parent[root(name)] = root(first_owner[p])
            else:
                first_owner[p] = name
    groups: dict[str, list[str]] = {}
    for name in paragraphs:
        groups.setdefault(root(name), []).append(name)
    return sorted(groups.values(), key=lambda g: sorted(g)[0])


def build_documents(topics: dict[str, str], heldout_fraction: float, seed: int,
                    max_group_fraction: float = 0.05) -> tuple[list[Document], list[Document]]:
    """(train, heldout) documents. Whole groups of related topics go to held-out, chosen at random
    (fixed seed) among groups smaller than max_group_fraction of the corpus, until heldout_fraction
    of the words is reached. Each paragraph is kept once (its first topic in sorted order)."""
    paragraphs = {name: clean_paragraphs(topics[name]) for name in sorted(topics)}
    seen: set[str] = set()
    docs: dict[str, Document] = {}
    for name, paras in paragraphs.items():
        sentences = [s for p in paras if p not in seen for s in split_sentences(p)]
        seen.update(paras)
        if len(sentences) >= 2:
            docs[name] = Document(name, sentences)
    total = sum(d.words for d in docs.values())
    groups = [[n for n in g if n in docs] for g in _groups_sharing_paragraphs(paragraphs)]
    groups = [g for g in groups if g]
    order = list(range(len(groups)))
    random.Random(seed).shuffle(order)
    heldout: set[str] = set()
    held_words = 0
    for gi in order:
        words = sum(docs[n].words for n in groups[gi])
        if held_words >= heldout_fraction * total:
            break
        if words <= max_group_fraction * total:
            heldout.update(groups[gi])
            held_words += words
    train = [docs[n] for n in docs if n not in heldout]
    held = [docs[n] for n in docs if n in heldout]
    if not train or len(held) < 2:
        raise DataError(f"pydoc_data.topics gave too little prose for a split ({len(docs)} topics)")
    return train, held


# ----- 2. WordPiece tokenizer -----------------------------------------------------------------
def _bert_tokenizer(model):
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers

    tok = Tokenizer(model)
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    return tok


def word_counts(sentences) -> dict[str, int]:
    """Words as the tokenizer sees them (BERT normaliser and pre-tokeniser), with their counts, in
    order of first occurrence."""
    from tokenizers import normalizers, pre_tokenizers

    normaliser = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    splitter = pre_tokenizers.BertPreTokenizer()
    counts: dict[str, int] = {}
    for sentence in sentences:
        for word, _ in splitter.pre_tokenize_str(normaliser.normalize_str(sentence)):
            counts[word] = counts.get(word, 0) + 1
    return counts


def _merge(symbols: list[str], a: str, b: str, merged: str) -> list[str]:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
            out.append(merged)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def wordpiece_vocab(counts: dict[str, int], vocab_size: int, min_frequency: int = 2,
                    prefix: str = "##") -> list[str]:
    """The vocabulary that tokenizers' WordPieceTrainer learns, with a stable tie-break.

    As there: every word starts as its characters, all but the first marked with `prefix`; the
    most frequent adjacent pair (counted over the corpus) is merged into one symbol, and each new
    symbol joins the vocabulary, until it holds vocab_size tokens or no pair occurs min_frequency
    times. tokenizers breaks ties between equally frequent pairs in hash order (different in each
    process); here the pair of the older tokens wins (ids: the alphabet in sorted order, then the
    merged tokens in the order they were made), so the vocabulary depends on the counts only.
    Pair counts are updated incrementally (only the words that contain the merged pair change).
    """
    import heapq

    words = [[w[0]] + [prefix + c for c in w[1:]] for w in counts]
    freqs = list(counts.values())
    alphabet = sorted({c for w in counts for c in w})
    vocab = SPECIAL_TOKENS + [c for c in alphabet if c not in SPECIAL_TOKENS]
    vocab += sorted({s for w in words for s in w[1:]} - set(vocab))
    ids = {t: i for i, t in enumerate(vocab)}            # ties: the pair of the older tokens first
    pairs: dict[tuple[str, str], int] = {}
    where: dict[tuple[str, str], set[int]] = {}
    for i, w in enumerate(words):
        for pair in zip(w, w[1:]):
            pairs[pair] = pairs.get(pair, 0) + freqs[i]
            where.setdefault(pair, set()).add(i)
    heap = [(-c, ids[a], ids[b]) for (a, b), c in pairs.items()]
    heapq.heapify(heap)
    while heap and len(vocab) < vocab_size:
        count, ia, ib = heapq.heappop(heap)
        a, b = vocab[ia], vocab[ib]
        if pairs.get((a, b)) != -count:
            continue                                     # a stale entry: the count has changed
        if -count < min_frequency:
            break
        merged = a + b[len(prefix):] if b.startswith(prefix) else a + b
        if merged not in ids:
            ids[merged] = len(vocab)
            vocab.append(merged)
        changed = set()
        for i in sorted(where.pop((a, b))):
            old, new = words[i], _merge(words[i], a, b, merged)
            for pair in zip(old, old[1:]):
                pairs[pair] -= freqs[i]
                changed.add(pair)
            for pair in zip(new, new[1:]):
                pairs[pair] = pairs.get(pair, 0) + freqs[i]
                where.setdefault(pair, set()).add(i)
                changed.add(pair)
            words[i] = new
        for pair in sorted(changed):
            if pairs[pair] > 0:
                heapq.heappush(heap, (-pairs[pair], ids[pair[0]], ids[pair[1]]))
            else:
                del pairs[pair]
    return vocab


def train_wordpiece(documents: list[Document], vocab_size: int, min_frequency: int = 2):
    """A lower-cased BERT-style WordPiece tokenizer whose vocabulary is learnt from the documents
    (wordpiece_vocab: the same for the same text in every process). Ids: the special tokens
    first, then the other tokens in sorted order."""
    from tokenizers import models

    learnt = wordpiece_vocab(word_counts(s for d in documents for s in d.sentences), vocab_size, min_frequency)
    rest = sorted(set(learnt) - set(SPECIAL_TOKENS))
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS + rest)}
    return _bert_tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))


def train_wordpiece_hf(documents: list[Document], vocab_size: int, min_frequency: int = 2):
    """The same with tokenizers' own WordPieceTrainer (ties in hash order: not reproducible
    across processes); kept to compare against in the tests."""
    from tokenizers import models, trainers

    tok = _bert_tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=SPECIAL_TOKENS, show_progress=False)
    tok.train_from_iterator((s for d in documents for s in d.sentences), trainer)
    return tok


# ----- 3. token streams ------------------------------------------------------------------------
@dataclass
class TokenStream:
    """All sentences of a split, concatenated; documents are contiguous."""
    ids: torch.Tensor          # [N]  token ids
    sent_start: torch.Tensor   # [S]  first token of each sentence
    sent_doc: torch.Tensor     # [S]  document of each sentence
    doc_first: torch.Tensor    # [D]  first sentence of each document
    doc_count: torch.Tensor    # [D]  number of sentences
    doc_end: torch.Tensor      # [D]  one past the last token
    boundaries: torch.Tensor   # [S+1] sentence starts and the final end, ascending
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
    return TokenStream(torch.cat(pieces), sent_start, sent_doc, doc_first, doc_count, doc_end,
                       torch.cat([sent_start, torch.tensor([n])]), [d.name for d in documents])


# ----- 4. MLM + NSP batches --------------------------------------------------------------------
def _segment_end(stream: TokenStream, start: torch.Tensor, budget: torch.Tensor,
                 limit: torch.Tensor) -> torch.Tensor:
    """End of a segment from `start`: the last sentence boundary within `budget` tokens and not
    after `limit`; a first sentence longer than the budget is cut at the budget."""
    k = torch.searchsorted(stream.boundaries, start + budget, right=True) - 1
    end = torch.minimum(stream.boundaries[k], limit)
    return torch.where(end > start, end, torch.minimum(start + budget, limit))


def nsp_batch(stream: TokenStream, batch_size: int, max_len: int, gen: torch.Generator,
              random_next_prob: float = 0.5) -> dict[str, torch.Tensor]:
    """Sentence-pair inputs for NSP, unmasked. Segment A gets up to (max_len-3)//2 tokens of whole
    sentences; B is either the text that follows A in the same topic or a random sentence start in
    another topic, filled with whole sentences up to max_len."""
    can_start = stream.sent_start < stream.sent_start[stream.doc_first + stream.doc_count - 1][stream.sent_doc]
    starts = torch.nonzero(can_start).squeeze(1)
    if starts.numel() == 0 or len(stream.doc_names) < 2:
        raise DataError("NSP needs at least two documents and one with two sentences")
    i = starts[torch.randint(len(starts), (batch_size,), generator=gen)]
    doc = stream.sent_doc[i]
    start_a = stream.sent_start[i]
    last_start = stream.sent_start[stream.doc_first[doc] + stream.doc_count[doc] - 1]
    end_a = _segment_end(stream, start_a, torch.full_like(start_a, (max_len - 3) // 2), last_start)
    # B that really follows A: the first sentence boundary at or after A's end
    next_b = stream.boundaries[torch.searchsorted(stream.boundaries, end_a)]
    # B from another topic: a random sentence of a random other document
    n_docs = len(stream.doc_names)
    other = (doc + torch.randint(1, n_docs, (batch_size,), generator=gen)) % n_docs
    j = stream.doc_first[other] + (torch.rand(batch_size, generator=gen) * stream.doc_count[other]).long()
    is_random = torch.rand(batch_size, generator=gen) < random_next_prob
    start_b = torch.where(is_random, stream.sent_start[j], next_b)
    b_limit = torch.where(is_random, stream.doc_end[other], stream.doc_end[doc])
    la = end_a - start_a
    end_b = _segment_end(stream, start_b, max_len - 3 - la, b_limit)
    lb = end_b - start_b
    # gather: [CLS] A [SEP] B [SEP] PAD..., trimmed to the longest example
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


def mask_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor, vocab_size: int,
                gen: torch.Generator, mask_prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: choose mask_prob of the real (non-special) tokens; of those 80 % -> [MASK],
    10 % -> a random token, 10 % unchanged. Returns (masked ids, labels with -100 elsewhere)."""
    candidate = (attention_mask > 0) & (input_ids >= len(SPECIAL_TOKENS))
    chosen = candidate & (torch.rand(input_ids.shape, generator=gen) < mask_prob)
    r = torch.rand(input_ids.shape, generator=gen)
    random_ids = torch.randint(len(SPECIAL_TOKENS), vocab_size, input_ids.shape, generator=gen)
    masked = torch.where(chosen & (r < 0.8), MASK, input_ids)
    masked = torch.where(chosen & (r >= 0.8) & (r < 0.9), random_ids, masked)
    labels = torch.where(chosen, input_ids, -100)
    return masked, labels


def pretraining_batch(stream: TokenStream, batch_size: int, max_len: int, vocab_size: int,
                      gen: torch.Generator, mask_prob: float = 0.15,
                      random_next_prob: float = 0.5) -> dict[str, torch.Tensor]:
    batch = nsp_batch(stream, batch_size, max_len, gen, random_next_prob)
    batch["input_ids"], batch["mlm_labels"] = mask_tokens(batch["input_ids"], batch["attention_mask"],
                                                          vocab_size, gen, mask_prob)
    return batch


# ----- 5. everything at once -------------------------------------------------------------------
@dataclass
class PretrainingData:
    tokenizer: object
    train_docs: list[Document]
    heldout_docs: list[Document]
    train: TokenStream
    heldout: TokenStream

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()


def prepare(vocab_size: int, heldout_fraction: float, seed: int, max_topics: int | None = None,
            min_frequency: int = 2, max_group_fraction: float = 0.05) -> PretrainingData:
    """Corpus -> split -> tokenizer (learnt on the training split; under a second) -> token streams."""
    topics = load_topics()
    if max_topics is not None:  # smoke profile: a deterministic subset
        topics = {k: topics[k] for k in sorted(topics)[:max_topics]}
    train_docs, heldout_docs = build_documents(topics, heldout_fraction, seed, max_group_fraction)
    tokenizer = train_wordpiece(train_docs, vocab_size, min_frequency)
    return PretrainingData(tokenizer, train_docs, heldout_docs,
                           encode_documents(tokenizer, train_docs), encode_documents(tokenizer, heldout_docs))
