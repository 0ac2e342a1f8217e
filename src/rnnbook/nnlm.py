"""The neural network language model of Bengio, Ducharme, Vincent & Jauvin (2003).

The previous ``n - 1`` words are looked up in a shared table ``C`` (the first learned word
embedding), concatenated, passed through one ``tanh`` hidden layer, and a softmax over the whole
vocabulary gives the next word:

    x = [C[w_{t-n+1}]; ...; C[w_{t-1}]]        ([batch, (n-1) m])
    p(w_t | history) = softmax(U tanh(x H + d) + b)

(The paper's optional direct connections from ``x`` to the output are left out.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._checks import check_ids, check_key, check_positive_int, check_shape
from ._types import Array, ArrayLike, Key, Params, PyTree

__all__ = ["init_nnlm", "log_probs", "nnlm_logits", "nnlm_loss", "perplexity", "windows"]


def init_nnlm(key: Key, vocab_size: int, context: int, embed: int = 64, hidden: int = 128) -> Params:
    """Parameters for a model reading ``context`` previous words."""
    for value, name in [(vocab_size, "vocab_size"), (context, "context"), (embed, "embed"), (hidden, "hidden")]:
        check_positive_int(value, name)
    check_key(key)
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "C": 0.1 * jax.random.normal(k1, (vocab_size, embed)),
        "H": jax.random.normal(k2, (context * embed, hidden)) / jnp.sqrt(context * embed),
        "d": jnp.zeros(hidden),
        "U": jax.random.normal(k3, (hidden, vocab_size)) / jnp.sqrt(hidden),
        "b": jnp.zeros(vocab_size),
    }


def nnlm_logits(params: Params, histories: Array) -> Array:
    """``histories: [batch, n-1]`` word ids in ``[0, V)`` -> next-word logits ``[batch, V]``. Ids are
    checked outside ``jit`` (inside, JAX would clamp an id out of range to the last row)."""
    vocab, embed = params["C"].shape
    check_shape(histories, "histories", batch=None, context=params["H"].shape[0] // embed)
    check_ids(histories, vocab, "histories")
    x = params["C"][histories].reshape(histories.shape[0], -1)
    return jnp.tanh(x @ params["H"] + params["d"]) @ params["U"] + params["b"]


def nnlm_loss(params: Params, batch: PyTree) -> Array:
    """Mean cross-entropy (nats) of the next word: ``batch = (histories [B, n-1], next words [B])``."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"`batch` must be a pair (histories, next words), got {type(batch).__name__}")
    histories, targets = batch
    check_shape(targets, "targets", batch=getattr(histories, "shape", (None,))[0])
    check_ids(targets, params["C"].shape[0], "targets")
    return optax.softmax_cross_entropy_with_integer_labels(nnlm_logits(params, histories), targets).mean()


def windows(ids: ArrayLike, context: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``(history, next word)`` pairs of an id sequence: ``([N, context], [N])``."""
    ids = jnp.asarray(ids)
    check_positive_int(context, "context")
    if ids.ndim != 1 or ids.shape[0] <= context:
        raise ValueError(f"ids must be 1-D and longer than context={context}, got shape {ids.shape}")
    idx = jnp.arange(ids.shape[0] - context)[:, None] + jnp.arange(context + 1)[None, :]
    check_ids(ids, np.iinfo(np.int32).max, "ids", "the non-negative int32 ids")
    w = ids[idx]
    return w[:, :-1], w[:, -1]


def log_probs(params: Params, ids: ArrayLike, context: int, chunk: int = 4096) -> np.ndarray:
    """``log p(w_t | the context words before it)`` in nats, for every position of ``ids [N]`` after the
    first ``context``: ``[N - context]``, scored ``chunk`` windows at a time by one compiled program (the
    last chunk padded to the full size, its padding dropped). ``ids`` must lie in ``[0, V)``. The
    parameters are an argument of that program, not constants in it: a table of 30,000 words compiled
    in as constants made the compilation itself slow."""
    check_positive_int(chunk, "chunk")
    check_ids(jnp.asarray(ids), params["C"].shape[0], "ids")
    histories, targets = windows(ids, context)
    n = targets.shape[0]
    pad = -n % chunk
    histories, targets = jnp.pad(histories, ((0, pad), (0, 0))), jnp.pad(targets, (0, pad))
    scored = [_log_probs(params, histories[i : i + chunk], targets[i : i + chunk]) for i in range(0, n + pad, chunk)]
    return np.concatenate([np.asarray(block) for block in scored])[:n]


@jax.jit
def _log_probs(params: Params, histories: Array, targets: Array) -> Array:
    return -optax.softmax_cross_entropy_with_integer_labels(nnlm_logits(params, histories), targets)


def perplexity(params: Params, ids: ArrayLike, context: int, chunk: int = 4096) -> float:
    """``exp`` of the mean cross-entropy over every position of ``ids [N]`` after the first ``context``
    (:func:`log_probs`, ``chunk`` windows at a time). ``ids`` must lie in ``[0, V)``."""
    return float(np.exp(-np.mean(log_probs(params, ids, context, chunk), dtype=np.float64)))
