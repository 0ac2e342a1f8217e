"""Timing compiled JAX functions inside a chapter, on a machine that other work shares.

JAX dispatches asynchronously: a call returns before its result is computed, so a timer must wait
for the result (``jax.block_until_ready``). The first call compiles and is not timed. The best of
several rounds is reported, because other load on the machine only ever makes a round slower.
Comparisons against peers (PyTorch, gensim) live in ``benchmarks/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax

from ._checks import check_positive_int

__all__ = ["best_time"]


def best_time(fn: Callable[..., Any], *args: Any, repeats: int = 5, number: int = 1) -> float:
    """Seconds per call of ``fn(*args)``: the fastest of ``repeats`` rounds of ``number`` calls each.

    One untimed call comes first (compilation, allocation). Each round dispatches ``number``
    calls and waits for the last result, so short calls are timed back to back, as in a training
    loop; the round's time is divided by ``number``.
    """
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    check_positive_int(repeats, "repeats")
    check_positive_int(number, "number")
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - start) / number)
    return best
