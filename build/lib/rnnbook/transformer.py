"""The Transformer (Vaswani et al. 2017), from scaled dot-product attention up to the
encoder-decoder, with the training and decoding interface of :mod:`rnnbook.seq2seq`.

Shapes: activations ``[batch, time, d_model]``; per-head tensors ``[batch, time, heads, d_head]``
(the layout of ``jax.nn.dot_product_attention``); masks are booleans broadcast to ``[batch, heads,
q_time, k_time]``, True where attending is allowed.

Layers are pre-LN by default, ``x + F(LN(x))`` (Xiong et al. 2020; what ``torch.nn`` calls
``norm_first=True``), or post-LN, ``LN(x + F(x))`` (the 2017 paper); ``residual=False`` removes the
skip connections, for the vanishing-gradient experiment of the chapter.

Decoding reuses :func:`rnnbook.seq2seq.greedy_decode` and :func:`rnnbook.seq2seq.beam_search`:
:class:`Transformer` implements ``encode``, ``decoder_params`` and ``step_fn``, and its decoder
step reads and extends a key/value cache, so generating token ``t`` costs one position, not ``t``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._checks import check_lengths, check_positive_int, check_token_ids
from ._types import Array, ArrayLike, Key

NEG_INF = -jnp.inf


# --------------------------------------------------------------------------------------------
# Attention
# --------------------------------------------------------------------------------------------
def scaled_dot_product_attention(q: Array, k: Array, v: Array, mask: Array | None = None) -> tuple[Array, Array]:
    """``softmax(q k^T / sqrt(d)) v`` per head.

    ``q: [B, Tq, H, d]``, ``k, v: [B, Tk, H, d]``, ``mask``: bool, broadcastable to ``[B, H, Tq,
    Tk]``. Returns ``(out [B, Tq, H, d], weights [B, H, Tq, Tk])``; masked keys get weight exactly
    0 (every query must be allowed at least one key).
    """
    scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
    if mask is not None:
        scores = jnp.where(mask, scores, NEG_INF)
    weights = jax.nn.softmax(scores, axis=-1)
    if mask is not None:
        weights = jnp.where(mask, weights, 0.0)
    return jnp.einsum("bhqk,bkhd->bqhd", weights, v), weights


def causal_mask(length: int) -> Array:
    """``[1, 1, T, T]``: position t may attend to positions 0..t only."""
    return jnp.tril(jnp.ones((length, length), bool))[None, None]


def padding_mask(lengths: ArrayLike, length: int) -> Array:
    """``[B, 1, 1, T]``: keys at positions ``>= lengths[b]`` are padding."""
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


class MultiHeadAttention(nnx.Module):
    """``MHA(x_q, x_kv) = concat_h(attention(x_q W_q^h, x_kv W_k^h, x_kv W_v^h)) W_o`` (with biases).

    Kernels are ``[in, out]`` (``x @ W``): ``torch.nn.MultiheadAttention``'s ``in_proj_weight`` is
    the three transposed and stacked.
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
        return x.reshape(x.shape[:-1] + (self.heads, self.d_model // self.heads))

    def __call__(self, x_q: Array, x_kv: Array, mask: Array | None = None) -> tuple[Array, Array]:
        """Returns ``(out [B, Tq, d_model], weights [B, H, Tq, Tk])``."""
        out, weights = scaled_dot_product_attention(
            self.split(self.q(x_q)), self.split(self.k(x_kv)), self.split(self.v(x_kv)), mask
        )
        return self.o(out.reshape(out.shape[:-2] + (self.d_model,))), weights


class FeedForward(nnx.Module):
    """Position-wise ``max(0, x W_1 + b_1) W_2 + b_2``."""

    def __init__(self, d_model: int, d_ff: int, *, rngs: nnx.Rngs):
        self.w1, self.w2 = nnx.Linear(d_model, d_ff, rngs=rngs), nnx.Linear(d_ff, d_model, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        """``relu(x W1 + b1) W2 + b2``, position by position: ``[B, T, d_model]`` -> ``[B, T, d_model]``."""
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
        x = _sublayer(x, lambda h: self.attn(h, h, mask)[0], self.norm1, self.norm_first, self.residual)
        return _sublayer(x, self.ff, self.norm2, self.norm_first, self.residual)


class DecoderLayer(nnx.Module):
    """Causal self-attention, cross-attention over the encoder's output, feed-forward."""

    def __init__(self, d_model: int, heads: int, d_ff: int, *, norm_first: bool = True, rngs: nnx.Rngs):
        self.self_attn = MultiHeadAttention(d_model, heads, rngs=rngs)
        self.cross_attn = MultiHeadAttention(d_model, heads, rngs=rngs)
        self.ff = FeedForward(d_model, d_ff, rngs=rngs)
        self.norms = nnx.List([nnx.LayerNorm(d_model, epsilon=1e-5, rngs=rngs) for _ in range(3)])
        self.norm_first = norm_first

    def __call__(self, x: Array, memory: Array, self_mask: Array, memory_mask: Array) -> tuple[Array, Array]:
        """``x [B, T, d_model]``, ``memory [B, S, d_model]`` -> ``(out [B, T, d_model], cross-attention
        [B, heads, T, S])``."""
        x = _sublayer(x, lambda h: self.self_attn(h, h, self_mask)[0], self.norms[0], self.norm_first, True)
        cross = {}

        def cross_attend(h):
            out, cross["weights"] = self.cross_attn(h, memory, memory_mask)
            return out

        x = _sublayer(x, cross_attend, self.norms[1], self.norm_first, True)
        return _sublayer(x, self.ff, self.norms[2], self.norm_first, True), cross["weights"]


# --------------------------------------------------------------------------------------------
# The encoder-decoder
# --------------------------------------------------------------------------------------------
class Transformer(nnx.Module):
    """Encoder-decoder Transformer over token ids, interchangeable with :class:`rnnbook.seq2seq.Seq2Seq`.

    ``model(src, src_len, tgt_in) -> (logits [B, T, tgt_vocab], cross-attention [B, T, S])`` (the
    last decoder layer's, averaged over heads). Token embeddings are scaled by ``sqrt(d_model)``
    and added to sinusoidal (or learned) positions. ``max_len`` bounds source and target lengths
    (the positional table and the decoding cache).
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
        self.encoder = nnx.List(
            [EncoderLayer(d_model, heads, d_ff, norm_first=norm_first, rngs=rngs) for _ in range(layers)]
        )
        self.decoder = nnx.List(
            [DecoderLayer(d_model, heads, d_ff, norm_first=norm_first, rngs=rngs) for _ in range(layers)]
        )
        if norm_first:  # pre-LN stacks end with a norm (their residual stream is never normalised otherwise)
            self.enc_norm = nnx.LayerNorm(d_model, epsilon=1e-5, rngs=rngs)
            self.dec_norm = nnx.LayerNorm(d_model, epsilon=1e-5, rngs=rngs)
        self.out = nnx.Linear(d_model, tgt_vocab, rngs=rngs)

    def _embed(self, table, ids, offset=0):
        return table(ids) * np.sqrt(self.d_model) + jax.lax.dynamic_slice_in_dim(self.pos[...], offset, ids.shape[1])

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
            x, weights = layer(x, memory, causal_mask(tgt_in.shape[1]), mem_mask)
        x = self.dec_norm(x) if self.norm_first else x
        return self.out(x), weights.mean(axis=1)

    # ---------------------------------------------------------------- the decoding protocol
    def encode(self, src: Array, src_len: Array) -> dict[str, Array]:
        """Everything a decoder step needs, each with the batch first (beam search repeats it):
        the memory's cross-attention keys and values per layer, its mask, and an empty self-
        attention cache ``carry`` (keys, values per layer for ``max_len`` positions, and ``t``)."""
        memory, mem_mask = self.encode_states(src, src_len)
        B, H, dh = src.shape[0], self.heads, self.d_model // self.heads
        cross_k = jnp.stack([layer.cross_attn.split(layer.cross_attn.k(memory)) for layer in self.decoder], 1)
        cross_v = jnp.stack([layer.cross_attn.split(layer.cross_attn.v(memory)) for layer in self.decoder], 1)
        empty = jnp.zeros((B, len(self.decoder), self.max_len, H, dh))
        carry = {"k": empty, "v": empty, "t": jnp.zeros(B, jnp.int32)}
        return {"cross_k": cross_k, "cross_v": cross_v, "mask": mem_mask[:, 0, 0, :], "carry": carry}

    def decoder_params(self) -> dict:
        """What :meth:`step_fn` takes besides the cache: the output projection ``W_o [d_model, V]``."""
        return {"W_o": self.out.kernel[...]}

    def step_fn(self) -> Callable:
        """``step(params, enc, cache, token) -> (cache, logits [B, V], cross-attention [B, S])``."""

        def step(p, enc, cache, token):
            t = cache["t"][0]
            x = self._embed(self.tgt_embed, token[:, None], offset=t)  # [B, 1, d]
            self_mask = (jnp.arange(self.max_len) <= t)[None, None, None, :]
            mem_mask = enc["mask"][:, None, None, :]
            new_k, new_v = cache["k"], cache["v"]
            for i, layer in enumerate(self.decoder):

                def self_attend(h, i=i, layer=layer):
                    nonlocal new_k, new_v
                    attn = layer.self_attn
                    at = (0, i, t, 0, 0)  # batch, layer, position, head, dim
                    new_k = jax.lax.dynamic_update_slice(new_k, attn.split(attn.k(h))[:, None], at)
                    new_v = jax.lax.dynamic_update_slice(new_v, attn.split(attn.v(h))[:, None], at)
                    out, _ = scaled_dot_product_attention(attn.split(attn.q(h)), new_k[:, i], new_v[:, i], self_mask)
                    return attn.o(out.reshape(out.shape[:-2] + (self.d_model,)))

                x = _sublayer(x, self_attend, layer.norms[0], self.norm_first, True)
                weights = {}

                def cross_attend(h, i=i, layer=layer):
                    attn = layer.cross_attn
                    out, weights["w"] = scaled_dot_product_attention(
                        attn.split(attn.q(h)), enc["cross_k"][:, i], enc["cross_v"][:, i], mem_mask
                    )
                    return attn.o(out.reshape(out.shape[:-2] + (self.d_model,)))

                x = _sublayer(x, cross_attend, layer.norms[1], self.norm_first, True)
                x = _sublayer(x, layer.ff, layer.norms[2], self.norm_first, True)
            x = self.dec_norm(x) if self.norm_first else x
            logits = self.out(x)[:, 0]
            cache = {"k": new_k, "v": new_v, "t": cache["t"] + 1}
            return cache, logits, weights["w"].mean(axis=1)[:, 0]

        return step
