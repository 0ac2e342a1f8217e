"""Sequence to sequence: an encoder-decoder with optional attention, teacher forcing, greedy and
beam-search decoding (Sutskever et al. 2014; Cho et al. 2014; Bahdanau et al. 2015; Luong et al.
2015).

Shapes: source ids ``src: [batch, S]`` with ``src_len: [batch]``; decoder inputs ``tgt_in:
[batch, T]`` (``<SOS>`` then the target), outputs ``tgt_out: [batch, T]`` (the target then
``<EOS>``), padded with ``<PAD>``. The decoder step is a pure function of a parameter dict
(:meth:`Seq2Seq.decoder_params`), so the same code runs under ``lax.scan`` for training and
under ``lax.while_loop`` for greedy and beam search.

One decoder step, with state ``s_{t-1}`` and previous token ``y_{t-1}``:

    a_t = attention weights over the encoder states k_1..k_S, from s_{t-1}   (or none)
    c_t = sum_j a_tj k_j           (without attention: c_t = c, the encoder's summary, every step)
    s_t = cell(s_{t-1}, [E y_{t-1}; c_t])
    p(y_t | y_<t, x) = softmax(W_o [s_t; c_t] + b_o)

Scores: additive (Bahdanau) ``e_tj = v^T tanh(W_q s_{t-1} + W_k k_j)``; multiplicative (Luong's
"general") ``e_tj = s_{t-1}^T W k_j``. Both are masked so that padding gets weight exactly 0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ._checks import check_lengths, check_positive_int, check_token_ids
from ._types import Array, ArrayLike, Key, PyTree
from .layers import Recurrent
from .vocab import EOS, PAD, SOS

NEG_INF = -jnp.inf


# --------------------------------------------------------------------------------------------
# Attention: scores, masked softmax, context
# --------------------------------------------------------------------------------------------
def additive_scores(query: Array, keys_proj: Array, W_q: Array, v: Array) -> Array:
    """Bahdanau scores ``e_j = v^T tanh(W_q q + k'_j)`` with ``k'_j = W_k k_j`` precomputed.

    ``query: [batch, Hq]``, ``keys_proj: [batch, S, A]``, ``W_q: [Hq, A]``, ``v: [A]`` ->
    ``[batch, S]``.
    """
    return jnp.tanh((query @ W_q)[:, None, :] + keys_proj) @ v


def multiplicative_scores(query: Array, keys_proj: Array) -> Array:
    """Luong "general" scores ``e_j = q^T W k_j`` with ``k'_j = W k_j`` precomputed.

    ``query: [batch, H]``, ``keys_proj: [batch, S, H]`` -> ``[batch, S]``. With ``W = I / sqrt(H)``
    this is the scaled dot product of the Transformer.
    """
    return jnp.einsum("bh,bsh->bs", query, keys_proj)


def masked_softmax(scores: Array, mask: Array) -> Array:
    """Softmax over the last axis of ``scores`` where ``mask`` is True; exactly 0 elsewhere.

    ``scores, mask: [batch, S]`` -> ``[batch, S]``. Every row must have at least one True entry (a
    sequence has at least one real token).
    """
    scores = jnp.where(mask, scores, NEG_INF)
    weights = jax.nn.softmax(scores, axis=-1)
    return jnp.where(mask, weights, 0.0)


def attend(weights: Array, values: Array) -> Array:
    """The context ``sum_j a_j v_j``: ``weights: [batch, S]``, ``values: [batch, S, D]`` -> ``[batch, D]``."""
    return jnp.einsum("bs,bsd->bd", weights, values)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------
class Seq2Seq(nnx.Module):
    """Encoder-decoder over token ids (Flax NNX).

    * ``cell``: ``"lstm"``, ``"gru"`` or ``"rnn"``, for encoder and decoder.
    * ``encoder``: ``"rnn"`` (a recurrent layer of ``cell``; ``bidirectional`` optional) or
      ``"mean"`` (the average of the source embeddings: a bag of words, order lost).
    * ``attention``: ``None`` (the decoder sees one fixed context vector, the encoder's summary),
      ``"bahdanau"`` (additive) or ``"luong"`` (multiplicative).

    The summary is the encoder's final hidden state (both directions concatenated), or the mean
    embedding; the decoder starts from ``tanh(W_b summary + b_b)``.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        *,
        embed: int = 32,
        hidden: int = 128,
        cell: str = "lstm",
        encoder: str = "rnn",
        bidirectional: bool = False,
        attention: str | None = None,
        attn_size: int | None = None,
        rngs: nnx.Rngs,
    ):
        for value, name in [(src_vocab, "src_vocab"), (tgt_vocab, "tgt_vocab"), (embed, "embed"), (hidden, "hidden")]:
            check_positive_int(value, name)
        if encoder not in ("rnn", "mean"):
            raise ValueError(f"encoder must be 'rnn' or 'mean', got {encoder!r}")
        if attention not in (None, "bahdanau", "luong"):
            raise ValueError(f"attention must be None, 'bahdanau' or 'luong', got {attention!r}")
        if encoder == "mean" and bidirectional:
            raise ValueError("bidirectional=True needs encoder='rnn'")
        self.src_vocab, self.tgt_vocab, self.cell_name = src_vocab, tgt_vocab, cell
        self.encoder_kind, self.attention = encoder, attention
        self.src_embed = nnx.Embed(src_vocab, embed, rngs=rngs)
        self.tgt_embed = nnx.Embed(tgt_vocab, embed, rngs=rngs)
        if encoder == "rnn":
            self.encoder = Recurrent(cell, embed, hidden, bidirectional=bidirectional, rngs=rngs)
            enc_size = hidden * (2 if bidirectional else 1)
        else:
            enc_size = embed
        self.enc_size = enc_size
        self.bridge = nnx.Linear(enc_size, hidden, rngs=rngs)
        self.decoder = Recurrent(cell, embed + enc_size, hidden, rngs=rngs)
        if attention == "bahdanau":
            a = attn_size or hidden
            self.W_q = nnx.Linear(hidden, a, use_bias=False, rngs=rngs)
            self.W_k = nnx.Linear(enc_size, a, use_bias=False, rngs=rngs)
            self.v = nnx.Param(jax.random.normal(rngs.params(), (a,)) / np.sqrt(a))
        elif attention == "luong":
            self.W_k = nnx.Linear(enc_size, hidden, use_bias=False, rngs=rngs)
        self.out = nnx.Linear(hidden + enc_size, tgt_vocab, rngs=rngs)

    # ----------------------------------------------------------------------------------------
    def encode(self, src: Array, src_len: Array) -> dict[str, Any]:
        """Run the encoder. Returns a dict: ``keys`` (attention's precomputed key projections),
        ``values: [batch, S, enc]`` (the encoder states), ``mask: [batch, S]``, ``summary:
        [batch, enc]`` and the decoder's initial ``carry``."""
        check_token_ids(src, self.src_vocab, "src")
        src_len = jnp.asarray(src_len)
        check_lengths(src_len, *src.shape, "src_len")
        mask = jnp.arange(src.shape[1])[None, :] < src_len[:, None]
        emb = self.src_embed(src)
        if self.encoder_kind == "rnn":
            values, finals = self.encoder(emb, src_len)
            hs = [f[0] if isinstance(f, tuple) else f for f in finals]
            summary = jnp.concatenate(hs, axis=-1)
        else:
            values = emb * mask[..., None]
            summary = values.sum(1) / src_len[:, None].astype(emb.dtype)
        h0 = jnp.tanh(self.bridge(summary))
        carry = (h0, jnp.zeros_like(h0)) if self.cell_name == "lstm" else h0
        keys = self.W_k(values) if self.attention else None
        return {"keys": keys, "values": values, "mask": mask, "summary": summary, "carry": carry}

    def decoder_params(self) -> dict:
        """The decoder's parameters as plain arrays, for :func:`decoder_step`."""
        p = {
            "embed": self.tgt_embed.embedding[...],
            "cell": self.decoder.cell_params(0),
            "W_o": self.out.kernel[...],
            "b_o": self.out.bias[...],
        }
        if self.attention == "bahdanau":
            p.update(W_q=self.W_q.kernel[...], v=self.v[...])
        return p

    def step_fn(self) -> Callable:
        """``step(params, enc, carry, token) -> (carry, logits, weights)``: one decoder step."""
        cell, attention = self.decoder._cell, self.attention

        def step(p, enc, carry, token):
            h = carry[0] if isinstance(carry, tuple) else carry
            if attention is None:
                context = enc["summary"]
                weights = jnp.zeros(enc["mask"].shape, h.dtype)
            else:
                if attention == "bahdanau":
                    scores = additive_scores(h, enc["keys"], p["W_q"], p["v"])
                else:
                    scores = multiplicative_scores(h, enc["keys"])
                weights = masked_softmax(scores, enc["mask"])
                context = attend(weights, enc["values"])
            x = jnp.concatenate([p["embed"][token], context], axis=-1)
            carry, h = cell(p["cell"], carry, x)
            logits = jnp.concatenate([h, context], axis=-1) @ p["W_o"] + p["b_o"]
            return carry, logits, weights

        return step

    def __call__(
        self, src: Array, src_len: Array, tgt_in: Array, *, sample_prob: float = 0.0, key: Key | None = None
    ) -> tuple[Array, Array]:
        """Teacher forcing: logits ``[batch, T, tgt_vocab]`` and attention weights ``[batch, T, S]``.

        The decoder reads ``tgt_in`` (``<SOS>`` + target). With ``sample_prob > 0`` (scheduled
        sampling, Bengio et al. 2015; needs ``key``) each input after the first is replaced, with
        that probability, by the model's own previous prediction.
        """
        check_token_ids(src, self.src_vocab, "src")
        check_token_ids(tgt_in, self.tgt_vocab, "tgt_in")
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"src and tgt_in have different batch sizes: {src.shape[0]} and {tgt_in.shape[0]}")
        if sample_prob and key is None:
            raise ValueError("sample_prob > 0 (scheduled sampling) needs a PRNG key")
        enc = self.encode(src, src_len)
        p, step = self.decoder_params(), self.step_fn()
        T = tgt_in.shape[1]
        coins = jax.random.bernoulli(key, sample_prob, tgt_in.shape) if sample_prob else jnp.zeros(tgt_in.shape, bool)

        def body(state, inp):
            carry, prev_pred = state
            gold, coin, t = inp
            token = jnp.where(coin & (t > 0), prev_pred, gold)
            carry, logits, weights = step(p, enc, carry, token)
            return (carry, jnp.argmax(logits, -1)), (logits, weights)

        init = (enc["carry"], jnp.zeros(src.shape[0], jnp.int32))
        _, (logits, weights) = jax.lax.scan(body, init, (tgt_in.T, coins.T, jnp.arange(T)))
        return jnp.swapaxes(logits, 0, 1), jnp.swapaxes(weights, 0, 1)

    def num_params(self) -> int:
        """The number of trainable scalars."""
        return sum(int(v.size) for v in jax.tree_util.tree_leaves(nnx.state(self, nnx.Param)))


# --------------------------------------------------------------------------------------------
# Batches and the loss
# --------------------------------------------------------------------------------------------
def make_batch(
    src_ids: Sequence[np.ndarray],
    tgt_ids: Sequence[np.ndarray],
    src_length: int | None = None,
    tgt_length: int | None = None,
) -> dict[str, Array]:
    """Pad lists of source and target id arrays into the arrays the model trains on.

    Returns a dict of NumPy arrays: ``src [N, S]``, ``src_len [N]``, ``tgt_in [N, T]`` (``<SOS>``
    + target), ``tgt_out [N, T]`` (target + ``<EOS>``), ``tgt_len [N]`` (target length + 1).
    """
    from .vocab import pad_batch

    if len(src_ids) != len(tgt_ids):
        raise ValueError(f"mismatched sizes: {len(src_ids)} sources but {len(tgt_ids)} targets")
    src, src_len = pad_batch(src_ids, src_length)
    tgt_out, tgt_len = pad_batch(
        [np.append(np.asarray(t, np.int32), EOS) for t in tgt_ids], None if tgt_length is None else tgt_length + 1
    )
    tgt_in = np.concatenate([np.full((len(tgt_ids), 1), SOS, np.int32), tgt_out[:, :-1]], axis=1)
    tgt_in = np.where(tgt_in == EOS, PAD, tgt_in)  # the EOS of a full-length target is never an input
    return {"src": src, "src_len": src_len, "tgt_in": tgt_in, "tgt_out": tgt_out, "tgt_len": tgt_len}


def loss_fn(model: Seq2Seq, batch: PyTree, *, sample_prob: float = 0.0, key: Key | None = None) -> Array:
    """Mean cross-entropy per real target token (``optax.softmax_cross_entropy_with_integer_labels``);
    padding contributes nothing. ``batch`` as :func:`make_batch` makes it (``tgt_out [batch, T]``)."""
    logits, _ = model(batch["src"], batch["src_len"], batch["tgt_in"], sample_prob=sample_prob, key=key)
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["tgt_out"])
    mask = jnp.arange(ce.shape[1])[None, :] < batch["tgt_len"][:, None]
    return jnp.sum(ce * mask) / jnp.sum(mask)


# --------------------------------------------------------------------------------------------
# Inference: greedy and beam search, inside jit
# --------------------------------------------------------------------------------------------
def _forbid(logp):
    """The decoder never emits PAD or SOS."""
    return logp.at[..., PAD].set(NEG_INF).at[..., SOS].set(NEG_INF)


def _check_decode_args(src, src_len, max_len, model=None):
    check_positive_int(max_len, "max_len")
    limit = getattr(model, "max_len", None)
    if limit is not None and max_len > limit:
        raise ValueError(f"max_len={max_len} is longer than the model's max_len={limit} (its positions and cache)")
    if getattr(src, "ndim", None) != 2:
        raise ValueError(f"src must be token ids of shape [batch, time], got shape {getattr(src, 'shape', None)}")
    check_lengths(jnp.asarray(src_len), *src.shape, "src_len")


def greedy_decode(model: Seq2Seq, src: Array, src_len: Array, max_len: int) -> tuple[Array, Array, Array]:
    """Feed back the most probable token at each step until ``<EOS>`` or ``max_len`` tokens.

    Returns ``(tokens [batch, max_len], log-probability [batch], attention [batch, max_len, S])``;
    after a sequence's ``<EOS>`` its tokens are ``<PAD>``. Runs in one ``jit``
    (``lax.while_loop``, which stops as soon as every sequence has ended).
    """
    src, src_len = jnp.asarray(src), jnp.asarray(src_len)
    _check_decode_args(src, src_len, max_len, model)
    check_token_ids(src, model.src_vocab, "src")
    graphdef, state = nnx.split(model)
    return _greedy(graphdef, state, src, src_len, max_len)


@functools.partial(jax.jit, static_argnums=(0, 4))
def _greedy(graphdef, state, src, src_len, max_len):
    model = nnx.merge(graphdef, state)
    enc, p, step = model.encode(src, src_len), model.decoder_params(), model.step_fn()
    B, S = src.shape

    def cond(s):
        t, _, _, done, _, _, _ = s
        return (t < max_len) & ~jnp.all(done)

    def body(s):
        t, carry, token, done, out, score, attn = s
        carry, logits, w = step(p, enc, carry, token)
        logp = _forbid(jax.nn.log_softmax(logits))
        nxt = jnp.argmax(logp, -1).astype(jnp.int32)
        score = score + jnp.where(done, 0.0, jnp.take_along_axis(logp, nxt[:, None], 1)[:, 0])
        nxt = jnp.where(done, PAD, nxt)
        out = out.at[:, t].set(nxt)
        attn = attn.at[:, t].set(jnp.where(done[:, None], 0.0, w))
        return t + 1, carry, nxt, done | (nxt == EOS), out, score, attn

    init = (
        0,
        enc["carry"],
        jnp.full(B, SOS, jnp.int32),
        jnp.zeros(B, bool),
        jnp.full((B, max_len), PAD, jnp.int32),
        jnp.zeros(B),
        jnp.zeros((B, max_len, S)),
    )
    _, _, _, _, out, score, attn = jax.lax.while_loop(cond, body, init)
    return out, score, attn


def beam_search(
    model: Seq2Seq, src: Array, src_len: Array, max_len: int, width: int = 4, alpha: float = 0.0
) -> tuple[Array, Array]:
    """Beam search: keep the ``width`` most probable partial outputs at every step.

    A hypothesis ends at ``<EOS>`` (it then stays in the beam, unchanged, competing with the
    others) or at ``max_len`` tokens. The winner maximises ``log p(y | x) / len(y)^alpha``
    (``alpha = 0``: the plain probability; ``alpha > 0`` favours longer outputs, as in Wu et al.
    2016). Width 1 is greedy decoding. Returns ``(tokens [batch, max_len], normalised score
    [batch])``, ``<PAD>`` after ``<EOS>``.
    """
    src, src_len = jnp.asarray(src), jnp.asarray(src_len)
    _check_decode_args(src, src_len, max_len, model)
    check_token_ids(src, model.src_vocab, "src")
    check_positive_int(width, "width")
    if not alpha >= 0:
        raise ValueError(f"alpha (length normalisation) must be >= 0, got {alpha!r}")
    graphdef, state = nnx.split(model)
    return _beam(graphdef, state, src, src_len, max_len, width, float(alpha))


@functools.partial(jax.jit, static_argnums=(0, 4, 5, 6))
def _beam(graphdef, state, src, src_len, max_len, K, alpha):
    model = nnx.merge(graphdef, state)
    B = src.shape[0]
    rep = lambda a: jnp.repeat(a, K, axis=0)  # [B, ...] -> [B*K, ...]
    enc = jax.tree_util.tree_map(rep, model.encode(src, src_len))
    p, step = model.decoder_params(), model.step_fn()
    V = p["W_o"].shape[1]
    stay = jnp.full(V, NEG_INF).at[PAD].set(0.0)  # an ended beam continues with PAD at no cost

    def cond(s):
        t, _, _, _, _, finished, _ = s
        return (t < max_len) & ~jnp.all(finished)

    def body(s):
        t, carry, tokens, last, scores, finished, lengths = s
        carry, logits, _ = step(p, enc, carry, last.reshape(-1))
        logp = _forbid(jax.nn.log_softmax(logits)).reshape(B, K, V)
        logp = jnp.where(finished[..., None], stay, logp)
        cand = (scores[..., None] + logp).reshape(B, K * V)
        scores, idx = jax.lax.top_k(cand, K)
        beam, tok = idx // V, (idx % V).astype(jnp.int32)
        take = lambda a: jnp.take_along_axis(a, beam.reshape(beam.shape + (1,) * (a.ndim - 2)), axis=1)
        carry = jax.tree_util.tree_map(lambda c: take(c.reshape((B, K) + c.shape[1:])).reshape(c.shape), carry)
        tokens, was_finished, lengths = take(tokens), take(finished), take(lengths)
        tokens = tokens.at[:, :, t].set(tok)
        lengths = lengths + (~was_finished)
        return t + 1, carry, tokens, tok, scores, was_finished | (tok == EOS), lengths

    scores0 = jnp.full((B, K), NEG_INF).at[:, 0].set(0.0)  # one live beam at the start
    init = (
        0,
        enc["carry"],
        jnp.full((B, K, max_len), PAD, jnp.int32),
        jnp.full((B, K), SOS, jnp.int32),
        scores0,
        jnp.zeros((B, K), bool),
        jnp.zeros((B, K), jnp.int32),
    )
    _, _, tokens, _, scores, _, lengths = jax.lax.while_loop(cond, body, init)
    norm = scores / jnp.maximum(lengths, 1).astype(scores.dtype) ** alpha
    best = jnp.argmax(norm, axis=1)
    return tokens[jnp.arange(B), best], norm[jnp.arange(B), best]


def sequence_log_prob(model: Seq2Seq, src: Array, src_len: Array, tokens: Array) -> Array:
    """``log p(tokens | src)`` under teacher forcing, summed up to and including the first ``<EOS>``
    (or over all of ``tokens`` if none), with PAD and SOS forbidden as in decoding. ``tokens:
    [batch, L]``. Used to check that decoders return the scores they claim."""
    tokens = jnp.asarray(tokens)
    tgt_in = jnp.concatenate([jnp.full((tokens.shape[0], 1), SOS, jnp.int32), tokens[:, :-1]], axis=1)
    tgt_in = jnp.where(tgt_in == EOS, PAD, tgt_in)
    logits, _ = model(src, src_len, tgt_in)
    logp = _forbid(jax.nn.log_softmax(logits))
    picked = jnp.take_along_axis(logp, tokens[..., None], -1)[..., 0]
    ended_before = jnp.cumsum(tokens == EOS, axis=1) - (tokens == EOS)
    return jnp.sum(jnp.where(ended_before == 0, picked, 0.0), axis=1)


def exact_match(pred: ArrayLike, tgt_out: ArrayLike) -> np.ndarray:
    """Per sequence: does the prediction equal the reference, up to and including ``<EOS>``?

    ``pred [batch, L1]``, ``tgt_out [batch, L2]`` (padded with ``<PAD>``) -> ``[batch]`` booleans.
    """
    pred, tgt_out = np.asarray(pred), np.asarray(tgt_out)
    L = max(pred.shape[1], tgt_out.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, L - a.shape[1])), constant_values=PAD)
    return np.all(pad(pred) == pad(tgt_out), axis=1)
