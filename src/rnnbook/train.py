"""The one training loop of the book: Optax, a jitted epoch of ``lax.scan`` steps, a progress bar.

Every chapter trains through :func:`fit`. A model is either a pytree of parameters (the pure
functions of :mod:`rnnbook.rnn`) or a Flax NNX module; the loss is ``loss_fn(model, batch)``.
Batches come from ``batch_fn(key)``, a traceable function, so that data generation, the forward
and backward pass and the update of a whole epoch compile into one XLA program. A claim about
training is checked over several seeds with :func:`fit_seeds`, which trains one model per seed in
the same program (``jax.vmap`` over their stacked parameters).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.stats
from flax import nnx
from jax.experimental import checkify
from tqdm import tqdm

from ._checks import check_finite, check_ids, check_key, check_positive_int, concrete, shape_of
from ._types import Array, ArrayLike, Key, PyTree

__all__ = ["History", "accuracy", "auroc", "fit", "fit_seeds", "minibatches", "progress", "replicate", "shard_batch"]


@dataclasses.dataclass
class History:
    """What :func:`fit` records, one entry per epoch."""

    step: list = dataclasses.field(default_factory=list)  # optimizer steps done so far
    train_loss: list = dataclasses.field(default_factory=list)  # mean training loss of the epoch
    val_loss: list = dataclasses.field(default_factory=list)  # loss on ``val_batch`` after it
    seconds: float = 0.0  # wall time, compilation included
    scores: list = dataclasses.field(default_factory=list)  # ``evaluate(model)`` after each epoch (numpy)

    def steps_to(self, target: float) -> np.ndarray:
        """Steps until the score (``evaluate``) was first below ``target``, per entry of the score:
        an int array of the score's shape (``[n]`` for the ``n`` models of :func:`fit_seeds`, ``[]``
        for a scalar score); 0 where it never got there."""
        if not self.scores:
            raise ValueError("the history holds no scores: train with `evaluate` to record one per epoch")
        below = np.stack([np.asarray(s) for s in self.scores]) < target  # [epochs, ...]
        return np.where(below.any(0), np.asarray(self.step)[below.argmax(0)], 0)

    def best_val(self) -> float:
        """The lowest validation loss recorded (NaN if none was)."""
        return float(min(self.val_loss)) if self.val_loss else float("nan")


def _optimizer(optimizer, learning_rate, clip_norm):
    if optimizer is None and (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, (int, float, np.number))
        or not (np.isfinite(learning_rate) and learning_rate > 0)
    ):
        raise ValueError(f"`learning_rate` must be a positive finite number, got {learning_rate!r}")
    if optimizer is not None and not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be an Optax GradientTransformation, got {type(optimizer).__name__}")
    tx = optimizer if optimizer is not None else optax.adam(learning_rate)
    if clip_norm is not None:
        if not clip_norm > 0:
            raise ValueError(f"clip_norm must be positive, got {clip_norm!r}")
        tx = optax.chain(optax.clip_by_global_norm(clip_norm), tx)
    return tx


class _DisplayLine:
    """A file-like target for tqdm in Jupyter: rewrites one display in place.

    A plain tqdm bar in a notebook leaves every intermediate state in the saved output; updating
    a single display keeps just the last line, which is what the rendered book then shows.
    """

    def __init__(self):
        from IPython.display import Pretty, display

        self._pretty = Pretty
        self._handle = display(Pretty(""), display_id=True)

    def write(self, text):
        text = text.strip("\r\n")
        if text:
            self._handle.update(self._pretty(text))

    def flush(self):
        pass


def _progress_file():
    """Where progress bars go: one in-place display in a Jupyter kernel, else stdout."""
    if "ipykernel" in sys.modules:
        try:
            return _DisplayLine()
        except Exception:  # no IPython display machinery: fall back to text
            pass
    return sys.stdout


def progress(iterable: Iterable, desc: str = "", total: int | None = None) -> Iterable:
    """Iterate over ``iterable`` with a progress bar: one line updated in place in a notebook, text elsewhere.

    For loops over runs (seeds, settings) whose every item trains for a while; :func:`fit` draws
    its own bar over epochs.
    """
    if not hasattr(iterable, "__iter__"):
        raise TypeError(f"`iterable` must be iterable, got {type(iterable).__name__}")
    if total is not None:
        check_positive_int(total, "total")
    return tqdm(iterable, desc=desc, total=total, file=_progress_file())


def shard_batch(batch: PyTree, mesh: jax.sharding.Mesh, axis: str = "data") -> PyTree:
    """Split every array of ``batch`` along its leading (example) axis over the mesh axis ``axis``.

    Inside ``jit`` this is a sharding constraint (XLA partitions the computation that follows);
    outside, it places the arrays on the devices. Each device then holds ``batch / n`` examples,
    where ``n = mesh.shape[axis]``, which must divide every leading size.
    """
    if not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"`mesh` must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    if axis not in mesh.shape:
        raise ValueError(f"the mesh has no axis {axis!r}: its axes are {tuple(mesh.shape)}")
    kind = dict(zip(mesh.axis_names, mesh.axis_types))[axis]
    if kind != jax.sharding.AxisType.Auto:
        raise ValueError(
            f"mesh axis {axis!r} is {kind.name}: make the mesh with "
            "axis_types=(jax.sharding.AxisType.Auto, ...) so that XLA propagates the shardings"
        )
    n = mesh.shape[axis]

    def place(leaf):
        leaf = jnp.asarray(leaf)
        if leaf.ndim == 0:
            raise ValueError("a batch leaf is a scalar: every array needs a leading example axis to shard")
        if leaf.shape[0] % n:
            raise ValueError(f"batch size {leaf.shape[0]} is not divisible by the {n} devices of mesh axis {axis!r}")
        spec = jax.sharding.PartitionSpec(axis, *([None] * (leaf.ndim - 1)))
        return jax.lax.with_sharding_constraint(leaf, jax.sharding.NamedSharding(mesh, spec))

    return jax.tree_util.tree_map(place, batch)


def replicate(tree: PyTree, mesh: jax.sharding.Mesh) -> PyTree:
    """Place a full copy of every array of ``tree`` on every device of ``mesh``."""
    if not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"`mesh` must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))


def fit(
    model: Any,
    loss_fn: Callable,
    batch_fn: Callable,
    *,
    key: Key,
    epochs: int,
    steps_per_epoch: int = 100,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 1e-3,
    clip_norm: float | None = None,
    val_batch: PyTree | None = None,
    keep_best: bool = False,
    target_loss: float | None = None,
    progress: bool = True,
    desc: str = "training",
    mesh: jax.sharding.Mesh | None = None,
    batch_axis: str = "data",
    checks: bool = False,
    evaluate: Callable | None = None,
    target_score: float | None = None,
) -> tuple[Any, History]:
    """Train ``model`` to minimise ``loss_fn(model, batch)``; return ``(trained model, History)``.

    * ``batch_fn(key) -> batch``: draws a training batch; must be traceable by JAX (a fixed
      data set is ``lambda key: data``, a minibatch is an index draw from ``key``).
    * ``optimizer``: any Optax transformation (default Adam at ``learning_rate``);
      ``clip_norm`` chains ``optax.clip_by_global_norm`` in front of it.
    * ``val_batch``: a batch on which ``loss_fn`` is evaluated after every epoch.
    * ``keep_best``: return the parameters of the epoch with the lowest validation loss (early
      stopping in hindsight) instead of the last ones; needs ``val_batch``.
    * ``target_loss``: stop after the first epoch whose validation loss is below it (the task
      counts as solved; ``History.step[-1]`` is then the number of steps it took); needs
      ``val_batch``.
    * ``key``: the PRNG key for the batches: the same key gives the same run.
    * ``mesh``: data parallelism over the devices of a ``jax.sharding.Mesh``: parameters and
      optimizer state are replicated, every batch is split along its leading axis over the mesh
      axis ``batch_axis`` (:func:`shard_batch`), and XLA sums the gradients across devices.
      The step function is the same; with the same key, the losses equal the single-device run
      up to the order of floating-point sums.

    * ``checks``: the debug flag: run every epoch under ``checkify``, so that the package's value
      checks (ids in the vocabulary, lengths, finite inputs) run inside ``jit`` too; the first
      epoch in which one fails raises ``ValueError`` with its message. Slower; for debugging
      (:mod:`rnnbook._checks` says how the checks work under ``jit``).
    * ``evaluate(model) -> array``: any score of the model (an accuracy on held-out data, a loss in
      bits), computed under ``jit`` after every epoch and kept, as numpy, in ``History.scores``.
    * ``target_score``: stop after the first epoch whose score is below it, in every entry
      (``evaluate`` returns a loss-like score: lower is better); needs ``evaluate``.

    Calls that repeat a setting (the same ``loss_fn`` and ``batch_fn`` objects, a model of the same
    structure, the same optimizer object or learning rate, clipping and epoch length) reuse the
    epoch compiled by the first, so runs over seeds compile once. As with ``jax.jit``, a function
    that reads a global variable is not traced again when that variable changes: pass what changes
    as a new function.

    One epoch is ``steps_per_epoch`` optimizer steps scanned inside one ``jit``, where the package's
    value checks (ids in the vocabulary, finite inputs) do not run unless ``checks``. A loss that becomes NaN or
    infinite stops training, and the epoch's batches are then checked again, eagerly, with the
    parameters the epoch started from: a batch that holds NaN or fails a value check raises a
    ``ValueError`` that says the data is at fault (and which batch); a batch whose loss is already
    non-finite there raises a ``FloatingPointError`` that blames the loss or the data; otherwise
    the parameters diverged, and a ``FloatingPointError`` naming the epoch advises a lower learning
    rate or ``clip_norm``.
    """
    check_key(key)
    check_positive_int(epochs, "epochs")
    check_positive_int(steps_per_epoch, "steps_per_epoch")
    if not callable(loss_fn) or not callable(batch_fn):
        raise ValueError("loss_fn and batch_fn must be callables: loss_fn(model, batch), batch_fn(key)")

    if keep_best and val_batch is None:
        raise ValueError("keep_best=True needs a val_batch to pick the best epoch by")
    if target_loss is not None and val_batch is None:
        raise ValueError("target_loss needs a val_batch to compare the validation loss with")
    if target_score is not None and evaluate is None:
        raise ValueError("target_score needs an `evaluate` function to compare its score with")
    if val_batch is not None:
        for path, leaf in jax.tree_util.tree_leaves_with_path(val_batch):
            check_finite(leaf, f"val_batch{jax.tree_util.keystr(path)}")
    is_module = isinstance(model, nnx.Module)
    if is_module:
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    else:
        graphdef, params, rest = None, model, None
    tx, run_epoch, loss_with = _programs(
        loss_fn, batch_fn, graphdef, optimizer, learning_rate, clip_norm, steps_per_epoch, checks, mesh, batch_axis
    )
    loss_of = lambda p, batch: loss_with(p, rest, batch)
    opt_state = tx.init(params)
    draw = batch_fn if mesh is None else (lambda k: shard_batch(batch_fn(k), mesh, batch_axis))
    if mesh is not None:
        params, opt_state = replicate(params, mesh), replicate(opt_state, mesh)
        if val_batch is not None:
            val_batch = shard_batch(val_batch, mesh, batch_axis)
    val_loss = _jitted_loss(loss_with)
    if evaluate is not None:
        if not callable(evaluate):
            raise TypeError(f"`evaluate` must be a function of the model, got {type(evaluate).__name__}")
        score_of = jax.jit(lambda p: evaluate(nnx.merge(graphdef, p, rest)) if is_module else evaluate(p))
    history = History()
    best = (float("inf"), params)
    start = time.perf_counter()
    bar = tqdm(
        range(epochs),
        desc=desc,
        disable=not progress,
        file=_progress_file() if progress else sys.stdout,
        mininterval=1.0,
        ncols=100,
        ascii=True,
    )
    for epoch in bar:
        key, sub = jax.random.split(key)
        before = params
        if checks:
            err, (params, opt_state, loss) = run_epoch(params, rest, opt_state, sub)
            if err.get() is not None:
                bar.close()
                raise ValueError(
                    f"a value check failed inside jit in epoch {epoch + 1} (fit with checks=True): the data is at "
                    f"fault: {err.get()}"
                )
        else:
            params, opt_state, loss = run_epoch(params, rest, opt_state, sub)
        loss = float(loss)
        if not np.isfinite(loss):
            bar.close()
            raise _non_finite_loss(loss, epoch, loss_of, before, draw, sub, steps_per_epoch)
        history.step.append((epoch + 1) * steps_per_epoch)
        history.train_loss.append(loss)
        postfix = {"loss": f"{loss:.4g}"}
        if val_batch is not None:
            history.val_loss.append(float(val_loss(params, rest, val_batch)))
            postfix["val"] = f"{history.val_loss[-1]:.4g}"
            if keep_best and history.val_loss[-1] < best[0]:
                best = (history.val_loss[-1], params)
        if evaluate is not None:
            history.scores.append(np.asarray(score_of(params)))
        bar.set_postfix(postfix, refresh=False)
        if target_loss is not None and history.val_loss[-1] < target_loss:
            break
        if target_score is not None and np.all(history.scores[-1] < target_score):
            break
    bar.close()
    history.seconds = time.perf_counter() - start
    if keep_best:
        params = best[1]
    trained = nnx.merge(graphdef, params, rest) if is_module else params
    return trained, history


_PROGRAMS: dict = {}  # what fit compiled, by what it compiled it from (see _programs)
_PROGRAMS_KEPT = 64


def _programs(loss_fn, batch_fn, graphdef, optimizer, learning_rate, clip_norm, steps, checks, mesh, batch_axis):
    """The optimizer, the jitted epoch ``(params, rest, opt_state, key) -> (params, opt_state, mean loss)``
    and the loss ``(params, rest, batch)`` of one :func:`fit` call.

    A second call with the same ``loss_fn`` and ``batch_fn`` (the same function objects), a model of
    the same structure (its ``nnx.GraphDef``) and the same optimizer settings gets the same programs
    back, so ``jax.jit`` finds the epoch it compiled before: several runs of one setting (seeds,
    repetitions) compile once. As with ``jax.jit`` itself, a function that reads a global variable
    is not traced again when that variable changes; the non-parameter state (``rest``) is an
    argument, never a constant of the program.
    """
    key = (loss_fn, batch_fn, graphdef, optimizer, learning_rate if optimizer is None else None, clip_norm)
    key += (steps, checks, mesh, batch_axis)
    try:
        hit = _PROGRAMS.get(key)
    except TypeError:  # something unhashable (a mesh of unusual devices): no reuse
        key, hit = None, None
    if hit is not None:
        return hit
    tx = _optimizer(optimizer, learning_rate, clip_norm)
    if graphdef is None:
        loss_with = lambda p, rest, batch: loss_fn(p, batch)
    else:
        loss_with = lambda p, rest, batch: loss_fn(nnx.merge(graphdef, p, rest), batch)
    draw = batch_fn if mesh is None else (lambda k: shard_batch(batch_fn(k), mesh, batch_axis))

    def run_epoch(params, rest, opt_state, key):
        def step(carry, k):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_with)(params, rest, draw(k))
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        keys = jax.random.split(key, steps)
        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), keys)
        return params, opt_state, losses.mean()

    if checks:
        run_epoch = jax.jit(checkify.checkify(run_epoch, errors=checkify.user_checks))
    else:
        run_epoch = jax.jit(run_epoch)
    programs = (tx, run_epoch, loss_with)
    if key is not None:
        if len(_PROGRAMS) >= _PROGRAMS_KEPT:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))  # the oldest
        _PROGRAMS[key] = programs
    return programs


_LOSSES: dict = {}


def _jitted_loss(loss_with):
    """``jax.jit(loss_with)``, one per loss: the validation loss of repeated runs compiles once."""
    if loss_with not in _LOSSES:
        if len(_LOSSES) >= _PROGRAMS_KEPT:
            _LOSSES.pop(next(iter(_LOSSES)))
        _LOSSES[loss_with] = jax.jit(loss_with)
    return _LOSSES[loss_with]


def fit_seeds(
    make: Callable,
    keys: Key,
    loss_fn: Callable,
    batch_fn: Callable,
    *,
    key: Key,
    epochs: int,
    steps_per_epoch: int = 100,
    optimizer: optax.GradientTransformation | None = None,
    learning_rate: float = 1e-3,
    clip_norm: float | None = None,
    evaluate: Callable | None = None,
    target_score: float | None = None,
    progress: bool = True,
    desc: str = "training",
    parallel: bool | str = True,
) -> tuple[list, History]:
    """Train one model per key of ``keys``; return ``(trained models, History)`` over all of them.

    A claim about training holds only if another seed would also make it true. Model ``i`` is
    ``make(keys[i])`` (a Flax NNX module or a pytree of parameters); it draws its own batches
    (``batch_fn`` of the ``i``-th of ``n`` keys split from each step's key, the step keys drawn
    from ``key`` as in :func:`fit`) and has its own optimizer state (``optimizer``, ``learning_rate``
    and ``clip_norm`` as in :func:`fit`, applied per model: the gradient norm is clipped model by
    model). ``History.train_loss`` is the mean over the models.

    * ``keys``: ``[n]`` PRNG keys (``jax.random.split(jax.random.key(seed), n)``), one per model.
    * ``evaluate(model) -> array``: a score of one model, computed for every model after every
      epoch; ``History.scores`` holds one ``[n, ...]`` array per epoch.
    * ``target_score``: the run ends after the first epoch in which every model's score is below it
      (a task solved by all seeds), or when ``epochs`` are done. The steps model ``i`` took to get
      there are ``History.steps_to(target_score)[i]``. With ``parallel`` the models that got there
      earlier go on training meanwhile; without, each stops at its own epoch, and its entries of
      ``History.scores`` and ``History.train_loss`` repeat its last ones after that.
    * ``parallel``: ``True`` (the default) stacks the models' parameters on a leading axis and trains
      them all at once, one :func:`fit` whose step is ``jax.vmap`` over that axis (there a model that
      reached ``target_score`` goes on training until every model has; the models share all state
      other than ``nnx.Param``, counters or a dropout stream: the first model's). ``False`` trains
      them one after the other, each by :func:`fit`, each compiled on its own. The two give the
      same models up to float rounding. Measured on 2 CPU cores (``python benchmarks/seeds.py``),
      a step of three models of the book's sizes costs about three times one model's in every mode
      (2.6 to 4.0 times vmapped, 2.8 to 4.0 times as a loop, 2.3 to 3.5 times with ``"map"``, in
      runs on a shared machine, whose ratios move from run to run), but the loop compiles once per
      model: in the chapters, whose runs are short, the vmapped program was
      the faster end to end (as a loop, the Vanishing Gradient chapter's adding problem took about
      1.3 times as long, its short tanh-RNN runs twice). On a GPU, with room for the stacked models,
      vmap should gain more (not measured here). ``"map"`` is one program as with ``True``, the
      models one after another inside it (``lax.map`` of each model's ``value_and_grad``,
      :func:`_mapped_loss`): each model's backward pass follows its own forward pass, while that
      model's intermediate arrays are still in the cache, and its products are plain matrix products
      where ``vmap`` makes them batched ones; the same models as ``True`` up to float rounding
      (tested). The gradient of three fused LSTMs or GRUs ran 1.2 to 1.5 times faster so than
      vmapped, a tanh RNN's as fast (interleaved in one process; the Performance appendix, "One model
      after another"). On whole chapters it saved 3 to 5 % of the LSTM, Vanishing Gradient and Modern
      RNNs chapters and cost the Seq2Seq chapter a tenth (one run each way, the same appendix), so
      they use ``True``.
    """
    if not (isinstance(parallel, bool) or parallel == "map"):
        raise ValueError(f"`parallel` must be True, False or 'map', got {parallel!r}")
    if not callable(make):
        raise TypeError(f"`make` must be a function of a PRNG key that builds a model, got {type(make).__name__}")
    check_key(keys, "keys")
    typed = jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key)
    n = keys.shape[0] if keys.ndim == (1 if typed else 2) else 0
    if n < 1:
        raise ValueError(
            f"`keys` must be [n] PRNG keys, one per model (jax.random.split(key, n)); got shape {shape_of(keys)}"
        )
    if not callable(loss_fn) or not callable(batch_fn):
        raise ValueError("loss_fn and batch_fn must be callables: loss_fn(model, batch), batch_fn(key)")
    if evaluate is not None and not callable(evaluate):
        raise TypeError(f"`evaluate` must be a function of the model, got {type(evaluate).__name__}")
    if target_score is not None and evaluate is None:
        raise ValueError("target_score needs an `evaluate` function to compare its score with")
    models = [make(keys[i]) for i in range(n)]
    is_module = isinstance(models[0], nnx.Module)
    if is_module:
        graphdef, _, rest = nnx.split(models[0], nnx.Param, ...)
        parts = [nnx.split(m, nnx.Param, ...)[1] for m in models]
        merge = lambda p: nnx.merge(graphdef, p, rest)
    else:
        parts, merge = models, lambda p: p
    structures = {jax.tree_util.tree_structure(p) for p in parts}
    shapes = {tuple(shape_of(leaf) for leaf in jax.tree_util.tree_leaves(p)) for p in parts}
    if len(structures) != 1 or len(shapes) != 1:
        raise ValueError("`make` must build models of one architecture for every key (same parameters and shapes)")
    if not parallel:
        return _fit_one_by_one(
            models,
            loss_fn,
            batch_fn,
            key=key,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            optimizer=optimizer,
            learning_rate=learning_rate,
            clip_norm=clip_norm,
            evaluate=evaluate,
            target_score=target_score,
            progress=progress,
            desc=desc,
        )
    params = jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *parts)

    summed_loss = _summed_loss(loss_fn, merge) if parallel != "map" else _mapped_loss(loss_fn, merge)

    tx = _optimizer(optimizer, learning_rate, clip_norm)
    per_model = optax.GradientTransformation(jax.vmap(tx.init), jax.vmap(tx.update))
    draw = lambda k: jax.vmap(batch_fn)(jax.random.split(k, n))
    score = None if evaluate is None else (lambda params: jax.vmap(lambda p: evaluate(merge(p)))(params))
    params, history = fit(
        params,
        summed_loss,
        draw,
        key=key,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        optimizer=per_model,
        evaluate=score,
        target_score=target_score,
        progress=progress,
        desc=desc,
    )
    return [merge(jax.tree_util.tree_map(lambda a, i=i: a[i], params)) for i in range(n)], history


def _summed_loss(loss_fn: Callable, merge: Callable) -> Callable:
    """The loss of :func:`fit_seeds`'s stacked models, vmapped: its value is the mean over the models (what
    the progress bar and History show), its gradient that of the sum, so that each model's parameters
    get exactly their own model's gradient."""

    def summed_loss(params, batches):
        losses = jax.vmap(lambda p, batch: loss_fn(merge(p), batch))(params, batches)
        return jax.lax.stop_gradient(losses.mean()) + (losses.sum() - jax.lax.stop_gradient(losses.sum()))

    return summed_loss


def _mapped_loss(loss_fn: Callable, merge: Callable) -> Callable:
    """:func:`_summed_loss` with the models one after another inside the program (``parallel="map"``):
    a ``jax.custom_vjp`` whose forward pass runs ``lax.map`` over the models of ``value_and_grad`` of
    each one's loss, so that a model's backward pass follows its own forward pass while that model's
    intermediate arrays are still in the cache, and whose backward pass hands each model its gradient
    (times the cotangent of the mean). Differentiating a ``lax.map`` of the losses instead would run
    every model's forward pass before any backward pass, the order ``vmap`` also has."""

    def one(p, batch):
        return loss_fn(merge(p), batch)

    @jax.custom_vjp
    def mapped_loss(params, batches):
        return jax.lax.map(lambda a: one(*a), (params, batches)).mean()

    def forward(params, batches):
        losses, grads = jax.lax.map(lambda a: jax.value_and_grad(one)(*a), (params, batches))
        return losses.mean(), grads

    def backward(grads, g):
        return jax.tree_util.tree_map(lambda d: g * d, grads), None  # None: no gradient for the batches

    mapped_loss.defvjp(forward, backward)
    return mapped_loss


_NTH_BATCH: dict = {}


def _nth_batch_fn(batch_fn: Callable, n: int, i: int) -> Callable:
    """``k -> batch_fn(split(k, n)[i])``: model ``i``'s batches, those the vmapped run draws for it. One
    function per ``(batch_fn, n, i)``, so that repeated runs of a setting find :func:`fit`'s compiled epoch."""
    key = (batch_fn, n, i)
    if key not in _NTH_BATCH:
        if len(_NTH_BATCH) >= _PROGRAMS_KEPT:
            _NTH_BATCH.pop(next(iter(_NTH_BATCH)))
        _NTH_BATCH[key] = lambda k: batch_fn(jax.random.split(k, n)[i])
    return _NTH_BATCH[key]


def _fit_one_by_one(models, loss_fn, batch_fn, *, key, epochs, desc, progress, **options) -> tuple[list, History]:
    """:func:`fit_seeds` with ``parallel=False``: :func:`fit` for each model, the histories merged."""
    n, trained, runs = len(models), [], []
    for i, model in enumerate(models):
        model, hist = fit(
            model,
            loss_fn,
            _nth_batch_fn(batch_fn, n, i),
            key=key,
            epochs=epochs,
            progress=progress,
            desc=f"{desc} ({i + 1}/{n})",
            **options,
        )
        trained.append(model)
        runs.append(hist)
    history = History(seconds=sum(h.seconds for h in runs))
    for epoch in range(max(len(h.step) for h in runs)):
        at = [min(epoch, len(h.step) - 1) for h in runs]  # a model that stopped repeats its last epoch
        history.step.append((epoch + 1) * options["steps_per_epoch"])
        history.train_loss.append(float(np.mean([h.train_loss[e] for h, e in zip(runs, at)])))
        if runs[0].scores:
            history.scores.append(np.stack([h.scores[e] for h, e in zip(runs, at)]))
    return trained, history


def _non_finite_loss(
    loss: float, epoch: int, loss_of: Callable, params: PyTree, draw: Callable, key: Key, steps: int
) -> Exception:
    """Why the loss of ``epoch`` became ``loss`` (NaN or infinite): the data, or divergence.

    The epoch's batches are drawn again from the same keys (one ``jit`` of ``draw``) and each is
    scored with the parameters the epoch started from. A batch holding NaN or infinity is the
    data's fault (ValueError). A batch whose loss is already non-finite there is run once more
    eagerly, where the package's value checks (ids in the vocabulary, lengths, ...) run and name
    the bad argument (ValueError); if they all pass, the loss or the data is at fault
    (FloatingPointError). If every batch is clean, the parameters diverged (FloatingPointError).
    """
    head = f"training loss became {loss} in epoch {epoch + 1}"
    draw_jit, loss_jit = jax.jit(draw), jax.jit(loss_of)
    for i, k in enumerate(jax.random.split(key, steps)):
        batch = draw_jit(k)
        where = f"batch {i + 1} of epoch {epoch + 1}"
        for path, leaf in jax.tree_util.tree_leaves_with_path(batch):
            value = concrete(leaf)
            if value is not None and np.issubdtype(value.dtype, np.inexact) and not np.all(np.isfinite(value)):
                return ValueError(
                    f"{head}: the data is at fault, not the learning rate: {where} holds NaN or infinite values "
                    f"(in batch{jax.tree_util.keystr(path)})"
                )
        if np.isfinite(float(loss_jit(params, batch))):
            continue
        try:
            loss_of(params, batch)  # eagerly: the value checks of the model and the loss run
        except ValueError as err:
            return ValueError(f"{head}: the data is at fault, not the learning rate: {where} is invalid: {err}")
        return FloatingPointError(
            f"{head}: the loss or the data is at fault, not the learning rate: {where} gives a non-finite loss "
            "already with the parameters the epoch started from, and passes every value check (look for ids "
            "outside the vocabulary inside jit, empty masks, a log of zero in the loss)"
        )
    return FloatingPointError(
        f"{head}: the parameters diverged (every batch of the epoch gives a finite loss with the parameters "
        "the epoch started from): lower the learning rate or set clip_norm"
    )


def minibatches(data: PyTree, batch_size: int) -> Callable[[Key], PyTree]:
    """A ``batch_fn`` drawing ``batch_size`` rows (with replacement) of every array in ``data``."""
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("data is empty: give a pytree of arrays with a leading example axis")
    if any(getattr(leaf, "ndim", 0) < 1 for leaf in leaves):
        raise ValueError("`data` must hold arrays with a leading example axis, not scalars or Python numbers")
    n = leaves[0].shape[0]
    if any(leaf.shape[0] != n for leaf in leaves):
        raise ValueError(f"all arrays in data must have the same leading size, got {[l.shape[0] for l in leaves]}")
    check_positive_int(batch_size, "batch_size")

    def batch_fn(key):
        idx = jax.random.randint(key, (batch_size,), 0, n)
        return jax.tree_util.tree_map(lambda a: a[idx], data)

    return batch_fn


def accuracy(logits: Array, labels: ArrayLike) -> float:
    """Share of argmax predictions equal to ``labels``: ``logits [..., classes]``, ``labels [...]``
    integers in ``[0, classes)``, of the logits' shape without the class axis (a ``[batch, 1]`` label
    array against ``[batch, classes]`` logits is an error, not a broadcast)."""
    labels = jnp.asarray(labels)
    shape = getattr(logits, "shape", None)
    if shape is None or len(shape) < 1:
        raise ValueError(f"`logits` must have shape [..., classes]; got {shape}")
    if tuple(labels.shape) != tuple(shape[:-1]):
        raise ValueError(
            f"`labels` must have the shape of the logits without the class axis, {list(shape[:-1])}; "
            f"got {list(labels.shape)}"
        )
    check_ids(labels, shape[-1], "labels", "the classes")
    check_finite(logits, "logits")
    return float(jnp.mean(jnp.argmax(logits, -1) == labels))


def auroc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve: the probability that a random positive scores above a random negative.

    ``scores [n]`` (higher means "more likely positive"), ``labels [n]`` booleans (True: positive).
    Ties count one half (the Mann-Whitney U statistic, from average ranks). 0.5 is chance, 1 a
    perfect separation. Needs at least one positive and one negative.
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    if scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(
            f"`scores` and `labels` must both have shape [n]; got {list(scores.shape)} and {list(labels.shape)}"
        )
    if labels.dtype != np.bool_:
        raise ValueError(f"`labels` must be booleans (True for a positive), got dtype {labels.dtype}")
    if not np.issubdtype(scores.dtype, np.number) or np.issubdtype(scores.dtype, np.complexfloating):
        raise ValueError(f"`scores` must be real numbers, got dtype {scores.dtype}")
    check_finite(scores, "scores")
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"`labels` must hold at least one positive and one negative; got {n_pos} and {n_neg}")
    ranks = scipy.stats.rankdata(scores)  # average ranks: ties count one half
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
