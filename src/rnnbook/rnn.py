"""The Elman recurrent network (Elman 1990), driven by ``jax.lax.scan``.

Conventions used throughout the book:

* a sequence batch is ``xs: [batch, time, features]``; a state is ``h: [batch, hidden]``;
* a *cell* follows the contract of :mod:`rnnbook.cells`: ``cell(params, carry, x_t) -> (carry, y_t)``,
  ``cell.init``, ``cell.initial_carry`` and ``cell.hidden``; :data:`ELMAN` is this module's;
* :func:`scan_cell` (from :mod:`rnnbook.cells`) drives any such cell over time, with an optional
  length mask under which padded steps leave the carry unchanged and output zeros; every scan and
  layer returns ``(final carry, outputs)``, the cell's own order.

This module also holds back-propagation through time written out by hand (:func:`bptt_grads`),
which the Recurrence chapter checks against ``jax.grad``, its forward-in-time alternative, real-time
recurrent learning (:func:`rtrl_grads`), and truncated BPTT (:func:`tbptt_states`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ._checks import (
    check_cell_step,
    check_finite,
    check_key,
    check_lengths,
    check_positive_int,
    check_sequence,
    check_shape,
    check_state,
)
from ._types import Array, ArrayLike, Carry, DTypeLike, Key, Params
from .cells import Cell, scan_cell, zeros_carry

__all__ = [
    "ELMAN",
    "ElmanModel",
    "ElmanRNN",
    "bptt_grads",
    "carry_gradients",
    "elman_cell",
    "gradient_norms",
    "init_elman",
    "init_readout",
    "rnn_scan",
    "rnn_unrolled",
    "rtrl_grads",
    "scan_cell",
    "sequence_loss",
    "tbptt_states",
    "torch_uniform",
]


# --------------------------------------------------------------------------------------------
# The cell
# --------------------------------------------------------------------------------------------
def torch_uniform(key: Key, shape: tuple[int, ...], hidden_size: int, dtype: DTypeLike = jnp.float32) -> Array:
    """PyTorch's default for recurrent weights and biases: U(-1/sqrt(hidden), 1/sqrt(hidden)), of ``shape``
    (e.g. ``[input, hidden]``)."""
    check_key(key)
    if not isinstance(shape, tuple) or not all(isinstance(n, (int, np.integer)) and n >= 1 for n in shape):
        raise ValueError(f"`shape` must be a tuple of positive integers, got {shape!r}")
    check_positive_int(hidden_size, "hidden_size")
    bound = 1.0 / jnp.sqrt(hidden_size)
    return jax.random.uniform(key, shape, dtype, -bound, bound)


def init_elman(key: Key, input_size: int, hidden_size: int, dtype: DTypeLike = jnp.float32) -> Params:
    """Parameters of an Elman cell, drawn like ``torch.nn.RNN``: U(-1/sqrt(H), 1/sqrt(H)).

    Returns ``{"W_x": [input, hidden], "W_h": [hidden, hidden], "b": [hidden]}`` (the package's one
    naming scheme: :mod:`rnnbook.cells`).
    """
    check_key(key)
    check_positive_int(input_size, "input_size")
    check_positive_int(hidden_size, "hidden_size")
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "W_x": torch_uniform(k1, (input_size, hidden_size), hidden_size, dtype),
        "W_h": torch_uniform(k2, (hidden_size, hidden_size), hidden_size, dtype),
        "b": torch_uniform(k3, (hidden_size,), hidden_size, dtype),
    }


def elman_cell(params: Params, h: Array, x: Array) -> tuple[Array, Array]:
    r"""One step of the Elman network.

    .. math:: h_t = \tanh(x_t W_x + h_{t-1} W_h + b), \qquad y_t = h_t

    Shapes: ``h: [batch, hidden]``, ``x: [batch, input]``. Returns ``(h_t, h_t)``: the new
    carry and the step's output (the state itself; a readout layer maps it to predictions).
    """
    check_cell_step(params, h, x)
    h = jnp.tanh(x @ params["W_x"] + h @ params["W_h"] + params["b"])
    return h, h


ELMAN = Cell("rnn", init_elman, elman_cell, zeros_carry, lambda h: h, from_h=lambda h: h)
"""The Elman cell under the package's cell contract (:class:`rnnbook.cells.Cell`): carry ``h``."""


def _sequence_and_state(params: Params, xs: Array, h0: Array | None) -> tuple[int, int, Array]:
    """Check ``xs: [batch, time, input]`` against the Elman weights and ``h0: [batch, hidden]``
    (zeros when None); return ``(batch, time, h0)``. Shared by every function here that runs the layer."""
    input_size, hidden = params["W_x"].shape
    check_sequence(xs, input_size)
    batch, time, _ = xs.shape
    if h0 is None:
        h0 = jnp.zeros((batch, hidden), xs.dtype)
    check_state(h0, batch, hidden)
    return batch, time, h0


# --------------------------------------------------------------------------------------------
# The scan over time: ``cells.scan_cell`` drives any cell
# --------------------------------------------------------------------------------------------
def rnn_scan(
    params: Params, xs: Array, h0: Array | None = None, lengths: ArrayLike | None = None
) -> tuple[Array, Array]:
    """The Elman layer: the last state ``[batch, hidden]`` and all states ``hs: [batch, time, hidden]``.

    ``h0`` defaults to zeros. With ``lengths``, padded steps leave the state unchanged (their
    entries of ``hs`` are zero) and the returned last state is each sequence's own last one.
    """
    batch, time, h0 = _sequence_and_state(params, xs, h0)
    if lengths is not None:
        lengths = jnp.asarray(lengths) if not hasattr(lengths, "dtype") else lengths
        check_lengths(lengths, batch, time)
    return scan_cell(elman_cell, params, xs, h0, lengths)


def rnn_unrolled(params: Params, xs: Array, h0: Array | None = None) -> tuple[Array, Array]:
    """The same layer written as a Python loop over time: the reference the scan is tested against.

    Same shapes as :func:`rnn_scan`: ``xs [batch, time, input]`` -> ``(h_last [batch, hidden], hs [batch,
    time, hidden])``. Used only in tests and in the chapter's unrolling demo; never for training.
    """
    _, time, h = _sequence_and_state(params, xs, h0)
    hs = []
    for t in range(time):
        h, _ = elman_cell(params, h, xs[:, t])
        hs.append(h)
    return h, jnp.stack(hs, axis=1)


# --------------------------------------------------------------------------------------------
# Back-propagation through time, by hand
# --------------------------------------------------------------------------------------------
def init_readout(key: Key, hidden_size: int, output_size: int, dtype: DTypeLike = jnp.float32) -> Params:
    """A linear readout ``y = h W_hy + b_y`` with ``W_hy: [hidden, output]``."""
    check_positive_int(hidden_size, "hidden_size")
    check_positive_int(output_size, "output_size")
    return {
        "W_hy": torch_uniform(key, (hidden_size, output_size), hidden_size, dtype),
        "b_y": jnp.zeros((output_size,), dtype),
    }


def sequence_loss(params: Params, readout: Params, xs: Array, targets: Array, h0: Array | None = None) -> Array:
    r"""The summed squared error of an Elman network with a linear readout:

    .. math:: L = \sum_{b,t} \tfrac12 \lVert h_t W_{hy} + b_y - d_t \rVert^2

    ``targets: [batch, time, output]``. This is the loss whose gradient :func:`bptt_grads`
    computes by hand.
    """
    check_finite(targets, "targets")
    _, hs = rnn_scan(params, xs, h0)
    ys = hs @ readout["W_hy"] + readout["b_y"]
    if targets.shape != ys.shape:
        raise ValueError(f"targets must have shape {ys.shape} [batch, time, output], got {targets.shape}")
    return 0.5 * jnp.sum((ys - targets) ** 2)


def bptt_grads(
    params: Params, readout: Params, xs: Array, targets: Array, h0: Array | None = None
) -> tuple[Array, Params, Params]:
    r"""Gradients of :func:`sequence_loss` by back-propagation through time, written out.

    Forward: :math:`a_t = x_t W_{xh} + h_{t-1} W_{hh} + b_h`, :math:`h_t = \tanh a_t`,
    :math:`y_t = h_t W_{hy} + b_y`, :math:`e_t = y_t - d_t`.

    Backward, from :math:`t = T` down to 1, with :math:`g_{T+1} = 0`:

    .. math:: g_t = \frac{\partial L}{\partial a_t}
              = (1 - h_t^2) \odot \left(e_t W_{hy}^\top + g_{t+1} W_{hh}^\top\right)

    and each shared weight collects the **sum** over the unrolled copies:
    :math:`\partial L/\partial W_{hh} = \sum_t h_{t-1}^\top g_t`,
    :math:`\partial L/\partial W_{xh} = \sum_t x_t^\top g_t`,
    :math:`\partial L/\partial b_h = \sum_t g_t` (in the code, ``W_x``, ``W_h`` and ``b``).

    ``xs: [batch, time, input]``, ``targets: [batch, time, output]``. Returns ``(loss, grads_params,
    grads_readout)`` with the structure of the inputs.
    """
    check_finite(targets, "targets")
    batch, time, h0 = _sequence_and_state(params, xs, h0)
    _, hs = rnn_scan(params, xs, h0)
    ys = hs @ readout["W_hy"] + readout["b_y"]
    if targets.shape != ys.shape:
        raise ValueError(f"targets must have shape {ys.shape} [batch, time, output], got {targets.shape}")
    e = ys - targets
    loss = 0.5 * jnp.sum(e**2)

    hs_t, e_t, xs_t = (jnp.swapaxes(a, 0, 1) for a in (hs, e, xs))  # time-major
    W_hh, W_hy = params["W_h"], readout["W_hy"]

    def back(g_next, inp):
        e_s, h_s = inp
        g = (1.0 - h_s**2) * (e_s @ W_hy.T + g_next @ W_hh.T)
        return g, g

    _, gs = jax.lax.scan(back, jnp.zeros_like(h0), (e_t, hs_t), reverse=True)
    h_prev = jnp.concatenate([h0[None], hs_t[:-1]], axis=0)
    grads = {
        "W_x": jnp.einsum("tbd,tbh->dh", xs_t, gs),
        "W_h": jnp.einsum("tbk,tbh->kh", h_prev, gs),
        "b": gs.sum((0, 1)),
    }
    grads_readout = {"W_hy": jnp.einsum("tbh,tbo->ho", hs_t, e_t), "b_y": e_t.sum((0, 1))}
    return loss, grads, grads_readout


def rtrl_grads(
    params: Params, readout: Params, xs: Array, targets: Array, h0: Array | None = None
) -> tuple[Array, Params, Params]:
    r"""Gradients of :func:`sequence_loss` by real-time recurrent learning (Williams & Zipser 1989).

    RTRL runs forward only. Next to the state it carries the *sensitivity* of the state to every
    recurrent parameter, :math:`P_t = \partial h_t / \partial \theta`, updated at each step by

    .. math:: P_t = \operatorname{diag}(1 - h_t^2)\left(W_{hh}^\top P_{t-1}
              + \frac{\partial a_t}{\partial \theta}\Big|_{h_{t-1}\ \text{fixed}}\right),
              \qquad P_0 = 0,

    and adds the step's gradient :math:`(e_t W_{hy}^\top)\, P_t` to a running sum, so nothing of
    the past is stored: memory is independent of the length ``time``. The price is the size of
    :math:`P_t`, ``[batch, hidden, hidden, hidden]`` for ``W_h`` alone, and the product
    :math:`W_{hh}^\top P_{t-1}`, which costs about :math:`H^4` multiply-adds per step and sequence
    (BPTT: about :math:`H^2`).

    Same arguments and return value as :func:`bptt_grads`: ``xs: [batch, time, input]``,
    ``targets: [batch, time, output]``; returns ``(loss, grads_params, grads_readout)``.
    """
    check_finite(targets, "targets")
    batch, time, h0 = _sequence_and_state(params, xs, h0)
    hidden = params["W_h"].shape[0]
    for name in ("W_hy", "b_y"):
        if name not in readout:
            raise ValueError(f"`readout` must hold W_hy and b_y (rnn.init_readout); got {sorted(readout)}")
    output = readout["W_hy"].shape[1]
    check_shape(targets, "targets", batch=batch, time=time, output=output)
    W_hh, W_hy = params["W_h"], readout["W_hy"]
    eye = jnp.eye(hidden, dtype=xs.dtype)

    def step(carry, inp):
        h_prev, P, grads, grads_out, loss = carry
        x, d = inp
        h, _ = elman_cell(params, h_prev, x)
        # P[name][b, ..., k] = dh_t[b, k] / d params[name][...], the state unit last, so that the
        # product with W_hh is one matmul. a_t[k] = x W_x[:, k] + h_{t-1} W_h[:, k] + b[k] gives
        # the direct terms: d a_t[k] / d W_x[i, m] = x[i] [m == k], and likewise for W_h and b.
        direct = {
            "W_x": x[:, :, None, None] * eye,
            "W_h": h_prev[:, :, None, None] * eye,
            "b": jnp.broadcast_to(eye, (batch, hidden, hidden)),
        }
        slope = 1.0 - h**2  # tanh'(a_t), [batch, hidden]
        P = {n: slope.reshape((batch,) + (1,) * (P[n].ndim - 2) + (hidden,)) * (P[n] @ W_hh + direct[n]) for n in P}
        e = h @ W_hy + readout["b_y"] - d  # [batch, output]
        dh = e @ W_hy.T  # dL_t / dh_t, [batch, hidden]
        grads = {n: grads[n] + jnp.einsum("b...k,bk->...", P[n], dh) for n in grads}
        grads_out = {"W_hy": grads_out["W_hy"] + h.T @ e, "b_y": grads_out["b_y"] + e.sum(0)}
        return (h, P, grads, grads_out, loss + 0.5 * jnp.sum(e**2)), None

    P0 = {n: jnp.zeros((batch,) + params[n].shape + (hidden,), xs.dtype) for n in ("W_x", "W_h", "b")}
    grads0 = {n: jnp.zeros_like(params[n]) for n in P0}
    out0 = {n: jnp.zeros_like(readout[n]) for n in ("W_hy", "b_y")}
    init = (h0, P0, grads0, out0, jnp.zeros((), xs.dtype))
    steps = (jnp.swapaxes(xs, 0, 1), jnp.swapaxes(targets, 0, 1))  # time-major
    (_, _, grads, grads_out, loss), _ = jax.lax.scan(step, init, steps)
    return loss, grads, grads_out


def carry_gradients(cell: Cell, params: Params, xs: Array, carry0: Carry, loss_fn: Callable) -> Carry:
    r"""How much the loss depends on the state after each step: :math:`\partial L / \partial h_t` for all t.

    ``cell`` is a :class:`rnnbook.cells.Cell` (``rnn.ELMAN``, ``lstm.LSTM``, ``gru.GRU``, ...);
    ``loss_fn(ys, final_carry) -> scalar`` with ``ys: [batch, time, hidden]`` the states ``h``
    (``cell.hidden`` of each step's carry).
    A zero perturbation is added to the carry after every step (and so to that step's output);
    the gradient with respect to it is the gradient with respect to that step's state. Returns a
    pytree shaped like the carry, each leaf ``[batch, time, ...]``.
    """
    if not isinstance(cell, Cell):
        raise TypeError(f"`cell` must be a rnnbook.cells.Cell (rnn.ELMAN, lstm.LSTM, ...), got {type(cell).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"`loss_fn` must be callable as loss_fn(ys, final_carry), got {type(loss_fn).__name__}")
    check_shape(xs, "xs", batch=None, time=None, features=None)
    time = xs.shape[1]
    eps0 = jax.tree_util.tree_map(lambda c: jnp.zeros((time,) + c.shape, c.dtype), carry0)

    def step(carry, inp):
        x, eps = inp
        carry, _ = cell(params, carry, x)
        carry = jax.tree_util.tree_map(jnp.add, carry, eps)
        return carry, cell.hidden(carry)

    def total(eps):
        final, ys = jax.lax.scan(step, carry0, (jnp.swapaxes(xs, 0, 1), eps))
        return loss_fn(jnp.swapaxes(ys, 0, 1), final)

    grads = jax.grad(total)(eps0)
    return jax.tree_util.tree_map(lambda g: jnp.swapaxes(g, 0, 1), grads)


def gradient_norms(grads: Array) -> Array:
    """Per-step Euclidean norm of ``[batch, time, ...]`` gradients (over batch and features): ``[time]``.

    Computed as ``m * sqrt(sum((g / m)^2))`` with ``m = max |g|`` per step, so that exploding
    gradients whose squares would overflow float32 (above about 1e19) still get a finite norm.
    """
    if getattr(grads, "ndim", 0) < 2:
        raise ValueError(
            f"`grads` must have shape [batch, time, ...] (rank 2 or more); got {getattr(grads, 'shape', None)}"
        )
    axes = tuple(i for i in range(grads.ndim) if i != 1)
    scale = jnp.max(jnp.abs(grads), axis=axes, keepdims=True)
    safe = jnp.where(scale > 0, scale, 1.0)
    return jnp.squeeze(safe, axes) * jnp.sqrt(jnp.sum((grads / safe) ** 2, axis=axes))


# --------------------------------------------------------------------------------------------
# Truncated BPTT
# --------------------------------------------------------------------------------------------
def tbptt_states(params: Params, xs: Array, k1: int, k2: int, h0: Array | None = None, cell: Cell = ELMAN) -> Array:
    """States with the forward values of :func:`rnn_scan` but gradients truncated as in TBPTT(k1, k2).

    Truncated BPTT (Williams & Peng 1990) walks the sequence in blocks of ``k1`` steps and, for
    each block, back-propagates the block's errors through the last ``k2 >= k1`` steps only.
    Here each block's states are recomputed from the stopped (``stop_gradient``) state ``k2``
    steps before the block's end, so ``jax.grad`` of any loss of the returned states *is* the
    TBPTT gradient: an error at step ``t`` reaches inputs at most ``k2 - 1`` steps back.
    ``k1 == k2 == k`` is the common "detach every k steps" scheme; ``k2 >= time`` gives full BPTT.

    ``xs: [batch, time, features]`` with ``time`` a multiple of ``k1``. Returns ``[batch, time, hidden]``.
    """
    if not isinstance(cell, Cell):
        raise TypeError(f"`cell` must be a rnnbook.cells.Cell (rnn.ELMAN, lstm.LSTM, ...), got {type(cell).__name__}")
    input_size, hidden = params["W_x"].shape
    check_sequence(xs, input_size)
    check_positive_int(k1, "k1")
    check_positive_int(k2, "k2")
    batch, time, _ = xs.shape
    if k2 < k1:
        raise ValueError(f"k2 (steps back-propagated) must be >= k1 (steps per block), got k1={k1}, k2={k2}")
    if time % k1:
        raise ValueError(f"the sequence length (time={time}) must be a multiple of k1={k1}")
    if h0 is None:
        h0 = jnp.zeros((batch, hidden), xs.dtype)
    check_state(h0, batch, hidden)

    _, hs = scan_cell(cell, params, xs, h0)
    starts = jax.lax.stop_gradient(jnp.concatenate([h0[:, None], hs], axis=1))  # state before step s
    pad = k2 - k1
    xs_pad = jnp.concatenate([jnp.zeros((batch, pad, input_size), xs.dtype), xs], axis=1)

    def block(j):
        first = j * k1 - pad  # first (original) step of the window, may be negative
        window = jax.lax.dynamic_slice_in_dim(xs_pad, j * k1, k2, axis=1)
        h_start = jax.lax.dynamic_index_in_dim(starts, jnp.maximum(first, 0), axis=1, keepdims=False)
        # Steps before the sequence start (negative indices) are padding: the state stays put.
        n_pad = jnp.clip(-first, 0, k2)
        lengths = jnp.full((batch,), k2) - n_pad
        window = jnp.roll(window, -n_pad, axis=1)  # real steps first, padding after
        _, out = scan_cell(cell, params, window, h_start, lengths)
        out = jnp.roll(out, n_pad, axis=1)  # back in place: the block's k1 steps are the last ones
        return out[:, k2 - k1 :]

    blocks = jax.vmap(block)(jnp.arange(time // k1))  # [n_blocks, batch, k1, hidden]
    return jnp.swapaxes(blocks, 0, 1).reshape(batch, time, hidden)


# --------------------------------------------------------------------------------------------
# Flax NNX modules
# --------------------------------------------------------------------------------------------
class ElmanRNN(nnx.Module):
    """An Elman layer as a Flax NNX module around :func:`elman_cell` and :func:`rnn_scan`.

    ``layer(xs, lengths=None, h0=None) -> (h_last: [batch, hidden], hs: [batch, time, hidden])``.
    """

    def __init__(self, input_size: int, hidden_size: int, *, rngs: nnx.Rngs):
        p = init_elman(rngs.params(), input_size, hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.W_x = nnx.Param(p["W_x"])
        self.W_h = nnx.Param(p["W_h"])
        self.b = nnx.Param(p["b"])

    @property
    def params(self) -> Params:
        return {"W_x": self.W_x[...], "W_h": self.W_h[...], "b": self.b[...]}

    def __call__(self, xs: Array, lengths: ArrayLike | None = None, h0: Array | None = None) -> tuple[Array, Array]:
        return rnn_scan(self.params, xs, h0=h0, lengths=lengths)


class ElmanModel(nnx.Module):
    """Elman layer plus a linear readout.

    ``output="all"`` maps every state to an output (many-to-many, ``[batch, time, out]``);
    ``output="last"`` maps the last real state only (many-to-one, ``[batch, out]``).
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int, *, output: str = "all", rngs: nnx.Rngs):
        if output not in ("all", "last"):
            raise ValueError(f"output must be 'all' or 'last', got {output!r}")
        check_positive_int(output_size, "output_size")
        self.output = output
        self.rnn = ElmanRNN(input_size, hidden_size, rngs=rngs)
        self.readout = nnx.Linear(hidden_size, output_size, rngs=rngs)

    def __call__(self, xs: Array, lengths: ArrayLike | None = None) -> Array:
        h_last, hs = self.rnn(xs, lengths=lengths)
        return self.readout(hs if self.output == "all" else h_last)
