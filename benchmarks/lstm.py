"""Forward + backward of one LSTM layer: rnnbook's lax.scan LSTM against its peers, in one run.

    python benchmarks/lstm.py [--quick] [--out benchmarks/results/lstm.json]

Peers: ``torch.nn.LSTM`` (CPU, torch threads set to JAX's: the machine's cores) and Flax's own
layer, ``nnx.RNN(nnx.OptimizedLSTMCell)``. Ours: ``rnnbook.layers.Recurrent("lstm")`` (the gate
matmuls of x and h inside every step, as the chapters teach it); the same cell with the input
projection hoisted out of the scan (one ``[B*T, I] x [I, 4H]`` matmul before it; the scan then does
only ``h W_h``): ``rnnbook.lstm.lstm_scan_hoisted``, also with ``scan(unroll=4)``; and
``rnnbook.lstm.lstm_scan_fused``, the scanned cell with a hand-written backward pass (one matmul per
backward step, the weight gradients as single large matmuls after the loop). At the main size the
plain scan is also run under XLA CPU flags, each in a fresh process (``--flags``).

Each number is the median of repeated timed calls after a warm-up (compilation excluded); the
loss is ``sum(outputs ** 2)``, so the backward pass reaches every parameter and the input. The
ratio column is peer time / our time: above 1 means ours is faster.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

import common
import jax
import jax.numpy as jnp
from flax import nnx

from rnnbook import lstm
from rnnbook.layers import Recurrent

RESULTS = common.RESULTS


def median_time(fn, repeats: int, inner: int) -> float:
    """Median over ``repeats`` of the mean time of ``inner`` calls, in milliseconds."""
    fn()  # warm-up: compilation, allocation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return 1e3 * statistics.median(times)


def ours_scan(batch, steps, n_in, hidden):
    layer = Recurrent("lstm", n_in, hidden, rngs=nnx.Rngs(0))
    graph, params, rest = nnx.split(layer, nnx.Param, ...)
    xs = jax.random.normal(jax.random.key(1), (batch, steps, n_in))
    grad = jax.jit(jax.grad(lambda p, x: jnp.sum(nnx.merge(graph, p, rest)(x)[1] ** 2), argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(params, xs))


def ours_hoisted(batch, steps, n_in, hidden):
    params = lstm.init_lstm(jax.random.key(0), n_in, hidden)
    xs = jax.random.normal(jax.random.key(1), (batch, steps, n_in))
    grad = jax.jit(jax.grad(lambda p, x: jnp.sum(lstm.lstm_scan_hoisted(p, x)[1] ** 2), argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(params, xs))


def ours_hoisted_unroll4(batch, steps, n_in, hidden):
    params = lstm.init_lstm(jax.random.key(0), n_in, hidden)
    xs = jax.random.normal(jax.random.key(1), (batch, steps, n_in))
    loss = lambda p, x: jnp.sum(lstm.lstm_scan_hoisted(p, x, unroll=4)[1] ** 2)
    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(params, xs))


def ours_fused(batch, steps, n_in, hidden):
    params = lstm.init_lstm(jax.random.key(0), n_in, hidden)
    xs = jax.random.normal(jax.random.key(1), (batch, steps, n_in))
    grad = jax.jit(jax.grad(lambda p, x: jnp.sum(lstm.lstm_scan_fused(p, x)[1] ** 2), argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(params, xs))


def flax_rnn(batch, steps, n_in, hidden):
    layer = nnx.RNN(nnx.OptimizedLSTMCell(n_in, hidden, rngs=nnx.Rngs(0)))
    graph, params, rest = nnx.split(layer, nnx.Param, ...)
    xs = jax.random.normal(jax.random.key(1), (batch, steps, n_in))
    zero = (jnp.zeros((batch, hidden)), jnp.zeros((batch, hidden)))  # (c, h): a zero state, as for the others
    run = lambda p, x: nnx.merge(graph, p, rest)(x, initial_carry=zero)
    grad = jax.jit(jax.grad(lambda p, x: jnp.sum(run(p, x) ** 2), argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(params, xs))


def torch_lstm(batch, steps, n_in, hidden):
    import torch

    torch.manual_seed(0)
    layer = torch.nn.LSTM(n_in, hidden, batch_first=True)
    xs = torch.randn(batch, steps, n_in, requires_grad=True)

    def run():
        layer.zero_grad(set_to_none=True)
        xs.grad = None
        out, _ = layer(xs)
        (out**2).sum().backward()

    return run


IMPLEMENTATIONS = {
    "rnnbook scan": ours_scan,
    "rnnbook hoisted": ours_hoisted,
    "rnnbook hoisted unroll=4": ours_hoisted_unroll4,
    "rnnbook fused": ours_fused,
    "flax nnx.RNN": flax_rnn,
    "torch.nn.LSTM": torch_lstm,
}


def machine():
    import torch

    return {**common.machine("flax", "torch"), "torch_threads": torch.get_num_threads()}


OURS = [name for name in IMPLEMENTATIONS if name.startswith("rnnbook")]
FLAGS = ["--xla_cpu_use_thunk_runtime=false", "--xla_cpu_enable_fast_math=true", "--xla_cpu_use_xnnpack=true"]


def flag_experiment(flags: str, repeats: int, inner: int) -> float:
    """The plain scan at the main size in a fresh process with ``XLA_FLAGS=flags`` (read at JAX's start)."""
    here = str(pathlib.Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); import lstm as b; "
        f"print(b.median_time(b.ours_scan(64, 100, 64, 256), {repeats}, {inner}))"
    )
    env = {**os.environ, "XLA_FLAGS": flags}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the main size only, fewer repeats, no flags")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "lstm.json")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    repeats, inner = (5, 3) if args.quick else (9, 5)
    sizes = [(64, 100, 64, 256)]
    if not args.quick:
        sizes += [(64, t, 64, 256) for t in (25, 50, 200, 400)] + [(64, 100, 64, h) for h in (64, 128, 512)]
    rows = []
    print(f"{'batch':>5} {'time':>5} {'in':>4} {'hidden':>6}  " + "  ".join(f"{n[:22]:>22}" for n in IMPLEMENTATIONS))
    for batch, steps, n_in, hidden in sizes:
        ms = {
            name: median_time(make(batch, steps, n_in, hidden), repeats, inner)
            for name, make in IMPLEMENTATIONS.items()
        }
        best = min(OURS, key=ms.get)
        row = {
            "batch": batch,
            "time": steps,
            "input": n_in,
            "hidden": hidden,
            "ms": ms,
            "ours_best": best,
            "torch_over_ours": {name: ms["torch.nn.LSTM"] / ms[name] for name in OURS},
            "flax_over_ours": {name: ms["flax nnx.RNN"] / ms[name] for name in OURS},
        }
        rows.append(row)
        print(
            f"{batch:5d} {steps:5d} {n_in:4d} {hidden:6d}  "
            + "  ".join(f"{ms[n]:19.1f} ms" for n in IMPLEMENTATIONS)
            + f"   best of ours: {best}, torch/it {row['torch_over_ours'][best]:.2f}, "
            + f"flax/it {row['flax_over_ours'][best]:.2f}",
            flush=True,
        )
    flags = []
    if not args.quick:
        for flag in ["", *FLAGS]:
            flags.append({"XLA_FLAGS": flag, "ms": flag_experiment(flag, repeats, inner)})
            print(f"rnnbook scan, XLA_FLAGS={flag or '(none)'}: {flags[-1]['ms']:.1f} ms", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "lstm", "machine": machine(), "repeats": repeats, "inner": inner, "rows": rows,
              "xla_flags": flags}  # fmt: skip
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
