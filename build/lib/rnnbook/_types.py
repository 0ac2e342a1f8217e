"""Type aliases of the package's signatures. Shapes are not types here: each docstring gives them
in the book's convention, ``xs: [batch, time, features]``, ``h: [batch, hidden]``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from jax.typing import ArrayLike, DTypeLike

Array = jax.Array
Key = jax.Array  # a PRNG key, ``jax.random.key(seed)``
Params = dict[str, Any]  # a pytree of parameter arrays, e.g. {"W_xh": [input, hidden], ...}
Carry = Any  # a recurrent state: an array ``[batch, hidden]`` or a tuple of them (the LSTM's (h, c))
PyTree = Any  # nested dicts / tuples / lists of arrays (a batch, an optimizer state, ...)
Cell = Callable[[Params, Carry, Array], tuple[Carry, Array]]  # cell(params, carry, x_t) -> (carry, y_t)

__all__ = ["Array", "ArrayLike", "Carry", "Cell", "DTypeLike", "Key", "Params", "PyTree"]
