"""What every benchmark records: the machine it ran on and the versions of what it compared."""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def machine(*packages: str) -> dict:
    """CPU model, cores, Python, JAX's device, the CPU's vector ISA, XLA_FLAGS, and the versions of ``packages``
    (those installed)."""
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("jax", *packages):
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "device": jax.devices()[0].device_kind,
        "isa": isa(),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        **versions,
    }


# ---------------------------------------------------------------------------------------------------
# The method of the peer benchmarks, made to survive a machine that other work shares (issue 26):
#
# * both sides get the same cores and the same number of threads: the process is held to the first
#   ``threads`` cores (``os.sched_setaffinity``) before JAX or torch starts its thread pools, XLA sizes
#   its pool from that affinity, torch gets ``torch.set_num_threads(threads)``, and OpenMP waits
#   passively (``OMP_WAIT_POLICY=PASSIVE``): torch's spinning OpenMP threads, on a busy machine,
#   collapsed to 1.2-2.4 s a step against 0.18 s on one thread in the study of issue 26;
# * ours and the peers run interleaved round by round in one process (the order rotated every round),
#   so that a load that comes and goes falls on all of them alike, and the ratio is taken round by
#   round (peer time / our time in the same round) before its median is taken;
# * CPU time (``time.process_time``: every thread of the process) is recorded beside wall time;
# * the results record the CPU model, its vector ISA, the threads, the affinity and the XLA flags.
# ---------------------------------------------------------------------------------------------------
THREADS_ENV = "RNNBOOK_BENCH_THREADS"


def pin(threads: int) -> list[int]:
    """Hold this process to its first ``threads`` allowed cores and make OpenMP wait passively; return
    the cores. Call it before JAX or torch starts (XLA's thread pool and OpenMP read this at start)."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    allowed = sorted(os.sched_getaffinity(0))
    if threads > len(allowed):
        raise ValueError(f"asked for {threads} threads, but this process may run on {len(allowed)} cores only")
    cores = allowed[:threads]
    os.sched_setaffinity(0, cores)
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    return cores


def pin_from_environment() -> int | None:
    """``pin(n)`` when ``RNNBOOK_BENCH_THREADS=n`` is set (a benchmark's child process), else nothing."""
    value = os.environ.get(THREADS_ENV)
    if not value:
        return None
    pin(int(value))
    return int(value)


def isa() -> list[str]:
    """The vector instruction sets this CPU reports (the ones that change float results and speed)."""
    try:
        flags = next(
            line.split(":", 1)[1].split()
            for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        )
    except (OSError, StopIteration):
        return []
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")
    return [flag for flag in wanted if flag in flags]


def setting() -> dict:
    """What the method held fixed in this process: threads, cores, ISA, XLA and OpenMP settings."""
    return {
        "threads": int(os.environ.get(THREADS_ENV) or 0) or len(os.sched_getaffinity(0)),
        "affinity": sorted(os.sched_getaffinity(0)),
        "isa": isa(),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
    }


def spread(values) -> dict:
    """Median, quartiles and range of ``values`` (the spread a ratio or a time is reported with)."""
    values = sorted(float(v) for v in values)
    if not values:
        raise ValueError("no values to summarise")
    return {
        "median": statistics.median(values),
        "q25": _quantile(values, 0.25),
        "q75": _quantile(values, 0.75),
        "min": values[0],
        "max": values[-1],
        "n": len(values),
    }


def _quantile(sorted_values, q):
    position = q * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def interleaved(contenders: dict, rounds: int, inner: int = 1) -> dict:
    """Time every ``contenders[name]()`` round by round: each round runs every contender ``inner`` times
    in turn (the first of the round rotates), after one untimed warm-up call each.

    Returns ``{"rounds": rounds, "inner": inner, "wall_s": {name: [per round]}, "cpu_s": {...}}``: the
    seconds of one call in each round, wall and CPU time (all threads). Use :func:`ratio` on it."""
    if not contenders:
        raise ValueError("no contenders to time")
    for n, value in (("rounds", rounds), ("inner", inner)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{n} must be a positive int, got {value!r}")
    names = list(contenders)
    for name in names:
        contenders[name]()  # warm-up: compilation, allocation
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            w0, c0 = time.perf_counter(), time.process_time()
            for _ in range(inner):
                contenders[name]()
            wall[name].append((time.perf_counter() - w0) / inner)
            cpu[name].append((time.process_time() - c0) / inner)
    return {"rounds": rounds, "inner": inner, "wall_s": wall, "cpu_s": cpu}


def ratio(timings: dict, peer: str, ours: str, clock: str = "wall_s") -> dict:
    """``peer`` time / ``ours`` time, round by round (above 1: ours is faster), as :func:`spread`."""
    if clock not in ("wall_s", "cpu_s"):
        raise ValueError(f"clock must be 'wall_s' or 'cpu_s', got {clock!r}")
    for name in (peer, ours):
        if name not in timings[clock]:
            raise ValueError(f"{name!r} was not timed; the contenders were {sorted(timings[clock])}")
    return spread(p / o for p, o in zip(timings[clock][peer], timings[clock][ours], strict=True))


def child_results(script: str, threads: int, arguments: list[str]) -> dict:
    """Run ``script`` again in a fresh process held to ``threads`` cores (``RNNBOOK_BENCH_THREADS``)
    with ``arguments`` and return the JSON it prints on its last line of output."""
    env = {**os.environ, THREADS_ENV: str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, script, *arguments], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{script} with {threads} thread(s) failed:\n{done.stderr[-2000:]}")
    sys.stdout.write(done.stderr if "Traceback" in done.stderr else "")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    for line in lines[:-1]:
        print(line, flush=True)
    return json.loads(lines[-1])


def results_by_threads(script: str, thread_counts, arguments: list[str], note: str = "") -> dict:
    """:func:`child_results` for each thread count (once each, in increasing order), every one between 1
    and the cores this process may use: ``{"1": {...}, "2": {...}}``. ``note`` is printed after each
    count's heading (what else that count fixes, e.g. gensim's workers)."""
    cores = len(os.sched_getaffinity(0))
    if any(isinstance(t, bool) or not isinstance(t, int) or not 1 <= t <= cores for t in thread_counts):
        raise ValueError(
            f"thread counts must be between 1 and the {cores} cores this process may use, got {thread_counts}"
        )
    by_threads = {}
    for threads in sorted(set(thread_counts)):
        print(f"-- {threads} thread(s), held to {threads} core(s){note}", flush=True)
        by_threads[str(threads)] = child_results(script, threads, arguments)
    return by_threads


# The peers of the recurrent-layer benchmarks (lstm.py, gru.py): a call runs the forward and backward
# pass of sum(outputs ** 2) with respect to the weights and the input, from a zero state.
def torch_layer(name: str, batch: int, steps: int, n_in: int, hidden: int):
    """``torch.nn.<name>(n_in, hidden, batch_first=True)`` (``"LSTM"``, ``"GRU"``) on the CPU."""
    import torch

    torch.manual_seed(0)
    layer = getattr(torch.nn, name)(n_in, hidden, batch_first=True)
    xs = torch.randn(batch, steps, n_in, requires_grad=True)

    def run():
        layer.zero_grad(set_to_none=True)
        xs.grad = None
        out, _ = layer(xs)
        (out**2).sum().backward()

    return run


def flax_layer(make_cell, zero, batch: int, steps: int, n_in: int, hidden: int):
    """``nnx.RNN(make_cell(n_in, hidden, rngs=...))`` from the state ``zero(batch, hidden)``, jitted."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    layer = nnx.RNN(make_cell(n_in, hidden, rngs=nnx.Rngs(0)))
    graph, params, rest = nnx.split(layer, nnx.Param, ...)
    xs = jax.random.normal(jax.random.key(1), (batch, steps, n_in))
    run = lambda p, x: nnx.merge(graph, p, rest)(x, initial_carry=zero(batch, hidden))
    grad = jax.jit(jax.grad(lambda p, x: jnp.sum(run(p, x) ** 2), argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(params, xs))


def one_layer(cell: str, batch: int, steps: int, n_in: int, hidden: int, fused: bool = True):
    """One ``Recurrent(cell, ...)`` layer, jitted: forward and backward of sum(outputs ** 2) with respect to
    the weights and the input, from a zero state (the fused path, or the scanned cell with ``fused=False``)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from rnnbook.layers import Recurrent

    layer = Recurrent(cell, n_in, hidden, fused=fused, rngs=nnx.Rngs(0))
    graph, params, rest = nnx.split(layer, nnx.Param, ...)
    xs = jax.random.normal(jax.random.key(1), (batch, steps, n_in))
    grad = jax.jit(jax.grad(lambda p, x: jnp.sum(nnx.merge(graph, p, rest)(x)[1] ** 2), argnums=(0, 1)))
    return lambda: jax.block_until_ready(grad(params, xs))


def vmapped_layer(cell: str, batch: int, steps: int, n_in: int, hidden: int, fused: bool = True, models: int = 3):
    """``models`` layers ``Recurrent(cell, ...)`` at once, ``jax.vmap`` over their stacked weights and
    inputs, as ``train.fit_seeds`` trains the chapters' seeds: forward and backward of sum(outputs ** 2)."""
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from rnnbook.layers import Recurrent

    make = lambda key: nnx.split(Recurrent(cell, n_in, hidden, fused=fused, rngs=nnx.Rngs(key)), nnx.Param, ...)
    graph, _, rest = make(jax.random.key(0))
    params = jax.vmap(lambda key: make(key)[1])(jax.random.split(jax.random.key(0), models))
    xs = jax.random.normal(jax.random.key(1), (models, batch, steps, n_in))
    loss = lambda p, x: jnp.sum(nnx.merge(graph, p, rest)(x)[1] ** 2)
    grad = jax.jit(jax.vmap(jax.grad(loss, argnums=(0, 1))))
    return lambda: jax.block_until_ready(grad(params, xs))


def vmapped_rows(cell: str, sizes: dict, rounds: int, inner: int) -> list[dict]:
    """For each ``{label: (batch, steps, n_in, hidden)}``: three models of ``cell`` vmapped, the scanned
    cell's path against the fused one, interleaved; ``scan_over_fused`` above 1: the fused path faster."""
    rows = []
    for label, size in sizes.items():
        timed = interleaved(
            {"rnnbook scan": vmapped_layer(cell, *size, fused=False), "rnnbook fused": vmapped_layer(cell, *size)},
            rounds,
            inner,
        )
        ms = {name: 1e3 * statistics.median(t) for name, t in timed["wall_s"].items()}
        gain = ratio(timed, "rnnbook scan", "rnnbook fused")
        rows.append({"size": label, "batch": size[0], "time": size[1], "input": size[2], "hidden": size[3],
                     "models": 3, "ms": ms, "scan_over_fused": gain})  # fmt: skip
        print(f"3 models vmapped, {label}: scan {ms['rnnbook scan']:.1f} ms, fused {ms['rnnbook fused']:.1f} ms, "
              f"scan/fused {gain['median']:.2f} [{gain['q25']:.2f}, {gain['q75']:.2f}]", flush=True)  # fmt: skip
    return rows
