"""The book's one seed switch: every chapter derives all its randomness from :func:`base_seed`.

A chapter sets ``SEED = base_seed()`` once, in its first code cell, and writes every key and seed
as ``SEED + n`` (``jax.random.key(SEED + 3)``, ``nnx.Rngs(SEED)``, ``seed=SEED + 1``). With the
environment variable ``RNNBOOK_SEED`` unset, ``SEED`` is 0 and the chapter replays the stored run
exactly. ``RNNBOOK_SEED=k`` shifts every seed of the chapter by ``STRIDE * k``, so that the runs for
different ``k`` share no random stream (with a shift of ``k`` alone, ``SEED + 1`` of one run would be
``SEED + 0`` of the next). ``make robust SEEDS="1 2 3"`` runs every chapter that way
(``tools/robust.py``).
"""

from __future__ import annotations

import os

__all__ = ["ENV", "STRIDE", "base_seed"]

ENV = "RNNBOOK_SEED"
STRIDE = 10_000


def base_seed() -> int:
    """``STRIDE * RNNBOOK_SEED``: 0 (the stored run) where the variable is unset or empty."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return 0
    try:
        k = int(value)
    except ValueError:
        raise ValueError(f"{ENV} must be a non-negative integer, got {value!r}") from None
    if k < 0:
        raise ValueError(f"{ENV} must be a non-negative integer, got {k}")
    return STRIDE * k
