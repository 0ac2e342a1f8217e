"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014): an LSTM controller with an external
memory it reads and writes through differentiable, attention-like addressing.

Memory ``M: [batch, N, W]`` (N slots of width W). A head turns the controller's output into a
weighting ``w: [batch, N]`` (non-negative, summing to 1) in four steps, each a pure function below
with its equation:

1. content addressing   w_c = softmax(beta * cos(k, M_i))                      (3.1)
2. interpolation        w_g = g * w_c + (1 - g) * w_prev                       (3.2)
3. convolutional shift  w~_i = sum_j w_g[j] * s[(i - j) mod N]                 (3.3)
4. sharpening           w_i = w~_i^gamma / sum_j w~_j^gamma                    (3.4)

Reading is ``r = w^T M``; writing is erase then add, ``M <- M * (1 - w e^T) + w a^T``. The whole
machine is one cell ``(params, carry, x) -> (carry, y)`` driven by ``lax.scan``. For numerical
safety, as in the stable reimplementation of Collier & Beel (2018): an epsilon in the cosine and
in every normalisation, controller outputs clipped to [-20, 20], and memory initialised to a small
constant (not random per run). The parameters do not depend on N, so a machine trained with one
memory size runs with another.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ._checks import (
    check_dtype,
    check_finite,
    check_key,
    check_positive_int,
    check_probability,
    check_sequence,
    check_shape,
    concrete,
)
from ._types import Array, Carry, DTypeLike, Key, Params
from .cells import Cell
from .lstm import LSTM, init_lstm, lstm_cell
from .rnn import torch_uniform

__all__ = [
    "CLIP",
    "EPS",
    "MEMORY_INIT",
    "NTM",
    "SHIFTS",
    "address",
    "bit_errors",
    "bit_loss",
    "content_weights",
    "cosine_similarity",
    "head_sizes",
    "init_ntm",
    "initial_state",
    "interpolate",
    "ntm_cell",
    "ntm_scan",
    "read",
    "sharpen",
    "shift",
    "write",
]

EPS = 1e-8
CLIP = 20.0
MEMORY_INIT = 1e-6
SHIFTS = (-1, 0, 1)


# --------------------------------------------------------------------------------------------
# Addressing, reading, writing
# --------------------------------------------------------------------------------------------
def _memory(memory: Array) -> tuple[int, int, int]:
    """``memory`` must be ``[batch, slots, width]`` floats; returns its shape."""
    shape = check_shape(memory, "memory", batch=None, slots=None, width=None)
    check_dtype(memory, "memory", "float")
    return shape


def _weights(w: Array, name: str, batch: int | None, slots: int | None) -> tuple[int, int]:
    """A weighting ``[batch, slots]``: non-negative where its values can be seen (outside ``jit``)."""
    shape = check_shape(w, name, batch=batch, slots=slots)
    value = concrete(w)
    if value is not None and (not np.all(np.isfinite(value)) or np.any(value < 0)):
        raise ValueError(f"`{name}` must be a weighting over the slots (finite, non-negative), got {value.tolist()}")
    return shape


def _per_row(x: Array, name: str, batch: int, low: float | None = None) -> None:
    """A parameter per row, ``[batch]``, finite and (outside ``jit``) at least ``low``."""
    check_shape(x, name, batch=batch)
    check_finite(x, name)
    value = concrete(x)
    if low is not None and value is not None and np.any(value < low):
        raise ValueError(f"`{name}` must be >= {low} in every row, got {value.tolist()}")


def cosine_similarity(key: Key, memory: Array) -> Array:
    """``K[k, M_i] = k . M_i / (|k| |M_i|)`` for every slot: ``key [B, W]``, ``memory [B, N, W]`` -> ``[B, N]``."""
    batch, _, width = _memory(memory)
    check_shape(key, "key", batch=batch, width=width)
    dot = jnp.einsum("bw,bnw->bn", key, memory)
    # sqrt(|x|^2 + eps): finite, with a finite gradient, even for a zero key or an empty slot
    norm = lambda a: jnp.sqrt(jnp.sum(a**2, axis=-1) + EPS)
    return dot / (norm(key)[:, None] * norm(memory))


def content_weights(memory: Array, key: Key, beta: Array) -> Array:
    """Content addressing (3.1): ``softmax_i(beta * cos(key, M_i))``; ``beta [B] >= 0`` sharpens.
    ``memory [B, N, W]``, ``key [B, W]`` -> ``[B, N]``."""
    _per_row(beta, "beta", _memory(memory)[0], low=0.0)
    return jax.nn.softmax(beta[:, None] * cosine_similarity(key, memory), axis=-1)


def interpolate(w_content: Array, w_prev: Array, g: Array) -> Array:
    """Interpolation gate (3.2): ``g * w_c + (1 - g) * w_prev``; ``g [B]`` in [0, 1]; g = 0 keeps the old focus.
    ``w_content, w_prev [B, N]`` -> ``[B, N]``."""
    batch, slots = _weights(w_content, "w_content", None, None)
    _weights(w_prev, "w_prev", batch, slots)
    check_shape(g, "g", batch=batch)
    check_probability(g, "g")
    return g[:, None] * w_content + (1 - g[:, None]) * w_prev


def shift(w: Array, s: Array, shifts: tuple[int, ...] = SHIFTS) -> Array:
    """Circular convolution (3.3): ``w~_i = sum_j w_j s[(i - j) mod N]``.

    ``s [B, len(shifts)]`` is a distribution over the allowed offsets ``shifts`` (default -1, 0,
    +1): weight ``s[:, k]`` moves the focus by ``shifts[k]`` slots, wrapping around. ``w [B, N]`` -> ``[B, N]``.
    """
    if not isinstance(shifts, (tuple, list)) or not shifts or not all(isinstance(o, int) for o in shifts):
        raise ValueError(f"`shifts` must be a non-empty tuple of integer offsets, got {shifts!r}")
    batch, _ = _weights(w, "w", None, None)
    _weights(s, "s", batch, len(shifts))
    return sum(s[:, k : k + 1] * jnp.roll(w, offset, axis=-1) for k, offset in enumerate(shifts))


def sharpen(w: Array, gamma: Array) -> Array:
    """Sharpening (3.4): ``w^gamma / sum(w^gamma)``, ``gamma [B] >= 1``, undoing the shift's blur.
    ``w [B, N]`` -> ``[B, N]``.

    Computed as ``softmax(gamma * log w)``, the same numbers: the power form's gradient is NaN where
    every ``w_i^gamma`` is tiny (an even weighting over 32 slots raised to ``gamma = 21``, the largest
    the trained heads can emit, sums to about 1e-30, and its backward divides by that sum squared,
    which overflows float32); a run of the repeat-copy task (worked solutions, NTM exercise 4) hit it
    after 4250 steps. The softmax subtracts the largest exponent first and stays finite.
    """
    batch, _ = _weights(w, "w", None, None)
    _per_row(gamma, "gamma", batch, low=1.0)
    return jax.nn.softmax(gamma[:, None] * jnp.log(w + EPS), axis=-1)


def address(memory: Array, w_prev: Array, key: Key, beta: Array, g: Array, s: Array, gamma: Array) -> Array:
    """The four addressing steps in order: content, interpolation, shift, sharpening.

    ``memory [B, N, W]``, ``w_prev [B, N]``, ``key [B, W]``, ``beta, g, gamma [B]``, ``s [B, 3]`` -> ``w [B, N]``.
    """
    return sharpen(shift(interpolate(content_weights(memory, key, beta), w_prev, g), s), gamma)


def read(memory: Array, w: Array) -> Array:
    """Reading: ``r = sum_i w_i M_i``, a convex combination of the slots: ``memory [B, N, W]``, ``w [B, N]``
    -> ``[B, W]``."""
    batch, slots, _ = _memory(memory)
    _weights(w, "w", batch, slots)
    return jnp.einsum("bn,bnw->bw", w, memory)


def write(memory: Array, w: Array, erase: Array, add: Array) -> Array:
    """Writing: erase then add, ``M_i <- M_i * (1 - w_i e) + w_i a``; ``erase`` in [0, 1]^W.
    ``memory [B, N, W]``, ``w [B, N]``, ``erase, add [B, W]`` -> the new memory ``[B, N, W]``."""
    batch, slots, width = _memory(memory)
    _weights(w, "w", batch, slots)
    check_shape(erase, "erase", batch=batch, width=width)
    check_probability(erase, "erase")
    check_shape(add, "add", batch=batch, width=width)
    check_finite(add, "add")
    memory = memory * (1 - w[:, :, None] * erase[:, None, :])
    return memory + w[:, :, None] * add[:, None, :]


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------
def head_sizes(width: int) -> dict:
    """Sizes of one head's raw parameters in the controller's output."""
    check_positive_int(width, "width")
    return {"key": width, "beta": 1, "g": 1, "s": len(SHIFTS), "gamma": 1}


def init_ntm(key: Key, input_size: int, output_size: int, *, controller: int = 100, width: int = 20) -> Params:
    """Parameters of an NTM with an LSTM controller, one read head and one write head.

    The controller reads ``[x_t; r_{t-1}]``; a linear layer maps its output to the heads'
    parameters (the write head also emits erase and add vectors); the output is
    ``y_t = W_y [h_t; r_t] + b_y`` (logits). ``width`` is the memory word size W; the number of
    slots N is chosen when the machine runs.
    """
    for value, name in [
        (input_size, "input_size"),
        (output_size, "output_size"),
        (controller, "controller"),
        (width, "width"),
    ]:
        check_positive_int(value, name)
    check_key(key)
    n_head = sum(head_sizes(width).values())
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "controller": init_lstm(k1, input_size + width, controller),
        "W_heads": torch_uniform(k2, (controller, 2 * n_head + 2 * width), controller),
        "b_heads": jnp.zeros(2 * n_head + 2 * width),
        "W_y": torch_uniform(k3, (controller + width, output_size), controller + width),
        "b_y": jnp.zeros(output_size),
    }


def _split_head(raw, width):
    sizes = head_sizes(width)
    parts, i = {}, 0
    for name, n in sizes.items():
        parts[name] = raw[:, i : i + n]
        i += n
    return {
        "key": parts["key"],
        "beta": jax.nn.softplus(parts["beta"][:, 0]),
        "g": jax.nn.sigmoid(parts["g"][:, 0]),
        "s": jax.nn.softmax(parts["s"], axis=-1),
        "gamma": 1 + jax.nn.softplus(parts["gamma"][:, 0]),
    }, raw[:, i:]


def _zero_state(batch: int, hidden: int, dtype: DTypeLike = jnp.float32, *, slots: int = 32, width: int = 20) -> dict:
    check_positive_int(slots, "slots")
    check_positive_int(width, "width")
    focus = jnp.zeros((batch, slots), dtype).at[:, 0].set(1.0)
    return {
        "lstm": LSTM.initial_carry(batch, hidden, dtype),
        "memory": jnp.full((batch, slots, width), MEMORY_INIT, dtype),
        "w_read": focus,
        "w_write": focus,
        "read": jnp.zeros((batch, width), dtype),
    }


def _check_params(params: Params) -> None:
    if not isinstance(params, dict) or not {"controller", "W_heads", "b_heads", "W_y", "b_y"} <= set(params):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"`params` must be an NTM's parameters (init_ntm: controller, W_heads, W_y, ...); got {got}")


def initial_state(params: Params, batch: int, slots: int) -> dict[str, Any]:
    """Memory ``[batch, slots, width]`` filled with a small constant; both heads focused on slot 0; a
    zero read vector; the controller's zero carry. Sizes are read from ``params``; ``NTM.initial_carry``
    is the same state from the sizes alone."""
    check_positive_int(batch, "batch")
    _check_params(params)
    hidden = params["controller"]["W_h"].shape[0]
    return _zero_state(batch, hidden, slots=slots, width=params["W_y"].shape[0] - hidden)


def ntm_cell(params: Params, state: Carry, x: Array) -> tuple[dict[str, Any], tuple[Array, Array, Array]]:
    """One step: controller, write head (erase, add), read head, output.

    ``x [B, input]``; ``state`` as :func:`initial_state` (or ``NTM.initial_carry``) makes it.
    Returns ``(state, (y [B, output], w_read [B, N], w_write [B, N]))``.
    """
    _check_params(params)
    if not isinstance(state, dict) or not {"lstm", "memory", "w_read", "w_write", "read"} <= set(state):
        raise ValueError("`state` must be an NTM state (initial_state or NTM.initial_carry), a dict with memory, ...")
    batch, slots, width = _memory(state["memory"])
    input_size = params["controller"]["W_x"].shape[0] - width
    check_shape(x, "x", batch=batch, input=input_size)
    hidden = params["controller"]["W_h"].shape[0]
    width = params["W_y"].shape[0] - hidden
    lstm_carry, h = lstm_cell(params["controller"], state["lstm"], jnp.concatenate([x, state["read"]], -1))
    raw = jnp.clip(h @ params["W_heads"] + params["b_heads"], -CLIP, CLIP)
    read_head, rest = _split_head(raw, width)
    write_head, rest = _split_head(rest, width)
    erase, add = jax.nn.sigmoid(rest[:, :width]), jnp.tanh(rest[:, width:])
    memory = state["memory"]
    w_write = address(
        memory,
        state["w_write"],
        write_head["key"],
        write_head["beta"],
        write_head["g"],
        write_head["s"],
        write_head["gamma"],
    )
    memory = write(memory, w_write, erase, add)
    w_read = address(
        memory, state["w_read"], read_head["key"], read_head["beta"], read_head["g"], read_head["s"], read_head["gamma"]
    )
    r = read(memory, w_read)
    y = jnp.concatenate([h, r], -1) @ params["W_y"] + params["b_y"]
    new = {"lstm": lstm_carry, "memory": memory, "w_read": w_read, "w_write": w_write, "read": r}
    return new, (y, w_read, w_write)


def ntm_scan(params: Params, xs: Array, slots: int = 32) -> tuple[dict[str, Any], tuple[Array, Array, Array]]:
    """Run the NTM over ``xs: [batch, time, input]`` with ``slots`` memory slots.

    Returns ``(final state, (logits [batch, time, output], w_read [batch, time, slots], w_write
    [batch, time, slots]))``: the order of every scan of the package, carry first.
    """
    _check_params(params)
    check_positive_int(slots, "slots")
    input_size = params["controller"]["W_x"].shape[0] - (params["W_y"].shape[0] - params["controller"]["W_h"].shape[0])
    check_sequence(xs, input_size)
    state0 = initial_state(params, xs.shape[0], slots)
    state, (ys, w_read, w_write) = jax.lax.scan(lambda c, x: ntm_cell(params, c, x), state0, jnp.swapaxes(xs, 0, 1))
    batch_major = lambda a: jnp.swapaxes(a, 0, 1)
    return state, (batch_major(ys), batch_major(w_read), batch_major(w_write))


def _init_cell(
    key: Key, input_size: int, hidden_size: int, *, output_size: int, width: int = 20, dtype: DTypeLike = jnp.float32
) -> Params:
    params = init_ntm(key, input_size, output_size, controller=hidden_size, width=width)
    return jax.tree_util.tree_map(lambda a: a.astype(dtype), params)  # init_ntm draws float32


NTM = Cell(
    "ntm",
    _init_cell,
    ntm_cell,
    _zero_state,
    lambda state: state["lstm"][0],
    options=("output_size", "width"),
    carry_options=("slots", "width"),
)
"""The NTM under the cell contract: ``hidden_size`` is the controller's, ``init`` needs ``output_size``
(and takes ``width``), ``initial_carry`` takes ``slots`` and ``width``; ``hidden`` reads the
controller's ``h``; the step's output is ``(y, w_read, w_write)``."""


# --------------------------------------------------------------------------------------------
# The copy task's loss and score
# --------------------------------------------------------------------------------------------
def bit_loss(logits: Array, y: Array, mask: Array) -> Array:
    """Binary cross-entropy per asked-for bit (``optax.sigmoid_binary_cross_entropy``), averaged
    over the steps where ``mask`` is 1 and summed over the bits of a vector: ``logits, y [B, T, bits]``,
    ``mask [B, T]`` -> a scalar."""
    _check_bits(logits, y, mask)
    ce = optax.sigmoid_binary_cross_entropy(logits, y).sum(-1)
    return jnp.sum(ce * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def bit_errors(logits: Array, y: Array, mask: Array) -> Array:
    """Wrong bits per sequence (the paper's measure): output bit = logit > 0, counted where ``mask`` is 1.

    ``logits, y [B, T, bits]``, ``mask [B, T]`` -> ``[B]``.
    """
    _check_bits(logits, y, mask)
    wrong = jnp.sum(jnp.abs((logits > 0).astype(y.dtype) - y), axis=-1)
    return jnp.sum(wrong * mask, axis=-1)


def _check_bits(logits: Array, y: Array, mask: Array) -> None:
    """``logits, y: [B, T, bits]``, ``y`` and ``mask [B, T]`` in [0, 1] (values outside ``jit`` only)."""
    batch, time, bits = check_shape(logits, "logits", batch=None, time=None, bits=None)
    check_finite(logits, "logits")
    check_shape(y, "y", batch=batch, time=time, bits=bits)
    check_probability(y, "y")
    check_shape(mask, "mask", batch=batch, time=time)
    check_probability(mask, "mask")
