"""Byte-pair encoding (Sennrich, Haddow & Birch 2016): subword units learned from word counts.

Start from characters (each word ends with ``</w>``); repeatedly merge the most frequent adjacent
pair of symbols into one new symbol. The merges, applied in order, split any word, seen or not,
into known pieces: "unkindness" -> "un", "kind", "ness</w>" once those pieces are frequent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from ._checks import check_positive_int

__all__ = ["END", "learn_bpe", "segment"]

END = "</w>"


def _pairs(words: dict) -> Counter:
    pairs = Counter()
    for symbols, count in words.items():
        for a, b in zip(symbols, symbols[1:]):
            pairs[a, b] += count
    return pairs


def _merge(symbols: tuple, pair: tuple) -> tuple:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return tuple(out)


def learn_bpe(word_counts: Mapping[str, int], merges: int) -> list[tuple[str, str]]:
    """The first ``merges`` merges learned from ``word_counts`` (a mapping word -> count).

    Ties between equally frequent pairs go to the pair met first (words in the order given, symbols
    left to right), as in the paper's reference code, so the result is the same on every run.
    """
    check_positive_int(merges, "merges")
    if not isinstance(word_counts, Mapping):
        raise TypeError(f"`word_counts` must be a mapping word -> count, got {type(word_counts).__name__}")
    for w, c in word_counts.items():
        if not isinstance(w, str):
            raise TypeError(f"`word_counts` keys must be words (strings), got {type(w).__name__} {w!r}")
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 1:
            raise ValueError(f"`word_counts` must map each word to a positive integer count, got {w!r}: {c!r}")
    words = {tuple(w) + (END,): c for w, c in dict(word_counts).items() if w}
    if not words:
        raise ValueError("no words to learn byte-pair merges from")
    learned = []
    for _ in range(merges):
        pairs = _pairs(words)
        if not pairs:
            break
        best = max(pairs, key=pairs.get)
        learned.append(best)
        words = {_merge(s, best): c for s, c in words.items()}
    return learned


def segment(word: str, merges: Sequence[tuple[str, str]]) -> list[str]:
    """Split ``word`` by applying ``merges`` in the order they were learned."""
    if not isinstance(word, str):
        raise TypeError(f"`word` must be a string, got {type(word).__name__}")
    for pair in merges:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise ValueError(f"`merges` must be pairs of strings as learn_bpe returns them, got {pair!r}")
    if not word:
        raise ValueError("cannot segment an empty word")
    symbols = tuple(word) + (END,)
    for pair in merges:
        symbols = _merge(symbols, tuple(pair))
    return list(symbols)
