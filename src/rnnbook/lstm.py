"""The LSTM cell (Hochreiter & Schmidhuber 1997; forget gate: Gers, Schmidhuber & Cummins 2000).

A cell is a pure function ``lstm_cell(params, (h, c), x) -> ((h, c), h)`` under the package's cell
contract (:mod:`rnnbook.cells`). Gates are packed in PyTorch's order (input i, forget f, candidate
g, output o) so that weights copy over directly: ``W_x: [input, 4*hidden]``, ``W_h: [hidden,
4*hidden]``, ``b: [4*hidden]``.

Three variants, each its own :class:`~rnnbook.cells.Cell` (the variant is chosen, never inferred
from the parameters):

* :data:`LSTM`, the modern cell (``init_lstm``, ``lstm_cell``);
* :data:`PEEPHOLE_LSTM`, with peephole weights ``p_i, p_f, p_o: [hidden]`` through which the gates
  see the cell state (Gers & Schmidhuber 2000; ``init_peephole_lstm``, ``peephole_lstm_cell``);
* :data:`LSTM_1997`, the original cell with **no forget gate** (3 blocks: i, g, o): the cell state is
  carried with weight exactly 1, the *constant error carousel* (``init_lstm1997``, ``lstm1997_cell``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._checks import check_cell_step, check_key, check_positive_int, check_sequence, check_shape
from ._types import Array, ArrayLike, Carry, DTypeLike, Key, Params
from .cells import Cell, _valid_steps, scan_cell, zeros_pair_carry
from .rnn import torch_uniform

__all__ = [
    "LSTM",
    "LSTM_1997",
    "PEEPHOLE_LSTM",
    "init_lstm",
    "init_lstm1997",
    "init_peephole_lstm",
    "lstm1997_cell",
    "lstm_cell",
    "lstm_gates",
    "lstm_scan_fused",
    "lstm_scan_hoisted",
    "peephole_lstm_cell",
]


def _init(key, input_size, hidden_size, gates, forget_bias, dtype):
    check_key(key)
    check_positive_int(input_size, "input_size")
    check_positive_int(hidden_size, "hidden_size")
    if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float, np.number)):
        raise TypeError(f"`forget_bias` must be a number, got {type(forget_bias).__name__} {forget_bias!r}")
    if not np.isfinite(forget_bias):
        raise ValueError(f"`forget_bias` must be finite, got {forget_bias}")
    k1, k2, k3 = jax.random.split(key, 3)
    u = lambda k, shape: torch_uniform(k, shape, hidden_size, dtype)
    params = {
        "W_x": u(k1, (input_size, gates * hidden_size)),
        "W_h": u(k2, (hidden_size, gates * hidden_size)),
        "b": u(k3, (gates * hidden_size,)),
    }
    if gates == 4:
        params["b"] = params["b"].at[hidden_size : 2 * hidden_size].add(forget_bias)
    return params


def init_lstm(
    key: Key, input_size: int, hidden_size: int, *, forget_bias: float = 1.0, dtype: DTypeLike = jnp.float32
) -> Params:
    """Parameters of the modern LSTM cell, drawn like ``torch.nn.LSTM`` (U(-1/sqrt(H), 1/sqrt(H))).

    ``W_x: [input, 4*hidden]``, ``W_h: [hidden, 4*hidden]``, ``b: [4*hidden]``. ``forget_bias`` is
    added to the forget gate's bias (default 1, as Gers et al. 2000 and Jozefowicz et al. 2015
    advise: a fresh cell then keeps about 73% of its state per step instead of 50%, so that
    gradients reach back further from the start of training).
    """
    return _init(key, input_size, hidden_size, 4, forget_bias, dtype)


def init_lstm1997(key: Key, input_size: int, hidden_size: int, *, dtype: DTypeLike = jnp.float32) -> Params:
    """Parameters of the original 1997 cell (no forget gate): ``W_x: [input, 3*hidden]``,
    ``W_h: [hidden, 3*hidden]``, ``b: [3*hidden]``, blocks in the order i, g, o."""
    return _init(key, input_size, hidden_size, 3, 0.0, dtype)


def init_peephole_lstm(
    key: Key, input_size: int, hidden_size: int, *, forget_bias: float = 1.0, dtype: DTypeLike = jnp.float32
) -> Params:
    """Parameters of the peephole LSTM: those of :func:`init_lstm` plus ``p_i, p_f, p_o: [hidden]``."""
    k_cell, k_peep = jax.random.split(key)
    params = _init(k_cell, input_size, hidden_size, 4, forget_bias, dtype)
    p = torch_uniform(k_peep, (3, hidden_size), hidden_size, dtype)
    params.update(p_i=p[0], p_f=p[1], p_o=p[2])
    return params


def _pair(carry: Carry) -> tuple[Array, Array]:
    """The LSTM's carry ``(h, c)``, checked to be a pair."""
    if not isinstance(carry, (tuple, list)) or len(carry) != 2:
        raise ValueError(
            f"`carry` must be the LSTM's pair (h, c) of [batch, hidden] arrays; got {type(carry).__name__}"
        )
    return carry[0], carry[1]


def _step(params: Params, h, c, x, variant: str = "modern"):
    """One LSTM step of ``variant`` ("modern", "peephole" or "1997"): the new (h, c) and the gate
    activations (i, f, g, o)."""
    gates = 3 if variant == "1997" else 4
    check_cell_step(params, h, x, c)
    if params["W_h"].shape[-1] != gates * params["W_h"].shape[0]:
        raise ValueError(
            f"`params` are not those of a {variant} LSTM cell: W_h must be [hidden, {gates}*hidden], "
            f"got {list(params['W_h'].shape)}"
        )
    if variant == "peephole" and "p_i" not in params:
        raise ValueError("`params` of a peephole LSTM need the peephole weights p_i, p_f, p_o (init_peephole_lstm)")
    z = x @ params["W_x"] + h @ params["W_h"] + params["b"]
    if variant == "1997":  # no forget gate: f = 1
        zi, zg, zo = jnp.split(z, 3, axis=-1)
        f = jnp.ones_like(zi)
    else:
        zi, zf, zg, zo = jnp.split(z, 4, axis=-1)
        if variant == "peephole":  # the input and forget gates look at the previous cell state
            zi, zf = zi + params["p_i"] * c, zf + params["p_f"] * c
        f = jax.nn.sigmoid(zf)
    i, g = jax.nn.sigmoid(zi), jnp.tanh(zg)
    c = f * c + i * g
    if variant == "peephole":  # the output gate looks at the new one
        zo = zo + params["p_o"] * c
    o = jax.nn.sigmoid(zo)
    return o * jnp.tanh(c), c, (i, f, g, o)


def lstm_cell(params: Params, carry: Carry, x: Array) -> tuple[tuple[Array, Array], Array]:
    r"""One step of the modern LSTM. ``carry = (h, c)``, both ``[batch, hidden]``; ``x: [batch, input]``.

    .. math::
        i_t &= \sigma(x_t W_{xi} + h_{t-1} W_{hi} + b_i) \\
        f_t &= \sigma(x_t W_{xf} + h_{t-1} W_{hf} + b_f) \\
        g_t &= \tanh(x_t W_{xg} + h_{t-1} W_{hg} + b_g) \\
        o_t &= \sigma(x_t W_{xo} + h_{t-1} W_{ho} + b_o) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t)
    """
    h, c = _pair(carry)
    h, c, _ = _step(params, h, c, x, "modern")
    return (h, c), h


def peephole_lstm_cell(params: Params, carry: Carry, x: Array) -> tuple[tuple[Array, Array], Array]:
    r"""One step of the peephole LSTM (``carry = (h, c)``, ``[batch, hidden]`` each): as
    :func:`lstm_cell`, with :math:`p_i \odot c_{t-1}` and :math:`p_f \odot c_{t-1}` added inside
    the input and forget gates and :math:`p_o \odot c_t` inside the output gate."""
    h, c = _pair(carry)
    h, c, _ = _step(params, h, c, x, "peephole")
    return (h, c), h


def lstm1997_cell(params: Params, carry: Carry, x: Array) -> tuple[tuple[Array, Array], Array]:
    r"""One step of the 1997 LSTM, without a forget gate (``carry = (h, c)``, ``[batch, hidden]``
    each): :math:`c_t = c_{t-1} + i_t \odot g_t`, the constant error carousel."""
    h, c = _pair(carry)
    h, c, _ = _step(params, h, c, x, "1997")
    return (h, c), h


_pair_h = lambda carry: carry[0]
_h_zero_c = lambda h: (h, jnp.zeros_like(h))
LSTM = Cell("lstm", init_lstm, lstm_cell, zeros_pair_carry, _pair_h, options=("forget_bias",), from_h=_h_zero_c)
"""The modern LSTM cell under the cell contract: carry ``(h, c)``."""
PEEPHOLE_LSTM = Cell(
    "peephole_lstm",
    init_peephole_lstm,
    peephole_lstm_cell,
    zeros_pair_carry,
    _pair_h,
    options=("forget_bias",),
    from_h=_h_zero_c,
)
"""The peephole LSTM cell under the cell contract: carry ``(h, c)``."""
LSTM_1997 = Cell("lstm1997", init_lstm1997, lstm1997_cell, zeros_pair_carry, _pair_h, from_h=_h_zero_c)
"""The 1997 LSTM cell (no forget gate) under the cell contract: carry ``(h, c)``."""
_VARIANTS = {LSTM.name: "modern", PEEPHOLE_LSTM.name: "peephole", LSTM_1997.name: "1997"}


def lstm_gates(params: Params, xs: Array, carry0: Carry | None = None, *, cell: Cell = LSTM) -> dict[str, Array]:
    """Run an LSTM ``cell`` (:data:`LSTM`, :data:`PEEPHOLE_LSTM` or :data:`LSTM_1997`) over
    ``xs: [batch, time, input]`` and return what happens inside.

    Returns a dict of ``[batch, time, hidden]`` arrays: the gates ``i``, ``f`` (ones for the 1997
    cell), ``g``, ``o``, the cell state ``c`` and the output ``h``.
    """
    if cell.name not in _VARIANTS:
        raise ValueError(f"cell must be one of the LSTM cells {sorted(_VARIANTS)}, got {cell!r}")
    variant = _VARIANTS[cell.name]
    check_sequence(xs, params["W_x"].shape[0])
    if carry0 is None:
        carry0 = cell.initial_carry(xs.shape[0], params["W_h"].shape[0], xs.dtype)
    _pair(carry0)

    def step(p, carry, x):
        h, c, (i, f, g, o) = _step(p, *carry, x, variant)
        return (h, c), jnp.stack([i, f, g, o, c, h], axis=1)  # [batch, 6, hidden]

    _, out = scan_cell(step, params, xs, carry0)  # [batch, time, 6, hidden]
    return {name: out[:, :, k] for k, name in enumerate("ifgoch")}


def _modern_cell_inputs(name: str, params: Params, xs: Array, carry0: Carry | None) -> tuple[Array, Array]:
    """The checks of the performance variants (modern cell only, ``xs`` as the layer expects); the
    initial carry, zeros by default."""
    if "p_i" in params or params["W_h"].shape[1] != 4 * params["W_h"].shape[0]:
        raise ValueError(f"{name} supports the modern cell only (forget gate, no peepholes)")
    check_sequence(xs, params["W_x"].shape[0])
    if carry0 is None:
        carry0 = LSTM.initial_carry(xs.shape[0], params["W_h"].shape[0], xs.dtype)
    h0, c0 = _pair(carry0)
    check_shape(h0, "h0", batch=xs.shape[0], hidden=params["W_h"].shape[0])
    check_shape(c0, "c0", batch=xs.shape[0], hidden=params["W_h"].shape[0])
    return carry0


def lstm_scan_hoisted(
    params: Params, xs: Array, carry0: Carry | None = None, *, unroll: int = 1
) -> tuple[tuple[Array, Array], Array]:
    r"""The LSTM over ``xs: [batch, time, input]`` with the input projection hoisted out of the scan.

    The input part of every gate, :math:`x_t W_x + b`, depends on no state, so it is computed for
    all steps at once, one ``[batch * time, input] x [input, 4H]`` matrix product, before the scan;
    each step then multiplies only :math:`h_{t-1} W_h`. Same equations and same numbers as
    ``scan_cell(lstm_cell, ...)``; a performance variant (modern cell: forget gate, no peepholes).
    Returns ``((h_T, c_T), hs: [batch, time, hidden])``, the order of every scan.
    """
    check_positive_int(unroll, "unroll")
    carry0 = _modern_cell_inputs("lstm_scan_hoisted", params, xs, carry0)
    zx = jnp.einsum("bti,ig->tbg", xs, params["W_x"]) + params["b"]  # [time, batch, 4H]: time-major
    w_h = params["W_h"]

    def step(carry, z_in):
        h, c = carry
        zi, zf, zg, zo = jnp.split(z_in + h @ w_h, 4, axis=-1)
        c = jax.nn.sigmoid(zf) * c + jax.nn.sigmoid(zi) * jnp.tanh(zg)
        h = jax.nn.sigmoid(zo) * jnp.tanh(c)
        return (h, c), h

    carry, hs = jax.lax.scan(step, carry0, zx, unroll=unroll)
    return carry, jnp.swapaxes(hs, 0, 1)


def lstm_scan_fused(
    params: Params, xs: Array, carry0: Carry | None = None, lengths: ArrayLike | None = None
) -> tuple[tuple[Array, Array], Array]:
    r"""The LSTM over ``xs: [batch, time, input]`` with its backward pass written by hand (``jax.custom_vjp``).

    The path :class:`rnnbook.layers.Recurrent` takes for the modern cell (:data:`LSTM`): the same
    numbers as ``scan_cell(lstm_cell, params, xs, carry0, lengths)`` (tested, values and gradients,
    with carries and padding), in less time. Forward: every step does **one** matrix product,
    :math:`z_t = [x_t, h_{t-1}]\,[W_x; W_h] + b`, and keeps :math:`z_t`, :math:`c_t` and the product's
    input :math:`[x_t, h_{t-1}]` for the backward pass. Backward, from :math:`t = T` down to 1, with the incoming
    :math:`\delta h_t = \partial L/\partial h_t + \delta h'_{t+1}` (the part that came back from step
    :math:`t + 1`) and :math:`\delta c_t` likewise, the gates recomputed from :math:`z_t`:

    .. math::
        \delta c_t &\mathrel{+}= \delta h_t \odot o_t \odot (1 - \tanh^2 c_t), \\
        \delta z_t &= [\delta c_t \odot g_t \odot i_t(1 - i_t),\;
                       \delta c_t \odot c_{t-1} \odot f_t(1 - f_t),\;
                       \delta c_t \odot i_t \odot (1 - g_t^2),\;
                       \delta h_t \odot \tanh c_t \odot o_t(1 - o_t)], \\
        \delta h'_t &= \delta z_t W_h^\top, \qquad \delta c'_t = \delta c_t \odot f_t,

    so each backward step also does one matrix product, and writes :math:`\delta z_t` over
    :math:`z_t` in the buffer the forward pass filled (no new ``[time, batch, 4H]`` buffer to
    allocate and zero). The weight gradients need no recurrence:
    :math:`\partial L/\partial [W_x; W_h] = \sum_t [x_t, h_{t-1}]^\top \delta z_t` is one
    ``[input + hidden, batch*time] x [batch*time, 4H]`` product after the loop (automatic
    differentiation of the scan accumulates it step by step), and the bias gradient a product with a
    vector of ones (a sum over ``[time, batch, 4H]`` compiles to a slow reduction on the CPU).
    ``lengths: [batch]`` marks steps ``t >= lengths[b]`` as padding, as in
    :func:`rnnbook.cells.scan_cell`: the carry is held there and the output is zero. Modern cell
    only (forget gate, no peepholes). Returns ``((h_T, c_T), hs: [batch, time, hidden])``.
    """
    carry0 = _modern_cell_inputs("lstm_scan_fused", params, xs, carry0)
    valid = _valid_steps(xs, lengths)  # [time, batch, 1]: 1 at real steps, 0 at padding
    W = jnp.concatenate([params["W_x"], params["W_h"]], axis=0)  # [input + hidden, 4H]: one product a step
    h0, c0 = _pair(carry0)
    hs, h_last, c_last = _lstm_fused(W, params["b"], jnp.swapaxes(xs, 0, 1), valid, h0, c0)
    return (h_last, c_last), jnp.swapaxes(hs, 0, 1)


def _gates_of(z: Array, H: int) -> tuple[Array, Array, Array, Array]:
    return (
        jax.nn.sigmoid(z[:, :H]),
        jax.nn.sigmoid(z[:, H : 2 * H]),
        jnp.tanh(z[:, 2 * H : 3 * H]),
        jax.nn.sigmoid(z[:, 3 * H :]),
    )


def _fused_forward(W, b, xs_t, valid, h0, c0):
    """The forward loop, time-major: outputs, final carry, and per step the cell state, ``z`` and the
    product's input ``[x_t, h_{t-1}]``.

    Each step writes its ``h``, ``c``, ``z`` and product input into buffers the loop carries (``fori_loop`` and
    ``dynamic_update_index_in_dim``), the form of the backward loop, rather than as ``lax.scan``'s
    stacked outputs: the same operations and numbers (tested), but under ``jax.vmap`` (``fit_seeds``)
    a loop's carried buffers keep the models' axis first where a scan's stacked outputs put it second,
    and the backward loop, which carries ``z``'s buffer, then had to transpose it (the Performance
    appendix, "Three models at once").

    The residuals are laid out for the backward pass: ``cs [time + 1, batch, hidden]`` holds ``c0``
    first, so that step ``t`` reads its cell state at ``t + 1`` and the one before it at ``t``, and
    ``inputs [time, batch, input + hidden]`` holds each step's ``[x_t, h_{t-1}]`` as the product read
    it, the left factor of the weight gradient. The backward pass built both with
    ``[time, batch, .]`` concatenations before (``c0`` before the cell states, ``h0`` before the
    outputs, the inputs beside them): the same numbers, bit for bit, 4 % slower at batch 64,
    100 steps, 256 units, on 1 and 2 threads (the Performance appendix)."""
    H = h0.shape[-1]
    T, B, n_in = xs_t.shape
    put = jax.lax.dynamic_update_index_in_dim

    def body(t, carry):
        h, c, hs, cs, zs, inputs = carry
        ok = valid[t]
        u = jnp.concatenate([xs_t[t], h], axis=-1)
        z = u @ W + b
        i, f, g, o = _gates_of(z, H)
        c_new = f * c + i * g
        h_new = o * jnp.tanh(c_new)
        keep = ok > 0
        h, c = jnp.where(keep, h_new, h), jnp.where(keep, c_new, c)
        return h, c, put(hs, h_new * ok, t, 0), put(cs, c_new, t + 1, 0), put(zs, z, t, 0), put(inputs, u, t, 0)

    hs = jnp.zeros((T, B, H), h0.dtype)
    cs = jnp.zeros((T + 1, B, H), h0.dtype).at[0].set(c0)
    zs = jnp.zeros((T, B, 4 * H), h0.dtype)
    inputs = jnp.zeros((T, B, n_in + H), h0.dtype)
    h_last, c_last, hs, cs, zs, inputs = jax.lax.fori_loop(0, T, body, (h0, c0, hs, cs, zs, inputs))
    return (hs, h_last, c_last), (cs, zs, inputs)


@jax.custom_vjp
def _lstm_fused(W, b, xs_t, valid, h0, c0):
    return _fused_forward(W, b, xs_t, valid, h0, c0)[0]


def _lstm_fused_fwd(W, b, xs_t, valid, h0, c0):
    out, (cs, zs, inputs) = _fused_forward(W, b, xs_t, valid, h0, c0)
    return out, (W, valid, cs, zs, inputs)


def _lstm_fused_bwd(residuals, cotangents):
    W, valid, cs, zs, inputs = residuals
    d_hs, d_h_last, d_c_last = cotangents
    H = cs.shape[-1]
    n_in = inputs.shape[-1] - H
    W_hT = W[n_in:].T

    def back(carry, inp):
        dh_next, dc_next = carry
        dh_t, z, c, cp, ok = inp
        i, f, g, o = _gates_of(z, H)
        tc = jnp.tanh(c)
        dh = ok * (dh_t + dh_next)  # a padded step passes its carry's gradient through unchanged
        dc = ok * dc_next + dh * o * (1 - tc * tc)
        dz = jnp.concatenate(
            [dc * g * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=-1
        )
        skip = 1 - ok
        return (dz @ W_hT + skip * dh_next, dc * f + skip * dc_next), dz

    T = zs.shape[0]

    # From t = T down to 1. Each step's dz is written over its z, which no later step reads: the loop
    # carries the forward's zs buffer and returns it as dzs, where a scan's stacked output would be a
    # new [T, B, 4H] buffer filled with zeros first (on a CPU core that fill and its first touch of
    # fresh memory cost about a tenth of the layer's forward + backward at batch 64, 256 units).
    def body(k, carry):
        dh_next, dc_next, buffer = carry
        t = T - 1 - k
        # cs[t + 1] is this step's cell state, cs[t] the one before it (at a real step, the carry)
        (dh_next, dc_next), dz = back((dh_next, dc_next), (d_hs[t], buffer[t], cs[t + 1], cs[t], valid[t]))
        return dh_next, dc_next, jax.lax.dynamic_update_index_in_dim(buffer, dz, t, 0)

    dh0, dc0, dzs = jax.lax.fori_loop(0, T, body, (d_h_last, d_c_last, zs))
    # inputs[t] = [x_t, h_{t-1}]; at a padded step it holds the carry, and dz there is zero
    B, G = dzs.shape[1:]
    if jax.device_count() > 1:
        # A batch may be sharded over the devices: contract over time and batch with both axes kept, so
        # that it stays sharded and the gradients need one all-reduce (reshaping [time, batch] into one
        # axis would make XLA gather the whole batch first; the Scaling appendix checks the collectives).
        dW = jnp.einsum("tbk,tbg->kg", inputs, dzs)
        db = jnp.einsum("tb,tbg->g", jnp.ones((T, B), dzs.dtype), dzs)
        d_xs = jnp.einsum("tbg,kg->tbk", dzs, W[:n_in])
        return dW, db, d_xs, jnp.zeros_like(valid), dh0, dc0
    # One device: one [time * batch] axis, one plain product each (on the CPU an einsum contracting two
    # axes at once measured 1.7 times slower for the weight gradient at batch 64, 100 steps, 256 units).
    dz2 = dzs.reshape(T * B, G)
    dW = inputs.reshape(T * B, -1).T @ dz2
    db = jnp.ones((T * B,), dz2.dtype) @ dz2
    d_xs = (dz2 @ W[:n_in].T).reshape(T, B, n_in)
    return dW, db, d_xs, jnp.zeros_like(valid), dh0, dc0


_lstm_fused.defvjp(_lstm_fused_fwd, _lstm_fused_bwd)
