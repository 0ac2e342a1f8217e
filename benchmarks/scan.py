"""The linear recurrence two ways: ``lax.scan`` against ``lax.associative_scan`` (Chapter 8).

    python benchmarks/scan.py [--quick] [--out benchmarks/results/scan.json]

``rnnbook.linear_rnn.linear_scan`` computes ``h_t = a_t * h_{t-1} + b_t`` for ``[batch, time, state]``
arrays sequentially (``method="sequential"``, ``T`` dependent steps) or as Blelloch's parallel scan
(``method="parallel"``, ``O(log T)`` rounds, each over the whole sequence). For T from 256 to 16384
and two state sizes, the best of five timed calls (after one that compiles) of the forward pass
alone and of forward and backward (``jax.grad`` of a sum of squares), and the ratio parallel /
sequential: below 1, the parallel scan wins. Published measurements say it loses on CPUs and wins
on GPUs; this prints ours, on whatever device JAX has.
"""

from __future__ import annotations

import argparse
import json
import time

import common
import jax
import jax.numpy as jnp

from rnnbook import linear_rnn

LENGTHS = [256, 1024, 4096, 16384]
STATES = [16, 256]
BATCH = 8


def best_time(f, *args, repeats: int = 5) -> float:
    jax.block_until_ready(f(*args))  # compile
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        best = min(best, time.perf_counter() - start)
    return best


def programs(method: str):
    forward = jax.jit(lambda a, b: linear_rnn.linear_scan(a, b, method=method))
    loss = lambda a, b: jnp.sum(linear_rnn.linear_scan(a, b, method=method) ** 2)
    backward = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return {"forward": forward, "forward+backward": backward}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="T up to 4096 and 3 repeats")
    parser.add_argument("--out", default=str(common.RESULTS / "scan.json"))
    args = parser.parse_args(argv)
    lengths = LENGTHS[:3] if args.quick else LENGTHS
    repeats = 3 if args.quick else 5
    progs = {m: programs(m) for m in ("sequential", "parallel")}
    rows = []
    for state in STATES:
        for T in lengths:
            ka, kb = jax.random.split(jax.random.key(T + state))
            a = jax.random.uniform(ka, (BATCH, T, state), minval=0.5, maxval=1.0)
            b = jax.random.normal(kb, (BATCH, T, state))
            for pass_ in ("forward", "forward+backward"):
                seq = best_time(progs["sequential"][pass_], a, b, repeats=repeats)
                par = best_time(progs["parallel"][pass_], a, b, repeats=repeats)
                rows.append({"state": state, "time": T, "pass": pass_, "sequential_ms": 1e3 * seq,
                             "parallel_ms": 1e3 * par, "ratio": par / seq})  # fmt: skip
                print(f"state {state:4d} T {T:6d} {pass_:17s} lax.scan {1e3 * seq:9.2f} ms  "
                      f"associative_scan {1e3 * par:9.2f} ms  ratio {par / seq:5.2f}", flush=True)  # fmt: skip
    result = {"benchmark": "scan", "machine": common.machine(), "batch": BATCH, "rows": rows}
    with open(args.out, "w") as f:
        f.write(json.dumps(result, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
