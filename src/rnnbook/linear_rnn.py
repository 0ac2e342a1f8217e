r"""Recurrence returns: linear recurrences, state-space models and the parallel scan (Chapter 8).

Every model here is, at its core, the *linear* recurrence

.. math::
    h_t = a_t \odot h_{t-1} + b_t,

with ``a_t`` and ``b_t`` computed from the inputs alone (never from ``h_{t-1}``). Such steps
compose: applying ``(a_1, b_1)`` then ``(a_2, b_2)`` is the single step ``(a_1 a_2, a_2 b_1 + b_2)``
(:func:`combine`), an associative operator, so all ``T`` states can be computed in ``O(log T)``
parallel rounds by ``jax.lax.associative_scan`` (Blelloch 1990) instead of ``T`` sequential ones.

* :func:`linear_scan`: the recurrence three ways (``"parallel"``, ``"sequential"`` by ``lax.scan``,
  ``"loop"`` in Python, for tests); :func:`log_linear_scan`: the log-space form for positive
  values (Heinsen 2023) that keeps long products of gates from underflowing.
* :data:`MINGRU`, :data:`MINLSTM` (Feng et al. 2024): the GRU and LSTM with ``h_{t-1}`` dropped from
  their gates, as cells of the package's contract (:mod:`rnnbook.cells`), and :func:`mingru`,
  :func:`minlstm`, their whole-sequence forms (parallel, sequential or log space).
* :func:`lru` (Orvieto et al. 2023): a complex diagonal recurrence with eigenvalues on a ring.
* :func:`s4d` (Gu et al. 2022): a time-invariant diagonal state-space model, discretised by zero-order
  hold, computed as a recurrence or as one long convolution with :func:`s4d_kernel`.
* :func:`selective_scan` and :func:`selective_ssm` (Gu & Dao 2023, "Mamba"): step size and projections
  that depend on the input.
* :func:`linear_attention` (Katharopoulos et al. 2020): causal attention with a feature map, as a
  masked matrix product or as an RNN with a ``[d_k, d_v]`` state.
* :func:`mlstm` and :data:`SLSTM` (Beck et al. 2024, xLSTM): exponential gating with a stabiliser,
  the matrix memory read with a query, and the scalar-memory sLSTM cell.
* :class:`SequenceModel`: a stack of residual blocks around any of these mixers (or a classic
  recurrent layer), for the chapter's experiments.

Shapes are named ``[batch, time, features]`` throughout, as in the rest of the package.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from . import _compat
from ._checks import (
    check_cell_step,
    check_choice,
    check_dtype,
    check_key,
    check_positive_int,
    check_shape,
    check_token_ids,
    concrete,
    shape_of,
    traced_check,
)
from ._types import Array, ArrayLike, DTypeLike, Key, Params
from .cells import Cell, zeros_carry

__all__ = [
    "MINGRU",
    "MINLSTM",
    "MIXERS",
    "SLSTM",
    "SequenceModel",
    "combine",
    "g",
    "init_lru",
    "init_mingru",
    "init_minlstm",
    "init_s4d",
    "init_selective_ssm",
    "init_slstm",
    "linear_attention",
    "linear_scan",
    "log_g",
    "log_linear_scan",
    "lru",
    "lru_eigenvalues",
    "elu_plus_one",
    "mingru",
    "mingru_cell",
    "minlstm",
    "minlstm_cell",
    "mlstm",
    "s4d",
    "s4d_discretize",
    "s4d_kernel",
    "selective_scan",
    "selective_ssm",
    "slstm_cell",
]

SCAN_METHODS = ("parallel", "sequential", "loop")


# --------------------------------------------------------------------------------------------
# The scan
# --------------------------------------------------------------------------------------------
def combine(left: tuple[Array, Array], right: tuple[Array, Array]) -> tuple[Array, Array]:
    r"""Compose two steps of :math:`h \mapsto a h + b`: first ``left``, then ``right``. Each is a pair
    of arrays of one shape (``[batch, time, ...state]`` inside :func:`linear_scan`), combined elementwise.

    .. math:: (a_1, b_1) \bullet (a_2, b_2) = (a_1 a_2,\; a_2 b_1 + b_2)

    Associative (``(x • y) • z == x • (y • z)``), which is all ``jax.lax.associative_scan`` needs.
    """
    for name, pair in (("left", left), ("right", right)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"`{name}` must be a pair (a, b) of arrays; got {type(pair).__name__}")
    shapes = [shape_of(x) for x in (*left, *right)]
    if any(sh != shapes[0] for sh in shapes):
        raise ValueError(f"`left` and `right` must be pairs (a, b) of arrays of one shape; got shapes {shapes}")
    a1, b1 = left
    a2, b2 = right
    return a1 * a2, a2 * b1 + b2


def _check_ab(
    a: ArrayLike, b: ArrayLike, h0: ArrayLike | None, names: tuple[str, str, str] = ("a", "b", "h0")
) -> tuple[Array, Array]:
    na, nb, nh = names
    sa, sb = shape_of(a), shape_of(b)
    if sb is None or len(sb) < 2:
        raise ValueError(f"`{nb}` must have shape [batch, time, ...state]; got {sb}")
    if sa != sb:
        raise ValueError(f"`{na}` and `{nb}` must have the same shape [batch, time, ...state]; got {sa} and {sb}")
    if sb[0] == 0:
        raise ValueError(f"`{nb}` has an empty batch (its batch axis has size 0)")
    if sb[1] == 0:
        raise ValueError(f"`{nb}` is an empty sequence (its time axis has size 0)")
    if h0 is not None and shape_of(h0) != (sb[0], *sb[2:]):
        raise ValueError(f"`{nh}` must have shape [batch, ...state] = {[sb[0], *sb[2:]]}; got {shape_of(h0)}")
    return jnp.asarray(a), jnp.asarray(b)


def linear_scan(a: ArrayLike, b: ArrayLike, h0: ArrayLike | None = None, *, method: str = "parallel") -> Array:
    r"""All states of :math:`h_t = a_t \odot h_{t-1} + b_t`, ``t = 1..T``, from ``h_0`` (zero if None).

    ``a, b: [batch, time, ...state]`` (real or complex), ``h0: [batch, ...state]``. Returns
    ``h: [batch, time, ...state]``. ``method``: ``"parallel"`` (``jax.lax.associative_scan`` with
    :func:`combine`, ``O(log T)`` depth), ``"sequential"`` (``jax.lax.scan``, ``T`` steps) or
    ``"loop"`` (a Python loop over time: the definition, for tests only).
    """
    check_choice(method, SCAN_METHODS, "method")
    a, b = _check_ab(a, b, h0)
    if h0 is not None:
        b = b.at[:, 0].add(a[:, 0] * jnp.asarray(h0))  # fold h0 into the first step
    if method == "parallel":
        return jax.lax.associative_scan(combine, (a, b), axis=1)[1]
    if method == "sequential":

        def step(h, ab):
            h = ab[0] * h + ab[1]
            return h, h

        _, hs = jax.lax.scan(step, jnp.zeros_like(b[:, 0]), (jnp.swapaxes(a, 0, 1), jnp.swapaxes(b, 0, 1)))
        return jnp.swapaxes(hs, 0, 1)
    h, hs = jnp.zeros_like(b[:, 0]), []
    for t in range(b.shape[1]):
        h = a[:, t] * h + b[:, t]
        hs.append(h)
    return jnp.stack(hs, axis=1)


def log_linear_scan(log_a: ArrayLike, log_b: ArrayLike, log_h0: ArrayLike | None = None) -> Array:
    r""":func:`linear_scan` for positive ``a`` and ``b`` given by their logarithms (Heinsen 2023).

    With :math:`a^*_t = \sum_{s \le t} \log a_s`,

    .. math:: \log h_t = a^*_t + \log \sum_{s \le t} \exp(\log b_s - a^*_s),

    two cumulative sums (``jnp.cumsum`` and ``jax.lax.cumlogsumexp``) and no product of ``T``
    gates that could underflow to zero. ``log_a, log_b: [batch, time, ...state]``; returns ``h``
    (not its log).
    """
    log_a, log_b = _check_ab(log_a, log_b, log_h0, ("log_a", "log_b", "log_h0"))
    for name, arr in (("log_a", log_a), ("log_b", log_b)):
        check_dtype(arr, name, "float")  # real logarithms of positive values
    if log_h0 is not None:  # h0 enters as a step with a = 1 (log 0) before the first one
        log_a = jnp.concatenate([jnp.zeros_like(log_a[:, :1]), log_a], axis=1)
        log_b = jnp.concatenate([jnp.asarray(log_h0)[:, None], log_b], axis=1)
    a_star = jnp.cumsum(log_a, axis=1)
    log_h = a_star + jax.lax.cumlogsumexp(log_b - a_star, axis=1)
    h = jnp.exp(log_h)
    return h[:, 1:] if log_h0 is not None else h


# --------------------------------------------------------------------------------------------
# minGRU and minLSTM
# --------------------------------------------------------------------------------------------
def g(x: Array) -> Array:
    r"""minGRU's positive activation for the candidate state, elementwise on ``[..., hidden]``:
    :math:`x + 1/2` for :math:`x \ge 0`, :math:`\sigma(x)` below (continuous at 0, always > 0, so
    its log exists)."""
    return jnp.where(x >= 0, x + 0.5, jax.nn.sigmoid(x))


def log_g(x: Array) -> Array:
    """``log(g(x))`` elementwise (``[..., hidden]``), computed without forming ``g(x)`` where it is tiny."""
    return jnp.where(x >= 0, jnp.log(jax.nn.relu(x) + 0.5), -jax.nn.softplus(-x))


def _init_linear_gates(key: Key, input_size: int, hidden_size: int, gates: int, dtype: DTypeLike) -> Params:
    check_key(key)
    check_positive_int(input_size, "input_size")
    check_positive_int(hidden_size, "hidden_size")
    k1, k2 = jax.random.split(key)
    bound = 1.0 / math.sqrt(input_size)
    return {
        "W_x": jax.random.uniform(k1, (input_size, gates * hidden_size), dtype, -bound, bound),
        "b": jax.random.uniform(k2, (gates * hidden_size,), dtype, -bound, bound),
    }


def init_mingru(key: Key, input_size: int, hidden_size: int, dtype: DTypeLike = jnp.float32) -> Params:
    """minGRU parameters: ``W_x: [input, 2*hidden]`` (candidate, update gate z) and ``b: [2*hidden]``,
    drawn like ``torch.nn.Linear``: U(-1/sqrt(input), 1/sqrt(input)). No recurrent weights: that is the point."""
    return _init_linear_gates(key, input_size, hidden_size, 2, dtype)


def init_minlstm(key: Key, input_size: int, hidden_size: int, dtype: DTypeLike = jnp.float32) -> Params:
    """minLSTM parameters: ``W_x: [input, 3*hidden]`` (candidate, forget f, input i), ``b: [3*hidden]``."""
    return _init_linear_gates(key, input_size, hidden_size, 3, dtype)


def _min_params(params: Params, xs: Array, gates: int, name: str) -> int:
    if not isinstance(params, dict) or "W_x" not in params or "b" not in params or "W_h" in params:
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"`params` must be {name} parameters (W_x and b, init_{name}); got {got}")
    input_size, width = params["W_x"].shape
    if width % gates:
        raise ValueError(f"`params` are not {name}'s: W_x must be [input, {gates}*hidden], got {[input_size, width]}")
    check_dtype(xs, "xs", "float")
    return width // gates


def mingru_cell(params: Params, h: Array, x: Array) -> tuple[Array, Array]:
    r"""One minGRU step (Feng et al. 2024). ``h: [batch, hidden]``, ``x: [batch, input]``.

    .. math::
        z_t = \sigma(x_t W_{xz} + b_z), \quad \tilde h_t = g(x_t W_{xh} + b_h), \quad
        h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    The GRU's update with ``h_{t-1}`` removed from the gate and the candidate: a linear recurrence.
    """
    hidden = _min_params(params, x, 2, "mingru")
    check_shape(x, "x", batch=None, input=params["W_x"].shape[0])
    check_shape(h, "h", batch=x.shape[0], hidden=hidden)
    cand, zpre = jnp.split(x @ params["W_x"] + params["b"], 2, axis=-1)
    z = jax.nn.sigmoid(zpre)
    h = (1 - z) * h + z * g(cand)
    return h, h


def minlstm_cell(params: Params, h: Array, x: Array) -> tuple[Array, Array]:
    r"""One minLSTM step (Feng et al. 2024), ``h: [batch, hidden]``, ``x: [batch, input]``: forget and
    input gates normalised to sum to one,

    .. math::
        f'_t = \frac{f_t}{f_t + i_t}, \quad i'_t = \frac{i_t}{f_t + i_t}, \quad
        h_t = f'_t \odot h_{t-1} + i'_t \odot g(x_t W_{xh} + b_h)

    with :math:`f_t = \sigma(x_t W_{xf} + b_f)`, :math:`i_t = \sigma(x_t W_{xi} + b_i)`: the LSTM's
    cell update :math:`c_t = f_t c_{t-1} + i_t g_t` with every gate computed from :math:`x_t` only.
    """
    hidden = _min_params(params, x, 3, "minlstm")
    check_shape(x, "x", batch=None, input=params["W_x"].shape[0])
    check_shape(h, "h", batch=x.shape[0], hidden=hidden)
    a, b = _minlstm_ab(x @ params["W_x"] + params["b"])
    h = a * h + b
    return h, h


def _minlstm_ab(pre: Array) -> tuple[Array, Array]:
    cand, fpre, ipre = jnp.split(pre, 3, axis=-1)
    # f / (f + i) = sigmoid(log f - log i): computed from the log-gates, stable for any pre-activation
    diff = jax.nn.log_sigmoid(fpre) - jax.nn.log_sigmoid(ipre)
    return jax.nn.sigmoid(diff), jax.nn.sigmoid(-diff) * g(cand)


def _minlstm_log_ab(pre: Array) -> tuple[Array, Array]:
    cand, fpre, ipre = jnp.split(pre, 3, axis=-1)
    diff = jax.nn.log_sigmoid(fpre) - jax.nn.log_sigmoid(ipre)
    return jax.nn.log_sigmoid(diff), jax.nn.log_sigmoid(-diff) + log_g(cand)


def _whole_sequence(name, params, xs, h0, method, gates):
    check_choice(method, (*SCAN_METHODS, "log"), "method")
    hidden = _min_params(params, xs, gates, name)
    batch, _, _ = check_shape(xs, "xs", batch=None, time=None, input=params["W_x"].shape[0])
    if h0 is not None:
        check_shape(h0, "h0", batch=batch, hidden=hidden)
        if method == "log":
            _check_positive(h0, "h0", "method='log' takes its logarithm")
    return xs @ params["W_x"] + params["b"]


def _check_positive(x: ArrayLike, name: str, why: str) -> None:
    value = concrete(x)
    if value is None:
        traced_check(
            lambda: (jnp.all(x > 0), jnp.min(x)), f"`{name}` must be positive ({why}) (checked inside jit), got {{}}"
        )
    elif not np.all(value > 0):
        raise ValueError(f"`{name}` must be positive ({why}); got a minimum of {value.min()}")


def mingru(
    params: Params, xs: ArrayLike, h0: ArrayLike | None = None, *, method: str = "parallel", signed: bool = False
) -> Array:
    r"""All states ``h: [batch, time, hidden]`` of :func:`mingru_cell` over ``xs: [batch, time, input]``.

    ``method``: ``"parallel"`` / ``"sequential"`` / ``"loop"`` (:func:`linear_scan`) or ``"log"``
    (:func:`log_linear_scan`; ``h0`` must then be positive, as every state after a positive start is).
    ``signed=True``: the decay :math:`a_t = 1 - 2 z_t \in (-1, 1)` instead of :math:`1 - z_t \in (0, 1)`,
    the fix of Grazzi et al. (2024) that lets a diagonal linear RNN flip a sign (and so count parity).
    """
    xs = jnp.asarray(xs)
    pre = _whole_sequence("mingru", params, xs, h0, method, 2)
    cand, zpre = jnp.split(pre, 2, axis=-1)
    if signed:
        if method == "log":
            raise ValueError("method='log' needs positive decays; signed=True allows negative ones")
        z = jax.nn.sigmoid(zpre)
        return linear_scan(1 - 2 * z, z * g(cand), h0, method=method)
    if method == "log":
        log_h0 = None if h0 is None else jnp.log(jnp.asarray(h0))
        return log_linear_scan(-jax.nn.softplus(zpre), -jax.nn.softplus(-zpre) + log_g(cand), log_h0)
    z = jax.nn.sigmoid(zpre)
    return linear_scan(1 - z, z * g(cand), h0, method=method)


def minlstm(params: Params, xs: ArrayLike, h0: ArrayLike | None = None, *, method: str = "parallel") -> Array:
    """All states ``h: [batch, time, hidden]`` of :func:`minlstm_cell`; ``method`` as in :func:`mingru`."""
    xs = jnp.asarray(xs)
    pre = _whole_sequence("minlstm", params, xs, h0, method, 3)
    if method == "log":
        log_h0 = None if h0 is None else jnp.log(jnp.asarray(h0))
        return log_linear_scan(*_minlstm_log_ab(pre), log_h0)
    return linear_scan(*_minlstm_ab(pre), h0, method=method)


MINGRU = Cell(
    "mingru",
    lambda key, input_size, hidden_size, dtype=jnp.float32: init_mingru(key, input_size, hidden_size, dtype),
    mingru_cell,
    zeros_carry,
    lambda h: h,
    from_h=lambda h: h,
)
"""minGRU as a :class:`rnnbook.cells.Cell`: runs under :func:`rnnbook.cells.scan_cell` and
:class:`rnnbook.layers.Recurrent` like every other cell (sequentially); :func:`mingru` runs it in parallel."""

MINLSTM = Cell(
    "minlstm",
    lambda key, input_size, hidden_size, dtype=jnp.float32: init_minlstm(key, input_size, hidden_size, dtype),
    minlstm_cell,
    zeros_carry,
    lambda h: h,
    from_h=lambda h: h,
)
"""minLSTM as a :class:`rnnbook.cells.Cell` (see :data:`MINGRU`)."""


# --------------------------------------------------------------------------------------------
# LRU
# --------------------------------------------------------------------------------------------
def init_lru(
    key: Key,
    input_size: int,
    state_size: int,
    *,
    r_min: float = 0.0,
    r_max: float = 1.0,
    max_phase: float = 2 * math.pi,
    dtype: DTypeLike = jnp.float32,
) -> Params:
    r"""Linear Recurrent Unit parameters (Orvieto et al. 2023).

    Eigenvalues :math:`\lambda_n = \exp(-e^{\nu_n} + i e^{\theta_n})`, drawn uniformly on the ring
    :math:`r_{min} \le |\lambda| \le r_{max}` with phase in ``[0, max_phase]``; the normaliser
    :math:`\gamma_n = \sqrt{1 - |\lambda_n|^2}` (stored as ``gamma_log``); ``B`` (``B_re``, ``B_im``:
    ``[input, state]``), ``C`` (``C_re``, ``C_im``: ``[state, input]``) complex Glorot-like, ``D:
    [input]`` the skip connection.
    """
    check_key(key)
    check_positive_int(input_size, "input_size")
    check_positive_int(state_size, "state_size")
    if not 0.0 <= r_min < r_max <= 1.0:
        raise ValueError(f"the ring must satisfy 0 <= r_min < r_max <= 1; got r_min={r_min}, r_max={r_max}")
    if not max_phase > 0:
        raise ValueError(f"`max_phase` must be > 0 (phases are drawn in [0, max_phase]); got {max_phase}")
    k = jax.random.split(key, 7)
    u1 = jax.random.uniform(k[0], (state_size,), dtype)
    u2 = jax.random.uniform(k[1], (state_size,), dtype, minval=1e-6)
    nu_log = jnp.log(-0.5 * jnp.log(u1 * (r_max**2 - r_min**2) + r_min**2 + 1e-12))
    theta_log = jnp.log(max_phase * u2)
    lam_abs = jnp.exp(-jnp.exp(nu_log))
    normal = lambda kk, shape, scale: jax.random.normal(kk, shape, dtype) * scale
    return {
        "nu_log": nu_log,
        "theta_log": theta_log,
        "gamma_log": jnp.log(jnp.sqrt(1 - lam_abs**2)),
        "B_re": normal(k[2], (input_size, state_size), 1 / math.sqrt(2 * input_size)),
        "B_im": normal(k[3], (input_size, state_size), 1 / math.sqrt(2 * input_size)),
        "C_re": normal(k[4], (state_size, input_size), 1 / math.sqrt(state_size)),
        "C_im": normal(k[5], (state_size, input_size), 1 / math.sqrt(state_size)),
        "D": normal(k[6], (input_size,), 1.0),
    }


def lru_eigenvalues(params: Params) -> Array:
    r"""The LRU's diagonal state matrix :math:`\lambda = \exp(-e^{\nu} + i e^{\theta})`: complex ``[state]``."""
    if not isinstance(params, dict) or "nu_log" not in params:
        raise ValueError("`params` must be LRU parameters (init_lru)")
    return jnp.exp(-jnp.exp(params["nu_log"]) + 1j * jnp.exp(params["theta_log"]))


def lru(params: Params, u: ArrayLike, *, method: str = "parallel") -> Array:
    r"""The LRU over ``u: [batch, time, input]`` -> ``y: [batch, time, input]``:

    .. math::
        x_t = \lambda \odot x_{t-1} + \gamma \odot (B u_t), \qquad y_t = \mathrm{Re}(C x_t) + D \odot u_t

    ``method`` as in :func:`linear_scan` (the state is complex, ``[batch, time, state]``).
    """
    lam = lru_eigenvalues(params)
    u = jnp.asarray(u)
    check_shape(u, "u", batch=None, time=None, input=params["B_re"].shape[0])
    check_dtype(u, "u", "float")
    B = (params["B_re"] + 1j * params["B_im"]) * jnp.exp(params["gamma_log"])
    C = params["C_re"] + 1j * params["C_im"]
    bu = u.astype(B.dtype) @ B  # [batch, time, state]
    x = linear_scan(jnp.broadcast_to(lam, bu.shape), bu, method=method)
    return (x @ C).real + params["D"] * u


# --------------------------------------------------------------------------------------------
# S4D
# --------------------------------------------------------------------------------------------
def init_s4d(
    key: Key,
    channels: int,
    state_size: int,
    *,
    dt_min: float = 1e-3,
    dt_max: float = 1e-1,
    dtype: DTypeLike = jnp.float32,
) -> Params:
    r"""S4D-Lin parameters (Gu et al. 2022) for ``channels`` independent single-input channels.

    :math:`A_n = -\tfrac12 + i\pi n` (stored as ``A_log_re`` and ``A_im``: ``[channels, state]``),
    ``C`` complex (``C_re``, ``C_im``), ``B = 1`` folded into ``C``, step size
    :math:`\Delta \in [dt_{min}, dt_{max}]` log-uniform (``log_dt: [channels]``), ``D: [channels]``.
    """
    check_key(key)
    check_positive_int(channels, "channels")
    check_positive_int(state_size, "state_size")
    _check_dt_range(dt_min, dt_max)
    k1, k2, k3, k4 = jax.random.split(key, 4)
    log_dt = jax.random.uniform(k1, (channels,), dtype, math.log(dt_min), math.log(dt_max))
    return {
        "log_dt": log_dt,
        "A_log_re": jnp.full((channels, state_size), math.log(0.5), dtype),
        "A_im": jnp.broadcast_to(math.pi * jnp.arange(state_size, dtype=dtype), (channels, state_size)),
        "C_re": jax.random.normal(k2, (channels, state_size), dtype) * math.sqrt(0.5),
        "C_im": jax.random.normal(k3, (channels, state_size), dtype) * math.sqrt(0.5),
        "D": jax.random.normal(k4, (channels,), dtype),
    }


def _check_dt_range(dt_min: float, dt_max: float) -> None:
    if not 0 < dt_min <= dt_max:
        raise ValueError(f"the step range must satisfy 0 < dt_min <= dt_max; got dt_min={dt_min}, dt_max={dt_max}")


def s4d_discretize(params: Params) -> tuple[Array, Array]:
    r"""Zero-order hold: :math:`\bar A = e^{\Delta A}`, :math:`\bar B = (\bar A - 1) / A` (with ``B = 1``).
    Returns ``(A_bar, B_bar)``, complex ``[channels, state]``."""
    if not isinstance(params, dict) or "A_log_re" not in params:
        raise ValueError("`params` must be S4D parameters (init_s4d)")
    A = -jnp.exp(params["A_log_re"]) + 1j * params["A_im"]
    dtA = jnp.exp(params["log_dt"])[:, None] * A
    A_bar = jnp.exp(dtA)
    return A_bar, (A_bar - 1) / A


def s4d_kernel(params: Params, length: int) -> Array:
    r"""The S4D convolution kernel :math:`K_k = 2\,\mathrm{Re}\sum_n C_n \bar B_n \bar A_n^k`,
    ``k = 0..length-1``: ``[channels, length]`` (the factor 2 counts each eigenvalue's conjugate)."""
    check_positive_int(length, "length")
    A_bar, B_bar = s4d_discretize(params)
    C = params["C_re"] + 1j * params["C_im"]
    powers = jnp.exp(jnp.log(A_bar)[..., None] * jnp.arange(length))  # [channels, state, length]
    return 2 * jnp.einsum("hn,hnl->hl", C * B_bar, powers).real


def s4d(params: Params, u: ArrayLike, *, method: str = "convolution") -> Array:
    r"""S4D over ``u: [batch, time, channels]`` -> ``y: [batch, time, channels]``.

    .. math:: x_t = \bar A x_{t-1} + \bar B u_t, \qquad y_t = 2\,\mathrm{Re}(C x_t) + D u_t

    ``method="convolution"``: ``y = K * u + D u`` by FFT with :func:`s4d_kernel` (time-invariant
    weights make the whole recurrence one convolution); ``"parallel"``, ``"sequential"``, ``"loop"``:
    the recurrence by :func:`linear_scan`. All four agree.
    """
    check_choice(method, ("convolution", *SCAN_METHODS), "method")
    u = jnp.asarray(u)
    if not isinstance(params, dict) or "A_log_re" not in params:
        raise ValueError("`params` must be S4D parameters (init_s4d)")
    _, time, _ = check_shape(u, "u", batch=None, time=None, channels=params["D"].shape[0])
    check_dtype(u, "u", "float")
    if method == "convolution":
        K = s4d_kernel(params, time)
        n = 2 * time
        y = jnp.fft.irfft(jnp.fft.rfft(u, n=n, axis=1) * jnp.fft.rfft(K.T, n=n, axis=0), n=n, axis=1)[:, :time]
        return y + params["D"] * u
    A_bar, B_bar = s4d_discretize(params)
    bu = B_bar * u[..., None].astype(B_bar.dtype)  # [batch, time, channels, state]
    x = linear_scan(jnp.broadcast_to(A_bar, bu.shape), bu, method=method)
    C = params["C_re"] + 1j * params["C_im"]
    return 2 * jnp.einsum("hn,bthn->bth", C, x).real + params["D"] * u


# --------------------------------------------------------------------------------------------
# Selective state-space model (Mamba's S6)
# --------------------------------------------------------------------------------------------
def selective_scan(
    x: ArrayLike, delta: ArrayLike, A: ArrayLike, B: ArrayLike, C: ArrayLike, D: ArrayLike, *, method: str = "parallel"
) -> Array:
    r"""The selective scan of Mamba (Gu & Dao 2023), zero-order hold on ``A``, Euler on ``B``:

    .. math::
        h_t = \exp(\Delta_t A) \odot h_{t-1} + \Delta_t B_t x_t, \qquad y_t = C_t h_t + D x_t

    ``x, delta: [batch, time, channels]``, ``A: [channels, state]`` (negative), ``B, C: [batch, time,
    state]``, ``D: [channels]`` -> ``y: [batch, time, channels]``. The state is ``[channels, state]``
    per sequence; ``method`` as in :func:`linear_scan`.
    """
    x, delta, A, B, C, D = map(jnp.asarray, (x, delta, A, B, C, D))
    batch, time, channels = check_shape(x, "x", batch=None, time=None, channels=None)
    check_shape(delta, "delta", batch=batch, time=time, channels=channels)
    state = check_shape(A, "A", channels=channels, state=None)[1]
    check_shape(B, "B", batch=batch, time=time, state=state)
    check_shape(C, "C", batch=batch, time=time, state=state)
    check_shape(D, "D", channels=channels)
    for name, arr in (("x", x), ("delta", delta)):
        check_dtype(arr, name, "float")
    a = jnp.exp(delta[..., None] * A)  # [batch, time, channels, state]
    b = (delta * x)[..., None] * B[:, :, None, :]
    h = linear_scan(a, b, method=method)
    return jnp.einsum("btcn,btn->btc", h, C) + D * x


def init_selective_ssm(
    key: Key,
    channels: int,
    state_size: int,
    *,
    selective: bool = True,
    dt_min: float = 1e-3,
    dt_max: float = 1e-1,
    dtype: DTypeLike = jnp.float32,
) -> Params:
    r"""Parameters of :func:`selective_ssm`: ``A_log: [channels, state]`` with :math:`A = -e^{A_{log}}`
    initialised to :math:`-(1, 2, \dots, N)` (S4D-Real), ``D: [channels]``, and

    * ``selective=True``: ``W_dt: [channels, channels]``, ``b_dt: [channels]`` (softplus-inverse of a
      log-uniform step in ``[dt_min, dt_max]``), ``W_B, W_C: [channels, state]``: step and projections
      computed from each input;
    * ``selective=False``: ``b_dt``, ``B, C: [state]`` fixed: the same model made time-invariant
      (an S4D-Real layer with a shared ``B`` and ``C``), the ablation of the selective-copy experiment.
    """
    check_key(key)
    check_positive_int(channels, "channels")
    check_positive_int(state_size, "state_size")
    _check_dt_range(dt_min, dt_max)
    k = jax.random.split(key, 4)
    dt = jnp.exp(jax.random.uniform(k[0], (channels,), dtype, math.log(dt_min), math.log(dt_max)))
    params = {
        "A_log": jnp.log(jnp.broadcast_to(jnp.arange(1, state_size + 1, dtype=dtype), (channels, state_size))),
        "D": jnp.ones((channels,), dtype),
        "b_dt": dt + jnp.log(-jnp.expm1(-dt)),  # softplus^{-1}(dt)
    }
    s = 1 / math.sqrt(channels)
    if selective:
        params["W_dt"] = jax.random.uniform(k[1], (channels, channels), dtype, -s, s)
        params["W_B"] = jax.random.uniform(k[2], (channels, state_size), dtype, -s, s)
        params["W_C"] = jax.random.uniform(k[3], (channels, state_size), dtype, -s, s)
    else:
        params["B"] = jax.random.uniform(k[2], (state_size,), dtype, -1, 1)
        params["C"] = jax.random.uniform(k[3], (state_size,), dtype, -1, 1)
    return params


def selective_ssm(params: Params, x: ArrayLike, *, method: str = "parallel") -> Array:
    r"""A selective SSM over ``x: [batch, time, channels]`` -> ``y: [batch, time, channels]``:
    :math:`\Delta_t = \mathrm{softplus}(x_t W_{dt} + b_{dt})`, :math:`B_t = x_t W_B`, :math:`C_t = x_t W_C`,
    then :func:`selective_scan`. With time-invariant parameters (``init_selective_ssm(selective=False)``)
    :math:`\Delta`, ``B`` and ``C`` are the same at every step."""
    if not isinstance(params, dict) or "A_log" not in params:
        raise ValueError("`params` must be selective-SSM parameters (init_selective_ssm)")
    x = jnp.asarray(x)
    batch, time, _ = check_shape(x, "x", batch=None, time=None, channels=params["A_log"].shape[0])
    check_dtype(x, "x", "float")
    A = -jnp.exp(params["A_log"])
    if "W_B" in params:
        delta = jax.nn.softplus(x @ params["W_dt"] + params["b_dt"])
        B, C = x @ params["W_B"], x @ params["W_C"]
    else:
        delta = jnp.broadcast_to(jax.nn.softplus(params["b_dt"]), x.shape)
        B = jnp.broadcast_to(params["B"], (batch, time, A.shape[1]))
        C = jnp.broadcast_to(params["C"], (batch, time, A.shape[1]))
    return selective_scan(x, delta, A, B, C, params["D"], method=method)


# --------------------------------------------------------------------------------------------
# Linear attention and the xLSTM
# --------------------------------------------------------------------------------------------
def elu_plus_one(x: Array) -> Array:
    r"""The feature map of Katharopoulos et al. (2020): :math:`\phi(x) = \mathrm{elu}(x) + 1 > 0`,
    elementwise (``[..., d]`` in, the same shape out)."""
    return jax.nn.elu(x) + 1


def _check_qkv(q, k, v):
    q, k, v = map(jnp.asarray, (q, k, v))
    batch, time, dk = check_shape(q, "q", batch=None, time=None, d_k=None)
    check_shape(k, "k", batch=batch, time=time, d_k=dk)
    check_shape(v, "v", batch=batch, time=time, d_v=None)
    for name, arr in (("q", q), ("k", k), ("v", v)):
        check_dtype(arr, name, "float")
    return q, k, v


def linear_attention(
    q: ArrayLike,
    k: ArrayLike,
    v: ArrayLike,
    *,
    method: str = "parallel",
    feature_map: Callable[[Array], Array] = elu_plus_one,
    eps: float = 1e-6,
) -> Array:
    r"""Causal linear attention (Katharopoulos et al. 2020). ``q, k: [batch, time, d_k]``, ``v: [batch,
    time, d_v]`` -> ``[batch, time, d_v]``:

    .. math::
        y_t = \frac{\phi(q_t)^\top S_t}{\phi(q_t)^\top z_t + \epsilon}, \quad
        S_t = S_{t-1} + \phi(k_t) v_t^\top, \quad z_t = z_{t-1} + \phi(k_t)

    ``method="parallel"``: as attention, the masked ``[time, time]`` matrix
    :math:`(\phi(Q)\phi(K)^\top) \odot M` times ``V``; ``"recurrent"``: as an RNN whose state
    ``(S, z)`` is ``[d_k, d_v] + [d_k]`` numbers, whatever the length.
    """
    check_choice(method, ("parallel", "recurrent"), "method")
    q, k, v = _check_qkv(q, k, v)
    if not callable(feature_map):
        raise TypeError(f"`feature_map` must be a function of an array, got {type(feature_map).__name__}")
    fq, fk = feature_map(q), feature_map(k)
    batch, time, _ = q.shape
    features = check_shape(fq, "feature_map(q)", batch=batch, time=time, features=None)[2]
    check_shape(fk, "feature_map(k)", batch=batch, time=time, features=features)
    if method == "parallel":
        time = q.shape[1]
        scores = jnp.einsum("btd,bsd->bts", fq, fk) * jnp.tril(jnp.ones((time, time), fq.dtype))
        return scores @ v / (scores.sum(-1, keepdims=True) + eps)

    def step(state, inp):
        S, z = state
        fq_t, fk_t, v_t = inp
        S = S + fk_t[:, :, None] * v_t[:, None, :]
        z = z + fk_t
        y = jnp.einsum("bd,bde->be", fq_t, S) / (jnp.sum(fq_t * z, -1, keepdims=True) + eps)
        return (S, z), y

    batch, _, dk = q.shape
    S0 = jnp.zeros((batch, dk, v.shape[-1]), fq.dtype)
    t = lambda a: jnp.swapaxes(a, 0, 1)
    _, ys = jax.lax.scan(step, (S0, jnp.zeros((batch, dk), fq.dtype)), (t(fq), t(fk), t(v)))
    return t(ys)


def mlstm(
    q: ArrayLike,
    k: ArrayLike,
    v: ArrayLike,
    i_pre: ArrayLike,
    f_pre: ArrayLike,
    *,
    method: str = "parallel",
    eps: float = 1e-6,
) -> Array:
    r"""The mLSTM's matrix memory (Beck et al. 2024), one head. ``q, k, v: [batch, time, d]``, gate
    pre-activations ``i_pre, f_pre: [batch, time]`` -> ``h: [batch, time, d]``:

    .. math::
        C_t = f_t C_{t-1} + i_t\, v_t k_t^\top, \quad n_t = f_t n_{t-1} + i_t k_t, \quad
        h_t = \frac{C_t q_t}{\max(|n_t^\top q_t|, 1)}

    with :math:`i_t = e^{\tilde\imath_t}` (exponential input gate), :math:`f_t = \sigma(\tilde f_t)`
    and ``k`` scaled by :math:`1/\sqrt d`. The exponential gate would overflow; the stabiliser
    :math:`m_t = \max(\log f_t + m_{t-1}, \tilde\imath_t)` rescales ``C`` and ``n`` by
    :math:`e^{-m_t}` and the bound 1 by the same factor, which leaves ``h`` unchanged.
    ``method="recurrent"``: the scan over ``(C, n, m)``; ``"parallel"``: the ``[time, time]`` matrix of
    gate products, stabilised by its row maximum (the two forms agree).
    """
    check_choice(method, ("parallel", "recurrent"), "method")
    q, k, v = _check_qkv(q, k, v)
    batch, time, d = q.shape
    i_pre, f_pre = jnp.asarray(i_pre), jnp.asarray(f_pre)
    check_shape(i_pre, "i_pre", batch=batch, time=time)
    check_shape(f_pre, "f_pre", batch=batch, time=time)
    k = k / math.sqrt(d)
    log_f = jax.nn.log_sigmoid(f_pre)
    if method == "parallel":
        cum = jnp.cumsum(log_f, axis=1)
        log_D = cum[:, :, None] - cum[:, None, :] + i_pre[:, None, :]  # [batch, t, s]
        causal = jnp.tril(jnp.ones((time, time), bool))
        log_D = jnp.where(causal, log_D, -jnp.inf)
        m = jnp.max(log_D, axis=-1, keepdims=True)
        Cmat = jnp.einsum("btd,bsd->bts", q, k) * jnp.exp(log_D - m)
        norm = jnp.maximum(jnp.abs(Cmat.sum(-1, keepdims=True)), jnp.exp(-m))
        return (Cmat / (norm + eps)) @ v

    def step(state, inp):
        C, n, m = state
        q_t, k_t, v_t, i_t, lf_t = inp
        m_new = jnp.maximum(lf_t + m, i_t)
        f = jnp.exp(lf_t + m - m_new)[:, None]
        i = jnp.exp(i_t - m_new)[:, None]
        C = f[..., None] * C + i[..., None] * k_t[:, :, None] * v_t[:, None, :]  # [batch, d_k, d_v]
        n = f * n + i * k_t
        num = jnp.einsum("bd,bde->be", q_t, C)
        den = jnp.maximum(jnp.abs(jnp.sum(q_t * n, -1, keepdims=True)), jnp.exp(-m_new)[:, None])
        return (C, n, m_new), num / (den + eps)

    t = lambda a: jnp.swapaxes(a, 0, 1)
    state0 = (jnp.zeros((batch, d, v.shape[-1]), q.dtype), jnp.zeros((batch, d), q.dtype), jnp.zeros((batch,), q.dtype))
    _, hs = jax.lax.scan(step, state0, (t(q), t(k), t(v), t(i_pre), t(log_f)))
    return t(hs)


def init_slstm(key: Key, input_size: int, hidden_size: int, dtype: DTypeLike = jnp.float32) -> Params:
    """sLSTM parameters, gates in the order (input i, forget f, cell input z, output o): ``W_x:
    [input, 4*hidden]``, ``W_h: [hidden, 4*hidden]`` (one head: a full recurrent matrix), ``b: [4*hidden]``."""
    check_key(key)
    check_positive_int(input_size, "input_size")
    check_positive_int(hidden_size, "hidden_size")
    k1, k2, k3 = jax.random.split(key, 3)
    bound = 1.0 / math.sqrt(hidden_size)
    u = lambda kk, shape: jax.random.uniform(kk, shape, dtype, -bound, bound)
    return {
        "W_x": u(k1, (input_size, 4 * hidden_size)),
        "W_h": u(k2, (hidden_size, 4 * hidden_size)),
        "b": u(k3, (4 * hidden_size,)),
    }


def slstm_cell(params: Params, carry: tuple, x: Array) -> tuple[tuple, Array]:
    r"""One sLSTM step (Beck et al. 2024). ``carry = (h, c, n, m)``, each ``[batch, hidden]``:

    .. math::
        m_t &= \max(\log\sigma(\tilde f_t) + m_{t-1},\ \tilde\imath_t) \quad (m_1 = \tilde\imath_1) \\
        i_t &= e^{\tilde\imath_t - m_t}, \quad f_t = e^{\log\sigma(\tilde f_t) + m_{t-1} - m_t} \\
        c_t &= f_t c_{t-1} + i_t \tanh(\tilde z_t), \quad n_t = f_t n_{t-1} + i_t, \quad
        h_t = \sigma(\tilde o_t) \odot c_t / n_t

    where :math:`[\tilde\imath, \tilde f, \tilde z, \tilde o] = x_t W_x + h_{t-1} W_h + b`. An
    exponential input gate can *revise* a stored value (a large new :math:`i_t` outweighs the old
    ``c``); the normaliser ``n`` keeps ``h`` bounded and the stabiliser ``m`` keeps ``exp`` finite.
    """
    if not isinstance(carry, (tuple, list)) or len(carry) != 4:
        got = f"{len(carry)} arrays" if isinstance(carry, (tuple, list)) else type(carry).__name__
        raise ValueError(f"`carry` must be the sLSTM's (h, c, n, m), four [batch, hidden] arrays; got {got}")
    h, c, n, m = carry
    check_cell_step(params, h, x, c)
    check_shape(n, "n", batch=h.shape[0], hidden=h.shape[1])
    check_shape(m, "m", batch=h.shape[0], hidden=h.shape[1])
    ipre, fpre, zpre, opre = jnp.split(x @ params["W_x"] + h @ params["W_h"] + params["b"], 4, axis=-1)
    log_f_m = jax.nn.log_sigmoid(fpre) + m
    m_new = jnp.where(n == 0, ipre, jnp.maximum(ipre, log_f_m))
    i, f = jnp.exp(ipre - m_new), jnp.exp(log_f_m - m_new)
    c = f * c + i * jnp.tanh(zpre)
    n = f * n + i
    h = jax.nn.sigmoid(opre) * c / n
    return (h, c, n, m_new), h


def _slstm_zero(batch: int, hidden_size: int, dtype: DTypeLike = jnp.float32):
    z = zeros_carry(batch, hidden_size, dtype)
    return (z, z, z, z)


SLSTM = Cell(
    "slstm",
    lambda key, input_size, hidden_size, dtype=jnp.float32: init_slstm(key, input_size, hidden_size, dtype),
    slstm_cell,
    _slstm_zero,
    lambda carry: carry[0],
    from_h=lambda h: (h, jnp.zeros_like(h), jnp.zeros_like(h), jnp.zeros_like(h)),
)
"""The sLSTM as a :class:`rnnbook.cells.Cell`: a classic (nonlinear) recurrence, run by ``scan_cell``."""


# --------------------------------------------------------------------------------------------
# A model to train
# --------------------------------------------------------------------------------------------
def _as_params(p: Params) -> dict:
    return _compat.Dict({k: nnx.Param(v) for k, v in p.items()})


def _plain(d: dict) -> Params:
    return {k: v[...] for k, v in d.items()}


class _Mixer(nnx.Module):
    """One sequence mixer ``[batch, time, width] -> [batch, time, width]`` of :data:`MIXERS`."""

    def __init__(self, kind: str, width: int, state_size: int, *, rngs: nnx.Rngs, lru_r_min: float, method: str):
        self.kind, self.method = kind, method
        key = rngs.params()
        if kind in ("mingru", "mingru_signed", "minlstm"):
            init = init_minlstm if kind == "minlstm" else init_mingru
            self.p = _as_params(init(key, width, width))
        elif kind == "lru":
            self.p = _as_params(init_lru(key, width, state_size, r_min=lru_r_min))
        elif kind == "s4d":
            self.p = _as_params(init_s4d(key, width, state_size))
        elif kind in ("selective", "lti"):
            self.p = _as_params(init_selective_ssm(key, width, state_size, selective=kind == "selective"))
        elif kind == "linear_attention":
            self.qkv = nnx.Linear(width, 3 * width, rngs=rngs)
        elif kind == "attention":
            self.mha = nnx.MultiHeadAttention(
                num_heads=1, in_features=width, decode=False, rngs=rngs, deterministic=True
            )
        elif kind in ("lstm", "rnn", "gru"):
            from .layers import Recurrent

            self.rnn = Recurrent(kind, width, width, rngs=rngs, **({"forget_bias": 1.0} if kind == "lstm" else {}))

    def __call__(self, x: Array) -> Array:
        kind = self.kind
        if kind in ("mingru", "mingru_signed"):
            return mingru(_plain(self.p), x, method=self.method, signed=kind == "mingru_signed")
        if kind == "minlstm":
            return minlstm(_plain(self.p), x, method=self.method)
        if kind == "lru":
            return lru(_plain(self.p), x, method=self.method)
        if kind == "s4d":
            return s4d(_plain(self.p), x)
        if kind in ("selective", "lti"):
            return selective_ssm(_plain(self.p), x, method=self.method)
        if kind == "linear_attention":
            q, k, v = jnp.split(self.qkv(x), 3, axis=-1)
            return linear_attention(q, k, v)
        if kind == "attention":
            time = x.shape[1]
            return self.mha(x, mask=jnp.tril(jnp.ones((1, 1, time, time), bool)))
        return self.rnn(x)[1]


MIXERS = (
    "mingru",
    "mingru_signed",
    "minlstm",
    "lru",
    "s4d",
    "selective",
    "lti",
    "linear_attention",
    "attention",
    "lstm",
    "gru",
    "rnn",
)
"""The sequence mixers :class:`SequenceModel` can stack: the chapter's linear recurrences and SSMs,
causal (linear) attention, and the classic cells of :data:`rnnbook.layers.CELLS` for comparison."""


class SequenceModel(nnx.Module):
    """Embedding (or a linear map of real inputs), ``num_layers`` residual blocks, a linear read-out.

    Block: ``x + W_o(mixer(LayerNorm(x)))`` then ``x + MLP(LayerNorm(x))`` (a GELU MLP of width
    ``2 * width``), the pre-norm residual block of Chapter 7 with the attention swapped for a mixer
    of :data:`MIXERS`. ``vocab_size`` (token inputs ``[batch, time]`` ints) or ``input_size`` (real
    inputs ``[batch, time, input]``), one of the two. Output ``[batch, time, output_size]``.
    ``state_size``: the state per channel of the SSMs (LRU: the number of complex eigenvalues).
    ``lru_r_min``: the LRU's ring's inner radius; ``method``: the scan of the linear recurrences.
    """

    def __init__(
        self,
        mixer: str,
        *,
        width: int,
        output_size: int,
        vocab_size: int | None = None,
        input_size: int | None = None,
        num_layers: int = 2,
        state_size: int = 16,
        mlp: bool = True,
        lru_r_min: float = 0.0,
        method: str = "parallel",
        rngs: nnx.Rngs,
    ):
        check_choice(mixer, MIXERS, "mixer")
        check_choice(method, SCAN_METHODS, "method")
        for name, val in (
            ("width", width),
            ("output_size", output_size),
            ("num_layers", num_layers),
            ("state_size", state_size),
        ):
            check_positive_int(val, name)
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give exactly one of vocab_size (token inputs) and input_size (real inputs)")
        self.vocab_size, self.input_size, self.mixer = vocab_size, input_size, mixer
        if vocab_size is not None:
            check_positive_int(vocab_size, "vocab_size")
            self.embed = nnx.Embed(vocab_size, width, rngs=rngs)
        else:
            check_positive_int(input_size, "input_size")
            self.embed = nnx.Linear(input_size, width, rngs=rngs)
        self.norms = _compat.List([nnx.LayerNorm(width, rngs=rngs) for _ in range(num_layers)])
        self.mixers = _compat.List(
            [_Mixer(mixer, width, state_size, rngs=rngs, lru_r_min=lru_r_min, method=method) for _ in range(num_layers)]
        )
        self.projs = _compat.List([nnx.Linear(width, width, rngs=rngs) for _ in range(num_layers)])
        self.mlp = mlp
        if mlp:
            self.norms2 = _compat.List([nnx.LayerNorm(width, rngs=rngs) for _ in range(num_layers)])
            self.ups = _compat.List([nnx.Linear(width, 2 * width, rngs=rngs) for _ in range(num_layers)])
            self.downs = _compat.List([nnx.Linear(2 * width, width, rngs=rngs) for _ in range(num_layers)])
        self.final_norm = nnx.LayerNorm(width, rngs=rngs)
        self.out = nnx.Linear(width, output_size, rngs=rngs)

    def __call__(self, x: ArrayLike) -> Array:
        """``[batch, time]`` token ids or ``[batch, time, input]`` reals -> ``[batch, time, output_size]``."""
        if self.vocab_size is not None:
            x = jnp.asarray(x)
            check_shape(x, "x", batch=None, time=None)
            check_token_ids(x, self.vocab_size, "x")
            h = self.embed(x)
        else:
            check_shape(x, "x", batch=None, time=None, input=self.input_size)
            h = self.embed(jnp.asarray(x))
        for i in range(len(self.mixers)):
            h = h + self.projs[i](self.mixers[i](self.norms[i](h)))
            if self.mlp:
                h = h + self.downs[i](jax.nn.gelu(self.ups[i](self.norms2[i](h))))
        return self.out(self.final_norm(h))

    def num_params(self) -> int:
        """The number of trainable scalars."""
        return sum(int(v.size) for v in jax.tree_util.tree_leaves(nnx.state(self, nnx.Param)))
