"""What the input checks cost: public entry points called as the chapters call them, checks on and off.

    python benchmarks/checks.py [--quick] [--out benchmarks/results/checks.json]

Every public function of ``rnnbook`` checks its arguments (:mod:`rnnbook._checks`). Shape and dtype
checks read metadata; value checks (ids inside the vocabulary, lengths, finite inputs) copy the
checked array to the host once per call, outside ``jit``. Here each entry point is timed on
concrete arrays, eagerly, the way a chapter calls it, twice in the same process: as shipped, and
with the value checks switched off (``rnnbook._checks.concrete`` replaced by one that reports every
array as traced and ``rnnbook._checks.traced_check`` by a no-op, so that no value check runs).
The two are timed alternately, so drift of the machine hits both alike. The ratio is time with
checks / time without: 1.00 means the checks cost nothing measurable.

Inside ``jit`` the checks cost nothing at all: the compiled program is the same with and without
them (``tests/test_bad_inputs.py::test_value_checks_inside_jit_compile_away_unless_checkified``).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time

import jax
import jax.numpy as jnp
from common import RESULTS, machine
from flax import nnx

import rnnbook._checks
from rnnbook import data, layers, seq2seq, train, transformer


def calls() -> dict:
    """Entry points with realistic sizes, each a function of no arguments on concrete arrays."""
    key = jax.random.key(0)
    dates = data.dates(2000, seed=0)
    src_vocab, tgt_vocab = data.date_vocabs(dates)
    batch = data.date_batch(dates, src_vocab, tgt_vocab)
    s2s = seq2seq.Seq2Seq(len(src_vocab), len(tgt_vocab), embed=32, hidden=64, cell="lstm", rngs=nnx.Rngs(0))
    lstm = layers.Recurrent("lstm", 64, 256, rngs=nnx.Rngs(0))
    xs = jax.random.normal(key, (64, 100, 64))
    lengths = jnp.full((64,), 100)
    copy = data.copy_task(key, 256, 2, 24)
    tf = transformer.Transformer(20, 20, d_model=64, heads=4, layers=2, d_ff=128, max_len=32, rngs=nnx.Rngs(0))
    logits = jax.random.normal(key, (4096, 10))
    labels = jax.random.randint(key, (4096,), 0, 10)
    block = lambda out: jax.block_until_ready(out)
    return {
        "seq2seq.greedy_decode (2000 dates)": lambda: block(
            seq2seq.greedy_decode(s2s, batch["src"], batch["src_len"], 11)
        ),
        "seq2seq.loss_fn (2000 dates)": lambda: block(seq2seq.loss_fn(s2s, batch)),
        "layers.Recurrent lstm (64 x 100 x 64, H 256)": lambda: block(lstm(xs, lengths)),
        "Transformer forward (256 copies of <= 24)": lambda: block(tf(copy["src"], copy["src_len"], copy["tgt_in"])),
        "train.accuracy (4096 x 10)": lambda: train.accuracy(logits, labels),
        "train.fit (2 epochs x 20 steps, dates)": lambda: train.fit(
            s2s,
            seq2seq.loss_fn,
            train.minibatches(batch, 64),
            key=key,
            epochs=2,
            steps_per_epoch=20,
            val_batch=batch,
            progress=False,
        ),
    }


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "checks.json")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 15
    checks = rnnbook._checks
    shipped = (checks.concrete, checks.traced_check)
    unchecked = (lambda x: None, lambda predicate, message: None)  # every array looks traced; no check runs
    rows = []
    print(f"{'entry point':48s} {'checks on':>10s} {'off':>10s} {'on/off':>7s}")
    for name, fn in calls().items():
        for mode in (shipped, unchecked):  # warm up both: compile outside the timing
            checks.concrete, checks.traced_check = mode
            fn()
        on, off = [], []
        for _ in range(repeats):
            for mode, times in ((shipped, on), (unchecked, off)):
                checks.concrete, checks.traced_check = mode
                times.append(timed(fn))
        checks.concrete, checks.traced_check = shipped
        row = {"call": name, "on_ms": 1e3 * statistics.median(on), "off_ms": 1e3 * statistics.median(off)}
        row["ratio"] = row["on_ms"] / row["off_ms"]
        # the noise: relative spread (interquartile range / median) of the unchecked timings
        q = statistics.quantiles(off, n=4)
        row["off_spread"] = (q[2] - q[0]) / statistics.median(off)
        rows.append(row)
        print(
            f"{name:48s} {row['on_ms']:8.2f} ms {row['off_ms']:7.2f} ms {row['ratio']:7.3f}  "
            f"(spread of 'off': {row['off_spread']:.1%})",
            flush=True,
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "checks", "machine": machine("flax"), "repeats": repeats, "rows": rows}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(args.out)


if __name__ == "__main__":
    main()
