"""Count-based n-gram language models: add-k and interpolated Kneser-Ney, with perplexity.

An n-gram model assumes ``p(w_t | w_1..w_{t-1}) = p(w_t | w_{t-n+1}..w_{t-1})``: only the last
``n - 1`` words matter. Probabilities are counts, smoothed so that unseen n-grams keep some mass:

* add-k:  ``p(w | h) = (c(h w) + k) / (c(h) + k V)``
* interpolated Kneser-Ney (Chen & Goodman 1999, one discount ``d``):
  ``p(w | h) = max(c(h w) - d, 0) / c(h) + d N1+(h .) / c(h) * p_lower(w | h')``, recursing to the
  *continuation* unigram ``p_cont(w) = N1+(. w) / N1+(. .)``: how many different words precede w,
  not how often w occurs ("Francisco" is frequent but follows few words).

Tokens are integer ids ``0..V-1``; every probability distribution sums to 1 over the vocabulary
(tested).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from ._checks import check_ids, check_positive_int

__all__ = ["NGramLM"]


class NGramLM:
    """An n-gram language model over ids ``0..vocab_size-1`` trained on one id sequence.

    ``smoothing``: ``"kneser-ney"`` (discount ``d``) or ``"add-k"`` (constant ``k``).
    """

    def __init__(
        self,
        ids: Sequence[int] | np.ndarray,
        n: int,
        vocab_size: int,
        smoothing: str = "kneser-ney",
        d: float = 0.75,
        k: float = 1.0,
    ):
        check_positive_int(n, "n")
        check_positive_int(vocab_size, "vocab_size")
        for value, name in ((d, "d"), (k, "k")):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
                raise TypeError(f"`{name}` must be a number, got {type(value).__name__} {value!r}")
        if smoothing not in ("kneser-ney", "add-k"):
            raise ValueError(f"smoothing must be 'kneser-ney' or 'add-k', got {smoothing!r}")
        if not 0 < d < 1:
            raise ValueError(f"the Kneser-Ney discount d must lie in (0, 1), got {d!r}")
        if not k > 0:
            raise ValueError(f"add-k needs k > 0, got {k!r}")
        ids = _int_ids(ids, "ids")
        if len(ids) < n:
            raise ValueError(f"need at least n={n} tokens to count {n}-grams, got {len(ids)}")
        if min(ids) < 0 or max(ids) >= vocab_size:
            raise ValueError(f"token ids must lie in [0, {vocab_size}), got {min(ids)}..{max(ids)}")
        self.n, self.V, self.smoothing, self.d, self.k = n, vocab_size, smoothing, d, k
        # counts[m][(history tuple of length m-1)][word] for m = 1..n
        self.counts = [None] + [defaultdict(Counter) for _ in range(n)]
        for m in range(1, n + 1):
            for i in range(m - 1, len(ids)):
                self.counts[m][tuple(ids[i - m + 1 : i])][ids[i]] += 1
        # continuation counts for Kneser-Ney's lower orders: N1+(. h w) = distinct words before (h w)
        self.cont = [None] + [defaultdict(Counter) for _ in range(n)]
        for m in range(1, n):
            for hist, followers in self.counts[m + 1].items():
                for w in followers:
                    self.cont[m][hist[1:]][w] += 1
        self._totals = [None] + [{h: sum(c.values()) for h, c in self.counts[m].items()} for m in range(1, n + 1)]
        self._cont_totals = [None] + [{h: sum(c.values()) for h, c in self.cont[m].items()} for m in range(1, n)]

    def _kn(self, history: tuple, order: int, top: bool) -> np.ndarray:
        """The Kneser-Ney distribution over the vocabulary given the last ``order - 1`` words."""
        if order == 0:
            return np.full(self.V, 1.0 / self.V)  # uniform floor: unseen words keep mass
        h = history[len(history) - (order - 1) :] if order > 1 else ()
        table, totals = (
            (self.counts[order], self._totals[order]) if top else (self.cont[order], self._cont_totals[order])
        )
        lower = self._kn(history, order - 1, top=False)
        followers, total = table.get(h), totals.get(h, 0)
        if not total:
            return lower
        p = np.zeros(self.V)
        words = np.fromiter(followers.keys(), int)
        p[words] = np.maximum(np.fromiter(followers.values(), float) - self.d, 0) / total
        return p + self.d * len(followers) / total * lower

    def _kn_prob(self, history: tuple, word: int, order: int, top: bool) -> float:
        """One entry of :meth:`_kn`, computed without the whole distribution."""
        if order == 0:
            return 1.0 / self.V
        h = history[len(history) - (order - 1) :] if order > 1 else ()
        table, totals = (
            (self.counts[order], self._totals[order]) if top else (self.cont[order], self._cont_totals[order])
        )
        lower = self._kn_prob(history, word, order - 1, top=False)
        total = totals.get(h, 0)
        if not total:
            return lower
        followers = table[h]
        return max(followers.get(word, 0) - self.d, 0) / total + self.d * len(followers) / total * lower

    def _history(self, history: Sequence[int]) -> tuple:
        """The last ``n - 1`` ids of ``history``, checked: integers in the vocabulary, enough of them."""
        ids = _int_ids(history, "history")
        check_ids(np.asarray(ids, np.int64), self.V, "history")
        if len(ids) < self.n - 1:
            raise ValueError(
                f"`history` must hold at least n-1={self.n - 1} ids for a {self.n}-gram model, got {len(ids)}"
            )
        return tuple(ids[len(ids) - (self.n - 1) :]) if self.n > 1 else ()

    def prob(self, history: Sequence[int], word: int) -> float:
        """``p(word | history)``; equal to ``distribution(history)[word]``, in constant time. ``history``
        holds at least ``n - 1`` ids, and every id lies in ``[0, vocab_size)``."""
        history = self._history(history)
        check_ids(np.asarray(word), self.V, "word")
        if np.ndim(word) != 0:
            raise ValueError(f"`word` must be one id, got shape {list(np.shape(word))}")
        return self._prob(history, int(word))

    def _prob(self, history: tuple, word: int) -> float:
        """:meth:`prob` of checked ids, ``history`` the last ``n - 1``."""
        if self.smoothing == "kneser-ney":
            return self._kn_prob(history, int(word), self.n, top=True)
        followers = self.counts[self.n].get(history, Counter())
        return (followers.get(int(word), 0) + self.k) / (self._totals[self.n].get(history, 0) + self.k * self.V)

    def distribution(self, history: Sequence[int]) -> np.ndarray:
        """``p(. | history)`` over the vocabulary, ``[V]`` (uses the last ``n - 1`` ids of ``history``)."""
        history = self._history(history)
        if self.smoothing == "kneser-ney":
            return self._kn(history, self.n, top=True)
        followers = self.counts[self.n].get(history, Counter())
        total = self._totals[self.n].get(history, 0)
        p = np.full(self.V, self.k)
        if followers:
            words = np.fromiter(followers.keys(), int)
            p[words] += np.fromiter(followers.values(), float)
        return p / (total + self.k * self.V)

    def perplexity(self, ids: Sequence[int] | np.ndarray, order: int | None = None) -> float:
        """``exp(-mean log p(w_t | w_{t-m+1}..w_{t-1}))`` over the tokens of ``ids [N]`` after the first
        ``m - 1``, where ``m`` is ``order`` (default ``n``).

        ``order < n`` scores with the model's first ``order`` orders alone: the perplexity of the
        ``order``-gram Kneser-Ney model of the same text, without counting it again (its counts and
        continuation counts are the first ``order`` of this model's)."""
        ids = _int_ids(ids, "ids")
        check_ids(np.asarray(ids, np.int64), self.V, "ids")
        m = self.n if order is None else order
        if order is not None:
            check_positive_int(order, "order")
            if order > self.n:
                raise ValueError(f"`order` must be at most the model's n={self.n}, got {order}")
            if self.smoothing != "kneser-ney" and order != self.n:
                raise ValueError(f"a lower `order` needs Kneser-Ney smoothing; this model uses {self.smoothing!r}")
        if len(ids) <= m - 1:
            raise ValueError(
                f"need more than {'n' if order is None else 'order'}-1={m - 1} tokens to score, got {len(ids)}"
            )
        # Kneser-Ney of order m is _kn_prob from the top order m (with m = n, that is _prob itself)
        score = self._prob if self.smoothing != "kneser-ney" else (lambda h, w: self._kn_prob(h, w, m, top=True))
        logp = [np.log(score(tuple(ids[i - m + 1 : i]) if m > 1 else (), ids[i])) for i in range(m - 1, len(ids))]
        return float(np.exp(-np.mean(logp)))


def _int_ids(ids: Sequence[int] | np.ndarray, name: str) -> list[int]:
    """``ids`` as a list of Python ints; float or other non-integer ids raise (they are never truncated)."""
    if isinstance(ids, str):
        raise TypeError(f"`{name}` must be a sequence of integer ids, got a string")
    array = np.asarray(ids)
    if array.ndim != 1 and array.size:
        raise ValueError(f"`{name}` must be a 1-D sequence of ids, got shape {list(array.shape)}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"`{name}` must hold integer ids, got dtype {array.dtype}")
    return [int(i) for i in array]
