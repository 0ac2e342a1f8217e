"""A token vocabulary for sequence-to-sequence models: special tokens, UNK cut-off, padding.

Ids 0-3 are the special tokens of the seq2seq literature:

* ``<PAD>`` (0) fills a batch's shorter sequences up to the longest; masks make it inert.
* ``<SOS>`` (1) is the decoder's first input: "start generating".
* ``<EOS>`` (2) ends a sequence: the decoder learns to emit it, and decoding stops there.
* ``<UNK>`` (3) replaces every token seen fewer than ``min_count`` times in training (and every
  token never seen), so rare words share one id instead of each costing a row of parameters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from ._checks import check_positive_int
from ._types import ArrayLike

__all__ = ["EOS", "PAD", "SOS", "SPECIALS", "UNK", "Vocab", "pad_batch"]

PAD, SOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<PAD>", "<SOS>", "<EOS>", "<UNK>")


class Vocab:
    """Tokens <-> integer ids, built from training sequences (lists of string tokens).

    ``min_count``: tokens seen fewer times than this map to ``<UNK>``. Ids of the kept tokens
    follow frequency (most frequent first, ties alphabetical), so the vocabulary is the same on
    every run.
    """

    def __init__(self, sequences: Iterable[Sequence[str]], min_count: int = 1):
        if not isinstance(min_count, (int, np.integer)) or min_count < 1:
            raise ValueError(f"min_count must be a positive integer, got {min_count!r}")
        counts = Counter(tok for seq in _token_lists(sequences, "sequences") for tok in seq)
        if not counts:
            raise ValueError("no tokens to build a vocabulary from: sequences are empty")
        clash = sorted(set(counts) & set(SPECIALS))
        if clash:
            raise ValueError(f"training tokens may not be special tokens: {clash}")
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        self.tokens = list(SPECIALS) + kept
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.counts = counts
        self.min_count = min_count

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, token):
        return token in self.index

    def encode(self, tokens: Sequence[str], *, sos: bool = False, eos: bool = False) -> np.ndarray:
        """Token ids of ``tokens``, ``[len(tokens)]`` int32 (+1 for each of SOS/EOS if asked); unknown tokens
        become ``<UNK>``."""
        if isinstance(tokens, str):
            raise ValueError("encode takes a sequence of tokens, not a string: tokenise it first")
        _token_lists([tokens], "tokens")
        ids = [self.index.get(t, UNK) for t in tokens]
        return np.array(([SOS] if sos else []) + ids + ([EOS] if eos else []), np.int32)

    def decode(self, ids: ArrayLike, *, strip: bool = True) -> list[str]:
        """Tokens of ``ids [length]``. With ``strip``, stop at the first ``<EOS>`` and drop PAD and SOS."""
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise ValueError(f"decode takes one sequence of ids (rank 1), got shape {ids.shape}")
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"token ids must be integers, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            bad = ids[(ids < 0) | (ids >= len(self))]
            raise ValueError(f"token id {int(bad[0])} is outside the vocabulary [0, {len(self)})")
        out = []
        for i in ids.tolist():
            if strip and i == EOS:
                break
            if strip and i in (PAD, SOS):
                continue
            out.append(self.tokens[i])
        return out

    def unk_share(self, sequences: Iterable[Sequence[str]]) -> float:
        """The share of tokens in ``sequences`` that this vocabulary maps to ``<UNK>``."""
        total = unknown = 0
        for seq in _token_lists(sequences, "sequences"):
            total += len(seq)
            unknown += sum(t not in self.index for t in seq)
        return unknown / total if total else 0.0


def pad_batch(seqs: Sequence[np.ndarray], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stack id sequences into ``[batch, length]`` padded with ``<PAD>``; also return ``lengths``.

    ``length`` defaults to the longest sequence; a longer sequence raises ``ValueError``.
    """
    if isinstance(seqs, str) or not hasattr(seqs, "__len__"):
        raise TypeError(f"`seqs` must be a list of id arrays, got {type(seqs).__name__}")
    if len(seqs) == 0:
        raise ValueError("pad_batch needs at least one sequence")
    if length is not None:
        check_positive_int(length, "length")
    for i, ids in enumerate(seqs):
        ids = np.asarray(ids)
        if ids.ndim != 1 or (ids.size and not np.issubdtype(ids.dtype, np.integer)):
            raise ValueError(f"`seqs[{i}]` must be a 1-D array of integer ids; got {ids.dtype} {list(ids.shape)}")
    lengths = np.array([len(s) for s in seqs], np.int32)
    if lengths.min() < 1:
        raise ValueError(f"sequence {int(np.argmin(lengths))} is empty: every sequence needs a token")
    length = int(lengths.max()) if length is None else length
    if lengths.max() > length:
        raise ValueError(f"a sequence has {lengths.max()} tokens, more than length={length}")
    out = np.full((len(seqs), length), PAD, np.int32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def _token_lists(sequences: Iterable[Sequence[str]], name: str) -> list[Sequence[str]]:
    """``sequences`` as a list of token lists: each a sequence of strings, not a string itself (which
    would be read as its characters)."""
    if isinstance(sequences, str):
        raise TypeError(f"`{name}` must be a list of token lists, not a string")
    out = list(sequences)
    for i, seq in enumerate(out):
        if isinstance(seq, str):
            raise TypeError(f"`{name}[{i}]` must be a list of tokens, not the string {seq[:20]!r}: tokenise it first")
        bad = [t for t in seq if not isinstance(t, str)]
        if bad:
            raise TypeError(f"`{name}[{i}]` must hold string tokens, got {type(bad[0]).__name__} {bad[0]!r}")
    return out
