"""The gated recurrent unit (Cho et al. 2014), in PyTorch's convention and in the original one.

``gru_cell(params, h, x) -> (h, h)``, under the package's cell contract (:mod:`rnnbook.cells`):
:data:`GRU` and :data:`GRU_CHO2014`. Gates are packed in PyTorch's order (reset r, update z,
candidate n): ``W_x: [input, 3*hidden]``, ``W_h: [hidden, 3*hidden]``, and two biases
``b, b_h: [3*hidden]``, the input side's and the recurrent side's (the reset gate multiplies
``h W_hn + b_hn``, so the two candidate biases are not interchangeable).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ._checks import check_cell_step, check_key, check_positive_int
from ._types import Array, DTypeLike, Key, Params
from .cells import Cell, zeros_carry
from .rnn import torch_uniform

__all__ = ["GRU", "GRU_CHO2014", "gru_cell", "gru_cell_cho2014", "init_gru"]


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


def _gates(params: Params, h, x):
    check_cell_step(params, h, x)
    if "b_h" not in params or params["W_h"].shape[-1] != 3 * params["W_h"].shape[0]:
        raise ValueError("`params` are not a GRU's: they need W_h [hidden, 3*hidden] and b_h (init_gru)")
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
