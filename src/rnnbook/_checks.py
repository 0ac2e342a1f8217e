"""Input checks shared by the models: every bad input raises a ValueError that names it.

Shape checks run always (shapes are known even under ``jit``). Value checks (lengths in range,
finite inputs) run only on concrete arrays: inside ``jit`` the values are abstract, and the
callers that jit (the training loop) have already been validated eagerly once.
"""

from __future__ import annotations

import jax
import numpy as np

from ._types import Array, ArrayLike

__all__ = ["check_lengths", "check_positive_int", "check_sequence", "check_state", "check_token_ids", "concrete"]


def concrete(x: ArrayLike) -> np.ndarray | None:
    """The value of ``x`` as a NumPy array, or None if ``x`` is traced (inside jit/grad/vmap)."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def check_sequence(xs: ArrayLike, input_size: int, name: str = "xs") -> None:
    """``xs`` must be ``[batch, time, features]`` with ``time >= 1`` and ``features == input_size``."""
    shape = getattr(xs, "shape", None)
    if shape is None or len(shape) != 3:
        raise ValueError(f"{name} must have shape [batch, time, features] (rank 3), got shape {shape}")
    batch, time, features = shape
    if batch < 1:
        raise ValueError(f"{name} has an empty batch: shape {tuple(shape)}")
    if time < 1:
        raise ValueError(f"{name} is an empty sequence: time dimension is 0 in shape {tuple(shape)}")
    if features != input_size:
        raise ValueError(f"{name} has {features} features per step but the layer expects input_size={input_size}")
    value = concrete(xs)
    if value is not None and not np.all(np.isfinite(value)):
        raise ValueError(f"{name} contains NaN or infinite values")


def check_lengths(lengths: ArrayLike, batch: int, time: int, name: str = "lengths") -> None:
    """``lengths`` must be ``[batch]`` integers with ``1 <= length <= time``."""
    shape = getattr(lengths, "shape", None)
    if shape is None or tuple(shape) != (batch,):
        raise ValueError(f"{name} must have shape [batch]=({batch},), got {shape}")
    if not np.issubdtype(np.dtype(lengths.dtype), np.integer):
        raise ValueError(f"{name} must be integers, got dtype {lengths.dtype}")
    value = concrete(lengths)
    if value is not None and (value.min() < 1 or value.max() > time):
        raise ValueError(
            f"{name} must lie in [1, time={time}] (a sequence has at least one real step), "
            f"got values from {value.min()} to {value.max()}"
        )


def check_state(h: Array, batch: int, hidden: int, name: str = "h0") -> None:
    shape = getattr(h, "shape", None)
    if shape is None or tuple(shape) != (batch, hidden):
        raise ValueError(f"{name} must have shape [batch, hidden]=({batch}, {hidden}), got {shape}")


def check_positive_int(value: object, name: str) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_token_ids(ids: ArrayLike, vocab_size: int, name: str) -> None:
    """``ids`` must be integer token ids ``[batch, time]`` with ``time >= 1``, each in ``[0, vocab_size)``."""
    shape = getattr(ids, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"{name} must be token ids of shape [batch, time], got shape {shape}")
    if shape[1] < 1:
        raise ValueError(f"{name} is an empty sequence: time dimension is 0 in shape {tuple(shape)}")
    if not np.issubdtype(np.dtype(ids.dtype), np.integer):
        raise ValueError(f"{name} must be integer token ids, got dtype {ids.dtype}")
    value = concrete(ids)
    if value is not None and value.size and (value.min() < 0 or value.max() >= vocab_size):
        bad = value[(value < 0) | (value >= vocab_size)]
        raise ValueError(f"{name} has token id {int(bad[0])} outside the vocabulary [0, {vocab_size})")
