"""A tokenizer built from the training text: known words plus hashed character trigrams.

Each word becomes its own id (if it is among the ``max_words`` most frequent training words)
followed by the ids of its character trigrams, hashed into ``buckets`` shared slots, as fastText
does. Trigrams give unseen words (names, typos, another domain's vocabulary) a representation.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

import torch

from mrl_lab.core.checks import check_count, check_fitted, check_texts

_WORD = re.compile(r"[a-z0-9]+")
_FIT = "call fit(training_texts) first"


def words(text: str) -> list[str]:
    """Lower-cased words and numbers: the units the tokenizer counts.

    Example:
        >>> words("Oil prices hit $50 a barrel!")
        ['oil', 'prices', 'hit', '50', 'a', 'barrel']
    """
    return _WORD.findall(text.lower())


def trigrams(word: str) -> list[str]:
    """Character trigrams of ``<word>``, with ``<`` and ``>`` marking its ends.

    Example:
        >>> trigrams("oil")
        ['<oi', 'oil', 'il>']
    """
    w = f"<{word}>"
    return [w[i : i + 3] for i in range(len(w) - 2)]


class Tokenizer:
    """Turn texts into padded rows of token ids for :class:`~mrl_lab.models.text_encoder.TextEncoder`.

    Id 0 is padding; ids ``1..len(vocab)`` are words; the next ``buckets`` ids are hashed trigrams
    (``zlib.crc32``, the same on every machine, unlike Python's ``hash``).

    Args:
        max_words: keep this many most frequent training words (ties: first seen first).
        min_count: ...that occur at least this often.
        buckets: hash slots for character trigrams (0: words only).
        max_tokens: tokens kept per text; longer texts are cut (say so by calling :meth:`truncated`).

    Example:
        >>> tok = Tokenizer(min_count=1, buckets=8, max_tokens=6).fit(["oil prices rise", "oil falls"])
        >>> tok.vocab
        ['oil', 'prices', 'rise', 'falls']
        >>> tok.tokens("oil rose")  # 'oil' and its 3 trigrams; 'rose' is unknown: only its 4 trigrams
        [1, 7, 7, 10, 8, 7, 10, 7]
        >>> tok.encode(["oil rose", "rise"])  # cut at max_tokens=6, padded with 0
        tensor([[ 1,  7,  7, 10,  8,  7],
                [ 3, 11,  9, 12,  7,  0]])
        >>> tok.vocab_size  # padding + 4 words + 8 buckets
        13
    """

    def __init__(self, max_words: int = 20000, min_count: int = 2, buckets: int = 2**15, max_tokens: int = 256):
        check_count(max_tokens, "max_tokens", "Tokenizer")
        check_count(buckets, "buckets", "Tokenizer", low=0)
        check_count(max_words, "max_words", "Tokenizer", low=0)
        check_count(min_count, "min_count", "Tokenizer")
        self.max_words, self.min_count, self.buckets, self.max_tokens = max_words, min_count, buckets, max_tokens
        self.vocab: list[str] = []
        self.index: dict[str, int] | None = None  # set by fit

    def fit(self, texts) -> Tokenizer:
        """Build the word list from ``texts`` (the training text only); returns ``self``."""
        texts = check_texts(texts, "Tokenizer.fit")
        counts = Counter(w for t in texts for w in words(t))
        kept = [w for w, c in counts.most_common(self.max_words) if c >= self.min_count]
        if not kept and not self.buckets:
            raise ValueError(f"Tokenizer.fit: no word occurs min_count={self.min_count} times and buckets=0, so every "
                             "text would be padding; lower min_count or keep trigram buckets")  # fmt: skip
        self.vocab = kept
        self.index = {w: i + 1 for i, w in enumerate(kept)}
        return self

    @property
    def vocab_size(self) -> int:
        """Rows the embedding table needs: padding, words and trigram buckets."""
        check_fitted(self.index, "Tokenizer.vocab_size", _FIT)
        return 1 + len(self.vocab) + self.buckets

    def tokens(self, text: str) -> list[int]:
        """The ids of one text, uncut."""
        check_fitted(self.index, "Tokenizer.tokens", _FIT)
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer.tokens takes one text (a str); got {type(text).__name__}. For several: encode")
        ids = []
        offset = 1 + len(self.vocab)
        for w in words(text):
            if w in self.index:
                ids.append(self.index[w])
            if self.buckets:
                ids.extend(offset + zlib.crc32(g.encode()) % self.buckets for g in trigrams(w))
        return ids

    def encode(self, texts) -> torch.Tensor:
        """``(len(texts), L)`` int64 ids, padded with 0; ``L`` is the longest text, at most ``max_tokens``."""
        check_fitted(self.index, "Tokenizer.encode", _FIT)
        texts = check_texts(texts, "Tokenizer.encode")
        rows = [self.tokens(t)[: self.max_tokens] for t in texts]
        out = torch.zeros(len(rows), max((len(r) for r in rows), default=1) or 1, dtype=torch.long)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return out

    def truncated(self, texts) -> float:
        """Share of ``texts`` longer than ``max_tokens`` tokens (cut by :meth:`encode`)."""
        check_fitted(self.index, "Tokenizer.truncated", _FIT)
        texts = check_texts(texts, "Tokenizer.truncated")
        return sum(len(self.tokens(t)) > self.max_tokens for t in texts) / len(texts)

    def __repr__(self) -> str:
        return f"Tokenizer({len(self.vocab)} words, {self.buckets} trigram buckets, max_tokens={self.max_tokens})"
