"""Type aliases of the package's signatures. Shapes are not types here: each docstring gives them
in the book's convention, ``xs: [batch, time, features]``, ``h: [batch, hidden]``."""

from __future__ import annotations

from typing import Any

import jax
from jax.typing import ArrayLike, DTypeLike

Array = jax.Array
Key = jax.Array  # a PRNG key, ``jax.random.key(seed)``
Params = dict[str, Any]  # a pytree of parameter arrays, e.g. {"W_x": [input, hidden], ...}
Carry = Any  # a recurrent state: an array ``[batch, hidden]`` or a tuple of them (the LSTM's (h, c))
PyTree = Any  # nested dicts / tuples / lists of arrays (a batch, an optimizer state, ...)

__all__ = ["Array", "ArrayLike", "Carry", "DTypeLike", "Key", "Params", "PyTree"]
