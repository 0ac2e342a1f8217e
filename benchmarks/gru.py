"""Forward + backward of one GRU layer: rnnbook's two GRU paths against their peers, in one run.

    python benchmarks/gru.py [--quick] [--out benchmarks/results/gru.json]

Ours: ``Recurrent("gru", fused=False)``, "scan" (``gru_cell`` driven by ``lax.scan``, the backward
pass by automatic differentiation), and ``Recurrent("gru")``, "fused", the layer's path since the
second performance round (``rnnbook.gru.gru_scan_fused``: one ``[x, h] @ W`` product a step, with a
block of zeros in ``W``, a backward pass written by hand with one product a step, the weight, bias
and input gradients as large products after the loop).
Peers: ``torch.nn.GRU`` (CPU) and Flax's ``nnx.RNN(nnx.GRUCell)``.

The method is :mod:`benchmarks/lstm.py`'s (``benchmarks/common.py``): one process per thread count
(default 1 and 2), held to that many cores, torch set to as many threads with OpenMP waiting
passively; every implementation interleaved with the others round by round after a warm-up, wall and
CPU time recorded; a ratio is peer time / our time per round, then its median with quartiles. The
loss is ``sum(outputs ** 2)``. Sizes: the LSTM benchmark's main size (batch 64, 100 steps, 64 in, 256
units), the chapters' sizes (the LSTM chapter's timing table: batch 32, 64 steps, 32 in, 128 units;
the adding problem of the LSTM and Vanishing Gradient chapters: batch 64, 100 steps, 2 in, 128 units),
and the ends of the LSTM benchmark's sweep (1024 units; batch 1 and 256), all at every thread count.
``vmapped``: our two paths with three models at once (``jax.vmap`` over their stacked weights and
inputs, as ``train.fit_seeds`` trains the chapters' seeds) at the chapters' two sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics

import common

common.pin_from_environment()  # a child process of --threads: held to its cores before JAX and torch start

import jax.numpy as jnp  # noqa: E402
from flax import nnx  # noqa: E402

RESULTS = common.RESULTS
MAIN = (64, 100, 64, 256)  # batch, time, input, hidden
SIZES = {
    "main": MAIN,
    "lstm chapter table": (32, 64, 32, 128),
    "adding problem": (64, 100, 2, 128),
    "1024 units": (64, 100, 64, 1024),
    "batch 1": (1, 100, 64, 256),
    "batch 256": (256, 100, 64, 256),
}


def ours_layer(batch, steps, n_in, hidden, fused=True):
    return common.one_layer("gru", batch, steps, n_in, hidden, fused)


def ours_scan(batch, steps, n_in, hidden):
    return ours_layer(batch, steps, n_in, hidden, fused=False)


def flax_rnn(batch, steps, n_in, hidden):
    zero = lambda b, h: jnp.zeros((b, h))  # a zero state, as for the others
    return common.flax_layer(nnx.GRUCell, zero, batch, steps, n_in, hidden)


def torch_gru(batch, steps, n_in, hidden):
    return common.torch_layer("GRU", batch, steps, n_in, hidden)


IMPLEMENTATIONS = {
    "rnnbook scan": ours_scan,
    "rnnbook fused": ours_layer,
    "flax nnx.RNN": flax_rnn,
    "torch.nn.GRU": torch_gru,
}
OURS = [name for name in IMPLEMENTATIONS if name.startswith("rnnbook")]


def measure(sizes: dict, rounds: int, inner: int) -> list[dict]:
    """Every implementation at every size, interleaved round by round in this process."""
    rows = []
    for label, (batch, steps, n_in, hidden) in sizes.items():
        timed = common.interleaved(
            {name: make(batch, steps, n_in, hidden) for name, make in IMPLEMENTATIONS.items()}, rounds, inner
        )
        over = lambda peer, clock="wall_s": {name: common.ratio(timed, peer, name, clock) for name in OURS}
        row = {
            "size": label,
            "batch": batch,
            "time": steps,
            "input": n_in,
            "hidden": hidden,
            "ms": {name: 1e3 * statistics.median(t) for name, t in timed["wall_s"].items()},
            "cpu_ms": {name: 1e3 * statistics.median(t) for name, t in timed["cpu_s"].items()},
            "scan_over_fused": common.ratio(timed, "rnnbook scan", "rnnbook fused"),
            "torch_over_ours": over("torch.nn.GRU"),
            "flax_over_ours": over("flax nnx.RNN"),
            "torch_over_ours_cpu": {name: r["median"] for name, r in over("torch.nn.GRU", "cpu_s").items()},
        }
        rows.append(row)
        ms, gain = row["ms"], row["scan_over_fused"]
        print(
            f"{label:>18s} {batch:4d} {steps:4d} {n_in:3d} {hidden:5d}  "
            + "  ".join(f"{name} {ms[name]:.1f} ms" for name in IMPLEMENTATIONS)
            + f"  scan/fused {gain['median']:.2f} [{gain['q25']:.2f}, {gain['q75']:.2f}], "
            + f"torch/fused {row['torch_over_ours']['rnnbook fused']['median']:.2f}, "
            + f"flax/fused {row['flax_over_ours']['rnnbook fused']['median']:.2f}",
            flush=True,
        )
    return rows


def child(quick: bool) -> None:
    """One thread count (this process was held to its cores by ``common.pin_from_environment``)."""
    import torch

    torch.set_num_threads(int(os.environ[common.THREADS_ENV]))
    rounds, inner = (5, 3) if quick else (7, 3)
    sizes = {"main": MAIN} if quick else SIZES
    rows = measure(sizes, rounds, inner)
    # As the chapters train (train.fit_seeds): three models at once, vmapped, at the chapters' sizes.
    labels = [] if quick else ["adding problem", "lstm chapter table"]
    vmapped = common.vmapped_rows("gru", {label: SIZES[label] for label in labels}, rounds, inner)
    print(json.dumps({"setting": common.setting(), "torch_threads": torch.get_num_threads(), "rounds": rounds,
                      "inner": inner, "rows": rows, "vmapped": vmapped}))  # fmt: skip


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the main size only, fewer rounds")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts, one process each")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "gru.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.quick)
    arguments = ["--child", *(["--quick"] if args.quick else [])]
    by_threads = common.results_by_threads(__file__, args.threads, arguments, ", OMP_WAIT_POLICY=PASSIVE")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "gru", "machine": common.machine("flax", "torch"),
              "method": "interleaved rounds, threads pinned (common.py)", "by_threads": by_threads}  # fmt: skip
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
