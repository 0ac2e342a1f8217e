"""Recurrent layers over any cell: stacked, bidirectional, with a zero or a learned initial state,
and a one-step API for online inference.

``Recurrent("lstm" | "gru" | "rnn" | ..., input_size, hidden_size, num_layers=..., bidirectional=...)``
follows ``torch.nn.LSTM`` / ``torch.nn.GRU`` / ``torch.nn.RNN`` with ``batch_first=True``, but
returns in the order of every scan of the package (the cell's and Flax's ``nnx.RNN``'s):
``(final carries, ys)``. The output ``ys`` is ``[batch, time, hidden * directions]`` and the final
carries are listed per layer and direction (layer-major, forward before backward), each the state
after that direction's last *real* step. Any cell of :data:`CELLS` (the cell contract of
:mod:`rnnbook.cells`) can be used.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from . import _compat
from ._checks import check_dtype, check_int_range, check_lengths, check_positive_int, check_sequence, shape_of
from ._types import Array, ArrayLike, Carry
from .cells import Cell, scan_cell
from .gru import GRU, GRU_CHO2014, gru_scan_fused
from .linear_rnn import MINGRU, MINLSTM, SLSTM
from .lstm import LSTM, LSTM_1997, PEEPHOLE_LSTM, lstm_scan_fused
from .rnn import ELMAN

__all__ = ["CELLS", "Recurrent", "get_cell", "reverse_padded"]

CELLS: dict[str, Cell] = {
    cell.name: cell for cell in (ELMAN, GRU, GRU_CHO2014, LSTM, PEEPHOLE_LSTM, LSTM_1997, MINGRU, MINLSTM, SLSTM)
}
"""Every recurrent cell of the package by name (each a :class:`rnnbook.cells.Cell`)."""


def get_cell(cell: str | Cell) -> Cell:
    """The :class:`~rnnbook.cells.Cell` named ``cell`` (a key of :data:`CELLS`), or ``cell`` itself."""
    if isinstance(cell, Cell):
        return cell
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)} or a rnnbook.cells.Cell, got {cell!r}")
    return CELLS[cell]


def reverse_padded(xs: Array, lengths: ArrayLike | None = None) -> Array:
    """Reverse each sequence of ``xs: [batch, time, ...]`` within its own length.

    Padding stays where it is, so a reverse scan starts at each sequence's last real step rather
    than at the padding. Applying it twice gives ``xs`` back. ``lengths: [batch]`` integers in ``[1,
    time]`` (their values checked outside ``jit``).
    """
    shape = getattr(xs, "shape", None)
    if shape is None or len(shape) < 2:
        raise ValueError(f"`xs` must have shape [batch, time, ...] (rank 2 or more); got {shape}")
    if lengths is None:
        return jnp.flip(xs, axis=1)
    lengths = jnp.asarray(lengths)
    check_lengths(lengths, shape[0], shape[1])
    t = jnp.arange(xs.shape[1])[None, :]
    idx = jnp.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    idx = idx.reshape(idx.shape + (1,) * (xs.ndim - 2))
    return jnp.take_along_axis(xs, idx, axis=1)


class Recurrent(nnx.Module):
    """Stacked and optionally bidirectional recurrent layers (Flax NNX).

    * ``cell``: a name of :data:`CELLS` (``"rnn"``, Elman with tanh; ``"gru"``, ``"gru_cho2014"``;
      ``"lstm"``, ``"peephole_lstm"``, ``"lstm1997"``) or a :class:`rnnbook.cells.Cell`.
    * ``num_layers``: layer ``l`` reads the outputs (states) of layer ``l - 1``.
    * ``bidirectional``: a forward and a backward pass, concatenated at every step.
    * ``initial_state``: ``"zeros"`` or ``"learned"`` (a trained vector per layer and direction,
      for ``h`` and, in an LSTM, ``c``).
    * ``cell_options``: passed to the cell's ``init``, e.g. ``forget_bias=1.0`` for the LSTM; an
      option the cell does not take raises a ``ValueError`` naming it.
    * ``fused``: the modern LSTM (``"lstm"``) runs by :func:`rnnbook.lstm.lstm_scan_fused` and the GRU
      (``"gru"``) by :func:`rnnbook.gru.gru_scan_fused`: the same numbers as the scanned cell with a
      backward pass written by hand (faster: the Performance appendix); ``fused=False`` scans
      their cells (:func:`rnnbook.lstm.lstm_cell`, :func:`rnnbook.gru.gru_cell`) as every other
      cell is scanned.
    """

    def __init__(
        self,
        cell: str | Cell,
        input_size: int,
        hidden_size: int,
        *,
        num_layers: int = 1,
        bidirectional: bool = False,
        initial_state: str = "zeros",
        fused: bool = True,
        rngs: nnx.Rngs,
        **cell_options,
    ):
        cell = get_cell(cell)
        if initial_state not in ("zeros", "learned"):
            raise ValueError(f"initial_state must be 'zeros' or 'learned', got {initial_state!r}")
        check_positive_int(input_size, "input_size")
        check_positive_int(hidden_size, "hidden_size")
        check_positive_int(num_layers, "num_layers")
        if not isinstance(fused, bool):
            raise TypeError(f"fused must be True or False, got {type(fused).__name__} {fused!r}")
        self.fused = fused
        self.cell, self.cell_name, self.input_size, self.hidden_size = cell, cell.name, input_size, hidden_size
        self.num_layers, self.directions = num_layers, 2 if bidirectional else 1
        weights = []
        for layer in range(num_layers):
            for _ in range(self.directions):
                n_in = input_size if layer == 0 else hidden_size * self.directions
                p = cell.init(rngs.params(), n_in, hidden_size, **cell_options)
                weights.append(_compat.Dict({k: nnx.Param(v) for k, v in p.items()}))
        self.weights = _compat.List(weights)
        self.initial_state = initial_state
        if initial_state == "learned":
            size = len(jax.tree_util.tree_leaves(cell.initial_carry(1, hidden_size)))
            self.state0 = nnx.Param(jnp.zeros((num_layers * self.directions, size, hidden_size)))

    # ----------------------------------------------------------------------------------------
    def cell_params(self, k: int) -> dict:
        """The parameters of layer-direction ``k`` (layer-major, forward first) as a plain dict."""
        check_int_range(k, "k", 0, len(self.weights) - 1)
        return {name: value[...] for name, value in self.weights[k].items()}

    def initial_carry(self, batch: int) -> list:
        """The initial carry of every layer and direction, for a batch of ``batch`` sequences
        (each shaped like ``cell.initial_carry(batch, hidden)``: ``[batch, hidden]`` arrays)."""
        check_positive_int(batch, "batch")
        zero = self.cell.initial_carry(batch, self.hidden_size)
        if self.initial_state == "zeros":
            return [zero for _ in range(len(self.weights))]
        state0, treedef = self.state0[...], jax.tree_util.tree_structure(zero)
        return [
            jax.tree_util.tree_unflatten(treedef, [jnp.broadcast_to(s, (batch, self.hidden_size)) for s in state0[k]])
            for k in range(len(self.weights))
        ]

    def __call__(
        self, xs: Array, lengths: ArrayLike | None = None, carry: list[Carry] | None = None
    ) -> tuple[list[Carry], Array]:
        """Run over ``xs: [batch, time, input]``. Returns ``(final_carries, ys)``.

        ``ys: [batch, time, hidden * directions]`` (zero at padded steps); ``final_carries`` is a
        list with one carry per layer and direction. ``lengths: [batch]`` marks padding.
        """
        check_sequence(xs, self.input_size)
        batch, time, _ = xs.shape
        if lengths is not None:
            lengths = jnp.asarray(lengths)
            check_lengths(lengths, batch, time)
        carry = self.initial_carry(batch) if carry is None else carry
        if not isinstance(carry, (list, tuple)) or len(carry) != len(self.weights):
            got = len(carry) if isinstance(carry, (list, tuple)) else type(carry).__name__
            raise ValueError(f"carry must hold {len(self.weights)} states (layers x directions), got {got}")
        self._check_carry(carry, batch)
        finals, inputs = [], xs
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.directions):
                k = layer * self.directions + d
                seq = inputs if d == 0 else reverse_padded(inputs, lengths)
                final, ys = self._scan(self.cell_params(k), seq, carry[k], lengths)
                outs.append(ys if d == 0 else reverse_padded(ys, lengths))
                finals.append(final)
            inputs = jnp.concatenate(outs, axis=-1) if self.directions == 2 else outs[0]
        return finals, inputs

    def _scan(self, params: dict, xs: Array, carry0: Carry, lengths: Array | None) -> tuple[Carry, Array]:
        """One layer-direction over ``xs``: the cell scanned (:func:`rnnbook.cells.scan_cell`), or for the
        modern LSTM and the GRU the same numbers by :func:`rnnbook.lstm.lstm_scan_fused` and
        :func:`rnnbook.gru.gru_scan_fused` (backward passes written by hand: the Performance appendix
        measures what they buy)."""
        if self.fused and self.cell is LSTM:
            return lstm_scan_fused(params, xs, carry0, lengths)
        if self.fused and self.cell is GRU:
            return gru_scan_fused(params, xs, carry0, lengths)
        return scan_cell(self.cell, params, xs, carry0, lengths)

    def step(self, carry: list, x: Array) -> tuple[list[Carry], Array]:
        """One step of online inference: ``x: [batch, input]`` -> ``(new carry, y: [batch, hidden])``.

        Feeding a sequence one step at a time through ``step`` gives exactly the outputs of
        ``__call__`` on the whole sequence. A bidirectional layer has no step: its backward pass
        needs the end of the sequence before it can emit the first output.
        """
        if self.directions == 2:
            raise ValueError("a bidirectional layer cannot run online: its backward pass needs the whole sequence")
        if getattr(x, "ndim", None) != 2 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"x must have shape [batch, input_size={self.input_size}], got {getattr(x, 'shape', None)}"
            )
        check_dtype(x, "x", "float")
        if not isinstance(carry, (list, tuple)) or len(carry) != self.num_layers:
            got = len(carry) if isinstance(carry, (list, tuple)) else type(carry).__name__
            raise ValueError(f"carry must hold {self.num_layers} states (one per layer), got {got}")
        self._check_carry(carry, x.shape[0])
        new = []
        for k in range(self.num_layers):
            c, x = self.cell(self.cell_params(k), carry[k], x)
            new.append(c)
        return new, x

    def _check_carry(self, carry: list, batch: int) -> None:
        """Each carry must have the structure of the cell's, with ``batch`` rows in every array."""
        zero = jax.eval_shape(lambda: self.cell.initial_carry(batch, self.hidden_size))
        for k, c in enumerate(carry):
            if jax.tree_util.tree_structure(c) != jax.tree_util.tree_structure(zero):
                raise ValueError(f"carry[{k}] must be a {self.cell.name} carry like cell.initial_carry(batch, hidden)")
            for part, want in zip(jax.tree_util.tree_leaves(c), jax.tree_util.tree_leaves(zero)):
                if shape_of(part) != tuple(want.shape):
                    raise ValueError(
                        f"carry[{k}] must hold arrays of shape {list(want.shape)} (batch {batch}, hidden "
                        f"{self.hidden_size}); got {shape_of(part)}"
                    )

    def num_params(self) -> int:
        """The number of trainable scalars (every ``nnx.Param`` of every layer)."""
        return sum(int(v.size) for v in jax.tree_util.tree_leaves(nnx.state(self, nnx.Param)))
