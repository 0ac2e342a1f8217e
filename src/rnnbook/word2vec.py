"""word2vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling, in JAX.

Training pairs are *sampled* inside ``jit`` rather than enumerated, with the same distribution as
the reference implementation's loops:

* **dynamic window**: word2vec draws a window ``b ~ U{1..W}`` per centre word and uses every
  offset up to ``b``, so an offset ``d`` is used with probability ``(W - d + 1) / W``. We draw
  ``d`` from the distribution proportional to ``W - d + 1`` and a random side.
* **subsampling of frequent words**: a token of relative frequency ``f`` is kept with probability
  ``min(1, (sqrt(f / t) + 1) t / f)`` (the C code's formula). We weight each pair by the keep
  probabilities of its two words, which is the same objective in expectation (it omits the
  widening of windows that discarding tokens also causes).
* **negative sampling**: ``k`` noise words per pair from the unigram distribution raised to 3/4.

The loss of a skip-gram pair (centre c, context o, noise words n_1..n_k) is
``-log sigma(u_o . v_c) - sum_i log sigma(-u_{n_i} . v_c)``; CBOW replaces ``v_c`` by the mean of
the context words' input vectors and predicts the centre word. ``v`` are the input vectors (the
embedding), ``u`` the output vectors.

Two ways to train: the samplers and losses above with any optimiser (``train.fit``, Adam: the
chapter's overfitting experiment), and :func:`train_sgd`, sparse SGD on the rows a batch touches, as
the reference code and gensim train (the chapter's vectors). :func:`train_sgd` subsamples the text
itself, as gensim does, instead of weighting pairs, so its windows widen past the dropped words.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import pathlib
import re
import time
from collections import Counter
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from scipy.stats import spearmanr

from . import _xla
from ._checks import check_finite, check_ids, check_int_range, check_key, check_positive_int, check_shape, concrete
from ._types import Array, ArrayLike, Key, Params, PyTree
from .train import progress as show_progress

__all__ = [
    "WordVocab",
    "analogy_accuracy",
    "cbow_loss",
    "cooccurrence",
    "full_softmax_loss",
    "init_word2vec",
    "keep_probabilities",
    "most_similar",
    "negative_sampling_loss",
    "noise_distribution",
    "normalise",
    "offset_distribution",
    "ppmi",
    "sample_cbow",
    "sample_skipgram",
    "similarity_benchmarks",
    "similarity_correlation",
    "similarity_difference",
    "skipgram_loss",
    "split_blocks",
    "svd_embeddings",
    "noise_table",
    "tokenize",
    "train_sgd",
]


# --------------------------------------------------------------------------------------------
# Text to ids
# --------------------------------------------------------------------------------------------
def tokenize(text: str) -> list[str]:
    """Lower-cased words (letters, digits and inner apostrophes); punctuation dropped."""
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a string, got {type(text).__name__}")
    return re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower())


def split_blocks(tokens: Sequence[str], block: int = 1000, every: int = 10) -> tuple[list[str], list[str]]:
    """``(training, held out)``: the text in blocks of ``block`` tokens, every ``every``-th block held out.

    Held-out text is then spread over the whole corpus (every play and book), not one end of it.
    """
    if isinstance(tokens, str):
        raise TypeError("`tokens` must be a list of words, not a string: tokenize it first")
    check_positive_int(block, "block")
    check_positive_int(every, "every")
    if every < 2:
        raise ValueError(f"`every` must be at least 2 (every == 1 would hold out all of the text), got {every}")
    blocks = [tokens[i : i + block] for i in range(0, len(tokens), block)]
    train = [t for i, b in enumerate(blocks) if i % every != every - 1 for t in b]
    held_out = [t for i, b in enumerate(blocks) if i % every == every - 1 for t in b]
    return train, held_out


class WordVocab:
    """Words with at least ``min_count`` occurrences, most frequent first; others map to ``<UNK>`` (id 0)."""

    UNK = "<UNK>"

    def __init__(self, tokens: Sequence[str], min_count: int = 5):
        check_positive_int(min_count, "min_count")
        if isinstance(tokens, str):
            raise TypeError("`tokens` must be a list of words, not a string: tokenize it first")
        counts = Counter(tokens)
        if not counts:
            raise ValueError("no tokens to build a vocabulary from")
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if not kept:
            raise ValueError(f"no word occurs min_count={min_count} times")
        self.words = [self.UNK] + kept
        self.index = {w: i for i, w in enumerate(self.words)}
        unk = sum(c for w, c in counts.items() if c < min_count)
        self.counts = np.array([unk] + [counts[w] for w in kept], np.int64)

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index and word != self.UNK

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of ``tokens``, ``[len(tokens)]`` int32; a word outside the vocabulary becomes ``<UNK>`` (0)."""
        if isinstance(tokens, str):
            raise TypeError("`tokens` must be a list of words, not a string: tokenize it first")
        return np.array([self.index.get(t, 0) for t in tokens], np.int32)

    def decode(self, ids: ArrayLike) -> list[str]:
        """The words of ``ids [length]`` (any shape is read in order)."""
        ids = np.asarray(ids)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"`ids` must be integer word ids, got dtype {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"word id outside the vocabulary [0, {len(self)}): {ids.min()}..{ids.max()}")
        return [self.words[i] for i in ids.ravel()]


def keep_probabilities(counts: ArrayLike, t: float = 1e-3) -> np.ndarray:
    """word2vec's subsampling: keep a word of frequency ``f`` with ``min(1, (sqrt(f/t) + 1) t / f)``.

    ``counts[0]`` (``<UNK>``) is excluded, from the total as well: word2vec drops the words below
    ``min_count`` before it counts frequencies, and never trains on them.
    """
    counts = _counts(counts)
    if not t > 0:
        raise ValueError(f"the subsampling threshold t must be positive, got {t!r}")
    if counts.sum() == 0:
        raise ValueError("`counts` are all zero outside <UNK> (id 0): no word to keep")
    f = counts / counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (np.sqrt(f / t) + 1) * t / f
    return np.where(counts > 0, np.minimum(p, 1.0), 0.0).astype(np.float32)


def noise_distribution(counts: ArrayLike, power: float = 0.75) -> np.ndarray:
    """The negative-sampling distribution ``count^power / sum`` over ``counts [V]``: ``[V]``; ``<UNK>`` (id 0)
    is never drawn."""
    counts = _counts(counts)
    if isinstance(power, bool) or not isinstance(power, (int, float, np.number)) or not np.isfinite(power):
        raise ValueError(f"`power` must be a finite number, got {power!r}")
    if counts.sum() == 0:
        raise ValueError("`counts` are all zero outside <UNK> (id 0): there is no word to draw noise from")
    p = np.where(counts > 0, counts**power, 0.0)
    if not np.isfinite(p.sum()) or p.sum() == 0:
        raise ValueError(f"`counts` ** power={power} does not give a distribution (sum {p.sum()})")
    return (p / p.sum()).astype(np.float32)


def _counts(counts: ArrayLike) -> np.ndarray:
    """Word counts ``[V]``: finite, non-negative, as float64, with ``<UNK>`` (id 0) set to 0."""
    counts = np.array(counts, np.float64)
    if counts.ndim != 1 or counts.size < 2:
        raise ValueError(
            f"`counts` must be word counts of shape [V] with V >= 2 (<UNK> first); got {list(counts.shape)}"
        )
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError("`counts` must be finite and non-negative")
    counts[0] = 0.0
    return counts


def _check_sampler(key: Key, ids: Array, batch: int, window: int, keep: Array, noise: Array, negatives: int) -> None:
    """The arguments of :func:`sample_skipgram` and :func:`sample_cbow`: shapes always, values outside ``jit``."""
    check_key(key)
    for value, name in ((batch, "batch"), (window, "window"), (negatives, "negatives")):
        check_positive_int(value, name)
    (n,) = check_shape(ids, "ids", tokens=None)
    if n <= 2 * window:
        raise ValueError(f"`ids` must hold more than 2 * window = {2 * window} tokens, got {n}")
    (vocab,) = check_shape(keep, "keep", vocab=None)
    check_shape(noise, "noise", vocab=vocab)
    check_ids(ids, vocab, "ids")
    p = concrete(noise)
    if p is not None and (np.any(p < 0) or abs(float(p.sum()) - 1) > 1e-3):
        raise ValueError(f"`noise` must be a probability distribution (non-negative, sum 1), sums to {p.sum()}")


def offset_distribution(window: int) -> np.ndarray:
    """``P(|offset| = d)`` for ``d = 1..window`` under word2vec's dynamic window: proportional to
    ``window - d + 1``, ``[window]``."""
    check_positive_int(window, "window")
    w = np.arange(window, 0, -1, dtype=np.float64)
    return (w / w.sum()).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Sampling training examples (traceable)
# --------------------------------------------------------------------------------------------
def sample_skipgram(
    key: Key, ids: ArrayLike, batch: int, window: int, keep: Array, noise: Array, negatives: int
) -> tuple[Array, Array, Array, Array]:
    """A batch of skip-gram examples: ``(centres [B], contexts [B], noise words [B, k], weights [B])``.

    ``ids [N]`` in ``[0, V)``, ``keep, noise [V]``. Values are checked outside ``jit`` only."""
    ids = jnp.asarray(ids)
    _check_sampler(key, ids, batch, window, keep, noise, negatives)
    k_pos, k_off, k_side, k_neg = jax.random.split(key, 4)
    n = ids.shape[0]
    pos = jax.random.randint(k_pos, (batch,), window, n - window)
    d = 1 + jax.random.choice(k_off, window, (batch,), p=jnp.asarray(offset_distribution(window)))
    side = jnp.where(jax.random.bernoulli(k_side, 0.5, (batch,)), 1, -1)
    centres, contexts = ids[pos], ids[pos + side * d]
    neg = jax.random.choice(k_neg, noise.shape[0], (batch, negatives), p=noise)
    keep = jnp.asarray(keep)
    weights = keep[centres] * keep[contexts] * (centres > 0) * (contexts > 0)
    return centres, contexts, neg, weights


def sample_cbow(
    key: Key, ids: ArrayLike, batch: int, window: int, keep: Array, noise: Array, negatives: int
) -> tuple[Array, Array, Array, Array, Array]:
    """A batch of CBOW examples.

    Returns ``(context ids [B, 2W], context mask [B, 2W], centres [B], noise [B, k], weights [B])``.
    ``ids [N]`` in ``[0, V)``, ``keep, noise [V]``. Values are checked outside ``jit`` only.
    """
    ids = jnp.asarray(ids)
    _check_sampler(key, ids, batch, window, keep, noise, negatives)
    k_pos, k_b, k_neg = jax.random.split(key, 3)
    n = ids.shape[0]
    pos = jax.random.randint(k_pos, (batch,), window, n - window)
    b = jax.random.randint(k_b, (batch, 1), 1, window + 1)  # the dynamic window
    offsets = jnp.concatenate([-jnp.arange(window, 0, -1), jnp.arange(1, window + 1)])
    ctx = ids[pos[:, None] + offsets[None, :]]
    keep = jnp.asarray(keep)
    mask = (jnp.abs(offsets)[None, :] <= b) * keep[ctx] * (ctx > 0)
    centres = ids[pos]
    neg = jax.random.choice(k_neg, noise.shape[0], (batch, negatives), p=noise)
    weights = keep[centres] * (centres > 0) * (mask.sum(1) > 0)
    return ctx, mask, centres, neg, weights


# --------------------------------------------------------------------------------------------
# Parameters and losses
# --------------------------------------------------------------------------------------------
def init_word2vec(key: Key, vocab_size: int, dim: int) -> Params:
    """Input vectors ``U(-0.5/dim, 0.5/dim)`` and output vectors 0, as in the reference code."""
    check_key(key)
    check_positive_int(vocab_size, "vocab_size")
    check_positive_int(dim, "dim")
    return {
        "in": jax.random.uniform(key, (vocab_size, dim), minval=-0.5 / dim, maxval=0.5 / dim),
        "out": jnp.zeros((vocab_size, dim)),
    }


def negative_sampling_loss(v: Array, u_pos: Array, u_neg: Array, weights: Array) -> Array:
    """``-log sigma(u_o . v) - sum_k log sigma(-u_k . v)``, weighted mean over the batch.

    ``v [B, D]`` (centre or context mean), ``u_pos [B, D]``, ``u_neg [B, k, D]``, ``weights [B]``.
    """
    batch, dim = check_shape(v, "v", batch=None, dim=None)
    check_shape(u_pos, "u_pos", batch=batch, dim=dim)
    check_shape(u_neg, "u_neg", batch=batch, negatives=None, dim=dim)
    check_shape(weights, "weights", batch=batch)
    pos = jax.nn.log_sigmoid(jnp.sum(v * u_pos, -1))
    neg = jax.nn.log_sigmoid(-jnp.einsum("bd,bkd->bk", v, u_neg)).sum(-1)
    return -jnp.sum(weights * (pos + neg)) / jnp.maximum(jnp.sum(weights), 1e-8)


def skipgram_loss(params: Params, batch: PyTree) -> Array:
    """Negative-sampling loss of a :func:`sample_skipgram` batch; ``params["in"], params["out"]: [V, dim]``."""
    centres, contexts, neg, weights = _batch(batch, 4, "(centres, contexts, noise, weights)")
    vocab = params["in"].shape[0]
    for ids, name in ((centres, "centres"), (contexts, "contexts"), (neg, "noise")):
        check_ids(ids, vocab, name)
    return negative_sampling_loss(params["in"][centres], params["out"][contexts], params["out"][neg], weights)


def cbow_loss(params: Params, batch: PyTree) -> Array:
    """Negative-sampling loss of a :func:`sample_cbow` batch: the mean of the context's input vectors
    (``[B, dim]``) predicts the centre."""
    ctx, mask, centres, neg, weights = _batch(batch, 5, "(context ids, mask, centres, noise, weights)")
    vocab = params["in"].shape[0]
    for ids, name in ((ctx, "context ids"), (centres, "centres"), (neg, "noise")):
        check_ids(ids, vocab, name)
    check_shape(mask, "mask", batch=None, context=getattr(ctx, "shape", (None, None))[-1])
    v = jnp.sum(params["in"][ctx] * mask[..., None], 1) / jnp.maximum(mask.sum(1, keepdims=True), 1e-8)
    return negative_sampling_loss(v, params["out"][centres], params["out"][neg], weights)


def full_softmax_loss(params: Params, centres: Array, contexts: Array) -> Array:
    """The objective negative sampling approximates: ``-log softmax(U v_c)[o]`` over the whole vocabulary.
    ``centres, contexts [B]`` ids in ``[0, V)``."""
    batch = check_shape(centres, "centres", batch=None)[0]
    check_shape(contexts, "contexts", batch=batch)
    check_ids(centres, params["in"].shape[0], "centres")
    check_ids(contexts, params["out"].shape[0], "contexts")
    logits = params["in"][centres] @ params["out"].T
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), contexts[:, None], 1))


# --------------------------------------------------------------------------------------------
# Training: sparse SGD on the rows a step touches (as the reference code does)
# --------------------------------------------------------------------------------------------
@dataclasses.dataclass
class SGDHistory:
    """What :func:`train_sgd` records: after every call of ``steps_per_call`` steps, the steps done
    and the mean negative-sampling loss of that call's pairs; the wall time of the whole run
    (compilation included) and the number of training pairs (skip-gram) or windows (CBOW) drawn."""

    step: list = dataclasses.field(default_factory=list)
    loss: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    examples: int = 0


def _uniform_index(bits: Array, size: int) -> Array:
    """Indices in ``[0, size)`` from uniform 32-bit words: the top ``log2(size)`` bits where ``size`` is a
    power of two (exactly uniform), else ``bits % size`` (uniform to within ``size / 2**32``)."""
    if size & (size - 1) == 0:
        return (
            (bits >> (32 - (size.bit_length() - 1))).astype(jnp.int32) if size > 1 else jnp.zeros_like(bits, jnp.int32)
        )
    return (bits % jnp.uint32(size)).astype(jnp.int32)


def _mix32(h: Array, xp=jnp) -> Array:
    """MurmurHash3's 32-bit finalizer (``fmix32``): a bijection of ``uint32`` in which every input
    bit flips each output bit with probability close to 1/2. ``xp``: ``jax.numpy`` or ``numpy``
    (the same words: both wrap ``uint32`` products modulo 2**32)."""
    h = h ^ (h >> 16)
    h = h * xp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * xp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def _random_words(seed: Array, counter: Array, xp=jnp) -> Array:
    """Uniform 32-bit words, a keyed hash of ``counter`` (``uint32``): ``fmix32(fmix32(counter) ^ seed)``.
    For one ``seed`` distinct counters give distinct words (a bijection), and different seeds give
    unrelated streams. Ten integer operations a word, fused by XLA into the code that reads it, where
    ``jax.random.bits`` (threefry, twenty rounds) costs about fifty times as much on the CPU; the
    seeds themselves come from ``jax.random``. word2vec's reference code and gensim draw from a
    64-bit linear congruential generator, which is weaker still."""
    return _mix32(_mix32(counter.astype(xp.uint32), xp) ^ xp.uint32(seed), xp)


def _bits_per_step(kind: str, batch: int, negatives: int, shared: int | None) -> int:
    """The 32-bit random words one step of :func:`train_sgd` reads: two per example (its position in
    the text; its context offset and side, or CBOW's window), then one per noise word."""
    return 2 * batch + (batch * negatives if shared is None else shared)


def _draw_examples(kind: str, bits: Array, corpus: Array, n: Array, window: int) -> tuple:
    """A step's examples from ``bits [2, batch]`` (uniform 32-bit words) and the first ``n`` words of
    ``corpus``: skip-gram ``(centres, contexts, weights)``, CBOW ``(context ids [B, 2W], mask, centres,
    weights)``, weights all 1. Positions are uniform over ``[window, n - window)`` (``bits % span``: the
    bias, ``span / 2**32``, is below 1e-3 for texts under 4 million words); a skip-gram context lies at
    distance ``d`` with probability ``(window - d + 1) / sum`` on either side (word2vec's dynamic
    window), read exactly from a table of ``window (window + 1)`` entries; CBOW's window is uniform in
    ``1..window``. Integer arithmetic on the given bits, where ``jax.random.randint`` and ``choice``
    each run a generator of their own (on the CPU a loop each, about a quarter of a step's time)."""
    batch = bits.shape[1]
    span = jnp.maximum(n - 2 * window, 1).astype(jnp.uint32)
    pos = window + (bits[0] % span).astype(jnp.int32)
    ones = jnp.ones(batch, jnp.float32)
    if kind == "skip-gram":
        # entry r of [1 x window, 2 x (window - 1), ..., window x 1]: distance d appears window - d + 1 times
        table = np.repeat(np.arange(1, window + 1), np.arange(window, 0, -1))
        r = _uniform_index(bits[1], 2 * len(table))
        d = jnp.asarray(np.r_[table, table], jnp.int32)[r]
        side = jnp.where(r < len(table), 1, -1)
        return corpus[pos], corpus[pos + side * d], ones
    around = jnp.concatenate([-jnp.arange(window, 0, -1), jnp.arange(1, window + 1)])
    b = 1 + _uniform_index(bits[1], window)[:, None]  # the dynamic window, per example
    return (
        corpus[pos[:, None] + around[None, :]],
        (jnp.abs(around)[None, :] <= b).astype(jnp.float32),
        corpus[pos],
        ones,
    )


def _sgd_step(kind: str, V: int, dim: int, batch: int, sample, negatives: int, shared: int | None, noise_table: Array):
    """One SGD step on the stacked table ``[2V, dim]`` (input vectors, then output vectors): draw a
    batch, gather the rows it touches, compute the gradient of the negative-sampling log-likelihood
    of each row by hand, and add ``alpha`` times it back with one scatter. Returns
    ``step(table, bits, alpha, *text) -> (table, loss)``, where ``bits`` holds the step's
    :func:`_bits_per_step` uniform 32-bit words: ``sample(bits[:2 * batch].reshape(2, batch), *text)``
    draws the batch, and each later word picks a noise word from ``noise_table`` at a uniform position
    (the reference code's unigram table)."""

    def gradients(h, u_pos, u_neg, w):
        """``h [B, D]`` (centre vector or context mean), ``u_pos [B, D]``; ``u_neg [B, k, D]`` per pair or
        ``[S, D]`` shared. The coefficients of the ascent direction of ``log s(u.h) + sum log s(-u_n.h)``."""
        s_pos = jnp.sum(h * u_pos, -1)
        if shared is None:
            s_neg = jnp.sum(h[:, None, :] * u_neg, -1)  # [B, k] (elementwise: XLA's batched dot is slower here)
            scale = 1.0
        else:
            s_neg = h @ u_neg.T  # [B, S]: every pair meets the same S noise words...
            scale = negatives / shared  # ...each weighted so that the noise totals k words per pair
        g_pos = w * (1 - jax.nn.sigmoid(s_pos))
        g_neg = -w[:, None] * jax.nn.sigmoid(s_neg) * scale
        loss = -jnp.sum(w * (jax.nn.log_sigmoid(s_pos) + scale * jax.nn.log_sigmoid(-s_neg).sum(-1)))
        if shared is None:
            dh = g_pos[:, None] * u_pos + jnp.sum(g_neg[..., None] * u_neg, 1)
            du_neg = (g_neg[..., None] * h[:, None, :]).reshape(-1, dim)
        else:
            dh = g_pos[:, None] * u_pos + g_neg @ u_neg
            du_neg = g_neg.T @ h  # [S, D]: the shared noise words' gradients are one matrix product
        return dh, g_pos[:, None] * h, du_neg, loss / jnp.maximum(jnp.sum(w), 1e-8)

    def step(table, bits, alpha, *text):
        drawn = sample(bits[: 2 * batch].reshape(2, batch), *text)
        shape = (batch, negatives) if shared is None else (shared,)
        neg = noise_table[_uniform_index(bits[2 * batch :], noise_table.shape[0]).reshape(shape)]
        w = drawn[-1]
        if kind == "skip-gram":
            centres, contexts = drawn[0], drawn[1]
            rows = jnp.concatenate([centres, contexts + V, neg.reshape(-1) + V])
            E = table[rows]
            h, u_pos, u_neg = E[:batch], E[batch : 2 * batch], E[2 * batch :]
            u_neg = u_neg.reshape(batch, negatives, dim) if shared is None else u_neg
            dh, du_pos, du_neg, loss = gradients(h, u_pos, u_neg, w)
            update = jnp.concatenate([dh, du_pos, du_neg])
        else:
            ctx, mask, centres = drawn[0], drawn[1], drawn[2]
            n_ctx = ctx.shape[1] * batch
            rows = jnp.concatenate([ctx.reshape(-1), centres + V, neg.reshape(-1) + V])
            E = table[rows]
            share = mask / jnp.maximum(mask.sum(1, keepdims=True), 1e-8)  # [B, 2W]: the mean's weights
            h = jnp.sum(share[..., None] * E[:n_ctx].reshape(batch, -1, dim), 1)
            u_pos, u_neg = E[n_ctx : n_ctx + batch], E[n_ctx + batch :]
            u_neg = u_neg.reshape(batch, negatives, dim) if shared is None else u_neg
            dh, du_pos, du_neg, loss = gradients(h, u_pos, u_neg, w)
            # As the reference code and gensim do (cbow_mean=1), every context word gets the whole of the
            # mean's gradient, not 1/|C| of it (the gradient proper): its input vectors learn |C| times faster.
            d_ctx = (mask[..., None] * dh[:, None, :]).reshape(-1, dim)
            update = jnp.concatenate([d_ctx, du_pos, du_neg])
        return table.at[rows].add(alpha * update), loss

    return step


_RESAMPLE = 1000  # train_sgd draws a fresh subsample of the text every this many steps


@functools.partial(jax.jit, donate_argnums=0)
def _merge(base: Array, *tables: Array) -> Array:
    """``base`` plus every table's change from it: the round's updates of all workers, each computed
    from ``base``, added together (as if applied one after the other, less what each would have seen
    of the others')."""
    return base + sum(t - base for t in tables)


def noise_table(noise: ArrayLike, size: int = 2**20) -> Array:
    """The reference code's unigram table: ``size`` word ids in which word ``w`` fills a share
    ``noise[w]`` of the entries (to ``1 / size``), so that a noise word is one uniform index into it, a
    gather, where sampling from ``noise`` directly searches its cumulative sum every time."""
    check_positive_int(size, "size")
    p = np.asarray(noise, np.float64)
    check_shape(p, "noise", vocab=None)
    if np.any(p < 0) or abs(p.sum() - 1) > 1e-3:
        raise ValueError(f"`noise` must be a probability distribution (non-negative, sum 1), sums to {p.sum()}")
    cdf = np.cumsum(p / p.sum())
    table = np.searchsorted(cdf, (np.arange(size) + 0.5) / size, side="right")
    return jnp.asarray(np.minimum(table, len(p) - 1), jnp.int32)


@jax.jit
def _call_seeds(key: Key, first: Array) -> Array:
    """Two uint32 seeds for the :func:`train_sgd` call that starts at step ``first``: the first for its
    subsample of the text, the second for its steps' random words. One small program, compiled once
    per process, where drawing them with ``jax.random`` outside ``jit`` compiled three."""
    return jax.random.bits(jax.random.fold_in(key, first), (2,), jnp.uint32)


@functools.lru_cache(maxsize=16)
def _sgd_program(kind: str, V: int, dim: int, batch: int, window: int, negatives: int, shared: int | None, calls: int):
    """The compiled program of one :func:`train_sgd` call: ``calls`` steps in one ``lax.scan``, the table
    donated (updated in place), compiled on the CPU without XLA's YNNPACK fusions
    (:func:`rnnbook._xla.program_options`). ``run(table, seeds, first, corpus, n, table_of_noise, alpha,
    rate, steps) -> (table, losses [calls])``: steps ``first .. first + calls - 1`` of ``steps`` (their
    random words from ``seeds[1]``, :func:`_call_seeds`), the learning rate ``alpha - rate * step`` (0
    past ``steps``). One program per setting, kept for the process: a second training run with the
    same settings (another seed, more steps, another text of the same length) compiles nothing, where
    a closure compiled per call cost 0.3-0.9 s of every run."""
    per_step = _bits_per_step(kind, batch, negatives, shared)

    def sample(bits, corpus, n):
        """``batch`` examples from the first ``n`` words of ``corpus`` (the subsampled text), weight 1 each."""
        return _draw_examples(kind, bits, corpus, n, window)

    def run(table, seeds, first, corpus, n, table_of_noise, alpha, rate, steps):
        # The call's seed from jax.random (_call_seeds); every random word a step reads is a hash of it and
        # the word's index (_random_words), computed where it is used.
        seed = seeds[1]
        step = _sgd_step(kind, V, dim, batch, sample, negatives, shared, table_of_noise)

        def body(table, t):
            a = alpha - (first + t) * rate
            a = jnp.where(first + t < steps, a, 0.0)  # steps past `steps` (the last call's rest) change nothing
            bits = _random_words(seed, t * per_step + jnp.arange(per_step))
            return step(table, bits, a, corpus, n)

        return jax.lax.scan(body, table, jnp.arange(calls))

    # XLA's YNNPACK fusions off for this program (rnnbook._xla.program_options says why; None elsewhere)
    return jax.jit(run, donate_argnums=0, compiler_options=_xla.program_options("word2vec"))


def train_sgd(
    key: Key,
    ids: ArrayLike,
    keep: ArrayLike,
    noise: ArrayLike,
    *,
    kind: str = "skip-gram",
    dim: int = 100,
    window: int = 5,
    negatives: int = 5,
    shared_negatives: int | None = None,
    steps: int = 10_000,
    batch: int = 512,
    alpha: float = 0.025,
    min_alpha: float = 1e-4,
    steps_per_call: int | None = None,
    workers: int = 1,
    desc: str | None = None,
    progress: bool = True,
) -> tuple[Params, SGDHistory]:
    """Train word2vec (``kind`` "skip-gram" or "CBOW", negative sampling) by sparse SGD, the way the
    reference code and gensim do, on batches drawn inside ``jit``.

    The two tables are one stacked ``[2V, dim]`` array (input vectors, then output vectors). As in
    gensim, the text is first subsampled (each word kept with probability ``keep``, ``<UNK>``
    dropped; a fresh draw for every 1000 steps), so that windows reach past the
    dropped words; a step then draws ``batch`` examples from it (the dynamic window: skip-gram pairs
    as :func:`sample_skipgram` draws them, CBOW windows as :func:`sample_cbow`, here by integer
    arithmetic on random 32-bit words, each a hash of its index and a seed that ``jax.random`` draws
    for every call: :func:`_random_words`), gathers the rows they touch in one gather, computes each
    row's gradient of the negative-sampling log-likelihood by hand, and adds ``alpha`` times it back
    in one scatter: only those rows change, where Adam on the dense tables moves all ``2 V dim``
    numbers every step. ``alpha`` falls linearly to ``min_alpha`` over the ``steps``, as in gensim.
    ``steps_per_call`` steps run in one ``lax.scan`` inside one ``jit`` whose table is donated
    (updated in place), compiled on the CPU without XLA's YNNPACK fusions
    (:func:`rnnbook._xla.program_options`) and kept for the process (:func:`_sgd_program`: a second
    run with the same settings compiles nothing); ``steps_per_call`` is 1000 by default, 250 with
    several workers. Calls are dispatched one round ahead: while a round runs, the host reads the
    losses of the one before and draws the subsampled text of the next.

    ``workers``: with ``W > 1``, ``W`` calls run at the same time, each in a thread of its own on a
    copy of the table (XLA runs programs called from different threads in parallel, where one
    program's operations, this small, use one core), and then the changes of all of them are added to
    the table (:func:`_merge`), as gensim's worker threads share one table. A worker does not see the
    others' updates of its round, so rounds are kept short: on the Word Embedding chapter's corpus,
    calls of 500 steps raised the per-pair loss at the end from 2.48 to 2.75 and lowered WordSim353,
    calls of 250 left both where one worker had them. With ``W = 1`` the result is the same, bit
    for bit, as without the option.

    ``shared_negatives``: ``None`` draws ``negatives`` noise words for every example (the reference
    scheme); an integer ``S`` draws ``S`` noise words per step, shared by the whole batch, each
    weighted ``negatives / S``, so that the noise still counts as ``negatives`` words per example
    and its gradients become dense matrix products (*shared negative sampling*, Ji et al. 2016).

    ``ids [N]`` the corpus in ``[0, V)``; ``keep, noise [V]`` (:func:`keep_probabilities`,
    :func:`noise_distribution`). Returns ``({"in": [V, dim], "out": [V, dim]}, SGDHistory)``, the
    parameters in the form of :func:`init_word2vec`.
    """
    if kind not in ("skip-gram", "CBOW"):
        raise ValueError(f"`kind` must be 'skip-gram' or 'CBOW', got {kind!r}")
    check_positive_int(workers, "workers")
    if steps_per_call is None:
        steps_per_call = 1000 if workers == 1 else 250
    for value, name in ((dim, "dim"), (steps, "steps"), (steps_per_call, "steps_per_call")):
        check_positive_int(value, name)
    if shared_negatives is not None:
        check_positive_int(shared_negatives, "shared_negatives")
    for value, name in ((alpha, "alpha"), (min_alpha, "min_alpha")):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 < value < np.inf:
            raise ValueError(f"`{name}` must be a positive finite number, got {value!r}")
    if min_alpha > alpha:
        raise ValueError(f"`min_alpha` ({min_alpha}) must not exceed `alpha` ({alpha})")
    ids, keep, noise = jnp.asarray(ids), jnp.asarray(keep, jnp.float32), jnp.asarray(noise, jnp.float32)
    _check_sampler(key, ids, batch, window, keep, noise, negatives)
    V = keep.shape[0]

    per_step = _bits_per_step(kind, batch, negatives, shared_negatives)
    if steps_per_call * per_step >= 2**31:  # the counters of a call's random words are int32
        raise ValueError(
            f"`steps_per_call` ({steps_per_call}) times the {per_step} random words a step reads must be below "
            f"2**31: lower `steps_per_call`"
        )
    run = _sgd_program(kind, V, dim, batch, window, negatives, shared_negatives, steps_per_call)
    # the learning rate falls by (alpha - min_alpha) / steps a step (the quotient in float32: the numbers of
    # a program that held alpha, min_alpha and steps as constants, which XLA folded into this one)
    schedule = (jnp.float32(alpha), jnp.float32(np.float32(alpha - min_alpha) / np.float32(steps)), jnp.int32(steps))
    table_of_noise = noise_table(noise)

    ids_host = np.asarray(ids)
    # each word's keep probability, on the host (no program to compile); <UNK> is dropped, as
    # out-of-vocabulary words are in gensim
    keep_host = np.asarray(keep)[ids_host] * (ids_host > 0)
    index = np.arange(len(ids_host), dtype=np.uint32)

    def subsample(first):
        # A fresh subsample of the text for every _RESAMPLE steps (gensim draws one per epoch): frequent
        # words are dropped with probability 1 - keep before windows are formed, so windows reach past
        # them. Its uniform numbers are hashes (_random_words) of the word's index and a seed from
        # jax.random, computed with NumPy: the same words as in a jitted program, without compiling
        # one (a third of a second, for 10 ms of work every 1000 steps).
        seed = np.asarray(_call_seeds(k_train, first))[0]
        u = (_random_words(seed, index, np) >> 8).astype(np.float32) * np.float32(2.0**-24)
        kept = ids_host[u < keep_host]
        corpus = np.zeros_like(ids_host)
        corpus[: len(kept)] = kept
        return jnp.asarray(corpus), jnp.int32(len(kept))

    k_init, k_train = jax.random.split(key)
    p = init_word2vec(k_init, V, dim)
    table = jnp.concatenate([p["in"], p["out"]])
    history, start = SGDHistory(), time.perf_counter()
    calls = -(-steps // steps_per_call)
    rounds = -(-calls // workers)
    bar = show_progress(range(rounds), desc or f"{kind}, sparse SGD", rounds) if progress else range(rounds)
    pool = concurrent.futures.ThreadPoolExecutor(workers) if workers > 1 else None

    def period(call):  # the _RESAMPLE steps (their subsampled text) that a call starts in
        return call * steps_per_call // _RESAMPLE * _RESAMPLE

    def read(dispatched):  # the mean loss of each call of a round: waits for that round to finish
        for call, losses in dispatched:
            done = min(steps, (call + 1) * steps_per_call)
            history.step.append(done)
            history.loss.append(float(jnp.mean(losses[: done - call * steps_per_call])))

    try:
        texts, previous = {}, []
        for r in bar:
            mine = range(r * workers, min(calls, (r + 1) * workers))  # the calls of this round, one per worker
            texts = {q: texts[q] if q in texts else subsample(q) for q in {period(call) for call in mine}}
            if pool is None:
                first = mine[0] * steps_per_call
                table, losses = run(table, _call_seeds(k_train, first), first, *texts[period(mine[0])],
                                    table_of_noise, *schedule)  # fmt: skip
                results = [(table, losses)]
            else:
                # Each worker runs its call on a copy of the table, in a thread of its own (XLA runs programs
                # called from different threads at the same time); then every worker's change is added in.
                def work(call):
                    first = call * steps_per_call
                    return run(jnp.copy(table), _call_seeds(k_train, first), first, *texts[period(call)],
                               table_of_noise, *schedule)  # fmt: skip

                results = list(pool.map(work, mine))
                table = _merge(table, *(t for t, _ in results))
            # JAX returns before the round is computed: the previous round's losses are read now (this round
            # runs meanwhile), and the text the next round starts in is drawn now, not while the cores wait.
            read(previous)
            previous = [(call, losses) for call, (_, losses) in zip(mine, results)]
            following = period(mine[-1] + 1)
            if mine[-1] + 1 < calls and following not in texts:
                texts[following] = subsample(following)
        read(previous)
    finally:
        if pool is not None:
            pool.shutdown()
    table.block_until_ready()
    history.seconds = time.perf_counter() - start
    history.examples = steps * batch
    # Diverged: a loss that is not finite, or ten times that of all-zero vectors, (1 + k) log 2 per
    # example, at any call (a run can blow up and still end on a finite, if enormous, loss).
    losses = np.asarray(history.loss)
    if not np.all(np.isfinite(losses)) or losses.max() > 10 * (1 + negatives) * np.log(2):
        raise FloatingPointError(
            f"word2vec training diverged (mean loss of the calls up to {losses.max():.3g}, from "
            f"{losses[0]:.3g} in the first; {(1 + negatives) * np.log(2):.2f} at zero vectors): lower `alpha`"
        )
    return {"in": table[:V], "out": table[V:]}, history


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------
def normalise(vectors: ArrayLike) -> np.ndarray:
    """Each row of ``vectors [V, dim]`` scaled to unit length (float64), for cosine similarities."""
    vectors = np.asarray(vectors, np.float64)
    check_shape(vectors, "vectors", words=None, dim=None)
    check_finite(vectors, "vectors")
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _vectors(vectors: ArrayLike, vocab: WordVocab) -> np.ndarray:
    """``vectors [V, dim]`` with one row per word of ``vocab``, normalised."""
    if not isinstance(vocab, WordVocab):
        raise TypeError(f"`vocab` must be a WordVocab, got {type(vocab).__name__}")
    e = normalise(vectors)
    if e.shape[0] != len(vocab):
        raise ValueError(f"`vectors` must have one row per word of the vocabulary, {len(vocab)}; got {e.shape[0]}")
    return e


def _batch(batch: object, size: int, form: str) -> tuple:
    if not isinstance(batch, (tuple, list)) or len(batch) != size:
        raise TypeError(f"`batch` must be a tuple {form}, got {type(batch).__name__}")
    return tuple(batch)


def most_similar(vectors: ArrayLike, vocab: WordVocab, word: str, k: int = 5) -> list[tuple[str, float]]:
    """The ``k`` words of highest cosine similarity to ``word`` in ``vectors [V, dim]`` (itself and
    ``<UNK>`` excluded), with their similarities."""
    check_positive_int(k, "k")
    if word not in vocab:
        raise ValueError(f"{word!r} is not in the vocabulary")
    e = _vectors(vectors, vocab)
    sims = e @ e[vocab.index[word]]
    sims[[0, vocab.index[word]]] = -np.inf
    best = np.argsort(-sims)[:k]
    return [(vocab.words[i], float(sims[i])) for i in best]


def similarity_correlation(
    vectors: ArrayLike, vocab: WordVocab, pairs: Sequence[tuple[str, str, float]]
) -> tuple[float, float]:
    """Spearman correlation between human scores and cosine similarities of ``vectors [V, dim]`` on ``pairs`` of
    ``(word1, word2, score)``; pairs with a word outside the vocabulary are skipped. Returns
    ``(rho, share of pairs out of vocabulary)``."""

    pairs = list(pairs)
    if not pairs:
        raise ValueError("no word pairs given")
    e = _vectors(vectors, vocab)
    found = [(vocab.index[a], vocab.index[b], s) for a, b, s in pairs if a in vocab and b in vocab]
    oov = 1 - len(found) / len(pairs)
    if len(found) < 3:
        return float("nan"), oov
    cos = [float(e[i] @ e[j]) for i, j, _ in found]
    return float(spearmanr(cos, [s for *_, s in found]).statistic), oov


def similarity_benchmarks() -> dict[str, list[tuple[str, str, float]]]:
    """Human word-similarity lists, ``{"WordSim353": [(word1, word2, score), ...], "SimLex-999": [...]}``,
    lower-cased, read from the files inside gensim's test data (no download; needs gensim)."""
    import gensim  # an optional extra (rnnbook[gensim]): imported only where it is used

    test_data = pathlib.Path(gensim.__file__).parent / "test" / "test_data"

    def read(name: str, skip_header: bool) -> list[tuple[str, str, float]]:
        rows = []
        for i, line in enumerate((test_data / name).read_text(encoding="utf-8").splitlines()):
            parts = line.strip().split("\t")
            if line.startswith("#") or (skip_header and i == 0) or len(parts) < 3:
                continue
            rows.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
        return rows

    return {"WordSim353": read("wordsim353.tsv", False), "SimLex-999": read("simlex999.txt", True)}


def analogy_accuracy(
    vectors: ArrayLike, vocab: WordVocab, questions: Sequence[tuple[str, str, str, str]]
) -> tuple[float, float]:
    """3CosAdd over ``vectors [V, dim]``: for ``a : b :: c : d`` predict ``argmax cos(x, b - a + c)`` over
    words other than a, b, c. Returns ``(accuracy on questions whose four words are known, share out of
    vocabulary)``."""
    questions = list(questions)
    if not questions:
        raise ValueError("no analogy questions given")
    e = _vectors(vectors, vocab)
    known = [q for q in questions if all(w in vocab for w in q)]
    correct = 0
    for a, b, c, d in known:
        ia, ib, ic = vocab.index[a], vocab.index[b], vocab.index[c]
        sims = e @ (e[ib] - e[ia] + e[ic])
        sims[[0, ia, ib, ic]] = -np.inf
        correct += int(np.argmax(sims) == vocab.index[d])
    return (correct / len(known) if known else float("nan")), 1 - len(known) / len(questions)


def similarity_difference(
    vectors_a: ArrayLike,
    vectors_b: ArrayLike,
    vocab: WordVocab,
    pairs: Sequence[tuple[str, str, float]],
    seed: int,
    resamples: int = 1000,
) -> tuple[float, float, float]:
    """Is ``vectors_a`` better than ``vectors_b`` on a similarity benchmark, beyond the noise of its pairs?

    ``vectors_a``, ``vectors_b``: ``[V, dim]`` word vectors (the dims may differ), one row per word of
    ``vocab``. The Spearman correlation of each with the human scores of ``pairs`` (as
    :func:`similarity_correlation`, pairs out of vocabulary skipped), and a paired bootstrap over the
    pairs: ``resamples`` times, the same resampled pairs score both, and the difference a - b is
    kept. Returns ``(difference, low, high)``: the difference on all pairs and its 95% interval. An
    interval that contains 0 means that the benchmark cannot tell the two apart.
    """
    e_a, e_b = _vectors(vectors_a, vocab), _vectors(vectors_b, vocab)
    check_int_range(seed, "seed", 0)
    check_positive_int(resamples, "resamples")
    found = [(vocab.index[a], vocab.index[b], s) for a, b, s in pairs if a in vocab and b in vocab]
    if len(found) < 3:
        raise ValueError(f"`pairs` must hold at least 3 word pairs inside the vocabulary; got {len(found)}")
    i, j = np.array([f[0] for f in found]), np.array([f[1] for f in found])
    human = np.array([f[2] for f in found])
    cos_a, cos_b = np.sum(e_a[i] * e_a[j], 1), np.sum(e_b[i] * e_b[j], 1)
    rho = lambda cos, idx: spearmanr(cos[idx], human[idx]).statistic
    everything = np.arange(len(found))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        idx = rng.integers(0, len(found), len(found))
        diffs.append(rho(cos_a, idx) - rho(cos_b, idx))
    low, high = np.nanpercentile(diffs, [2.5, 97.5])
    return float(rho(cos_a, everything) - rho(cos_b, everything)), float(low), float(high)


# --------------------------------------------------------------------------------------------
# Counting instead of predicting: PPMI + SVD (Levy, Goldberg & Dagan 2015)
# --------------------------------------------------------------------------------------------
def cooccurrence(ids: ArrayLike, vocab_size: int, window: int) -> scipy.sparse.csr_matrix:
    """Counts ``#(w, c)`` of word ``w`` with context word ``c`` at most ``window`` tokens away, either side.

    ``ids [N]`` token ids in ``[0, vocab_size)``; returns a sparse ``[vocab_size, vocab_size]``
    matrix (symmetric: each pair at distance d is counted once as (w, c) and once as (c, w)).
    """
    ids = np.asarray(ids)
    check_shape(ids, "ids", tokens=None)
    check_positive_int(vocab_size, "vocab_size")
    check_positive_int(window, "window")
    check_ids(ids, vocab_size, "ids")
    if ids.size <= window:
        raise ValueError(f"`ids` must be longer than the window ({window}); got {ids.size} tokens")
    rows = np.concatenate([ids[:-d] for d in range(1, window + 1)] + [ids[d:] for d in range(1, window + 1)])
    cols = np.concatenate([ids[d:] for d in range(1, window + 1)] + [ids[:-d] for d in range(1, window + 1)])
    counts = scipy.sparse.coo_matrix(
        (np.ones(rows.size, np.float64), (rows, cols)), shape=(vocab_size, vocab_size)
    ).tocsr()
    counts.sum_duplicates()
    return counts


def ppmi(counts: scipy.sparse.spmatrix, alpha: float = 0.75) -> scipy.sparse.csr_matrix:
    """Positive pointwise mutual information ``max(0, log p(w, c) / (p(w) p_alpha(c)))`` of co-occurrence counts.

    ``p_alpha(c)`` is the context distribution raised to ``alpha`` (0.75, as word2vec's noise
    distribution; ``alpha = 1`` is plain PMI), which lowers the PMI of rare contexts (Levy,
    Goldberg & Dagan 2015). Pairs never seen together stay 0 (the sparse matrix keeps only seen pairs).
    """
    if not scipy.sparse.issparse(counts):
        raise TypeError(f"`counts` must be a scipy sparse matrix (cooccurrence), got {type(counts).__name__}")
    if counts.shape[0] != counts.shape[1] or counts.nnz == 0:
        raise ValueError(
            f"`counts` must be a square, non-empty co-occurrence matrix; got {counts.shape}, {counts.nnz} entries"
        )
    counts = counts.tocoo()
    if not np.all(np.isfinite(counts.data)) or counts.data.min() < 0:
        raise ValueError("`counts` must hold finite, non-negative counts")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 1:
        raise ValueError(f"`alpha` must lie in (0, 1], got {alpha!r}")
    total = counts.data.sum()
    p_w = np.asarray(counts.sum(1)).ravel() / total
    p_c = np.asarray(counts.sum(0)).ravel() ** alpha
    p_c /= p_c.sum()
    pmi = np.log(counts.data / total) - np.log(p_w[counts.row]) - np.log(p_c[counts.col])
    keep = pmi > 0
    return scipy.sparse.csr_matrix((pmi[keep], (counts.row[keep], counts.col[keep])), shape=counts.shape)


def svd_embeddings(
    matrix: scipy.sparse.spmatrix, dim: int, seed: int, power: float = 0.5, iterations: int = 4
) -> np.ndarray:
    """Word vectors ``U_d S_d^power`` from the top ``dim`` singular vectors of ``matrix [V, V]`` (e.g. :func:`ppmi`).

    A randomized SVD (Halko, Martinsson & Tropp 2011: a Gaussian sketch of ``dim + 10`` columns,
    ``iterations`` power iterations), so that only sparse products with the matrix are needed. ``power = 0.5``
    splits the singular values evenly between word and context vectors, which works better than
    the classical ``power = 1`` on similarity benchmarks (Levy et al. 2015). Returns ``[V, dim]``.
    """
    if not scipy.sparse.issparse(matrix):
        raise TypeError(f"`matrix` must be a scipy sparse matrix (ppmi), got {type(matrix).__name__}")
    check_positive_int(dim, "dim")
    check_int_range(seed, "seed", 0)
    if dim + 10 > min(matrix.shape):
        raise ValueError(f"`dim` must be at most min(matrix.shape) - 10 = {min(matrix.shape) - 10}; got {dim}")
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not 0 <= power <= 1:
        raise ValueError(f"`power` must lie in [0, 1], got {power!r}")
    check_int_range(iterations, "iterations", 0)
    matrix = matrix.tocsr().astype(np.float64)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(matrix @ rng.standard_normal((matrix.shape[1], dim + 10)))
    for _ in range(iterations):  # power iterations sharpen the sketch's top singular directions
        q, _ = np.linalg.qr(matrix.T @ q)
        q, _ = np.linalg.qr(matrix @ q)
    # the SVD of the small [dim + 10, V] matrix z = q^T A, from the eigenvectors of z z^T
    z = (matrix.T @ q).T
    eigenvalues, eigenvectors = np.linalg.eigh(z @ z.T)
    top = np.argsort(eigenvalues)[::-1][:dim]
    singular = np.sqrt(np.maximum(eigenvalues[top], 0.0))
    return (q @ eigenvectors[:, top]) * singular**power
