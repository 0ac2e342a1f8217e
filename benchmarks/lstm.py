"""Forward + backward of one LSTM layer: rnnbook's lax.scan LSTM against its peers, in one run.

    python benchmarks/lstm.py [--quick] [--out benchmarks/results/lstm.json]
    python benchmarks/lstm.py --quick --runs 5 --out benchmarks/results/lstm_main.json

Peers: ``torch.nn.LSTM`` (CPU, torch threads set to JAX's: the machine's cores) and Flax's own
layer, ``nnx.RNN(nnx.OptimizedLSTMCell)``. Ours: ``Recurrent("lstm", fused=False)``, "scan" (the
cell the LSTM chapter teaches, ``lstm_cell``, driven by ``lax.scan``: the gate matmuls of x and h
inside every step, the backward pass by automatic differentiation); the same cell with the input
projection hoisted out of the scan (one ``[B*T, I] x [I, 4H]`` matmul before it; the scan then does
only ``h W_h``): ``rnnbook.lstm.lstm_scan_hoisted``, also with ``scan(unroll=4)``; and
``Recurrent("lstm")``, "fused", the layer's own path since the second performance round
(``rnnbook.lstm.lstm_scan_fused``: one ``[x, h] @ W`` matmul per step, a hand-written backward pass
with one matmul per step, the weight gradients as one large matmul after the loop). At the main
size the fused layer is also run under XLA CPU flags, each in a fresh process.

The method (``benchmarks/common.py``) survives a machine that other work shares: each thread count of
``--threads`` (default 1 and 2) runs in its own process held to that many cores, with torch set to
as many threads and OpenMP waiting passively (``OMP_WAIT_POLICY=PASSIVE``); in it every
implementation runs interleaved with the others round by round (after a warm-up: compilation
excluded), wall and CPU time recorded. A ratio is peer time / our time taken round by round, then
its median (above 1 means ours is faster); the quartiles of the per-round ratios are kept as its
spread. The loss is ``sum(outputs ** 2)``, so the backward pass reaches every parameter and the
input. The sweep of sizes runs at the most threads (its ``rows`` are what the Performance appendix
renders); every other thread count times the main size only. A
``bf16`` entry per thread count times ours and torch with bfloat16 weights, inputs and activations
at the main size (torch's oneDNN uses AMX or AVX512-BF16 where the CPU has them; the ISA is in the
results): a ratio of its own, not mixed into the float32 ones. ``--quick --runs N`` times the
main size in ``N`` fresh processes per thread count and keeps the spread of their medians: the
verdict on the main size's targets, which one process's rounds cannot give on two threads. The full
run also times three models at once under ``jax.vmap``, as ``train.fit_seeds`` trains the chapters'
seeds, at two of the chapters' sizes (``vmapped``: the scanned cell's path against the fused one).
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

common.pin_from_environment()  # a child process of --threads: held to its cores before JAX and torch start

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

from rnnbook import lstm  # noqa: E402
from rnnbook.layers import Recurrent  # noqa: E402

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


def ours_layer(batch, steps, n_in, hidden, fused=True):
    return common.one_layer("lstm", batch, steps, n_in, hidden, fused)


def ours_scan(batch, steps, n_in, hidden):
    return ours_layer(batch, steps, n_in, hidden, fused=False)


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
    return ours_layer(batch, steps, n_in, hidden, fused=True)


def flax_rnn(batch, steps, n_in, hidden):
    zero = lambda b, h: (jnp.zeros((b, h)), jnp.zeros((b, h)))  # (c, h): a zero state, as for the others
    return common.flax_layer(nnx.OptimizedLSTMCell, zero, batch, steps, n_in, hidden)


def torch_lstm(batch, steps, n_in, hidden):
    return common.torch_layer("LSTM", batch, steps, n_in, hidden)


def ours_bf16(batch, steps, n_in, hidden):
    layer = Recurrent("lstm", n_in, hidden, rngs=nnx.Rngs(0))  # the layer's path: fused
    graph, params, rest = nnx.split(layer, nnx.Param, ...)
    params = jax.tree.map(lambda a: a.astype(jnp.bfloat16), params)
    xs = jax.random.normal(jax.random.key(1), (batch, steps, n_in), jnp.bfloat16)
    zero = jax.tree.map(lambda a: a.astype(jnp.bfloat16), layer.initial_carry(batch))  # a float32 state would promote
    loss = lambda p, x: jnp.sum(nnx.merge(graph, p, rest)(x, carry=zero)[1].astype(jnp.float32) ** 2)
    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(params, xs))


def torch_lstm_bf16(batch, steps, n_in, hidden):
    import torch

    torch.manual_seed(0)
    layer = torch.nn.LSTM(n_in, hidden, batch_first=True).to(torch.bfloat16)
    xs = torch.randn(batch, steps, n_in, dtype=torch.bfloat16, requires_grad=True)

    def run():
        layer.zero_grad(set_to_none=True)
        xs.grad = None
        out, _ = layer(xs)
        (out.float() ** 2).sum().backward()

    return run


# bfloat16 weights, inputs and activations (torch's oneDNN uses AMX or AVX512-BF16 where the CPU has
# them): a row of its own, never mixed into the float32 ratios.
BF16 = {"rnnbook bf16": ours_bf16, "torch.nn.LSTM bf16": torch_lstm_bf16}

IMPLEMENTATIONS = {
    "rnnbook scan": ours_scan,
    "rnnbook hoisted": ours_hoisted,
    "rnnbook hoisted unroll=4": ours_hoisted_unroll4,
    "rnnbook fused": ours_fused,
    "flax nnx.RNN": flax_rnn,
    "torch.nn.LSTM": torch_lstm,
}


def machine():
    return common.machine("flax", "torch")  # the threads of each run are in by_threads[...]["setting"]


OURS = [name for name in IMPLEMENTATIONS if name.startswith("rnnbook")]
FLAGS = [
    "--xla_cpu_use_thunk_runtime=false",
    "--xla_cpu_enable_fast_math=true",
    "--xla_cpu_use_xnnpack=true",
    "--xla_cpu_experimental_ynn_fusion_type=",
]


def flag_experiment(flags: str, repeats: int, inner: int) -> float:
    """The layer's LSTM (fused) at the main size in a fresh process with ``XLA_FLAGS=flags`` (read at JAX's start)."""
    here = str(pathlib.Path(__file__).parent)
    code = (
        f"import sys; sys.path.insert(0, {here!r}); import lstm as b; "
        f"print(b.median_time(b.ours_fused(64, 100, 64, 256), {repeats}, {inner}))"
    )
    env = {**os.environ, "XLA_FLAGS": flags}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def measure(sizes, rounds: int, inner: int) -> list[dict]:
    """Every implementation at every size, interleaved round by round in this process."""
    rows = []
    print(f"{'batch':>5} {'time':>5} {'in':>4} {'hidden':>6}  " + "  ".join(f"{n[:22]:>22}" for n in IMPLEMENTATIONS))
    for batch, steps, n_in, hidden in sizes:
        timed = common.interleaved(
            {name: make(batch, steps, n_in, hidden) for name, make in IMPLEMENTATIONS.items()}, rounds, inner
        )
        ms = {name: 1e3 * statistics.median(t) for name, t in timed["wall_s"].items()}
        cpu_ms = {name: 1e3 * statistics.median(t) for name, t in timed["cpu_s"].items()}
        torch_over = {name: common.ratio(timed, "torch.nn.LSTM", name) for name in OURS}
        flax_over = {name: common.ratio(timed, "flax nnx.RNN", name) for name in OURS}
        best = max(OURS, key=lambda name: torch_over[name]["median"])
        row = {
            "batch": batch,
            "time": steps,
            "input": n_in,
            "hidden": hidden,
            "ms": ms,
            "cpu_ms": cpu_ms,
            "ours_best": best,
            "torch_over_ours": {name: r["median"] for name, r in torch_over.items()},
            "flax_over_ours": {name: r["median"] for name, r in flax_over.items()},
            "torch_over_ours_spread": torch_over,
            "flax_over_ours_spread": flax_over,
            "torch_over_ours_cpu": {
                name: common.ratio(timed, "torch.nn.LSTM", name, "cpu_s")["median"] for name in OURS
            },
        }
        rows.append(row)
        spread = torch_over[best]
        print(
            f"{batch:5d} {steps:5d} {n_in:4d} {hidden:6d}  "
            + "  ".join(f"{ms[n]:19.1f} ms" for n in IMPLEMENTATIONS)
            + f"   best of ours: {best}, torch/it {spread['median']:.2f} "
            + f"[{spread['q25']:.2f}, {spread['q75']:.2f}], flax/it {row['flax_over_ours'][best]:.2f}",
            flush=True,
        )
    return rows


# The sizes at which the chapters train LSTMs three seeds at a time (batch, time, input, hidden).
VMAPPED = {"adding problem": (64, 100, 2, 32), "lstm chapter table": (32, 64, 32, 128)}


def sizes_of(quick: bool) -> list[tuple[int, int, int, int]]:
    sizes = [(64, 100, 64, 256)]
    if not quick:
        sizes += [(64, t, 64, 256) for t in (25, 50, 200, 400)] + [(64, 100, 64, h) for h in (64, 128, 512, 1024)]
        sizes += [(b, 100, 64, 256) for b in (1, 8, 256)]
    return sizes


def child(quick: bool) -> None:
    """One thread count (this process was held to its cores by ``common.pin_from_environment``)."""
    import torch

    threads = int(os.environ[common.THREADS_ENV])
    torch.set_num_threads(threads)
    rounds, inner = (5, 3) if quick else (7, 3)
    rows = measure(sizes_of(quick), rounds, inner)
    # As the chapters train (train.fit_seeds): three models at once, vmapped, at two of their sizes.
    vmapped = [] if quick else common.vmapped_rows("lstm", VMAPPED, rounds, inner)
    batch, steps, n_in, hidden = sizes_of(True)[0]
    timed = common.interleaved({name: make(batch, steps, n_in, hidden) for name, make in BF16.items()}, rounds, inner)
    bf16 = {
        "batch": batch,
        "time": steps,
        "input": n_in,
        "hidden": hidden,
        "ms": {name: 1e3 * statistics.median(t) for name, t in timed["wall_s"].items()},
        "torch_over_ours": common.ratio(timed, "torch.nn.LSTM bf16", "rnnbook bf16"),
    }
    print(
        f"bfloat16 at the main size: ours {bf16['ms']['rnnbook bf16']:.1f} ms, torch "
        f"{bf16['ms']['torch.nn.LSTM bf16']:.1f} ms, torch/ours {bf16['torch_over_ours']['median']:.2f}",
        flush=True,
    )
    print(json.dumps({"setting": common.setting(), "torch_threads": torch.get_num_threads(), "rounds": rounds,
                      "inner": inner, "rows": rows, "bf16": bf16, "vmapped": vmapped}))  # fmt: skip


def main_size_runs(runs: int, thread_counts: list[int], out: pathlib.Path) -> None:
    """The main size (``--quick``) in ``runs`` fresh processes per thread count, the thread counts
    alternating run by run; per thread count, the spread of the runs' median ratios (each run's own
    spread is in ``runs``). One process's rounds share its state (compiled code, memory layout, what
    else ran on the machine meanwhile); the spread between processes is the one a verdict on a target
    must survive."""
    results = []
    for k in range(runs):
        print(f"== run {k + 1} of {runs}", flush=True)
        results.append(common.results_by_threads(__file__, thread_counts, ["--child", "--quick"]))
    pooled = {}
    for threads in map(str, thread_counts):
        pooled[threads] = {
            f"{peer}_over_fused": common.spread(
                r[threads]["rows"][0][f"{peer}_over_ours"]["rnnbook fused"] for r in results
            )
            for peer in ("torch", "flax")
        }
        t, f = pooled[threads]["torch_over_fused"], pooled[threads]["flax_over_fused"]
        print(f"{threads} thread(s), main size, median of {runs} runs: torch/fused {t['median']:.2f} "
              f"(runs {t['min']:.2f}-{t['max']:.2f}), flax/fused {f['median']:.2f} (runs {f['min']:.2f}-"
              f"{f['max']:.2f})", flush=True)  # fmt: skip
    result = {"benchmark": "lstm, main size only, in fresh processes (python benchmarks/lstm.py --quick --runs N)",
              "machine": machine(), "method": "interleaved rounds, threads pinned (common.py); one process per run",
              "pooled": pooled, "runs": results}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the main size only, fewer rounds, no flags")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts, one process each")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "lstm.json")
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="with --quick: time the main size in this many fresh processes per thread count",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.quick)
    if args.runs != 1:
        if not args.quick or args.runs < 2:
            parser.error("--runs takes a count of 2 or more, with --quick")
        return main_size_runs(args.runs, sorted(set(args.threads)), args.out)
    # The sweep runs at the most threads; every other thread count times the main size (and bf16) only.
    sweep_at = max(args.threads)
    by_threads = {}
    for threads in sorted(set(args.threads)):
        quick = args.quick or threads != sweep_at
        arguments = ["--child", *(["--quick"] if quick else [])]
        by_threads.update(common.results_by_threads(__file__, [threads], arguments, ", OMP_WAIT_POLICY=PASSIVE"))
    most = by_threads[str(sweep_at)]
    flags = []
    if not args.quick:
        for flag in ["", *FLAGS]:
            flags.append({"XLA_FLAGS": flag, "ms": flag_experiment(flag, most["rounds"], most["inner"])})
            print(f"rnnbook fused, XLA_FLAGS={flag or '(none)'}: {flags[-1]['ms']:.1f} ms", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "lstm", "machine": machine(), "method": "interleaved rounds, threads pinned (common.py)",
              "repeats": most["rounds"], "inner": most["inner"], "rows": most["rows"], "by_threads": by_threads,
              "xla_flags": flags}  # fmt: skip
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
