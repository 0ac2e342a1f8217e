"""The LSTM cell (Hochreiter & Schmidhuber 1997; forget gate: Gers, Schmidhuber & Cummins 2000).

A cell is a pure function ``lstm_cell(params, (h, c), x) -> ((h, c), h)``. Gates are packed in
PyTorch's order (input i, forget f, candidate g, output o) so that weights copy over directly:
``W_x: [input, 4*hidden]``, ``W_h: [hidden, 4*hidden]``, ``b: [4*hidden]``.

Two variants share the function, told apart by the parameter shapes (static under ``jit``):

* the modern cell (4 blocks of columns), with optional peephole weights ``p_i, p_f, p_o``;
* the original 1997 cell (3 blocks: i, g, o) with **no forget gate**: the cell state is carried
  with weight exactly 1, the *constant error carousel*.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._checks import check_positive_int, check_sequence
from ._types import Array, Carry, DTypeLike, Key, Params
from .rnn import scan_cell, torch_uniform


def init_lstm(
    key: Key,
    input_size: int,
    hidden_size: int,
    *,
    forget_bias: float = 1.0,
    forget_gate: bool = True,
    peepholes: bool = False,
    dtype: DTypeLike = jnp.float32,
) -> Params:
    """LSTM parameters drawn like ``torch.nn.LSTM`` (U(-1/sqrt(H), 1/sqrt(H))).

    ``forget_bias`` is added to the forget gate's bias (default 1, as Gers et al. 2000 and
    Jozefowicz et al. 2015 advise: a fresh cell then keeps about 73% of its state per step
    instead of 50%, so that gradients reach back further from the start of training).
    ``forget_gate=False`` gives the original 1997 cell, whose state recurs with weight 1.
    """
    check_positive_int(input_size, "input_size")
    check_positive_int(hidden_size, "hidden_size")
    n = 4 if forget_gate else 3
    k1, k2, k3, k4 = jax.random.split(key, 4)
    u = lambda k, shape: torch_uniform(k, shape, hidden_size, dtype)
    params = {
        "W_x": u(k1, (input_size, n * hidden_size)),
        "W_h": u(k2, (hidden_size, n * hidden_size)),
        "b": u(k3, (n * hidden_size,)),
    }
    if forget_gate:
        params["b"] = params["b"].at[hidden_size : 2 * hidden_size].add(forget_bias)
    if peepholes:
        if not forget_gate:
            raise ValueError("peepholes=True needs forget_gate=True (peepholes came with the forget gate, Gers 2000)")
        p = u(k4, (3, hidden_size))
        params.update(p_i=p[0], p_f=p[1], p_o=p[2])
    return params


def _step(params: Params, h, c, x):
    """One LSTM step returning the new (h, c) and the gate activations (i, f, g, o)."""
    z = x @ params["W_x"] + h @ params["W_h"] + params["b"]
    if params["W_h"].shape[1] == 3 * h.shape[-1]:  # the 1997 cell: no forget gate, f = 1
        zi, zg, zo = jnp.split(z, 3, axis=-1)
        f = jnp.ones_like(zi)
    else:
        zi, zf, zg, zo = jnp.split(z, 4, axis=-1)
        if "p_i" in params:  # peepholes: the gates look at the cell state
            zi, zf = zi + params["p_i"] * c, zf + params["p_f"] * c
        f = jax.nn.sigmoid(zf)
    i, g = jax.nn.sigmoid(zi), jnp.tanh(zg)
    c = f * c + i * g
    if "p_o" in params:
        zo = zo + params["p_o"] * c
    o = jax.nn.sigmoid(zo)
    return o * jnp.tanh(c), c, (i, f, g, o)


def lstm_cell(params: Params, carry: Carry, x: Array) -> tuple[tuple[Array, Array], Array]:
    r"""One LSTM step. ``carry = (h, c)``, both ``[batch, hidden]``; ``x: [batch, input]``.

    .. math::
        i_t &= \sigma(x_t W_{xi} + h_{t-1} W_{hi} + b_i) \\
        f_t &= \sigma(x_t W_{xf} + h_{t-1} W_{hf} + b_f) \\
        g_t &= \tanh(x_t W_{xg} + h_{t-1} W_{hg} + b_g) \\
        o_t &= \sigma(x_t W_{xo} + h_{t-1} W_{ho} + b_o) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        h_t &= o_t \odot \tanh(c_t)

    With peepholes, :math:`p_i \odot c_{t-1}` and :math:`p_f \odot c_{t-1}` enter the input and
    forget gates and :math:`p_o \odot c_t` the output gate. Without a forget gate (1997 cell),
    :math:`c_t = c_{t-1} + i_t \odot g_t`: the constant error carousel.
    """
    h, c = carry
    h, c, _ = _step(params, h, c, x)
    return (h, c), h


def lstm_gates(params: Params, xs: Array, carry0: Carry | None = None) -> dict[str, Array]:
    """Run an LSTM over ``xs: [batch, time, input]`` and return what happens inside.

    Returns a dict of ``[batch, time, hidden]`` arrays: the gates ``i``, ``f`` (ones for the 1997
    cell), ``g``, ``o``, the cell state ``c`` and the output ``h``.
    """
    batch, hidden = xs.shape[0], params["W_h"].shape[0]
    if carry0 is None:
        carry0 = (jnp.zeros((batch, hidden), xs.dtype), jnp.zeros((batch, hidden), xs.dtype))

    def cell(p, carry, x):
        h, c, (i, f, g, o) = _step(p, *carry, x)
        return (h, c), jnp.stack([i, f, g, o, c, h], axis=1)  # [batch, 6, hidden]

    out, _ = scan_cell(cell, params, xs, carry0)  # [batch, time, 6, hidden]
    return {name: out[:, :, k] for k, name in enumerate("ifgoch")}


def _modern_cell_inputs(name: str, params: Params, xs: Array, carry0: Carry | None) -> tuple[Array, Array]:
    """The checks of the performance variants (modern cell only, ``xs`` as the layer expects); the
    initial carry, zeros by default."""
    if "p_i" in params or params["W_h"].shape[1] != 4 * params["W_h"].shape[0]:
        raise ValueError(f"{name} supports the modern cell only (forget gate, no peepholes)")
    check_sequence(xs, params["W_x"].shape[0])
    batch, hidden = xs.shape[0], params["W_h"].shape[0]
    if carry0 is None:
        carry0 = (jnp.zeros((batch, hidden), xs.dtype), jnp.zeros((batch, hidden), xs.dtype))
    return carry0


def lstm_scan_hoisted(
    params: Params, xs: Array, carry0: Carry | None = None, *, unroll: int = 1
) -> tuple[Array, tuple[Array, Array]]:
    r"""The LSTM over ``xs: [batch, time, input]`` with the input projection hoisted out of the scan.

    The input part of every gate, :math:`x_t W_x + b`, depends on no state, so it is computed for
    all steps at once, one ``[batch * time, input] x [input, 4H]`` matrix product, before the scan;
    each step then multiplies only :math:`h_{t-1} W_h`. Same equations and same numbers as
    ``scan_cell(lstm_cell, ...)``; a performance variant (modern cell: forget gate, no peepholes).
    Returns ``(hs: [batch, time, hidden], (h_T, c_T))``.
    """
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
    return jnp.swapaxes(hs, 0, 1), carry


def lstm_scan_fused(params: Params, xs: Array, carry0: Carry | None = None) -> tuple[Array, tuple[Array, Array]]:
    r"""The LSTM over ``xs: [batch, time, input]`` with its backward pass written by hand (``jax.custom_vjp``).

    Forward: the scanned cell, which also keeps the gates ``(i, f, g, o)`` and the cell states of
    every step. Backward, from :math:`t = T` down to 1, with the incoming
    :math:`\delta h_t = \partial L/\partial h_t + \delta h'_{t+1}` (the part that came back from step
    :math:`t + 1`) and :math:`\delta c_t` likewise:

    .. math::
        \delta c_t &\mathrel{+}= \delta h_t \odot o_t \odot (1 - \tanh^2 c_t), \\
        \delta z_t &= [\delta c_t \odot g_t \odot i_t(1 - i_t),\;
                       \delta c_t \odot c_{t-1} \odot f_t(1 - f_t),\;
                       \delta c_t \odot i_t \odot (1 - g_t^2),\;
                       \delta h_t \odot \tanh c_t \odot o_t(1 - o_t)], \\
        \delta h'_t &= \delta z_t W_h^\top, \qquad \delta c'_t = \delta c_t \odot f_t,

    so each backward step does **one** matrix product. The weight gradients need no recurrence:
    :math:`\partial L/\partial W_h = \sum_t h_{t-1}^\top \delta z_t` and
    :math:`\partial L/\partial W_x = \sum_t x_t^\top \delta z_t` are each one
    ``[hidden or input, batch*time] x [batch*time, 4H]`` product after the loop, where automatic
    differentiation of the scan accumulates them step by step. Same numbers as
    ``scan_cell(lstm_cell, ...)`` (tested, values and gradients); a performance variant for the
    modern cell (forget gate, no peepholes). Returns ``(hs: [batch, time, hidden], (h_T, c_T))``.
    """
    carry0 = _modern_cell_inputs("lstm_scan_fused", params, xs, carry0)
    hs, h_last, c_last = _lstm_fused(params["W_x"], params["W_h"], params["b"], jnp.swapaxes(xs, 0, 1), *carry0)
    return jnp.swapaxes(hs, 0, 1), (h_last, c_last)


def _fused_forward(W_x, W_h, b, xs_t, h0, c0):
    """The forward scan, time-major: states ``[time, batch, hidden]``, gates ``[time, batch, 4H]``."""
    params = {"W_x": W_x, "W_h": W_h, "b": b}

    def step(carry, x):
        h, c, gates = _step(params, *carry, x)
        return (h, c), (h, c, jnp.concatenate(gates, axis=-1))

    (h_last, c_last), (hs, cs, gates) = jax.lax.scan(step, (h0, c0), xs_t)
    return (hs, h_last, c_last), (hs, cs, gates)


@jax.custom_vjp
def _lstm_fused(W_x, W_h, b, xs_t, h0, c0):
    return _fused_forward(W_x, W_h, b, xs_t, h0, c0)[0]


def _lstm_fused_fwd(W_x, W_h, b, xs_t, h0, c0):
    out, (hs, cs, gates) = _fused_forward(W_x, W_h, b, xs_t, h0, c0)
    return out, (W_x, W_h, xs_t, h0, c0, hs, cs, gates)


def _lstm_fused_bwd(residuals, cotangents):
    W_x, W_h, xs_t, h0, c0, hs, cs, gates = residuals
    d_hs, d_h_last, d_c_last = cotangents
    H = W_h.shape[0]
    c_prev = jnp.concatenate([c0[None], cs[:-1]], axis=0)
    W_hT = W_h.T

    def back(carry, inp):
        dh_next, dc_next = carry
        dh_t, gate, c, cp = inp
        i, f, g, o = (gate[:, k * H : (k + 1) * H] for k in range(4))
        tc = jnp.tanh(c)
        dh = dh_t + dh_next
        dc = dc_next + dh * o * (1 - tc * tc)
        dz = jnp.concatenate(
            [dc * g * i * (1 - i), dc * cp * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=-1
        )
        return (dz @ W_hT, dc * f), dz

    (dh0, dc0), dzs = jax.lax.scan(back, (d_h_last, d_c_last), (d_hs, gates, cs, c_prev), reverse=True)
    T, B, G = dzs.shape
    dz2 = dzs.reshape(T * B, G)
    h_prev = jnp.concatenate([h0[None], hs[:-1]], axis=0).reshape(T * B, H)
    dW_h = h_prev.T @ dz2
    dW_x = xs_t.reshape(T * B, -1).T @ dz2
    d_xs = (dz2 @ W_x.T).reshape(T, B, -1)
    return dW_x, dW_h, dz2.sum(0), d_xs, dh0, dc0


_lstm_fused.defvjp(_lstm_fused_fwd, _lstm_fused_bwd)
