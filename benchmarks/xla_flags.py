"""Do any of XLA's CPU flags make the chapters train faster? (Performance appendix.)

    python benchmarks/xla_flags.py [--rounds 3] [--out benchmarks/results/xla_flags.json]

XLA reads ``XLA_FLAGS`` once, when JAX starts, so each setting runs in a fresh process. A process
times three of the book's own training programs, each as its chapter runs it (three seeds at once,
``train.fit_seeds``, a ``jax.vmap`` over their parameters):

* the adding problem of the LSTM chapter (T = 100, 64 units, batch 64);
* the copy task of the Seq2Seq chapter, an LSTM encoder-decoder with Bahdanau attention (64 units);
* word2vec's skip-gram by sparse SGD (``word2vec.train_sgd``, one model, batches of 512 pairs, 5
  noise words each as gensim draws them), on a Zipf-distributed text of 300,000 words over 5,000;
* the deep pre-LN Transformer of the Transformers chapter (6 + 6 layers, d_model 64), here on the copy task.

Each program runs for one epoch and, in a second call, for two (``steps`` optimizer steps each); a
call compiles its epoch once (``fit_seeds`` builds new functions per call), so the difference is one
epoch's steps without compilation, and the compilation (``compile_s``, which a flag can change too)
is the first call less that epoch.
The settings run round by round, their order rotated every round, so that a load that comes and goes
falls on all of them alike; the ratio (no flag / flag: above 1, the flag helps) is taken round by
round, then its median. The flag found to help the word2vec step in the one-off study of the Word
Embedding chapter (``--xla_cpu_experimental_ynn_fusion_type=``: XLA's YNNPACK fusions off) is one of
the settings. A flag the book should set is one that helps all three programs: the appendix asserts
from the results file whether any does.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys

import common

SETTINGS = [
    "",
    "--xla_cpu_experimental_ynn_fusion_type=",
    "--xla_cpu_use_xnnpack=true",
    "--xla_cpu_enable_fast_math=true",
    "--xla_backend_optimization_level=1",
]
WORKLOADS = {
    "adding, LSTM (Chapter 2)": 50,  # the steps of an epoch (the steps timed)
    "copy, LSTM + attention (Chapter 4)": 50,
    "Transformer, 6+6 layers (Chapter 7)": 15,
    "word2vec by sparse SGD, 5 noise words a pair (Chapter 5)": 500,
}


def programs():
    """``{workload: (make, loss_fn, batch_fn, options)}`` for ``train.fit_seeds``."""
    from flax import nnx

    from rnnbook import data, seq2seq, transformer
    from rnnbook.losses import mse
    from rnnbook.models import Regressor

    copy = lambda key: data.copy_task(key, 64, 2, 24)  # noqa: E731
    names = list(WORKLOADS)
    return {
        names[0]: (
            lambda k: Regressor("lstm", 2, 64, rngs=nnx.Rngs(k)),
            mse,
            lambda key: data.adding_problem(key, 64, 100),
            dict(learning_rate=1e-2, clip_norm=1.0),
        ),
        names[1]: (
            lambda k: seq2seq.Seq2Seq(14, 14, embed=16, hidden=64, cell="lstm", attention="bahdanau", rngs=nnx.Rngs(k)),
            seq2seq.loss_fn,
            copy,
            dict(learning_rate=3e-3, clip_norm=1.0),
        ),
        names[2]: (
            lambda k: transformer.Transformer(
                14, 14, d_model=64, heads=4, d_ff=128, layers=6, max_len=32, norm_first=True, rngs=nnx.Rngs(k)
            ),
            seq2seq.loss_fn,
            copy,
            dict(learning_rate=3e-3, clip_norm=1.0),
        ),
    }


def zipf_text(words: int = 300_000, vocabulary: int = 5000):
    """Token ids drawn from a Zipf law (rank r with probability proportional to 1/r), the keep
    probabilities and noise distribution word2vec derives from their counts (id 0 is ``<UNK>``)."""
    import numpy as np

    from rnnbook import word2vec

    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, vocabulary + 1)
    ids = rng.choice(vocabulary, size=words, p=p / p.sum())
    counts = np.bincount(ids, minlength=vocabulary)
    return ids, word2vec.keep_probabilities(counts), word2vec.noise_distribution(counts)


def child() -> dict:
    """In a fresh process (XLA_FLAGS as given): ms per step of each program, and its compile seconds."""
    import jax

    from rnnbook import train, word2vec

    keys = jax.random.split(jax.random.key(0), 3)
    out = {}

    def timed(run, steps):  # each call compiles its program once, then runs one epoch or two
        one, two = run(1), run(2)
        return {"ms_per_step": 1e3 * (two - one) / steps, "compile_s": 2 * one - two}

    for name, (make, loss_fn, batch_fn, options) in programs().items():
        steps = WORKLOADS[name]

        def run(epochs, make=make, loss_fn=loss_fn, batch_fn=batch_fn, options=options, steps=steps):
            _, history = train.fit_seeds(
                make,
                keys,
                loss_fn,
                batch_fn,
                key=jax.random.key(1),
                epochs=epochs,
                steps_per_epoch=steps,
                progress=False,
                **options,
            )
            return history.seconds

        out[name] = timed(run, steps)
    name = list(WORKLOADS)[-1]
    ids, keep, noise = zipf_text()

    def run_w2v(calls, steps=WORKLOADS[name]):
        _, history = word2vec.train_sgd(
            jax.random.key(2), ids, keep, noise, steps=calls * steps, steps_per_call=steps, progress=False
        )
        return history.seconds

    out[name] = timed(run_w2v, WORKLOADS[name])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(common.RESULTS / "xla_flags.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child()))
        return
    runs = {flag: [] for flag in SETTINGS}
    for r in range(args.rounds):
        shift = r % len(SETTINGS)
        for flag in SETTINGS[shift:] + SETTINGS[:shift]:
            env = {**os.environ, "XLA_FLAGS": flag, "RNNBOOK_XLA_DEFAULTS": "0"}  # this flag alone, not the book's
            done = subprocess.run(
                [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"XLA_FLAGS={flag!r} failed:\n{done.stderr[-2000:]}")
            runs[flag].append(json.loads(done.stdout.strip().splitlines()[-1]))
            cells = "  ".join(f"{v['ms_per_step']:7.1f} ms" for v in runs[flag][-1].values())
            print(f"round {r + 1}  XLA_FLAGS={flag or '(none)':42s} {cells}", flush=True)
    rows = []
    for name in WORKLOADS:
        row = {"workload": name, "steps": WORKLOADS[name], "ms_per_step": {}, "compile_s": {}, "speedup": {}}
        for flag in SETTINGS:
            row["ms_per_step"][flag] = statistics.median(run[name]["ms_per_step"] for run in runs[flag])
            row["compile_s"][flag] = statistics.median(run[name]["compile_s"] for run in runs[flag])
            row["speedup"][flag] = common.spread(
                base[name]["ms_per_step"] / run[name]["ms_per_step"] for base, run in zip(runs[""], runs[flag])
            )
        rows.append(row)
    result = {
        "benchmark": "xla_flags",
        "machine": common.machine("flax", "optax"),
        "setting": common.setting(),
        "rounds": args.rounds,
        "settings": SETTINGS,
        "rows": rows,
    }
    pathlib.Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"\n{'XLA_FLAGS':44s}" + "".join(f"{name[:24]:>26s}" for name in WORKLOADS))
    for flag in SETTINGS:
        print(f"{flag or '(none)':44s}" + "".join(f"{row['speedup'][flag]['median']:25.2f}x" for row in rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
