"""The cell contract: what every recurrent cell of rnnbook is, on one page.

A recurrent model is a *cell*, one step of computation, driven over time by :func:`scan_cell`.
Every cell of the package (Elman, LSTM in its three variants, GRU in both conventions, and the
Neural Turing Machine) is a :class:`Cell`, a small record of four pure functions:

* ``cell.init(key, input_size, hidden_size, **options) -> params``: a dict of arrays. Unknown
  options are rejected with a ``ValueError`` that names them (``cell.options`` lists the known ones).
* ``cell.initial_carry(batch, hidden_size, dtype) -> carry``: the zero state of ``batch`` sequences,
  an array ``h: [batch, hidden]`` or a tuple / dict of arrays (the LSTM's ``(h, c)``).
* ``cell(params, carry, x) -> (carry, y)``: one step, ``x: [batch, input]``. The new carry comes
  first, then the step's output, as in ``jax.lax.scan`` and Flax's ``nnx.RNN``.
* ``cell.hidden(carry) -> h: [batch, hidden]``: the state ``h`` read from any carry, so no caller
  needs to know whether a carry is a tuple; ``cell.carry_from_hidden(h)`` is the other way, the
  carry whose ``h`` is given and whose other parts (the LSTM's ``c``) are zero.

Every scan and layer returns in the same order as the cell: ``(final carry, outputs)``.

**One weight-naming scheme**, ``x`` for the input side and ``h`` for the recurrent side, gates
packed in PyTorch's order along the last axis, matrices stored ``[in, out]`` (inputs multiply from
the left, ``x @ W_x``):

=========  ==========================  ========================================================
name       shape                       PyTorch (``torch.nn.RNN`` / ``LSTM`` / ``GRU``, layer 0)
=========  ==========================  ========================================================
``W_x``    ``[input, gates*hidden]``   ``weight_ih_l0.T``
``W_h``    ``[hidden, gates*hidden]``  ``weight_hh_l0.T``
``b``      ``[gates*hidden]``          ``bias_ih_l0 + bias_hh_l0`` (Elman, LSTM); ``bias_ih_l0`` (GRU)
``b_h``    ``[3*hidden]`` (GRU only)   ``bias_hh_l0``: the GRU's reset gate multiplies ``h W_hn + b_hn``,
                                       so its recurrent bias cannot be folded into ``b``
``p_i``... ``[hidden]`` (peepholes)    none (``torch.nn.LSTM`` has no peepholes)
=========  ==========================  ========================================================

with ``gates`` = 1 (Elman), 4 (LSTM: i, f, g, o), 3 (1997 LSTM: i, g, o; GRU: r, z, n).

The variant of a cell is explicit: a different :class:`Cell` (``lstm.LSTM``, ``lstm.LSTM_1997``,
``lstm.PEEPHOLE_LSTM``, ``gru.GRU``, ``gru.GRU_CHO2014``), never inferred from parameter shapes.
``layers.CELLS`` maps their names to them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._checks import check_lengths, check_positive_int, check_shape
from ._types import Array, ArrayLike, Carry, DTypeLike, Key, Params

__all__ = ["Cell", "scan_cell", "zeros_carry", "zeros_pair_carry"]


@dataclasses.dataclass(frozen=True)
class Cell:
    """A recurrent cell: ``init``, ``initial_carry``, the step (``__call__``) and ``hidden``.

    Built from plain functions: ``init_fn(key, input_size, hidden_size, *, dtype, **options)``,
    ``step(params, carry, x) -> (carry, y)``, ``zero_carry(batch, hidden_size, dtype, **carry_options)``
    ``read_h(carry) -> h`` and (optional) ``from_h(h) -> carry``. ``options`` and ``carry_options``
    name the keyword options that ``init`` and ``initial_carry`` accept (besides ``dtype``).
    """

    name: str
    init_fn: Callable[..., Params]
    step: Callable[[Params, Carry, Array], tuple[Carry, Any]]
    zero_carry: Callable[..., Carry]
    read_h: Callable[[Carry], Array]
    options: tuple[str, ...] = ()
    carry_options: tuple[str, ...] = ()
    from_h: Callable[[Array], Carry] | None = None

    def init(self, key: Key, input_size: int, hidden_size: int, **options: Any) -> Params:
        """The cell's parameters (a dict of arrays, named as in the module docstring, e.g.
        ``W_x: [input, gates*hidden]``). Unknown options raise a ``ValueError`` naming them."""
        _check_options(self.name, "init", options, self.options)
        check_positive_int(input_size, "input_size")
        check_positive_int(hidden_size, "hidden_size")
        return self.init_fn(key, input_size, hidden_size, **options)

    def initial_carry(self, batch: int, hidden_size: int, dtype: DTypeLike = jnp.float32, **options: Any) -> Carry:
        """The zero carry of ``batch`` sequences: arrays of shape ``[batch, hidden]`` (and, for the
        NTM, its memory ``[batch, slots, width]``)."""
        _check_options(self.name, "initial_carry", options, self.carry_options)
        check_positive_int(batch, "batch")
        check_positive_int(hidden_size, "hidden_size")
        return self.zero_carry(batch, hidden_size, dtype, **options)

    def hidden(self, carry: Carry) -> Array:
        """The state ``h: [batch, hidden]`` held in ``carry``."""
        return self.read_h(carry)

    def carry_from_hidden(self, h: Array) -> Carry:
        """The carry whose state is ``h: [batch, hidden]`` and whose other parts are zero (e.g. a
        decoder started from an encoder's summary)."""
        if self.from_h is None:
            raise ValueError(f"the {self.name} cell's carry cannot be built from h alone")
        check_shape(h, "h", batch=None, hidden=None)
        return self.from_h(h)

    def __call__(self, params: Params, carry: Carry, x: Array) -> tuple[Carry, Any]:
        """One step: ``x: [batch, input]`` -> ``(new carry, y)``; ``y: [batch, hidden]`` for the RNN cells."""
        return self.step(params, carry, x)

    def __repr__(self) -> str:
        return f"Cell({self.name!r})"


def _check_options(name: str, where: str, given: dict, known: tuple[str, ...]) -> None:
    unknown = sorted(set(given) - set(known) - {"dtype"})
    if unknown:
        accepted = ", ".join(sorted(set(known) | {"dtype"}))
        raise ValueError(
            f"unknown option(s) for the {name} cell's {where}: {', '.join(unknown)} (it takes: {accepted})"
        )


def zeros_carry(batch: int, hidden_size: int, dtype: DTypeLike = jnp.float32) -> Array:
    """The zero state of a cell whose carry is ``h`` alone: ``[batch, hidden]``."""
    check_positive_int(batch, "batch")
    check_positive_int(hidden_size, "hidden_size")
    return jnp.zeros((batch, hidden_size), dtype)


def zeros_pair_carry(batch: int, hidden_size: int, dtype: DTypeLike = jnp.float32) -> tuple[Array, Array]:
    """The zero state of a cell whose carry is ``(h, c)``: two ``[batch, hidden]`` arrays."""
    check_positive_int(batch, "batch")
    check_positive_int(hidden_size, "hidden_size")
    return (jnp.zeros((batch, hidden_size), dtype), jnp.zeros((batch, hidden_size), dtype))


def scan_cell(
    cell: Callable, params: Params, xs: Array, carry0: Carry, lengths: ArrayLike | None = None
) -> tuple[Carry, Array]:
    """Run ``cell`` over the time axis of ``xs: [batch, time, features]`` with ``lax.scan``.

    ``lengths: [batch]`` (optional) marks steps ``t >= lengths[b]`` as padding: there the carry
    is left unchanged and the output is zero, so the final carry is the state after each
    sequence's own last real step. Returns ``(final carry, ys: [batch, time, out])``: the cell's
    own order (``ys`` has the structure of the step's output, e.g. the NTM's tuple of three arrays).
    Shapes are checked (``xs`` rank 3, ``lengths [batch]`` integers); the values of ``lengths``
    (in ``[1, time]``) only outside ``jit``, the cell checks ``x`` against its weights.
    """
    if not callable(cell):
        raise TypeError(f"`cell` must be a cell (callable as cell(params, carry, x)), got {type(cell).__name__}")
    batch, time, _ = check_shape(xs, "xs", batch=None, time=None, features=None)
    if lengths is not None:
        lengths = jnp.asarray(lengths)
        check_lengths(lengths, batch, time)
    xs_t = jnp.swapaxes(xs, 0, 1)  # [time, batch, features]: scan walks the leading axis
    if lengths is None:

        def step(carry, x):
            return cell(params, carry, x)

        carry, ys = jax.lax.scan(step, carry0, xs_t)
    else:
        valid = jnp.arange(xs.shape[1])[:, None] < lengths[None, :]  # [time, batch]

        def step(carry, inp):
            x, ok = inp
            new_carry, y = cell(params, carry, x)
            keep = lambda new, old: jnp.where(ok.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
            carry = jax.tree_util.tree_map(keep, new_carry, carry)
            return carry, jax.tree_util.tree_map(lambda a: keep(a, jnp.zeros_like(a)), y)

        carry, ys = jax.lax.scan(step, carry0, (xs_t, valid))
    return carry, jax.tree_util.tree_map(lambda a: jnp.swapaxes(a, 0, 1), ys)


def _valid_steps(xs: Array, lengths: ArrayLike | None) -> Array:
    """``[time, batch, 1]`` in ``xs``'s dtype: 1 at real steps, 0 at padding (``t >= lengths[b]``), for
    the hand-written layers (:func:`rnnbook.lstm.lstm_scan_fused`, :func:`rnnbook.gru.gru_scan_fused`)."""
    batch, time = xs.shape[0], xs.shape[1]
    if lengths is None:
        return jnp.ones((time, batch, 1), xs.dtype)
    lengths = jnp.asarray(lengths)
    check_lengths(lengths, batch, time)
    return (jnp.arange(time)[:, None] < lengths[None, :]).astype(xs.dtype)[..., None]
