"""The gated recurrent unit (Cho et al. 2014), in PyTorch's convention and in the original one.

``gru_cell(params, h, x) -> (h, h)``, under the package's cell contract (:mod:`rnnbook.cells`):
:data:`GRU` and :data:`GRU_CHO2014`. Gates are packed in PyTorch's order (reset r, update z,
candidate n): ``W_x: [input, 3*hidden]``, ``W_h: [hidden, 3*hidden]``, and two biases
``b, b_h: [3*hidden]``, the input side's and the recurrent side's (the reset gate multiplies
``h W_hn + b_hn``, so the two candidate biases are not interchangeable).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp

from ._checks import check_cell_step, check_key, check_positive_int, check_sequence, check_shape
from ._types import Array, ArrayLike, DTypeLike, Key, Params
from .cells import Cell, _valid_steps, zeros_carry
from .rnn import torch_uniform

__all__ = ["GRU", "GRU_CHO2014", "gru_cell", "gru_cell_cho2014", "gru_scan_fused", "init_gru"]


def init_gru(key: Key, input_size: int, hidden_size: int, dtype: DTypeLike = jnp.float32) -> Params:
    """GRU parameters drawn like ``torch.nn.GRU``: U(-1/sqrt(H), 1/sqrt(H))."""
    check_key(key)
    check_positive_int(input_size, "input_size")
    check_positive_int(hidden_size, "hidden_size")
    k1, k2, k3, k4 = jax.random.split(key, 4)
    u = lambda k, shape: torch_uniform(k, shape, hidden_size, dtype)
    return {
        "W_x": u(k1, (input_size, 3 * hidden_size)),
        "W_h": u(k2, (hidden_size, 3 * hidden_size)),
        "b": u(k3, (3 * hidden_size,)),
        "b_h": u(k4, (3 * hidden_size,)),
    }


def _check_gru_params(params: Params) -> None:
    if (
        not isinstance(params, Mapping)
        or not {"W_x", "W_h", "b", "b_h"} <= set(params)
        or params["W_h"].shape[-1] != 3 * params["W_h"].shape[0]
    ):
        raise ValueError("`params` are not a GRU's: they need W_h [hidden, 3*hidden] and b_h (init_gru)")


def _gates(params: Params, h, x):
    check_cell_step(params, h, x)
    _check_gru_params(params)
    xr, xz, xn = jnp.split(x @ params["W_x"] + params["b"], 3, axis=-1)
    W_hr, W_hz, W_hn = jnp.split(params["W_h"], 3, axis=-1)
    b_hr, b_hz, b_hn = jnp.split(params["b_h"], 3, axis=-1)
    r = jax.nn.sigmoid(xr + h @ W_hr + b_hr)
    z = jax.nn.sigmoid(xz + h @ W_hz + b_hz)
    return r, z, xn, W_hn, b_hn


def gru_cell(params: Params, h: Array, x: Array) -> tuple[Array, Array]:
    r"""One GRU step in PyTorch's (and cuDNN's) convention. ``h: [batch, hidden]``, ``x: [batch, input]``.

    .. math::
        r_t &= \sigma(x_t W_{xr} + b_{xr} + h_{t-1} W_{hr} + b_{hr}) \\
        z_t &= \sigma(x_t W_{xz} + b_{xz} + h_{t-1} W_{hz} + b_{hz}) \\
        n_t &= \tanh\bigl(x_t W_{xn} + b_{xn} + r_t \odot (h_{t-1} W_{hn} + b_{hn})\bigr) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    The update gate both keeps (:math:`z_t \to 1`) and writes (:math:`1 - z_t`): one gate does
    the work of the LSTM's forget and input gates, and there is no separate cell state.
    """
    r, z, xn, W_hn, b_hn = _gates(params, h, x)
    n = jnp.tanh(xn + r * (h @ W_hn + b_hn))
    h = (1.0 - z) * n + z * h
    return h, h


def gru_cell_cho2014(params: Params, h: Array, x: Array) -> tuple[Array, Array]:
    r"""One GRU step as in Cho et al. 2014: the reset gate acts on the state *before* the product,

    .. math:: n_t = \tanh\bigl(x_t W_{xn} + b_{xn} + (r_t \odot h_{t-1}) W_{hn} + b_{hn}\bigr).

    Same parameters and shapes as :func:`gru_cell` (``h: [batch, hidden]``, ``x: [batch, input]``),
    different function: weights trained under one convention do not transfer to the other.
    """
    r, z, xn, W_hn, b_hn = _gates(params, h, x)
    n = jnp.tanh(xn + (r * h) @ W_hn + b_hn)
    h = (1.0 - z) * n + z * h
    return h, h


GRU = Cell("gru", init_gru, gru_cell, zeros_carry, lambda h: h, from_h=lambda h: h)
"""The GRU in PyTorch's convention under the cell contract: carry ``h``."""
GRU_CHO2014 = Cell("gru_cho2014", init_gru, gru_cell_cho2014, zeros_carry, lambda h: h, from_h=lambda h: h)
"""The GRU of Cho et al. 2014 under the cell contract: carry ``h``."""


def gru_scan_fused(
    params: Params, xs: Array, h0: Array | None = None, lengths: ArrayLike | None = None
) -> tuple[Array, Array]:
    r"""The GRU (PyTorch's convention, :func:`gru_cell`) over ``xs: [batch, time, input]`` with its
    backward pass written by hand (``jax.custom_vjp``), as :func:`rnnbook.lstm.lstm_scan_fused` does
    for the LSTM.

    The path :class:`rnnbook.layers.Recurrent` takes for ``"gru"``: the same numbers as
    ``scan_cell(gru_cell, params, xs, h0, lengths)`` (tested, values and gradients, with carries and
    padding), in less time. With :math:`a_t = x_t W_x + b` and :math:`u_t = h_{t-1} W_h + b_h` (three
    blocks each: :math:`r, z, n`), every step does **one** matrix product,
    :math:`s_t = [x_t, h_{t-1}]\,W + b' = [a_r + u_r,\ a_z + u_z,\ u_n,\ a_n]`: the reset gate
    multiplies :math:`u_n` before it meets :math:`a_n`, so the two stay apart and :math:`W` has a
    block of zeros (a third more multiply-adds than two separate products, but one product a step
    and one ``[time, batch, 4H]`` buffer: faster at the chapters' sizes, the Performance appendix).
    The forward keeps :math:`s_t`. Backward, from :math:`t = T` down to 1, with
    :math:`\delta h_t` the gradient reaching :math:`h_t` (from the loss and from step :math:`t + 1`)
    and the gates recomputed from :math:`s_t`:

    .. math::
        \delta a_n &= \delta h_t \odot (1 - z_t) \odot (1 - n_t^2), \quad
        \delta a_r = \delta a_n \odot u_{n,t} \odot r_t(1 - r_t), \quad
        \delta a_z = \delta h_t \odot (h_{t-1} - n_t) \odot z_t(1 - z_t), \\
        \delta u_t &= [\delta a_r,\ \delta a_z,\ \delta a_n \odot r_t], \qquad
        \delta h_{t-1} \mathrel{+}= \delta u_t W_h^\top + \delta h_t \odot z_t,

    one matrix product per backward step, :math:`[\delta u_t, \delta a_n]` written over :math:`s_t` in
    the forward's buffer. The weight gradient :math:`\sum_t [x_t, h_{t-1}]^\top [\delta u_t, \delta a_n]`,
    the bias's and the input's are one large product each after the loop (automatic differentiation
    of the scan accumulates them step by step). ``h0: [batch, hidden]`` (zeros by default);
    ``lengths: [batch]`` marks steps ``t >= lengths[b]`` as padding, as in
    :func:`rnnbook.cells.scan_cell`: the state is held there and the output is zero. PyTorch's
    convention only (:data:`GRU`); :func:`gru_cell_cho2014` is scanned. Returns
    ``(h_T, hs: [batch, time, hidden])``.
    """
    _check_gru_params(params)
    check_sequence(xs, params["W_x"].shape[0])
    batch = xs.shape[0]
    hidden = params["W_h"].shape[0]
    if h0 is None:
        h0 = jnp.zeros((batch, hidden), xs.dtype)
    check_shape(h0, "h0", batch=batch, hidden=hidden)
    valid = _valid_steps(xs, lengths)  # [time, batch, 1]: 1 at real steps, 0 at padding
    W, b = _one_product(params)
    hs, h_last = _gru_fused(W, b, jnp.swapaxes(xs, 0, 1), valid, h0)
    return h_last, jnp.swapaxes(hs, 0, 1)


def _one_product(params: Params) -> tuple[Array, Array]:
    """``W: [input + hidden, 4H]`` and ``b: [4H]`` with ``[x, h] @ W + b = [a_r + u_r, a_z + u_z, u_n, a_n]``.

    The reset gate multiplies ``u_n = h W_hn + b_hn`` before it meets ``a_n = x W_xn + b_n``, so the two
    stay apart: ``W`` has a block of zeros where ``x`` would reach ``u_n`` and ``h`` would reach ``a_n``.
    Automatic differentiation carries the gradients of ``W`` and ``b`` back to the four parameters."""
    W_x, W_h, b, b_h = params["W_x"], params["W_h"], params["b"], params["b_h"]
    H = W_h.shape[0]
    top = jnp.concatenate([W_x[:, : 2 * H], jnp.zeros((W_x.shape[0], H), W_x.dtype), W_x[:, 2 * H :]], axis=1)
    bottom = jnp.concatenate([W_h, jnp.zeros((H, H), W_h.dtype)], axis=1)
    bias = jnp.concatenate([b[: 2 * H] + b_h[: 2 * H], b_h[2 * H :], b[2 * H :]])
    return jnp.concatenate([top, bottom], axis=0), bias


def _gru_forward(W, b, xs_t, valid, h0):
    """The forward loop, time-major: outputs and final state, and per step ``z = [x, h] @ W + b``,
    written into buffers the loop carries (as the LSTM's, :func:`rnnbook.lstm._fused_forward` says why)."""
    H = h0.shape[-1]
    T, B = xs_t.shape[:2]
    put = jax.lax.dynamic_update_index_in_dim

    def body(t, carry):
        h, hs, zs = carry
        ok = valid[t]
        z = jnp.concatenate([xs_t[t], h], axis=-1) @ W + b
        r, g = jax.nn.sigmoid(z[:, :H]), jax.nn.sigmoid(z[:, H : 2 * H])  # reset and update gates
        n = jnp.tanh(z[:, 3 * H :] + r * z[:, 2 * H : 3 * H])
        h_new = (1 - g) * n + g * h
        return jnp.where(ok > 0, h_new, h), put(hs, h_new * ok, t, 0), put(zs, z, t, 0)

    buffers = [jnp.zeros((T, B, n), h0.dtype) for n in (H, 4 * H)]
    h_last, hs, zs = jax.lax.fori_loop(0, T, body, (h0, *buffers))
    return (hs, h_last), (hs, zs)


@jax.custom_vjp
def _gru_fused(W, b, xs_t, valid, h0):
    return _gru_forward(W, b, xs_t, valid, h0)[0]


def _gru_fused_fwd(W, b, xs_t, valid, h0):
    out, (hs, zs) = _gru_forward(W, b, xs_t, valid, h0)
    return out, (W, xs_t, valid, h0, hs, zs)


def _gru_fused_bwd(residuals, cotangents):
    W, xs_t, valid, h0, hs, zs = residuals
    d_hs, d_h_last = cotangents
    T, B, H = hs.shape
    n_in = xs_t.shape[-1]
    h_prev = jnp.concatenate([h0[None], hs[:-1]], axis=0)  # real steps form a prefix: hs is the state there
    W_hT = W[n_in:, : 3 * H].T  # W_h transposed

    # From t = T down to 1; each step's dz is written over its z, which no later step reads (no new
    # [T, B, 4H] buffer to allocate and zero: see lstm._lstm_fused_bwd).
    def body(k, carry):
        dh_next, buffer = carry
        t = T - 1 - k
        z, hp, ok = buffer[t], h_prev[t], valid[t]
        r, g = jax.nn.sigmoid(z[:, :H]), jax.nn.sigmoid(z[:, H : 2 * H])
        u = z[:, 2 * H : 3 * H]
        n = jnp.tanh(z[:, 3 * H :] + r * u)
        dh = ok * (d_hs[t] + dh_next)  # a padded step passes its state's gradient through unchanged
        da_n = dh * (1 - g) * (1 - n * n)
        dz = jnp.concatenate([da_n * u * r * (1 - r), dh * (hp - n) * g * (1 - g), da_n * r, da_n], axis=-1)
        dh_prev = dz[:, : 3 * H] @ W_hT + dh * g + (1 - ok) * dh_next
        return dh_prev, jax.lax.dynamic_update_index_in_dim(buffer, dz, t, 0)

    dh0, dzs = jax.lax.fori_loop(0, T, body, (d_h_last, zs))
    inputs = jnp.concatenate([xs_t, h_prev], axis=-1)
    if jax.device_count() > 1:
        # A sharded batch stays sharded: contract over time and batch with both axes kept (as the LSTM).
        dW = jnp.einsum("tbk,tbg->kg", inputs, dzs)
        db = jnp.einsum("tb,tbg->g", jnp.ones((T, B), dzs.dtype), dzs)
        d_xs = jnp.einsum("tbg,kg->tbk", dzs, W[:n_in])
        return dW, db, d_xs, jnp.zeros_like(valid), dh0
    dz2 = dzs.reshape(T * B, 4 * H)
    dW = inputs.reshape(T * B, -1).T @ dz2
    db = jnp.ones((T * B,), dz2.dtype) @ dz2  # the bias gradient as a product: see lstm._lstm_fused_bwd
    d_xs = (dz2 @ W[:n_in].T).reshape(xs_t.shape)
    return dW, db, d_xs, jnp.zeros_like(valid), dh0


_gru_fused.defvjp(_gru_fused_fwd, _gru_fused_bwd)
