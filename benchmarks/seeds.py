"""Seeds vmapped or one after the other: the cost of ``train.fit_seeds`` per optimizer step.

    python benchmarks/seeds.py [--seeds 3] [--out benchmarks/results/seeds.json]

For three models of the book's sizes (the Vanishing Gradient chapter's adding-problem LSTM and tanh
RNN, the Seq2Seq chapter's copy model), the time of one optimizer step of ``train.fit`` (one seed) and
of ``train.fit_seeds`` with ``n`` seeds, as the default vmapped program, as one program that runs
the models one after another (``parallel="map"``: each model's forward and backward pass back to
back) and as a loop of separate runs (``parallel=False``), compilation left out (the difference of
the fastest of three 1-epoch and three 3-epoch runs after a warm-up), and the time of each one's
first call (compilation included).
Printed as ratios to one seed's step: the loop costs about ``n``; the vmapped program saves
arithmetic only where its ratio is below ``n``. The machine is shared: repeat a run before trusting
a ratio near ``n``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import common
import jax
import jax.numpy as jnp
from flax import nnx

from rnnbook import data, seq2seq, train
from rnnbook.losses import mse
from rnnbook.models import Regressor


def adding(cell: str, units: int) -> tuple:
    """The adding problem's regressor (T=100, batch 64): ``(make, loss, batch)``."""
    return (lambda k: Regressor(cell, 2, units, rngs=nnx.Rngs(k)), mse, lambda k: data.adding_problem(k, 64, 100))


MODELS = {
    "adding LSTM (T=100, batch 64, 32 units)": adding("lstm", 32),
    "adding tanh RNN (T=100, batch 64, 32 units)": adding("rnn", 32),
    "adding LSTM (T=100, batch 64, 128 units)": adding("lstm", 128),
    "adding GRU (T=100, batch 64, 128 units)": adding("gru", 128),
    "copy seq2seq LSTM (2-24 symbols, batch 64, 64 units)": (
        lambda k: seq2seq.Seq2Seq(14, 14, embed=16, hidden=64, cell="lstm", rngs=nnx.Rngs(k)),
        seq2seq.loss_fn,
        lambda k: data.copy_task(k, 64, 2, 24),
    ),
}


def gradient_step(make, keys, loss, batch, parallel: str):
    """One jitted gradient of :func:`rnnbook.train.fit_seeds`'s loss over the stacked models (the part of
    its step that ``parallel`` changes; the optimizer's update is the same either way)."""
    models = [make(k) for k in keys]
    graphdef, _, rest = nnx.split(models[0], nnx.Param, ...)
    params = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[nnx.split(m, nnx.Param, ...)[1] for m in models])
    merge = lambda p: nnx.merge(graphdef, p, rest)
    summed = train._mapped_loss(loss, merge) if parallel == "map" else train._summed_loss(loss, merge)
    batches = jax.vmap(batch)(jax.random.split(jax.random.key(5), len(keys)))
    grad = jax.jit(jax.value_and_grad(summed))
    return lambda: jax.block_until_ready(grad(params, batches))


def step_cost(run, steps: int, rounds: int = 3) -> tuple[float, float]:
    """(seconds per step without compilation, seconds of the first call): the fastest of ``rounds``
    runs of 1 and of 3 epochs, their difference over the 2 epochs between them."""
    start = time.perf_counter()
    run(1)
    first = time.perf_counter() - start
    times = {1: float("inf"), 3: float("inf")}
    for _ in range(rounds):
        for epochs in (1, 3):
            start = time.perf_counter()
            run(epochs)
            times[epochs] = min(times[epochs], time.perf_counter() - start)
    return (times[3] - times[1]) / (2 * steps), first


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15, help="rounds of the interleaved gradient timing")
    parser.add_argument("--only", nargs="*", help="the models whose names start with these words")
    parser.add_argument("--out", default=str(common.RESULTS / "seeds.json"))
    args = parser.parse_args(argv)
    rows = []
    key = jax.random.key(0)
    keys = jax.random.split(key, args.seeds)
    for name, (make, loss, batch) in MODELS.items():
        if args.only and not any(name.startswith(word) for word in args.only):
            continue
        options = dict(key=key, steps_per_epoch=args.steps, learning_rate=1e-3, progress=False)
        one, one_compile = step_cost(lambda e: train.fit(make(key), loss, batch, epochs=e, **options), args.steps)
        loop, loop_compile = step_cost(
            lambda e: train.fit_seeds(make, keys, loss, batch, epochs=e, parallel=False, **options), args.steps
        )
        vmapped, vmap_compile = step_cost(
            lambda e: train.fit_seeds(make, keys, loss, batch, epochs=e, parallel=True, **options), args.steps
        )
        mapped, map_compile = step_cost(
            lambda e: train.fit_seeds(make, keys, loss, batch, epochs=e, parallel="map", **options), args.steps
        )
        timed = common.interleaved({mode: gradient_step(make, keys, loss, batch, mode) for mode in ("vmap", "map")},
                                   rounds=args.rounds, inner=3)  # fmt: skip
        gain = common.ratio(timed, "vmap", "map")
        print(f"    the gradient of {args.seeds} models alone, interleaved: vmap / map {gain['median']:.2f} "
              f"[{gain['q25']:.2f}, {gain['q75']:.2f}]", flush=True)  # fmt: skip
        rows.append({"model": name, "one_seed_ms": 1e3 * one, "loop_ratio": loop / one, "vmap_ratio": vmapped / one,
                     "map_ratio": mapped / one, "gradient_vmap_over_map": gain,
                     "gradient_ms": {m: 1e3 * statistics.median(t) for m, t in timed["wall_s"].items()},
                     "first_call_s": {"one": one_compile, "loop": loop_compile, "vmap": vmap_compile,
                                      "map": map_compile}})  # fmt: skip
        print(f"{name:54s} one seed {1e3 * one:6.1f} ms/step; {args.seeds} seeds: loop x {loop / one:.2f}, "
              f"vmap x {vmapped / one:.2f}, map x {mapped / one:.2f}; first call {loop_compile:.1f} s (loop), "
              f"{vmap_compile:.1f} s (vmap), {map_compile:.1f} s (map)", flush=True)  # fmt: skip
    result = {"benchmark": "seeds", "machine": common.machine("flax", "optax"), "seeds": args.seeds,
              "steps_per_epoch": args.steps, "rows": rows}  # fmt: skip
    with open(args.out, "w") as f:
        f.write(json.dumps(result, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
