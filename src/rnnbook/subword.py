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

__all__ = ["END", "learn_bpe", "segment", "segment_all"]

END = "</w>"


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
    words = [tuple(w) + (END,) for w in word_counts if w]
    if not words:
        raise ValueError("no words to learn byte-pair merges from")
    counts = [int(word_counts[w]) for w in word_counts if w]
    # The pair counts are kept up to date merge by merge: a merge changes only the words that hold its
    # pair (`where`), so learning costs what those words cost, not a pass over every word. The most
    # frequent pair is found through `by_count` (count -> pairs); a tie goes to the pair met first
    # reading the words in order, left to right, as a recount would meet it.
    pairs, where, by_count = Counter(), {}, {}
    for k, symbols in enumerate(words):
        for pair in zip(symbols, symbols[1:]):
            pairs[pair] += counts[k]
            where.setdefault(pair, set()).add(k)
    for pair, c in pairs.items():
        by_count.setdefault(c, set()).add(pair)

    def move(pair, delta):
        old = pairs[pair]
        if old:
            by_count[old].discard(pair)
            if not by_count[old]:
                del by_count[old]
        pairs[pair] = old + delta
        if pairs[pair]:
            by_count.setdefault(pairs[pair], set()).add(pair)
        else:
            del pairs[pair]

    learned = []
    for _ in range(merges):
        if not by_count:
            break
        tied = by_count[max(by_count)]
        best = next(iter(tied)) if len(tied) == 1 else _first_met(words, tied, where)
        learned.append(best)
        for k in where.pop(best):
            before = words[k]
            after = _merge(before, best)
            old_pairs, new_pairs = list(zip(before, before[1:])), list(zip(after, after[1:]))
            for pair in old_pairs:
                move(pair, -counts[k])
            for pair in new_pairs:
                move(pair, counts[k])
                where.setdefault(pair, set()).add(k)
            for pair in set(old_pairs) - set(new_pairs) - {best}:  # word k holds these no longer
                where[pair].discard(k)
                if not where[pair]:
                    del where[pair]
            words[k] = after
    return learned


def _first_met(words: list, tied: set, where: dict) -> tuple:
    """Of the pairs in ``tied``, the one met first reading ``words`` in order, each left to right."""
    first = min(min(where[p]) for p in tied)
    symbols = words[first]
    return next(p for p in zip(symbols, symbols[1:]) if p in tied)


def _check_merges(merges: Sequence[tuple[str, str]]) -> None:
    for pair in merges:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise ValueError(f"`merges` must be pairs of strings as learn_bpe returns them, got {pair!r}")


def _check_word(word, name: str = "word") -> None:
    if not isinstance(word, str):
        raise TypeError(f"`{name}` must be a string, got {type(word).__name__}")
    if not word:
        raise ValueError(f"cannot segment an empty word (`{name}`)")


def _by_rank(word: str, ranks: dict) -> list[str]:
    """Apply the merges, ranked by when they were learned, to one word, exactly as applying each merge
    in turn: the next merge is the earliest-learned pair present that comes after the last one applied
    (a merge with nothing to merge does nothing). Time grows with the word, not with the merges."""
    symbols, last, none = tuple(word) + (END,), -1, len(ranks)
    while len(symbols) > 1:
        rank, pair = min(
            ((r, p) for p in zip(symbols, symbols[1:]) if (r := ranks.get(p, none)) > last), default=(none, None)
        )
        if rank == none:
            break
        symbols, last = _merge(symbols, pair), rank
    return list(symbols)


def segment(word: str, merges: Sequence[tuple[str, str]]) -> list[str]:
    """Split ``word`` by applying ``merges`` in the order they were learned."""
    _check_word(word)
    _check_merges(merges)
    symbols = tuple(word) + (END,)
    for pair in merges:
        symbols = _merge(symbols, tuple(pair))
    return list(symbols)


def segment_all(words: Sequence[str], merges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """``[segment(w, merges) for w in words]``, for many words and many merges: the merges are checked
    once and applied by rank (the earliest-learned pair present that follows the last one applied),
    which gives the same pieces in time that does not grow with the number of merges.
    ``words`` must be a sequence of non-empty strings (a single string is refused, not split)."""
    if isinstance(words, str) or not isinstance(words, Sequence):
        raise TypeError(f"`words` must be a sequence of words (strings), got {type(words).__name__}")
    for i, word in enumerate(words):
        _check_word(word, f"words[{i}]")
    _check_merges(merges)
    ranks = {}
    for k, pair in enumerate(merges):
        ranks.setdefault(tuple(pair), k)  # a pair learned twice acts at its first rank
    return [_by_rank(w, ranks) for w in words]
