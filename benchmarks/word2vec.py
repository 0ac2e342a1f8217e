"""Skip-gram with negative sampling: rnnbook (JAX, sparse SGD) against gensim's ``Word2Vec`` (C,
per-word SGD), on the same corpus, hyper-parameters, cores and threads, in one run.

    python benchmarks/word2vec.py [--quick] [--threads 1 2] [--seeds 3] [--out benchmarks/results/word2vec.json]

Corpus: the Word Embedding chapter's (Shakespeare + Milton shipped in ``rnnbook``, 90% for
training), vocabulary of words seen at least 5 times, 100 dimensions, window 5 (dynamic), 5 noise
words, subsampling ``t = 1e-3``, learning rate 0.025 falling linearly to 0.0001: the same settings
for both sides. Ours is ``rnnbook.word2vec.train_sgd`` (the chapter's trainer) in its two schemes:
5 noise words for every pair, as gensim draws them ("per pair"), and 8 noise words shared by each
step's 512 pairs, weighted 5/8 ("shared", Ji et al. 2016).

The method (``common.py``): each thread count runs in its own process held to that many cores, with
gensim's ``workers`` equal to it and ours too (``train_sgd(..., workers=threads)``: with two, two
calls of 250 steps at a time, each in a thread of its own on a copy of the table, their changes
added together after each; one worker runs calls of 1000 steps); at equal work (5 epochs) the three
contenders run round by round, one round per seed, the order rotated every round; wall time
includes JAX's compilation (the time a reader waits; gensim compiles nothing).

Work is counted in the same unit for both: **training pairs** (a centre word, one of its context
words and 5 noise words). gensim, per epoch, takes every kept word of the corpus with each word of
its dynamic window (on average ``2 * 3 = 6`` contexts at window 5), so an epoch is ``6 * sum_w
count_w * keep_w`` pairs in expectation, and ours draws as many. **Corpus words per second** is
pairs per second divided by the pairs one corpus word yields (``6 * mean keep``), for both.

Quality: Spearman correlation with WordSim353 and SimLex-999 (the files inside gensim's test data),
on the pairs whose words are in the vocabulary (about 110 and 530 of them). At equal work each side
is trained with ``--seeds`` seeds, and the difference of the mean correlations is given with a 95%
interval (Welch's t over the seeds: the spread between runs, not the benchmark's own sampling
noise). Time to gensim's quality: the least time in which one of our runs (1, 2, 5 or 10 epochs'
worth) reaches the mean Spearman of gensim's 5 epochs.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time

import common

common.pin_from_environment()  # a child process: held to its cores before JAX starts

import jax  # noqa: E402
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402

from rnnbook import data  # noqa: E402
from rnnbook import word2vec as w2v  # noqa: E402

RESULTS = common.RESULTS
DIM, WINDOW, NEGATIVES, SAMPLE, BATCH, SHARED, ALPHA, MIN_ALPHA = 100, 5, 5, 1e-3, 512, 8, 0.025, 1e-4
CONTENDERS = ("gensim", "rnnbook per pair", "rnnbook shared")


def corpus():
    train_tokens, _ = w2v.split_blocks(w2v.tokenize(data.shakespeare_milton()))
    return train_tokens, w2v.WordVocab(train_tokens, min_count=5)


def quality(vectors, vocab, bench):
    return {name: float(w2v.similarity_correlation(vectors, vocab, pairs)[0]) for name, pairs in bench.items()}


def mean_spearman(run) -> float:
    return float(np.mean(list(run["quality"].values())))


def welch_interval(ours, theirs, level=0.95):
    """Mean of ``ours`` minus mean of ``theirs`` with Welch's t interval (``[diff, low, high]``)."""
    a, b = np.asarray(ours, float), np.asarray(theirs, float)
    diff = a.mean() - b.mean()
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    if se == 0:
        return [float(diff), float(diff), float(diff)]
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = scipy.stats.t.ppf(0.5 + level / 2, dof) * se
    return [float(diff), float(diff - half), float(diff + half)]


def child(quick: bool, seeds: int) -> None:
    threads = common.setting()["threads"]
    train_tokens, vocab = corpus()
    bench = w2v.similarity_benchmarks()
    ids = vocab.encode(train_tokens)
    keep = w2v.keep_probabilities(vocab.counts, SAMPLE)
    noise = w2v.noise_distribution(vocab.counts)
    kept_share = float(np.mean(keep[ids] * (ids > 0)))  # the share of corpus words gensim trains on
    pairs_per_corpus_word = 2 * np.mean(np.arange(1, WINDOW + 1)) * kept_share  # dynamic window: 6 per kept word
    pairs_per_epoch = len(ids) * pairs_per_corpus_word
    from gensim.models import Word2Vec

    sentences = [train_tokens[i : i + 1000] for i in range(0, len(train_tokens), 1000)]

    def gensim(epochs, seed):
        start = time.perf_counter()
        g = Word2Vec(sentences, vector_size=DIM, window=WINDOW, min_count=5, sg=1, negative=NEGATIVES, sample=SAMPLE,
                     alpha=ALPHA, min_alpha=MIN_ALPHA, epochs=epochs, workers=threads, seed=seed + 1)  # fmt: skip
        seconds = time.perf_counter() - start
        vectors = np.zeros((len(vocab), DIM), np.float32)
        for w, i in vocab.index.items():
            if w in g.wv:
                vectors[i] = g.wv[w]
        return vectors, seconds, epochs * pairs_per_epoch

    def ours(shared):
        def run(epochs, seed):
            steps = int(round(epochs * pairs_per_epoch / BATCH))
            params, hist = w2v.train_sgd(jax.random.key(seed), ids, keep, noise, kind="skip-gram", dim=DIM,
                                         window=WINDOW, negatives=NEGATIVES, shared_negatives=shared, steps=steps,
                                         batch=BATCH, alpha=ALPHA, min_alpha=MIN_ALPHA, workers=threads,
                                         progress=False)  # fmt: skip
            return np.asarray(params["in"]), hist.seconds, steps * BATCH

        return run

    makers = {"gensim": gensim, "rnnbook per pair": ours(None), "rnnbook shared": ours(SHARED)}

    def record(name, epochs, seed):
        vectors, seconds, pairs = makers[name](epochs, seed)
        run = {"epochs": epochs, "seed": seed, "seconds": seconds, "pairs": pairs,
               "corpus_words_per_s": pairs / pairs_per_corpus_word / seconds,
               "quality": quality(vectors, vocab, bench)}  # fmt: skip
        print(f"{threads} thread(s) {name:17s} {epochs:3g} epochs seed {seed}: {seconds:6.1f} s, "
              f"{run['corpus_words_per_s']:9,.0f} corpus words/s, "
              + ", ".join(f"{k} {v:.3f}" for k, v in run["quality"].items()), flush=True)  # fmt: skip
        return run

    # equal work (5 epochs), one round per seed, the order rotated every round
    equal = {name: [] for name in CONTENDERS}
    for seed in range(seeds):
        order = CONTENDERS[seed % 3 :] + CONTENDERS[: seed % 3]
        for name in order:
            equal[name].append(record(name, 5, seed))
    # other budgets, seed 0: the curve of quality against time
    sweep = {name: [] for name in CONTENDERS}
    for epochs in [1, 10] if quick else [1, 2, 10]:
        for name in CONTENDERS:
            sweep[name].append(record(name, epochs, 0))

    reference_q = statistics.mean(mean_spearman(r) for r in equal["gensim"])
    reference_s = statistics.median(r["seconds"] for r in equal["gensim"])
    summary = {}
    for name in CONTENDERS[1:]:
        per_round = [g["seconds"] / o["seconds"] for g, o in zip(equal["gensim"], equal[name], strict=True)]
        by_budget = sorted(sweep[name] + equal[name], key=lambda r: r["seconds"])
        reached = [r for r in by_budget if mean_spearman(r) >= reference_q]
        summary[name] = {
            "throughput_ratio": common.spread(per_round),
            "quality_difference": {
                b: welch_interval([r["quality"][b] for r in equal[name]], [r["quality"][b] for r in equal["gensim"]])
                for b in bench
            },
            "equal_quality_time_ratio": reference_s / reached[0]["seconds"] if reached else None,
            "equal_quality_epochs": reached[0]["epochs"] if reached else None,
        }
        print(f"{threads} thread(s) {name}: gensim's time / ours at equal work, median "
              f"{summary[name]['throughput_ratio']['median']:.2f}; quality minus gensim's "
              f"{summary[name]['quality_difference']}; time to gensim's quality: "
              f"{summary[name]['equal_quality_time_ratio']}", flush=True)  # fmt: skip
    result = {
        "setting": common.setting(),
        "setup": {
            "dim": DIM,
            "window": WINDOW,
            "negatives": NEGATIVES,
            "shared_negatives": SHARED,
            "sample": SAMPLE,
            "batch": BATCH,
            "alpha": [ALPHA, MIN_ALPHA],
            "seeds": seeds,
            "corpus_words": len(ids),
            "vocabulary": len(vocab),
            "kept_share": kept_share,
            "pairs_per_epoch": pairs_per_epoch,
            "evaluation_pairs_in_vocabulary": {
                n: sum(a in vocab and b in vocab for a, b, _ in p) for n, p in bench.items()
            },
        },  # fmt: skip
        "equal_work": equal,
        "sweep": sweep,
        "summary": summary,
    }
    print(json.dumps(result))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer budgets (a smoke test)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts, one process each")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per side at equal work (>= 2)")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS / "word2vec.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 (the interval needs a spread)")
    if args.child:
        return child(args.quick, args.seeds)
    arguments = ["--child", "--seeds", str(args.seeds), *(["--quick"] if args.quick else [])]
    by_threads = common.results_by_threads(__file__, args.threads, arguments, "; gensim workers = threads")
    result = {
        "benchmark": "word2vec skip-gram with negative sampling, rnnbook (sparse SGD) vs gensim",
        "machine": common.machine("gensim", "numpy"),
        "method": "threads pinned, gensim's workers = ours = threads, contenders interleaved by round (common.py)",
        "by_threads": by_threads,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
