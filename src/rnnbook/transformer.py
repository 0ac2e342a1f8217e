"""The Transformer (Vaswani et al. 2017), from scaled dot-product attention up to the
encoder-decoder, with the training and decoding interface of :mod:`rnnbook.seq2seq`.

Shapes: activations ``[batch, time, d_model]``; per-head tensors ``[batch, time, heads, d_head]``
(the layout of ``jax.nn.dot_product_attention``); masks are booleans broadcast to ``[batch, heads,
q_time, k_time]``, True where attending is allowed.

Layers are pre-LN by default, ``x + F(LN(x))`` (Xiong et al. 2020; what ``torch.nn`` calls
``norm_first=True``), or post-LN, ``LN(x + F(x))`` (the 2017 paper); ``residual=False`` removes the
skip connections, for the vanishing-gradient experiment of the chapter.

Decoding reuses :func:`rnnbook.seq2seq.greedy_decode` and :func:`rnnbook.seq2seq.beam_search`:
:class:`Transformer` implements :class:`rnnbook.seq2seq.EncoderDecoder`. Its decoding step runs the
same :class:`DecoderLayer` as training, given a :class:`KVCache` of the keys and values of the
positions so far, so generating token ``t`` costs one position, not ``t``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import _compat
from ._checks import (
    check_dtype,
    check_ids,
    check_lengths,
    check_positive_int,
    check_shape,
    check_token_ids,
    concrete,
)
from ._types import Array, ArrayLike, DTypeLike, Key
from .seq2seq import DecodeStep

__all__ = [
    "DecoderLayer",
    "EncoderLayer",
    "FeedForward",
    "KVCache",
    "MultiHeadAttention",
    "Transformer",
    "causal_mask",
    "padding_mask",
    "scaled_dot_product_attention",
    "sinusoidal_positions",
]

NEG_INF = -jnp.inf


# --------------------------------------------------------------------------------------------
# Attention
# --------------------------------------------------------------------------------------------
def scaled_dot_product_attention(q: Array, k: Array, v: Array, mask: Array | None = None) -> tuple[Array, Array]:
    """``softmax(q k^T / sqrt(d)) v`` per head.

    ``q: [B, Tq, H, d]``, ``k, v: [B, Tk, H, d]``, ``mask``: bool, broadcastable to ``[B, H, Tq,
    Tk]``. Returns ``(out [B, Tq, H, d], weights [B, H, Tq, Tk])``; masked keys get weight exactly
    0 (every query must be allowed at least one key: checked outside ``jit``). The mask must have
    rank 4, each axis 1 or the full size: a ``[B, Tk]`` key mask is ``mask[:, None, None, :]``.
    """
    batch, q_len, heads, d = check_shape(q, "q", batch=None, q_len=None, heads=None, d_head=None)
    k_len = check_shape(k, "k", batch=batch, k_len=None, heads=heads, d_head=d)[1]
    check_shape(v, "v", batch=batch, k_len=k_len, heads=heads, d_head=None)
    if mask is not None:
        _check_mask(mask, batch, heads, q_len, k_len)
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
    if mask is not None:
        scores = jnp.where(mask, scores, NEG_INF)
    weights = jax.nn.softmax(scores, axis=-1)
    if mask is not None:
        weights = jnp.where(mask, weights, 0.0)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v), weights


def _check_mask(mask: Array, batch: int, heads: int | None, q_len: int, k_len: int) -> None:
    """A boolean attention mask ``[batch, heads, q_len, k_len]``, each axis 1 or the full size, that
    leaves every query at least one key (the last, where the values can be seen)."""
    check_shape(mask, "mask", allow_broadcast=True, batch=batch, heads=heads, q_len=q_len, k_len=k_len)
    check_dtype(mask, "mask", "bool")
    value = concrete(mask)
    if value is not None and not np.all(value.any(axis=-1)):
        raise ValueError("`mask` leaves a query with no key to attend to: every row needs a True entry")


def causal_mask(length: int) -> Array:
    """``[1, 1, T, T]``: position t may attend to positions 0..t only."""
    check_positive_int(length, "length")
    return jnp.tril(jnp.ones((length, length), bool))[None, None]


def padding_mask(lengths: ArrayLike, length: int) -> Array:
    """``[B, 1, 1, T]``: keys at positions ``>= lengths[b]`` are padding. ``lengths [B]``: integers in
    ``[1, length]`` (a sequence has at least one real key; values checked outside ``jit``)."""
    check_positive_int(length, "length")
    lengths = jnp.asarray(lengths)
    check_lengths(lengths, check_shape(lengths, "lengths", batch=None)[0], length)
    return _padding_mask(lengths, length)


def _padding_mask(lengths: Array, length: int) -> Array:
    return (jnp.arange(length)[None, :] < lengths[:, None])[:, None, None, :]


def sinusoidal_positions(length: int, dim: int) -> Array:
    """``PE[p, 2i] = sin(p / 10000^(2i/d))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/d))``: ``[length, dim]``."""
    check_positive_int(length, "length")
    check_positive_int(dim, "dim")
    pos = np.arange(length)[:, None]
    i = np.arange(0, dim, 2)[None, :]
    angle = pos / np.power(10000.0, i / dim)
    pe = np.zeros((length, dim), np.float32)
    pe[:, 0::2] = np.sin(angle)
    pe[:, 1::2] = np.cos(angle[:, : dim // 2])
    return jnp.asarray(pe)


class KVCache(NamedTuple):
    """Keys and values already projected by an attention layer, and how many positions are real.

    ``k, v: [B, L, heads, d_head]``; ``length: [B]`` (int32): row ``b``'s keys at positions
    ``>= length[b]`` are never attended to. Two uses: a decoder layer's self-attention cache while
    decoding (``L = max_len``, ``length`` = positions decoded so far, :meth:`empty` then
    :meth:`append`), and the encoder output's keys and values for cross-attention, projected once
    per source (``length = src_len``: the padding mask). Every field has the batch first, so beam
    search can repeat and reorder a cache like any other decoder state.
    """

    k: Array
    v: Array
    length: Array

    @classmethod
    def empty(cls, batch: int, length: int, heads: int, d_head: int, dtype: DTypeLike = jnp.float32) -> KVCache:
        """A cache with room for ``length`` positions and none filled: ``k, v: [batch, length, heads,
        d_head]`` zeros, ``length: [batch]`` zeros."""
        for value, name in [(batch, "batch"), (length, "length"), (heads, "heads"), (d_head, "d_head")]:
            check_positive_int(value, name)
        zeros = jnp.zeros((batch, length, heads, d_head), dtype)
        return cls(zeros, zeros, jnp.zeros(batch, jnp.int32))

    def append(self, k: Array, v: Array) -> KVCache:
        """Write ``k, v: [B, T, heads, d_head]`` at positions ``length[b] .. length[b] + T - 1`` of each
        row ``b``; ``length`` grows by ``T``. Writing past the cache's room raises (outside ``jit``;
        inside, the decoders bound the steps by ``max_len``) instead of overwriting its last positions."""
        batch, room, heads, d = self.k.shape
        steps = check_shape(k, "k", batch=batch, steps=None, heads=heads, d_head=d)[1]
        check_shape(v, "v", batch=batch, steps=steps, heads=heads, d_head=d)
        filled = concrete(self.length)
        if filled is not None and filled.max() + steps > room:
            raise ValueError(
                f"the cache holds {room} positions (max_len) and {int(filled.max())} are filled: it has no room "
                f"for {steps} more; decoding may not go past max_len={room}"
            )
        write = jax.vmap(lambda buf, x, at: jax.lax.dynamic_update_slice_in_dim(buf, x, at, axis=0))
        return KVCache(write(self.k, k, self.length), write(self.v, v, self.length), self.length + k.shape[1])

    def mask(self) -> Array:
        """``[B, 1, 1, L]``: True at the positions below ``length`` (broadcasts over heads and queries)."""
        return _padding_mask(self.length, self.k.shape[1])


class MultiHeadAttention(nnx.Module):
    """``MHA(x_q, x_kv) = concat_h(attention(x_q W_q^h, x_kv W_k^h, x_kv W_v^h)) W_o`` (with biases).

    Kernels are ``[in, out]`` (``x @ W``): ``torch.nn.MultiheadAttention``'s ``in_proj_weight`` is
    the three transposed and stacked. The keys and values can be projected ahead of time
    (:meth:`keys_values`) and passed in place of ``x_kv``: a decoder's cache, or an encoder's
    output read by every decoding step.
    """

    def __init__(self, d_model: int, heads: int, *, rngs: nnx.Rngs):
        check_positive_int(d_model, "d_model")
        check_positive_int(heads, "heads")
        if d_model % heads:
            raise ValueError(f"d_model={d_model} must be divisible by heads={heads}")
        self.d_model, self.heads = d_model, heads
        self.q, self.k, self.v, self.o = (nnx.Linear(d_model, d_model, rngs=rngs) for _ in range(4))

    def split(self, x: Array) -> Array:
        """``[B, T, d_model]`` -> ``[B, T, heads, d_model // heads]``."""
        check_shape(x, "x", batch=None, time=None, d_model=self.d_model)
        return x.reshape(x.shape[:-1] + (self.heads, self.d_model // self.heads))

    def keys_values(self, x_kv: Array, length: Array | None = None) -> KVCache:
        """Project ``x_kv [B, T, d_model]`` to keys and values ``[B, T, heads, d_head]``; ``length [B]``
        marks the real positions (default: all ``T``)."""
        batch, time, _ = check_shape(x_kv, "x_kv", batch=None, time=None, d_model=self.d_model)
        if length is None:
            length = jnp.full(x_kv.shape[0], x_kv.shape[1], jnp.int32)
        length = jnp.asarray(length)
        check_lengths(length, batch, time, "length")
        return KVCache(self.split(self.k(x_kv)), self.split(self.v(x_kv)), length)

    def __call__(self, x_q: Array, x_kv: Array | KVCache, mask: Array | None = None) -> tuple[Array, Array]:
        """``x_q [B, Tq, d_model]`` attends over ``x_kv [B, Tk, d_model]``, or over a :class:`KVCache`
        of keys and values projected before (then its ``length`` masks the positions past it, besides
        ``mask``). Returns ``(out [B, Tq, d_model], weights [B, H, Tq, Tk])``."""
        batch = check_shape(x_q, "x_q", batch=None, q_len=None, d_model=self.d_model)[0]
        if not isinstance(x_kv, KVCache):
            check_shape(x_kv, "x_kv", batch=batch, k_len=None, d_model=self.d_model)
        if isinstance(x_kv, KVCache):
            k, v, mask = x_kv.k, x_kv.v, x_kv.mask() if mask is None else mask & x_kv.mask()
        else:
            k, v = self.split(self.k(x_kv)), self.split(self.v(x_kv))
        out, weights = scaled_dot_product_attention(self.split(self.q(x_q)), k, v, mask)
        return self.o(out.reshape(out.shape[:-2] + (self.d_model,))), weights


class FeedForward(nnx.Module):
    """Position-wise ``max(0, x W_1 + b_1) W_2 + b_2``."""

    def __init__(self, d_model: int, d_ff: int, *, rngs: nnx.Rngs):
        check_positive_int(d_model, "d_model")
        check_positive_int(d_ff, "d_ff")
        self.d_model = d_model
        self.w1, self.w2 = nnx.Linear(d_model, d_ff, rngs=rngs), nnx.Linear(d_ff, d_model, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        """``relu(x W1 + b1) W2 + b2``, position by position: ``[B, T, d_model]`` -> ``[B, T, d_model]``."""
        if getattr(x, "shape", (None,))[-1:] != (self.d_model,):
            shape = getattr(x, "shape", None)
            raise ValueError(f"`x` must have shape [..., d_model] with d_model {self.d_model}; got {shape}")
        return self.w2(jax.nn.relu(self.w1(x)))


def _sublayer(x, f, norm, norm_first: bool, residual: bool):
    """pre-LN ``x + f(LN(x))``, post-LN ``LN(x + f(x))``; without the residual ``f(LN(x))`` / ``LN(f(x))``."""
    if norm_first:
        y = f(norm(x))
        return x + y if residual else y
    return norm(x + f(x) if residual else f(x))


class EncoderLayer(nnx.Module):
    """Self-attention then feed-forward, each wrapped in a residual and a layer norm."""

    def __init__(
        self, d_model: int, heads: int, d_ff: int, *, norm_first: bool = True, residual: bool = True, rngs: nnx.Rngs
    ):
        self.attn = MultiHeadAttention(d_model, heads, rngs=rngs)
        self.ff = FeedForward(d_model, d_ff, rngs=rngs)
        self.norm1, self.norm2 = (nnx.LayerNorm(d_model, epsilon=1e-5, rngs=rngs) for _ in range(2))
        self.norm_first, self.residual = norm_first, residual

    def __call__(self, x: Array, mask: Array | None = None) -> Array:
        """``x [B, T, d_model]`` -> ``[B, T, d_model]``; ``mask`` broadcasts to ``[B, heads, T, T]``."""
        check_shape(x, "x", batch=None, time=None, d_model=self.attn.d_model)
        x = _sublayer(x, lambda h: self.attn(h, h, mask)[0], self.norm1, self.norm_first, self.residual)
        return _sublayer(x, self.ff, self.norm2, self.norm_first, self.residual)


class DecoderLayer(nnx.Module):
    """Causal self-attention, cross-attention over the encoder's output, feed-forward, each wrapped in
    a residual and a layer norm (pre-LN or post-LN, as :func:`_sublayer`; ``residual=False`` drops the
    residuals). The same layer trains on whole targets and decodes one position at a time with a
    :class:`KVCache`."""

    def __init__(
        self, d_model: int, heads: int, d_ff: int, *, norm_first: bool = True, residual: bool = True, rngs: nnx.Rngs
    ):
        self.self_attn = MultiHeadAttention(d_model, heads, rngs=rngs)
        self.cross_attn = MultiHeadAttention(d_model, heads, rngs=rngs)
        self.ff = FeedForward(d_model, d_ff, rngs=rngs)
        self.norms = _compat.List([nnx.LayerNorm(d_model, epsilon=1e-5, rngs=rngs) for _ in range(3)])
        self.norm_first, self.residual = norm_first, residual

    def __call__(
        self,
        x: Array,
        memory: Array | KVCache,
        self_mask: Array | None,
        memory_mask: Array | None,
        *,
        cache: KVCache | None = None,
    ) -> tuple[Array, Array, KVCache | None]:
        """``x [B, T, d_model]``, ``memory [B, S, d_model]`` (or its cross-attention keys and values,
        a :class:`KVCache`) -> ``(out [B, T, d_model], cross-attention [B, heads, T, S], cache)``.

        Training: the whole target, ``self_mask`` causal ``[1, 1, T, T]``, no ``cache`` (None is
        returned). Decoding: ``cache`` holds the keys and values of the positions so far (``[B,
        max_len, heads, d_head]``, ``length [B]``); ``x`` is the next position, whose key and value
        are appended, and self-attention reads the whole cache up to it (``self_mask`` may be None:
        the cache's ``length`` is the causal mask). The extended cache is returned.
        """
        batch = check_shape(x, "x", batch=None, time=None, d_model=self.self_attn.d_model)[0]
        if isinstance(memory, KVCache):
            check_shape(memory.k, "memory.k", batch=batch, length=None, heads=None, d_head=None)
        else:
            check_shape(memory, "memory", batch=batch, src_len=None, d_model=self.self_attn.d_model)
        if cache is not None and not isinstance(cache, KVCache):
            raise TypeError(f"`cache` must be a KVCache (KVCache.empty(...)), got {type(cache).__name__}")
        pre, res = self.norm_first, self.residual  # pre-LN: x + F(LN(x)); post-LN: LN(x + F(x))
        merge = lambda x, y, norm: (x + y if res else y) if pre else norm(x + y if res else y)
        h = self.norms[0](x) if pre else x
        if cache is not None:  # decoding: the new position's key and value join the cache
            new = self.self_attn.keys_values(h)
            cache = cache.append(new.k, new.v)
        y, _ = self.self_attn(h, h if cache is None else cache, self_mask)
        x = merge(x, y, self.norms[0])
        h = self.norms[1](x) if pre else x
        y, cross_weights = self.cross_attn(h, memory, memory_mask)
        x = merge(x, y, self.norms[1])
        return _sublayer(x, self.ff, self.norms[2], pre, res), cross_weights, cache


# --------------------------------------------------------------------------------------------
# The encoder-decoder
# --------------------------------------------------------------------------------------------
class Transformer(nnx.Module):
    """Encoder-decoder Transformer over token ids, interchangeable with :class:`rnnbook.seq2seq.Seq2Seq`.

    ``model(src, src_len, tgt_in) -> (logits [B, T, tgt_vocab], cross-attention [B, T, S])`` (the
    last decoder layer's, averaged over heads). Token embeddings are scaled by ``sqrt(d_model)``
    and added to sinusoidal (or learned) positions. ``max_len`` bounds source and target lengths
    (the positional table and the decoding cache). ``norm_first`` and ``residual`` choose the layers'
    arrangement (:func:`_sublayer`). Implements :class:`rnnbook.seq2seq.EncoderDecoder`.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        *,
        d_model: int = 64,
        heads: int = 4,
        d_ff: int = 128,
        layers: int = 2,
        max_len: int = 64,
        norm_first: bool = True,
        residual: bool = True,
        positions: str = "sinusoidal",
        rngs: nnx.Rngs,
    ):
        for value, name in [
            (src_vocab, "src_vocab"),
            (tgt_vocab, "tgt_vocab"),
            (layers, "layers"),
            (max_len, "max_len"),
            (d_ff, "d_ff"),
        ]:
            check_positive_int(value, name)
        if positions not in ("sinusoidal", "learned"):
            raise ValueError(f"positions must be 'sinusoidal' or 'learned', got {positions!r}")
        self.src_vocab, self.tgt_vocab, self.d_model, self.max_len = src_vocab, tgt_vocab, d_model, max_len
        self.heads, self.norm_first = heads, norm_first
        self.src_embed = nnx.Embed(src_vocab, d_model, rngs=rngs)
        self.tgt_embed = nnx.Embed(tgt_vocab, d_model, rngs=rngs)
        if positions == "learned":
            self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (max_len, d_model)))
        else:
            self.pos = nnx.Variable(sinusoidal_positions(max_len, d_model))
        kinds = dict(norm_first=norm_first, residual=residual)
        self.encoder = _compat.List([EncoderLayer(d_model, heads, d_ff, **kinds, rngs=rngs) for _ in range(layers)])
        self.decoder = _compat.List([DecoderLayer(d_model, heads, d_ff, **kinds, rngs=rngs) for _ in range(layers)])
        if norm_first:  # pre-LN stacks end with a norm (their residual stream is never normalised otherwise)
            self.enc_norm = nnx.LayerNorm(d_model, epsilon=1e-5, rngs=rngs)
            self.dec_norm = nnx.LayerNorm(d_model, epsilon=1e-5, rngs=rngs)
        self.out = nnx.Linear(d_model, tgt_vocab, rngs=rngs)

    def _embed(self, table, ids, positions=None):
        """``ids [B, T]`` -> scaled embeddings plus positions ``[B, T, d_model]``; ``positions [B, T]``
        defaults to ``0 .. T - 1`` in every row."""
        pos = self.pos[...][: ids.shape[1]] if positions is None else self.pos[...][positions]
        return table(ids) * np.sqrt(self.d_model) + pos

    def num_params(self) -> int:
        """The number of trainable scalars."""
        return sum(int(v.size) for v in jax.tree_util.tree_leaves(nnx.state(self, nnx.Param)))

    # ----------------------------------------------------------------------------------------
    def encode_states(self, src: Array, src_len: Array) -> tuple[Array, Array]:
        """The encoder's output ``[B, S, d_model]`` and the source padding mask ``[B, 1, 1, S]``."""
        check_token_ids(src, self.src_vocab, "src")
        src_len = jnp.asarray(src_len)
        check_lengths(src_len, *src.shape, "src_len")
        if src.shape[1] > self.max_len:
            raise ValueError(f"src has {src.shape[1]} positions, more than max_len={self.max_len}")
        mask = padding_mask(src_len, src.shape[1])
        x = self._embed(self.src_embed, src)
        for layer in self.encoder:
            x = layer(x, mask)
        return (self.enc_norm(x) if self.norm_first else x), mask

    def __call__(
        self, src: Array, src_len: Array, tgt_in: Array, *, sample_prob: float = 0.0, key: Key | None = None
    ) -> tuple[Array, Array]:
        """Teacher forcing over the whole target at once (the causal mask hides the future)."""
        if sample_prob:
            raise ValueError("scheduled sampling is not implemented for the Transformer (sample_prob must be 0)")
        check_token_ids(tgt_in, self.tgt_vocab, "tgt_in")
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"src and tgt_in have different batch sizes: {src.shape[0]} and {tgt_in.shape[0]}")
        if tgt_in.shape[1] > self.max_len:
            raise ValueError(f"tgt_in has {tgt_in.shape[1]} positions, more than max_len={self.max_len}")
        memory, mem_mask = self.encode_states(src, src_len)
        x = self._embed(self.tgt_embed, tgt_in)
        for layer in self.decoder:
            x, weights, _ = layer(x, memory, causal_mask(tgt_in.shape[1]), mem_mask)
        x = self.dec_norm(x) if self.norm_first else x
        return self.out(x), weights.mean(axis=1)

    # ------------------------------------------------------ decoding (seq2seq.EncoderDecoder)
    def encode(self, src: Array, src_len: Array) -> tuple[tuple[KVCache, ...], tuple[KVCache, ...]]:
        """``(memory, cache)``, one :class:`KVCache` per decoder layer in each. ``memory``: the encoder
        output's cross-attention keys and values ``[B, S, heads, d_head]`` with ``length = src_len``,
        projected once for all steps; ``cache``: an empty self-attention cache for ``max_len``
        positions, the initial decoder state."""
        states, _ = self.encode_states(src, src_len)
        src_len = jnp.asarray(src_len, jnp.int32)
        memory = tuple(layer.cross_attn.keys_values(states, src_len) for layer in self.decoder)
        empty = KVCache.empty(src.shape[0], self.max_len, self.heads, self.d_model // self.heads, states.dtype)
        return memory, tuple(empty for _ in self.decoder)

    def step_fn(self) -> DecodeStep:
        """``step(memory, cache, token [B]) -> (cache, logits [B, V], cross-attention [B, S])``: the
        next position through every :class:`DecoderLayer`, each reading and extending its cache (the
        last layer's cross-attention, averaged over heads, as in :meth:`__call__`)."""

        def step(memory, cache, token):
            check_shape(token, "token", batch=cache[0].k.shape[0])
            check_ids(token, self.tgt_vocab, "token")
            x = self._embed(self.tgt_embed, token[:, None], positions=cache[0].length[:, None])  # [B, 1, d]
            new_cache = []
            for layer, cross, layer_cache in zip(self.decoder, memory, cache):
                x, weights, layer_cache = layer(x, cross, None, None, cache=layer_cache)
                new_cache.append(layer_cache)
            x = self.dec_norm(x) if self.norm_first else x
            return tuple(new_cache), self.out(x)[:, 0], weights.mean(axis=1)[:, 0]

        return step
