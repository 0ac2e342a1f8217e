"""Input checks shared by the package: every bad input raises a ValueError that names it.

Every public entry point of ``rnnbook`` checks its arguments with the functions below, so that a
wrong call fails at once with a message that names the argument, what was expected and what was
given (``mask must have shape [batch, heads, q_len, k_len] (each axis 1 or the full size) with batch
2, heads 1, q_len 2, k_len 5; got [2, 5]``), never with a silent answer, a NaN or an XLA shape error. A
wrong Python type (a string where a number is meant) raises ``TypeError``; everything else raises
``ValueError``.

**Checks under ``jit``.** Shapes and dtypes are known while JAX traces a function, so shape and
dtype checks run everywhere: eagerly, under ``jit``, ``grad``, ``vmap`` and inside ``lax.scan``.
Value checks (ids inside ``[0, vocab)``, lengths in ``[1, T]``, probabilities in ``[0, 1]``,
finite inputs) need the numbers themselves; on concrete arrays they run at once (:func:`concrete`
returns None for a tracer). An array that a jitted function closes over is concrete while it is
traced, so it is checked once, at trace time, not per call. A value check costs one host copy of the
checked array, so the package makes them once at the entry point, never inside a step that runs per
training step.

Inside a traced function the checks that matter for training (ids inside the vocabulary, lengths,
finite inputs) are recorded as ``jax.experimental.checkify.debug_check``: the **debug flag**. By
default they do nothing and cost nothing (XLA removes the dead predicate: the compiled program is
the same, ``tests/test_bad_inputs.py`` compares it), and JAX's own behaviour applies (an
out-of-range gather index is clamped or filled with NaN, a NaN propagates). Turned on, they raise
with the same message as the eager check, from inside ``jit``, ``scan`` and ``vmap``:

* ``rnnbook.train.fit(..., checks=True)`` runs every epoch under ``checkify`` and raises
  ``ValueError`` at the end of the first epoch in which a check failed;
* any function: ``err, out = checkify.checkify(f, errors=checkify.user_checks)(*args)``, then
  ``err.throw()``.

Without the flag, training still catches what slips through:
:func:`rnnbook.train.fit` re-checks, eagerly, the batches of an epoch whose loss became NaN or
infinite, and says whether the data (a value check failing, a NaN input, a loss that is already
non-finite at the epoch's starting parameters) or the optimisation (divergence) is at fault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from ._types import Array, ArrayLike

__all__ = [
    "check_cell_step",
    "check_choice",
    "check_dtype",
    "check_finite",
    "check_ids",
    "check_int_range",
    "check_key",
    "check_lengths",
    "check_positive_int",
    "check_probability",
    "check_same_batch",
    "check_sequence",
    "check_shape",
    "check_state",
    "check_token_ids",
    "check_type",
    "concrete",
    "shape_of",
    "traced_check",
]


def concrete(x: ArrayLike) -> np.ndarray | None:
    """The value of ``x`` as a NumPy array, or None if ``x`` is traced (inside jit/grad/vmap)."""
    if isinstance(x, jax.core.Tracer):
        return None
    return np.asarray(x)


def traced_check(predicate: Callable[[], tuple[Array, ...]], message: str) -> None:
    """Inside a traced function: a value check that runs only under ``checkify`` (the debug flag).

    ``predicate()`` returns ``(ok, *args)``: a traced boolean and the values that fill the ``{}``
    placeholders of ``message`` (e.g. the offending minimum). It is called here, so that code that
    replaces this function (the benchmark of the checks' cost) skips the predicate too.
    """
    ok, *args = predicate()
    checkify.debug_check(ok, message, *args)


def shape_of(x: object) -> tuple[int, ...] | None:
    """The shape of an array (or of a nested list of numbers), None for anything else."""
    shape = getattr(x, "shape", None)
    if shape is not None:
        return tuple(shape)
    if isinstance(x, (list, tuple)):
        try:
            return np.shape(np.asarray(x))
        except ValueError:  # a ragged list
            return None
    return None


def _fmt(shape: tuple | None) -> str:
    return "none (not an array)" if shape is None else "[" + ", ".join(str(s) for s in shape) + "]"


def check_shape(x: object, name: str, *, allow_broadcast: bool = False, **dims: int | None) -> tuple[int, ...]:
    """``x`` must have one axis per keyword of ``dims``, in order, of that size (None: any size >= 1).

    ``check_shape(xs, "xs", batch=2, time=None, features=3)``. With ``allow_broadcast`` an axis may
    also have size 1 (a mask that broadcasts). Returns the shape.
    """
    shape = shape_of(x)
    form = "[" + ", ".join(dims) + "]"
    known = ", ".join(f"{d} {s}" for d, s in dims.items() if s is not None)
    expected = f"`{name}` must have shape {form}" + (" (each axis 1 or the full size)" if allow_broadcast else "")
    expected += f" with {known}" if known else ""
    if shape is None or len(shape) != len(dims):
        raise ValueError(f"{expected}; got {_fmt(shape)}")
    for size, (dim, want) in zip(shape, dims.items()):
        if size < 1:
            raise ValueError(f"{expected}; got {_fmt(shape)}, whose {dim} axis is empty")
        if want is not None and size != want and not (allow_broadcast and size == 1):
            raise ValueError(f"{expected}; got {_fmt(shape)}")
    return shape


_KINDS = {
    "float": (np.floating, "floating-point numbers"),
    "int": (np.integer, "integers"),
    "bool": (np.bool_, "booleans"),
    "number": (np.number, "numbers"),
}


def check_dtype(x: object, name: str, kind: str) -> None:
    """``x``'s dtype must be of ``kind``: "float", "int", "bool" or "number" (int or float, not bool)."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    base, words = _KINDS[kind]
    # jnp.issubdtype knows JAX's extended floats (bfloat16, float8): numpy files them under np.void
    if not jnp.issubdtype(np.dtype(dtype), base):
        raise ValueError(f"`{name}` must hold {words}, got dtype {dtype}")


def check_finite(x: ArrayLike, name: str) -> None:
    """A concrete ``x`` may hold no NaN or infinity (skipped for a tracer, inside jit)."""
    value = concrete(x)
    if value is None:
        if jnp.issubdtype(x.dtype, jnp.inexact):
            traced_check(
                lambda: (jnp.all(jnp.isfinite(x)), jnp.sum(~jnp.isfinite(x))),
                f"`{name}` must be finite, got {{}} NaN or infinite values",
            )
        return
    if np.issubdtype(value.dtype, np.inexact) and not np.all(np.isfinite(value)):
        raise ValueError(f"`{name}` must be finite, got {int(np.sum(~np.isfinite(value)))} NaN or infinite values")


def _traced_ids(ids: Array, vocab_size: int, message: str) -> None:
    if ids.size:
        traced_check(
            lambda: (jnp.all((ids >= 0) & (ids < vocab_size)), jnp.min(ids), jnp.max(ids)),
            message + " (checked inside jit): ids from {} to {}",
        )


def check_ids(ids: ArrayLike, vocab_size: int, name: str, what: str = "the vocabulary") -> None:
    """``ids`` (any shape) must be integer ids in ``[0, vocab_size)`` (the range only on concrete values)."""
    check_dtype(ids, name, "int")
    value = concrete(ids)
    if value is None:
        _traced_ids(ids, vocab_size, f"`{name}` has an id outside {what} [0, {vocab_size})")
    elif value.size and (value.min() < 0 or value.max() >= vocab_size):
        bad = value[(value < 0) | (value >= vocab_size)]
        raise ValueError(f"`{name}` has id {int(bad.flat[0])} outside {what} [0, {vocab_size})")


def check_probability(p: object, name: str, *, open_low: bool = False, open_high: bool = False) -> None:
    """``p`` (a number, or a concrete array) must lie in ``[0, 1]`` (``open_low``/``open_high``: exclude 0/1)."""
    if isinstance(p, (bool, str)) or not (isinstance(p, (int, float, np.number)) or hasattr(p, "dtype")):
        raise TypeError(f"`{name}` must be a probability (a number), got {type(p).__name__}")
    value = concrete(p)
    if value is None:
        return
    low_ok = value > 0 if open_low else value >= 0
    high_ok = value < 1 if open_high else value <= 1
    if not np.all(low_ok & high_ok):
        interval = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
        raise ValueError(f"`{name}` must be a probability in {interval}, got {value.tolist()}")


def check_type(value: object, types: type | tuple[type, ...], name: str, expected: str) -> None:
    """``value`` must be an instance of ``types`` (``bool`` never counts as a number): TypeError otherwise."""
    numeric = types in (int, float) or (isinstance(types, tuple) and (int in types or float in types))
    if not isinstance(value, types) or (numeric and isinstance(value, bool)):
        raise TypeError(f"`{name}` must be {expected}, got {type(value).__name__} {value!r}")


def check_int_range(value: object, name: str, low: int, high: int | None = None) -> None:
    """``value`` must be a Python or NumPy integer with ``low <= value <= high`` (``high`` None: no upper bound)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        where = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"`{name}` must be an integer {where}, got {value}")


def check_choice(value: object, choices: Iterable, name: str) -> None:
    """``value`` must be one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")


def check_same_batch(name_a: str, a: object, name_b: str, b: object) -> None:
    """``a`` and ``b`` must have the same leading (batch) size."""
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb or sa[0] != sb[0]:
        raise ValueError(
            f"`{name_a}` and `{name_b}` must have the same batch size (leading axis); "
            f"got shapes {_fmt(sa)} and {_fmt(sb)}"
        )


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
    check_dtype(xs, name, "float")
    value = concrete(xs)
    if value is None:
        traced_check(
            lambda: (jnp.all(jnp.isfinite(xs)),), f"{name} contains NaN or infinite values (checked inside jit)"
        )
    elif not np.all(np.isfinite(value)):
        raise ValueError(f"{name} contains NaN or infinite values")


def check_lengths(lengths: ArrayLike, batch: int, time: int, name: str = "lengths") -> None:
    """``lengths`` must be ``[batch]`` integers with ``1 <= length <= time``."""
    shape = getattr(lengths, "shape", None)
    if shape is None or tuple(shape) != (batch,):
        raise ValueError(f"{name} must have shape [batch]=({batch},), got {shape}")
    if not np.issubdtype(np.dtype(lengths.dtype), np.integer):
        raise ValueError(f"{name} must be integers, got dtype {lengths.dtype}")
    value = concrete(lengths)
    if value is None:
        traced_check(
            lambda: (jnp.all((lengths >= 1) & (lengths <= time)), jnp.min(lengths), jnp.max(lengths)),
            f"{name} must lie in [1, time={time}] (checked inside jit), got values from {{}} to {{}}",
        )
    elif value.min() < 1 or value.max() > time:
        raise ValueError(
            f"{name} must lie in [1, time={time}] (a sequence has at least one real step), "
            f"got values from {value.min()} to {value.max()}"
        )


def check_state(h: Array, batch: int, hidden: int, name: str = "h0") -> None:
    """``h`` must be a state ``[batch, hidden]`` of these sizes."""
    shape = getattr(h, "shape", None)
    if shape is None or tuple(shape) != (batch, hidden):
        raise ValueError(f"{name} must have shape [batch, hidden]=({batch}, {hidden}), got {shape}")


def check_positive_int(value: object, name: str) -> None:
    """``value`` must be a Python or NumPy integer >= 1."""
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
    if value is None:
        _traced_ids(ids, vocab_size, f"{name} has a token id outside the vocabulary [0, {vocab_size})")
    elif value.size and (value.min() < 0 or value.max() >= vocab_size):
        bad = value[(value < 0) | (value >= vocab_size)]
        raise ValueError(f"{name} has token id {int(bad[0])} outside the vocabulary [0, {vocab_size})")


def check_cell_step(params: dict, h: Array, x: Array, c: Array | None = None) -> None:
    """The shape checks of one step of a cell with weights ``W_x: [input, gates*hidden]`` and ``W_h:
    [hidden, gates*hidden]``: ``x: [batch, input]``, ``h`` (and ``c``) ``[batch, hidden]``, floats.
    Shapes only, so they cost nothing inside ``jit`` or ``lax.scan``."""
    if not isinstance(params, dict) or "W_x" not in params or "W_h" not in params:
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"`params` must be a cell's parameter dict with W_x, W_h and b; got {got}")
    input_size, hidden = params["W_x"].shape[0], params["W_h"].shape[0]
    batch = check_shape(x, "x", batch=None, input=input_size)[0]
    check_dtype(x, "x", "float")
    check_shape(h, "h", batch=batch, hidden=hidden)
    if c is not None:
        check_shape(c, "c", batch=batch, hidden=hidden)


def check_key(key: object, name: str = "key") -> None:
    """``key`` must be a JAX PRNG key: ``jax.random.key(seed)`` (or a legacy ``uint32[2]`` one): TypeError."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        return
    if dtype is not None and np.dtype(dtype) == np.uint32 and tuple(key.shape)[-1:] == (2,):
        return
    raise TypeError(f"`{name}` must be a PRNG key, jax.random.key(seed); got {type(key).__name__} {shape_of(key)}")
