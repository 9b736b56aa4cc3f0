"""WordPiece for the BERT corpus: the algorithm of HF `tokenizers`' WordPieceTrainer with a stable
tie-break, so that the same text gives the same vocabulary in every process (tokenizers breaks ties
in hash order). `train_wordpiece_hf` is tokenizers' own trainer, kept for the tests to compare."""

from __future__ import annotations

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


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


def wordpiece_vocab(
    counts: dict[str, int], vocab_size: int, min_frequency: int = 2, prefix: str = "##"
) -> list[str]:
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
    ids = {t: i for i, t in enumerate(vocab)}  # ties: the pair of the older tokens first
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
            continue  # a stale entry: the count has changed
        if -count < min_frequency:
            break
        merged = a + b[len(prefix) :] if b.startswith(prefix) else a + b
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


def train_wordpiece(documents: list, vocab_size: int, min_frequency: int = 2):
    """A lower-cased BERT-style WordPiece tokenizer whose vocabulary is learnt from the documents
    (wordpiece_vocab: the same for the same text in every process). Ids: the special tokens
    first, then the other tokens in sorted order."""
    from tokenizers import models

    learnt = wordpiece_vocab(
        word_counts(s for d in documents for s in d.sentences), vocab_size, min_frequency
    )
    rest = sorted(set(learnt) - set(SPECIAL_TOKENS))
    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS + rest)}
    return _bert_tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))


def train_wordpiece_hf(documents: list, vocab_size: int, min_frequency: int = 2):
    """The same with tokenizers' own WordPieceTrainer (ties in hash order: not reproducible
    across processes); kept to compare against in the tests."""
    from tokenizers import models, trainers

    tok = _bert_tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tok.train_from_iterator((s for d in documents for s in d.sentences), trainer)
    return tok
