"""Skip-gram with negative sampling: rnnbook (JAX, batched, Adam) against gensim's ``Word2Vec`` (C,
per-word SGD), on the same corpus, hyper-parameters and cores, in one run.

    python benchmarks/word2vec.py [--quick] [--out benchmarks/results/word2vec.json]

Corpus: the Word Embedding chapter's (Shakespeare + Milton shipped in ``rnnbook``, 90% for
training), vocabulary of words seen at least 5 times, 100 dimensions, window 5 (dynamic), 5 noise
words, subsampling ``t = 1e-3``; gensim with ``workers`` = the machine's cores, JAX on the same
cores.

Work is counted in the same unit for both: **training pairs** (a centre word, one of its context
words and 5 noise words: one positive and 5 negative logistic updates). gensim, per epoch, takes
every kept word of the corpus with each word of its dynamic window (on average ``2 * 3 = 6``
contexts at window 5), so an epoch is ``6 * sum_w count_w * keep_w`` pairs in expectation; ours
draws ``batch`` random pairs per step. **Corpus words per second** is pairs per second divided by
the pairs one corpus word yields (``6 * mean keep``), for both.

Quality: Spearman correlation with WordSim353 and SimLex-999 (the files inside gensim's test data),
on the pairs whose words are in the vocabulary (about 110 and 530 of them: the standard error of
a Spearman correlation on n pairs is about ``1 / sqrt(n - 3)``, 0.1 and 0.04: that is the noise).
Two comparisons: at equal work (ours trained on as many pairs as gensim's 5 epochs) and at equal
quality (the fewest of our steps whose mean Spearman reaches gensim's).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

import common
import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnbook import data, train
from rnnbook import word2vec as w2v

RESULTS = common.RESULTS
DIM, WINDOW, NEGATIVES, SAMPLE, BATCH = 100, 5, 5, 1e-3, 2048


def corpus():
    train_tokens, _ = w2v.split_blocks(w2v.tokenize(data.shakespeare_milton()))
    return train_tokens, w2v.WordVocab(train_tokens, min_count=5)


def quality(vectors, vocab, bench):
    return {name: w2v.similarity_correlation(vectors, vocab, pairs)[0] for name, pairs in bench.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer budgets (a smoke test)")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "word2vec.json")
    args = parser.parse_args(argv)
    cores = os.cpu_count()
    train_tokens, vocab = corpus()
    bench = w2v.similarity_benchmarks()
    in_vocab = {name: sum(a in vocab and b in vocab for a, b, _ in pairs) for name, pairs in bench.items()}
    ids = vocab.encode(train_tokens)
    keep = w2v.keep_probabilities(vocab.counts, SAMPLE)
    noise = jnp.asarray(w2v.noise_distribution(vocab.counts))
    kept_share = float(np.mean(keep[ids] * (ids > 0)))  # the share of corpus words gensim trains on
    contexts_per_word = 2 * np.mean(np.arange(1, WINDOW + 1))  # dynamic window: b ~ U{1..5} on each side
    pairs_per_corpus_word = contexts_per_word * kept_share
    pairs_per_epoch = len(ids) * pairs_per_corpus_word
    print(
        f"corpus {len(ids):,} words, vocabulary {len(vocab):,}, kept after subsampling {kept_share:.1%}, "
        f"{pairs_per_epoch / 1e6:.2f} M training pairs per epoch; evaluation pairs in vocabulary {in_vocab}"
    )

    # gensim: sentences of 1000 words, as the chapter does; the same vocabulary (min_count=5).
    from gensim.models import Word2Vec

    sentences = [train_tokens[i : i + 1000] for i in range(0, len(train_tokens), 1000)]
    gensim_runs = []
    for epochs in [1, 5] if args.quick else [1, 2, 5, 10]:
        start = time.perf_counter()
        g = Word2Vec(
            sentences,
            vector_size=DIM,
            window=WINDOW,
            min_count=5,
            sg=1,
            negative=NEGATIVES,
            sample=SAMPLE,
            epochs=epochs,
            workers=cores,
            seed=0,
        )
        seconds = time.perf_counter() - start
        vectors = np.zeros((len(vocab), DIM), np.float32)
        for w, i in vocab.index.items():
            if w in g.wv:
                vectors[i] = g.wv[w]
        run = {
            "epochs": epochs,
            "seconds": seconds,
            "pairs": epochs * pairs_per_epoch,
            "quality": quality(vectors, vocab, bench),
        }
        run["corpus_words_per_s"] = run["pairs"] / pairs_per_corpus_word / seconds
        gensim_runs.append(run)
        print(
            f"gensim {epochs:3d} epochs: {seconds:6.1f} s, {run['corpus_words_per_s']:9,.0f} corpus words/s, "
            + ", ".join(f"{k} {v:.3f}" for k, v in run["quality"].items())
        )

    # ours: rnnbook.train.fit over random batches of BATCH pairs, Adam with a linear decay (the chapter's).
    ids_j = jnp.asarray(ids)
    ours_runs = []
    reference = next(r for r in gensim_runs if r["epochs"] == 5)
    equal_work_steps = int(round(reference["pairs"] / BATCH / 500)) * 500
    budgets = [500, 2000] if args.quick else [250, 500, 1000, 2000, 4000]
    for steps in sorted(set(budgets + [equal_work_steps])):
        params, hist = train.fit(
            w2v.init_word2vec(jax.random.key(0), len(vocab), DIM),
            w2v.skipgram_loss,
            lambda key: w2v.sample_skipgram(key, ids_j, BATCH, WINDOW, keep, noise, NEGATIVES),
            key=jax.random.key(0),
            epochs=max(1, steps // 250),
            steps_per_epoch=min(steps, 250),
            optimizer=optax.adam(optax.linear_schedule(3e-3, 3e-4, steps)),
            progress=False,
        )
        # fit's wall time, compilation included: the time a reader waits for (gensim compiles nothing).
        run = {
            "steps": steps,
            "seconds": hist.seconds,
            "pairs": steps * BATCH,
            "quality": quality(np.asarray(params["in"]), vocab, bench),
        }
        run["corpus_words_per_s"] = run["pairs"] / pairs_per_corpus_word / hist.seconds
        ours_runs.append(run)
        print(
            f"rnnbook {steps:5d} steps: {hist.seconds:6.1f} s, {run['corpus_words_per_s']:9,.0f} corpus words/s, "
            + ", ".join(f"{k} {v:.3f}" for k, v in run["quality"].items())
        )

    mean_q = lambda run: float(np.mean(list(run["quality"].values())))
    equal_work = next(r for r in ours_runs if r["steps"] == equal_work_steps)
    reached = [r for r in ours_runs if mean_q(r) >= mean_q(reference)]
    equal_quality = min(reached, key=lambda r: r["seconds"]) if reached else None
    summary = {
        "reference": f"gensim, 5 epochs ({reference['seconds']:.1f} s)",
        "throughput_ratio": equal_work["corpus_words_per_s"] / reference["corpus_words_per_s"],
        "equal_work_quality": {"rnnbook": equal_work["quality"], "gensim": reference["quality"]},
        "equal_quality_time_ratio": (reference["seconds"] / equal_quality["seconds"]) if equal_quality else None,
        "equal_quality_steps": equal_quality["steps"] if equal_quality else None,
    }
    print(f"throughput (corpus words/s) rnnbook / gensim at equal work: {summary['throughput_ratio']:.2f}")
    if equal_quality:
        print(
            f"equal quality: rnnbook reaches gensim's 5-epoch mean Spearman in {equal_quality['steps']} steps, "
            f"{equal_quality['seconds']:.1f} s: gensim time / rnnbook time = {summary['equal_quality_time_ratio']:.2f}"
        )
    result = {
        "benchmark": "word2vec skip-gram with negative sampling, rnnbook vs gensim",
        "machine": common.machine("gensim", "numpy", "optax"),
        "setup": {
            "dim": DIM,
            "window": WINDOW,
            "negatives": NEGATIVES,
            "sample": SAMPLE,
            "batch": BATCH,
            "corpus_words": len(ids),
            "vocabulary": len(vocab),
            "kept_share": kept_share,
            "pairs_per_epoch": pairs_per_epoch,
            "evaluation_pairs_in_vocabulary": in_vocab,
        },
        "gensim": gensim_runs,
        "rnnbook": ours_runs,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
