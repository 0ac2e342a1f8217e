"""The losses the chapters train with, each as ``loss(model, batch)`` for :func:`rnnbook.train.fit`.

A batch is ``(inputs, targets)``; the model maps the inputs to predictions (or logits) and the
loss is Optax's, averaged over every element. Masked losses, whose batches carry lengths or a
mask, stay with the model they belong to (:func:`rnnbook.seq2seq.loss_fn`).
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
import optax

from ._checks import check_finite, check_ids
from ._types import Array, ArrayLike

__all__ = ["cross_entropy", "mse"]


def _pair(batch: object, second: str) -> tuple:
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"`batch` must be a pair (inputs, {second}), got {type(batch).__name__}")
    return batch[0], batch[1]


def mse(model: Callable[[Array], Array], batch: tuple[ArrayLike, ArrayLike]) -> Array:
    """Mean squared error ``mean((model(inputs) - targets)^2)`` over every element (``optax.squared_error``).

    ``batch = (inputs, targets)``; ``model(inputs)`` and ``targets`` must have the same shape
    (``[batch]`` for a many-to-one regressor, ``[batch, time, outputs]`` per step): a ``[batch, 1]``
    prediction against ``[batch]`` targets would broadcast to ``[batch, batch]`` and be raised on.
    """
    inputs, targets = _pair(batch, "targets")
    check_finite(targets, "targets")
    predictions, targets = model(inputs), jnp.asarray(targets)
    if predictions.shape != targets.shape:
        raise ValueError(
            f"targets must have the shape of the predictions {tuple(predictions.shape)}, got {tuple(targets.shape)}"
        )
    return optax.squared_error(predictions, targets).mean()


def cross_entropy(model: Callable[[Array], Array], batch: tuple[ArrayLike, ArrayLike]) -> Array:
    """Mean cross-entropy of integer labels under ``softmax(model(inputs))``, in nats
    (``optax.softmax_cross_entropy_with_integer_labels``).

    ``batch = (inputs, labels)``: logits ``model(inputs): [..., classes]``, labels ``[...]``
    integers in ``[0, classes)``: ``[batch]`` for one label per sequence, ``[batch, time]`` for
    one per step (the next character of a language model). Divided by ``log 2`` it is bits per label.
    """
    inputs, labels = _pair(batch, "labels")
    logits, labels = model(inputs), jnp.asarray(labels)
    if logits.shape[:-1] != labels.shape:
        raise ValueError(
            f"labels must have shape {tuple(logits.shape[:-1])} (the logits' shape without the class axis), "
            f"got {tuple(labels.shape)}"
        )
    if not np.issubdtype(np.dtype(labels.dtype), np.integer):
        raise ValueError(f"labels must be integer class ids, got dtype {labels.dtype}")
    check_ids(labels, logits.shape[-1], "labels", "the classes")
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
