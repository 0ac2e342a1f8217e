"""word2vec: sampling distributions, the losses against hand computations, evaluation on toy vectors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.sparse

from rnnbook import train
from rnnbook import word2vec as w2v


def test_tokenize_and_vocab():
    toks = w2v.tokenize("The king's men, the KING! 12 men o'er")
    assert toks == ["the", "king's", "men", "the", "king", "12", "men", "o'er"]
    v = w2v.WordVocab(toks, min_count=2)
    assert v.words == ["<UNK>", "men", "the"] and v.counts.tolist() == [4, 2, 2]
    assert v.encode(["the", "queen"]).tolist() == [2, 0] and "queen" not in v and "<UNK>" not in v
    assert v.decode([1, 2]) == ["men", "the"]
    with pytest.raises(ValueError, match="outside the vocabulary"):
        v.decode([3])
    with pytest.raises(ValueError, match="min_count"):
        w2v.WordVocab(toks, min_count=10)


def test_keep_probabilities_follow_the_reference_formula():
    counts = np.array([0, 1000, 100, 10, 1])
    keep = w2v.keep_probabilities(counts, t=1e-2)
    f = counts[1:] / counts.sum()
    np.testing.assert_allclose(keep[1:], np.minimum((np.sqrt(f / 1e-2) + 1) * 1e-2 / f, 1), rtol=1e-6)
    assert keep[0] == 0 and keep[1] < keep[2] <= keep[3] == keep[4] == 1.0  # frequent words are dropped more


def test_noise_distribution_is_unigram_to_the_three_quarters():
    p = w2v.noise_distribution([50, 16, 81, 1])
    expected = np.array([0, 8, 27, 1]) / 36
    np.testing.assert_allclose(p, expected, rtol=1e-6)


def test_sampled_offsets_match_the_dynamic_window():
    W = 4
    ids = jnp.arange(10000) % 97 + 1  # position i holds id i % 97 + 1
    keep, noise = jnp.ones(98), jnp.asarray(w2v.noise_distribution(np.r_[0, np.ones(97)]))
    c, o, neg, weights = w2v.sample_skipgram(jax.random.key(0), ids, 200000, W, keep, noise, 3)
    offsets = (np.asarray(o) - np.asarray(c)) % 97
    offsets = np.where(offsets > 48, offsets - 97, offsets)
    assert set(np.unique(offsets)) == {-4, -3, -2, -1, 1, 2, 3, 4}
    freq = np.array([np.mean(np.abs(offsets) == d) for d in range(1, W + 1)])
    np.testing.assert_allclose(freq, w2v.offset_distribution(W), atol=0.005)  # (W - d + 1) / sum
    assert neg.shape == (200000, 3) and np.all(np.asarray(neg) > 0) and np.all(np.asarray(weights) == 1)


def test_cbow_context_respects_window_and_mask():
    ids = jnp.arange(1, 1001)
    keep, noise = jnp.ones(1001), jnp.asarray(w2v.noise_distribution(np.r_[0, np.ones(1000)]))
    ctx, mask, centres, neg, weights = map(np.asarray, w2v.sample_cbow(jax.random.key(1), ids, 500, 3, keep, noise, 2))
    np.testing.assert_array_equal(ctx - centres[:, None], np.array([-3, -2, -1, 1, 2, 3])[None].repeat(500, 0))
    b = mask.sum(1) / 2  # symmetric dynamic window 1..3
    assert set(np.unique(b)) == {1, 2, 3}
    assert np.all(mask[:, 2] == 1) and np.all(mask[:, 3] == 1)  # offsets -1 and +1 are always in


def test_negative_sampling_loss_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    v, up, un = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 2, 4))
    w = np.array([1.0, 0.5, 0.0])
    sig = lambda z: 1 / (1 + np.exp(-z))
    per = [-np.log(sig(up[b] @ v[b])) - sum(np.log(sig(-un[b, k] @ v[b])) for k in range(2)) for b in range(3)]
    expected = (w * per).sum() / w.sum()
    got = w2v.negative_sampling_loss(*(jnp.asarray(a, jnp.float32) for a in (v, up, un, w)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_embedding_lookup_is_one_hot_times_the_matrix():
    params = w2v.init_word2vec(jax.random.key(0), 20, 6)
    ids = jnp.array([3, 0, 19])
    np.testing.assert_allclose(jax.nn.one_hot(ids, 20) @ params["in"], params["in"][ids], rtol=1e-6)
    assert float(jnp.abs(params["in"]).max()) <= 0.5 / 6 and float(jnp.abs(params["out"]).max()) == 0


def test_full_softmax_loss_of_untrained_output_vectors_is_log_vocabulary():
    params = w2v.init_word2vec(jax.random.key(0), 50, 8)  # output vectors 0: uniform softmax
    np.testing.assert_allclose(
        w2v.full_softmax_loss(params, jnp.array([1, 2]), jnp.array([3, 4])), np.log(50), rtol=1e-6
    )


def test_evaluation_on_toy_vectors():
    vocab = w2v.WordVocab("a b c d man woman king queen".split() * 5, min_count=1)
    idx = vocab.index
    vecs = np.zeros((len(vocab), 3))
    vecs[idx["man"]], vecs[idx["woman"]] = [1, 0, 0], [1, 1, 0]
    vecs[idx["king"]], vecs[idx["queen"]] = [1, 0, 1], [1, 1, 1]
    vecs[idx["a"]], vecs[idx["b"]], vecs[idx["c"]], vecs[idx["d"]] = [0, 0, 1], [0, 1, 0], [0, 1, 1], [0, -1, 0]
    assert w2v.most_similar(vecs, vocab, "king", 1)[0][0] == "queen"
    acc, oov = w2v.analogy_accuracy(vecs, vocab, [("man", "woman", "king", "queen"), ("man", "woman", "x", "y")])
    assert acc == 1.0 and oov == 0.5
    rho, oov = w2v.similarity_correlation(
        vecs, vocab, [("king", "queen", 9), ("king", "man", 5), ("b", "d", 0), ("a", "zzz", 1)]
    )
    assert rho == pytest.approx(1.0) and oov == 0.25
    with pytest.raises(ValueError, match="not in the vocabulary"):
        w2v.most_similar(vecs, vocab, "zzz")


@pytest.mark.slow
def test_skipgram_learns_a_planted_structure():
    """Words 1-10 only ever appear among themselves, words 11-20 too: their embeddings must separate."""
    rng = np.random.default_rng(0)
    blocks = [rng.integers(1, 11, 20) if i % 2 == 0 else rng.integers(11, 21, 20) for i in range(2000)]
    ids = jnp.asarray(np.concatenate(blocks))
    counts = np.r_[0, np.bincount(np.asarray(ids), minlength=21)[1:]]
    keep, noise = jnp.ones(21), jnp.asarray(w2v.noise_distribution(counts))
    params, hist = train.fit(
        w2v.init_word2vec(jax.random.key(0), 21, 8),
        w2v.skipgram_loss,
        lambda k: w2v.sample_skipgram(k, ids, 256, 2, keep, noise, 5),
        key=jax.random.key(1),
        epochs=3,
        steps_per_epoch=200,
        optimizer=optax.adam(1e-2),
        progress=False,
    )
    e = w2v.normalise(params["in"])[1:]
    sims = e @ e.T
    within = (sims[:10, :10].sum() - 10 + sims[10:, 10:].sum() - 10) / 180
    across = sims[:10, 10:].mean()
    assert within > across + 0.5, (within, across)
    assert hist.train_loss[-1] < hist.train_loss[0]


# ----------------------------------------------------------------------------------------------
# Sparse SGD (train_sgd): the hand-written update is alpha times the gradient
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["skip-gram", "CBOW"])
@pytest.mark.parametrize("shared", [None, 3])
def test_sgd_step_adds_alpha_times_the_gradient_of_the_log_likelihood(kind, shared):
    """One step of train_sgd's update on a fixed batch equals the table plus alpha times jax.grad of
    the summed log-likelihood (noise weighted k / S when S noise words are shared), on the stacked
    [2V, D] table, repeated rows (a word drawn twice) included."""
    V, D, B, K, alpha = 12, 4, 6, 2, 0.1
    rng = np.random.default_rng(0)
    table = jnp.asarray(rng.normal(0, 0.5, (2 * V, D)), jnp.float32)
    noise_table = jnp.asarray(rng.integers(1, V, 64), jnp.int32)
    centres = jnp.asarray([1, 2, 2, 5, 7, 1])
    contexts = jnp.asarray([3, 3, 4, 1, 2, 9])
    ctx = jnp.asarray(rng.integers(0, V, (B, 4)))
    mask = jnp.asarray(rng.integers(0, 2, (B, 4)).astype(np.float32)).at[:, 0].set(1.0)
    w = jnp.ones(B)
    batch = (centres, contexts, w) if kind == "skip-gram" else (ctx, mask, centres, w)
    step = w2v._sgd_step(kind, V, D, B, lambda bits: batch, K, shared, noise_table)
    bits = jax.random.bits(jax.random.key(3), (w2v._bits_per_step(kind, B, K, shared),), jnp.uint32)
    new, loss = step(table, bits, alpha)
    # the noise words the step read: the top 6 bits of each word after the batch's 2 B index the 64 entries
    neg = noise_table[(np.asarray(bits[2 * B :]) >> 26).reshape((B, K) if shared is None else (shared,))]

    def log_likelihood(t, h=None):
        v, u = t[:V], t[V:]
        if h is None:
            h = v[centres] if kind == "skip-gram" else (mask[..., None] * v[ctx]).sum(1) / mask.sum(1, keepdims=True)
        target = contexts if kind == "skip-gram" else centres
        pos = jax.nn.log_sigmoid(jnp.sum(h * u[target], -1))
        if shared is None:
            negs = jax.nn.log_sigmoid(-jnp.einsum("bd,bkd->bk", h, u[neg])).sum(-1)
        else:
            negs = K / shared * jax.nn.log_sigmoid(-h @ u[neg].T).sum(-1)
        return jnp.sum(w * (pos + negs))

    grad = jax.grad(log_likelihood)(table)
    if kind == "CBOW":  # as in gensim (cbow_mean=1), each context word receives the whole gradient of the mean h
        h = (mask[..., None] * table[:V][ctx]).sum(1) / mask.sum(1, keepdims=True)
        grad_h = jax.grad(log_likelihood, argnums=1)(table, h)
        inputs = jnp.zeros((V, D)).at[ctx.reshape(-1)].add((mask[..., None] * grad_h[:, None, :]).reshape(-1, D))
        grad = grad.at[:V].set(inputs)
    np.testing.assert_allclose(new, table + alpha * grad, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, -log_likelihood(table) / B, rtol=1e-5)


def test_noise_table_holds_each_word_in_proportion_to_its_noise_probability():
    noise = w2v.noise_distribution(np.array([0, 100, 30, 5, 1, 0, 7]))
    table = np.asarray(w2v.noise_table(noise, size=2**16))
    share = np.bincount(table, minlength=len(noise)) / table.size
    np.testing.assert_allclose(share, noise, atol=2 / 2**16)
    assert share[0] == 0 and share[5] == 0, "words of probability 0 are never drawn"
    with pytest.raises(ValueError, match="probability distribution"):
        w2v.noise_table(np.array([0.5, 0.2]))


def test_random_words_are_uniform_distinct_and_unrelated_across_seeds():
    """train_sgd's random words (a keyed hash of a counter): every byte of a word uniform, distinct
    words for distinct counters, consecutive words uncorrelated, and the streams of two seeds unrelated
    (the same counters, bits agreeing half the time); seed 0 is not a stream of zeros."""
    n = 1 << 18
    counter = jnp.arange(n, dtype=jnp.uint32)
    a = np.asarray(w2v._random_words(jnp.uint32(1234), counter))
    b = np.asarray(w2v._random_words(jnp.uint32(1235), counter))
    assert len(np.unique(a)) == n
    for byte in range(4):  # chi-square over the 256 values of each byte: mean 255, sd 22.6
        counts = np.bincount((a >> (8 * byte)) & 255, minlength=256)
        chi2 = np.sum((counts - n / 256) ** 2 / (n / 256))
        assert chi2 < 255 + 6 * 22.6, (byte, chi2)
    u = a / 2.0**32
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / np.sqrt(n)
    assert abs(np.corrcoef(u, b / 2.0**32)[0, 1]) < 5 / np.sqrt(n)
    agree = 32 - np.unpackbits((a ^ b).view(np.uint8)).sum() / n  # bits equal per word: 16 if unrelated
    assert abs(agree - 16) < 0.05
    # the subsample's words, computed with NumPy on the host, are the same as a jitted program's
    np.testing.assert_array_equal(w2v._random_words(np.uint32(1234), np.arange(n, dtype=np.uint32), np), a)
    np.testing.assert_array_equal(jax.jit(w2v._random_words)(jnp.uint32(1234), counter), a)
    zero = np.asarray(w2v._random_words(jnp.uint32(0), counter[1:1000]))
    assert len(np.unique(zero)) == 999 and np.mean(zero / 2.0**32) == pytest.approx(0.5, abs=0.05)


def test_uniform_index_is_uniform_and_in_range():
    bits = jax.random.bits(jax.random.key(0), (60_000,), jnp.uint32)
    for size in (1, 8, 30, 1000):
        idx = np.asarray(w2v._uniform_index(bits, size))
        assert idx.min() >= 0 and idx.max() == size - 1
        share = np.bincount(idx, minlength=size) / idx.size
        assert np.all(np.abs(share - 1 / size) < 5 * np.sqrt(1 / size / idx.size)), size


@pytest.mark.parametrize("window", [1, 3, 5])
def test_examples_drawn_from_bits_follow_the_dynamic_window(window):
    """train_sgd's examples from random words: positions uniform over the first n words (margins of
    `window`), a skip-gram context at distance d with probability offset_distribution(window)[d - 1]
    on either side, CBOW's window uniform in 1..window."""
    B, n = 100_000, 50
    corpus = jnp.arange(200)  # the word is its position; words past n are never read
    bits = jax.random.bits(jax.random.key(window), (2, B), jnp.uint32)
    centres, contexts, w = (np.asarray(a) for a in w2v._draw_examples("skip-gram", bits, corpus, jnp.int32(n), window))
    assert np.all(w == 1) and centres.min() == window and centres.max() == n - window - 1
    counts = np.bincount(centres - window, minlength=n - 2 * window)
    assert counts.min() > 0.85 * B / (n - 2 * window) and counts.max() < 1.15 * B / (n - 2 * window)
    offset = contexts - centres
    assert np.all((np.abs(offset) >= 1) & (np.abs(offset) <= window))
    share = np.bincount(np.abs(offset), minlength=window + 1)[1:] / B
    np.testing.assert_allclose(share, w2v.offset_distribution(window), atol=0.01)
    assert abs(np.mean(offset > 0) - 0.5) < 0.01
    ctx, mask, centres, w = (np.asarray(a) for a in w2v._draw_examples("CBOW", bits, corpus, jnp.int32(n), window))
    np.testing.assert_array_equal(
        ctx - centres[:, None], np.r_[np.arange(-window, 0), np.arange(1, window + 1)][None].repeat(B, 0)
    )
    widths = mask.sum(1) / 2  # the dynamic window b: the b nearest words on each side
    assert set(np.unique(widths)) == set(range(1, window + 1))
    np.testing.assert_allclose(np.bincount(widths.astype(int))[1:] / B, 1 / window, atol=0.01)


def planted_corpus():
    """Words 1-10 only ever appear among themselves, words 11-20 too (blocks of 20 words)."""
    rng = np.random.default_rng(0)
    blocks = [rng.integers(1, 11, 20) if i % 2 == 0 else rng.integers(11, 21, 20) for i in range(2000)]
    ids = np.concatenate(blocks)
    counts = np.r_[0, np.bincount(ids, minlength=21)[1:]]
    return ids, np.ones(21), w2v.noise_distribution(counts)


def separation(vectors):
    e = w2v.normalise(vectors)[1:]
    sims = e @ e.T
    within = (sims[:10, :10].sum() - 10 + sims[10:, 10:].sum() - 10) / 180
    return within, sims[:10, 10:].mean()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["skip-gram", "CBOW"])
@pytest.mark.parametrize("shared", [None, 4])
def test_train_sgd_learns_a_planted_structure(kind, shared):
    ids, keep, noise = planted_corpus()
    run = lambda: w2v.train_sgd(
        jax.random.key(0),
        ids,
        keep,
        noise,
        kind=kind,
        dim=8,
        window=2,
        shared_negatives=shared,
        steps=600,
        batch=64,
        alpha=0.05,
        steps_per_call=200,
        progress=False,
    )
    params, hist = run()
    assert set(params) == {"in", "out"} and params["in"].shape == params["out"].shape == (21, 8)
    within, across = separation(params["in"])
    assert within > across + 0.5, (within, across)
    assert hist.loss[-1] < hist.loss[0] and hist.step == [200, 400, 600] and hist.examples == 600 * 64
    again, _ = run()
    np.testing.assert_array_equal(again["in"], params["in"])  # a key fixes the run


def test_train_sgd_compiles_one_program_per_setting():
    """A second run with the same settings (another seed, another number of steps) compiles nothing:
    the program is kept per setting (_sgd_program), where a closure compiled per call cost up to a
    second of every run; another setting gets a program of its own."""
    ids, keep, noise = planted_corpus()
    settings = dict(dim=8, window=2, batch=64, steps_per_call=100, progress=False)
    w2v._sgd_program.cache_clear()
    w2v.train_sgd(jax.random.key(0), ids, keep, noise, steps=150, **settings)
    program = w2v._sgd_program("skip-gram", 21, 8, 64, 2, 5, None, 100)  # the one just used: a cache hit
    assert program._cache_size() == 1
    w2v.train_sgd(jax.random.key(1), ids, keep, noise, steps=300, alpha=0.05, **settings)
    assert program._cache_size() == 1 and w2v._sgd_program.cache_info().currsize == 1
    w2v.train_sgd(jax.random.key(1), ids, keep, noise, steps=100, shared_negatives=4, **settings)
    assert w2v._sgd_program.cache_info().currsize == 2


def test_merge_adds_every_workers_change_to_the_table():
    base = jnp.asarray(np.random.default_rng(0).normal(size=(6, 3)), jnp.float32)
    a, b = base.at[1].add(1.0).at[4].add(-2.0), base.at[1].add(0.5).at[2].add(3.0)
    expected = np.asarray(base).copy()
    expected[1] += 1.5
    expected[4] -= 2.0
    expected[2] += 3.0
    np.testing.assert_allclose(w2v._merge(jnp.copy(base), a, b), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("shared", [None, 4])
def test_train_sgd_with_two_workers_learns_what_one_learns(shared):
    """Two workers, each on a copy of the table, their changes added after every call: the planted
    structure is learnt as well as by one worker, the history counts every call, and a key fixes the
    run (whichever thread finishes first)."""
    ids, keep, noise = planted_corpus()
    settings = dict(dim=8, window=2, shared_negatives=shared, steps=800, batch=64, alpha=0.05, progress=False)
    run = lambda workers: w2v.train_sgd(jax.random.key(0), ids, keep, noise, workers=workers, **settings)
    one, _ = run(1)
    two, hist = run(2)
    assert hist.step == [250, 500, 750, 800] and hist.examples == 800 * 64  # calls of 250 steps with workers
    within, across = separation(two["in"])
    within_one, across_one = separation(one["in"])
    assert within > across + 0.5 and within > within_one - 0.1, (within, across, within_one, across_one)
    # below the loss of all-zero vectors, (1 + k) log 2; not below the first call's: on 20 words every row
    # is in both workers' rounds, and their stale changes added together overshoot (not so on a real text)
    assert max(hist.loss) < 6 * np.log(2)
    again, _ = run(2)
    np.testing.assert_array_equal(again["in"], two["in"])
    assert not np.array_equal(one["in"], two["in"])


def test_train_sgd_raises_when_training_diverges():
    """A run that blows up raises, even where its last loss is finite (far too large a rate here)."""
    ids, keep, noise = planted_corpus()
    with pytest.raises(FloatingPointError, match="diverged.*lower `alpha`"):
        w2v.train_sgd(jax.random.key(0), ids, keep, noise, dim=8, window=2, steps=400, batch=512, alpha=50.0,
                      steps_per_call=100, progress=False)  # fmt: skip


def test_train_sgd_rejects_bad_settings():
    ids, keep, noise = planted_corpus()
    train_sgd = lambda **kw: w2v.train_sgd(jax.random.key(0), ids, keep, noise, steps=1, progress=False, **kw)
    with pytest.raises(ValueError, match="kind"):
        train_sgd(kind="glove")
    with pytest.raises(ValueError, match="alpha"):
        train_sgd(alpha=-0.1)
    with pytest.raises(ValueError, match="min_alpha"):
        train_sgd(alpha=0.01, min_alpha=0.1)
    with pytest.raises(ValueError, match="shared_negatives"):
        train_sgd(shared_negatives=0)
    with pytest.raises(ValueError, match="workers"):
        train_sgd(workers=0)
    with pytest.raises(ValueError, match="steps_per_call.*2\\*\\*31"):  # the random words' int32 counters
        train_sgd(batch=2**16, steps_per_call=10_000)
    with pytest.raises(ValueError, match="ids"):
        w2v.train_sgd(jax.random.key(0), np.r_[ids, 21], keep, noise, steps=1, progress=False)


# ----------------------------------------------------------------------------------------------
# Against gensim's word2vec, on the same corpus
# ----------------------------------------------------------------------------------------------
def gensim_model(tokens, **kw):
    from gensim.models import Word2Vec  # an optional peer: the tests marked `gensim` (tests/conftest.py)

    model = Word2Vec(vector_size=8, window=3, min_count=5, negative=5, sample=1e-3, seed=0, workers=1, **kw)
    model.build_vocab([tokens[i : i + 1000] for i in range(0, len(tokens), 1000)])
    return model


@pytest.mark.gensim
@pytest.mark.smoke
def test_subsampling_and_noise_equal_gensims():
    from rnnbook import data

    tokens = w2v.tokenize(data.shakespeare())
    model = gensim_model(tokens)
    vocab = w2v.WordVocab(tokens, min_count=5)
    assert set(model.wv.index_to_key) == set(vocab.words[1:]), "same vocabulary at the same min_count"
    # subsampling: gensim stores each word's keep probability as an integer threshold out of 2^32
    keep = w2v.keep_probabilities(vocab.counts, 1e-3)
    for word in ["the", "and", "king", "hamlet", "sword"]:
        ours = keep[vocab.index[word]]
        theirs = model.wv.get_vecattr(word, "sample_int") / 2**32
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, err_msg=word)
    # noise: gensim's cumulative table of count^0.75, as a distribution
    table = model.cum_table.astype(np.float64)
    theirs = np.diff(np.r_[0, table]) / table[-1]
    noise = w2v.noise_distribution(vocab.counts)
    ours = np.array([noise[vocab.index[w]] for w in model.wv.index_to_key])
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-9)


def test_split_blocks_holds_out_every_tenth_block():
    tokens = [str(i) for i in range(2500)]
    train, held_out = w2v.split_blocks(tokens, block=100, every=10)
    assert held_out == tokens[900:1000] + tokens[1900:2000]
    assert sorted(train + held_out, key=int) == tokens and len(train) == 2300
    with pytest.raises(ValueError, match="every"):
        w2v.split_blocks(tokens, every=0)


@pytest.mark.gensim
@pytest.mark.smoke
def test_similarity_benchmarks_are_the_full_lists():
    bench = w2v.similarity_benchmarks()
    assert {name: len(pairs) for name, pairs in bench.items()} == {"WordSim353": 353, "SimLex-999": 999}
    assert all(a == a.lower() and isinstance(s, float) for pairs in bench.values() for a, _, s in pairs)


def test_cooccurrence_counts_every_pair_within_the_window_both_ways():
    ids = np.array([1, 2, 3, 1, 2, 0, 3])
    counts = w2v.cooccurrence(ids, 4, 2).toarray()
    brute = np.zeros((4, 4))
    for i in range(len(ids)):
        for j in range(len(ids)):
            if 0 < abs(i - j) <= 2:
                brute[ids[i], ids[j]] += 1
    np.testing.assert_array_equal(counts, brute)


def test_ppmi_is_positive_pmi_with_smoothed_contexts():
    rng = np.random.default_rng(0)
    dense = rng.integers(0, 5, (6, 6)).astype(float)
    dense[0, 1] = 0  # an unseen pair stays 0
    out = w2v.ppmi(scipy.sparse.csr_matrix(dense), alpha=0.75).toarray()
    p = dense / dense.sum()
    p_c = dense.sum(0) ** 0.75 / (dense.sum(0) ** 0.75).sum()
    with np.errstate(divide="ignore"):
        pmi = np.log(p) - np.log(p.sum(1, keepdims=True)) - np.log(p_c[None, :])
    np.testing.assert_allclose(out, np.where(dense > 0, np.maximum(pmi, 0), 0), atol=1e-12)


def test_svd_embeddings_recover_the_top_singular_space():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((60, 8)) @ np.diag(np.arange(8, 0, -1.0)) @ rng.standard_normal((8, 60))
    vectors = w2v.svd_embeddings(scipy.sparse.csr_matrix(a), 5, seed=0, power=0.5)
    u, s, _ = np.linalg.svd(a)
    reference = u[:, :5] * np.sqrt(s[:5])
    # the same up to the sign of each column: compare the Gram matrices U S U^T
    np.testing.assert_allclose(vectors @ vectors.T, reference @ reference.T, rtol=1e-6, atol=1e-6)


def test_similarity_difference_is_zero_for_equal_vectors_and_brackets_a_real_gap():
    vocab = w2v.WordVocab(list("abcdefgh") * 5, min_count=1)
    rng = np.random.default_rng(0)
    good = rng.standard_normal((len(vocab), 4))
    words = list("abcdefgh")
    pairs = [
        (a, b, float(w2v.normalise(good)[vocab.index[a]] @ w2v.normalise(good)[vocab.index[b]]))
        for a in words
        for b in words
        if a < b
    ]
    diff, low, high = w2v.similarity_difference(good, good, vocab, pairs, seed=0)
    assert diff == low == high == 0.0
    noise = rng.standard_normal(good.shape)
    diff, low, high = w2v.similarity_difference(good, noise, vocab, pairs, seed=0, resamples=300)
    assert diff > 0.5 and 0 < low < diff < high  # the human scores are the good vectors' own cosines
